"""Start/stop one server process for the integration tests.

Target selection: env CORRAL_TARGET = "corral" (default) or "zookeeper".
Listener: env CORRAL_LISTENER = "plain" (default) or "tls": the server then serves clients
over TLS only (corral's cnxn-tls, ZooKeeper's secureClientPort), with certificates made by
the openssl CLI; every helper here (four, raw, conn) and every KazooClient created without
use_ssl speaks TLS with the shared client certificate (see TlsFiles).

* corral:    binary from env CORRAL_SERVER (default: <repo>/build/corral-server),
             run as `$CORRAL_SERVER --config FILE` with a libconfig file.
* zookeeper: Debian's ZooKeeper 3.8 jars, run as `java ... QuorumPeerMain zoo.cfg`
             (the JVM is our direct child, so the pid we signal is the JVM).

Each server gets a free loopback port (bind to port 0 to find one), its own
temporary directory (data dir, config, log) and is stopped by pid only:
SIGTERM, then SIGKILL after a timeout.  Nothing else is ever signalled.
"""

import atexit
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

import zkwire

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

TICK_TIME = 2000
CONTAINER_INTERVAL_MS = 1000
SUPER_USER = "super"
SUPER_PASSWORD = "test"
SUPER_DIGEST = zkwire.digest(SUPER_USER, SUPER_PASSWORD)   # super:D/InIHSb7yEEbrWz8b9l71RjZJU=

ZK_JARS = ["/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-simple.jar"]
ZK_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
# Jetty, which ZooKeeper's AdminServer runs on, finds the rest through zookeeper.jar's manifest.
ZK_ADMIN_JARS = ["/usr/share/java/servlet-api.jar"]
# Netty's TLS handler needs its codec module, which zookeeper.jar's manifest leaves out.
ZK_TLS_JARS = ["/usr/share/java/netty-codec.jar"]

_live = []          # servers started by this process and not yet stopped


def target():
    t = os.environ.get("CORRAL_TARGET", "corral").strip().lower()
    if t not in ("corral", "zookeeper"):
        raise RuntimeError("CORRAL_TARGET must be 'corral' or 'zookeeper', not %r" % t)
    return t


def is_zookeeper():
    return target() == "zookeeper"


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class ServerError(RuntimeError):
    pass


