/* The transaction log in ZooKeeper 3.8's format (disk-and-quorum.md A.4-A.7). */
#include "txnlog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "zkerr.h"

#define FILE_HEADER_BYTES 16
#define FILE_VERSION 2
#define TXN_HEADER_BYTES 32
#define DIGEST_BYTES 12
#define RECORD_HEAD_BYTES 12 /* checksum, length */
#define END_MARKER 0x42
#define PAD_SLACK 4096
/* Far above what ZooKeeper writes (2,097,150 per field, A.2): only garbage is refused. */
#define MAX_ENTRY_BYTES (64 * 1024 * 1024)
#define ADLER_MOD 65521
#define ADLER_NMAX 5552

static int fail(char *err, size_t err_len, int rc, const char *fmt, ...) CORRAL_PRINTF(4, 5);

static int fail(char *err, size_t err_len, int rc, const char *fmt, ...)
{
    if (err != NULL && err_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

#if defined(__SSE2__)
#include <emmintrin.h>

static uint32_t hsum_epi32(__m128i v)
{
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2)));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
    return (uint32_t)_mm_cvtsi128_si32(v);
}

/* n bytes, a multiple of 16 and at most ADLER_NMAX: per 16-byte block, b grows by 16 times a
 * before the block plus the block's bytes weighted 16..1, and a by the block's sum. The
 * byte sums come from psadbw, the weighted ones from pmaddwd: SSE2, every x86-64 has it. */
static void adler_blocks(uint32_t *pa, uint32_t *pb, const uint8_t *p, size_t n)
{
    const __m128i zero = _mm_setzero_si128();
    const __m128i w_lo = _mm_setr_epi16(16, 15, 14, 13, 12, 11, 10, 9);
    const __m128i w_hi = _mm_setr_epi16(8, 7, 6, 5, 4, 3, 2, 1);
    __m128i v_a = zero, v_prefix = zero, v_w = zero;
    size_t blocks = n / 16;
    for (size_t i = 0; i < blocks; i++, p += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)p);
        v_prefix = _mm_add_epi32(v_prefix, v_a);
        v_a = _mm_add_epi32(v_a, _mm_sad_epu8(x, zero));
        v_w = _mm_add_epi32(v_w, _mm_madd_epi16(_mm_unpacklo_epi8(x, zero), w_lo));
        v_w = _mm_add_epi32(v_w, _mm_madd_epi16(_mm_unpackhi_epi8(x, zero), w_hi));
    }
    uint64_t a = *pa, b = *pb;
    b += (uint64_t)blocks * 16 * a + 16 * (uint64_t)hsum_epi32(v_prefix) + hsum_epi32(v_w);
    a += hsum_epi32(v_a);
    *pa = (uint32_t)(a % ADLER_MOD);
    *pb = (uint32_t)(b % ADLER_MOD);
}
#endif

uint32_t txnlog_adler32(uint32_t adler, const uint8_t *buf, size_t len)
{
    uint32_t a = adler & 0xffff, b = adler >> 16;
#if defined(__SSE2__)
    while (len >= 16) {
        size_t n = len < ADLER_NMAX ? len : ADLER_NMAX;
        n &= ~(size_t)15;
        adler_blocks(&a, &b, buf, n);
        buf += n;
        len -= n;
    }
#endif
    while (len > 0) {
        /* NMAX bytes is the most b can take from below the modulus without overflowing. */
        size_t n = len < ADLER_NMAX ? len : ADLER_NMAX;
        len -= n;
        while (n-- > 0) {
            a += *buf++;
            b += a;
        }
        a %= ADLER_MOD;
        b %= ADLER_MOD;
    }
    return b << 16 | a;
}

/* --- record bodies ------------------------------------------------------------------------ */

static bool is_multi_sub_type(int32_t type)
{
    switch (type) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATECONTAINER:
    case ZK_OP_CREATETTL:
    case ZK_OP_DELETE:
    case ZK_OP_DELETECONTAINER:
    case ZK_OP_SETDATA:
    case ZK_OP_CHECK:
    case ZK_OP_ERROR:
        return true;
    default:
        return false;
    }
}

static const char *type_name(int32_t type)
{
    switch (type) {
    case ZK_OP_CREATESESSION:
        return "createSession";
    case ZK_OP_CLOSESESSION:
        return "closeSession";
    case ZK_OP_CREATE:
        return "create";
    case ZK_OP_CREATE2:
        return "create2";
    case ZK_OP_CREATECONTAINER:
        return "createContainer";
    case ZK_OP_CREATETTL:
        return "createTTL";
    case ZK_OP_DELETE:
        return "delete";
    case ZK_OP_DELETECONTAINER:
        return "deleteContainer";
    case ZK_OP_SETDATA:
        return "setData";
    case ZK_OP_RECONFIG:
        return "reconfig";
    case ZK_OP_SETACL:
        return "setACL";
    case ZK_OP_CHECK:
        return "check";
    case ZK_OP_ERROR:
        return "error";
    case ZK_OP_MULTI:
        return "multi";
    default:
        return "unknown";
    }
}

static void encode_create_fields(struct jute_writer *w, const struct txn *t)
{
    jute_write_ustring(w, t->path);
    jute_write_buffer(w, t->data, t->data_len);
    proto_write_acl_vec(w, &t->acl);
}

static void encode_body(struct jute_writer *w, int32_t type, const struct txn *t, bool in_multi);

