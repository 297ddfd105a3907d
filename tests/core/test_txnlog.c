/* The transaction log: ZooKeeper's bytes (A.15), every txn body, the writer's files and
 * preallocation, replay across files, torn and corrupt tails, and failed commits. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "persist/txnlog.h"
#include "zkerr.h"

#define CLIENT_ID 0x0100000490120000LL

struct fixture {
    char root[64];
    char dir[128]; /* root/version-2, created by the writer */
};

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->root, sizeof fx->root, "/tmp/test_txnlog.XXXXXX");
    assert_non_null(mkdtemp(fx->root));
    snprintf(fx->dir, sizeof fx->dir, "%s/version-2", fx->root);
    *state = fx;
    return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    nftw(fx->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

/* --- helpers ----------------------------------------------------------------------------- */

static void path_of(const struct fixture *fx, const char *name, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", fx->dir, name);
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_all(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

static int64_t file_size(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return -1;
    return sb.st_size;
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static size_t count_files(const char *dir)
{
    size_t n = 0;
    int64_t *z = NULL;
    assert_int_equal(txnlog_list(dir, &z, &n), 0);
    free(z);
    return n;
}

/* A setData entry for zxid whose value length varies with the zxid. */
static void encode_setdata(int64_t zxid, struct jute_writer *w)
{
    char value[64];
    snprintf(value, sizeof value, "value-%" PRId64 "-%.*s", zxid, (int)(zxid % 7), "xxxxxxx");
    struct txn_header hdr = {.client_id = CLIENT_ID,
                             .cxid = (int32_t)zxid,
                             .zxid = zxid,
                             .time_ms = 1700000000000 + zxid,
                             .type = ZK_OP_SETDATA};
    struct txn t = {.type = ZK_OP_SETDATA,
                    .path = "/node",
                    .data = (uint8_t *)value,
                    .data_len = (int32_t)strlen(value),
                    .version = (int32_t)zxid};
    jute_writer_reset(w);
    txnlog_encode_entry(&hdr, &t, w);
    assert_false(w->failed);
}

static int append_setdata(struct txnlog_writer *lw, int64_t zxid)
{
    struct jute_writer w;
    jute_writer_init(&w);
    encode_setdata(zxid, &w);
    int rc = txnlog_append(lw, zxid, w.buf, w.len);
    jute_writer_free(&w);
    return rc;
}

/* Writes zxids [from, to] to dir, committing after each, and rolling before each in roll[]. */
static void write_log(const char *dir, int64_t prealloc, int64_t from, int64_t to,
                      const int64_t *rolls, size_t n_rolls)
{
    char err[256];
    struct txnlog_writer *lw = txnlog_writer_open(dir, prealloc, err, sizeof err);
    assert_non_null(lw);
    for (int64_t z = from; z <= to; z++) {
        for (size_t i = 0; i < n_rolls; i++)
            if (rolls[i] == z)
                txnlog_roll(lw);
        assert_int_equal(append_setdata(lw, z), 0);
        assert_int_equal(txnlog_commit(lw, true), 0);
    }
    txnlog_writer_close(lw);
}

struct seen {
    int64_t zxids[1024];
    size_t n;
    int stop_at; /* return -ECANCELED at this zxid; 0: never */
};

static int collect(const struct txn_header *hdr, const struct txn *txn, void *arg)
{
    struct seen *s = arg;
    assert_int_equal(hdr->type, txn->type);
    if (hdr->type == ZK_OP_SETDATA) {
        assert_string_equal(txn->path, "/node");
        assert_int_equal(txn->version, (int32_t)hdr->zxid);
        assert_int_equal(hdr->cxid, (int32_t)hdr->zxid);
    }
    if (s->stop_at != 0 && hdr->zxid == s->stop_at)
        return -ECANCELED;
    assert_true(s->n < 1024);
    s->zxids[s->n++] = hdr->zxid;
    return 0;
}

static int replay(const char *dir, int64_t after, bool repair, struct seen *s,
                  struct txnlog_replay_stats *st, char *err, size_t err_len)
{
    memset(s, 0, sizeof *s);
    return txnlog_replay(dir, after, repair, collect, s, st, err, err_len);
}

static void assert_seen_range(const struct seen *s, int64_t from, int64_t to)
{
    assert_int_equal(s->n, (size_t)(to - from + 1));
    for (size_t i = 0; i < s->n; i++)
        assert_int_equal(s->zxids[i], from + (int64_t)i);
}

/* Offsets of each record in a log file's bytes (records end at a zero length or EOF). */
static size_t record_offsets(const uint8_t *buf, size_t len, size_t *offs, size_t max)
{
    size_t n = 0, off = 16;
    while (off + 12 <= len && n < max) {
        uint32_t rec = jute_get_be32(buf + off + 8);
        if (rec == 0)
            break;
        offs[n++] = off;
        off += 12 + rec + 1;
    }
    offs[n] = off;
    return n;
}

/* One past the last non-zero byte of buf[from, len), or from. */
static size_t nonzero_end(const uint8_t *buf, size_t from, size_t len)
{
    while (len > from && buf[len - 1] == 0)
        len--;
    return len;
}

static bool contains(const char *hay, const char *needle)
{
    return strstr(hay, needle) != NULL;
}

/* Runs a replay with stderr captured, so the warning line can be checked. */
static int replay_capturing(const char *dir, int64_t after, bool repair, struct seen *s,
                            struct txnlog_replay_stats *st, char *log_out, size_t log_len)
{
    char tmpl[] = "/tmp/test_txnlog_stderr.XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    char err[512];
    int rc = replay(dir, after, repair, s, st, err, sizeof err);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, log_out, log_len - 1, 0);
    log_out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(tmpl);
    return rc;
}

/* --- Adler-32 and ZooKeeper's bytes (A.15) --------------------------------------------- */

static uint32_t slow_adler(const uint8_t *buf, size_t len)
{
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < len; i++) {
        a = (a + buf[i]) % 65521;
        b = (b + a) % 65521;
    }
    return b << 16 | a;
}

static void adler32_is_zlibs(void **state)
{
    (void)state;
    assert_int_equal(txnlog_adler32(1, NULL, 0), 1);
    assert_int_equal(txnlog_adler32(1, (const uint8_t *)"Wikipedia", 9), 0x11E60398);
    /* Long runs of 0xff stress the deferred modulo. */
    size_t len = 100000;
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    memset(buf, 0xff, len);
    assert_int_equal(txnlog_adler32(1, buf, len), slow_adler(buf, len));
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    assert_int_equal(txnlog_adler32(1, buf, len), slow_adler(buf, len));
    /* Running in pieces gives the same sum. */
    uint32_t a = txnlog_adler32(1, buf, 12345);
    assert_int_equal(txnlog_adler32(a, buf + 12345, len - 12345), slow_adler(buf, len));
    /* Every length and alignment around the 16-byte blocks and the NMAX chunks. */
    for (size_t n = 0; n < 80; n++)
        for (size_t off = 0; off < 16; off++)
            assert_int_equal(txnlog_adler32(1, buf + off, n), slow_adler(buf + off, n));
    for (size_t n = 5552 - 33; n < 5552 + 33; n++) {
        memset(buf, 0xff, n + 1);
        assert_int_equal(txnlog_adler32(1, buf + 1, n), slow_adler(buf + 1, n));
    }
    free(buf);
}

/* A.15: createSession by kazoo, the entry including its 12-byte TxnDigest. */
static const uint8_t a15_session_entry[48] = {
    0x01, 0x00, 0x00, 0x04, 0x90, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0xa2, 0x0c, 0xab, 0xa9, 0xd4, 0xff, 0xff, 0xff, 0xf6,
    0x00, 0x00, 0x27, 0x10, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x51, 0xc6, 0xd6, 0x60,
};

/* A.15: create /p "hello" world:anyone, then its digest. */
static const uint8_t a15_create_entry[91] = {
    0x01, 0x00, 0x00, 0x04, 0x90, 0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x01, 0xa2, 0x0c, 0xab, 0xa9, 0xe5, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x02, 0x2f, 0x70, 0x00, 0x00, 0x00, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00, 0x05, 0x77, 0x6f, 0x72, 0x6c, 0x64,
    0x00, 0x00, 0x00, 0x06, 0x61, 0x6e, 0x79, 0x6f, 0x6e, 0x65, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0xa4, 0x1e, 0x4c, 0xa9,
};

static struct zk_acl open_acl_items[] = {{.perms = 31, .id = {"world", "anyone"}}};
static const struct zk_acl_vec open_acl = {.count = 1, .items = open_acl_items};

static void a15_session_entry_matches_zookeeper(void **state)
{
    (void)state;
    assert_int_equal(txnlog_adler32(1, a15_session_entry, sizeof a15_session_entry), 0xaf0d09f9);

    struct txn_header hdr = {.client_id = CLIENT_ID,
                             .cxid = 0,
                             .zxid = 1,
                             .time_ms = 0x1a20caba9d4,
                             .type = ZK_OP_CREATESESSION};
    struct txn t = {.type = ZK_OP_CREATESESSION, .timeout_ms = 10000};
    struct jute_writer w;
    jute_writer_init(&w);
    txnlog_encode_entry(&hdr, &t, &w);
    assert_false(w.failed);
    assert_int_equal(w.len, sizeof a15_session_entry - 12); /* we write no digest */
    assert_memory_equal(w.buf, a15_session_entry, w.len);
    jute_writer_free(&w);

    /* ZooKeeper's entry, digest and all, decodes to the same txn. */
    struct txn_header got;
    struct txn txn;
    char err[128];
    assert_int_equal(txnlog_decode_entry(a15_session_entry, sizeof a15_session_entry, &got, &txn,
                                         err, sizeof err),
                     0);
    assert_true(got.client_id == CLIENT_ID);
    assert_int_equal(got.cxid, 0);
    assert_int_equal(got.zxid, 1);
    assert_true(got.time_ms == 0x1a20caba9d4);
    assert_int_equal(got.type, ZK_OP_CREATESESSION);
    assert_int_equal(txn.type, ZK_OP_CREATESESSION);
    assert_int_equal(txn.timeout_ms, 10000);
    txn_free(&txn);
}

static void a15_create_entry_matches_zookeeper(void **state)
{
    (void)state;
    assert_int_equal(txnlog_adler32(1, a15_create_entry, sizeof a15_create_entry), 0xfcab0ce5);

    struct txn_header hdr = {.client_id = CLIENT_ID,
                             .cxid = 1,
                             .zxid = 2,
                             .time_ms = 0x1a20caba9e5,
                             .type = ZK_OP_CREATE};
    struct txn t = {.type = ZK_OP_CREATE,
                    .path = "/p",
                    .data = (uint8_t *)"hello",
                    .data_len = 5,
                    .acl = open_acl,
                    .ephemeral = false,
                    .parent_cversion = 1};
    struct jute_writer w;
    jute_writer_init(&w);
    txnlog_encode_entry(&hdr, &t, &w);
    assert_false(w.failed);
    assert_int_equal(w.len, sizeof a15_create_entry - 12);
    assert_memory_equal(w.buf, a15_create_entry, w.len);
    jute_writer_free(&w);

    struct txn_header got;
    struct txn txn;
    char err[128];
    assert_int_equal(
        txnlog_decode_entry(a15_create_entry, sizeof a15_create_entry, &got, &txn, err, sizeof err),
        0);
    assert_int_equal(got.zxid, 2);
    assert_int_equal(got.cxid, 1);
    assert_string_equal(txn.path, "/p");
    assert_int_equal(txn.data_len, 5);
    assert_memory_equal(txn.data, "hello", 5);
    assert_int_equal(txn.acl.count, 1);
    assert_int_equal(txn.acl.items[0].perms, 31);
    assert_string_equal(txn.acl.items[0].id.scheme, "world");
    assert_string_equal(txn.acl.items[0].id.id, "anyone");
    assert_false(txn.ephemeral);
    assert_int_equal(txn.parent_cversion, 1);
    txn_free(&txn);
}

/* A file laid out as A.15's log.1 (ZooKeeper's records with digests, zero-filled) replays,
 * and the writer produces the same header and records apart from the digests. */
static void a15_file_replays_and_the_writer_matches_it(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(mkdir(fx->dir, 0755), 0);
    static const uint8_t file_header[16] = {0x5a, 0x4b, 0x4c, 0x47, 0, 0, 0, 2,
                                            0,    0,    0,    0,    0, 0, 0, 0};
    size_t len = 16 + (12 + 48 + 1) + (12 + 91 + 1) + 4096;
    uint8_t *zk = calloc(1, len);
    assert_non_null(zk);
    memcpy(zk, file_header, 16);
    static const uint8_t rec1[12] = {0, 0, 0, 0, 0xaf, 0x0d, 0x09, 0xf9, 0, 0, 0, 0x30};
    static const uint8_t rec2[12] = {0, 0, 0, 0, 0xfc, 0xab, 0x0c, 0xe5, 0, 0, 0, 0x5b};
    memcpy(zk + 0x10, rec1, 12);
    memcpy(zk + 0x1c, a15_session_entry, 48);
    zk[0x4c] = 0x42;
    memcpy(zk + 0x4d, rec2, 12);
    memcpy(zk + 0x59, a15_create_entry, 91);
    zk[0xb4] = 0x42;
    char path[256];
    path_of(fx, "log.1", path, sizeof path);
    write_all(path, zk, len);

    struct seen s;
    struct txnlog_replay_stats st;
    char err[256];
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), 0);
    assert_seen_range(&s, 1, 2);
    assert_int_equal(st.txns, 2);
    assert_int_equal(st.last_zxid, 2);
    assert_int_equal(st.truncated_bytes, 0);
    assert_string_equal(st.truncated_file, "");
    assert_int_equal(file_size(path), (int64_t)len); /* the zero fill is not damage */
    free(zk);

    /* Our writer: same header, and records framed the same way around digest-less entries. */
    unlink(path);
    char err2[256];
    struct txnlog_writer *lw = txnlog_writer_open(fx->dir, 0, err2, sizeof err2);
    assert_non_null(lw);
    struct txn_header h1 = {
        .client_id = CLIENT_ID, .zxid = 1, .time_ms = 0x1a20caba9d4, .type = ZK_OP_CREATESESSION};
    struct txn t1 = {.type = ZK_OP_CREATESESSION, .timeout_ms = 10000};
    struct txn_header h2 = {.client_id = CLIENT_ID,
                            .cxid = 1,
                            .zxid = 2,
                            .time_ms = 0x1a20caba9e5,
                            .type = ZK_OP_CREATE};
    struct txn t2 = {.type = ZK_OP_CREATE,
                     .path = "/p",
                     .data = (uint8_t *)"hello",
                     .data_len = 5,
                     .acl = open_acl,
                     .parent_cversion = 1};
    struct jute_writer w;
    jute_writer_init(&w);
    txnlog_encode_entry(&h1, &t1, &w);
    assert_int_equal(txnlog_append(lw, 1, w.buf, w.len), 0);
    jute_writer_reset(&w);
    txnlog_encode_entry(&h2, &t2, &w);
    assert_int_equal(txnlog_append(lw, 2, w.buf, w.len), 0);
    assert_int_equal(txnlog_commit(lw, true), 0);
    txnlog_writer_close(lw);
    jute_writer_free(&w);

    size_t got_len;
    uint8_t *got = read_all(path, &got_len);
    assert_int_equal(got_len, 16 + (12 + 36 + 1) + (12 + 79 + 1));
    assert_memory_equal(got, file_header, 16);
    uint8_t want1[12] = {0, 0, 0, 0};
    uint32_t sum1 = txnlog_adler32(1, a15_session_entry, 36);
    want1[4] = (uint8_t)(sum1 >> 24), want1[5] = (uint8_t)(sum1 >> 16);
    want1[6] = (uint8_t)(sum1 >> 8), want1[7] = (uint8_t)sum1;
    want1[11] = 36;
    assert_memory_equal(got + 16, want1, 12);
    assert_memory_equal(got + 28, a15_session_entry, 36);
    assert_int_equal(got[64], 0x42);
    assert_int_equal(jute_get_be32(got + 65 + 8), 79);
    assert_true(jute_get_be64(got + 65) == txnlog_adler32(1, a15_create_entry, 79));
    assert_memory_equal(got + 77, a15_create_entry, 79);
    assert_int_equal(got[156], 0x42);
    free(got);
}

