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

struct sync_item {
    struct sync_item *next;
    int64_t zxid;
    bool roll; /* a marker: open a new file before the next entry */
    size_t len;
    uint8_t entry[];
};

struct synclog {
    struct synclog_opts opts;
    struct txnlog_writer *writer;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct sync_item *head, *tail; /* submitted, not yet taken by the thread */
    bool stopping;
    bool discarding;               /* after a failed commit, until synclog_resume() */
    /* results for the loop, under lock */
    int64_t durable_zxid;
    int error;
    int64_t fsync_ms;
    size_t batch;
    int notify_fd;                 /* eventfd: the thread wakes the loop */
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

static void *sync_main(void *arg)
{
    struct synclog *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->head == NULL && !s->stopping)
            pthread_cond_wait(&s->wake, &s->lock);
        if (s->head == NULL && s->stopping)
            break;
        if (s->discarding) {
            /* The loop drops every txn that was not durable when the commit failed; their
             * zxids will be used again, so none of them may reach the log. */
            while (s->head != NULL) {
                struct sync_item *next = s->head->next;
                free(s->head);
                s->head = next;
            }
            s->tail = NULL;
            continue;
        }
        /* Take everything queued, up to max_batch entries: one commit for all of them. */
        struct sync_item *batch = s->head, *last = NULL;
        int n = 0;
        for (struct sync_item *it = batch; it != NULL && n < s->opts.max_batch; it = it->next) {
            last = it;
            n++;
        }
        s->head = last->next;
        if (s->head == NULL)
            s->tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&s->lock);

        int rc = 0;
        int64_t top = -1;
        for (struct sync_item *it = batch; it != NULL; it = it->next) {
            if (it->roll) {
                txnlog_roll(s->writer);
                continue;
            }
            if (rc == 0)
                rc = txnlog_append(s->writer, it->zxid, it->entry, it->len);
            top = it->zxid;
        }
        int64_t start = mono_ms();
        if (rc == 0)
            rc = txnlog_commit(s->writer, s->opts.force_sync);
        int64_t took = mono_ms() - start;
        while (batch != NULL) {
            struct sync_item *next = batch->next;
            free(batch);
            batch = next;
        }

        pthread_mutex_lock(&s->lock);
        if (rc == 0 && top >= 0)
            s->durable_zxid = top;
        if (rc != 0 && s->error == 0)
            s->error = rc;
        if (rc != 0)
            s->discarding = true;
        if (took > s->fsync_ms)
            s->fsync_ms = took;
        s->batch += (size_t)n;
        uint64_t one = 1;
        if (write(s->notify_fd, &one, sizeof one) < 0) {
            /* the counter saturating is harmless: the loop reads the state, not the count */
        }
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

static void enqueue(struct synclog *s, struct sync_item *it)
{
    pthread_mutex_lock(&s->lock);
    if (s->tail != NULL)
        s->tail->next = it;
    else
        s->head = it;
    s->tail = it;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

int synclog_submit(struct synclog *s, int64_t zxid, const uint8_t *entry, size_t len)
{
    struct sync_item *it = malloc(sizeof *it + len);
    if (it == NULL)
        return -ENOMEM;
    it->next = NULL;
    it->zxid = zxid;
    it->roll = false;
    it->len = len;
    memcpy(it->entry, entry, len);
    enqueue(s, it);
    return 0;
}

void synclog_roll(struct synclog *s)
{
    struct sync_item *it = calloc(1, sizeof *it);
    if (it == NULL)
        return; /* the log just stays in its file a while longer */
    it->roll = true;
    it->zxid = -1;
    enqueue(s, it);
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
    free(s);
}
