"""Helpers shared by the persistence tests (test_persistence, test_interchange, test_crash,
test_full_disk, test_purge): tree walks, exact comparisons, four-letter parsing, and an
independent reader for ZooKeeper 3.8's data-directory files
(/work/shared/reference/disk-and-quorum.md Part A) that checks every checksum itself.
"""

import os
import shutil
import struct
import time
import zlib

from kazoo.client import KazooClient

import harness
import zkwire as z

STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
               "ephemeralOwner", "dataLength", "numChildren", "pzxid")

# ------------------------------------------------------------------ clients

def kazoo(server, timeout=30.0, super_auth=True, **kw):
    """A started KazooClient for server (authenticated as the harness super user)."""
    auth = [("digest", "%s:%s" % (harness.SUPER_USER, harness.SUPER_PASSWORD))] \
        if super_auth else None
    zk = KazooClient(hosts=server.hostport, timeout=timeout, auth_data=auth,
                     connection_retry={"max_tries": 3, "delay": 0.1, "max_delay": 1},
                     **kw)
    zk.start(timeout=20)
    return zk


def stop_kazoo(zk):
    try:
        zk.stop()
    finally:
        zk.close()


def stat_tuple(st):
    return tuple(getattr(st, f) for f in STAT_FIELDS)


def acl_tuple(acls):
    return [(a.perms, a.id.scheme, a.id.id) for a in acls]


def walk(server, skip=()):
    """{path: (data, stat-dict, acl list, sorted children)} for every znode, read with kazoo
    as super (get + get_acls + get_children)."""
    zk = kazoo(server)
    try:
        return walk_client(zk, skip)
    finally:
        stop_kazoo(zk)


def walk_client(zk, skip=()):
    out = {}
    todo = ["/"]
    while todo:
        path = todo.pop()
        if path in skip:
            continue
        data, st = zk.get(path)
        acls, st2 = zk.get_acls(path)
        kids = sorted(zk.get_children(path))
        out[path] = (data, dict(zip(STAT_FIELDS, stat_tuple(st))), acl_tuple(acls), kids)
        for k in kids:
            todo.append((path.rstrip("/") + "/" + k))
    return out


def tree_diff(before, after, limit=25):
    """Human-readable list of differences between two walks (empty if equal)."""
    lines = []
    for p in sorted(set(before) | set(after)):
        if p not in after:
            lines.append("missing after: %s %r" % (p, before[p]))
        elif p not in before:
            lines.append("unexpected after: %s %r" % (p, after[p]))
        else:
            b, a = before[p], after[p]
            if b[0] != a[0]:
                lines.append("%s data: %r != %r" % (p, b[0][:80] if b[0] else b[0],
                                                   a[0][:80] if a[0] else a[0]))
            for f in STAT_FIELDS:
                if b[1][f] != a[1][f]:
                    lines.append("%s stat.%s: %r != %r" % (p, f, b[1][f], a[1][f]))
            if b[2] != a[2]:
                lines.append("%s acl: %r != %r" % (p, b[2], a[2]))
            if b[3] != a[3]:
                lines.append("%s children: %r != %r" % (p, b[3], a[3]))
        if len(lines) >= limit:
            lines.append("...")
            break
    return lines


def assert_same_tree(test, before, after, what="tree"):
    diff = tree_diff(before, after)
    if diff:
        test.fail("%s differs (expected -> actual):\n  %s" % (what, "\n  ".join(diff)))


# ------------------------------------------------------------------ four-letter words

def mntr(server):
    out = server.four("mntr").decode("utf-8", "replace")
    return dict(l.split("\t", 1) for l in out.splitlines() if "\t" in l)


def server_zxid(server):
    """The server's last zxid as reported by srvr ("Zxid: 0x...")."""
    for line in server.four("srvr").decode("utf-8", "replace").splitlines():
        if line.startswith("Zxid:"):
            return int(line.split(":", 1)[1].strip(), 16)
    raise AssertionError("srvr has no Zxid line")


# ------------------------------------------------------------------ raw sessions

def resume(server, sid, passwd, timeout_ms=30000, last_zxid=0):
    """Reconnect an existing session with the raw client. Returns (conn, ConnectResponse);
    the response's timeout is 0 when the server considers the session expired."""
    c = server.conn()
    resp = c.handshake(timeout_ms=timeout_ms, session_id=sid, passwd=passwd,
                       last_zxid=last_zxid)
    return c, resp