static void encode_multi(struct jute_writer *w, const struct txn *t)
{
    if (t->n_sub > INT32_MAX || (t->n_sub > 0 && t->sub == NULL)) {
        w->failed = true;
        return;
    }
    struct jute_writer body;
    jute_writer_init(&body);
    jute_write_int(w, (int32_t)t->n_sub);
    for (size_t i = 0; i < t->n_sub && !w->failed; i++) {
        const struct txn *sub = &t->sub[i];
        /* 3.8.0 and 3.8.1 abort a multi half-applied on sub-type 15; the body is the same. */
        int32_t type = sub->type == ZK_OP_CREATE2 ? ZK_OP_CREATE : sub->type;
        jute_writer_reset(&body);
        encode_body(&body, type, sub, true);
        if (body.failed || body.len > INT32_MAX) {
            w->failed = true;
            break;
        }
        jute_write_int(w, type);
        jute_write_buffer(w, body.buf, (int32_t)body.len);
    }
    jute_writer_free(&body);
}

/* Unknown types and txns that cannot be encoded fail the writer: a caller bug, never a
 * record to put on disk. */
static void encode_body(struct jute_writer *w, int32_t type, const struct txn *t, bool in_multi)
{
    if (in_multi && !is_multi_sub_type(type)) {
        w->failed = true;
        return;
    }
    switch (type) {
    case ZK_OP_CREATESESSION:
        jute_write_int(w, t->timeout_ms);
        break;
    case ZK_OP_CLOSESESSION:
        if (t->n_paths > INT32_MAX || (t->n_paths > 0 && t->paths == NULL)) {
            w->failed = true;
            break;
        }
        jute_write_int(w, (int32_t)t->n_paths);
        for (size_t i = 0; i < t->n_paths; i++)
            jute_write_ustring(w, t->paths[i]);
        break;
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
        encode_create_fields(w, t);
        jute_write_bool(w, t->ephemeral);
        jute_write_int(w, t->parent_cversion);
        break;
    case ZK_OP_CREATECONTAINER:
        encode_create_fields(w, t);
        jute_write_int(w, t->parent_cversion);
        break;
    case ZK_OP_CREATETTL:
        encode_create_fields(w, t);
        jute_write_int(w, t->parent_cversion);
        jute_write_long(w, t->ttl);
        break;
    case ZK_OP_DELETE:
    case ZK_OP_DELETECONTAINER:
        jute_write_ustring(w, t->path);
        break;
    case ZK_OP_SETDATA:
    case ZK_OP_RECONFIG:
        jute_write_ustring(w, t->path);
        jute_write_buffer(w, t->data, t->data_len);
        jute_write_int(w, t->version);
        break;
    case ZK_OP_SETACL:
        jute_write_ustring(w, t->path);
        proto_write_acl_vec(w, &t->acl);
        jute_write_int(w, t->version);
        break;
    case ZK_OP_CHECK:
        jute_write_ustring(w, t->path);
        jute_write_int(w, t->version);
        break;
    case ZK_OP_ERROR:
        jute_write_int(w, t->err);
        break;
    case ZK_OP_MULTI:
        encode_multi(w, t);
        break;
    default:
        w->failed = true;
        break;
    }
}

void txnlog_encode_entry(const struct txn_header *hdr, const struct txn *txn, struct jute_writer *w)
{
    jute_write_long(w, hdr->client_id);
    jute_write_int(w, hdr->cxid);
    jute_write_long(w, hdr->zxid);
    jute_write_long(w, hdr->time_ms);
    jute_write_int(w, hdr->type);
    encode_body(w, hdr->type, txn, false);
}

/* A reader over a private copy of the entry, plus whether an allocation failed. */
struct dec {
    struct jute_reader r;
    bool oom;
};

/* A path as a heap copy. A txn's paths are never null or empty, and an embedded NUL would
 * silently name another node, so all three count as malformed. */
static char *dec_path(struct dec *d)
{
    size_t len = 0;
    char *s = jute_read_ustring(&d->r, NULL, &len);
    if (s == NULL || len == 0 || strlen(s) != len) {
        d->r.failed = true;
        return NULL;
    }
    char *copy = strdup(s);
    if (copy == NULL)
        d->oom = true;
    return copy;
}

static char *dec_opt_string(struct dec *d)
{
    char *s = jute_read_ustring(&d->r, NULL, NULL);
    if (s == NULL)
        return NULL;
    char *copy = strdup(s);
    if (copy == NULL)
        d->oom = true;
    return copy;
}

static void dec_data(struct dec *d, struct txn *t)
{
    const uint8_t *data = NULL;
    int32_t n = jute_read_buffer(&d->r, &data);
    t->data_len = n;
    if (n <= 0)
        return;
    t->data = malloc((size_t)n);
    if (t->data == NULL) {
        d->oom = true;
        return;
    }
    memcpy(t->data, data, (size_t)n);
}

static void dec_acl(struct dec *d, struct zk_acl_vec *v)
{
    /* perms plus two ustring lengths at least */
    int32_t count = jute_read_count(&d->r, 12);
    *v = (struct zk_acl_vec){.count = count < 0 ? -1 : 0, .items = NULL};
    if (d->r.failed || count <= 0)
        return;
    v->items = calloc((size_t)count, sizeof *v->items);
    if (v->items == NULL) {
        d->oom = true;
        return;
    }
    v->count = count;
    for (int32_t i = 0; i < count && !d->r.failed && !d->oom; i++) {
        v->items[i].perms = jute_read_int(&d->r);
        v->items[i].id.scheme = dec_opt_string(d);
        v->items[i].id.id = dec_opt_string(d);
    }
}

