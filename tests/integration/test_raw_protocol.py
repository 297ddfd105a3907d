"""Raw-socket protocol tests: what kazoo cannot reach, asserted byte for byte.

Run:  /usr/bin/python3 -m unittest -v test_raw_protocol   (from tests/integration)
Target: CORRAL_TARGET=corral (default, needs CORRAL_SERVER) or zookeeper.
"""

import os
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                      # noqa: E402
import zkwire as z                  # noqa: E402

SRV = harness.ModuleServer()


def setUpModule():
    SRV.start()


def tearDownModule():
    SRV.stop()


def ev(etype, path):
    return (etype, z.STATE_SYNC_CONNECTED, path)


def evs(events):
    return [(e.type, e.state, e.path) for e in events]


class Base(harness.ServerTestCase):
    server = SRV

    def setUp(self):
        self.c = self.raw()
        self.p = self.unique()
        self.assertOk(self.c.create(self.p, b"base"))

    def assertOk(self, rep, msg=None):
        self.assertEqual(rep.err, 0, msg or "expected OK, got %r" % (rep,))
        return rep.value

    def assertErr(self, rep, code, msg=None):
        self.assertEqual(rep.err, code, msg or "expected err %d, got %r" % (code, rep))
        self.assertEqual(len(rep.frame), 16, "error replies carry only the 16-byte header")


# --------------------------------------------------------------------------
class HandshakeTests(Base):

    def test_new_session_connect_response(self):
        c = self.conn()
        resp = c.handshake(timeout_ms=30000)
        self.addCleanup(harness._close_quietly, c)
        self.assertEqual(resp.length, 37)
        self.assertEqual(resp.protocol_version, 0)
        self.assertEqual(resp.timeout, 30000)
        self.assertNotEqual(resp.session_id, 0)
        self.assertNotEqual(resp.session_id & 0xFFFFFFFFFFFFFFFF, 0x8000000000000000)
        self.assertNotEqual((resp.session_id >> 56) & 0xFF, 0xFF)
        self.assertEqual(len(resp.passwd), 16)
        self.assertEqual(resp.read_only, 0)
        self.assertNotEqual(resp.session_id, self.c.session_id)

    def test_old_client_without_readonly_byte_gets_36_bytes(self):
        c = self.conn()
        resp = c.handshake(timeout_ms=30000, with_ro=False)
        self.addCleanup(harness._close_quietly, c)
        self.assertEqual(resp.length, 36)
        self.assertIsNone(resp.read_only)
        self.assertEqual(resp.timeout, 30000)
        self.assertOk(c.exists("/"))

    def test_timeout_negotiation_clamps_to_2_and_20_ticks(self):
        for req, want in [(1, 4000), (-5, 4000), (4000, 4000), (30000, 30000),
                          (40000, 40000), (10 ** 9, 40000)]:
            c = self.conn()
            resp = c.handshake(timeout_ms=req)
            self.assertEqual(resp.timeout, want, "requested %d" % req)
            c.close_session()

    def test_connect_and_request_pipelined_in_one_write(self):
        c = self.conn()
        data = z.connect_request(30000) + z.request(1, z.OP_EXISTS, z.body_path_watch("/"))
        c.send(data)
        resp = c.read_connect_response()
        self.addCleanup(harness._close_quietly, c)
        self.assertEqual(resp.length, 37)
        self.assertGreater(resp.timeout, 0)
        rep = c.read_reply(z.p_stat)
        self.assertEqual((rep.xid, rep.err), (1, 0))
        self.assertEqual(rep.value.czxid, 0)

    def test_resume_session_with_id_and_password(self):
        eph = self.p + "/eph"
        self.assertOk(self.c.create(eph, b"x", flags=z.F_EPHEMERAL))
        c2 = self.conn()
        resp = c2.handshake(timeout_ms=30000, session_id=self.c.session_id,
                            passwd=self.c.passwd, last_zxid=self.c.last_zxid)
        self.assertEqual(resp.length, 37)
        self.assertEqual(resp.session_id, self.c.session_id)
        self.assertEqual(resp.passwd, self.c.passwd)
        self.assertEqual(resp.timeout, 30000)
        # the old connection of the session is closed by the server
        self.assertEqual(self.c.read_until_close(10), b"")
        st = self.assertOk(c2.exists(eph))
        self.assertEqual(st.ephemeralOwner, resp.session_id)
        self.assertEqual(self.assertOk(c2.get_ephemerals(self.p)), [eph])
        c2.close_session()
        # closing the session deleted its ephemeral
        c3 = self.raw()
        self.assertErr(c3.exists(eph), z.NONODE)

    def test_resume_with_wrong_password_is_rejected(self):
        c2 = self.conn()
        bad = bytes((b ^ 0x5A) for b in self.c.passwd)
        resp = c2.handshake(timeout_ms=30000, session_id=self.c.session_id, passwd=bad)
        self.assertEqual(resp.length, 37)
        self.assertEqual(resp.protocol_version, 0)
        self.assertEqual(resp.timeout, 0)
        self.assertEqual(resp.session_id, 0)
        self.assertEqual(resp.passwd, b"\0" * 16)
        self.assertEqual(c2.read_until_close(10), b"")
        # the session itself is still alive: the right password resumes it
        c3 = self.conn()
        resp = c3.handshake(timeout_ms=30000, session_id=self.c.session_id,
                            passwd=self.c.passwd)
        self.addCleanup(harness._close_quietly, c3)
        self.assertEqual(resp.session_id, self.c.session_id)
        self.assertOk(c3.exists(self.p))

    def test_resume_after_close_session_is_rejected(self):
        c = self.raw()
        sid, pw = c.session_id, c.passwd
        rep = c.close_session()
        self.assertEqual(rep.err, 0)
        self.assertEqual(len(rep.frame), 16)
        c2 = self.conn()
        resp = c2.handshake(timeout_ms=30000, session_id=sid, passwd=pw)
        self.assertEqual((resp.timeout, resp.session_id, resp.passwd), (0, 0, b"\0" * 16))
        self.assertEqual(c2.read_until_close(10), b"")

    def test_last_zxid_seen_ahead_of_server_is_dropped_without_reply(self):
        zxid = self.c.ping().zxid
        c2 = self.conn()
        c2.send(z.connect_request(30000, last_zxid=zxid + 1000))
        self.assertEqual(c2.read_until_close(10), b"")

    def test_close_session_reply_then_close(self):
        c = self.raw()
        eph = self.p + "/e"
        self.assertOk(c.create(eph, flags=z.F_EPHEMERAL))
        self.assertOk(self.c.exists(eph, watch=True))
        xid = c.next_xid()
        c.send(z.request(xid, z.OP_CLOSE_SESSION))
        rep = c.read_reply()
        self.assertEqual((rep.xid, rep.err, len(rep.frame)), (xid, 0, 16))
        self.assertEqual(c.read_until_close(10), b"")
        self.assertEqual(evs([self.c.wait_event()]), [ev(z.EV_DELETED, eph)])
        self.assertEqual(self.assertOk(self.c.get_children(self.p)), [])

    def test_ping_reply(self):
        zx = self.c.create(self.p + "/x").zxid
        rep = self.c.ping()
        self.assertEqual((rep.xid, rep.zxid, rep.err, len(rep.frame)), (-2, zx, 0, 16))

    def test_auth_reply_has_xid_minus4_and_zxid_0(self):
        rep = self.c.auth("digest", "bob:pw")
        self.assertEqual((rep.xid, rep.zxid, rep.err, len(rep.frame)), (-4, 0, 0, 16))

    def test_auth_unknown_scheme_fails_and_closes_connection(self):
        c = self.raw()
        sid, pw = c.session_id, c.passwd
        rep = c.auth("nosuchscheme", "whatever")
        self.assertEqual((rep.xid, rep.zxid, rep.err), (-4, 0, z.AUTHFAILED))
        self.assertEqual(c.read_until_close(10), b"")
        # the session survives the connection
        c2 = self.conn()
        resp = c2.handshake(timeout_ms=30000, session_id=sid, passwd=pw)
        self.addCleanup(harness._close_quietly, c2)
        self.assertEqual(resp.session_id, sid)


