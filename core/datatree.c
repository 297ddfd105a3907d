/* The data tree: znodes by full path, children, Stat rules and per-session ephemerals
 * (client-protocol.md §7). */
#include "datatree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"
#include "zkerr.h"

/* One session's ephemerals, a doubly linked list through znode.eph_prev/eph_next. */
struct eph_session {
    int64_t session_id;
    struct znode *head, *tail;
    size_t count;
    struct eph_session *next;
};

struct datatree {
    struct znode **buckets; /* chained through znode.hash_next */
    size_t nbuckets;        /* a power of two */
    /* While the table grows, the previous one: its buckets [moved, nold) are still to be moved
     * into `buckets`, a few per write (dt_migrate), so no write rehashes the whole tree. */
    struct znode **old;
    size_t nold, moved;
    bool bulk; /* datatree_bulk_load: grow in one step, nobody waits for a write */
    size_t nnodes;          /* distinct nodes, the root once */
    struct eph_session **eph_buckets;
    size_t eph_nbuckets;
    size_t eph_nsessions;
    int64_t ephemerals_total;
    int64_t data_size; /* approximate_data_size, kept incrementally */
    struct acl_cache *acls;
    struct znode *root;
    /* paths P with a /zookeeper/quota<P>/zookeeper_limits node; few, so a plain list */
    char **quota_paths;
    size_t n_quota;
    bool loaded_reapable; /* datatree_load_node saw a container or TTL node */
};

#define DT_QUOTA_ROOT "/zookeeper/quota"
#define DT_QUOTA_ROOT_LEN (sizeof DT_QUOTA_ROOT - 1)

/* Is p (len) "/zookeeper/quota<P>/<leaf>"? Then *real and *real_len name <P>. */
static bool dt_quota_node(const char *p, size_t len, const char *leaf, const char **real,
                          size_t *real_len)
{
    size_t ll = strlen(leaf);
    if (len <= DT_QUOTA_ROOT_LEN + 1 + ll || memcmp(p, DT_QUOTA_ROOT, DT_QUOTA_ROOT_LEN) != 0 ||
        p[DT_QUOTA_ROOT_LEN] != '/' || memcmp(p + len - ll, leaf, ll) != 0 ||
        p[len - ll - 1] != '/')
        return false;
    *real = p + DT_QUOTA_ROOT_LEN;
    *real_len = len - ll - 1 - DT_QUOTA_ROOT_LEN;
    return *real_len > 0;
}

/* Longest quota'd path that is p or a component-wise ancestor of p; NULL for none ("/" and
 * "/zookeeper..." never count, as in DataTree.getMaxPrefixWithQuota). */
static const char *dt_quota_prefix(const struct datatree *t, const char *p, size_t len)
{
    const char *best = NULL;
    size_t best_len = 0;
    if (len >= 10 && memcmp(p, "/zookeeper", 10) == 0 && (len == 10 || p[10] == '/'))
        return NULL;
    for (size_t i = 0; i < t->n_quota; i++) {
        const char *q = t->quota_paths[i];
        size_t ql = strlen(q);
        if (ql <= 1 || ql > len || memcmp(q, p, ql) != 0 || (ql < len && p[ql] != '/'))
            continue;
        if (ql > best_len) {
            best = q;
            best_len = ql;
        }
    }
    return best;
}

static void dt_stats_write(struct datatree *t, const char *real, int64_t count, int64_t bytes)
{
    char path[4096];
    int pl = snprintf(path, sizeof path, DT_QUOTA_ROOT "%s/zookeeper_stats", real);
    if (pl <= 0 || (size_t)pl >= sizeof path)
        return;
    struct znode *sn = datatree_get(t, path, (size_t)pl);
    if (sn == NULL)
        return;
    char buf[64];
    int bl = snprintf(buf, sizeof buf, "count=%lld,bytes=%lld", (long long)count, (long long)bytes);
    uint8_t *copy = malloc((size_t)bl);
    if (copy == NULL)
        return;
    memcpy(copy, buf, (size_t)bl);
    t->data_size -= sn->data_len > 0 ? sn->data_len : 0;
    free(sn->data);
    sn->data = copy;
    sn->data_len = bl; /* Stat (version, mzxid) untouched, as ZooKeeper */
    t->data_size += bl;
}

