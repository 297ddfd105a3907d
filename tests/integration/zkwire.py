"""Minimal raw ZooKeeper client-protocol codec for the integration tests.

Written from /work/shared/reference/client-protocol.md (sections 1-9); it is
deliberately small and explicit so tests can assert exact bytes.  Nothing here
is clever: every request is built field by field, every reply is parsed field
by field, and errors are returned as codes (never raised), so a test can
assert the precise error a server sends.
"""

import socket
import struct
import time
from collections import namedtuple

# ---------------------------------------------------------------- constants

OP_NOTIFICATION = 0
OP_CREATE = 1
OP_DELETE = 2
OP_EXISTS = 3
OP_GET_DATA = 4
OP_SET_DATA = 5
OP_GET_ACL = 6
OP_SET_ACL = 7
OP_GET_CHILDREN = 8
OP_SYNC = 9
OP_PING = 11
OP_GET_CHILDREN2 = 12
OP_CHECK = 13
OP_MULTI = 14
OP_CREATE2 = 15
OP_RECONFIG = 16
OP_CHECK_WATCHES = 17
OP_REMOVE_WATCHES = 18
OP_CREATE_CONTAINER = 19
OP_DELETE_CONTAINER = 20
OP_CREATE_TTL = 21
OP_MULTI_READ = 22
OP_AUTH = 100
OP_SET_WATCHES = 101
OP_SASL = 102
OP_GET_EPHEMERALS = 103
OP_GET_ALL_CHILDREN_NUMBER = 104
OP_SET_WATCHES2 = 105
OP_ADD_WATCH = 106
OP_WHO_AM_I = 107
OP_CLOSE_SESSION = -11

XID_NOTIFICATION = -1
XID_PING = -2
XID_AUTH = -4
XID_SET_WATCHES = -8

OK = 0
RUNTIMEINCONSISTENCY = -2
MARSHALLINGERROR = -5
UNIMPLEMENTED = -6
BADARGUMENTS = -8
NONODE = -101
NOAUTH = -102
BADVERSION = -103
NOCHILDRENFOREPHEMERALS = -108
NODEEXISTS = -110
NOTEMPTY = -111
SESSIONEXPIRED = -112
INVALIDACL = -114
AUTHFAILED = -115
NOWATCHER = -121
RECONFIGDISABLED = -123

EV_CREATED = 1
EV_DELETED = 2
EV_DATA_CHANGED = 3
EV_CHILDREN_CHANGED = 4
STATE_SYNC_CONNECTED = 3

WT_CHILDREN = 1
WT_DATA = 2
WT_ANY = 3

ADDWATCH_PERSISTENT = 0
ADDWATCH_PERSISTENT_RECURSIVE = 1

F_PERSISTENT = 0
F_EPHEMERAL = 1
F_SEQUENTIAL = 2
F_EPHEMERAL_SEQUENTIAL = 3
F_CONTAINER = 4
F_TTL = 5
F_TTL_SEQUENTIAL = 6

PERM_READ = 1
PERM_WRITE = 2
PERM_CREATE = 4
PERM_DELETE = 8
PERM_ADMIN = 16
PERM_ALL = 31

OPEN_ACL = [(PERM_ALL, "world", "anyone")]
READ_ACL = [(PERM_READ, "world", "anyone")]

MAX_BUFFER = 0xFFFFF

Stat = namedtuple(
    "Stat",
    "czxid mzxid ctime mtime version cversion aversion ephemeralOwner "
    "dataLength numChildren pzxid")
STAT_STRUCT = struct.Struct(">qqqqiiiqiiq")
assert STAT_STRUCT.size == 68

ConnectResponse = namedtuple(
    "ConnectResponse", "protocol_version timeout session_id passwd read_only length")
Reply = namedtuple("Reply", "xid zxid err value frame")
Event = namedtuple("Event", "type state path zxid")
MultiResult = namedtuple("MultiResult", "type err value")


class Closed(Exception):
    """The server closed the connection."""


# ---------------------------------------------------------------- encoding

class W(object):
    """Jute binary writer."""

    def __init__(self):
        self.b = bytearray()

    def int(self, v):
        self.b += struct.pack(">i", v)
        return self

    def long(self, v):
        self.b += struct.pack(">q", v)
        return self

    def bool(self, v):
        self.b += b"\x01" if v else b"\x00"
        return self

    def buffer(self, v):
        if v is None:
            return self.int(-1)
        self.int(len(v))
        self.b += v
        return self

    def ustring(self, s):
        if s is None:
            return self.int(-1)
        if isinstance(s, str):
            s = s.encode("utf-8")
        return self.buffer(s)

    def strings(self, items):
        if items is None:
            return self.int(-1)
        self.int(len(items))
        for s in items:
            self.ustring(s)
        return self

    def acls(self, acls):
        if acls is None:
            return self.int(-1)
        self.int(len(acls))
        for perms, scheme, ident in acls:
            self.int(perms).ustring(scheme).ustring(ident)
        return self

    def raw(self, data):
        self.b += data
        return self

    def bytes(self):
        return bytes(self.b)


