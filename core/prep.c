#include "prep.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"
#include "zkerr.h"

/* What prep knows of one path: the tree's node as later writes will have left it. */
struct change {
    uint64_t hash;
    struct change *index_next; /* chain in a change_index */
    int64_t zxid; /* the last txn that changed it */
    bool exists;
    int32_t version, cversion, aversion, num_children;
    int64_t ephemeral_owner;
    int64_t acl_id; /* in the tree's ACL cache, with a reference; 0: none */
    char path[];    /* one allocation with the record */
};

/* The newest change of each path, by hash: a bulk load keeps tens of thousands of changes
 * outstanding, and every create looks its path and its parent up. */
struct change_index {
    struct change **buckets;
    size_t mask; /* buckets - 1; a power of two */
    size_t count;
};

/* Changes of the request being prepared; merged into srv->changes only when it succeeds, so
 * a failed multi leaves nothing behind. */
struct prep_scope {
    struct server *srv;
    const struct prep_caller *who;
    int64_t zxid;
    struct change **items;
    size_t n, cap;
    struct change_index index; /* of items, once a multi makes them many */
};

static uint64_t path_hash(const char *p)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ULL;
    return h;
}

static struct change *index_find(const struct change_index *ix, const char *path, uint64_t h)
{
    if (ix->buckets == NULL)
        return NULL;
    for (struct change *c = ix->buckets[h & ix->mask]; c != NULL; c = c->index_next)
        if (c->hash == h && strcmp(c->path, path) == 0)
            return c;
    return NULL;
}

static void index_unlink(struct change_index *ix, struct change *c)
{
    struct change **slot = &ix->buckets[c->hash & ix->mask];
    while (*slot != NULL && *slot != c)
        slot = &(*slot)->index_next;
    if (*slot == c) {
        *slot = c->index_next;
        c->index_next = NULL;
        ix->count--;
    }
}

/* Makes c the indexed change of its path (an older one stays in its list, unindexed). */
static int index_put(struct change_index *ix, struct change *c)
{
    if (ix->buckets == NULL || ix->count >= ix->mask + 1) {
        size_t n = ix->buckets == NULL ? 64 : (ix->mask + 1) * 2;
        struct change **b = calloc(n, sizeof *b);
        if (b == NULL)
            return ZK_SYSTEMERROR;
        for (size_t i = 0; ix->buckets != NULL && i <= ix->mask; i++) {
            for (struct change *e = ix->buckets[i], *next; e != NULL; e = next) {
                next = e->index_next;
                e->index_next = b[e->hash & (n - 1)];
                b[e->hash & (n - 1)] = e;
            }
        }
        free(ix->buckets);
        ix->buckets = b;
        ix->mask = n - 1;
    }
    struct change *old = index_find(ix, c->path, c->hash);
    if (old != NULL)
        index_unlink(ix, old);
    c->index_next = ix->buckets[c->hash & ix->mask];
    ix->buckets[c->hash & ix->mask] = c;
    ix->count++;
    return 0;
}

static void index_clear(struct change_index *ix)
{
    free(ix->buckets);
    memset(ix, 0, sizeof *ix);
}

/* The server's outstanding changes: a FIFO in zxid order (srv->changes from changes_head)
 * and the index of the newest change per path. */
static struct change_index *outstanding_index(struct server *srv)
{
    if (srv->change_index == NULL)
        srv->change_index = calloc(1, sizeof *srv->change_index);
    return srv->change_index;
}

static struct change *outstanding_find(struct server *srv, const char *path, uint64_t h)
{
    return srv->change_index != NULL ? index_find(srv->change_index, path, h) : NULL;
}

static void change_free(struct server *srv, struct change *c)
{
    if (c == NULL)
        return;
    if (c->acl_id > 0)
        acl_cache_release(datatree_acl_cache(srv->tree), c->acl_id);
    free(c);
}

static struct change *change_new(const char *path)
{
    size_t len = strlen(path);
    struct change *c = malloc(sizeof *c + len + 1);
    if (c == NULL)
        return NULL;
    memset(c, 0, sizeof *c);
    memcpy(c->path, path, len + 1);
    return c;
}

/* c's ACL becomes `id` (a reference is taken). */
static void change_set_acl(struct server *srv, struct change *c, int64_t id)
{
    struct acl_cache *cache = datatree_acl_cache(srv->tree);
    if (id > 0)
        acl_cache_addref(cache, id);
    if (c->acl_id > 0)
        acl_cache_release(cache, c->acl_id);
    c->acl_id = id;
}

