/* corral-inspect: prints and verifies ZooKeeper 3.8 transaction logs and snapshots
 * (disk-and-quorum.md A.4-A.8, A.11), read-only. Files are walked here rather than through the
 * loaders so that damage is reported where it is and the walk goes on where it safely can. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jute.h"
#include "persist/snapshot.h"
#include "persist/txnlog.h"
#include "txn.h"
#include "zkerr.h"

#define INSPECT_CLEAN 0
#define INSPECT_DAMAGED 1
#define INSPECT_USAGE 2

#define MAX_FIELD_BYTES 2097150 /* jute.maxbuffer + extrasize, as 3.8 reads (A.2) */
#define LOG_HEADER_BYTES 16
#define RECORD_FRAME_BYTES 12 /* checksum + length */
#define DIGEST_BYTES 12       /* TxnDigest */
#define STAT_BYTES 60         /* StatPersisted */
#define DATA_PREVIEW_BYTES 48

static const char usage_text[] =
    "usage: corral-inspect [--verify] log FILE...\n"
    "       corral-inspect [--verify] snapshot FILE...\n"
    "\n"
    "Prints ZooKeeper 3.8 / corral data files (version-2/log.* and version-2/snapshot.*).\n"
    "  log        one line per txn: time, session, cxid, zxid, type and body; multi\n"
    "             sub-operations indented below; where the records end\n"
    "  snapshot   sessions, ACL lists, every node with its stat, the digest section\n"
    "             and a summary\n"
    "  --verify   print nothing but problems (each with its file offset), or OK;\n"
    "             checks log record checksums, snapshot seals and the tree digest\n"
    "  -h, --help this text\n"
    "\n"
    "Exit status: 0 clean, 1 damaged or unreadable, 2 usage error.\n";

struct report {
    const char *name;
    int problems;
};

static void problem(struct report *r, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct report *r, size_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%s: offset 0x%zx: ", r->name, off);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    r->problems++;
}