static bool dt_stats_read(struct datatree *t, const char *real, int64_t *count, int64_t *bytes)
{
    char path[4096];
    int pl = snprintf(path, sizeof path, DT_QUOTA_ROOT "%s/zookeeper_stats", real);
    if (pl <= 0 || (size_t)pl >= sizeof path)
        return false;
    struct znode *sn = datatree_get(t, path, (size_t)pl);
    if (sn == NULL)
        return false;
    char buf[256];
    size_t n = sn->data_len > 0 ? (size_t)sn->data_len : 0;
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    memcpy(buf, sn->data, n);
    buf[n] = 0;
    *count = *bytes = 0;
    const char *c = strstr(buf, "count="), *b = strstr(buf, "bytes=");
    if (c != NULL)
        *count = strtoll(c + 6, NULL, 10);
    if (b != NULL)
        *bytes = strtoll(b + 6, NULL, 10);
    return true;
}

static void dt_quota_update(struct datatree *t, const char *p, size_t len, int64_t dcount,
                            int64_t dbytes)
{
    const char *q = dt_quota_prefix(t, p, len);
    int64_t c, b;
    if (q != NULL && dt_stats_read(t, q, &c, &b))
        dt_stats_write(t, q, c + dcount, b + dbytes);
}

/* fn on top and every node below it, walked without recursion (a tree can be as deep as a
 * path is long) through parent pointers and each node's place among its siblings. */
static void dt_each_below(struct znode *top, void (*fn)(struct znode *n, void *arg), void *arg)
{
    struct znode *n = top;
    for (;;) {
        fn(n, arg);
        if (n->num_children > 0) {
            n = n->children[0];
            continue;
        }
        while (n != top && n->index_in_parent + 1 >= n->parent->num_children)
            n = n->parent;
        if (n == top)
            return;
        n = n->parent->children[n->index_in_parent + 1];
    }
}

static void dt_add_data_bytes(struct znode *n, void *arg)
{
    *(int64_t *)arg += n->data_len > 0 ? n->data_len : 0;
}

/* Nodes and data bytes of the subtree at top. */
static void dt_subtree_counts(struct znode *top, int64_t *count, int64_t *bytes)
{
    *count = 1 + top->descendants;
    *bytes = 0;
    dt_each_below(top, dt_add_data_bytes, bytes);
}

/* Writes the current usage of quota path `real` into its zookeeper_stats node. */
static void dt_stats_recompute(struct datatree *t, const char *real, size_t real_len)
{
    int64_t c = 0, b = 0;
    struct znode *rn = datatree_get(t, real, real_len);
    if (rn != NULL)
        dt_subtree_counts(rn, &c, &b);
    dt_stats_write(t, real, c, b);
}

static void dt_quota_add_path(struct datatree *t, const char *real, size_t real_len)
{
    char **qp = realloc(t->quota_paths, (t->n_quota + 1) * sizeof *qp);
    if (qp == NULL)
        return; /* usage is then not tracked for it; nothing else depends on it */
    t->quota_paths = qp;
    if ((qp[t->n_quota] = strndup(real, real_len)) != NULL)
        t->n_quota++;
}

static void dt_quota_scan(struct znode *n, void *arg)
{
    struct datatree *t = arg;
    const char *real;
    size_t real_len;
    if (dt_quota_node(n->path, n->path_len, "zookeeper_limits", &real, &real_len))
        dt_quota_add_path(t, real, real_len);
}

void datatree_quota_refresh(struct datatree *t)
{
    for (size_t i = 0; i < t->n_quota; i++)
        free(t->quota_paths[i]);
    t->n_quota = 0;
    /* Limits nodes live under /zookeeper/quota only: walk that subtree, not the whole tree. */
    struct znode *qroot = datatree_get(t, DT_QUOTA_ROOT, DT_QUOTA_ROOT_LEN);
    if (qroot != NULL)
        dt_each_below(qroot, dt_quota_scan, t);
    for (size_t i = 0; i < t->n_quota; i++) {
        char *real = strdup(t->quota_paths[i]); /* dt_stats_write may not alias the list */
        if (real != NULL)
            dt_stats_recompute(t, real, strlen(real));
        free(real);
    }
}

#define DT_INITIAL_BUCKETS 1024
#define DT_INITIAL_EPH_BUCKETS 64

static uint64_t dt_hash_path(const char *p, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)p[i]) * 0x100000001b3ULL;
    return h ^ (h >> 29); /* FNV's low bits mix poorly; the bucket index uses them */
}

static size_t dt_hash_session(int64_t id, size_t nbuckets)
{
    uint64_t x = (uint64_t)id;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & (nbuckets - 1);
}

/* Java's String.length() of the path: valid paths hold only BMP characters, one UTF-16 unit
 * each, so count every byte that does not continue a UTF-8 sequence. */