static void dec_paths(struct dec *d, struct txn *t)
{
    int32_t count = jute_read_count(&d->r, 4);
    if (d->r.failed || count <= 0)
        return;
    t->paths = calloc((size_t)count, sizeof *t->paths);
    if (t->paths == NULL) {
        d->oom = true;
        return;
    }
    t->n_paths = (size_t)count;
    for (int32_t i = 0; i < count && !d->r.failed && !d->oom; i++)
        t->paths[i] = dec_path(d);
}

static int decode_body(struct dec *d, int32_t type, struct txn *t, bool in_multi, char *err,
                       size_t err_len);

static int decode_multi(struct dec *d, struct txn *t, char *err, size_t err_len)
{
    /* a sub-txn is at least its type and its buffer's length */
    int32_t count = jute_read_count(&d->r, 8);
    if (d->r.failed)
        return fail(err, err_len, -EBADMSG, "malformed multi txn: bad sub-txn count");
    if (count <= 0)
        return 0;
    t->sub = calloc((size_t)count, sizeof *t->sub);
    if (t->sub == NULL)
        return -ENOMEM;
    t->n_sub = (size_t)count;
    for (int32_t i = 0; i < count; i++) {
        int32_t type = jute_read_int(&d->r);
        const uint8_t *data = NULL;
        int32_t n = jute_read_buffer(&d->r, &data);
        if (d->r.failed || n < 0)
            return fail(err, err_len, -EBADMSG, "malformed multi txn: sub-txn %d is cut short",
                        (int)i);
        if (!is_multi_sub_type(type))
            return fail(err, err_len, -EBADMSG, "multi sub-txn %d has type %d (%s)", (int)i,
                        (int)type, type_name(type));
        /* The slice lies in our private copy, so its ustrings may be terminated in place. */
        struct dec sub = {.oom = false};
        jute_reader_init(&sub.r, (uint8_t *)data, (size_t)n, (size_t)n);
        t->sub[i].type = type;
        int rc = decode_body(&sub, type, &t->sub[i], true, err, err_len);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Reads one body; whatever follows it (a TxnDigest, say) is left unread. */
static int decode_body(struct dec *d, int32_t type, struct txn *t, bool in_multi, char *err,
                       size_t err_len)
{
    switch (type) {
    case ZK_OP_CREATESESSION:
        t->timeout_ms = jute_read_int(&d->r);
        break;
    case ZK_OP_CLOSESESSION: {
        /* The body is absent with closeSessionTxnEnabled=false and in pre-3.6 logs; a digest
         * may follow. Like 3.8, try the vector first. */
        struct jute_reader before = d->r;
        size_t left = jute_remaining(&d->r);
        dec_paths(d, t);
        if (d->r.failed && (left == 0 || left == DIGEST_BYTES)) {
            for (size_t i = 0; i < t->n_paths; i++)
                free(t->paths[i]);
            free(t->paths);
            t->paths = NULL;
            t->n_paths = 0;
            d->r = before;
        }
        break;
    }
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
        t->path = dec_path(d);
        dec_data(d, t);
        dec_acl(d, &t->acl);
        t->ephemeral = jute_read_bool(&d->r);
        t->parent_cversion = jute_read_int(&d->r);
        break;
    case ZK_OP_CREATECONTAINER:
        t->path = dec_path(d);
        dec_data(d, t);
        dec_acl(d, &t->acl);
        t->parent_cversion = jute_read_int(&d->r);
        break;
    case ZK_OP_CREATETTL:
        t->path = dec_path(d);
        dec_data(d, t);
        dec_acl(d, &t->acl);
        t->parent_cversion = jute_read_int(&d->r);
        t->ttl = jute_read_long(&d->r);
        break;
    case ZK_OP_DELETE:
    case ZK_OP_DELETECONTAINER:
        t->path = dec_path(d);
        break;
    case ZK_OP_SETDATA:
    case ZK_OP_RECONFIG:
        t->path = dec_path(d);
        dec_data(d, t);
        t->version = jute_read_int(&d->r);
        break;
    case ZK_OP_SETACL:
        t->path = dec_path(d);
        dec_acl(d, &t->acl);
        t->version = jute_read_int(&d->r);
        break;
    case ZK_OP_CHECK:
        t->path = dec_path(d);
        t->version = jute_read_int(&d->r);
        break;
    case ZK_OP_ERROR:
        t->err = jute_read_int(&d->r);
        break;
    case ZK_OP_MULTI:
        if (in_multi)
            break; /* refused below */
        {
            int rc = decode_multi(d, t, err, err_len);
            if (rc != 0)
                return rc;
        }
        break;
    default:
        return fail(err, err_len, -EBADMSG, "unknown txn type %d", (int)type);
    }
    if (in_multi && !is_multi_sub_type(type))
        return fail(err, err_len, -EBADMSG, "a %s txn inside a multi", type_name(type));
    if (d->oom)
        return fail(err, err_len, -ENOMEM, "out of memory decoding a %s txn", type_name(type));
    if (d->r.failed)
        return fail(err, err_len, -EBADMSG, "malformed %s txn body", type_name(type));
    return 0;
}

int txnlog_decode_entry(const uint8_t *entry, size_t len, struct txn_header *hdr, struct txn *txn,
                        char *err, size_t err_len)
{
    if (len < TXN_HEADER_BYTES)
        return fail(err, err_len, -EBADMSG, "an entry of %zu bytes is shorter than a TxnHeader",
                    len);
    /* jute terminates ustrings in place, and the caller's bytes are const. */
    uint8_t *copy = malloc(len);
    if (copy == NULL)
        return fail(err, err_len, -ENOMEM, "out of memory decoding an entry of %zu bytes", len);
    memcpy(copy, entry, len);
    struct dec d = {.oom = false};
    jute_reader_init(&d.r, copy, len, len);
    struct txn_header h;
    h.client_id = jute_read_long(&d.r);
    h.cxid = jute_read_int(&d.r);
    h.zxid = jute_read_long(&d.r);
    h.time_ms = jute_read_long(&d.r);
    h.type = jute_read_int(&d.r);
    struct txn t;
    memset(&t, 0, sizeof t);
    t.type = h.type;
    int rc = decode_body(&d, h.type, &t, false, err, err_len);
    free(copy);
    if (rc != 0) {
        txn_free(&t);
        return rc;
    }
    *hdr = h;
    *txn = t;
    return 0;
}

/* --- writing ---------------------------------------------------------------------------- */

/* One open log file. Lengths are byte offsets: everything below `synced` survived the last
 * successful commit; `written` has gone through pwrite; `buf` waits for the next commit. */
struct txnlog_file {
    struct txnlog_file *next;
    int fd;
    int64_t synced;
    int64_t synced_size; /* the file's size (preallocation included) at that commit */
    int64_t written;
    int64_t size;     /* the file's size as far as we made it */
    int64_t pad_size; /* the size preallocation asks for: ZooKeeper's currentSize */
    bool unsynced;    /* written since the last commit */
    bool attempted;   /* a write was tried since then: bytes past `written` may exist */
    struct jute_writer buf;
    char path[];
};

struct txnlog_writer {
    char *dir;
    int dir_fd;
    int64_t prealloc_bytes;
    /* Files with something to commit, oldest first: rolled-away ones, then cur. */
    struct txnlog_file *files;
    struct txnlog_file *cur; /* NULL until the first append after open or roll */
    bool dir_unsynced;       /* a file was created or removed since the last commit */
};

static int pwrite_all(int fd, const void *buf, size_t len, int64_t off)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

/* mkdir -p: the parent (dataLogDir) may be new as well. */
static int make_dirs(const char *dir)
{
    char *path = strdup(dir);
    if (path == NULL)
        return -ENOMEM;
    int rc = 0;
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            rc = -errno;
            break;
        }
        *p = c;
        if (c == '\0')
            break;
    }
    free(path);
    return rc;
}

