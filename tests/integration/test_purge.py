"""Purging old snapshots and logs (ZooKeeper's PurgeTxnLog rules, disk-and-quorum.md A.12).

With snap_count 10 and autopurge off, ~200 writes leave many snapshots and logs. The
one-shot purge of the target (corral: `corral-server --purge 3 --config FILE`; ZooKeeper:
`java ... PurgeTxnLog dataLogDir dataDir -n 3`) on the stopped server's directory must
keep exactly the 3 newest snapshots and the logs replay from the oldest of them needs
(the newest log starting at or before it, and every later one) and delete everything else;
the server then restarts with all its data. A count below 3 is refused and deletes nothing.
With ZooKeeper installed, corral's purge is also compared with ZooKeeper's on copies of the
same directory (written by corral, and written by ZooKeeper), and autopurge at start-up is
checked.
"""

import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                      # noqa: E402
import persistlib as pl             # noqa: E402


def run_purge(target_name, count, snap_dir, log_dir=None, config_from=None):
    """Runs the one-shot purge of target_name on the given directories (the parents of
    version-2); returns the CompletedProcess."""
    log_dir = log_dir or snap_dir
    if target_name == "zookeeper":
        java = shutil.which("java") or "/usr/bin/java"
        cmd = [java, "-cp", ":".join(harness.ZK_JARS), "org.apache.zookeeper.server.PurgeTxnLog",
               log_dir, snap_dir, "-n", str(count)]
    else:
        # the server's own config, pointed at these directories
        with open(config_from.config_path) as f:
            lines = [l for l in f.read().splitlines()
                     if not l.startswith("data_dir") and not l.startswith("data_log_dir")]
        lines += ['data_dir = "%s";' % snap_dir, 'data_log_dir = "%s";' % log_dir]
        cfg = os.path.join(os.path.dirname(snap_dir.rstrip("/")),
                           "purge-%s.conf" % os.path.basename(snap_dir.rstrip("/")))
        with open(cfg, "w") as f:
            f.write("\n".join(lines) + "\n")
        cmd = [harness.corral_binary(), "--purge", str(count), "--config", cfg]
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=120)