static int64_t dt_path_units(const char *p, size_t len)
{
    int64_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)p[i] & 0xC0) != 0x80;
    return n;
}

static int64_t dt_node_size(const struct znode *n)
{
    return dt_path_units(n->path, n->path_len) + (n->data_len > 0 ? n->data_len : 0);
}

enum znode_kind znode_kind(const struct znode *n)
{
    int64_t owner = n->ephemeral_owner;
    if (owner == 0)
        return ZNODE_PERSISTENT;
    if (owner == ZNODE_OWNER_CONTAINER)
        return ZNODE_CONTAINER;
    if ((owner & ZNODE_OWNER_TTL_MASK) == ZNODE_OWNER_TTL_MASK)
        return ZNODE_TTL;
    return ZNODE_EPHEMERAL;
}

/* ---- the path table ---- */

/* Nodes keep their hash: a chain is walked without touching other nodes' paths (another
 * cache line each), and growing the table reads no path at all. */
static struct znode **dt_chain_find(struct znode **pp, uint32_t h, const char *path, size_t len)
{
    while (*pp != NULL && ((*pp)->hash != h || (*pp)->path_len != len ||
                           memcmp((*pp)->path, path, len) != 0))
        pp = &(*pp)->hash_next;
    return pp;
}

/* The link that points to path's node, or the empty end of its chain in the current table
 * (where a new node goes) when there is none. */
static struct znode **dt_slot(const struct datatree *t, const char *path, size_t len)
{
    uint32_t h = (uint32_t)dt_hash_path(path, len);
    if (t->old != NULL && (h & (t->nold - 1)) >= t->moved) {
        struct znode **pp = dt_chain_find(&t->old[h & (t->nold - 1)], h, path, len);
        if (*pp != NULL)
            return pp;
    }
    return dt_chain_find(&t->buckets[h & (t->nbuckets - 1)], h, path, len);
}

void datatree_prefetch(const struct datatree *t, const char *path, size_t len, bool node)
{
    uint32_t h = (uint32_t)dt_hash_path(path, len);
    struct znode *const *slot = &t->buckets[h & (t->nbuckets - 1)];
    if (!node)
        __builtin_prefetch(slot);
    else if (*slot != NULL)
        __builtin_prefetch(&(*slot)->hash);
}

struct znode *datatree_get(const struct datatree *t, const char *path, size_t len)
{
    return *dt_slot(t, path, len);
}

static void dt_move_chain(struct datatree *t, struct znode *n)
{
    while (n != NULL) {
        struct znode *next = n->hash_next;
        struct znode **head = &t->buckets[n->hash & (t->nbuckets - 1)];
        n->hash_next = *head;
        *head = n;
        n = next;
    }
}

/* Moves up to `steps` buckets of the previous table (all of them for SIZE_MAX). */
static void dt_migrate(struct datatree *t, size_t steps)
{
    if (t->old == NULL)
        return;
    for (; steps > 0 && t->moved < t->nold; steps--)
        dt_move_chain(t, t->old[t->moved++]);
    if (t->moved == t->nold) {
        free(t->old);
        t->old = NULL;
        t->nold = t->moved = 0;
    }
}

/* Two buckets per write: a migration started at N nodes is done N/2 writes later, long before
 * the table (now 2N buckets) must grow again. */
#define DT_MIGRATE_STEPS 2

/* A new table of nb buckets; the current one becomes `old`, moved over later writes. */
static void dt_start_resize(struct datatree *t, size_t nb)
{
    dt_migrate(t, SIZE_MAX);
    struct znode **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return; /* a fuller table is slower, not wrong */
    t->old = t->buckets;
    t->nold = t->nbuckets;
    t->moved = 0;
    t->buckets = b;
    t->nbuckets = nb;
}

/* After every insert and delete: one more step of a migration, or the start of one. */
static void dt_table_changed(struct datatree *t)
{
    dt_migrate(t, DT_MIGRATE_STEPS);
    if (t->nnodes > t->nbuckets && t->old == NULL) {
        dt_start_resize(t, t->nbuckets * 2);
        if (t->bulk) /* one pass is cheaper than lookups probing two tables meanwhile */
            dt_migrate(t, SIZE_MAX);
    }
}

void datatree_bulk_load(struct datatree *t, bool on)
{
    t->bulk = on;
}

/* A snapshot load knows its node count: one table of the right size, filled directly. */
void datatree_reserve(struct datatree *t, size_t nodes)
{
    size_t nb = t->nbuckets;
    while (nb < nodes && nb < ((size_t)1 << 40))
        nb *= 2;
    if (nb > t->nbuckets) {
        dt_start_resize(t, nb);
        dt_migrate(t, SIZE_MAX);
    }
}