void txn_free(struct txn *t)
{
    free(t->path);
    free(t->data);
    acl_vec_free(&t->acl);
    for (size_t i = 0; i < t->n_sub; i++)
        txn_free(&t->sub[i]);
    free(t->sub);
    for (size_t i = 0; i < t->n_paths; i++)
        free(t->paths[i]);
    free(t->paths);
    memset(t, 0, sizeof *t);
}

#define SCOPE_INDEX_AFTER 8 /* a plain scan is cheaper for the few changes of one request */

static struct change *scope_find(const struct prep_scope *s, const char *path, uint64_t h)
{
    if (s->index.buckets != NULL)
        return index_find(&s->index, path, h);
    for (size_t i = s->n; i > 0; i--)
        if (s->items[i - 1]->hash == h && strcmp(s->items[i - 1]->path, path) == 0)
            return s->items[i - 1];
    return NULL;
}

/* The current view of `path`: this request's changes, then outstanding ones, then the tree.
 * Returns a private copy that the caller may modify and then keep with scope_put(). NULL
 * when the node does not exist (or on ENOMEM, which prep reports as the node missing). */
static struct change *scope_get(struct prep_scope *s, const char *path)
{
    uint64_t h = path_hash(path);
    const struct change *src = scope_find(s, path, h);
    if (src == NULL)
        src = outstanding_find(s->srv, path, h);
    if (src != NULL && !src->exists)
        return NULL;
    struct change *c = change_new(path);
    if (c == NULL)
        return NULL;
    c->hash = h;
    if (src != NULL) {
        change_set_acl(s->srv, c, src->acl_id);
        c->exists = true;
        c->version = src->version;
        c->cversion = src->cversion;
        c->aversion = src->aversion;
        c->num_children = src->num_children;
        c->ephemeral_owner = src->ephemeral_owner;
        return c;
    }
    /* Java aliases the empty path to the root. */
    const struct znode *n = datatree_get(s->srv->tree, path[0] ? path : "/", path[0] ? strlen(path) : 1);
    if (n == NULL) {
        change_free(s->srv, c);
        return NULL;
    }
    change_set_acl(s->srv, c, n->acl_id);
    c->exists = true;
    c->version = n->version;
    c->cversion = n->cversion;
    c->aversion = n->aversion;
    c->num_children = (int32_t)n->num_children;
    c->ephemeral_owner = n->ephemeral_owner;
    return c;
}

static int scope_put(struct prep_scope *s, struct change *c)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        struct change **items = realloc(s->items, cap * sizeof *items);
        if (items == NULL) {
            change_free(s->srv, c);
            return ZK_SYSTEMERROR;
        }
        s->items = items;
        s->cap = cap;
    }
    c->zxid = s->zxid;
    s->items[s->n++] = c;
    if (s->n > SCOPE_INDEX_AFTER) {
        if (s->index.buckets == NULL)
            for (size_t i = 0; i + 1 < s->n; i++)
                index_put(&s->index, s->items[i]);
        if (index_put(&s->index, c) != 0)
            index_clear(&s->index); /* scope_find falls back to the scan */
    }
    return 0;
}

/* Keeps both changes (or frees both); the pointers are taken either way. */
static int scope_put_pair(struct prep_scope *s, struct change **a, struct change **b)
{
    int rc_a = scope_put(s, *a);
    int rc_b = scope_put(s, *b);
    *a = *b = NULL;
    return rc_a != 0 || rc_b != 0 ? ZK_SYSTEMERROR : 0;
}

static void scope_discard(struct prep_scope *s)
{
    for (size_t i = 0; i < s->n; i++)
        change_free(s->srv, s->items[i]);
    free(s->items);
    index_clear(&s->index);
    s->items = NULL;
    s->n = s->cap = 0;
}

