/* Sessions by id, and their expiry buckets. A bucket holds the sessions that expire at one
 * multiple of tick_ms; buckets are found by time through a hash and ordered by a min-heap, so
 * a touch is O(1) plus O(log buckets) when it opens a bucket, and expiry visits only what
 * expires. */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIN_BUCKETS 16

struct session_bucket {
    uint64_t time_ms;
    struct session *head;
    struct session_bucket *hash_next;
    size_t heap_index; /* SIZE_MAX once sessions_expire has taken it out */
};

struct sessions {
    int64_t tick_ms;
    uint64_t next_id;
    struct session **by_id; /* chained through session.hash_next */
    size_t id_mask, count;
    struct session_bucket **by_time; /* chained through session_bucket.hash_next */
    size_t time_mask, bucket_count;
    struct session_bucket **heap; /* min-heap on time_ms, bucket_count entries */
    size_t heap_cap;
};

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

/* ---- sessions by id ----------------------------------------------------------------------- */

static void id_resize(struct sessions *s, size_t nbuckets)
{
    struct session **nb = calloc(nbuckets, sizeof *nb);
    if (nb == NULL)
        return; /* longer chains, still correct */
    for (size_t i = 0; i <= s->id_mask; i++) {
        struct session *sess = s->by_id[i];
        while (sess != NULL) {
            struct session *next = sess->hash_next;
            struct session **slot = &nb[hash_u64((uint64_t)sess->id) & (nbuckets - 1)];
            sess->hash_next = *slot;
            *slot = sess;
            sess = next;
        }
    }
    free(s->by_id);
    s->by_id = nb;
    s->id_mask = nbuckets - 1;
}

static void id_insert(struct sessions *s, struct session *sess)
{
    if (s->count > s->id_mask)
        id_resize(s, (s->id_mask + 1) * 2);
    struct session **slot = &s->by_id[hash_u64((uint64_t)sess->id) & s->id_mask];
    sess->hash_next = *slot;
    *slot = sess;
    s->count++;
}

static void id_remove(struct sessions *s, struct session *sess)
{
    struct session **pp = &s->by_id[hash_u64((uint64_t)sess->id) & s->id_mask];
    while (*pp != sess)
        pp = &(*pp)->hash_next;
    *pp = sess->hash_next;
    s->count--;
    if (s->id_mask + 1 > MIN_BUCKETS && s->count < (s->id_mask + 1) / 8)
        id_resize(s, (s->id_mask + 1) / 2);
}

/* ---- buckets by time, and the heap that orders them ----------------------------------------- */

static struct session_bucket *bucket_find(const struct sessions *s, uint64_t time_ms)
{
    struct session_bucket *b = s->by_time[hash_u64(time_ms) & s->time_mask];
    while (b != NULL && b->time_ms != time_ms)
        b = b->hash_next;
    return b;
}

static void time_resize(struct sessions *s, size_t nbuckets)
{
    struct session_bucket **nb = calloc(nbuckets, sizeof *nb);
    if (nb == NULL)
        return;
    for (size_t i = 0; i <= s->time_mask; i++) {
        struct session_bucket *b = s->by_time[i];
        while (b != NULL) {
            struct session_bucket *next = b->hash_next;
            struct session_bucket **slot = &nb[hash_u64(b->time_ms) & (nbuckets - 1)];
            b->hash_next = *slot;
            *slot = b;
            b = next;
        }
    }
    free(s->by_time);
    s->by_time = nb;
    s->time_mask = nbuckets - 1;
}

static void heap_set(struct sessions *s, size_t i, struct session_bucket *b)
{
    s->heap[i] = b;
    b->heap_index = i;
}

static void heap_sift_up(struct sessions *s, size_t i)
{
    struct session_bucket *b = s->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (s->heap[parent]->time_ms <= b->time_ms)
            break;
        heap_set(s, i, s->heap[parent]);
        i = parent;
    }
    heap_set(s, i, b);
}

static void heap_sift_down(struct sessions *s, size_t i)
{
    struct session_bucket *b = s->heap[i];
    size_t n = s->bucket_count;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && s->heap[c + 1]->time_ms < s->heap[c]->time_ms)
            c++;
        if (s->heap[c]->time_ms >= b->time_ms)
            break;
        heap_set(s, i, s->heap[c]);
        i = c;
    }
    heap_set(s, i, b);
}