static int read_whole(const char *name, uint8_t **buf, size_t *len)
{
    int fd = open(name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "corral-inspect: %s: %s\n", name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    size_t cap = (size_t)st.st_size, n = 0;
    uint8_t *b = malloc(cap + 1);
    while (b != NULL && n < cap) {
        ssize_t got = read(fd, b + n, cap - n);
        if (got <= 0) {
            if (got < 0)
                fprintf(stderr, "corral-inspect: %s: %s\n", name, strerror(errno));
            break;
        }
        n += (size_t)got;
    }
    close(fd);
    if (b == NULL || n < cap) {
        if (b == NULL)
            fprintf(stderr, "corral-inspect: %s: out of memory\n", name);
        free(b);
        return -1;
    }
    *buf = b;
    *len = n;
    return 0;
}

/* --- formatting --------------------------------------------------------------------------- */

static const char *op_name(int32_t type)
{
    static const struct {
        int32_t type;
        const char *name;
    } names[] = {
        {ZK_OP_CREATESESSION, "createSession"},
        {ZK_OP_CLOSESESSION, "closeSession"},
        {ZK_OP_CREATE, "create"},
        {ZK_OP_CREATE2, "create2"},
        {ZK_OP_CREATECONTAINER, "createContainer"},
        {ZK_OP_CREATETTL, "createTTL"},
        {ZK_OP_DELETE, "delete"},
        {ZK_OP_DELETECONTAINER, "deleteContainer"},
        {ZK_OP_SETDATA, "setData"},
        {ZK_OP_RECONFIG, "reconfig"},
        {ZK_OP_SETACL, "setACL"},
        {ZK_OP_ERROR, "error"},
        {ZK_OP_MULTI, "multi"},
        {ZK_OP_CHECK, "check"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].type == type)
            return names[i].name;
    return "unknown";
}

static void print_time(int64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        frac += 1000;
        s--;
    }
    struct tm tm;
    if (gmtime_r(&s, &tm) == NULL) {
        printf("%" PRId64 "ms", ms);
        return;
    }
    printf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

/* Length, then the bytes as a quoted string with anything unprintable escaped. */
static void print_data(const uint8_t *data, int32_t len)
{
    if (len < 0) {
        printf("data null");
        return;
    }
    printf("data %" PRId32, len);
    if (len == 0)
        return;
    printf(" \"");
    for (int32_t i = 0; i < len && i < DATA_PREVIEW_BYTES; i++) {
        if (data[i] >= 0x20 && data[i] < 0x7f && data[i] != '"' && data[i] != '\\')
            putchar(data[i]);
        else
            printf("\\x%02x", data[i]);
    }
    printf(len > DATA_PREVIEW_BYTES ? "\"..." : "\"");
}

static void print_perms(int32_t perms)
{
    /* zkCli's letters; anything outside the five bits in hex so nothing is hidden. */
    static const struct {
        int32_t bit;
        char letter;
    } letters[] = {{ZK_PERM_CREATE, 'c'},
                   {ZK_PERM_DELETE, 'd'},
                   {ZK_PERM_READ, 'r'},
                   {ZK_PERM_WRITE, 'w'},
                   {ZK_PERM_ADMIN, 'a'}};
    if ((perms & ~ZK_PERM_ALL) != 0 || perms == 0) {
        printf("0x%" PRIx32, (uint32_t)perms);
        return;
    }
    for (size_t i = 0; i < sizeof letters / sizeof letters[0]; i++)
        if (perms & letters[i].bit)
            putchar(letters[i].letter);
}

static void print_acl_vec(const struct zk_acl_vec *v)
{
    if (v->count < 0) {
        printf("acl null");
        return;
    }
    printf("acl [");
    for (int32_t i = 0; i < v->count; i++) {
        const struct zk_acl *a = &v->items[i];
        printf("%s%s:%s=", i ? ", " : "", a->id.scheme ? a->id.scheme : "(null)",
               a->id.id ? a->id.id : "(null)");
        print_perms(a->perms);
    }
    putchar(']');
}

static void print_body(const struct txn *t)
{
    switch (t->type) {
    case ZK_OP_CREATESESSION:
        printf(" timeout %" PRId32, t->timeout_ms);
        break;
    case ZK_OP_CLOSESESSION:
        printf(" ephemerals [");
        for (size_t i = 0; i < t->n_paths; i++)
            printf("%s%s", i ? ", " : "", t->paths[i]);
        putchar(']');
        break;
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATECONTAINER:
    case ZK_OP_CREATETTL:
        printf(" %s ", t->path);
        print_data(t->data, t->data_len);
        putchar(' ');
        print_acl_vec(&t->acl);
        if (t->type == ZK_OP_CREATE || t->type == ZK_OP_CREATE2)
            printf(" ephemeral %s", t->ephemeral ? "true" : "false");
        printf(" parentCVersion %" PRId32, t->parent_cversion);
        if (t->type == ZK_OP_CREATETTL)
            printf(" ttl %" PRId64, t->ttl);
        break;
    case ZK_OP_DELETE:
    case ZK_OP_DELETECONTAINER:
        printf(" %s", t->path);
        break;
    case ZK_OP_SETDATA:
    case ZK_OP_RECONFIG:
        printf(" %s ", t->path);
        print_data(t->data, t->data_len);
        printf(" version %" PRId32, t->version);
        break;
    case ZK_OP_SETACL:
        printf(" %s ", t->path);
        print_acl_vec(&t->acl);
        printf(" aversion %" PRId32, t->version);
        break;
    case ZK_OP_CHECK:
        printf(" %s version %" PRId32, t->path, t->version);
        break;
    case ZK_OP_ERROR:
        printf(" err %" PRId32, t->err);
        break;
    case ZK_OP_MULTI:
        printf(" %zu ops", t->n_sub);
        break;
    default:
        break;
    }
}

/* --- logs --------------------------------------------------------------------------------- */

/* The entry has no inner lengths; re-encoding the decoded body tells where it ends and so
 * whether a TxnDigest follows (A.4). Returns false when none can be found. */
static bool entry_digest(const struct txn_header *h, const struct txn *t, const uint8_t *entry,
                         size_t len, int32_t *version, uint64_t *digest)
{
    struct jute_writer w;
    jute_writer_init(&w);
    txnlog_encode_entry(h, t, &w);
    bool found = !w.failed && len == w.len + DIGEST_BYTES;
    if (found) {
        *version = (int32_t)jute_get_be32(entry + w.len);
        *digest = jute_get_be64(entry + w.len + 4);
    }
    jute_writer_free(&w);
    return found;
}

static void print_record(const struct txn_header *h, const struct txn *t, const uint8_t *entry,
                         size_t len)
{
    print_time(h->time_ms);
    printf(" session 0x%" PRIx64 " cxid 0x%" PRIx32 " zxid 0x%" PRIx64 " %s",
           (uint64_t)h->client_id, (uint32_t)h->cxid, (uint64_t)h->zxid, op_name(h->type));
    print_body(t);
    int32_t version;
    uint64_t digest;
    if (entry_digest(h, t, entry, len, &version, &digest)) {
        printf(" digest 0x%" PRIx64, digest);
        if (version != 2)
            printf(" (version %" PRId32 ")", version);
    }
    putchar('\n');
    if (t->type == ZK_OP_MULTI) {
        for (size_t i = 0; i < t->n_sub; i++) {
            printf("    %s", op_name(t->sub[i].type));
            print_body(&t->sub[i]);
            putchar('\n');
        }
    }
}

static size_t first_nonzero(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && p[i] == 0)
        i++;
    return i;
}