def close_quietly(c):
    harness._close_quietly(c)


def pipelined(conn, requests, timeout=30.0):
    """Send every (op, body, parse) at once, then read the replies in order."""
    xids = []
    out = bytearray()
    for op, body, _parse in requests:
        xid = conn.next_xid()
        xids.append(xid)
        out += z.request(xid, op, body)
    conn.send(bytes(out))
    replies = []
    for xid, (_op, _body, parse) in zip(xids, requests):
        rep = conn.read_reply(parse, timeout)
        if rep.xid != xid:
            raise AssertionError("reply xid %d, expected %d" % (rep.xid, xid))
        replies.append(rep)
    return replies


# ------------------------------------------------------------------ data directory files

LOG_MAGIC = 0x5A4B4C47        # "ZKLG"
SNAP_MAGIC = 0x5A4B534E       # "ZKSN"


def parse_name(name):
    """('log'|'snapshot', zxid) for a data file name, else None (A.3)."""
    parts = name.split(".")
    if len(parts) < 2 or parts[0] not in ("log", "snapshot"):
        return None
    try:
        v = int(parts[1], 16)
    except ValueError:
        return None
    if v >= 1 << 63:
        return None
    return parts[0], v


def data_files(dirpath):
    """{'log': [(zxid, name)...], 'snapshot': [...], 'other': [names]} of dirpath/version-2,
    sorted by zxid."""
    v2 = os.path.join(dirpath, "version-2")
    out = {"log": [], "snapshot": [], "other": []}
    if not os.path.isdir(v2):
        return out
    for n in os.listdir(v2):
        k = parse_name(n)
        if k is None:
            out["other"].append(n)
        else:
            out[k[0]].append((k[1], n))
    for k in ("log", "snapshot"):
        out[k].sort()
    out["other"].sort()
    return out


def snapshot_looks_valid(path):
    """ZooKeeper's quick validity test (A.8), uncompressed and .gz."""
    name = os.path.basename(path)
    with open(path, "rb") as f:
        data = f.read()
    if name.endswith(".gz"):
        return data[:2] == b"\x1f\x8b"
    if name.endswith(".snappy"):
        return data[:8] == b"\x82SNAPPY\x00"
    return len(data) >= 10 and data[-5:] == b"\x00\x00\x00\x01/"


def expected_purge(snap_dir, log_dir, retain):
    """(kept snapshot names, kept log names) after ZooKeeper's purge (A.12) of the
    version-2 directories under snap_dir and log_dir, computed from their current listing."""
    snaps = data_files(snap_dir)["snapshot"]
    logs = data_files(log_dir)["log"]
    valid = [(zx, n) for zx, n in snaps
             if snapshot_looks_valid(os.path.join(snap_dir, "version-2", n))]
    newest = valid[-retain:]
    if not newest:
        return set(n for _, n in snaps), set(n for _, n in logs)
    s = newest[0][0]
    keep_logs = set(n for zx, n in logs if zx > s)
    older = [n for zx, n in logs if zx <= s]
    if older:
        keep_logs.add(older[-1])
    keep_snaps = set(n for zx, n in snaps if zx >= s)
    return keep_snaps, keep_logs


def listing(snap_dir, log_dir):
    """(snapshot names, log names) currently in the two version-2 directories."""
    return (set(n for _, n in data_files(snap_dir)["snapshot"]),
            set(n for _, n in data_files(log_dir)["log"]))


class Record(object):
    __slots__ = ("offset", "client_id", "cxid", "zxid", "time", "type", "length")

    def __init__(self, offset, client_id, cxid, zxid, time_, type_, length):
        self.offset, self.client_id, self.cxid, self.zxid = offset, client_id, cxid, zxid
        self.time, self.type, self.length = time_, type_, length

    def __repr__(self):
        return "Record(zxid=0x%x type=%d cxid=%d len=%d @%d)" % (
            self.zxid, self.type, self.cxid, self.length, self.offset)


class DataFileError(Exception):
    pass