/* Moves the scope's changes into the server's outstanding changes. */
static void scope_commit(struct prep_scope *s)
{
    struct server *srv = s->srv;
    struct change_index *ix = outstanding_index(srv);
    for (size_t i = 0; i < s->n; i++) {
        if (srv->n_changes == srv->changes_cap && srv->changes_head > 0) {
            memmove(srv->changes, srv->changes + srv->changes_head,
                    (srv->n_changes - srv->changes_head) * sizeof *srv->changes);
            srv->n_changes -= srv->changes_head;
            srv->changes_head = 0;
        }
        if (srv->n_changes == srv->changes_cap) {
            size_t cap = srv->changes_cap ? srv->changes_cap * 2 : 64;
            struct change **items = realloc(srv->changes, cap * sizeof *items);
            if (items == NULL) {
                change_free(srv, s->items[i]); /* prep then reads the tree, which apply updates */
                continue;
            }
            srv->changes = items;
            srv->changes_cap = cap;
        }
        if (ix == NULL || index_put(ix, s->items[i]) != 0) {
            change_free(srv, s->items[i]);
            continue;
        }
        srv->changes[srv->n_changes++] = s->items[i];
    }
    free(s->items);
    index_clear(&s->index);
    s->items = NULL;
    s->n = s->cap = 0;
}

/* Changes are appended in zxid order, so those applied are at the head of the FIFO. */
void prep_forget(struct server *srv, int64_t zxid)
{
    while (srv->changes_head < srv->n_changes && srv->changes[srv->changes_head]->zxid <= zxid) {
        struct change *c = srv->changes[srv->changes_head++];
        if (index_find(srv->change_index, c->path, c->hash) == c)
            index_unlink(srv->change_index, c);
        change_free(srv, c);
    }
    if (srv->changes_head == srv->n_changes)
        srv->changes_head = srv->n_changes = 0;
}

void prep_forget_after(struct server *srv, int64_t zxid)
{
    while (srv->n_changes > srv->changes_head && srv->changes[srv->n_changes - 1]->zxid > zxid)
        change_free(srv, srv->changes[--srv->n_changes]);
    /* An older change of a path may be the newest again: index what is left afresh. */
    if (srv->change_index != NULL) {
        index_clear(srv->change_index);
        for (size_t i = srv->changes_head; i < srv->n_changes; i++)
            index_put(srv->change_index, srv->changes[i]);
    }
}

void prep_free(struct server *srv)
{
    prep_forget(srv, INT64_MAX);
    free(srv->changes);
    if (srv->change_index != NULL)
        index_clear(srv->change_index);
    free(srv->change_index);
}

static bool permits(const struct prep_scope *s, const struct change *c, int perm)
{
    if (s->who->session_id == 0 && s->who->ids == NULL)
        return true; /* the server's own txns (reaper) */
    const struct zk_acl_vec *acl = acl_cache_get(datatree_acl_cache(s->srv->tree), c->acl_id);
    static const struct zk_acl_vec none = {0};
    return acl_permits(acl != NULL ? acl : &none, perm, s->who->ids, s->who->n_ids);
}

static bool is_ordinary_ephemeral(int64_t owner)
{
    return owner != 0 && owner != ZNODE_OWNER_CONTAINER &&
           (owner & ZNODE_OWNER_TTL_MASK) != ZNODE_OWNER_TTL_MASK;
}

/* "/a/b" -> "/a"; "/a" -> "/". Returns NULL when path has no '/'. */
static char *parent_of(const char *path, size_t len)
{
    const char *slash = memrchr(path, '/', len);
    if (slash == NULL)
        return NULL;
    size_t plen = (size_t)(slash - path);
    return plen == 0 ? strdup("/") : strndup(path, plen);
}

static int set_str(char **dst, const char *src, size_t len)
{
    *dst = strndup(src, len);
    return *dst == NULL ? ZK_SYSTEMERROR : 0;
}

static int copy_data(struct txn *t, const uint8_t *data, int32_t len)
{
    t->data_len = len;
    if (len > 0) {
        t->data = malloc((size_t)len);
        if (t->data == NULL)
            return ZK_SYSTEMERROR;
        memcpy(t->data, data, (size_t)len);
    }
    return 0;
}