/* Walks records as 3.8's reader does (A.7), but reports instead of stopping quietly: a torn
 * tail, a bad marker or a length that cannot be right ends the walk (nothing after it can be
 * framed); a bad checksum or body does not, since the frame around it is intact. */
static int inspect_log(const char *name, bool verify)
{
    uint8_t *buf;
    size_t len;
    if (read_whole(name, &buf, &len) != 0)
        return INSPECT_DAMAGED;
    struct report r = {.name = name};
    size_t off = LOG_HEADER_BYTES;
    int64_t records = 0, last_zxid = 0;
    bool framed = true; /* false once damage stops the walk before the end of the records */

    if (len < LOG_HEADER_BYTES) {
        problem(&r, 0, "%s",
                len == 0 ? "empty file (ZooKeeper 3.8 refuses to start on it)"
                         : "file header cut short");
        goto out;
    }
    if (jute_get_be32(buf) != TXNLOG_MAGIC) {
        problem(&r, 0, "magic 0x%08" PRIx32 " is not \"ZKLG\" (0x%08x)", jute_get_be32(buf),
                TXNLOG_MAGIC);
        goto out;
    }
    if (!verify)
        printf("%s: txn log, format version %" PRId32 ", dbid %" PRId64 ", %zu bytes\n", name,
               (int32_t)jute_get_be32(buf + 4), (int64_t)jute_get_be64(buf + 8), len);

    while (off < len) {
        size_t rest = len - off;
        int32_t n = rest >= RECORD_FRAME_BYTES ? (int32_t)jute_get_be32(buf + off + 8) : 0;
        if (rest < RECORD_FRAME_BYTES && first_nonzero(buf + off, rest) < rest) {
            problem(&r, off, "record %" PRId64 " cut short: %zu bytes of its frame (a torn write)",
                    records + 1, rest);
            framed = false;
            break;
        }
        if (n == 0) {
            /* Preallocated zeros end the records; anything else there was meant to be read. */
            size_t bad = off + first_nonzero(buf + off, rest);
            if (bad < len)
                problem(&r, bad, "non-zero byte in the padding after the last record (at 0x%zx)",
                        off);
            framed = bad == len;
            break;
        }
        if (n < 0 || n > MAX_FIELD_BYTES) {
            problem(&r, off + 8, "record %" PRId64 ": length %" PRId32 " %s", records + 1, n,
                    n == -1 ? "(ZooKeeper 3.8 fails with a NullPointerException)"
                            : "is unreasonable");
            framed = false;
            break;
        }
        const uint8_t *entry = buf + off + RECORD_FRAME_BYTES;
        if (rest < RECORD_FRAME_BYTES + (size_t)n + 1) {
            problem(&r, off, "record %" PRId64 " cut short: %" PRId32 "-byte entry, %zu bytes left",
                    records + 1, n, rest - RECORD_FRAME_BYTES);
            framed = false;
            break;
        }
        if (entry[n] != 'B') {
            problem(&r, off + RECORD_FRAME_BYTES + (size_t)n,
                    "record %" PRId64 ": end marker 0x%02x, not 0x42 (a partial record)",
                    records + 1, entry[n]);
            framed = false;
            break;
        }
        records++;
        uint64_t stored = jute_get_be64(buf + off);
        uint32_t sum = txnlog_adler32(1, entry, (size_t)n);
        if (stored != sum)
            problem(&r, off,
                    "record %" PRId64 " (zxid 0x%" PRIx64 "): checksum 0x%08" PRIx32
                    ", stored 0x%" PRIx64,
                    records, n >= 20 ? jute_get_be64(entry + 12) : 0, sum, stored);
        struct txn_header h;
        struct txn t;
        char err[256];
        memset(&t, 0, sizeof t);
        if (txnlog_decode_entry(entry, (size_t)n, &h, &t, err, sizeof err) != 0) {
            problem(&r, off + RECORD_FRAME_BYTES, "record %" PRId64 ": %s", records, err);
        } else {
            if (records > 1 && h.zxid <= last_zxid)
                problem(&r, off,
                        "record %" PRId64 ": zxid 0x%" PRIx64 " does not follow 0x%" PRIx64,
                        records, (uint64_t)h.zxid, (uint64_t)last_zxid);
            last_zxid = h.zxid;
            if (!verify)
                print_record(&h, &t, entry, (size_t)n);
            txn_free(&t);
        }
        off += RECORD_FRAME_BYTES + (size_t)n + 1;
    }
    if (!verify) {
        printf("end: %" PRId64 " records up to offset 0x%zx", records, off);
        if (off < len)
            printf(", then %zu bytes %s", len - off, framed ? "of zero padding" : "not read");
        putchar('\n');
    }
out:
    if (verify && r.problems == 0)
        printf("%s: OK (%" PRId64 " records)\n", name, records);
    free(buf);
    return r.problems ? INSPECT_DAMAGED : INSPECT_CLEAN;
}

