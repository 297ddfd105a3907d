"""Runs the official ZooKeeper C client against the server:

* c_client_test (built from c_client_test.c by CMake; path in env
  CORRAL_C_CLIENT_TEST) -- skipped when that variable is not set;
* cli_mt from Debian's zookeeper-bin, in batch mode (`cli_mt -h HOST:PORT
  -c "CMD"`, one command per process: its stdin mode quits before the
  asynchronous commands complete, so it is not used).
"""

import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                      # noqa: E402

SRV = harness.ModuleServer()
CLI_MT = shutil.which("cli_mt") or "/usr/lib/zookeeper/bin/cli_mt"


def setUpModule():
    SRV.start()


def tearDownModule():
    SRV.stop()


class CClientTests(harness.ServerTestCase):
    server = SRV

    def test_c_client_program(self):
        binary = os.environ.get("CORRAL_C_CLIENT_TEST")
        if not binary:
            self.skipTest("CORRAL_C_CLIENT_TEST not set (build c_client_test with CMake)")
        binary = os.path.abspath(binary)
        self.assertTrue(os.access(binary, os.X_OK), "not executable: %s" % binary)
        r = subprocess.run([binary, self.server.hostport], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=90)
        report = "exit %d\nstdout:\n%s\nstderr:\n%s" % (r.returncode, r.stdout, r.stderr[-6000:])
        lines = r.stdout.strip().splitlines()
        self.assertTrue(lines, report)
        m = re.match(r"\A(\d+) passed, (\d+) failed\Z", lines[-1])
        self.assertIsNotNone(m, report)
        self.assertEqual(m.group(2), "0", report)
        self.assertGreater(int(m.group(1)), 50, report)
        self.assertEqual(r.returncode, 0, report)

    def cli(self, cmd):
        dead = harness._dead_server_message(self.server)
        if dead:
            self.fail(dead)
        # cli_mt retries a dead server forever, hence the timeout
        r = subprocess.run([CLI_MT, "-h", self.server.hostport, "-c", cmd],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout + r.stderr

    def test_cli_mt_batch_commands(self):
        if not os.access(CLI_MT, os.X_OK):
            self.skipTest("cli_mt not installed (apt-get install zookeeper-bin)")
        p = self.unique()
        out = self.cli("create %s" % p)
        self.assertIn("[%s]: rc = 0\n\tname = %s\n" % (p, p), out)
        out = self.cli("create %s/kid" % p)
        self.assertIn("[%s/kid]: rc = 0\n" % p, out)
        out = self.cli("set %s hello" % p)
        self.assertIn("%s: rc = 0 Stat:\n" % p, out)
        self.assertIn("\tversion=1\taversion=0\n", out)
        out = self.cli("get %s" % p)
        self.assertIn("%s: rc = 0\n value_len = 5\nhello\n" % p, out)
        out = self.cli("ls %s" % p)
        self.assertIn("%s: rc = 0\n\tkid\n" % p, out)
        out = self.cli("delete %s" % p)
        self.assertIn("%s: rc = -111\n" % p, out)           # NOTEMPTY
        out = self.cli("delete %s/kid" % p)
        self.assertIn("%s/kid: rc = 0\n" % p, out)
        out = self.cli("delete %s" % p)
        self.assertIn("%s: rc = 0\n" % p, out)
        out = self.cli("get %s" % p)
        self.assertIn("%s: rc = -101\n" % p, out)           # NONODE


if __name__ == "__main__":
    unittest.main(verbosity=2)
