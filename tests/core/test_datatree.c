/* The data tree: system nodes, Stat rules, counters, ephemerals and shared ACLs (§7). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "datatree.h"
#include "zkerr.h"

static struct zk_acl open_item = {.perms = ZK_PERM_ALL, .id = {.scheme = "world", .id = "anyone"}};
static struct zk_acl_vec open_acl = {.count = 1, .items = &open_item};
static struct zk_acl read_item = {.perms = ZK_PERM_READ, .id = {.scheme = "world", .id = "anyone"}};
static struct zk_acl_vec read_acl = {.count = 1, .items = &read_item};

static int tree_setup(void **state)
{
    *state = datatree_new();
    return *state == NULL ? -1 : 0;
}

static int tree_teardown(void **state)
{
    datatree_free(*state); /* ASan reports anything left behind */
    return 0;
}

static struct znode *get(struct datatree *t, const char *path)
{
    return datatree_get(t, path, strlen(path));
}

static struct zk_stat stat_of(struct datatree *t, const char *path)
{
    struct zk_stat st;
    struct znode *n = get(t, path);
    assert_non_null(n);
    znode_stat(n, &st);
    return st;
}

/* Creates like prep would: the parent's stored counter goes up by one. */
static struct znode *create_full(struct datatree *t, const char *path, const char *data,
                                 int64_t owner, int64_t zxid)
{
    const char *slash = strrchr(path, '/');
    struct znode *parent = slash == path ? get(t, "/") : datatree_get(t, path, slash - path);
    assert_non_null(parent);
    struct znode *n = NULL;
    int32_t len = data != NULL ? (int32_t)strlen(data) : -1;
    assert_int_equal(datatree_create(t, path, strlen(path), (const uint8_t *)data, len, &open_acl,
                                     owner, parent->cversion + 1, zxid, 1000 + zxid, &n),
                     0);
    assert_non_null(n);
    return n;
}

static struct znode *create(struct datatree *t, const char *path, int64_t zxid)
{
    return create_full(t, path, "", 0, zxid);
}

static void del(struct datatree *t, const char *path, int64_t zxid)
{
    assert_int_equal(datatree_delete(t, path, strlen(path), zxid), 0);
}

static void assert_all_zero_but_cversion(struct zk_stat st, int32_t cversion, int32_t children)
{
    assert_int_equal(st.czxid, 0);
    assert_int_equal(st.mzxid, 0);
    assert_int_equal(st.ctime, 0);
    assert_int_equal(st.mtime, 0);
    assert_int_equal(st.version, 0);
    assert_int_equal(st.cversion, cversion);
    assert_int_equal(st.ephemeral_owner, 0);
    assert_int_equal(st.data_length, 0);
    assert_int_equal(st.num_children, children);
    assert_int_equal(st.pzxid, 0);
}

static void fresh_tree_has_the_system_nodes(void **state)
{
    struct datatree *t = *state;
    struct zk_stat st;

    st = stat_of(t, "/");
    assert_all_zero_but_cversion(st, -1, 1);
    assert_int_equal(st.aversion, 0);
    st = stat_of(t, "/zookeeper");
    assert_all_zero_but_cversion(st, -2, 2);
    assert_int_equal(st.aversion, 0);
    st = stat_of(t, "/zookeeper/quota");
    assert_all_zero_but_cversion(st, 0, 0);
    assert_int_equal(st.aversion, 0);
    st = stat_of(t, "/zookeeper/config");
    assert_all_zero_but_cversion(st, 0, 0);
    assert_int_equal(st.aversion, -1);

    /* Empty, not null, data everywhere. */
    assert_int_equal(get(t, "/")->data_len, 0);
    assert_int_equal(get(t, "/zookeeper/config")->data_len, 0);

    struct znode *root = get(t, "/");
    assert_null(root->parent);
    assert_string_equal(root->path + root->name_off, "");
    assert_int_equal(root->num_children, 1);
    assert_string_equal(root->children[0]->path, "/zookeeper");
    assert_string_equal(root->children[0]->path + root->children[0]->name_off, "zookeeper");
    assert_ptr_equal(get(t, "/zookeeper/quota")->parent, root->children[0]);

    assert_int_equal(datatree_node_count(t), 5);
    assert_int_equal(datatree_approximate_data_size(t), 44);
    assert_int_equal(datatree_descendants(root), 3);
    assert_int_equal(datatree_descendants(get(t, "/zookeeper")), 2);
    assert_int_equal(datatree_descendants(get(t, "/zookeeper/quota")), 0);
    assert_int_equal(datatree_ephemerals_total(t), 0);
    assert_null(get(t, ""));
    assert_null(get(t, "/zoo"));
}