/* --- every txn body round-trips ----------------------------------------------------------- */

static void assert_txn_equal(const struct txn *want, const struct txn *got)
{
    assert_int_equal(got->type, want->type);
    if (want->path == NULL)
        assert_null(got->path);
    else
        assert_string_equal(got->path, want->path);
    assert_int_equal(got->data_len, want->data_len);
    if (want->data_len > 0)
        assert_memory_equal(got->data, want->data, (size_t)want->data_len);
    else
        assert_null(got->data);
    assert_int_equal(got->acl.count, want->acl.count);
    for (int32_t i = 0; i < want->acl.count; i++) {
        assert_int_equal(got->acl.items[i].perms, want->acl.items[i].perms);
        if (want->acl.items[i].id.scheme == NULL)
            assert_null(got->acl.items[i].id.scheme);
        else
            assert_string_equal(got->acl.items[i].id.scheme, want->acl.items[i].id.scheme);
        assert_string_equal(got->acl.items[i].id.id, want->acl.items[i].id.id);
    }
    assert_int_equal(got->ephemeral, want->ephemeral);
    assert_int_equal(got->parent_cversion, want->parent_cversion);
    assert_true(got->ttl == want->ttl);
    assert_int_equal(got->version, want->version);
    assert_int_equal(got->err, want->err);
    assert_int_equal(got->timeout_ms, want->timeout_ms);
    assert_int_equal(got->n_paths, want->n_paths);
    for (size_t i = 0; i < want->n_paths; i++)
        assert_string_equal(got->paths[i], want->paths[i]);
    assert_int_equal(got->n_sub, want->n_sub);
    for (size_t i = 0; i < want->n_sub; i++)
        assert_txn_equal(&want->sub[i], &got->sub[i]);
}

