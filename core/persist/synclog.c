#include "synclog.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "txnlog.h"

/* Entries travel in two reusable buffers instead of one malloc each: the loop appends to
 * `fill` under the lock; the thread swaps it for its drained one and writes from that. No
 * allocation per txn, and no free on the other thread (glibc then takes the arena lock that
 * the loop's mallocs contend for). */
struct sync_ent {
    int64_t zxid;
    size_t off, len;
    bool roll; /* a marker: open a new file before the next entry */
};

struct sync_queue {
    uint8_t *bytes;
    size_t len, cap;
    struct sync_ent *ents;
    size_t n, ents_cap;
};

struct synclog {
    struct synclog_opts opts;
    struct txnlog_writer *writer;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct sync_queue fill; /* submitted, not yet taken by the thread; under lock */
    struct sync_queue mine; /* the thread's, outside the lock */
    bool stopping;
    bool discarding;        /* after a failed commit, until synclog_resume() */
    /* results for the loop, under lock */
    int64_t durable_zxid;
    int error;
    int64_t fsync_ms;
    size_t batch;
    int notify_fd;          /* eventfd: the thread wakes the loop */
    struct event *notify_ev;
    synclog_done_fn done;
    void *arg;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void queue_free(struct sync_queue *q)
{
    free(q->bytes);
    free(q->ents);
    memset(q, 0, sizeof *q);
}

static int queue_push(struct sync_queue *q, int64_t zxid, bool roll, const uint8_t *entry,
                      size_t len)
{
    if (q->n == q->ents_cap) {
        size_t cap = q->ents_cap ? q->ents_cap * 2 : 256;
        struct sync_ent *e = realloc(q->ents, cap * sizeof *e);
        if (e == NULL)
            return -ENOMEM;
        q->ents = e;
        q->ents_cap = cap;
    }
    if (q->cap - q->len < len) {
        size_t cap = q->cap ? q->cap : 64 << 10;
        while (cap - q->len < len)
            cap *= 2;
        uint8_t *b = realloc(q->bytes, cap);
        if (b == NULL)
            return -ENOMEM;
        q->bytes = b;
        q->cap = cap;
    }
    if (len > 0)
        memcpy(q->bytes + q->len, entry, len);
    q->ents[q->n++] = (struct sync_ent){.zxid = zxid, .off = q->len, .len = len, .roll = roll};
    q->len += len;
    return 0;
}

static void *sync_main(void *arg)
{
    struct synclog *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->fill.n == 0 && !s->stopping)
            pthread_cond_wait(&s->wake, &s->lock);
        if (s->fill.n == 0 && s->stopping)
            break;
        if (s->discarding) {
            /* The loop drops every txn that was not durable when the commit failed; their
             * zxids will be used again, so none of them may reach the log. */
            s->fill.n = s->fill.len = 0;
            continue;
        }
        /* Take everything queued; commit it max_batch entries at a time. */
        struct sync_queue taken = s->fill;
        s->fill = s->mine;
        s->mine = taken;
        pthread_mutex_unlock(&s->lock);