static int prep_create(struct prep_scope *s, int32_t op, const struct create_request *req,
                       struct txn *t)
{
    int32_t flags = req->flags;
    if (flags < 0 || flags > 6)
        return ZK_BADARGUMENTS;
    bool ttl_mode = flags == 5 || flags == 6;
    bool sequential = flags == 2 || flags == 3 || flags == 6;
    bool ephemeral = (flags == 1 || flags == 3) && op != ZK_OP_CREATECONTAINER;
    if (ttl_mode && !s->srv->cfg->extended_types)
        return ZK_UNIMPLEMENTED;
    if (ttl_mode ? (req->ttl <= 0 || req->ttl > ZNODE_TTL_MAX) : req->ttl != -1)
        return ZK_BADARGUMENTS;
    if (op == ZK_OP_CREATETTL && !ttl_mode)
        return ZK_BADARGUMENTS; /* ttl -1 with a plain mode: Java crashes here */
    if (s->who->session_closing)
        return ZK_SESSIONEXPIRED;
    if (memchr(req->path, '/', req->path_len) == NULL || strlen(req->path) != req->path_len)
        return ZK_BADARGUMENTS;
    struct zk_acl_vec acl = {0};
    if (acl_fixup(&req->acl, s->who->ids, s->who->n_ids, &acl) != 0)
        return ZK_INVALIDACL;
    int rc = ZK_OK;
    char *parent_path = parent_of(req->path, req->path_len);
    struct change *parent = parent_path ? scope_get(s, parent_path) : NULL;
    struct change *child = NULL;
    char *path = NULL;
    if (parent == NULL) {
        rc = ZK_NONODE;
        goto out;
    }
    if (!permits(s, parent, ZK_PERM_CREATE)) {
        rc = ZK_NOAUTH;
        goto out;
    }
    size_t plen = req->path_len + (sequential ? 11 : 0) + 1;
    if ((path = malloc(plen)) == NULL) {
        rc = ZK_SYSTEMERROR;
        goto out;
    }
    if (sequential)
        snprintf(path, plen, "%s%010d", req->path, parent->cversion);
    else
        memcpy(path, req->path, req->path_len + 1);
    if (!path_is_valid(path, strlen(path))) {
        rc = ZK_BADARGUMENTS;
        goto out;
    }
    if ((child = scope_get(s, path)) != NULL) {
        rc = ZK_NODEEXISTS;
        goto out;
    }
    if (is_ordinary_ephemeral(parent->ephemeral_owner)) {
        rc = ZK_NOCHILDRENFOREPHEMERALS;
        goto out;
    }
    int64_t owner = ephemeral ? s->who->session_id
                    : op == ZK_OP_CREATECONTAINER ? ZNODE_OWNER_CONTAINER
                    : ttl_mode ? (ZNODE_OWNER_TTL_MASK | req->ttl)
                               : 0;
    t->type = op; /* 1 and 15 stay apart: a multi's results and the log tell them apart */
    t->ephemeral = ephemeral;
    t->ttl = ttl_mode ? req->ttl : -1;
    t->parent_cversion = parent->cversion + 1;
    int64_t acl_id = -1;
    if (copy_data(t, req->data, req->data_len) != 0 || (child = change_new(path)) == NULL ||
        (acl_id = acl_cache_intern(datatree_acl_cache(s->srv->tree), &acl)) < 0) {
        rc = ZK_SYSTEMERROR;
        goto out;
    }
    child->acl_id = acl_id; /* intern took the reference */
    child->hash = path_hash(child->path);
    child->exists = true;
    child->ephemeral_owner = owner;
    parent->cversion++;
    parent->num_children++;
    t->path = path;
    path = NULL;
    t->acl = acl;
    acl = (struct zk_acl_vec){0};
    if (scope_put_pair(s, &parent, &child) != 0)
        rc = ZK_SYSTEMERROR;
out:
    free(parent_path);
    free(path);
    change_free(s->srv, parent);
    change_free(s->srv, child);
    acl_vec_free(&acl);
    return rc;
}