static void fresh_tree_acls(void **state)
{
    struct datatree *t = *state;
    const struct zk_acl_vec *acl = datatree_acl(t, get(t, "/"));
    assert_int_equal(acl->count, 1);
    assert_int_equal(acl->items[0].perms, 31);
    assert_string_equal(acl->items[0].id.scheme, "world");
    assert_string_equal(acl->items[0].id.id, "anyone");
    acl = datatree_acl(t, get(t, "/zookeeper/config"));
    assert_int_equal(acl->count, 1);
    assert_int_equal(acl->items[0].perms, 1);
    assert_string_equal(acl->items[0].id.id, "anyone");
    /* The three open nodes share one entry. */
    assert_int_equal(get(t, "/")->acl_id, get(t, "/zookeeper")->acl_id);
    assert_int_equal(get(t, "/")->acl_id, get(t, "/zookeeper/quota")->acl_id);
    assert_int_not_equal(get(t, "/")->acl_id, get(t, "/zookeeper/config")->acl_id);
    assert_int_equal(acl_cache_size(datatree_acl_cache(t)), 2);
}

static void create_sets_the_new_node_and_the_parent(void **state)
{
    struct datatree *t = *state;
    char data[] = "hello";
    struct znode *n = NULL;
    assert_int_equal(
        datatree_create(t, "/a", 2, (uint8_t *)data, 5, &open_acl, 0, 1, 0x10, 1700000000000, &n),
        0);
    data[0] = 'J'; /* the tree keeps its own copy */
    assert_ptr_equal(n, get(t, "/a"));
    assert_memory_equal(n->data, "hello", 5);
    assert_string_equal(n->path + n->name_off, "a");

    struct zk_stat st = stat_of(t, "/a");
    assert_int_equal(st.czxid, 0x10);
    assert_int_equal(st.mzxid, 0x10);
    assert_int_equal(st.pzxid, 0x10);
    assert_int_equal(st.ctime, 1700000000000);
    assert_int_equal(st.mtime, 1700000000000);
    assert_int_equal(st.version, 0);
    assert_int_equal(st.cversion, 0);
    assert_int_equal(st.aversion, 0);
    assert_int_equal(st.ephemeral_owner, 0);
    assert_int_equal(st.data_length, 5);
    assert_int_equal(st.num_children, 0);

    /* Parent: stored counter set, pzxid moved, mzxid/mtime/version untouched. */
    st = stat_of(t, "/");
    assert_int_equal(get(t, "/")->cversion, 1);
    assert_int_equal(st.cversion, 0); /* 2*1 - 2 */
    assert_int_equal(st.num_children, 2);
    assert_int_equal(st.pzxid, 0x10);
    assert_int_equal(st.mzxid, 0);
    assert_int_equal(st.mtime, 0);
    assert_int_equal(st.version, 0);

    assert_int_equal(datatree_node_count(t), 6);
    assert_int_equal(datatree_approximate_data_size(t), 44 + 2 + 5);
    assert_int_equal(datatree_descendants(get(t, "/")), 4);
}

