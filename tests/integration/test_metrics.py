"""corral with the metrics-prom plugin: a Prometheus scrape over HTTP whose counters, gauges
and summaries move after requests, and which promtool accepts. corral only: Debian's ZooKeeper
ships without its Prometheus provider jar.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                      # noqa: E402

from kazoo.client import KazooClient   # noqa: E402

PORT = harness.free_port()
SRV = harness.ModuleServer(extra_config=[
    'metrics = { plugin = "metrics-prom"; address = "127.0.0.1"; port = %d; };' % PORT])


def setUpModule():
    if harness.is_zookeeper():
        raise unittest.SkipTest("ZooKeeper's Prometheus provider is not in Debian's package")
    SRV.start()


def tearDownModule():
    SRV.stop()


def scrape():
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % PORT, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def sample(text, name):
    """The value of the unlabelled sample `name`."""
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    if m is None:
        raise AssertionError("no sample %s in the scrape" % name)
    return float(m.group(1))


class MetricsTests(unittest.TestCase):
    def test_scrape_moves_after_requests(self):
        status, ctype, before = scrape()
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        self.assertIn("# TYPE znode_count gauge", before)
        self.assertIn("# TYPE readlatency summary", before)
        self.assertIn("# TYPE bytes_received_count counter", before)
        zk = KazooClient(hosts=SRV.hostport, timeout=10)
        zk.start(timeout=10)
        try:
            for i in range(20):
                zk.create("/metrics-%d" % i, b"x" * i)
                zk.get("/metrics-%d" % i)
            _, _, after = scrape()
        finally:
            zk.stop()
            zk.close()
        self.assertGreaterEqual(sample(after, "znode_count"), sample(before, "znode_count") + 20)
        self.assertGreater(sample(after, "packets_received"), sample(before, "packets_received"))
        self.assertGreater(sample(after, "bytes_received_count"),
                           sample(before, "bytes_received_count"))
        self.assertGreaterEqual(sample(after, "readlatency_count"),
                                sample(before, "readlatency_count") + 20)
        self.assertGreaterEqual(sample(after, "updatelatency_count"),
                                sample(before, "updatelatency_count") + 20)
        self.assertGreaterEqual(sample(after, "fsynctime_count"), 20)
        self.assertIn('readlatency{quantile="0.5",}', after)

    def test_promtool_accepts_the_scrape(self):
        promtool = shutil.which("promtool")
        if promtool is None:
            self.skipTest("promtool (Debian package prometheus) is not installed")
        _, _, text = scrape()
        with tempfile.NamedTemporaryFile("w", suffix=".prom", delete=False) as f:
            f.write(text)
        try:
            with open(f.name) as scraped:
                r = subprocess.run([promtool, "check", "metrics"], stdin=scraped,
                                   capture_output=True, text=True, timeout=60)
        finally:
            os.unlink(f.name)
        # ZooKeeper's own names trip promtool's naming lints (counters without _total,
        # gauges ending in _count); anything else is a real problem.
        lint = re.compile(r'(should have "_total" suffix|should not have "_count" suffix|'
                          r"should not contain abbreviated units)")
        problems = [line for line in (r.stdout + r.stderr).splitlines()
                    if line.strip() and not lint.search(line)]
        self.assertEqual(problems, [], r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