# --------------------------------------------------------------------------
class OpcodeTests(Base):

    def test_unknown_opcode_unimplemented_then_close(self):
        for op in (55, 10):
            c = self.raw()
            c.send(z.request(7, op, b""))
            rep = c.read_reply()
            self.assertEqual((rep.xid, rep.zxid, rep.err, len(rep.frame)),
                             (7, -1, z.UNIMPLEMENTED, 16), "opcode %d" % op)
            self.assertEqual(c.read_until_close(10), b"")

    def test_reconfig_disabled_in_standalone(self):
        before = self.c.ping().zxid
        body = z.W().ustring(None).ustring(None).ustring(None).long(-1).bytes()
        rep = self.c.call(z.OP_RECONFIG, body)
        self.assertErr(rep, z.RECONFIGDISABLED)
        self.assertEqual(rep.zxid, before + 1)

    def test_sasl_without_sasl_configured(self):
        rep = self.c.call(z.OP_SASL, z.W().buffer(b"").bytes())
        self.assertEqual((rep.err, rep.zxid), (0, 0))
        self.assertEqual(rep.frame[16:], b"\xff\xff\xff\xff")

    def test_get_data_missing_is_header_only(self):
        zx = self.c.ping().zxid
        rep = self.c.get_data(self.p + "/missing")
        self.assertErr(rep, z.NONODE)
        self.assertEqual(rep.zxid, zx)

    def test_write_errors_consume_a_zxid_reads_do_not(self):
        r1 = self.c.create(self.p + "/a")
        self.assertOk(r1)
        r2 = self.c.create(self.p + "/a")
        self.assertErr(r2, z.NODEEXISTS)
        self.assertEqual(r2.zxid, r1.zxid + 1)
        r3 = self.c.set_data(self.p + "/a", b"x", version=7)
        self.assertErr(r3, z.BADVERSION)
        self.assertEqual(r3.zxid, r1.zxid + 2)
        r4 = self.c.delete(self.p + "/nope")
        self.assertErr(r4, z.NONODE)
        self.assertEqual(r4.zxid, r1.zxid + 3)
        r5 = self.c.get_data(self.p + "/a")
        self.assertEqual(r5.zxid, r1.zxid + 3)
        r6 = self.c.create(self.p + "/b")
        self.assertEqual(r6.zxid, r1.zxid + 4)
        self.assertEqual(self.assertOk(self.c.exists(self.p + "/b")).czxid, r1.zxid + 4)
        r7 = self.c.multi([])
        self.assertEqual((r7.err, r7.value), (0, []))
        self.assertEqual(r7.zxid, r1.zxid + 5)
        # a read reports the server's last zxid, including other sessions' writes
        other = self.raw()
        w = other.create(self.p + "/other")
        self.assertEqual(self.c.exists(self.p).zxid, w.zxid)
        self.assertEqual(self.c.get_children(self.p + "/nope").zxid, w.zxid)

    def test_null_versus_empty_data(self):
        pn, pe = self.p + "/null", self.p + "/empty"
        self.assertOk(self.c.create(pn, None))
        self.assertOk(self.c.create(pe, b""))
        data, st = self.assertOk(self.c.get_data(pn))
        self.assertIsNone(data)
        self.assertEqual(st.dataLength, 0)
        # exact bytes: header(16) + buffer length -1 + stat
        rep = self.c.get_data(pn)
        self.assertEqual(rep.frame[16:20], b"\xff\xff\xff\xff")
        self.assertEqual(len(rep.frame), 16 + 4 + 68)
        data, st = self.assertOk(self.c.get_data(pe))
        self.assertEqual(data, b"")
        self.assertEqual(st.dataLength, 0)
        self.assertOk(self.c.set_data(pe, None))
        self.assertIsNone(self.assertOk(self.c.get_data(pe))[0])
        self.assertOk(self.c.set_data(pn, b""))
        self.assertEqual(self.assertOk(self.c.get_data(pn))[0], b"")

    def test_create2_returns_path_and_stat(self):
        rep = self.c.create(self.p + "/c2", b"abc", op=z.OP_CREATE2)
        path, st = self.assertOk(rep)
        self.assertEqual(path, self.p + "/c2")
        self.assertEqual((st.czxid, st.mzxid, st.pzxid), (rep.zxid,) * 3)
        self.assertEqual(st.ctime, st.mtime)
        self.assertEqual((st.version, st.cversion, st.aversion, st.ephemeralOwner,
                          st.dataLength, st.numChildren), (0, 0, 0, 0, 3, 0))
        self.assertEqual(self.assertOk(self.c.exists(path)), st)

    def test_parent_and_node_stat_bookkeeping(self):
        before = self.assertOk(self.c.exists(self.p))
        rc = self.c.create(self.p + "/k", b"1")
        st = self.assertOk(self.c.exists(self.p))
        self.assertEqual((st.cversion, st.numChildren, st.pzxid), (1, 1, rc.zxid))
        self.assertEqual((st.mzxid, st.mtime, st.version, st.czxid),
                         (before.mzxid, before.mtime, before.version, before.czxid))
        rs = self.c.set_data(self.p + "/k", b"22")
        kst = self.assertOk(rs)
        self.assertEqual((kst.version, kst.mzxid, kst.czxid, kst.pzxid, kst.dataLength),
                         (1, rs.zxid, rc.zxid, rc.zxid, 2))
        self.assertGreaterEqual(kst.mtime, kst.ctime)
        ra = self.c.set_acl(self.p + "/k", z.OPEN_ACL, version=0)
        ast = self.assertOk(ra)
        self.assertEqual((ast.aversion, ast.mzxid, ast.mtime, ast.version),
                         (1, rs.zxid, kst.mtime, 1))
        self.assertErr(self.c.set_acl(self.p + "/k", z.OPEN_ACL, version=0), z.BADVERSION)
        rd = self.c.delete(self.p + "/k", version=1)
        self.assertOk(rd)
        st = self.assertOk(self.c.exists(self.p))
        self.assertEqual((st.cversion, st.numChildren, st.pzxid), (2, 0, rd.zxid))
        self.assertEqual(st.mzxid, before.mzxid)

    def test_get_children2_returns_parent_stat(self):
        for n in ("a", "b", "c"):
            self.assertOk(self.c.create(self.p + "/" + n))
        kids, st = self.assertOk(self.c.get_children2(self.p))
        self.assertEqual(sorted(kids), ["a", "b", "c"])
        self.assertEqual(st, self.assertOk(self.c.exists(self.p)))
        self.assertEqual(st.numChildren, 3)

    def test_sequential_suffix_rules(self):
        p = self.p
        self.assertEqual(self.assertOk(self.c.create(p + "/s-", flags=z.F_SEQUENTIAL)),
                         p + "/s-0000000000")
        self.assertEqual(self.assertOk(self.c.create(p + "/s-", flags=z.F_SEQUENTIAL)),
                         p + "/s-0000000001")
        self.assertOk(self.c.delete(p + "/s-0000000000"))
        self.assertEqual(self.assertOk(self.c.create(p + "/s-", flags=z.F_SEQUENTIAL)),
                         p + "/s-0000000002")
        self.assertOk(self.c.create(p + "/plain"))
        self.assertEqual(self.assertOk(self.c.create(p + "/s-", flags=z.F_EPHEMERAL_SEQUENTIAL)),
                         p + "/s-0000000004")
        # "/p/" + sequential flag is legal: the suffix makes it a valid path
        self.assertEqual(self.assertOk(self.c.create(p + "/", flags=z.F_SEQUENTIAL)),
                         p + "/0000000005")
        # counter = creates, not the reported cversion (which also counts deletes)
        st = self.assertOk(self.c.exists(p))
        self.assertEqual((st.numChildren, st.cversion), (5, 7))
        # consecutive within one multi
        res = self.assertOk(self.c.multi([
            (z.OP_CREATE, z.body_create(p + "/m-", flags=z.F_SEQUENTIAL)),
            (z.OP_CREATE, z.body_create(p + "/m-", flags=z.F_SEQUENTIAL))]))
        self.assertEqual([r.value for r in res], [p + "/m-0000000006", p + "/m-0000000007"])

    def test_create_flag_and_mode_checks(self):
        p = self.p
        self.assertErr(self.c.create(p + "/f7", flags=7), z.BADARGUMENTS)
        self.assertErr(self.c.create(p + "/ttl-op1", flags=z.F_TTL), z.BADARGUMENTS)
        self.assertErr(self.c.create(p + "/ttl-op15", flags=z.F_TTL_SEQUENTIAL, op=z.OP_CREATE2),
                       z.BADARGUMENTS)
        # createContainer with the sequential flag still gets the suffix
        path, st = self.assertOk(self.c.create(p + "/cs-", flags=z.F_SEQUENTIAL,
                                               op=z.OP_CREATE_CONTAINER))
        self.assertEqual(path, p + "/cs-0000000000")
        self.assertEqual(st.ephemeralOwner, 0)
        # container and TTL parents may have children; ephemerals may not
        self.assertOk(self.c.create(path + "/kid"))
        tpath, tst = self.assertOk(self.c.create_ttl(p + "/t", 100000))
        self.assertEqual(tst.ephemeralOwner, 0)
        self.assertOk(self.c.create(tpath + "/kid"))
        self.assertOk(self.c.create(p + "/e", flags=z.F_EPHEMERAL))
        self.assertErr(self.c.create(p + "/e/kid"), z.NOCHILDRENFOREPHEMERALS)
        self.assertErr(self.c.create(p + "/e/kid", flags=z.F_EPHEMERAL), z.NOCHILDRENFOREPHEMERALS)

    def test_ttl_argument_checks(self):
        p = self.p
        self.assertErr(self.c.create_ttl(p + "/t0", 0), z.BADARGUMENTS)
        self.assertErr(self.c.create_ttl(p + "/t40", 1 << 40), z.BADARGUMENTS)
        self.assertErr(self.c.create_ttl(p + "/tn", -5), z.BADARGUMENTS)
        self.assertErr(self.c.create_ttl(p + "/tp", 5000, flags=z.F_PERSISTENT), z.BADARGUMENTS)
        path, st = self.assertOk(self.c.create_ttl(p + "/tmax", (1 << 40) - 1))
        self.assertEqual(st.ephemeralOwner, 0)
        path, st = self.assertOk(self.c.create_ttl(p + "/ts-", 100000, flags=z.F_TTL_SEQUENTIAL))
        self.assertEqual(path, p + "/ts-0000000001")

    def test_path_validation_on_create(self):
        p = self.p
        bad = [p + "/", p + "/.", p + "/..", "noslash", "",
               p + "/a\x01b", p + "/a\x1fb", p + "/a\x7fb", p + "/a\x9fb",
               p + "/\U0001F600", p + "/\ue000", p + "/\ufff0", p + "/a\x00b",
               (p + "/bad-utf8-\xff").encode("latin-1")]
        for path in bad:
            self.assertErr(self.c.create(path), z.BADARGUMENTS, "create %r" % (path,))
        # parent is looked up before full validation
        self.assertErr(self.c.create(p + "/missing/"), z.NONODE)
        self.assertErr(self.c.create(p + "//x"), z.NONODE)
        for ok in (p + "/..x", p + "/a.b", p + "/\u00e9t\u00e9", p + "/.x."):
            self.assertEqual(self.assertOk(self.c.create(ok)), ok)
        self.assertEqual(sorted(self.assertOk(self.c.get_children(p))),
                         sorted(["..x", "a.b", "\u00e9t\u00e9", ".x."]))

    def test_path_handling_of_other_ops(self):
        p = self.p
        self.assertErr(self.c.set_data(p + "/", b"x"), z.BADARGUMENTS)
        self.assertErr(self.c.set_data("rel", b"x"), z.BADARGUMENTS)
        self.assertErr(self.c.set_acl(p + "/", z.OPEN_ACL), z.BADARGUMENTS)
        self.assertErr(self.c.delete("noslash"), z.BADARGUMENTS)
        self.assertErr(self.c.delete(p + "\x00x"), z.BADARGUMENTS)
        self.assertErr(self.c.delete(p + "//x"), z.NONODE)
        self.assertErr(self.c.get_data(p + "/"), z.NONODE)
        self.assertErr(self.c.get_children(p + "/"), z.NONODE)
        self.assertErr(self.c.exists(p + "/"), z.NONODE)
        self.assertErr(self.c.exists(p + "\x00"), z.BADARGUMENTS)
        self.assertErr(self.c.get_data(None), z.MARSHALLINGERROR)
        # the connection is still usable after MARSHALLINGERROR
        self.assertOk(self.c.exists(p))

    def test_protected_system_nodes(self):
        for path in ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
            self.assertErr(self.c.delete(path), z.BADARGUMENTS, "delete %s" % path)
        self.assertErr(self.c.set_data("/zookeeper/config", b"x"), z.NOAUTH)
        acl, st = self.assertOk(self.c.get_acl("/zookeeper/config"))
        self.assertEqual(acl, [(1, "world", "anyone")])
        self.assertEqual(st.aversion, -1)
        acl, _ = self.assertOk(self.c.get_acl("/"))
        self.assertEqual(acl, [(31, "world", "anyone")])
        self.assertEqual(sorted(self.assertOk(self.c.get_children("/zookeeper"))),
                         ["config", "quota"])
        extra = "/zookeeper/it" + self.p.replace("/", "_")
        self.assertOk(self.c.create(extra))
        self.assertOk(self.c.delete(extra))

    def test_error_codes_and_check_order(self):
        p = self.p
        self.assertErr(self.c.create(p), z.NODEEXISTS)
        self.assertErr(self.c.create(p + "/no/child"), z.NONODE)
        self.assertOk(self.c.create(p + "/a"))
        self.assertOk(self.c.create(p + "/a/b"))
        # version is checked before emptiness
        self.assertErr(self.c.delete(p + "/a", version=5), z.BADVERSION)
        self.assertErr(self.c.delete(p + "/a"), z.NOTEMPTY)
        self.assertErr(self.c.delete(p + "/a", version=0), z.NOTEMPTY)
        self.assertErr(self.c.set_data(p + "/zz", b""), z.NONODE)
        self.assertErr(self.c.set_data(p + "/a", b"", version=1), z.BADVERSION)
        self.assertErr(self.c.get_children(p + "/zz"), z.NONODE)
        self.assertErr(self.c.get_acl(p + "/zz"), z.NONODE)
        self.assertErr(self.c.set_acl(p + "/zz", z.OPEN_ACL), z.NONODE)
        self.assertErr(self.c.get_all_children_number(p + "/zz"), z.NONODE)

    def test_invalid_acls(self):
        p = self.p
        cases = [[], None, [(31, "world", "x")], [(31, "auth", "")], [(31, "digest", "bob")],
                 [(31, "digest", "bob:")], [(31, "ip", "127.0.0.1/40")], [(31, "ip", "nonsense")],
                 [(31, "super", "")], [(31, "nosuchscheme", "x")]]
        for i, acl in enumerate(cases):
            self.assertErr(self.c.create("%s/n%d" % (p, i), acl=acl), z.INVALIDACL, "acl %r" % (acl,))
        self.assertErr(self.c.set_acl(p, []), z.INVALIDACL)
        # perms are not validated; duplicates are removed
        self.assertOk(self.c.create(p + "/odd", acl=[(999, "world", "anyone")]))
        self.assertEqual(self.assertOk(self.c.get_acl(p + "/odd"))[0], [(999, "world", "anyone")])
        self.assertOk(self.c.create(p + "/dup", acl=[(31, "world", "anyone")] * 2))
        self.assertEqual(self.assertOk(self.c.get_acl(p + "/dup"))[0], [(31, "world", "anyone")])

    def test_auth_scheme_expansion_and_masking(self):
        c = self.raw()
        self.assertOk(c.auth("digest", "bob:pw"))
        self.assertEqual(z.digest("bob", "pw"), "bob:ikIaKsbtGweaHnb/jKn7OHqbunM=")
        node = self.p + "/auth"
        self.assertOk(c.create(node, b"s", acl=[(31, "auth", ""), (1, "world", "anyone")]))
        acl, _ = self.assertOk(c.get_acl(node))
        self.assertEqual(acl, [(31, "digest", "bob:ikIaKsbtGweaHnb/jKn7OHqbunM="),
                               (1, "world", "anyone")])
        # without ADMIN the digest id is masked
        acl, _ = self.assertOk(self.c.get_acl(node))
        self.assertEqual(acl, [(31, "digest", "bob:x"), (1, "world", "anyone")])
        self.assertErr(self.c.set_data(node, b"no"), z.NOAUTH)
        self.assertEqual(self.assertOk(self.c.get_data(node))[0], b"s")

    def test_get_acl_needs_read_or_admin_and_masks_per_entry(self):
        p = self.p
        self.assertOk(self.c.create(p + "/adm", acl=[(z.PERM_ADMIN, "world", "anyone")]))
        acl, _ = self.assertOk(self.c.get_acl(p + "/adm"))
        self.assertEqual(acl, [(z.PERM_ADMIN, "world", "anyone")])
        self.assertErr(self.c.get_data(p + "/adm"), z.NOAUTH)
        self.assertOk(self.c.create(p + "/wo", acl=[(z.PERM_WRITE, "world", "anyone")]))
        self.assertErr(self.c.get_acl(p + "/wo"), z.NOAUTH)
        bob, carol = z.digest("bob", "pw"), z.digest("carol", "pw")
        self.assertOk(self.c.create(p + "/dg", acl=[(z.PERM_READ, "digest", bob),
                                                    (z.PERM_ADMIN, "digest", carol)]))
        self.assertErr(self.c.get_acl(p + "/dg"), z.NOAUTH)
        b = self.raw()
        self.assertOk(b.auth("digest", "bob:pw"))
        self.assertEqual(self.assertOk(b.get_acl(p + "/dg"))[0],
                         [(1, "digest", "bob:x"), (16, "digest", "carol:x")])
        cc = self.raw()
        self.assertOk(cc.auth("digest", "carol:pw"))
        self.assertEqual(self.assertOk(cc.get_acl(p + "/dg"))[0],
                         [(1, "digest", bob), (16, "digest", carol)])
        self.assertErr(cc.get_data(p + "/dg"), z.NOAUTH)
        self.assertOk(cc.set_acl(p + "/dg", z.OPEN_ACL))
        self.assertEqual(self.assertOk(self.c.get_data(p + "/dg"))[0], b"")

    def test_whoami(self):
        c = self.raw()
        self.assertEqual(self.assertOk(c.whoami()), [("ip", "127.0.0.1")])
        self.assertOk(c.auth("digest", "alice:secret"))
        self.assertEqual(sorted(self.assertOk(c.whoami())),
                         [("digest", "alice"), ("ip", "127.0.0.1")])
        self.assertOk(c.auth("digest", "alice:secret"))        # same id again: a set
        self.assertOk(c.auth("digest", "carol:pw"))
        self.assertEqual(sorted(self.assertOk(c.whoami())),
                         [("digest", "alice"), ("digest", "carol"), ("ip", "127.0.0.1")])

    def test_get_ephemerals(self):
        c = self.raw()
        p = self.p
        for n in ("e1", "e2", "e10"):
            self.assertOk(c.create(p + "/" + n, flags=z.F_EPHEMERAL))
        self.assertOk(self.c.create(p + "/mine", flags=z.F_EPHEMERAL))
        self.assertEqual(sorted(self.assertOk(c.get_ephemerals(p))),
                         [p + "/e1", p + "/e10", p + "/e2"])
        self.assertEqual(sorted(self.assertOk(c.get_ephemerals(p + "/e1"))),
                         [p + "/e1", p + "/e10"])
        self.assertEqual(sorted(self.assertOk(c.get_ephemerals("/"))),
                         [p + "/e1", p + "/e10", p + "/e2"])
        self.assertEqual(self.assertOk(c.get_ephemerals(p + "/zz")), [])
        self.assertEqual(self.assertOk(self.c.get_ephemerals(p)), [p + "/mine"])

    def test_get_all_children_number(self):
        p = self.p
        for sub in ("/a", "/a/b", "/a/b/c", "/d"):
            self.assertOk(self.c.create(p + sub))
        self.assertEqual(self.assertOk(self.c.get_all_children_number(p)), 4)
        self.assertEqual(self.assertOk(self.c.get_all_children_number(p + "/a")), 2)
        self.assertEqual(self.assertOk(self.c.get_all_children_number(p + "/d")), 0)

    def test_sync_echoes_path(self):
        rep = self.c.sync(self.p)
        self.assertEqual(self.assertOk(rep), self.p)
        self.assertEqual(self.assertOk(self.c.sync("/")), "/")

    def test_long_path(self):
        long_name = self.p + "/" + "n" * 10000
        self.assertEqual(self.assertOk(self.c.create(long_name, b"v")), long_name)
        self.assertEqual(self.assertOk(self.c.get_children(self.p)), ["n" * 10000])
        self.assertEqual(self.assertOk(self.c.get_data(long_name))[0], b"v")

    def test_large_data_accepted(self):
        big = bytes(range(256)) * 3900          # 998,400 bytes
        self.assertOk(self.c.create(self.p + "/big", big))
        data, st = self.assertOk(self.c.get_data(self.p + "/big"))
        self.assertEqual(st.dataLength, len(big))
        self.assertEqual(data, big)


