#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "apply.h"
#include "fourletter.h"
#include "log.h"
#include "ops.h"
#include "persist/database.h"
#include "pipeline.h"
#include "prep.h"
#include "sasl.h"
#include "server_internal.h"
#include "server_metrics.h"
#include "zkerr.h"

/* ZooKeeper's zookeeper.nio.sessionlessCnxnTimeout. */
#define HANDSHAKE_TIMEOUT_MS 10000


int64_t server_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t server_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void latency_add(struct latency_stats *ls, int64_t ms)
{
    if (ls->count == 0 || ms < ls->min_ms)
        ls->min_ms = ms;
    if (ms > ls->max_ms)
        ls->max_ms = ms;
    ls->total_ms += ms;
    ls->count++;
}

/* Sends a frame the writer holds; counts it as a packet sent. */
static void conn_send(struct conn *conn, const uint8_t *buf, size_t len)
{
    if (conn->closing && !conn->is_four_letter)
        return;
    struct iovec iov = {(void *)buf, len};
    if (listener_send(conn->listener, conn->cnxn, &iov, 1) >= 0) {
        conn->packets_sent++;
        conn->srv->packets_sent++;
        server_metrics_record(conn->srv, SM_RESPONSE_BYTES, (double)len);
    }
}

static void conn_close(struct conn *conn, int reason)
{
    if (conn->closing)
        return;
    conn->closing = true;
    listener_close(conn->listener, conn->cnxn, reason);
}

void server_send_event(struct conn *conn, int event_type, const char *path)
{
    struct jute_writer *w = &conn->srv->out;
    jute_writer_reset(w);
    /* 3.8 sends -1 as a notification's zxid */
    size_t frame = ops_reply_begin(w, ZK_XID_NOTIFICATION, -1, ZK_OK);
    proto_write_watcher_event(w, event_type, ZK_STATE_SYNC_CONNECTED, path);
    ops_reply_end(w, frame);
    server_metrics_record(conn->srv, SM_WATCH_BYTES, (double)w->len);
    if (!w->failed)
        conn_send(conn, w->buf, w->len);
}

void server_track_reapable(struct server *srv, const char *path)
{
    if (srv->n_reapable == srv->reapable_cap) {
        size_t cap = srv->reapable_cap ? srv->reapable_cap * 2 : 16;
        char **items = realloc(srv->reapable, cap * sizeof *items);
        if (items == NULL)
            return;
        srv->reapable = items;
        srv->reapable_cap = cap;
    }
    char *copy = strdup(path);
    if (copy != NULL)
        srv->reapable[srv->n_reapable++] = copy;
}

/* --- txns --------------------------------------------------------------------------------- */

static void make_header(struct server *srv, struct txn_header *hdr, int64_t session_id,
                        int32_t cxid, const struct txn *txn)
{
    hdr->client_id = session_id;
    hdr->cxid = cxid;
    hdr->zxid = ++srv->last_zxid;
    hdr->time_ms = server_wall_ms();
    hdr->type = txn->type;
}

/* A txn the server makes itself (expiry, reaper): no connection waits for it. Takes txn. */
static void run_internal_txn(struct server *srv, int64_t session_id, struct txn *txn,
                             int64_t zxid)
{
    struct request *req = calloc(1, sizeof *req);
    if (req == NULL) {
        log_warn("server", "out of memory for an internal txn at zxid 0x%" PRIx64, zxid);
        txn_free(txn);
        return;
    }
    jute_writer_init(&req->reply);
    req->txn = *txn;
    req->type = txn->type;
    req->hdr = (struct txn_header){session_id, 0, zxid, server_wall_ms(), txn->type};
    srv->last_zxid = zxid;
    pipeline_submit(srv, req);
}

/* --- per-connection request queue --------------------------------------------------------- */

void server_request_free(struct request *req)
{
    free(req->body);
    txn_free(&req->txn);
    jute_writer_free(&req->reply);
    free(req);
}