/* Encodes t under a header of its type, decodes it back, compares with want. */
static void round_trip(const struct txn *t, const struct txn *want)
{
    struct txn_header hdr = {.client_id = 0x1234,
                             .cxid = 77,
                             .zxid = 0x500000009,
                             .time_ms = 1700000000123,
                             .type = t->type};
    struct jute_writer w;
    jute_writer_init(&w);
    txnlog_encode_entry(&hdr, t, &w);
    assert_false(w.failed);
    struct txn_header got;
    struct txn txn;
    char err[128];
    int rc = txnlog_decode_entry(w.buf, w.len, &got, &txn, err, sizeof err);
    if (rc != 0)
        fail_msg("type %d: %s", t->type, err);
    assert_true(got.client_id == hdr.client_id && got.cxid == hdr.cxid && got.zxid == hdr.zxid &&
                got.time_ms == hdr.time_ms && got.type == hdr.type);
    assert_txn_equal(want != NULL ? want : t, &txn);
    txn_free(&txn);

    /* A trailing digest (or anything else) after the body is ignored. */
    static const uint8_t digest[12] = {0, 0, 0, 2, 0, 0, 0, 0, 0x51, 0xc6, 0xd6, 0x60};
    jute_write_raw(&w, digest, sizeof digest);
    assert_int_equal(txnlog_decode_entry(w.buf, w.len, &got, &txn, err, sizeof err), 0);
    assert_txn_equal(want != NULL ? want : t, &txn);
    txn_free(&txn);

    /* Every cut inside the body is refused, except where no body is a valid body: a
     * closeSession without one, maybe followed by a digest's 12 bytes. */
    for (size_t cut = 32; cut < w.len - sizeof digest; cut++) {
        rc = txnlog_decode_entry(w.buf, cut, &got, &txn, err, sizeof err);
        if (t->type == ZK_OP_CLOSESESSION && (cut == 32 || cut == 32 + sizeof digest)) {
            assert_int_equal(rc, 0);
            assert_int_equal(txn.n_paths, 0);
            txn_free(&txn);
            continue;
        }
        if (rc == 0)
            fail_msg("type %d decoded from %zu of %zu bytes", t->type, cut, w.len - 12);
        assert_int_equal(rc, -EBADMSG);
    }
    jute_writer_free(&w);
}

static struct zk_acl two_acl_items[] = {
    {.perms = 1, .id = {"digest", "bob:ikIaFq3JqVNjhLfwxmu4hQnAdSE="}},
    {.perms = 31, .id = {"ip", "10.0.0.0/8"}},
};
static const struct zk_acl_vec two_acl = {.count = 2, .items = two_acl_items};

static void every_txn_type_round_trips(void **state)
{
    (void)state;
    uint8_t *hello = (uint8_t *)"hello";
    struct txn create = {.type = ZK_OP_CREATE,
                         .path = "/a/b-0000000003",
                         .data = hello,
                         .data_len = 5,
                         .acl = two_acl,
                         .ephemeral = true,
                         .parent_cversion = 4};
    round_trip(&create, NULL);
    struct txn create2 = create;
    create2.type = ZK_OP_CREATE2;
    create2.data = NULL;
    create2.data_len = -1; /* null data */
    round_trip(&create2, NULL);
    struct txn empty = create;
    empty.data = NULL;
    empty.data_len = 0;
    empty.ephemeral = false;
    round_trip(&empty, NULL);
    struct txn container = {.type = ZK_OP_CREATECONTAINER,
                            .path = "/c",
                            .data = hello,
                            .data_len = 5,
                            .acl = open_acl,
                            .parent_cversion = 2};
    round_trip(&container, NULL);
    struct txn ttl = {.type = ZK_OP_CREATETTL,
                      .path = "/t",
                      .data = hello,
                      .data_len = 5,
                      .acl = open_acl,
                      .parent_cversion = 7,
                      .ttl = 600000};
    round_trip(&ttl, NULL);
    struct txn del = {.type = ZK_OP_DELETE, .path = "/a"};
    round_trip(&del, NULL);
    struct txn delc = {.type = ZK_OP_DELETECONTAINER, .path = "/c"};
    round_trip(&delc, NULL);
    struct txn set = {
        .type = ZK_OP_SETDATA, .path = "/a", .data = hello, .data_len = 5, .version = 3};
    round_trip(&set, NULL);
    struct txn reconfig = {.type = ZK_OP_RECONFIG,
                           .path = "/zookeeper/config",
                           .data = (uint8_t *)"server.1=a:1:2",
                           .data_len = 14,
                           .version = -1};
    round_trip(&reconfig, NULL);
    struct txn setacl = {.type = ZK_OP_SETACL, .path = "/a", .acl = two_acl, .version = 2};
    round_trip(&setacl, NULL);
    struct txn check = {.type = ZK_OP_CHECK, .path = "/a", .version = 5};
    round_trip(&check, NULL);
    struct txn error = {.type = ZK_OP_ERROR, .err = ZK_NODEEXISTS};
    round_trip(&error, NULL);
    struct txn session = {.type = ZK_OP_CREATESESSION, .timeout_ms = 30000};
    round_trip(&session, NULL);
    char *paths[] = {"/e1", "/x/e2"};
    struct txn close_paths = {.type = ZK_OP_CLOSESESSION, .paths = paths, .n_paths = 2};
    round_trip(&close_paths, NULL);
    struct txn close_none = {.type = ZK_OP_CLOSESESSION};
    round_trip(&close_none, NULL);
}

