"""Runs JavaClientCheck.java (the official ZooKeeper 3.8 Java client and Apache Curator 5)
against a freshly started server.

The program is compiled with javac into a temporary directory and run with Debian's jars
(libzookeeper-java, libcurator-{client,framework,recipes}-java).  It prints
"N passed, N failed" last and exits 1 on any failure; this test asserts exit 0 and shows
the program's output (and the server log, via harness.ServerTestCase) when it fails.
Skipped when javac or the jars are missing.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                      # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "JavaClientCheck.java")
JAVA_DIR = "/usr/share/java"
JARS = ["curator-recipes.jar", "curator-framework.jar", "curator-client.jar",
        "zookeeper.jar", "zookeeper-jute.jar", "guava.jar", "slf4j-api.jar", "slf4j-simple.jar"]

SRV = harness.ModuleServer()


def setUpModule():
    SRV.start()


def tearDownModule():
    SRV.stop()


def _missing_prerequisite():
    for tool in ("javac", "java"):
        if not shutil.which(tool):
            return "%s not found (apt-get install default-jdk-headless)" % tool
    for jar in JARS:
        if not os.path.exists(os.path.join(JAVA_DIR, jar)):
            return "%s/%s missing (apt-get install libzookeeper-java libcurator-recipes-java " \
                   "libslf4j-java)" % (JAVA_DIR, jar)
    return None


class JavaClientTests(harness.ServerTestCase):
    server = SRV

    def test_java_client_and_curator(self):
        why = _missing_prerequisite()
        if why:
            self.skipTest(why)
        classpath = ":".join(os.path.join(JAVA_DIR, j) for j in JARS)
        with tempfile.TemporaryDirectory(prefix="corral-it-java-") as classes:
            r = subprocess.run(["javac", "-nowarn", "-d", classes, "-cp", classpath, SOURCE],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=120)
            self.assertEqual(r.returncode, 0, "javac failed:\n%s%s" % (r.stdout, r.stderr))
            cmd = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                   "-Dorg.slf4j.simpleLogger.defaultLogLevel=%s"
                   % os.environ.get("CORRAL_JAVA_LOG_LEVEL", "error"),
                   "-Dorg.slf4j.simpleLogger.showDateTime=true",
                   "-cp", classes + ":" + classpath, "JavaClientCheck", self.server.hostport]
            r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=180)
        report = "exit %d\nstdout:\n%s\nstderr (tail):\n%s" % (r.returncode, r.stdout,
                                                              r.stderr[-8000:])
        if os.environ.get("CORRAL_JAVA_VERBOSE"):
            sys.stderr.write("\n" + report + "\n")
        lines = r.stdout.strip().splitlines()
        self.assertTrue(lines, report)
        m = re.match(r"\A(\d+) passed, (\d+) failed\Z", lines[-1])
        self.assertIsNotNone(m, report)
        self.assertEqual(m.group(2), "0", report)
        self.assertGreater(int(m.group(1)), 200, report)
        self.assertEqual(r.returncode, 0, report)


if __name__ == "__main__":
    unittest.main(verbosity=2)