class Server(object):
    """One server process.  start() / stop() / restart(); data survives
    restart() (same data dir) but not a new Server()."""

    host = "127.0.0.1"

    def __init__(self, tick_time=TICK_TIME, container_interval_ms=CONTAINER_INTERVAL_MS,
                 super_digest=SUPER_DIGEST, extended_types=True, target_name=None,
                 data_dir=None, data_log_dir=None, snap_count=None, prealloc_kb=None,
                 force_sync=None, autopurge=None, extra_config=(), sasl_jaas=None,
                 sasl_super_user=None, admin=False,
                 listener=None):
        """Persistence options (None = the server's default), mapped to both targets:
        data_dir / data_log_dir: use these directories (e.g. shared by two servers; they
        are never removed by cleanup()); snap_count (corral snap_count,
        -Dzookeeper.snapCount); prealloc_kb (prealloc_kb, -Dzookeeper.preAllocSize);
        force_sync (force_sync, -Dzookeeper.forceSync); autopurge = (retain, hours)
        (autopurge group, autopurge.* in zoo.cfg); extra_config: more corral config lines.
        SASL: sasl_jaas is the text of a server JAAS file (a "Server" section), written to
        jaas.conf in the temp dir: corral's sasl group, or ZooKeeper's
        java.security.auth.login.config with the SASL auth provider; sasl_super_user
        (sasl.super_user, -Dzookeeper.superUser).
        admin: serve the admin server (HTTP) on 127.0.0.1:<admin_port>, a free port (corral's
        admin group, admin.* in zoo.cfg); off by default, as both would take port 8080."""
        self.target = target_name or target()
        self.tick_time = tick_time
        self.container_interval_ms = container_interval_ms
        self.super_digest = super_digest
        self.extended_types = extended_types
        self.snap_count = snap_count
        self.prealloc_kb = prealloc_kb
        self.force_sync = force_sync
        self.autopurge = autopurge
        self.extra_config = list(extra_config)
        # listener: "plain" or "tls" (None: env CORRAL_LISTENER); TLS files in <tmp>/tls
        self.listener = listener or listener_kind()
        self.tls_dir = None
        self.admin = admin
        self.admin_port = None
        self.tmp = tempfile.mkdtemp(prefix="corral-it-%s-" % self.target)
        if self.listener == "tls":
            self._tls_setup()
        self.jaas_path = None
        if sasl_jaas is not None:
            self.jaas_path = os.path.join(self.tmp, "jaas.conf")
            with open(self.jaas_path, "w") as f:
                f.write(sasl_jaas)
        self.sasl_super_user = sasl_super_user
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.data_log_dir = data_log_dir
        if data_log_dir:
            os.makedirs(data_log_dir, exist_ok=True)
        self.config_path = None
        self.log_path = os.path.join(self.tmp, "server.log")
        self.port = None
        self.proc = None
        self._logf = None
        self.crashed = False

    # ------------------------------------------------------------ properties
    @property
    def hostport(self):
        return "%s:%d" % (self.host, self.port)

    def admin_url(self, command=""):
        """http://127.0.0.1:<admin_port>/commands[/<command>] (needs admin=True)."""
        return "http://%s:%d/commands%s" % (self.host, self.admin_port,
                                              "/" + command if command else "")

    def log_text(self, limit=20000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return "(no server log)"
        text = data.decode("utf-8", "replace")
        if len(text) > limit:
            text = "...(truncated)...\n" + text[-limit:]
        return text

    # ------------------------------------------------------------ config
    def _write_corral_config(self):
        path = os.path.join(self.tmp, "corral.conf")
        lines = [
            'data_dir = "%s";' % self.data_dir,
            "tick_time_ms = %d;" % self.tick_time,
            'four_letter_words = "*";',
            "extended_types = %s;" % ("true" if self.extended_types else "false"),
            "container_check_interval_ms = %d;" % self.container_interval_ms,
        ]
        if self.data_log_dir:
            lines.append('data_log_dir = "%s";' % self.data_log_dir)
        if self.snap_count is not None:
            lines.append("snap_count = %d;" % self.snap_count)
        if self.prealloc_kb is not None:
            lines.append("prealloc_kb = %d;" % self.prealloc_kb)
        if self.force_sync is not None:
            lines.append("force_sync = %s;" % ("true" if self.force_sync else "false"))
        if self.autopurge is not None:
            lines.append("autopurge = { snap_retain_count = %d; purge_interval = %d; };"
                         % tuple(self.autopurge))
        if self.admin:
            lines.append('admin = { enabled = true; address = "127.0.0.1"; port = %d; };'
                         % self.admin_port)
        else:
            lines.append("admin = { enabled = false; };")
        lines += self.extra_config
        if self.jaas_path:
            lines.append('sasl = { jaas_file = "%s";%s };' % (
                self.jaas_path, ' super_user = "%s";' % self.sasl_super_user
                if self.sasl_super_user else ""))
        if self.super_digest:
            lines.append('super_digest = "%s";' % self.super_digest)
        if self.listener == "tls":
            lines.append('listeners = ( { name = "secure"; plugin = "cnxn-tls"; '
                         'address = "127.0.0.1"; port = %d; cert = "%s"; key = "%s"; '
                         'ca = "%s"; client_auth = "want"; reload_interval_ms = 200; } );'
                         % (self.port, self.tls_cert, self.tls_key, tls_files().path("ca")))
        else:
            lines.append('listeners = ( { name = "client"; plugin = "cnxn-nio"; '
                         'address = "127.0.0.1"; port = %d; } );' % self.port)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.config_path = path
        return path

    def _corral_cmd(self):
        return [corral_binary(), "--config", self._write_corral_config()], None

    def _zookeeper_cmd(self):
        conf_dir = os.path.join(self.tmp, "conf")
        os.makedirs(conf_dir, exist_ok=True)
        cfg = os.path.join(conf_dir, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write("tickTime=%d\n" % self.tick_time)
            f.write("dataDir=%s\n" % self.data_dir)
            if self.listener == "tls":
                f.write(self._zookeeper_tls_config())
            else:
                f.write("clientPort=%d\n" % self.port)
                f.write("clientPortAddress=127.0.0.1\n")
            f.write("4lw.commands.whitelist=*\n")
            f.write("extendedTypesEnabled=%s\n" % ("true" if self.extended_types else "false"))
            if self.admin:
                f.write("admin.enableServer=true\nadmin.serverAddress=127.0.0.1\n"
                        "admin.serverPort=%d\n" % self.admin_port)
            else:
                f.write("admin.enableServer=false\n")
            if self.data_log_dir:
                f.write("dataLogDir=%s\n" % self.data_log_dir)
            if self.autopurge is not None:
                f.write("autopurge.snapRetainCount=%d\nautopurge.purgeInterval=%d\n"
                        % tuple(self.autopurge))
        jars = ZK_JARS + (ZK_ADMIN_JARS if self.admin else [])
        jars += ZK_TLS_JARS if self.listener == "tls" else []
        for jar in jars:
            if not os.path.exists(jar):
                raise ServerError("ZooKeeper jar missing: %s (apt-get install zookeeper)" % jar)
        java = shutil.which("java") or "/usr/bin/java"
        cmd = [java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
               "-Dznode.container.checkIntervalMs=%d" % self.container_interval_ms,
               "-Dzookeeper.admin.enableServer=%s" % ("true" if self.admin else "false"),
               "-Dorg.slf4j.simpleLogger.defaultLogLevel=info"]
        if self.super_digest:
            cmd.append("-Dzookeeper.DigestAuthenticationProvider.superDigest=%s"
                       % self.super_digest)
        if self.jaas_path:
            cmd += ["-Djava.security.auth.login.config=%s" % self.jaas_path,
                    "-Dzookeeper.authProvider.1="
                    "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"]
            if self.sasl_super_user:
                cmd.append("-Dzookeeper.superUser=%s" % self.sasl_super_user)
        if self.snap_count is not None:
            cmd.append("-Dzookeeper.snapCount=%d" % self.snap_count)
        if self.prealloc_kb is not None:
            cmd.append("-Dzookeeper.preAllocSize=%d" % self.prealloc_kb)
        if self.force_sync is not None:
            cmd.append("-Dzookeeper.forceSync=%s" % ("yes" if self.force_sync else "no"))
        cmd += ["-cp", conf_dir + ":" + ":".join(jars), ZK_MAIN, cfg]
        return cmd, None

    # ------------------------------------------------------------ lifecycle
    def start(self, timeout=40.0):
        if self.proc is not None:
            raise ServerError("already running")
        last = None
        for _attempt in range(3):
            if self.port is None:
                self.port = free_port()
            if self.admin and self.admin_port is None:
                self.admin_port = free_port()
            try:
                self._spawn(timeout)
                return self
            except ServerError as e:
                last = e
                if self.proc is not None and self.proc.poll() is None:
                    self._kill()
                self.proc = None
                self.port = None          # maybe the port was taken: pick another
                self.admin_port = None
        raise last

    def _spawn(self, timeout):
        if self.target == "corral":
            cmd, env = self._corral_cmd()
        else:
            cmd, env = self._zookeeper_cmd()
        # setpriv execs the server in place (same pid) with a parent-death
        # signal, so the server cannot outlive this test process even if the
        # process is SIGKILLed (e.g. by a ctest time-out).
        setpriv = shutil.which("setpriv")
        if setpriv:
            cmd = [setpriv, "--pdeathsig", "KILL", "--"] + cmd
        self._logf = open(self.log_path, "ab")
        self._logf.write(("=== start: %s\n" % " ".join(cmd)).encode())
        self._logf.flush()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._logf,
                                     stderr=subprocess.STDOUT, cwd=self.tmp, env=env,
                                     close_fds=True)
        _live.append(self)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise ServerError("server exited with status %s during start-up; log:\n%s"
                                  % (self.proc.returncode, self.log_text()))
            if self.ready():
                return
            if time.monotonic() > deadline:
                raise ServerError("server did not answer ruok within %.0fs; log:\n%s"
                                  % (timeout, self.log_text()))
            time.sleep(0.05)

    def ready(self):
        """ruok answers imok, and srvr does not say the server is still
        starting (ZooKeeper answers ruok before it serves sessions)."""
        if not self.ruok():
            return False
        try:
            out = self.four(b"srvr", timeout=2.0)
        except (OSError, TimeoutError):
            return True
        return b"not currently serving" not in out

    def ruok(self):
        try:
            return self.four(b"ruok", timeout=2.0) == b"imok"
        except (OSError, TimeoutError):
            return False

    def _kill(self, timeout=10.0):
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            try:
                p.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    p.kill()
                except ProcessLookupError:
                    pass
                p.wait(timeout)

    def kill(self, sig=signal.SIGKILL, timeout=10.0):
        """Crash the server on purpose: send sig (default SIGKILL) to our pid and reap it.
        Unlike an unexpected exit this does not count as a crash; start() may follow."""
        p = self.proc
        if p is None:
            return None
        if p.poll() is None:
            try:
                p.send_signal(sig)
            except ProcessLookupError:
                pass
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait(timeout)
        if self in _live:
            _live.remove(self)
        self.proc = None
        if self._logf:
            self._logf.close()
            self._logf = None
        return rc

    def stop(self, timeout=10.0):
        if self.proc is not None and self.proc.poll() is not None:
            self.crashed = True           # it exited before we asked it to
        self._kill(timeout)
        if self in _live:
            _live.remove(self)
        self.proc = None
        if self._logf:
            self._logf.close()
            self._logf = None

    def restart(self, timeout=40.0):
        """Stop and start again on the same port with the same data dir."""
        port = self.port
        self.stop()
        self.port = port
        self.start(timeout)

    def cleanup(self):
        self.stop()
        if self.crashed:
            sys.stderr.write("harness: server exited unexpectedly; kept %s\n" % self.tmp)
            return
        if os.environ.get("CORRAL_KEEP_TMP"):
            return
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------ helpers
    def four(self, cmd, timeout=10.0):
        if self.listener == "tls":
            return tls_four_letter(self.host, self.port, cmd, self.ssl_context(), timeout)
        return zkwire.four_letter(self.host, self.port, cmd, timeout)

    def raw(self, timeout_ms=30000, **kw):
        if self.listener != "tls":
            return zkwire.connect(self.host, self.port, timeout_ms=timeout_ms, **kw)
        c = self.conn()                     # as zkwire.connect, over TLS
        resp = c.handshake(timeout_ms=timeout_ms, **kw)
        if resp.timeout <= 0:
            c.close()
            raise AssertionError("session refused: %r" % (resp,))
        return c

    def conn(self, client="client"):
        """A raw connection; over TLS it presents the shared certificate `client` (None:
        none)."""
        c = zkwire.Conn(self.host, self.port)
        if self.listener == "tls":
            try:
                c.sock = self.ssl_context(client).wrap_socket(c.sock, server_hostname=self.host)
            except BaseException:
                c.close()
                raise
        return c

    # ------------------------------------------------------------ TLS
    def _tls_setup(self):
        """This server's own copies of the shared server certificate and key, so that
        install_server_cert() changes this server only."""
        self.tls_dir = os.path.join(self.tmp, "tls")
        os.makedirs(self.tls_dir, exist_ok=True)
        self.tls_cert = os.path.join(self.tls_dir, "server.pem")
        self.tls_key = os.path.join(self.tls_dir, "server.key")
        self.tls_keystore = os.path.join(self.tls_dir, "keystore.pem")  # ZooKeeper: key+cert
        self.install_server_cert("server")

    def install_server_cert(self, name):
        """Puts the shared server certificate `name` ("server" or "server2") and its key in
        place of this server's files, each by an atomic rename, as a deployment tool would."""
        files = tls_files()
        with open(files.path(name)) as f:
            cert = f.read()
        with open(files.path(name, "key")) as f:
            key = f.read()
        for path, text in ((self.tls_cert, cert), (self.tls_key, key),
                           (self.tls_keystore, key + cert)):
            with open(path + ".new", "w") as f:
                f.write(text)
            os.replace(path + ".new", path)

    def _zookeeper_tls_config(self):
        """zoo.cfg lines for a TLS-only client port (Netty), as ZooKeeper's admin guide has
        them; ssl.* and authProvider.* become zookeeper.* system properties."""
        return ("secureClientPort=%d\nsecureClientPortAddress=127.0.0.1\n"
                "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n"
                "ssl.keyStore.location=%s\nssl.keyStore.type=PEM\n"
                "ssl.trustStore.location=%s\nssl.trustStore.type=PEM\n"
                "ssl.clientAuth=want\n"
                "authProvider.x509=org.apache.zookeeper.server.auth.X509AuthenticationProvider\n"
                % (self.port, self.tls_keystore, tls_files().path("ca")))

    def ssl_context(self, client="client"):
        return tls_files().client_context(client)

    def kazoo_args(self, client="client"):
        """KazooClient keyword arguments for this server's listener (empty when plain)."""
        return tls_files().kazoo_args(client) if self.listener == "tls" else {}


# ---------------------------------------------------------------- TLS
def listener_kind():
    """The client listener tests run against: env CORRAL_LISTENER = "plain" or "tls"."""
    kind = os.environ.get("CORRAL_LISTENER", "plain").strip().lower() or "plain"
    if kind not in ("plain", "tls"):
        raise RuntimeError("CORRAL_LISTENER must be 'plain' or 'tls', not %r" % kind)
    return kind


def is_tls():
    return listener_kind() == "tls"


class TlsFiles(object):
    """PEM files made with the openssl CLI in one directory: a CA ("ca"), two server
    certificates for 127.0.0.1 ("server", "server2"), two client certificates it signed
    ("client", "other") and one from a CA no server trusts ("rogue"). path(name) is the
    certificate, path(name, "key") its unencrypted key."""

    def __init__(self, directory):
        self.dir = directory
        self._serial = 1000
        self._ca("ca", "/O=corral/CN=corral it CA")
        self._ca("rogue-ca", "/O=elsewhere/CN=untrusted CA")
        self._leaf("server", "/O=corral/CN=corral-it-server", "ca", "serverAuth")
        self._leaf("server2", "/O=corral/CN=corral-it-server-2", "ca", "serverAuth")
        self._leaf("client", "/O=corral/OU=clients/CN=it-client", "ca", "clientAuth")
        self._leaf("other", "/O=corral/OU=clients/CN=it-other", "ca", "clientAuth")
        self._leaf("rogue", "/O=corral/OU=clients/CN=it-rogue", "rogue-ca", "clientAuth")

    def path(self, name, ext="pem"):
        return os.path.join(self.dir, "%s.%s" % (name, ext))

    def _openssl(self, *args):
        r = subprocess.run(["openssl"] + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise ServerError("openssl %s: %s" % (" ".join(args), r.stderr.decode()))
        return r.stdout.decode()

    def _ca(self, name, subject):
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-nodes", "-keyout", self.path(name, "key"), "-out", self.path(name),
                      "-days", "30", "-subj", subject)

    def _leaf(self, name, subject, ca, usage):
        ext = self.path(name, "ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=%s\n" % usage)
            if usage == "serverAuth":
                f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        self._openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-nodes", "-keyout", self.path(name, "key"), "-out", self.path(name, "csr"),
                      "-subj", subject)
        self._serial += 1
        self._openssl("x509", "-req", "-in", self.path(name, "csr"), "-CA", self.path(ca),
                      "-CAkey", self.path(ca, "key"), "-set_serial", str(self._serial),
                      "-days", "30", "-extfile", ext, "-out", self.path(name))

    def subject(self, name):
        """The certificate's subject in RFC 2253 form, as an x509 ACL id names it."""
        out = self._openssl("x509", "-in", self.path(name), "-noout", "-subject",
                            "-nameopt", "RFC2253")
        return out.strip().split("=", 1)[1]

    def client_context(self, client="client"):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)     # verifies the server and its name
        ctx.load_verify_locations(self.path("ca"))
        if client:
            ctx.load_cert_chain(self.path(client), self.path(client, "key"))
        return ctx

    def kazoo_args(self, client="client"):
        args = {"use_ssl": True, "ca": self.path("ca")}
        if client:
            args.update(certfile=self.path(client), keyfile=self.path(client, "key"))
        return args