static void conn_enqueue(struct conn *conn, struct request *req)
{
    if (conn->queue_tail != NULL)
        conn->queue_tail->next = req;
    else
        conn->queue_head = req;
    conn->queue_tail = req;
    conn->queued++;
    conn->srv->outstanding++;
}

static void run_read(struct server *srv, struct conn *conn, struct request *req)
{
    struct jute_reader r;
    jute_reader_init(&r, req->body, req->body_len, (size_t)srv->cfg->max_packet_bytes * 2);
    ops_read(srv, conn, req->xid, req->type, &r, &req->reply);
    req->done = true;
}

/* Sends every finished reply at the head of the queue, running reads as they reach it. */
static void conn_drain(struct conn *conn)
{
    struct server *srv = conn->srv;
    struct request *req;
    while ((req = conn->queue_head) != NULL) {
        if (!req->is_write && !req->done)
            run_read(srv, conn, req);
        if (!req->done)
            break;
        conn->queue_head = req->next;
        if (conn->queue_head == NULL)
            conn->queue_tail = NULL;
        conn->queued--;
        srv->outstanding--;
        if (!req->reply.failed)
            conn_send(conn, req->reply.buf, req->reply.len);
        uint64_t now = server_mono_ms();
        int64_t ms = (int64_t)(now - req->received_ms);
        if (req->type != ZK_OP_PING) {
            latency_add(&srv->latency, ms);
            latency_add(&conn->latency, ms);
            server_metrics_record(srv, req->is_write ? SM_UPDATE_LATENCY : SM_READ_LATENCY,
                                  (double)ms);
        }
        conn->last_latency_ms = ms;
        conn->last_response_ms = now;
        conn->last_zxid = srv->last_applied_zxid;
        bool close_after = req->type == ZK_OP_CLOSESESSION;
        bool auth_failed = req->type == ZK_OP_SASL && conn->sasl_failed;
        server_request_free(req);
        if (close_after)
            conn_close(conn, CORRAL_CLOSE_NORMAL);
        if (auth_failed)
            conn_close(conn, CORRAL_CLOSE_AUTH);
    }
}

static void submit_write(struct server *srv, struct conn *conn, struct request *req,
                         struct jute_reader *r)
{
    struct session *s = conn->session;
    struct prep_caller who = {s->id, conn->ids, conn->n_ids, s->closing};
    req->is_write = true;
    int64_t zxid = srv->last_zxid + 1; /* every write consumes a zxid, even a failing one */
    if (req->type == ZK_OP_CLOSESESSION) {
        prep_close_session(srv, s->id, zxid, &req->txn);
        s->closing = true;
        req->decoded = true;
    } else {
        req->decoded = prep_write(srv, &who, req->type, r, zxid, &req->txn);
    }
    make_header(srv, &req->hdr, s->id, req->xid, &req->txn);
    conn_enqueue(conn, req);
    pipeline_submit(srv, req);
}

/* A write while the log cannot be written: answered in order, no zxid consumed, as a
 * read-only ZooKeeper answers writes. */
static void refuse_write(struct server *srv, struct conn *conn, struct request *req)
{
    req->is_write = true;
    ops_reply_end(&req->reply,
                  ops_reply_begin(&req->reply, req->xid, srv->last_applied_zxid, ZK_NOTREADONLY));
    req->done = true;
    conn_enqueue(conn, req);
    conn_drain(conn);
}

static void finish_handshake(struct server *srv, struct conn *conn, struct request *req);

void server_request_applied(struct server *srv, struct request *req)
{
    struct conn *conn = req->conn;
    if (conn == NULL) {
        server_request_free(req);
        return;
    }
    if (req->type == ZK_OP_CREATESESSION) {
        finish_handshake(srv, conn, req);
        server_request_free(req);
        return;
    }
    ops_write_reply(srv, req->xid, req->type, req->decoded, &req->hdr, &req->txn, &req->reply);
    req->done = true;
    conn_drain(conn);
}