/* --- snapshots ---------------------------------------------------------------------------- */

/* A read cursor that remembers where the walk first failed and in what. */
struct cursor {
    const uint8_t *buf;
    size_t len, off;
    const char *what; /* the caller names what it is reading */
    char fail[160];
    size_t fail_off;
};

static bool cur_need(struct cursor *c, size_t n)
{
    if (c->fail[0] != '\0')
        return false;
    if (c->len - c->off < n) {
        snprintf(c->fail, sizeof c->fail, "file ends inside %s", c->what);
        c->fail_off = c->off;
        return false;
    }
    return true;
}

static int32_t cur_int(struct cursor *c)
{
    if (!cur_need(c, 4))
        return 0;
    c->off += 4;
    return (int32_t)jute_get_be32(c->buf + c->off - 4);
}

static int64_t cur_long(struct cursor *c)
{
    if (!cur_need(c, 8))
        return 0;
    c->off += 8;
    return (int64_t)jute_get_be64(c->buf + c->off - 8);
}

/* A buffer or ustring: its length (-1 null) and *p into the file. */
static int32_t cur_bytes(struct cursor *c, const uint8_t **p)
{
    size_t at = c->off;
    int32_t n = cur_int(c);
    *p = NULL;
    if (c->fail[0] != '\0')
        return -1;
    if (n < -1 || n > MAX_FIELD_BYTES) {
        snprintf(c->fail, sizeof c->fail, "unreasonable length %" PRId32 " in %s", n, c->what);
        c->fail_off = at;
        return -1;
    }
    if (n > 0 && !cur_need(c, (size_t)n))
        return -1;
    *p = c->buf + c->off;
    c->off += n > 0 ? (size_t)n : 0;
    return n;
}

static bool cur_marker(struct cursor *c)
{
    const uint8_t *p;
    return cur_bytes(c, &p) == 1 && p[0] == '/';
}

