"""Durability across a server restart (same data dir, same port).

The server is stopped with SIGTERM after every write has been acknowledged,
then started again; the tree, the counters, the zxid and the sessions
(with their ephemerals) must all be there.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                      # noqa: E402
import zkwire as z                  # noqa: E402


class RestartTests(harness.ServerTestCase):

    @classmethod
    def setUpClass(cls):
        cls.server = harness.start_server()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def snapshot(self, c, paths):
        out = {}
        for p in paths:
            data, st = c.get_data(p).value
            acl = c.get_acl(p).value[0]
            kids = sorted(c.get_children(p).value)
            out[p] = (data, st, acl, kids)
        return out

    def test_state_and_sessions_survive_restart(self):
        c = self.server.raw(timeout_ms=30000)
        p = self.unique()
        bob = z.digest("bob", "pw")
        self.assertEqual(c.create(p, b"root-data").err, 0)
        for _ in range(3):
            self.assertEqual(c.create(p + "/s-", flags=z.F_SEQUENTIAL).err, 0)
        self.assertEqual(c.delete(p + "/s-0000000002").err, 0)
        self.assertEqual(c.create(p + "/null", None).err, 0)
        self.assertEqual(c.set_data(p, b"v1").err, 0)
        self.assertEqual(c.set_data(p, b"v2", version=1).err, 0)
        self.assertEqual(c.create(p + "/acl", b"a", acl=[(31, "world", "anyone"),
                                                         (1, "digest", bob)]).err, 0)
        self.assertEqual(c.set_acl(p + "/acl", [(31, "world", "anyone")], version=0).err, 0)
        self.assertEqual(c.create(p + "/eph", b"e", flags=z.F_EPHEMERAL).err, 0)
        paths = [p, p + "/s-0000000000", p + "/s-0000000001", p + "/null", p + "/acl", p + "/eph"]
        before = self.snapshot(c, paths)
        zxid = c.ping().zxid
        sid, pw = c.session_id, c.passwd
        node_count = dict(l.split("\t", 1) for l in
                          self.server.four("mntr").decode().splitlines())["zk_znode_count"]
        c.close()                          # no closeSession: the session must survive

        self.server.restart()

        c2 = self.server.conn()
        self.addCleanup(harness._close_quietly, c2)
        resp = c2.handshake(timeout_ms=30000, session_id=sid, passwd=pw, last_zxid=zxid)
        self.assertEqual((resp.session_id, resp.passwd, resp.timeout), (sid, pw, 30000),
                         "session not resumed after restart")
        self.assertGreaterEqual(c2.ping().zxid, zxid, "zxid went backwards")
        after = self.snapshot(c2, paths)
        self.assertEqual(after, before)
        self.assertIsNone(after[p + "/null"][0])
        self.assertEqual(after[p + "/eph"][1].ephemeralOwner, sid)
        mntr = dict(l.split("\t", 1) for l in self.server.four("mntr").decode().splitlines())
        self.assertEqual(mntr["zk_znode_count"], node_count)
        # counters and zxids continue where they were
        rep = c2.create(p + "/s-", flags=z.F_SEQUENTIAL)
        self.assertEqual((rep.err, rep.value), (0, p + "/s-0000000006"))
        self.assertGreater(rep.zxid, zxid)
        # a client that saw the pre-restart zxid is not refused
        other = self.server.raw(timeout_ms=30000, last_zxid=rep.zxid)
        self.addCleanup(harness._close_quietly, other)
        self.assertEqual(other.exists(p + "/eph").err, 0)
        # the resumed session still owns its ephemeral
        c2.close_session()
        self.assertEqual(other.exists(p + "/eph").err, z.NONODE)


if __name__ == "__main__":
    unittest.main(verbosity=2)