struct txnlog_writer *txnlog_writer_open(const char *dir, int64_t prealloc_bytes, char *err,
                                         size_t err_len)
{
    int rc = make_dirs(dir);
    if (rc != 0) {
        fail(err, err_len, rc, "cannot create %s: %s", dir, strerror(-rc));
        return NULL;
    }
    struct txnlog_writer *w = calloc(1, sizeof *w);
    if (w == NULL || (w->dir = strdup(dir)) == NULL) {
        free(w);
        fail(err, err_len, -ENOMEM, "out of memory opening the log in %s", dir);
        return NULL;
    }
    w->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dir_fd < 0) {
        fail(err, err_len, -errno, "cannot open %s: %s", dir, strerror(errno));
        free(w->dir);
        free(w);
        return NULL;
    }
    w->prealloc_bytes = prealloc_bytes > 0 ? prealloc_bytes : 0;
    return w;
}

static void file_close(struct txnlog_file *f)
{
    close(f->fd);
    jute_writer_free(&f->buf);
    free(f);
}

/* Drops everything appended since the last successful commit: files that never got a
 * committed record are removed, the others are cut back to their committed length. */
static void writer_discard(struct txnlog_writer *w)
{
    struct txnlog_file **link = &w->files;
    struct txnlog_file *f;
    while ((f = *link) != NULL) {
        jute_writer_reset(&f->buf);
        bool empty = f->synced <= FILE_HEADER_BYTES;
        if (empty) {
            /* A header-only file would be overwritten or misread when the zxids are reused. */
            if (unlink(f->path) != 0)
                log_warn("txnlog", "cannot remove %s: %s", f->path, strerror(errno));
            w->dir_unsynced = true;
        } else if (f->attempted || f->written != f->synced || f->size != f->synced_size) {
            if (ftruncate(f->fd, (off_t)f->synced) != 0)
                log_warn("txnlog", "cannot cut %s back to %" PRId64 " bytes: %s", f->path,
                         f->synced, strerror(errno));
            f->size = f->synced;
            /* Give the preallocation back as a hole: it takes no blocks, and the file keeps
             * ZooKeeper's 16 + k*P shape. */
            if (f->synced_size > f->synced && ftruncate(f->fd, (off_t)f->synced_size) == 0)
                f->size = f->synced_size;
            f->written = f->synced;
            f->pad_size = f->size;
            f->attempted = false;
        }
        if (f == w->cur && !empty) {
            link = &f->next;
            continue;
        }
        *link = f->next;
        if (f == w->cur)
            w->cur = NULL;
        file_close(f);
    }
}

void txnlog_writer_close(struct txnlog_writer *w)
{
    if (w == NULL)
        return;
    writer_discard(w);
    if (w->cur != NULL) {
        w->files = NULL;
        file_close(w->cur);
    }
    close(w->dir_fd);
    free(w->dir);
    free(w);
}

