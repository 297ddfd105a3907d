/* Jute binary archive: ZooKeeper's big-endian record encoding (client-protocol.md §1.2). */
#ifndef CORRAL_JUTE_H
#define CORRAL_JUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Reads from a caller-owned, mutable buffer. Any error (truncation, a negative length other
 * than -1, a length above max_field_bytes) sets `failed`; later reads then return zero values,
 * so a decoder checks `failed` once at the end. */
struct jute_reader {
    uint8_t *p;
    uint8_t *end;
    size_t max_field_bytes; /* cap on one buffer/ustring/vector length (jute.maxbuffer + extra) */
    bool failed;
};

/* Big-endian loads from raw bytes. */
static inline uint32_t jute_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t jute_get_be64(const uint8_t *p)
{
    return (uint64_t)jute_get_be32(p) << 32 | jute_get_be32(p + 4);
}

void jute_reader_init(struct jute_reader *r, uint8_t *buf, size_t len, size_t max_field_bytes);
bool jute_read_bool(struct jute_reader *r);   /* any non-zero byte is true */
int32_t jute_read_int(struct jute_reader *r);
int64_t jute_read_long(struct jute_reader *r);
/* A buffer: returns its length, -1 for null (then *data is NULL). *data points into the
 * reader's buffer. */
int32_t jute_read_buffer(struct jute_reader *r, const uint8_t **data);
/* A ustring, NUL-terminated in place (the bytes move over their own length prefix, so the
 * buffer is modified). Returns NULL for null (length -1) or on failure; *is_null tells which
 * when not NULL. *len_out (may be NULL) gets the byte length. A string containing a NUL byte
 * is returned as is; callers that validate paths see the embedded NUL through *len_out. */
char *jute_read_ustring(struct jute_reader *r, bool *is_null, size_t *len_out);
/* A vector's count: -1 for null; a count above max_field_bytes, or one whose elements of at
 * least min_element_bytes each cannot fit in the remaining bytes, fails. */
int32_t jute_read_count(struct jute_reader *r, size_t min_element_bytes);
size_t jute_remaining(const struct jute_reader *r);

/* Writes into a growing heap buffer. Allocation failure sets `failed`. */
struct jute_writer {
    uint8_t *buf;
    size_t len;
    size_t cap;
    bool failed;
};

void jute_writer_init(struct jute_writer *w);
void jute_writer_free(struct jute_writer *w);
void jute_writer_reset(struct jute_writer *w); /* len = 0, clears failed, keeps the allocation */
/* The fixed-size writes are inline: a reply or txn is dozens of them, and a call plus a
 * variable-length memcpy per 4 or 8 bytes was a fifth of a setData's instructions. */
void jute_write_raw(struct jute_writer *w, const void *data, size_t len);

/* n is a constant 1, 4 or 8 at every call: the memcpy becomes one store. */
static inline void jute_write_fixed(struct jute_writer *w, const void *data, size_t n)
{
    if (n <= w->cap - w->len && !w->failed) {
        memcpy(w->buf + w->len, data, n);
        w->len += n;
    } else {
        jute_write_raw(w, data, n);
    }
}

static inline void jute_write_bool(struct jute_writer *w, bool v)
{
    uint8_t b = v ? 1 : 0; /* kazoo reads only 1 as true */
    jute_write_fixed(w, &b, 1);
}

static inline void jute_write_int(struct jute_writer *w, int32_t v)
{
    uint32_t u = (uint32_t)v;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    u = __builtin_bswap32(u);
#endif
    jute_write_fixed(w, &u, 4);
}

static inline void jute_write_long(struct jute_writer *w, int64_t v)
{
    uint64_t u = (uint64_t)v;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    u = __builtin_bswap64(u);
#endif
    jute_write_fixed(w, &u, 8);
}

void jute_write_buffer(struct jute_writer *w, const void *data, int32_t len); /* -1: null */
void jute_write_ustring(struct jute_writer *w, const char *s); /* NULL: null */
void jute_write_ustring_len(struct jute_writer *w, const char *s, size_t len);
/* Frames: begin reserves the 4-byte length and returns its offset; end patches it. */
size_t jute_frame_begin(struct jute_writer *w);
void jute_frame_end(struct jute_writer *w, size_t frame_offset);
void jute_patch_int(struct jute_writer *w, size_t offset, int32_t v);

#endif
