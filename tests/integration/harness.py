"""Start/stop one server process for the integration tests.

Target selection: env CORRAL_TARGET = "corral" (default) or "zookeeper".

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
import shutil
import signal
import socket
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
                 force_sync=None, autopurge=None, extra_config=()):
        """Persistence options (None = the server's default), mapped to both targets:
        data_dir / data_log_dir: use these directories (e.g. shared by two servers; they
        are never removed by cleanup()); snap_count (corral snap_count,
        -Dzookeeper.snapCount); prealloc_kb (prealloc_kb, -Dzookeeper.preAllocSize);
        force_sync (force_sync, -Dzookeeper.forceSync); autopurge = (retain, hours)
        (autopurge group, autopurge.* in zoo.cfg); extra_config: more corral config lines."""
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
        self.tmp = tempfile.mkdtemp(prefix="corral-it-%s-" % self.target)
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
        lines += self.extra_config
        if self.super_digest:
            lines.append('super_digest = "%s";' % self.super_digest)
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
            f.write("clientPort=%d\n" % self.port)
            f.write("clientPortAddress=127.0.0.1\n")
            f.write("4lw.commands.whitelist=*\n")
            f.write("extendedTypesEnabled=%s\n" % ("true" if self.extended_types else "false"))
            f.write("admin.enableServer=false\n")
            if self.data_log_dir:
                f.write("dataLogDir=%s\n" % self.data_log_dir)
            if self.autopurge is not None:
                f.write("autopurge.snapRetainCount=%d\nautopurge.purgeInterval=%d\n"
                        % tuple(self.autopurge))
        for jar in ZK_JARS:
            if not os.path.exists(jar):
                raise ServerError("ZooKeeper jar missing: %s (apt-get install zookeeper)" % jar)
        java = shutil.which("java") or "/usr/bin/java"
        cmd = [java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
               "-Dznode.container.checkIntervalMs=%d" % self.container_interval_ms,
               "-Dzookeeper.admin.enableServer=false",
               "-Dorg.slf4j.simpleLogger.defaultLogLevel=info"]
        if self.super_digest:
            cmd.append("-Dzookeeper.DigestAuthenticationProvider.superDigest=%s"
                       % self.super_digest)
        if self.snap_count is not None:
            cmd.append("-Dzookeeper.snapCount=%d" % self.snap_count)
        if self.prealloc_kb is not None:
            cmd.append("-Dzookeeper.preAllocSize=%d" % self.prealloc_kb)
        if self.force_sync is not None:
            cmd.append("-Dzookeeper.forceSync=%s" % ("yes" if self.force_sync else "no"))
        cmd += ["-cp", conf_dir + ":" + ":".join(ZK_JARS), ZK_MAIN, cfg]
        return cmd, None

    # ------------------------------------------------------------ lifecycle
    def start(self, timeout=40.0):
        if self.proc is not None:
            raise ServerError("already running")
        last = None
        for _attempt in range(3):
            if self.port is None:
                self.port = free_port()
            try:
                self._spawn(timeout)
                return self
            except ServerError as e:
                last = e
                if self.proc is not None and self.proc.poll() is None:
                    self._kill()
                self.proc = None
                self.port = None          # maybe the port was taken: pick another
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
            out = zkwire.four_letter(self.host, self.port, b"srvr", timeout=2.0)
        except (OSError, TimeoutError):
            return True
        return b"not currently serving" not in out

    def ruok(self):
        try:
            return zkwire.four_letter(self.host, self.port, b"ruok", timeout=2.0) == b"imok"
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
        return zkwire.four_letter(self.host, self.port, cmd, timeout)

    def raw(self, timeout_ms=30000, **kw):
        return zkwire.connect(self.host, self.port, timeout_ms=timeout_ms, **kw)

    def conn(self):
        return zkwire.Conn(self.host, self.port)


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