void server_request_dropped(struct server *srv, struct request *req)
{
    if (req->txn.type == ZK_OP_CLOSESESSION) {
        /* a close that never reached the log: the session lives on and expires in time */
        struct session *s = sessions_get(srv->sessions, req->hdr.client_id);
        if (s != NULL) {
            s->closing = false;
            sessions_touch(srv->sessions, s, server_mono_ms());
        }
    }
    if (req->conn == NULL) {
        server_request_free(req);
        return;
    }
    /* The client cannot know whether its write happened: losing the connection is how
     * ZooKeeper says so. The request is freed with the connection's queue. */
    struct conn *conn = req->conn;
    if (req->type == ZK_OP_CREATESESSION) {
        conn->handshake_req = NULL;
        server_request_free(req);
    }
    conn_close(conn, CORRAL_CLOSE_PROTOCOL);
}

/* --- auth ----------------------------------------------------------------------------------- */

static int conn_add_id(struct conn *conn, const char *scheme, const char *id)
{
    for (size_t i = 0; i < conn->n_ids; i++)
        if (strcmp(conn->ids[i].scheme, scheme) == 0 && strcmp(conn->ids[i].id, id) == 0)
            return 0;
    struct auth_id *ids = realloc(conn->ids, (conn->n_ids + 1) * sizeof *ids);
    if (ids == NULL)
        return -ENOMEM;
    conn->ids = ids;
    ids[conn->n_ids].scheme = strdup(scheme);
    ids[conn->n_ids].id = strdup(id);
    if (ids[conn->n_ids].scheme == NULL || ids[conn->n_ids].id == NULL) {
        free(ids[conn->n_ids].scheme);
        free(ids[conn->n_ids].id);
        return -ENOMEM;
    }
    conn->n_ids++;
    return 0;
}

int server_conn_add_id(struct conn *conn, const char *scheme, const char *id)
{
    return conn_add_id(conn, scheme, id);
}

/* Auth packets are handled as they are read, ahead of queued requests (as ZooKeeper does);
 * their reply carries xid -4 and zxid 0. A failure answers AUTHFAILED and closes. */
static void handle_auth(struct server *srv, struct conn *conn, struct jute_reader *r)
{
    struct auth_packet ap;
    int err = ZK_AUTHFAILED;
    if (proto_read_auth(r, &ap) == 0 && ap.scheme != NULL) {
        if (strcmp(ap.scheme, "digest") == 0 && ap.auth_len >= 0) {
            char id[1024];
            if (acl_digest((const char *)ap.auth, (size_t)ap.auth_len, id, sizeof id) == 0 &&
                conn_add_id(conn, "digest", id) == 0) {
                err = ZK_OK;
                if (srv->cfg->super_digest != NULL && strcmp(id, srv->cfg->super_digest) == 0)
                    conn_add_id(conn, "super", "");
            }
        } else if (strcmp(ap.scheme, "ip") == 0) {
            err = conn_add_id(conn, "ip", conn->cnxn->peer_addr) == 0 ? ZK_OK : ZK_AUTHFAILED;
        }
    }
    struct jute_writer *w = &srv->out;
    jute_writer_reset(w);
    ops_reply_end(w, ops_reply_begin(w, ZK_XID_AUTH, 0, err));
    conn_send(conn, w->buf, w->len);
    if (err != ZK_OK) {
        srv->auth_failed++;
        log_info("server", "closing %s:%u: authentication with scheme %s failed",
                 conn->cnxn->peer_addr, conn->cnxn->peer_port,
                 ap.scheme != NULL ? ap.scheme : "(none)");
        conn_close(conn, CORRAL_CLOSE_AUTH);
    }
}

/* --- handshake ------------------------------------------------------------------------------ */

static void send_connect_response(struct conn *conn, int32_t timeout_ms, int64_t session_id,
                                  const uint8_t *passwd)
{
    static const uint8_t zeros[ZK_PASSWD_BYTES];
    struct jute_writer *w = &conn->srv->out;
    jute_writer_reset(w);
    size_t frame = jute_frame_begin(w);
    struct connect_response cr = {0, timeout_ms, session_id, passwd ? passwd : zeros, false,
                                  conn->client_has_read_only};
    proto_write_connect_response(w, &cr);
    jute_frame_end(w, frame);
    conn_send(conn, w->buf, w->len);
}

