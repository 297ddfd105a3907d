#!/usr/bin/env python3
"""corral-inspect against logs and snapshots built byte by byte from disk-and-quorum.md A.4-A.8
and A.11, then damaged one byte at a time.

Usage: test_inspect.py /path/to/corral-inspect [unittest args]
"""
import datetime
import os
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

INSPECT = None


def i32(v):
    return struct.pack(">i", v)


def i64(v):
    return struct.pack(">q", v)


def buf(b):
    return i32(-1) if b is None else i32(len(b)) + b


def ustr(s):
    return buf(None if s is None else s.encode())


def acl_vec(acls):
    return i32(len(acls)) + b"".join(i32(p) + ustr(s) + ustr(i) for p, s, i in acls)


WORLD_ALL = [(31, "world", "anyone")]

# --- txn log (A.4, A.5) ---------------------------------------------------------------------

LOG_HEADER = i32(0x5A4B4C47) + i32(2) + i64(0)
SESSION = 0x0100000490120000
T0 = 0x1A20CABA9D4


def txn_header(cxid, zxid, type_, time=T0, session=SESSION):
    return i64(session) + i32(cxid) + i64(zxid) + i64(time) + i32(type_)


def txn_digest(d):
    return i32(2) + i64(d)


def create_body(path, data, acl=WORLD_ALL, ephemeral=False, parent_cversion=1):
    return ustr(path) + buf(data) + acl_vec(acl) + bytes([ephemeral]) + i32(parent_cversion)


def record(entry):
    return i64(zlib.adler32(entry)) + i32(len(entry)) + entry + b"B"


def sub(type_, body):
    return i32(type_) + buf(body)


# The first two records of A.15's log.1, exactly as ZooKeeper 3.8.0 wrote them.
A15_LOG = bytes.fromhex(
    "5a4b4c47000000020000000000000000"
    "00000000af0d09f9000000300100000490120000000000000000000000000001"
    "000001a20caba9d4fffffff600002710000000020000000051c6d66042"
    "00000000fcab0ce50000005b01000004901200000000000100000000000000020000"
    "01a20caba9e50000000100000002"
    "2f70000000056865"
    "6c6c6f00000001000000"
    "1f00000005776f726c6400000006"
    "616e796f6e650000000001000000020000"
    "0000a41e4ca942")

ENTRIES = [
    txn_header(0, 1, -10) + i32(10000) + txn_digest(0x51C6D660),
    txn_header(1, 2, 1, T0 + 0x11) + create_body("/p", b"hello") + txn_digest(0xA41E4CA9),
    txn_header(2, 3, 5, T0 + 20) + ustr("/p") + buf(b"bin\x00\xff\"") + i32(1)
    + txn_digest(0x1234),
    # A successful multi: create + check.
    txn_header(3, 4, 14, T0 + 30) + i32(2)
    + sub(1, create_body("/a", b"", parent_cversion=2))
    + sub(13, ustr("/p") + i32(2)) + txn_digest(0x5678),
    # A failed one: what ran before the failure keeps its type, then error(code), error(-2).
    txn_header(4, 5, 14, T0 + 40) + i32(3)
    + sub(1, create_body("/b", b"x", parent_cversion=3)) + sub(-1, i32(-103))
    + sub(-1, i32(-2)) + txn_digest(0x5678),
    txn_header(5, 6, 21, T0 + 50) + ustr("/t") + buf(None) + acl_vec(WORLD_ALL) + i32(3)
    + i64(600000) + txn_digest(0x9ABC),
    txn_header(6, 7, 7, T0 + 60) + ustr("/p") + acl_vec([(1, "world", "anyone")]) + i32(1)
    + txn_digest(0x9ABD),
    txn_header(7, 8, -1, T0 + 70) + i32(-110),  # a top-level error carries no digest
    txn_header(8, 9, 2, T0 + 80) + ustr("/a") + txn_digest(0xDEF0),
    txn_header(0, 10, -11, T0 + 90) + i32(1) + ustr("/e") + txn_digest(0xDEF1),
]


def build_log(entries=ENTRIES, padding=4096):
    out = bytearray(LOG_HEADER)
    offsets = []
    for e in entries:
        offsets.append(len(out))
        out += record(e)
    return out + bytes(padding), offsets


# --- snapshot (A.8, A.11) -------------------------------------------------------------------


