#include "ops.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "datatree.h"
#include "log.h"
#include "sasl.h"
#include "server.h"
#include "zkerr.h"

bool ops_is_write(int32_t type)
{
    switch (type) {
    case ZK_OP_CREATE:
    case ZK_OP_DELETE:
    case ZK_OP_SETDATA:
    case ZK_OP_SETACL:
    case ZK_OP_MULTI:
    case ZK_OP_CREATE2:
    case ZK_OP_RECONFIG:
    case ZK_OP_CREATECONTAINER:
    case ZK_OP_CREATETTL:
    case ZK_OP_CLOSESESSION:
        return true;
    default:
        return false;
    }
}

bool ops_is_known(int32_t type)
{
    switch (type) {
    case ZK_OP_EXISTS:
    case ZK_OP_GETDATA:
    case ZK_OP_GETACL:
    case ZK_OP_GETCHILDREN:
    case ZK_OP_SYNC:
    case ZK_OP_PING:
    case ZK_OP_GETCHILDREN2:
    case ZK_OP_CHECKWATCHES:
    case ZK_OP_REMOVEWATCHES:
    case ZK_OP_MULTIREAD:
    case ZK_OP_AUTH:
    case ZK_OP_SETWATCHES:
    case ZK_OP_SASL:
    case ZK_OP_GETEPHEMERALS:
    case ZK_OP_GETALLCHILDRENNUMBER:
    case ZK_OP_SETWATCHES2:
    case ZK_OP_ADDWATCH:
    case ZK_OP_WHOAMI:
        return true;
    default:
        return ops_is_write(type);
    }
}

const char *ops_short_name(int32_t type)
{
    switch (type) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATECONTAINER:
    case ZK_OP_CREATETTL:
        return "CREA";
    case ZK_OP_DELETE:
        return "DELE";
    case ZK_OP_EXISTS:
        return "EXIS";
    case ZK_OP_GETDATA:
        return "GETD";
    case ZK_OP_SETDATA:
        return "SETD";
    case ZK_OP_GETACL:
        return "GETA";
    case ZK_OP_SETACL:
        return "SETA";
    case ZK_OP_GETCHILDREN:
    case ZK_OP_GETCHILDREN2:
        return "GETC";
    case ZK_OP_SYNC:
        return "SYNC";
    case ZK_OP_PING:
        return "PING";
    case ZK_OP_CHECK:
        return "CHEC";
    case ZK_OP_MULTI:
        return "MULT";
    case ZK_OP_MULTIREAD:
        return "MLTR";
    case ZK_OP_RECONFIG:
        return "RECO";
    case ZK_OP_CHECKWATCHES:
        return "CHKW";
    case ZK_OP_REMOVEWATCHES:
        return "REMW";
    case ZK_OP_SETWATCHES:
        return "SETW";
    case ZK_OP_SETWATCHES2:
        return "STW2";
    case ZK_OP_ADDWATCH:
        return "ADDW";
    case ZK_OP_WHOAMI:
        return "HOMI";
    case ZK_OP_GETEPHEMERALS:
        return "GETE";
    case ZK_OP_GETALLCHILDRENNUMBER:
        return "GETACN";
    case ZK_OP_CLOSESESSION:
        return "CLOS";
    case ZK_OP_CREATESESSION:
        return "SESS";
    default:
        return "NA";
    }
}

size_t ops_reply_begin(struct jute_writer *w, int32_t xid, int64_t zxid, int32_t err)
{
    size_t frame = jute_frame_begin(w);
    struct reply_header h = {xid, zxid, err};
    proto_write_reply_header(w, &h);
    return frame;
}

void ops_reply_end(struct jute_writer *w, size_t frame)
{
    jute_frame_end(w, frame);
}

static void reply_error(struct jute_writer *w, int32_t xid, int64_t zxid, int32_t err)
{
    ops_reply_end(w, ops_reply_begin(w, xid, zxid, err));
}