static void multi_round_trips_and_writes_sub_create2_as_create(void **state)
{
    (void)state;
    uint8_t *v = (uint8_t *)"v";
    struct txn subs[] = {
        {.type = ZK_OP_CREATE2,
         .path = "/m",
         .data = v,
         .data_len = 1,
         .acl = open_acl,
         .parent_cversion = 1},
        {.type = ZK_OP_CREATE,
         .path = "/m/e",
         .data_len = 0,
         .acl = open_acl,
         .ephemeral = true,
         .parent_cversion = 1},
        {.type = ZK_OP_CREATECONTAINER,
         .path = "/c",
         .data_len = -1,
         .acl = open_acl,
         .parent_cversion = 2},
        {.type = ZK_OP_CREATETTL,
         .path = "/t",
         .data_len = -1,
         .acl = open_acl,
         .parent_cversion = 3,
         .ttl = 5000},
        {.type = ZK_OP_SETDATA, .path = "/m", .data = v, .data_len = 1, .version = 1},
        {.type = ZK_OP_CHECK, .path = "/m", .version = 2},
        {.type = ZK_OP_DELETE, .path = "/old"},
        {.type = ZK_OP_DELETECONTAINER, .path = "/c2"},
    };
    struct txn multi = {.type = ZK_OP_MULTI, .sub = subs, .n_sub = 8};
    struct txn want_subs[8];
    memcpy(want_subs, subs, sizeof subs);
    want_subs[0].type = ZK_OP_CREATE;
    struct txn want = {.type = ZK_OP_MULTI, .sub = want_subs, .n_sub = 8};
    round_trip(&multi, &want);

    /* the sub-type on disk is 1 */
    struct txn_header hdr = {.zxid = 9, .type = ZK_OP_MULTI};
    struct jute_writer w;
    jute_writer_init(&w);
    txnlog_encode_entry(&hdr, &multi, &w);
    assert_int_equal(jute_get_be32(w.buf + 32), 8);
    assert_int_equal(jute_get_be32(w.buf + 36), ZK_OP_CREATE);

    /* a sub-type 15 written by 3.8.2+ decodes */
    w.buf[39] = ZK_OP_CREATE2;
    struct txn_header got;
    struct txn txn;
    char err[128];
    assert_int_equal(txnlog_decode_entry(w.buf, w.len, &got, &txn, err, sizeof err), 0);
    assert_int_equal(txn.sub[0].type, ZK_OP_CREATE2);
    assert_string_equal(txn.sub[0].path, "/m");
    txn_free(&txn);

    /* a multi inside a multi, or a session txn, is refused */
    w.buf[39] = ZK_OP_MULTI;
    assert_int_equal(txnlog_decode_entry(w.buf, w.len, &got, &txn, err, sizeof err), -EBADMSG);
    assert_true(contains(err, "multi"));
    w.buf[36] = 0xff, w.buf[37] = 0xff, w.buf[38] = 0xff, w.buf[39] = 0xf6;
    assert_int_equal(txnlog_decode_entry(w.buf, w.len, &got, &txn, err, sizeof err), -EBADMSG);
    jute_writer_free(&w);

    /* A failed multi: the ops before the failure keep their bodies, the rest are errors. */
    struct txn failed_subs[] = {
        {.type = ZK_OP_CREATE, .path = "/f", .data_len = 0, .acl = open_acl, .parent_cversion = 1},
        {.type = ZK_OP_ERROR, .err = ZK_BADVERSION},
        {.type = ZK_OP_ERROR, .err = ZK_RUNTIMEINCONSISTENCY},
    };
    struct txn failed = {.type = ZK_OP_MULTI, .sub = failed_subs, .n_sub = 3};
    round_trip(&failed, NULL);
    struct txn empty_multi = {.type = ZK_OP_MULTI};
    round_trip(&empty_multi, NULL);
}

static void close_session_without_body_decodes(void **state)
{
    (void)state;
    struct txn_header hdr = {.client_id = 5, .zxid = 3, .type = ZK_OP_CLOSESESSION};
    struct txn none = {.type = ZK_OP_CLOSESESSION};
    struct jute_writer w;
    jute_writer_init(&w);
    txnlog_encode_entry(&hdr, &none, &w);
    assert_int_equal(w.len, 36);
    w.len = 32; /* closeSessionTxnEnabled=false, pre-3.6 */
    struct txn_header got;
    struct txn txn;
    char err[128];
    assert_int_equal(txnlog_decode_entry(w.buf, w.len, &got, &txn, err, sizeof err), 0);
    assert_int_equal(txn.type, ZK_OP_CLOSESESSION);
    assert_int_equal(txn.n_paths, 0);
    txn_free(&txn);
    /* no body, then a digest */
    static const uint8_t digest[12] = {0, 0, 0, 2, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0};
    jute_write_raw(&w, digest, sizeof digest);
    assert_int_equal(txnlog_decode_entry(w.buf, w.len, &got, &txn, err, sizeof err), 0);
    assert_int_equal(txn.n_paths, 0);
    txn_free(&txn);
    /* A digest of 0 would parse as a vector of two empty paths; no txn path is empty. */
    memset(w.buf + 36, 0, 8);
    assert_int_equal(txnlog_decode_entry(w.buf, w.len, &got, &txn, err, sizeof err), 0);
    assert_int_equal(txn.n_paths, 0);
    txn_free(&txn);
    jute_writer_free(&w);
}

static void decode_refuses_bad_entries(void **state)
{
    (void)state;
    struct txn_header got;
    struct txn txn;
    char err[128];
    uint8_t short_entry[31] = {0};
    assert_int_equal(
        txnlog_decode_entry(short_entry, sizeof short_entry, &got, &txn, err, sizeof err),
        -EBADMSG);
    assert_true(contains(err, "TxnHeader"));

    struct jute_writer w;
    jute_writer_init(&w);
    struct txn_header hdr = {.zxid = 1, .type = 42};
    struct txn t = {.type = 42};
    txnlog_encode_entry(&hdr, &t, &w);
    assert_true(w.failed); /* the writer refuses it too */
    jute_writer_reset(&w);
    jute_write_long(&w, 1);
    jute_write_int(&w, 0);
    jute_write_long(&w, 1);
    jute_write_long(&w, 0);
    jute_write_int(&w, 42);
    jute_write_int(&w, 0);
    assert_int_equal(txnlog_decode_entry(w.buf, w.len, &got, &txn, err, sizeof err), -EBADMSG);
    assert_true(contains(err, "unknown txn type 42"));

    /* a null path, and a path with a NUL inside */
    jute_writer_reset(&w);
    hdr.type = ZK_OP_DELETE;
    struct txn del = {.type = ZK_OP_DELETE, .path = NULL};
    txnlog_encode_entry(&hdr, &del, &w);
    assert_int_equal(txnlog_decode_entry(w.buf, w.len, &got, &txn, err, sizeof err), -EBADMSG);
    assert_true(contains(err, "delete"));
    jute_writer_reset(&w);
    del.path = "/a";
    txnlog_encode_entry(&hdr, &del, &w);
    w.buf[w.len - 1] = 0;
    assert_int_equal(txnlog_decode_entry(w.buf, w.len, &got, &txn, err, sizeof err), -EBADMSG);
    jute_writer_free(&w);
}

/* --- writing and replay -------------------------------------------------------------------- */

