/* Snapshots in ZooKeeper 3.8's format (disk-and-quorum.md A.8, A.11). The writer may run in a
 * forked child of a threaded process, so its path allocates nothing and takes no locks. */
#include "snapshot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acl.h"
#include "datatree.h"
#include "log.h"
#include "session.h"
#include "txnlog.h"
#include "zkerr.h"

#define SNAP_FILE_VERSION 2
#define SNAP_DIGEST_VERSION 2
#define SNAP_HEADER_BYTES 16
#define SNAP_STAT_BYTES 60
#define SNAP_BIG_BUF_BYTES (1u << 20)
#define SNAP_SMALL_BUF_BYTES (64u << 10)

static const char snap_component[] = "snapshot";
static const uint8_t snap_end_marker[5] = {0, 0, 0, 1, '/'};
static const uint8_t snap_snappy_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};

/* CRC-32 (IEEE, reflected), the table zlib uses. */
static const uint32_t snap_crc_table[256] = {
    0x00000000, 0x77073096, 0xee0e612c, 0x990951ba, 0x076dc419, 0x706af48f, 0xe963a535, 0x9e6495a3,
    0x0edb8832, 0x79dcb8a4, 0xe0d5e91e, 0x97d2d988, 0x09b64c2b, 0x7eb17cbd, 0xe7b82d07, 0x90bf1d91,
    0x1db71064, 0x6ab020f2, 0xf3b97148, 0x84be41de, 0x1adad47d, 0x6ddde4eb, 0xf4d4b551, 0x83d385c7,
    0x136c9856, 0x646ba8c0, 0xfd62f97a, 0x8a65c9ec, 0x14015c4f, 0x63066cd9, 0xfa0f3d63, 0x8d080df5,
    0x3b6e20c8, 0x4c69105e, 0xd56041e4, 0xa2677172, 0x3c03e4d1, 0x4b04d447, 0xd20d85fd, 0xa50ab56b,
    0x35b5a8fa, 0x42b2986c, 0xdbbbc9d6, 0xacbcf940, 0x32d86ce3, 0x45df5c75, 0xdcd60dcf, 0xabd13d59,
    0x26d930ac, 0x51de003a, 0xc8d75180, 0xbfd06116, 0x21b4f4b5, 0x56b3c423, 0xcfba9599, 0xb8bda50f,
    0x2802b89e, 0x5f058808, 0xc60cd9b2, 0xb10be924, 0x2f6f7c87, 0x58684c11, 0xc1611dab, 0xb6662d3d,
    0x76dc4190, 0x01db7106, 0x98d220bc, 0xefd5102a, 0x71b18589, 0x06b6b51f, 0x9fbfe4a5, 0xe8b8d433,
    0x7807c9a2, 0x0f00f934, 0x9609a88e, 0xe10e9818, 0x7f6a0dbb, 0x086d3d2d, 0x91646c97, 0xe6635c01,
    0x6b6b51f4, 0x1c6c6162, 0x856530d8, 0xf262004e, 0x6c0695ed, 0x1b01a57b, 0x8208f4c1, 0xf50fc457,
    0x65b0d9c6, 0x12b7e950, 0x8bbeb8ea, 0xfcb9887c, 0x62dd1ddf, 0x15da2d49, 0x8cd37cf3, 0xfbd44c65,
    0x4db26158, 0x3ab551ce, 0xa3bc0074, 0xd4bb30e2, 0x4adfa541, 0x3dd895d7, 0xa4d1c46d, 0xd3d6f4fb,
    0x4369e96a, 0x346ed9fc, 0xad678846, 0xda60b8d0, 0x44042d73, 0x33031de5, 0xaa0a4c5f, 0xdd0d7cc9,
    0x5005713c, 0x270241aa, 0xbe0b1010, 0xc90c2086, 0x5768b525, 0x206f85b3, 0xb966d409, 0xce61e49f,
    0x5edef90e, 0x29d9c998, 0xb0d09822, 0xc7d7a8b4, 0x59b33d17, 0x2eb40d81, 0xb7bd5c3b, 0xc0ba6cad,
    0xedb88320, 0x9abfb3b6, 0x03b6e20c, 0x74b1d29a, 0xead54739, 0x9dd277af, 0x04db2615, 0x73dc1683,
    0xe3630b12, 0x94643b84, 0x0d6d6a3e, 0x7a6a5aa8, 0xe40ecf0b, 0x9309ff9d, 0x0a00ae27, 0x7d079eb1,
    0xf00f9344, 0x8708a3d2, 0x1e01f268, 0x6906c2fe, 0xf762575d, 0x806567cb, 0x196c3671, 0x6e6b06e7,
    0xfed41b76, 0x89d32be0, 0x10da7a5a, 0x67dd4acc, 0xf9b9df6f, 0x8ebeeff9, 0x17b7be43, 0x60b08ed5,
    0xd6d6a3e8, 0xa1d1937e, 0x38d8c2c4, 0x4fdff252, 0xd1bb67f1, 0xa6bc5767, 0x3fb506dd, 0x48b2364b,
    0xd80d2bda, 0xaf0a1b4c, 0x36034af6, 0x41047a60, 0xdf60efc3, 0xa867df55, 0x316e8eef, 0x4669be79,
    0xcb61b38c, 0xbc66831a, 0x256fd2a0, 0x5268e236, 0xcc0c7795, 0xbb0b4703, 0x220216b9, 0x5505262f,
    0xc5ba3bbe, 0xb2bd0b28, 0x2bb45a92, 0x5cb36a04, 0xc2d7ffa7, 0xb5d0cf31, 0x2cd99e8b, 0x5bdeae1d,
    0x9b64c2b0, 0xec63f226, 0x756aa39c, 0x026d930a, 0x9c0906a9, 0xeb0e363f, 0x72076785, 0x05005713,
    0x95bf4a82, 0xe2b87a14, 0x7bb12bae, 0x0cb61b38, 0x92d28e9b, 0xe5d5be0d, 0x7cdcefb7, 0x0bdbdf21,
    0x86d3d2d4, 0xf1d4e242, 0x68ddb3f8, 0x1fda836e, 0x81be16cd, 0xf6b9265b, 0x6fb077e1, 0x18b74777,
    0x88085ae6, 0xff0f6a70, 0x66063bca, 0x11010b5c, 0x8f659eff, 0xf862ae69, 0x616bffd3, 0x166ccf45,
    0xa00ae278, 0xd70dd2ee, 0x4e048354, 0x3903b3c2, 0xa7672661, 0xd06016f7, 0x4969474d, 0x3e6e77db,
    0xaed16a4a, 0xd9d65adc, 0x40df0b66, 0x37d83bf0, 0xa9bcae53, 0xdebb9ec5, 0x47b2cf7f, 0x30b5ffe9,
    0xbdbdf21c, 0xcabac28a, 0x53b39330, 0x24b4a3a6, 0xbad03605, 0xcdd70693, 0x54de5729, 0x23d967bf,
    0xb3667a2e, 0xc4614ab8, 0x5d681b02, 0x2a6f2b94, 0xb40bbe37, 0xc30c8ea1, 0x5a05df1b, 0x2d02ef8d,
};