# --------------------------------------------------------------------------
class MultiTests(Base):

    def test_multi_commit(self):
        p = self.p
        rep = self.c.multi([
            (z.OP_CREATE, z.body_create(p + "/a", b"1")),
            (z.OP_CREATE, z.body_create(p + "/a/b", b"2")),
            (z.OP_SET_DATA, z.body_set_data(p, b"new", 0)),
            (z.OP_CHECK, z.body_check(p, 1)),
            (z.OP_DELETE, z.body_delete(p + "/a/b", 0)),
        ])
        res = self.assertOk(rep)
        self.assertEqual([(r.type, r.err) for r in res],
                         [(1, 0), (1, 0), (5, 0), (13, 0), (2, 0)])
        self.assertEqual(res[0].value, p + "/a")
        self.assertEqual(res[1].value, p + "/a/b")
        self.assertEqual(res[2].value.version, 1)
        self.assertEqual(res[2].value.mzxid, rep.zxid)
        ast = self.assertOk(self.c.exists(p + "/a"))
        self.assertEqual((ast.czxid, ast.pzxid, ast.cversion, ast.numChildren),
                         (rep.zxid, rep.zxid, 2, 0))
        self.assertErr(self.c.exists(p + "/a/b"), z.NONODE)
        self.assertEqual(self.assertOk(self.c.get_data(p))[0], b"new")

    def test_multi_rollback_exact_bytes(self):
        p = self.p
        before = self.c.ping().zxid
        rep = self.c.multi([
            (z.OP_CREATE, z.body_create(p + "/m2")),
            (z.OP_CHECK, z.body_check(p, 99)),
            (z.OP_DELETE, z.body_delete(p)),
        ])
        self.assertEqual(rep.err, 0)
        self.assertEqual(rep.zxid, before + 1)
        self.assertEqual(rep.frame[16:], bytes.fromhex(
            "ffffffff" "00" "00000000" "00000000"
            "ffffffff" "00" "ffffff99" "ffffff99"
            "ffffffff" "00" "fffffffe" "fffffffe"
            "ffffffff" "01" "ffffffff"))
        self.assertErr(self.c.exists(p + "/m2"), z.NONODE)
        self.assertOk(self.c.exists(p))

    def test_multi_rollback_first_error_wins(self):
        p = self.p
        res = self.assertOk(self.c.multi([
            (z.OP_SET_DATA, z.body_set_data(p, b"x")),
            (z.OP_CREATE, z.body_create(p + "/x/y")),
            (z.OP_DELETE, z.body_delete(p + "/nope")),
        ]))
        self.assertEqual([(r.type, r.err, r.value) for r in res],
                         [(-1, 0, 0), (-1, z.NONODE, z.NONODE),
                          (-1, z.RUNTIMEINCONSISTENCY, z.RUNTIMEINCONSISTENCY)])
        self.assertEqual(self.assertOk(self.c.get_data(p))[0], b"base")

    def test_multi_ops_see_earlier_ops(self):
        p = self.p
        res = self.assertOk(self.c.multi([
            (z.OP_CREATE, z.body_create(p + "/m")),
            (z.OP_CREATE, z.body_create(p + "/m/x")),
            (z.OP_SET_DATA, z.body_set_data(p + "/m/x", b"v", 0)),
            (z.OP_CHECK, z.body_check(p + "/m/x", 1)),
        ]))
        self.assertEqual([r.err for r in res], [0, 0, 0, 0])

    def test_multi_failure_variants(self):
        p = self.p
        self.assertOk(self.c.create(p + "/full"))
        self.assertOk(self.c.create(p + "/full/kid"))
        cases = [
            ([(z.OP_CHECK, z.body_check(p + "/missing", -1))], [z.NONODE]),
            ([(z.OP_CREATE, z.body_create(p + "/ok")),
              (z.OP_DELETE, z.body_delete(p + "/full"))], [0, z.NOTEMPTY]),
            ([(z.OP_CREATE, z.body_create(p + "/eph", flags=z.F_EPHEMERAL)),
              (z.OP_CREATE, z.body_create(p + "/eph/kid"))], [0, z.NOCHILDRENFOREPHEMERALS]),
            ([(z.OP_CREATE, z.body_create(p + "/dup")),
              (z.OP_CREATE, z.body_create(p + "/dup")),
              (z.OP_SET_DATA, z.body_set_data(p, b"x"))], [0, z.NODEEXISTS, z.RUNTIMEINCONSISTENCY]),
            ([(z.OP_CREATE, z.body_create(p + "/")),
              (z.OP_DELETE, z.body_delete(p))], [z.BADARGUMENTS, z.RUNTIMEINCONSISTENCY]),
            ([(z.OP_CREATE, z.body_create(p + "/acl", acl=[]))], [z.INVALIDACL]),
        ]
        for ops, errs in cases:
            res = self.assertOk(self.c.multi(ops))
            self.assertEqual([(r.type, r.err, r.value) for r in res], [(-1, e, e) for e in errs],
                             "ops %r" % ([o for o, _ in ops],))
        self.assertEqual(sorted(self.assertOk(self.c.get_children(p))), ["full"])

    def test_multi_create_then_delete_same_node(self):
        p = self.p
        rep = self.c.multi([(z.OP_CREATE, z.body_create(p + "/tmp")),
                            (z.OP_DELETE, z.body_delete(p + "/tmp", 0))])
        self.assertEqual([(r.type, r.err) for r in self.assertOk(rep)], [(1, 0), (2, 0)])
        st = self.assertOk(self.c.exists(p))
        self.assertEqual((st.numChildren, st.cversion, st.pzxid), (0, 2, rep.zxid))
        self.assertEqual(self.assertOk(self.c.create(p + "/s-", flags=z.F_SEQUENTIAL)),
                         p + "/s-0000000001")

    def test_multi_events_in_op_order_before_reply(self):
        p = self.p
        self.assertOk(self.c.create(p + "/b"))
        self.assertOk(self.c.create(p + "/c"))
        w = self.raw()
        self.assertErr(w.exists(p + "/a", watch=True), z.NONODE)
        self.assertOk(w.get_data(p + "/b", watch=True))
        self.assertOk(w.get_data(p + "/c", watch=True))
        self.assertOk(w.get_children(p, watch=True))
        self.assertOk(self.c.get_data(p + "/b", watch=True))
        rep = self.c.multi([(z.OP_CREATE, z.body_create(p + "/a")),
                            (z.OP_SET_DATA, z.body_set_data(p + "/b", b"1")),
                            (z.OP_DELETE, z.body_delete(p + "/c"))])
        self.assertOk(rep)
        # the writer's own watch event arrived before its reply
        self.assertEqual(evs(self.c.events), [ev(z.EV_DATA_CHANGED, p + "/b")])
        self.assertEqual(evs(w.events_before_ping()), [
            ev(z.EV_CREATED, p + "/a"), ev(z.EV_CHILDREN_CHANGED, p),
            ev(z.EV_DATA_CHANGED, p + "/b"), ev(z.EV_DELETED, p + "/c")])

    def test_multi_with_read_op_is_marshalling_error(self):
        p = self.p
        before = self.c.ping().zxid
        rep = self.c.multi([
            (z.OP_CREATE, z.body_create(p + "/r")),
            (z.OP_GET_DATA, z.body_path_watch(p)),
        ])
        self.assertErr(rep, z.MARSHALLINGERROR)
        self.assertGreaterEqual(rep.zxid, before)
        self.assertErr(self.c.exists(p + "/r"), z.NONODE)
        rep = self.c.multi_read([
            (z.OP_GET_DATA, z.body_path_watch(p)),
            (z.OP_CREATE, z.body_create(p + "/r")),
        ])
        self.assertErr(rep, z.MARSHALLINGERROR)
        self.assertErr(self.c.exists(p + "/r"), z.NONODE)

    def test_multi_read(self):
        p = self.p
        self.assertOk(self.c.create(p + "/k"))
        before = self.c.ping().zxid
        rep = self.c.multi_read([
            (z.OP_GET_DATA, z.body_path_watch(p, True)),
            (z.OP_GET_CHILDREN, z.body_path_watch(p + "/missing", True)),
            (z.OP_GET_CHILDREN, z.body_path_watch(p, True)),
        ])
        res = self.assertOk(rep)
        self.assertEqual(rep.zxid, before)
        self.assertEqual(res[0].type, 4)
        self.assertEqual(res[0].value[0], b"base")
        self.assertEqual(res[0].value[1], self.assertOk(self.c.exists(p)))
        self.assertEqual((res[1].type, res[1].err, res[1].value), (-1, z.NONODE, z.NONODE))
        self.assertEqual((res[2].type, res[2].err, res[2].value), (8, 0, ["k"]))
        # no watches were set by the multiRead
        self.assertOk(self.c.set_data(p, b"changed"))
        self.assertOk(self.c.create(p + "/k2"))
        self.assertEqual(self.c.events, [])
        self.assertEqual(self.c.ping().zxid, self.c.last_zxid)
        self.assertEqual(self.c.events, [])


