"""Runs JavaClientCheck.java (the official ZooKeeper 3.8 Java client and Apache Curator 5)
against a freshly started server.

The program is compiled with javac into a temporary directory and run with Debian's jars
(libzookeeper-java, libcurator-{client,framework,recipes}-java).  It prints
"N passed, N failed" last and exits 1 on any failure; this test asserts exit 0 and shows
the program's output (and the server log, via harness.ServerTestCase) when it fails.
Skipped when javac or the jars are missing.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                      # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "JavaClientCheck.java")
JARS = ["curator-recipes.jar", "curator-framework.jar", "curator-client.jar",
        "zookeeper.jar", "zookeeper-jute.jar", "guava.jar", "slf4j-api.jar", "slf4j-simple.jar"]

SRV = harness.ModuleServer()


def setUpModule():
    SRV.start()


def tearDownModule():
    SRV.stop()


class JavaClientTests(harness.ServerTestCase):
    server = SRV

    def test_java_client_and_curator(self):
        why = harness.java_missing(JARS)
        if why:
            self.skipTest(why)
        harness.run_java_check(self, SOURCE, JARS, self.server.hostport, min_passed=201)


if __name__ == "__main__":
    unittest.main(verbosity=2)
