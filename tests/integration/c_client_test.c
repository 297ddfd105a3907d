/*
 * Integration test driven through the official ZooKeeper C client
 * (libzookeeper_mt).  Usage: c_client_test HOST:PORT
 *
 * Exit status 0 only if every check passed.  The last line printed is
 * "N passed, N failed".
 */
#ifndef THREADED
#define THREADED 1 /* the synchronous API of libzookeeper_mt */
#endif
#include <zookeeper/zookeeper.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int passed, failed;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (cond) {                                                          \
            passed++;                                                        \
        } else {                                                             \
            failed++;                                                        \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
        }                                                                    \
    } while (0)

#define CHECK_RC(expr, want)                                                 \
    do {                                                                     \
        int rc_ = (expr);                                                    \
        if (rc_ == (want)) {                                                 \
            passed++;                                                        \
        } else {                                                             \
            failed++;                                                        \
            fprintf(stderr, "FAIL %s:%d: %s returned %d (%s), wanted %d\n",  \
                    __FILE__, __LINE__, #expr, rc_, zerror(rc_), (want));    \
        }                                                                    \
    } while (0)

/* ------------------------------------------------------------------ sync */

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count;          /* events / completions seen */
    int types[16];
    int states[16];
    char paths[16][512];
    int rc;
};

static void waiter_init(struct waiter *w)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

static int waiter_wait(struct waiter *w, int count, int timeout_ms)
{
    struct timespec ts;
    int ok;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (w->count < count) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT)
            break;
    }
    ok = w->count >= count;
    pthread_mutex_unlock(&w->mu);
    return ok;
}

static void record_event(struct waiter *w, int type, int state, const char *path)
{
    pthread_mutex_lock(&w->mu);
    if (w->count < 16) {
        w->types[w->count] = type;
        w->states[w->count] = state;
        snprintf(w->paths[w->count], sizeof(w->paths[0]), "%s", path ? path : "");
    }
    w->count++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void session_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct waiter *w = ctx;
    (void)zh;
    if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE)
        record_event(w, type, state, path);
}

static void node_watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    (void)zh;
    if (type != ZOO_SESSION_EVENT)
        record_event((struct waiter *)ctx, type, state, path);
}

