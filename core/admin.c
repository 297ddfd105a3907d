/* The admin server: ZooKeeper 3.8's AdminServer commands over HTTP, answered as Jackson's
 * pretty printer lays them out, so that tools written against ZooKeeper's JSON keep working. */
#include "admin.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "fourletter.h"
#include "log.h"
#include "persist/snapshot.h"
#include "server_internal.h"
#include "server_metrics.h"

/* ZooKeeper's admin.idleTimeout default: an idle HTTP connection is closed after 30 s. */
#define ADMIN_IDLE_TIMEOUT_S 30
#define ADMIN_MAX_HEADER_BYTES 8192 /* Jetty's default request header size */

struct admin {
    struct server *srv;
    struct evhttp *http;
    char *initial_config; /* the config file's text, as read at start-up */
    char url[256];        /* command_url without trailing slashes: "/commands", or "" */
    struct jute_writer out;
};

/* --- a JSON writer with Jackson's DefaultPrettyPrinter layout -------------------------------
 * Objects put each entry on its own line, indented two spaces per open object; arrays stay on
 * one line ("[ 1, 2 ]", "[ ]") and do not indent; keys are followed by " : ". */

#define JSON_MAX_DEPTH 16

struct json {
    struct jute_writer *w;
    int depth;                    /* containers open */
    int nesting;                  /* objects open: the indentation */
    size_t count[JSON_MAX_DEPTH]; /* entries so far in each open container */
    bool is_array[JSON_MAX_DEPTH];
};

static void json_raw(struct json *j, const char *s)
{
    jute_write_raw(j->w, s, strlen(s));
}

static void json_newline(struct json *j)
{
    static const char spaces[] = "                                ";
    jute_write_raw(j->w, "\n", 1);
    size_t n = 2 * (size_t)j->nesting;
    jute_write_raw(j->w, spaces, n < sizeof spaces - 1 ? n : sizeof spaces - 1);
}

/* Length of the well-formed UTF-8 sequence at s (1 to 4), or 0: overlong forms, surrogates
 * and code points past U+10FFFF are not well formed. */
static size_t utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* Jackson's two-character escapes; other control characters become \u00XX. */
static const char *const json_escapes['\\' + 1] = {
    ['"'] = "\\\"", ['\\'] = "\\\\", ['\b'] = "\\b", ['\f'] = "\\f",
    ['\n'] = "\\n", ['\r'] = "\\r",  ['\t'] = "\\t",
};

/* A JSON string as Jackson escapes it: quote, backslash and control characters; other text
 * passes as UTF-8. Bytes that are not UTF-8 become U+FFFD, as Java decodes them, so the
 * document always parses. */
static void json_put_string(struct jute_writer *w, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t len = strlen(str), run = 0;
    jute_write_raw(w, "\"", 1);
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t n = c < 0x80 ? 1 : utf8_len(s + i, len - i);
        if (n > 0 && c != '"' && c != '\\' && c >= 0x20) {
            i += n;
            run += n;
            continue;
        }
        jute_write_raw(w, s + i - run, run);
        run = 0;
        const char *esc = "\\uFFFD";
        char ctl[8];
        if (c < sizeof json_escapes / sizeof json_escapes[0] && json_escapes[c] != NULL) {
            esc = json_escapes[c];
        } else if (c < 0x20) {
            snprintf(ctl, sizeof ctl, "\\u%04X", c);
            esc = ctl;
        }
        jute_write_raw(w, esc, strlen(esc));
        i++;
    }
    jute_write_raw(w, s + len - run, run);
    jute_write_raw(w, "\"", 1);
}

/* Separates a value from the one before it in an array; in an object json_key did. */
static void json_before_value(struct json *j)
{
    if (j->depth > 0 && j->is_array[j->depth - 1])
        json_raw(j, j->count[j->depth - 1]++ == 0 ? " " : ", ");
}

static void json_key(struct json *j, const char *key)
{
    if (j->count[j->depth - 1]++ > 0)
        json_raw(j, ",");
    json_newline(j);
    json_put_string(j->w, key);
    json_raw(j, " : ");
}