/* Reads do no path validation; Java aliases the empty path to the root. */
static const struct znode *lookup(const struct server *srv, const char *path, size_t len)
{
    if (len == 0)
        return datatree_get(srv->tree, "/", 1);
    return datatree_get(srv->tree, path, len);
}

static bool can(const struct server *srv, const struct conn *conn, const struct znode *n,
                int perm)
{
    return acl_permits(datatree_acl(srv->tree, n), perm, conn->ids, conn->n_ids);
}

static void write_stat_of(struct jute_writer *w, const struct znode *n)
{
    struct zk_stat st;
    znode_stat(n, &st);
    proto_write_stat(w, &st);
}

static void write_children(struct jute_writer *w, const struct znode *n)
{
    jute_write_int(w, (int32_t)n->num_children);
    for (uint32_t i = 0; i < n->num_children; i++) {
        const struct znode *c = n->children[i];
        jute_write_ustring_len(w, c->path + c->name_off, c->path_len - c->name_off);
    }
}

static void write_data(struct jute_writer *w, const struct znode *n)
{
    jute_write_buffer(w, n->data, n->data_len);
}

/* exists, getData, getChildren, getChildren2: the shared checks, then the body. */
static int read_node(struct server *srv, struct conn *conn, int32_t type,
                     const struct path_watch_request *req, const struct znode **out)
{
    if (type == ZK_OP_EXISTS && strlen(req->path) != req->path_len)
        return ZK_BADARGUMENTS;
    const struct znode *n = lookup(srv, req->path, req->path_len);
    if (n == NULL) {
        /* exists leaves a watch on a missing node; getData and getChildren do not */
        if (type == ZK_OP_EXISTS && req->watch)
            watches_add(srv->watches, WATCH_DATA, req->path, conn, WATCH_STANDARD);
        return ZK_NONODE;
    }
    /* ZooKeeper's exists checks no ACL (FinalRequestProcessor: statNode only) */
    if (type != ZK_OP_EXISTS && !can(srv, conn, n, ZK_PERM_READ))
        return ZK_NOAUTH;
    if (req->watch) {
        bool child = type == ZK_OP_GETCHILDREN || type == ZK_OP_GETCHILDREN2;
        watches_add(srv->watches, child ? WATCH_CHILD : WATCH_DATA,
                    req->path_len ? req->path : "/", conn, WATCH_STANDARD);
    }
    *out = n;
    return ZK_OK;
}

static void send_event_now(struct conn *conn, int type, const char *path)
{
    server_send_event(conn, type, path);
}

/* SetWatches: re-arm what a reconnecting client still holds, or tell it at once what it
 * missed since relative_zxid (client-protocol.md §6.6). */
static void set_watches(struct server *srv, struct conn *conn, const struct set_watches *sw)
{
    int64_t rz = sw->relative_zxid;
    for (int32_t i = 0; i < sw->data.count; i++) {
        const char *p = sw->data.items[i];
        const struct znode *n = lookup(srv, p, strlen(p));
        if (n == NULL)
            send_event_now(conn, ZK_EVENT_DELETED, p);
        else if (n->mzxid > rz)
            send_event_now(conn, ZK_EVENT_DATA_CHANGED, p);
        else
            watches_add(srv->watches, WATCH_DATA, p, conn, WATCH_STANDARD);
    }
    for (int32_t i = 0; i < sw->exist.count; i++) {
        const char *p = sw->exist.items[i];
        if (lookup(srv, p, strlen(p)) != NULL)
            send_event_now(conn, ZK_EVENT_CREATED, p);
        else
            watches_add(srv->watches, WATCH_DATA, p, conn, WATCH_STANDARD);
    }
    for (int32_t i = 0; i < sw->child.count; i++) {
        const char *p = sw->child.items[i];
        const struct znode *n = lookup(srv, p, strlen(p));
        if (n == NULL)
            send_event_now(conn, ZK_EVENT_DELETED, p);
        else if (n->pzxid > rz)
            send_event_now(conn, ZK_EVENT_CHILDREN_CHANGED, p);
        else
            watches_add(srv->watches, WATCH_CHILD, p, conn, WATCH_STANDARD);
    }
    for (int32_t i = 0; i < sw->persistent.count; i++) {
        watches_add(srv->watches, WATCH_DATA, sw->persistent.items[i], conn, WATCH_PERSISTENT);
        watches_add(srv->watches, WATCH_CHILD, sw->persistent.items[i], conn, WATCH_PERSISTENT);
    }
    for (int32_t i = 0; i < sw->recursive.count; i++)
        watches_add(srv->watches, WATCH_DATA, sw->recursive.items[i], conn, WATCH_RECURSIVE);
}