static uint32_t crc32_ieee(uint32_t crc, const uint8_t *p, size_t n)
{
    static uint32_t table[256];
    if (table[1] == 0) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t v = i;
            for (int k = 0; k < 8; k++)
                v = v & 1 ? 0xEDB88320u ^ (v >> 1) : v >> 1;
            table[i] = v;
        }
    }
    crc = ~crc;
    while (n--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

struct snap_node {
    const uint8_t *path, *data;
    int32_t path_len, data_len;
    int64_t acl;
    const uint8_t *stat; /* StatPersisted, 60 bytes in the file */
    size_t off;
    int32_t children;
};

/* StatPersisted field offsets. */
#define ST_CZXID 0
#define ST_MZXID 8
#define ST_CTIME 16
#define ST_MTIME 24
#define ST_VERSION 32
#define ST_CVERSION 36
#define ST_AVERSION 40
#define ST_OWNER 44
#define ST_PZXID 52
#define ST_L(n, f) ((int64_t)jute_get_be64((n)->stat + (f)))
#define ST_I(n, f) ((int32_t)jute_get_be32((n)->stat + (f)))

struct snap_session {
    int64_t id;
    int32_t timeout_ms;
    int32_t ephemerals;
};

struct snap_acl {
    int64_t index;
    size_t off; /* the vector<ACL>, to print it again */
};

struct snapshot {
    struct snap_session *sessions;
    size_t n_sessions;
    struct snap_acl *acls;
    size_t n_acls;
    struct snap_node *nodes;
    size_t n_nodes;
    int32_t *slots; /* path -> node index, open addressing; -1 empty */
    size_t n_slots;
    uint64_t tree_digest;
    int64_t data_bytes, ephemerals;
};

static uint64_t path_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

/* The slot holding path, or the empty slot where it would go. */
static size_t snap_slot(const struct snapshot *s, const uint8_t *path, size_t len)
{
    size_t mask = s->n_slots - 1, i = path_hash(path, len) & mask;
    for (; s->slots[i] >= 0; i = (i + 1) & mask) {
        const struct snap_node *n = &s->nodes[s->slots[i]];
        if ((size_t)n->path_len == len && memcmp(n->path, path, len) == 0)
            break;
    }
    return i;
}

static int snap_index(struct snapshot *s, size_t node)
{
    if (2 * (node + 1) > s->n_slots) {
        size_t n_slots = s->n_slots ? 2 * s->n_slots : 1024;
        int32_t *slots = malloc(n_slots * sizeof *slots);
        if (slots == NULL)
            return -ENOMEM;
        memset(slots, 0xff, n_slots * sizeof *slots);
        free(s->slots);
        s->slots = slots;
        s->n_slots = n_slots;
        for (size_t i = 0; i < node; i++)
            s->slots[snap_slot(s, s->nodes[i].path, (size_t)s->nodes[i].path_len)] = (int32_t)i;
    }
    s->slots[snap_slot(s, s->nodes[node].path, (size_t)s->nodes[node].path_len)] = (int32_t)node;
    return 0;
}

static int cmp_acl(const void *a, const void *b)
{
    int64_t x = ((const struct snap_acl *)a)->index, y = ((const struct snap_acl *)b)->index;
    return x < y ? -1 : x > y;
}

static int cmp_session(const void *a, const void *b)
{
    int64_t x = ((const struct snap_session *)a)->id, y = ((const struct snap_session *)b)->id;
    return x < y ? -1 : x > y;
}

/* A.11: CRC-32 of path, data and the stat fields in digest order; /zookeeper/... count 0. */
static uint32_t node_digest(const struct snap_node *n)
{
    static const char system_prefix[] = "/zookeeper/";
    if ((size_t)n->path_len >= sizeof system_prefix - 1 &&
        memcmp(n->path, system_prefix, sizeof system_prefix - 1) == 0)
        return 0;
    static const int order[] = {ST_CZXID,   ST_MZXID,    ST_PZXID,    ST_CTIME, ST_MTIME,
                                ST_VERSION, ST_CVERSION, ST_AVERSION, ST_OWNER};
    static const int width[] = {8, 8, 8, 8, 8, 4, 4, 4, 8};
    uint8_t blk[STAT_BYTES];
    size_t k = 0;
    for (size_t i = 0; i < 9; i++) {
        memcpy(blk + k, n->stat + order[i], (size_t)width[i]);
        k += (size_t)width[i];
    }
    uint32_t crc = crc32_ieee(0, n->path, (size_t)n->path_len);
    if (n->data_len > 0)
        crc = crc32_ieee(crc, n->data, (size_t)n->data_len);
    return crc32_ieee(crc, blk, k);
}

static bool is_ephemeral_owner(int64_t owner)
{
    /* Containers (0x8000...) and TTL nodes (0xFF...) borrow the field (A.5). */
    return owner != 0 && (uint64_t)owner != 0x8000000000000000u && ((uint64_t)owner >> 56) != 0xff;
}

static bool name_zxid(const char *name, int64_t *zxid)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (strncmp(base, "snapshot.", 9) != 0)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(base + 9, &end, 16);
    if (errno != 0 || end == base + 9 || (*end != '\0' && *end != '.'))
        return false;
    *zxid = v;
    return true;
}

/* Sessions, ACL lists and nodes up to the terminator; false with c->fail set on a short or
 * malformed file. Structural problems that 3.8 would reject are reported as they are met. */