_tls_files = []


def tls_files():
    """The process's TlsFiles, made on first use in a temp dir removed at exit."""
    if not _tls_files:
        d = tempfile.mkdtemp(prefix="corral-it-tls-")
        if not os.environ.get("CORRAL_KEEP_TMP"):
            atexit.register(shutil.rmtree, d, True)
        _tls_files.append(TlsFiles(d))
    return _tls_files[0]


def tls_four_letter(host, port, cmd, context, timeout=10.0):
    """zkwire.four_letter over TLS."""
    return zkwire.four_letter(host, port, cmd, timeout,
                              wrap=lambda sock: context.wrap_socket(sock, server_hostname=host))


def _kazoo_tls_by_default():
    """With CORRAL_LISTENER=tls, a KazooClient made without use_ssl uses TLS with the shared
    client certificate, so kazoo test modules run unchanged over TLS."""
    try:
        from kazoo.client import KazooClient
    except ImportError:
        return
    plain_init = KazooClient.__init__
    if getattr(plain_init, "corral_tls", False):
        return

    def init(self, *args, **kw):
        if "use_ssl" not in kw:
            kw.update(tls_files().kazoo_args("client"))
        plain_init(self, *args, **kw)
    init.corral_tls = True
    KazooClient.__init__ = init


if is_tls():
    _kazoo_tls_by_default()