static void bind_session(struct conn *conn, struct session *s)
{
    s->conn = conn;
    conn->session = s;
    conn->handshake_done = true;
    conn->last_op = "SESS";
    if (conn->handshake_timer != NULL) {
        event_free(conn->handshake_timer);
        conn->handshake_timer = NULL;
    }
}

static void finish_handshake(struct server *srv, struct conn *conn, struct request *req)
{
    int64_t id = req->hdr.client_id;
    conn->handshake_req = NULL;
    struct session *s = sessions_get(srv->sessions, id);
    if (s == NULL) {
        log_warn("server", "closing %s:%u: no memory for a new session", conn->cnxn->peer_addr,
                 conn->cnxn->peer_port);
        conn_close(conn, CORRAL_CLOSE_REFUSED);
        return;
    }
    uint8_t passwd[SESSION_PASSWD_BYTES];
    bind_session(conn, s);
    session_password(id, passwd);
    send_connect_response(conn, req->txn.timeout_ms, id, passwd);
    listener_set_reading(conn->listener, conn->cnxn, true);
    log_debug("server", "session 0x%" PRIx64 " created for %s:%u, timeout %" PRId32 " ms", id,
              conn->cnxn->peer_addr, conn->cnxn->peer_port, req->txn.timeout_ms);
}

static void handle_connect(struct server *srv, struct conn *conn, uint8_t *frame, size_t len)
{
    struct jute_reader r;
    jute_reader_init(&r, frame, len, (size_t)srv->cfg->max_packet_bytes * 2);
    struct connect_request cr;
    if (proto_read_connect_request(&r, &cr) != 0) {
        log_info("server", "closing %s:%u: malformed ConnectRequest of %zu bytes",
                 conn->cnxn->peer_addr, conn->cnxn->peer_port, len);
        conn_close(conn, CORRAL_CLOSE_PROTOCOL);
        return;
    }
    conn->client_has_read_only = cr.has_read_only;
    if (cr.last_zxid_seen > srv->last_applied_zxid) {
        /* The client has seen a newer state than ours: it must try another server. */
        log_info("server",
                 "refusing %s:%u: client has seen zxid 0x%" PRIx64 ", ours is 0x%" PRIx64,
                 conn->cnxn->peer_addr, conn->cnxn->peer_port, cr.last_zxid_seen,
                 srv->last_applied_zxid);
        conn_close(conn, CORRAL_CLOSE_REFUSED);
        return;
    }
    int64_t timeout = cr.timeout_ms;
    if (timeout < srv->cfg->min_session_timeout_ms)
        timeout = srv->cfg->min_session_timeout_ms;
    if (timeout > srv->cfg->max_session_timeout_ms)
        timeout = srv->cfg->max_session_timeout_ms;
    uint8_t passwd[SESSION_PASSWD_BYTES];

    if (cr.session_id == 0) {
        /* createSession is a txn: reading stops until it is durable, then the reply goes. */
        struct request *req = calloc(1, sizeof *req);
        if (req == NULL || !pipeline_accepts_writes(srv)) {
            log_warn("server", "refusing %s:%u: %s", conn->cnxn->peer_addr,
                     conn->cnxn->peer_port,
                     req == NULL ? "no memory for a new session" : srv->write_error);
            free(req);
            conn_close(conn, CORRAL_CLOSE_REFUSED);
            return;
        }
        jute_writer_init(&req->reply);
        req->conn = conn;
        req->type = ZK_OP_CREATESESSION;
        req->received_ms = server_mono_ms();
        prep_create_session(&req->txn, (int32_t)timeout);
        make_header(srv, &req->hdr, sessions_next_id(srv->sessions), 0, &req->txn);
        conn->handshake_req = req;
        listener_set_reading(conn->listener, conn->cnxn, false);
        pipeline_submit(srv, req);
        return;
    }

    struct session *s = sessions_get(srv->sessions, cr.session_id);
    /* ZooKeeper closes the session's current connection before it checks the password. */
    if (s != NULL && s->conn != NULL && s->conn != conn) {
        struct conn *old = s->conn;
        old->session = NULL;
        s->conn = NULL;
        conn_close(old, CORRAL_CLOSE_REPLACED);
    }
    session_password(cr.session_id, passwd);
    bool ok = s != NULL && !s->closing && cr.passwd_len == SESSION_PASSWD_BYTES &&
              memcmp(cr.passwd, passwd, SESSION_PASSWD_BYTES) == 0;
    if (!ok) {
        log_info("server", "refusing %s:%u: session 0x%" PRIx64 " is %s", conn->cnxn->peer_addr,
                 conn->cnxn->peer_port, cr.session_id,
                 s == NULL || s->closing ? "expired" : "not matched by its password");
        send_connect_response(conn, 0, 0, NULL);
        conn_close(conn, CORRAL_CLOSE_REFUSED);
        return;
    }
    sessions_set_timeout(srv->sessions, s, (int32_t)timeout, server_mono_ms());
    bind_session(conn, s);
    send_connect_response(conn, (int32_t)timeout, s->id, passwd);
}

