// SASL (DIGEST-MD5) through the official ZooKeeper 3.8 Java client, run by test_sasl.py against
// a server started with a JAAS "Server" section (users bob/pw and super/adminsecret, super
// user "super"; corral's sasl group or ZooKeeper's SASLAuthenticationProvider).
//
//   java -Djava.security.auth.login.config=client-jaas.conf -Dzookeeper.sasl.client=true \
//        -cp <zookeeper jars>:<classes> SaslClientCheck HOST:PORT
//
// The client JAAS file has one section per login tried, chosen per client with
// zookeeper.sasl.clientconfig: Client (bob/pw), ClientSuper (super/adminsecret), ClientWrong
// (bob with a wrong password) and ClientUnknown (a user the server does not know). Every check
// prints nothing when it passes and "FAIL <name>: <detail>" when it fails; the last line of
// stdout is "N passed, N failed" and the exit status is 1 on any failure.

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.client.ZKClientConfig;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;

public class SaslClientCheck {
    static int passed, failed;
    static String hostPort;

    static void check(String name, boolean ok, Object detail) {
        if (ok) {
            passed++;
        } else {
            failed++;
            System.out.println("FAIL " + name + ": " + detail);
        }
    }

    /** Records every connection-state event a client sees. */
    static class Events implements Watcher {
        final List<Watcher.Event.KeeperState> states = new CopyOnWriteArrayList<>();

        public void process(WatchedEvent e) {
            if (e.getType() == Event.EventType.None)
                states.add(e.getState());
        }

