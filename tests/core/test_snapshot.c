/* core/persist/snapshot.c: ZooKeeper 3.8 snapshot files (disk-and-quorum.md A.8, A.11, A.15):
 * the tree digest, byte layout, round trips, damage and truncation, file names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "datatree.h"
#include "session.h"
#include "snapshot.h"
#include "zkerr.h"

static struct zk_acl open_item = {.perms = ZK_PERM_ALL, .id = {.scheme = "world", .id = "anyone"}};
static struct zk_acl_vec open_acl = {.count = 1, .items = &open_item};
static struct zk_acl read_item = {.perms = ZK_PERM_READ, .id = {.scheme = "world", .id = "anyone"}};
static struct zk_acl_vec read_acl = {.count = 1, .items = &read_item};
static struct zk_acl digest_items[] = {
    {.perms = ZK_PERM_ALL, .id = {.scheme = "digest", .id = "bob:ikIaXZGfeXEMBPlQC6PRNrrQlcg="}},
    {.perms = ZK_PERM_READ, .id = {.scheme = "ip", .id = "10.0.0.0/8"}},
};
static struct zk_acl_vec digest_acl = {.count = 2, .items = digest_items};
static struct zk_acl ip_item = {.perms = ZK_PERM_READ | ZK_PERM_WRITE,
                                .id = {.scheme = "ip", .id = "127.0.0.1"}};
static struct zk_acl_vec ip_acl = {.count = 1, .items = &ip_item};

#define S1 INT64_C(0x0100000490120004)
#define S2 INT64_C(0x0100000490120002)
#define S3 INT64_C(0x0100000490120003)
#define TTL_OWNER (INT64_C(-72057594037927936) | 0x1234) /* 0xFF00000000001234 */

static char tmp_dir[64];

/* ---- helpers ---- */

static uint32_t adler32(const uint8_t *p, size_t len)
{
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < len; i++) {
        a = (a + p[i]) % 65521;
        b = (b + a) % 65521;
    }
    return b << 16 | a;
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static char *snap_path(int64_t zxid)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/snapshot.%" PRIx64, tmp_dir, (uint64_t)zxid);
    return path;
}