static int prep_delete(struct prep_scope *s, const struct path_version_request *req,
                       struct txn *t, int32_t op)
{
    if (s->who->session_closing)
        return ZK_SESSIONEXPIRED;
    if (memchr(req->path, '/', req->path_len) == NULL || strlen(req->path) != req->path_len ||
        path_is_protected(req->path))
        return ZK_BADARGUMENTS;
    char *parent_path = parent_of(req->path, req->path_len);
    struct change *parent = parent_path ? scope_get(s, parent_path) : NULL;
    struct change *node = NULL;
    int rc = ZK_OK;
    if (parent == NULL)
        rc = ZK_NONODE;
    else if (op == ZK_OP_DELETE && !permits(s, parent, ZK_PERM_DELETE))
        rc = ZK_NOAUTH;
    else if ((node = scope_get(s, req->path)) == NULL)
        rc = ZK_NONODE;
    else if (op == ZK_OP_DELETECONTAINER && is_ordinary_ephemeral(node->ephemeral_owner))
        rc = ZK_BADVERSION;
    else if (req->version != -1 && req->version != node->version)
        rc = ZK_BADVERSION;
    else if (node->num_children > 0)
        rc = ZK_NOTEMPTY;
    else if (set_str(&t->path, req->path, req->path_len) != 0)
        rc = ZK_SYSTEMERROR;
    if (rc == ZK_OK) {
        t->type = op;
        parent->num_children--;
        node->exists = false;
        if (scope_put_pair(s, &parent, &node) != 0)
            rc = ZK_SYSTEMERROR;
    }
    free(parent_path);
    change_free(s->srv, parent);
    change_free(s->srv, node);
    return rc;
}

static int prep_set_data(struct prep_scope *s, const struct set_data_request *req, struct txn *t)
{
    if (s->who->session_closing)
        return ZK_SESSIONEXPIRED;
    if (!path_is_valid(req->path, req->path_len))
        return ZK_BADARGUMENTS;
    struct change *node = scope_get(s, req->path);
    int rc = ZK_OK;
    if (node == NULL)
        rc = ZK_NONODE;
    else if (!permits(s, node, ZK_PERM_WRITE))
        rc = ZK_NOAUTH;
    else if (req->version != -1 && req->version != node->version)
        rc = ZK_BADVERSION;
    else if (set_str(&t->path, req->path, req->path_len) != 0 ||
             copy_data(t, req->data, req->data_len) != 0)
        rc = ZK_SYSTEMERROR;
    if (rc == ZK_OK) {
        t->type = ZK_OP_SETDATA;
        t->version = ++node->version;
        rc = scope_put(s, node);
        node = NULL;
    }
    change_free(s->srv, node);
    return rc;
}

static int prep_set_acl(struct prep_scope *s, const struct set_acl_request *req, struct txn *t)
{
    if (s->who->session_closing)
        return ZK_SESSIONEXPIRED;
    if (!path_is_valid(req->path, req->path_len))
        return ZK_BADARGUMENTS;
    struct zk_acl_vec acl = {0};
    if (acl_fixup(&req->acl, s->who->ids, s->who->n_ids, &acl) != 0)
        return ZK_INVALIDACL;
    struct change *node = scope_get(s, req->path);
    int rc = ZK_OK;
    if (node == NULL)
        rc = ZK_NONODE;
    else if (!permits(s, node, ZK_PERM_ADMIN))
        rc = ZK_NOAUTH;
    else if (req->version != -1 && req->version != node->aversion)
        rc = ZK_BADVERSION;
    else if (set_str(&t->path, req->path, req->path_len) != 0)
        rc = ZK_SYSTEMERROR;
    if (rc == ZK_OK) {
        t->type = ZK_OP_SETACL;
        t->version = ++node->aversion;
        int64_t acl_id = acl_cache_intern(datatree_acl_cache(s->srv->tree), &acl);
        if (acl_id < 0) {
            rc = ZK_SYSTEMERROR;
        } else {
            change_set_acl(s->srv, node, acl_id);
            acl_cache_release(datatree_acl_cache(s->srv->tree), acl_id); /* intern's ref */
            t->acl = acl;
            acl = (struct zk_acl_vec){0};
            rc = scope_put(s, node);
            node = NULL;
        }
    }
    acl_vec_free(&acl);
    change_free(s->srv, node);
    return rc;
}

static int prep_check(struct prep_scope *s, const struct path_version_request *req,
                      struct txn *t)
{
    if (s->who->session_closing)
        return ZK_SESSIONEXPIRED;
    if (!path_is_valid(req->path, req->path_len))
        return ZK_BADARGUMENTS;
    struct change *node = scope_get(s, req->path);
    int rc = ZK_OK;
    if (node == NULL)
        rc = ZK_NONODE;
    else if (!permits(s, node, ZK_PERM_READ))
        rc = ZK_NOAUTH;
    else if (req->version != -1 && req->version != node->version)
        rc = ZK_BADVERSION;
    else if (set_str(&t->path, req->path, req->path_len) != 0)
        rc = ZK_SYSTEMERROR;
    if (rc == ZK_OK) {
        t->type = ZK_OP_CHECK;
        t->version = req->version;
    }
    change_free(s->srv, node);
    return rc;
}