/* ---- checksums ---- */

/* Slicing-by-8: the digest covers every node's data (175 MB at 1M nodes), so it is computed
 * eight bytes a step. slice[k][b] is the CRC of byte b followed by k zero bytes. */
static uint32_t snap_crc_slice[8][256];
static bool snap_crc_ready;

static void snap_crc_init(void)
{
    for (int b = 0; b < 256; b++) {
        snap_crc_slice[0][b] = snap_crc_table[b];
        for (int k = 1; k < 8; k++) {
            uint32_t prev = snap_crc_slice[k - 1][b];
            snap_crc_slice[k][b] = (prev >> 8) ^ snap_crc_table[prev & 0xff];
        }
    }
    snap_crc_ready = true;
}

static uint32_t snap_crc32_update(uint32_t crc, const uint8_t *p, size_t len)
{
    if (!snap_crc_ready)
        snap_crc_init();
    const uint32_t(*t)[256] = (const uint32_t(*)[256])snap_crc_slice;
    while (len >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                      (uint32_t)p[7] << 24;
        crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
              t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len-- > 0)
        crc = snap_crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

static void snap_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void snap_be64(uint8_t *p, uint64_t v)
{
    snap_be32(p, (uint32_t)(v >> 32));
    snap_be32(p + 4, (uint32_t)v);
}

static uint32_t snap_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t snap_get_be64(const uint8_t *p)
{
    return (uint64_t)snap_get_be32(p) << 32 | snap_get_be32(p + 4);
}

/* ---- the tree digest (A.11) ---- */

static uint64_t snap_node_digest(const struct znode *n)
{
    static const char system_prefix[] = "/zookeeper/"; /* "/zookeeper" itself counts */
    if (n->path_len >= sizeof(system_prefix) - 1 &&
        memcmp(n->path, system_prefix, sizeof(system_prefix) - 1) == 0)
        return 0;
    /* Not StatPersisted's order: pzxid comes third. */
    uint8_t blk[SNAP_STAT_BYTES];
    snap_be64(blk, (uint64_t)n->czxid);
    snap_be64(blk + 8, (uint64_t)n->mzxid);
    snap_be64(blk + 16, (uint64_t)n->pzxid);
    snap_be64(blk + 24, (uint64_t)n->ctime);
    snap_be64(blk + 32, (uint64_t)n->mtime);
    snap_be32(blk + 40, (uint32_t)n->version);
    snap_be32(blk + 44, (uint32_t)n->cversion);
    snap_be32(blk + 48, (uint32_t)n->aversion);
    snap_be64(blk + 52, (uint64_t)n->ephemeral_owner);
    uint32_t crc = 0xFFFFFFFFu;
    if (n->parent != NULL) /* the root is hashed as "" */
        crc = snap_crc32_update(crc, (const uint8_t *)n->path, n->path_len);
    if (n->data_len > 0)
        crc = snap_crc32_update(crc, n->data, (size_t)n->data_len);
    crc = snap_crc32_update(crc, blk, sizeof(blk));
    return crc ^ 0xFFFFFFFFu;
}

/* snap_node_digest of a node as the file has it (before it is in the tree): path, data and
 * the 60-byte StatPersisted (czxid mzxid ctime mtime version cversion aversion ephemeralOwner
 * pzxid, big-endian), reordered into the digest's order without decoding. The bytes are in
 * cache right now; a walk over the loaded tree would miss the cache on every node. */
static uint64_t snap_raw_digest(const uint8_t *path, int32_t path_len, const uint8_t *data,
                                int32_t data_len, const uint8_t *st)
{
    static const char system_prefix[] = "/zookeeper/";
    if ((size_t)path_len >= sizeof(system_prefix) - 1 &&
        memcmp(path, system_prefix, sizeof(system_prefix) - 1) == 0)
        return 0;
    uint8_t blk[SNAP_STAT_BYTES];
    memcpy(blk, st, 16);           /* czxid, mzxid */
    memcpy(blk + 16, st + 52, 8);  /* pzxid */
    memcpy(blk + 24, st + 16, 16); /* ctime, mtime */
    memcpy(blk + 40, st + 32, 12); /* version, cversion, aversion */
    memcpy(blk + 52, st + 44, 8);  /* ephemeralOwner */
    uint32_t crc = 0xFFFFFFFFu;
    bool is_root = path_len == 0 || (path_len == 1 && path[0] == '/');
    if (!is_root)
        crc = snap_crc32_update(crc, path, (size_t)path_len);
    if (data_len > 0)
        crc = snap_crc32_update(crc, data, (size_t)data_len);
    crc = snap_crc32_update(crc, blk, sizeof(blk));
    return crc ^ 0xFFFFFFFFu;
}

static void snap_digest_add(struct znode *n, void *arg)
{
    *(uint64_t *)arg += snap_node_digest(n);
}

uint64_t snapshot_tree_digest(const struct datatree *tree)
{
    uint64_t sum = 0;
    datatree_each(tree, snap_digest_add, &sum);
    return sum;
}

/* ---- writing ---- */

/* A buffer in front of write(2) that keeps the running Adler-32 of everything put so far. */
struct snap_out {
    int fd;
    uint8_t *buf;
    size_t cap, len;
    size_t summed; /* buf[0, summed) is already in adler */
    uint32_t adler;
    int err;
    off_t written, flushing; /* bytes written; where the chunk being written back starts */
};

/* A snapshot of 1M znodes is ~180 MB. Left to the final fsync, its writeback queues ahead of
 * the transaction log's fdatasync on the same disk (and, on ext4, in the same journal commit),
 * and every write waits tens of milliseconds. So the writer starts writeback of each chunk as
 * it is written and waits for the chunk before: never more than two chunks are dirty. */
#define SNAP_WRITEBACK_CHUNK ((off_t)8 << 20)

static void snap_out_pace(struct snap_out *o)
{
#if defined(SYNC_FILE_RANGE_WRITE)
    off_t start = o->flushing + SNAP_WRITEBACK_CHUNK; /* the chunk after the one in flight */
    if (o->written - start < SNAP_WRITEBACK_CHUNK)
        return;
    /* Errors are ignored: this only paces the writeback, the final fsync is what counts. */
    (void)sync_file_range(o->fd, start, o->written - start, SYNC_FILE_RANGE_WRITE);
    (void)sync_file_range(o->fd, o->flushing, start - o->flushing,
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                              SYNC_FILE_RANGE_WAIT_AFTER);
    o->flushing = start;
#else
    (void)o;
#endif
}

static void snap_out_sum(struct snap_out *o)
{
    o->adler = txnlog_adler32(o->adler, o->buf + o->summed, o->len - o->summed);
    o->summed = o->len;
}

static void snap_out_flush(struct snap_out *o)
{
    snap_out_sum(o);
    for (size_t off = 0; off < o->len && o->err == 0;) {
        ssize_t n = write(o->fd, o->buf + off, o->len - off);
        if (n > 0) {
            off += (size_t)n;
            o->written += n;
        } else if (n == 0)
            o->err = -EIO;
        else if (errno != EINTR)
            o->err = -errno;
    }
    o->len = o->summed = 0;
    snap_out_pace(o);
}

static void snap_put(struct snap_out *o, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0 && o->err == 0) {
        if (o->len == o->cap) {
            snap_out_flush(o);
            continue;
        }
        size_t k = o->cap - o->len < n ? o->cap - o->len : n;
        memcpy(o->buf + o->len, b, k);
        o->len += k;
        b += k;
        n -= k;
    }
}