# --------------------------------------------------------------------------
class WatchTests(Base):

    def test_exists_on_missing_node_sets_watch(self):
        n = self.p + "/later"
        self.assertErr(self.c.exists(n, watch=True), z.NONODE)
        self.assertOk(self.c.create(n))
        self.assertEqual(evs(self.c.events), [ev(z.EV_CREATED, n)])

    def test_failed_get_data_and_get_children_set_no_watch(self):
        n = self.p + "/later"
        self.assertErr(self.c.get_data(n, watch=True), z.NONODE)
        self.assertErr(self.c.get_children(n, watch=True), z.NONODE)
        self.assertOk(self.c.create(n))
        self.assertOk(self.c.create(n + "/kid"))
        self.assertOk(self.c.set_data(n, b"x"))
        self.assertEqual(self.c.events_before_ping(), [])

    def test_notification_is_sent_before_the_write_reply(self):
        self.assertOk(self.c.get_data(self.p, watch=True))
        xid = self.c.next_xid()
        self.c.send(z.request(xid, z.OP_SET_DATA, z.body_set_data(self.p, b"v")))
        first = self.c.recv_frame()
        hdr = z.R(first)
        self.assertEqual(hdr.int(), -1, "first frame must be the notification")
        notif_zxid = hdr.long()
        self.assertEqual(hdr.int(), 0)
        self.assertEqual((hdr.int(), hdr.int(), hdr.ustring()), (z.EV_DATA_CHANGED, 3, self.p))
        rep = self.c.read_reply(z.p_stat)
        self.assertEqual((rep.xid, rep.err), (xid, 0))
        # 3.8 sends -1, 3.9 sends the txn zxid
        self.assertIn(notif_zxid, (-1, rep.zxid))

    def test_one_event_per_connection_per_trigger(self):
        w = self.raw()
        self.assertOk(w.get_data(self.p, watch=True))
        self.assertOk(w.get_data(self.p, watch=True))
        self.assertOk(w.exists(self.p, watch=True))
        self.assertOk(self.c.set_data(self.p, b"1"))
        self.assertEqual(evs(w.events_before_ping()), [ev(z.EV_DATA_CHANGED, self.p)])
        # one-shot: the next change sends nothing
        self.assertOk(self.c.set_data(self.p, b"2"))
        self.assertEqual(w.events_before_ping(), [])

    def test_data_and_child_watch_on_deleted_node_give_one_node_deleted(self):
        n = self.p + "/n"
        self.assertOk(self.c.create(n))
        w = self.raw()
        self.assertOk(w.get_data(n, watch=True))
        self.assertOk(w.get_children(n, watch=True))
        w2 = self.raw()
        self.assertOk(w2.get_children(n, watch=True))
        wp = self.raw()
        self.assertOk(wp.get_children(self.p, watch=True))
        self.assertOk(self.c.delete(n))
        self.assertEqual(evs(w.events_before_ping()), [ev(z.EV_DELETED, n)])
        self.assertEqual(evs(w2.events_before_ping()), [ev(z.EV_DELETED, n)])
        self.assertEqual(evs(wp.events_before_ping()), [ev(z.EV_CHILDREN_CHANGED, self.p)])

    def test_child_watch_fires_on_child_create_and_root_is_slash(self):
        w = self.raw()
        self.assertOk(w.get_children(self.p, watch=True))
        self.assertOk(w.get_children("/", watch=True))
        self.assertOk(self.c.create(self.p + "/kid"))
        self.assertEqual(evs(w.events_before_ping()), [ev(z.EV_CHILDREN_CHANGED, self.p)])
        top = self.unique("rootchild")
        self.assertOk(self.c.create(top))
        self.addCleanup(self.c.delete, top)
        self.assertEqual(evs(w.events_before_ping()), [ev(z.EV_CHILDREN_CHANGED, "/")])

    def test_create_fires_node_created_then_parent_children_changed(self):
        n = self.p + "/new"
        w = self.raw()
        self.assertErr(w.exists(n, watch=True), z.NONODE)
        self.assertOk(w.get_children(self.p, watch=True))
        self.assertOk(self.c.create(n))
        self.assertEqual(evs(w.events_before_ping()),
                         [ev(z.EV_CREATED, n), ev(z.EV_CHILDREN_CHANGED, self.p)])

    def test_persistent_watch(self):
        n = self.p + "/pw"
        w = self.raw()
        rep = w.add_watch(n, z.ADDWATCH_PERSISTENT)
        self.assertEqual(rep.err, 0)
        self.assertEqual(rep.frame[16:], b"\0\0\0\0", "addWatch reply body is ErrorResponse{0}")
        self.assertEqual(len(rep.frame), 20)
        self.assertOk(self.c.create(n))
        self.assertOk(self.c.set_data(n, b"1"))
        self.assertOk(self.c.create(n + "/c"))
        self.assertOk(self.c.set_data(n + "/c", b"x"))
        self.assertOk(self.c.delete(n + "/c"))
        self.assertOk(self.c.delete(n))
        self.assertOk(self.c.create(n))
        self.assertOk(self.c.set_data(n, b"2"))
        self.assertEqual(evs(w.events_before_ping()), [
            ev(z.EV_CREATED, n), ev(z.EV_DATA_CHANGED, n), ev(z.EV_CHILDREN_CHANGED, n),
            ev(z.EV_CHILDREN_CHANGED, n), ev(z.EV_DELETED, n), ev(z.EV_CREATED, n),
            ev(z.EV_DATA_CHANGED, n)])

    def test_persistent_recursive_watch(self):
        n = self.p + "/rw"
        w = self.raw()
        rep = w.add_watch(n, z.ADDWATCH_PERSISTENT_RECURSIVE)
        self.assertEqual((rep.err, rep.frame[16:]), (0, b"\0\0\0\0"))
        self.assertOk(self.c.create(n))
        self.assertOk(self.c.create(n + "/a"))
        self.assertOk(self.c.create(n + "/a/b"))
        self.assertOk(self.c.set_data(n + "/a/b", b"x"))
        self.assertOk(self.c.delete(n + "/a/b"))
        self.assertOk(self.c.set_data(self.p, b"parent-not-watched"))
        self.assertOk(self.c.create(self.p + "/rwx"))          # sibling with common prefix
        self.assertEqual(evs(w.events_before_ping()), [
            ev(z.EV_CREATED, n), ev(z.EV_CREATED, n + "/a"), ev(z.EV_CREATED, n + "/a/b"),
            ev(z.EV_DATA_CHANGED, n + "/a/b"), ev(z.EV_DELETED, n + "/a/b")])

    def test_recursive_and_standard_watch_give_one_event(self):
        n = self.p + "/a"
        self.assertOk(self.c.create(n))
        w = self.raw()
        self.assertOk(w.add_watch(self.p, z.ADDWATCH_PERSISTENT_RECURSIVE))
        self.assertOk(w.get_data(n, watch=True))
        self.assertOk(self.c.set_data(n, b"1"))
        self.assertEqual(evs(w.events_before_ping()), [ev(z.EV_DATA_CHANGED, n)])

    def test_add_watch_bad_mode_is_marshalling_error(self):
        rep = self.c.add_watch(self.p, 7)
        self.assertErr(rep, z.MARSHALLINGERROR)
        self.assertOk(self.c.exists(self.p))

    def test_check_and_remove_watches(self):
        p = self.p
        self.assertErr(self.c.check_watches(p, z.WT_ANY), z.NOWATCHER)
        self.assertErr(self.c.remove_watches(p, z.WT_ANY), z.NOWATCHER)
        self.assertOk(self.c.get_data(p, watch=True))
        self.assertOk(self.c.check_watches(p, z.WT_DATA))
        self.assertOk(self.c.check_watches(p, z.WT_DATA))          # check does not remove
        self.assertErr(self.c.check_watches(p, z.WT_CHILDREN), z.NOWATCHER)
        self.assertOk(self.c.check_watches(p, z.WT_ANY))
        self.assertErr(self.c.remove_watches(p, z.WT_CHILDREN), z.NOWATCHER)
        self.assertOk(self.c.remove_watches(p, z.WT_DATA))
        self.assertErr(self.c.check_watches(p, z.WT_DATA), z.NOWATCHER)
        other = self.raw()
        self.assertOk(other.set_data(p, b"1"))
        self.assertEqual(self.c.events_before_ping(), [])
        # child watch; Any removes both tables
        self.assertOk(self.c.get_children(p, watch=True))
        self.assertOk(self.c.exists(p, watch=True))
        self.assertOk(self.c.check_watches(p, z.WT_CHILDREN))
        self.assertOk(self.c.remove_watches(p, z.WT_ANY))
        self.assertErr(self.c.check_watches(p, z.WT_ANY), z.NOWATCHER)
        self.assertOk(other.create(p + "/k"))
        self.assertOk(other.set_data(p, b"2"))
        self.assertEqual(self.c.events_before_ping(), [])
        # removeWatches only touches this connection's watches
        self.assertOk(other.get_data(p, watch=True))
        self.assertErr(self.c.remove_watches(p, z.WT_DATA), z.NOWATCHER)
        self.assertOk(self.c.set_data(p, b"3"))
        self.assertEqual(evs(other.events_before_ping()), [ev(z.EV_DATA_CHANGED, p)])
        # (not asserted: checkWatches for a watch held only by *another*
        # connection -- ZooKeeper 3.8.0 answers OK there, the reference says
        # NOWATCHER.)

    def test_remove_watches_any_removes_persistent_watches(self):
        p = self.p
        w = self.raw()
        self.assertOk(w.add_watch(p + "/x", z.ADDWATCH_PERSISTENT))
        self.assertOk(w.add_watch(p, z.ADDWATCH_PERSISTENT_RECURSIVE))
        self.assertOk(w.check_watches(p + "/x", z.WT_ANY))
        self.assertOk(w.check_watches(p, z.WT_ANY))
        self.assertOk(w.remove_watches(p + "/x", z.WT_ANY))
        self.assertOk(w.remove_watches(p, z.WT_ANY))
        self.assertErr(w.check_watches(p, z.WT_ANY), z.NOWATCHER)
        self.assertOk(self.c.create(p + "/x"))
        self.assertOk(self.c.set_data(p, b"1"))
        self.assertEqual(w.events_before_ping(), [])

    def test_watches_die_with_the_connection(self):
        w = self.raw()
        self.assertOk(w.get_data(self.p, watch=True))
        sid, pw = w.session_id, w.passwd
        w.close()
        w2 = self.conn()
        resp = w2.handshake(timeout_ms=30000, session_id=sid, passwd=pw)
        self.addCleanup(harness._close_quietly, w2)
        self.assertEqual(resp.session_id, sid)
        self.assertOk(self.c.set_data(self.p, b"x"))
        self.assertEqual(w2.events_before_ping(), [])

    def _setwatches_fixture(self):
        p = self.p
        paths = dict((k, "%s/%s" % (p, k)) for k in "abcdef")
        for k in "bcde":
            self.assertOk(self.c.create(paths[k]))
        return paths

    def test_set_watches_after_reconnect(self):
        paths = self._setwatches_fixture()
        a, b, cc, d, e, f = (paths[k] for k in "abcdef")
        w = self.raw()
        rel = w.ping().zxid
        sid, pw = w.session_id, w.passwd
        w.close()
        # changes while the client is away
        self.assertOk(self.c.create(a))                 # exist watch -> NodeCreated
        self.assertOk(self.c.set_data(b, b"x"))         # data watch -> NodeDataChanged
        self.assertOk(self.c.delete(cc))                # data + child watch -> 2x NodeDeleted
        self.assertOk(self.c.create(d + "/kid"))        # child watch -> NodeChildrenChanged
        w2 = self.conn()
        resp = w2.handshake(timeout_ms=30000, session_id=sid, passwd=pw, last_zxid=rel)
        self.addCleanup(harness._close_quietly, w2)
        self.assertEqual(resp.session_id, sid)
        rep = w2.set_watches(rel, data=[b, cc, e], exist=[a, f], child=[d, cc])
        self.assertEqual((rep.err, len(rep.frame)), (0, 16))
        self.assertEqual(evs(w2.events), [
            ev(z.EV_DATA_CHANGED, b), ev(z.EV_DELETED, cc), ev(z.EV_CREATED, a),
            ev(z.EV_CHILDREN_CHANGED, d), ev(z.EV_DELETED, cc)])
        w2.events = []
        # unchanged paths were registered; answered ones were not
        self.assertOk(self.c.set_data(e, b"1"))
        self.assertOk(self.c.create(f))
        self.assertOk(self.c.set_data(b, b"again"))
        self.assertOk(self.c.create(d + "/kid2"))
        self.assertOk(self.c.create(a + "/kid"))
        self.assertEqual(evs(w2.events_before_ping()),
                         [ev(z.EV_DATA_CHANGED, e), ev(z.EV_CREATED, f)])

    def test_set_watches_registers_unchanged_child_watch(self):
        n = self.p + "/kids"
        self.assertOk(self.c.create(n))
        w = self.raw()
        rel = w.ping().zxid
        self.assertOk(self.c.set_data(n, b"data change is not a child change"))
        rep = w.set_watches(rel, child=[n])
        self.assertEqual(rep.err, 0)
        self.assertEqual(w.events, [])
        self.assertOk(self.c.create(n + "/k"))
        self.assertEqual(evs(w.events_before_ping()), [ev(z.EV_CHILDREN_CHANGED, n)])

    def test_set_watches_with_c_client_xid(self):
        n = self.p + "/cx"
        self.assertOk(self.c.create(n))
        w = self.raw()
        rel = w.ping().zxid
        rep = w.set_watches(rel, data=[n], xid=z.XID_SET_WATCHES)
        self.assertEqual((rep.xid, rep.err), (z.XID_SET_WATCHES, 0))
        self.assertOk(self.c.set_data(n, b"v"))
        self.assertEqual(evs(w.events_before_ping()), [ev(z.EV_DATA_CHANGED, n)])

    def test_set_watches2_registers_persistent_watches(self):
        p = self.p
        w = self.raw()
        rel = w.ping().zxid
        rep = w.set_watches2(rel, persistent=[p + "/pp"], recursive=[p + "/rr"])
        self.assertEqual((rep.err, len(rep.frame)), (0, 16))
        self.assertEqual(w.events, [])
        self.assertOk(self.c.create(p + "/pp"))
        self.assertOk(self.c.create(p + "/pp/k"))
        self.assertOk(self.c.create(p + "/rr"))
        self.assertOk(self.c.create(p + "/rr/k"))
        self.assertOk(self.c.set_data(p + "/rr/k", b"1"))
        self.assertEqual(evs(w.events_before_ping()), [
            ev(z.EV_CREATED, p + "/pp"), ev(z.EV_CHILDREN_CHANGED, p + "/pp"),
            ev(z.EV_CREATED, p + "/rr"), ev(z.EV_CREATED, p + "/rr/k"),
            ev(z.EV_DATA_CHANGED, p + "/rr/k")])


