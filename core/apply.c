#include "apply.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "prep.h"
#include "server.h"
#include "server_metrics.h"
#include "zkerr.h"

/* Each event is checked against the READ permission of the node it is about (ZooKeeper 3.8.4+
 * filters notifications by ACL). */
struct event_scope {
    struct server *srv;
    const struct zk_acl_vec *acl;
};

static void deliver(void *watcher, int event_type, const char *path, void *arg)
{
    const struct event_scope *es = arg;
    struct conn *conn = watcher;
    if (es->acl != NULL && !acl_permits(es->acl, ZK_PERM_READ, conn->ids, conn->n_ids))
        return;
    server_send_event(conn, event_type, path);
}

static void fire(struct server *srv, enum watch_table table, const char *path, int event,
                 const struct zk_acl_vec *acl, const struct watcher_set *skip,
                 struct watcher_set *delivered)
{
    struct event_scope es = {srv, acl};
    size_t n = watches_trigger(srv->watches, table, path, event, deliver, &es, skip, delivered);
    static const enum sm_id by_event[] = {
        [ZK_EVENT_CREATED] = SM_NODE_CREATED_WATCHES,
        [ZK_EVENT_DELETED] = SM_NODE_DELETED_WATCHES,
        [ZK_EVENT_DATA_CHANGED] = SM_NODE_CHANGED_WATCHES,
        [ZK_EVENT_CHILDREN_CHANGED] = SM_NODE_CHILDREN_WATCHES,
    };
    if (n > 0 && !srv->replaying)
        server_metrics_record(srv, by_event[event], (double)n);
}

static size_t parent_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash == NULL || slash == path ? 1 : (size_t)(slash - path);
}

static void apply_create(struct server *srv, const struct txn_header *hdr, const struct txn *t)
{
    int64_t owner = 0;
    if (t->type == ZK_OP_CREATECONTAINER)
        owner = ZNODE_OWNER_CONTAINER;
    /* op 1 or 15 with the TTL flags never gets here: prep refuses it */
    else if (t->type == ZK_OP_CREATETTL)
        owner = ZNODE_OWNER_TTL_MASK | t->ttl;
    else if (t->ephemeral)
        owner = hdr->client_id;
    size_t plen = parent_len(t->path);
    struct znode *p = datatree_get(srv->tree, t->path, plen); /* "/x": plen 1 gives "/" */
    int32_t old_cversion = p != NULL ? p->cversion : 0;
    int64_t old_pzxid = p != NULL ? p->pzxid : 0;
    struct znode *n = NULL;
    int rc = datatree_create(srv->tree, t->path, strlen(t->path), t->data, t->data_len, &t->acl,
                             owner, t->parent_cversion, hdr->zxid, hdr->time_ms, &n);
    /* A snapshot taken while txns were applied (ZooKeeper's are) may already hold what the log
     * replays: the parent's counters only ever move forward, and an existing node stays. */
    if (p != NULL) {
        if (rc == ZK_NODEEXISTS && t->type == ZK_OP_CREATE && t->parent_cversion > old_cversion) {
            p->cversion = t->parent_cversion;
            p->pzxid = hdr->zxid;
        } else if (rc == 0) {
            p->cversion = t->parent_cversion > old_cversion ? t->parent_cversion : old_cversion;
            p->pzxid = hdr->zxid > old_pzxid ? hdr->zxid : old_pzxid;
        }
    }
    if (rc != 0) {
        if (!srv->replaying)
            log_warn("apply", "create %s at zxid 0x%" PRIx64 " failed: %d", t->path, hdr->zxid,
                     rc);
        return;
    }
    if (owner == ZNODE_OWNER_CONTAINER || t->type == ZK_OP_CREATETTL)
        server_track_reapable(srv, t->path);
    fire(srv, WATCH_DATA, t->path, ZK_EVENT_CREATED, datatree_acl(srv->tree, n), NULL, NULL);
    char *parent = strndup(t->path, plen);
    if (parent == NULL)
        return;
    fire(srv, WATCH_CHILD, parent, ZK_EVENT_CHILDREN_CHANGED,
         p != NULL ? datatree_acl(srv->tree, p) : NULL, NULL, NULL);
    free(parent);
}

static void apply_delete(struct server *srv, const char *path, int64_t zxid)
{
    size_t len = strlen(path);
    const struct znode *n = datatree_get(srv->tree, path, len);
    if (n == NULL) {
        if (!srv->replaying)
            log_warn("apply", "delete %s at zxid 0x%" PRIx64 ": no such node", path, zxid);
        return;
    }
    struct znode *p = n->parent;
    int64_t old_pzxid = p != NULL ? p->pzxid : 0;
    /* The node's ACL decides who may hear of its deletion; keep a copy past the delete. */
    struct zk_acl_vec acl = {0};
    acl_vec_copy(datatree_acl(srv->tree, n), &acl);
    if (datatree_delete(srv->tree, path, len, zxid) != 0) {
        acl_vec_free(&acl);
        return;
    }
    if (p != NULL && old_pzxid > p->pzxid)
        p->pzxid = old_pzxid; /* replay over a newer snapshot: pzxid never moves back */
    struct watcher_set delivered = {0};
    fire(srv, WATCH_DATA, path, ZK_EVENT_DELETED, &acl, NULL, &delivered);
    fire(srv, WATCH_CHILD, path, ZK_EVENT_DELETED, &acl, &delivered, NULL);
    watcher_set_free(&delivered);
    acl_vec_free(&acl);
    char *parent = strndup(path, parent_len(path));
    if (parent == NULL)
        return;
    fire(srv, WATCH_CHILD, parent, ZK_EVENT_CHILDREN_CHANGED,
         p != NULL ? datatree_acl(srv->tree, p) : NULL, NULL, NULL);
    free(parent);
}