/* Takes a bucket out of the hash and the heap; the caller frees it. */
static void bucket_detach(struct sessions *s, struct session_bucket *b)
{
    struct session_bucket **pp = &s->by_time[hash_u64(b->time_ms) & s->time_mask];
    while (*pp != b)
        pp = &(*pp)->hash_next;
    *pp = b->hash_next;

    size_t i = b->heap_index, last = --s->bucket_count;
    b->heap_index = SIZE_MAX;
    if (i != last) {
        struct session_bucket *moved = s->heap[last];
        heap_set(s, i, moved);
        heap_sift_down(s, i);
        heap_sift_up(s, moved->heap_index);
    }
    if (s->time_mask + 1 > MIN_BUCKETS && s->bucket_count < (s->time_mask + 1) / 8)
        time_resize(s, (s->time_mask + 1) / 2);
}

static struct session_bucket *bucket_get(struct sessions *s, uint64_t time_ms)
{
    struct session_bucket *b = bucket_find(s, time_ms);
    if (b != NULL)
        return b;
    if (s->bucket_count == s->heap_cap) {
        size_t cap = s->heap_cap * 2;
        struct session_bucket **heap = realloc(s->heap, cap * sizeof *heap);
        if (heap == NULL)
            return NULL;
        s->heap = heap;
        s->heap_cap = cap;
    }
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->time_ms = time_ms;
    if (s->bucket_count > s->time_mask)
        time_resize(s, (s->time_mask + 1) * 2);
    struct session_bucket **slot = &s->by_time[hash_u64(time_ms) & s->time_mask];
    b->hash_next = *slot;
    *slot = b;
    s->heap[s->bucket_count] = b;
    b->heap_index = s->bucket_count++;
    heap_sift_up(s, b->heap_index);
    return b;
}

/* Takes a session out of its bucket, dropping the bucket when it empties (unless
 * sessions_expire holds it). */
static void bucket_unlink(struct sessions *s, struct session *sess)
{
    struct session_bucket *b = sess->bucket;
    if (b == NULL)
        return;
    if (sess->bucket_prev != NULL)
        sess->bucket_prev->bucket_next = sess->bucket_next;
    else
        b->head = sess->bucket_next;
    if (sess->bucket_next != NULL)
        sess->bucket_next->bucket_prev = sess->bucket_prev;
    sess->bucket = NULL;
    sess->bucket_prev = sess->bucket_next = NULL;
    if (b->head == NULL && b->heap_index != SIZE_MAX) {
        bucket_detach(s, b);
        free(b);
    }
}

static void bucket_link(struct session_bucket *b, struct session *sess)
{
    sess->bucket = b;
    sess->bucket_prev = NULL;
    sess->bucket_next = b->head;
    if (b->head != NULL)
        b->head->bucket_prev = sess;
    b->head = sess;
    sess->expire_at_ms = b->time_ms;
}

static uint64_t expiry_round(const struct sessions *s, uint64_t now_ms, int32_t timeout_ms)
{
    uint64_t tick = (uint64_t)s->tick_ms;
    uint64_t t = now_ms + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    return (t / tick + 1) * tick;
}

/* Moves sess to the bucket for now_ms; -ENOMEM leaves it where it was. */
static int session_move(struct sessions *s, struct session *sess, uint64_t now_ms)
{
    uint64_t at = expiry_round(s, now_ms, sess->timeout_ms);
    if (sess->bucket != NULL && sess->bucket->time_ms == at)
        return 0;
    struct session_bucket *b = bucket_get(s, at);
    if (b == NULL)
        return -ENOMEM;
    bucket_unlink(s, sess);
    bucket_link(b, sess);
    return 0;
}

/* ---- the API ------------------------------------------------------------------------------ */

struct sessions *sessions_new(int64_t tick_ms, int64_t server_id, int64_t wall_ms)
{
    if (tick_ms <= 0)
        return NULL;
    struct sessions *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->tick_ms = tick_ms;
    s->next_id = (((uint64_t)wall_ms << 24) >> 8) | ((uint64_t)server_id << 56);
    s->by_id = calloc(MIN_BUCKETS, sizeof *s->by_id);
    s->by_time = calloc(MIN_BUCKETS, sizeof *s->by_time);
    s->heap = malloc(MIN_BUCKETS * sizeof *s->heap);
    if (s->by_id == NULL || s->by_time == NULL || s->heap == NULL) {
        sessions_free(s);
        return NULL;
    }
    s->id_mask = s->time_mask = MIN_BUCKETS - 1;
    s->heap_cap = MIN_BUCKETS;
    return s;
}