static void create_errors_change_nothing(void **state)
{
    struct datatree *t = *state;
    create(t, "/a", 1);
    struct znode *n = (struct znode *)1;
    assert_int_equal(datatree_create(t, "/a", 2, NULL, -1, &open_acl, 0, 9, 2, 0, &n),
                     ZK_NODEEXISTS);
    assert_int_equal(datatree_create(t, "/x/y", 4, NULL, -1, &open_acl, 0, 9, 2, 0, &n), ZK_NONODE);
    assert_int_equal(datatree_create(t, "/", 1, NULL, -1, &open_acl, 0, 9, 2, 0, &n),
                     ZK_NODEEXISTS);
    assert_ptr_equal(n, (struct znode *)1);
    assert_int_equal(get(t, "/")->cversion, 1);
    assert_int_equal(stat_of(t, "/").pzxid, 1);
    assert_int_equal(datatree_node_count(t), 6);
    assert_int_equal(datatree_approximate_data_size(t), 46);
    assert_int_equal(acl_cache_size(datatree_acl_cache(t)), 2);
    /* out may be NULL. */
    assert_int_equal(datatree_create(t, "/b", 2, NULL, -1, &open_acl, 0, 2, 3, 0, NULL), 0);
}

static void null_and_empty_data(void **state)
{
    struct datatree *t = *state;
    struct znode *null_node = create_full(t, "/null", NULL, 0, 1);
    struct znode *empty = create_full(t, "/empty", "", 0, 2);
    assert_int_equal(null_node->data_len, -1);
    assert_null(null_node->data);
    assert_int_equal(empty->data_len, 0);
    assert_null(empty->data);
    assert_int_equal(stat_of(t, "/null").data_length, 0);
    assert_int_equal(stat_of(t, "/empty").data_length, 0);
    assert_int_equal(datatree_approximate_data_size(t), 44 + 5 + 6);
}

static void cversion_counts_creates_and_deletes(void **state)
{
    struct datatree *t = *state;
    create(t, "/p", 1);
    assert_int_equal(stat_of(t, "/p").cversion, 0);
    create(t, "/p/a", 2);
    assert_int_equal(stat_of(t, "/p").cversion, 1);
    create(t, "/p/b", 3);
    assert_int_equal(stat_of(t, "/p").cversion, 2);
    assert_int_equal(stat_of(t, "/p").pzxid, 3);

    del(t, "/p/a", 4);
    struct zk_stat st = stat_of(t, "/p");
    assert_int_equal(st.cversion, 3);
    assert_int_equal(st.num_children, 1);
    assert_int_equal(st.pzxid, 4);
    assert_int_equal(st.mzxid, 1);
    assert_int_equal(get(t, "/p")->cversion, 2); /* the stored counter: deletes leave it */

    del(t, "/p/b", 5);
    st = stat_of(t, "/p");
    assert_int_equal(st.cversion, 4);
    assert_int_equal(st.num_children, 0);
    assert_int_equal(st.pzxid, 5);

    create(t, "/p/c", 6); /* the counter resumes at 3 */
    assert_int_equal(get(t, "/p")->cversion, 3);
    assert_int_equal(stat_of(t, "/p").cversion, 5);

    /* Root: one create then one delete, -1 -> 0 -> 1. */
    assert_int_equal(stat_of(t, "/").cversion, 0);
    del(t, "/p/c", 7);
    del(t, "/p", 8);
    assert_int_equal(stat_of(t, "/").cversion, 1);
    assert_int_equal(stat_of(t, "/").pzxid, 8);
    assert_int_equal(datatree_node_count(t), 5);
    assert_int_equal(datatree_approximate_data_size(t), 44);
}

static void reported_cversion_wraps_like_java(void **state)
{
    struct datatree *t = *state;
    struct znode *n = create(t, "/w", 1);
    n->cversion = INT32_MAX;
    struct zk_stat st;
    znode_stat(n, &st);
    assert_int_equal(st.cversion, -2); /* (int)(2 * 0x7fffffff) */
}