static void write_file(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void write_snapshot(const struct datatree *t, const struct sessions *s, int64_t zxid)
{
    int fd = open(snap_path(zxid), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(snapshot_write(fd, t, s, zxid), 0);
    close(fd);
}

static struct znode *get(const struct datatree *t, const char *path)
{
    return datatree_get(t, path, strlen(path));
}

/* Creates like prep would: the parent's stored counter goes up by one. */
static void mk(struct datatree *t, const char *path, const void *data, int32_t len,
               const struct zk_acl_vec *acl, int64_t owner, int64_t zxid)
{
    const char *slash = strrchr(path, '/');
    struct znode *parent = slash == path ? get(t, "/") : datatree_get(t, path, slash - path);
    assert_non_null(parent);
    assert_int_equal(datatree_create(t, path, strlen(path), data, len, acl, owner,
                                     parent->cversion + 1, zxid, 1700000000000 + zxid, NULL),
                     0);
}

/* A tree with every kind of node, null and empty data, shared ACL lists and deletions. */
static struct datatree *rich_tree(bool big)
{
    struct datatree *t = datatree_new();
    assert_non_null(t);
    mk(t, "/app", "hello", 5, &open_acl, 0, 2);
    mk(t, "/app/empty", "", 0, &open_acl, 0, 3);
    mk(t, "/app/null", NULL, -1, &digest_acl, 0, 4);
    mk(t, "/app/seq0000000001", "s", 1, &digest_acl, 0, 5);
    mk(t, "/app/eph", "e", 1, &read_acl, S1, 6);
    mk(t, "/app/eph2", NULL, -1, &ip_acl, S1, 7);
    mk(t, "/other", "\0\1\2\0", 4, &ip_acl, S2, 8);
    mk(t, "/cont", NULL, -1, &open_acl, ZNODE_OWNER_CONTAINER, 9);
    mk(t, "/cont/child", "c", 1, &open_acl, 0, 10);
    mk(t, "/ttl", "t", 1, &digest_acl, TTL_OWNER, 11);
    mk(t, "/deep", NULL, -1, &open_acl, 0, 12);
    mk(t, "/deep/a", NULL, -1, &open_acl, 0, 13);
    mk(t, "/deep/a/b", NULL, -1, &open_acl, 0, 14);
    mk(t, "/deep/a/b/c", "leaf", 4, &open_acl, 0, 15);
    mk(t, "/deep/gone", NULL, -1, &open_acl, 0, 16);
    assert_int_equal(datatree_delete(t, "/deep/gone", 10, 17), 0);
    mk(t, "/\xc3\xa9", "\xc3\xa9", 2, &open_acl, 0, 18);
    mk(t, "/zookeeper/quota/app", NULL, -1, &open_acl, 0, 19);
    mk(t, "/zookeeper/quota/app/zookeeper_limits", "count=10,bytes=-1", 17, &open_acl, 0, 20);
    assert_int_equal(datatree_set_data(t, "/app", 4, (const uint8_t *)"world!", 6, 3, 21, 99), 0);
    assert_int_equal(datatree_set_acl(t, "/app/empty", 10, &digest_acl, 2), 0);
    if (big) {
        size_t n = 3u << 20; /* larger than the writer's buffer */
        uint8_t *data = malloc(n);
        assert_non_null(data);
        for (size_t i = 0; i < n; i++)
            data[i] = (uint8_t)(i * 7 + (i >> 11));
        mk(t, "/big", data, (int32_t)n, &open_acl, 0, 22);
        free(data);
    }
    return t;
}

static struct sessions *rich_sessions(void)
{
    struct sessions *s = sessions_new(2000, 1, 0);
    assert_non_null(s);
    assert_non_null(sessions_add(s, S1, 30000, 0));
    assert_non_null(sessions_add(s, S2, 10000, 0));
    assert_non_null(sessions_add(s, S3, 4000, 0)); /* owns no ephemerals */
    return s;
}

static void assert_acl_equal(const struct zk_acl_vec *a, const struct zk_acl_vec *b)
{
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->count, b->count);
    for (int32_t i = 0; i < a->count; i++) {
        assert_int_equal(a->items[i].perms, b->items[i].perms);
        assert_string_equal(a->items[i].id.scheme, b->items[i].id.scheme);
        assert_string_equal(a->items[i].id.id, b->items[i].id.id);
    }
}

struct compare {
    const struct datatree *a, *b;
    size_t nodes;
};

static void compare_node(struct znode *n, void *arg)
{
    struct compare *c = arg;
    struct znode *m = datatree_get(c->b, n->path, n->path_len);
    if (m == NULL)
        fail_msg("node %s missing after load", n->path);
    struct zk_persisted_stat x, y;
    memset(&x, 0, sizeof(x)); /* padding */
    memset(&y, 0, sizeof(y));
    znode_persisted_stat(n, &x);
    znode_persisted_stat(m, &y);
    assert_memory_equal(&x, &y, sizeof(x));
    struct zk_stat sx, sy;
    memset(&sx, 0, sizeof(sx));
    memset(&sy, 0, sizeof(sy));
    znode_stat(n, &sx);
    znode_stat(m, &sy);
    assert_memory_equal(&sx, &sy, sizeof(sx));
    assert_int_equal(n->data_len, m->data_len); /* null stays null, empty stays empty */
    if (n->data_len > 0)
        assert_memory_equal(n->data, m->data, (size_t)n->data_len);
    assert_int_equal(n->num_children, m->num_children);
    assert_int_equal(datatree_descendants(n), datatree_descendants(m));
    assert_int_equal(znode_kind(n), znode_kind(m));
    assert_acl_equal(datatree_acl(c->a, n), datatree_acl(c->b, m));
    if (n->parent != NULL)
        assert_string_equal(n->parent->path, m->parent->path);
    c->nodes++;
}

static void count_node(struct znode *n, void *arg)
{
    (void)n;
    ++*(size_t *)arg;
}

static void assert_trees_equal(struct datatree *a, struct datatree *b)
{
    struct compare c = {.a = a, .b = b};
    datatree_each(a, compare_node, &c);
    size_t nb = 0;
    datatree_each(b, count_node, &nb);
    assert_int_equal(c.nodes, nb);
    assert_int_equal(datatree_node_count(a), datatree_node_count(b));
    assert_int_equal(datatree_approximate_data_size(a), datatree_approximate_data_size(b));
    assert_int_equal(datatree_ephemerals_total(a), datatree_ephemerals_total(b));
    assert_int_equal(acl_cache_size(datatree_acl_cache(a)), acl_cache_size(datatree_acl_cache(b)));
    for (int64_t id = S2; id <= S1; id++)
        assert_int_equal(datatree_ephemeral_count(a, id), datatree_ephemeral_count(b, id));
    assert_int_equal(snapshot_tree_digest(a), snapshot_tree_digest(b));
}

static int load(int64_t zxid, struct datatree **t, struct sessions *s, char *err, size_t n)
{
    int64_t got = -7;
    int rc = snapshot_load(snap_path(zxid), t, s, 0, &got, err, n);
    if (rc == 0)
        assert_int_equal(got, zxid);
    return rc;
}

/* Runs load() with stderr sent to a file, and returns what the logger printed (static). */
static const char *load_logged(int64_t zxid, struct datatree **t, struct sessions *s, int *rc)
{
    static char logged[1024];
    char path[160];
    snprintf(path, sizeof(path), "%s/stderr.txt", tmp_dir);
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    char err[256] = "";
    *rc = load(zxid, t, s, err, sizeof(err));
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t len;
    uint8_t *text = read_file(path, &len);
    snprintf(logged, sizeof(logged), "%.*s", (int)len, (const char *)text);
    free(text);
    unlink(path);
    return logged;
}

/* ---- hand-built files ---- */

struct out {
    uint8_t p[4096];
    size_t len;
};

static void o_raw(struct out *o, const void *p, size_t n)
{
    assert_true(o->len + n <= sizeof(o->p));
    memcpy(o->p + o->len, p, n);
    o->len += n;
}

static void o_int(struct out *o, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    o_raw(o, b, 4);
}

static void o_long(struct out *o, uint64_t v)
{
    o_int(o, (uint32_t)(v >> 32));
    o_int(o, (uint32_t)v);
}

static void o_str(struct out *o, const char *s)
{
    if (s == NULL) {
        o_int(o, UINT32_MAX);
        return;
    }
    o_int(o, (uint32_t)strlen(s));
    o_raw(o, s, strlen(s));
}

static void o_acl(struct out *o, int32_t perms, const char *scheme, const char *id)
{
    o_int(o, (uint32_t)perms);
    o_str(o, scheme);
    o_str(o, id);
}

/* path, data (NULL: null), aclIndex, StatPersisted */
static void o_node(struct out *o, const char *path, const char *data, int64_t acl, int64_t czxid,
                   int32_t cversion, int32_t aversion, int64_t owner, int64_t pzxid)
{
    o_str(o, path);
    o_str(o, data);
    o_long(o, (uint64_t)acl);
    o_long(o, (uint64_t)czxid);
    o_long(o, (uint64_t)czxid); /* mzxid */
    o_long(o, czxid != 0 ? 1700000000000u : 0);
    o_long(o, czxid != 0 ? 1700000000000u : 0);
    o_int(o, 0);
    o_int(o, (uint32_t)cversion);
    o_int(o, (uint32_t)aversion);
    o_long(o, (uint64_t)owner);
    o_long(o, (uint64_t)pzxid);
}

static void o_seal(struct out *o)
{
    o_long(o, adler32(o->p, o->len));
    o_str(o, "/");
}

static void o_header(struct out *o)
{
    o_int(o, 0x5A4B534E);
    o_int(o, 2);
    o_long(o, UINT64_MAX);
}

static void o_system_nodes(struct out *o)
{
    o_node(o, "", "", -1, 0, 0, 0, 0, 0);
    o_node(o, "/zookeeper", "", -1, 0, 0, 0, 0, 0);
    o_node(o, "/zookeeper/quota", "", -1, 0, 0, 0, 0, 0);
}

static void o_tail(struct out *o, int64_t zxid, uint64_t digest)
{
    o_str(o, "/");
    o_seal(o);
    o_long(o, (uint64_t)zxid);
    o_int(o, 2);
    o_long(o, digest);
    o_seal(o);
}

/* ---- the tree digest ---- */

static void empty_tree_digest_is_51c6d660(void **state)
{
    (void)state;
    struct datatree *t = datatree_new();
    assert_non_null(t);
    assert_int_equal(snapshot_tree_digest(t), 0x51c6d660);
    datatree_free(t);
}

/* A.15: after createSession and "create /p hello" (zxid 2, parentCVersion 1) log.1 carries
 * treeDigest 0xa41e4ca9. */
static void digest_matches_the_worked_log_record(void **state)
{
    (void)state;
    struct datatree *t = datatree_new();
    assert_non_null(t);
    assert_int_equal(datatree_create(t, "/p", 2, (const uint8_t *)"hello", 5, &open_acl, 0, 1, 2,
                                     0x1a20caba9e5, NULL),
                     0);
    assert_int_equal(snapshot_tree_digest(t), 0xa41e4ca9);
    datatree_free(t);
}

static void digest_skips_only_below_zookeeper(void **state)
{
    (void)state;
    struct datatree *t = datatree_new();
    assert_non_null(t);
    uint64_t empty = snapshot_tree_digest(t);
    assert_int_equal(datatree_set_data(t, "/zookeeper/quota", 16, (const uint8_t *)"x", 1, 1, 5, 5),
                     0);
    mk(t, "/zookeeper/quota/q", "x", 1, &open_acl, 0, 6); /* root-level stats unchanged */
    assert_int_equal(snapshot_tree_digest(t), empty);
    assert_int_equal(datatree_set_data(t, "/zookeeper", 10, (const uint8_t *)"x", 1, 1, 7, 7), 0);
    assert_int_not_equal(snapshot_tree_digest(t), empty);
    datatree_free(t);
}

/* ---- writing and reading ---- */

static void round_trip_keeps_every_node_acl_and_session(void **state)
{
    (void)state;
    struct datatree *t = rich_tree(true);
    struct sessions *s = rich_sessions();
    write_snapshot(t, s, 0x1600000016);

    struct datatree *back = NULL;
    struct sessions *s2 = sessions_new(2000, 1, 0);
    char err[256] = "";
    assert_int_equal(load(0x1600000016, &back, s2, err, sizeof(err)), 0);
    assert_trees_equal(t, back);
    assert_int_equal(sessions_count(s2), 3);
    assert_int_equal(sessions_get(s2, S1)->timeout_ms, 30000);
    assert_int_equal(sessions_get(s2, S2)->timeout_ms, 10000);
    assert_int_equal(sessions_get(s2, S3)->timeout_ms, 4000);
    assert_int_equal(datatree_ephemeral_count(back, S1), 2);
    assert_int_equal(znode_kind(get(back, "/cont")), ZNODE_CONTAINER);
    assert_int_equal(znode_kind(get(back, "/ttl")), ZNODE_TTL);
    assert_int_equal(get(back, "/app/null")->data_len, -1);
    assert_int_equal(get(back, "/app/empty")->data_len, 0);

    /* The loaded tree keeps working: delete an ephemeral, write again, compare again. */
    assert_int_equal(datatree_delete(back, "/app/eph", 8, 30), 0);
    assert_int_equal(datatree_delete(t, "/app/eph", 8, 30), 0);
    write_snapshot(back, s2, 0x30);
    struct datatree *again = NULL;
    struct sessions *s3 = sessions_new(2000, 1, 0);
    assert_int_equal(load(0x30, &again, s3, err, sizeof(err)), 0);
    assert_trees_equal(t, again);

    datatree_free(again);
    datatree_free(back);
    datatree_free(t);
    sessions_free(s3);
    sessions_free(s2);
    sessions_free(s);
}

static void file_layout_matches_zookeeper(void **state)
{
    (void)state;
    struct datatree *t = rich_tree(false);
    struct sessions *s = rich_sessions();
    write_snapshot(t, s, 0x16);
    size_t len;
    uint8_t *f = read_file(snap_path(0x16), &len);

    static const uint8_t head[] = {0x5a, 0x4b, 0x53, 0x4e, 0,    0,    0,    2,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_memory_equal(f, head, sizeof(head));
    assert_int_equal(be32(f + 16), 3); /* sessions */
    size_t off = 20 + 3 * 12;
    /* Four distinct lists are in use (open, read, digest+ip, ip); the open one is index -1. */
    uint32_t nacl = be32(f + off);
    assert_int_equal(nacl, 3);
    off += 4;
    for (uint32_t i = 0; i < nacl; i++) {
        assert_true((int64_t)be64(f + off) > 0);
        uint32_t n = be32(f + off + 8);
        off += 12;
        for (uint32_t j = 0; j < n; j++) {
            bool open = be32(f + off) == 31 && be32(f + off + 4) == 5 &&
                        memcmp(f + off + 8, "world", 5) == 0 && n == 1;
            assert_false(open);
            off += 4;
            off += 4 + be32(f + off);
            off += 4 + be32(f + off);
        }
    }
    /* The root: path "", empty data, aclIndex -1, then its StatPersisted. */
    assert_int_equal(be32(f + off), 0);
    assert_int_equal(be32(f + off + 4), 0);
    assert_int_equal((int64_t)be64(f + off + 8), -1);
    struct znode *root = get(t, "/");
    assert_int_equal(be32(f + off + 16 + 36), (uint32_t)root->cversion);
    assert_int_equal(be64(f + off + 16 + 52), (uint64_t)root->pzxid);

    /* Tail: terminator, seal1, "/", digest section, seal2, "/". */
    static const uint8_t slash[] = {0, 0, 0, 1, '/'};
    assert_memory_equal(f + len - 5, slash, 5);
    size_t seal2 = len - 13, digest = seal2 - 20, seal1 = digest - 13;
    assert_memory_equal(f + seal1 - 5, slash, 5);
    assert_memory_equal(f + seal1 + 8, slash, 5);
    assert_int_equal(be64(f + seal1), adler32(f, seal1));
    assert_int_equal(be64(f + seal2), adler32(f, seal2));
    assert_int_equal(be64(f + digest), 0x16);
    assert_int_equal(be32(f + digest + 8), 2);
    assert_int_equal(be64(f + digest + 12), snapshot_tree_digest(t));
    assert_true(snapshot_looks_complete(snap_path(0x16)));

    free(f);
    datatree_free(t);
    sessions_free(s);
}

/* The head of A.15's snapshot.16 byte for byte, completed by hand, loads as ZooKeeper meant. */
static void zookeeper_written_head_loads(void **state)
{
    (void)state;
    static const uint8_t a15[128] = {
        0x5a, 0x4b, 0x53, 0x4e, 0x00, 0x00, 0x00, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x00, 0x00, 0x00, 0x04, 0x01, 0x00, 0x00, 0x04, 0x90, 0x12, 0x00, 0x04, 0x00, 0x00,
        0x75, 0x30, 0x01, 0x00, 0x00, 0x04, 0x90, 0x12, 0x00, 0x02, 0x00, 0x00, 0x75, 0x30, 0x01,
        0x00, 0x00, 0x04, 0x90, 0x12, 0x00, 0x03, 0x00, 0x00, 0x75, 0x30, 0x01, 0x00, 0x00, 0x04,
        0x90, 0x12, 0x00, 0x01, 0x00, 0x00, 0x75, 0x30, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x05, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x00, 0x00, 0x00, 0x06, 0x61, 0x6e, 0x79, 0x6f,
        0x6e, 0x65, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00,
        0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x05, 0x77,
    };
    struct out o = {.len = 0};
    o_header(&o);
    o_int(&o, 4);
    o_long(&o, S1);
    o_int(&o, 30000);
    o_long(&o, S2);
    o_int(&o, 30000);
    o_long(&o, S3);
    o_int(&o, 30000);
    o_long(&o, 0x0100000490120001);
    o_int(&o, 30000);
    o_int(&o, 4);
    o_long(&o, 1);
    o_int(&o, 1);
    o_acl(&o, 1, "world", "anyone");
    o_long(&o, 2);
    o_int(&o, 1);
    o_acl(&o, 31, "world", "anyone");
    assert_memory_equal(o.p, a15, 123);
    o_long(&o, 3);
    o_int(&o, 2);
    o_acl(&o, 31, "digest", "bob:ikIaXZGfeXEMBPlQC6PRNrrQlcg=");
    o_acl(&o, 1, "ip", "10.0.0.0/8");
    o_long(&o, 4);
    o_int(&o, 0); /* an empty list is legal */
    assert_memory_equal(o.p, a15, sizeof(a15));
    o_node(&o, "", "", -1, 0, 8, 0, 0, 0x13);
    o_node(&o, "/zookeeper", "", -1, 0, 0, 0, 0, 0);
    o_node(&o, "/zookeeper/config", "", 1, 0, 0, -1, 0, 0);
    o_node(&o, "/zookeeper/quota", "", -1, 0, 0, 0, 0, 0);
    o_node(&o, "/p", "hello", 2, 2, 1, 0, 0, 3);
    o_node(&o, "/p/e", NULL, 3, 3, 0, 0, S1, 3);
    o_node(&o, "/q", NULL, 4, 4, 0, 0, 0, 4);
    o_tail(&o, 0x16, 0); /* a wrong digest only warns */
    write_file(snap_path(0x16), o.p, o.len);

    struct datatree *t = NULL;
    struct sessions *s = sessions_new(2000, 1, 0);
    int rc;
    const char *logged = load_logged(0x16, &t, s, &rc);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(logged, "WARN snapshot: snapshot ")); /* the digest mismatch */
    assert_non_null(strstr(logged, "differs from the stored 0x0 at zxid 0x16"));
    assert_int_equal(sessions_count(s), 4);
    assert_int_equal(sessions_get(s, 0x0100000490120001)->timeout_ms, 30000);
    struct znode *root = get(t, "/");
    assert_int_equal(root->cversion, 8);
    assert_int_equal(root->pzxid, 0x13);
    assert_int_equal(root->num_children, 3);
    assert_acl_equal(datatree_acl(t, root), &open_acl);
    assert_acl_equal(datatree_acl(t, get(t, "/p")), &open_acl); /* index 2 = -1's list */
    assert_acl_equal(datatree_acl(t, get(t, "/zookeeper/config")), &read_acl);
    assert_int_equal(get(t, "/zookeeper/config")->aversion, -1);
    assert_int_equal(datatree_acl(t, get(t, "/q"))->count, 0);
    assert_int_equal(datatree_ephemeral_count(t, S1), 1);
    assert_int_equal(datatree_node_count(t), 8);
    assert_int_equal(datatree_approximate_data_size(t), 44 + 2 + 5 + 4 + 2);
    /* open, read, digest+ip and empty: one entry each, the map's duplicates merged */
    assert_int_equal(acl_cache_size(datatree_acl_cache(t)), 4);
    datatree_free(t);
    sessions_free(s);
}

/* ZooKeeper's snapshot.0 carries digest zxid 0, digest 0: "nothing applied", never compared. */
static void an_empty_digest_is_not_compared(void **state)
{
    (void)state;
    struct out o = {.len = 0};
    o_header(&o);
    o_int(&o, 0);
    o_int(&o, 1);
    o_long(&o, 1);
    o_int(&o, 1);
    o_acl(&o, 1, "world", "anyone");
    o_system_nodes(&o);
    o_node(&o, "/zookeeper/config", "", 1, 0, 0, -1, 0, 0);
    o_tail(&o, 0, 0);
    write_file(snap_path(0), o.p, o.len);
    struct datatree *t = NULL;
    struct sessions *s = sessions_new(2000, 1, 0);
    int rc;
    const char *logged = load_logged(0, &t, s, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(logged, "");
    assert_int_equal(snapshot_tree_digest(t), 0x51c6d660);
    datatree_free(t);

    /* The same tree with its real digest at a real zxid loads quietly too. */
    o.len -= 13 + 20 + 13 + 5;
    o_tail(&o, 9, 0x51c6d660);
    write_file(snap_path(9), o.p, o.len);
    logged = load_logged(9, &t, s, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(logged, "");
    datatree_free(t);
    sessions_free(s);
}

static void small_snapshot(uint8_t **f, size_t *len)
{
    struct datatree *t = datatree_new();
    struct sessions *s = sessions_new(2000, 1, 0);
    assert_non_null(sessions_add(s, S1, 30000, 0));
    assert_non_null(sessions_add(s, S2, 6000, 0));
    mk(t, "/a", "x", 1, &ip_acl, 0, 2);
    mk(t, "/a/e", NULL, -1, &open_acl, S1, 3);
    write_snapshot(t, s, 3);
    *f = read_file(snap_path(3), len);
    datatree_free(t);
    sessions_free(s);
}

static void every_flipped_byte_is_rejected(void **state)
{
    (void)state;
    size_t len;
    uint8_t *f;
    small_snapshot(&f, &len);
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    struct sessions *s = sessions_new(2000, 1, 0);
    for (size_t i = 0; i < len; i++) {
        for (size_t m = 0; m < sizeof(masks); m++) {
            f[i] ^= masks[m];
            write_file(snap_path(3), f, len);
            f[i] ^= masks[m];
            struct datatree *t = NULL;
            char err[256] = "";
            int rc = load(3, &t, s, err, sizeof(err));
            if (rc != -EBADMSG)
                fail_msg("flip 0x%02x at %zu: rc %d (%s)", masks[m], i, rc, err);
            assert_null(t);
            assert_non_null(strstr(err, snap_path(3)));
            assert_non_null(strstr(err, "offset"));
            assert_int_equal(sessions_count(s), 0); /* nothing registered on failure */
        }
    }
    sessions_free(s);
    free(f);
}

static void every_truncation_fails_cleanly(void **state)
{
    (void)state;
    size_t len;
    uint8_t *f;
    small_snapshot(&f, &len);
    size_t after_seal1 = len - 13 - 20; /* a pre-3.6 snapshot ends there: still loadable */
    struct sessions *s = sessions_new(2000, 1, 0);
    for (size_t cut = 0; cut < len; cut++) {
        write_file(snap_path(3), f, cut);
        struct datatree *t = NULL;
        char err[256] = "";
        int rc = load(3, &t, s, err, sizeof(err));
        if (cut == after_seal1) {
            assert_int_equal(rc, 0);
            assert_non_null(get(t, "/a/e"));
            assert_int_equal(sessions_count(s), 2);
            datatree_free(t);
            sessions_remove(s, sessions_get(s, S1));
            sessions_remove(s, sessions_get(s, S2));
            continue;
        }
        if (rc != -EBADMSG)
            fail_msg("cut at %zu: rc %d (%s)", cut, rc, err);
        assert_null(t);
        assert_non_null(strstr(err, "offset"));
        assert_int_equal(sessions_count(s), 0);
        bool ends_with_slash = cut >= 5 && memcmp(f + cut - 5, "\0\0\0\1/", 5) == 0;
        assert_int_equal(snapshot_looks_complete(snap_path(3)), ends_with_slash && cut >= 16);
    }
    sessions_free(s);
    free(f);
}

/* 3.9 appends lastProcessedZxid, a third seal and "/"; 3.8 ignores them, and so do we. */
static void bytes_after_seal2_are_ignored(void **state)
{
    (void)state;
    size_t len;
    uint8_t *f;
    small_snapshot(&f, &len);
    struct out o = {.len = 0};
    o_raw(&o, f, len);
    o_long(&o, 5);
    o_seal(&o);
    write_file(snap_path(3), o.p, o.len);
    struct datatree *t = NULL;
    struct sessions *s = sessions_new(2000, 1, 0);
    char err[256] = "";
    assert_int_equal(load(3, &t, s, err, sizeof(err)), 0);
    assert_non_null(get(t, "/a/e"));
    datatree_free(t);
    sessions_free(s);
    free(f);
}

static void bad_files_name_the_file_and_offset(void **state)
{
    (void)state;
    struct datatree *t = NULL;
    struct sessions *s = sessions_new(2000, 1, 0);
    char err[256] = "";
    int64_t zxid = -7;

    struct out o = {.len = 0};
    o_int(&o, 0x5A4B4C47); /* a log file's magic */
    o_int(&o, 2);
    o_long(&o, 0);
    write_file(snap_path(5), o.p, o.len);
    assert_int_equal(load(5, &t, s, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, snap_path(5)));
    assert_non_null(strstr(err, "magic"));
    assert_non_null(strstr(err, "offset 0"));

    o.len = 0; /* a child before its parent */
    o_header(&o);
    o_int(&o, 0);
    o_int(&o, 0);
    o_system_nodes(&o);
    size_t orphan = o.len;
    o_node(&o, "/a/b", NULL, -1, 2, 0, 0, 0, 2);
    o_tail(&o, 5, 0);
    write_file(snap_path(5), o.p, o.len);
    assert_int_equal(load(5, &t, s, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "/a/b"));
    assert_non_null(strstr(err, "parent"));
    char at[32];
    snprintf(at, sizeof(at), "offset %zu", orphan);
    assert_non_null(strstr(err, at));

    o.len = 0; /* an aclIndex missing from the map */
    o_header(&o);
    o_int(&o, 0);
    o_int(&o, 0);
    o_system_nodes(&o);
    o_node(&o, "/a", NULL, 7, 2, 0, 0, 0, 2);
    o_tail(&o, 5, 0);
    write_file(snap_path(5), o.p, o.len);
    assert_int_equal(load(5, &t, s, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "ACL index 7"));

    o.len = 0; /* a trailing '/' in a path */
    o_header(&o);
    o_int(&o, 0);
    o_int(&o, 0);
    o_system_nodes(&o);
    o_node(&o, "/a/", NULL, -1, 2, 0, 0, 0, 2);
    o_tail(&o, 5, 0);
    write_file(snap_path(5), o.p, o.len);
    assert_int_equal(load(5, &t, s, err, sizeof(err)), -EBADMSG);

    char path[160];
    snprintf(path, sizeof(path), "%s/snapshot.5.gz", tmp_dir);
    write_file(path, (const uint8_t *)"\x1f\x8b\x08", 3);
    assert_true(snapshot_looks_complete(path));
    assert_int_equal(snapshot_load(path, &t, s, 0, &zxid, err, sizeof(err)), -ENOTSUP);
    assert_non_null(strstr(err, path));
    snprintf(path, sizeof(path), "%s/snapshot.5.snappy", tmp_dir);
    write_file(path, (const uint8_t *)"\x82SNAPPY\0\0\0\0\1", 12);
    assert_true(snapshot_looks_complete(path));
    assert_int_equal(snapshot_load(path, &t, s, 0, &zxid, err, sizeof(err)), -ENOTSUP);
    assert_non_null(strstr(err, "snappy"));
    snprintf(path, sizeof(path), "%s/snapshot.zz", tmp_dir);
    write_file(path, o.p, o.len);
    assert_false(snapshot_looks_complete(path));
    assert_int_equal(snapshot_load(path, &t, s, 0, &zxid, err, sizeof(err)), -EINVAL);
    snprintf(path, sizeof(path), "%s/snapshot.77", tmp_dir);
    assert_int_equal(snapshot_load(path, &t, s, 0, &zxid, err, sizeof(err)), -ENOENT);
    assert_false(snapshot_looks_complete(path));
    assert_null(t);
    assert_int_equal(zxid, -7);
    assert_int_equal(sessions_count(s), 0);
    sessions_free(s);
}

static void load_node_overwrites_system_nodes_and_tracks_owners(void **state)
{
    (void)state;
    struct datatree *t = datatree_new();
    assert_non_null(t);
    int64_t open_id = acl_cache_intern(datatree_acl_cache(t), &open_acl);
    int64_t ip_id = acl_cache_intern(datatree_acl_cache(t), &ip_acl);
    struct zk_persisted_stat st = {.czxid = 1,
                                   .mzxid = 2,
                                   .ctime = 3,
                                   .mtime = 4,
                                   .version = 5,
                                   .cversion = 6,
                                   .aversion = 7,
                                   .ephemeral_owner = 0,
                                   .pzxid = 9};
    assert_int_equal(datatree_load_node(t, "", 0, (const uint8_t *)"r", 1, ip_id, &st), 0);
    struct znode *root = get(t, "/");
    assert_int_equal(root->cversion, 6);
    assert_int_equal(root->data_len, 1);
    assert_int_equal(datatree_approximate_data_size(t), 45);
    assert_int_equal(datatree_load_node(t, "/x/y", 4, NULL, -1, open_id, &st), ZK_NONODE);
    assert_int_equal(datatree_load_node(t, "/x", 2, NULL, -1, 12345, &st), -EINVAL);
    st.ephemeral_owner = S1;
    assert_int_equal(datatree_load_node(t, "/x", 2, NULL, -1, open_id, &st), 0);
    assert_int_equal(datatree_ephemeral_count(t, S1), 1);
    assert_int_equal(datatree_descendants(root), 4);
    st.ephemeral_owner = S2; /* loaded twice: the later owner wins */
    assert_int_equal(datatree_load_node(t, "/x", 2, (const uint8_t *)"", 0, ip_id, &st), 0);
    assert_int_equal(datatree_ephemeral_count(t, S1), 0);
    assert_int_equal(datatree_ephemeral_count(t, S2), 1);
    assert_int_equal(datatree_ephemerals_total(t), 1);
    assert_int_equal(datatree_descendants(root), 4);
    assert_int_equal(datatree_node_count(t), 6);
    acl_cache_release(datatree_acl_cache(t), open_id);
    acl_cache_release(datatree_acl_cache(t), ip_id);
    assert_acl_equal(datatree_acl(t, get(t, "/x")), &ip_acl);
    assert_int_equal(datatree_delete(t, "/x", 2, 10), 0);
    assert_int_equal(datatree_ephemerals_total(t), 0);
    datatree_free(t);
}

static void remove_dir_files(void)
{
    DIR *d = opendir(tmp_dir);
    assert_non_null(d);
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", tmp_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
}

static void save_list_and_quick_test(void **state)
{
    (void)state;
    remove_dir_files();
    struct datatree *t = rich_tree(false);
    struct sessions *s = rich_sessions();
    char err[256] = "";
    int64_t zxids[] = {0, 0x5, 0x2f, 0x100000001, 0x1b};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(snapshot_save(tmp_dir, t, s, zxids[i], err, sizeof(err)), 0);
    char path[160];
    snprintf(path, sizeof(path), "%s/snapshot.2f.bak", tmp_dir); /* counts as 0x2f */
    write_file(path, (const uint8_t *)"x", 1);
    assert_false(snapshot_looks_complete(path));
    snprintf(path, sizeof(path), "%s/snapshot.ff.tmp", tmp_dir);
    write_file(path, (const uint8_t *)"x", 1);
    snprintf(path, sizeof(path), "%s/log.ff", tmp_dir);
    write_file(path, (const uint8_t *)"x", 1);
    snprintf(path, sizeof(path), "%s/snapshot.ffffffffffffffff", tmp_dir); /* Java rejects it */
    write_file(path, (const uint8_t *)"x", 1);

    int64_t *list = NULL;
    size_t n = 0;
    assert_int_equal(snapshot_list(tmp_dir, &list, &n), 0);
    assert_int_equal(n, 5);
    int64_t want[] = {0x100000001, 0x2f, 0x1b, 0x5, 0};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(list[i], want[i]);
        assert_true(snapshot_looks_complete(snap_path(want[i])));
    }
    free(list);
    struct stat sb;
    snprintf(path, sizeof(path), "%s/snapshot.1b.tmp", tmp_dir);
    assert_int_not_equal(stat(path, &sb), 0);

    struct datatree *back = NULL;
    struct sessions *s2 = sessions_new(2000, 1, 0);
    assert_int_equal(load(0x100000001, &back, s2, err, sizeof(err)), 0);
    assert_trees_equal(t, back);
    datatree_free(back);

    assert_int_equal(snapshot_save("/nonexistent/dir", t, s, 1, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/dir/snapshot.1.tmp"));
    assert_int_equal(snapshot_list("/nonexistent/dir", &list, &n), -ENOENT);
    int fd = open(snap_path(1), O_RDONLY | O_CREAT, 0644);
    assert_int_equal(snapshot_write(fd, t, s, 1), -EBADF);
    close(fd);
    remove_dir_files();
    sessions_free(s2);
    sessions_free(s);
    datatree_free(t);
}

/* The server forks and the child writes while the parent goes on changing the tree. */
static void a_forked_child_writes_a_loadable_snapshot(void **state)
{
    (void)state;
    struct datatree *t = rich_tree(true);
    struct sessions *s = rich_sessions();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(snap_path(0x40), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        _exit(fd >= 0 && snapshot_write(fd, t, s, 0x40) == 0 ? 0 : 1);
    }
    mk(t, "/after", NULL, -1, &open_acl, 0, 0x41); /* the parent's copy moves on */
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(datatree_delete(t, "/after", 6, 0x42), 0);
    get(t, "/")->cversion--;
    get(t, "/")->pzxid = 22;
    struct datatree *back = NULL;
    struct sessions *s2 = sessions_new(2000, 1, 0);
    char err[256] = "";
    assert_int_equal(load(0x40, &back, s2, err, sizeof(err)), 0);
    assert_trees_equal(t, back);
    datatree_free(back);
    datatree_free(t);
    sessions_free(s2);
    sessions_free(s);
}

static int group_setup(void **state)
{
    (void)state;
    strcpy(tmp_dir, "/tmp/corral-snapshot-XXXXXX");
    return mkdtemp(tmp_dir) == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    remove_dir_files();
    return rmdir(tmp_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_tree_digest_is_51c6d660),
        cmocka_unit_test(digest_matches_the_worked_log_record),
        cmocka_unit_test(digest_skips_only_below_zookeeper),
        cmocka_unit_test(round_trip_keeps_every_node_acl_and_session),
        cmocka_unit_test(file_layout_matches_zookeeper),
        cmocka_unit_test(zookeeper_written_head_loads),
        cmocka_unit_test(an_empty_digest_is_not_compared),
        cmocka_unit_test(every_flipped_byte_is_rejected),
        cmocka_unit_test(every_truncation_fails_cleanly),
        cmocka_unit_test(bytes_after_seal2_are_ignored),
        cmocka_unit_test(bad_files_name_the_file_and_offset),
        cmocka_unit_test(load_node_overwrites_system_nodes_and_tracks_owners),
        cmocka_unit_test(save_list_and_quick_test),
        cmocka_unit_test(a_forked_child_writes_a_loadable_snapshot),
    };
    return cmocka_run_group_tests_name("snapshot", tests, group_setup, group_teardown);
}
