/* corral-bench: a load generator for ZooKeeper-protocol servers (corral or ZooKeeper 3.8) that
 * checks every reply (client-protocol.md §1-§4). One thread, one libevent loop, N sessions with
 * W requests in flight each.
 *
 * Checking: the tool keeps a model of every key (exists? content generation? version?) and
 * derives each request's expected reply when it sends it. That is exact because a session's
 * requests are applied in order and, when the mix writes, every key has one writer: session s
 * owns the keys i with i % N == s. Keys start as "assumed to exist with -d bytes of unknown
 * content"; --prepare (or this run's first write) makes their content and version known. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "jute.h"
#include "proto.h"
#include "zkerr.h"

#define BENCH_USAGE 2
#define MAX_FRAME_BYTES (64 << 20) /* replies: a client may read more than jute.maxbuffer */
#define PREPARE_BATCH_BYTES (256 << 10)
#define PREPARE_BATCH_MAX 1000
#define TICK_MS 100
#define PING_XID (-2)
#define PERMS_ALL 31

enum bench_op {
    OP_CREATE,
    OP_SET,
    OP_GET,
    OP_EXISTS,
    OP_CHILDREN,
    OP_DELETE,
    OP_MULTI,
    OP_MIX_COUNT,
    /* not in the mix: the prepare phase and the goodbye */
    OP_PARENT = OP_MIX_COUNT,
    OP_PREP_BATCH,
    OP_PREP_CREATE,
    OP_PREP_SET,
    OP_CLOSE,
};

static const char *const op_names[] = {
    [OP_CREATE] = "create",
    [OP_SET] = "set",
    [OP_GET] = "get",
    [OP_EXISTS] = "exists",
    [OP_CHILDREN] = "children",
    [OP_DELETE] = "delete",
    [OP_MULTI] = "multi",
    [OP_PARENT] = "create-parent",
    [OP_PREP_BATCH] = "prepare-multi",
    [OP_PREP_CREATE] = "prepare-create",
    [OP_PREP_SET] = "prepare-set",
    [OP_CLOSE] = "closeSession",
};

/* Latency histogram, log-linear as in HdrHistogram: values below 2^HIST_SUB_BITS us get a
 * bucket each, and every power of two above is split into 2^HIST_SUB_BITS equal buckets, so a
 * reported percentile (the bucket's upper bound) is at most 1/64 above the true value; up to
 * 2^HIST_MAX_BITS us (~13 days), fixed memory, O(1) record. */
#define HIST_SUB_BITS 6
#define HIST_MAX_BITS 40
#define HIST_BUCKETS ((HIST_MAX_BITS - HIST_SUB_BITS + 1) << HIST_SUB_BITS)

struct hist {
    uint64_t bucket[HIST_BUCKETS];
    uint64_t count, errors, max_us;
};

enum key_flags {
    KEY_PRESENT = 1,
    KEY_CONTENT_KNOWN = 2, /* data is data_fill(key, gen) */
    KEY_ASSUMED = 4,       /* existence assumed, not established by this run */
};

struct key_state {
    uint32_t gen;
    int32_t version; /* -1 when unknown */
    uint8_t flags;
};

/* One request in flight, with what its reply must say. */
struct pending {
    int32_t xid;
    uint8_t op;
    uint8_t flags;   /* the key's flags when sent (for a read or a write: before the write) */
    uint32_t key;    /* OP_PREP_BATCH: the first key */
    uint32_t nkeys;  /* OP_PREP_BATCH */
    uint32_t gen;    /* content generation written, or expected from a read */
    int32_t version; /* the version the reply's stat must carry, -1 when unknown */
    uint64_t sent_ns;
};

struct prep_todo {
    uint32_t key;
    uint8_t op; /* OP_PREP_CREATE or OP_PREP_SET */
};

struct session {
    struct bench *b;
    int index;
    struct bufferevent *bev;
    enum { SESS_CONNECTING, SESS_HANDSHAKE, SESS_READY, SESS_CLOSING, SESS_CLOSED } state;
    int64_t id;
    int32_t timeout_ms;
    int32_t next_xid;
    int64_t last_zxid;
    uint64_t state_since_ns, last_send_ns;
    struct pending *fifo; /* ring of b->window + 1 */
    unsigned head, count;
    struct prep_todo *todo; /* prepare: single-key requests after a failed batch */
    size_t ntodo, todo_cap;
    struct jute_writer w;
    uint64_t rng;
};

struct bench {
    /* options */
    const char *target;
    struct addrinfo *addr;
    int nsessions, window, data_bytes, timeout_ms, batch;
    uint32_t weights[OP_MIX_COUNT], weight_sum, nkeys;
    uint64_t count;
    double duration_s;
    bool prepare, quiet, writes, partitioned;
    bool seq, absent;  /* --seq, --absent */
    int probe_ms;      /* --probe: 0 = a normal run */
    bool probe_write;  /* --probe-write */
    uint64_t since_ns; /* --since-ns: CLOCK_REALTIME origin of the probe's clock */
    /* state */
    enum { PH_CONNECT, PH_PARENT, PH_PREPARE, PH_RUN, PH_CLOSE } phase;
    struct event_base *base;
    struct event *tick;
    struct session *sessions;
    struct key_state *keys;
    uint8_t *scratch; /* data_bytes */
    uint32_t gen;
    int ready, closed;
    uint64_t start_ns, run_start_ns, run_end_ns, deadline_ns, last_progress_ns;
    uint64_t issued, done, done_at_progress;
    uint32_t prep_cursor, prep_created, prep_updated;
    uint32_t seq_next;                /* --seq: the next key of the run */
    struct rusage ru_start, ru_end;   /* this process's CPU time over the run */
    struct hist hist[OP_MIX_COUNT + 1]; /* the last is the total */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s) /* xorshift64* */
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("corral-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static const char *err_name(int32_t err)
{
    static const struct {
        int32_t err;
        const char *name;
    } names[] = {
        {ZK_OK, "OK"},
        {ZK_RUNTIMEINCONSISTENCY, "RUNTIMEINCONSISTENCY"},
        {ZK_MARSHALLINGERROR, "MARSHALLINGERROR"},
        {ZK_UNIMPLEMENTED, "UNIMPLEMENTED"},
        {ZK_BADARGUMENTS, "BADARGUMENTS"},
        {ZK_NONODE, "NONODE"},
        {ZK_NOAUTH, "NOAUTH"},
        {ZK_BADVERSION, "BADVERSION"},
        {ZK_NODEEXISTS, "NODEEXISTS"},
        {ZK_NOTEMPTY, "NOTEMPTY"},
        {ZK_SESSIONEXPIRED, "SESSIONEXPIRED"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].err == err)
            return names[i].name;
    return "an unexpected code";
}

/* ------------------------------------------------------------------ histogram */

static unsigned hist_index(uint64_t us)
{
    if (us < (1u << HIST_SUB_BITS))
        return (unsigned)us;
    unsigned msb = 63u - (unsigned)__builtin_clzll(us);
    if (msb >= HIST_MAX_BITS)
        return HIST_BUCKETS - 1;
    unsigned shift = msb - HIST_SUB_BITS;
    return ((shift + 1) << HIST_SUB_BITS) + (unsigned)((us >> shift) - (1u << HIST_SUB_BITS));
}

static uint64_t hist_upper(unsigned i)
{
    if (i < (1u << HIST_SUB_BITS))
        return i;
    unsigned shift = (i >> HIST_SUB_BITS) - 1, sub = i & ((1u << HIST_SUB_BITS) - 1);
    return (((uint64_t)(1u << HIST_SUB_BITS) + sub + 1) << shift) - 1;
}

static void hist_record(struct hist *h, uint64_t us, bool is_error)
{
    h->bucket[hist_index(us)]++;
    h->count++;
    h->errors += is_error;
    if (us > h->max_us)
        h->max_us = us;
}

static uint64_t hist_percentile(const struct hist *h, double pct)
{
    uint64_t rank = (uint64_t)((double)h->count * pct / 100.0 + 0.999999), seen = 0;
    if (rank == 0)
        rank = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank)
            return hist_upper(i) < h->max_us ? hist_upper(i) : h->max_us;
    }
    return h->max_us;
}