static void writer_rolls_and_replay_reads_every_file(void **state)
{
    struct fixture *fx = *state;
    const int64_t rolls[] = {4, 8};
    write_log(fx->dir, 0, 1, 10, rolls, 2);

    int64_t *z = NULL;
    size_t n = 0;
    assert_int_equal(txnlog_list(fx->dir, &z, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(z[0], 1);
    assert_int_equal(z[1], 4);
    assert_int_equal(z[2], 8);
    free(z);
    char path[256];
    path_of(fx, "log.4", path, sizeof path);
    assert_true(exists(path));

    struct seen s;
    struct txnlog_replay_stats st;
    char err[256];
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), 0);
    assert_seen_range(&s, 1, 10);
    assert_int_equal(st.txns, 10);
    assert_int_equal(st.last_zxid, 10);
    assert_int_equal(st.truncated_bytes, 0);

    /* After a snapshot at 5: starts in log.4 (it holds 6), skips 4 and 5. */
    assert_int_equal(replay(fx->dir, 5, true, &s, &st, err, sizeof err), 0);
    assert_seen_range(&s, 6, 10);
    /* At 3: log.4 starts at 3 + 1, so log.1 is not needed. */
    path_of(fx, "log.1", path, sizeof path);
    size_t len;
    uint8_t *saved = read_all(path, &len);
    write_all(path, "garbage garbage garbage", 23); /* proves log.1 is not read */
    assert_int_equal(replay(fx->dir, 3, true, &s, &st, err, sizeof err), 0);
    assert_seen_range(&s, 4, 10);
    write_all(path, saved, len);
    free(saved);
    /* Everything already applied */
    assert_int_equal(replay(fx->dir, 10, true, &s, &st, err, sizeof err), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(st.last_zxid, 10);
    assert_int_equal(replay(fx->dir, 20, true, &s, &st, err, sizeof err), 0);
    assert_int_equal(st.last_zxid, 20);

    /* A missing directory holds no logs. */
    char missing[256];
    snprintf(missing, sizeof missing, "%s/nope", fx->root);
    assert_int_equal(replay(missing, 0, true, &s, &st, err, sizeof err), 0);
    assert_int_equal(count_files(missing), 0);
}

static void a_roll_before_the_commit_writes_both_files(void **state)
{
    struct fixture *fx = *state;
    char err[256];
    struct txnlog_writer *lw = txnlog_writer_open(fx->dir, 0, err, sizeof err);
    assert_non_null(lw);
    assert_int_equal(txnlog_current_bytes(lw), 0);
    assert_int_equal(append_setdata(lw, 1), 0);
    assert_int_equal(append_setdata(lw, 2), 0);
    int64_t one_file = txnlog_current_bytes(lw);
    assert_true(one_file > 16);
    txnlog_roll(lw);
    assert_int_equal(txnlog_current_bytes(lw), 0);
    txnlog_roll(lw); /* a second roll with nothing appended changes nothing */
    assert_int_equal(append_setdata(lw, 3), 0);
    assert_int_equal(txnlog_commit(lw, true), 0);
    char p1[256], p3[256];
    path_of(fx, "log.1", p1, sizeof p1);
    path_of(fx, "log.3", p3, sizeof p3);
    assert_int_equal(file_size(p1), one_file);
    assert_int_equal(file_size(p3), txnlog_current_bytes(lw));
    /* a commit with nothing buffered, then a roll right after a commit */
    assert_int_equal(txnlog_commit(lw, true), 0);
    txnlog_roll(lw);
    assert_int_equal(append_setdata(lw, 4), 0);
    assert_int_equal(txnlog_commit(lw, false), 0);
    txnlog_writer_close(lw);

    struct seen s;
    struct txnlog_replay_stats st;
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), 0);
    assert_seen_range(&s, 1, 4);
    assert_int_equal(count_files(fx->dir), 3);
}

static void preallocation_keeps_files_at_16_plus_k_times_p(void **state)
{
    struct fixture *fx = *state;
    const int64_t p = 8192;
    char err[256];
    struct txnlog_writer *lw = txnlog_writer_open(fx->dir, p, err, sizeof err);
    assert_non_null(lw);
    char path[256];
    path_of(fx, "log.1", path, sizeof path);
    int64_t z = 1;
    assert_int_equal(append_setdata(lw, z++), 0);
    /* the header is on disk at once, the record after the commit */
    assert_int_equal(file_size(path), 16);
    assert_int_equal(txnlog_commit(lw, true), 0);
    assert_int_equal(file_size(path), 16 + p);
    /* Until the data comes within 4096 bytes of the end, the size stays; then it grows by
     * P, one step per append. */
    int64_t max_size = 16 + p;
    while (txnlog_current_bytes(lw) < 3 * p) {
        int64_t before = txnlog_current_bytes(lw);
        int64_t size_before = file_size(path);
        assert_int_equal(append_setdata(lw, z++), 0);
        assert_int_equal(txnlog_commit(lw, z % 2 == 0), 0);
        int64_t size = file_size(path);
        assert_int_equal((size - 16) % p, 0);
        if (before + 4096 >= size_before)
            assert_int_equal(size, size_before + p);
        else
            assert_int_equal(size, size_before);
        assert_true(txnlog_current_bytes(lw) + 4096 > size - p);
        max_size = size;
    }
    txnlog_writer_close(lw);
    assert_int_equal(file_size(path), max_size);

    struct seen s;
    struct txnlog_replay_stats st;
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), 0);
    assert_seen_range(&s, 1, z - 1);
    assert_int_equal(st.truncated_bytes, 0);
    assert_int_equal(file_size(path), max_size); /* the zero tail is left alone */

    /* No preallocation: the file is exactly its records. */
    const int64_t none[] = {0};
    write_log(fx->dir, 0, 1000, 1002, none, 0);
    path_of(fx, "log.3e8", path, sizeof path);
    struct jute_writer w;
    jute_writer_init(&w);
    int64_t want = 16;
    for (int64_t i = 1000; i <= 1002; i++) {
        encode_setdata(i, &w);
        want += 13 + (int64_t)w.len;
    }
    jute_writer_free(&w);
    assert_int_equal(file_size(path), want);
}

static void an_existing_file_of_the_same_name_is_overwritten(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(mkdir(fx->dir, 0755), 0);
    char path[256];
    path_of(fx, "log.5", path, sizeof path);
    uint8_t junk[300];
    memset(junk, 0x77, sizeof junk);
    write_all(path, junk, sizeof junk);
    const int64_t none[] = {0};
    write_log(fx->dir, 0, 5, 6, none, 0);
    struct seen s;
    struct txnlog_replay_stats st;
    char err[256];
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), 0);
    assert_seen_range(&s, 5, 6);
    assert_int_equal(st.truncated_bytes, 0);
}