/* --- connections ---------------------------------------------------------------------------- */

static void handshake_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct conn *conn = arg;
    (void)fd, (void)what;
    log_info("server", "closing %s:%u: no ConnectRequest within %d ms", conn->cnxn->peer_addr,
             conn->cnxn->peer_port, HANDSHAKE_TIMEOUT_MS);
    server_metrics_record(conn->srv, SM_SESSIONLESS_EXPIRED, 1);
    conn_close(conn, CORRAL_CLOSE_PROTOCOL);
}

struct ip_count {
    struct ip_count *next;
    int64_t count;
    char addr[48];
};

static struct ip_count **ip_count_slot(struct server *srv, const char *addr)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const char *p = addr; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    struct ip_count **slot = &srv->ip_counts[h % IP_COUNT_BUCKETS];
    while (*slot != NULL && strcmp((*slot)->addr, addr) != 0)
        slot = &(*slot)->next;
    return slot;
}

/* Adds delta to addr's live connections; returns the count before. */
static int64_t ip_count_add(struct server *srv, const char *addr, int delta)
{
    struct ip_count **slot = ip_count_slot(srv, addr);
    if (*slot == NULL) {
        if (delta < 0 || (*slot = calloc(1, sizeof **slot)) == NULL)
            return 0;
        snprintf((*slot)->addr, sizeof (*slot)->addr, "%s", addr);
    }
    int64_t before = (*slot)->count;
    (*slot)->count += delta;
    if ((*slot)->count <= 0) {
        struct ip_count *gone = *slot;
        *slot = gone->next;
        free(gone);
    }
    return before;
}

int server_cnxn_opened(struct server *srv, struct instance *l, struct corral_cnxn *c)
{
    if (srv->cfg->max_client_cnxns > 0) {
        struct ip_count *const *slot = ip_count_slot(srv, c->peer_addr);
        int64_t same_ip = *slot != NULL ? (*slot)->count : 0;
        if (same_ip >= srv->cfg->max_client_cnxns) {
            srv->connection_rejected++;
            log_warn("server", "refusing %s:%u: %" PRId64 " connections from %s reach "
                               "max_client_cnxns",
                     c->peer_addr, c->peer_port, same_ip, c->peer_addr);
            return -EMFILE;
        }
    }
    server_metrics_record(srv, SM_CONNECTION_REQUESTS, 1);
    struct conn *conn = calloc(1, sizeof *conn);
    if (conn == NULL)
        return -ENOMEM;
    conn->srv = srv;
    conn->listener = l;
    conn->cnxn = c;
    conn->established_ms = server_wall_ms();
    conn->last_op = "NA";
    conn->last_cxid = -1;
    if (conn_add_id(conn, "ip", c->peer_addr) != 0 ||
        (c->peer_subject != NULL && conn_add_id(conn, "x509", c->peer_subject) != 0)) {
        free(conn->ids);
        free(conn);
        return -ENOMEM;
    }
    struct timeval tv = {HANDSHAKE_TIMEOUT_MS / 1000, 0};
    conn->handshake_timer = evtimer_new(srv->env->base, handshake_timeout, conn);
    if (conn->handshake_timer != NULL)
        evtimer_add(conn->handshake_timer, &tv);
    c->host_data = conn;
    ip_count_add(srv, c->peer_addr, 1);
    conn->next = srv->conns;
    if (srv->conns != NULL)
        srv->conns->prev = conn;
    srv->conns = conn;
    srv->n_conns++;
    return 0;
}