static void hist_print(const struct hist *h, const char *name, double seconds)
{
    printf("op=%s count=%" PRIu64 " errors=%" PRIu64 " ops_per_s=%.1f p50_us=%" PRIu64
           " p99_us=%" PRIu64 " p999_us=%" PRIu64 " max_us=%" PRIu64 "\n",
           name, h->count, h->errors, seconds > 0 ? (double)h->count / seconds : 0.0,
           hist_percentile(h, 50), hist_percentile(h, 99), hist_percentile(h, 99.9), h->max_us);
}

/* ------------------------------------------------------------------ encoding */

static uint32_t key_base; /* --key-base: key i is /bench/k<key_base + i> */

static int key_path(char *buf, size_t len, uint32_t key)
{
    return snprintf(buf, len, "/bench/k%" PRIu32, key_base + key);
}

/* What a request is about, for messages. */
static const char *pending_path(const struct pending *p, char *buf, size_t len)
{
    if (p->op == OP_PARENT)
        return "/bench";
    if (p->op == OP_CLOSE)
        return "(session)";
    int n = key_path(buf, len, p->key);
    if (p->op == OP_PREP_BATCH && n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, "..k%" PRIu32, key_base + p->key + p->nkeys - 1);
    return buf;
}

/* Every write of a key stores distinct bytes, so a read can tell which write it sees. */
static void data_fill(uint8_t *buf, size_t len, uint32_t key, uint32_t gen)
{
    char head[32];
    size_t n = (size_t)snprintf(head, sizeof head, "k%" PRIu32 ".g%" PRIu32 ".", key, gen);
    for (size_t i = 0; i < len; i++)
        buf[i] = i < n ? (uint8_t)head[i] : (uint8_t)('a' + (key + gen + i) % 26);
}

static void put_path(struct jute_writer *w, uint32_t key)
{
    char path[32];
    jute_write_ustring_len(w, path, (size_t)key_path(path, sizeof path, key));
}

static void put_data(struct bench *b, struct jute_writer *w, uint32_t key, uint32_t gen)
{
    data_fill(b->scratch, (size_t)b->data_bytes, key, gen);
    jute_write_buffer(w, b->scratch, b->data_bytes);
}

/* The tail of a CreateRequest: ACL world:anyone with all permissions, a persistent node. */
static void put_open_persistent(struct jute_writer *w)
{
    jute_write_int(w, 1);
    jute_write_int(w, PERMS_ALL);
    jute_write_ustring(w, "world");
    jute_write_ustring(w, "anyone");
    jute_write_int(w, 0);
}

static void put_create(struct bench *b, struct jute_writer *w, uint32_t key, uint32_t gen)
{
    put_path(w, key);
    put_data(b, w, key, gen);
    put_open_persistent(w);
}

static void put_set(struct bench *b, struct jute_writer *w, uint32_t key, uint32_t gen)
{
    put_path(w, key);
    put_data(b, w, key, gen);
    jute_write_int(w, -1);
}

static void put_multi_header(struct jute_writer *w, int32_t type, bool done)
{
    proto_write_multi_header(w, &(struct multi_header){.type = type, .done = done, .err = -1});
}

/* Sends one frame: RequestHeader{xid, type} plus whatever `body` wrote. */
static void session_send(struct session *s, int32_t xid, int32_t type,
                         void (*body)(struct session *, const struct pending *),
                         const struct pending *p)
{
    struct jute_writer *w = &s->w;
    jute_writer_reset(w);
    size_t frame = jute_frame_begin(w);
    jute_write_int(w, xid);
    jute_write_int(w, type);
    if (body != NULL)
        body(s, p);
    jute_frame_end(w, frame);
    if (w->failed)
        die("out of memory encoding a request");
    if (bufferevent_write(s->bev, w->buf, w->len) != 0)
        die("session %d: cannot queue %zu bytes", s->index, w->len);
    s->last_send_ns = now_ns();
}

static void body_for(struct session *s, const struct pending *p)
{
    struct bench *b = s->b;
    struct jute_writer *w = &s->w;
    switch (p->op) {
    case OP_CREATE:
    case OP_PREP_CREATE:
        put_create(b, w, p->key, p->gen);
        break;
    case OP_SET:
    case OP_PREP_SET:
        put_set(b, w, p->key, p->gen);
        break;
    case OP_GET:
    case OP_EXISTS:
    case OP_CHILDREN:
        put_path(w, p->key);
        jute_write_bool(w, false);
        break;
    case OP_DELETE:
        put_path(w, p->key);
        jute_write_int(w, -1);
        break;
    case OP_MULTI: /* check the version, then set: the optimistic-concurrency write */
        put_multi_header(w, ZK_OP_CHECK, false);
        put_path(w, p->key);
        jute_write_int(w, p->version >= 0 ? p->version - 1 : -1);
        put_multi_header(w, ZK_OP_SETDATA, false);
        put_set(b, w, p->key, p->gen);
        put_multi_header(w, -1, true);
        break;
    case OP_PREP_BATCH:
        for (uint32_t i = 0; i < p->nkeys; i++) {
            put_multi_header(w, ZK_OP_CREATE, false);
            put_create(b, w, p->key + i, p->gen + i);
        }
        put_multi_header(w, -1, true);
        break;
    case OP_PARENT:
        jute_write_ustring(w, "/bench");
        jute_write_buffer(w, NULL, -1);
        put_open_persistent(w);
        break;
    default:
        break;
    }
}

static const int32_t op_codes[] = {
    [OP_CREATE] = ZK_OP_CREATE,        [OP_SET] = ZK_OP_SETDATA,
    [OP_GET] = ZK_OP_GETDATA,          [OP_EXISTS] = ZK_OP_EXISTS,
    [OP_CHILDREN] = ZK_OP_GETCHILDREN, [OP_DELETE] = ZK_OP_DELETE,
    [OP_MULTI] = ZK_OP_MULTI,          [OP_PARENT] = ZK_OP_CREATE,
    [OP_PREP_BATCH] = ZK_OP_MULTI,     [OP_PREP_CREATE] = ZK_OP_CREATE,
    [OP_PREP_SET] = ZK_OP_SETDATA,     [OP_CLOSE] = ZK_OP_CLOSESESSION,
};

