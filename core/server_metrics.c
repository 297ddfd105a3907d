#include "server_metrics.h"

#include <ctype.h>
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <corral/host.h>

#include "fourletter.h"
#include "jute.h"
#include "server_internal.h"

/* Advanced summaries keep the last SAMPLES values for their percentiles: mntr and a scrape
 * see the recent distribution without unbounded memory. */
#define SAMPLES 1024

struct sm_value {
    double count; /* counter value, or a summary's number of observations */
    double sum, min, max;
    double *samples; /* advanced summaries only: a ring */
    size_t next;
    void *handle;    /* the provider's */
};

struct sm_state {
    struct sm_value v[SM_COUNT];
    struct gauge_arg *gauge_args;
};

static const struct {
    const char *name;
    int type; /* CORRAL_METRIC_COUNTER or _SUMMARY */
    bool advanced;
    const char *help;
} sm_defs[SM_COUNT] = {
    [SM_BYTES_RECEIVED] = {"bytes_received_count", CORRAL_METRIC_COUNTER, false,
                           "bytes received from clients"},
    [SM_RESPONSE_BYTES] = {"response_bytes", CORRAL_METRIC_COUNTER, false,
                           "bytes of replies sent to clients"},
    [SM_CONNECTION_REQUESTS] = {"connection_request_count", CORRAL_METRIC_COUNTER, false,
                                "incoming client connections"},
    [SM_SESSIONLESS_EXPIRED] = {"sessionless_connections_expired", CORRAL_METRIC_COUNTER, false,
                                "connections closed for never sending a ConnectRequest"},
    [SM_STALE_SESSIONS_EXPIRED] = {"stale_sessions_expired", CORRAL_METRIC_COUNTER, false,
                                   "sessions that expired"},
    [SM_SNAP_COUNT] = {"snap_count", CORRAL_METRIC_COUNTER, false, "snapshots taken"},
    [SM_WATCH_BYTES] = {"watch_bytes", CORRAL_METRIC_COUNTER, false,
                        "bytes of watch notifications sent"},
    [SM_FSYNC_TIME] = {"fsynctime", CORRAL_METRIC_SUMMARY, false,
                       "time to commit (fsync) a batch of the transaction log, ms"},
    [SM_SNAPSHOT_TIME] = {"snapshottime", CORRAL_METRIC_SUMMARY, false,
                          "time to write a snapshot, ms"},
    [SM_DB_INIT_TIME] = {"dbinittime", CORRAL_METRIC_SUMMARY, false,
                         "time to load the database at start-up, ms"},
    [SM_SYNC_BATCH_SIZE] = {"sync_processor_batch_size", CORRAL_METRIC_SUMMARY, false,
                            "txns committed by one fsync"},
    [SM_STARTUP_TXNS_LOADED] = {"startup_txns_loaded", CORRAL_METRIC_SUMMARY, false,
                                "txns replayed at start-up"},
    [SM_STARTUP_TXNS_LOAD_TIME] = {"startup_txns_load_time", CORRAL_METRIC_SUMMARY, false,
                                   "time to replay the log at start-up, ms"},
    [SM_STARTUP_SNAP_LOAD_TIME] = {"startup_snap_load_time", CORRAL_METRIC_SUMMARY, false,
                                   "time to load the snapshot at start-up, ms"},
    [SM_NODE_CREATED_WATCHES] = {"node_created_watch_count", CORRAL_METRIC_SUMMARY, false,
                                 "watchers notified of one node creation"},
    [SM_NODE_DELETED_WATCHES] = {"node_deleted_watch_count", CORRAL_METRIC_SUMMARY, false,
                                 "watchers notified of one node deletion"},
    [SM_NODE_CHANGED_WATCHES] = {"node_changed_watch_count", CORRAL_METRIC_SUMMARY, false,
                                 "watchers notified of one data change"},
    [SM_NODE_CHILDREN_WATCHES] = {"node_children_watch_count", CORRAL_METRIC_SUMMARY, false,
                                  "watchers notified of one child list change"},
    [SM_READ_LATENCY] = {"readlatency", CORRAL_METRIC_SUMMARY, true,
                         "read request latency, ms"},
    [SM_UPDATE_LATENCY] = {"updatelatency", CORRAL_METRIC_SUMMARY, true,
                           "write request latency, ms"},
};

/* --- gauges, read when mntr runs or the provider exports ----------------------------------- */

static double latency_avg(const struct server *srv)
{
    const struct latency_stats *l = &srv->latency;
    return l->count > 0 ? round((double)l->total_ms / (double)l->count * 10000.0) / 10000.0 : 0.0;
}