bool server_cnxn_word(struct server *srv, struct corral_cnxn *c, const uint8_t *head, size_t len)
{
    int cmd = len >= 4 ? flw_lookup(jute_get_be32(head)) : -1;
    if (cmd < 0)
        return false;
    bool whitelisted = (srv->cfg->four_letter_words & (1u << cmd)) != 0;
    if (cmd == FLW_STMK && whitelisted && len >= 12)
        srv->trace_mask = (uint32_t)(jute_get_be64(head + 4) & 0xffffffffu);
    struct conn *conn = c->host_data;
    conn->is_four_letter = true;
    conn->packets_received++;
    srv->packets_received++;
    struct jute_writer w;
    jute_writer_init(&w);
    flw_answer(srv, cmd, srv->cfg->four_letter_words, conn, &w);
    if (!w.failed && w.len > 0) {
        struct iovec iov = {w.buf, w.len};
        listener_send(conn->listener, c, &iov, 1);
    }
    jute_writer_free(&w);
    conn_close(conn, CORRAL_CLOSE_NORMAL);
    return true;
}

void server_cnxn_frame(struct server *srv, struct corral_cnxn *c, const uint8_t *frame,
                       size_t len)
{
    struct conn *conn = c->host_data;
    if (conn->closing)
        return;
    conn->packets_received++;
    srv->packets_received++;
    server_metrics_record(srv, SM_BYTES_RECEIVED, (double)len + 4);
    /* Decoding NUL-terminates strings in place, so work on our own copy of the frame. */
    uint8_t *body = malloc(len ? len : 1);
    if (body == NULL) {
        conn_close(conn, CORRAL_CLOSE_PROTOCOL);
        return;
    }
    memcpy(body, frame, len);
    if (!conn->handshake_done) {
        handle_connect(srv, conn, body, len);
        free(body);
        return;
    }
    struct jute_reader r;
    jute_reader_init(&r, body, len, (size_t)srv->cfg->max_packet_bytes * 2);
    struct request_header h;
    if (proto_read_request_header(&r, &h) != 0) {
        log_info("server", "closing %s:%u: frame of %zu bytes has no request header",
                 c->peer_addr, c->peer_port, len);
        free(body);
        conn_close(conn, CORRAL_CLOSE_PROTOCOL);
        return;
    }
    struct session *s = conn->session;
    if (s != NULL && !s->closing)
        sessions_touch(srv->sessions, s, server_mono_ms());
    if (h.xid > 0)
        conn->last_cxid = h.xid;
    conn->last_op = ops_short_name(h.type);

    if (h.type == ZK_OP_AUTH) {
        handle_auth(srv, conn, &r);
        free(body);
        return;
    }
    if (!ops_is_known(h.type) || s == NULL) {
        struct jute_writer *w = &srv->out;
        jute_writer_reset(w);
        ops_reply_end(w, ops_reply_begin(w, h.xid, -1, ZK_UNIMPLEMENTED));
        conn_send(conn, w->buf, w->len);
        log_info("server", "closing %s:%u: unknown opcode %" PRId32, c->peer_addr, c->peer_port,
                 h.type);
        free(body);
        conn_close(conn, CORRAL_CLOSE_PROTOCOL);
        return;
    }
    struct request *req = calloc(1, sizeof *req);
    if (req == NULL) {
        free(body);
        conn_close(conn, CORRAL_CLOSE_PROTOCOL);
        return;
    }
    req->xid = h.xid;
    req->type = h.type;
    req->received_ms = server_mono_ms();
    jute_writer_init(&req->reply);
    req->conn = conn;
    if (ops_is_write(h.type)) {
        if (pipeline_accepts_writes(srv))
            submit_write(srv, conn, req, &r);
        else
            refuse_write(srv, conn, req);
        free(body);
        return;
    }
    /* A read keeps its body (after the header) until it reaches the head of the queue. */
    size_t consumed = len - jute_remaining(&r);
    memmove(body, body + consumed, len - consumed);
    req->body = body;
    req->body_len = len - consumed;
    conn_enqueue(conn, req);
    conn_drain(conn);
}