static bool snap_parse_body(struct snapshot *s, struct cursor *c, struct report *r)
{
    c->what = "the session count";
    int32_t count = cur_int(c);
    if (count < 0 || (size_t)count > (c->len - c->off) / 12) {
        snprintf(c->fail, sizeof c->fail, "session count %" PRId32 " does not fit", count);
        c->fail_off = c->off - 4;
    }
    if (c->fail[0] != '\0')
        return false;
    s->sessions = calloc((size_t)count + 1, sizeof *s->sessions);
    for (int32_t i = 0; s->sessions != NULL && i < count; i++) {
        c->what = "a session";
        s->sessions[i].id = cur_long(c);
        s->sessions[i].timeout_ms = cur_int(c);
    }
    s->n_sessions = (size_t)count;

    c->what = "the ACL list count";
    count = cur_int(c);
    if (c->fail[0] == '\0' && (count < 0 || (size_t)count > (c->len - c->off) / 12)) {
        snprintf(c->fail, sizeof c->fail, "ACL list count %" PRId32 " does not fit", count);
        c->fail_off = c->off - 4;
    }
    if (c->fail[0] != '\0' || s->sessions == NULL)
        return false;
    s->acls = calloc((size_t)count + 1, sizeof *s->acls);
    if (s->acls == NULL)
        return false;
    for (int32_t i = 0; i < count && c->fail[0] == '\0'; i++) {
        c->what = "an ACL list";
        s->acls[i].index = cur_long(c);
        s->acls[i].off = c->off;
        int32_t n = cur_int(c);
        if (n < 0 && c->fail[0] == '\0')
            problem(r, c->off - 4, "ACL list %" PRId64 " is null (3.8 rejects the snapshot)",
                    s->acls[i].index);
        for (int32_t k = 0; k < n && c->fail[0] == '\0'; k++) {
            const uint8_t *p;
            cur_int(c);
            cur_bytes(c, &p);
            cur_bytes(c, &p);
        }
    }
    s->n_acls = (size_t)count;
    if (s->n_acls > 1)
        qsort(s->acls, s->n_acls, sizeof *s->acls, cmp_acl);

    size_t cap = 0;
    bool have_root = false;
    for (;;) {
        c->what = "a node";
        size_t at = c->off;
        struct snap_node n = {.off = at};
        n.path_len = cur_bytes(c, &n.path);
        if (c->fail[0] != '\0')
            return false;
        if (n.path_len == 1 && n.path[0] == '/')
            break; /* the terminator */
        if (n.path_len < 0) {
            problem(r, at, "node with a null path (3.8 rejects the snapshot)");
            n.path_len = 0;
        }
        n.data_len = cur_bytes(c, &n.data);
        n.acl = cur_long(c);
        if (!cur_need(c, STAT_BYTES))
            return false;
        n.stat = c->buf + c->off;
        c->off += STAT_BYTES;

        if (s->n_nodes == cap) {
            cap = cap ? 2 * cap : 256;
            struct snap_node *nodes = realloc(s->nodes, cap * sizeof *nodes);
            if (nodes == NULL)
                return false;
            s->nodes = nodes;
        }
        size_t idx = s->n_nodes++;
        s->nodes[idx] = n;
        const char *slash = memrchr(n.path, '/', (size_t)n.path_len);
        if (snap_index(s, idx) != 0)
            return false;
        size_t dup = snap_slot(s, n.path, (size_t)n.path_len);
        if (s->slots[dup] != (int32_t)idx) {
            problem(r, at, "node %.*s appears twice (first at 0x%zx)", n.path_len, n.path,
                    s->nodes[s->slots[dup]].off);
        } else if (slash == NULL) {
            if (have_root)
                problem(r, at, "second root node \"%.*s\"", n.path_len, n.path);
            have_root = true;
        } else {
            size_t p = snap_slot(s, n.path, (size_t)(slash - (const char *)n.path));
            if (s->slots[p] < 0)
                problem(r, at, "node %.*s comes before its parent (3.8 rejects the snapshot)",
                        n.path_len, n.path);
            else
                s->nodes[s->slots[p]].children++;
        }
        struct snap_acl key = {.index = n.acl};
        if (n.acl != -1 && bsearch(&key, s->acls, s->n_acls, sizeof key, cmp_acl) == NULL)
            problem(r, at, "node %.*s uses ACL list %" PRId64 ", which the snapshot lacks",
                    n.path_len, n.path, n.acl);
        s->tree_digest += node_digest(&n);
        s->data_bytes += n.data_len > 0 ? n.data_len : 0;
        int64_t owner = ST_L(&n, ST_OWNER);
        if (is_ephemeral_owner(owner)) {
            s->ephemerals++;
            struct snap_session sk = {.id = owner};
            struct snap_session *ss =
                bsearch(&sk, s->sessions, s->n_sessions, sizeof sk, cmp_session);
            if (ss != NULL)
                ss->ephemerals++;
        }
    }
    if (!have_root)
        problem(r, c->off, "no root node (a node with path \"\")");
    return true;
}

static void print_snapshot(const struct snapshot *s, const uint8_t *buf)
{
    printf("Sessions (%zu):\n", s->n_sessions);
    for (size_t i = 0; i < s->n_sessions; i++)
        printf("  0x%" PRIx64 " timeout %" PRId32 " ephemerals %" PRId32 "\n",
               (uint64_t)s->sessions[i].id, s->sessions[i].timeout_ms, s->sessions[i].ephemerals);
    printf("ACL lists (%zu):\n", s->n_acls);
    for (size_t i = 0; i < s->n_acls; i++) {
        struct cursor c = {.buf = buf, .len = SIZE_MAX, .off = s->acls[i].off, .what = "acl"};
        int32_t n = cur_int(&c);
        printf("  %" PRId64 ": [", s->acls[i].index);
        for (int32_t k = 0; k < n; k++) {
            const uint8_t *scheme, *id;
            int32_t perms = cur_int(&c);
            int32_t ls = cur_bytes(&c, &scheme), li = cur_bytes(&c, &id);
            printf("%s%.*s:%.*s=", k ? ", " : "", ls < 0 ? 0 : ls, (const char *)scheme,
                   li < 0 ? 0 : li, (const char *)id);
            print_perms(perms);
        }
        printf("]\n");
    }
    printf("Nodes (%zu):\n", s->n_nodes);
    for (size_t i = 0; i < s->n_nodes; i++) {
        const struct snap_node *n = &s->nodes[i];
        if (n->path_len == 0)
            printf("  / (root)\n");
        else
            printf("  %.*s\n", n->path_len, (const char *)n->path);
        printf("    czxid 0x%" PRIx64 " mzxid 0x%" PRIx64 " pzxid 0x%" PRIx64 " ctime ",
               (uint64_t)ST_L(n, ST_CZXID), (uint64_t)ST_L(n, ST_MZXID),
               (uint64_t)ST_L(n, ST_PZXID));
        print_time(ST_L(n, ST_CTIME));
        printf(" mtime ");
        print_time(ST_L(n, ST_MTIME));
        printf("\n    version %" PRId32 " cversion %" PRId32 " aversion %" PRId32
               " ephemeralOwner 0x%" PRIx64 " acl %" PRId64 " numChildren %" PRId32 " ",
               ST_I(n, ST_VERSION), ST_I(n, ST_CVERSION), ST_I(n, ST_AVERSION),
               (uint64_t)ST_L(n, ST_OWNER), n->acl, n->children);
        print_data(n->data, n->data_len);
        putchar('\n');
    }
}