static bool has_null_path(const struct set_watches *sw)
{
    const struct zk_str_vec *lists[] = {&sw->data, &sw->exist, &sw->child, &sw->persistent,
                                        &sw->recursive};
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++)
        for (int32_t i = 0; i < lists[l]->count; i++)
            if (lists[l]->items[i] == NULL)
                return true;
    return false;
}

static bool blank(const char *s)
{
    for (; *s; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

struct ephemerals_out {
    struct jute_writer *w;
    const char *prefix;
    int32_t count;
};

static void add_ephemeral(struct znode *n, void *arg)
{
    struct ephemerals_out *eo = arg;
    if (eo->prefix != NULL && strncmp(n->path, eo->prefix, strlen(eo->prefix)) != 0)
        return;
    jute_write_ustring_len(eo->w, n->path, n->path_len);
    eo->count++;
}

/* multiRead: each op on its own; a failing one yields an error result (no watches set). */
static int multi_read(struct server *srv, struct conn *conn, struct jute_reader *r,
                      struct jute_writer *w)
{
    size_t start = w->len;
    for (;;) {
        struct multi_header mh;
        if (proto_read_multi_header(r, &mh) != 0)
            goto bad;
        if (mh.done)
            break;
        struct path_watch_request req;
        if ((mh.type != ZK_OP_GETDATA && mh.type != ZK_OP_GETCHILDREN) ||
            proto_read_path_watch(r, &req) != 0 || req.path == NULL)
            goto bad;
        req.watch = false;
        const struct znode *n = NULL;
        int err = read_node(srv, conn, mh.type, &req, &n);
        struct multi_header out = {err == ZK_OK ? mh.type : ZK_OP_ERROR, false, err};
        proto_write_multi_header(w, &out);
        if (err != ZK_OK) {
            jute_write_int(w, err);
        } else if (mh.type == ZK_OP_GETDATA) {
            write_data(w, n);
            write_stat_of(w, n);
        } else {
            write_children(w, n);
        }
    }
    struct multi_header end = {-1, true, -1};
    proto_write_multi_header(w, &end);
    return ZK_OK;
bad:
    w->len = start;
    return ZK_MARSHALLINGERROR;
}

/* SASL (op 102): one DIGEST-MD5 step per packet, replied with zxid 0 as ZooKeeper does. With
 * no sasl group ZooKeeper answers success with a null token. A failure answers AUTHFAILED
 * with a null token; the connection closes once that reply is out (server.c). */
static void sasl_step(struct server *srv, struct conn *conn, int32_t xid, struct jute_reader *r,
                      struct jute_writer *w)
{
    const uint8_t *out = NULL;
    size_t out_len = 0;
    int err = ZK_OK;
    if (srv->cfg->sasl_users != NULL) {
        const uint8_t *token = NULL;
        int32_t len = jute_read_buffer(r, &token);
        if (conn->sasl == NULL)
            conn->sasl =
                sasl_server_new(srv->cfg->sasl_users, SASL_ZK_REALM, SASL_ZK_DIGEST_URI, NULL);
        enum sasl_step st = SASL_FAILED;
        if (conn->sasl != NULL && !r->failed)
            st = sasl_server_step(conn->sasl, token, len > 0 ? (size_t)len : 0, &out, &out_len);
        const char *user = st == SASL_DONE ? sasl_server_user(conn->sasl) : NULL;
        if (user != NULL) {
            const char *su = srv->cfg->sasl_super_user;
            if (server_conn_add_id(conn, "sasl", user) != 0 ||
                (su != NULL && strcmp(user, su) == 0 && server_conn_add_id(conn, "super", "") != 0))
                st = SASL_FAILED;
            else
                log_debug("server", "%s:%u authenticated as sasl:%s%s", conn->cnxn->peer_addr,
                          conn->cnxn->peer_port, user,
                          su != NULL && strcmp(user, su) == 0 ? " (super user)" : "");
        }
        if (st == SASL_FAILED) {
            err = ZK_AUTHFAILED;
            out = NULL;
            conn->sasl_failed = true;
            srv->auth_failed++;
            log_info("server", "closing %s:%u: SASL authentication failed: %s",
                     conn->cnxn->peer_addr, conn->cnxn->peer_port,
                     r->failed            ? "malformed GetSASLRequest"
                     : conn->sasl == NULL ? "out of memory"
                                          : sasl_server_error(conn->sasl));
        }
    }
    size_t frame = ops_reply_begin(w, xid, 0, err);
    jute_write_buffer(w, out, out != NULL ? (int32_t)out_len : -1);
    ops_reply_end(w, frame);
}

void ops_read(struct server *srv, struct conn *conn, int32_t xid, int32_t type,
              struct jute_reader *r, struct jute_writer *w)
{
    int64_t zxid = srv->last_applied_zxid;
    int err = ZK_OK;
    size_t frame;
    switch (type) {
    case ZK_OP_PING:
        reply_error(w, ZK_XID_PING, zxid, ZK_OK);
        return;
    case ZK_OP_EXISTS:
    case ZK_OP_GETDATA:
    case ZK_OP_GETCHILDREN:
    case ZK_OP_GETCHILDREN2: {
        struct path_watch_request req;
        const struct znode *n = NULL;
        if (proto_read_path_watch(r, &req) != 0 || req.path == NULL)
            err = ZK_MARSHALLINGERROR;
        else
            err = read_node(srv, conn, type, &req, &n);
        if (err != ZK_OK)
            break;
        frame = ops_reply_begin(w, xid, zxid, ZK_OK);
        if (type == ZK_OP_GETDATA)
            write_data(w, n);
        if (type == ZK_OP_GETCHILDREN || type == ZK_OP_GETCHILDREN2)
            write_children(w, n);
        if (type != ZK_OP_GETCHILDREN)
            write_stat_of(w, n);
        ops_reply_end(w, frame);
        return;
    }
    case ZK_OP_GETACL: {
        struct path_request req;
        const struct znode *n = NULL;
        if (proto_read_path(r, &req) != 0 || req.path == NULL) {
            err = ZK_MARSHALLINGERROR;
            break;
        }
        if ((n = lookup(srv, req.path, req.path_len)) == NULL) {
            err = ZK_NONODE;
            break;
        }
        bool admin = can(srv, conn, n, ZK_PERM_ADMIN);
        if (!admin && !can(srv, conn, n, ZK_PERM_READ)) {
            err = ZK_NOAUTH;
            break;
        }
        frame = ops_reply_begin(w, xid, zxid, ZK_OK);
        struct zk_acl_vec masked = {0};
        if (!admin && acl_mask_digests(datatree_acl(srv->tree, n), &masked) == 0) {
            proto_write_acl_vec(w, &masked);
            acl_vec_free(&masked);
        } else {
            proto_write_acl_vec(w, datatree_acl(srv->tree, n));
        }
        write_stat_of(w, n);
        ops_reply_end(w, frame);
        return;
    }
    case ZK_OP_SYNC: {
        struct path_request req;
        if (proto_read_path(r, &req) != 0) {
            err = ZK_MARSHALLINGERROR;
            break;
        }
        frame = ops_reply_begin(w, xid, zxid, ZK_OK);
        jute_write_ustring_len(w, req.path, req.path_len);
        if (req.path == NULL) {
            w->len -= 4;
            jute_write_ustring(w, NULL);
        }
        ops_reply_end(w, frame);
        return;
    }
    case ZK_OP_GETALLCHILDRENNUMBER: {
        struct path_request req;
        const struct znode *n = NULL;
        if (proto_read_path(r, &req) != 0 || req.path == NULL)
            err = ZK_MARSHALLINGERROR;
        else if ((n = lookup(srv, req.path, req.path_len)) == NULL)
            err = ZK_NONODE;
        else if (!can(srv, conn, n, ZK_PERM_READ))
            err = ZK_NOAUTH;
        if (err != ZK_OK)
            break;
        frame = ops_reply_begin(w, xid, zxid, ZK_OK);
        jute_write_int(w, (int32_t)datatree_descendants(n));
        ops_reply_end(w, frame);
        return;
    }
    case ZK_OP_GETEPHEMERALS: {
        struct path_request req;
        if (proto_read_path(r, &req) != 0) {
            err = ZK_MARSHALLINGERROR;
            break;
        }
        frame = ops_reply_begin(w, xid, zxid, ZK_OK);
        size_t count_at = w->len;
        jute_write_int(w, 0);
        struct ephemerals_out eo = {w, req.path, 0};
        if (req.path == NULL || blank(req.path) || strcmp(req.path, "/") == 0)
            eo.prefix = NULL;
        datatree_each_ephemeral(srv->tree, conn->session->id, add_ephemeral, &eo);
        jute_patch_int(w, count_at, eo.count);
        ops_reply_end(w, frame);
        return;
    }
    case ZK_OP_ADDWATCH: {
        struct path_int_request req;
        if (proto_read_path_int(r, &req) != 0 || req.path == NULL ||
            (req.value != 0 && req.value != 1)) {
            err = ZK_MARSHALLINGERROR;
            break;
        }
        if (req.value == 0) {
            watches_add(srv->watches, WATCH_DATA, req.path, conn, WATCH_PERSISTENT);
            watches_add(srv->watches, WATCH_CHILD, req.path, conn, WATCH_PERSISTENT);
        } else {
            watches_add(srv->watches, WATCH_DATA, req.path, conn, WATCH_RECURSIVE);
        }
        frame = ops_reply_begin(w, xid, zxid, ZK_OK);
        jute_write_int(w, 0); /* ErrorResponse{0}: the Java client reads these 4 bytes */
        ops_reply_end(w, frame);
        return;
    }
    case ZK_OP_CHECKWATCHES:
    case ZK_OP_REMOVEWATCHES: {
        struct path_int_request req;
        if (proto_read_path_int(r, &req) != 0 || req.path == NULL || req.value < 1 ||
            req.value > 5) {
            err = ZK_MARSHALLINGERROR;
            break;
        }
        bool found = type == ZK_OP_CHECKWATCHES
                         ? watches_contains(srv->watches, req.path, conn, req.value)
                         : watches_remove(srv->watches, req.path, conn, req.value) > 0;
        err = found ? ZK_OK : ZK_NOWATCHER;
        break;
    }
    case ZK_OP_SETWATCHES:
    case ZK_OP_SETWATCHES2: {
        struct set_watches sw;
        if (proto_read_set_watches(r, type == ZK_OP_SETWATCHES2, &sw) != 0) {
            err = ZK_MARSHALLINGERROR;
            break;
        }
        if (has_null_path(&sw)) {
            proto_set_watches_free(&sw);
            err = ZK_MARSHALLINGERROR;
            break;
        }
        set_watches(srv, conn, &sw);
        proto_set_watches_free(&sw);
        break;
    }
    case ZK_OP_WHOAMI: {
        frame = ops_reply_begin(w, xid, zxid, ZK_OK);
        jute_write_int(w, (int32_t)conn->n_ids);
        for (size_t i = 0; i < conn->n_ids; i++) {
            const struct auth_id *id = &conn->ids[i];
            jute_write_ustring(w, id->scheme);
            /* the provider's user name: a digest id's part before ':' */
            const char *colon = strcmp(id->scheme, "digest") == 0 ? strchr(id->id, ':') : NULL;
            if (colon != NULL)
                jute_write_ustring_len(w, id->id, (size_t)(colon - id->id));
            else
                jute_write_ustring(w, id->id);
        }
        ops_reply_end(w, frame);
        return;
    }
    case ZK_OP_MULTIREAD: {
        frame = ops_reply_begin(w, xid, zxid, ZK_OK);
        err = multi_read(srv, conn, r, w);
        if (err != ZK_OK) {
            w->len = frame;
            break;
        }
        ops_reply_end(w, frame);
        return;
    }
    case ZK_OP_SASL:
        sasl_step(srv, conn, xid, r, w);
        return;
    default:
        err = ZK_UNIMPLEMENTED;
        break;
    }
    reply_error(w, xid, zxid, err);
}

static void write_create_result(struct server *srv, int32_t op, const struct txn *t,
                                struct jute_writer *w)
{
    jute_write_ustring(w, t->path);
    if (op != ZK_OP_CREATE) {
        const struct znode *n = datatree_get(srv->tree, t->path, strlen(t->path));
        struct zk_stat st = {0};
        if (n != NULL)
            znode_stat(n, &st);
        proto_write_stat(w, &st);
    }
}

static void write_stat_at(struct server *srv, const char *path, struct jute_writer *w)
{
    const struct znode *n = datatree_get(srv->tree, path, strlen(path));
    struct zk_stat st = {0};
    if (n != NULL)
        znode_stat(n, &st);
    proto_write_stat(w, &st);
}

void ops_write_reply(struct server *srv, int32_t xid, int32_t type, bool decoded,
                     const struct txn_header *hdr, const struct txn *txn, struct jute_writer *w)
{
    if (!decoded) {
        reply_error(w, xid, hdr->zxid, ZK_MARSHALLINGERROR);
        return;
    }
    if (txn->type == ZK_OP_ERROR) {
        reply_error(w, xid, hdr->zxid, txn->err);
        return;
    }
    size_t frame = ops_reply_begin(w, xid, hdr->zxid, ZK_OK);
    switch (type) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATECONTAINER:
    case ZK_OP_CREATETTL:
        write_create_result(srv, type, txn, w);
        break;
    case ZK_OP_SETDATA:
    case ZK_OP_SETACL:
        write_stat_at(srv, txn->path, w);
        break;
    case ZK_OP_MULTI:
        for (size_t i = 0; i < txn->n_sub; i++) {
            const struct txn *op = &txn->sub[i];
            if (op->type == ZK_OP_ERROR) {
                struct multi_header mh = {ZK_OP_ERROR, false, op->err};
                proto_write_multi_header(w, &mh);
                jute_write_int(w, op->err);
                continue;
            }
            /* create2, container and TTL creates all answer as create2 (path + stat) */
            int32_t result = op->type == ZK_OP_CREATE ? ZK_OP_CREATE
                             : (op->type == ZK_OP_CREATE2 || op->type == ZK_OP_CREATECONTAINER ||
                                op->type == ZK_OP_CREATETTL)
                                 ? ZK_OP_CREATE2
                                 : op->type;
            struct multi_header mh = {result, false, 0};
            proto_write_multi_header(w, &mh);
            if (result == ZK_OP_CREATE || result == ZK_OP_CREATE2)
                write_create_result(srv, result, op, w);
            else if (result == ZK_OP_SETDATA)
                write_stat_at(srv, op->path, w);
        }
        struct multi_header end = {-1, true, -1};
        proto_write_multi_header(w, &end);
        break;
    default: /* delete, closeSession: no body */
        break;
    }
    ops_reply_end(w, frame);
}
