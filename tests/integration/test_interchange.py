"""Data-directory interchange between Apache ZooKeeper 3.8 and the target (CORRAL_TARGET).

ZooKeeper writes a data dir (snapCount 10 so logs roll and snapshots are taken while
writes go on; nodes with data, digest/auth ACLs, set_acl, ephemerals of a live session and
of a session that will not come back, sequential nodes, containers (one removed by the
server), TTL, multi, failed writes), is stopped (SIGTERM, or SIGKILL), and the target starts
on the same directory: every znode with its data, every Stat field and its ACL, the session
table and the ephemeral owners must be what ZooKeeper reported before it stopped; the zxid
continues; the live session resumes with its id and password (passwords are derived from
the session id identically); the dead session expires. Then the reverse direction (the
target writes, ZooKeeper reads; ZooKeeper must also report no digest mismatch), and a round
trip ZooKeeper -> target -> ZooKeeper with a separate log directory.

Meaningful with CORRAL_TARGET=corral. With CORRAL_TARGET=zookeeper the target is ZooKeeper
itself, which checks the expectations against the reference.
"""

import collections
import os
import shutil
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                      # noqa: E402
import persistlib as pl             # noqa: E402
import zkwire as z                  # noqa: E402

TARGET = harness.target()
ZK = "zookeeper"

State = collections.namedtuple(
    "State", "base tree counts sessions ephemerals sid passwd dead_sid last")