/* Queues a request and sends it; p carries everything but xid and time. */
static void session_issue(struct session *s, struct pending p)
{
    p.xid = s->next_xid++;
    if (s->next_xid <= 0)
        s->next_xid = 1;
    session_send(s, p.xid, op_codes[p.op], body_for, &p);
    p.sent_ns = s->last_send_ns;
    s->fifo[(s->head + s->count) % (unsigned)(s->b->window + 1)] = p;
    s->count++;
}

/* ------------------------------------------------------------------ the model */

static uint32_t pick_key(struct session *s)
{
    struct bench *b = s->b;
    if (b->seq) /* run_more() stops the run before the cursor passes the last key */
        return b->seq_next++;
    uint64_t r = rng_next(&s->rng);
    if (!b->partitioned)
        return (uint32_t)(r % b->nkeys);
    uint32_t owned =
        (b->nkeys - (uint32_t)s->index + (uint32_t)b->nsessions - 1) / (uint32_t)b->nsessions;
    return (uint32_t)s->index + (uint32_t)(r % owned) * (uint32_t)b->nsessions;
}

static enum bench_op pick_op(struct session *s)
{
    struct bench *b = s->b;
    uint32_t r = (uint32_t)(rng_next(&s->rng) % b->weight_sum);
    int op = 0;
    while (r >= b->weights[op])
        r -= b->weights[op++];
    return (enum bench_op)op;
}

/* Builds a run-phase request and applies it to the model, in send order. */
static struct pending model_next(struct session *s)
{
    struct bench *b = s->b;
    enum bench_op op = pick_op(s);
    uint32_t key = pick_key(s);
    struct key_state *k = &b->keys[key];
    struct pending p = {
        .op = (uint8_t)op, .key = key, .flags = k->flags, .gen = k->gen, .version = k->version};
    bool present = k->flags & KEY_PRESENT;
    switch (op) {
    case OP_CREATE:
        if (!present) {
            k->gen = p.gen = ++b->gen;
            k->version = p.version = 0;
            k->flags = KEY_PRESENT | KEY_CONTENT_KNOWN;
        }
        break;
    case OP_SET:
    case OP_MULTI:
        p.gen = ++b->gen;
        if (present) {
            k->gen = p.gen;
            if (k->version >= 0)
                k->version = ++p.version;
            k->flags |= KEY_CONTENT_KNOWN;
        }
        break;
    case OP_DELETE:
        if (present) {
            k->flags = 0;
            k->version = -1;
        }
        break;
    default:
        break;
    }
    return p;
}

/* ------------------------------------------------------------------ checking replies */

struct reply {
    struct session *s;
    const struct pending *p;
    int32_t err;
    struct jute_reader *r;
};

