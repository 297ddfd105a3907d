/* The data tree: znodes by full path, their children, Stat rules, per-session ephemerals and
 * the interned ACLs (ZooKeeper's DataTree / DataNode). It applies changes that prep already
 * validated; it fires no watches (the caller does, with the returned facts). */
#ifndef CORRAL_DATATREE_H
#define CORRAL_DATATREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acl.h"
#include "proto.h"

/* Raw ephemeralOwner markers (client-protocol.md §7.4). Reported as 0 in Stat. */
#define ZNODE_OWNER_CONTAINER ((int64_t)INT64_MIN)
#define ZNODE_OWNER_TTL_MASK ((int64_t)0xFF00000000000000ULL)
#define ZNODE_TTL_MAX ((int64_t)0xFFFFFFFFFFLL) /* 2^40 - 1 */

enum znode_kind {
    ZNODE_PERSISTENT = 0,
    ZNODE_EPHEMERAL = 1,
    ZNODE_CONTAINER = 2,
    ZNODE_TTL = 3,
};

struct znode {
    char *path;              /* full path, NUL-terminated; the table's key */
    uint32_t path_len;
    uint32_t name_off;       /* the last component: path + name_off ("" for the root) */
    uint8_t *data;           /* NULL when data_len <= 0 */
    int32_t data_len;        /* -1: null data (reported dataLength 0) */
    uint32_t hash;           /* of the path, the table's (fills what was padding) */
    int64_t czxid, mzxid, ctime, mtime, pzxid;
    int64_t ephemeral_owner; /* raw: session id, container or TTL marker, or 0 */
    int32_t version;
    int32_t cversion;        /* the stored create counter C; reported as 2*C - num_children */
    int32_t aversion;
    int64_t acl_id;          /* into the tree's ACL cache */
    struct znode *parent;    /* NULL for the root */
    struct znode **children; /* unordered; num_children entries */
    uint32_t num_children;
    uint32_t children_cap;
    uint32_t index_in_parent;
    int64_t descendants;     /* nodes below this one at any depth, kept on create/delete */
    struct znode *hash_next;
    struct znode *eph_prev, *eph_next; /* the owner session's ephemeral list */
};

struct datatree;

/* A new tree holding "/", "/zookeeper", "/zookeeper/quota" and "/zookeeper/config" with the
 * Stat values and ACLs of a fresh ZooKeeper (client-protocol.md §7.6). NULL on ENOMEM. */
struct datatree *datatree_new(void);
void datatree_free(struct datatree *t);

struct znode *datatree_get(const struct datatree *t, const char *path, size_t len);
/* A hint before a lookup of path: fetch its bucket into the cache, or (node) the first node
 * in that bucket, which needs the bucket cached already to pay off. */
void datatree_prefetch(const struct datatree *t, const char *path, size_t len, bool node);
/* Sizes the path table for `nodes` nodes at once (a snapshot load knows its count). */
void datatree_reserve(struct datatree *t, size_t nodes);
/* While on (log replay at start-up), the path table grows in one step rather than a few
 * buckets per write: faster in total, and no client waits on a write meanwhile. */
void datatree_bulk_load(struct datatree *t, bool on);
enum znode_kind znode_kind(const struct znode *n);
/* The Stat as clients see it (reported cversion and ephemeralOwner). */
void znode_stat(const struct znode *n, struct zk_stat *out);
const struct zk_acl_vec *datatree_acl(const struct datatree *t, const struct znode *n);
struct acl_cache *datatree_acl_cache(struct datatree *t);

/* Creates `path` under its existing parent. parent_cversion is the parent's new stored create
 * counter (CreateTxn.parentCVersion). Returns 0, ZK_NONODE (no parent) or ZK_NODEEXISTS;
 * -ENOMEM on allocation failure. *out (may be NULL) gets the new node. */
int datatree_create(struct datatree *t, const char *path, size_t len, const uint8_t *data,
                    int32_t data_len, const struct zk_acl_vec *acl, int64_t ephemeral_owner,
                    int32_t parent_cversion, int64_t zxid, int64_t time_ms, struct znode **out);