def stat(czxid=0, mzxid=0, ctime=0, mtime=0, version=0, cversion=0, aversion=0, owner=0,
         pzxid=0):
    return dict(czxid=czxid, mzxid=mzxid, ctime=ctime, mtime=mtime, version=version,
                cversion=cversion, aversion=aversion, owner=owner, pzxid=pzxid)


def stat_persisted(s):
    return (i64(s["czxid"]) + i64(s["mzxid"]) + i64(s["ctime"]) + i64(s["mtime"])
            + i32(s["version"]) + i32(s["cversion"]) + i32(s["aversion"]) + i64(s["owner"])
            + i64(s["pzxid"]))


def node_digest(path, data, s):
    if path.startswith("/zookeeper/"):
        return 0
    blk = (i64(s["czxid"]) + i64(s["mzxid"]) + i64(s["pzxid"]) + i64(s["ctime"])
           + i64(s["mtime"]) + i32(s["version"]) + i32(s["cversion"]) + i32(s["aversion"])
           + i64(s["owner"]))
    return zlib.crc32(path.encode() + (data or b"") + blk)


def tree_digest(nodes):
    return sum(node_digest(p, d, s) for p, d, _, s in nodes) % 2**64


EPHEMERAL_OWNER = 0x0100000490120004
SESSIONS = [(EPHEMERAL_OWNER, 30000), (0x0100000490120005, 40000)]
ACLS = [(1, [(1, "world", "anyone")]), (2, WORLD_ALL)]
NODES = [
    ("", None, -1, stat(cversion=4, pzxid=0x15)),
    ("/zookeeper", b"", -1, stat()),
    ("/zookeeper/quota", b"", -1, stat()),
    ("/zookeeper/config", b"", 1, stat(aversion=-1)),
    ("/p", b"hello", 2, stat(czxid=2, mzxid=3, ctime=T0, mtime=T0 + 5, version=1, cversion=1,
                             pzxid=0x10)),
    ("/p/c", b"", 2, stat(czxid=0x10, mzxid=0x10, ctime=T0 + 9, mtime=T0 + 9, pzxid=0x10)),
    ("/e", b"\x01\x02", 2, stat(czxid=0x15, mzxid=0x15, owner=EPHEMERAL_OWNER, pzxid=0x15)),
    ("/c", b"", 2, stat(czxid=0x14, mzxid=0x14, owner=-0x8000000000000000, pzxid=0x14)),
]
SNAP_ZXID = 0x16


def build_snapshot(nodes=NODES, digest_zxid=SNAP_ZXID, digest=None, with_digest=True,
                   section39=False, sessions=SESSIONS):
    """Returns the bytes and the offsets of seal1, seal2 and the stored tree digest."""
    b = bytearray(i32(0x5A4B534E) + i32(2) + i64(-1))
    b += i32(len(sessions)) + b"".join(i64(s) + i32(t) for s, t in sessions)
    b += i32(len(ACLS)) + b"".join(i64(i) + acl_vec(lst) for i, lst in ACLS)
    for path, data, acl, s in nodes:
        b += ustr(path) + buf(data) + i64(acl) + stat_persisted(s)
    b += ustr("/")
    offs = {"seal1": len(b)}
    b += i64(zlib.adler32(b)) + ustr("/")
    if with_digest:
        if digest is None:
            digest = tree_digest(nodes)
        offs["digest"] = len(b) + 12
        b += i64(digest_zxid) + i32(2) + i64(digest)
        offs["seal2"] = len(b)
        b += i64(zlib.adler32(b)) + ustr("/")
    if section39:
        b += i64(SNAP_ZXID + 3)
        offs["seal3"] = len(b)
        b += i64(zlib.adler32(b)) + ustr("/")
    return b, offs