/* Every node of the table, also those still in the previous one. */
static void dt_table_each(const struct datatree *t, void (*fn)(struct znode *n, void *arg),
                          void *arg)
{
    for (size_t i = 0; t->buckets != NULL && i < t->nbuckets; i++)
        for (struct znode *n = t->buckets[i], *next; n != NULL; n = next) {
            next = n->hash_next; /* fn may free n (datatree_free) */
            fn(n, arg);
        }
    for (size_t i = t->moved; t->old != NULL && i < t->nold; i++)
        for (struct znode *n = t->old[i], *next; n != NULL; n = next) {
            next = n->hash_next;
            fn(n, arg);
        }
}

/* ---- children ---- */

static int dt_child_add(struct znode *parent, struct znode *child)
{
    if (parent->num_children == parent->children_cap) {
        uint32_t cap = parent->children_cap != 0 ? parent->children_cap * 2 : 4;
        struct znode **c = realloc(parent->children, cap * sizeof(*c));
        if (c == NULL)
            return -ENOMEM;
        parent->children = c;
        parent->children_cap = cap;
    }
    child->index_in_parent = parent->num_children;
    parent->children[parent->num_children++] = child;
    return 0;
}

static void dt_child_remove(struct znode *parent, struct znode *child)
{
    uint32_t i = child->index_in_parent, last = --parent->num_children;
    if (i != last) {
        parent->children[i] = parent->children[last];
        parent->children[i]->index_in_parent = i;
    }
    if (last == 0) {
        free(parent->children);
        parent->children = NULL;
        parent->children_cap = 0;
    } else if (last <= parent->children_cap / 4 && parent->children_cap > 8) {
        /* Give back memory after a mass delete; failure just keeps the bigger array. */
        struct znode **c = realloc(parent->children, parent->children_cap / 2 * sizeof(*c));
        if (c != NULL) {
            parent->children = c;
            parent->children_cap /= 2;
        }
    }
}

/* ---- ephemeral lists ---- */

static struct eph_session **dt_eph_slot(const struct datatree *t, int64_t session_id)
{
    struct eph_session **pp = &t->eph_buckets[dt_hash_session(session_id, t->eph_nbuckets)];
    while (*pp != NULL && (*pp)->session_id != session_id)
        pp = &(*pp)->next;
    return pp;
}

static void dt_eph_grow(struct datatree *t)
{
    size_t nb = t->eph_nbuckets * 2;
    struct eph_session **b = calloc(nb, sizeof(*b));
    if (b == NULL)
        return;
    for (size_t i = 0; i < t->eph_nbuckets; i++) {
        struct eph_session *s = t->eph_buckets[i];
        while (s != NULL) {
            struct eph_session *next = s->next;
            size_t k = dt_hash_session(s->session_id, nb);
            s->next = b[k];
            b[k] = s;
            s = next;
        }
    }
    free(t->eph_buckets);
    t->eph_buckets = b;
    t->eph_nbuckets = nb;
}

/* Looks up the session's list, creating it when missing. NULL on ENOMEM. */
static struct eph_session *dt_eph_session(struct datatree *t, int64_t session_id)
{
    struct eph_session **pp = dt_eph_slot(t, session_id);
    if (*pp != NULL)
        return *pp;
    struct eph_session *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->session_id = session_id;
    *pp = s;
    if (++t->eph_nsessions > t->eph_nbuckets)
        dt_eph_grow(t);
    return s;
}

/* Unlinks and frees a session entry that holds no node. */
static void dt_eph_drop(struct datatree *t, struct eph_session *s)
{
    struct eph_session **pp = dt_eph_slot(t, s->session_id);
    *pp = s->next;
    free(s);
    t->eph_nsessions--;
}

static void dt_eph_append(struct datatree *t, struct eph_session *s, struct znode *n)
{
    n->eph_next = NULL;
    n->eph_prev = s->tail;
    if (s->tail != NULL)
        s->tail->eph_next = n;
    else
        s->head = n;
    s->tail = n;
    s->count++;
    t->ephemerals_total++;
}

static void dt_eph_remove(struct datatree *t, struct znode *n)
{
    struct eph_session **pp = dt_eph_slot(t, n->ephemeral_owner);
    struct eph_session *s = *pp;
    if (s == NULL)
        return;
    if (n->eph_prev != NULL)
        n->eph_prev->eph_next = n->eph_next;
    else
        s->head = n->eph_next;
    if (n->eph_next != NULL)
        n->eph_next->eph_prev = n->eph_prev;
    else
        s->tail = n->eph_prev;
    n->eph_prev = n->eph_next = NULL;
    t->ephemerals_total--;
    if (--s->count == 0)
        dt_eph_drop(t, s);
}