static void mismatch(const struct reply *rp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void mismatch(const struct reply *rp, const char *fmt, ...)
{
    char path[48], what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    die("session %d (0x%" PRIx64 "): %s %s xid %" PRId32 ": %s%s", rp->s->index, rp->s->id,
        op_names[rp->p->op], pending_path(rp->p, path, sizeof path), rp->p->xid, what,
        rp->p->flags & KEY_ASSUMED ? " (the key's state was assumed, not established by this "
                                     "run: use --prepare)"
                                   : "");
}

static void expect_err(const struct reply *rp, int32_t want)
{
    if (rp->err != want)
        mismatch(rp, "expected %s (%" PRId32 "), got %s (%" PRId32 ")", err_name(want), want,
                 err_name(rp->err), rp->err);
}

static void read_stat(struct jute_reader *r, struct zk_stat *st)
{
    st->czxid = jute_read_long(r);
    st->mzxid = jute_read_long(r);
    st->ctime = jute_read_long(r);
    st->mtime = jute_read_long(r);
    st->version = jute_read_int(r);
    st->cversion = jute_read_int(r);
    st->aversion = jute_read_int(r);
    st->ephemeral_owner = jute_read_long(r);
    st->data_length = jute_read_int(r);
    st->num_children = jute_read_int(r);
    st->pzxid = jute_read_long(r);
}

static void check_truncated(const struct reply *rp, const char *record)
{
    if (rp->r->failed)
        mismatch(rp, "truncated or malformed %s", record);
}

/* A stat of one of our keys: dataLength is -d, the version the model predicts. */
static void check_stat(const struct reply *rp, int32_t version)
{
    struct zk_stat st;
    read_stat(rp->r, &st);
    check_truncated(rp, "Stat");
    if (st.data_length != rp->s->b->data_bytes)
        mismatch(rp, "expected dataLength %d, got %" PRId32, rp->s->b->data_bytes, st.data_length);
    if (version >= 0 && st.version != version)
        mismatch(rp, "expected version %" PRId32 ", got %" PRId32, version, st.version);
}

static void check_get(const struct reply *rp)
{
    struct bench *b = rp->s->b;
    const uint8_t *data;
    int32_t len = jute_read_buffer(rp->r, &data);
    check_truncated(rp, "GetDataResponse");
    if (len != b->data_bytes)
        mismatch(rp, "expected %d data bytes, got %" PRId32, b->data_bytes, len);
    if (rp->p->flags & KEY_CONTENT_KNOWN) {
        data_fill(b->scratch, (size_t)len, rp->p->key, rp->p->gen);
        if (memcmp(data, b->scratch, (size_t)len) != 0)
            mismatch(rp,
                     "data differs from the last write (expected \"%.*s...\", got "
                     "\"%.*s...\")",
                     len < 24 ? (int)len : 24, (const char *)b->scratch, len < 24 ? (int)len : 24,
                     (const char *)data);
    }
    check_stat(rp, rp->p->version);
}

static void check_multi_result(const struct reply *rp, int32_t type, int32_t err)
{
    struct multi_header mh;
    if (proto_read_multi_header(rp->r, &mh) != 0)
        mismatch(rp, "truncated MultiResponse");
    if (mh.type != type || mh.err != err || mh.done != (type == -1 && err == -1))
        mismatch(rp,
                 "expected result {type %" PRId32 ", err %s}, got {type %" PRId32
                 ", done %d, err %s (%" PRId32 ")}",
                 type, err_name(err), mh.type, mh.done, err_name(mh.err), mh.err);
    if (type == -1 && err != -1 && jute_read_int(rp->r) != err)
        mismatch(rp, "ErrorResponse differs from its header's err %" PRId32, err);
}

/* The prepare phase learns the keys' state from the replies. */
static void prep_push(struct session *s, uint32_t key, uint8_t op)
{
    if (s->ntodo == s->todo_cap) {
        s->todo_cap = s->todo_cap ? s->todo_cap * 2 : 1024;
        s->todo = realloc(s->todo, s->todo_cap * sizeof *s->todo);
        if (s->todo == NULL)
            die("out of memory");
    }
    s->todo[s->ntodo++] = (struct prep_todo){key, op};
}

static void check_prepare(const struct reply *rp)
{
    struct session *s = rp->s;
    const struct pending *p = rp->p;
    struct key_state *keys = s->b->keys;
    switch (p->op) {
    case OP_PARENT:
        if (rp->err != ZK_NODEEXISTS)
            expect_err(rp, ZK_OK);
        break;
    case OP_PREP_BATCH: {
        expect_err(rp, ZK_OK);
        struct multi_header mh;
        if (proto_read_multi_header(rp->r, &mh) != 0)
            mismatch(rp, "truncated MultiResponse");
        if (mh.type == -1) { /* some key exists already: do the batch one key at a time */
            for (uint32_t i = 0; i < p->nkeys; i++)
                prep_push(s, p->key + p->nkeys - 1 - i, OP_PREP_CREATE);
            break;
        }
        for (uint32_t i = 0; i < p->nkeys; i++) {
            if (i > 0 && proto_read_multi_header(rp->r, &mh) != 0)
                mismatch(rp, "truncated MultiResponse");
            if (mh.type != ZK_OP_CREATE || mh.err != 0)
                mismatch(rp,
                         "result %" PRIu32 ": expected create OK, got {type %" PRId32
                         ", err %" PRId32 "}",
                         i, mh.type, mh.err);
            keys[p->key + i] = (struct key_state){p->gen + i, 0, KEY_PRESENT | KEY_CONTENT_KNOWN};
            jute_read_ustring(rp->r, NULL, NULL);
        }
        s->b->prep_created += p->nkeys;
        break;
    }
    case OP_PREP_CREATE:
        if (rp->err == ZK_NODEEXISTS) {
            prep_push(s, p->key, OP_PREP_SET);
            break;
        }
        expect_err(rp, ZK_OK);
        keys[p->key] = (struct key_state){p->gen, 0, KEY_PRESENT | KEY_CONTENT_KNOWN};
        s->b->prep_created++;
        break;
    case OP_PREP_SET: {
        expect_err(rp, ZK_OK);
        struct zk_stat st;
        read_stat(rp->r, &st);
        check_truncated(rp, "SetDataResponse");
        keys[p->key] = (struct key_state){p->gen, st.version, KEY_PRESENT | KEY_CONTENT_KNOWN};
        s->b->prep_updated++;
        break;
    }
    default:
        break;
    }
}

/* Returns the reply's err as the benchmark counts it: a multi whose transaction failed
 * counts as an error even though its header says OK. */
static int32_t check_run(const struct reply *rp)
{
    const struct pending *p = rp->p;
    bool present = p->flags & KEY_PRESENT;
    int32_t want = present ? ZK_OK : ZK_NONODE;
    switch (p->op) {
    case OP_CREATE:
        expect_err(rp, present ? ZK_NODEEXISTS : ZK_OK);
        if (rp->err == ZK_OK) {
            char path[32];
            key_path(path, sizeof path, p->key);
            const char *got = jute_read_ustring(rp->r, NULL, NULL);
            check_truncated(rp, "CreateResponse");
            if (got == NULL || strcmp(got, path) != 0)
                mismatch(rp, "CreateResponse path is \"%s\"", got ? got : "(null)");
        }
        return rp->err;
    case OP_SET:
    case OP_EXISTS:
        expect_err(rp, want);
        if (rp->err == ZK_OK)
            check_stat(rp, p->version);
        return rp->err;
    case OP_GET:
        expect_err(rp, want);
        if (rp->err == ZK_OK)
            check_get(rp);
        return rp->err;
    case OP_CHILDREN:
        expect_err(rp, want);
        if (rp->err == ZK_OK) {
            int32_t n = jute_read_int(rp->r);
            check_truncated(rp, "GetChildrenResponse");
            if (n != 0)
                mismatch(rp, "expected no children, got %" PRId32, n);
        }
        return rp->err;
    case OP_DELETE:
        expect_err(rp, want);
        return rp->err;
    case OP_MULTI:
        expect_err(rp, ZK_OK);
        if (present) {
            check_multi_result(rp, ZK_OP_CHECK, 0);
            check_multi_result(rp, ZK_OP_SETDATA, 0);
            check_stat(rp, p->version);
        } else {
            check_multi_result(rp, -1, ZK_NONODE);
            check_multi_result(rp, -1, ZK_RUNTIMEINCONSISTENCY);
        }
        check_multi_result(rp, -1, -1);
        return present ? ZK_OK : ZK_NONODE;
    default:
        return rp->err;
    }
}

/* ------------------------------------------------------------------ phases */

static void bench_start_run(struct bench *b);
static void bench_close_all(struct bench *b);

static bool prep_take(struct session *s, struct pending *p)
{
    struct bench *b = s->b;
    if (s->ntodo > 0) {
        struct prep_todo t = s->todo[--s->ntodo];
        *p = (struct pending){.op = t.op, .key = t.key, .gen = ++b->gen};
        return true;
    }
    if (b->prep_cursor >= b->nkeys)
        return false;
    uint32_t n = b->nkeys - b->prep_cursor;
    if (n > (uint32_t)b->batch)
        n = (uint32_t)b->batch;
    *p =
        (struct pending){.op = OP_PREP_BATCH, .key = b->prep_cursor, .nkeys = n, .gen = b->gen + 1};
    b->gen += n;
    b->prep_cursor += n;
    return true;
}

static bool run_more(struct bench *b)
{
    if (b->seq && b->seq_next >= b->nkeys)
        return false;
    if (b->duration_s > 0)
        return now_ns() < b->deadline_ns;
    return b->issued < b->count;
}

/* Fills the session's window with the current phase's work. */
static void session_pump(struct session *s)
{
    struct bench *b = s->b;
    struct pending p;
    if (s->state != SESS_READY)
        return;
    while (s->count < (unsigned)b->window) {
        if (b->phase == PH_PREPARE && prep_take(s, &p)) {
            session_issue(s, p);
        } else if (b->phase == PH_RUN && run_more(b)) {
            session_issue(s, model_next(s));
            b->issued++;
        } else {
            break;
        }
    }
}

static bool all_idle(struct bench *b)
{
    for (int i = 0; i < b->nsessions; i++)
        if (b->sessions[i].count > 0 || b->sessions[i].ntodo > 0)
            return false;
    return true;
}

/* /bench must exist before anything is created under it: one session creates it first. */
static void bench_all_ready(struct bench *b)
{
    if (b->prepare || b->writes) {
        b->phase = PH_PARENT;
        session_issue(&b->sessions[0], (struct pending){.op = OP_PARENT});
    } else {
        bench_start_run(b);
    }
}

static void bench_prepare_done(struct bench *b)
{
    if (!b->quiet)
        fprintf(stderr,
                "corral-bench: prepared %" PRIu32 " keys (%" PRIu32 " created, %" PRIu32
                " overwritten) in %.1f s\n",
                b->nkeys, b->prep_created, b->prep_updated, (double)(now_ns() - b->start_ns) / 1e9);
    if (b->count == 0 && b->duration_s <= 0) { /* -n 0: prepare only */
        b->run_start_ns = now_ns();
        bench_close_all(b);
    } else {
        bench_start_run(b);
    }
}

static void bench_start_prepare(struct bench *b)
{
    b->phase = PH_PREPARE;
    for (int i = 0; i < b->nsessions; i++)
        session_pump(&b->sessions[i]);
    if (all_idle(b))
        bench_prepare_done(b);
}

static void bench_start_run(struct bench *b)
{
    b->phase = PH_RUN;
    getrusage(RUSAGE_SELF, &b->ru_start);
    b->run_start_ns = b->last_progress_ns = now_ns();
    b->deadline_ns = b->run_start_ns + (uint64_t)(b->duration_s * 1e9);
    for (int i = 0; i < b->nsessions; i++)
        session_pump(&b->sessions[i]);
    if (all_idle(b))
        bench_close_all(b);
}

static void bench_close_all(struct bench *b)
{
    b->run_end_ns = now_ns();
    getrusage(RUSAGE_SELF, &b->ru_end);
    b->phase = PH_CLOSE;
    for (int i = 0; i < b->nsessions; i++) {
        struct session *s = &b->sessions[i];
        session_issue(s, (struct pending){.op = OP_CLOSE});
        s->state = SESS_CLOSING;
        s->state_since_ns = now_ns();
    }
}

static void session_closed(struct session *s)
{
    if (s->bev != NULL)
        bufferevent_free(s->bev);
    s->bev = NULL;
    s->state = SESS_CLOSED;
    if (++s->b->closed == s->b->nsessions)
        event_base_loopbreak(s->b->base);
}

/* After a reply: keep the window full, or move to the next phase when all work is done. */
static void bench_after_reply(struct session *s)
{
    struct bench *b = s->b;
    session_pump(s);
    switch (b->phase) {
    case PH_PARENT:
        if (!all_idle(b))
            break;
        if (b->prepare)
            bench_start_prepare(b);
        else
            bench_start_run(b);
        break;
    case PH_PREPARE:
        if (b->prep_cursor >= b->nkeys && all_idle(b))
            bench_prepare_done(b);
        break;
    case PH_RUN:
        if (!run_more(b) && all_idle(b))
            bench_close_all(b);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------ frames */

static void session_on_connect_response(struct session *s, struct jute_reader *r)
{
    jute_read_int(r); /* protocolVersion */
    int32_t timeout_ms = jute_read_int(r);
    int64_t id = jute_read_long(r);
    int32_t passwd_len = jute_read_buffer(r, NULL);
    if (r->failed || passwd_len != ZK_PASSWD_BYTES)
        die("session %d: malformed ConnectResponse from %s", s->index, s->b->target);
    if (timeout_ms <= 0)
        die("session %d: %s refused the session (timeOut %" PRId32 ")", s->index, s->b->target,
            timeout_ms);
    s->id = id;
    s->timeout_ms = timeout_ms;
    s->state = SESS_READY;
    if (++s->b->ready == s->b->nsessions)
        bench_all_ready(s->b);
}

static void session_on_reply(struct session *s, struct jute_reader *r)
{
    struct bench *b = s->b;
    int32_t xid = jute_read_int(r);
    int64_t zxid = jute_read_long(r);
    int32_t err = jute_read_int(r);
    if (r->failed)
        die("session %d: reply shorter than a ReplyHeader", s->index);
    if (xid == PING_XID || xid == -1) /* ping reply, or a notification (we set no watches) */
        return;
    if (s->count == 0)
        die("session %d (0x%" PRIx64 "): reply with xid %" PRId32 " (err %" PRId32
            ") but no request is outstanding",
            s->index, s->id, xid, err);
    struct pending *p = &s->fifo[s->head];
    struct reply rp = {s, p, err, r};
    if (xid != p->xid)
        mismatch(&rp, "reply out of order: got xid %" PRId32, xid);
    if (zxid < s->last_zxid && zxid > 0)
        mismatch(&rp, "zxid went backwards: 0x%" PRIx64 " after 0x%" PRIx64, zxid, s->last_zxid);
    if (zxid > s->last_zxid)
        s->last_zxid = zxid;
    uint64_t us = (now_ns() - p->sent_ns) / 1000;
    s->head = (s->head + 1) % (unsigned)(b->window + 1);
    s->count--;
    if (p->op == OP_CLOSE) {
        expect_err(&rp, ZK_OK);
        session_closed(s);
        return;
    }
    if (p->op < OP_MIX_COUNT) {
        bool is_error = check_run(&rp) != ZK_OK;
        hist_record(&b->hist[p->op], us, is_error);
        hist_record(&b->hist[OP_MIX_COUNT], us, is_error);
        b->done++;
    } else {
        check_prepare(&rp);
    }
    bench_after_reply(s);
}

static void session_read_cb(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        uint8_t len_be[4];
        if (evbuffer_copyout(in, len_be, 4) < 4)
            return;
        int32_t len = (int32_t)jute_get_be32(len_be);
        if (len < 0 || len > MAX_FRAME_BYTES)
            die("session %d: frame of %" PRId32 " bytes from %s", s->index, len, s->b->target);
        if (evbuffer_get_length(in) < 4 + (size_t)len)
            return;
        uint8_t *frame = evbuffer_pullup(in, 4 + (ev_ssize_t)len);
        struct jute_reader r;
        jute_reader_init(&r, frame + 4, (size_t)len, MAX_FRAME_BYTES);
        if (s->state == SESS_HANDSHAKE)
            session_on_connect_response(s, &r);
        else
            session_on_reply(s, &r);
        if (s->state == SESS_CLOSED)
            return; /* the bufferevent is gone */
        evbuffer_drain(in, 4 + (size_t)len);
    }
}

/* A framed ConnectRequest for a new session. */
static void put_connect_request(struct jute_writer *w, int timeout_ms)
{
    static const uint8_t zero_passwd[ZK_PASSWD_BYTES];
    size_t frame = jute_frame_begin(w);
    jute_write_int(w, 0);  /* protocolVersion */
    jute_write_long(w, 0); /* lastZxidSeen */
    jute_write_int(w, timeout_ms);
    jute_write_long(w, 0); /* sessionId: a new session */
    jute_write_buffer(w, zero_passwd, ZK_PASSWD_BYTES);
    jute_write_bool(w, false); /* readOnly */
    jute_frame_end(w, frame);
}

static void session_send_connect(struct session *s)
{
    struct jute_writer *w = &s->w;
    jute_writer_reset(w);
    put_connect_request(w, s->b->timeout_ms);
    if (w->failed || bufferevent_write(s->bev, w->buf, w->len) != 0)
        die("session %d: cannot queue the ConnectRequest", s->index);
    s->last_send_ns = now_ns();
}

static void session_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct session *s = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        s->state = SESS_HANDSHAKE;
        s->state_since_ns = now_ns();
        session_send_connect(s);
        return;
    }
    if (s->state == SESS_CLOSING) { /* the server may close before we read the reply */
        session_closed(s);
        return;
    }
    int err = EVUTIL_SOCKET_ERROR();
    const char *why = (what & BEV_EVENT_EOF) ? "connection closed by the server"
                                             : evutil_socket_error_to_string(err);
    if (s->state == SESS_CONNECTING)
        die("session %d: connect to %s: %s", s->index, s->b->target, why);
    if (s->state == SESS_HANDSHAKE)
        die("session %d: %s: %s during the handshake", s->index, s->b->target, why);
    if (s->count > 0) {
        char path[48];
        die("session %d (0x%" PRIx64 "): %s: %s with %u requests outstanding (oldest: %s %s "
            "xid %" PRId32 ")",
            s->index, s->id, s->b->target, why, s->count, op_names[s->fifo[s->head].op],
            pending_path(&s->fifo[s->head], path, sizeof path), s->fifo[s->head].xid);
    }
    die("session %d (0x%" PRIx64 "): %s: %s", s->index, s->id, s->b->target, why);
}