@unittest.skipUnless(pl.have_zookeeper(), "needs Apache ZooKeeper 3.8 (/usr/share/java)")
class InterchangeTests(pl.PersistCase):

    def setUp(self):
        self.data = os.path.join(self.tmpdir, "data")
        self.logs = None

    def server_on(self, target_name, **kw):
        kw.setdefault("snap_count", 10)
        kw.setdefault("prealloc_kb", 64)
        return self.start(target_name=target_name, data_dir=self.data,
                          data_log_dir=self.logs, **kw)

    def stop(self, srv, how):
        if how == "kill":
            srv.kill()
        else:
            srv.stop()

    # -------------------------------------------------------------------- workload
    def write(self, srv, tag):
        """Writes a varied tree on srv and returns what a reader must find."""
        base = self.unique(tag)
        a = self.raw(30000, server=srv)
        pl.populate(a, base)
        for i in range(3):
            pl.burst(a, base, 30, tag=b"%s%d" % (tag.encode(), i))
        gone = self.raw(30000, server=srv)
        pl.check_ok(gone.create(base + "/gone-eph", b"", flags=z.F_EPHEMERAL), "gone eph")
        gone.close_session()
        dead = self.raw(4000, server=srv)
        pl.check_ok(dead.create(base + "/dead-eph", b"d", flags=z.F_EPHEMERAL), "dead eph")
        pl.check_ok(dead.create(base + "/dead-es-", b"d", flags=z.F_EPHEMERAL_SEQUENTIAL),
                    "dead eph seq")
        tree = pl.walk(srv)
        counts = self.counts(srv)
        sessions, eph = pl.dump(srv)
        dead.ping()
        dead.close()                                 # no closeSession
        last = a.ping().zxid
        self.assertEqual(pl.server_zxid(srv), last)
        a.close()
        self.assertEqual(sessions, {a.session_id, dead.session_id} | self.extra_sessions(srv),
                         "session table of the writer")
        return State(base, tree, counts, sessions, eph, a.session_id, a.passwd,
                     dead.session_id, last)

    def extra_sessions(self, srv):
        return getattr(self, "_carried", set())

    def check(self, srv, st, expire=False):
        """srv was just started on a data dir whose writer left state st."""
        who = "%s reading the data dir" % srv.target
        self.assertEqual(pl.server_zxid(srv), st.last, "%s: last zxid" % who)
        sessions, eph = pl.dump(srv)
        self.assertEqual(sessions, st.sessions, "%s: session table" % who)
        self.assertEqual(eph, st.ephemerals, "%s: ephemerals per session" % who)
        tree = pl.walk(srv)
        pl.assert_same_tree(self, st.tree, tree, who)
        self.assertEqual(self.counts(srv), st.counts, "%s: mntr znode/ephemeral counts" % who)
        zx = pl.server_zxid(srv)
        self.assertEqual(zx, st.last + 2, "%s: the walker's createSession + closeSession" % who)
        a = self.resume(st.sid, st.passwd, 30000, st.last, server=srv)
        self.assertEqual(a.exists(st.base + "/eph").value.ephemeralOwner, st.sid)
        rep = a.set_data(st.base, b"after")
        self.assertEqual((rep.err, rep.zxid), (0, zx + 1), "%s: next write's zxid" % who)
        fresh = self.raw(30000, server=srv)
        self.assertNotIn(fresh.session_id, st.sessions, "%s: new session id reused" % who)
        fresh.close_session()
        if expire:
            deadline = time.monotonic() + 20
            while a.exists(st.base + "/dead-eph").err == 0:
                self.assertLess(time.monotonic(), deadline, "%s: dead session never expired"
                                % who)
                time.sleep(0.1)
            self.assertEqual([k for k in a.get_children(st.base).value
                              if k.startswith("dead-")], [])
            sessions, eph = pl.dump(srv)
            self.assertNotIn(st.dead_sid, sessions)
            self.assertNotIn(st.dead_sid, eph)
        return a

    def no_digest_mismatch(self, srv):
        if srv.target == ZK:
            self.assertEqual(pl.mntr(srv).get("zk_digest_mismatches_count"), "0",
                             "ZooKeeper found tree-digest mismatches in the data dir")

    def check_files(self):
        d = self.logs or self.data
        pl.verify_logs(d)
        files = pl.data_files(self.data)
        for _zx, name in files["snapshot"]:
            path = os.path.join(self.data, "version-2", name)
            if pl.snapshot_looks_valid(path):
                pl.check_snapshot(path)
        return files

    # -------------------------------------------------------------------- tests
    def zookeeper_to_target(self, how):
        zk = self.server_on(ZK)
        st = self.write(zk, "zk")
        self.stop(zk, how)
        files = self.check_files()
        self.assertGreaterEqual(len(files["snapshot"]), 3, files)
        self.assertGreaterEqual(len(pl.data_files(self.data)["log"]), 3)
        srv = self.server_on(TARGET)
        self.check(srv, st, expire=(how == "term"))

    def test_zookeeper_to_target(self):
        self.zookeeper_to_target("term")

    def test_zookeeper_to_target_after_kill9(self):
        self.zookeeper_to_target("kill")

    def target_to_zookeeper(self, how):
        srv = self.server_on(TARGET)
        st = self.write(srv, "tg")
        self.stop(srv, how)
        self.check_files()
        zk = self.server_on(ZK)
        self.no_digest_mismatch(zk)
        self.check(zk, st, expire=(how == "term"))
        self.no_digest_mismatch(zk)

    def test_target_to_zookeeper(self):
        self.target_to_zookeeper("term")

    def test_target_to_zookeeper_after_kill9(self):
        self.target_to_zookeeper("kill")

    def crashed_dir_reads_the_same(self, writer):
        """writer is killed -9 under load (torn tails, in-flight writes); ZooKeeper and the
        target each start on a copy of that directory and must recover the same state."""
        srv = self.server_on(writer, force_sync=True)
        a = self.raw(30000, server=srv)      # no short sessions: nothing may expire while
        pl.populate(a, self.unique("pre"))   # the two servers are compared
        n = pl.load_and_kill(srv, 0.6)
        self.assertGreater(n, 20, "too few writes before the kill")
        if writer == ZK:
            # ZooKeeper 3.8 may leave a 0-byte newest log when killed, and then refuses to
            # start on its own directory (ZOOKEEPER-2332; 3.9.3 deletes it): do as 3.9.3
            logs = pl.data_files(self.data)["log"]
            newest = os.path.join(self.data, "version-2", logs[-1][1])
            if os.path.getsize(newest) == 0:
                sys.stderr.write("\nZooKeeper left a 0-byte %s; removed\n" % logs[-1][1])
                os.unlink(newest)
        self.check_files()
        pl.wait_gone(pl.processes_of(srv))   # see test_crash: a snapshot child outlives -9
        copy = os.path.join(self.tmpdir, "copy")
        shutil.copytree(self.data, copy)
        self.data = copy
        tg = self.server_on(TARGET)
        self.data = os.path.join(self.tmpdir, "data")
        zk = self.server_on(ZK)
        self.no_digest_mismatch(zk)
        self.assertEqual(pl.server_zxid(tg), pl.server_zxid(zk), "recovered zxid")
        self.assertEqual(pl.dump(tg), pl.dump(zk), "recovered sessions and ephemerals")
        pl.assert_same_tree(self, pl.walk(zk), pl.walk(tg),
                            "%s reading a crashed %s dir vs ZooKeeper reading it"
                            % (TARGET, writer))

    def test_crashed_zookeeper_dir_reads_the_same(self):
        self.crashed_dir_reads_the_same(ZK)

    def test_crashed_target_dir_reads_the_same(self):
        self.crashed_dir_reads_the_same(TARGET)

    def test_round_trip_with_separate_log_dir(self):
        self.logs = os.path.join(self.tmpdir, "txnlogs")
        zk = self.server_on(ZK)
        st1 = self.write(zk, "zk1")
        zk.stop()
        srv = self.server_on(TARGET)
        a = self.check(srv, st1, expire=True)
        # the target writes on top; ZooKeeper's live session is still live
        self._carried = {st1.sid}
        st2 = self.write(srv, "tg")
        a.close()
        srv.stop()
        self.assertEqual(pl.data_files(self.logs)["snapshot"], [], "snapshots in the log dir")
        self.assertEqual(pl.data_files(self.data)["log"], [], "logs in the snapshot dir")
        self.check_files()
        zk2 = self.server_on(ZK)
        self.no_digest_mismatch(zk2)
        self.check(zk2, st2)
        self.no_digest_mismatch(zk2)
        # the first session (born on ZooKeeper, resumed on the target) is still known
        c = self.resume(st1.sid, st1.passwd, 30000, server=zk2)
        self.assertEqual(c.exists(st1.base + "/eph").value.ephemeralOwner, st1.sid)


if __name__ == "__main__":
    unittest.main(verbosity=2)
