// Java client + Apache Curator conformance check, run by test_java_client.py against a
// freshly started server (corral or the reference ZooKeeper 3.8).
//
//   java -cp <zookeeper + curator jars>:<classes> JavaClientCheck HOST:PORT
//
// The server is started by harness.py with: tickTime 2000 (session timeouts 4000..40000),
// extended types (TTL nodes) on, container check interval 1000 ms and super digest
// super:test.  Every check prints nothing when it passes and "FAIL <name>: <detail>" when
// it fails; a section that throws counts as one failure and prints the stack trace.  The
// last line of stdout is "N passed, N failed"; the exit status is 1 on any failure.

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.api.CuratorEvent;
import org.apache.curator.framework.api.CuratorEventType;
import org.apache.curator.framework.api.transaction.CuratorOp;
import org.apache.curator.framework.api.transaction.CuratorTransactionResult;
import org.apache.curator.framework.api.transaction.OperationType;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.cache.ChildData;
import org.apache.curator.framework.recipes.cache.CuratorCache;
import org.apache.curator.framework.recipes.cache.CuratorCacheListener;
import org.apache.curator.framework.recipes.cache.NodeCache;
import org.apache.curator.framework.recipes.cache.PathChildrenCache;
import org.apache.curator.framework.recipes.cache.PathChildrenCacheEvent;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.framework.recipes.nodes.PersistentNode;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.SharedCountListener;
import org.apache.curator.framework.recipes.shared.SharedCountReader;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.recipes.watch.PersistentWatcher;
import org.apache.curator.framework.state.ConnectionState;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.retry.RetryNTimes;
import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.AsyncCallback;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.KeeperException.Code;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.OpResult;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.Watcher.Event.EventType;
import org.apache.zookeeper.Watcher.Event.KeeperState;
import org.apache.zookeeper.Watcher.WatcherType;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooDefs.Ids;
import org.apache.zookeeper.ZooDefs.Perms;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.ClientInfo;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.data.Stat;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;

public class JavaClientCheck {
    static String HP;
    static int passed = 0, failed = 0;
    static final List<AutoCloseable> toClose = new ArrayList<>();
    // ZooKeeper stores containers with ephemeralOwner 0x8000000000000000 and TTL nodes with
    // 0xFF00000000000000|ttl, but DataNode.copyStat() reports 0 to clients for both
    // (getClientEphemeralOwner), so a client only ever sees 0 for them.
    static final long CONTAINER_OWNER = 0L;
    static final long TTL_CLIENT_OWNER = 0L;

    // ------------------------------------------------------------------ assertions
    interface Body { void run() throws Exception; }

    static void pass() { passed++; }

    static void fail(String name, String detail) {
        failed++;
        System.out.println("FAIL " + name + ": " + detail);
        System.out.flush();
    }

    static boolean check(boolean cond, String name, Object detail) {
        if (cond) { pass(); return true; }
        fail(name, String.valueOf(detail));
        return false;
    }

    static boolean eq(Object expected, Object actual, String name) {
        boolean same = expected == null ? actual == null
                : (expected instanceof byte[] && actual instanceof byte[])
                        ? Arrays.equals((byte[]) expected, (byte[]) actual)
                        : expected.equals(actual);
        return check(same, name, "expected <" + show(expected) + "> got <" + show(actual) + ">");
    }

    static String show(Object o) {
        if (o instanceof byte[]) return "bytes" + Arrays.toString((byte[]) o);
        if (o instanceof Stat) return statStr((Stat) o);
        return String.valueOf(o);
    }

    static String statStr(Stat s) {
        return String.format("czxid=0x%x mzxid=0x%x ctime=%d mtime=%d version=%d cversion=%d aversion=%d "
                + "ephemeralOwner=0x%x dataLength=%d numChildren=%d pzxid=0x%x",
                s.getCzxid(), s.getMzxid(), s.getCtime(), s.getMtime(), s.getVersion(), s.getCversion(),
                s.getAversion(), s.getEphemeralOwner(), s.getDataLength(), s.getNumChildren(), s.getPzxid());
    }

    static void expectErr(Code code, String name, Body b) {
        try {
            b.run();
            fail(name, "expected KeeperException " + code + ", got success");
        } catch (KeeperException e) {
            eq(code, e.code(), name);
        } catch (Exception e) {
            fail(name, "expected KeeperException " + code + ", got " + e);
        }
    }

    static void section(String name, Body b) {
        long t0 = System.nanoTime();
        int f0 = failed;
        try {
            b.run();
        } catch (Throwable t) {
            fail(name, "section threw " + t);
            t.printStackTrace(System.out);
        }
        System.out.printf("== %-28s %5d ms%s%n", name, (System.nanoTime() - t0) / 1000000,
                failed > f0 ? "  (" + (failed - f0) + " failed)" : "");
        System.out.flush();
    }

    static byte[] b(String s) { return s == null ? null : s.getBytes(StandardCharsets.UTF_8); }

    static String s(byte[] d) { return d == null ? null : new String(d, StandardCharsets.UTF_8); }

    static <T> T track(T c) {
        if (c instanceof AutoCloseable) toClose.add((AutoCloseable) c);
        return c;
    }

    static void sleep(long ms) throws InterruptedException { Thread.sleep(ms); }

    static boolean waitFor(long ms, java.util.function.BooleanSupplier cond) throws InterruptedException {
        long deadline = System.currentTimeMillis() + ms;
        while (System.currentTimeMillis() < deadline) {
            if (cond.getAsBoolean()) return true;
            Thread.sleep(20);
        }
        return cond.getAsBoolean();
    }

    // ------------------------------------------------------------------ event recording
    static class Events implements Watcher {
        final LinkedBlockingQueue<WatchedEvent> nodes = new LinkedBlockingQueue<>();
        final LinkedBlockingQueue<WatchedEvent> states = new LinkedBlockingQueue<>();

        public void process(WatchedEvent e) {
            if (e.getType() == EventType.None) states.add(e); else nodes.add(e);
        }

        static String str(WatchedEvent e) {
            return e == null ? "timeout" : e.getType() + " " + e.getPath();
        }

        String next(long ms) throws InterruptedException { return str(nodes.poll(ms, TimeUnit.MILLISECONDS)); }

        String nextState(long ms) throws InterruptedException {
            WatchedEvent e = states.poll(ms, TimeUnit.MILLISECONDS);
            return e == null ? "timeout" : e.getState().toString();
        }

        /** Waits for a state event equal to want, skipping others; returns what it saw. */
        List<String> awaitState(KeeperState want, long ms) throws InterruptedException {
            List<String> seen = new ArrayList<>();
            long deadline = System.currentTimeMillis() + ms;
            while (true) {
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) { seen.add("timeout"); return seen; }
                WatchedEvent e = states.poll(left, TimeUnit.MILLISECONDS);
                if (e == null) { seen.add("timeout"); return seen; }
                seen.add(e.getState().toString());
                if (e.getState() == want) return seen;
            }
        }