/* Deletes a childless node; the parent's pzxid becomes zxid. Returns 0 or ZK_NONODE (and, as a
 * guard the caller should never trip, ZK_NOTEMPTY for a node with children, ZK_BADARGUMENTS for
 * the root). */
int datatree_delete(struct datatree *t, const char *path, size_t len, int64_t zxid);
/* setData: version = new_version, mzxid, mtime, data. Returns 0, ZK_NONODE or -ENOMEM (the node
 * is then unchanged). */
int datatree_set_data(struct datatree *t, const char *path, size_t len, const uint8_t *data,
                      int32_t data_len, int32_t new_version, int64_t zxid, int64_t time_ms);
/* setACL: aversion = new_aversion; mzxid and mtime unchanged. Returns 0, ZK_NONODE or -ENOMEM
 * (the node is then unchanged). */
int datatree_set_acl(struct datatree *t, const char *path, size_t len,
                     const struct zk_acl_vec *acl, int32_t new_aversion);

/* The ephemerals a session owns, in creation order; `fn` must not modify the tree. */
void datatree_each_ephemeral(const struct datatree *t, int64_t session_id,
                             void (*fn)(struct znode *n, void *arg), void *arg);
size_t datatree_ephemeral_count(const struct datatree *t, int64_t session_id);
/* Every session that owns ephemerals (once each); `fn` must not modify the tree. */
void datatree_each_ephemeral_owner(const struct datatree *t,
                                   void (*fn)(int64_t session_id, void *arg), void *arg);
/* Whether datatree_load_node loaded a container or TTL node into this tree. */
bool datatree_loaded_reapable(const struct datatree *t);
/* Every node (the root included), in no particular order; `fn` must not modify the tree. */
void datatree_each(const struct datatree *t, void (*fn)(struct znode *n, void *arg), void *arg);
/* Number of descendants of n at any depth (getAllChildrenNumber); O(1). */
int64_t datatree_descendants(const struct znode *n);

/* Counters for srvr/mntr, as ZooKeeper reports them: node_count includes the root's "" alias
 * (5 on a fresh tree); approximate_data_size is the sum of path plus data lengths (44), the path
 * counted in characters as Java's String.length() does ("/é" is 2). */
int64_t datatree_node_count(const struct datatree *t);
int64_t datatree_approximate_data_size(const struct datatree *t);
int64_t datatree_ephemerals_total(const struct datatree *t);

/* StatPersisted as snapshots and SNAP syncs carry it (disk-and-quorum.md A.2, A.8): cversion is
 * the stored create counter, ephemeral_owner the raw value (session, container or TTL marker). */
struct zk_persisted_stat {
    int64_t czxid, mzxid, ctime, mtime;
    int32_t version, cversion, aversion;
    int64_t ephemeral_owner;
    int64_t pzxid;
};

void znode_persisted_stat(const struct znode *n, struct zk_persisted_stat *out);

/* Puts one node read from a snapshot into the tree, with its full stored Stat. acl_id is an id
 * in this tree's ACL cache (datatree_acl_cache), which the node takes a reference to. The root
 * is "" (or "/"); a node that already exists (the root and the /zookeeper nodes datatree_new
 * made) gets data, ACL and Stat overwritten, and its ephemeral list follows the new owner.
 * Otherwise the parent must exist already. Returns 0, ZK_NONODE (no parent), -EINVAL (unknown
 * acl_id) or -ENOMEM (the tree is then unchanged). */
/* Rebuilds the quota bookkeeping after a load: every /zookeeper/quota<P>/zookeeper_limits node
 * makes P tracked, and each zookeeper_stats node gets P's current usage, as ZooKeeper
 * recomputes them on every load. O(nodes). */
void datatree_quota_refresh(struct datatree *t);

int datatree_load_node(struct datatree *t, const char *path, size_t len, const uint8_t *data,
                       int32_t data_len, int64_t acl_id, const struct zk_persisted_stat *st);

#endif