static void void_completion(int rc, const void *data)
{
    struct waiter *w = (struct waiter *)data;
    pthread_mutex_lock(&w->mu);
    w->rc = rc;
    w->count++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static struct waiter session_waiters[8];
static int n_sessions;

static zhandle_t *connect_to(const char *hostport)
{
    struct waiter *w = &session_waiters[n_sessions++];
    zhandle_t *zh;
    waiter_init(w);
    zh = zookeeper_init(hostport, session_watcher, 10000, NULL, w, 0);
    if (!zh) {
        fprintf(stderr, "zookeeper_init failed: %s\n", strerror(errno));
        return NULL;
    }
    if (!waiter_wait(w, 1, 15000)) {
        fprintf(stderr, "no connection to %s within 15s\n", hostport);
        zookeeper_close(zh);
        return NULL;
    }
    return zh;
}

static int get_data(zhandle_t *zh, const char *path, char *buf, int *len, struct Stat *st)
{
    return zoo_get(zh, path, 0, buf, len, st);
}

/* ------------------------------------------------------------------ tests */

static char base[128];

static void path_of(char *out, size_t n, const char *leaf)
{
    snprintf(out, n, "%s/%s", base, leaf);
}

static void test_crud(zhandle_t *zh)
{
    char p[256], created[512], buf[128];
    int len;
    struct Stat st, st2;

    path_of(p, sizeof p, "crud");
    CHECK_RC(zoo_create(zh, p, "hello", 5, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
                        created, sizeof created), ZOK);
    CHECK(strcmp(created, p) == 0);
    CHECK_RC(zoo_create(zh, p, "x", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0),
             ZNODEEXISTS);

    len = sizeof buf;
    CHECK_RC(get_data(zh, p, buf, &len, &st), ZOK);
    CHECK(len == 5 && memcmp(buf, "hello", 5) == 0);
    CHECK(st.version == 0 && st.cversion == 0 && st.aversion == 0);
    CHECK(st.dataLength == 5 && st.numChildren == 0 && st.ephemeralOwner == 0);
    CHECK(st.czxid == st.mzxid && st.czxid == st.pzxid && st.ctime == st.mtime);

    CHECK_RC(zoo_set2(zh, p, "world!", 6, 0, &st2), ZOK);
    CHECK(st2.version == 1 && st2.dataLength == 6 && st2.czxid == st.czxid);
    CHECK(st2.mzxid > st.mzxid);
    CHECK_RC(zoo_set(zh, p, "zz", 2, 0), ZBADVERSION);

    len = sizeof buf;
    CHECK_RC(get_data(zh, p, buf, &len, &st), ZOK);
    CHECK(len == 6 && memcmp(buf, "world!", 6) == 0 && st.version == 1);

    /* null versus empty data */
    {
        char pn[512], pe[512];
        path_of(pn, sizeof pn, "null");
        path_of(pe, sizeof pe, "empty");
        CHECK_RC(zoo_create(zh, pn, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0), ZOK);
        CHECK_RC(zoo_create(zh, pe, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0), ZOK);
        len = sizeof buf;
        CHECK_RC(get_data(zh, pn, buf, &len, &st), ZOK);
        CHECK(len == -1 && st.dataLength == 0);
        len = sizeof buf;
        CHECK_RC(get_data(zh, pe, buf, &len, &st), ZOK);
        CHECK(len == 0 && st.dataLength == 0);
    }

    /* children */
    {
        char kid[600];
        struct String_vector kids;
        snprintf(kid, sizeof kid, "%s/kid", p);
        CHECK_RC(zoo_create(zh, kid, "k", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0), ZOK);
        CHECK_RC(zoo_get_children2(zh, p, 0, &kids, &st), ZOK);
        CHECK(kids.count == 1 && strcmp(kids.data[0], "kid") == 0);
        CHECK(st.numChildren == 1 && st.cversion == 1);
        deallocate_String_vector(&kids);
        CHECK_RC(zoo_delete(zh, p, -1), ZNOTEMPTY);
        CHECK_RC(zoo_delete(zh, kid, 5), ZBADVERSION);
        CHECK_RC(zoo_delete(zh, kid, 0), ZOK);
    }
    CHECK_RC(zoo_delete(zh, p, 1), ZOK);
    CHECK_RC(zoo_exists(zh, p, 0, &st), ZNONODE);
    len = sizeof buf;
    CHECK_RC(get_data(zh, p, buf, &len, &st), ZNONODE);
    CHECK_RC(zoo_delete(zh, "/zookeeper", -1), ZBADARGUMENTS);
    CHECK_RC(zoo_create(zh, "/bad\001path", "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0),
             ZBADARGUMENTS);
}

static void test_sequential_and_ephemeral(zhandle_t *zh, const char *hostport)
{
    char p[256], seq[512], got[512], want[600];
    struct Stat st;
    zhandle_t *zh2;
    int i;

    path_of(p, sizeof p, "seq");
    CHECK_RC(zoo_create(zh, p, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0), ZOK);
    snprintf(seq, sizeof seq, "%s/s-", p);
    for (i = 0; i < 3; i++) {
        CHECK_RC(zoo_create(zh, seq, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT_SEQUENTIAL,
                            got, sizeof got), ZOK);
        snprintf(want, sizeof want, "%s%010d", seq, i);
        CHECK(strcmp(got, want) == 0);
    }

    zh2 = connect_to(hostport);
    CHECK(zh2 != NULL);
    if (!zh2)
        return;
    path_of(p, sizeof p, "eph");
    CHECK_RC(zoo_create(zh2, p, "e", 1, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0), ZOK);
    CHECK_RC(zoo_exists(zh, p, 0, &st), ZOK);
    CHECK(st.ephemeralOwner == zoo_client_id(zh2)->client_id && st.ephemeralOwner != 0);
    {
        char kid[600];
        snprintf(kid, sizeof kid, "%s/kid", p);
        CHECK_RC(zoo_create(zh2, kid, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0),
                 ZNOCHILDRENFOREPHEMERALS);
    }
    snprintf(seq, sizeof seq, "%s/es-", base);
    CHECK_RC(zoo_create(zh2, seq, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL_SEQUENTIAL,
                        got, sizeof got), ZOK);
    CHECK(strlen(got) == strlen(seq) + 10);
    CHECK_RC(zookeeper_close(zh2), ZOK);
    CHECK_RC(zoo_exists(zh, p, 0, &st), ZNONODE);
    CHECK_RC(zoo_exists(zh, got, 0, &st), ZNONODE);
}

static void test_watches(zhandle_t *zh, const char *hostport)
{
    char p[256], kid[600], marker[512], buf[64];
    int len = sizeof buf;
    struct Stat st;
    struct waiter w, cw;
    zhandle_t *zh2;

    path_of(p, sizeof p, "watched");
    path_of(marker, sizeof marker, "marker");
    snprintf(kid, sizeof kid, "%s/kid", p);
    CHECK_RC(zoo_create(zh, p, "0", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    waiter_init(&w);
    waiter_init(&cw);
    CHECK_RC(zoo_wget(zh, p, node_watcher, &w, buf, &len, &st), ZOK);
    {
        struct String_vector kids;
        CHECK_RC(zoo_wget_children(zh, p, node_watcher, &cw, &kids), ZOK);
        deallocate_String_vector(&kids);
    }

    zh2 = connect_to(hostport);
    CHECK(zh2 != NULL);
    if (!zh2)
        return;
    CHECK_RC(zoo_set(zh2, p, "1", 1, -1), ZOK);
    CHECK(waiter_wait(&w, 1, 10000));
    CHECK(w.types[0] == ZOO_CHANGED_EVENT && w.states[0] == ZOO_CONNECTED_STATE);
    CHECK(strcmp(w.paths[0], p) == 0);

    /* one-shot: the next change is not reported; the marker event is next */
    CHECK_RC(zoo_set(zh2, p, "2", 1, -1), ZOK);
    CHECK_RC(zoo_wexists(zh, marker, node_watcher, &w, &st), ZNONODE);
    CHECK_RC(zoo_create(zh2, marker, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    CHECK(waiter_wait(&w, 2, 10000));
    CHECK(w.types[1] == ZOO_CREATED_EVENT && strcmp(w.paths[1], marker) == 0);

    CHECK_RC(zoo_create(zh2, kid, "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);
    CHECK(waiter_wait(&cw, 1, 10000));
    CHECK(cw.types[0] == ZOO_CHILD_EVENT && strcmp(cw.paths[0], p) == 0);

    /* exists watch sees the delete */
    CHECK_RC(zoo_wexists(zh, kid, node_watcher, &w, &st), ZOK);
    CHECK_RC(zoo_delete(zh2, kid, -1), ZOK);
    CHECK(waiter_wait(&w, 3, 10000));
    CHECK(w.types[2] == ZOO_DELETED_EVENT && strcmp(w.paths[2], kid) == 0);
    zookeeper_close(zh2);
}

static void test_multi(zhandle_t *zh)
{
    char p[256], a[600], b[600], created[600];
    zoo_op_t ops[4];
    zoo_op_result_t res[4];
    struct Stat st, setst;

    path_of(p, sizeof p, "multi");
    snprintf(a, sizeof a, "%s/a", p);
    snprintf(b, sizeof b, "%s/b", p);
    CHECK_RC(zoo_create(zh, p, "m", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);

    /* commit */
    zoo_create_op_init(&ops[0], a, "1", 1, &ZOO_OPEN_ACL_UNSAFE, 0, created, sizeof created);
    zoo_set_op_init(&ops[1], p, "mm", 2, 0, &setst);
    zoo_check_op_init(&ops[2], p, 1);
    zoo_delete_op_init(&ops[3], a, 0);
    CHECK_RC(zoo_multi(zh, 4, ops, res), ZOK);
    CHECK(res[0].err == ZOK && res[1].err == ZOK && res[2].err == ZOK && res[3].err == ZOK);
    CHECK(strcmp(created, a) == 0);
    CHECK(setst.version == 1);
    CHECK_RC(zoo_exists(zh, a, 0, &st), ZNONODE);
    CHECK_RC(zoo_exists(zh, p, 0, &st), ZOK);
    CHECK(st.version == 1 && st.cversion == 2 && st.numChildren == 0);

    /* rollback */
    zoo_create_op_init(&ops[0], b, "1", 1, &ZOO_OPEN_ACL_UNSAFE, 0, created, sizeof created);
    zoo_check_op_init(&ops[1], p, 99);
    zoo_delete_op_init(&ops[2], p, -1);
    CHECK_RC(zoo_multi(zh, 3, ops, res), ZBADVERSION);
    CHECK(res[0].err == ZOK);
    CHECK(res[1].err == ZBADVERSION);
    CHECK(res[2].err == ZRUNTIMEINCONSISTENCY);
    CHECK_RC(zoo_exists(zh, b, 0, &st), ZNONODE);
    CHECK_RC(zoo_exists(zh, p, 0, &st), ZOK);
}

static void test_auth(zhandle_t *zh, const char *hostport)
{
    char p[256], buf[64];
    int len;
    struct Stat st;
    struct ACL_vector acl;
    struct waiter aw;
    zhandle_t *bob;

    path_of(p, sizeof p, "secret");
    CHECK_RC(zoo_create(zh, p, "s", 1, &ZOO_CREATOR_ALL_ACL, 0, NULL, 0), ZINVALIDACL);

    bob = connect_to(hostport);
    CHECK(bob != NULL);
    if (!bob)
        return;
    waiter_init(&aw);
    CHECK_RC(zoo_add_auth(bob, "digest", "bob:pw", 6, void_completion, &aw), ZOK);
    CHECK(waiter_wait(&aw, 1, 10000));
    CHECK(aw.rc == ZOK);

    CHECK_RC(zoo_create(bob, p, "s", 1, &ZOO_CREATOR_ALL_ACL, 0, NULL, 0), ZOK);
    len = sizeof buf;
    CHECK_RC(zoo_get(zh, p, 0, buf, &len, &st), ZNOAUTH);
    CHECK_RC(zoo_set(zh, p, "x", 1, -1), ZNOAUTH);
    len = sizeof buf;
    CHECK_RC(zoo_get(bob, p, 0, buf, &len, &st), ZOK);
    CHECK(len == 1 && buf[0] == 's');

    CHECK_RC(zoo_get_acl(bob, p, &acl, &st), ZOK);
    CHECK(acl.count == 1);
    if (acl.count == 1) {
        CHECK(acl.data[0].perms == ZOO_PERM_ALL);
        CHECK(strcmp(acl.data[0].id.scheme, "digest") == 0);
        CHECK(strcmp(acl.data[0].id.id, "bob:ikIaKsbtGweaHnb/jKn7OHqbunM=") == 0);
    }
    deallocate_ACL_vector(&acl);
    CHECK_RC(zoo_get_acl(zh, p, &acl, &st), ZNOAUTH);

    CHECK_RC(zoo_delete(bob, p, -1), ZOK);
    zookeeper_close(bob);
}

int main(int argc, char **argv)
{
    zhandle_t *zh;
    const char *hostport;

    if (argc != 2) {
        fprintf(stderr, "usage: %s HOST:PORT\n", argv[0]);
        return 2;
    }
    hostport = argv[1];
    zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);

    zh = connect_to(hostport);
    if (!zh) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    snprintf(base, sizeof base, "/c_client_test_%ld_%ld", (long)getpid(), (long)time(NULL));
    CHECK_RC(zoo_create(zh, base, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK);

    test_crud(zh);
    test_sequential_and_ephemeral(zh, hostport);
    test_watches(zh, hostport);
    test_multi(zh);
    test_auth(zh, hostport);

    CHECK_RC(zookeeper_close(zh), ZOK);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
