"""Integration tests through kazoo (python3-kazoo, Debian: run with /usr/bin/python3).

Operations that this kazoo version (2.8) has no API for -- containers, TTL
nodes, addWatch, check/removeWatches, whoAmI, getEphemerals, multiRead,
getAllChildrenNumber, null data -- are covered in test_raw_protocol.py.
"""

import logging
import os
import queue
import socket
import sys
import threading
import time
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                      # noqa: E402
import zkwire as z                  # noqa: E402

from kazoo.client import KazooClient                      # noqa: E402
from kazoo.protocol.states import KazooState, EventType   # noqa: E402
from kazoo.security import ACL, Id, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, make_digest_acl  # noqa: E402
from kazoo import exceptions as ke  # noqa: E402

logging.getLogger("kazoo").setLevel(logging.CRITICAL)

SRV = harness.ModuleServer()


def setUpModule():
    # kazoo 2.8's lock recipe calls the deprecated Event.isSet()
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"kazoo\.")
    SRV.start()


def tearDownModule():
    SRV.stop()


BOB = "bob:ikIaKsbtGweaHnb/jKn7OHqbunM="     # digest of bob:pw


class Events(object):
    """Collects kazoo watch callbacks in arrival order."""

    def __init__(self):
        self.q = queue.Queue()

    def __call__(self, event):
        self.q.put(event)

    def get(self, timeout=10.0):
        try:
            e = self.q.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no watch event within %.1fs" % timeout)
        return (e.type, e.path)

    def empty(self):
        return self.q.empty()


class KazooBase(harness.ServerTestCase):
    server = SRV

    def client(self, start=True, **kw):
        kw.setdefault("timeout", 10.0)
        kw.setdefault("hosts", self.server.hostport)
        c = KazooClient(**kw)
        if start:
            c.start(timeout=15)
        self.addCleanup(self._stop_client, c)
        return c

    @staticmethod
    def _stop_client(c):
        try:
            c.stop()
        finally:
            c.close()

    def setUp(self):
        self.zk = self.client()
        self.p = self.unique()
        self.zk.create(self.p, b"base")

    def marker(self, client, events):
        """Register an exists watch on a fresh path and create it: the
        CREATED event for it must be the next event seen, which proves no
        other event was queued before it."""
        m = self.unique("marker")
        self.assertIsNone(client.exists(m, watch=events))
        self.zk.create(m)
        self.assertEqual(events.get(), (EventType.CREATED, m))


