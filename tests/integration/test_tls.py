"""The TLS client port (corral's cnxn-tls, ZooKeeper's secureClientPort with Netty), whatever
CORRAL_LISTENER says: x509 identities and ACLs, refused certificates and plain clients, and a
certificate swapped on disk while clients stay connected.

The server asks for client certificates (client_auth "want", ssl.clientAuth=want); the
certificates come from harness.TlsFiles: "client" and "other" from the trusted CA, "rogue"
from one the server does not trust.
"""

import os
import signal
import socket
import ssl
import sys
import time
import unittest
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                      # noqa: E402
import zkwire as z                  # noqa: E402

from kazoo.client import KazooClient                      # noqa: E402
from kazoo.protocol.states import KazooState              # noqa: E402
from kazoo.security import ACL, Id                        # noqa: E402
from kazoo import exceptions as ke  # noqa: E402

SRV = harness.ModuleServer(listener="tls")


def setUpModule():
    # kazoo 2.8 builds its context from the deprecated ssl.PROTOCOL_SSLv23
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"kazoo\.")
    SRV.start()


def tearDownModule():
    SRV.stop()


def server_cn(server):
    """The CN of the certificate a new TLS connection to `server` is shown."""
    ctx = harness.tls_files().client_context("client")
    with socket.create_connection((server.host, server.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=server.host) as s:
            subject = dict(x[0] for x in s.getpeercert()["subject"])
            return subject["commonName"]


class TlsBase(harness.ServerTestCase):
    server = SRV

    def client(self, cert="client", server=None, **kw):
        """A kazoo client over TLS presenting the shared certificate `cert` (None: none)."""
        server = server or self.server
        kw.setdefault("timeout", 10.0)
        kw.setdefault("hosts", server.hostport)
        kw.update(server.kazoo_args(cert))
        c = KazooClient(**kw)
        c.start(timeout=15)
        self.addCleanup(self._stop_client, c)
        return c

    @staticmethod
    def _stop_client(c):
        try:
            c.stop()
        finally:
            c.close()

    def subject(self, name):
        return harness.tls_files().subject(name)


# --------------------------------------------------------------------------
class X509Tests(TlsBase):

    def test_subject_is_the_rfc2253_name_zookeeper_uses(self):
        self.assertEqual(self.subject("client"), "CN=it-client,OU=clients,O=corral")

    def test_x509_acl_admits_that_certificate_and_refuses_others(self):
        n = self.unique()
        me = Id("x509", self.subject("client"))
        owner = self.client("client")
        owner.create(n, b"secret", acl=[ACL(31, me)])
        self.assertEqual(owner.get(n)[0], b"secret")
        self.assertEqual(owner.get_acls(n)[0], [ACL(31, me)])
        # another connection with the same certificate is the same identity
        self.assertEqual(self.client("client").get(n)[0], b"secret")
        other = self.client("other")
        with self.assertRaises(ke.NoAuthError):
            other.get(n)
        with self.assertRaises(ke.NoAuthError):
            other.set(n, b"mine now")
        anonymous = self.client(None)
        with self.assertRaises(ke.NoAuthError):
            anonymous.get(n)
        # a digest identity on top changes nothing for the other client
        other.add_auth("digest", "bob:pw")
        with self.assertRaises(ke.NoAuthError):
            other.get(n)
        owner.set(n, b"still mine")
        owner.delete(n)

    def test_auth_scheme_expands_to_the_certificate_subject(self):
        n = self.unique()
        c = self.client("client")
        c.create(n, b"a", acl=[ACL(31, Id("auth", ""))])
        self.assertEqual(c.get_acls(n)[0], [ACL(31, Id("x509", self.subject("client")))])
        with self.assertRaises(ke.NoAuthError):
            self.client("other").get(n)
        # without a certificate (and no other auth) there is no one to expand "auth" to
        with self.assertRaises(ke.InvalidACLError):
            self.client(None).create(n + "-anon", acl=[ACL(31, Id("auth", ""))])

    def test_whoami_lists_the_certificate(self):
        c = self.server.conn("client")
        self.addCleanup(c.close)
        c.handshake(timeout_ms=10000)
        rep = c.whoami()
        self.assertEqual(rep.err, 0)
        self.assertEqual(sorted(rep.value),
                         [("ip", "127.0.0.1"), ("x509", self.subject("client"))])
        anon = self.server.conn(None)
        self.addCleanup(anon.close)
        anon.handshake(timeout_ms=10000)
        self.assertEqual(anon.whoami().value, [("ip", "127.0.0.1")])


# --------------------------------------------------------------------------
class RefusalTests(TlsBase):

    def refused(self, ctx):
        """True when the server turns the TLS client away before answering ruok."""
        try:
            with socket.create_connection((self.server.host, self.server.port),
                                          timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname=self.server.host) as s:
                    s.sendall(b"ruok")      # TLS 1.3: the verdict comes after our Finished
                    return s.recv(64) != b"imok"
        except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
            return True

    def test_a_certificate_from_an_unknown_ca_is_refused(self):
        self.assertTrue(self.refused(harness.tls_files().client_context("rogue")))
        self.assertFalse(self.refused(harness.tls_files().client_context("client")))
        if not harness.is_zookeeper():
            self.wait_for(lambda: "client certificate rejected" in self.server.log_text(),
                          msg="the handshake failure in the log")

    def test_a_plain_client_is_refused_and_others_carry_on(self):
        plain = z.Conn(self.server.host, self.server.port)
        self.addCleanup(plain.close)
        with self.assertRaises((z.Closed, ValueError, TimeoutError, OSError)):
            plain.handshake(timeout_ms=10000)
        self.assertEqual(self.server.four(b"ruok"), b"imok")

    def test_four_letter_words_over_tls(self):
        self.assertEqual(self.server.four(b"ruok"), b"imok")
        self.assertIn(b"Mode: standalone", self.server.four(b"srvr"))


# --------------------------------------------------------------------------
class ReloadTests(TlsBase):
    server = None

    def setUp(self):
        if harness.is_zookeeper():
            self.skipTest("ZooKeeper 3.8 reloads certificate files for quorum TLS only")
        self.server = harness.start_server(listener="tls")
        self.addCleanup(self.server.cleanup)

    def test_swapped_certificate_serves_new_connections_and_keeps_old_ones(self):
        srv = self.server
        states = []
        c = self.client("client", server=srv)
        c.add_listener(states.append)
        sid = c.client_id[0]
        n = c.create(self.unique(), b"1", ephemeral=True)
        self.assertEqual(server_cn(srv), "corral-it-server")

        srv.install_server_cert("server2")
        self.wait_for(lambda: server_cn(srv) == "corral-it-server-2", timeout=15,
                      msg="new connections to be shown the new certificate")
        self.assertIn("reloaded cert", srv.log_text())
        # the client connected before the swap kept its connection and its session
        c.set(n, b"2")
        self.assertEqual(c.get(n)[0], b"2")
        self.assertEqual(c.client_id[0], sid)
        self.assertNotIn(KazooState.SUSPENDED, states)
        # and a new one verifies the new certificate against the same CA
        fresh = self.client("client", server=srv)
        self.assertEqual(fresh.get(n)[0], b"2")
        self.assertEqual(fresh.exists(n).ephemeralOwner, sid)

    def test_a_broken_certificate_file_keeps_the_old_one(self):
        srv = self.server
        c = self.client("client", server=srv)
        with open(srv.tls_cert + ".new", "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64\n")
        os.replace(srv.tls_cert + ".new", srv.tls_cert)
        self.wait_for(lambda: "keeping the previous ones" in srv.log_text(), timeout=15,
                      msg="the failed reload in the log")
        self.assertEqual(server_cn(srv), "corral-it-server")
        self.assertIsNotNone(c.exists("/"))
        srv.install_server_cert("server2")
        self.wait_for(lambda: server_cn(srv) == "corral-it-server-2", timeout=15,
                      msg="the repaired files to load")


# --------------------------------------------------------------------------
class ShutdownTests(TlsBase):
    server = None

    def test_stopping_with_tls_clients_connected_exits_cleanly(self):
        srv = harness.start_server(listener="tls")
        self.addCleanup(srv.cleanup)
        c = self.client("client", server=srv)
        c.create(self.unique(), b"x" * 100000)
        silent = socket.create_connection((srv.host, srv.port))   # mid-handshake
        self.addCleanup(silent.close)
        time.sleep(0.2)
        # corral exits 0; the JVM answers SIGTERM with 128 + 15
        want = 143 if harness.is_zookeeper() else 0
        self.assertEqual(srv.kill(signal.SIGTERM), want, srv.log_text())


if __name__ == "__main__":
    unittest.main()
