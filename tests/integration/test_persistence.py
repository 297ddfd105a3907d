"""Durability across restarts, against corral or ZooKeeper 3.8 (CORRAL_TARGET).

Every test builds a varied tree (persistent, sequential, ephemeral, null/binary/large data,
digest and auth ACLs, containers, TTL, multi, failed writes), walks it with kazoo as super
(get + get_acls + get_children of every znode), stops the server (SIGTERM or SIGKILL after
every write was acknowledged), starts it on the same data dir and walks again: data, every
Stat field, ACLs and children must be identical; sessions resume with id + password and
keep their ephemerals; the zxid goes on exactly where it stopped; sessions that do not come
back expire after their timeout and take their ephemerals with them.
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                      # noqa: E402
import persistlib as pl             # noqa: E402
import zkwire as z                  # noqa: E402


class PersistenceTests(pl.PersistCase):

    # ------------------------------------------------------------------------------------
    def test_tree_sessions_and_zxid_survive_sigterm(self):
        srv = self.start()
        base = self.unique()
        marker = base + "-marker"
        a = self.raw(30000)                          # long session: resumed after restart
        pl.populate(a, base)
        pl.check_ok(a.create(marker, b"m0"), "create marker")
        b = self.raw(4000)                           # short session: not resumed
        pl.check_ok(b.create(base + "/short-eph", b"s", flags=z.F_EPHEMERAL), "short eph")
        pl.check_ok(b.create(base + "/short-es-", b"s", flags=z.F_EPHEMERAL_SEQUENTIAL),
                    "short eph seq")
        ttl_node = base + "-ttl"                     # expires 15 s after its mtime
        t_ttl = time.monotonic()
        pl.check_ok(a.create_ttl(ttl_node, 15000, b"t"), "create TTL")
        before = pl.walk(srv)
        counts = self.counts()
        b.ping()
        b.close()                                    # no closeSession
        last = a.ping().zxid
        self.assertEqual(pl.server_zxid(srv), last)
        sid, pw = a.session_id, a.passwd
        a.close()

        srv.restart()                                # SIGTERM, same data dir and port

        self.assertEqual(pl.server_zxid(srv), last, "zxid after restart")
        a2 = self.resume(sid, pw, 30000, last)
        rep = a2.set_data(marker, b"m1")
        self.assertEqual(rep.err, 0)
        self.assertEqual(rep.zxid, last + 1, "first write after restart")
        self.assertEqual(rep.value.mzxid, last + 1)
        after = pl.walk(srv)
        # the one change made since: the marker's data, mzxid, mtime, version
        exp = dict(before)
        data, st, acl, kids = before[marker]
        st = dict(st, mzxid=last + 1, version=st["version"] + 1, dataLength=2,
                  mtime=after[marker][1]["mtime"])
        self.assertGreaterEqual(st["mtime"], before[marker][1]["mtime"])
        exp[marker] = (b"m1", st, acl, kids)
        pl.assert_same_tree(self, exp, after, "tree after SIGTERM restart")
        self.assertEqual(after[base + "/eph"][1]["ephemeralOwner"], sid)
        self.assertEqual(after[base + "/short-eph"][1]["ephemeralOwner"],
                         before[base + "/short-eph"][1]["ephemeralOwner"])
        self.assertEqual(self.counts(), counts, "mntr znode/ephemeral counts")

        # the short session was not resumed: it expires (~4 s after start-up) and its
        # ephemerals go, in one closeSession txn; the long session keeps its own
        deadline = time.monotonic() + 20
        while a2.exists(base + "/short-eph").err == 0:
            self.assertLess(time.monotonic(), deadline, "short session never expired")
            time.sleep(0.1)
        self.assertEqual([k for k in a2.get_children(base).value if k.startswith("short-")],
                         [])
        pz = a2.exists(base).value.pzxid
        self.assertGreater(pz, last + 1)
        self.assertEqual(a2.exists(base + "/eph").value.ephemeralOwner, sid)
        rep = a2.set_data(marker, b"m2")
        self.assertEqual(rep.zxid, pz + 1, "zxid after the expiry")
        # the resumed session still owns its ephemerals: closing it removes them
        a2.close_session()
        other = self.raw(30000)
        self.assertEqual(other.exists(base + "/eph").err, z.NONODE)
        self.assertEqual([k for k in other.get_children(base).value if k.startswith("es-")], [])
        # containers and TTL nodes are known as such after the restart: the emptied container
        # and the TTL node past its time are removed by the server
        pl.check_ok(other.delete(base + "/cont/child"), "empty the container")
        self.wait_for(lambda: other.exists(base + "/cont").err == z.NONODE, 10,
                      msg="empty container removed after restart")
        self.assertEqual(other.exists(ttl_node).err, 0, "TTL node gone too early")
        self.wait_for(lambda: other.exists(ttl_node).err == z.NONODE,
                      max(1.0, t_ttl + 25 - time.monotonic()), msg="TTL node expired")
        self.assertEqual(other.exists(base + "/ttl").err, 0, "TTL node of one hour removed")

    # ------------------------------------------------------------------------------------
    def test_sigkill_after_acks_with_snapshots_and_rolls(self):
        # snap_count 10: many log rolls and (fuzzy) snapshots; prealloc 64 KB
        srv = self.start(snap_count=10, prealloc_kb=64, force_sync=True)
        base = self.unique()
        a = self.raw(30000)
        pl.populate(a, base)
        for i in range(4):
            pl.burst(a, base, 30, tag=b"k%d" % i)
        before = pl.walk(srv)
        counts = self.counts()
        last = a.ping().zxid
        sid, pw = a.session_id, a.passwd
        a.close()

        srv.kill()                                   # SIGKILL: only fsynced data survives
        srv.start()

        self.assertEqual(pl.server_zxid(srv), last, "zxid after kill -9")
        after = pl.walk(srv)
        pl.assert_same_tree(self, before, after, "tree after kill -9")
        self.assertEqual(self.counts(), counts)
        files = pl.data_files(srv.data_dir)
        self.assertGreaterEqual(len(files["log"]), 3, files)
        self.assertGreaterEqual(len(files["snapshot"]), 3, files)
        self.assertEqual([n for n in os.listdir(os.path.join(srv.data_dir, "version-2"))
                          if n.endswith(".tmp")], [], "leftover temporary files")
        pl.verify_logs(srv.data_dir)
        for zx, name in files["snapshot"]:
            path = os.path.join(srv.data_dir, "version-2", name)
            if pl.snapshot_looks_valid(path):
                pl.check_snapshot(path)

        # resume, write more, restart twice more: each restart sees the latest state
        a2 = self.resume(sid, pw, 30000, last)
        for round_ in range(2):
            pl.burst(a2, base, 25, tag=b"r%d" % round_)
            rep = a2.create(base + "/seq-", b"", flags=z.F_SEQUENTIAL)
            pl.check_ok(rep, "create sequential")
            before = pl.walk(srv)
            last = a2.ping().zxid
            a2.close()
            if round_ == 0:
                srv.restart()
            else:
                srv.kill()
                srv.start()
            self.assertEqual(pl.server_zxid(srv), last, "zxid after restart %d" % round_)
            a2 = self.resume(sid, pw, 30000, last)
            pl.assert_same_tree(self, before, pl.walk(srv), "tree after restart %d" % round_)
        rep = a2.create(base + "/seq-", b"", flags=z.F_SEQUENTIAL)
        st = before[base][1]          # clients see cversion = 2 * creations - numChildren
        self.assertEqual(rep.value, base + "/seq-%010d" % ((st["cversion"] + st["numChildren"]) // 2))

    # ------------------------------------------------------------------------------------
    def test_fresh_server_restart(self):
        srv = self.start()
        before = pl.walk(srv)
        zxid = pl.server_zxid(srv)
        srv.restart()
        self.assertEqual(pl.server_zxid(srv), zxid,
                         "zxid after restart (the walker's createSession and closeSession)")
        after = pl.walk(srv)
        pl.assert_same_tree(self, before, after, "empty tree after restart")
        self.assertEqual(sorted(after), ["/", "/zookeeper", "/zookeeper/config",
                                         "/zookeeper/quota"])


    # ------------------------------------------------------------------------------------
    def test_leftover_files_of_unfinished_writes_are_removed(self):
        """A log roll or a snapshot writer killed half way leaves tmp.log.<zxid> or
        snapshot.<zxid>.tmp, 0 bytes at worst. corral removes them at start-up; ZooKeeper
        must start on such a directory too (it reads only log.<hex>), leaving them."""
        srv = self.start()
        c = self.raw()
        base = self.unique()
        pl.check_ok(c.create(base, b"kept"), "create")
        srv.stop()
        v2 = os.path.join(srv.data_dir, "version-2")
        leftovers = [os.path.join(v2, n) for n in ("tmp.log.7f", "snapshot.7f.tmp")]
        for path in leftovers:
            open(path, "wb").close()
        srv.start()
        if harness.target() == "corral":
            for path in leftovers:
                self.assertFalse(os.path.exists(path), "%s left in place" % path)
        self.assertEqual(self.raw().get_data(base).value[0], b"kept")

    # ------------------------------------------------------------------------------------
    def test_memory_of_a_mass_delete_goes_back_to_the_system(self):
        """corral only: a fork copies the page table of every resident page, so once the tree
        has lost a quarter of its znodes, freed memory is given back before the next
        snapshot's fork (ZooKeeper's heap is the JVM's business)."""
        if harness.target() != "corral":
            self.skipTest("corral's memory management")
        if os.environ.get("CORRAL_SANITIZED"):
            self.skipTest("ASan's allocator does not give memory back on malloc_trim")
        srv = self.start(snap_count=200)
        c = self.raw()
        base = self.unique()
        pl.check_ok(c.create(base, b""), "create base")
        n, per = 100000, 1000
        for i in range(0, n, per):
            pl.check_ok(c.multi([(z.OP_CREATE, z.body_create("%s/n%d" % (base, j), b"x" * 100))
                                 for j in range(i, i + per)]), "create batch %d" % i)
        peak = rss_kib(srv.proc.pid)
        for i in range(0, n, per):
            pl.check_ok(c.multi([(z.OP_DELETE, z.body_delete("%s/n%d" % (base, j)))
                                 for j in range(i, i + per)]), "delete batch %d" % i)
        # Small writes until a snapshot is due (snap_count 200: within 200 txns) and forked.
        deadline = time.monotonic() + 30
        while rss_kib(srv.proc.pid) > peak // 2 and time.monotonic() < deadline:
            for k in range(50):
                pl.check_ok(c.set_data(base, b"%d" % k), "set")
            time.sleep(0.05)
        after = rss_kib(srv.proc.pid)
        self.assertLess(after, peak // 2, "RSS %d KiB after deleting %d znodes (peak %d KiB)"
                        % (after, n, peak))
        self.assertEqual(c.get_children(base).value, [], "children left")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


if __name__ == "__main__":
    unittest.main(verbosity=2)