void server_cnxn_closed(struct server *srv, struct corral_cnxn *c)
{
    struct conn *conn = c->host_data;
    if (conn == NULL)
        return;
    c->host_data = NULL;
    ip_count_add(srv, c->peer_addr, -1);
    watches_remove_watcher(srv->watches, conn);
    if (conn->session != NULL && conn->session->conn == conn)
        conn->session->conn = NULL;
    /* Writes already given to the log stay there (their txns will be applied); they just
     * have nobody to answer. */
    while (conn->queue_head != NULL) {
        struct request *req = conn->queue_head;
        conn->queue_head = req->next;
        srv->outstanding--;
        req->conn = NULL;
        if (!req->in_pending)
            server_request_free(req);
    }
    if (conn->handshake_req != NULL)
        conn->handshake_req->conn = NULL;
    if (conn->handshake_timer != NULL)
        event_free(conn->handshake_timer);
    sasl_server_free(conn->sasl);
    for (size_t i = 0; i < conn->n_ids; i++) {
        free(conn->ids[i].scheme);
        free(conn->ids[i].id);
    }
    free(conn->ids);
    if (conn->prev != NULL)
        conn->prev->next = conn->next;
    else
        srv->conns = conn->next;
    if (conn->next != NULL)
        conn->next->prev = conn->prev;
    srv->n_conns--;
    free(conn);
}

/* --- timers --------------------------------------------------------------------------------- */

static void expire_one(struct session *s, void *arg)
{
    struct server *srv = arg;
    log_info("server", "session 0x%" PRIx64 " expired after %" PRId32 " ms", s->id,
             s->timeout_ms);
    server_metrics_record(srv, SM_STALE_SESSIONS_EXPIRED, 1);
    if (s->conn != NULL) {
        struct conn *conn = s->conn;
        conn->session = NULL;
        s->conn = NULL;
        conn_close(conn, CORRAL_CLOSE_EXPIRED); /* closed without a word, as ZooKeeper does */
    }
    struct txn txn;
    int64_t zxid = srv->last_zxid + 1;
    prep_close_session(srv, s->id, zxid, &txn);
    run_internal_txn(srv, s->id, &txn, zxid);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;
    (void)fd, (void)what;
    database_tick(srv);
    if (pipeline_accepts_writes(srv)) /* an expiry is a txn: wait until the log works */
        sessions_expire(srv->sessions, server_mono_ms(), expire_one, srv);
}

/* Containers that had children and are empty now, and TTL nodes unchanged for their TTL, are
 * deleted with deleteContainer txns, at most container_max_per_minute a minute. */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    struct server *srv = arg;
    (void)fd, (void)what;
    if (!pipeline_accepts_writes(srv))
        return;
    uint64_t now = server_mono_ms();
    if (now - srv->reap_minute_start >= 60000) {
        srv->reap_minute_start = now;
        srv->reap_budget = srv->cfg->container_max_per_minute;
    }
    int64_t wall = server_wall_ms();
    size_t kept = 0;
    for (size_t i = 0; i < srv->n_reapable; i++) {
        char *path = srv->reapable[i];
        const struct znode *n = datatree_get(srv->tree, path, strlen(path));
        bool gone = n == NULL;
        bool reap = false;
        if (!gone && n->num_children == 0) {
            enum znode_kind kind = znode_kind(n);
            if (kind == ZNODE_CONTAINER)
                reap = n->cversion > 0;
            else if (kind == ZNODE_TTL)
                reap = wall - n->mtime > (n->ephemeral_owner & ZNODE_TTL_MAX);
            else
                gone = true;
        }
        if (reap && srv->reap_budget > 0) {
            srv->reap_budget--;
            struct txn txn;
            int64_t zxid = srv->last_zxid + 1;
            prep_delete_container(srv, path, zxid, &txn);
            if (txn.type == ZK_OP_ERROR)
                txn_free(&txn); /* gone or busy again since: nothing to reap */
            else
                run_internal_txn(srv, 0, &txn, zxid);
        }
        if (gone)
            free(path);
        else
            srv->reapable[kept++] = path;
    }
    srv->n_reapable = kept;
}