static int inspect_snapshot(const char *name, bool verify)
{
    uint8_t *buf;
    size_t len;
    if (read_whole(name, &buf, &len) != 0)
        return INSPECT_DAMAGED;
    struct report r = {.name = name};
    struct snapshot s = {0};
    struct cursor c = {.buf = buf, .len = len, .what = "the file header"};
    char note[256] = "";
    int64_t zxid = 0;
    bool named = name_zxid(name, &zxid);

    if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
        fprintf(stderr, "corral-inspect: %s: gzip-compressed; read `gunzip -c` of it instead\n",
                name);
        free(buf);
        return INSPECT_DAMAGED;
    }
    if (len >= 8 && memcmp(buf, "\x82SNAPPY", 8) == 0) {
        fprintf(stderr, "corral-inspect: %s: snappy-compressed snapshots are not read\n", name);
        free(buf);
        return INSPECT_DAMAGED;
    }
    if (len < 10 || memcmp(buf + len - 5, "\0\0\0\1/", 5) != 0)
        problem(&r, len, "does not end with the \"/\" marker: ZooKeeper skips this snapshot");

    int32_t magic = cur_int(&c), version = cur_int(&c);
    int64_t dbid = cur_long(&c);
    if (c.fail[0] == '\0' && (uint32_t)magic != SNAPSHOT_MAGIC) {
        problem(&r, 0, "magic 0x%08" PRIx32 " is not \"ZKSN\" (0x%08x)", (uint32_t)magic,
                SNAPSHOT_MAGIC);
        goto out;
    }
    if (!snap_parse_body(&s, &c, &r)) {
        if (c.fail[0] == '\0')
            fprintf(stderr, "corral-inspect: %s: out of memory\n", name);
        goto fail;
    }

    size_t seal1_off = c.off;
    c.what = "seal1";
    uint64_t seal1 = (uint64_t)cur_long(&c);
    c.what = "the \"/\" after seal1";
    bool marked = cur_marker(&c);
    if (c.fail[0] != '\0')
        goto fail;
    uint32_t sum1 = txnlog_adler32(1, buf, seal1_off);
    if (seal1 != sum1)
        problem(&r, seal1_off, "seal1 0x%" PRIx64 ", but the bytes before it sum to 0x%08" PRIx32,
                seal1, sum1);
    if (!marked)
        problem(&r, seal1_off + 8, "no \"/\" after seal1");

    /* The digest section is optional (pre-3.6, or digests off); a cut one is not. */
    bool has_digest = c.off < len;
    int64_t dzxid = 0;
    int32_t dversion = 0;
    uint64_t digest = 0;
    if (has_digest) {
        c.what = "the digest section";
        dzxid = cur_long(&c);
        dversion = cur_int(&c);
        if (dversion >= 2) {
            digest = (uint64_t)cur_long(&c);
        } else {
            const uint8_t *hex;
            int32_t n = cur_bytes(&c, &hex);
            snprintf(note, sizeof note, "digest version %" PRId32 " (\"%.*s\") not checked",
                     dversion, n < 0 ? 0 : n, n < 0 ? "" : (const char *)hex);
        }
        size_t seal2_off = c.off;
        c.what = "seal2";
        uint64_t seal2 = (uint64_t)cur_long(&c);
        c.what = "the \"/\" after seal2";
        marked = cur_marker(&c);
        if (c.fail[0] != '\0')
            goto fail;
        uint32_t sum2 = txnlog_adler32(1, buf, seal2_off);
        if (seal2 != sum2)
            problem(&r, seal2_off,
                    "seal2 0x%" PRIx64 ", but the bytes before it sum to 0x%08" PRIx32, seal2,
                    sum2);
        if (!marked)
            problem(&r, seal2_off + 8, "no \"/\" after seal2");
    }
    if (has_digest && dversion >= 2) {
        bool match = digest == s.tree_digest;
        if (dzxid == 0)
            snprintf(note, sizeof note,
                     "digest zxid 0: nothing applied when written, not "
                     "checked");
        else if (named && dzxid < zxid)
            snprintf(note, sizeof note,
                     "digest zxid 0x%" PRIx64 " precedes the snapshot's, "
                     "ignored as ZooKeeper does",
                     (uint64_t)dzxid);
        else if (named && dzxid > zxid && !match)
            snprintf(note, sizeof note,
                     "fuzzy: the digest is for zxid 0x%" PRIx64 ", compare "
                     "it after replaying to there",
                     (uint64_t)dzxid);
        else if (!match)
            problem(&r, seal1_off + 13 + 12,
                    "tree digest 0x%" PRIx64 " stored for zxid 0x%" PRIx64
                    ", but the nodes give 0x%" PRIx64,
                    digest, (uint64_t)dzxid, s.tree_digest);
        else
            snprintf(note, sizeof note, "digest matches at zxid 0x%" PRIx64, (uint64_t)dzxid);
    } else if (!has_digest) {
        snprintf(note, sizeof note, "no digest section");
    }

    /* 3.9 appends lastProcessedZxid, seal3 and "/" (A.14); anything else is ignored by 3.8. */
    int64_t last_processed = 0;
    bool has_39 = false;
    if (c.off < len) {
        size_t start = c.off;
        c.what = "the 3.9 section";
        last_processed = cur_long(&c);
        size_t seal3_off = c.off;
        uint64_t seal3 = (uint64_t)cur_long(&c);
        if (cur_marker(&c) && c.off == len) {
            has_39 = true;
            uint32_t sum3 = txnlog_adler32(1, buf, seal3_off);
            if (seal3 != sum3)
                problem(&r, seal3_off,
                        "seal3 0x%" PRIx64 ", but the bytes before it sum to "
                        "0x%08" PRIx32,
                        seal3, sum3);
        } else {
            c.fail[0] = '\0';
            c.off = start;
            problem(&r, start, "%zu unexpected bytes after the last section", len - start);
        }
    }

    if (!verify) {
        printf("%s: snapshot, format version %" PRId32 ", dbid %" PRId64 ", %zu bytes", name,
               version, dbid, len);
        if (named)
            printf(", zxid 0x%" PRIx64 " (from the name)", (uint64_t)zxid);
        putchar('\n');
        print_snapshot(&s, buf);
        if (has_digest && dversion >= 2)
            printf("Digest: zxid 0x%" PRIx64 " version %" PRId32 " treeDigest 0x%" PRIx64
                   " (the nodes give 0x%" PRIx64 ")\n",
                   (uint64_t)dzxid, dversion, digest, s.tree_digest);
        if (has_39)
            printf("lastProcessedZxid 0x%" PRIx64 " (3.9)\n", (uint64_t)last_processed);
        printf("Summary: %zu sessions, %zu ACL lists, %zu nodes (%" PRId64 " ephemeral), %" PRId64
               " bytes of data%s%s\n",
               s.n_sessions, s.n_acls, s.n_nodes, s.ephemerals, s.data_bytes, note[0] ? "; " : "",
               note);
    }
    goto out;