def corral_binary():
    """Absolute path of corral-server (env CORRAL_SERVER, else <repo>/build/corral-server)."""
    binary = os.path.abspath(os.environ.get("CORRAL_SERVER")
                             or os.path.join(REPO, "build", "corral-server"))
    if not os.access(binary, os.X_OK):
        raise ServerError("corral server binary not found or not executable: %s "
                          "(set CORRAL_SERVER, or CORRAL_TARGET=zookeeper)" % binary)
    return binary


def start_server(**kw):
    """Create and start a Server; remove its temp dir if start-up fails."""
    srv = Server(**kw)
    try:
        return srv.start()
    except BaseException:
        srv.cleanup()
        raise


@atexit.register
def _stop_all():
    for s in list(_live):
        try:
            s.stop(5.0)
        except Exception:
            pass


def _on_sigterm(signum, frame):
    _stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
    signal.signal(signal.SIGTERM, _on_sigterm)


class ModuleServer(object):
    """A server shared by all tests in one module: call start() from
    setUpModule and stop() from tearDownModule."""

    def __init__(self, **kw):
        self.kw = kw
        self.server = None

    def start(self):
        self.server = start_server(**self.kw)
        return self.server

    def stop(self):
        if self.server is not None:
            self.server.cleanup()
            self.server = None

    def __getattr__(self, name):
        srv = self.__dict__.get("server")
        if srv is None:
            raise AttributeError(name)
        return getattr(srv, name)