/* Decodes and prepares one op (a whole request, or one op of a multi). Returns the zk error
 * (ZK_OK on success), ZK_MARSHALLINGERROR when the body does not decode. */
static int prep_one(struct prep_scope *s, int32_t type, struct jute_reader *r, struct txn *t)
{
    int rc;
    switch (type) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATECONTAINER:
    case ZK_OP_CREATETTL: {
        struct create_request req;
        if (proto_read_create(r, type == ZK_OP_CREATETTL, &req) != 0 || req.path == NULL)
            return ZK_MARSHALLINGERROR;
        rc = prep_create(s, type, &req, t);
        proto_acl_vec_free(&req.acl);
        return rc;
    }
    case ZK_OP_DELETE:
    case ZK_OP_CHECK: {
        struct path_version_request req;
        if (proto_read_path_version(r, &req) != 0 || req.path == NULL)
            return ZK_MARSHALLINGERROR;
        return type == ZK_OP_DELETE ? prep_delete(s, &req, t, ZK_OP_DELETE)
                                    : prep_check(s, &req, t);
    }
    case ZK_OP_SETDATA: {
        struct set_data_request req;
        if (proto_read_set_data(r, &req) != 0 || req.path == NULL)
            return ZK_MARSHALLINGERROR;
        return prep_set_data(s, &req, t);
    }
    case ZK_OP_SETACL: {
        struct set_acl_request req;
        if (proto_read_set_acl(r, &req) != 0 || req.path == NULL)
            return ZK_MARSHALLINGERROR;
        rc = prep_set_acl(s, &req, t);
        proto_acl_vec_free(&req.acl);
        return rc;
    }
    default:
        return ZK_MARSHALLINGERROR;
    }
}

static void make_error(struct txn *t, int32_t err)
{
    txn_free(t);
    t->type = ZK_OP_ERROR;
    t->err = err;
}

static bool is_multi_op(int32_t type)
{
    return type == ZK_OP_CREATE || type == ZK_OP_CREATE2 || type == ZK_OP_CREATECONTAINER ||
           type == ZK_OP_CREATETTL || type == ZK_OP_DELETE || type == ZK_OP_SETDATA ||
           type == ZK_OP_CHECK;
}

/* multi: every op is decoded first (a bad one fails the whole request), then prepared in
 * order against the changes of the ops before it; the first failure turns the txn into a
 * multi of error txns: OK for the ops before (rolled back), the error, then
 * RUNTIMEINCONSISTENCY. */
static bool prep_multi(struct prep_scope *s, struct jute_reader *r, struct txn *t)
{
    t->type = ZK_OP_MULTI;
    size_t cap = 0;
    int failed_at = -1;
    for (;;) {
        struct multi_header mh;
        if (proto_read_multi_header(r, &mh) != 0)
            goto bad;
        if (mh.done)
            break;
        if (!is_multi_op(mh.type))
            goto bad;
        if (t->n_sub == cap) {
            cap = cap ? cap * 2 : 8;
            struct txn *sub = realloc(t->sub, cap * sizeof *sub);
            if (sub == NULL)
                goto bad;
            t->sub = sub;
        }
        struct txn *op = &t->sub[t->n_sub++];
        memset(op, 0, sizeof *op);
        op->type = mh.type;
        if (failed_at >= 0) {
            /* still decode the rest, so a malformed tail fails the whole request */
            struct prep_scope dry = {.srv = s->srv, .who = s->who, .zxid = s->zxid};
            struct txn ignored = {0};
            int rc = prep_one(&dry, mh.type, r, &ignored);
            txn_free(&ignored);
            scope_discard(&dry);
            if (rc == ZK_MARSHALLINGERROR)
                goto bad;
            make_error(op, ZK_RUNTIMEINCONSISTENCY);
            continue;
        }
        int rc = prep_one(s, mh.type, r, op);
        if (rc == ZK_MARSHALLINGERROR)
            goto bad;
        if (rc != ZK_OK) {
            make_error(op, rc);
            failed_at = (int)t->n_sub - 1;
        }
    }
    if (failed_at >= 0) {
        for (int i = 0; i < failed_at; i++)
            make_error(&t->sub[i], ZK_OK);
        scope_discard(s);
    }
    return true;
bad:
    make_error(t, ZK_MARSHALLINGERROR);
    scope_discard(s);
    return false;
}