static void snap_put_int(struct snap_out *o, int32_t v)
{
    uint8_t b[4];
    snap_be32(b, (uint32_t)v);
    snap_put(o, b, sizeof(b));
}

static void snap_put_long(struct snap_out *o, int64_t v)
{
    uint8_t b[8];
    snap_be64(b, (uint64_t)v);
    snap_put(o, b, sizeof(b));
}

/* A jute buffer or ustring; len -1 is null. */
static void snap_put_bytes(struct snap_out *o, const void *p, int32_t len)
{
    snap_put_int(o, len);
    if (len > 0)
        snap_put(o, p, (size_t)len);
}

static void snap_put_str(struct snap_out *o, const char *s)
{
    if (s == NULL)
        snap_put_int(o, -1);
    else
        snap_put_bytes(o, s, (int32_t)strlen(s));
}

/* seal = Adler-32 of every byte before it, as a long, then the "/" marker. */
static void snap_put_seal(struct snap_out *o)
{
    snap_out_sum(o);
    snap_put_long(o, (int64_t)o->adler);
    snap_put(o, snap_end_marker, sizeof(snap_end_marker));
}

static void snap_count_session(struct session *sess, void *arg)
{
    (void)sess;
    ++*(int32_t *)arg;
}

static void snap_put_session(struct session *sess, void *arg)
{
    snap_put_long(arg, sess->id);
    snap_put_int(arg, sess->timeout_ms);
}

struct snap_acl_walk {
    struct snap_out *o;
    int64_t open_id; /* written as index -1, so left out of the map */
    int32_t count;
};

static void snap_count_acl(int64_t id, const struct zk_acl_vec *acl, void *arg)
{
    struct snap_acl_walk *w = arg;
    (void)acl;
    w->count += id != w->open_id;
}

static void snap_put_acl(int64_t id, const struct zk_acl_vec *acl, void *arg)
{
    struct snap_acl_walk *w = arg;
    if (id == w->open_id)
        return;
    int32_t count = acl->count > 0 ? acl->count : 0; /* ZooKeeper rejects a null list here */
    snap_put_long(w->o, id);
    snap_put_int(w->o, count);
    for (int32_t i = 0; i < count; i++) {
        snap_put_int(w->o, acl->items[i].perms);
        snap_put_str(w->o, acl->items[i].id.scheme);
        snap_put_str(w->o, acl->items[i].id.id);
    }
}

static void snap_put_node(struct snap_out *o, const struct znode *n, int64_t acl_index)
{
    if (n->parent == NULL)
        snap_put_int(o, 0); /* the root is "": a "/" would read as the terminator */
    else
        snap_put_bytes(o, n->path, (int32_t)n->path_len);
    snap_put_bytes(o, n->data, n->data_len < 0 ? -1 : n->data_len);
    snap_put_long(o, acl_index);
    uint8_t st[SNAP_STAT_BYTES];
    snap_be64(st, (uint64_t)n->czxid);
    snap_be64(st + 8, (uint64_t)n->mzxid);
    snap_be64(st + 16, (uint64_t)n->ctime);
    snap_be64(st + 24, (uint64_t)n->mtime);
    snap_be32(st + 32, (uint32_t)n->version);
    snap_be32(st + 36, (uint32_t)n->cversion);
    snap_be32(st + 40, (uint32_t)n->aversion);
    snap_be64(st + 44, (uint64_t)n->ephemeral_owner);
    snap_be64(st + 52, (uint64_t)n->pzxid);
    snap_put(o, st, sizeof(st));
}