class R(object):
    """Jute binary reader."""

    def __init__(self, data, off=0):
        self.d = data
        self.o = off

    def _take(self, n):
        if self.o + n > len(self.d):
            raise ValueError("short record: need %d bytes at %d of %d"
                             % (n, self.o, len(self.d)))
        v = self.d[self.o:self.o + n]
        self.o += n
        return v

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def long(self):
        return struct.unpack(">q", self._take(8))[0]

    def bool(self):
        return self._take(1) != b"\x00"

    def byte(self):
        return self._take(1)[0]

    def buffer(self):
        n = self.int()
        if n == -1:
            return None
        if n < 0:
            raise ValueError("bad buffer length %d" % n)
        return bytes(self._take(n))

    def ustring(self):
        v = self.buffer()
        return None if v is None else v.decode("utf-8")

    def strings(self):
        n = self.int()
        if n == -1:
            return None
        return [self.ustring() for _ in range(n)]

    def stat(self):
        return Stat._make(STAT_STRUCT.unpack(self._take(68)))

    def acls(self):
        n = self.int()
        if n == -1:
            return None
        out = []
        for _ in range(n):
            perms = self.int()
            out.append((perms, self.ustring(), self.ustring()))
        return out

    def remaining(self):
        return len(self.d) - self.o


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def connect_request(timeout_ms=30000, session_id=0, passwd=b"\0" * 16,
                    last_zxid=0, read_only=False, with_ro=True,
                    protocol_version=0):
    w = W().int(protocol_version).long(last_zxid).int(timeout_ms)
    w.long(session_id).buffer(passwd)
    if with_ro:
        w.bool(read_only)
    return frame(w.bytes())


def request(xid, op, body=b""):
    return frame(struct.pack(">ii", xid, op) + body)


# request bodies (also used inside multi) -----------------------------------

def body_path_watch(path, watch=False):
    return W().ustring(path).bool(watch).bytes()


def body_create(path, data=b"", acl=OPEN_ACL, flags=0, ttl=None):
    """acl=None sends a null vector (length -1)."""
    w = W().ustring(path).buffer(data).acls(acl)
    w.int(flags)
    if ttl is not None:
        w.long(ttl)
    return w.bytes()


def body_delete(path, version=-1):
    return W().ustring(path).int(version).bytes()


def body_set_data(path, data, version=-1):
    return W().ustring(path).buffer(data).int(version).bytes()


def body_check(path, version):
    return W().ustring(path).int(version).bytes()


def body_path(path):
    return W().ustring(path).bytes()


def body_multi(ops):
    """ops: list of (opcode, body-bytes)."""
    w = W()
    for op, body in ops:
        w.int(op).bool(False).int(-1).raw(body)
    w.int(-1).bool(True).int(-1)
    return w.bytes()


# response parsers -----------------------------------------------------------

def p_none(r):
    return None


def p_stat(r):
    return r.stat()


def p_path(r):
    return r.ustring()


def p_path_stat(r):
    return (r.ustring(), r.stat())


def p_data_stat(r):
    return (r.buffer(), r.stat())


def p_children(r):
    return r.strings()


def p_children_stat(r):
    return (r.strings(), r.stat())


def p_acl_stat(r):
    return (r.acls(), r.stat())


def p_int(r):
    return r.int()


def p_whoami(r):
    n = r.int()
    return [(r.ustring(), r.ustring()) for _ in range(max(n, 0))]


def p_multi(r):
    out = []
    while True:
        typ = r.int()
        done = r.bool()
        err = r.int()
        if done:
            break
        if typ == -1:
            val = r.int()
        elif typ == OP_CREATE:
            val = r.ustring()
        elif typ == OP_CREATE2:
            val = (r.ustring(), r.stat())
        elif typ in (OP_DELETE, OP_CHECK):
            val = None
        elif typ == OP_SET_DATA:
            val = r.stat()
        elif typ == OP_GET_DATA:
            val = (r.buffer(), r.stat())
        elif typ == OP_GET_CHILDREN:
            val = r.strings()
        else:
            raise ValueError("unknown multi result type %d" % typ)
        out.append(MultiResult(typ, err, val))
    return out


# ---------------------------------------------------------------- connection