# --------------------------------------------------------------------------
class ReaperTests(Base):

    def test_container_reaped_after_last_child_goes(self):
        p = self.p
        used, unused = p + "/used", p + "/unused"
        self.assertOk(self.c.create_container(used))
        self.assertOk(self.c.create_container(unused))
        self.assertOk(self.c.create(used + "/kid"))
        w = self.raw()
        self.assertOk(w.exists(used, watch=True))
        self.assertOk(self.c.delete(used + "/kid"))
        t0 = time.monotonic()
        e = w.wait_event(timeout=10)
        self.assertEqual((e.type, e.state, e.path), ev(z.EV_DELETED, used))
        self.assertLess(time.monotonic() - t0, 8.0)
        self.assertErr(self.c.exists(used), z.NONODE)
        # a container that never had a child is left alone
        self.assertOk(self.c.exists(unused))
        st = self.assertOk(self.c.exists(p))
        self.assertEqual(st.numChildren, 1)

    def test_ttl_node_reaped_when_expired_and_childless(self):
        p = self.p
        t1, t2 = p + "/t1", p + "/t2"
        self.assertOk(self.c.create_ttl(t1, 200))
        self.assertOk(self.c.create_ttl(t2, 200))
        self.assertOk(self.c.create(t2 + "/kid"))
        w = self.raw()
        self.assertOk(w.exists(t1, watch=True))
        e = w.wait_event(timeout=10)
        self.assertEqual((e.type, e.state, e.path), ev(z.EV_DELETED, t1))
        self.assertErr(self.c.exists(t1), z.NONODE)
        self.assertOk(self.c.exists(t2))             # has a child: kept
        self.assertOk(w.exists(t2, watch=True))
        self.assertOk(self.c.delete(t2 + "/kid"))
        e = w.wait_event(timeout=10)
        self.assertEqual((e.type, e.state, e.path), ev(z.EV_DELETED, t2))

    def test_ephemerals_removed_on_session_expiry(self):
        p = self.p
        owner = self.raw(timeout_ms=4000)
        keeper = self.raw(timeout_ms=4000)      # same timeout, but keeps pinging
        self.assertEqual((owner.timeout, keeper.timeout), (4000, 4000))
        eph, kept = p + "/eph", p + "/kept"
        self.assertOk(owner.create(eph, b"x", flags=z.F_EPHEMERAL))
        self.assertOk(keeper.create(kept, b"k", flags=z.F_EPHEMERAL))
        w = self.raw()
        self.assertOk(w.exists(eph, watch=True))
        sid, pw = owner.session_id, owner.passwd
        owner.abort()                         # no closeSession: the session must expire
        t0 = time.monotonic()
        self.assertOk(w.exists(eph))          # still there right after the disconnect
        e = None
        while e is None:
            self.assertLess(time.monotonic() - t0, 15.0, "ephemeral not removed within 15s")
            try:
                e = w.wait_event(timeout=1.0)
            except TimeoutError:
                self.assertEqual(keeper.ping().err, 0)
        elapsed = time.monotonic() - t0
        self.assertEqual((e.type, e.state, e.path), ev(z.EV_DELETED, eph))
        self.assertGreater(elapsed, 2.0, "ephemeral removed too early (%.2fs)" % elapsed)
        # timeout 4000 ms, tick 2000 ms: expiry within timeout + 2 ticks (+ slack)
        self.assertLess(elapsed, 10.0, "ephemeral removed too late (%.2fs)" % elapsed)
        self.assertErr(w.exists(eph), z.NONODE)
        # the pinging session is alive and still owns its ephemeral
        self.assertEqual(self.assertOk(w.exists(kept)).ephemeralOwner, keeper.session_id)
        self.assertEqual(keeper.ping().err, 0)
        c2 = self.conn()
        resp = c2.handshake(timeout_ms=4000, session_id=sid, passwd=pw)
        self.assertEqual((resp.timeout, resp.session_id, resp.passwd), (0, 0, b"\0" * 16))
        self.assertEqual(c2.read_until_close(10), b"")

    def test_idle_session_connection_is_closed_on_expiry(self):
        c = self.raw(timeout_ms=4000)
        t0 = time.monotonic()
        self.assertEqual(c.read_until_close(15), b"")
        elapsed = time.monotonic() - t0
        self.assertGreater(elapsed, 3.0)
        self.assertLess(elapsed, 10.0)