/* Every TICK_MS: pings for idle sessions, deadlines, and a progress line every second. */
static void bench_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct bench *b = arg;
    uint64_t now = now_ns(), limit_ns = (uint64_t)b->timeout_ms * 1000000u;
    for (int i = 0; i < b->nsessions; i++) {
        struct session *s = &b->sessions[i];
        if (s->state == SESS_CLOSED)
            continue;
        if (s->state != SESS_READY && s->state != SESS_CLOSING) {
            if (now - s->state_since_ns > limit_ns)
                die("session %d: %s: no session after %d ms (server not serving?)", s->index,
                    b->target, b->timeout_ms);
            continue;
        }
        if (s->count > 0 && now - s->fifo[s->head].sent_ns > limit_ns) {
            char path[48];
            die("session %d (0x%" PRIx64 "): %s %s xid %" PRId32 ": no reply within %d ms",
                s->index, s->id, op_names[s->fifo[s->head].op],
                pending_path(&s->fifo[s->head], path, sizeof path), s->fifo[s->head].xid,
                b->timeout_ms);
        }
        if (s->state == SESS_READY &&
            now - s->last_send_ns >= (uint64_t)s->timeout_ms * 1000000u / 3)
            session_send(s, PING_XID, ZK_OP_PING, NULL, NULL);
    }
    if (b->quiet || now - b->last_progress_ns < 1000000000u)
        return;
    double t = (double)(now - b->start_ns) / 1e9, dt = (double)(now - b->last_progress_ns) / 1e9;
    if (b->phase == PH_PREPARE)
        fprintf(stderr, "corral-bench: %.1fs prepare %" PRIu32 "/%" PRIu32 " keys\n", t,
                b->prep_cursor, b->nkeys);
    else if (b->phase == PH_RUN)
        fprintf(stderr, "corral-bench: %.1fs ops=%" PRIu64 " ops_per_s=%.0f\n", t, b->done,
                (double)(b->done - b->done_at_progress) / dt);
    b->done_at_progress = b->done;
    b->last_progress_ns = now;
}