/* ---- nodes ---- */

/* The node and its path share one allocation. */
static struct znode *dt_node_new(const char *path, size_t len)
{
    struct znode *n = calloc(1, sizeof(*n) + len + 1);
    if (n == NULL)
        return NULL;
    n->path = (char *)(n + 1);
    memcpy(n->path, path, len);
    n->path[len] = '\0';
    n->path_len = (uint32_t)len;
    n->hash = (uint32_t)dt_hash_path(path, len);
    const char *slash = memrchr(path, '/', len);
    n->name_off = slash != NULL ? (uint32_t)(slash - path) + 1 : 0;
    n->data_len = -1;
    return n;
}

static void dt_node_free(struct znode *n)
{
    free(n->data);
    free(n->children);
    free(n);
}

static void dt_node_free_cb(struct znode *n, void *arg)
{
    (void)arg;
    dt_node_free(n);
}

/* Copies data into a fresh buffer; *copy is NULL for null or empty data. */
static int dt_copy_data(const uint8_t *data, int32_t data_len, uint8_t **copy)
{
    *copy = NULL;
    if (data_len <= 0)
        return 0;
    *copy = malloc((size_t)data_len);
    if (*copy == NULL)
        return -ENOMEM;
    memcpy(*copy, data, (size_t)data_len);
    return 0;
}

static void dt_table_insert(struct datatree *t, struct znode *n)
{
    struct znode **pp = &t->buckets[n->hash & (t->nbuckets - 1)];
    n->hash_next = *pp;
    *pp = n;
    t->nnodes++;
    dt_table_changed(t);
}

/* A system node with all-zero Stat and empty (not null) data, under `parent`. */
static struct znode *dt_add_system_node(struct datatree *t, struct znode *parent, const char *path,
                                        const struct zk_acl_vec *acl)
{
    struct znode *n = dt_node_new(path, strlen(path));
    if (n == NULL)
        return NULL;
    n->data_len = 0;
    n->acl_id = acl_cache_intern(t->acls, acl);
    if (n->acl_id < 0 || (parent != NULL && dt_child_add(parent, n) != 0)) {
        if (n->acl_id > 0)
            acl_cache_release(t->acls, n->acl_id);
        dt_node_free(n);
        return NULL;
    }
    n->parent = parent;
    for (struct znode *a = parent; a != NULL; a = a->parent)
        a->descendants++;
    dt_table_insert(t, n);
    t->data_size += dt_node_size(n);
    return n;
}

struct datatree *datatree_new(void)
{
    struct datatree *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->nbuckets = DT_INITIAL_BUCKETS;
    t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
    t->eph_nbuckets = DT_INITIAL_EPH_BUCKETS;
    t->eph_buckets = calloc(t->eph_nbuckets, sizeof(*t->eph_buckets));
    t->acls = acl_cache_new();
    if (t->buckets == NULL || t->eph_buckets == NULL || t->acls == NULL) {
        datatree_free(t);
        return NULL;
    }

    struct zk_acl open_item = {.perms = ZK_PERM_ALL, .id = {.scheme = "world", .id = "anyone"}};
    struct zk_acl read_item = {.perms = ZK_PERM_READ, .id = {.scheme = "world", .id = "anyone"}};
    struct zk_acl_vec open_acl = {.count = 1, .items = &open_item};
    struct zk_acl_vec read_acl = {.count = 1, .items = &read_item};
    struct znode *zk, *config;
    if ((t->root = dt_add_system_node(t, NULL, "/", &open_acl)) == NULL ||
        (zk = dt_add_system_node(t, t->root, "/zookeeper", &open_acl)) == NULL ||
        dt_add_system_node(t, zk, "/zookeeper/quota", &open_acl) == NULL ||
        (config = dt_add_system_node(t, zk, "/zookeeper/config", &read_acl)) == NULL) {
        datatree_free(t);
        return NULL;
    }
    /* Java's "" alias of the root adds nothing to data_size: an empty key and empty data. */
    config->aversion = -1;
    return t;
}