static int file_create(struct txnlog_writer *w, int64_t zxid, struct txnlog_file **out)
{
    size_t path_len = strlen(w->dir) + sizeof "/log." + 16;
    struct txnlog_file *f = calloc(1, sizeof *f + path_len);
    if (f == NULL)
        return -ENOMEM;
    snprintf(f->path, path_len, "%s/log.%" PRIx64, w->dir, (uint64_t)zxid);
    /* The header is written under a name ZooKeeper does not read (TXNLOG_TMP_PREFIX) and the
     * file renamed after it: killed in between, the server leaves no 0-byte or headless
     * log.<zxid>, which ZooKeeper 3.8 refuses to start with (A.16). The rename replaces a
     * log.<zxid> of the same name, which can only hold a torn first record (A.3). */
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s/" TXNLOG_TMP_PREFIX "%" PRIx64, w->dir, (uint64_t)zxid) >=
        (int)sizeof tmp) {
        free(f);
        return -ENAMETOOLONG;
    }
    f->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        int rc = -errno;
        log_warn("txnlog", "cannot create %s: %s", tmp, strerror(-rc));
        free(f);
        return rc;
    }
    uint8_t hdr[FILE_HEADER_BYTES];
    put_be32(hdr, TXNLOG_MAGIC);
    put_be32(hdr + 4, FILE_VERSION);
    put_be64(hdr + 8, 0); /* dbid */
    int rc = pwrite_all(f->fd, hdr, sizeof hdr, 0);
    const char *step = "write the header of";
    if (rc == 0 && rename(tmp, f->path) != 0) {
        rc = -errno;
        step = "rename";
    }
    if (rc != 0) {
        log_warn("txnlog", "cannot %s %s: %s", step, tmp, strerror(-rc));
        unlink(tmp);
        close(f->fd);
        free(f);
        return rc;
    }
    f->synced = f->synced_size = f->written = f->size = f->pad_size = FILE_HEADER_BYTES;
    f->unsynced = true;
    jute_writer_init(&f->buf);
    w->dir_unsynced = true;
    *out = f;
    return 0;
}

/* A.6: before each append, when the position comes within 4096 bytes of the preallocated
 * size, plan one more step of P. ZooKeeper's position leaves out bytes still in its write
 * buffer; ours counts them, since they all reach the file at the next commit. */
static void pad_plan(struct txnlog_file *f, int64_t p)
{
    int64_t pos = f->written + (int64_t)f->buf.len;
    if (p <= 0 || pos + PAD_SLACK < f->pad_size)
        return;
    if (pos > f->pad_size)
        f->pad_size = (pos + p) / p * p;
    else
        f->pad_size += p;
}

int txnlog_append(struct txnlog_writer *w, int64_t zxid, const uint8_t *entry, size_t len)
{
    int rc = 0;
    if (len < TXN_HEADER_BYTES || len > MAX_ENTRY_BYTES) {
        rc = -EINVAL;
        goto failed;
    }
    if (w->cur == NULL) {
        rc = file_create(w, zxid, &w->cur);
        if (rc != 0)
            goto failed;
        struct txnlog_file **link = &w->files;
        while (*link != NULL)
            link = &(*link)->next;
        *link = w->cur;
    }
    struct txnlog_file *f = w->cur;
    pad_plan(f, w->prealloc_bytes);
    uint8_t head[RECORD_HEAD_BYTES];
    put_be64(head, txnlog_adler32(1, entry, len));
    put_be32(head + 8, (uint32_t)len);
    static const uint8_t marker = END_MARKER;
    jute_write_raw(&f->buf, head, sizeof head);
    jute_write_raw(&f->buf, entry, len);
    jute_write_raw(&f->buf, &marker, 1);
    if (f->buf.failed) {
        rc = -ENOMEM;
        goto failed;
    }
    return 0;
failed:
    /* The caller drops the whole uncommitted batch after a failure (synclog.c), so the
     * writer does too: nothing appended before it may reach the file later. */
    writer_discard(w);
    return rc;
}

/* Extends the file as planned, then writes its buffered records. */
static int file_flush(struct txnlog_file *f)
{
    int64_t end = f->written + (int64_t)f->buf.len;
    f->attempted = true;
    if (f->pad_size > f->size && f->pad_size > end) {
        /* Sparse: one zero byte at the new end, as ZooKeeper does (A.6). */
        static const uint8_t zero = 0;
        int rc = pwrite_all(f->fd, &zero, 1, f->pad_size - 1);
        if (rc != 0)
            return rc;
        f->size = f->pad_size;
    }
    if (f->buf.len == 0)
        return 0;
    f->unsynced = true;
    int rc = pwrite_all(f->fd, f->buf.buf, f->buf.len, f->written);
    if (rc != 0)
        return rc;
    f->written = end;
    if (end > f->size)
        f->size = end;
    jute_writer_reset(&f->buf);
    return 0;
}