# --------------------------------------------------------------------------
class FramingTests(Base):

    def test_frame_larger_than_maxbuffer_closes_connection(self):
        c = self.raw()
        c.send(struct.pack(">i", z.MAX_BUFFER + 1) + struct.pack(">ii", 1, z.OP_EXISTS) + b"\0" * 64)
        self.assertEqual(c.read_until_close(10), b"")

    def test_negative_frame_length_closes_connection(self):
        c = self.raw()
        c.send(struct.pack(">i", -5) + b"\0" * 16)
        self.assertEqual(c.read_until_close(10), b"")

    def test_first_frame_too_large_closes_connection(self):
        c = self.conn()
        c.send(b"abcd" + b"\0" * 16)
        self.assertEqual(c.read_until_close(10), b"")

    def test_malformed_body_gives_marshalling_error_and_connection_stays(self):
        # getData whose path length claims 100 bytes but only 3 follow
        body = struct.pack(">i", 100) + b"/ab"
        rep = self.c.call(z.OP_GET_DATA, body)
        self.assertErr(rep, z.MARSHALLINGERROR)
        # setData missing its version
        rep = self.c.call(z.OP_SET_DATA, z.W().ustring(self.p).buffer(b"x").bytes())
        self.assertErr(rep, z.MARSHALLINGERROR)
        self.assertEqual(self.assertOk(self.c.get_data(self.p))[0], b"base")
        self.assertEqual(self.c.ping().err, 0)

    def test_max_client_connections_per_ip(self):
        # maxClientCnxns defaults to 60 per client address; this module's
        # only other open connection is self.c.
        conns = [self.raw() for _ in range(59)]
        self.assertEqual(len(set(c.session_id for c in conns + [self.c])), 60)
        self.assertEqual(_refused_bytes(self), b"", "61st connection must be closed without data")
        # once one closes, a new connection is accepted again
        conns[0].close_session()
        self.wait_for(lambda: _handshake_ok(self), timeout=10, msg="connection accepted again")

    def test_split_frames_are_reassembled(self):
        data = z.request(self.c.next_xid(), z.OP_GET_DATA, z.body_path_watch(self.p))
        for i in range(len(data)):
            self.c.send(data[i:i + 1])
        rep = self.c.read_reply(z.p_data_stat)
        self.assertEqual((rep.err, rep.value[0]), (0, b"base"))

    def test_many_children(self):
        p = self.p
        reqs = [z.request(5000 + i, z.OP_CREATE, z.body_create("%s/c%04d" % (p, i), b"x"))
                for i in range(1000)]
        self.c.send(b"".join(reqs))
        for i in range(1000):
            rep = self.c.read_reply()
            self.assertEqual((rep.xid, rep.err), (5000 + i, 0))
        kids, st = self.assertOk(self.c.get_children2(p))
        self.assertEqual(sorted(kids), ["c%04d" % i for i in range(1000)])
        self.assertEqual((st.numChildren, st.cversion), (1000, 1000))
        self.assertEqual(self.assertOk(self.c.get_all_children_number(p)), 1000)

    def test_pipelined_replies_are_fifo(self):
        p = self.p
        reqs, expect = [], []
        xid = 1000
        for i in range(60):
            n = "%s/n%d" % (p, i)
            for op, body in ((z.OP_CREATE, z.body_create(n, b"v")),
                             (z.OP_GET_DATA, z.body_path_watch(n)),
                             (z.OP_SET_DATA, z.body_set_data(n, b"w", 0)),
                             (z.OP_EXISTS, z.body_path_watch(n)),
                             (z.OP_GET_CHILDREN, z.body_path_watch(p)),
                             (z.OP_CREATE, z.body_create(n, b"dup"))):
                xid += 1
                reqs.append(z.request(xid, op, body))
                expect.append((xid, op))
        self.c.send(b"".join(reqs))
        got = []
        last_zxid = 0
        for xid, op in expect:
            rep = self.c.read_reply()
            got.append(rep.xid)
            if rep.xid != xid:
                break
            want_err = z.NODEEXISTS if (op == z.OP_CREATE and expect.index((xid, op)) % 6 == 5) else 0
            self.assertEqual(rep.err, want_err, "xid %d op %d" % (xid, op))
            self.assertGreaterEqual(rep.zxid, last_zxid)
            last_zxid = rep.zxid
        self.assertEqual(got, [x for x, _ in expect])
        self.assertEqual(self.assertOk(self.c.exists(p)).numChildren, 60)