void datatree_free(struct datatree *t)
{
    if (t == NULL)
        return;
    dt_table_each(t, dt_node_free_cb, NULL);
    for (size_t i = 0; t->eph_buckets != NULL && i < t->eph_nbuckets; i++) {
        struct eph_session *s = t->eph_buckets[i];
        while (s != NULL) {
            struct eph_session *next = s->next;
            free(s);
            s = next;
        }
    }
    free(t->buckets);
    free(t->old);
    free(t->eph_buckets);
    for (size_t i = 0; i < t->n_quota; i++)
        free(t->quota_paths[i]);
    free(t->quota_paths);
    acl_cache_free(t->acls);
    free(t);
}

void znode_stat(const struct znode *n, struct zk_stat *out)
{
    out->czxid = n->czxid;
    out->mzxid = n->mzxid;
    out->ctime = n->ctime;
    out->mtime = n->mtime;
    out->version = n->version;
    /* Java computes 2*C - numChildren in int arithmetic, wrapping on overflow. */
    out->cversion = (int32_t)((uint32_t)n->cversion * 2u - n->num_children);
    out->aversion = n->aversion;
    out->ephemeral_owner = znode_kind(n) == ZNODE_EPHEMERAL ? n->ephemeral_owner : 0;
    out->data_length = n->data_len > 0 ? n->data_len : 0;
    out->num_children = (int32_t)n->num_children;
    out->pzxid = n->pzxid;
}

const struct zk_acl_vec *datatree_acl(const struct datatree *t, const struct znode *n)
{
    return acl_cache_get(t->acls, n->acl_id);
}

struct acl_cache *datatree_acl_cache(struct datatree *t)
{
    return t->acls;
}

static struct znode *dt_parent_of(const struct datatree *t, const char *path, size_t len)
{
    long plen = path_parent_len(path, len);
    if (plen < 0)
        return NULL;
    if (plen == 0)
        return t->root;
    return datatree_get(t, path, (size_t)plen);
}

int datatree_create(struct datatree *t, const char *path, size_t len, const uint8_t *data,
                    int32_t data_len, const struct zk_acl_vec *acl, int64_t ephemeral_owner,
                    int32_t parent_cversion, int64_t zxid, int64_t time_ms, struct znode **out)
{
    if (len == 1 && path[0] == '/')
        return ZK_NODEEXISTS;
    struct znode *parent = dt_parent_of(t, path, len);
    if (parent == NULL)
        return ZK_NONODE;
    struct znode **slot = dt_slot(t, path, len);
    if (*slot != NULL)
        return ZK_NODEEXISTS;
    if (len > UINT32_MAX)
        return -ENOMEM;

    struct znode *n = dt_node_new(path, len);
    if (n == NULL)
        return -ENOMEM;
    struct eph_session *s = NULL;
    n->ephemeral_owner = ephemeral_owner;
    if (dt_copy_data(data, data_len, &n->data) != 0 ||
        (n->acl_id = acl_cache_intern(t->acls, acl)) < 0 ||
        (znode_kind(n) == ZNODE_EPHEMERAL && (s = dt_eph_session(t, ephemeral_owner)) == NULL) ||
        dt_child_add(parent, n) != 0) {
        if (s != NULL && s->count == 0)
            dt_eph_drop(t, s);
        if (n->acl_id > 0)
            acl_cache_release(t->acls, n->acl_id);
        dt_node_free(n);
        return -ENOMEM;
    }
    n->data_len = data_len < 0 ? -1 : data_len;
    n->czxid = n->mzxid = n->pzxid = zxid;
    n->ctime = n->mtime = time_ms;
    n->parent = parent;
    if (s != NULL)
        dt_eph_append(t, s, n);

    parent->cversion = parent_cversion;
    parent->pzxid = zxid;
    for (struct znode *a = parent; a != NULL; a = a->parent)
        a->descendants++;
    /* Nothing above touched the table, so the empty slot dt_slot found is still the chain's
     * end: link there instead of hashing the path again. */
    *slot = n;
    t->nnodes++;
    dt_table_changed(t);
    t->data_size += dt_node_size(n);
    /* Quotas (zkCli setquota): a limits node makes its path tracked; a stats node starts
     * with the subtree's usage; every change below a tracked path updates it. */
    const char *real;
    size_t real_len;
    if (dt_quota_node(path, len, "zookeeper_limits", &real, &real_len))
        dt_quota_add_path(t, real, real_len);
    if (dt_quota_node(path, len, "zookeeper_stats", &real, &real_len)) {
        char *r = strndup(real, real_len);
        if (r != NULL)
            dt_stats_recompute(t, r, real_len);
        free(r);
    }
    dt_quota_update(t, path, len, 1, n->data_len > 0 ? n->data_len : 0);
    if (out != NULL)
        *out = n;
    return 0;
}