fail:
    if (c.fail[0] != '\0')
        problem(&r, c.fail_off, "%s", c.fail);
    else
        r.problems++;
out:
    if (verify && r.problems == 0)
        printf("%s: OK (%zu nodes%s%s)\n", name, s.n_nodes, note[0] ? "; " : "", note);
    free(s.sessions);
    free(s.acls);
    free(s.nodes);
    free(s.slots);
    free(buf);
    return r.problems ? INSPECT_DAMAGED : INSPECT_CLEAN;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"verify", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool verify = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case 'v':
            verify = true;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return INSPECT_CLEAN;
        default:
            fputs(usage_text, stderr);
            return INSPECT_USAGE;
        }
    }
    if (argc - optind < 2) {
        fputs(usage_text, stderr);
        return INSPECT_USAGE;
    }
    const char *what = argv[optind];
    int (*inspect)(const char *, bool);
    if (strcmp(what, "log") == 0) {
        inspect = inspect_log;
    } else if (strcmp(what, "snapshot") == 0) {
        inspect = inspect_snapshot;
    } else {
        fprintf(stderr, "corral-inspect: unknown kind \"%s\": log or snapshot\n", what);
        return INSPECT_USAGE;
    }
    int rc = INSPECT_CLEAN;
    for (int i = optind + 1; i < argc; i++)
        if (inspect(argv[i], verify) != INSPECT_CLEAN)
            rc = INSPECT_DAMAGED;
    return rc;
}