static void file_names_parse_like_zookeeper(void **state)
{
    struct fixture *fx = *state;
    assert_int_equal(mkdir(fx->dir, 0755), 0);
    const int64_t none[] = {0};
    write_log(fx->dir, 0, 0x2f, 0x2f, none, 0);
    write_log(fx->dir, 0, 0x100000001, 0x100000001, none, 0);
    write_log(fx->dir, 0, 9, 9, none, 0);
    char path[256];
    path_of(fx, "log.2f", path, sizeof path);
    assert_true(exists(path));
    path_of(fx, "log.100000001", path, sizeof path);
    assert_true(exists(path));
    const char *not_logs[] = {"log.",      "log.xyz",    "logx.1", "snapshot.1",
                              "log.-1",    "log.1g",     "xlog.1", "log.10000000000000000",
                              "log.tmp.1", ".log.5.tmp", "LOG.1"};
    for (size_t i = 0; i < sizeof not_logs / sizeof *not_logs; i++) {
        path_of(fx, not_logs[i], path, sizeof path);
        write_all(path, "x", 1);
    }
    path_of(fx, "log.77", path, sizeof path);
    assert_int_equal(mkdir(path, 0755), 0); /* a directory is no log */

    int64_t *z = NULL;
    size_t n = 0;
    assert_int_equal(txnlog_list(fx->dir, &z, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(z[0], 9);
    assert_int_equal(z[1], 0x2f);
    assert_true(z[2] == 0x100000001);
    free(z);

    /* Suffixes count (log.25.bak is log 0x25), and a duplicate start is read once. */
    char from[256], to[256];
    path_of(fx, "log.9", from, sizeof from);
    path_of(fx, "log.9.bak", to, sizeof to);
    size_t len;
    uint8_t *bytes = read_all(from, &len);
    write_all(to, bytes, len);
    path_of(fx, "log.2f", from, sizeof from);
    path_of(fx, "log.2F.old", to, sizeof to);
    assert_int_equal(rename(from, to), 0);
    free(bytes);
    assert_int_equal(txnlog_list(fx->dir, &z, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(z[1], 0x2f);
    free(z);
    struct seen s;
    struct txnlog_replay_stats st;
    char err[256];
    log_set_level(CORRAL_LOG_ERROR);
    int rc = replay(fx->dir, 0, true, &s, &st, err, sizeof err);
    log_set_level(CORRAL_LOG_INFO);
    assert_int_equal(rc, 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.zxids[0], 9);
    assert_int_equal(s.zxids[1], 0x2f);
    assert_true(s.zxids[2] == 0x100000001);
}

static void a_failing_callback_stops_replay(void **state)
{
    struct fixture *fx = *state;
    const int64_t none[] = {0};
    write_log(fx->dir, 0, 1, 5, none, 0);
    struct seen s;
    memset(&s, 0, sizeof s);
    s.stop_at = 3;
    struct txnlog_replay_stats st;
    char err[256];
    assert_int_equal(txnlog_replay(fx->dir, 0, true, collect, &s, &st, err, sizeof err),
                     -ECANCELED);
    assert_int_equal(s.n, 2);
    assert_int_equal(st.txns, 2);
    assert_true(contains(err, "log.1"));
    assert_true(contains(err, "0x3"));
}

/* --- torn and corrupt tails ----------------------------------------------------------------- */

enum damage { CUT, GARBAGE, FLIP_CHECKSUM, NO_MARKER, LENGTH_MINUS_ONE, ZERO_FROM };

/* Damages the last of 5 records of a pristine log.1 in one way at offset `at` and checks that
 * replay hands over exactly 1..4, cuts the file at the record's start (when anything non-zero
 * was there), and leaves a log that replays cleanly and takes appends. */
static void check_damage(const struct fixture *fx, const uint8_t *pristine, size_t len,
                         size_t start, size_t end, enum damage how, size_t at)
{
    char path[256];
    path_of(fx, "log.1", path, sizeof path);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    memcpy(buf, pristine, len);
    size_t size = len;
    switch (how) {
    case CUT:
        size = at;
        break;
    case GARBAGE:
        for (size_t i = at; i < end; i++)
            buf[i] ^= 0xa5; /* every byte differs from what was there */
        break;
    case FLIP_CHECKSUM:
        buf[at] ^= 0x01;
        break;
    case NO_MARKER:
        buf[end - 1] = 0x41;
        break;
    case LENGTH_MINUS_ONE:
        memset(buf + start + 8, 0xff, 4);
        break;
    case ZERO_FROM:
        memset(buf + at, 0, end - at);
        break;
    }
    write_all(path, buf, size);
    size_t damaged = nonzero_end(buf, start, size) - start;

    struct seen s;
    struct txnlog_replay_stats st;
    char err[256];
    int rc = replay(fx->dir, 0, true, &s, &st, err, sizeof err);
    if (rc != 0)
        fail_msg("damage %d at %zu: %s", (int)how, at, err);
    assert_seen_range(&s, 1, 4);
    if (damaged == 0) {
        /* The cut fell on the record boundary, or only zeros remain: a clean end. */
        assert_int_equal(st.truncated_bytes, 0);
        assert_string_equal(st.truncated_file, "");
        assert_int_equal(file_size(path), (int64_t)size);
    } else {
        assert_int_equal(st.truncated_bytes, (int64_t)damaged);
        assert_int_equal(st.truncated_after, 4);
        assert_string_equal(st.truncated_file, path);
        assert_int_equal(file_size(path), (int64_t)start);
    }
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), 0);
    assert_seen_range(&s, 1, 4);
    assert_int_equal(st.truncated_bytes, 0);
    assert_string_equal(st.truncated_file, "");

    /* The restarted server writes zxid 5 again, into a new file. */
    const int64_t none[] = {0};
    write_log(fx->dir, 0, 5, 6, none, 0);
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), 0);
    assert_seen_range(&s, 1, 6);
    assert_int_equal(st.truncated_bytes, 0);
    char p5[256];
    path_of(fx, "log.5", p5, sizeof p5);
    unlink(p5);
    free(buf);
}

static void torn_tails_are_cut_at_every_offset(void **state)
{
    struct fixture *fx = *state;
    const int64_t none[] = {0};
    for (int prealloc = 0; prealloc <= 1; prealloc++) {
        write_log(fx->dir, prealloc ? 4096 : 0, 1, 5, none, 0);
        char path[256];
        path_of(fx, "log.1", path, sizeof path);
        size_t len;
        uint8_t *pristine = read_all(path, &len);
        size_t offs[8];
        assert_int_equal(record_offsets(pristine, len, offs, 7), 5);
        size_t start = offs[4], end = offs[5];
        if (prealloc)
            assert_int_equal(len, 8208);
        else
            assert_int_equal(len, end);

        log_set_level(CORRAL_LOG_ERROR); /* one warning per case otherwise */
        for (size_t at = start; at < end; at++) {
            check_damage(fx, pristine, len, start, end, CUT, at);
            check_damage(fx, pristine, len, start, end, GARBAGE, at);
            check_damage(fx, pristine, len, start, end, ZERO_FROM, at);
        }
        for (size_t at = start; at < start + 8; at++)
            check_damage(fx, pristine, len, start, end, FLIP_CHECKSUM, at);
        check_damage(fx, pristine, len, start, end, NO_MARKER, 0);
        check_damage(fx, pristine, len, start, end, LENGTH_MINUS_ONE, 0);
        log_set_level(CORRAL_LOG_INFO);
        free(pristine);
        unlink(path);
    }
}

static void the_cut_is_logged_and_repair_false_leaves_the_file(void **state)
{
    struct fixture *fx = *state;
    const int64_t none[] = {0};
    write_log(fx->dir, 0, 1, 3, none, 0);
    char path[256];
    path_of(fx, "log.1", path, sizeof path);
    int64_t size = file_size(path);
    assert_int_equal(truncate(path, size - 5), 0);

    struct seen s;
    struct txnlog_replay_stats st;
    char line[4096];
    assert_int_equal(replay_capturing(fx->dir, 0, false, &s, &st, line, sizeof line), 0);
    assert_seen_range(&s, 1, 2);
    assert_true(st.truncated_bytes > 0);
    assert_int_equal(st.truncated_after, 2);
    assert_int_equal(file_size(path), size - 5); /* reported, not cut */
    assert_true(contains(line, "ignoring"));

    assert_int_equal(replay_capturing(fx->dir, 0, true, &s, &st, line, sizeof line), 0);
    assert_seen_range(&s, 1, 2);
    char want[512];
    snprintf(want, sizeof want,
             "%s: cut %" PRId64 " bytes of a torn or corrupt tail after zxid 0x2", path,
             st.truncated_bytes);
    if (!contains(line, want))
        fail_msg("log was: %s", line);
    assert_true(file_size(path) < size - 5);
    /* cut once, reported once */
    assert_int_equal(replay(fx->dir, 2, true, &s, &st, line, sizeof line), 0);
    assert_int_equal(st.truncated_bytes, 0);
    assert_string_equal(st.truncated_file, "");
}

static void corruption_in_an_older_file_fails_replay(void **state)
{
    struct fixture *fx = *state;
    const int64_t rolls[] = {4};
    write_log(fx->dir, 0, 1, 6, rolls, 1);
    char path[256];
    path_of(fx, "log.1", path, sizeof path);
    size_t len;
    uint8_t *pristine = read_all(path, &len);
    size_t offs[8];
    assert_int_equal(record_offsets(pristine, len, offs, 7), 3);
    struct seen s;
    struct txnlog_replay_stats st;
    char err[512];

    /* A bad checksum on record 2: 2 and 3 would be lost. */
    uint8_t *buf = malloc(len + 64);
    assert_non_null(buf);
    memcpy(buf, pristine, len);
    buf[offs[1] + 7] ^= 0x10;
    write_all(path, buf, len);
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), -EBADMSG);
    assert_true(contains(err, path));
    char at[64];
    snprintf(at, sizeof at, "offset %zu", offs[1]);
    if (!contains(err, at))
        fail_msg("err was: %s", err);
    assert_int_equal(file_size(path), (int64_t)len); /* never cut */
    assert_seen_range(&s, 1, 1);

    /* The last record of log.1 torn: txn 3 would be lost, log.4 starts later. */
    write_all(path, pristine, offs[2] + 20);
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), -EBADMSG);
    assert_true(contains(err, path));
    /* ... but after a snapshot at 3 nothing is missing (log.4 is where replay starts). */
    assert_int_equal(replay(fx->dir, 3, true, &s, &st, err, sizeof err), 0);
    assert_seen_range(&s, 4, 6);

    /* Junk after the last record, where log.4 continues right after it: nothing is missing. */
    memcpy(buf, pristine, len);
    memset(buf + len, 0, 64);
    buf[len + 40] = 0x42;
    write_all(path, buf, len + 64);
    log_set_level(CORRAL_LOG_ERROR);
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), 0);
    log_set_level(CORRAL_LOG_INFO);
    assert_seen_range(&s, 1, 6);
    assert_int_equal(file_size(path), (int64_t)len + 64);

    /* A clean end (zeros after the last record) just moves on. */
    memset(buf + len, 0, 64);
    write_all(path, buf, len + 64);
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), 0);
    assert_seen_range(&s, 1, 6);

    /* A bad magic is never a log. */
    memcpy(buf, pristine, len);
    buf[0] = 'X';
    write_all(path, buf, len);
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), -EBADMSG);
    assert_true(contains(err, "magic"));
    char p4[256];
    path_of(fx, "log.4", p4, sizeof p4);
    rename(path, p4);
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), -EBADMSG);

    /* An intact record that does not decode is corruption even in the newest file. */
    write_log(fx->dir, 0, 1, 2, rolls, 0);
    unlink(p4);
    assert_int_equal(count_files(fx->dir), 1);
    size_t n;
    uint8_t *one = read_all(path, &n);
    assert_int_equal(record_offsets(one, n, offs, 7), 2);
    uint8_t *entry = one + offs[1] + 12;
    uint32_t elen = jute_get_be32(one + offs[1] + 8);
    entry[31] = 99; /* type */
    uint32_t sum = txnlog_adler32(1, entry, elen);
    one[offs[1] + 4] = (uint8_t)(sum >> 24), one[offs[1] + 5] = (uint8_t)(sum >> 16);
    one[offs[1] + 6] = (uint8_t)(sum >> 8), one[offs[1] + 7] = (uint8_t)sum;
    write_all(path, one, n);
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), -EBADMSG);
    assert_true(contains(err, "unknown txn type 99"));
    assert_int_equal(file_size(path), (int64_t)n);
    free(one);
    free(buf);
    free(pristine);
}

