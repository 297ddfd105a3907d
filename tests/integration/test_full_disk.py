"""corral on a full disk (corral only; needs root to mount a tmpfs).

The data dir lives on a 4 MB tmpfs (prealloc_kb 64, snap_count large, force_sync); a filler
file leaves ~256 KB. Pipelined creates run until the log cannot be written. Then:
* every reply is OK or NOTREADONLY (-119), or the connection is closed (in-flight writes
  that were not durable are dropped) - never an acknowledgement for a write not on disk;
* `ruok` gets no answer (ZooKeeper: "no response when in an error state"); mntr shows
  zk_log_write_error; reads work; writes on a live session get NOTREADONLY (kazoo:
  NotReadOnlyCallError) and the session stays; new sessions are refused;
* once the filler is deleted, writes succeed again within ~10 s (retry every 5 s), ruok
  answers imok, the mntr key is gone;
* after a restart on the same dir every acknowledged write is there (with its zxid), no
  refused write is, and every log verifies (own reader: no checksum error, no torn record;
  `corral-inspect --verify log` when built).
"""

import errno
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                      # noqa: E402
import persistlib as pl             # noqa: E402
import zkwire as z                  # noqa: E402

from kazoo.exceptions import NotReadOnlyCallError, ConnectionLoss   # noqa: E402

NOTREADONLY = -119
PAYLOAD = 4096
FREE_LEFT = 256 * 1024


