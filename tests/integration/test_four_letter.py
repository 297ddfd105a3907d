"""Four-letter-word tests over raw sockets (output structure asserted with
regexes, counts asserted exactly where the state is under our control).

Every raw session in this module is ended with closeSession (the harness
does it in cleanup) so watch/ephemeral/connection counts are deterministic.
"""

import os
import re
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                      # noqa: E402
import zkwire as z                  # noqa: E402

SRV = harness.ModuleServer()


def setUpModule():
    SRV.start()


def tearDownModule():
    SRV.stop()


VERSION_RE = r"\d+\.\d+\.\d+-[^\n]*, built on [^\n]* UTC"
LATENCY_RE = r"Latency min/avg/max: \d+/\d+\.\d+/\d+\n"
SRVR_TAIL_RE = (LATENCY_RE +
                r"Received: \d+\nSent: \d+\nConnections: (\d+)\nOutstanding: \d+\n"
                r"Zxid: 0x([0-9a-f]+)\nMode: standalone\nNode count: (\d+)\n")
SRVR_RE = re.compile(r"\AZookeeper version: " + VERSION_RE + r"\n" + SRVR_TAIL_RE + r"\Z")
STAT_CLIENT_RE = r" /127\.0\.0\.1:(\d+)\[([0-9a-f]+)\]\(queued=\d+,recved=\d+,sent=\d+\)\n"
STAT_RE = re.compile(r"\AZookeeper version: " + VERSION_RE + r"\nClients:\n((?:" + STAT_CLIENT_RE
                     + r")+)\n" + SRVR_TAIL_RE + r"\Z")
CONS_LINE_RE = re.compile(
    r"\A /127\.0\.0\.1:(\d+)\[([0-9a-f]+)\]\(queued=\d+,recved=\d+,sent=\d+"
    r"(?:,sid=0x([0-9a-f]+),lop=([A-Z]+),est=\d+,to=(\d+),lcxid=0x[0-9a-f]+,"
    r"lzxid=0x([0-9a-f]+),lresp=\d+,llat=\d+,minlat=\d+,avglat=\d+,maxlat=\d+)?\)\Z")
ENVI_KEYS = ["zookeeper.version", "host.name", "java.version", "java.vendor", "java.home",
             "java.class.path", "java.library.path", "java.io.tmpdir", "java.compiler",
             "os.name", "os.arch", "os.version", "user.name", "user.home", "user.dir",
             "os.memory.free", "os.memory.max", "os.memory.total"]
CONF_KEYS = ["clientPort", "secureClientPort", "dataDir", "dataDirSize", "dataLogDir",
             "dataLogSize", "tickTime", "maxClientCnxns", "minSessionTimeout",
             "maxSessionTimeout", "clientPortListenBacklog", "serverId"]
MNTR_REQUIRED = ["zk_version", "zk_server_state", "zk_avg_latency", "zk_max_latency",
                 "zk_min_latency", "zk_packets_received", "zk_packets_sent",
                 "zk_num_alive_connections", "zk_outstanding_requests", "zk_znode_count",
                 "zk_watch_count", "zk_ephemerals_count", "zk_approximate_data_size",
                 "zk_open_file_descriptor_count", "zk_max_file_descriptor_count"]