        boolean await(Watcher.Event.KeeperState want, long ms) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms);
            while (System.nanoTime() < deadline) {
                if (states.contains(want))
                    return true;
                Thread.sleep(20);
            }
            return states.contains(want);
        }
    }

    /** A client logging in with the given JAAS section, or without SASL when section is null. */
    static ZooKeeper client(String section, Events ev) throws Exception {
        ZKClientConfig conf = new ZKClientConfig();
        if (section == null) {
            conf.setProperty(ZKClientConfig.ENABLE_CLIENT_SASL_KEY, "false");
        } else {
            conf.setProperty(ZKClientConfig.ENABLE_CLIENT_SASL_KEY, "true");
            conf.setProperty(ZKClientConfig.LOGIN_CONTEXT_NAME_KEY, section);
        }
        return new ZooKeeper(hostPort, 10000, ev, conf);
    }

    static List<String> whoAmI(ZooKeeper zk) throws Exception {
        List<String> ids = new ArrayList<>();
        for (ClientInfo ci : zk.whoAmI())
            ids.add(ci.getAuthScheme() + ":" + ci.getUser());
        Collections.sort(ids);
        return ids;
    }

    public static void main(String[] args) throws Exception {
        hostPort = args[0];
        String base = "/sasl-java-" + System.nanoTime();

        // bob logs in and owns a node only bob may read
        Events bobEv = new Events();
        ZooKeeper bob = client("Client", bobEv);
        check("bob.authenticated", bobEv.await(Watcher.Event.KeeperState.SaslAuthenticated, 15000),
              bobEv.states);
        check("bob.connected", bobEv.await(Watcher.Event.KeeperState.SyncConnected, 15000),
              bobEv.states);
        check("bob.no_auth_failed", !bobEv.states.contains(Watcher.Event.KeeperState.AuthFailed),
              bobEv.states);
        List<String> ids = whoAmI(bob);
        check("bob.whoami", ids.contains("sasl:bob") && ids.contains("ip:127.0.0.1")
                                && ids.size() == 2, ids);

        List<ACL> bobOnly = Collections.singletonList(
            new ACL(ZooDefs.Perms.ALL, new Id("sasl", "bob")));
        bob.create(base, "top".getBytes(), ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT);
        String secret = base + "/secret";
        bob.create(secret, "for bob".getBytes(), bobOnly, CreateMode.PERSISTENT);
        check("bob.reads", "for bob".equals(new String(bob.getData(secret, false, null))), "");
        check("bob.acl", bob.getACL(secret, new Stat()).equals(bobOnly),
              bob.getACL(secret, new Stat()));
        bob.setData(secret, "still bob".getBytes(), -1);

        // the auth scheme expands to the SASL identity
        String mine = base + "/mine";
        bob.create(mine, null, ZooDefs.Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
        check("bob.creator_all", bob.getACL(mine, new Stat()).equals(bobOnly),
              bob.getACL(mine, new Stat()));

        // ids the SASL provider accepts, and one it does not
        bob.setACL(mine, Collections.singletonList(
                             new ACL(ZooDefs.Perms.ALL, new Id("sasl", "bob@EXAMPLE.COM"))), -1);
        try {
            bob.create(base + "/bad", null, Collections.singletonList(
                new ACL(ZooDefs.Perms.ALL, new Id("sasl", "a@b@c"))), CreateMode.PERSISTENT);
            check("acl.invalid_sasl_id", false, "created");
        } catch (KeeperException.InvalidACLException e) {
            check("acl.invalid_sasl_id", true, "");
        }

        // an anonymous client is refused
        Events anonEv = new Events();
        ZooKeeper anon = client(null, anonEv);
        check("anon.connected", anonEv.await(Watcher.Event.KeeperState.SyncConnected, 15000),
              anonEv.states);
        check("anon.not_sasl", !anonEv.states.contains(Watcher.Event.KeeperState.SaslAuthenticated),
              anonEv.states);
        try {
            anon.getData(secret, false, null);
            check("anon.read_refused", false, "read succeeded");
        } catch (KeeperException.NoAuthException e) {
            check("anon.read_refused", true, "");
        }
        try {
            anon.setData(secret, "x".getBytes(), -1);
            check("anon.write_refused", false, "write succeeded");
        } catch (KeeperException.NoAuthException e) {
            check("anon.write_refused", true, "");
        }
        check("anon.exists", anon.exists(secret, false) != null, "exists checks no ACL");
        check("anon.whoami", whoAmI(anon).equals(Collections.singletonList("ip:127.0.0.1")),
              whoAmI(anon));
        anon.close();

        // the configured super user passes every ACL
        Events superEv = new Events();
        ZooKeeper sup = client("ClientSuper", superEv);
        check("super.authenticated",
              superEv.await(Watcher.Event.KeeperState.SaslAuthenticated, 15000), superEv.states);
        ids = whoAmI(sup);
        check("super.whoami", ids.contains("sasl:super") && ids.contains("super:"), ids);
        check("super.reads", "still bob".equals(new String(sup.getData(secret, false, null))),
              "");
        sup.close();

        // a wrong password ends in AuthFailed, a terminal state
        Events wrongEv = new Events();
        ZooKeeper wrong = client("ClientWrong", wrongEv);
        check("wrong.auth_failed", wrongEv.await(Watcher.Event.KeeperState.AuthFailed, 15000),
              wrongEv.states);
        check("wrong.not_authenticated",
              !wrongEv.states.contains(Watcher.Event.KeeperState.SaslAuthenticated),
              wrongEv.states);
        check("wrong.state", wrong.getState() == ZooKeeper.States.AUTH_FAILED, wrong.getState());
        try {
            wrong.getData(base, false, null);
            check("wrong.ops_fail", false, "getData succeeded");
        } catch (KeeperException.AuthFailedException e) {
            check("wrong.ops_fail", true, "");
        }
        wrong.close();

        // so does a user the server does not know
        Events unknownEv = new Events();
        ZooKeeper unknown = client("ClientUnknown", unknownEv);
        check("unknown.auth_failed", unknownEv.await(Watcher.Event.KeeperState.AuthFailed, 15000),
              unknownEv.states);
        unknown.close();

        // bob's session still works; clean up
        bob.delete(mine, -1);
        bob.delete(secret, -1);
        bob.delete(base, -1);
        check("bob.cleanup", bob.exists(base, false) == null, "");
        bob.close();

        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