static void json_open(struct json *j, bool is_array)
{
    json_before_value(j);
    json_raw(j, is_array ? "[" : "{");
    if (j->depth == JSON_MAX_DEPTH) {
        j->w->failed = true; /* never: the commands nest three deep */
        return;
    }
    j->is_array[j->depth] = is_array;
    j->count[j->depth++] = 0;
    j->nesting += !is_array;
}

static void json_close(struct json *j)
{
    bool is_array = j->is_array[--j->depth];
    if (is_array) {
        json_raw(j, " ]");
        return;
    }
    j->nesting--;
    if (j->count[j->depth] > 0)
        json_newline(j);
    else
        json_raw(j, " ");
    json_raw(j, "}");
}

static void json_string(struct json *j, const char *s)
{
    json_before_value(j);
    json_put_string(j->w, s);
}

static void json_int(struct json *j, int64_t v)
{
    char num[24];
    json_before_value(j);
    snprintf(num, sizeof num, "%" PRId64, v);
    json_raw(j, num);
}

/* Java's Double.toString, rounded to 4 decimals as ZooKeeper's averages are; Jackson quotes
 * the values JSON has no number for. */
static void json_double(struct json *j, double v)
{
    char num[40];
    json_before_value(j);
    if (isfinite(v)) {
        flw_format_double(v, num, sizeof num);
        json_raw(j, num);
    } else {
        json_put_string(j->w, isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
    }
}

static void json_bool(struct json *j, bool v)
{
    json_before_value(j);
    json_raw(j, v ? "true" : "false");
}

static void json_null(struct json *j)
{
    json_before_value(j);
    json_raw(j, "null");
}

static void kv_string(struct json *j, const char *key, const char *v)
{
    json_key(j, key);
    json_string(j, v);
}

static void kv_int(struct json *j, const char *key, int64_t v)
{
    json_key(j, key);
    json_int(j, v);
}

static void kv_double(struct json *j, const char *key, double v)
{
    json_key(j, key);
    json_double(j, v);
}

static void kv_bool(struct json *j, const char *key, bool v)
{
    json_key(j, key);
    json_bool(j, v);
}

static void kv_open(struct json *j, const char *key, bool is_array)
{
    json_key(j, key);
    json_open(j, is_array);
}

/* --- the commands ------------------------------------------------------------------------ */

/* What a command sees: the server, the query's parameters, and where to say it failed. */
struct cmd_ctx {
    struct admin *a;
    struct server *srv;
    struct json *j;
    const struct evkeyvalq *params;
    const char *error;
    char error_buf[200];
};

static int64_t session_of(const struct conn *c)
{
    return c != NULL && c->session != NULL ? c->session->id : 0;
}

static int64_t uptime_ms(const struct server *srv)
{
    uint64_t now = server_mono_ms();
    return now > srv->start_ms ? (int64_t)(now - srv->start_ms) : 0;
}

/* Jackson's InetSocketAddress form: "127.0.0.1:2181", "[0:0:0:0:0:0:0:1]:2181". */
static void conn_remote(const struct conn *c, char *out, size_t len)
{
    char java[96];
    flw_conn_address(c, java, sizeof java); /* "/host:port" */
    const char *host = java[0] == '/' ? java + 1 : java;
    const char *colon = strrchr(host, ':');
    if (c->cnxn != NULL && c->cnxn->is_ipv6 && colon != NULL)
        snprintf(out, len, "[%.*s]%s", (int)(colon - host), host, colon);
    else
        snprintf(out, len, "%s", host);
}

/* ServerCnxn.getConnectionInfo: brief for stats, everything for connections. */
static void put_conn_info(struct json *j, const struct conn *c, bool brief)
{
    char remote[112];
    conn_remote(c, remote, sizeof remote);
    json_open(j, false);
    kv_string(j, "remote_socket_address", remote);
    kv_int(j, "interest_ops", c->is_four_letter ? 0 : 1);
    kv_int(j, "outstanding_requests", (int64_t)c->queued);
    kv_int(j, "packets_received", (int64_t)c->packets_received);
    kv_int(j, "packets_sent", (int64_t)c->packets_sent);
    if (!brief) {
        const struct latency_stats *l = &c->latency;
        kv_int(j, "session_id", session_of(c));
        kv_string(j, "last_operation", c->last_op != NULL ? c->last_op : "NA");
        kv_int(j, "established", c->established_ms);
        kv_int(j, "session_timeout", c->session != NULL ? c->session->timeout_ms : 0);
        kv_int(j, "last_cxid", c->last_cxid);
        kv_int(j, "last_zxid", c->last_zxid);
        kv_int(j, "last_response_time", (int64_t)c->last_response_ms);
        kv_int(j, "last_latency", c->last_latency_ms);
        kv_int(j, "min_latency", l->count > 0 ? l->min_ms : 0);
        kv_int(j, "avg_latency", l->count > 0 ? l->total_ms / l->count : 0);
        kv_int(j, "max_latency", l->max_ms);
    }
    json_close(j);
}

/* "connections" and "secure_connections", split by listener as ZooKeeper's two factories. */
static void put_connections(struct cmd_ctx *x, bool brief)
{
    for (int secure = 0; secure <= 1; secure++) {
        kv_open(x->j, secure ? "secure_connections" : "connections", true);
        for (const struct conn *c = x->srv->conns; c != NULL; c = c->next)
            if (flw_conn_is_secure(c) == (secure != 0))
                put_conn_info(x->j, c, brief);
        json_close(x->j);
    }
}

/* ZooKeeper's BufferStats of response sizes; corral keeps none, and -1 is "no data". */
static void put_buffer_stats(struct json *j, const char *key)
{
    kv_open(j, key, false);
    kv_int(j, "last_buffer_size", -1);
    kv_int(j, "min_buffer_size", -1);
    kv_int(j, "max_buffer_size", -1);
    json_close(j);
}

/* SrvrCommand: the version, ServerStats and the node count. */
static void cmd_server_stats(struct cmd_ctx *x)
{
    struct server *srv = x->srv;
    struct json *j = x->j;
    char version[96];
    flw_server_version(version, sizeof version);
    struct flw_conf *fc = malloc(sizeof *fc);
    if (fc == NULL) {
        x->error = "out of memory";
        return;
    }
    flw_conf_read(srv, fc);
    const struct latency_stats *l = &srv->latency;
    kv_string(j, "version", version);
    kv_bool(j, "read_only", false);
    kv_open(j, "server_stats", false);
    kv_int(j, "packets_sent", (int64_t)srv->packets_sent);
    kv_int(j, "packets_received", (int64_t)srv->packets_received);
    kv_int(j, "fsync_threshold_exceed_count", 0); /* corral logs slow fsyncs, counts none */
    put_buffer_stats(j, "client_response_stats");
    kv_bool(j, "provider_null", false);
    kv_int(j, "data_dir_size", fc->data_dir_bytes);
    kv_int(j, "log_dir_size", fc->data_log_bytes);
    kv_string(j, "server_state", "standalone");
    kv_int(j, "last_processed_zxid", srv->last_applied_zxid);
    kv_int(j, "outstanding_requests", (int64_t)srv->outstanding);
    kv_double(j, "avg_latency", l->count > 0 ? (double)l->total_ms / (double)l->count : 0.0);
    kv_int(j, "max_latency", l->max_ms);
    kv_int(j, "min_latency", l->count > 0 ? l->min_ms : 0);
    kv_int(j, "num_alive_client_connections", (int64_t)srv->n_conns);
    kv_int(j, "uptime", uptime_ms(srv));
    kv_int(j, "auth_failed_count", (int64_t)srv->auth_failed);
    kv_int(j, "non_mtlsremote_conn_count", 0);
    kv_int(j, "non_mtlslocal_conn_count", 0);
    json_close(j);
    put_buffer_stats(j, "client_response");
    kv_int(j, "node_count", datatree_node_count(srv->tree));
    free(fc);
}

static void cmd_stats(struct cmd_ctx *x)
{
    cmd_server_stats(x);
    if (x->error == NULL)
        put_connections(x, true);
}

static void cmd_connections(struct cmd_ctx *x)
{
    put_connections(x, false);
}

static void cmd_ruok(struct cmd_ctx *x)
{
    /* The 4lw ruok stays silent while the log cannot be written; here that is ZooKeeper's
     * error for a server that is not serving. */
    if (x->srv->writes_failed)
        x->error = "This ZooKeeper instance is not currently serving requests";
}

static void cmd_configuration(struct cmd_ctx *x)
{
    const struct config *cfg = x->srv->cfg;
    struct flw_conf *fc = malloc(sizeof *fc);
    if (fc == NULL) {
        x->error = "out of memory";
        return;
    }
    flw_conf_read(x->srv, fc);
    struct json *j = x->j;
    kv_int(j, "client_port", fc->client_port);
    kv_string(j, "data_dir", fc->data_dir);
    kv_string(j, "data_log_dir", fc->data_log_dir);
    kv_int(j, "tick_time", cfg->tick_ms);
    kv_int(j, "max_client_cnxns", cfg->max_client_cnxns);
    kv_int(j, "min_session_timeout", cfg->min_session_timeout_ms);
    kv_int(j, "max_session_timeout", cfg->max_session_timeout_ms);
    kv_int(j, "server_id", 0);
    kv_int(j, "client_port_listen_backlog", fc->listen_backlog);
    free(fc);
}

static void cmd_dirs(struct cmd_ctx *x)
{
    struct flw_conf *fc = malloc(sizeof *fc);
    if (fc == NULL) {
        x->error = "out of memory";
        return;
    }
    flw_conf_read(x->srv, fc);
    kv_int(x->j, "datadir_size", fc->data_dir_bytes);
    kv_int(x->j, "logdir_size", fc->data_log_bytes);
    free(fc);
}

/* (key, id) pairs for dump: a bucket's expiry time or a session id, then a session id. */
struct id_pair {
    int64_t key, id;
};

struct pair_list {
    struct id_pair *v;
    size_t n, cap;
    bool failed;
    struct server *srv;
};

static void pair_push(struct pair_list *l, int64_t key, int64_t id)
{
    if (l->n == l->cap) {
        size_t cap = l->cap != 0 ? 2 * l->cap : 32;
        struct id_pair *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL) {
            l->failed = true;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (struct id_pair){key, id};
}

static int pair_cmp(const void *a, const void *b)
{
    const struct id_pair *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static void collect_expiry(struct session *sess, void *arg)
{
    pair_push(arg, (int64_t)sess->expire_at_ms, sess->id);
}

static void collect_ephemeral_owner(struct session *sess, void *arg)
{
    struct pair_list *l = arg;
    if (datatree_ephemeral_count(l->srv->tree, sess->id) > 0)
        pair_push(l, sess->id, sess->id);
}

static void put_ephemeral_path(struct znode *n, void *arg)
{
    json_string(arg, n->path);
}

/* DumpCommand: sessions by expiry bucket (monotonic ms, as ZooKeeper's ExpiryQueue) and the
 * ephemeral paths of each session that has any. */
static void cmd_dump(struct cmd_ctx *x)
{
    struct json *j = x->j;
    struct pair_list l = {.srv = x->srv};
    char key[24];
    sessions_each(x->srv->sessions, collect_expiry, &l);
    if (l.n > 1)
        qsort(l.v, l.n, sizeof l.v[0], pair_cmp);
    kv_open(j, "expiry_time_to_session_ids", false);
    for (size_t i = 0; i < l.n; i++) {
        if (i == 0 || l.v[i].key != l.v[i - 1].key) {
            if (i > 0)
                json_close(j);
            snprintf(key, sizeof key, "%" PRId64, l.v[i].key);
            kv_open(j, key, true);
        }
        json_int(j, l.v[i].id);
    }
    if (l.n > 0)
        json_close(j);
    json_close(j);

    l.n = 0;
    sessions_each(x->srv->sessions, collect_ephemeral_owner, &l);
    if (l.n > 1)
        qsort(l.v, l.n, sizeof l.v[0], pair_cmp);
    kv_open(j, "session_id_to_ephemeral_paths", false);
    for (size_t i = 0; i < l.n; i++) {
        snprintf(key, sizeof key, "%" PRId64, l.v[i].id);
        kv_open(j, key, true);
        datatree_each_ephemeral(x->srv->tree, l.v[i].id, put_ephemeral_path, j);
        json_close(j);
    }
    json_close(j);
    if (l.failed)
        j->w->failed = true;
    free(l.v);
}

static void put_env(const char *key, const char *value, void *arg)
{
    kv_string(arg, key, value);
}

static void cmd_environment(struct cmd_ctx *x)
{
    flw_environment_each(put_env, x->j);
}

static void cmd_get_trace_mask(struct cmd_ctx *x)
{
    kv_int(x->j, "tracemask", x->srv->trace_mask);
}

/* set_trace_mask?traceMask=<long>: what stmk does with its 8-byte argument. */
static void cmd_set_trace_mask(struct cmd_ctx *x)
{
    const char *arg = evhttp_find_header(x->params, "traceMask");
    if (arg == NULL) {
        x->error = "setTraceMask requires long traceMask argument";
        return;
    }
    char *end = NULL;
    errno = 0;
    long long mask = strtoll(arg, &end, 10);
    if (*arg == '\0' || isspace((unsigned char)*arg) || *end != '\0' || errno != 0) {
        snprintf(x->error_buf, sizeof x->error_buf,
                 "setTraceMask requires long traceMask argument, got %.100s", arg);
        x->error = x->error_buf;
        return;
    }
    x->srv->trace_mask = (uint32_t)((uint64_t)mask & 0xffffffffu);
    kv_int(x->j, "tracemask", x->srv->trace_mask);
}

static void cmd_hash(struct cmd_ctx *x)
{
    /* ZooKeeper logs a tree digest every 128 txns; corral keeps none, as its 4lw hash. */
    kv_open(x->j, "digests", true);
    json_close(x->j);
}

static void cmd_initial_configuration(struct cmd_ctx *x)
{
    kv_string(x->j, "initial_configuration", x->a->initial_config);
}

static void cmd_is_read_only(struct cmd_ctx *x)
{
    kv_bool(x->j, "read_only", false);
}

/* The newest snapshot file: its zxid (Long.toHexString) and time in seconds; -1 without. */
static void cmd_last_snapshot(struct cmd_ctx *x)
{
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/version-2", x->srv->data_dir);
    int64_t *zxids = NULL, zxid = -1, when = -1;
    size_t n = 0;
    if (snapshot_list(dir, &zxids, &n) == 0 && n > 0) {
        struct stat st;
        zxid = zxids[0];
        snprintf(path, sizeof path, "%s/snapshot.%" PRIx64, dir, (uint64_t)zxid);
        if (stat(path, &st) == 0)
            when = (int64_t)st.st_mtime;
    }
    free(zxids);
    char hex[24];
    snprintf(hex, sizeof hex, "%" PRIx64, (uint64_t)zxid);
    kv_string(x->j, "zxid", hex);
    kv_int(x->j, "timestamp", when);
}

static void cmd_leader(struct cmd_ctx *x)
{
    x->error = "server is not initialized"; /* ZooKeeper's answer when not in a quorum */
}

static void put_metric(const char *name, double v, bool is_double, void *arg)
{
    if (is_double)
        kv_double(arg, name, v);
    else
        kv_int(arg, name, (int64_t)v);
}

/* MonitorCommand: mntr's keys without "zk_", numbers as JSON numbers. */
static void cmd_monitor(struct cmd_ctx *x)
{
    char version[96];
    flw_server_version(version, sizeof version);
    kv_string(x->j, "version", version);
    kv_string(x->j, "server_state", "standalone");
    if (x->srv->writes_failed)
        kv_string(x->j, "log_write_error", x->srv->write_error); /* corral's own, as mntr */
    server_metrics_each(x->srv, put_metric, x->j);
}

static void cmd_nothing(struct cmd_ctx *x)
{
    (void)x; /* observer_connection_stat_reset: standalone has no observers */
}

static void cmd_observers(struct cmd_ctx *x)
{
    kv_int(x->j, "synced_observers", 0);
    kv_open(x->j, "observers", true);
    json_close(x->j);
}

static void cmd_stat_reset(struct cmd_ctx *x)
{
    flw_reset_server_stats(x->srv);
}

static void cmd_connection_stat_reset(struct cmd_ctx *x)
{
    flw_reset_conn_stats(x->srv);
}

static void cmd_voting_view(struct cmd_ctx *x)
{
    kv_open(x->j, "current_config", false);
    json_close(x->j);
}

static void cmd_watch_summary(struct cmd_ctx *x)
{
    const struct watches *w = x->srv->watches;
    kv_int(x->j, "num_connections", (int64_t)watches_watcher_count(w, WATCH_DATA));
    kv_int(x->j, "num_paths", (int64_t)watches_path_count(w, WATCH_DATA));
    kv_int(x->j, "num_total_watches", (int64_t)watches_count(w, WATCH_DATA));
}

struct watch_json {
    struct json *j;
    bool by_watcher;
    bool started;
    const void *last_watcher;
    const char *last_path;
};

/* watches_each hands out pairs grouped by watcher or by path: a new group opens a new key. */
static void put_watch(const char *path, void *watcher, void *arg)
{
    struct watch_json *d = arg;
    bool same = d->started &&
                (d->by_watcher ? watcher == d->last_watcher : strcmp(path, d->last_path) == 0);
    if (!same) {
        if (d->started)
            json_close(d->j);
        char key[24];
        snprintf(key, sizeof key, "%" PRId64, session_of(watcher));
        kv_open(d->j, d->by_watcher ? key : path, true);
    }
    if (d->by_watcher)
        json_string(d->j, path);
    else
        json_int(d->j, session_of(watcher));
    d->started = true;
    d->last_watcher = watcher;
    d->last_path = path;
}

static void put_watches(struct cmd_ctx *x, const char *key, bool by_watcher)
{
    struct watch_json d = {.j = x->j, .by_watcher = by_watcher};
    kv_open(x->j, key, false);
    watches_each(x->srv->watches, WATCH_DATA, by_watcher, put_watch, &d);
    if (d.started)
        json_close(x->j);
    json_close(x->j);
}

static void cmd_watches(struct cmd_ctx *x)
{
    put_watches(x, "session_id_to_watched_paths", true);
}

static void cmd_watches_by_path(struct cmd_ctx *x)
{
    put_watches(x, "path_to_session_ids", false);
}

static void cmd_zabstate(struct cmd_ctx *x)
{
    kv_bool(x->j, "voting", false);
    kv_string(x->j, "zabstate", "");
}

/* ZooKeeper 3.8's commands by primary name (the index page's order), then their aliases.
 * system_properties, Java's system properties, has no counterpart here. */
static const struct admin_cmd {
    const char *names[4];
    void (*run)(struct cmd_ctx *x);
} admin_cmds[] = {
    {{"configuration", "conf", "config"}, cmd_configuration},
    {{"connection_stat_reset", "crst"}, cmd_connection_stat_reset},
    {{"connections", "cons"}, cmd_connections},
    {{"dirs"}, cmd_dirs},
    {{"dump"}, cmd_dump},
    {{"environment", "env", "envi"}, cmd_environment},
    {{"get_trace_mask", "gtmk"}, cmd_get_trace_mask},
    {{"hash"}, cmd_hash},
    {{"initial_configuration", "icfg"}, cmd_initial_configuration},
    {{"is_read_only", "isro"}, cmd_is_read_only},
    {{"last_snapshot", "lsnp"}, cmd_last_snapshot},
    {{"leader", "lead"}, cmd_leader},
    {{"monitor", "mntr"}, cmd_monitor},
    {{"observer_connection_stat_reset", "orst"}, cmd_nothing},
    {{"observers", "obsr"}, cmd_observers},
    {{"ruok"}, cmd_ruok},
    {{"server_stats", "srvr"}, cmd_server_stats},
    {{"set_trace_mask", "stmk"}, cmd_set_trace_mask},
    {{"stat_reset", "srst"}, cmd_stat_reset},
    {{"stats", "stat"}, cmd_stats},
    {{"voting_view"}, cmd_voting_view},
    {{"watch_summary", "wchs"}, cmd_watch_summary},
    {{"watches", "wchc"}, cmd_watches},
    {{"watches_by_path", "wchp"}, cmd_watches_by_path},
    {{"zabstate"}, cmd_zabstate},
};
#define N_ADMIN_CMDS (sizeof admin_cmds / sizeof admin_cmds[0])

static const struct admin_cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < N_ADMIN_CMDS; i++)
        for (size_t k = 0; k < 4 && admin_cmds[i].names[k] != NULL; k++)
            if (strcmp(admin_cmds[i].names[k], name) == 0)
                return &admin_cmds[i];
    return NULL;
}

int admin_answer(struct admin *a, const char *name, const char *query, struct jute_writer *out)
{
    struct json j = {.w = out};
    struct evkeyvalq params;
    TAILQ_INIT(&params);
    if (query != NULL && evhttp_parse_query_str(query, &params) != 0)
        TAILQ_INIT(&params); /* a malformed query counts as none */
    json_open(&j, false);
    const struct admin_cmd *cmd = find_cmd(name);
    if (cmd == NULL) {
        char why[160];
        snprintf(why, sizeof why, "Unknown command: %.120s", name);
        kv_string(&j, "command", name);
        kv_string(&j, "error", why);
    } else {
        struct cmd_ctx x = {.a = a, .srv = a->srv, .j = &j, .params = &params};
        cmd->run(&x);
        /* CommandResponse: the command's own fields, then its name and error */
        if (x.error != NULL) {
            kv_string(&j, "error", x.error);
            kv_string(&j, "command", cmd->names[0]);
        } else {
            kv_string(&j, "command", cmd->names[0]);
            json_key(&j, "error");
            json_null(&j);
        }
    }
    json_close(&j);
    evhttp_clear_headers(&params);
    return 200;
}

void admin_list(struct admin *a, struct jute_writer *out)
{
    for (size_t i = 0; i < N_ADMIN_CMDS; i++) {
        char line[512];
        int n = snprintf(line, sizeof line, "<a href=\"%s/%s\">%s</a>\n<br/>\n", a->url,
                         admin_cmds[i].names[0], admin_cmds[i].names[0]);
        if (n > 0)
            jute_write_raw(out, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
}

/* --- HTTP ---------------------------------------------------------------------------------- */

static void send_body(struct evhttp_request *req, int status, const char *type,
                      const struct jute_writer *w)
{
    struct evbuffer *body = evbuffer_new();
    if (body == NULL || w->failed || evbuffer_add(body, w->buf, w->len) != 0) {
        if (body != NULL)
            evbuffer_free(body);
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", body);
    evbuffer_free(body);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct admin *a = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *raw = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    char *path = evhttp_uridecode(raw != NULL && raw[0] != '\0' ? raw : "/", 0, NULL);
    if (path == NULL) {
        evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
        return;
    }
    size_t url_len = strlen(a->url);
    if (strncmp(path, a->url, url_len) != 0 || (path[url_len] != '\0' && path[url_len] != '/')) {
        evhttp_send_error(req, HTTP_NOTFOUND, NULL);
        free(path);
        return;
    }
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        evhttp_send_error(req, 405, "Method Not Allowed");
        free(path);
        return;
    }
    const char *rest = path + url_len;
    jute_writer_reset(&a->out);
    if (rest[0] == '\0' || strcmp(rest, "/") == 0) {
        admin_list(a, &a->out);
        send_body(req, 200, "text/html;charset=utf-8", &a->out);
    } else {
        int status = admin_answer(a, rest + 1, evhttp_uri_get_query(uri), &a->out);
        send_body(req, status, "application/json", &a->out);
    }
    free(path);
}

/* The config file as read at start-up, for initial_configuration; "" when unreadable. */
static char *read_config_text(const struct config *cfg)
{
    if (strcmp(cfg->file, "<embedded>") == 0)
        return strdup(config_embedded_default);
    FILE *f = fopen(cfg->file, "r");
    char *text = NULL;
    size_t len = 0;
    if (f != NULL) {
        FILE *mem = open_memstream(&text, &len);
        char buf[4096];
        size_t n;
        while (mem != NULL && (n = fread(buf, 1, sizeof buf, f)) > 0)
            fwrite(buf, 1, n, mem);
        if (mem != NULL)
            fclose(mem);
        fclose(f);
    }
    return text != NULL ? text : strdup("");
}

struct admin *admin_new(struct server *srv)
{
    struct admin *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->srv = srv;
    a->initial_config = read_config_text(srv->cfg);
    if (a->initial_config == NULL) {
        free(a);
        return NULL;
    }
    snprintf(a->url, sizeof a->url, "%s", srv->cfg->admin_command_url);
    size_t n = strlen(a->url);
    while (n > 0 && a->url[n - 1] == '/')
        a->url[--n] = '\0'; /* "/" serves the commands at /<name> */
    jute_writer_init(&a->out);
    return a;
}

/* "corral.conf:21: admin: " or, for the default that no group asked for,
 * "corral.conf: admin (enabled by default): ". */
static int where(const struct config *cfg, char *err, size_t err_len)
{
    int n = cfg->admin_line > 0
                ? snprintf(err, err_len, "%s:%d: admin: ", cfg->file, cfg->admin_line)
                : snprintf(err, err_len, "%s: admin (enabled by default): ", cfg->file);
    return n < 0 ? 0 : (size_t)n < err_len ? n : (int)err_len - 1;
}

int admin_start(struct admin *a, struct event_base *base, char *err, size_t err_len)
{
    const struct config *cfg = a->srv->cfg;
    if (!cfg->admin_enabled || a->http != NULL)
        return 0;
    int at = where(cfg, err, err_len);
    char port[8];
    snprintf(port, sizeof port, "%" PRId64, cfg->admin_port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(cfg->admin_address, port, &hints, &ai);
    if (gai != 0) {
        snprintf(err + at, err_len - (size_t)at, "address \"%s\": %s", cfg->admin_address,
                 gai_strerror(gai));
        return -EINVAL;
    }
    const char *fmt = ai->ai_family == AF_INET6 ? "bind [%s]:%s: %s" : "bind %s:%s: %s";
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1, rc = 0;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 128) != 0) {
        rc = -errno;
        snprintf(err + at, err_len - (size_t)at, fmt, cfg->admin_address, port, strerror(-rc));
        if (fd >= 0)
            close(fd);
        freeaddrinfo(ai);
        return rc;
    }
    freeaddrinfo(ai);
    a->http = evhttp_new(base);
    if (a->http == NULL || evhttp_accept_socket_with_handle(a->http, fd) == NULL) {
        snprintf(err + at, err_len - (size_t)at, "cannot set up the HTTP server: out of memory");
        close(fd);
        admin_stop(a);
        return -ENOMEM;
    }
    evhttp_set_timeout(a->http, ADMIN_IDLE_TIMEOUT_S);
    evhttp_set_max_headers_size(a->http, ADMIN_MAX_HEADER_BYTES);
    evhttp_set_max_body_size(a->http, 4096); /* commands take no body */
    evhttp_set_gencb(a->http, on_request, a);
    err[0] = '\0';
    log_info("admin", "serving ZooKeeper's admin commands on http://%s%s%s:%" PRId64 "%s",
             strchr(cfg->admin_address, ':') != NULL ? "[" : "", cfg->admin_address,
             strchr(cfg->admin_address, ':') != NULL ? "]" : "", cfg->admin_port,
             a->url[0] != '\0' ? a->url : "/");
    return 0;
}

void admin_stop(struct admin *a)
{
    if (a != NULL && a->http != NULL) {
        evhttp_free(a->http); /* closes the listener and every connection */
        a->http = NULL;
    }
}

void admin_free(struct admin *a)
{
    if (a == NULL)
        return;
    admin_stop(a);
    jute_writer_free(&a->out);
    free(a->initial_config);
    free(a);
}