static int64_t open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += isdigit((unsigned char)e->d_name[0]) != 0;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static double g_avg_latency(struct server *s) { return latency_avg(s); }
static double g_max_latency(struct server *s) { return (double)s->latency.max_ms; }
static double g_min_latency(struct server *s)
{
    return s->latency.count > 0 ? (double)s->latency.min_ms : 0;
}
static double g_packets_received(struct server *s) { return (double)s->packets_received; }
static double g_packets_sent(struct server *s) { return (double)s->packets_sent; }
static double g_connections(struct server *s) { return (double)s->n_conns; }
static double g_outstanding(struct server *s) { return (double)s->outstanding; }
static double g_uptime(struct server *s)
{
    uint64_t now = server_mono_ms();
    return now > s->start_ms ? (double)(now - s->start_ms) : 0;
}
static double g_znodes(struct server *s) { return (double)datatree_node_count(s->tree); }
static double g_watches(struct server *s)
{
    return (double)(watches_count(s->watches, WATCH_DATA) + watches_count(s->watches, WATCH_CHILD));
}
static double g_ephemerals(struct server *s) { return (double)datatree_ephemerals_total(s->tree); }
static double g_data_size(struct server *s)
{
    return (double)datatree_approximate_data_size(s->tree);
}
static double g_sessions(struct server *s) { return (double)sessions_count(s->sessions); }
static double g_zero(struct server *s)
{
    (void)s;
    return 0;
}
static double g_open_fds(struct server *s)
{
    (void)s;
    return (double)open_fds();
}
static double g_max_fds(struct server *s)
{
    (void)s;
    struct rlimit rl;
    return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (double)rl.rlim_cur : -1;
}
static double g_auth_failed(struct server *s) { return (double)s->auth_failed; }
static double g_rejected(struct server *s) { return (double)s->connection_rejected; }
static double g_dropped(struct server *s) { return (double)s->connection_drop; }

/* In ZooKeeper's mntr order of importance; `real` ones print as Java doubles. */
static const struct {
    const char *name;
    double (*read)(struct server *s);
    bool real;
    const char *help;
} gauges[] = {
    {"avg_latency", g_avg_latency, true, "average request latency, ms"},
    {"max_latency", g_max_latency, false, "maximum request latency, ms"},
    {"min_latency", g_min_latency, false, "minimum request latency, ms"},
    {"packets_received", g_packets_received, false, "packets received"},
    {"packets_sent", g_packets_sent, false, "packets sent"},
    {"num_alive_connections", g_connections, false, "live client connections"},
    {"outstanding_requests", g_outstanding, false, "requests not yet answered"},
    {"uptime", g_uptime, false, "time since start-up, ms"},
    {"znode_count", g_znodes, false, "znodes"},
    {"watch_count", g_watches, false, "watches"},
    {"ephemerals_count", g_ephemerals, false, "ephemeral znodes"},
    {"approximate_data_size", g_data_size, false, "bytes of paths and data"},
    {"global_sessions", g_sessions, false, "sessions"},
    {"local_sessions", g_zero, false, "local sessions (none in standalone)"},
    {"open_file_descriptor_count", g_open_fds, false, "open file descriptors"},
    {"max_file_descriptor_count", g_max_fds, false, "file descriptor limit"},
    {"connection_drop_probability", g_zero, true, "probability of shedding a connection"},
    {"auth_failed_count", g_auth_failed, false, "failed authentications"},
    {"connection_rejected", g_rejected, false, "connections refused (max_client_cnxns)"},
    {"connection_drop_count", g_dropped, false, "connections dropped"},
};
#define N_GAUGES (sizeof gauges / sizeof gauges[0])

struct gauge_arg {
    struct server *srv;
    size_t index;
};

static double gauge_read(void *arg)
{
    const struct gauge_arg *ga = arg;
    return gauges[ga->index].read(ga->srv);
}

void server_metrics_init(struct server *srv)
{
    struct sm_state *st = calloc(1, sizeof *st);
    if (st == NULL)
        return; /* metrics then stay empty; nothing else depends on them */
    st->gauge_args = calloc(N_GAUGES, sizeof *st->gauge_args);
    for (size_t i = 0; i < SM_COUNT; i++) {
        if (sm_defs[i].advanced)
            st->v[i].samples = calloc(SAMPLES, sizeof(double));
        st->v[i].handle =
            host_metric_define(srv->env, sm_defs[i].name, sm_defs[i].type, sm_defs[i].help);
    }
    for (size_t i = 0; st->gauge_args != NULL && i < N_GAUGES; i++) {
        st->gauge_args[i] = (struct gauge_arg){srv, i};
        host_metric_gauge(srv->env, gauges[i].name, gauges[i].help, gauge_read,
                          &st->gauge_args[i]);
    }
    srv->metrics = st;
}

