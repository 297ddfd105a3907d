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
struct ip_count;

/* Live connections per client address, for max_client_cnxns without a scan. */
#define IP_COUNT_BUCKETS 1024

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
    size_t queued;
    struct event *handshake_timer; /* closes a connection that never sends ConnectRequest */
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
    struct change **changes;      /* outstanding changes (prep's view ahead of the tree) */
    size_t changes_cap, n_changes;
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
    uint32_t trace_mask;
};

/* The wall clock in ms (Stat ctime/mtime, cons est) and the monotonic clock. */
int64_t server_wall_ms(void);
uint64_t server_mono_ms(void);

/* Queues a watch notification to a connection (a watcher is a struct conn). */
void server_send_event(struct conn *conn, int event_type, const char *path);
/* Remembers a container or TTL node for the reaper to look at. */
void server_track_reapable(struct server *srv, const char *path);

#endif