class PurgeTests(pl.PersistCase):

    def fill(self, srv, n=200):
        """About n writes: creates, set_data, pipelined bursts, a delete now and then."""
        c = self.raw(30000, server=srv)
        base = self.unique()
        pl.check_ok(c.create(base, b""), "create base")
        i = 0
        while i < n:
            if i % 50 == 10:
                pl.burst(c, base, 10, tag=b"b%d" % i)
                i += 20
                continue
            pl.check_ok(c.create("%s/n%03d" % (base, i), b"v%d" % i), "create")
            pl.check_ok(c.set_data(base, b"%d" % i), "set_data")
            if i % 7 == 0:
                pl.check_ok(c.delete("%s/n%03d" % (base, i)), "delete")
            i += 2
        c.close_session()

    def assert_purged(self, res, snap_dir, log_dir, expect, what):
        self.assertEqual(res.returncode, 0, "%s: purge failed: %s" % (what, res.stdout.decode()))
        got = pl.listing(snap_dir, log_dir)
        self.assertEqual(got, expect, "%s: files left (snapshots, logs)" % what)
        self.assertEqual(len(got[0]), 3, "%s: snapshots left" % what)

    # ------------------------------------------------------------------------------------
    def test_purge_keeps_three_newest_snapshots(self):
        srv = self.start(snap_count=10, prealloc_kb=64, autopurge=(3, 0))
        self.fill(srv)
        tree = pl.walk(srv)
        zxid = pl.server_zxid(srv)
        srv.stop()
        before = pl.listing(srv.data_dir, srv.data_dir)
        self.assertGreaterEqual(len(before[0]), 10, "snapshots before purge: %r" % (before,))
        self.assertGreaterEqual(len(before[1]), 10, "logs before purge: %r" % (before,))
        expect = pl.expected_purge(srv.data_dir, srv.data_dir, 3)

        res = run_purge(srv.target, 2, srv.data_dir, config_from=srv)
        self.assertNotEqual(res.returncode, 0, "purge with a count of 2 was accepted")
        self.assertEqual(pl.listing(srv.data_dir, srv.data_dir), before,
                         "purge with a count of 2 deleted files")

        res = run_purge(srv.target, 3, srv.data_dir, config_from=srv)
        self.assert_purged(res, srv.data_dir, srv.data_dir, expect, srv.target)
        # purging again changes nothing
        res = run_purge(srv.target, 3, srv.data_dir, config_from=srv)
        self.assert_purged(res, srv.data_dir, srv.data_dir, expect, "second purge")

        srv.start()
        self.assertEqual(pl.server_zxid(srv), zxid)
        pl.assert_same_tree(self, tree, pl.walk(srv), "tree after purge and restart")

    def test_autopurge_at_startup(self):
        srv = self.start(snap_count=10, prealloc_kb=64, autopurge=(3, 0))
        self.fill(srv)
        tree = pl.walk(srv)
        srv.stop()
        old = pl.listing(srv.data_dir, srv.data_dir)
        old_expect = pl.expected_purge(srv.data_dir, srv.data_dir, 3)
        self.assertGreater(len(old[0]), 4)
        srv.autopurge = (3, 1)                      # first purge at start-up, then hourly
        srv.start()
        # The start-up snapshot and the purge may come in either order (ZooKeeper runs the
        # purge on a timer thread): either the purge saw the start-up snapshot, or it kept
        # the 3 newest old snapshots and the start-up one came after.
        deadline = time.monotonic() + 15
        while True:
            now = pl.listing(srv.data_dir, srv.data_dir)
            new = (now[0] - old[0], now[1] - old[1])
            want_a = pl.expected_purge(srv.data_dir, srv.data_dir, 3)
            want_b = (old_expect[0] | new[0], old_expect[1] | new[1])
            if now in (want_a, want_b) and now != old:
                break
            self.assertLess(time.monotonic(), deadline,
                            "autopurge did not run at start-up: %r" % (now,))
            time.sleep(0.2)
        pl.assert_same_tree(self, tree, pl.walk(srv), "tree after autopurge")

    # ------------------------------------------------------------------------------------
    @unittest.skipUnless(pl.have_zookeeper(), "needs Apache ZooKeeper 3.8 (/usr/share/java)")
    def test_purge_agrees_with_zookeeper(self):
        """The target's purge and ZooKeeper's PurgeTxnLog keep the same files, on a data
        dir written by the target and on one written by ZooKeeper (separate log dir)."""
        if harness.target() != "corral":
            self.skipTest("compares corral's purge with ZooKeeper's")
        for writer in ("corral", "zookeeper"):
            root = os.path.join(self.tmpdir, writer)
            data, logs = os.path.join(root, "data"), os.path.join(root, "logs")
            srv = self.start(target_name=writer, data_dir=data, data_log_dir=logs,
                             snap_count=10, prealloc_kb=64)
            self.fill(srv)
            srv.stop()
            results = {}
            for purger in ("corral", "zookeeper"):
                copy = os.path.join(root, "copy-" + purger)
                shutil.copytree(data, os.path.join(copy, "data"))
                shutil.copytree(logs, os.path.join(copy, "logs"))
                cd, cl = os.path.join(copy, "data"), os.path.join(copy, "logs")
                expect = pl.expected_purge(cd, cl, 3)
                cfg_src = srv if srv.target == "corral" else self.corral_config_holder(root)
                res = run_purge(purger, 3, cd, cl, config_from=cfg_src)
                self.assert_purged(res, cd, cl, expect, "%s purging %s's dir" % (purger, writer))
                results[purger] = pl.listing(cd, cl)
            self.assertEqual(results["corral"], results["zookeeper"],
                             "corral and ZooKeeper purge %s's dir differently" % writer)

    def corral_config_holder(self, root):
        """A corral config (written by the harness, never started) to derive a purge config."""
        srv = harness.Server(target_name="corral", data_dir=os.path.join(root, "unused"))
        self._servers.append(srv)
        srv.port = harness.free_port()
        srv._write_corral_config()
        return srv


if __name__ == "__main__":
    unittest.main(verbosity=2)