bool prep_write(struct server *srv, const struct prep_caller *who, int32_t type,
                struct jute_reader *r, int64_t zxid, struct txn *txn)
{
    memset(txn, 0, sizeof *txn);
    struct prep_scope s = {.srv = srv, .who = who, .zxid = zxid};
    bool decoded = true;
    if (type == ZK_OP_MULTI) {
        decoded = prep_multi(&s, r, txn);
    } else if (type == ZK_OP_RECONFIG) {
        struct reconfig_request rr;
        decoded = proto_read_reconfig(r, &rr) == 0;
        make_error(txn, decoded ? ZK_RECONFIGDISABLED : ZK_MARSHALLINGERROR);
    } else {
        int rc = prep_one(&s, type, r, txn);
        if (rc != ZK_OK) {
            decoded = rc != ZK_MARSHALLINGERROR;
            make_error(txn, rc);
        }
    }
    if (txn->type == ZK_OP_ERROR)
        scope_discard(&s);
    else
        scope_commit(&s);
    return decoded;
}

void prep_create_session(struct txn *txn, int32_t timeout_ms)
{
    memset(txn, 0, sizeof *txn);
    txn->type = ZK_OP_CREATESESSION;
    txn->timeout_ms = timeout_ms;
}

static int add_path(struct txn *t, const char *path)
{
    char **paths = realloc(t->paths, (t->n_paths + 1) * sizeof *paths);
    if (paths == NULL)
        return ZK_SYSTEMERROR;
    t->paths = paths;
    if ((paths[t->n_paths] = strdup(path)) == NULL)
        return ZK_SYSTEMERROR;
    t->n_paths++;
    return ZK_OK;
}

struct ephemeral_scan {
    struct server *srv;
    struct txn *found;
};

/* A tree ephemeral that an outstanding change touched is judged by that change instead. */
static void collect_ephemeral(struct znode *n, void *arg)
{
    struct ephemeral_scan *es = arg;
    if (outstanding_find(es->srv, n->path, path_hash(n->path)) == NULL)
        add_path(es->found, n->path);
}

/* Marks one of the closing session's ephemerals deleted, as a delete would. */
static void close_one(struct prep_scope *s, const char *path)
{
    struct path_version_request req = {.path = path, .path_len = strlen(path), .version = -1};
    struct txn ignored = {0};
    prep_delete(s, &req, &ignored, ZK_OP_DELETECONTAINER);
    txn_free(&ignored);
}

void prep_close_session(struct server *srv, int64_t session_id, int64_t zxid, struct txn *txn)
{
    memset(txn, 0, sizeof *txn);
    txn->type = ZK_OP_CLOSESESSION;
    /* The session's ephemerals: those in the tree that no outstanding change deleted, and
     * those outstanding creates made. Requests prepared after this one see them gone. */
    struct txn found = {0};
    struct ephemeral_scan es = {srv, &found};
    datatree_each_ephemeral(srv->tree, session_id, collect_ephemeral, &es);
    for (size_t i = srv->changes_head; i < srv->n_changes; i++) {
        const struct change *c = srv->changes[i];
        if (c->exists && c->ephemeral_owner == session_id &&
            outstanding_find(srv, c->path, c->hash) == c)
            add_path(&found, c->path);
    }
    static const struct prep_caller server_itself = {0};
    struct prep_scope s = {.srv = srv, .who = &server_itself, .zxid = zxid};
    for (size_t i = 0; i < found.n_paths; i++)
        if (add_path(txn, found.paths[i]) == ZK_OK)
            close_one(&s, found.paths[i]);
    txn_free(&found);
    scope_commit(&s);
}

void prep_delete_container(struct server *srv, const char *path, int64_t zxid, struct txn *txn)
{
    memset(txn, 0, sizeof *txn);
    static const struct prep_caller server_itself = {0};
    struct prep_scope s = {.srv = srv, .who = &server_itself, .zxid = zxid};
    struct path_version_request req = {.path = path, .path_len = strlen(path), .version = -1};
    int rc = prep_delete(&s, &req, txn, ZK_OP_DELETECONTAINER);
    if (rc != ZK_OK) {
        make_error(txn, rc);
        scope_discard(&s);
    } else {
        scope_commit(&s);
    }
}