# --------------------------------------------------------------------------
class CrudTests(KazooBase):

    def test_create_and_exact_stat(self):
        path = self.zk.create(self.p + "/n", b"hello")
        self.assertEqual(path, self.p + "/n")
        zxid = self.zk.last_zxid
        data, st = self.zk.get(path)
        self.assertEqual(data, b"hello")
        self.assertEqual((st.czxid, st.mzxid, st.pzxid), (zxid, zxid, zxid))
        self.assertEqual(st.ctime, st.mtime)
        self.assertEqual((st.version, st.cversion, st.aversion, st.ephemeralOwner,
                          st.dataLength, st.numChildren), (0, 0, 0, 0, 5, 0))
        self.assertLess(abs(st.ctime / 1000.0 - time.time()), 300)

    def test_create_include_data(self):
        path, st = self.zk.create(self.p + "/n", b"abc", include_data=True)
        self.assertEqual(path, self.p + "/n")
        self.assertEqual(st, self.zk.exists(path))
        self.assertEqual((st.version, st.dataLength, st.czxid), (0, 3, self.zk.last_zxid))

    def test_set_data_versions(self):
        n = self.p + "/n"
        self.zk.create(n, b"a")
        c_st = self.zk.exists(n)
        st = self.zk.set(n, b"bb")
        self.assertEqual((st.version, st.dataLength, st.czxid, st.pzxid),
                         (1, 2, c_st.czxid, c_st.pzxid))
        self.assertEqual(st.mzxid, self.zk.last_zxid)
        self.assertGreater(st.mzxid, st.czxid)
        self.assertGreaterEqual(st.mtime, st.ctime)
        st = self.zk.set(n, b"ccc", version=1)
        self.assertEqual(st.version, 2)
        with self.assertRaises(ke.BadVersionError):
            self.zk.set(n, b"d", version=1)
        with self.assertRaises(ke.BadVersionError):
            self.zk.delete(n, version=1)
        self.assertEqual(self.zk.get(n)[0], b"ccc")
        self.zk.delete(n, version=2)
        self.assertIsNone(self.zk.exists(n))

    def test_parent_stat_on_child_create_and_delete(self):
        before = self.zk.exists(self.p)
        self.zk.create(self.p + "/a")
        za = self.zk.last_zxid
        self.zk.create(self.p + "/b")
        zb = self.zk.last_zxid
        st = self.zk.exists(self.p)
        self.assertEqual((st.cversion, st.numChildren, st.pzxid), (2, 2, zb))
        self.assertEqual((st.version, st.mzxid, st.mtime, st.dataLength),
                         (before.version, before.mzxid, before.mtime, before.dataLength))
        self.assertEqual(self.zk.exists(self.p + "/a").czxid, za)
        self.zk.delete(self.p + "/a")
        zd = self.zk.last_zxid
        self.assertGreater(zd, zb)
        st = self.zk.exists(self.p)
        self.assertEqual((st.cversion, st.numChildren, st.pzxid), (3, 1, zd))

    def test_set_acls_bumps_aversion_only(self):
        n = self.p + "/n"
        self.zk.create(n, b"x")
        st0 = self.zk.exists(n)
        st = self.zk.set_acls(n, OPEN_ACL_UNSAFE, version=0)
        self.assertEqual((st.aversion, st.version, st.mzxid, st.mtime),
                         (1, 0, st0.mzxid, st0.mtime))
        with self.assertRaises(ke.BadVersionError):
            self.zk.set_acls(n, OPEN_ACL_UNSAFE, version=0)
        acls, st2 = self.zk.get_acls(n)
        self.assertEqual(acls, OPEN_ACL_UNSAFE)
        self.assertEqual(st2.aversion, 1)

    def test_empty_value(self):
        n = self.zk.create(self.p + "/e")
        data, st = self.zk.get(n)
        self.assertEqual((data, st.dataLength), (b"", 0))

    def test_sequential_names(self):
        p = self.p
        names = [self.zk.create(p + "/s-", sequence=True) for _ in range(3)]
        self.assertEqual(names, [p + "/s-0000000000", p + "/s-0000000001", p + "/s-0000000002"])
        self.zk.delete(names[2])
        self.assertEqual(self.zk.create(p + "/s-", sequence=True), p + "/s-0000000003")
        self.zk.create(p + "/other")
        self.assertEqual(self.zk.create(p + "/x-", sequence=True, ephemeral=True),
                         p + "/x-0000000005")
        self.assertEqual(sorted(self.zk.get_children(p)),
                         ["other", "s-0000000000", "s-0000000001", "s-0000000003",
                          "x-0000000005"])

    def test_makepath_and_recursive_delete(self):
        deep = self.p + "/a/b/c"
        self.zk.create(deep, b"d", makepath=True)
        self.assertEqual(self.zk.get(deep)[0], b"d")
        self.assertEqual(self.zk.get(self.p + "/a")[0], b"")
        self.zk.delete(self.p + "/a", recursive=True)
        self.assertIsNone(self.zk.exists(self.p + "/a"))

    def test_get_children_include_data(self):
        for n in ("x", "y"):
            self.zk.create(self.p + "/" + n)
        kids, st = self.zk.get_children(self.p, include_data=True)
        self.assertEqual(sorted(kids), ["x", "y"])
        self.assertEqual(st, self.zk.exists(self.p))
        self.assertEqual((st.numChildren, st.cversion), (2, 2))

    def test_error_codes(self):
        p = self.p
        with self.assertRaises(ke.NodeExistsError):
            self.zk.create(p)
        with self.assertRaises(ke.NoNodeError):
            self.zk.create(p + "/missing/child")
        with self.assertRaises(ke.NoNodeError):
            self.zk.get(p + "/missing")
        with self.assertRaises(ke.NoNodeError):
            self.zk.set(p + "/missing", b"")
        with self.assertRaises(ke.NoNodeError):
            self.zk.delete(p + "/missing")
        with self.assertRaises(ke.NoNodeError):
            self.zk.get_children(p + "/missing")
        with self.assertRaises(ke.NoNodeError):
            self.zk.get_acls(p + "/missing")
        self.assertIsNone(self.zk.exists(p + "/missing"))
        self.zk.create(p + "/full/kid", makepath=True)
        with self.assertRaises(ke.NotEmptyError):
            self.zk.delete(p + "/full")
        self.zk.create(p + "/eph", ephemeral=True)
        with self.assertRaises(ke.NoChildrenForEphemeralsError):
            self.zk.create(p + "/eph/kid")
        for bad in (p + "/bad\x01name", p + "/bad\u007fname", p + "/bad\U0001F600"):
            with self.assertRaises(ke.BadArgumentsError, msg=repr(bad)):
                self.zk.create(bad)

    def test_protected_nodes(self):
        for path in ("/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
            with self.assertRaises(ke.BadArgumentsError, msg=path):
                self.zk.delete(path)
        with self.assertRaises(ke.NoAuthError):
            self.zk.set("/zookeeper/config", b"x")
        acls, st = self.zk.get_acls("/zookeeper/config")
        self.assertEqual(acls, [ACL(1, Id("world", "anyone"))])
        self.assertEqual(st.aversion, -1)
        self.assertIn("zookeeper", self.zk.get_children("/"))
        self.assertEqual(sorted(self.zk.get_children("/zookeeper")), ["config", "quota"])
        self.assertEqual(self.zk.get_acls("/")[0], OPEN_ACL_UNSAFE)

    def test_sync(self):
        self.assertEqual(self.zk.sync(self.p), self.p)

    def test_chroot_client(self):
        c = self.client(hosts=self.server.hostport + self.p)
        events = Events()
        self.assertIsNone(c.exists("/x", watch=events))
        self.assertEqual(c.create("/x", b"in chroot"), "/x")
        self.assertEqual(events.get(), (EventType.CREATED, "/x"))
        self.assertEqual(self.zk.get(self.p + "/x")[0], b"in chroot")
        self.assertEqual(c.get_children("/"), ["x"])
        t = c.transaction()
        t.create("/y")
        self.assertEqual(t.commit(), ["/y"])
        self.assertEqual(sorted(self.zk.get_children(self.p)), ["x", "y"])

    def test_concurrent_sequential_creates_are_unique_and_dense(self):
        clients = [self.client() for _ in range(5)]
        names, errors = [], []
        lock = threading.Lock()

        def work(c):
            try:
                for _ in range(40):
                    n = c.create(self.p + "/q-", sequence=True)
                    with lock:
                        names.append(n)
            except Exception as e:         # pragma: no cover - reported below
                errors.append(e)
        threads = [threading.Thread(target=work, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(sorted(names), ["%s/q-%010d" % (self.p, i) for i in range(200)])
        st = self.zk.exists(self.p)
        self.assertEqual((st.numChildren, st.cversion), (200, 200))

    def test_four_letter_words_through_kazoo(self):
        self.assertEqual(self.zk.command(b"ruok"), "imok")
        self.assertEqual(self.zk.command(b"isro"), "rw")
        self.assertIn("Mode: standalone", self.zk.command(b"srvr"))
        ver = self.zk.server_version()
        self.assertGreaterEqual(len(ver), 3)
        self.assertTrue(all(isinstance(x, int) for x in ver), ver)
        if harness.is_zookeeper():
            self.assertEqual(ver[:2], (3, 8))


# --------------------------------------------------------------------------
class SessionTests(KazooBase):

    def test_ephemeral_owner_and_removal_on_close(self):
        other = self.client()
        n = other.create(self.p + "/eph", b"e", ephemeral=True)
        st = self.zk.exists(n)
        self.assertEqual(st.ephemeralOwner, other.client_id[0])
        self.assertNotEqual(st.ephemeralOwner, 0)
        self.assertEqual(self.zk.exists(self.p).ephemeralOwner, 0)
        events = Events()
        self.assertIsNotNone(self.zk.exists(n, watch=events))
        other.stop()
        self.assertEqual(events.get(), (EventType.DELETED, n))
        self.assertIsNone(self.zk.exists(n))

    def test_ephemeral_removed_on_session_expiry(self):
        # The owner is a raw session whose socket is reset without
        # closeSession, so only expiry (timeout 4000 ms) can remove the node.
        owner = self.raw(timeout_ms=4000)
        self.assertEqual(owner.timeout, 4000)
        n = self.p + "/eph"
        self.assertEqual(owner.create(n, b"x", flags=z.F_EPHEMERAL).err, 0)
        events = Events()
        st = self.zk.exists(n, watch=events)
        self.assertEqual(st.ephemeralOwner, owner.session_id)
        owner.abort()
        t0 = time.monotonic()
        self.assertIsNotNone(self.zk.exists(n))
        self.assertEqual(events.get(timeout=15), (EventType.DELETED, n))
        self.assertGreater(time.monotonic() - t0, 2.0)
        self.assertIsNone(self.zk.exists(n))

    def test_reconnect_keeps_session_and_ephemerals(self):
        c = self.client()
        states = []
        c.add_listener(states.append)
        sid = c.client_id[0]
        n = c.create(self.p + "/eph", ephemeral=True)
        c._connection._socket.shutdown(socket.SHUT_RDWR)     # drop the TCP connection
        self.wait_for(lambda: KazooState.SUSPENDED in states, msg="SUSPENDED")
        self.wait_for(lambda: states[-1] == KazooState.CONNECTED and c.connected,
                      msg="reconnect")
        self.assertEqual(c.client_id[0], sid)
        self.assertNotIn(KazooState.LOST, states)
        self.assertEqual(c.exists(n).ephemeralOwner, sid)
        self.assertEqual(self.zk.exists(n).ephemeralOwner, sid)


# --------------------------------------------------------------------------
class WatchTests(KazooBase):

    def test_data_watch_is_one_shot(self):
        w = self.client()
        events = Events()
        w.get(self.p, watch=events)
        self.zk.set(self.p, b"1")
        self.assertEqual(events.get(), (EventType.CHANGED, self.p))
        self.zk.set(self.p, b"2")
        self.marker(w, events)

    def test_exists_watch_on_missing_node(self):
        n = self.p + "/later"
        events = Events()
        self.assertIsNone(self.zk.exists(n, watch=events))
        other = self.client()
        other.create(n)
        self.assertEqual(events.get(), (EventType.CREATED, n))

    def test_exists_watch_sees_delete(self):
        events = Events()
        n = self.zk.create(self.p + "/x")
        self.zk.exists(n, watch=events)
        self.zk.delete(n)
        self.assertEqual(events.get(), (EventType.DELETED, n))

    def test_child_watch(self):
        events = Events()
        self.assertEqual(self.zk.get_children(self.p, watch=events), [])
        self.zk.create(self.p + "/kid")
        self.assertEqual(events.get(), (EventType.CHILD, self.p))
        self.zk.get_children(self.p, watch=events)
        self.zk.set(self.p + "/kid", b"no child event")
        self.zk.delete(self.p + "/kid")
        self.assertEqual(events.get(), (EventType.CHILD, self.p))
        self.zk.create(self.p + "/kid2")
        self.marker(self.zk, events)

    def test_child_watch_on_deleted_node_gets_deleted(self):
        n = self.zk.create(self.p + "/n")
        events = Events()
        w = self.client()
        w.get_children(n, watch=events)
        self.zk.delete(n)
        self.assertEqual(events.get(), (EventType.DELETED, n))
        self.marker(w, events)

    def test_watches_from_other_session_and_ordering(self):
        w = self.client()
        events = Events()
        n = self.p + "/o"
        w.exists(n, watch=events)
        w.get_children(self.p, watch=events)
        self.zk.create(n, b"v")
        got = [events.get(), events.get()]
        self.assertEqual(got, [(EventType.CREATED, n), (EventType.CHILD, self.p)])

    def test_data_watch_recipe_and_children_watch_recipe(self):
        seen_data = queue.Queue()
        seen_kids = queue.Queue()
        n = self.p

        @self.zk.DataWatch(n)
        def _dw(data, stat):
            seen_data.put((data, stat.version if stat else None))

        @self.zk.ChildrenWatch(n)
        def _cw(children):
            seen_kids.put(sorted(children))

        self.assertEqual(seen_data.get(timeout=10), (b"base", 0))
        self.assertEqual(seen_kids.get(timeout=10), [])
        other = self.client()
        other.set(n, b"v1")
        self.assertEqual(seen_data.get(timeout=10), (b"v1", 1))
        other.create(n + "/a")
        self.assertEqual(seen_kids.get(timeout=10), ["a"])


# --------------------------------------------------------------------------
class RecipeTests(KazooBase):

    def test_lock_recipe(self):
        a, b = self.client(), self.client()
        la = a.Lock(self.p + "/lock", "a")
        lb = b.Lock(self.p + "/lock", "b")
        self.assertTrue(la.acquire(timeout=10))
        with self.assertRaises(ke.LockTimeout):
            lb.acquire(timeout=0.5)
        self.assertEqual(la.contenders(), ["a"])
        got = threading.Event()

        def contend():
            if lb.acquire(timeout=15):
                got.set()
        t = threading.Thread(target=contend)
        t.start()
        self.wait_for(lambda: la.contenders() == ["a", "b"], msg="b queued")
        self.assertFalse(got.is_set())
        la.release()
        t.join(20)
        self.assertTrue(got.is_set())
        self.assertEqual(lb.contenders(), ["b"])
        lb.release()

    def test_counter_recipe_uses_versioned_sets(self):
        c1, c2 = self.client(), self.client()
        k1, k2 = c1.Counter(self.p + "/count"), c2.Counter(self.p + "/count")
        threads = [threading.Thread(target=lambda k=k: [k.__add__(1) for _ in range(20)])
                   for k in (k1, k2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(k1.value, 40)
        self.assertEqual(self.zk.get(self.p + "/count")[1].version, 40)


# --------------------------------------------------------------------------
class TransactionTests(KazooBase):

    def test_commit(self):
        p = self.p
        t = self.zk.transaction()
        t.create(p + "/a", b"1")
        t.create(p + "/s-", b"", sequence=True)
        t.create(p + "/s-", b"", sequence=True)
        t.set_data(p, b"new", version=0)
        t.check(p, 1)
        t.delete(p + "/a")
        res = t.commit()
        zxid = self.zk.last_zxid
        self.assertEqual(res[0], p + "/a")
        self.assertEqual(res[1:3], [p + "/s-0000000001", p + "/s-0000000002"])
        self.assertEqual((res[3].version, res[3].mzxid), (1, zxid))
        self.assertEqual(res[4:], [True, True])
        st = self.zk.exists(p + "/s-0000000001")
        self.assertEqual((st.czxid, st.mzxid, st.pzxid), (zxid, zxid, zxid))
        self.assertEqual(self.zk.exists(p).pzxid, zxid)
        self.assertIsNone(self.zk.exists(p + "/a"))

    def test_rollback(self):
        p = self.p
        t = self.zk.transaction()
        t.create(p + "/new", b"x")
        t.set_data(p, b"changed")
        t.check(p, 42)
        t.delete(p)
        t.create(p + "/never")
        res = t.commit()
        self.assertEqual([type(r) for r in res],
                         [ke.RolledBackError, ke.RolledBackError, ke.BadVersionError,
                          ke.RuntimeInconsistency, ke.RuntimeInconsistency])
        self.assertIsNone(self.zk.exists(p + "/new"))
        self.assertEqual(self.zk.get(p), (b"base", self.zk.exists(p)))
        self.assertEqual(self.zk.exists(p).version, 0)

    def test_rollback_on_node_exists_and_context_manager(self):
        p = self.p
        with self.assertRaises(ke.NoNodeError):
            self.zk.get(p + "/m")
        tx = self.zk.transaction()
        tx.create(p + "/m")
        tx.create(p + "/m/x")
        tx.create(p)
        res = tx.commit()
        self.assertEqual([type(r) for r in res],
                         [ke.RolledBackError, ke.RolledBackError, ke.NodeExistsError])
        self.assertIsNone(self.zk.exists(p + "/m"))
        with self.zk.transaction() as tx:
            tx.create(p + "/m")
            tx.create(p + "/m/x")
        self.assertEqual(self.zk.get_children(p + "/m"), ["x"])


# --------------------------------------------------------------------------
class AclTests(KazooBase):

    def test_digest_acl_denial_and_add_auth(self):
        n = self.p + "/secret"
        self.zk.create(n, b"s", acl=[make_digest_acl("bob", "pw", all=True)])
        self.assertEqual(make_digest_acl("bob", "pw", all=True).id.id, BOB)
        with self.assertRaises(ke.NoAuthError):
            self.zk.get(n)
        with self.assertRaises(ke.NoAuthError):
            self.zk.set(n, b"x")
        with self.assertRaises(ke.NoAuthError):
            self.zk.create(n + "/kid")
        with self.assertRaises(ke.NoAuthError):
            self.zk.get_children(n)
        # wrong password: still denied
        self.zk.add_auth("digest", "bob:wrong")
        with self.assertRaises(ke.NoAuthError):
            self.zk.get(n)
        self.zk.add_auth("digest", "bob:pw")
        self.assertEqual(self.zk.get(n)[0], b"s")
        self.zk.set(n, b"t")
        self.zk.create(n + "/kid")
        # auth given at connect time works as well
        c = self.client(auth_data=[("digest", "bob:pw")])
        self.assertEqual(c.get(n)[0], b"t")

    def test_read_only_world_acl(self):
        n = self.p + "/ro"
        self.zk.create(n, b"r", acl=READ_ACL_UNSAFE)
        self.assertEqual(self.zk.get(n)[0], b"r")
        with self.assertRaises(ke.NoAuthError):
            self.zk.set(n, b"w")
        with self.assertRaises(ke.NoAuthError):
            self.zk.create(n + "/kid")
        with self.assertRaises(ke.NoAuthError):
            self.zk.set_acls(n, OPEN_ACL_UNSAFE)
        # delete needs DELETE on the parent, not on the node
        self.zk.delete(n)

    def test_delete_needs_parent_delete_permission(self):
        n = self.p + "/par"
        self.zk.create(n)
        self.zk.create(n + "/kid")
        self.zk.set_acls(n, [ACL(31 & ~8, Id("world", "anyone"))])
        with self.assertRaises(ke.NoAuthError):
            self.zk.delete(n + "/kid")
        self.zk.set_acls(n, OPEN_ACL_UNSAFE)
        self.zk.delete(n + "/kid")

    def test_auth_scheme_expands_to_authenticated_ids(self):
        # Over TLS a client certificate is an authenticated x509 id too (test_tls.py covers
        # that), so the clients here present none.
        anon = self.server.kazoo_args(client=None)
        zk = self.client(**anon) if anon else self.zk
        n = self.p + "/auth"
        with self.assertRaises(ke.InvalidACLError):
            zk.create(n, acl=[ACL(31, Id("auth", ""))])
        c = self.client(auth_data=[("digest", "bob:pw")], **anon)
        c.create(n, b"a", acl=[ACL(31, Id("auth", ""))])
        acls, _ = c.get_acls(n)
        self.assertEqual(acls, [ACL(31, Id("digest", BOB))])
        # a reader without ADMIN sees the digest masked
        c.set_acls(n, [ACL(31, Id("auth", "")), ACL(1, Id("world", "anyone"))])
        acls, st = self.zk.get_acls(n)
        self.assertEqual(acls, [ACL(31, Id("digest", "bob:x")), ACL(1, Id("world", "anyone"))])
        self.assertEqual(st.aversion, 1)
        self.assertEqual(c.get_acls(n)[0][0], ACL(31, Id("digest", BOB)))

    def test_invalid_acls(self):
        for acl in ([ACL(31, Id("world", "x"))], [ACL(31, Id("digest", "bob"))],
                    [ACL(31, Id("ip", "127.0.0.1/40"))], [ACL(31, Id("bogus", "x"))]):
            with self.assertRaises(ke.InvalidACLError, msg=repr(acl)):
                self.zk.create(self.p + "/bad", acl=acl)

    def test_super_digest(self):
        n = self.p + "/locked"
        self.zk.create(n, b"L", acl=[make_digest_acl("bob", "pw", read=True)])
        with self.assertRaises(ke.NoAuthError):
            self.zk.get(n)
        root = self.client(auth_data=[("digest", "%s:%s" % (harness.SUPER_USER,
                                                             harness.SUPER_PASSWORD))])
        self.assertEqual(root.get(n)[0], b"L")
        root.set(n, b"M")
        self.assertEqual(root.get_acls(n)[0], [ACL(1, Id("digest", BOB))])
        root.create(n + "/kid")
        root.delete(n + "/kid")
        root.delete(n)
        with self.assertRaises(ke.NoAuthError):
            self.zk.set("/zookeeper/config", b"")
        # a wrong super password is just another digest user
        fake = self.client(auth_data=[("digest", "super:nottheone")])
        with self.assertRaises(ke.NoAuthError):
            fake.set("/zookeeper/config", b"")

    def test_unknown_auth_scheme_fails(self):
        c = self.client()
        with self.assertRaises(ke.AuthFailedError):
            c.add_auth("nosuchscheme", "x")
        with self.assertRaises(ke.AuthFailedError):
            c.get(self.p)
        self.assertEqual(self.zk.get(self.p)[0], b"base")

    def test_ip_acls(self):
        p = self.p
        self.zk.create(p + "/lo", b"1", acl=[ACL(31, Id("ip", "127.0.0.1"))])
        self.zk.create(p + "/net8", b"2", acl=[ACL(31, Id("ip", "127.0.0.0/8"))])
        self.zk.create(p + "/other", b"3", acl=[ACL(31, Id("ip", "10.1.2.0/24"))])
        self.assertEqual(self.zk.get(p + "/lo")[0], b"1")
        self.assertEqual(self.zk.get(p + "/net8")[0], b"2")
        with self.assertRaises(ke.NoAuthError):
            self.zk.get(p + "/other")
        self.assertEqual(self.zk.get_acls(p + "/net8")[0], [ACL(31, Id("ip", "127.0.0.0/8"))])


if __name__ == "__main__":
    unittest.main(verbosity=2)