def read_log(path):
    """Reads one txn log like ZooKeeper 3.8 (A.4, A.7). Returns (records, end) where end is
    'eof', 'zeros' (length 0 = preallocated tail) or 'partial' (bad marker or record cut
    short: a torn tail that 3.8 tolerates). Raises DataFileError for what makes 3.8 refuse
    to start: bad magic, 0-byte file, length -1 or unreasonable, checksum mismatch on a
    complete record."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) == 0:
        raise DataFileError("%s: 0-byte log file (ZooKeeper 3.8 refuses to start)" % path)
    if len(data) < 16:
        raise DataFileError("%s: header cut short (%d bytes)" % (path, len(data)))
    magic, _version, _dbid = struct.unpack(">iiq", data[:16])
    if magic != LOG_MAGIC:
        raise DataFileError("%s: bad magic 0x%08x" % (path, magic & 0xffffffff))
    off = 16
    recs = []
    while True:
        if off + 12 > len(data):
            return recs, "eof" if off == len(data) else "partial"
        crc, n = struct.unpack(">qi", data[off:off + 12])
        if n == 0:
            return recs, "zeros"
        if n < 0 or n > 2 * 0xFFFFF:
            raise DataFileError("%s@%d: unreasonable length %d" % (path, off, n))
        if off + 12 + n + 1 > len(data):
            return recs, "partial"
        entry = data[off + 12:off + 12 + n]
        if data[off + 12 + n] != 0x42:
            return recs, "partial"
        if crc != zlib.adler32(entry):
            raise DataFileError("%s@%d: checksum mismatch (stored 0x%x, computed 0x%x)"
                                % (path, off, crc, zlib.adler32(entry)))
        if n < 32:
            raise DataFileError("%s@%d: entry shorter than a TxnHeader" % (path, off))
        cid, cxid, zxid, t, typ = struct.unpack(">qiqqi", entry[:32])
        recs.append(Record(off, cid, cxid, zxid, t, typ, n))
        off += 12 + n + 1


def check_snapshot(path):
    """Parses a snapshot (A.8) and checks both seals. Returns a dict with sessions, nodes
    (path -> (data, aclIndex, stat tuple)) and digest info. Raises DataFileError."""
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".gz"):
        import gzip
        data = gzip.decompress(data)
    r = z.R(data)
    try:
        magic = r.int()
        r.int()                      # version and dbid: never checked (A.4, A.8)
        r.long()
        if magic != SNAP_MAGIC:
            raise DataFileError("%s: bad magic" % path)
        sessions = {}
        for _ in range(r.int()):
            sid = r.long()
            sessions[sid] = r.int()
        acls = {}
        for _ in range(r.int()):
            idx = r.long()
            n = r.int()
            lst = []
            for _ in range(n):
                perms = r.int()
                lst.append((perms, r.ustring(), r.ustring()))
            acls[idx] = lst
        nodes = {}
        while True:
            p = r.ustring()
            if p == "/":
                break
            d = r.buffer()
            aidx = r.long()
            st = struct.unpack(">qqqqiiiqq", r._take(60))
            if p != "":
                parent = p.rsplit("/", 1)[0]
                if parent not in nodes:
                    raise DataFileError("%s: node %s before its parent" % (path, p))
            nodes[p] = (d, aidx, st)
        off = r.o
        seal1 = r.long()
        if seal1 != zlib.adler32(data[:off]):
            raise DataFileError("%s: seal1 mismatch" % path)
        if r.ustring() != "/":
            raise DataFileError("%s: no '/' after seal1" % path)
        digest = None
        if r.remaining() > 0:
            dz, dv, dd = r.long(), r.int(), r.long()
            off = r.o
            seal2 = r.long()
            if seal2 != zlib.adler32(data[:off]):
                raise DataFileError("%s: seal2 mismatch" % path)
            if r.ustring() != "/":
                raise DataFileError("%s: no '/' after seal2" % path)
            digest = (dz, dv, dd)
    except (ValueError, struct.error, IndexError) as e:
        raise DataFileError("%s: cannot parse: %s" % (path, e))
    return {"sessions": sessions, "acls": acls, "nodes": nodes, "digest": digest}


def verify_logs(dirpath):
    """Reads every log in dirpath/version-2 like ZooKeeper; returns all records in file order
    and checks that zxids increase within each file."""
    files = data_files(dirpath)
    allrecs = []
    for zx, name in files["log"]:
        recs, _end = read_log(os.path.join(dirpath, "version-2", name))
        if recs and recs[0].zxid != zx:
            raise DataFileError("%s: first record has zxid 0x%x" % (name, recs[0].zxid))
        for a, b in zip(recs, recs[1:]):
            if b.zxid <= a.zxid:
                raise DataFileError("%s: zxid 0x%x after 0x%x" % (name, b.zxid, a.zxid))
        allrecs += recs
    return allrecs


def processes_of(srv):
    """Pids of live processes whose command line names srv's config file (its own files)."""
    key = (srv.config_path or os.path.join(srv.tmp, "conf", "zoo.cfg")).encode()
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd = f.read()
            with open("/proc/%s/stat" % p, "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if key in cmd and state not in (b"Z", b"X") and not dying(p):
            pids.append(int(p))
    return pids


def dying(pid):
    """True if SIGKILL is pending for pid (e.g. sent by PR_SET_PDEATHSIG as its parent died)."""
    try:
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith(("SigPnd:", "ShdPnd:")) and int(line.split()[1], 16) & 0x100:
                    return True
    except OSError:
        return True
    return False


def wait_gone(pids, timeout=30.0):
    """Waits for pids (left behind by a server we started) to exit; kills them after timeout."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        while os.path.exists("/proc/%d" % pid):
            if time.monotonic() > deadline:
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
                break
            time.sleep(0.05)


def inspect_tool():
    """Path of corral-inspect if it has been built (env CORRAL_INSPECT, else next to
    CORRAL_SERVER or in <repo>/build[/tools]), else None."""
    cands = [os.environ.get("CORRAL_INSPECT"),
             os.path.join(harness.REPO, "build", "tools", "corral-inspect"),
             os.path.join(harness.REPO, "build", "corral-inspect")]
    if os.environ.get("CORRAL_SERVER"):
        cands.append(os.path.join(os.path.dirname(os.environ["CORRAL_SERVER"]), "corral-inspect"))
    for c in cands:
        if c and os.access(c, os.X_OK):
            return os.path.abspath(c)
    return None


def have_zookeeper():
    return all(os.path.exists(j) for j in harness.ZK_JARS) and bool(
        shutil.which("java") or os.path.exists("/usr/bin/java"))


def have_corral():
    try:
        harness.corral_binary()
        return True
    except harness.ServerError:
        return False


# ------------------------------------------------------------------ a varied tree

BOB = z.digest("bob", "pw")


def check_ok(rep, what):
    if rep.err != 0:
        raise AssertionError("%s failed with error %d" % (what, rep.err))
    return rep


def populate(c, base, wait_container=True):
    """Builds a varied subtree under base with the raw client c (its session owns the
    ephemerals): persistent, sequential (with a gap), null / empty / binary / 100 KB data,
    set_data, digest and auth ACLs, set_acl, ephemeral and ephemeral-sequential, a container
    with a child, a container emptied and removed by the server (deleteContainer), a TTL node,
    create2, a successful and a failing multi, failing single writes (error txns), a deep
    path, a non-ASCII name and 40 siblings. Returns the zxid of the last reply."""
    ok = check_ok
    ok(c.create(base, b"root-data"), "create base")
    for _ in range(3):
        ok(c.create(base + "/s-", b"seq", flags=z.F_SEQUENTIAL), "create sequential")
    ok(c.delete(base + "/s-0000000001"), "delete sequential")
    ok(c.create(base + "/null", None), "create null data")
    ok(c.create(base + "/empty", b""), "create empty data")
    ok(c.create(base + "/bin", bytes(range(256)) * 4), "create binary")
    ok(c.create(base + "/big", os.urandom(100 * 1024)), "create 100 KB")
    ok(c.set_data(base, b"v1"), "set_data")
    ok(c.set_data(base, b"v2", version=1), "set_data with version")
    ok(c.create(base + "/acl", b"a", acl=[(z.PERM_ALL, "world", "anyone"),
                                           (z.PERM_READ, "digest", BOB)]), "create ACL")
    ok(c.set_acl(base + "/acl", [(z.PERM_READ | z.PERM_WRITE, "world", "anyone"),
                                 (z.PERM_ALL, "digest", BOB)], version=0), "set_acl")
    ok(c.create(base + "/secret", b"only bob", acl=[(z.PERM_ALL, "digest", BOB)]),
       "create digest-only")
    ok(c.auth("digest", "bob:pw"), "add_auth")
    ok(c.create(base + "/authacl", b"auth", acl=[(z.PERM_ALL, "auth", "")]), "create auth ACL")
    ok(c.create(base + "/eph", b"e", flags=z.F_EPHEMERAL), "create ephemeral")
    ok(c.create(base + "/es-", b"es", flags=z.F_EPHEMERAL_SEQUENTIAL), "create eph seq")
    ok(c.create_container(base + "/cont", b"c"), "create container")
    ok(c.create(base + "/cont/child", b"k"), "create container child")
    ok(c.create_container(base + "/cont2", b""), "create container 2")
    ok(c.create(base + "/cont2/child", b""), "create container 2 child")
    ok(c.delete(base + "/cont2/child"), "empty container 2")
    ok(c.create_ttl(base + "/ttl", 3600 * 1000, b"t"), "create TTL")
    ok(c.create(base + "/c2", b"create2", op=z.OP_CREATE2), "create2")
    ok(c.create(base + "/a", b""), "deep a")
    ok(c.create(base + "/a/b", b""), "deep b")
    ok(c.create(base + "/a/b/c", b"deep"), "deep c")
    ok(c.create(base + "/\u00fcn\u00efc\u00f6d\u00e9-\u4e2d", "x".encode()), "unicode")
    rep = c.multi([(z.OP_CREATE, z.body_create(base + "/m1", b"m1")),
                   (z.OP_SET_DATA, z.body_set_data(base + "/m1", b"m1b")),
                   (z.OP_CHECK, z.body_check(base + "/m1", 1)),
                   (z.OP_CREATE, z.body_create(base + "/m2", b"m2")),
                   (z.OP_DELETE, z.body_delete(base + "/m2")),
                   (z.OP_CREATE, z.body_create(base + "/m3-", b"m3", flags=z.F_SEQUENTIAL))])
    ok(rep, "multi")
    rep = c.multi([(z.OP_CREATE, z.body_create(base + "/mf", b"x")),
                   (z.OP_CREATE, z.body_create(base, b"exists"))])
    if rep.err != 0 or [r.value if r.type == -1 else None for r in rep.value] != [0, z.NODEEXISTS]:
        raise AssertionError("failing multi gave %d %r" % (rep.err, rep.value))
    if c.create(base, b"again").err != z.NODEEXISTS:
        raise AssertionError("duplicate create did not fail")
    if c.set_data(base, b"bad", version=99).err != z.BADVERSION:
        raise AssertionError("bad-version set_data did not fail")
    ok(c.create(base + "/many", b""), "create many")
    for i in range(40):
        ok(c.create(base + "/many/n%02d" % i, b"%d" % i), "create sibling")
    for i in range(0, 40, 3):
        ok(c.set_data(base + "/many/n%02d" % i, b"changed %d" % i), "set sibling")
    if wait_container:
        deadline = time.monotonic() + 15
        while c.exists(base + "/cont2").err == 0:
            if time.monotonic() > deadline:
                raise AssertionError("empty container %s/cont2 was not removed" % base)
            time.sleep(0.1)
    return c.ping().zxid


def burst(c, base, n, tag=b"b"):
    """n pipelined creates base/burst-<tag>-<i> plus n pipelined set_data on them."""
    reqs = [(z.OP_CREATE, z.body_create("%s/burst-%s-%d" % (base, tag.decode(), i),
                                        tag + b"%d" % i), z.p_path) for i in range(n)]
    for rep in pipelined(c, reqs):
        check_ok(rep, "burst create")
    reqs = [(z.OP_SET_DATA, z.body_set_data("%s/burst-%s-%d" % (base, tag.decode(), i),
                                            tag + b"set%d" % i), z.p_stat) for i in range(n)]
    for rep in pipelined(c, reqs):
        check_ok(rep, "burst set_data")


def dump(server):
    """(set of session ids in the session tracker, {session id: sorted ephemeral paths})
    parsed from the dump four-letter word."""
    text = server.four("dump").decode("utf-8", "replace")
    sessions, eph = set(), {}
    section, cur = None, None
    for line in text.splitlines():
        if line.startswith("SessionTracker dump"):
            section = "sessions"
        elif line.startswith("ephemeral nodes dump"):
            section = "eph"
        elif line.startswith("Connections dump"):
            section = None
        elif section == "sessions" and line.startswith("\t0x"):
            sessions.add(int(line.strip(), 16))
        elif section == "eph" and line.startswith("0x") and line.endswith(":"):
            cur = int(line[:-1], 16)
            eph[cur] = []
        elif section == "eph" and line.startswith("\t") and cur is not None:
            eph[cur].append(line[1:])
    return sessions, {k: sorted(v) for k, v in eph.items()}


# ------------------------------------------------------------------ test case base

class PersistCase(harness.ServerTestCase):
    """Each test starts its own servers (possibly several, of either target, sharing a data
    dir under self.tmpdir). On failure the logs of all of them are printed; then they are
    stopped and every temp dir is removed (kept with CORRAL_KEEP_TMP=1 or when a server
    exited by itself, as the harness does)."""

    def run(self, result=None):
        import sys
        import tempfile
        self._servers = []
        self.server = None
        self.tmpdir = tempfile.mkdtemp(prefix="corral-it-persist-")
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        try:
            return unittest_run(self, result)
        finally:
            failed = len(result.failures) + len(result.errors) > before
            for srv in self._servers:
                srv.stop()
                if failed:
                    sys.stderr.write("\n----- server log (%s, %s) for %s -----\n%s\n"
                                     "----- end of log -----\n"
                                     % (srv.target, srv.log_path, self.id(), srv.log_text(8000)))
            keep = bool(os.environ.get("CORRAL_KEEP_TMP"))
            for srv in self._servers:
                srv.cleanup()
                keep = keep or srv.crashed
            if keep and os.listdir(self.tmpdir):
                sys.stderr.write("kept %s (shared data dirs of %s)\n" % (self.tmpdir, self.id()))
            if not keep:
                shutil.rmtree(self.tmpdir, ignore_errors=True)

    def start(self, target_name=None, **kw):
        srv = harness.Server(target_name=target_name, **kw)
        self._servers.append(srv)
        self.server = srv
        srv.start()
        return srv

    def raw(self, timeout_ms=30000, server=None, **kw):
        c = (server or self.server).raw(timeout_ms=timeout_ms, **kw)
        self.addCleanup(close_quietly, c)
        return c

    def resume(self, sid, pw, timeout_ms, last_zxid=0, server=None):
        c, resp = resume(server or self.server, sid, pw, timeout_ms, last_zxid)
        self.addCleanup(close_quietly, c)
        self.assertEqual((resp.session_id, resp.passwd, resp.timeout), (sid, pw, timeout_ms),
                         "session 0x%x not resumed" % sid)
        return c

    def counts(self, server=None):
        m = mntr(server or self.server)
        return m["zk_znode_count"], m.get("zk_ephemerals_count")


def unittest_run(case, result):
    import unittest
    return unittest.TestCase.run(case, result)


def load_and_kill(srv, seconds, threads=3, parent="/load"):
    """Several clients pipeline creates (some ephemeral), set_data and multis under parent
    until srv is SIGKILLed after `seconds`. Returns the number of acknowledged writes."""
    import threading
    c = srv.raw(30000)
    if c.exists(parent).err != 0:
        check_ok(c.create(parent, b""), "create " + parent)
    c.close_session()
    acked = [0] * threads

    def run(i):
        c = None
        try:
            c = srv.conn()
            c.handshake(timeout_ms=10000)
            k = 0
            while True:
                reqs = []
                for _ in range(4):
                    p = "%s/t%d-%05d" % (parent, i, k)
                    flags = z.F_EPHEMERAL if k % 5 == 0 else 0
                    reqs.append((z.OP_CREATE, z.body_create(p, b"c%d" % k, flags=flags), z.p_path))
                    if k % 5:
                        reqs.append((z.OP_SET_DATA, z.body_set_data(p, b"s%d" % k), z.p_stat))
                    k += 1
                reqs.append((z.OP_MULTI, z.body_multi([
                    (z.OP_CREATE, z.body_create("%s/m%d-%05d" % (parent, i, k), b"m")),
                    (z.OP_SET_DATA, z.body_set_data(parent, b"%d" % k))]), z.p_multi))
                for rep in pipelined(c, reqs):
                    check_ok(rep, "load write")
                    acked[i] += 1
        except (z.Closed, OSError, TimeoutError, struct.error):
            pass
        finally:
            if c is not None:
                c.close()

    ts = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(threads)]
    for t in ts:
        t.start()
    time.sleep(seconds)
    srv.kill()
    for t in ts:
        t.join(20)
    return sum(acked)