def _handshake_ok(test):
    try:
        c = test.conn()
        resp = c.handshake(timeout_ms=30000)
    except (z.Closed, OSError):
        return False
    test.addCleanup(harness._close_quietly, c)
    return resp.timeout > 0


def _refused_bytes(test):
    """Connect and send a ConnectRequest; return what the server sent before
    closing (the close may surface at connect, send or read time)."""
    try:
        c = test.conn()
        c.send(z.connect_request(30000))
        return c.read_until_close(10)
    except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
        return b""


# --------------------------------------------------------------------------
class FreshServerTests(harness.ServerTestCase):
    """Exact start-up state; uses its own brand-new server."""

    @classmethod
    def setUpClass(cls):
        cls.server = harness.start_server()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_fresh_server_state(self):
        self.assertEqual(self.server.four("hash"), b"")
        srvr = self.server.four("srvr").decode()
        self.assertIn("\nZxid: 0x0\n", srvr)
        self.assertIn("\nNode count: 5\n", srvr)
        mntr = dict(l.split("\t", 1) for l in self.server.four("mntr").decode().splitlines())
        self.assertEqual(mntr["zk_znode_count"], "5")
        self.assertEqual(mntr["zk_approximate_data_size"], "44")
        self.assertEqual(mntr["zk_ephemerals_count"], "0")
        self.assertEqual(mntr["zk_watch_count"], "0")
        c = self.raw()
        self.assertEqual(c.ping().zxid, 1, "createSession is the first transaction")
        self.assertEqual(c.get_all_children_number("/").value, 3)
        self.assertEqual(c.get_children("/").value, ["zookeeper"])
        data, st = c.get_data("/").value
        self.assertEqual(data, b"")
        self.assertEqual(st, z.Stat(0, 0, 0, 0, 0, -1, 0, 0, 0, 1, 0))
        data, st = c.get_data("/zookeeper").value
        self.assertEqual(st, z.Stat(0, 0, 0, 0, 0, -2, 0, 0, 0, 2, 0))
        self.assertEqual(c.get_data("/zookeeper/quota").value[1], z.Stat(*([0] * 11)))
        data, st = c.get_data("/zookeeper/config").value
        self.assertEqual(data, b"")
        self.assertEqual(st, z.Stat(0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0))
        self.assertEqual(c.get_acl("/zookeeper/config").value[0], [(1, "world", "anyone")])
        self.assertEqual(c.get_acl("/zookeeper").value[0], [(31, "world", "anyone")])
        # empty path is the root (Java alias)
        self.assertEqual(c.get_data("").value, (b"", z.Stat(0, 0, 0, 0, 0, -1, 0, 0, 0, 1, 0)))
        rep = c.create("/s-", flags=z.F_SEQUENTIAL)
        self.assertEqual((rep.err, rep.zxid, rep.value), (0, 2, "/s-0000000000"))
        st = c.exists("/").value
        self.assertEqual((st.cversion, st.numChildren, st.pzxid), (0, 2, 2))
        self.assertEqual(c.get_all_children_number("/").value, 4)
        srvr = self.server.four("srvr").decode()
        self.assertIn("\nZxid: 0x2\n", srvr)
        self.assertIn("\nNode count: 6\n", srvr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