/* ZooKeeper after a crash that tore its last record: the restart never repairs, it writes the
 * txn again into a new file (A.3, A.7). Nothing is missing, so this must replay. */
static void zookeepers_torn_older_file_followed_by_its_rewrite_replays(void **state)
{
    struct fixture *fx = *state;
    const int64_t none[] = {0};
    write_log(fx->dir, 0, 1, 4, none, 0);
    char path[256];
    path_of(fx, "log.1", path, sizeof path);
    size_t len;
    uint8_t *bytes = read_all(path, &len);
    size_t offs[8];
    assert_int_equal(record_offsets(bytes, len, offs, 7), 4);
    uint8_t *padded = calloc(1, offs[3] + 30 + 4096);
    assert_non_null(padded);
    memcpy(padded, bytes, offs[3] + 30); /* record 4 torn, zero fill after */
    write_all(path, padded, offs[3] + 30 + 4096);
    write_log(fx->dir, 0, 4, 6, none, 0);

    struct seen s;
    struct txnlog_replay_stats st;
    char err[256];
    log_set_level(CORRAL_LOG_ERROR);
    int rc = replay(fx->dir, 0, true, &s, &st, err, sizeof err);
    log_set_level(CORRAL_LOG_INFO);
    assert_int_equal(rc, 0);
    assert_seen_range(&s, 1, 6);
    assert_int_equal(st.truncated_bytes, 0);
    assert_int_equal(file_size(path), (int64_t)(offs[3] + 30 + 4096)); /* older: untouched */
    free(padded);
    free(bytes);
}

static void a_newest_file_without_header_is_removed(void **state)
{
    struct fixture *fx = *state;
    const int64_t none[] = {0};
    write_log(fx->dir, 0, 1, 3, none, 0);
    char path[256];
    path_of(fx, "log.4", path, sizeof path);
    static const uint8_t zeros[16] = {0};
    static const uint8_t partial[7] = {0x5a, 0x4b, 0x4c, 0x47, 0, 0, 0};
    struct {
        const uint8_t *bytes;
        size_t len;
        int64_t reported;
    } cases[] = {{zeros, 0, 0}, {partial, 7, 4}, {zeros, 16, 0}};
    for (size_t i = 0; i < 3; i++) {
        struct seen s;
        struct txnlog_replay_stats st;
        char err[256];
        write_all(path, cases[i].bytes, cases[i].len);
        log_set_level(CORRAL_LOG_ERROR);
        assert_int_equal(replay(fx->dir, 0, false, &s, &st, err, sizeof err), 0);
        assert_true(exists(path));
        assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), 0);
        log_set_level(CORRAL_LOG_INFO);
        assert_seen_range(&s, 1, 3);
        assert_string_equal(st.truncated_file, path);
        assert_int_equal(st.truncated_bytes, cases[i].reported);
        assert_int_equal(st.truncated_after, 3);
        assert_false(exists(path));
        assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), 0);
        assert_string_equal(st.truncated_file, "");
    }

    /* An older file without a header, where the next one does not continue: corruption. */
    char p1[256];
    path_of(fx, "log.1", p1, sizeof p1);
    write_all(p1, "", 0);
    write_log(fx->dir, 0, 9, 9, none, 0);
    struct seen s;
    struct txnlog_replay_stats st;
    char err[256];
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), -EBADMSG);
    assert_true(contains(err, p1));
    assert_true(contains(err, "no file header"));
}

static void a_header_only_file_is_fine(void **state)
{
    struct fixture *fx = *state;
    const int64_t none[] = {0};
    write_log(fx->dir, 0, 1, 3, none, 0);
    char path[256];
    path_of(fx, "log.4", path, sizeof path);
    static const uint8_t header[16] = {0x5a, 0x4b, 0x4c, 0x47, 0, 0, 0, 2};
    write_all(path, header, 16);
    struct seen s;
    struct txnlog_replay_stats st;
    char err[256];
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), 0);
    assert_seen_range(&s, 1, 3);
    assert_string_equal(st.truncated_file, "");
    assert_int_equal(file_size(path), 16);
    /* and as an older file, followed by more */
    write_log(fx->dir, 0, 4, 5, none, 0); /* overwrites log.4 */
    path_of(fx, "log.3", path, sizeof path);
    write_all(path, header, 16);
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), 0);
    assert_seen_range(&s, 1, 5);
}

/* --- failed appends and commits ----------------------------------------------------------- */

/* A new log file is written under tmp.log.<zxid> and renamed once its header is in: by its
 * name it is never 0 bytes, which ZooKeeper 3.8 refuses to start with (A.16). */
static void a_new_log_file_has_its_header_when_it_appears(void **state)
{
    struct fixture *fx = *state;
    char err[256];
    struct txnlog_writer *lw = txnlog_writer_open(fx->dir, 0, err, sizeof err);
    assert_non_null(lw);
    assert_int_equal(append_setdata(lw, 7), 0); /* creates log.7; nothing committed yet */
    char path[256];
    path_of(fx, "log.7", path, sizeof path);
    assert_int_equal(file_size(path), 16);
    path_of(fx, "tmp.log.7", path, sizeof path);
    assert_false(exists(path));
    assert_int_equal(count_files(fx->dir), 1);
    assert_int_equal(txnlog_commit(lw, true), 0);
    txnlog_writer_close(lw);
}

static void a_failed_append_drops_the_uncommitted_batch(void **state)
{
    struct fixture *fx = *state;
    char err[256];
    struct txnlog_writer *lw = txnlog_writer_open(fx->dir, 0, err, sizeof err);
    assert_non_null(lw);
    assert_int_equal(append_setdata(lw, 1), 0);
    assert_int_equal(txnlog_commit(lw, true), 0);
    assert_int_equal(append_setdata(lw, 2), 0);
    uint8_t tiny[8] = {0};
    assert_int_equal(txnlog_append(lw, 3, tiny, sizeof tiny), -EINVAL);
    assert_int_equal(txnlog_commit(lw, true), 0);
    struct seen s;
    struct txnlog_replay_stats st;
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), 0);
    assert_seen_range(&s, 1, 1);
    /* the zxids are used again, in the same file */
    assert_int_equal(append_setdata(lw, 2), 0);
    assert_int_equal(append_setdata(lw, 3), 0);
    assert_int_equal(txnlog_commit(lw, true), 0);
    assert_int_equal(replay(fx->dir, 0, true, &s, &st, err, sizeof err), 0);
    assert_seen_range(&s, 1, 3);

    /* A new file whose only records failed leaves no file behind. */
    txnlog_roll(lw);
    assert_int_equal(append_setdata(lw, 4), 0);
    assert_int_equal(txnlog_append(lw, 5, tiny, sizeof tiny), -EINVAL);
    char path[256];
    path_of(fx, "log.4", path, sizeof path);
    assert_false(exists(path));
    /* Closing drops what was never committed the same way. */
    assert_int_equal(append_setdata(lw, 4), 0);
    assert_true(exists(path));
    txnlog_writer_close(lw);
    assert_false(exists(path));
    assert_int_equal(count_files(fx->dir), 1);
}

