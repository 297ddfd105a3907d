/* The server's metrics (ZooKeeper's ServerMetrics and the gauges ZooKeeperServer registers):
 * one registry that mntr prints and that every metric is defined in with the metrics provider
 * plugin, under ZooKeeper's names, so dashboards and alerts built for ZooKeeper keep working. */
#ifndef CORRAL_SERVER_METRICS_H
#define CORRAL_SERVER_METRICS_H

#include <stdbool.h>
#include <stdint.h>

struct server;
struct jute_writer;

enum sm_id {
    /* counters */
    SM_BYTES_RECEIVED,
    SM_RESPONSE_BYTES,
    SM_CONNECTION_REQUESTS,
    SM_SESSIONLESS_EXPIRED,
    SM_STALE_SESSIONS_EXPIRED,
    SM_SNAP_COUNT,
    SM_WATCH_BYTES,
    /* summaries: basic (avg/min/max/cnt/sum) */
    SM_FSYNC_TIME,
    SM_SNAPSHOT_TIME,
    SM_DB_INIT_TIME,
    SM_SYNC_BATCH_SIZE,
    SM_STARTUP_TXNS_LOADED,
    SM_STARTUP_TXNS_LOAD_TIME,
    SM_STARTUP_SNAP_LOAD_TIME,
    SM_NODE_CREATED_WATCHES,
    SM_NODE_DELETED_WATCHES,
    SM_NODE_CHANGED_WATCHES,
    SM_NODE_CHILDREN_WATCHES,
    /* summaries: advanced (also p50/p95/p99/p999) */
    SM_READ_LATENCY,
    SM_UPDATE_LATENCY,
    SM_COUNT,
};

/* Defines every metric with the provider (counters, summaries and the gauges read from srv).
 * Call once, after the provider is created and before it starts. */
void server_metrics_init(struct server *srv);
void server_metrics_free(struct server *srv);
/* counter += v, or a summary observes v. Loop thread only. */
void server_metrics_record(struct server *srv, enum sm_id id, double v);
/* mntr's body after zk_version and zk_server_state: every gauge, counter and summary. */
void server_metrics_dump(struct server *srv, struct jute_writer *w);
/* The same values, one call each in mntr's order: the name without "zk_" ("avg_latency",
 * "p99_readlatency"), the value, and whether ZooKeeper prints it as a double. */
void server_metrics_each(struct server *srv,
                         void (*fn)(const char *name, double v, bool is_double, void *arg),
                         void *arg);
/* srst: counters and summaries back to zero. */
void server_metrics_reset(struct server *srv);

#endif