int txnlog_commit(struct txnlog_writer *w, bool force_sync)
{
    int rc = 0;
    const char *what = "write", *path = w->dir;
    for (struct txnlog_file *f = w->files; f != NULL && rc == 0; f = f->next) {
        rc = file_flush(f);
        path = f->path;
    }
    if (rc == 0 && force_sync) {
        what = "fdatasync";
        for (struct txnlog_file *f = w->files; f != NULL && rc == 0; f = f->next) {
            path = f->path;
            if (f->unsynced && fdatasync(f->fd) != 0)
                rc = -errno;
        }
        /* A new file's name must last as long as the records in it. */
        if (rc == 0 && w->dir_unsynced && fsync(w->dir_fd) != 0) {
            rc = -errno;
            what = "fsync";
            path = w->dir;
        }
    }
    if (rc != 0) {
        log_warn("txnlog", "%s %s: %s; dropping the txns appended since the last commit", what,
                 path, strerror(-rc));
        writer_discard(w);
        return rc;
    }
    w->dir_unsynced = false;
    struct txnlog_file *f;
    while ((f = w->files) != NULL) {
        f->synced = f->written;
        f->synced_size = f->size;
        f->unsynced = false;
        f->attempted = false;
        if (f == w->cur)
            break;
        w->files = f->next;
        file_close(f); /* rolled away and now committed */
    }
    return 0;
}

void txnlog_roll(struct txnlog_writer *w)
{
    struct txnlog_file *f = w->cur;
    if (f == NULL)
        return;
    w->cur = NULL;
    if (f->buf.len > 0 || f->written != f->synced)
        return; /* stays in w->files until the next commit writes and syncs it */
    struct txnlog_file **link = &w->files;
    while (*link != f)
        link = &(*link)->next;
    *link = f->next;
    file_close(f);
}

int64_t txnlog_current_bytes(const struct txnlog_writer *w)
{
    const struct txnlog_file *f = w->cur;
    return f != NULL ? f->written + (int64_t)f->buf.len : 0;
}

/* --- reading and recovery --------------------------------------------------------------- */

struct log_name {
    int64_t zxid;
    bool canonical; /* exactly log.<lowercase hex, no leading zeros> */
    char *name;
};

/* "log.<hex>" with any further ".suffix" (A.3); the number is a non-negative int64. */
static bool parse_log_name(const char *name, int64_t *zxid, bool *canonical)
{
    if (strncmp(name, "log.", 4) != 0)
        return false;
    const char *p = name + 4;
    uint64_t v = 0;
    size_t digits = 0;
    for (;; p++, digits++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            d = *p - 'A' + 10;
        else
            break;
        if (v > ((uint64_t)INT64_MAX - (uint64_t)d) / 16)
            return false;
        v = v * 16 + (uint64_t)d;
    }
    if (digits == 0 || (*p != '\0' && *p != '.'))
        return false;
    char want[32];
    snprintf(want, sizeof want, "log.%" PRIx64, v);
    *zxid = (int64_t)v;
    *canonical = strcmp(name, want) == 0;
    return true;
}

static int cmp_log_names(const void *a, const void *b)
{
    const struct log_name *x = a, *y = b;
    if (x->zxid != y->zxid)
        return x->zxid < y->zxid ? -1 : 1;
    if (x->canonical != y->canonical)
        return x->canonical ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void free_log_names(struct log_name *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i].name);
    free(names);
}

/* The log files of dir, ascending; the preferred name first among equal zxids. A missing
 * directory holds no logs. */
static int list_log_names(const char *dir, struct log_name **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return errno == ENOENT ? 0 : -errno;
    struct log_name *names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        int64_t zxid;
        bool canonical;
        if (e->d_type == DT_DIR || !parse_log_name(e->d_name, &zxid, &canonical))
            continue;
        struct stat sb;
        if (e->d_type == DT_UNKNOWN && fstatat(dirfd(d), e->d_name, &sb, 0) == 0 &&
            S_ISDIR(sb.st_mode))
            continue;
        if (n == cap) {
            size_t ncap = cap > 0 ? cap * 2 : 16;
            struct log_name *grown = realloc(names, ncap * sizeof *names);
            if (grown == NULL) {
                rc = -ENOMEM;
                break;
            }
            names = grown;
            cap = ncap;
        }
        names[n].zxid = zxid;
        names[n].canonical = canonical;
        names[n].name = strdup(e->d_name);
        if (names[n].name == NULL) {
            rc = -ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (rc != 0) {
        free_log_names(names, n);
        return rc;
    }
    if (n > 0)
        qsort(names, n, sizeof *names, cmp_log_names);
    *out = names;
    *count = n;
    return 0;
}

int txnlog_list(const char *dir, int64_t **zxids, size_t *count)
{
    struct log_name *names;
    size_t n;
    int rc = list_log_names(dir, &names, &n);
    if (rc != 0) {
        errno = -rc;
        return rc;
    }
    int64_t *z = malloc((n > 0 ? n : 1) * sizeof *z);
    if (z == NULL) {
        free_log_names(names, n);
        errno = ENOMEM;
        return -ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (k == 0 || z[k - 1] != names[i].zxid)
            z[k++] = names[i].zxid;
    free_log_names(names, n);
    *zxids = z;
    *count = k;
    return 0;
}

struct replay {
    const char *dir;
    int64_t after_zxid;
    bool repair;
    int (*fn)(const struct txn_header *hdr, const struct txn *txn, void *arg);
    void *arg;
    struct txnlog_replay_stats *stats;
    int64_t last_seen; /* the highest zxid of any intact record, skipped ones included; -1 */
    bool warned_order;
    char *err;
    size_t err_len;
};

/* One past the last non-zero byte in [from, size), or `from` when all are zero. */
/* Where the last non-zero byte of [from, size) ends (from when none). Preallocation leaves a
 * sparse hole of up to 64 MiB: SEEK_DATA skips it, so only written extents are scanned. On a
 * file system without holes the one extent is the whole range. */
static int64_t nonzero_end(int fd, const uint8_t *map, int64_t from, int64_t size)
{
    int64_t end = from;
    int64_t pos = from;
    while (pos < size) {
        off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
        if (data < 0 || data >= size)
            break; /* ENXIO: nothing but a hole up to the end */
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0 || hole > size)
            hole = (off_t)size;
        for (int64_t i = hole; i > data; i--) {
            if (map[i - 1] != 0) {
                end = i;
                break;
            }
        }
        pos = hole;
    }
    return end;
}

static bool all_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != 0)
            return false;
    return true;
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* The newest file is damaged from `off` on: cut it there (or remove it when it has no
 * header), and report it. truncated_bytes counts from `off` to the last non-zero byte, so the
 * preallocated zeros beyond the damage are not counted as lost data. */