#define CHILD_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child check failed at line %d: %s\n", __LINE__, #cond);               \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

static void set_fsize_limit(rlim_t limit)
{
    struct rlimit rl;
    CHILD_CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0);
    rl.rlim_cur = limit;
    CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
}

static int count_cb(const struct txn_header *hdr, const struct txn *txn, void *arg)
{
    (void)txn;
    int64_t *last = arg;
    if (hdr->zxid != *last + 1)
        return -EPROTO;
    *last = hdr->zxid;
    return 0;
}

/* Runs in a child: RLIMIT_FSIZE makes writes past the limit fail with EFBIG (SIGXFSZ
 * ignored), as a full disk fails them with ENOSPC. */
static void full_disk_child(const char *dir)
{
    signal(SIGXFSZ, SIG_IGN);
    char err[256], p1[512], p3[512], p4[512];
    snprintf(p1, sizeof p1, "%s/log.1", dir);
    snprintf(p3, sizeof p3, "%s/log.3", dir);
    snprintf(p4, sizeof p4, "%s/log.4", dir);
    int64_t rec[7];
    struct jute_writer w;
    jute_writer_init(&w);
    for (int z = 1; z <= 6; z++) {
        encode_setdata(z, &w);
        rec[z] = (int64_t)w.len + 13;
    }
    jute_writer_free(&w);
    struct rlimit rl;
    CHILD_CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0);
    rlim_t saved = rl.rlim_cur;

    /* The header does not fit: no file at all. */
    set_fsize_limit(10);
    struct txnlog_writer *lw = txnlog_writer_open(dir, 0, err, sizeof err);
    CHILD_CHECK(lw != NULL);
    CHILD_CHECK(append_setdata(lw, 1) == -EFBIG);
    CHILD_CHECK(count_files(dir) == 0);

    /* Two records fit, the third is cut off mid-write. */
    int64_t two = 16 + rec[1] + rec[2];
    set_fsize_limit((rlim_t)(two + rec[3] / 2));
    CHILD_CHECK(append_setdata(lw, 1) == 0);
    CHILD_CHECK(txnlog_commit(lw, true) == 0);
    CHILD_CHECK(append_setdata(lw, 2) == 0);
    CHILD_CHECK(txnlog_commit(lw, true) == 0);
    CHILD_CHECK(file_size(p1) == two);
    CHILD_CHECK(append_setdata(lw, 3) == 0);
    CHILD_CHECK(txnlog_commit(lw, true) == -EFBIG);
    CHILD_CHECK(file_size(p1) == two);
    CHILD_CHECK(txnlog_current_bytes(lw) == two);
    /* A batch spanning a roll: the old file is cut back, the new one removed. */
    CHILD_CHECK(append_setdata(lw, 3) == 0);
    txnlog_roll(lw);
    CHILD_CHECK(append_setdata(lw, 4) == 0);
    CHILD_CHECK(file_size(p4) == 16);
    CHILD_CHECK(txnlog_commit(lw, true) == -EFBIG);
    CHILD_CHECK(file_size(p1) == two);
    CHILD_CHECK(file_size(p4) == -1);
    CHILD_CHECK(count_files(dir) == 1);

    /* Room again: the same zxid goes through (into a new file, as the roll was dropped). */
    set_fsize_limit(saved);
    CHILD_CHECK(append_setdata(lw, 3) == 0);
    CHILD_CHECK(txnlog_commit(lw, true) == 0);
    CHILD_CHECK(file_size(p1) == two);
    CHILD_CHECK(file_size(p3) == 16 + rec[3]);
    txnlog_writer_close(lw);

    /* Preallocation past the limit fails the commit too; a file with nothing committed
     * goes away. */
    lw = txnlog_writer_open(dir, 8192, err, sizeof err);
    CHILD_CHECK(lw != NULL);
    set_fsize_limit(4096);
    CHILD_CHECK(append_setdata(lw, 4) == 0);
    CHILD_CHECK(txnlog_commit(lw, true) == -EFBIG);
    CHILD_CHECK(file_size(p4) == -1);
    set_fsize_limit(saved);
    CHILD_CHECK(append_setdata(lw, 4) == 0);
    CHILD_CHECK(txnlog_commit(lw, true) == 0);
    CHILD_CHECK(file_size(p4) == 16 + 8192);
    /* A failure cuts the partial record; under RLIMIT_FSIZE the hole that would restore the
     * preallocated size cannot be made either, so the file may end at the last record. */
    set_fsize_limit((rlim_t)(16 + rec[4] + rec[5] / 2));
    CHILD_CHECK(append_setdata(lw, 5) == 0);
    CHILD_CHECK(txnlog_commit(lw, true) == -EFBIG);
    set_fsize_limit(saved);
    CHILD_CHECK(file_size(p4) == 16 + rec[4] || file_size(p4) == 16 + 8192);
    {
        size_t len;
        uint8_t *bytes = read_all(p4, &len);
        CHILD_CHECK(nonzero_end(bytes, (size_t)(16 + rec[4]), len) == (size_t)(16 + rec[4]));
        free(bytes);
    }
    CHILD_CHECK(append_setdata(lw, 5) == 0);
    CHILD_CHECK(append_setdata(lw, 6) == 0);
    CHILD_CHECK(txnlog_commit(lw, true) == 0);
    txnlog_writer_close(lw);

    struct txnlog_replay_stats st;
    int64_t last = 0;
    CHILD_CHECK(txnlog_replay(dir, 0, true, count_cb, &last, &st, err, sizeof err) == 0);
    CHILD_CHECK(last == 6);
    CHILD_CHECK(st.truncated_bytes == 0);
    CHILD_CHECK(st.truncated_file[0] == '\0');
    CHILD_CHECK(count_files(dir) == 3);
    _exit(0);
}

static void a_failed_commit_leaves_no_partial_record(void **state)
{
    struct fixture *fx = *state;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        log_set_level(CORRAL_LOG_ERROR);
        full_disk_child(fx->dir);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(adler32_is_zlibs),
        cmocka_unit_test(a15_session_entry_matches_zookeeper),
        cmocka_unit_test(a15_create_entry_matches_zookeeper),
        cmocka_unit_test_setup_teardown(a15_file_replays_and_the_writer_matches_it, setup,
                                        teardown),
        cmocka_unit_test(every_txn_type_round_trips),
        cmocka_unit_test(multi_round_trips_and_writes_sub_create2_as_create),
        cmocka_unit_test(close_session_without_body_decodes),
        cmocka_unit_test(decode_refuses_bad_entries),
        cmocka_unit_test_setup_teardown(writer_rolls_and_replay_reads_every_file, setup, teardown),
        cmocka_unit_test_setup_teardown(a_roll_before_the_commit_writes_both_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(preallocation_keeps_files_at_16_plus_k_times_p, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_existing_file_of_the_same_name_is_overwritten, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(file_names_parse_like_zookeeper, setup, teardown),
        cmocka_unit_test_setup_teardown(a_failing_callback_stops_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(torn_tails_are_cut_at_every_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(the_cut_is_logged_and_repair_false_leaves_the_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(corruption_in_an_older_file_fails_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(zookeepers_torn_older_file_followed_by_its_rewrite_replays,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_newest_file_without_header_is_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(a_header_only_file_is_fine, setup, teardown),
        cmocka_unit_test_setup_teardown(a_new_log_file_has_its_header_when_it_appears, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_failed_append_drops_the_uncommitted_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_failed_commit_leaves_no_partial_record, setup, teardown),
    };
    return cmocka_run_group_tests_name("txnlog", tests, NULL, NULL);
}