static void descendants_follow_nested_creates_and_deletes(void **state)
{
    struct datatree *t = *state;
    create(t, "/a", 1);
    create(t, "/a/b", 2);
    create(t, "/a/b/c", 3);
    create(t, "/a/b/d", 4);
    create(t, "/a/e", 5);
    assert_int_equal(datatree_descendants(get(t, "/")), 3 + 5);
    assert_int_equal(datatree_descendants(get(t, "/a")), 4);
    assert_int_equal(datatree_descendants(get(t, "/a/b")), 2);
    assert_int_equal(datatree_descendants(get(t, "/a/b/c")), 0);
    assert_int_equal(datatree_descendants(get(t, "/zookeeper")), 2);
    assert_int_equal(datatree_node_count(t), 10);

    del(t, "/a/b/c", 6);
    assert_int_equal(datatree_descendants(get(t, "/a/b")), 1);
    assert_int_equal(datatree_descendants(get(t, "/a")), 3);
    assert_int_equal(datatree_descendants(get(t, "/")), 7);
    del(t, "/a/b/d", 7);
    del(t, "/a/b", 8);
    assert_int_equal(datatree_descendants(get(t, "/a")), 1);
    assert_int_equal(datatree_descendants(get(t, "/")), 5);
    /* getAllChildrenNumber("/") is node_count - 2, as in ZooKeeper. */
    assert_int_equal(datatree_descendants(get(t, "/")), datatree_node_count(t) - 2);
    assert_null(get(t, "/a/b"));
    assert_null(get(t, "/a/b/c"));
}

static void delete_guards(void **state)
{
    struct datatree *t = *state;
    create(t, "/a", 1);
    create(t, "/a/b", 2);
    assert_int_equal(datatree_delete(t, "/nope", 5, 3), ZK_NONODE);
    assert_int_equal(datatree_delete(t, "/a", 2, 3), ZK_NOTEMPTY);
    assert_int_equal(datatree_delete(t, "/", 1, 3), ZK_BADARGUMENTS);
    assert_non_null(get(t, "/a"));
    assert_int_equal(stat_of(t, "/").pzxid, 1);
    assert_int_equal(datatree_node_count(t), 7);
}

static void data_size_counts_path_characters(void **state)
{
    struct datatree *t = *state;
    create_full(t, "/\xc3\xa9", "xyz", 0, 1); /* "/é": 2 characters, 3 bytes */
    assert_int_equal(datatree_approximate_data_size(t), 44 + 2 + 3);
    del(t, "/\xc3\xa9", 2);
    assert_int_equal(datatree_approximate_data_size(t), 44);
}

static void set_data_updates_version_and_size(void **state)
{
    struct datatree *t = *state;
    create_full(t, "/a", "12345", 0, 1);
    assert_int_equal(datatree_approximate_data_size(t), 44 + 2 + 5);
    assert_int_equal(datatree_set_data(t, "/a", 2, (const uint8_t *)"ab", 2, 1, 7, 5000), 0);
    struct zk_stat st = stat_of(t, "/a");
    assert_int_equal(st.version, 1);
    assert_int_equal(st.mzxid, 7);
    assert_int_equal(st.mtime, 5000);
    assert_int_equal(st.czxid, 1);
    assert_int_equal(st.ctime, 1001);
    assert_int_equal(st.pzxid, 1);
    assert_int_equal(st.data_length, 2);
    assert_memory_equal(get(t, "/a")->data, "ab", 2);
    assert_int_equal(datatree_approximate_data_size(t), 44 + 2 + 2);

    assert_int_equal(datatree_set_data(t, "/a", 2, NULL, -1, 2, 8, 6000), 0);
    assert_int_equal(get(t, "/a")->data_len, -1);
    assert_null(get(t, "/a")->data);
    assert_int_equal(stat_of(t, "/a").data_length, 0);
    assert_int_equal(datatree_approximate_data_size(t), 44 + 2);

    assert_int_equal(datatree_set_data(t, "/", 1, (const uint8_t *)"root", 4, 1, 9, 0), 0);
    assert_int_equal(datatree_approximate_data_size(t), 44 + 2 + 4);
    assert_int_equal(datatree_set_data(t, "/zz", 3, NULL, -1, 1, 9, 0), ZK_NONODE);
}