class FourLetterTests(harness.ServerTestCase):
    server = SRV

    def four(self, cmd):
        return self.server.four(cmd).decode("utf-8")

    def mntr(self):
        out = self.four("mntr")
        self.assertTrue(out.endswith("\n"), repr(out[-40:]))
        pairs = []
        for line in out[:-1].split("\n"):
            m = re.match(r"\A(zk_[^\t]+)\t([^\t]*)\Z", line)
            self.assertIsNotNone(m, "bad mntr line %r" % line)
            pairs.append((m.group(1), m.group(2)))
        return pairs

    def test_ruok(self):
        self.assertEqual(self.server.four(b"ruok"), b"imok")
        # trailing bytes after the 4 letters are ignored
        self.assertEqual(self.server.four(b"ruok\n"), b"imok")

    def test_isro(self):
        self.assertEqual(self.server.four(b"isro"), b"rw")

    def test_srvr(self):
        c = self.raw()
        rep = c.create(self.unique(), b"x")
        self.assertEqual(rep.err, 0)
        out = self.four("srvr")
        m = SRVR_RE.match(out)
        self.assertIsNotNone(m, out)
        self.assertGreaterEqual(int(m.group(1)), 2)
        self.assertEqual(int(m.group(2), 16), rep.zxid)
        self.assertEqual(m.group(2), "%x" % rep.zxid)
        mntr = dict(self.mntr())
        self.assertEqual(m.group(3), mntr["zk_znode_count"])

    def test_stat(self):
        c = self.raw()
        self.assertEqual(c.exists("/").err, 0)
        out = self.four("stat")
        m = STAT_RE.match(out)
        self.assertIsNotNone(m, out)
        clients = re.findall(STAT_CLIENT_RE, m.group(1))
        mine = [cl for cl in clients if int(cl[0]) == c.sock.getsockname()[1]]
        self.assertEqual(len(mine), 1, out)
        self.assertEqual(mine[0][1], "1")       # interested in reading

    def test_cons(self):
        c = self.raw(timeout_ms=30000)
        self.assertEqual(c.create(self.unique()).err, 0)
        zxid = c.last_zxid
        out = self.four("cons")
        self.assertTrue(out.endswith("\n\n"), repr(out))
        lines = out[:-2].split("\n")
        parsed = []
        for line in lines:
            m = CONS_LINE_RE.match(line)
            self.assertIsNotNone(m, "bad cons line %r" % line)
            parsed.append(m)
        mine = [m for m in parsed if int(m.group(1)) == c.sock.getsockname()[1]]
        self.assertEqual(len(mine), 1, out)
        m = mine[0]
        self.assertEqual(m.group(3), "%x" % c.session_id)
        self.assertEqual(m.group(5), "30000")
        self.assertEqual(int(m.group(6), 16), zxid)
        self.assertEqual(m.group(4), "CREA")

    def test_conf(self):
        out = self.four("conf")
        self.assertTrue(out.endswith("\n"))
        kv = [line.split("=", 1) for line in out[:-1].split("\n")]
        self.assertEqual([k for k, _ in kv], CONF_KEYS)
        d = dict(kv)
        self.assertEqual(d["clientPort"], str(self.server.port))
        self.assertEqual(d["secureClientPort"], "-1")
        self.assertEqual(d["tickTime"], "2000")
        self.assertEqual(d["maxClientCnxns"], "60")
        self.assertEqual(d["minSessionTimeout"], "4000")
        self.assertEqual(d["maxSessionTimeout"], "40000")
        self.assertEqual(d["serverId"], "0")
        self.assertTrue(d["dataDir"].startswith(self.server.data_dir), d["dataDir"])
        for k in ("dataDirSize", "dataLogSize"):
            self.assertRegex(d[k], r"\A\d+\Z")

    def test_envi(self):
        out = self.four("envi")
        self.assertTrue(out.startswith("Environment:\n"), out[:40])
        self.assertTrue(out.endswith("\n"))
        kv = [line.split("=", 1) for line in out[len("Environment:\n"):-1].split("\n")]
        self.assertEqual([k for k, _ in kv], ENVI_KEYS)
        d = dict(kv)
        self.assertRegex(d["zookeeper.version"], r"\A" + VERSION_RE + r"\Z")
        for k in ("os.memory.free", "os.memory.max", "os.memory.total"):
            self.assertRegex(d[k], r"\A\d+MB\Z")

    def test_dirs(self):
        self.assertRegex(self.four("dirs"), r"\Adatadir_size: \d+\nlogdir_size: \d+\n\Z")

    def test_watch_words(self):
        # module discipline: no other session holds watches now
        self.assertEqual(self.four("wchs"), "0 connections watching 0 paths\nTotal watches:0\n")
        self.assertEqual(self.four("wchc"), "\n")
        self.assertEqual(self.four("wchp"), "\n")
        base = self.unique()
        w1, w2 = base + "-1", base + "-2"
        c = self.raw()
        for p in (w1, w2):
            self.assertEqual(c.create(p).err, 0)
            self.assertEqual(c.get_data(p, watch=True).err, 0)
        self.assertEqual(c.get_children(w1, watch=True).err, 0)   # child table: not reported
        sid = "0x%x" % c.session_id
        self.assertEqual(self.four("wchs"), "1 connections watching 2 paths\nTotal watches:2\n")
        wchc = self.four("wchc")
        self.assertTrue(wchc.startswith(sid + "\n") and wchc.endswith("\n\n"), repr(wchc))
        self.assertEqual(sorted(wchc[len(sid) + 1:-2].split("\n")), ["\t" + w1, "\t" + w2])
        wchp = self.four("wchp")
        self.assertTrue(wchp.endswith("\n\n"), repr(wchp))
        body = wchp[:-2].split("\n")
        self.assertEqual(len(body), 4, repr(wchp))
        self.assertEqual(sorted([(body[0], body[1]), (body[2], body[3])]),
                         [(w1, "\t" + sid), (w2, "\t" + sid)])
        self.assertEqual(dict(self.mntr())["zk_watch_count"], "3")

    def test_mntr(self):
        pairs = self.mntr()
        self.assertEqual(pairs[0][0], "zk_version")
        self.assertRegex(pairs[0][1], r"\A" + VERSION_RE + r"\Z")
        self.assertEqual(pairs[1], ("zk_server_state", "standalone"))
        d = dict(pairs)
        self.assertEqual(len(d), len(pairs), "duplicate keys")
        for k in MNTR_REQUIRED:
            self.assertIn(k, d)
        for k in MNTR_REQUIRED[3:]:
            if k != "zk_avg_latency":
                self.assertRegex(d[k], r"\A\d+\Z", k)
        self.assertRegex(d["zk_avg_latency"], r"\A\d+\.\d+\Z")
        base_eph = int(d["zk_ephemerals_count"])
        self.assertEqual(base_eph, 0)
        base_nodes = int(d["zk_znode_count"])
        c = self.raw()
        p = self.unique()
        self.assertEqual(c.create(p).err, 0)
        self.assertEqual(c.create(p + "/e1", flags=z.F_EPHEMERAL).err, 0)
        self.assertEqual(c.create(p + "/e2", flags=z.F_EPHEMERAL).err, 0)
        d = dict(self.mntr())
        self.assertEqual(int(d["zk_ephemerals_count"]), 2)
        self.assertEqual(int(d["zk_znode_count"]), base_nodes + 3)
        self.assertGreaterEqual(int(d["zk_num_alive_connections"]), 2)
        c.close_session()
        d = dict(self.mntr())
        self.assertEqual(int(d["zk_ephemerals_count"]), 0)
        self.assertEqual(int(d["zk_znode_count"]), base_nodes + 1)

    def test_dump(self):
        c = self.raw()
        p = self.unique()
        self.assertEqual(c.create(p, flags=z.F_EPHEMERAL).err, 0)
        sid = "0x%x" % c.session_id
        out = self.four("dump")
        self.assertRegex(out, r"\ASessionTracker dump:\nSession Sets \(\d+\)/\(\d+\):\n")
        head, rest = out.split("ephemeral nodes dump:\n", 1)
        self.assertIn("\t%s\n" % sid, head)
        eph, conns = rest.split("Connections dump:\n", 1)
        self.assertEqual(eph, "Sessions with Ephemerals (1):\n%s:\n\t%s\n" % (sid, p))
        self.assertRegex(conns, r"\AConnections Sets \(\d+\)/\(\d+\):\n")
        self.assertIn("\tip: /127.0.0.1:%d sessionId: %s\n" % (c.sock.getsockname()[1], sid), conns)

    def test_trace_mask_words(self):
        self.assertEqual(self.server.four(b"gtmk"), b"306")
        self.assertEqual(self.server.four(b"stmk" + struct.pack(">q", 250)), b"250")
        self.assertEqual(self.server.four(b"gtmk"), b"250")
        self.assertEqual(self.server.four(b"stmk" + struct.pack(">q", 306)), b"306")
        self.assertEqual(self.server.four(b"gtmk"), b"306")

    def test_stat_reset_words(self):
        self.assertEqual(self.server.four(b"srst"), b"Server stats reset.\n")
        self.assertEqual(self.server.four(b"crst"), b"Connection stats reset.\n")
        self.assertRegex(self.four("srvr"), r"\nLatency min/avg/max: \d+/\d+\.\d+/\d+\n")

    def test_telnet_close_sequence_with_full_whitelist(self):
        # with whitelist "*" ff f4 ff fd is read as a (negative) frame length
        self.assertEqual(self.server.four(b"\xff\xf4\xff\xfd"), b"")

    def test_unknown_word_closes_without_output(self):
        self.assertEqual(self.server.four(b"abcd"), b"")

    def test_four_letters_after_handshake_are_a_frame_length(self):
        c = self.raw()
        c.send(b"ruok")
        self.assertEqual(c.read_until_close(10), b"")


if __name__ == "__main__":
    unittest.main(verbosity=2)