_counter = [0]


class ServerTestCase(unittest.TestCase):
    """Base class: prints the server log when a test fails, gives unique
    paths and tracks raw connections to close them after the test."""

    server = None     # a Server or ModuleServer; set by subclasses

    def run(self, result=None):
        if result is None:
            return super().run(result)
        srv = self.server
        dead = _dead_server_message(srv)
        if dead:
            # Fail fast (no setUp work, no client time-outs) once the server is gone.
            def _dead_setup():
                self.fail(dead)
            self.setUp = _dead_setup
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        after = len(result.failures) + len(result.errors)
        if after > before and srv is not None and getattr(srv, "log_path", None) \
                and not getattr(srv, "_death_reported", False):
            if _dead_server_message(srv):
                srv._death_reported = True      # print the dying log once
            sys.stderr.write("\n----- server log (%s, %s) for %s -----\n%s\n----- end of log -----\n"
                             % (getattr(srv, "target", "?"), getattr(srv, "log_path", "?"),
                                self.id(), srv.log_text(8000)))
        return out

    def unique(self, stem=None):
        _counter[0] += 1
        name = stem or self._testMethodName
        return "/it_%s_%d_%d" % (name.replace("test_", ""), os.getpid() % 10000, _counter[0])

    def raw(self, timeout_ms=30000, **kw):
        c = self.server.raw(timeout_ms=timeout_ms, **kw)
        self.addCleanup(_close_quietly, c)
        return c

    def conn(self):
        c = self.server.conn()
        self.addCleanup(c.close)
        return c

    def wait_for(self, cond, timeout=10.0, interval=0.05, msg="condition"):
        deadline = time.monotonic() + timeout
        while True:
            v = cond()
            if v:
                return v
            if time.monotonic() > deadline:
                self.fail("timed out after %.1fs waiting for %s" % (timeout, msg))
            time.sleep(interval)