void sessions_free(struct sessions *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; s->by_id != NULL && i <= s->id_mask; i++) {
        struct session *sess = s->by_id[i];
        while (sess != NULL) {
            struct session *next = sess->hash_next;
            free(sess);
            sess = next;
        }
    }
    for (size_t i = 0; i < s->bucket_count; i++)
        free(s->heap[i]);
    free(s->by_id);
    free(s->by_time);
    free(s->heap);
    free(s);
}

int64_t sessions_next_id(struct sessions *s)
{
    /* 0 means "no session" on the wire and 0x8000000000000000 marks containers. */
    while (s->next_id == 0 || s->next_id == UINT64_C(0x8000000000000000) ||
           sessions_get(s, (int64_t)s->next_id) != NULL)
        s->next_id++;
    return (int64_t)s->next_id++;
}

struct session *sessions_add(struct sessions *s, int64_t id, int32_t timeout_ms, uint64_t now_ms)
{
    if (sessions_get(s, id) != NULL)
        return NULL;
    struct session *sess = calloc(1, sizeof *sess);
    if (sess == NULL)
        return NULL;
    sess->id = id;
    sess->timeout_ms = timeout_ms;
    if (session_move(s, sess, now_ms) < 0) {
        free(sess);
        return NULL;
    }
    id_insert(s, sess);
    return sess;
}

struct session *sessions_get(const struct sessions *s, int64_t id)
{
    struct session *sess = s->by_id[hash_u64((uint64_t)id) & s->id_mask];
    while (sess != NULL && sess->id != id)
        sess = sess->hash_next;
    return sess;
}

void sessions_remove(struct sessions *s, struct session *sess)
{
    bucket_unlink(s, sess);
    id_remove(s, sess);
    free(sess);
}

void sessions_touch(struct sessions *s, struct session *sess, uint64_t now_ms)
{
    if (sess->closing)
        return;
    /* Out of memory keeps the old, earlier expiry: the session may end early, never late. */
    (void)session_move(s, sess, now_ms);
}

void sessions_set_timeout(struct sessions *s, struct session *sess, int32_t timeout_ms,
                          uint64_t now_ms)
{
    sess->timeout_ms = timeout_ms;
    sessions_touch(s, sess, now_ms);
}

size_t sessions_expire(struct sessions *s, uint64_t now_ms,
                       void (*fn)(struct session *sess, void *arg), void *arg)
{
    size_t n = 0;
    while (s->bucket_count > 0 && s->heap[0]->time_ms <= now_ms) {
        struct session_bucket *b = s->heap[0];
        /* Detached first, so fn may remove or touch any session, this bucket's included. */
        bucket_detach(s, b);
        while (b->head != NULL) {
            struct session *sess = b->head;
            bucket_unlink(s, sess);
            if (sess->closing)
                continue;
            sess->closing = true;
            n++;
            fn(sess, arg);
        }
        free(b);
    }
    return n;
}

uint64_t sessions_next_expiry(const struct sessions *s)
{
    return s->bucket_count > 0 ? s->heap[0]->time_ms : UINT64_MAX;
}

size_t sessions_count(const struct sessions *s)
{
    return s->count;
}

void sessions_each(const struct sessions *s, void (*fn)(struct session *sess, void *arg), void *arg)
{
    for (size_t i = 0; i <= s->id_mask; i++) {
        for (struct session *sess = s->by_id[i], *next; sess != NULL; sess = next) {
            next = sess->hash_next;
            fn(sess, arg);
        }
    }
}

void session_password(int64_t id, uint8_t out[SESSION_PASSWD_BYTES])
{
    const uint64_t mult = UINT64_C(0x5DEECE66D), mask = (UINT64_C(1) << 48) - 1;
    uint64_t seed = (uint64_t)id ^ UINT64_C(0xB3415C00);
    uint64_t st = (seed ^ mult) & mask;
    for (int i = 0; i < SESSION_PASSWD_BYTES; i += 4) {
        st = (st * mult + 0xB) & mask;
        uint32_t r = (uint32_t)(st >> 16);
        for (int k = 0; k < 4; k++)
            out[i + k] = (uint8_t)(r >> (8 * k));
    }
}