        struct sync_queue *q = &s->mine;
        int rc = 0;
        for (size_t i = 0; i < q->n && rc == 0;) {
            int64_t top = -1;
            int n = 0;
            for (; i < q->n && n < s->opts.max_batch; i++) {
                const struct sync_ent *e = &q->ents[i];
                if (e->roll) {
                    txnlog_roll(s->writer);
                    continue;
                }
                if (rc == 0)
                    rc = txnlog_append(s->writer, e->zxid, q->bytes + e->off, e->len);
                top = e->zxid;
                n++;
            }
            int64_t start = mono_ms();
            if (rc == 0)
                rc = txnlog_commit(s->writer, s->opts.force_sync);
            int64_t took = mono_ms() - start;

            pthread_mutex_lock(&s->lock);
            if (rc == 0 && top >= 0)
                s->durable_zxid = top;
            if (rc != 0 && s->error == 0)
                s->error = rc;
            if (rc != 0)
                s->discarding = true; /* and the rest of this queue is dropped */
            if (took > s->fsync_ms)
                s->fsync_ms = took;
            s->batch += (size_t)n;
            uint64_t one = 1;
            if (write(s->notify_fd, &one, sizeof one) < 0) {
                /* the counter saturating is harmless: the loop reads the state, not the count */
            }
            pthread_mutex_unlock(&s->lock);
        }
        q->n = q->len = 0;
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* On the loop: report what the thread finished since the last call. */
static void on_notify(evutil_socket_t fd, short what, void *arg)
{
    struct synclog *s = arg;
    (void)what;
    uint64_t count;
    if (read(fd, &count, sizeof count) < 0 && errno != EAGAIN)
        return;
    pthread_mutex_lock(&s->lock);
    int64_t durable = s->durable_zxid;
    int err = s->error;
    int64_t took = s->fsync_ms;
    size_t batch = s->batch;
    s->error = 0;
    s->fsync_ms = 0;
    s->batch = 0;
    pthread_mutex_unlock(&s->lock);
    if (took > s->opts.fsync_warn_ms)
        log_warn("synclog", "fsync of the transaction log took %" PRId64 " ms (threshold %" PRId64
                            " ms); %zu txns waited for it",
                 took, s->opts.fsync_warn_ms, batch);
    s->done(s->arg, durable, err, took, batch);
}

struct synclog *synclog_start(struct event_base *base, const struct synclog_opts *opts,
                              synclog_done_fn done, void *arg, char *err, size_t err_len)
{
    struct synclog *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    s->opts = *opts;
    if (s->opts.max_batch <= 0)
        s->opts.max_batch = 1000;
    s->done = done;
    s->arg = arg;
    s->durable_zxid = -1;
    s->notify_fd = -1;
    s->writer = txnlog_writer_open(opts->dir, opts->prealloc_bytes, err, err_len);
    if (s->writer == NULL)
        goto fail;
    s->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->notify_fd < 0) {
        snprintf(err, err_len, "eventfd: %s", strerror(errno));
        goto fail;
    }
    s->notify_ev = event_new(base, s->notify_fd, EV_READ | EV_PERSIST, on_notify, s);
    if (s->notify_ev == NULL || event_add(s->notify_ev, NULL) != 0) {
        snprintf(err, err_len, "registering the sync thread's wake-up on the loop");
        goto fail;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    int rc = pthread_create(&s->thread, NULL, sync_main, s);
    if (rc != 0) {
        snprintf(err, err_len, "starting the sync thread: %s", strerror(rc));
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->wake);
        goto fail;
    }
    return s;
fail:
    if (s->notify_ev != NULL)
        event_free(s->notify_ev);
    if (s->notify_fd >= 0)
        close(s->notify_fd);
    if (s->writer != NULL)
        txnlog_writer_close(s->writer);
    free(s);
    return NULL;
}

int synclog_submit(struct synclog *s, int64_t zxid, const uint8_t *entry, size_t len)
{
    pthread_mutex_lock(&s->lock);
    int rc = queue_push(&s->fill, zxid, false, entry, len);
    if (rc == 0)
        pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

void synclog_roll(struct synclog *s)
{
    pthread_mutex_lock(&s->lock);
    if (queue_push(&s->fill, -1, true, NULL, 0) == 0) /* else the log stays in its file longer */
        pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

void synclog_resume(struct synclog *s)
{
    pthread_mutex_lock(&s->lock);
    s->discarding = false;
    pthread_mutex_unlock(&s->lock);
}

void synclog_stop(struct synclog *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    event_free(s->notify_ev);
    close(s->notify_fd);
    txnlog_writer_close(s->writer);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    queue_free(&s->fill);
    queue_free(&s->mine);
    free(s);
}