static void set_acl_swaps_the_shared_entry(void **state)
{
    struct datatree *t = *state;
    struct acl_cache *c = datatree_acl_cache(t);
    create(t, "/a", 1);
    create(t, "/b", 2);
    assert_int_equal(get(t, "/a")->acl_id, get(t, "/")->acl_id);
    assert_int_equal(acl_cache_size(c), 2);

    struct zk_acl ip_item = {.perms = 3, .id = {.scheme = "ip", .id = "10.0.0.0/8"}};
    struct zk_acl_vec ip_acl = {.count = 1, .items = &ip_item};
    assert_int_equal(datatree_set_acl(t, "/a", 2, &ip_acl, 1), 0);
    assert_int_equal(datatree_set_acl(t, "/b", 2, &ip_acl, 4), 0);
    assert_int_equal(acl_cache_size(c), 3);
    assert_int_equal(get(t, "/a")->acl_id, get(t, "/b")->acl_id);
    struct zk_stat st = stat_of(t, "/a");
    assert_int_equal(st.aversion, 1);
    assert_int_equal(st.mzxid, 1); /* setACL leaves mzxid and mtime */
    assert_int_equal(st.mtime, 1001);
    assert_int_equal(stat_of(t, "/b").aversion, 4);
    const struct zk_acl_vec *acl = datatree_acl(t, get(t, "/a"));
    assert_string_equal(acl->items[0].id.id, "10.0.0.0/8");
    assert_int_equal(acl->items[0].perms, 3);

    /* The entry goes when its last node does. */
    int64_t ip_id = get(t, "/a")->acl_id;
    del(t, "/a", 3);
    assert_non_null(acl_cache_get(c, ip_id));
    del(t, "/b", 4);
    assert_null(acl_cache_get(c, ip_id));
    assert_int_equal(acl_cache_size(c), 2);

    /* Setting the read-only list elsewhere shares /zookeeper/config's entry. */
    create(t, "/r", 5);
    assert_int_equal(datatree_set_acl(t, "/r", 2, &read_acl, 1), 0);
    assert_int_equal(get(t, "/r")->acl_id, get(t, "/zookeeper/config")->acl_id);
    assert_int_equal(datatree_set_acl(t, "/none", 5, &read_acl, 1), ZK_NONODE);
}

static void kinds_and_reported_owner(void **state)
{
    struct datatree *t = *state;
    int64_t sid = 0x0100000012345678LL;
    int64_t ttl_owner = ZNODE_OWNER_TTL_MASK | 5000;
    struct znode *p = create(t, "/p", 1);
    struct znode *e = create_full(t, "/e", "", sid, 2);
    struct znode *c = create_full(t, "/c", "", ZNODE_OWNER_CONTAINER, 3);
    struct znode *l = create_full(t, "/l", "", ttl_owner, 4);
    assert_int_equal(znode_kind(p), ZNODE_PERSISTENT);
    assert_int_equal(znode_kind(e), ZNODE_EPHEMERAL);
    assert_int_equal(znode_kind(c), ZNODE_CONTAINER);
    assert_int_equal(znode_kind(l), ZNODE_TTL);
    assert_int_equal(stat_of(t, "/e").ephemeral_owner, sid);
    assert_int_equal(stat_of(t, "/c").ephemeral_owner, 0);
    assert_int_equal(stat_of(t, "/l").ephemeral_owner, 0);
    assert_int_equal(c->ephemeral_owner, ZNODE_OWNER_CONTAINER); /* stored raw */
    assert_int_equal(l->ephemeral_owner, ttl_owner);
    assert_int_equal(datatree_ephemerals_total(t), 1);
    assert_int_equal(datatree_ephemeral_count(t, sid), 1);
    assert_int_equal(datatree_ephemeral_count(t, ZNODE_OWNER_CONTAINER), 0);
    assert_int_equal(datatree_ephemeral_count(t, ttl_owner), 0);
}