class Conn(object):
    """One TCP connection to the server speaking the raw protocol."""

    def __init__(self, host, port, io_timeout=10.0):
        self.host = host
        self.port = port
        self.io_timeout = io_timeout
        self.sock = socket.create_connection((host, port), timeout=io_timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.events = []          # notifications read but not yet consumed
        self._xid = 0
        self.session_id = None
        self.passwd = None
        self.timeout = None
        self.last_zxid = 0
        self.closed = False

    # -- low level
    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no data from server within timeout")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise TimeoutError("no data from server within timeout")
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                self.closed = True
                raise Closed("server closed the connection")
            self.buf += chunk
            return

    def recv_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.io_timeout)
        while len(self.buf) < n:
            self._fill(deadline)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def recv_frame(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.io_timeout)
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack(">i", bytes(self.buf[:4]))[0]
                if n < 0 or n > 64 * 1024 * 1024:
                    raise ValueError("insane frame length %d" % n)
                if len(self.buf) >= 4 + n:
                    out = bytes(self.buf[4:4 + n])
                    del self.buf[:4 + n]
                    return out
            self._fill(deadline)

    def read_until_close(self, timeout=None):
        """Read and return every byte until EOF. Raises TimeoutError if the
        server keeps the connection open past the timeout."""
        deadline = time.monotonic() + (timeout or self.io_timeout)
        try:
            while True:
                self._fill(deadline)
        except Closed:
            pass
        out = bytes(self.buf)
        self.buf = bytearray()
        return out

    def close(self):
        """Drop the TCP connection abruptly (no closeSession)."""
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True

    def abort(self):
        """Reset the connection (RST) without closing the session."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    # -- handshake
    def handshake(self, timeout_ms=30000, session_id=0, passwd=b"\0" * 16,
                  last_zxid=0, read_only=False, with_ro=True, extra=b""):
        """Send a ConnectRequest and parse the ConnectResponse.
        Raises Closed if the server closes without answering."""
        self.send(connect_request(timeout_ms, session_id, passwd, last_zxid,
                                  read_only, with_ro) + extra)
        return self.read_connect_response()

    def read_connect_response(self, timeout=None):
        body = self.recv_frame(timeout)
        r = R(body)
        pv = r.int()
        to = r.int()
        sid = r.long()
        pw = r.buffer()
        ro = None
        if r.remaining() >= 1:
            ro = r.byte()
        resp = ConnectResponse(pv, to, sid, pw, ro, len(body))
        if to > 0:
            self.session_id = sid
            self.passwd = pw
            self.timeout = to
        return resp

    # -- requests
    def next_xid(self):
        self._xid += 1
        return self._xid

    def _parse_reply(self, data, parse):
        r = R(data)
        xid, zxid, err = r.int(), r.long(), r.int()
        value = None
        if err == 0 and parse is not None:
            value = parse(r)
        return Reply(xid, zxid, err, value, data)

    def _parse_event(self, data):
        r = R(data)
        r.int()
        zxid = r.long()
        r.int()
        return Event(r.int(), r.int(), r.ustring(), zxid)

    def read_reply(self, parse=None, timeout=None):
        """Next non-notification frame, parsed as a reply. Notifications seen
        on the way are queued in self.events (in arrival order)."""
        while True:
            data = self.recv_frame(timeout)
            xid = struct.unpack(">i", data[:4])[0]
            if xid == XID_NOTIFICATION:
                self.events.append(self._parse_event(data))
                continue
            rep = self._parse_reply(data, parse)
            if rep.zxid > 0 and xid not in (XID_PING, XID_AUTH):
                self.last_zxid = max(self.last_zxid, rep.zxid)
            return rep

    def call(self, op, body=b"", parse=None, xid=None, timeout=None):
        if xid is None:
            xid = self.next_xid()
        self.send(request(xid, op, body))
        rep = self.read_reply(parse, timeout)
        if rep.xid != xid:
            raise AssertionError("reply xid %d does not match request xid %d"
                                 % (rep.xid, xid))
        return rep

    def wait_event(self, timeout=10.0):
        """Pop the next notification, reading from the socket if needed.
        Non-notification frames met here are an error."""
        if self.events:
            return self.events.pop(0)
        data = self.recv_frame(timeout)
        xid = struct.unpack(">i", data[:4])[0]
        if xid != XID_NOTIFICATION:
            raise AssertionError("expected a notification, got xid %d" % xid)
        return self._parse_event(data)

    def events_before_ping(self):
        """Send a ping and return all notifications received before its
        reply (the server queues events before later replies)."""
        self.ping()
        ev, self.events = self.events, []
        return ev

    # -- operations
    def ping(self):
        return self.call(OP_PING, b"", None, xid=XID_PING)

    def create(self, path, data=b"", acl=OPEN_ACL, flags=0, op=OP_CREATE, ttl=None):
        if op == OP_CREATE_TTL and ttl is None:
            raise ValueError("ttl required")
        parse = p_path if op == OP_CREATE else p_path_stat
        return self.call(op, body_create(path, data, acl, flags, ttl), parse)

    def create_container(self, path, data=b"", acl=OPEN_ACL, flags=F_CONTAINER):
        return self.create(path, data, acl, flags, op=OP_CREATE_CONTAINER)

    def create_ttl(self, path, ttl, data=b"", acl=OPEN_ACL, flags=F_TTL):
        return self.create(path, data, acl, flags, op=OP_CREATE_TTL, ttl=ttl)

    def delete(self, path, version=-1):
        return self.call(OP_DELETE, body_delete(path, version))

    def exists(self, path, watch=False):
        return self.call(OP_EXISTS, body_path_watch(path, watch), p_stat)

    def get_data(self, path, watch=False):
        return self.call(OP_GET_DATA, body_path_watch(path, watch), p_data_stat)

    def set_data(self, path, data, version=-1):
        return self.call(OP_SET_DATA, body_set_data(path, data, version), p_stat)

    def get_acl(self, path):
        return self.call(OP_GET_ACL, body_path(path), p_acl_stat)

    def set_acl(self, path, acls, version=-1):
        return self.call(OP_SET_ACL, W().ustring(path).acls(acls).int(version).bytes(),
                         p_stat)

    def get_children(self, path, watch=False):
        return self.call(OP_GET_CHILDREN, body_path_watch(path, watch), p_children)

    def get_children2(self, path, watch=False):
        return self.call(OP_GET_CHILDREN2, body_path_watch(path, watch),
                         p_children_stat)

    def sync(self, path):
        return self.call(OP_SYNC, body_path(path), p_path)

    def multi(self, ops):
        return self.call(OP_MULTI, body_multi(ops), p_multi)

    def multi_read(self, ops):
        return self.call(OP_MULTI_READ, body_multi(ops), p_multi)

    def add_watch(self, path, mode):
        return self.call(OP_ADD_WATCH, W().ustring(path).int(mode).bytes(), p_int)

    def check_watches(self, path, wtype):
        return self.call(OP_CHECK_WATCHES, W().ustring(path).int(wtype).bytes())

    def remove_watches(self, path, wtype):
        return self.call(OP_REMOVE_WATCHES, W().ustring(path).int(wtype).bytes())

    def set_watches(self, rel_zxid, data=(), exist=(), child=(), xid=None):
        body = (W().long(rel_zxid).strings(list(data)).strings(list(exist))
                .strings(list(child)).bytes())
        return self.call(OP_SET_WATCHES, body, xid=xid)

    def set_watches2(self, rel_zxid, data=(), exist=(), child=(),
                     persistent=(), recursive=(), xid=None):
        body = (W().long(rel_zxid).strings(list(data)).strings(list(exist))
                .strings(list(child)).strings(list(persistent))
                .strings(list(recursive)).bytes())
        return self.call(OP_SET_WATCHES2, body, xid=xid)

    def auth(self, scheme, credential):
        if isinstance(credential, str):
            credential = credential.encode("utf-8")
        body = W().int(0).ustring(scheme).buffer(credential).bytes()
        return self.call(OP_AUTH, body, xid=XID_AUTH)

    def whoami(self):
        return self.call(OP_WHO_AM_I, b"", p_whoami)

    def get_ephemerals(self, prefix):
        return self.call(OP_GET_EPHEMERALS, body_path(prefix), p_children)

    def get_all_children_number(self, path):
        return self.call(OP_GET_ALL_CHILDREN_NUMBER, body_path(path), p_int)

    def close_session(self, timeout=None):
        """closeSession, then wait for the server to close the socket."""
        rep = self.call(OP_CLOSE_SESSION, b"", timeout=timeout)
        try:
            self.read_until_close(timeout)
        finally:
            self.close()
        return rep


def connect(host, port, timeout_ms=30000, **kw):
    """Open a connection and establish a new session."""
    c = Conn(host, port)
    resp = c.handshake(timeout_ms=timeout_ms, **kw)
    if resp.timeout <= 0:
        c.close()
        raise AssertionError("session refused: %r" % (resp,))
    return c


def four_letter(host, port, cmd, timeout=10.0, wrap=None):
    """Send a four-letter word and return the full raw response (read until the server
    closes). wrap, if given, turns the connected socket into another (TLS)."""
    if isinstance(cmd, str):
        cmd = cmd.encode("ascii")
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        if wrap is not None:
            s = wrap(s)
        s.sendall(cmd)
        deadline = time.monotonic() + timeout
        out = bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("4lw %r: server did not close" % cmd)
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return bytes(out)
    finally:
        s.close()


def digest(user, password):
    import base64
    import hashlib
    h = hashlib.sha1(("%s:%s" % (user, password)).encode("utf-8")).digest()
    return "%s:%s" % (user, base64.b64encode(h).decode("ascii"))
