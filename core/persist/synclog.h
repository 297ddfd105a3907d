/* The sync thread (ZooKeeper's SyncRequestProcessor): the loop hands it encoded txns, it
 * appends them to the log and fdatasyncs many at a time (group commit), then tells the loop
 * how far the log is durable. Nothing is acknowledged before that. */
#ifndef CORRAL_SYNCLOG_H
#define CORRAL_SYNCLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct synclog;

struct synclog_opts {
    const char *dir;            /* <dataLogDir>/version-2 */
    int64_t prealloc_bytes;
    bool force_sync;            /* false: no fdatasync (tests, or users who ask) */
    int64_t fsync_warn_ms;      /* a slower commit is logged with its duration */
    int max_batch;              /* txns per commit at most (ZooKeeper's maxBatchSize) */
};

/* Called on the loop thread after each commit: every txn submitted up to `durable_zxid` is
 * durable; or, when err < 0, the commit failed (-ENOSPC, -EIO ...): the file was cut back so
 * nothing partial stays, and from then on every submitted txn is discarded until the loop,
 * having dropped all its txns above durable_zxid, calls synclog_resume(). */
typedef void (*synclog_done_fn)(void *arg, int64_t durable_zxid, int err, int64_t fsync_ms,
                                size_t batch);

struct synclog *synclog_start(struct event_base *base, const struct synclog_opts *opts,
                              synclog_done_fn done, void *arg, char *err, size_t err_len);
/* Queues one encoded entry (copied). Loop thread only. Returns 0 or -ENOMEM. */
int synclog_submit(struct synclog *s, int64_t zxid, const uint8_t *entry, size_t len);
/* Ends the discarding that follows a failed commit. */
void synclog_resume(struct synclog *s);
/* Entries submitted after this call go to a new log file (after a snapshot). */
void synclog_roll(struct synclog *s);
/* Commits what is queued, stops the thread and closes the log. */
void synclog_stop(struct synclog *s);

#endif