/* Pre-order successor through the children arrays and parent links: no stack, no heap. */
static const struct znode *snap_next_node(const struct znode *n)
{
    if (n->num_children > 0)
        return n->children[0];
    for (; n->parent != NULL; n = n->parent) {
        const struct znode *p = n->parent;
        if (n->index_in_parent + 1 < p->num_children)
            return p->children[n->index_in_parent + 1];
    }
    return NULL;
}

static void snap_put_all(struct snap_out *o, const struct datatree *tree,
                         const struct sessions *sessions, int64_t zxid)
{
    snap_put_int(o, SNAPSHOT_MAGIC);
    snap_put_int(o, SNAP_FILE_VERSION);
    snap_put_long(o, -1); /* dbid */

    int32_t nsessions = 0;
    sessions_each(sessions, snap_count_session, &nsessions);
    snap_put_int(o, nsessions);
    sessions_each(sessions, snap_put_session, o);

    /* The cache is only read; the accessor just lacks a const variant. */
    const struct acl_cache *cache = datatree_acl_cache((struct datatree *)tree);
    struct zk_acl open_item = {.perms = ZK_PERM_ALL, .id = {.scheme = "world", .id = "anyone"}};
    struct zk_acl_vec open_acl = {.count = 1, .items = &open_item};
    struct snap_acl_walk w = {.o = o, .open_id = acl_cache_lookup(cache, &open_acl)};
    acl_cache_each(cache, snap_count_acl, &w);
    snap_put_int(o, w.count);
    acl_cache_each(cache, snap_put_acl, &w);

    uint64_t digest = 0;
    for (const struct znode *n = datatree_get(tree, "/", 1); n != NULL; n = snap_next_node(n)) {
        snap_put_node(o, n, n->acl_id == w.open_id ? -1 : n->acl_id);
        digest += snap_node_digest(n);
    }
    snap_put(o, snap_end_marker, sizeof(snap_end_marker)); /* the terminator path "/" */
    snap_put_seal(o);
    snap_put_long(o, zxid);
    snap_put_int(o, SNAP_DIGEST_VERSION);
    snap_put_long(o, (int64_t)digest);
    snap_put_seal(o);
    snap_out_flush(o);
}

/* One big buffer for the usual single writer; a concurrent second writer (or a child forked
 * while the parent was writing) falls back to a stack buffer instead of waiting. */
static uint8_t snap_big_buf[SNAP_BIG_BUF_BYTES];
static atomic_flag snap_big_buf_busy = ATOMIC_FLAG_INIT;

int snapshot_write(int fd, const struct datatree *tree, const struct sessions *sessions,
                   int64_t zxid)
{
    uint8_t small[SNAP_SMALL_BUF_BYTES];
    bool big = !atomic_flag_test_and_set(&snap_big_buf_busy);
    struct snap_out o = {
        .fd = fd,
        .buf = big ? snap_big_buf : small,
        .cap = big ? sizeof(snap_big_buf) : sizeof(small),
        .adler = 1,
    };
    snap_put_all(&o, tree, sessions, zxid);
    if (big)
        atomic_flag_clear(&snap_big_buf_busy);
    return o.err;
}

/* ---- file names ---- */