/* ------------------------------------------------------------------ start-up probe */

static double tv_seconds(const struct timeval *tv)
{
    return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool probe_write_all(int fd, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool probe_read_all(int fd, uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads one frame into *buf (grown as needed); returns its length or -1. */
static int32_t probe_read_frame(int fd, uint8_t **buf, size_t *cap)
{
    uint8_t len_be[4];
    if (!probe_read_all(fd, len_be, 4))
        return -1;
    int32_t len = (int32_t)jute_get_be32(len_be);
    if (len < 0 || len > MAX_FRAME_BYTES)
        return -1;
    if ((size_t)len > *cap) {
        uint8_t *nb = realloc(*buf, (size_t)len);
        if (nb == NULL)
            die("out of memory");
        *buf = nb;
        *cap = (size_t)len;
    }
    return probe_read_all(fd, *buf, (size_t)len) ? len : -1;
}

/* One attempt: session, one request, closeSession. Returns true when the reply is right;
 * otherwise says why in `why` and sets *timed_out if the server did not answer within
 * wait_ms. Blocking sockets with a receive timeout: a probe is alone. */
static bool probe_once(struct bench *b, struct jute_writer *w, int wait_ms, bool *timed_out,
                       char *why, size_t why_len)
{
    uint8_t *buf = NULL;
    size_t cap = 0;
    bool ok = false;
    int fd = socket(b->addr->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, b->addr->ai_addr, b->addr->ai_addrlen) != 0) {
        snprintf(why, why_len, "connect: %s", strerror(errno));
        goto out;
    }
    jute_writer_reset(w);
    put_connect_request(w, b->timeout_ms);
    size_t frame = jute_frame_begin(w);
    jute_write_int(w, 1);
    if (b->probe_write) {
        jute_write_int(w, ZK_OP_CREATE);
        jute_write_ustring(w, "/corral-bench-probe");
        jute_write_buffer(w, NULL, 0);
        put_open_persistent(w);
    } else {
        jute_write_int(w, ZK_OP_GETDATA);
        put_path(w, 0);
        jute_write_bool(w, false);
    }
    jute_frame_end(w, frame);
    frame = jute_frame_begin(w);
    jute_write_int(w, 2);
    jute_write_int(w, ZK_OP_CLOSESESSION);
    jute_frame_end(w, frame);
    if (w->failed)
        die("out of memory encoding the probe");
    if (!probe_write_all(fd, w->buf, w->len)) {
        snprintf(why, why_len, "send: %s", strerror(errno));
        goto out;
    }
    errno = 0;
    int32_t len = probe_read_frame(fd, &buf, &cap);
    if (len < 0) {
        *timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
        snprintf(why, why_len, "no ConnectResponse (%s)", errno ? strerror(errno) : "closed");
        goto out;
    }
    struct jute_reader r;
    jute_reader_init(&r, buf, (size_t)len, MAX_FRAME_BYTES);
    jute_read_int(&r);
    int32_t timeout_ms = jute_read_int(&r);
    if (r.failed || timeout_ms <= 0) {
        snprintf(why, why_len, "session refused");
        goto out;
    }
    for (;;) { /* skip pings and notifications */
        errno = 0;
        len = probe_read_frame(fd, &buf, &cap);
        if (len < 0) {
            *timed_out = errno == EAGAIN || errno == EWOULDBLOCK;
            snprintf(why, why_len, "no reply (%s)", errno ? strerror(errno) : "closed");
            goto out;
        }
        jute_reader_init(&r, buf, (size_t)len, MAX_FRAME_BYTES);
        if (jute_read_int(&r) == 1)
            break;
    }
    jute_read_long(&r); /* zxid */
    int32_t err = jute_read_int(&r);
    if (b->probe_write) {
        ok = !r.failed && (err == ZK_OK || err == ZK_NODEEXISTS);
    } else {
        int32_t n = err == ZK_OK ? jute_read_buffer(&r, NULL) : -1;
        ok = !r.failed && err == ZK_OK && n == b->data_bytes;
        if (!ok && !r.failed && err == ZK_OK)
            snprintf(why, why_len, "getData returned %" PRId32 " bytes, not %d", n, b->data_bytes);
    }
    if (!ok && why[0] == '\0')
        snprintf(why, why_len, "reply %s (%" PRId32 ")", err_name(err), err);
    if (ok) /* wait for the closeSession reply, so no session outlives the probe */
        (void)probe_read_frame(fd, &buf, &cap);
out:
    close(fd);
    free(buf);
    return ok;
}

/* An attempt waits PROBE_FIRST_WAIT_MS for the replies, twice as long after each attempt that
 * timed out, up to --timeout-ms. ZooKeeper 3.8 accepts connections before it serves and holds
 * a session opened then until the client gives up, so a long first wait would measure the
 * client's patience; a server that is slow to answer still gets as long as --timeout-ms. */
#define PROBE_FIRST_WAIT_MS 50

static int probe_main(struct bench *b)
{
    struct jute_writer w;
    jute_writer_init(&w);
    uint64_t origin = b->since_ns ? b->since_ns : realtime_ns();
    uint64_t limit = realtime_ns() + (uint64_t)b->probe_ms * 1000000u;
    int wait_ms = PROBE_FIRST_WAIT_MS < b->timeout_ms ? PROBE_FIRST_WAIT_MS : b->timeout_ms;
    char why[256] = "";
    for (int attempt = 1;; attempt++) {
        bool timed_out = false;
        why[0] = '\0';
        if (probe_once(b, &w, wait_ms, &timed_out, why, sizeof why)) {
            printf("probe serving_ms=%.1f attempts=%d\n",
                   (double)(realtime_ns() - origin) / 1e6, attempt);
            jute_writer_free(&w);
            return 0;
        }
        if (realtime_ns() > limit)
            die("%s not serving after %d ms (%d attempts; last: %s)", b->target, b->probe_ms,
                attempt, why);
        if (timed_out)
            wait_ms = wait_ms * 2 < b->timeout_ms ? wait_ms * 2 : b->timeout_ms;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

/* ------------------------------------------------------------------ options */

static const char usage_text[] =
    "usage: corral-bench [options] [HOST:PORT]   (default 127.0.0.1:2181)\n"
    "\n"
    "Runs a request mix against a ZooKeeper-protocol server and checks every reply.\n"
    "  -c N             sessions (default 1)\n"
    "  -w W             requests in flight per session (default 1)\n"
    "  -n N             requests in all (default 10000; 0 with --prepare: prepare only)\n"
    "  -t SECONDS       run for this long instead of -n\n"
    "  -d BYTES         data size of every write (default 100)\n"
    "  --keys K         key space /bench/k0 .. /bench/k<K-1> (default 1000)\n"
    "  --mix SPEC       op weights (default get=1), e.g. get=8,set=1,create=1; ops:\n"
    "                   create set get exists children (getChildren of a key) delete\n"
    "                   multi (check version + setData of one key)\n"
    "  --prepare        first create every key (multi batches; a key that exists gets a\n"
    "                   setData), so that reads can check the exact bytes\n"
    "  --batch B        creates per prepare multi (default: what fits in 256 KiB, <= 1000)\n"
    "  --timeout-ms MS  session timeout to ask for; also the longest wait for a reply\n"
    "                   (default 10000)\n"
    "  --seed S         random seed (default 1)\n"
    "  --key-base B     key i is /bench/k<B+i> (default 0): separate key ranges for\n"
    "                   runs or processes that must not share keys\n"
    "  --seq            the run takes keys in order, each once, and ends (early if -t)\n"
    "                   after the last: create or delete every key of a range once\n"
    "  --absent         assume the keys do not exist (default: they exist); with --seq\n"
    "                   and --mix create=1, every request creates a new znode\n"
    "  -q               no progress lines on stderr\n"
    "\n"
    "Start-up probe (instead of a run):\n"
    "  --probe MS       connect, open a session and send one request, again every\n"
    "                   millisecond until the reply is right or MS ms have passed;\n"
    "                   the request is getData of key 0, which must return -d bytes;\n"
    "                   an attempt waits 50 ms for its replies, twice as long after\n"
    "                   each attempt that timed out, at most --timeout-ms\n"
    "  --probe-write    the probe creates /corral-bench-probe instead (OK or NODEEXISTS)\n"
    "  --since-ns T     count the probe's time from T (CLOCK_REALTIME ns, date +%s%N)\n"
    "                   instead of from its own start\n"
    "\n"
    "Without --prepare every key is assumed to exist with -d bytes. When the mix writes, each\n"
    "session owns the keys i with i % N == its index, so every reply has one right answer:\n"
    "any other answer (err code, order, data, version, length) ends the run with status 1.\n"
    "Output, one line per op used and a total (errors: expected non-OK replies, e.g. NONODE\n"
    "for a get after a delete, or a multi whose check failed):\n"
    "  op=get count=N errors=0 ops_per_s=.. p50_us=.. p99_us=.. p999_us=.. max_us=..\n"
    "and this process's CPU time over the run (cpu_s/run_s > 0.9: the client is the limit):\n"
    "  client cpu_s=.. run_s=..\n"
    "A probe prints: probe serving_ms=.. attempts=N\n";

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("corral-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs("\n(corral-bench --help for usage)\n", stderr);
    va_end(ap);
    exit(BENCH_USAGE);
}

static uint64_t parse_num(const char *opt, const char *s, uint64_t min, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
        usage_error("%s: \"%s\" is not a number from %" PRIu64 " to %" PRIu64, opt, s, min, max);
    return v;
}

static void parse_mix(struct bench *b, const char *spec)
{
    char *copy = strdup(spec), *save = NULL;
    if (copy == NULL)
        die("out of memory");
    memset(b->weights, 0, sizeof b->weights);
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (eq == NULL)
            usage_error("--mix: \"%s\" is not op=weight", item);
        *eq = '\0';
        int op = 0;
        while (op < OP_MIX_COUNT && strcmp(op_names[op], item) != 0)
            op++;
        if (op == OP_MIX_COUNT)
            usage_error("--mix: unknown op \"%s\" (create set get exists children delete "
                        "multi)",
                        item);
        b->weights[op] = (uint32_t)parse_num("--mix", eq + 1, 0, 1000000);
    }
    free(copy);
    b->weight_sum = 0;
    for (int op = 0; op < OP_MIX_COUNT; op++)
        b->weight_sum += b->weights[op];
    if (b->weight_sum == 0)
        usage_error("--mix: \"%s\" gives every op weight 0", spec);
    b->writes = b->weights[OP_CREATE] || b->weights[OP_SET] || b->weights[OP_DELETE] ||
                b->weights[OP_MULTI];
}

static void parse_target(struct bench *b, const char *target)
{
    char host[256];
    const char *colon = strrchr(target, ':');
    if (colon == NULL || colon == target || (size_t)(colon - target) >= sizeof host)
        usage_error("target \"%s\" is not HOST:PORT", target);
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = getaddrinfo(host, colon + 1, &hints, &b->addr);
    if (rc != 0)
        die("%s: %s", target, gai_strerror(rc));
    b->target = target;
}

static void parse_args(struct bench *b, int argc, char **argv)
{
    enum {
        OPT_KEYS = 256,
        OPT_MIX,
        OPT_PREPARE,
        OPT_BATCH,
        OPT_TIMEOUT,
        OPT_SEED,
        OPT_KEY_BASE,
        OPT_SEQ,
        OPT_ABSENT,
        OPT_PROBE,
        OPT_PROBE_WRITE,
        OPT_SINCE,
    };
    static const struct option longopts[] = {
        {"keys", required_argument, NULL, OPT_KEYS},
        {"mix", required_argument, NULL, OPT_MIX},
        {"prepare", no_argument, NULL, OPT_PREPARE},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
        {"seed", required_argument, NULL, OPT_SEED},
        {"key-base", required_argument, NULL, OPT_KEY_BASE},
        {"seq", no_argument, NULL, OPT_SEQ},
        {"absent", no_argument, NULL, OPT_ABSENT},
        {"probe", required_argument, NULL, OPT_PROBE},
        {"probe-write", no_argument, NULL, OPT_PROBE_WRITE},
        {"since-ns", required_argument, NULL, OPT_SINCE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool have_n = false;
    uint64_t seed = 1;
    *b = (struct bench){.nsessions = 1,
                        .window = 1,
                        .data_bytes = 100,
                        .timeout_ms = 10000,
                        .nkeys = 1000,
                        .count = 10000};
    parse_mix(b, "get=1");
    int c;
    while ((c = getopt_long(argc, argv, "c:w:n:t:d:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            b->nsessions = (int)parse_num("-c", optarg, 1, 10000);
            break;
        case 'w':
            b->window = (int)parse_num("-w", optarg, 1, 100000);
            break;
        case 'n':
            b->count = parse_num("-n", optarg, 0, UINT64_MAX / 2);
            have_n = true;
            break;
        case 't':
            b->duration_s = (double)parse_num("-t", optarg, 1, 86400);
            break;
        case 'd':
            b->data_bytes = (int)parse_num("-d", optarg, 0, 1 << 20);
            break;
        case 'q':
            b->quiet = true;
            break;
        case OPT_KEYS:
            b->nkeys = (uint32_t)parse_num("--keys", optarg, 1, INT32_MAX);
            break;
        case OPT_MIX:
            parse_mix(b, optarg);
            break;
        case OPT_PREPARE:
            b->prepare = true;
            break;
        case OPT_BATCH:
            b->batch = (int)parse_num("--batch", optarg, 1, 100000);
            break;
        case OPT_TIMEOUT:
            b->timeout_ms = (int)parse_num("--timeout-ms", optarg, 100, 3600000);
            break;
        case OPT_SEED:
            seed = parse_num("--seed", optarg, 0, UINT64_MAX);
            break;
        case OPT_KEY_BASE:
            key_base = (uint32_t)parse_num("--key-base", optarg, 0, INT32_MAX);
            break;
        case OPT_SEQ:
            b->seq = true;
            break;
        case OPT_ABSENT:
            b->absent = true;
            break;
        case OPT_PROBE:
            b->probe_ms = (int)parse_num("--probe", optarg, 1, 3600000);
            break;
        case OPT_PROBE_WRITE:
            b->probe_write = true;
            break;
        case OPT_SINCE:
            b->since_ns = parse_num("--since-ns", optarg, 1, UINT64_MAX);
            break;
        case 'h':
            fputs(usage_text, stdout);
            exit(0);
        default:
            usage_error("unknown option");
        }
    }
    if (optind + 1 < argc)
        usage_error("more than one target");
    parse_target(b, optind < argc ? argv[optind] : "127.0.0.1:2181");
    if (have_n && b->duration_s > 0)
        usage_error("-n and -t exclude each other");
    if ((uint64_t)key_base + b->nkeys > INT32_MAX)
        usage_error("--key-base + --keys is more than %d", INT32_MAX);
    if (b->probe_ms > 0)
        return; /* the probe needs none of the run's state */
    if (b->count == 0 && !b->prepare && b->duration_s <= 0)
        usage_error("-n 0 does nothing without --prepare");
    /* With --seq every key gets one request, so it has one writer without partitions. */
    b->partitioned = b->writes && !b->seq;
    if (b->partitioned && b->nkeys < (uint32_t)b->nsessions)
        usage_error("a mix with writes gives each session its own keys: --keys %" PRIu32
                    " is less than -c %d",
                    b->nkeys, b->nsessions);
    if (b->batch == 0) {
        b->batch = PREPARE_BATCH_BYTES / (b->data_bytes + 64);
        if (b->batch > PREPARE_BATCH_MAX)
            b->batch = PREPARE_BATCH_MAX;
        if (b->batch < 1)
            b->batch = 1;
    }
    b->keys = malloc((size_t)b->nkeys * sizeof *b->keys);
    b->scratch = malloc((size_t)b->data_bytes + 1);
    b->sessions = calloc((size_t)b->nsessions, sizeof *b->sessions);
    if (b->keys == NULL || b->scratch == NULL || b->sessions == NULL)
        die("out of memory for %" PRIu32 " keys", b->nkeys);
    for (uint32_t i = 0; i < b->nkeys; i++)
        b->keys[i] = b->absent ? (struct key_state){0, -1, KEY_ASSUMED}
                               : (struct key_state){0, -1, KEY_PRESENT | KEY_ASSUMED};
    for (int i = 0; i < b->nsessions; i++) {
        struct session *s = &b->sessions[i];
        s->b = b;
        s->index = i;
        s->next_xid = 1;
        s->rng = (seed + 1) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ULL;
        s->fifo = calloc((size_t)b->window + 1, sizeof *s->fifo);
        if (s->fifo == NULL)
            die("out of memory");
        jute_writer_init(&s->w);
    }
}

int main(int argc, char **argv)
{
    static struct bench bench; /* the histograms are large */
    struct bench *b = &bench;
    parse_args(b, argc, argv);
    if (b->probe_ms > 0)
        return probe_main(b);
    b->base = event_base_new();
    if (b->base == NULL)
        die("cannot create an event loop");
    b->start_ns = b->last_progress_ns = now_ns();
    for (int i = 0; i < b->nsessions; i++) {
        struct session *s = &b->sessions[i];
        s->bev = bufferevent_socket_new(b->base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (s->bev == NULL)
            die("session %d: cannot create a socket", i);
        bufferevent_setcb(s->bev, session_read_cb, NULL, session_event_cb, s);
        bufferevent_enable(s->bev, EV_READ | EV_WRITE);
        s->state_since_ns = now_ns();
        if (bufferevent_socket_connect(s->bev, b->addr->ai_addr, (int)b->addr->ai_addrlen) != 0)
            die("session %d: connect to %s: %s", i, b->target,
                evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    }
    struct timeval tv = {0, TICK_MS * 1000};
    b->tick = event_new(b->base, -1, EV_PERSIST, bench_tick, b);
    if (b->tick == NULL || event_add(b->tick, &tv) != 0)
        die("cannot start the timer");
    event_base_dispatch(b->base);

    double seconds = (double)(b->run_end_ns - b->run_start_ns) / 1e9;
    for (int op = 0; op < OP_MIX_COUNT; op++)
        if (b->hist[op].count > 0)
            hist_print(&b->hist[op], op_names[op], seconds);
    if (b->count > 0 || b->duration_s > 0) { /* not after -n 0 (prepare only) */
        hist_print(&b->hist[OP_MIX_COUNT], "total", seconds);
        printf("client cpu_s=%.2f run_s=%.2f\n",
               tv_seconds(&b->ru_end.ru_utime) - tv_seconds(&b->ru_start.ru_utime) +
                   tv_seconds(&b->ru_end.ru_stime) - tv_seconds(&b->ru_start.ru_stime),
               seconds);
    }

    event_free(b->tick);
    for (int i = 0; i < b->nsessions; i++) {
        free(b->sessions[i].fifo);
        free(b->sessions[i].todo);
        jute_writer_free(&b->sessions[i].w);
    }
    free(b->sessions);
    free(b->keys);
    free(b->scratch);
    freeaddrinfo(b->addr);
    event_base_free(b->base);
    return 0;
}
