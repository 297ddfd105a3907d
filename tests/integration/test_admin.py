"""The admin server (ZooKeeper's AdminServer): every command over HTTP with urllib, parsed
with json.loads, its fields and their JSON types asserted, and the values checked against
what kazoo sees. Run against ZooKeeper 3.8 too (CORRAL_TARGET=zookeeper) to prove that the
field names, the aliases and the error answers are ZooKeeper's.
"""

import json
import logging
import os
import sys
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness                      # noqa: E402

from kazoo.client import KazooClient   # noqa: E402

logging.getLogger("kazoo").setLevel(logging.CRITICAL)

SRV = harness.ModuleServer(admin=True)


def setUpModule():
    SRV.start()


def tearDownModule():
    SRV.stop()


# Primary name -> aliases, as ZooKeeper 3.8's Commands registers them. system_properties
# (Java's system properties) is ZooKeeper's only; corral lists everything else.
COMMANDS = {
    "configuration": ["conf", "config"],
    "connection_stat_reset": ["crst"],
    "connections": ["cons"],
    "dirs": [],
    "dump": [],
    "environment": ["env", "envi"],
    "get_trace_mask": ["gtmk"],
    "hash": [],
    "initial_configuration": ["icfg"],
    "is_read_only": ["isro"],
    "last_snapshot": ["lsnp"],
    "leader": ["lead"],
    "monitor": ["mntr"],
    "observer_connection_stat_reset": ["orst"],
    "observers": ["obsr"],
    "ruok": [],
    "server_stats": ["srvr"],
    "set_trace_mask": ["stmk"],
    "stat_reset": ["srst"],
    "stats": ["stat"],
    "voting_view": [],
    "watch_summary": ["wchs"],
    "watches": ["wchc"],
    "watches_by_path": ["wchp"],
    "zabstate": [],
}
# Commands that answer an error when called bare on a standalone server.
ERRORS = {
    "leader": "server is not initialized",
    "set_trace_mask": "setTraceMask requires long traceMask argument",
}

INT = "int"
FLOAT = "float"
STR = "str"
BOOL = "bool"
BRIEF_CONN = {"remote_socket_address": STR, "interest_ops": INT, "outstanding_requests": INT,
              "packets_received": INT, "packets_sent": INT}
FULL_CONN = dict(BRIEF_CONN, session_id=INT, last_operation=STR, established=INT,
                 session_timeout=INT, last_cxid=INT, last_zxid=INT, last_response_time=INT,
                 last_latency=INT, min_latency=INT, avg_latency=INT, max_latency=INT)
BUFFER_STATS = {"last_buffer_size": INT, "min_buffer_size": INT, "max_buffer_size": INT}
SERVER_STATS = {
    "packets_sent": INT, "packets_received": INT, "fsync_threshold_exceed_count": INT,
    "client_response_stats": BUFFER_STATS, "provider_null": BOOL, "data_dir_size": INT,
    "log_dir_size": INT, "server_state": STR, "last_processed_zxid": INT,
    "outstanding_requests": INT, "avg_latency": FLOAT, "max_latency": INT, "min_latency": INT,
    "num_alive_client_connections": INT, "uptime": INT, "auth_failed_count": INT,
    "non_mtlsremote_conn_count": INT, "non_mtlslocal_conn_count": INT,
}
SRVR = {"version": STR, "read_only": BOOL, "server_stats": SERVER_STATS,
        "client_response": BUFFER_STATS, "node_count": INT}
CONFIGURATION = {"client_port": INT, "data_dir": STR, "data_log_dir": STR, "tick_time": INT,
                 "max_client_cnxns": INT, "min_session_timeout": INT,
                 "max_session_timeout": INT, "server_id": INT,
                 "client_port_listen_backlog": INT}
ENVIRONMENT_KEYS = ["zookeeper.version", "host.name", "java.version", "java.vendor",
                    "java.home", "java.class.path", "java.library.path", "java.io.tmpdir",
                    "java.compiler", "os.name", "os.arch", "os.version", "user.name",
                    "user.home", "user.dir", "os.memory.free", "os.memory.max",
                    "os.memory.total"]
