"""SASL (op 102, DIGEST-MD5) against a server whose JAAS "Server" section names the users.

corral gets `sasl = { jaas_file = ...; super_user = "super"; }`; ZooKeeper gets the same file
as java.security.auth.login.config with SASLAuthenticationProvider and zookeeper.superUser
(harness.py, sasl_jaas=).  Three parts:

* the wire, with a DIGEST-MD5 client written here from RFC 2831 (hashlib's MD5): the
  challenge ZooKeeper sends, reply xid and zxid 0, rspauth, whoAmI, AUTHFAILED with a null
  token and a closed connection, the session surviving that;
* the official Java client (SaslClientCheck.java, with a client JAAS file and
  -Dzookeeper.sasl.client=true): login, whoAmI, sasl ACLs, anonymous refusal, super user,
  AuthFailed for a wrong password;
* corral only: a malformed JAAS file stops start-up naming its file and line.
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                      # noqa: E402
import zkwire as z                  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DIGEST_MODULE = "org.apache.zookeeper.server.auth.DigestLoginModule"
SERVER_JAAS = """// users for the SASL integration tests
Server {
    %s required
    user_bob="pw"
    user_super="adminsecret";
};
""" % DIGEST_MODULE
CLIENT_JAAS = "".join(
    '%s {\n    %s required username="%s" password="%s";\n};\n' % (section, DIGEST_MODULE, u, p)
    for section, u, p in [("Client", "bob", "pw"), ("ClientSuper", "super", "adminsecret"),
                          ("ClientWrong", "bob", "not-pw"),
                          ("ClientUnknown", "mallory", "nobody-has-this")])
REALM = "zk-sasl-md5"
DIGEST_URI = "zookeeper/zk-sasl-md5"

JARS = ["zookeeper.jar", "zookeeper-jute.jar", "slf4j-api.jar", "slf4j-simple.jar"]

SRV = harness.ModuleServer(sasl_jaas=SERVER_JAAS, sasl_super_user="super")


def setUpModule():
    SRV.start()


def tearDownModule():
    SRV.stop()


# ---------------------------------------------------------------- a DIGEST-MD5 client

def _directives(token):
    out = {}
    for m in re.finditer(r'([A-Za-z-]+)=("((?:[^"\\]|\\.)*)"|[^,]*)', token):
        out[m.group(1)] = m.group(3) if m.group(3) is not None else m.group(2)
    return out


def _md5(b):
    return hashlib.md5(b).digest()


def digest_response(challenge, user, password, cnonce="Hx3JxQ0aLqbk8w", uri=DIGEST_URI):
    """(token, expected rspauth) for a challenge, as RFC 2831 §2.1.2 computes them."""
    ch = _directives(challenge)
    realm, nonce = ch["realm"], ch["nonce"]
    a1 = _md5(("%s:%s:%s" % (user, realm, password)).encode("latin-1")) + \
        (":%s:%s" % (nonce, cnonce)).encode()

    def kd(a2):
        return hashlib.md5(("%s:%s:00000001:%s:auth:%s" % (
            _md5(a1).hex(), nonce, cnonce, _md5(a2.encode()).hex())).encode()).hexdigest()
    token = ('charset=utf-8,username="%s",realm="%s",nonce="%s",nc=00000001,cnonce="%s",'
             'digest-uri="%s",maxbuf=65536,response=%s,qop=auth'
             % (user, realm, nonce, cnonce, uri, kd("AUTHENTICATE:" + uri)))
    return token.encode(), "rspauth=" + kd(":" + uri)


def sasl(conn, token, xid=None):
    return conn.call(z.OP_SASL, z.W().buffer(token).bytes(), lambda r: r.buffer(), xid=xid)


class Base(harness.ServerTestCase):
    server = SRV

    def login(self, conn, user, password):
        """Runs the exchange; returns (challenge reply, final reply, expected rspauth)."""
        first = sasl(conn, b"")
        token, rspauth = digest_response(first.value.decode(), user, password)
        return first, sasl(conn, token), rspauth

    def assertAuthFailed(self, conn, rep):
        self.assertEqual((rep.err, rep.zxid), (z.AUTHFAILED, 0))
        self.assertEqual(rep.frame[16:], b"\xff\xff\xff\xff")     # SetSASLResponse{null}
        self.assertEqual(conn.read_until_close(10), b"")

    def mntr(self):
        out = self.server.four("mntr").decode()
        return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)


# ---------------------------------------------------------------- the wire

class WireTests(Base):

    def test_challenge_then_rspauth_then_identity(self):
        c = self.raw()
        first = sasl(c, b"", xid=41)
        self.assertEqual((first.xid, first.zxid, first.err), (41, 0, 0))
        ch = first.value.decode()
        d = _directives(ch)
        self.assertEqual(d["realm"], REALM)
        self.assertEqual(len(d["nonce"]), 40)
        self.assertEqual((d["charset"], d["algorithm"]), ("utf-8", "md5-sess"))
        self.assertEqual(ch, 'realm="%s",nonce="%s",charset=utf-8,algorithm=md5-sess'
                         % (REALM, d["nonce"]))
        token, rspauth = digest_response(ch, "bob", "pw")
        final = sasl(c, token, xid=42)
        self.assertEqual((final.xid, final.zxid, final.err), (42, 0, 0))
        self.assertEqual(final.value.decode(), rspauth)
        self.assertEqual(sorted(c.whoami().value), [("ip", "127.0.0.1"), ("sasl", "bob")])
        self.assertEqual(c.ping().err, 0)

    def test_the_nonce_is_fresh_each_time(self):
        a = _directives(sasl(self.raw(), b"").value.decode())["nonce"]
        b = _directives(sasl(self.raw(), b"").value.decode())["nonce"]
        self.assertNotEqual(a, b)

    def test_wrong_password_is_authfailed_and_closes(self):
        before = self.mntr().get("zk_auth_failed_count")
        c = self.raw()
        first, final, _ = self.login(c, "bob", "wrong")
        self.assertEqual(first.err, 0)
        self.assertAuthFailed(c, final)
        after = self.mntr().get("zk_auth_failed_count")
        if not harness.is_zookeeper():
            # ZooKeeper 3.8 counts only TLS certificate failures here; corral counts these too
            self.assertEqual(int(after), int(before) + 1)

    def test_unknown_user_is_authfailed(self):
        c = self.raw()
        _, final, _ = self.login(c, "mallory", "nobody-has-this")
        self.assertAuthFailed(c, final)

    def test_a_token_after_the_exchange_fails(self):
        c = self.raw()
        _, final, _ = self.login(c, "bob", "pw")
        self.assertEqual(final.err, 0)
        self.assertAuthFailed(c, sasl(c, b""))

    def test_the_session_outlives_a_failed_login(self):
        c = self.raw()
        sid, pw = c.session_id, c.passwd
        _, final, _ = self.login(c, "bob", "wrong")
        self.assertAuthFailed(c, final)
        again = z.Conn(self.server.host, self.server.port)
        self.addCleanup(again.close)
        resp = again.handshake(session_id=sid, passwd=pw)
        self.assertEqual(resp.session_id, sid)
        self.assertGreater(resp.timeout, 0)
        self.assertEqual(again.whoami().value, [("ip", "127.0.0.1")])
        again.close_session()

    def test_super_user_gets_super(self):
        c = self.raw()
        _, final, _ = self.login(c, "super", "adminsecret")
        self.assertEqual(final.err, 0)
        self.assertEqual(sorted(c.whoami().value),
                         [("ip", "127.0.0.1"), ("sasl", "super"), ("super", "")])

    def test_sasl_acl_admits_only_its_user(self):
        bob = self.raw()
        self.assertEqual(self.login(bob, "bob", "pw")[1].err, 0)
        p = self.unique()
        acl = [(z.PERM_ALL, "sasl", "bob")]
        self.assertEqual(bob.create(p, b"b", acl=acl).err, 0)
        self.addCleanup(lambda: bob.closed or bob.delete(p))
        self.assertEqual(bob.get_data(p).value[0], b"b")
        self.assertEqual(bob.get_acl(p).value[0], acl)
        anon = self.raw()
        self.assertEqual(anon.get_data(p).err, z.NOAUTH)
        self.assertEqual(anon.set_data(p, b"x").err, z.NOAUTH)
        # the auth scheme expands to the SASL id
        q = self.unique()
        self.assertEqual(bob.create(q, acl=[(z.PERM_ALL, "auth", "")]).err, 0)
        self.assertEqual(bob.get_acl(q).value[0], acl)
        self.assertEqual(bob.delete(q).err, 0)
        # ids the SASL provider accepts, and one it does not
        self.assertEqual(bob.create(q, acl=[(z.PERM_ALL, "sasl", "bob/host@EXAMPLE.COM")]).err,
                         0)
        self.assertEqual(bob.delete(q).err, 0)
        self.assertEqual(bob.create(q, acl=[(z.PERM_ALL, "sasl", "a@b@c")]).err, z.INVALIDACL)


# ---------------------------------------------------------------- the Java client

class JavaClientTests(Base):

    def test_java_client_sasl(self):
        why = harness.java_missing(JARS)
        if why:
            self.skipTest(why)
        harness.run_java_check(
            self, os.path.join(HERE, "SaslClientCheck.java"), JARS, self.server.hostport,
            properties=["-Djava.security.auth.login.config={dir}/client-jaas.conf",
                        "-Dzookeeper.sasl.client=true"],
            min_passed=23, files={"client-jaas.conf": CLIENT_JAAS})


# ---------------------------------------------------------------- corral's start-up check

class StartupTests(unittest.TestCase):

    def setUp(self):
        if harness.is_zookeeper():
            self.skipTest("corral's config check")
        self.tmp = tempfile.mkdtemp(prefix="corral-it-sasl-conf-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def check(self, jaas_text, extra=""):
        jaas = os.path.join(self.tmp, "jaas.conf")
        with open(jaas, "w") as f:
            f.write(jaas_text)
        conf = os.path.join(self.tmp, "corral.conf")
        with open(conf, "w") as f:
            f.write('listeners = ( { plugin = "cnxn-nio"; address = "127.0.0.1"; port = %d; } );\n'
                    'sasl = {\n  jaas_file = "%s";%s\n};\n' % (harness.free_port(), jaas, extra))
        r = subprocess.run([harness.corral_binary(), "--check", "--config", conf],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        return r, conf, jaas

    def test_a_good_file_passes_the_check(self):
        r, conf, _ = self.check(SERVER_JAAS)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_a_malformed_file_names_its_file_and_line(self):
        r, conf, jaas = self.check('Server {\n  %s required\n  user_bob "secret";\n};\n'
                                   % DIGEST_MODULE)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.strip(),
                         'corral-server: %s:3: sasl.jaas_file: %s:3: expected "=" after option '
                         'user_bob, found a quoted string' % (conf, jaas))
        self.assertNotIn("secret", r.stderr)

    def test_a_kerberos_section_is_refused(self):
        r, _, jaas = self.check('Server {\n  com.sun.security.auth.module.Krb5LoginModule '
                                'required useKeyTab=true;\n};\n')
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:2: section \"Server\": login module "
                      "com.sun.security.auth.module.Krb5LoginModule is not supported" % jaas,
                      r.stderr)

    def test_a_missing_section_is_named(self):
        r, _, jaas = self.check(SERVER_JAAS, ' section = "ZkServer";')
        self.assertEqual(r.returncode, 1)
        self.assertIn('%s: no section "ZkServer" (the file has Server)' % jaas, r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