void server_metrics_free(struct server *srv)
{
    struct sm_state *st = srv->metrics;
    if (st == NULL)
        return;
    for (size_t i = 0; i < SM_COUNT; i++)
        free(st->v[i].samples);
    free(st->gauge_args);
    free(st);
    srv->metrics = NULL;
}

void server_metrics_record(struct server *srv, enum sm_id id, double v)
{
    struct sm_state *st = srv->metrics;
    if (st == NULL)
        return;
    struct sm_value *m = &st->v[id];
    if (m->count == 0 || v < m->min)
        m->min = v;
    if (m->count == 0 || v > m->max)
        m->max = v;
    m->count += sm_defs[id].type == CORRAL_METRIC_COUNTER ? v : 1;
    m->sum += v;
    if (m->samples != NULL) {
        m->samples[m->next % SAMPLES] = v;
        m->next++;
    }
    host_metric_record(srv->env, m->handle, v);
}

void server_metrics_reset(struct server *srv)
{
    struct sm_state *st = srv->metrics;
    for (size_t i = 0; st != NULL && i < SM_COUNT; i++) {
        double *samples = st->v[i].samples;
        void *handle = st->v[i].handle;
        st->v[i] = (struct sm_value){.samples = samples, .handle = handle};
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void server_metrics_each(struct server *srv,
                         void (*fn)(const char *name, double v, bool is_double, void *arg),
                         void *arg)
{
    for (size_t i = 0; i < N_GAUGES; i++) {
        double v = gauges[i].read(srv);
        if (gauges[i].real || v >= 0)
            fn(gauges[i].name, v, gauges[i].real, arg);
    }
    const struct sm_state *st = srv->metrics;
    char key[96];
    for (size_t i = 0; st != NULL && i < SM_COUNT; i++) {
        const struct sm_value *m = &st->v[i];
        const char *name = sm_defs[i].name;
        if (sm_defs[i].type == CORRAL_METRIC_COUNTER) {
            fn(name, m->count, false, arg);
            continue;
        }
        /* ZooKeeper's AvgMinMaxCounter: avg as a double, the rest as longs */
        snprintf(key, sizeof key, "avg_%s", name);
        fn(key, m->count > 0 ? round(m->sum / m->count * 10000) / 10000 : 0, true, arg);
        snprintf(key, sizeof key, "min_%s", name);
        fn(key, m->count > 0 ? m->min : 0, false, arg);
        snprintf(key, sizeof key, "max_%s", name);
        fn(key, m->count > 0 ? m->max : 0, false, arg);
        snprintf(key, sizeof key, "cnt_%s", name);
        fn(key, m->count, false, arg);
        snprintf(key, sizeof key, "sum_%s", name);
        fn(key, m->sum, false, arg);
        if (m->samples == NULL)
            continue;
        size_t n = m->next < SAMPLES ? m->next : SAMPLES;
        double sorted[SAMPLES];
        memcpy(sorted, m->samples, n * sizeof *sorted);
        if (n > 1)
            qsort(sorted, n, sizeof *sorted, cmp_double);
        static const struct {
            const char *prefix;
            double q;
        } qs[] = {{"p50_", 0.5}, {"p95_", 0.95}, {"p99_", 0.99}, {"p999_", 0.999}};
        for (size_t k = 0; k < 4; k++) {
            snprintf(key, sizeof key, "%s%s", qs[k].prefix, name);
            fn(key, n > 0 ? sorted[(size_t)(qs[k].q * (double)(n - 1))] : 0, false, arg);
        }
    }
}

/* One mntr line: "zk_<name>\t<value>\n", longs as integers and the rest as Java doubles. */
static void put_line(const char *name, double v, bool is_double, void *arg)
{
    char num[32], line[256];
    if (is_double)
        flw_format_double(v, num, sizeof num);
    else
        snprintf(num, sizeof num, "%" PRId64, (int64_t)v);
    int n = snprintf(line, sizeof line, "zk_%s\t%s\n", name, num);
    if (n > 0)
        jute_write_raw(arg, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

void server_metrics_dump(struct server *srv, struct jute_writer *w)
{
    server_metrics_each(srv, put_line, w);
}