class FullDiskTests(pl.PersistCase):

    def setUp(self):
        if harness.target() != "corral":
            self.skipTest("corral's full-disk behaviour (ZooKeeper exits on a log write error)")
        if os.geteuid() != 0:
            self.skipTest("needs root to mount a tmpfs")
        self.mnt = os.path.join(self.tmpdir, "mnt")
        os.makedirs(self.mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", self.mnt],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs: %s" % r.stdout.decode().strip())
        self.addCleanup(self.unmount)

    def unmount(self):
        for srv in self._servers:            # nothing may keep files open on the tmpfs
            srv.stop()
        for _ in range(50):
            if subprocess.run(["umount", self.mnt], stderr=subprocess.DEVNULL).returncode == 0:
                return
            time.sleep(0.2)                  # e.g. a snapshot child still writing
        subprocess.run(["umount", "-l", self.mnt])
        self.fail("tmpfs %s was busy; lazily unmounted" % self.mnt)

    def free_bytes(self):
        st = os.statvfs(self.mnt)
        return st.f_bavail * st.f_frsize

    def fill(self, path, size):
        chunk = b"\xa5" * (256 * 1024)
        with open(path, "wb") as f:
            left = size
            while left > 0:
                try:
                    f.write(chunk[:min(left, len(chunk))])
                    f.flush()
                except OSError as e:
                    if e.errno == errno.ENOSPC:
                        break
                    raise
                left -= min(left, len(chunk))

    def test_full_disk(self):
        data = os.path.join(self.mnt, "data")
        srv = self.start(data_dir=data, prealloc_kb=64, snap_count=1000000, force_sync=True)
        w = self.raw(30000)
        reader = self.raw(30000)
        zk = pl.kazoo(srv)
        self.addCleanup(pl.stop_kazoo, zk)
        pl.check_ok(w.create("/fd", b""), "create /fd")
        pl.check_ok(reader.create("/fd/reader", b"r"), "reader create")
        zk.create("/fd/kazoo", b"k")

        filler = os.path.join(self.mnt, "filler")
        self.fill(filler, self.free_bytes() - FREE_LEFT)
        self.assertLess(self.free_bytes(), FREE_LEFT + 64 * 1024)

        # ---- write until the log cannot be written
        acked, refused, sent = {}, [], []
        failed = closed = False
        k = 0
        while not failed and k < 4000:
            names = ["n%05d" % (k + i) for i in range(8)]
            k += 8
            out = bytearray()
            xids = []
            for n in names:
                xid = w.next_xid()
                xids.append(xid)
                out += z.request(xid, z.OP_CREATE, z.body_create("/fd/" + n, self.payload(n)))
            sent.extend(names)
            try:
                w.send(bytes(out))
                for n, xid in zip(names, xids):
                    rep = w.read_reply(z.p_path)
                    self.assertEqual(rep.xid, xid)
                    if rep.err == 0:
                        self.assertFalse(failed, "write %s acknowledged after a refusal" % n)
                        acked[n] = rep.zxid
                    elif rep.err == NOTREADONLY:
                        refused.append(n)
                        failed = True
                    else:
                        self.fail("create /fd/%s: unexpected error %d" % (n, rep.err))
            except (z.Closed, ConnectionResetError, BrokenPipeError):
                failed = closed = True
        self.assertTrue(failed, "4000 writes of %d bytes fit in %d bytes" % (PAYLOAD, FREE_LEFT))
        sys.stderr.write("\nfull disk: %d writes acknowledged, %d refused with NOTREADONLY, "
                         "connection %s\n" % (len(acked), len(refused),
                                              "closed" if closed else "kept"))
        self.assertGreater(len(acked), 5)

        # ---- while failing
        self.assertIn("zk_log_write_error", pl.mntr(srv))
        on_disk = set(r.zxid for r in pl.verify_logs(data))
        self.assertEqual(sorted(n for n, zx in acked.items() if zx not in on_disk), [],
                         "acknowledged writes whose txn is not in the log on disk")
        self.assertEqual(srv.four("ruok"), b"", "ruok answered while the log cannot be written")
        last = sorted(acked)[-1]
        rep = reader.get_data("/fd/" + last)
        self.assertEqual((rep.err, rep.value[0]), (0, self.payload(last)), "read while failing")
        self.assertEqual(reader.get_data("/fd/reader").value[0], b"r")
        self.assertIn("reader", reader.get_children("/fd").value)
        rep = reader.create("/fd/refused", b"x")
        self.assertEqual(rep.err, NOTREADONLY, "write while failing")
        self.assertEqual(reader.set_data("/fd/reader", b"x").err, NOTREADONLY)
        self.assertEqual(reader.ping().err, 0, "session lost after a refused write")
        refused_reader = ["refused"]
        with self.assertRaises(NotReadOnlyCallError):
            zk.create("/fd/kazoo-refused", b"x")
        self.assertEqual(zk.get("/fd/kazoo")[0], b"k")
        self.assertFalse(self.new_session_ok(srv), "a new session was created while failing")
        self.assertEqual(srv.four("ruok"), b"")

        # ---- free space: writes come back within the retry period
        os.unlink(filler)
        t0 = time.monotonic()
        n = 0
        while True:
            rep = reader.create("/fd/again-%d" % n, b"again")
            if rep.err == 0:
                break
            self.assertEqual(rep.err, NOTREADONLY, "while retrying")
            refused_reader.append("again-%d" % n)
            n += 1
            self.assertLess(time.monotonic() - t0, 12.0, "writes still refused 12 s after "
                            "space was freed")
            time.sleep(0.25)
        recovered_after = time.monotonic() - t0
        reader_acked = {"again-%d" % n: rep.zxid}
        self.assertEqual(srv.four("ruok"), b"imok")
        self.assertNotIn("zk_log_write_error", pl.mntr(srv))
        self.assertTrue(self.new_session_ok(srv), "new sessions still refused")
        try:
            zk.create("/fd/kazoo-after", b"ka")
        except ConnectionLoss:
            zk.create("/fd/kazoo-after", b"ka")
        w2 = self.raw(30000)
        for i in range(20):
            name = "post%02d" % i
            rep = w2.create("/fd/" + name, self.payload(name))
            pl.check_ok(rep, "write after recovery")
            acked[name] = rep.zxid
        sys.stderr.write("full disk: writes accepted again %.1fs after space was freed\n"
                         % recovered_after)
        reader.close()
        w2.close()
        pl.stop_kazoo(zk)

        # ---- restart: every acknowledged write is there, nothing refused is
        srv.restart()
        c = self.raw(30000)
        kids = set(c.get_children("/fd").value)
        for name, zx in list(acked.items()) + list(reader_acked.items()):
            rep = c.exists("/fd/" + name)
            self.assertEqual(rep.err, 0, "acknowledged /fd/%s lost" % name)
            self.assertEqual(rep.value.czxid, zx, "czxid of /fd/%s" % name)
        for name in refused + refused_reader + ["kazoo-refused"]:
            self.assertNotIn(name, kids, "refused write /fd/%s is in the tree" % name)
        present = [n in kids for n in sent]
        first_missing = present.index(False) if False in present else len(present)
        self.assertNotIn(True, present[first_missing:], "unacknowledged writes out of order")
        for name in kids:
            if name.startswith("n") or name.startswith("post"):
                self.assertEqual(c.get_data("/fd/" + name).value[0], self.payload(name))
        self.assertIn("kazoo-after", kids)

        # ---- the log verifies
        srv.stop()
        logdir = os.path.join(data, "version-2")
        files = pl.data_files(data)
        for zx, name in files["log"]:
            recs, end = pl.read_log(os.path.join(logdir, name))
            self.assertNotEqual(end, "partial", "%s ends in a torn record" % name)
        pl.verify_logs(data)
        tool = pl.inspect_tool()
        if tool is None:
            sys.stderr.write("full disk: corral-inspect not built; skipped --verify\n")
        else:
            paths = [os.path.join(logdir, n) for _, n in files["log"]]
            r = subprocess.run([tool, "--verify", "log"] + paths, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
            self.assertEqual(r.returncode, 0, "corral-inspect --verify log:\n%s"
                             % r.stdout.decode("utf-8", "replace"))
            snaps = [os.path.join(logdir, n) for _, n in files["snapshot"]]
            r = subprocess.run([tool, "--verify", "snapshot"] + snaps, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
            self.assertEqual(r.returncode, 0, "corral-inspect --verify snapshot:\n%s"
                             % r.stdout.decode("utf-8", "replace"))

    @staticmethod
    def payload(name):
        return (name.encode() + b":") * (PAYLOAD // (len(name) + 1))

    def new_session_ok(self, srv):
        try:
            c = srv.conn()
        except OSError:
            return False
        try:
            resp = c.handshake(timeout_ms=30000)
            ok = resp.timeout > 0
            if ok:
                c.close_session(timeout=5)
            return ok
        except (z.Closed, TimeoutError, OSError):
            return False
        finally:
            c.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