struct collected {
    const char *paths[16];
    int n;
};

static void collect(struct znode *n, void *arg)
{
    struct collected *c = arg;
    assert_true(c->n < 16);
    c->paths[c->n++] = n->path;
}

static void ephemerals_per_session_in_creation_order(void **state)
{
    struct datatree *t = *state;
    int64_t s1 = 0x100, s2 = 0x200;
    create(t, "/d", 1);
    create_full(t, "/d/e1", "", s1, 2);
    create_full(t, "/d/f", "", s2, 3);
    create_full(t, "/e2", "", s1, 4);
    create_full(t, "/d/e3", "", s1, 5);
    create_full(t, "/e4", "", s1, 6);
    assert_int_equal(datatree_ephemeral_count(t, s1), 4);
    assert_int_equal(datatree_ephemeral_count(t, s2), 1);
    assert_int_equal(datatree_ephemeral_count(t, 0x300), 0);
    assert_int_equal(datatree_ephemerals_total(t), 5);

    struct collected c = {.n = 0};
    datatree_each_ephemeral(t, s1, collect, &c);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.paths[0], "/d/e1");
    assert_string_equal(c.paths[1], "/e2");
    assert_string_equal(c.paths[2], "/d/e3");
    assert_string_equal(c.paths[3], "/e4");

    /* Remove the head, a middle one and the tail. */
    del(t, "/d/e1", 7);
    del(t, "/d/e3", 8);
    del(t, "/e4", 9);
    c.n = 0;
    datatree_each_ephemeral(t, s1, collect, &c);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.paths[0], "/e2");
    assert_int_equal(datatree_ephemerals_total(t), 2);

    create_full(t, "/e5", "", s1, 10);
    c.n = 0;
    datatree_each_ephemeral(t, s1, collect, &c);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.paths[1], "/e5");

    del(t, "/e2", 11);
    del(t, "/e5", 12);
    assert_int_equal(datatree_ephemeral_count(t, s1), 0);
    c.n = 0;
    datatree_each_ephemeral(t, s1, collect, &c);
    assert_int_equal(c.n, 0);
    assert_int_equal(datatree_ephemeral_count(t, s2), 1);
    assert_int_equal(datatree_ephemerals_total(t), 1);
}

static void many_sessions(void **state)
{
    struct datatree *t = *state;
    char path[32];
    for (int i = 0; i < 500; i++) {
        snprintf(path, sizeof(path), "/s%d", i);
        create_full(t, path, "", 1000 + i % 250, i + 1);
    }
    assert_int_equal(datatree_ephemerals_total(t), 500);
    for (int s = 0; s < 250; s++)
        assert_int_equal(datatree_ephemeral_count(t, 1000 + s), 2);
    for (int i = 0; i < 500; i += 2) {
        snprintf(path, sizeof(path), "/s%d", i);
        del(t, path, 1000 + i);
    }
    for (int s = 0; s < 250; s++)
        assert_int_equal(datatree_ephemeral_count(t, 1000 + s), s % 2 == 0 ? 0 : 2);
    assert_int_equal(datatree_ephemerals_total(t), 250);
}

static void count_node(struct znode *n, void *arg)
{
    (void)n;
    (*(int *)arg)++;
}

static void each_visits_every_node_once(void **state)
{
    struct datatree *t = *state;
    create(t, "/a", 1);
    create(t, "/a/b", 2);
    int n = 0;
    datatree_each(t, count_node, &n);
    assert_int_equal(n, 6); /* the root once; node_count says 7 because of the alias */
    assert_int_equal(datatree_node_count(t), 7);
}