        /** Collects node events for ms milliseconds. */
        List<String> drain(long ms) throws InterruptedException {
            List<String> out = new ArrayList<>();
            long deadline = System.currentTimeMillis() + ms;
            while (true) {
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) break;
                WatchedEvent e = nodes.poll(left, TimeUnit.MILLISECONDS);
                if (e == null) break;
                out.add(str(e));
            }
            return out;
        }

        void expectNext(String want, String name) throws InterruptedException {
            eq(want, next(5000), name);
        }

        void expectNone(long ms, String name) throws InterruptedException {
            WatchedEvent e = nodes.poll(ms, TimeUnit.MILLISECONDS);
            check(e == null, name, "unexpected event " + str(e));
        }
    }

    static ZooKeeper connect(String hp, int timeoutMs, Events ev) throws Exception {
        CountDownLatch up = new CountDownLatch(1);
        Events target = ev == null ? new Events() : ev;
        ZooKeeper zk = new ZooKeeper(hp, timeoutMs, e -> {
            target.process(e);
            if (e.getType() == EventType.None && e.getState() == KeeperState.SyncConnected) up.countDown();
        });
        track(zk);
        if (!up.await(15, TimeUnit.SECONDS)) throw new IllegalStateException("no SyncConnected from " + hp);
        target.states.clear();                                  // drop the initial SyncConnected
        return zk;
    }

    static final List<ACL> OPEN = Ids.OPEN_ACL_UNSAFE;

    static void mk(ZooKeeper zk, String path) throws Exception {
        zk.create(path, null, OPEN, CreateMode.PERSISTENT);
    }

    // ------------------------------------------------------------------ TCP proxy
    /** Loopback TCP relay whose connections can be cut (and new ones refused) to simulate
     *  a partition between one client and the server. */
    static class Proxy implements AutoCloseable {
        final ServerSocket ss;
        final int targetPort;
        volatile boolean blocked = false;
        volatile boolean paused = false;            // black hole: drop bytes, keep server side open
        final AtomicInteger serverEofs = new AtomicInteger();
        final Set<Socket> socks = ConcurrentHashMap.newKeySet();

        Proxy(int targetPort) throws IOException {
            this.targetPort = targetPort;
            ss = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            Thread t = new Thread(this::acceptLoop, "proxy-accept");
            t.setDaemon(true);
            t.start();
        }

        String hostport() { return "127.0.0.1:" + ss.getLocalPort(); }

        void acceptLoop() {
            while (!ss.isClosed()) {
                Socket c;
                try { c = ss.accept(); } catch (IOException e) { return; }
                if (blocked || paused) { quiet(c); continue; }
                try {
                    Socket s = new Socket(InetAddress.getLoopbackAddress(), targetPort);
                    c.setTcpNoDelay(true);
                    s.setTcpNoDelay(true);
                    socks.add(c);
                    socks.add(s);
                    pump(c, s, false);
                    pump(s, c, true);
                } catch (IOException e) {
                    quiet(c);
                }
            }
        }

        void pump(Socket from, Socket to, boolean fromServer) {
            Thread t = new Thread(() -> {
                byte[] buf = new byte[65536];
                boolean eof = false;
                try {
                    InputStream in = from.getInputStream();
                    OutputStream out = to.getOutputStream();
                    int n;
                    while ((n = in.read(buf)) > 0) {
                        if (!paused) { out.write(buf, 0, n); out.flush(); }
                    }
                    eof = n < 0;
                } catch (IOException e) {
                    // closed
                } finally {
                    if (fromServer && eof) serverEofs.incrementAndGet();
                    quiet(from);
                    // while paused, the client giving up must not reach the server
                    if (!(paused && !fromServer)) quiet(to);
                }
            }, "proxy-pump");
            t.setDaemon(true);
            t.start();
        }

        static void quiet(Socket s) { try { s.close(); } catch (IOException e) { /* ignore */ } }

        void block() {
            blocked = true;
            for (Socket s : socks) quiet(s);
            socks.clear();
        }

        void unblock() { blocked = false; }

        public void close() throws IOException { block(); ss.close(); }
    }

    // ================================================================== main
    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: JavaClientCheck HOST:PORT");
            System.exit(2);
        }
        HP = args[0];
        long t0 = System.nanoTime();
        Events mainEv = new Events();
        ZooKeeper zk = connect(HP, 10000, mainEv);
        mk(zk, "/j");

        section("session/basics", () -> basics(zk));
        section("create modes", () -> createModes(zk));
        section("data/versions/stat", () -> dataAndVersions(zk));
        section("one-shot watches", () -> oneShotWatches(zk));
        section("multi/transaction", () -> multi(zk));
        section("ephemerals/children count", () -> ephemeralsAndCounts(zk));
        section("persistent watches", () -> persistentWatches(zk));
        section("remove watches", () -> removeWatches(zk));
        section("acl/auth/whoAmI", () -> aclAndAuth(zk));
        section("config/sync/chroot", () -> configSyncChroot(zk));
        section("containers/ttl", () -> containersAndTtl(zk));
        section("quota (setquota/listquota)", () -> quota(zk));
        section("reconnect/SetWatches", () -> reconnectSetWatches(zk));
        section("session expiry", () -> sessionExpiry(zk));
        section("session close via 2nd handle", () -> sessionCloseOtherHandle(zk));

        CuratorFramework c1 = curator(HP);
        CuratorFramework c2 = curator(HP);
        section("curator framework", () -> curatorFramework(c1));
        section("curator transaction", () -> curatorTransaction(c1));
        section("curator cache", () -> curatorCache(c1, c2));
        section("curator mutex/semaphore", () -> curatorLocks(c1, c2));
        section("curator leader latch", () -> curatorLeaderLatch(c1, c2));
        section("curator atomic long", () -> curatorAtomicLong(c1, c2));
        section("curator persistent watcher", () -> curatorPersistentWatcher(c1, c2));
        section("curator shared count", () -> curatorSharedCount(c1, c2));
        section("curator node/children cache", () -> curatorOldCaches(c1, c2));
        section("curator persistent node", () -> curatorPersistentNode(c1, c2));
        section("curator more recipes", () -> curatorMoreRecipes(c1, c2));
        section("curator connection loss", () -> curatorConnectionLoss(zk));

        Collections.reverse(toClose);
        for (AutoCloseable c : toClose) {
            try { c.close(); } catch (Exception e) { /* ignore */ }
        }
        System.out.printf("total %d ms%n", (System.nanoTime() - t0) / 1000000);
        System.out.println(passed + " passed, " + failed + " failed");
        System.out.flush();
        System.exit(failed == 0 ? 0 : 1);
    }

    // ================================================================== plain client
    static void basics(ZooKeeper zk) throws Exception {
        check(zk.getSessionId() != 0, "session id non-zero", zk.getSessionId());
        eq(10000, zk.getSessionTimeout(), "negotiated session timeout");
        eq(16, zk.getSessionPasswd().length, "session password length");
        eq(ZooKeeper.States.CONNECTED, zk.getState(), "state CONNECTED");

        // the client clamps nothing: the server negotiates min 2*tick, max 20*tick
        ZooKeeper small = connect(HP, 1000, null);
        eq(4000, small.getSessionTimeout(), "timeout below min clamps to 2*tickTime");
        small.close();
        ZooKeeper big = connect(HP, 100000, null);
        eq(40000, big.getSessionTimeout(), "timeout above max clamps to 20*tickTime");
        big.close();

        Stat root = zk.exists("/", false);
        check(root != null, "exists /", root);
        List<String> kids = zk.getChildren("/", false);
        check(kids.contains("zookeeper") && kids.contains("j"), "children of / contain zookeeper, j", kids);
        List<String> zkKids = new ArrayList<>(zk.getChildren("/zookeeper", false));
        Collections.sort(zkKids);
        eq(Arrays.asList("config", "quota"), zkKids, "children of /zookeeper");
        Stat st = new Stat();
        byte[] d = zk.getData("/zookeeper", false, st);
        check(d == null || d.length == 0, "/zookeeper data empty", show(d));
        eq(0L, st.getEphemeralOwner(), "/zookeeper ephemeralOwner");

        // errors
        expectErr(Code.NONODE, "getData missing", () -> zk.getData("/j/nope", false, null));
        expectErr(Code.NONODE, "getChildren missing", () -> zk.getChildren("/j/nope", false));
        expectErr(Code.NONODE, "setData missing", () -> zk.setData("/j/nope", b("x"), -1));
        expectErr(Code.NONODE, "delete missing", () -> zk.delete("/j/nope", -1));
        expectErr(Code.NONODE, "getACL missing", () -> zk.getACL("/j/nope", new Stat()));
        expectErr(Code.NONODE, "setACL missing", () -> zk.setACL("/j/nope", OPEN, -1));
        check(zk.exists("/j/nope", false) == null, "exists missing -> null", "");
        expectErr(Code.NONODE, "create without parent", () -> zk.create("/j/nope/kid", null, OPEN, CreateMode.PERSISTENT));
        expectErr(Code.BADARGUMENTS, "delete /", () -> zk.delete("/", -1));
        expectErr(Code.NODEEXISTS, "create /", () -> zk.create("/", null, OPEN, CreateMode.PERSISTENT));
        expectErr(Code.NODEEXISTS, "create /zookeeper", () -> zk.create("/zookeeper", null, OPEN, CreateMode.PERSISTENT));

        // a top-level create fires NodeChildrenChanged on "/"
        Events rootw = new Events();
        zk.getChildren("/", rootw);
        zk.create("/jtop", null, OPEN, CreateMode.PERSISTENT);
        rootw.expectNext("NodeChildrenChanged /", "child watch on / fires with path /");
        zk.delete("/jtop", -1);

        // a client that accepts a read-only server (ConnectRequest readOnly=true) gets a
        // normal read-write session from a standalone server
        Events roev = new Events();
        CountDownLatch rol = new CountDownLatch(1);
        AtomicReference<KeeperState> roState = new AtomicReference<>();
        ZooKeeper ro = new ZooKeeper(HP, 10000, e -> {
            if (e.getType() == EventType.None && roState.get() == null) { roState.set(e.getState()); rol.countDown(); }
        }, true);
        rol.await(10, TimeUnit.SECONDS);
        eq(KeeperState.SyncConnected, roState.get(), "canBeReadOnly client connects read-write");
        ro.create("/j/rotest", null, OPEN, CreateMode.EPHEMERAL);
        ro.close();

        // reconfig is refused by a standalone server without reconfigEnabled
        org.apache.zookeeper.admin.ZooKeeperAdmin admin = new org.apache.zookeeper.admin.ZooKeeperAdmin(HP, 10000, e -> { });
        track(admin);
        waitFor(5000, () -> admin.getState() == ZooKeeper.States.CONNECTED);
        admin.addAuthInfo("digest", b("super:test"));
        expectErr(Code.RECONFIGDISABLED, "reconfig on standalone",
                () -> admin.reconfigure("server.2=127.0.0.1:2888:3888;2181", null, null, -1, new Stat()));
        admin.close();

        // packets over jute.maxbuffer (1 MiB) close the connection; the session survives
        byte[] nearMax = new byte[1024 * 1000];
        zk.create("/j/nearmax", nearMax, OPEN, CreateMode.PERSISTENT);
        eq(nearMax.length, zk.exists("/j/nearmax", false).getDataLength(), "1000 KiB node");
        expectErr(Code.CONNECTIONLOSS, "2 MiB request drops the connection",
                () -> zk.create("/j/toobig", new byte[2 * 1024 * 1024], OPEN, CreateMode.PERSISTENT));
        boolean back = waitFor(10000, () -> { try { return zk.exists("/j", false) != null; } catch (Exception e) { return false; } });
        check(back, "session usable after oversized request", "");
        check(zk.exists("/j/toobig", false) == null, "oversized create not applied", "");
        zk.delete("/j/nearmax", -1);

        // async API with context
        CountDownLatch l = new CountDownLatch(1);
        AtomicReference<String> got = new AtomicReference<>();
        zk.exists("/j", false, (rc, path, ctx, stat) -> {
            got.set(rc + " " + path + " " + ctx + " " + (stat != null));
            l.countDown();
        }, "ctx1");
        l.await(5, TimeUnit.SECONDS);
        eq("0 /j ctx1 true", got.get(), "async exists callback");
        CountDownLatch l2 = new CountDownLatch(1);
        zk.getData("/j/nope", false, (rc, path, ctx, data, stat) -> {
            got.set(rc + " " + path + " " + ctx + " " + show(data) + " " + (stat != null));
            l2.countDown();
        }, "ctx2");
        l2.await(5, TimeUnit.SECONDS);
        eq("-101 /j/nope ctx2 null false", got.get(), "async getData NONODE callback");
    }

    static void createModes(ZooKeeper zk) throws Exception {
        long now = System.currentTimeMillis();
        Stat st = new Stat();
        String p = zk.create("/j/cm", b("v"), OPEN, CreateMode.PERSISTENT, st);     // create2
        eq("/j/cm", p, "create2 path");
        eq(0, st.getVersion(), "create2 version");
        eq(0, st.getCversion(), "create2 cversion");
        eq(0, st.getAversion(), "create2 aversion");
        eq(1, st.getDataLength(), "create2 dataLength");
        eq(0, st.getNumChildren(), "create2 numChildren");
        eq(0L, st.getEphemeralOwner(), "create2 ephemeralOwner");
        check(st.getCzxid() > 0 && st.getCzxid() == st.getMzxid() && st.getCzxid() == st.getPzxid(),
                "create2 czxid == mzxid == pzxid", statStr(st));
        check(st.getCtime() == st.getMtime() && Math.abs(st.getCtime() - now) < 60000,
                "create2 ctime == mtime ~ now", statStr(st));
        eq(st, zk.exists("/j/cm", false), "create2 stat == exists stat");

        // async create2
        CountDownLatch l = new CountDownLatch(1);
        AtomicReference<String> got = new AtomicReference<>();
        zk.create("/j/cm/async", b("a"), OPEN, CreateMode.PERSISTENT,
                (AsyncCallback.Create2Callback) (rc, path, ctx, name, stat) -> {
                    got.set(rc + " " + path + " " + ctx + " " + name + " " + (stat == null ? -1 : stat.getDataLength()));
                    l.countDown();
                }, "c");
        l.await(5, TimeUnit.SECONDS);
        eq("0 /j/cm/async c /j/cm/async 1", got.get(), "async create2 callback");

        // sequential names use ZooKeeper's internal cversion = number of child creations;
        // the cversion reported in Stat is creations + deletions (DataNode.copyStat:
        // cversion*2 - numChildren), so deletes bump the Stat but not the sequence
        mk(zk, "/j/seq");
        eq("/j/seq/n-0000000000", zk.create("/j/seq/n-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL), "seq 0");
        eq("/j/seq/n-0000000001", zk.create("/j/seq/n-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL), "seq 1");
        mk(zk, "/j/seq/x");
        zk.delete("/j/seq/x", -1);
        eq("/j/seq/n-0000000003", zk.create("/j/seq/n-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL), "seq after create+delete");
        eq("/j/seq/0000000004", zk.create("/j/seq/", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL), "seq with trailing slash");
        Stat ps = zk.exists("/j/seq", false);
        eq(6, ps.getCversion(), "parent cversion after 5 creates + 1 delete");
        eq(4, ps.getNumChildren(), "parent numChildren");

        // ephemeral
        p = zk.create("/j/eph", b("e"), OPEN, CreateMode.EPHEMERAL, st);
        eq(zk.getSessionId(), st.getEphemeralOwner(), "ephemeral owner = session id");
        p = zk.create("/j/ephseq-", null, OPEN, CreateMode.EPHEMERAL_SEQUENTIAL, st);
        check(p.matches("/j/ephseq-\\d{10}"), "ephemeral sequential name", p);
        eq(zk.getSessionId(), st.getEphemeralOwner(), "ephemeral sequential owner");
        expectErr(Code.NOCHILDRENFOREPHEMERALS, "child of ephemeral",
                () -> zk.create("/j/eph/kid", null, OPEN, CreateMode.PERSISTENT));
        expectErr(Code.NOCHILDRENFOREPHEMERALS, "sequential child of ephemeral",
                () -> zk.create("/j/eph/kid", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL));

        // container (createContainer, op 19)
        zk.create("/j/cont", null, OPEN, CreateMode.CONTAINER, st);
        eq(CONTAINER_OWNER, st.getEphemeralOwner(), "container ephemeralOwner reported as 0");
        eq(st, zk.exists("/j/cont", false), "container stat == exists stat");

        // TTL (createTTL, op 21)
        zk.create("/j/ttl", b("t"), OPEN, CreateMode.PERSISTENT_WITH_TTL, st, 60000);
        eq(TTL_CLIENT_OWNER, st.getEphemeralOwner(), "TTL ephemeralOwner reported as 0");
        p = zk.create("/j/ttlseq-", b("t"), OPEN, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL, st, 12345);
        check(p.matches("/j/ttlseq-\\d{10}"), "TTL sequential name", p);
        eq(TTL_CLIENT_OWNER, st.getEphemeralOwner(), "TTL sequential ephemeralOwner reported as 0");
        // async TTL create
        CountDownLatch l3 = new CountDownLatch(1);
        zk.create("/j/ttl/kid", null, OPEN, CreateMode.PERSISTENT_WITH_TTL,
                (AsyncCallback.Create2Callback) (rc, path, ctx, name, stat) -> {
                    got.set(rc + " " + name + " " + (stat == null ? "null" : Long.toHexString(stat.getEphemeralOwner())));
                    l3.countDown();
                }, null, 777);
        l3.await(5, TimeUnit.SECONDS);
        eq("0 /j/ttl/kid 0", got.get(), "async TTL create callback");

        // exists / duplicate
        expectErr(Code.NODEEXISTS, "create existing", () -> zk.create("/j/cm", null, OPEN, CreateMode.PERSISTENT));
        expectErr(Code.NODEEXISTS, "create2 existing", () -> zk.create("/j/cm", null, OPEN, CreateMode.PERSISTENT, new Stat()));
        expectErr(Code.NODEEXISTS, "createContainer existing", () -> zk.create("/j/cm", null, OPEN, CreateMode.CONTAINER, new Stat()));
        expectErr(Code.NODEEXISTS, "createTTL existing", () -> zk.create("/j/cm", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, new Stat(), 1000));
        expectErr(Code.NONODE, "createTTL without parent", () -> zk.create("/j/none/x", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, new Stat(), 1000));

        // null vs empty data
        zk.create("/j/nulldata", null, OPEN, CreateMode.PERSISTENT);
        Stat ns = new Stat();
        byte[] nd = zk.getData("/j/nulldata", false, ns);
        check(nd == null, "null data reads back as null (len -1 on the wire)", show(nd));
        eq(0, ns.getDataLength(), "null data dataLength 0");
        zk.create("/j/emptydata", new byte[0], OPEN, CreateMode.PERSISTENT);
        byte[] ed = zk.getData("/j/emptydata", false, null);
        check(ed != null && ed.length == 0, "empty data reads back as empty array", show(ed));
        zk.setData("/j/nulldata", null, -1);
        nd = zk.getData("/j/nulldata", false, null);
        check(nd == null, "setData null reads back as null", show(nd));

        // big data, unicode names
        byte[] big = new byte[500 * 1024];
        for (int i = 0; i < big.length; i++) big[i] = (byte) (i * 31 + 7);
        zk.create("/j/big", big, OPEN, CreateMode.PERSISTENT);
        eq(big, zk.getData("/j/big", false, null), "500 KiB data round trip");
        String uni = "/j/\u00e9t\u00e9-\u4e2d\u6587";   // the Java client rejects U+D800..U+F8FF
        eq(uni, zk.create(uni, b("u"), OPEN, CreateMode.PERSISTENT), "unicode path create");
        check(zk.getChildren("/j", false).contains(uni.substring(3)), "unicode child listed", zk.getChildren("/j", false));
    }

    static void dataAndVersions(ZooKeeper zk) throws Exception {
        Stat c = new Stat();
        zk.create("/j/dv", b("0"), OPEN, CreateMode.PERSISTENT, c);
        Stat s1 = zk.setData("/j/dv", b("one"), 0);
        eq(1, s1.getVersion(), "setData v0 -> version 1");
        eq(3, s1.getDataLength(), "setData dataLength");
        eq(c.getCzxid(), s1.getCzxid(), "setData keeps czxid");
        check(s1.getMzxid() > c.getMzxid(), "setData bumps mzxid", statStr(s1));
        eq(c.getPzxid(), s1.getPzxid(), "setData keeps pzxid");
        check(s1.getMtime() >= c.getMtime(), "mtime monotonic", statStr(s1));
        expectErr(Code.BADVERSION, "setData stale version", () -> zk.setData("/j/dv", b("x"), 0));
        Stat s2 = zk.setData("/j/dv", b("two"), -1);
        eq(2, s2.getVersion(), "setData -1 -> version 2");
        Stat g = new Stat();
        eq("two", s(zk.getData("/j/dv", false, g)), "getData after setData");
        eq(s2, g, "getData stat == setData stat");
        expectErr(Code.BADVERSION, "delete stale version", () -> zk.delete("/j/dv", 1));

        // parent bookkeeping
        Stat k = new Stat();
        zk.create("/j/dv/kid", null, OPEN, CreateMode.PERSISTENT, k);
        Stat p1 = zk.exists("/j/dv", false);
        eq(1, p1.getCversion(), "parent cversion after child create");
        eq(1, p1.getNumChildren(), "parent numChildren after child create");
        eq(k.getCzxid(), p1.getPzxid(), "parent pzxid = child czxid");
        eq(s2.getMzxid(), p1.getMzxid(), "child create leaves parent mzxid");
        eq(2, p1.getVersion(), "child create leaves parent version");
        expectErr(Code.NOTEMPTY, "delete non-empty", () -> zk.delete("/j/dv", -1));
        zk.delete("/j/dv/kid", 0);
        Stat p2 = zk.exists("/j/dv", false);
        eq(2, p2.getCversion(), "parent cversion after child delete");
        eq(0, p2.getNumChildren(), "parent numChildren after child delete");
        check(p2.getPzxid() > k.getCzxid(), "parent pzxid bumped by child delete", statStr(p2));
        // getChildren2 stat
        Stat gc = new Stat();
        zk.getChildren("/j/dv", false, gc);
        eq(p2, gc, "getChildren2 stat == exists stat");
        zk.delete("/j/dv", 2);
        check(zk.exists("/j/dv", false) == null, "deleted with right version", "");

        // every write bumps the zxid; a read does not
        Stat a = zk.setData("/j/cm", b("x"), -1);
        zk.getData("/j/cm", false, null);
        Stat bb = zk.setData("/j/cm", b("y"), -1);
        eq(a.getMzxid() + 1, bb.getMzxid(), "consecutive writes have consecutive zxids");
    }

    static void oneShotWatches(ZooKeeper zk) throws Exception {
        ZooKeeper other = connect(HP, 10000, null);
        Events w = new Events();
        mk(zk, "/j/w");

        // exists watch on a missing node -> NodeCreated, then NodeChildrenChanged on the parent
        check(zk.exists("/j/w/a", w) == null, "exists watch on missing", "");
        zk.getChildren("/j/w", w);
        other.create("/j/w/a", b("1"), OPEN, CreateMode.PERSISTENT);
        w.expectNext("NodeCreated /j/w/a", "exists watch fires NodeCreated first");
        w.expectNext("NodeChildrenChanged /j/w", "then parent's NodeChildrenChanged");

        // data watch: one shot
        zk.getData("/j/w/a", w, null);
        other.setData("/j/w/a", b("2"), -1);
        w.expectNext("NodeDataChanged /j/w/a", "getData watch fires NodeDataChanged");
        other.setData("/j/w/a", b("3"), -1);
        w.expectNone(300, "data watch is one-shot");

        // exists watch on existing node -> NodeDataChanged
        zk.exists("/j/w/a", w);
        other.setData("/j/w/a", b("4"), -1);
        w.expectNext("NodeDataChanged /j/w/a", "exists watch fires NodeDataChanged");

        // two different watchers on the same node both fire
        Events w2 = new Events();
        zk.getData("/j/w/a", w, null);
        zk.getData("/j/w/a", w2, null);
        other.setData("/j/w/a", b("5"), -1);
        w.expectNext("NodeDataChanged /j/w/a", "watcher 1 of 2");
        w2.expectNext("NodeDataChanged /j/w/a", "watcher 2 of 2");

        // the default watcher (watch=true)
        Events def = new Events();
        ZooKeeper dz = connect(HP, 10000, def);
        dz.getData("/j/w/a", true, null);
        other.setData("/j/w/a", b("6"), -1);
        def.expectNext("NodeDataChanged /j/w/a", "default watcher");

        // delete: data + child watch on the node and a child watch on the parent
        zk.getData("/j/w/a", w, null);
        zk.getChildren("/j/w/a", w);
        zk.getChildren("/j/w", w);
        other.delete("/j/w/a", -1);
        List<String> evs = w.drain(500);
        eq(Arrays.asList("NodeDeleted /j/w/a", "NodeChildrenChanged /j/w"), evs,
                "delete: one NodeDeleted for same watcher, then parent NodeChildrenChanged");

        // delete fires a child watch on the deleted node, exists watch on deleted node
        other.create("/j/w/b", null, OPEN, CreateMode.PERSISTENT);
        zk.getChildren("/j/w/b", w2);
        zk.exists("/j/w/b", w);
        other.delete("/j/w/b", -1);
        w2.expectNext("NodeDeleted /j/w/b", "child watch fires NodeDeleted");
        w.expectNext("NodeDeleted /j/w/b", "exists watch fires NodeDeleted");

        // a setData by the watching session itself also notifies it
        zk.create("/j/w/self", null, OPEN, CreateMode.PERSISTENT);
        zk.getData("/j/w/self", w, null);
        zk.setData("/j/w/self", b("s"), -1);
        w.expectNext("NodeDataChanged /j/w/self", "own write notifies own watch");

        // an ephemeral owner closing fires NodeDeleted for watchers
        other.create("/j/w/eph", null, OPEN, CreateMode.EPHEMERAL);
        zk.exists("/j/w/eph", w);
        zk.getChildren("/j/w", w);
        other.close();
        List<String> evs2 = w.drain(800);
        eq(new TreeSet<>(Arrays.asList("NodeDeleted /j/w/eph", "NodeChildrenChanged /j/w")), new TreeSet<>(evs2),
                "session close deletes ephemeral and fires watches");
        check(zk.exists("/j/w/eph", false) == null, "ephemeral gone right after close()", "");

        // failed write does not trigger
        zk.create("/j/w/f", null, OPEN, CreateMode.PERSISTENT);
        zk.getData("/j/w/f", w, null);
        expectErr(Code.BADVERSION, "bad version setData", () -> zk.setData("/j/w/f", b("x"), 7));
        w.expectNone(300, "failed setData fires nothing");
        zk.delete("/j/w/f", -1);
        w.expectNext("NodeDeleted /j/w/f", "then delete fires");
    }

    static void multi(ZooKeeper zk) throws Exception {
        // success
        List<OpResult> rs = zk.multi(Arrays.asList(
                Op.create("/j/m1", b("a"), OPEN, CreateMode.PERSISTENT),
                Op.create("/j/m1/c", null, OPEN, CreateMode.PERSISTENT),
                Op.create("/j/m1/s-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
                Op.create("/j/m1/cont", null, OPEN, CreateMode.CONTAINER),
                Op.create("/j/m1/ttl", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, 5000),
                Op.setData("/j/m1", b("b"), 0),
                Op.check("/j/m1", 1),
                Op.delete("/j/m1/c", 0)));
        eq(8, rs.size(), "multi result count");
        eq("/j/m1", ((OpResult.CreateResult) rs.get(0)).getPath(), "multi create path");
        check(((OpResult.CreateResult) rs.get(0)).getStat() == null, "multi plain create: no stat (type 1)",
                ((OpResult.CreateResult) rs.get(0)).getStat());
        eq("/j/m1/s-0000000001", ((OpResult.CreateResult) rs.get(2)).getPath(), "multi sequential path");
        OpResult.CreateResult cr = (OpResult.CreateResult) rs.get(3);
        check(cr.getStat() != null && cr.getStat().getEphemeralOwner() == CONTAINER_OWNER,
                "multi container create result has stat (create2)", cr.getStat());
        cr = (OpResult.CreateResult) rs.get(4);
        check(cr.getStat() != null && cr.getStat().getEphemeralOwner() == TTL_CLIENT_OWNER,
                "multi TTL create result has stat (create2)", cr.getStat());
        eq(ZooDefs.OpCode.create2, rs.get(3).getType(), "multi container result type create2");
        eq(1, ((OpResult.SetDataResult) rs.get(5)).getStat().getVersion(), "multi setData stat");
        check(rs.get(6) instanceof OpResult.CheckResult, "multi check result", rs.get(6));
        check(rs.get(7) instanceof OpResult.DeleteResult, "multi delete result", rs.get(7));
        eq("b", s(zk.getData("/j/m1", false, null)), "multi applied setData");
        // all sub-ops share one zxid
        Stat m1 = zk.exists("/j/m1", false);
        eq(m1.getCzxid(), m1.getMzxid(), "multi sub-ops share the zxid");
        eq(m1.getCzxid(), m1.getPzxid(), "multi pzxid same zxid");

        // failure in the middle: rollback and per-op results
        Stat before = zk.exists("/j/m1", false);
        try {
            zk.multi(Arrays.asList(
                    Op.create("/j/m2", null, OPEN, CreateMode.PERSISTENT),
                    Op.setData("/j/m1", b("zz"), -1),
                    Op.create("/j/m1/s-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
                    Op.check("/j/m1", 99),
                    Op.create("/j/m3", null, OPEN, CreateMode.PERSISTENT)));
            fail("multi with bad check", "no exception");
        } catch (KeeperException e) {
            eq(Code.BADVERSION, e.code(), "multi failure code");
            List<OpResult> er = e.getResults();
            List<Integer> codes = new ArrayList<>();
            for (OpResult r : er) codes.add(r instanceof OpResult.ErrorResult ? ((OpResult.ErrorResult) r).getErr() : 999);
            eq(Arrays.asList(0, 0, 0, -103, -2), codes, "multi failure per-op error codes");
        }
        check(zk.exists("/j/m2", false) == null, "multi rollback: create undone", "");
        eq(before, zk.exists("/j/m1", false), "multi rollback: parent stat unchanged");
        eq("b", s(zk.getData("/j/m1", false, null)), "multi rollback: data unchanged");
        eq("/j/m1/s-0000000004", zk.create("/j/m1/s-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL),
                "multi rollback: sequence counter not advanced");

        // first op fails
        try {
            zk.multi(Arrays.asList(Op.delete("/j/nope", -1), Op.create("/j/m4", null, OPEN, CreateMode.PERSISTENT)));
            fail("multi first op fails", "no exception");
        } catch (KeeperException e) {
            eq(Code.NONODE, e.code(), "multi first-op failure code");
            List<Integer> codes = new ArrayList<>();
            for (OpResult r : e.getResults()) codes.add(((OpResult.ErrorResult) r).getErr());
            eq(Arrays.asList(-101, -2), codes, "multi first-op failure codes");
        }
        // ops that depend on each other inside the same multi
        zk.multi(Arrays.asList(
                Op.create("/j/m5", null, OPEN, CreateMode.PERSISTENT),
                Op.create("/j/m5/x", null, OPEN, CreateMode.PERSISTENT),
                Op.delete("/j/m5/x", -1),
                Op.delete("/j/m5", -1),
                Op.create("/j/m5", b("again"), OPEN, CreateMode.PERSISTENT)));
        eq("again", s(zk.getData("/j/m5", false, null)), "multi create/delete/create same path");
        // NodeExists, NotEmpty inside multi
        try {
            zk.multi(Arrays.asList(Op.create("/j/m6", null, OPEN, CreateMode.PERSISTENT), Op.delete("/j/m1", -1)));
            fail("multi delete non-empty", "no exception");
        } catch (KeeperException e) {
            eq(Code.NOTEMPTY, e.code(), "multi NotEmpty");
        }

        // empty multi
        eq(0, zk.multi(Collections.emptyList()).size(), "empty multi");

        // Transaction API
        List<OpResult> tr = zk.transaction().create("/j/t1", b("x"), OPEN, CreateMode.PERSISTENT)
                .setData("/j/t1", b("y"), 0).check("/j/t1", 1).delete("/j/t1", 1).commit();
        eq(4, tr.size(), "transaction result count");
        check(zk.exists("/j/t1", false) == null, "transaction applied", "");

        // async multi
        CountDownLatch l = new CountDownLatch(1);
        AtomicReference<String> got = new AtomicReference<>();
        zk.multi(Arrays.asList(Op.check("/j/nope", -1)), (rc, path, ctx, results) -> {
            got.set(rc + " " + (results == null ? "null" : results.size() + ":" + ((OpResult.ErrorResult) results.get(0)).getErr()));
            l.countDown();
        }, null);
        l.await(5, TimeUnit.SECONDS);
        eq("-101 1:-101", got.get(), "async multi failure callback");

        // multi watches: a multi triggers watches for each sub-op
        Events w = new Events();
        zk.getData("/j/m5", w, null);
        zk.exists("/j/m7", w);
        zk.multi(Arrays.asList(Op.setData("/j/m5", b("w"), -1), Op.create("/j/m7", null, OPEN, CreateMode.PERSISTENT)));
        eq(Arrays.asList("NodeDataChanged /j/m5", "NodeCreated /j/m7"), w.drain(500), "multi fires watches in op order");

        // multiRead (op 22)
        mk(zk, "/j/mr");
        zk.create("/j/mr/a", b("A"), OPEN, CreateMode.PERSISTENT);
        List<OpResult> rr = zk.multi(Arrays.asList(
                Op.getChildren("/j/mr"), Op.getData("/j/mr/a"), Op.getData("/j/nope"), Op.getChildren("/j/nope")));
        eq(4, rr.size(), "multiRead result count");
        eq(Collections.singletonList("a"), ((OpResult.GetChildrenResult) rr.get(0)).getChildren(), "multiRead getChildren");
        OpResult.GetDataResult gd = (OpResult.GetDataResult) rr.get(1);
        eq("A", s(gd.getData()), "multiRead getData data");
        eq(zk.exists("/j/mr/a", false), gd.getStat(), "multiRead getData stat");
        check(rr.get(2) instanceof OpResult.ErrorResult && ((OpResult.ErrorResult) rr.get(2)).getErr() == -101,
                "multiRead per-op NONODE (getData)", rr.get(2));
        check(rr.get(3) instanceof OpResult.ErrorResult && ((OpResult.ErrorResult) rr.get(3)).getErr() == -101,
                "multiRead per-op NONODE (getChildren)", rr.get(3));
    }

    static void ephemeralsAndCounts(ZooKeeper zk) throws Exception {
        ZooKeeper other = connect(HP, 10000, null);
        mk(zk, "/j/ep");
        zk.create("/j/ep/e1", null, OPEN, CreateMode.EPHEMERAL);
        zk.create("/j/ep/e2", null, OPEN, CreateMode.EPHEMERAL);
        mk(zk, "/j/ep/p");
        other.create("/j/ep/o1", null, OPEN, CreateMode.EPHEMERAL);
        List<String> mine = new ArrayList<>(zk.getEphemerals("/j/ep/e"));
        Collections.sort(mine);
        eq(Arrays.asList("/j/ep/e1", "/j/ep/e2"), mine, "getEphemerals(prefix) own session only");
        // the prefix is a plain string prefix: "/j/ep" also matches /j/eph and /j/ephseq-*
        Set<String> want = new TreeSet<>();
        for (String e : zk.getEphemerals()) if (e.startsWith("/j/ep")) want.add(e);
        check(want.contains("/j/eph") && want.size() == 4, "own ephemerals under /j/ep*", want);
        eq(want, new TreeSet<>(zk.getEphemerals("/j/ep")), "getEphemerals string prefix /j/ep");
        List<String> mine2 = new ArrayList<>(zk.getEphemerals("/j/ep/e2"));
        eq(Arrays.asList("/j/ep/e2"), mine2, "getEphemerals exact path");
        List<String> all = zk.getEphemerals();
        check(all.contains("/j/ep/e1") && all.contains("/j/eph") && !all.contains("/j/ep/o1"),
                "getEphemerals() all own", all);
        eq(Collections.singletonList("/j/ep/o1"), other.getEphemerals(), "other session getEphemerals()");
        eq(Collections.emptyList(), zk.getEphemerals("/j/nope"), "getEphemerals unmatched prefix");

        mk(zk, "/j/acn");
        mk(zk, "/j/acn/a");
        mk(zk, "/j/acn/a/b");
        mk(zk, "/j/acn/c");
        eq(3, zk.getAllChildrenNumber("/j/acn"), "getAllChildrenNumber nested");
        eq(0, zk.getAllChildrenNumber("/j/acn/c"), "getAllChildrenNumber leaf");
        eq(4, zk.getAllChildrenNumber("/j/ep"), "getAllChildrenNumber ep");
        expectErr(Code.NONODE, "getAllChildrenNumber missing", () -> zk.getAllChildrenNumber("/j/nope"));
        other.close();
    }

    static void persistentWatches(ZooKeeper zk) throws Exception {
        ZooKeeper other = connect(HP, 10000, null);
        Events p = new Events();
        zk.addWatch("/j/pw", p, AddWatchMode.PERSISTENT);
        other.create("/j/pw", null, OPEN, CreateMode.PERSISTENT);
        p.expectNext("NodeCreated /j/pw", "persistent: NodeCreated");
        other.setData("/j/pw", b("1"), -1);
        p.expectNext("NodeDataChanged /j/pw", "persistent: NodeDataChanged");
        other.setData("/j/pw", b("2"), -1);
        p.expectNext("NodeDataChanged /j/pw", "persistent: still armed");
        other.create("/j/pw/kid", null, OPEN, CreateMode.PERSISTENT);
        p.expectNext("NodeChildrenChanged /j/pw", "persistent: NodeChildrenChanged");
        other.setData("/j/pw/kid", b("x"), -1);
        p.expectNone(300, "persistent: no event for child data");
        other.delete("/j/pw/kid", -1);
        p.expectNext("NodeChildrenChanged /j/pw", "persistent: child delete");
        other.delete("/j/pw", -1);
        p.expectNext("NodeDeleted /j/pw", "persistent: NodeDeleted");
        other.create("/j/pw", null, OPEN, CreateMode.PERSISTENT);
        p.expectNext("NodeCreated /j/pw", "persistent: survives delete");

        Events r = new Events();
        zk.addWatch("/j/rw", r, AddWatchMode.PERSISTENT_RECURSIVE);
        other.create("/j/rw", null, OPEN, CreateMode.PERSISTENT);
        other.create("/j/rw/a", null, OPEN, CreateMode.PERSISTENT);
        other.create("/j/rw/a/b", null, OPEN, CreateMode.PERSISTENT);
        other.create("/j/rwx", null, OPEN, CreateMode.PERSISTENT);          // sibling sharing the prefix
        other.setData("/j/rw/a/b", b("d"), -1);
        other.create("/j/rw/a/e", null, OPEN, CreateMode.EPHEMERAL);
        other.delete("/j/rw/a/b", -1);
        other.setData("/j/rwx", b("no"), -1);
        other.multi(Arrays.asList(Op.create("/j/rw/m", null, OPEN, CreateMode.PERSISTENT), Op.setData("/j/rw", b("m"), -1)));
        other.close();                                                      // deletes /j/rw/a/e
        eq(Arrays.asList("NodeCreated /j/rw", "NodeCreated /j/rw/a", "NodeCreated /j/rw/a/b",
                        "NodeDataChanged /j/rw/a/b", "NodeCreated /j/rw/a/e", "NodeDeleted /j/rw/a/b",
                        "NodeCreated /j/rw/m", "NodeDataChanged /j/rw", "NodeDeleted /j/rw/a/e"),
                r.drain(800), "recursive: events in order, no NodeChildrenChanged, not for /j/rwx");

        // recursive watch on / sees everything; one-shot + persistent on the same path
        Events all = new Events();
        ZooKeeper z2 = connect(HP, 10000, null);
        z2.addWatch("/", all, AddWatchMode.PERSISTENT_RECURSIVE);
        zk.create("/j/rw/deep", null, OPEN, CreateMode.PERSISTENT);
        all.expectNext("NodeCreated /j/rw/deep", "recursive on / sees deep create");
        r.expectNext("NodeCreated /j/rw/deep", "recursive on /j/rw sees own session create");
        Events one = new Events();
        zk.getData("/j/rw/deep", one, null);
        z2.setData("/j/rw/deep", b("x"), -1);
        r.expectNext("NodeDataChanged /j/rw/deep", "recursive + one-shot: recursive fires");
        one.expectNext("NodeDataChanged /j/rw/deep", "recursive + one-shot: one-shot fires");
        all.expectNext("NodeDataChanged /j/rw/deep", "recursive on / sees own session write");
        z2.close();

        // async addWatch
        CountDownLatch l = new CountDownLatch(1);
        AtomicInteger rc0 = new AtomicInteger(99);
        zk.addWatch("/j/nope/deeper", new Events(), AddWatchMode.PERSISTENT, (rc, path, ctx) -> {
            rc0.set(rc);
            l.countDown();
        }, null);
        l.await(5, TimeUnit.SECONDS);
        eq(0, rc0.get(), "addWatch on missing path succeeds");
    }

    static void removeWatches(ZooKeeper zk) throws Exception {
        mk(zk, "/j/rm");
        Events w = new Events();
        Events w2 = new Events();
        zk.getData("/j/rm", w, null);
        zk.getData("/j/rm", w2, null);
        zk.removeWatches("/j/rm", w, WatcherType.Data, false);             // checkWatches (17)
        w.expectNext("DataWatchRemoved /j/rm", "removeWatches Data -> DataWatchRemoved");
        zk.setData("/j/rm", b("1"), -1);
        w2.expectNext("NodeDataChanged /j/rm", "other watcher still fires");
        w.expectNone(300, "removed watcher does not fire");

        zk.getChildren("/j/rm", w);
        zk.exists("/j/rm", w2);
        zk.removeAllWatches("/j/rm", WatcherType.Children, false);          // removeWatches (18)
        w.expectNext("ChildWatchRemoved /j/rm", "removeAllWatches Children -> ChildWatchRemoved");
        zk.create("/j/rm/kid", null, OPEN, CreateMode.PERSISTENT);
        w.expectNone(300, "removed child watch does not fire");
        zk.setData("/j/rm", b("2"), -1);
        w2.expectNext("NodeDataChanged /j/rm", "exists watch survives child removal");

        zk.getData("/j/rm", w, null);
        zk.getChildren("/j/rm", w);
        zk.removeAllWatches("/j/rm", WatcherType.Any, false);
        Set<String> got = new TreeSet<>(w.drain(500));
        eq(new TreeSet<>(Arrays.asList("DataWatchRemoved /j/rm", "ChildWatchRemoved /j/rm")), got,
                "removeAllWatches Any");

        // no watch -> NoWatcher (client side), and on a server that lost it
        expectErr(Code.NOWATCHER, "removeAllWatches with none", () -> zk.removeAllWatches("/j/rm", WatcherType.Data, false));

        // persistent watch removed with Any
        Events p = new Events();
        zk.addWatch("/j/rm", p, AddWatchMode.PERSISTENT);
        zk.removeWatches("/j/rm", p, WatcherType.Any, false);
        List<String> pe = p.drain(400);
        check(!pe.isEmpty() && pe.get(0).endsWith("WatchRemoved /j/rm"), "persistent watch removed", pe);
        zk.setData("/j/rm", b("3"), -1);
        p.expectNone(300, "removed persistent watch silent");

        // local removal
        zk.getData("/j/rm", w, null);
        zk.removeWatches("/j/rm", w, WatcherType.Data, true);
        w.expectNext("DataWatchRemoved /j/rm", "local removal event");
    }

    static void aclAndAuth(ZooKeeper zk) throws Exception {
        ZooKeeper alice = connect(HP, 10000, null);
        ZooKeeper anon = connect(HP, 10000, null);
        // whoAmI
        List<ClientInfo> who = anon.whoAmI();
        eq("[ip:127.0.0.1]", whoStr(who), "whoAmI anonymous");
        alice.addAuthInfo("digest", b("alice:secret"));
        eq("[digest:alice, ip:127.0.0.1]", whoStr(alice.whoAmI()), "whoAmI after digest auth");

        String digest = DigestAuthenticationProvider.generateDigest("alice:secret");
        Stat cs = new Stat();
        alice.create("/j/acl", b("sec"), Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT, cs);
        Stat as = new Stat();
        List<ACL> acl = alice.getACL("/j/acl", as);
        eq(Collections.singletonList(new ACL(Perms.ALL, new Id("digest", digest))), acl, "auth ACL expanded to digest");
        eq(cs, as, "getACL stat");
        expectErr(Code.NOAUTH, "anon getData", () -> anon.getData("/j/acl", false, null));
        expectErr(Code.NOAUTH, "anon setData", () -> anon.setData("/j/acl", b("x"), -1));
        expectErr(Code.NOAUTH, "anon getChildren", () -> anon.getChildren("/j/acl", false));
        expectErr(Code.NOAUTH, "anon create child", () -> anon.create("/j/acl/x", null, OPEN, CreateMode.PERSISTENT));
        expectErr(Code.NOAUTH, "anon getACL (no READ/ADMIN)", () -> anon.getACL("/j/acl", new Stat()));
        expectErr(Code.NOAUTH, "anon setACL", () -> anon.setACL("/j/acl", OPEN, -1));
        try {
            check(anon.exists("/j/acl", false) != null, "exists needs no permission", "");
        } catch (KeeperException e) {
            fail("exists needs no permission", "got " + e.code());
        }
        try {                       // ... nor does an exists watch on such a node
            Events aw = new Events();
            anon.exists("/j/acl", aw);
            alice.setData("/j/acl", b("sec"), -1);
            // Debian's 3.8.0 carries the CVE-2024-23944 fix (as 3.8.4+): an event is only
            // delivered to a connection with READ on the node it is about
            aw.expectNone(300, "event on a node without READ is not delivered");
        } catch (KeeperException e) {
            fail("exists watch without READ", "got " + e.code());
        }
        eq("sec", s(alice.getData("/j/acl", false, null)), "alice reads");
        expectErr(Code.INVALIDACL, "CREATOR_ALL_ACL without auth", () -> anon.create("/j/acl2", null, Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT));
        expectErr(Code.INVALIDACL, "empty ACL list", () -> anon.create("/j/acl2", null, new ArrayList<>(), CreateMode.PERSISTENT));
        expectErr(Code.INVALIDACL, "bad ip ACL", () -> anon.create("/j/acl2", null,
                Collections.singletonList(new ACL(Perms.ALL, new Id("ip", "not-an-ip"))), CreateMode.PERSISTENT));
        expectErr(Code.INVALIDACL, "unknown scheme ACL", () -> anon.create("/j/acl2", null,
                Collections.singletonList(new ACL(Perms.ALL, new Id("nosuch", "x"))), CreateMode.PERSISTENT));

        // watch notifications are filtered by the READ permission of the node
        alice.create("/j/aclw", null, OPEN, CreateMode.PERSISTENT);
        Events rw = new Events();
        anon.addWatch("/j/aclw", rw, AddWatchMode.PERSISTENT_RECURSIVE);
        Events cw = new Events();
        zk.getChildren("/j/aclw", cw);     // another session: the client would hand a
                                           // NodeChildrenChanged to anon's recursive watcher too
        alice.create("/j/aclw/secret", null, Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
        alice.setData("/j/aclw/secret", b("s"), -1);
        alice.create("/j/aclw/public", null, OPEN, CreateMode.PERSISTENT);
        alice.delete("/j/aclw/secret", -1);
        alice.delete("/j/aclw/public", -1);
        eq(Arrays.asList("NodeCreated /j/aclw/public", "NodeDeleted /j/aclw/public"), rw.drain(500),
                "recursive watch only hears of nodes it may READ");
        eq(Arrays.asList("NodeChildrenChanged /j/aclw"), cw.drain(200), "child watch on readable parent fires");

        // wrong password does not help, right one does
        anon.addAuthInfo("digest", b("alice:wrong"));
        expectErr(Code.NOAUTH, "wrong password getData", () -> anon.getData("/j/acl", false, null));
        anon.addAuthInfo("digest", b("alice:secret"));
        eq("sec", s(anon.getData("/j/acl", false, null)), "second addAuthInfo grants");

        // READ-only world + redacted digest for READ-without-ADMIN getACL
        List<ACL> mixed = Arrays.asList(new ACL(Perms.ALL, new Id("digest", digest)),
                new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE));
        alice.create("/j/acl/ro", b("r"), mixed, CreateMode.PERSISTENT);
        ZooKeeper anon2 = connect(HP, 10000, null);
        eq("r", s(anon2.getData("/j/acl/ro", false, null)), "world READ reads");
        expectErr(Code.NOAUTH, "world READ cannot write", () -> anon2.setData("/j/acl/ro", b("x"), -1));
        expectErr(Code.NOAUTH, "world READ cannot create child", () -> anon2.create("/j/acl/ro/k", null, OPEN, CreateMode.PERSISTENT));
        List<ACL> seen = anon2.getACL("/j/acl/ro", new Stat());
        eq(Arrays.asList(new ACL(Perms.ALL, new Id("digest", "alice:x")), new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE)),
                seen, "getACL without ADMIN redacts digest ids to user:x");
        eq(mixed, alice.getACL("/j/acl/ro", new Stat()), "getACL with ADMIN shows digests");

        // setACL versions
        Stat s1 = alice.setACL("/j/acl/ro", mixed, 0);
        eq(1, s1.getAversion(), "setACL bumps aversion");
        expectErr(Code.BADVERSION, "setACL stale aversion", () -> alice.setACL("/j/acl/ro", mixed, 0));
        eq(0, s1.getVersion(), "setACL leaves version");

        // delete needs DELETE on the parent
        alice.create("/j/acl/open", null, OPEN, CreateMode.PERSISTENT);
        ZooKeeper anon3 = connect(HP, 10000, null);
        expectErr(Code.NOAUTH, "delete needs DELETE on parent", () -> anon3.delete("/j/acl/open", -1));

        // super digest
        ZooKeeper sup = connect(HP, 10000, null);
        sup.addAuthInfo("digest", b("super:test"));
        eq("sec", s(sup.getData("/j/acl", false, null)), "super reads");
        eq("[digest:super, ip:127.0.0.1, super:]", whoStr(sup.whoAmI()), "whoAmI super");
        sup.setACL("/j/acl/open", Collections.singletonList(new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE)), -1);

        // ip ACL and the "auth" scheme
        zk.create("/j/ipacl", b("ip"), Collections.singletonList(new ACL(Perms.ALL, new Id("ip", "127.0.0.1"))), CreateMode.PERSISTENT);
        eq("ip", s(anon3.getData("/j/ipacl", false, null)), "ip ACL matches loopback");
        zk.create("/j/ipnet", b("ip"), Collections.singletonList(new ACL(Perms.ALL, new Id("ip", "127.0.0.0/8"))), CreateMode.PERSISTENT);
        eq("ip", s(anon3.getData("/j/ipnet", false, null)), "ip/8 ACL matches loopback");
        zk.create("/j/ipother", b("ip"), Collections.singletonList(new ACL(Perms.ALL, new Id("ip", "10.1.2.0/24"))), CreateMode.PERSISTENT);
        expectErr(Code.NOAUTH, "ip ACL mismatch", () -> anon3.getData("/j/ipother", false, null));
        alice.create("/j/authacl", null, Collections.singletonList(new ACL(Perms.ALL, new Id("auth", ""))), CreateMode.PERSISTENT);
        eq(Collections.singletonList(new ACL(Perms.ALL, new Id("digest", digest))), alice.getACL("/j/authacl", new Stat()),
                "auth scheme expands to digest");

        // unknown auth scheme -> AuthFailed, connection unusable
        Events fe = new Events();
        ZooKeeper bad = connect(HP, 10000, fe);
        bad.addAuthInfo("nosuchscheme", b("x"));
        List<String> st = fe.awaitState(KeeperState.AuthFailed, 5000);
        eq("AuthFailed", st.get(st.size() - 1), "unknown scheme -> AuthFailed event");
        try {
            bad.getData("/j", false, null);
            fail("op after AuthFailed", "succeeded");
        } catch (KeeperException e) {
            eq(Code.AUTHFAILED, e.code(), "op after AuthFailed");
        }
        eq(ZooKeeper.States.AUTH_FAILED, bad.getState(), "state AUTH_FAILED");
        bad.close();
        alice.close();
        anon.close();
        anon2.close();
        anon3.close();
        sup.close();
    }

    static String whoStr(List<ClientInfo> l) {
        List<String> out = new ArrayList<>();
        for (ClientInfo c : l) out.add(c.getAuthScheme() + ":" + c.getUser());
        Collections.sort(out);                 // ZooKeeper keeps them in a hash set: no order
        return out.toString();
    }

    static void configSyncChroot(ZooKeeper zk) throws Exception {
        Stat cs = new Stat();
        byte[] cfg = zk.getConfig(false, cs);
        Stat gs = new Stat();
        byte[] cfg2 = zk.getData("/zookeeper/config", false, gs);
        eq(cfg2, cfg, "getConfig == getData /zookeeper/config");
        eq(gs, cs, "getConfig stat == getData stat");
        System.out.println("   /zookeeper/config = " + show(cfg) + " stat " + statStr(cs));
        eq(0L, cs.getEphemeralOwner(), "/zookeeper/config ephemeralOwner");
        // standalone ZooKeeper (no dynamic reconfig): empty data, and a node created outside
        // any transaction (all-zero stat; aversion -1 as ZooKeeper's DataTree leaves it)
        eq(0, cfg == null ? 0 : cfg.length, "/zookeeper/config empty in standalone");
        eq("czxid=0x0 mzxid=0x0 ctime=0 mtime=0 version=0 cversion=0 aversion=-1 ephemeralOwner=0x0 "
                + "dataLength=0 numChildren=0 pzxid=0x0", statStr(cs), "/zookeeper/config stat");
        eq(Collections.singletonList(new ACL(Perms.READ, Ids.ANYONE_ID_UNSAFE)), zk.getACL("/zookeeper/config", new Stat()),
                "/zookeeper/config ACL world:anyone READ");
        expectErr(Code.NOAUTH, "setData /zookeeper/config", () -> zk.setData("/zookeeper/config", b("x"), -1));
        Events cw = new Events();
        zk.getConfig(cw, new Stat());                                       // watch is accepted

        // sync
        CountDownLatch l = new CountDownLatch(2);
        List<String> res = new CopyOnWriteArrayList<>();
        zk.sync("/j", (rc, path, ctx) -> { res.add(rc + " " + path + " " + ctx); l.countDown(); }, "s1");
        zk.sync("/j/nope", (rc, path, ctx) -> { res.add(rc + " " + path + " " + ctx); l.countDown(); }, "s2");
        l.await(5, TimeUnit.SECONDS);
        eq(Arrays.asList("0 /j s1", "0 /j/nope s2"), res, "sync callbacks (missing path is fine)");

        // chroot
        mk(zk, "/j/chroot");
        Events ce = new Events();
        ZooKeeper cz = connect(HP + "/j/chroot", 10000, ce);
        cz.addWatch("/", ce, AddWatchMode.PERSISTENT_RECURSIVE);
        eq("/a", cz.create("/a", b("x"), OPEN, CreateMode.PERSISTENT), "chroot create returns relative path");
        eq("/a/s-0000000000", cz.create("/a/s-", null, OPEN, CreateMode.PERSISTENT_SEQUENTIAL), "chroot sequential");
        check(zk.exists("/j/chroot/a/s-0000000000", false) != null, "chroot node at full path", "");
        List<String> evs = ce.drain(400);
        eq(Arrays.asList("NodeCreated /a", "NodeCreated /a/s-0000000000"), evs, "chroot recursive watch paths");
        List<OpResult> rs = cz.multi(Arrays.asList(Op.create("/b", null, OPEN, CreateMode.PERSISTENT)));
        // the 3.8.0 Java client does not strip the chroot from multi results (client-side)
        String mp = ((OpResult.CreateResult) rs.get(0)).getPath();
        check(mp.equals("/b") || mp.equals("/j/chroot/b"), "chroot multi path", mp);
        cz.close();
    }

    /** What zkCli's setquota does (SetQuotaCommand.createQuota), then the server-maintained
     *  zookeeper_stats node under /zookeeper/quota (DataTree.updateQuotaForPath /
     *  updateCountBytes) that listquota reads. */
    static void quota(ZooKeeper zk) throws Exception {
        mk(zk, "/j/q");
        zk.create("/j/q/a", b("12345"), OPEN, CreateMode.PERSISTENT);
        org.apache.zookeeper.StatsTrack limits = new org.apache.zookeeper.StatsTrack();
        limits.setCount(10);
        limits.setBytes(-1L);
        check(org.apache.zookeeper.cli.SetQuotaCommand.createQuota(zk, "/j/q", limits), "createQuota", "");
        eq(limits.toString(), s(zk.getData("/zookeeper/quota/j/q/zookeeper_limits", false, null)), "zookeeper_limits data");
        org.apache.zookeeper.StatsTrack st = new org.apache.zookeeper.StatsTrack(
                zk.getData("/zookeeper/quota/j/q/zookeeper_stats", false, null));
        eq("count=2 bytes=5", "count=" + st.getCount() + " bytes=" + st.getBytes(), "zookeeper_stats after setquota");
        zk.create("/j/q/b", b("123"), OPEN, CreateMode.PERSISTENT);
        zk.create("/j/q/a/c", null, OPEN, CreateMode.PERSISTENT);
        zk.setData("/j/q/a", b("1"), -1);
        st = new org.apache.zookeeper.StatsTrack(zk.getData("/zookeeper/quota/j/q/zookeeper_stats", false, null));
        eq("count=4 bytes=4", "count=" + st.getCount() + " bytes=" + st.getBytes(), "zookeeper_stats tracks creates/setData");
        zk.delete("/j/q/b", -1);
        st = new org.apache.zookeeper.StatsTrack(zk.getData("/zookeeper/quota/j/q/zookeeper_stats", false, null));
        eq("count=3 bytes=1", "count=" + st.getCount() + " bytes=" + st.getBytes(), "zookeeper_stats tracks deletes");
    }

    static void containersAndTtl(ZooKeeper zk) throws Exception {
        // container with a child: deleted once the child is gone
        zk.create("/j/c1", null, OPEN, CreateMode.CONTAINER);
        zk.create("/j/c1/kid", null, OPEN, CreateMode.PERSISTENT);
        // container never given a child: kept
        zk.create("/j/c2", null, OPEN, CreateMode.CONTAINER);
        // TTL node: short ttl, deleted after it elapses with no children
        zk.create("/j/t1", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, new Stat(), 300);
        // TTL node with a child: kept
        zk.create("/j/t2", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, new Stat(), 300);
        zk.create("/j/t2/kid", null, OPEN, CreateMode.PERSISTENT);
        // TTL node that keeps being modified: kept while mtime is fresh
        zk.create("/j/t3", null, OPEN, CreateMode.PERSISTENT_WITH_TTL, new Stat(), 60000);
        Events w = new Events();
        zk.exists("/j/c1", w);
        zk.delete("/j/c1/kid", -1);
        long t0 = System.currentTimeMillis();
        boolean c1gone = waitFor(8000, () -> { try { return zk.exists("/j/c1", false) == null; } catch (Exception e) { return false; } });
        check(c1gone, "empty container (had a child) is deleted", (System.currentTimeMillis() - t0) + " ms");
        w.expectNext("NodeDeleted /j/c1", "container removal fires NodeDeleted");
        boolean t1gone = waitFor(5000, () -> { try { return zk.exists("/j/t1", false) == null; } catch (Exception e) { return false; } });
        check(t1gone, "expired TTL node is deleted", "");
        check(zk.exists("/j/c2", false) != null, "container that never had children is kept", "");
        check(zk.exists("/j/t2", false) != null, "TTL node with a child is kept", "");
        check(zk.exists("/j/t3", false) != null, "TTL node within its ttl is kept", "");
        // a container becomes deletable after its last child goes, even if via multi
        zk.create("/j/c3", null, OPEN, CreateMode.CONTAINER);
        zk.multi(Arrays.asList(Op.create("/j/c3/k", null, OPEN, CreateMode.PERSISTENT), Op.delete("/j/c3/k", -1)));
        boolean c3gone = waitFor(8000, () -> { try { return zk.exists("/j/c3", false) == null; } catch (Exception e) { return false; } });
        check(c3gone, "container emptied inside a multi is deleted", "");
    }

    static Object getField(Object o, String name) throws Exception {
        Class<?> c = o.getClass();
        while (c != null) {
            try {
                Field f = c.getDeclaredField(name);
                f.setAccessible(true);
                return f.get(o);
            } catch (NoSuchFieldException e) {
                c = c.getSuperclass();
            }
        }
        throw new NoSuchFieldException(name);
    }

    static void reconnectSetWatches(ZooKeeper zk) throws Exception {
        try (Proxy px = new Proxy(Integer.parseInt(HP.substring(HP.lastIndexOf(':') + 1)))) {
            Events ev = new Events();
            ZooKeeper pz = connect(px.hostport(), 10000, ev);
            long sid = pz.getSessionId();
            pz.addAuthInfo("digest", b("alice:secret"));
            mk(zk, "/j/sw");
            zk.create("/j/sw/d", b("0"), OPEN, CreateMode.PERSISTENT);
            zk.create("/j/sw/del", null, OPEN, CreateMode.PERSISTENT);
            zk.create("/j/sw/same", null, OPEN, CreateMode.PERSISTENT);
            zk.create("/j/sw/kdel", null, OPEN, CreateMode.PERSISTENT);
            mk(zk, "/j/sw/rec");
            pz.create("/j/sw/auth", b("a"), Ids.CREATOR_ALL_ACL, CreateMode.PERSISTENT);
            pz.create("/j/sw/myeph", null, OPEN, CreateMode.EPHEMERAL);
            Events w = new Events();
            Events r = new Events();
            pz.getData("/j/sw/d", w, null);
            pz.exists("/j/sw/new", w);
            pz.exists("/j/sw/del", w);
            pz.getChildren("/j/sw", w);
            pz.getData("/j/sw/same", w, null);
            pz.getChildren("/j/sw/kdel", w);
            pz.addWatch("/j/sw/rec", r, AddWatchMode.PERSISTENT_RECURSIVE);

            px.block();
            eq("Disconnected", ev.nextState(5000), "Disconnected on cut");
            zk.setData("/j/sw/d", b("1"), -1);
            zk.create("/j/sw/new", null, OPEN, CreateMode.PERSISTENT);
            zk.delete("/j/sw/del", -1);
            zk.delete("/j/sw/kdel", -1);
            zk.create("/j/sw/rec/x", null, OPEN, CreateMode.PERSISTENT);
            sleep(300);
            px.unblock();
            eq("SyncConnected", ev.nextState(8000), "SyncConnected after reconnect");
            eq(sid, pz.getSessionId(), "same session after reconnect");
            Set<String> got = new TreeSet<>(w.drain(800));
            eq(new TreeSet<>(Arrays.asList("NodeDataChanged /j/sw/d", "NodeCreated /j/sw/new", "NodeDeleted /j/sw/del",
                    "NodeChildrenChanged /j/sw", "NodeDeleted /j/sw/kdel")), got, "SetWatches replays missed events");
            eq(Collections.emptyList(), r.drain(200), "persistent watch: no replay of missed events");
            zk.create("/j/sw/rec/y", null, OPEN, CreateMode.PERSISTENT);
            r.expectNext("NodeCreated /j/sw/rec/y", "persistent recursive watch re-registered");
            zk.setData("/j/sw/same", b("s"), -1);
            w.expectNext("NodeDataChanged /j/sw/same", "unchanged watched node still watched");
            eq("a", s(pz.getData("/j/sw/auth", false, null)), "auth re-sent after reconnect");
            check(zk.exists("/j/sw/myeph", false) != null, "ephemeral survives short disconnect", "");
            eq("[digest:alice, ip:127.0.0.1]", whoStr(pz.whoAmI()), "whoAmI after reconnect");

            // second cut with only one-shot watches (SetWatches, op 101) and more of them than
            // the client puts in one SetWatches packet (it splits at 128 KiB)
            pz.removeAllWatches("/j/sw/rec", WatcherType.Any, false);
            r.drain(200);
            Events many = new Events();
            String pad = "-" + "x".repeat(100);
            int n = 1500;
            CountDownLatch ml = new CountDownLatch(n);
            for (int i = 0; i < n; i++) pz.exists("/j/sw/m" + i + pad, many, (rc, path, ctx, stat) -> ml.countDown(), null);
            check(ml.await(20, TimeUnit.SECONDS), n + " exists watches set", ml.getCount());
            pz.getData("/j/sw/d", w, null);
            px.block();
            eq("Disconnected", ev.nextState(5000), "Disconnected on second cut");
            zk.create("/j/sw/m7" + pad, null, OPEN, CreateMode.PERSISTENT);
            zk.create("/j/sw/m1499" + pad, null, OPEN, CreateMode.PERSISTENT);
            zk.setData("/j/sw/d", b("2"), -1);
            sleep(200);
            px.unblock();
            eq("SyncConnected", ev.nextState(8000), "SyncConnected after second reconnect");
            eq(new TreeSet<>(Arrays.asList("NodeCreated /j/sw/m7" + pad, "NodeCreated /j/sw/m1499" + pad)),
                    new TreeSet<>(many.drain(1000)), "split SetWatches replays missed creates");
            w.expectNext("NodeDataChanged /j/sw/d", "SetWatches (no persistent watches) replays data change");
            zk.create("/j/sw/m0" + pad, null, OPEN, CreateMode.PERSISTENT);
            many.expectNext("NodeCreated /j/sw/m0" + pad, "watch from the first SetWatches packet re-armed");
            zk.create("/j/sw/m1498" + pad, null, OPEN, CreateMode.PERSISTENT);
            many.expectNext("NodeCreated /j/sw/m1498" + pad, "watch from the last SetWatches packet re-armed");
            pz.close();
        }
    }

    static void sessionExpiry(ZooKeeper zk) throws Exception {
        try (Proxy px = new Proxy(Integer.parseInt(HP.substring(HP.lastIndexOf(':') + 1)))) {
            Events ev = new Events();
            ZooKeeper pz = connect(px.hostport(), 4000, ev);
            eq(4000, pz.getSessionTimeout(), "short session timeout");
            pz.create("/j/exp", null, OPEN, CreateMode.EPHEMERAL);
            Events w = new Events();
            zk.exists("/j/exp", w);
            // a second session behind a black hole: its server-side connection stays open
            Proxy hole = track(new Proxy(px.targetPort));
            Events ev2 = new Events();
            ZooKeeper hz = connect(hole.hostport(), 4000, ev2);
            hz.create("/j/exp2", null, OPEN, CreateMode.EPHEMERAL);
            zk.exists("/j/exp2", w);
            // a Curator client through the same proxy, watching its connection state
            List<String> states = new CopyOnWriteArrayList<>();
            CuratorFramework cf = CuratorFrameworkFactory.builder().connectString(px.hostport())
                    .sessionTimeoutMs(4000).connectionTimeoutMs(3000).retryPolicy(new RetryNTimes(50, 200)).build();
            cf.getConnectionStateListenable().addListener((c, st) -> states.add(st.toString()));
            cf.start();
            check(cf.blockUntilConnected(10, TimeUnit.SECONDS), "curator connected through proxy", "");
            long t0 = System.currentTimeMillis();
            px.block();
            hole.paused = true;
            // expiry comes 4000..6000 ms after the last ping (expiry buckets of one tick)
            String first = w.next(12000);
            long took = System.currentTimeMillis() - t0;
            check(took >= 2500 && took < 10000, "expiry after ~session timeout", took + " ms");
            Set<String> dels = new TreeSet<>(Arrays.asList(first, w.next(4000)));
            eq(new TreeSet<>(Arrays.asList("NodeDeleted /j/exp", "NodeDeleted /j/exp2")), dels,
                    "both partitioned sessions expire (closed and open-but-silent connection)");
            check(waitFor(4000, () -> hole.serverEofs.get() > 0), "server closes the expired session's open connection",
                    "no EOF from the server side");
            sleep(Math.max(0, 5000 - took));
            px.unblock();
            hole.paused = false;
            List<String> st = ev.awaitState(KeeperState.Expired, 8000);
            eq("Expired", st.get(st.size() - 1), "client sees Expired after reconnect (" + st + ")");
            List<String> st2 = ev2.awaitState(KeeperState.Expired, 8000);
            eq("Expired", st2.get(st2.size() - 1), "black-holed client sees Expired (" + st2 + ")");
            hz.close();
            eq(ZooKeeper.States.CLOSED, pz.getState(), "expired handle is CLOSED");
            try {
                pz.exists("/j", false);
                fail("op on expired handle", "succeeded");
            } catch (KeeperException e) {
                eq(Code.SESSIONEXPIRED, e.code(), "op on expired handle");
            }
            pz.close();
            boolean rec = waitFor(10000, () -> states.contains("RECONNECTED"));
            check(rec, "curator RECONNECTED after expiry", states);
            List<String> want = Arrays.asList("CONNECTED", "SUSPENDED", "LOST", "RECONNECTED");
            check(isSubsequence(want, states), "curator states CONNECTED,SUSPENDED,LOST,RECONNECTED", states);
            check(cf.checkExists().forPath("/j") != null, "curator usable after new session", "");
            cf.close();
        }
        // reconnecting with a wrong password -> Expired at once
        Events bad = new Events();
        byte[] pw = zk.getSessionPasswd().clone();
        pw[0] ^= 1;
        ZooKeeper wrong = new ZooKeeper(HP, 10000, bad, zk.getSessionId(), pw);
        List<String> st = bad.awaitState(KeeperState.Expired, 8000);
        eq("Expired", st.get(st.size() - 1), "wrong session password -> Expired (" + st + ")");
        wrong.close();
        // reconnecting to a session that never existed -> Expired
        Events bogus = new Events();
        ZooKeeper nx = new ZooKeeper(HP, 10000, bogus, 0x1234567812345678L, new byte[16]);
        st = bogus.awaitState(KeeperState.Expired, 8000);
        eq("Expired", st.get(st.size() - 1), "unknown session id -> Expired (" + st + ")");
        nx.close();
        // ZooKeeper closes the session's current connection on any re-attach attempt, even
        // one with a wrong password (ZooKeeperServer.processConnectRequest, CLIENT_RECONNECT);
        // the client reconnects.  Only the session surviving is required here.
        boolean alive = waitFor(8000, () -> { try { return zk.exists("/j", false) != null; } catch (Exception e) { return false; } });
        check(alive, "main session survives a wrong-password re-attach attempt", "");
        eq(ZooKeeper.States.CONNECTED, zk.getState(), "main handle connected");
    }

    static boolean isSubsequence(List<String> want, List<String> got) {
        int i = 0;
        for (String g : got) if (i < want.size() && want.get(i).equals(g)) i++;
        return i == want.size();
    }

    static void sessionCloseOtherHandle(ZooKeeper zk) throws Exception {
        Events ev = new Events();
        ZooKeeper a = connect(HP, 10000, ev);
        a.create("/j/sh", null, OPEN, CreateMode.EPHEMERAL);
        Events ev2 = new Events();
        ZooKeeper b2 = new ZooKeeper(HP, 10000, e -> ev2.process(e), a.getSessionId(), a.getSessionPasswd());
        List<String> st = ev2.awaitState(KeeperState.SyncConnected, 8000);
        eq("SyncConnected", st.get(st.size() - 1), "second handle attaches to the session");
        // the server closes the first handle's connection when the session re-attaches
        List<String> ast = ev.awaitState(KeeperState.Disconnected, 3000);
        eq("Disconnected", ast.get(ast.size() - 1), "first handle's connection closed when the session moves");
        eq(a.getSessionId(), b2.getSessionId(), "same session id");
        check(zk.exists("/j/sh", false) != null, "ephemeral kept while session moves", "");
        eq(Collections.singletonList("/j/sh"), b2.getEphemerals("/j/sh"), "getEphemerals through second handle");
        b2.close();                                         // closeSession for both handles
        check(zk.exists("/j/sh", false) == null, "closeSession via second handle deletes ephemeral", "");
        a.close();
    }

    // ================================================================== Curator
    static CuratorFramework curator(String hp) throws Exception {
        CuratorFramework c = CuratorFrameworkFactory.builder().connectString(hp).sessionTimeoutMs(10000)
                .connectionTimeoutMs(5000).retryPolicy(new ExponentialBackoffRetry(100, 3)).build();
        c.start();
        track(c);
        if (!c.blockUntilConnected(15, TimeUnit.SECONDS)) throw new IllegalStateException("curator did not connect");
        return c;
    }

    static void curatorFramework(CuratorFramework c) throws Exception {
        c.create().creatingParentsIfNeeded().forPath("/cur/a/b/c", b("leaf"));
        eq("leaf", s(c.getData().forPath("/cur/a/b/c")), "creatingParentsIfNeeded leaf");
        eq(0L, c.checkExists().forPath("/cur/a").getEphemeralOwner(), "creatingParentsIfNeeded parent is persistent");
        // parents are containers: they go away by themselves once the leaf is deleted
        c.create().creatingParentContainersIfNeeded().forPath("/cur2/x/y", b("y"));
        eq("y", s(c.getData().forPath("/cur2/x/y")), "creatingParentContainersIfNeeded leaf");
        c.create().creatingParentsIfNeeded().forPath("/cur3/x", b("z"));
        c.delete().forPath("/cur2/x/y");
        c.delete().forPath("/cur3/x");
        boolean gone = waitFor(8000, () -> { try { return c.checkExists().forPath("/cur2") == null; } catch (Exception e) { return false; } });
        check(gone, "creatingParentContainersIfNeeded: parents are containers (cascade-deleted)", "");
        check(c.checkExists().forPath("/cur3") != null, "creatingParentsIfNeeded: parents are persistent", "");

        Stat st = new Stat();
        c.create().storingStatIn(st).forPath("/cur/st", b("12"));
        eq(2, st.getDataLength(), "storingStatIn (create2)");
        c.create().orSetData().forPath("/cur/st", b("345"));
        eq("345", s(c.getData().forPath("/cur/st")), "create().orSetData()");
        Stat v = c.setData().withVersion(1).forPath("/cur/st", b("6"));
        eq(2, v.getVersion(), "setData withVersion");
        try {
            c.setData().withVersion(1).forPath("/cur/st", b("7"));
            fail("curator stale setData", "no exception");
        } catch (KeeperException.BadVersionException e) {
            pass();
        }
        String prot = c.create().withProtection().withMode(CreateMode.EPHEMERAL_SEQUENTIAL).forPath("/cur/prot-", b("p"));
        check(prot.matches("/cur/_c_[0-9a-f-]{36}-prot-\\d{10}"), "withProtection name", prot);
        c.create().withTtl(30000).withMode(CreateMode.PERSISTENT_WITH_TTL).forPath("/cur/ttl");
        eq(TTL_CLIENT_OWNER, c.checkExists().forPath("/cur/ttl").getEphemeralOwner(), "curator withTtl");
        List<String> kids = new ArrayList<>(c.getChildren().forPath("/cur"));
        Collections.sort(kids);
        eq(4, kids.size(), "curator getChildren " + kids);

        // background + watcher
        CountDownLatch l = new CountDownLatch(1);
        AtomicReference<CuratorEvent> ev = new AtomicReference<>();
        c.create().inBackground((cli, e) -> { ev.set(e); l.countDown(); }).forPath("/cur/bg", b("b"));
        l.await(5, TimeUnit.SECONDS);
        check(ev.get() != null && ev.get().getType() == CuratorEventType.CREATE && ev.get().getResultCode() == 0
                && "/cur/bg".equals(ev.get().getName()), "background create event", ev.get());
        LinkedBlockingQueue<String> wq = new LinkedBlockingQueue<>();
        c.getData().usingWatcher((org.apache.curator.framework.api.CuratorWatcher) e -> wq.add(e.getType() + " " + e.getPath()))
                .forPath("/cur/bg");
        c.setData().forPath("/cur/bg", b("c"));
        eq("NodeDataChanged /cur/bg", wq.poll(5, TimeUnit.SECONDS), "CuratorWatcher fires");

        // watchers().add() persistent + remove
        LinkedBlockingQueue<String> pq = new LinkedBlockingQueue<>();
        Watcher pw = e -> pq.add(e.getType() + " " + e.getPath());
        c.watchers().add().withMode(AddWatchMode.PERSISTENT_RECURSIVE).usingWatcher(pw).forPath("/cur/bg");
        c.create().forPath("/cur/bg/k");
        eq("NodeCreated /cur/bg/k", pq.poll(5, TimeUnit.SECONDS), "curator addWatch recursive");
        c.watchers().remove(pw).forPath("/cur/bg");
        String rem = pq.poll(2, TimeUnit.SECONDS);
        check(rem != null && rem.endsWith("WatchRemoved /cur/bg"), "curator watchers().remove()", rem);
        c.setData().forPath("/cur/bg/k", b("q"));
        eq(null, pq.poll(300, TimeUnit.MILLISECONDS), "removed curator watch silent");

        // getConfig via curator
        byte[] cfg = c.getConfig().forEnsemble();
        eq(c.getZookeeperClient().getZooKeeper().getConfig(false, null), cfg, "curator getConfig().forEnsemble()");

        // recursive delete, guaranteed
        c.delete().guaranteed().deletingChildrenIfNeeded().forPath("/cur/a");
        eq(null, c.checkExists().forPath("/cur/a"), "deletingChildrenIfNeeded");
        c.sync().forPath("/cur");
        eq(c.getZookeeperClient().getZooKeeper().getSessionId(), c.getZookeeperClient().getZooKeeper().getSessionId(), "session");
    }

    static void curatorTransaction(CuratorFramework c) throws Exception {
        c.create().forPath("/curt", b("0"));
        CuratorOp o1 = c.transactionOp().create().forPath("/curt/a", b("1"));
        CuratorOp o2 = c.transactionOp().create().withMode(CreateMode.PERSISTENT_SEQUENTIAL).forPath("/curt/s-", b("2"));
        CuratorOp o3 = c.transactionOp().setData().forPath("/curt", b("x"));
        CuratorOp o4 = c.transactionOp().check().withVersion(1).forPath("/curt");
        CuratorOp o5 = c.transactionOp().delete().forPath("/curt/a");
        List<CuratorTransactionResult> rs = c.transaction().forOperations(o1, o2, o3, o4, o5);
        eq(5, rs.size(), "curator transaction result count");
        eq(OperationType.CREATE + " /curt/a", rs.get(0).getType() + " " + rs.get(0).getForPath(), "txn result 0");
        eq("/curt/s-0000000001", rs.get(1).getResultPath(), "txn sequential result path");
        eq(1, rs.get(2).getResultStat().getVersion(), "txn setData stat");
        eq(OperationType.CHECK, rs.get(3).getType(), "txn check");
        eq(OperationType.DELETE, rs.get(4).getType(), "txn delete");
        try {
            c.transaction().forOperations(c.transactionOp().create().forPath("/curt/b"),
                    c.transactionOp().check().withVersion(42).forPath("/curt"));
            fail("curator failing transaction", "no exception");
        } catch (KeeperException e) {
            eq(Code.BADVERSION, e.code(), "curator failing transaction code");
        }
        eq(null, c.checkExists().forPath("/curt/b"), "curator transaction rolled back");
        // old-style inTransaction()
        @SuppressWarnings("deprecation")
        java.util.Collection<CuratorTransactionResult> old = c.inTransaction().create().forPath("/curt/old").and()
                .setData().forPath("/curt/old", b("o")).and().commit();
        eq(2, old.size(), "inTransaction() results");
    }

    static void curatorCache(CuratorFramework c1, CuratorFramework c2) throws Exception {
        c1.create().forPath("/cc", b("root"));
        c1.create().forPath("/cc/pre", b("p"));
        LinkedBlockingQueue<String> q = new LinkedBlockingQueue<>();
        CountDownLatch init = new CountDownLatch(1);
        CuratorCache cache = CuratorCache.build(c1, "/cc");
        cache.listenable().addListener(CuratorCacheListener.builder()
                .forCreates(d -> q.add("create " + d.getPath() + " " + s(d.getData())))
                .forChanges((o, n) -> q.add("change " + n.getPath() + " " + s(o.getData()) + "->" + s(n.getData())))
                .forDeletes(d -> q.add("delete " + d.getPath()))
                .forInitialized(init::countDown)
                .build());
        cache.start();
        check(init.await(5, TimeUnit.SECONDS), "CuratorCache initialized", "");
        Set<String> initial = new TreeSet<>();
        String e;
        while ((e = q.poll(100, TimeUnit.MILLISECONDS)) != null) initial.add(e);
        eq(new TreeSet<>(Arrays.asList("create /cc root", "create /cc/pre p")), initial, "CuratorCache initial creates");
        c2.create().forPath("/cc/a", b("1"));
        eq("create /cc/a 1", q.poll(5, TimeUnit.SECONDS), "cache create");
        c2.create().forPath("/cc/a/b", b("2"));
        eq("create /cc/a/b 2", q.poll(5, TimeUnit.SECONDS), "cache nested create");
        c2.setData().forPath("/cc/a", b("3"));
        eq("change /cc/a 1->3", q.poll(5, TimeUnit.SECONDS), "cache change");
        c2.delete().forPath("/cc/a/b");
        eq("delete /cc/a/b", q.poll(5, TimeUnit.SECONDS), "cache delete");
        eq("3", cache.get("/cc/a").map(d -> s(d.getData())).orElse("absent"), "cache content");
        eq(3, cache.size(), "cache size");
        c2.delete().deletingChildrenIfNeeded().forPath("/cc");
        Set<String> dels = new TreeSet<>();
        for (int i = 0; i < 3; i++) dels.add(q.poll(5, TimeUnit.SECONDS));
        eq(new TreeSet<>(Arrays.asList("delete /cc", "delete /cc/a", "delete /cc/pre")), dels, "cache deletes all");
        c2.create().forPath("/cc", b("back"));
        eq("create /cc back", q.poll(5, TimeUnit.SECONDS), "cache sees root re-created");
        cache.close();
    }

    static void curatorLocks(CuratorFramework c1, CuratorFramework c2) throws Exception {
        InterProcessMutex m1 = new InterProcessMutex(c1, "/locks/m");
        InterProcessMutex m2 = new InterProcessMutex(c2, "/locks/m");
        check(m1.acquire(5, TimeUnit.SECONDS), "mutex 1 acquires", "");
        check(m1.acquire(1, TimeUnit.SECONDS), "mutex 1 re-entrant", "");
        check(!m2.acquire(300, TimeUnit.MILLISECONDS), "mutex 2 blocked", "");
        eq(1, m1.getParticipantNodes().size(), "one lock node");
        // InterProcessMutex is owned by a thread: m2 is acquired and released in one thread
        AtomicReference<Boolean> got2 = new AtomicReference<>();
        CountDownLatch acquired = new CountDownLatch(1);
        CountDownLatch releaseNow = new CountDownLatch(1);
        Thread t = new Thread(() -> {
            try {
                got2.set(m2.acquire(5, TimeUnit.SECONDS));
                acquired.countDown();
                releaseNow.await(10, TimeUnit.SECONDS);
                if (got2.get()) m2.release();
            } catch (Exception e) { got2.set(false); acquired.countDown(); }
        });
        t.start();
        sleep(200);
        eq(2, m1.getParticipantNodes().size(), "waiter adds its node");
        m1.release();
        check(m1.isAcquiredInThisProcess(), "still held after one release", "");
        m1.release();
        acquired.await(6, TimeUnit.SECONDS);
        eq(Boolean.TRUE, got2.get(), "mutex 2 acquires after release");
        check(!m1.acquire(300, TimeUnit.MILLISECONDS), "mutex 1 now blocked", "");
        releaseNow.countDown();
        t.join(5000);
        check(m1.acquire(2, TimeUnit.SECONDS), "mutex 1 re-acquires", "");
        m1.release();
        eq(0, c1.getChildren().forPath("/locks/m").size(), "no lock nodes left");

        // counter protected by the lock from two clients
        int[] counter = {0};
        Thread[] ts = new Thread[2];
        CuratorFramework[] cs = {c1, c2};
        List<Throwable> errs = new CopyOnWriteArrayList<>();
        for (int i = 0; i < 2; i++) {
            InterProcessMutex m = new InterProcessMutex(cs[i], "/locks/c");
            ts[i] = new Thread(() -> {
                try {
                    for (int k = 0; k < 10; k++) {
                        if (!m.acquire(10, TimeUnit.SECONDS)) throw new IllegalStateException("acquire timed out");
                        try { int x = counter[0]; Thread.sleep(1); counter[0] = x + 1; } finally { m.release(); }
                    }
                } catch (Throwable e) { errs.add(e); }
            });
            ts[i].start();
        }
        for (Thread x : ts) x.join(20000);
        eq(Collections.emptyList(), errs, "contended lock errors");
        eq(20, counter[0], "contended lock counter");

        InterProcessSemaphoreV2 s1 = new InterProcessSemaphoreV2(c1, "/locks/sem", 2);
        InterProcessSemaphoreV2 s2 = new InterProcessSemaphoreV2(c2, "/locks/sem", 2);
        Lease a = s1.acquire(3, TimeUnit.SECONDS);
        Lease bL = s2.acquire(3, TimeUnit.SECONDS);
        check(a != null && bL != null, "semaphore 2 leases", "");
        check(s2.acquire(300, TimeUnit.MILLISECONDS) == null, "semaphore full", "");
        s1.returnLease(a);
        Lease cL = s2.acquire(3, TimeUnit.SECONDS);
        check(cL != null, "semaphore lease after return", "");
        s2.returnLease(bL);
        s2.returnLease(cL);
    }

    static void curatorLeaderLatch(CuratorFramework c1, CuratorFramework c2) throws Exception {
        LeaderLatch l1 = new LeaderLatch(c1, "/latch", "one");
        LeaderLatch l2 = new LeaderLatch(c2, "/latch", "two");
        l1.start();
        check(l1.await(5, TimeUnit.SECONDS), "first latch becomes leader", "");
        l2.start();
        sleep(300);
        check(l1.hasLeadership() && !l2.hasLeadership(), "exactly one leader", l1.hasLeadership() + " " + l2.hasLeadership());
        eq("one", l2.getLeader().getId(), "leader id seen by follower");
        eq(2, l1.getParticipants().size(), "two participants");
        l1.close();
        check(l2.await(5, TimeUnit.SECONDS), "failover: second latch leads after close", "");
        eq("two", l2.getLeader().getId(), "new leader id");
        eq(1, l2.getParticipants().size(), "one participant left");
        l2.close();
    }

    static void curatorAtomicLong(CuratorFramework c1, CuratorFramework c2) throws Exception {
        DistributedAtomicLong d1 = new DistributedAtomicLong(c1, "/dal", new RetryNTimes(50, 5));
        DistributedAtomicLong d2 = new DistributedAtomicLong(c2, "/dal", new RetryNTimes(50, 5));
        List<Throwable> errs = new CopyOnWriteArrayList<>();
        AtomicInteger ok = new AtomicInteger();
        Thread[] ts = new Thread[2];
        DistributedAtomicLong[] ds = {d1, d2};
        for (int i = 0; i < 2; i++) {
            DistributedAtomicLong d = ds[i];
            ts[i] = new Thread(() -> {
                try {
                    for (int k = 0; k < 10; k++) if (d.increment().succeeded()) ok.incrementAndGet();
                } catch (Throwable e) { errs.add(e); }
            });
            ts[i].start();
        }
        for (Thread t : ts) t.join(20000);
        eq(Collections.emptyList(), errs, "atomic long errors");
        eq(20, ok.get(), "all increments succeeded");
        AtomicValue<Long> v = d1.get();
        eq(20L, v.postValue(), "atomic long value");
        AtomicValue<Long> cas = d2.compareAndSet(20L, 100L);
        check(cas.succeeded(), "compareAndSet succeeds", cas.postValue());
        check(!d1.compareAndSet(20L, 5L).succeeded(), "stale compareAndSet fails", "");
        eq(100L, d1.get().postValue(), "value after CAS");
        eq(105L, d1.add(5L).postValue(), "add");
    }

    static void curatorPersistentWatcher(CuratorFramework c1, CuratorFramework c2) throws Exception {
        c1.create().forPath("/pwc");
        LinkedBlockingQueue<String> q = new LinkedBlockingQueue<>();
        PersistentWatcher pw = new PersistentWatcher(c1, "/pwc", true);
        pw.getListenable().addListener(e -> q.add(e.getType() + " " + e.getPath()));
        pw.start();
        sleep(200);
        c2.create().forPath("/pwc/a", b("1"));
        eq("NodeCreated /pwc/a", q.poll(5, TimeUnit.SECONDS), "PersistentWatcher create");
        c2.setData().forPath("/pwc/a", b("2"));
        eq("NodeDataChanged /pwc/a", q.poll(5, TimeUnit.SECONDS), "PersistentWatcher change");
        c2.delete().forPath("/pwc/a");
        eq("NodeDeleted /pwc/a", q.poll(5, TimeUnit.SECONDS), "PersistentWatcher delete");
        pw.close();
        sleep(200);
        q.clear();
        c2.create().forPath("/pwc/b");
        eq(null, q.poll(300, TimeUnit.MILLISECONDS), "closed PersistentWatcher silent");
    }

    static void curatorSharedCount(CuratorFramework c1, CuratorFramework c2) throws Exception {
        SharedCount s1 = new SharedCount(c1, "/sc", 0);
        SharedCount s2 = new SharedCount(c2, "/sc", 0);
        LinkedBlockingQueue<Integer> q = new LinkedBlockingQueue<>();
        s2.addListener(new SharedCountListener() {
            public void countHasChanged(SharedCountReader r, int n) { q.add(n); }
            public void stateChanged(CuratorFramework c, ConnectionState st) { }
        });
        s1.start();
        s2.start();
        s1.setCount(5);
        eq(5, q.poll(5, TimeUnit.SECONDS), "SharedCount listener sees 5");
        eq(5, s2.getCount(), "SharedCount value");
        VersionedValue<Integer> vv = s1.getVersionedValue();
        check(s1.trySetCount(vv, 6), "trySetCount with current version", "");
        eq(6, q.poll(5, TimeUnit.SECONDS), "listener sees 6");
        check(!s2.trySetCount(vv, 7), "trySetCount with stale version fails", "");
        s1.close();
        s2.close();
    }

    @SuppressWarnings("deprecation")
    static void curatorOldCaches(CuratorFramework c1, CuratorFramework c2) throws Exception {
        c1.create().forPath("/nc", b("0"));
        NodeCache nc = new NodeCache(c1, "/nc");
        LinkedBlockingQueue<String> nq = new LinkedBlockingQueue<>();
        nc.getListenable().addListener(() -> {
            ChildData d = nc.getCurrentData();
            nq.add(d == null ? "gone" : s(d.getData()));
        });
        nc.start(true);
        eq("0", s(nc.getCurrentData().getData()), "NodeCache initial");
        c2.setData().forPath("/nc", b("1"));
        eq("1", nq.poll(5, TimeUnit.SECONDS), "NodeCache change");
        c2.delete().forPath("/nc");
        eq("gone", nq.poll(5, TimeUnit.SECONDS), "NodeCache delete");
        c2.create().forPath("/nc", b("2"));
        eq("2", nq.poll(5, TimeUnit.SECONDS), "NodeCache re-create");
        nc.close();

        c1.create().forPath("/pcc");
        c1.create().forPath("/pcc/x", b("x"));
        PathChildrenCache pcc = new PathChildrenCache(c1, "/pcc", true);
        LinkedBlockingQueue<String> pq = new LinkedBlockingQueue<>();
        pcc.getListenable().addListener((c, e) -> pq.add(e.getType()
                + (e.getData() == null ? "" : " " + e.getData().getPath() + " " + s(e.getData().getData()))));
        pcc.start(PathChildrenCache.StartMode.POST_INITIALIZED_EVENT);
        eq("CHILD_ADDED /pcc/x x", pq.poll(5, TimeUnit.SECONDS), "PathChildrenCache initial add");
        eq("INITIALIZED", pq.poll(5, TimeUnit.SECONDS), "PathChildrenCache initialized");
        c2.create().forPath("/pcc/y", b("y"));
        eq("CHILD_ADDED /pcc/y y", pq.poll(5, TimeUnit.SECONDS), "PathChildrenCache add");
        c2.setData().forPath("/pcc/y", b("z"));
        eq("CHILD_UPDATED /pcc/y z", pq.poll(5, TimeUnit.SECONDS), "PathChildrenCache update");
        c2.delete().forPath("/pcc/x");
        eq("CHILD_REMOVED /pcc/x x", pq.poll(5, TimeUnit.SECONDS), "PathChildrenCache remove");
        pcc.close();
    }

    static void curatorPersistentNode(CuratorFramework c1, CuratorFramework c2) throws Exception {
        c1.create().forPath("/pn");
        PersistentNode pn = new PersistentNode(c1, CreateMode.EPHEMERAL, false, "/pn/me", b("me"));
        pn.start();
        check(pn.waitForInitialCreate(5, TimeUnit.SECONDS), "PersistentNode created", "");
        Stat st = c2.checkExists().forPath("/pn/me");
        check(st != null && st.getEphemeralOwner() == c1.getZookeeperClient().getZooKeeper().getSessionId(),
                "PersistentNode ephemeral owned by c1", st == null ? "null" : statStr(st));
        c2.delete().forPath("/pn/me");
        boolean back = waitFor(5000, () -> { try { return c2.checkExists().forPath("/pn/me") != null; } catch (Exception e) { return false; } });
        check(back, "PersistentNode re-created after external delete", "");
        pn.setData(b("mine"));                                        // written in the background
        boolean set = waitFor(5000, () -> { try { return "mine".equals(s(c2.getData().forPath("/pn/me"))); } catch (Exception e) { return false; } });
        check(set, "PersistentNode setData", "");
        pn.close();
        eq(null, c2.checkExists().forPath("/pn/me"), "PersistentNode close deletes");
    }

    @SuppressWarnings("deprecation")
    static void curatorMoreRecipes(CuratorFramework c1, CuratorFramework c2) throws Exception {
        // TreeCache (one-shot watches on every node)
        c1.create().creatingParentsIfNeeded().forPath("/tc/a/b", b("ab"));
        LinkedBlockingQueue<String> tq = new LinkedBlockingQueue<>();
        org.apache.curator.framework.recipes.cache.TreeCache tc =
                org.apache.curator.framework.recipes.cache.TreeCache.newBuilder(c1, "/tc").build();
        tc.getListenable().addListener((c, e) -> tq.add(e.getType()
                + (e.getData() == null ? "" : " " + e.getData().getPath())));
        tc.start();
        Set<String> init = new TreeSet<>();
        for (int i = 0; i < 4; i++) init.add(tq.poll(5, TimeUnit.SECONDS));
        eq(new TreeSet<>(Arrays.asList("NODE_ADDED /tc", "NODE_ADDED /tc/a", "NODE_ADDED /tc/a/b", "INITIALIZED")), init,
                "TreeCache initial");
        c2.create().forPath("/tc/a/b/c", b("c"));
        eq("NODE_ADDED /tc/a/b/c", tq.poll(5, TimeUnit.SECONDS), "TreeCache deep add");
        c2.setData().forPath("/tc/a", b("x"));
        eq("NODE_UPDATED /tc/a", tq.poll(5, TimeUnit.SECONDS), "TreeCache update");
        c2.delete().forPath("/tc/a/b/c");
        eq("NODE_REMOVED /tc/a/b/c", tq.poll(5, TimeUnit.SECONDS), "TreeCache remove");
        tc.close();

        // LeaderSelector: two participants take turns
        List<String> leaders = new CopyOnWriteArrayList<>();
        CountDownLatch both = new CountDownLatch(2);
        org.apache.curator.framework.recipes.leader.LeaderSelector[] sel = new org.apache.curator.framework.recipes.leader.LeaderSelector[2];
        CuratorFramework[] cs = {c1, c2};
        for (int i = 0; i < 2; i++) {
            String name = "s" + i;
            sel[i] = new org.apache.curator.framework.recipes.leader.LeaderSelector(cs[i], "/sel",
                    new org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter() {
                        public void takeLeadership(CuratorFramework c) throws Exception {
                            leaders.add(name);
                            Thread.sleep(100);
                            both.countDown();
                        }
                    });
            sel[i].start();
        }
        check(both.await(8, TimeUnit.SECONDS), "LeaderSelector: both led in turn", leaders);
        eq(2, new HashSet<>(leaders).size(), "LeaderSelector: two distinct leaders " + leaders);
        for (org.apache.curator.framework.recipes.leader.LeaderSelector x : sel) x.close();

        // read/write lock
        org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock rw1 =
                new org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock(c1, "/rwl");
        org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock rw2 =
                new org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock(c2, "/rwl");
        check(rw1.readLock().acquire(3, TimeUnit.SECONDS), "read lock 1", "");
        check(rw2.readLock().acquire(3, TimeUnit.SECONDS), "read lock 2 shared", "");
        check(!rw2.writeLock().acquire(300, TimeUnit.MILLISECONDS), "write lock blocked by readers", "");
        rw1.readLock().release();
        rw2.readLock().release();
        check(rw2.writeLock().acquire(3, TimeUnit.SECONDS), "write lock after readers leave", "");
        check(!rw1.readLock().acquire(300, TimeUnit.MILLISECONDS), "read lock blocked by writer", "");
        rw2.writeLock().release();

        // distributed queue
        LinkedBlockingQueue<String> consumed = new LinkedBlockingQueue<>();
        org.apache.curator.framework.recipes.queue.QueueSerializer<String> ser =
                new org.apache.curator.framework.recipes.queue.QueueSerializer<String>() {
                    public byte[] serialize(String item) { return b(item); }
                    public String deserialize(byte[] bytes) { return s(bytes); }
                };
        org.apache.curator.framework.recipes.queue.DistributedQueue<String> producer =
                org.apache.curator.framework.recipes.queue.QueueBuilder.builder(c1, null, ser, "/queue").buildQueue();
        org.apache.curator.framework.recipes.queue.DistributedQueue<String> consumer =
                org.apache.curator.framework.recipes.queue.QueueBuilder.builder(c2,
                        new org.apache.curator.framework.recipes.queue.QueueConsumer<String>() {
                            public void consumeMessage(String m) { consumed.add(m); }
                            public void stateChanged(CuratorFramework c, ConnectionState st) { }
                        }, ser, "/queue").buildQueue();
        producer.start();
        consumer.start();
        for (int i = 0; i < 5; i++) producer.put("m" + i);
        List<String> got = new ArrayList<>();
        for (int i = 0; i < 5; i++) got.add(consumed.poll(5, TimeUnit.SECONDS));
        eq(Arrays.asList("m0", "m1", "m2", "m3", "m4"), got, "DistributedQueue FIFO");
        producer.close();
        consumer.close();

        // double barrier with two members
        org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier b1 =
                new org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier(c1, "/dbar", 2);
        org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier b2 =
                new org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier(c2, "/dbar", 2);
        AtomicReference<Boolean> entered2 = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try { entered2.set(b2.enter(5, TimeUnit.SECONDS)); b2.leave(5, TimeUnit.SECONDS); } catch (Exception e) { entered2.set(false); }
        });
        t.start();
        check(b1.enter(5, TimeUnit.SECONDS), "double barrier enter", "");
        check(b1.leave(5, TimeUnit.SECONDS), "double barrier leave", "");
        t.join(6000);
        eq(Boolean.TRUE, entered2.get(), "double barrier other member");
    }

    static void curatorConnectionLoss(ZooKeeper zk) throws Exception {
        // Curator retries an operation across a short partition (no session loss)
        try (Proxy px = new Proxy(Integer.parseInt(HP.substring(HP.lastIndexOf(':') + 1)))) {
            List<String> states = new CopyOnWriteArrayList<>();
            CuratorFramework cf = CuratorFrameworkFactory.builder().connectString(px.hostport())
                    .sessionTimeoutMs(10000).connectionTimeoutMs(5000).retryPolicy(new RetryNTimes(30, 100)).build();
            cf.getConnectionStateListenable().addListener((c, st) -> states.add(st.toString()));
            cf.start();
            check(cf.blockUntilConnected(10, TimeUnit.SECONDS), "connected", "");
            cf.create().withMode(CreateMode.EPHEMERAL).forPath("/j/cl");
            long sid = cf.getZookeeperClient().getZooKeeper().getSessionId();
            px.block();
            Thread un = new Thread(() -> { try { Thread.sleep(700); } catch (InterruptedException e) { } px.unblock(); });
            un.start();
            cf.setData().forPath("/j/cl", b("after"));                     // retried through the cut
            un.join();
            eq("after", s(zk.getData("/j/cl", false, null)), "write retried across partition");
            eq(sid, cf.getZookeeperClient().getZooKeeper().getSessionId(), "same session");
            waitFor(5000, () -> states.contains("RECONNECTED"));     // listeners run on their own thread
            check(isSubsequence(Arrays.asList("CONNECTED", "SUSPENDED", "RECONNECTED"), states), "states", states);
            check(!states.contains("LOST"), "no LOST on short partition", states);
            cf.close();
            check(zk.exists("/j/cl", false) == null, "curator close removes its ephemeral", "");
        }
    }
}