def when(ms):
    t = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="corral-inspect-")
        self.addCleanup(self.tmp.cleanup)

    def put(self, name, data):
        path = os.path.join(self.tmp.name, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def run_tool(self, *args):
        p = subprocess.run([INSPECT] + list(args), capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def verify(self, kind, path, rc):
        code, out, err = self.run_tool(kind, "--verify", path)
        self.assertEqual(code, rc, out + err)
        if rc == 0:
            self.assertRegex(out, r"^%s: OK \(" % path)
        return out


class Reference(unittest.TestCase):
    """The encoders here reproduce A.15's bytes and A.11's empty-tree digest."""

    def test_a15_records(self):
        log, offsets = build_log(ENTRIES[:2], padding=0)
        self.assertEqual(bytes(log), A15_LOG)
        self.assertEqual(offsets, [0x10, 0x4D])
        self.assertEqual(zlib.adler32(ENTRIES[0]), 0xAF0D09F9)

    def test_empty_tree_digest(self):
        empty = [("", None, -1, stat()), ("/zookeeper", b"", -1, stat()),
                 ("/zookeeper/quota", b"", -1, stat()), ("/zookeeper/config", b"", -1, stat())]
        self.assertEqual(tree_digest(empty), 0x51C6D660)


class Log(Base):
    def setUp(self):
        super().setUp()
        self.log, self.offsets = build_log()
        self.path = self.put("log.1", self.log)

    def damaged(self, at, value=None, data=None):
        b = bytearray(self.log if data is None else data)
        b[at] = b[at] ^ 0x01 if value is None else value
        return self.put("log.damaged", b)

    def test_clean_log_verifies(self):
        out = self.verify("log", self.path, 0)
        self.assertIn("OK (10 records)", out)
        # A file with a header alone is fine too (A.7).
        self.verify("log", self.put("log.2", LOG_HEADER), 0)

    def test_dump_prints_one_line_per_record(self):
        code, out, err = self.run_tool("log", self.path)
        self.assertEqual(code, 0, out + err)
        lines = out.splitlines()
        self.assertEqual(lines[0], self.path + ": txn log, format version 2, dbid 0, %d bytes"
                         % len(self.log))
        self.assertEqual(lines[1], "%s session 0x100000490120000 cxid 0x0 zxid 0x1 createSession "
                         "timeout 10000 digest 0x51c6d660" % when(T0))
        self.assertEqual(lines[2], "%s session 0x100000490120000 cxid 0x1 zxid 0x2 create /p "
                         "data 5 \"hello\" acl [world:anyone=cdrwa] ephemeral false "
                         "parentCVersion 1 digest 0xa41e4ca9" % when(T0 + 0x11))
        self.assertIn(" zxid 0x3 setData /p data 6 \"bin\\x00\\xff\\x22\" version 1 digest 0x1234",
                      lines[3])
        self.assertIn(" zxid 0x4 multi 2 ops digest 0x5678", lines[4])
        self.assertEqual(lines[5], "    create /a data 0 acl [world:anyone=cdrwa] ephemeral false "
                         "parentCVersion 2")
        self.assertEqual(lines[6], "    check /p version 2")
        self.assertIn(" zxid 0x5 multi 3 ops", lines[7])
        self.assertEqual(lines[8:11], ["    create /b data 1 \"x\" acl [world:anyone=cdrwa] "
                                       "ephemeral false parentCVersion 3",
                                       "    error err -103", "    error err -2"])
        self.assertIn(" zxid 0x6 createTTL /t data null acl [world:anyone=cdrwa] "
                      "parentCVersion 3 ttl 600000 digest 0x9abc", lines[11])
        self.assertIn(" zxid 0x7 setACL /p acl [world:anyone=r] aversion 1", lines[12])
        self.assertTrue(lines[13].endswith(" zxid 0x8 error err -110"), lines[13])
        self.assertIn(" zxid 0x9 delete /a digest 0xdef0", lines[14])
        self.assertIn(" cxid 0x0 zxid 0xa closeSession ephemerals [/e] digest 0xdef1", lines[15])
        self.assertEqual(lines[16], "end: 10 records up to offset 0x%x, then 4096 bytes of zero "
                         "padding" % (len(self.log) - 4096))
        self.assertEqual(len(lines), 17)

    def test_flipped_byte_names_the_record(self):
        # The 'h' of "hello" in record 2 (A.15: data at 0x83).
        out = self.verify("log", self.damaged(0x83), 1)
        self.assertEqual(out.count("\n"), 1, out)
        self.assertIn("offset 0x4d: record 2 (zxid 0x2): checksum", out)
        # Record by record: damage in two records gives two lines, and the dump goes on.
        with open(self.damaged(0x83), "rb") as f:
            once = f.read()
        path = self.damaged(self.offsets[5] + 40, data=once)
        out = self.verify("log", path, 1)
        self.assertIn("record 2 (zxid 0x2)", out)
        self.assertIn("record 6 (zxid 0x6)", out)
        code, out, _ = self.run_tool("log", path)
        self.assertEqual(code, 1)
        self.assertIn("end: 10 records", out)

    def test_damaged_frames(self):
        marker = self.offsets[2] - 1  # record 2's end marker
        out = self.verify("log", self.damaged(marker, value=0x41), 1)
        self.assertIn("offset 0x%x: record 2: end marker 0x41" % marker, out)
        b = bytearray(self.log)
        b[0x55:0x59] = i32(-1)
        out = self.verify("log", self.put("log.damaged", b), 1)
        self.assertIn("offset 0x55: record 2: length -1", out)
        # A torn last write: the file ends inside a record, or inside its frame.
        torn = self.put("log.torn", self.log[:self.offsets[3] + 20])
        self.assertIn("record 4 cut short", self.verify("log", torn, 1))
        torn = self.put("log.torn", self.log[:self.offsets[3] + 5])
        self.assertIn("record 4 cut short", self.verify("log", torn, 1))
        # Something after the zeros that end the records.
        out = self.verify("log", self.damaged(len(self.log) - 7), 1)
        self.assertIn("non-zero byte in the padding", out)

    def test_bad_files(self):
        self.assertIn("offset 0x0: empty file", self.verify("log", self.put("log.e", b""), 1))
        bad = self.put("log.m", i32(0x5A4B534E) + self.log[4:])
        self.assertIn("magic", self.verify("log", bad, 1))
        code, out, err = self.run_tool("log", os.path.join(self.tmp.name, "missing"))
        self.assertEqual(code, 1)
        self.assertIn("No such file", err)

    def test_several_files(self):
        bad = self.damaged(0x83)
        code, out, _ = self.run_tool("--verify", "log", self.path, bad)
        self.assertEqual(code, 1)
        self.assertIn(self.path + ": OK", out)
        self.assertIn(bad + ": offset 0x4d", out)


class Snapshot(Base):
    def setUp(self):
        super().setUp()
        self.snap, self.offs = build_snapshot()
        self.path = self.put("snapshot.16", self.snap)

    def test_clean_snapshot_verifies(self):
        out = self.verify("snapshot", self.path, 0)
        self.assertIn("OK (8 nodes; digest matches at zxid 0x16)", out)

    def test_dump(self):
        code, out, err = self.run_tool("snapshot", self.path)
        self.assertEqual(code, 0, out + err)
        lines = out.splitlines()
        self.assertEqual(lines[0], "%s: snapshot, format version 2, dbid -1, %d bytes, zxid 0x16 "
                         "(from the name)" % (self.path, len(self.snap)))
        self.assertEqual(lines[1:4], ["Sessions (2):",
                                      "  0x100000490120004 timeout 30000 ephemerals 1",
                                      "  0x100000490120005 timeout 40000 ephemerals 0"])
        self.assertEqual(lines[4:7], ["ACL lists (2):", "  1: [world:anyone=r]",
                                      "  2: [world:anyone=cdrwa]"])
        self.assertEqual(lines[7], "Nodes (8):")
        self.assertEqual(lines[8], "  / (root)")
        self.assertIn("cversion 4 aversion 0 ephemeralOwner 0x0 acl -1 numChildren 4 data null",
                      lines[10])
        i = lines.index("  /p")
        self.assertEqual(lines[i + 1], "    czxid 0x2 mzxid 0x3 pzxid 0x10 ctime %s mtime %s"
                         % (when(T0), when(T0 + 5)))
        self.assertEqual(lines[i + 2], "    version 1 cversion 1 aversion 0 ephemeralOwner 0x0 "
                         "acl 2 numChildren 1 data 5 \"hello\"")
        self.assertIn("ephemeralOwner 0x100000490120004 acl 2 numChildren 0 data 2 \"\\x01\\x02\"",
                      lines[lines.index("  /e") + 2])
        self.assertIn("Digest: zxid 0x16 version 2 treeDigest 0x%x (the nodes give 0x%x)"
                      % (tree_digest(NODES), tree_digest(NODES)), out)
        self.assertEqual(lines[-1], "Summary: 2 sessions, 2 ACL lists, 8 nodes (1 ephemeral), "
                         "7 bytes of data; digest matches at zxid 0x16")

    def test_flipped_byte_breaks_the_seals(self):
        b = bytearray(self.snap)
        b[self.snap.index(b"hello")] ^= 0x20
        out = self.verify("snapshot", self.put("snapshot.16", b), 1)
        self.assertIn("offset 0x%x: seal1 " % self.offs["seal1"], out)
        self.assertIn("offset 0x%x: seal2 " % self.offs["seal2"], out)
        self.assertIn("tree digest", out)
        # Damage after seal1 spoils seal2 alone.
        b = bytearray(self.snap)
        b[self.offs["seal2"] - 1] ^= 0x01
        out = self.verify("snapshot", self.put("snapshot.16", b), 1)
        self.assertNotIn("seal1", out)
        self.assertIn("offset 0x%x: seal2 " % self.offs["seal2"], out)

    def test_digest_rules(self):
        # A wrong digest with intact seals, for the snapshot's own zxid.
        snap, offs = build_snapshot(digest=tree_digest(NODES) + 1)
        out = self.verify("snapshot", self.put("snapshot.16", snap), 1)
        self.assertIn("offset 0x%x: tree digest" % offs["digest"], out)
        # Fuzzy: written for a later zxid, so it can only be checked after replay.
        snap, _ = build_snapshot(digest_zxid=0x18, digest=12345)
        self.assertIn("fuzzy", self.verify("snapshot", self.put("snapshot.16", snap), 0))
        # zxid 0 / digest 0: nothing applied since start-up (A.11).
        snap, _ = build_snapshot(digest_zxid=0, digest=0)
        self.assertIn("not checked", self.verify("snapshot", self.put("snapshot.0", snap), 0))
        # No digest section at all (pre-3.6).
        snap, _ = build_snapshot(with_digest=False)
        self.assertIn("no digest section", self.verify("snapshot", self.put("snapshot.16", snap),
                                                       0))

    def test_39_section(self):
        snap, offs = build_snapshot(section39=True)
        self.verify("snapshot", self.put("snapshot.16", snap), 0)
        b = bytearray(snap)
        b[offs["seal3"] + 7] ^= 0x01
        out = self.verify("snapshot", self.put("snapshot.16", b), 1)
        self.assertIn("offset 0x%x: seal3" % offs["seal3"], out)

    def test_structure(self):
        # A child before its parent makes 3.8 reject the snapshot.
        nodes = NODES[:4] + [NODES[5], NODES[4]] + NODES[6:]
        snap, _ = build_snapshot(nodes=nodes)
        out = self.verify("snapshot", self.put("snapshot.16", snap), 1)
        self.assertIn("node /p/c comes before its parent", out)
        # An ACL index the map lacks.
        nodes = NODES[:4] + [("/p", b"", 7, stat())]
        snap, _ = build_snapshot(nodes=nodes)
        self.assertIn("uses ACL list 7", self.verify("snapshot", self.put("snapshot.16", snap), 1))

    def test_truncated_and_bad_files(self):
        for cut in (10, 30, self.offs["seal1"] + 3, len(self.snap) - 2):
            path = self.put("snapshot.16", self.snap[:cut])
            out = self.verify("snapshot", path, 1)
            self.assertIn("does not end with the \"/\" marker", out)
        out = self.verify("snapshot", self.put("snapshot.16", self.snap[:100]), 1)
        self.assertIn("file ends inside", out)
        bad = self.put("snapshot.16", i32(0x5A4B4C47) + self.snap[4:])
        self.assertIn("magic", self.verify("snapshot", bad, 1))
        code, _, err = self.run_tool("snapshot", self.put("snapshot.1.gz", b"\x1f\x8b\x08\x00"))
        self.assertEqual(code, 1)
        self.assertIn("gzip", err)


class Usage(Base):
    def test_usage(self):
        code, out, _ = self.run_tool("--help")
        self.assertEqual(code, 0)
        self.assertIn("usage: corral-inspect", out)
        for args in ([], ["log"], ["frob", "x"], ["--bogus", "log", "x"]):
            code, out, err = self.run_tool(*args)
            self.assertEqual(code, 2, args)
            self.assertEqual(out, "")
            self.assertTrue(err)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    INSPECT = os.path.abspath(sys.argv.pop(1))
    unittest.main()