static int cut_newest(struct replay *rp, const char *path, int64_t start, int64_t off,
                      int64_t damaged_bytes, const char *why)
{
    struct txnlog_replay_stats *st = rp->stats;
    int64_t after = rp->last_seen >= 0 ? rp->last_seen : (start > 0 ? start - 1 : 0);
    st->truncated_bytes = damaged_bytes;
    st->truncated_after = after;
    snprintf(st->truncated_file, sizeof st->truncated_file, "%s", path);
    if (off < FILE_HEADER_BYTES) {
        /* A crash between creating the file and writing its header (A.7). */
        if (rp->repair && unlink(path) != 0)
            return fail(rp->err, rp->err_len, -errno,
                        "%s: cannot remove it (it has no file header): %s", path, strerror(errno));
        if (rp->repair)
            sync_dir(rp->dir);
        log_warn("txnlog",
                 "%s: %s a log file without a header (%" PRId64
                 " non-zero bytes), left by a crash while creating it",
                 path, rp->repair ? "removed" : "ignoring", damaged_bytes);
        return 0;
    }
    if (rp->repair) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)off) != 0 || fsync(fd) != 0) {
            int rc = -errno;
            if (fd >= 0)
                close(fd);
            return fail(rp->err, rp->err_len, rc,
                        "%s: cannot cut it at offset %" PRId64 " (%s): %s", path, off, why,
                        strerror(-rc));
        }
        close(fd);
        log_warn("txnlog",
                 "%s: cut %" PRId64 " bytes of a torn or corrupt tail after zxid 0x%" PRIx64, path,
                 damaged_bytes, after);
    } else {
        log_warn("txnlog",
                 "%s: ignoring %" PRId64 " bytes of a torn or corrupt tail after zxid 0x%" PRIx64,
                 path, damaged_bytes, after);
    }
    return 0;
}

/* Hands every intact record of one mapped file over. Returns 0 at a clean end of the file,
 * 1 with *off and why set at damage, or a negative errno with the sentence in rp->err. */
static int replay_records(struct replay *rp, const char *path, const uint8_t *map, int64_t size,
                          int64_t *off, char *why, size_t why_len)
{
    while (*off < size) {
        int64_t left = size - *off;
        const uint8_t *rec = map + *off;
        if (left < RECORD_HEAD_BYTES) {
            snprintf(why, why_len, "the file ends inside a record");
            return 1;
        }
        uint64_t sum = jute_get_be64(rec);
        int32_t len = (int32_t)jute_get_be32(rec + 8);
        if (len == 0) {
            snprintf(why, why_len, "a zero length");
            return 1; /* the caller tells preallocated zeros from damage */
        }
        if (len < 0 || len > MAX_ENTRY_BYTES) {
            snprintf(why, why_len, "an unreasonable length %d", (int)len);
            return 1;
        }
        if (left < RECORD_HEAD_BYTES + (int64_t)len + 1) {
            snprintf(why, why_len, "the file ends inside a record of %d bytes", (int)len);
            return 1;
        }
        const uint8_t *entry = rec + RECORD_HEAD_BYTES;
        if (entry[len] != END_MARKER) {
            snprintf(why, why_len, "no end-of-record marker");
            return 1;
        }
        uint32_t actual = txnlog_adler32(1, entry, (size_t)len);
        if (sum != actual) {
            snprintf(why, why_len, "checksum 0x%" PRIx64 " where the entry sums to 0x%08" PRIx32,
                     sum, actual);
            return 1;
        }
        /* An intact record that does not decode is corruption wherever it is. */
        if (len < TXN_HEADER_BYTES)
            return fail(rp->err, rp->err_len, -EBADMSG,
                        "%s: offset %" PRId64 ": an entry of %d bytes is shorter than a TxnHeader",
                        path, *off, (int)len);
        int64_t zxid = (int64_t)jute_get_be64(entry + 12);
        int64_t next = *off + RECORD_HEAD_BYTES + len + 1;
        if (zxid > rp->last_seen)
            rp->last_seen = zxid;
        if (zxid <= rp->after_zxid) {
            *off = next;
            continue;
        }
        struct txn_header hdr;
        struct txn txn;
        char reason[256];
        int rc = txnlog_decode_entry(entry, (size_t)len, &hdr, &txn, reason, sizeof reason);
        if (rc != 0)
            return fail(rp->err, rp->err_len, rc, "%s: offset %" PRId64 ": zxid 0x%" PRIx64 ": %s",
                        path, *off, zxid, reason);
        struct txnlog_replay_stats *st = rp->stats;
        if (st->txns > 0 && zxid <= st->last_zxid && !rp->warned_order) {
            log_warn("txnlog", "%s: zxid 0x%" PRIx64 " follows 0x%" PRIx64 " out of order", path,
                     zxid, st->last_zxid);
            rp->warned_order = true;
        }
        rc = rp->fn(&hdr, &txn, rp->arg);
        txn_free(&txn);
        if (rc != 0)
            return fail(rp->err, rp->err_len, rc < 0 ? rc : -EIO,
                        "%s: offset %" PRId64 ": replaying zxid 0x%" PRIx64 " failed: %s", path,
                        *off, zxid, strerror(rc < 0 ? -rc : EIO));
        st->txns++;
        if (zxid > st->last_zxid)
            st->last_zxid = zxid;
        *off = next;
    }
    return 0;
}