def _dead_server_message(srv):
    """A message if the server process we started has exited, else None."""
    if isinstance(srv, ModuleServer):
        srv = srv.server
    proc = getattr(srv, "proc", None)
    if proc is None or proc.poll() is None:
        return None
    return ("server process %d exited with status %s during the tests (log: %s)"
            % (proc.pid, proc.returncode, srv.log_path))


def _close_quietly(c):
    """Close a raw session politely (closeSession) if it is still usable."""
    if c.closed:
        c.close()
        return
    try:
        if c.session_id:
            c.close_session(timeout=5.0)
        else:
            c.close()
    except Exception:
        c.close()


# ---------------------------------------------------------------- Java check programs

JAVA_DIR = "/usr/share/java"


def java_missing(jars):
    """Why a Java check cannot run here (a tool or a jar is missing), or None."""
    for tool in ("javac", "java"):
        if not shutil.which(tool):
            return "%s not found (apt-get install default-jdk-headless)" % tool
    for jar in jars:
        if not os.path.exists(os.path.join(JAVA_DIR, jar)):
            return "%s/%s missing (apt-get install libzookeeper-java libcurator-recipes-java " \
                   "libslf4j-java)" % (JAVA_DIR, jar)
    return None


def run_java_check(test, source, jars, hostport, properties=(), min_passed=1, files=None):
    """Compiles `source` (a program that ends its output with "N passed, N failed") and runs
    it against hostport; asserts on `test` that it ran at least min_passed checks and none
    failed. files: {name: text} written beside the classes first; "{dir}" in a property is
    replaced with that directory."""
    classpath = ":".join(os.path.join(JAVA_DIR, j) for j in jars)
    main_class = os.path.splitext(os.path.basename(source))[0]
    with tempfile.TemporaryDirectory(prefix="corral-it-java-") as tmp:
        for name, text in (files or {}).items():
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        r = subprocess.run(["javac", "-nowarn", "-d", tmp, "-cp", classpath, source],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=120)
        test.assertEqual(r.returncode, 0, "javac failed:\n%s%s" % (r.stdout, r.stderr))
        cmd = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
        cmd += [p.replace("{dir}", tmp) for p in properties]
        cmd += ["-Dorg.slf4j.simpleLogger.defaultLogLevel=%s"
                % os.environ.get("CORRAL_JAVA_LOG_LEVEL", "error"),
                "-Dorg.slf4j.simpleLogger.showDateTime=true",
                "-cp", tmp + ":" + classpath, main_class, hostport]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=180)
    report = "exit %d\nstdout:\n%s\nstderr (tail):\n%s" % (r.returncode, r.stdout,
                                                          r.stderr[-8000:])
    if os.environ.get("CORRAL_JAVA_VERBOSE"):
        sys.stderr.write("\n" + report + "\n")
    lines = r.stdout.strip().splitlines()
    test.assertTrue(lines, report)
    m = re.match(r"\A(\d+) passed, (\d+) failed\Z", lines[-1])
    test.assertIsNotNone(m, report)
    test.assertEqual(m.group(2), "0", report)
    test.assertGreaterEqual(int(m.group(1)), min_passed, report)
    test.assertEqual(r.returncode, 0, report)
