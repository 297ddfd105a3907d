/* Jute binary archive: big-endian primitives over a bounded reader and a growing writer. */
#include "jute.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JUTE_WRITER_MIN_CAP 256

void jute_reader_init(struct jute_reader *r, uint8_t *buf, size_t len, size_t max_field_bytes)
{
    r->p = buf;
    /* NULL + 0 is undefined behaviour, so an empty NULL buffer keeps both ends NULL. */
    r->end = buf != NULL ? buf + len : NULL;
    r->max_field_bytes = max_field_bytes;
    r->failed = false;
}

size_t jute_remaining(const struct jute_reader *r)
{
    if (r->failed || r->p == NULL)
        return 0;
    return (size_t)(r->end - r->p);
}

/* Consumes n bytes and returns where they start, or NULL (and sets failed) if they are not
 * all there. */
static uint8_t *jute_take(struct jute_reader *r, size_t n)
{
    if (r->failed || jute_remaining(r) < n) {
        r->failed = true;
        return NULL;
    }
    uint8_t *at = r->p;
    if (n > 0)
        r->p += n;
    return at;
}

bool jute_read_bool(struct jute_reader *r)
{
    const uint8_t *b = jute_take(r, 1);
    return b != NULL && b[0] != 0;
}

int32_t jute_read_int(struct jute_reader *r)
{
    const uint8_t *b = jute_take(r, 4);
    if (b == NULL)
        return 0;
    return (int32_t)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]);
}

int64_t jute_read_long(struct jute_reader *r)
{
    const uint8_t *b = jute_take(r, 8);
    if (b == NULL)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return (int64_t)v;
}

/* The length prefix of a buffer or ustring: -1 for null, else a length whose bytes are all
 * present and within max_field_bytes. Anything else fails the reader and returns 0. */
static int32_t jute_read_length(struct jute_reader *r)
{
    int32_t len = jute_read_int(r);
    if (r->failed || len == -1)
        return len;
    if (len < 0 || (size_t)len > r->max_field_bytes || (size_t)len > jute_remaining(r)) {
        r->failed = true;
        return 0;
    }
    return len;
}

int32_t jute_read_buffer(struct jute_reader *r, const uint8_t **data)
{
    const uint8_t *at = NULL;
    int32_t len = jute_read_length(r);
    if (!r->failed && len >= 0)
        at = jute_take(r, (size_t)len);
    if (data != NULL)
        *data = at;
    return r->failed ? 0 : len;
}

char *jute_read_ustring(struct jute_reader *r, bool *is_null, size_t *len_out)
{
    uint8_t *prefix = r->p;
    int32_t len = jute_read_length(r);
    bool null = !r->failed && len == -1;
    char *s = NULL;
    if (!r->failed && len >= 0) {
        jute_take(r, (size_t)len);
        /* Slide the bytes over their own 4-byte prefix and terminate them there: everything
         * touched was already consumed, so later fields stay intact. */
        memmove(prefix, prefix + 4, (size_t)len);
        prefix[len] = '\0';
        s = (char *)prefix;
    }
    if (is_null != NULL)
        *is_null = null;
    if (len_out != NULL)
        *len_out = s != NULL ? (size_t)len : 0;
    return s;
}

int32_t jute_read_count(struct jute_reader *r, size_t min_element_bytes)
{
    int32_t count = jute_read_int(r);
    if (r->failed || count == -1)
        return count;
    /* Every jute element takes at least one byte, so a count the frame cannot hold is a lie
     * and must not size an allocation. */
    size_t min_bytes = min_element_bytes > 0 ? min_element_bytes : 1;
    if (count < 0 || (size_t)count > r->max_field_bytes ||
        (size_t)count > jute_remaining(r) / min_bytes) {
        r->failed = true;
        return 0;
    }
    return count;
}

void jute_writer_init(struct jute_writer *w)
{
    *w = (struct jute_writer){0};
}

void jute_writer_free(struct jute_writer *w)
{
    free(w->buf);
    *w = (struct jute_writer){0};
}

void jute_writer_reset(struct jute_writer *w)
{
    w->len = 0;
    w->failed = false;
}

/* Makes room for n more bytes, doubling the capacity; false (and failed) when it can't. */
static bool jute_reserve(struct jute_writer *w, size_t n)
{
    if (w->failed)
        return false;
    if (n <= w->cap - w->len)
        return true;
    if (n > SIZE_MAX - w->len) {
        w->failed = true;
        return false;
    }
    size_t need = w->len + n;
    size_t cap = w->cap > 0 ? w->cap : JUTE_WRITER_MIN_CAP;
    while (cap < need)
        cap = cap <= SIZE_MAX / 2 ? cap * 2 : need;
    uint8_t *buf = realloc(w->buf, cap);
    if (buf == NULL) {
        w->failed = true;
        return false;
    }
    w->buf = buf;
    w->cap = cap;
    return true;
}

static void jute_put_int(uint8_t *b, int32_t v)
{
    uint32_t u = (uint32_t)v;
    b[0] = (uint8_t)(u >> 24);
    b[1] = (uint8_t)(u >> 16);
    b[2] = (uint8_t)(u >> 8);
    b[3] = (uint8_t)u;
}

void jute_write_raw(struct jute_writer *w, const void *data, size_t len)
{
    if (len == 0 || !jute_reserve(w, len))
        return;
    memcpy(w->buf + w->len, data, len);
    w->len += len;
}

void jute_write_buffer(struct jute_writer *w, const void *data, int32_t len)
{
    /* Any other negative length, or bytes that aren't there, is a caller bug: fail the frame
     * rather than send something a client would misparse. */
    if (len < -1 || (len > 0 && data == NULL)) {
        w->failed = true;
        return;
    }
    jute_write_int(w, len);
    if (len > 0)
        jute_write_raw(w, data, (size_t)len);
}

void jute_write_ustring_len(struct jute_writer *w, const char *s, size_t len)
{
    if (s == NULL) {
        jute_write_int(w, -1);
        return;
    }
    if (len > INT32_MAX) {
        w->failed = true;
        return;
    }
    jute_write_buffer(w, s, (int32_t)len);
}

void jute_write_ustring(struct jute_writer *w, const char *s)
{
    jute_write_ustring_len(w, s, s != NULL ? strlen(s) : 0);
}

size_t jute_frame_begin(struct jute_writer *w)
{
    size_t offset = w->len;
    jute_write_int(w, 0);
    return offset;
}

void jute_patch_int(struct jute_writer *w, size_t offset, int32_t v)
{
    if (w->failed)
        return;
    if (offset > w->len || w->len - offset < 4) {
        w->failed = true;
        return;
    }
    jute_put_int(w->buf + offset, v);
}

void jute_frame_end(struct jute_writer *w, size_t frame_offset)
{
    if (w->failed)
        return;
    if (frame_offset > w->len || w->len - frame_offset < 4 ||
        w->len - frame_offset - 4 > INT32_MAX) {
        w->failed = true;
        return;
    }
    jute_patch_int(w, frame_offset, (int32_t)(w->len - frame_offset - 4));
}
