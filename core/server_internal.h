/* The server's state, shared by its modules (server.c, prep.c, apply.c, fourletter.c). */
#ifndef CORRAL_SERVER_INTERNAL_H
#define CORRAL_SERVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <corral/cnxn.h>

#include "acl.h"
#include "config.h"
#include "datatree.h"
#include "host.h"
#include "jute.h"
#include "session.h"
#include "txn.h"
#include "watch.h"

struct request;
struct change;
struct change_index;
struct sm_state;
struct ip_count;
struct sasl_server;

/* Live connections per client address, for max_client_cnxns without a scan. */
#define IP_COUNT_BUCKETS 1024

/* One request between decode and reply. A connection's requests reply in arrival order: a
 * read runs only once it is at the head, so it sees every earlier write of its session. */
struct request {
    struct conn *conn;           /* NULL for the server's own txns, or once the conn closed */
    struct request *next;        /* the connection's queue */
    struct request *next_pending; /* the log stage's queue, in zxid order */
    bool in_pending;
    int32_t xid, type;
    bool is_write;
    bool done;          /* the reply is in `reply` */
    bool decoded;       /* a write whose body decoded */
    uint8_t *body;      /* a read's body, kept until it runs */
    size_t body_len;
    struct txn_header hdr;
    struct txn txn;
    struct jute_writer reply;
    uint64_t received_ms;
};

/* Latency and packet counters, as ZooKeeper's ServerStats (srvr, stat, mntr) and per
 * connection (cons). Latencies in ms. */
struct latency_stats {
    int64_t min_ms, max_ms, total_ms, count;
};

struct conn {
    struct server *srv;
    struct instance *listener;
    struct corral_cnxn *cnxn;
    struct conn *prev, *next;     /* srv->conns */
    struct session *session;      /* NULL until the handshake completes */
    struct auth_id *ids;          /* this connection's identities, "ip" first */
    size_t n_ids;
    bool handshake_done;
    bool client_has_read_only;    /* its ConnectRequest carried the readOnly byte */
    bool closing;                 /* close asked for: no more requests are taken */
    bool is_four_letter;
    struct request *queue_head, *queue_tail; /* requests awaiting their reply, in order */
    struct request *handshake_req; /* its createSession, until durable */
    size_t queued;
    struct event *handshake_timer; /* closes a connection that never sends ConnectRequest */
    struct sasl_server *sasl;      /* its SASL exchange (op 102), from the first token */
    bool sasl_failed;              /* close once the AUTHFAILED reply is sent */
    /* cons */
    uint64_t packets_received, packets_sent;
    int64_t established_ms;       /* wall clock */
    int64_t last_cxid, last_zxid;
    const char *last_op;          /* "SESS", "GETD", ... */
    uint64_t last_response_ms;    /* monotonic */
    int64_t last_latency_ms;
    struct latency_stats latency;
};

struct server {
    const struct config *cfg;
    struct host_env *env;
    const char *data_dir;
    struct datatree *tree;
    struct sessions *sessions;
    struct watches *watches;
    int64_t last_zxid;            /* the last zxid assigned by prep */
    int64_t last_applied_zxid;    /* the last zxid applied to the tree */
    /* the log stage (core/pipeline.c) */
    struct synclog *synclog;
    struct request *pending_head, *pending_tail; /* submitted to the log, not yet applied */
    bool writes_failed;           /* the log could not be written: writes are refused */
    char write_error[256];
    uint64_t write_error_ms;      /* monotonic time of the failure, for the retry */
    int64_t fsync_max_ms;
    /* snapshots (core/persist/database.c) */
    int64_t txns_since_snapshot;
    int64_t snapshot_threshold;   /* randomised around snap_count / 2, as ZooKeeper does */
    int snapshot_child;           /* pid of the forked writer, or 0 */
    uint64_t last_purge_ms;
    struct event *sigchld;        /* a snapshot writer finished */
    bool replaying;               /* applying the log at start-up: tolerate what is there */
    int64_t snapshot_zxid;
    uint64_t snapshot_started_ms;
    int64_t trim_peak_nodes;      /* the most znodes at a snapshot since memory was last trimmed */
    struct change **changes;      /* outstanding changes (prep's view ahead of the tree), */
    size_t changes_head, n_changes, changes_cap; /* a FIFO in zxid order */
    struct change_index *change_index;
    struct conn *conns;
    size_t n_conns;
    struct ip_count *ip_counts[IP_COUNT_BUCKETS];
    struct event *tick_timer;     /* session expiry */
    struct event *reaper_timer;   /* containers and TTL nodes */
    uint64_t start_ms;            /* monotonic */
    struct jute_writer out;       /* scratch for building replies */
    char **reapable;              /* paths of container and TTL nodes, checked by the reaper */
    size_t n_reapable, reapable_cap;
    int64_t reap_budget;          /* deletions left in this minute */
    uint64_t reap_minute_start;
    /* ServerStats */
    uint64_t packets_received, packets_sent;
    uint64_t outstanding;
    struct latency_stats latency;
    uint64_t auth_failed, connection_rejected, connection_drop;
    struct sm_state *metrics;     /* core/server_metrics.c */
    uint32_t trace_mask;
};

/* The wall clock in ms (Stat ctime/mtime, cons est) and the monotonic clock. */
int64_t server_wall_ms(void);
uint64_t server_mono_ms(void);

/* The log stage calls this once req's txn is durable and applied: the server replies, or
 * frees a request nobody waits for. */
void server_request_applied(struct server *srv, struct request *req);
/* ... and this for a request whose txn was dropped because the log could not be written. */
void server_request_dropped(struct server *srv, struct request *req);
void server_request_free(struct request *req);

/* Adds an identity to a connection (a set: a repeat is a no-op). 0 or -ENOMEM. */
int server_conn_add_id(struct conn *conn, const char *scheme, const char *id);

/* Queues a watch notification to a connection (a watcher is a struct conn). */
void server_send_event(struct conn *conn, int event_type, const char *path);
/* Remembers a container or TTL node for the reaper to look at. */
void server_track_reapable(struct server *srv, const char *path);

#endif