static int replay_file(struct replay *rp, const char *path, int64_t start, bool newest,
                       int64_t next_start)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(rp->err, rp->err_len, -errno, "%s: cannot open it: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int rc = -errno;
        close(fd);
        return fail(rp->err, rp->err_len, rc, "%s: cannot stat it: %s", path, strerror(-rc));
    }
    int64_t size = sb.st_size;
    uint8_t *map = NULL;
    if (size > 0) {
        map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int rc = -errno;
            close(fd);
            return fail(rp->err, rp->err_len, rc, "%s: cannot map it: %s", path, strerror(-rc));
        }
    }

    int rc = 0;
    int64_t off = 0;
    char why[128];
    int64_t damage_end = 0;
    /* Short or all zeros: the header never made it to disk. */
    if (size < FILE_HEADER_BYTES || all_zero(map, FILE_HEADER_BYTES)) {
        snprintf(why, sizeof why, "no file header");
        damage_end = size > 0 ? nonzero_end(fd, map, 0, size) : 0;
        rc = 1;
    } else if (jute_get_be32(map) != TXNLOG_MAGIC) {
        rc = fail(rp->err, rp->err_len, -EBADMSG,
                  "%s: offset 0: magic 0x%08" PRIx32 " is not a transaction log's", path,
                  jute_get_be32(map));
    } else {
        off = FILE_HEADER_BYTES;
        rc = replay_records(rp, path, map, size, &off, why, sizeof why);
        if (rc == 1) {
            damage_end = nonzero_end(fd, map, off, size);
            if (damage_end == off)
                rc = 0; /* nothing but zeros from a record boundary on: preallocation */
        }
    }
    close(fd);
    if (map != NULL)
        munmap(map, (size_t)size);
    if (rc != 1)
        return rc;

    if (newest)
        return cut_newest(rp, path, start, off, damage_end - off, why);
    /* In an older file damage is a hole in history, unless the next file starts right after
     * what was read: ZooKeeper leaves exactly that after a crash tore its last record and
     * the restart rewrote the txn into a new file (A.3, A.7). */
    int64_t known = rp->last_seen > rp->after_zxid ? rp->last_seen : rp->after_zxid;
    if (next_start - 1 <= known) {
        log_warn("txnlog",
                 "%s: ignoring %" PRId64 " bytes after offset %" PRId64
                 " (%s); the next log continues at zxid 0x%" PRIx64,
                 path, damage_end - off, off, why, next_start);
        return 0;
    }
    return fail(rp->err, rp->err_len, -EBADMSG,
                "%s: offset %" PRId64 ": %s, and the next log starts at zxid 0x%" PRIx64
                ", so txns after 0x%" PRIx64 " would be missing",
                path, off, why, next_start, known);
}

int txnlog_replay(const char *dir, int64_t after_zxid, bool repair,
                  int (*fn)(const struct txn_header *hdr, const struct txn *txn, void *arg),
                  void *arg, struct txnlog_replay_stats *stats, char *err, size_t err_len)
{
    struct txnlog_replay_stats local;
    if (stats == NULL)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    stats->last_zxid = after_zxid;

    struct log_name *names;
    size_t n;
    int rc = list_log_names(dir, &names, &n);
    if (rc != 0)
        return fail(err, err_len, rc, "cannot list %s: %s", dir, strerror(-rc));
    /* Two names for one start zxid (log.25 and log.25.bak): reading both would replay the
     * same txns twice, so only the preferred one counts. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && names[k - 1].zxid == names[i].zxid) {
            log_warn("txnlog", "%s/%s: ignored, %s starts at the same zxid", dir, names[i].name,
                     names[k - 1].name);
            free(names[i].name);
            continue;
        }
        names[k++] = names[i];
    }
    n = k;

    /* A.7: the newest file starting at or before after_zxid + 1, and every later one. */
    size_t first = 0;
    for (size_t i = 0; i < n; i++)
        if (names[i].zxid - 1 <= after_zxid)
            first = i;

    struct replay rp = {
        .dir = dir,
        .after_zxid = after_zxid,
        .repair = repair,
        .fn = fn,
        .arg = arg,
        .stats = stats,
        .last_seen = -1,
        .err = err,
        .err_len = err_len,
    };
    size_t path_cap = strlen(dir) + 2;
    for (size_t i = first; i < n; i++) {
        char *path = malloc(path_cap + strlen(names[i].name));
        if (path == NULL) {
            rc = fail(err, err_len, -ENOMEM, "out of memory replaying %s", dir);
            break;
        }
        sprintf(path, "%s/%s", dir, names[i].name);
        bool newest = i + 1 == n;
        rc = replay_file(&rp, path, names[i].zxid, newest, newest ? 0 : names[i + 1].zxid);
        free(path);
        if (rc != 0)
            break;
    }
    free_log_names(names, n);
    return rc;
}