/* The table grows a few buckets per write: lookups, deletes, walks and datatree_reserve must
 * see every node whether its bucket has moved yet or not. */
static void growing_table_keeps_every_node_reachable(void **state)
{
    struct datatree *t = *state;
    enum { N = 9000 };
    char path[32];
    create(t, "/g", 1);
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "/g/n%d", i);
        create(t, path, 2 + i);
        if (i % 3 == 2) { /* deletes step the migration too */
            snprintf(path, sizeof(path), "/g/n%d", i - 1);
            del(t, path, 2 + i);
        }
        if (i % 250 != 0)
            continue;
        for (int k = 0; k <= i; k++) {
            snprintf(path, sizeof(path), "/g/n%d", k);
            if (k % 3 == 1 && k < i)
                assert_null(get(t, path));
            else
                assert_non_null(get(t, path));
        }
        int seen = 0;
        datatree_each(t, count_node, &seen);
        assert_int_equal(seen, datatree_node_count(t) - 1); /* the root's alias */
        if (i == 6000)
            datatree_reserve(t, 50000); /* finishes a migration, then resizes at once */
    }
    assert_int_equal(get(t, "/g")->num_children, N - N / 3);
}

static void many_children_keep_consistent_indexes(void **state)
{
    struct datatree *t = *state;
    enum { N = 20000 };
    char path[32];
    create(t, "/big", 1);
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "/big/n%d", i);
        create(t, path, 2 + i);
    }
    struct znode *big = get(t, "/big");
    assert_int_equal(big->num_children, N);
    assert_int_equal(datatree_descendants(big), N);
    assert_int_equal(datatree_node_count(t), 6 + N);
    for (int i = 0; i < N; i++) {
        snprintf(path, sizeof(path), "/big/n%d", i);
        assert_non_null(get(t, path));
    }
    /* Delete in a scattered order; every remaining child must know its slot. */
    for (int k = 0; k < N; k++) {
        int i = (int)(((int64_t)k * 7919) % N);
        if (i % 3 == 0)
            continue;
        snprintf(path, sizeof(path), "/big/n%d", i);
        del(t, path, 100000 + k);
    }
    for (uint32_t i = 0; i < big->num_children; i++) {
        assert_ptr_equal(big->children[i]->parent, big);
        assert_int_equal(big->children[i]->index_in_parent, i);
    }
    int left = (N + 2) / 3;
    assert_int_equal(big->num_children, left);
    assert_int_equal(datatree_descendants(big), left);
    assert_int_equal(stat_of(t, "/big").cversion, 2 * N - left);
    assert_int_equal(datatree_node_count(t), 6 + left);
    assert_null(get(t, "/big/n1"));
    assert_non_null(get(t, "/big/n3"));
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, tree_setup, tree_teardown)
    const struct CMUnitTest tests[] = {
        T(fresh_tree_has_the_system_nodes),
        T(fresh_tree_acls),
        T(create_sets_the_new_node_and_the_parent),
        T(create_errors_change_nothing),
        T(null_and_empty_data),
        T(cversion_counts_creates_and_deletes),
        T(reported_cversion_wraps_like_java),
        T(descendants_follow_nested_creates_and_deletes),
        T(delete_guards),
        T(data_size_counts_path_characters),
        T(set_data_updates_version_and_size),
        T(set_acl_swaps_the_shared_entry),
        T(kinds_and_reported_owner),
        T(ephemerals_per_session_in_creation_order),
        T(many_sessions),
        T(each_visits_every_node_once),
        T(many_children_keep_consistent_indexes),
        T(growing_table_keeps_every_node_reachable),
    };
#undef T
    return cmocka_run_group_tests_name("datatree", tests, NULL, NULL);
}