# Every metric corral defines, as mntr prints them without "zk_" (ZooKeeper has more).
MONITOR_NUMBERS = [
    "avg_latency", "max_latency", "min_latency", "packets_received", "packets_sent",
    "num_alive_connections", "outstanding_requests", "uptime", "znode_count", "watch_count",
    "ephemerals_count", "approximate_data_size", "global_sessions", "local_sessions",
    "open_file_descriptor_count", "max_file_descriptor_count", "connection_drop_probability",
    "auth_failed_count", "connection_rejected", "connection_drop_count",
    "bytes_received_count", "response_bytes", "connection_request_count",
    "sessionless_connections_expired", "stale_sessions_expired", "snap_count", "watch_bytes",
] + ["%s_%s" % (stat, name)
     for name in ["fsynctime", "snapshottime", "dbinittime", "sync_processor_batch_size",
                  "startup_txns_loaded", "startup_txns_load_time", "startup_snap_load_time",
                  "node_created_watch_count", "node_deleted_watch_count",
                  "node_changed_watch_count", "node_children_watch_count", "readlatency",
                  "updatelatency"]
     for stat in ["avg", "min", "max", "cnt", "sum"]] + [
    "%s_%s" % (q, name) for name in ["readlatency", "updatelatency"]
    for q in ["p50", "p95", "p99", "p999"]]
MONITOR_FLOATS = ["connection_drop_probability"] + [k for k in MONITOR_NUMBERS
                                                   if k.startswith("avg_")]