int datatree_delete(struct datatree *t, const char *path, size_t len, int64_t zxid)
{
    struct znode **slot = dt_slot(t, path, len);
    struct znode *n = *slot;
    if (n == NULL)
        return ZK_NONODE;
    if (n->parent == NULL)
        return ZK_BADARGUMENTS;
    if (n->num_children != 0)
        return ZK_NOTEMPTY;

    const char *real;
    size_t real_len;
    if (dt_quota_node(path, len, "zookeeper_limits", &real, &real_len)) {
        for (size_t i = 0; i < t->n_quota; i++) {
            if (strlen(t->quota_paths[i]) == real_len &&
                memcmp(t->quota_paths[i], real, real_len) == 0) {
                free(t->quota_paths[i]);
                t->quota_paths[i] = t->quota_paths[--t->n_quota];
                break;
            }
        }
    }
    dt_quota_update(t, path, len, -1, n->data_len > 0 ? -(int64_t)n->data_len : 0);
    *slot = n->hash_next;
    t->nnodes--;
    dt_table_changed(t);
    t->data_size -= dt_node_size(n);
    struct znode *parent = n->parent;
    dt_child_remove(parent, n);
    parent->pzxid = zxid;
    for (struct znode *a = parent; a != NULL; a = a->parent)
        a->descendants--;
    if (znode_kind(n) == ZNODE_EPHEMERAL)
        dt_eph_remove(t, n);
    acl_cache_release(t->acls, n->acl_id);
    dt_node_free(n);
    return 0;
}

int datatree_set_data(struct datatree *t, const char *path, size_t len, const uint8_t *data,
                      int32_t data_len, int32_t new_version, int64_t zxid, int64_t time_ms)
{
    struct znode *n = datatree_get(t, path, len);
    if (n == NULL)
        return ZK_NONODE;
    uint8_t *copy;
    if (dt_copy_data(data, data_len, &copy) != 0)
        return -ENOMEM;
    int64_t before = n->data_len > 0 ? n->data_len : 0;
    t->data_size -= n->data_len > 0 ? n->data_len : 0;
    free(n->data);
    n->data = copy;
    n->data_len = data_len < 0 ? -1 : data_len;
    t->data_size += n->data_len > 0 ? n->data_len : 0;
    dt_quota_update(t, path, len, 0, (n->data_len > 0 ? n->data_len : 0) - before);
    n->version = new_version;
    n->mzxid = zxid;
    n->mtime = time_ms;
    return 0;
}

int datatree_set_acl(struct datatree *t, const char *path, size_t len, const struct zk_acl_vec *acl,
                     int32_t new_aversion)
{
    struct znode *n = datatree_get(t, path, len);
    if (n == NULL)
        return ZK_NONODE;
    int64_t id = acl_cache_intern(t->acls, acl);
    if (id < 0)
        return -ENOMEM;
    acl_cache_release(t->acls, n->acl_id);
    n->acl_id = id;
    n->aversion = new_aversion;
    return 0;
}

void datatree_each_ephemeral(const struct datatree *t, int64_t session_id,
                             void (*fn)(struct znode *n, void *arg), void *arg)
{
    struct eph_session *s = *dt_eph_slot(t, session_id);
    for (struct znode *n = s != NULL ? s->head : NULL; n != NULL; n = n->eph_next)
        fn(n, arg);
}

size_t datatree_ephemeral_count(const struct datatree *t, int64_t session_id)
{
    struct eph_session *s = *dt_eph_slot(t, session_id);
    return s != NULL ? s->count : 0;
}

void datatree_each_ephemeral_owner(const struct datatree *t,
                                   void (*fn)(int64_t session_id, void *arg), void *arg)
{
    for (size_t i = 0; i < t->eph_nbuckets; i++)
        for (const struct eph_session *s = t->eph_buckets[i]; s != NULL; s = s->next)
            fn(s->session_id, arg);
}

bool datatree_loaded_reapable(const struct datatree *t)
{
    return t->loaded_reapable;
}

void datatree_each(const struct datatree *t, void (*fn)(struct znode *n, void *arg), void *arg)
{
    dt_table_each(t, fn, arg);
}

int64_t datatree_descendants(const struct znode *n)
{
    return n->descendants;
}

int64_t datatree_node_count(const struct datatree *t)
{
    return (int64_t)t->nnodes + 1; /* Java's "" alias of the root */
}

int64_t datatree_approximate_data_size(const struct datatree *t)
{
    return t->data_size;
}