static struct timeval ms_to_tv(int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

struct server *server_new(const struct config *cfg, struct host_env *env, const char *data_dir)
{
    struct server *srv = calloc(1, sizeof *srv);
    if (srv == NULL)
        return NULL;
    srv->cfg = cfg;
    srv->env = env;
    srv->data_dir = data_dir;
    srv->tree = datatree_new();
    /* standalone sessions carry server id 1 in their top byte, as ZooKeeper's do */
    srv->sessions = sessions_new(cfg->tick_ms, 1, server_wall_ms());
    srv->watches = watches_new();
    srv->trace_mask = 306;
    bool tls = false;
    for (size_t i = 0; i < cfg->n_listeners; i++)
        tls = tls || strstr(cfg->listeners[i].plugin, "cnxn-tls") != NULL;
    acl_enable_x509(tls);
    acl_enable_sasl(cfg->sasl_users != NULL);
    jute_writer_init(&srv->out);
    server_metrics_init(srv);
    if (srv->tree == NULL || srv->sessions == NULL || srv->watches == NULL) {
        server_free(srv);
        return NULL;
    }
    return srv;
}

int server_start(struct server *srv)
{
    srv->start_ms = server_mono_ms();
    srv->reap_minute_start = srv->start_ms;
    srv->reap_budget = srv->cfg->container_max_per_minute;
    srv->tick_timer = event_new(srv->env->base, -1, EV_PERSIST, on_tick, srv);
    srv->reaper_timer = event_new(srv->env->base, -1, EV_PERSIST, on_reap, srv);
    if (srv->tick_timer == NULL || srv->reaper_timer == NULL)
        return -ENOMEM;
    /* Expiry buckets are tick-wide; checking a few times a tick keeps expiry within a tick. */
    struct timeval tick = ms_to_tv(srv->cfg->tick_ms / 4 > 0 ? srv->cfg->tick_ms / 4 : 1);
    struct timeval reap = ms_to_tv(srv->cfg->container_check_interval_ms);
    evtimer_add(srv->tick_timer, &tick);
    evtimer_add(srv->reaper_timer, &reap);
    return 0;
}

void server_stop(struct server *srv)
{
    if (srv->tick_timer != NULL)
        event_del(srv->tick_timer);
    if (srv->reaper_timer != NULL)
        event_del(srv->reaper_timer);
}

void server_free(struct server *srv)
{
    if (srv == NULL)
        return;
    if (srv->tick_timer != NULL)
        event_free(srv->tick_timer);
    if (srv->reaper_timer != NULL)
        event_free(srv->reaper_timer);
    prep_free(srv);
    for (size_t i = 0; i < srv->n_reapable; i++)
        free(srv->reapable[i]);
    for (size_t b = 0; b < IP_COUNT_BUCKETS; b++)
        while (srv->ip_counts[b] != NULL)
            ip_count_add(srv, srv->ip_counts[b]->addr, -(int)srv->ip_counts[b]->count);
    free(srv->reapable);
    if (srv->watches != NULL)
        watches_free(srv->watches);
    if (srv->sessions != NULL)
        sessions_free(srv->sessions);
    if (srv->tree != NULL)
        datatree_free(srv->tree);
    jute_writer_free(&srv->out);
    server_metrics_free(srv);
    free(srv);
}