static int snap_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Java's Long.parseLong(s, 16) over [s, s + len): optional sign, no overflow. */
static bool snap_parse_hex(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool neg = len > 0 && s[0] == '-';
    if (len > 0 && (s[0] == '-' || s[0] == '+'))
        i = 1;
    if (i == len)
        return false;
    uint64_t v = 0, limit = neg ? UINT64_C(1) << 63 : (UINT64_C(1) << 63) - 1;
    for (; i < len; i++) {
        int d = snap_hex_digit(s[i]);
        if (d < 0 || v > (limit - (uint64_t)d) / 16)
            return false;
        v = v * 16 + (uint64_t)d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* "snapshot.<hex>[.anything]": the second dot-separated part is the zxid (A.3). */
static bool snap_parse_name(const char *name, int64_t *zxid)
{
    static const char prefix[] = "snapshot.";
    if (strncmp(name, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *hex = name + sizeof(prefix) - 1;
    const char *dot = strchr(hex, '.');
    return snap_parse_hex(hex, dot != NULL ? (size_t)(dot - hex) : strlen(hex), zxid);
}

/* ZooKeeper picks the stream from the name's last dot-separated part. */
static const char *snap_compression(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot == NULL)
        return NULL;
    if (strcmp(dot + 1, "gz") == 0)
        return "gz";
    if (strcmp(dot + 1, "snappy") == 0)
        return "snappy";
    return NULL;
}

static const char *snap_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

static bool snap_is_tmp(const char *name)
{
    size_t n = strlen(name);
    return n >= 4 && strcmp(name + n - 4, ".tmp") == 0;
}

/* ---- reading ---- */

/* A cursor over the mapped file; the first failure sticks and records where and what. */
struct snap_in {
    const uint8_t *base;
    size_t len, off;
    bool failed;
    bool bad_length; /* else the file ended */
    size_t fail_off;
    const char *fail_what;
};

static bool snap_need(struct snap_in *in, size_t n, const char *what)
{
    if (in->failed)
        return false;
    if (in->len - in->off >= n)
        return true;
    in->failed = true;
    in->fail_off = in->off;
    in->fail_what = what;
    return false;
}

static int32_t snap_get_int(struct snap_in *in, const char *what)
{
    if (!snap_need(in, 4, what))
        return 0;
    in->off += 4;
    return (int32_t)snap_get_be32(in->base + in->off - 4);
}

static int64_t snap_get_long(struct snap_in *in, const char *what)
{
    if (!snap_need(in, 8, what))
        return 0;
    in->off += 8;
    return (int64_t)snap_get_be64(in->base + in->off - 8);
}

/* A buffer or ustring: its length (-1 for null), *data pointing into the file. */
static int32_t snap_get_bytes(struct snap_in *in, const uint8_t **data, const char *what)
{
    *data = NULL;
    size_t at = in->off;
    int32_t n = snap_get_int(in, what);
    if (in->failed)
        return -1;
    if (n < -1) {
        in->failed = in->bad_length = true;
        in->fail_off = at;
        in->fail_what = what;
        return -1;
    }
    if (n > 0) {
        if (!snap_need(in, (size_t)n, what))
            return -1;
        *data = in->base + in->off;
        in->off += (size_t)n;
    }
    return n;
}

/* A vector's count: not null, and each element needs at least min_bytes of what is left. */
static int32_t snap_get_count(struct snap_in *in, size_t min_bytes, const char *what)
{
    size_t at = in->off;
    int32_t n = snap_get_int(in, what);
    if (in->failed)
        return 0;
    if (n < 0 || (size_t)n > (in->len - in->off) / min_bytes) {
        in->failed = in->bad_length = true;
        in->fail_off = at;
        in->fail_what = what;
        return 0;
    }
    return n;
}

struct snap_acl_map {
    int64_t file_index;
    int64_t id; /* in the new tree's cache; the map holds one reference */
    size_t seq; /* position in the file: the last of equal indexes wins, as in a Java map */
};

struct snap_load {
    const char *path;
    struct snap_in in;
    struct datatree *tree;
    struct snap_acl_map *map;
    size_t nmap;
    int64_t open_id;
    uint32_t adler; /* of in.base[0, summed) */
    size_t summed;
    uint64_t digest;        /* the tree digest of the nodes read so far, from their bytes */
    bool saw_root, saw_zk;  /* "" and "/zookeeper" were in the file (datatree_new made both) */
    char *err;
    size_t err_len;
};

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int
snap_fail(struct snap_load *l, int rc, const char *fmt, ...)
{
    if (l->err != NULL && l->err_len > 0) {
        int n = snprintf(l->err, l->err_len, "snapshot %s: ", l->path);
        if (n >= 0 && (size_t)n < l->err_len) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(l->err + n, l->err_len - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return rc;
}

static int snap_fail_read(struct snap_load *l)
{
    if (l->in.bad_length)
        return snap_fail(l, -EBADMSG, "impossible length in %s at offset %zu", l->in.fail_what,
                         l->in.fail_off);
    return snap_fail(l, -EBADMSG, "file ends inside %s at offset %zu (file length %zu)",
                     l->in.fail_what, l->in.fail_off, l->in.len);
}

static void snap_free_items(struct zk_acl *items, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        free((char *)items[i].id.scheme);
        free((char *)items[i].id.id);
    }
    free(items);
}

static char *snap_strdup_field(const uint8_t *p, int32_t n, bool *oom)
{
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s == NULL) {
        *oom = true;
        return NULL;
    }
    if (n > 0)
        memcpy(s, p, (size_t)n);
    s[n] = '\0';
    return s;
}

/* One vector<ACL> of the map, interned into the new tree's cache. */
static int snap_read_acl_list(struct snap_load *l, int64_t *id)
{
    int32_t count = snap_get_count(&l->in, 12, "an ACL list");
    if (l->in.failed)
        return snap_fail_read(l);
    struct zk_acl *items = calloc(count > 0 ? (size_t)count : 1, sizeof(*items));
    if (items == NULL)
        return -ENOMEM;
    bool oom = false;
    int32_t filled = 0;
    for (; filled < count && !l->in.failed && !oom; filled++) {
        const uint8_t *scheme, *ident;
        items[filled].perms = snap_get_int(&l->in, "an ACL");
        int32_t scheme_len = snap_get_bytes(&l->in, &scheme, "an ACL's scheme");
        int32_t ident_len = snap_get_bytes(&l->in, &ident, "an ACL's id");
        if (l->in.failed)
            break;
        items[filled].id.scheme = snap_strdup_field(scheme, scheme_len, &oom);
        items[filled].id.id = snap_strdup_field(ident, ident_len, &oom);
    }
    int rc = 0;
    if (l->in.failed) {
        rc = snap_fail_read(l);
    } else if (oom) {
        rc = -ENOMEM;
    } else {
        struct zk_acl_vec vec = {.count = count, .items = items};
        *id = acl_cache_intern(datatree_acl_cache(l->tree), &vec);
        if (*id < 0)
            rc = -ENOMEM;
    }
    snap_free_items(items, filled);
    return rc;
}

static int snap_map_cmp(const void *a, const void *b)
{
    const struct snap_acl_map *x = a, *y = b;
    if (x->file_index != y->file_index)
        return x->file_index < y->file_index ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int snap_read_acl_map(struct snap_load *l)
{
    int32_t count = snap_get_count(&l->in, 12, "the ACL map");
    if (l->in.failed)
        return snap_fail_read(l);
    if (count == 0)
        return 0;
    l->map = calloc((size_t)count, sizeof(*l->map));
    if (l->map == NULL)
        return -ENOMEM;
    for (int32_t i = 0; i < count; i++) {
        int64_t index = snap_get_long(&l->in, "an ACL index");
        if (l->in.failed)
            return snap_fail_read(l);
        int64_t id = 0;
        int rc = snap_read_acl_list(l, &id);
        if (rc != 0)
            return rc;
        l->map[l->nmap++] = (struct snap_acl_map){.file_index = index, .id = id, .seq = (size_t)i};
    }
    if (l->nmap > 1)
        qsort(l->map, l->nmap, sizeof(*l->map), snap_map_cmp);
    return 0;
}

/* The cache id for a node's aclIndex; 0 when the map lacks it. */
static int64_t snap_map_find(const struct snap_load *l, int64_t index)
{
    if (index == -1)
        return l->open_id;
    size_t lo = 0, hi = l->nmap;
    while (lo < hi) { /* the first entry with file_index > index */
        size_t mid = lo + (hi - lo) / 2;
        if (l->map[mid].file_index <= index)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && l->map[lo - 1].file_index == index ? l->map[lo - 1].id : 0;
}

/* Every path but the root's "" is absolute, has no trailing '/' and no NUL byte; a missing
 * parent is caught when the node is linked. */
static bool snap_path_ok(const uint8_t *p, int32_t n)
{
    if (n == 0)
        return true;
    return p[0] == '/' && p[n - 1] != '/' && memchr(p, '\0', (size_t)n) == NULL;
}

#define SNAP_SHOWN_PATH_BYTES 200

/* The path of the node record at `off` (without checking more than the bounds), and the
 * offset of the record after it; false at the end or on anything odd. */
static bool snap_peek_node(const struct snap_in *in, size_t off, const uint8_t **path,
                           int32_t *path_len, size_t *next)
{
    if (off > in->len || in->len - off < 4)
        return false;
    int32_t pl = (int32_t)snap_get_be32(in->base + off);
    if (pl < 0 || (size_t)pl > in->len - off - 4) /* the root's path is "" */
        return false;
    *path = in->base + off + 4;
    *path_len = pl;
    off += 4 + (size_t)pl;
    if (in->len - off < 4)
        return false;
    int32_t dl = (int32_t)snap_get_be32(in->base + off);
    off += 4 + (dl > 0 ? (size_t)dl : 0) + 8 + SNAP_STAT_BYTES;
    *next = off;
    return off <= in->len;
}

/* Loading is bound by cache misses in the tree's hash table (the bucket, then the node it
 * points to). Two records ahead, fetch the bucket; one record ahead, the node in it. */
static void snap_prefetch_ahead(struct snap_load *l)
{
    const uint8_t *p1, *p2;
    int32_t n1, n2;
    size_t next1, next2;
    if (!snap_peek_node(&l->in, l->in.off, &p1, &n1, &next1))
        return;
    datatree_prefetch(l->tree, (const char *)p1, (size_t)n1, true);
    if (snap_peek_node(&l->in, next1, &p2, &n2, &next2))
        datatree_prefetch(l->tree, (const char *)p2, (size_t)n2, false);
}

static int snap_read_nodes(struct snap_load *l)
{
    /* Count the records first (lengths only) and size the tree's table once, instead of
     * doubling it 10 times on the way to a million nodes. A malformed file just counts short. */
    size_t count = 0, off = l->in.off, next;
    const uint8_t *p;
    int32_t n;
    while (snap_peek_node(&l->in, off, &p, &n, &next) && !(n == 1 && p[0] == '/')) {
        count++;
        off = next;
    }
    datatree_reserve(l->tree, count);
    for (;;) {
        size_t at = l->in.off;
        const uint8_t *path, *data;
        int32_t path_len = snap_get_bytes(&l->in, &path, "a node's path");
        if (!l->in.failed && path_len == 1 && path[0] == '/')
            return 0; /* the terminator */
        int32_t data_len = snap_get_bytes(&l->in, &data, "a node's data");
        int64_t acl_index = snap_get_long(&l->in, "a node's ACL index");
        struct zk_persisted_stat st;
        const uint8_t *s = NULL;
        if (snap_need(&l->in, SNAP_STAT_BYTES, "a node's Stat")) {
            s = l->in.base + l->in.off;
            st.czxid = (int64_t)snap_get_be64(s);
            st.mzxid = (int64_t)snap_get_be64(s + 8);
            st.ctime = (int64_t)snap_get_be64(s + 16);
            st.mtime = (int64_t)snap_get_be64(s + 24);
            st.version = (int32_t)snap_get_be32(s + 32);
            st.cversion = (int32_t)snap_get_be32(s + 36);
            st.aversion = (int32_t)snap_get_be32(s + 40);
            st.ephemeral_owner = (int64_t)snap_get_be64(s + 44);
            st.pzxid = (int64_t)snap_get_be64(s + 52);
            l->in.off += SNAP_STAT_BYTES;
        }
        if (l->in.failed)
            return snap_fail_read(l);
        if (path_len < 0 || !snap_path_ok(path, path_len))
            return snap_fail(l, -EBADMSG, "malformed node path at offset %zu", at);
        int shown = path_len < SNAP_SHOWN_PATH_BYTES ? path_len : SNAP_SHOWN_PATH_BYTES;
        int64_t acl_id = snap_map_find(l, acl_index);
        if (acl_id <= 0)
            return snap_fail(l, -EBADMSG,
                             "node \"%.*s\" at offset %zu refers to ACL index %" PRId64
                             ", which the ACL map lacks",
                             shown, (const char *)path, at, acl_index);
        snap_prefetch_ahead(l);
        int rc = datatree_load_node(l->tree, (const char *)path, (size_t)path_len, data, data_len,
                                    acl_id, &st);
        if (rc == 0) {
            l->digest += snap_raw_digest(path, path_len, data, data_len, s);
            if (path_len == 0 || (path_len == 1 && path[0] == '/'))
                l->saw_root = true;
            else if (path_len == 10 && memcmp(path, "/zookeeper", 10) == 0)
                l->saw_zk = true;
        }
        if (rc == ZK_NONODE)
            return snap_fail(l, -EBADMSG, "node \"%.*s\" at offset %zu comes before its parent",
                             shown, (const char *)path, at);
        if (rc != 0)
            return rc;
    }
}

/* A seal: the Adler-32 of every byte before it, then the "/" marker. */
static int snap_check_seal(struct snap_load *l, const char *which)
{
    l->adler = txnlog_adler32(l->adler, l->in.base + l->summed, l->in.off - l->summed);
    l->summed = l->in.off;
    uint32_t computed = l->adler;
    size_t at = l->in.off;
    int64_t stored = snap_get_long(&l->in, which);
    const uint8_t *marker;
    int32_t marker_len = snap_get_bytes(&l->in, &marker, "the \"/\" after a seal");
    if (l->in.failed)
        return snap_fail_read(l);
    if (stored != (int64_t)computed)
        return snap_fail(l, -EBADMSG,
                         "%s mismatch at offset %zu: the file says 0x%" PRIx64
                         ", the bytes before it sum to 0x%08" PRIx32,
                         which, at, (uint64_t)stored, computed);
    if (marker_len != 1 || marker[0] != '/')
        return snap_fail(l, -EBADMSG, "no \"/\" after the %s at offset %zu", which, at + 8);
    return 0;
}

/* The digest section (A.8, A.11); absent in snapshots written before 3.6. */
static int snap_check_digest(struct snap_load *l, int64_t name_zxid)
{
    if (l->in.off == l->in.len)
        return 0;
    int64_t digest_zxid = snap_get_long(&l->in, "the digest section");
    int32_t version = snap_get_int(&l->in, "the digest section");
    int64_t stored = 0;
    if (version >= 2) {
        stored = snap_get_long(&l->in, "the digest section");
    } else {
        const uint8_t *hex; /* older versions store hex text, of a digest we do not compute */
        snap_get_bytes(&l->in, &hex, "the digest section");
    }
    if (l->in.failed)
        return snap_fail_read(l);
    int rc = snap_check_seal(l, "seal2");
    if (rc != 0)
        return rc;
    /* Digest zxid 0 means "nothing applied since start-up" (snapshot.0): nothing to compare. */
    if (version == SNAP_DIGEST_VERSION && digest_zxid > 0 && digest_zxid == name_zxid) {
        uint64_t computed = l->digest;
        if (!l->saw_root)
            computed += snap_node_digest(datatree_get(l->tree, "/", 1));
        if (!l->saw_zk)
            computed += snap_node_digest(datatree_get(l->tree, "/zookeeper", 10));
        if (computed != (uint64_t)stored)
            log_warn(snap_component,
                     "snapshot %s: tree digest 0x%" PRIx64 " differs from the stored 0x%" PRIx64
                     " at zxid 0x%" PRIx64,
                     l->path, computed, (uint64_t)stored, (uint64_t)digest_zxid);
    }
    return 0;
}

/* Registers the sessions read at sessions_off once the whole file checked out; on ENOMEM the
 * ones added here are removed again. */
static int snap_add_sessions(const uint8_t *p, int32_t count, struct sessions *sessions,
                             uint64_t now_ms)
{
    if (count == 0)
        return 0;
    bool *added = calloc((size_t)count, sizeof(*added));
    if (added == NULL)
        return -ENOMEM;
    int rc = 0;
    int32_t i = 0;
    for (; i < count; i++) {
        int64_t id = (int64_t)snap_get_be64(p + 12 * (size_t)i);
        int32_t timeout_ms = (int32_t)snap_get_be32(p + 12 * (size_t)i + 8);
        struct session *sess = sessions_get(sessions, id);
        if (sess != NULL) {
            sessions_set_timeout(sessions, sess, timeout_ms, now_ms); /* the last one wins */
        } else if (sessions_add(sessions, id, timeout_ms, now_ms) != NULL) {
            added[i] = true;
        } else {
            rc = -ENOMEM;
            break;
        }
    }
    while (rc != 0 && i-- > 0) {
        struct session *sess = sessions_get(sessions, (int64_t)snap_get_be64(p + 12 * (size_t)i));
        if (added[i] && sess != NULL)
            sessions_remove(sessions, sess);
    }
    free(added);
    return rc;
}

static int snap_parse(struct snap_load *l, struct sessions *sessions, uint64_t now_ms,
                      int64_t name_zxid)
{
    struct snap_in *in = &l->in;
    int32_t magic = snap_get_int(in, "the file header");
    snap_get_int(in, "the file header"); /* version: ZooKeeper checks only the magic */
    snap_get_long(in, "the file header");
    if (in->failed)
        return snap_fail_read(l);
    if ((uint32_t)magic != SNAPSHOT_MAGIC)
        return snap_fail(l, -EBADMSG, "bad magic 0x%08" PRIx32 " at offset 0 (expected ZKSN)",
                         (uint32_t)magic);

    int32_t nsessions = snap_get_count(in, 12, "the session list");
    const uint8_t *session_bytes = in->base + in->off;
    if (!in->failed && snap_need(in, 12 * (size_t)nsessions, "the session list"))
        in->off += 12 * (size_t)nsessions;
    if (in->failed)
        return snap_fail_read(l);

    struct zk_acl open_item = {.perms = ZK_PERM_ALL, .id = {.scheme = "world", .id = "anyone"}};
    struct zk_acl_vec open_acl = {.count = 1, .items = &open_item};
    l->open_id = acl_cache_intern(datatree_acl_cache(l->tree), &open_acl);
    if (l->open_id < 0)
        return -ENOMEM;
    int rc;
    if ((rc = snap_read_acl_map(l)) != 0 || (rc = snap_read_nodes(l)) != 0 ||
        (rc = snap_check_seal(l, "seal1")) != 0 || (rc = snap_check_digest(l, name_zxid)) != 0)
        return rc;
    /* Bytes after seal2 (3.9's lastProcessedZxid section) are ignored, as 3.8 does. */
    return snap_add_sessions(session_bytes, nsessions, sessions, now_ms);
}

int snapshot_load(const char *path, struct datatree **tree, struct sessions *sessions,
                  uint64_t now_ms, int64_t *zxid, char *err, size_t err_len)
{
    struct snap_load l = {.path = path, .adler = 1, .err = err, .err_len = err_len};
    const char *name = snap_basename(path);
    const char *compression = snap_compression(name);
    int64_t name_zxid;
    if (!snap_parse_name(name, &name_zxid))
        return snap_fail(&l, -EINVAL, "the name is not snapshot.<hex zxid>");
    if (compression != NULL)
        return snap_fail(&l, -ENOTSUP, "%s-compressed snapshots are not supported", compression);

    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return snap_fail(&l, -errno, "cannot open: %s", strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return snap_fail(&l, -e, "cannot stat: %s", strerror(e));
    }
    static const uint8_t no_bytes[1];
    void *map = NULL;
    l.in.base = no_bytes;
    l.in.len = (size_t)sb.st_size;
    if (sb.st_size > 0) {
        map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return snap_fail(&l, -e, "cannot map %zu bytes: %s", l.in.len, strerror(e));
        }
        l.in.base = map;
    }
    close(fd);

    int rc = -ENOMEM;
    l.tree = datatree_new();
    if (l.tree != NULL)
        rc = snap_parse(&l, sessions, now_ms, name_zxid);
    if (rc == 0) {
        /* Drop the loader's references: lists no node uses go, as ZooKeeper purges them. */
        struct acl_cache *cache = datatree_acl_cache(l.tree);
        for (size_t i = 0; i < l.nmap; i++)
            acl_cache_release(cache, l.map[i].id);
        acl_cache_release(cache, l.open_id);
        *tree = l.tree;
        *zxid = name_zxid;
    } else {
        if (rc == -ENOMEM)
            snap_fail(&l, rc, "out of memory while loading");
        datatree_free(l.tree);
    }
    free(l.map);
    if (map != NULL)
        munmap(map, l.in.len);
    return rc;
}

/* ---- files ---- */

bool snapshot_looks_complete(const char *path)
{
    const char *name = snap_basename(path);
    int64_t zxid;
    if (!snap_parse_name(name, &zxid))
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat sb;
    uint8_t buf[8];
    bool ok = false;
    const char *compression = snap_compression(name);
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        ok = false;
    } else if (compression != NULL && strcmp(compression, "gz") == 0) {
        ok = pread(fd, buf, 2, 0) == 2 && buf[0] == 0x1F && buf[1] == 0x8B;
    } else if (compression != NULL) {
        ok = pread(fd, buf, 8, 0) == 8 && memcmp(buf, snap_snappy_magic, 8) == 0;
    } else if (sb.st_size >= SNAP_HEADER_BYTES) {
        ok = pread(fd, buf, sizeof(snap_end_marker), sb.st_size - 5) == 5 &&
             memcmp(buf, snap_end_marker, sizeof(snap_end_marker)) == 0;
    }
    close(fd);
    return ok;
}

static int snap_cmp_desc(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

int snapshot_list(const char *dir, int64_t **zxids, size_t *count)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return -errno;
    int64_t *list = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        int64_t zxid;
        if (!snap_parse_name(e->d_name, &zxid) || snap_is_tmp(e->d_name))
            continue;
        if (n == cap) {
            size_t ncap = cap != 0 ? cap * 2 : 16;
            int64_t *grown = realloc(list, ncap * sizeof(*grown));
            if (grown == NULL) {
                rc = -ENOMEM;
                break;
            }
            list = grown;
            cap = ncap;
        }
        list[n++] = zxid;
        errno = 0;
    }
    if (rc == 0 && errno != 0)
        rc = -errno;
    closedir(d);
    if (rc != 0) {
        free(list);
        return rc;
    }
    if (n > 1) /* qsort must not see the NULL of an empty list */
        qsort(list, n, sizeof(*list), snap_cmp_desc);
    size_t unique = 0; /* snapshot.1f and snapshot.1f.gz are one zxid */
    for (size_t i = 0; i < n; i++)
        if (unique == 0 || list[unique - 1] != list[i])
            list[unique++] = list[i];
    *zxids = list;
    *count = unique;
    return 0;
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int
snap_save_fail(char *err, size_t err_len, int rc, const char *fmt, ...)
{
    if (err != NULL && err_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return rc;
}

int snapshot_save(const char *dir, const struct datatree *tree, const struct sessions *sessions,
                  int64_t zxid, char *err, size_t err_len)
{
    char final_path[PATH_MAX], tmp_path[PATH_MAX];
    int n = snprintf(final_path, sizeof(final_path), "%s/snapshot.%" PRIx64, dir, (uint64_t)zxid);
    if (n < 0 || (size_t)n + 4 >= sizeof(tmp_path))
        return snap_save_fail(err, err_len, -ENAMETOOLONG, "snapshot directory %s: name too long",
                              dir);
    memcpy(tmp_path, final_path, (size_t)n);
    memcpy(tmp_path + n, ".tmp", 5);

    int fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return snap_save_fail(err, err_len, -errno, "cannot create %s: %s", tmp_path,
                              strerror(errno));
    int rc = snapshot_write(fd, tree, sessions, zxid);
    const char *step = "write";
    if (rc == 0 && fsync(fd) != 0) {
        rc = -errno;
        step = "fsync";
    }
    if (close(fd) != 0 && rc == 0) {
        rc = -errno;
        step = "close";
    }
    if (rc == 0 && rename(tmp_path, final_path) != 0) {
        rc = -errno;
        step = "rename";
    }
    if (rc != 0) {
        unlink(tmp_path);
        return snap_save_fail(err, err_len, rc, "cannot %s %s: %s", step, tmp_path, strerror(-rc));
    }
    /* The rename is durable only once the directory is synced. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        rc = -errno;
        if (dfd >= 0)
            close(dfd);
        return snap_save_fail(err, err_len, rc, "cannot fsync directory %s after writing %s: %s",
                              dir, final_path, strerror(-rc));
    }
    close(dfd);
    return 0;
}