class AdminTests(harness.ServerTestCase):
    server = SRV

    # ------------------------------------------------------------ helpers
    def fetch(self, path, method="GET"):
        """(status, headers, body bytes) of a request to the admin port."""
        url = "http://%s:%d%s" % (self.server.host, self.server.admin_port, path)
        req = urllib.request.Request(url, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def get(self, command):
        """GET /commands/<command>: the parsed JSON document (a 200 with application/json)."""
        status, headers, body = self.fetch("/commands/" + command)
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(headers.get_content_type(), "application/json")
        doc = json.loads(body.decode("utf-8"))
        self.assertIsInstance(doc, dict)
        return doc

    def ok(self, command, primary=None):
        """A command that succeeded: "command" is its primary name and "error" is null."""
        doc = self.get(command)
        self.assertEqual(doc.get("command"), primary or command, doc)
        self.assertIn("error", doc)
        self.assertIsNone(doc["error"], doc)
        return doc

    def assertShape(self, doc, shape, where=""):
        """Every key of shape is in doc with that JSON type (nested dicts recurse)."""
        for key, kind in shape.items():
            self.assertIn(key, doc, "%s%s missing from %r" % (where, key, doc))
            v = doc[key]
            if isinstance(kind, dict):
                self.assertIsInstance(v, dict, where + key)
                self.assertShape(v, kind, where + key + ".")
            elif kind == INT:
                self.assertTrue(isinstance(v, int) and not isinstance(v, bool),
                                "%s%s = %r is not an integer" % (where, key, v))
            elif kind == FLOAT:
                self.assertIsInstance(v, float, "%s%s = %r" % (where, key, v))
            elif kind == STR:
                self.assertIsInstance(v, str, "%s%s = %r" % (where, key, v))
            elif kind == BOOL:
                self.assertIsInstance(v, bool, "%s%s = %r" % (where, key, v))

    def client(self):
        c = KazooClient(hosts=self.server.hostport, timeout=10.0)
        c.start(timeout=15)
        self.addCleanup(self._stop_client, c)
        return c

    @staticmethod
    def _stop_client(c):
        try:
            c.stop()
        finally:
            c.close()

    def count_nodes(self, zk, path="/"):
        n = 1
        for child in zk.get_children(path):
            n += self.count_nodes(zk, (path.rstrip("/") + "/" + child))
        return n

    # ------------------------------------------------------------ the index and the envelope
    def test_index_links_every_command(self):
        for path in ("/commands", "/commands/"):
            status, _headers, body = self.fetch(path)
            self.assertEqual(status, 200)
            text = body.decode("utf-8")
            for name in COMMANDS:
                self.assertIn('<a href="/commands/%s">%s</a>\n<br/>\n' % (name, name), text)

    def test_ruok_is_just_the_envelope(self):
        self.assertEqual(self.get("ruok"), {"command": "ruok", "error": None})

    def test_every_command_and_alias_answers_with_its_primary_name(self):
        for name, aliases in COMMANDS.items():
            for asked in [name] + aliases:
                doc = self.get(asked)
                self.assertEqual(doc["command"], name, asked)
                self.assertEqual(doc["error"], ERRORS.get(name), asked)

    def test_an_unknown_command_is_an_error_document(self):
        self.assertEqual(self.get("no_such_command"),
                         {"command": "no_such_command",
                          "error": "Unknown command: no_such_command"})
        # names are case-sensitive and a trailing slash is part of the name
        self.assertEqual(self.get("RUOK")["error"], "Unknown command: RUOK")
        self.assertEqual(self.get("ruok/")["error"], "Unknown command: ruok/")

    def test_other_paths_and_methods_are_http_errors(self):
        self.assertEqual(self.fetch("/no/such/page")[0], 404)
        self.assertEqual(self.fetch("/commandsx")[0], 404)
        self.assertEqual(self.fetch("/commands/ruok", method="POST")[0], 405)

    # ------------------------------------------------------------ server state
    def test_server_stats_and_stats(self):
        zk = self.client()
        srvr = self.ok("srvr", "server_stats")
        self.assertShape(srvr, SRVR)
        self.assertEqual(srvr["server_stats"]["server_state"], "standalone")
        self.assertFalse(srvr["read_only"])
        self.assertTrue(srvr["version"].startswith("3.8."), srvr["version"])
        self.assertEqual(srvr["node_count"], self.get("monitor")["znode_count"])
        self.assertGreaterEqual(srvr["server_stats"]["num_alive_client_connections"], 1)
        self.assertGreater(srvr["server_stats"]["uptime"], 0)

        stat = self.ok("stat", "stats")
        self.assertShape(stat, SRVR)
        for key in ("connections", "secure_connections"):
            self.assertIsInstance(stat[key], list)
        self.assertEqual(stat["secure_connections"], [])
        self.assertGreaterEqual(len(stat["connections"]), 1)
        for c in stat["connections"]:
            self.assertEqual(set(c), set(BRIEF_CONN))
            self.assertShape(c, BRIEF_CONN)
        local = "127.0.0.1:%d" % zk._connection._socket.getsockname()[1]
        self.assertIn(local, [c["remote_socket_address"] for c in stat["connections"]])

    def test_connections_lists_a_kazoo_session(self):
        zk = self.client()
        zk.create(self.unique(), b"x")
        sid = zk.client_id[0]
        doc = self.ok("cons", "connections")
        self.assertEqual(doc["secure_connections"], [])
        mine = [c for c in doc["connections"] if c["session_id"] == sid]
        self.assertEqual(len(mine), 1, doc["connections"])
        c = mine[0]
        self.assertEqual(set(c), set(FULL_CONN))
        self.assertShape(c, FULL_CONN)
        local = "127.0.0.1:%d" % zk._connection._socket.getsockname()[1]
        self.assertEqual(c["remote_socket_address"], local)
        self.assertEqual(c["interest_ops"], 1)
        self.assertEqual(c["session_timeout"], 10000)
        self.assertGreaterEqual(c["packets_received"], 2)
        self.assertGreater(c["established"], 1500000000000)    # wall clock, ms

    def test_connection_stat_reset_clears_the_counters(self):
        zk = self.client()
        for _ in range(10):
            zk.exists("/")
        sid = zk.client_id[0]

        def mine():
            return [c for c in self.get("connections")["connections"]
                    if c["session_id"] == sid][0]
        self.assertGreaterEqual(mine()["packets_received"], 10)
        self.assertEqual(self.get("crst"), {"command": "connection_stat_reset", "error": None})
        after = mine()
        self.assertLess(after["packets_received"], 3)           # a ping may have come in
        self.assertEqual(after["max_latency"], 0)

    def test_stat_reset_clears_the_server_counters(self):
        zk = self.client()
        for _ in range(20):
            zk.exists("/")
        self.assertGreaterEqual(self.get("srvr")["server_stats"]["packets_received"], 20)
        self.assertEqual(self.get("srst"), {"command": "stat_reset", "error": None})
        self.assertLess(self.get("srvr")["server_stats"]["packets_received"], 20)

    def test_monitor_numbers_and_znode_count(self):
        zk = self.client()
        base = self.unique()
        zk.create(base, b"")
        before = self.ok("monitor")
        for i in range(3):
            zk.create("%s/n%d" % (base, i), b"abc")
        doc = self.ok("mntr", "monitor")
        self.assertEqual(doc["server_state"], "standalone")
        self.assertTrue(doc["version"].startswith("3.8."), doc["version"])
        for key, v in doc.items():
            self.assertFalse(key.startswith("zk_"), key)
            if key not in ("version", "server_state", "command", "error",
                           "log_write_error"):
                self.assertTrue(isinstance(v, (int, float)) and not isinstance(v, bool),
                                "%s = %r is not a number" % (key, v))
        for key in MONITOR_NUMBERS:
            self.assertIn(key, doc)
            self.assertIsInstance(doc[key], float if key in MONITOR_FLOATS else int, key)
        self.assertEqual(doc["znode_count"], before["znode_count"] + 3)
        # ZooKeeper counts the root twice ("" and "/"); kazoo sees it once
        self.assertEqual(doc["znode_count"], self.count_nodes(zk) + 1)

    def test_monitor_has_mntrs_keys(self):
        text = self.server.four(b"mntr").decode("utf-8")
        mntr = {line.split("\t", 1)[0][len("zk_"):] for line in text.splitlines() if line}
        doc = self.ok("monitor")
        self.assertEqual(mntr, set(doc) - {"command", "error"})

    def test_watches_set_by_kazoo(self):
        zk = self.client()
        sid = zk.client_id[0]
        path = self.unique()
        zk.create(path, b"")
        before = self.ok("wchs", "watch_summary")
        self.assertShape(before, {"num_connections": INT, "num_paths": INT,
                                  "num_total_watches": INT})
        zk.get(path, watch=lambda event: None)
        zk.get_children(path, watch=lambda event: None)   # a child watch: not counted
        after = self.get("watch_summary")
        self.assertEqual(after["num_total_watches"], before["num_total_watches"] + 1)
        self.assertEqual(after["num_paths"], before["num_paths"] + 1)
        self.assertEqual(after["num_connections"], before["num_connections"] + 1)

        by_session = self.ok("wchc", "watches")["session_id_to_watched_paths"]
        self.assertIsInstance(by_session, dict)
        self.assertEqual(by_session[str(sid)], [path])
        by_path = self.ok("wchp", "watches_by_path")["path_to_session_ids"]
        self.assertEqual(by_path[path], [sid])

    def test_strings_are_escaped(self):
        zk = self.client()
        sid = zk.client_id[0]
        path = self.unique() + '_quote"back\\slash_\u00e9\u2713'
        zk.create(path, b"")
        zk.exists(path, watch=lambda event: None)
        self.assertEqual(self.get("watches_by_path")["path_to_session_ids"][path], [sid])
        self.assertIn(path, self.get("watches")["session_id_to_watched_paths"][str(sid)])

    def test_dump_lists_sessions_and_ephemerals(self):
        zk = self.client()
        sid = zk.client_id[0]
        path = self.unique()
        zk.create(path, b"", ephemeral=True)
        doc = self.ok("dump")
        expiry = doc["expiry_time_to_session_ids"]
        self.assertIsInstance(expiry, dict)
        for when, ids in expiry.items():
            int(when)
            self.assertTrue(all(isinstance(i, int) for i in ids), ids)
        self.assertIn(sid, [i for ids in expiry.values() for i in ids])
        self.assertEqual(doc["session_id_to_ephemeral_paths"][str(sid)], [path])

    # ------------------------------------------------------------ configuration and files
    def test_configuration(self):
        doc = self.ok("conf", "configuration")
        self.assertShape(doc, CONFIGURATION)
        self.assertEqual(doc["client_port"], self.server.port)
        self.assertEqual(doc["data_dir"], os.path.join(self.server.data_dir, "version-2"))
        self.assertEqual(doc["data_log_dir"], doc["data_dir"])
        self.assertEqual(doc["tick_time"], harness.TICK_TIME)
        self.assertEqual(doc["min_session_timeout"], 2 * harness.TICK_TIME)
        self.assertEqual(doc["max_session_timeout"], 20 * harness.TICK_TIME)
        self.assertEqual(doc["server_id"], 0)

    def test_initial_configuration_is_the_config_file(self):
        text = self.ok("icfg", "initial_configuration")["initial_configuration"]
        self.assertIsInstance(text, str)
        self.assertIn(str(self.server.port), text)
        self.assertIn(str(self.server.admin_port), text)

    def test_dirs_and_last_snapshot(self):
        zk = self.client()
        zk.create(self.unique(), b"x")
        dirs = self.ok("dirs")
        self.assertShape(dirs, {"datadir_size": INT, "logdir_size": INT})
        self.assertGreater(dirs["logdir_size"], 0)
        snap = self.ok("lsnp", "last_snapshot")
        self.assertShape(snap, {"zxid": STR, "timestamp": INT})
        zxid = int(snap["zxid"], 16)
        self.assertIn("snapshot.%x" % zxid,
                      os.listdir(os.path.join(self.server.data_dir, "version-2")))

    def test_environment(self):
        doc = self.ok("envi", "environment")
        self.assertEqual(list(doc)[:len(ENVIRONMENT_KEYS)], ENVIRONMENT_KEYS)
        for key in ENVIRONMENT_KEYS:
            self.assertIsInstance(doc[key], str, key)
        self.assertTrue(doc["zookeeper.version"].startswith("3.8."))
        self.assertTrue(doc["os.memory.free"].endswith("MB"))

    # ------------------------------------------------------------ the rest
    def test_trace_mask(self):
        self.assertEqual(self.get("gtmk")["tracemask"], 306)
        self.assertEqual(self.get("set_trace_mask"),
                         {"error": "setTraceMask requires long traceMask argument",
                          "command": "set_trace_mask"})
        self.assertEqual(self.get("set_trace_mask?traceMask=x")["error"],
                         "setTraceMask requires long traceMask argument, got x")
        try:
            self.assertEqual(self.get("stmk?traceMask=7"),
                             {"tracemask": 7, "command": "set_trace_mask", "error": None})
            self.assertEqual(self.get("get_trace_mask")["tracemask"], 7)
        finally:
            self.get("set_trace_mask?traceMask=306")

    def test_fixed_answers_of_a_standalone_server(self):
        self.assertEqual(self.get("isro"),
                         {"read_only": False, "command": "is_read_only", "error": None})
        self.assertIsInstance(self.ok("hash")["digests"], list)
        self.assertEqual(self.get("lead"), {"error": "server is not initialized",
                                            "command": "leader"})
        self.assertEqual(self.get("obsr"), {"synced_observers": 0, "observers": [],
                                            "command": "observers", "error": None})
        self.assertEqual(self.get("orst"), {"command": "observer_connection_stat_reset",
                                            "error": None})
        self.assertEqual(self.get("voting_view"), {"current_config": {},
                                                   "command": "voting_view", "error": None})
        self.assertEqual(self.get("zabstate"), {"voting": False, "zabstate": "",
                                                "command": "zabstate", "error": None})


if __name__ == "__main__":
    unittest.main()