int64_t datatree_ephemerals_total(const struct datatree *t)
{
    return t->ephemerals_total;
}

void znode_persisted_stat(const struct znode *n, struct zk_persisted_stat *out)
{
    out->czxid = n->czxid;
    out->mzxid = n->mzxid;
    out->ctime = n->ctime;
    out->mtime = n->mtime;
    out->version = n->version;
    out->cversion = n->cversion;
    out->aversion = n->aversion;
    out->ephemeral_owner = n->ephemeral_owner;
    out->pzxid = n->pzxid;
}

static void dt_apply_persisted(struct znode *n, const struct zk_persisted_stat *st)
{
    n->czxid = st->czxid;
    n->mzxid = st->mzxid;
    n->ctime = st->ctime;
    n->mtime = st->mtime;
    n->version = st->version;
    n->cversion = st->cversion;
    n->aversion = st->aversion;
    n->ephemeral_owner = st->ephemeral_owner;
    n->pzxid = st->pzxid;
}

static bool dt_owner_is_ephemeral(int64_t owner)
{
    struct znode probe = {.ephemeral_owner = owner};
    return znode_kind(&probe) == ZNODE_EPHEMERAL;
}

/* Overwrites a node that is already in the tree. Everything that can fail happens first. */
static int dt_load_existing(struct datatree *t, struct znode *n, const uint8_t *data,
                            int32_t data_len, int64_t acl_id, const struct zk_persisted_stat *st)
{
    uint8_t *copy;
    if (dt_copy_data(data, data_len, &copy) != 0)
        return -ENOMEM;
    bool was_eph = znode_kind(n) == ZNODE_EPHEMERAL;
    bool is_eph = dt_owner_is_ephemeral(st->ephemeral_owner);
    bool same_list = was_eph && is_eph && n->ephemeral_owner == st->ephemeral_owner;
    struct eph_session *s = NULL;
    if (is_eph && !same_list && (s = dt_eph_session(t, st->ephemeral_owner)) == NULL) {
        free(copy);
        return -ENOMEM;
    }
    if (was_eph && !same_list)
        dt_eph_remove(t, n); /* s belongs to another owner, so this cannot free it */

    t->data_size -= n->data_len > 0 ? n->data_len : 0;
    free(n->data);
    n->data = copy;
    n->data_len = data_len < 0 ? -1 : data_len;
    t->data_size += n->data_len > 0 ? n->data_len : 0;
    acl_cache_addref(t->acls, acl_id);
    acl_cache_release(t->acls, n->acl_id);
    n->acl_id = acl_id;
    dt_apply_persisted(n, st);
    if (s != NULL)
        dt_eph_append(t, s, n);
    return 0;
}

int datatree_load_node(struct datatree *t, const char *path, size_t len, const uint8_t *data,
                       int32_t data_len, int64_t acl_id, const struct zk_persisted_stat *st)
{
    if (acl_cache_get(t->acls, acl_id) == NULL)
        return -EINVAL;
    bool is_root = len == 0 || (len == 1 && path[0] == '/');
    struct znode *existing = is_root ? t->root : datatree_get(t, path, len);
    if (existing != NULL)
        return dt_load_existing(t, existing, data, data_len, acl_id, st);

    struct znode *parent = dt_parent_of(t, path, len);
    if (parent == NULL)
        return ZK_NONODE;
    if (len > UINT32_MAX)
        return -ENOMEM;
    struct znode *n = dt_node_new(path, len);
    if (n == NULL)
        return -ENOMEM;
    struct eph_session *s = NULL;
    if (dt_copy_data(data, data_len, &n->data) != 0 ||
        (dt_owner_is_ephemeral(st->ephemeral_owner) &&
         (s = dt_eph_session(t, st->ephemeral_owner)) == NULL) ||
        dt_child_add(parent, n) != 0) {
        if (s != NULL && s->count == 0)
            dt_eph_drop(t, s);
        dt_node_free(n);
        return -ENOMEM;
    }
    n->data_len = data_len < 0 ? -1 : data_len;
    acl_cache_addref(t->acls, acl_id);
    n->acl_id = acl_id;
    dt_apply_persisted(n, st);
    n->parent = parent;
    if (znode_kind(n) == ZNODE_CONTAINER || znode_kind(n) == ZNODE_TTL)
        t->loaded_reapable = true;
    if (s != NULL)
        dt_eph_append(t, s, n);
    for (struct znode *a = parent; a != NULL; a = a->parent)
        a->descendants++;
    dt_table_insert(t, n);
    t->data_size += dt_node_size(n);
    return 0;
}