static void apply_set_data(struct server *srv, const struct txn_header *hdr, const struct txn *t)
{
    size_t len = strlen(t->path);
    if (datatree_set_data(srv->tree, t->path, len, t->data, t->data_len, t->version, hdr->zxid,
                          hdr->time_ms) != 0)
        return;
    const struct znode *n = datatree_get(srv->tree, t->path, len);
    fire(srv, WATCH_DATA, t->path, ZK_EVENT_DATA_CHANGED, datatree_acl(srv->tree, n), NULL,
         NULL);
}

struct ephemeral_paths {
    char **items;
    size_t n, cap;
};

static void collect_path(struct znode *n, void *arg)
{
    struct ephemeral_paths *ep = arg;
    if (ep->n == ep->cap) {
        size_t cap = ep->cap ? ep->cap * 2 : 8;
        char **items = realloc(ep->items, cap * sizeof *items);
        if (items == NULL)
            return;
        ep->items = items;
        ep->cap = cap;
    }
    if ((ep->items[ep->n] = strdup(n->path)) != NULL)
        ep->n++;
}

static void apply_close_session(struct server *srv, const struct txn_header *hdr,
                                const struct txn *t)
{
    for (size_t i = 0; i < t->n_paths; i++)
        apply_delete(srv, t->paths[i], hdr->zxid);
    /* then whatever else the session still owns (a log without paths, or a race) */
    struct ephemeral_paths ep = {0};
    datatree_each_ephemeral(srv->tree, hdr->client_id, collect_path, &ep);
    for (size_t i = 0; i < ep.n; i++) {
        apply_delete(srv, ep.items[i], hdr->zxid);
        free(ep.items[i]);
    }
    free(ep.items);
    struct session *s = sessions_get(srv->sessions, hdr->client_id);
    if (s != NULL) {
        if (s->conn != NULL)
            ((struct conn *)s->conn)->session = NULL;
        sessions_remove(srv->sessions, s);
    }
}

static void apply_one(struct server *srv, const struct txn_header *hdr, const struct txn *t)
{
    switch (t->type) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATECONTAINER:
    case ZK_OP_CREATETTL:
        apply_create(srv, hdr, t);
        break;
    case ZK_OP_DELETE:
    case ZK_OP_DELETECONTAINER:
        apply_delete(srv, t->path, hdr->zxid);
        break;
    case ZK_OP_SETDATA:
        apply_set_data(srv, hdr, t);
        break;
    case ZK_OP_SETACL:
        datatree_set_acl(srv->tree, t->path, strlen(t->path), &t->acl, t->version);
        break;
    case ZK_OP_CREATESESSION:
        if (sessions_get(srv->sessions, hdr->client_id) == NULL)
            sessions_add(srv->sessions, hdr->client_id, t->timeout_ms, server_mono_ms());
        break;
    case ZK_OP_CLOSESESSION:
        apply_close_session(srv, hdr, t);
        break;
    default: /* check, error: nothing to change */
        break;
    }
}

static bool multi_failed(const struct txn *t)
{
    for (size_t i = 0; i < t->n_sub; i++)
        if (t->sub[i].type == ZK_OP_ERROR)
            return true;
    return false;
}

void apply_txn(struct server *srv, const struct txn_header *hdr, const struct txn *txn)
{
    if (txn->type == ZK_OP_MULTI) {
        if (!multi_failed(txn))
            for (size_t i = 0; i < txn->n_sub; i++) {
                /* A big multi (a bulk load, its replay) waits on the path table's cache
                 * misses: fetch the bucket two ops ahead and its first node one ahead. */
                if (i + 2 < txn->n_sub && txn->sub[i + 2].path != NULL)
                    datatree_prefetch(srv->tree, txn->sub[i + 2].path,
                                      strlen(txn->sub[i + 2].path), false);
                if (i + 1 < txn->n_sub && txn->sub[i + 1].path != NULL)
                    datatree_prefetch(srv->tree, txn->sub[i + 1].path,
                                      strlen(txn->sub[i + 1].path), true);
                apply_one(srv, hdr, &txn->sub[i]);
            }
    } else {
        apply_one(srv, hdr, txn);
    }
    if (hdr->zxid > srv->last_applied_zxid)
        srv->last_applied_zxid = hdr->zxid;
    prep_forget(srv, hdr->zxid);
}
