#include "pipeline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "log.h"
#include "persist/database.h"
#include "persist/synclog.h"
#include "persist/txnlog.h"
#include "prep.h"
#include "server_metrics.h"
#include "zkerr.h"

/* Every txn in the log up to durable_zxid is durable: apply those requests in order. On a
 * failed commit, drop every request not yet durable: nothing of them was acknowledged, and
 * their zxids will be assigned again. */
static void on_durable(void *arg, int64_t durable_zxid, int err, int64_t fsync_ms, size_t batch)
{
    struct server *srv = arg;
    if (fsync_ms > srv->fsync_max_ms)
        srv->fsync_max_ms = fsync_ms;
    if (batch > 0) {
        server_metrics_record(srv, SM_FSYNC_TIME, (double)fsync_ms);
        server_metrics_record(srv, SM_SYNC_BATCH_SIZE, (double)batch);
    }
    struct request *req;
    while ((req = srv->pending_head) != NULL && req->hdr.zxid <= durable_zxid) {
        srv->pending_head = req->next_pending;
        if (srv->pending_head == NULL)
            srv->pending_tail = NULL;
        req->in_pending = false;
        apply_txn(srv, &req->hdr, &req->txn);
        database_after_apply(srv);
        server_request_applied(srv, req);
    }
    if (err == 0)
        return;

    snprintf(srv->write_error, sizeof srv->write_error, "writing the transaction log failed: %s",
             strerror(-err));
    log_error("pipeline", "%s; refusing writes, retrying in %d ms (last durable zxid 0x%" PRIx64
                          ")",
              srv->write_error, PIPELINE_RETRY_MS, srv->last_applied_zxid);
    srv->writes_failed = true;
    srv->write_error_ms = server_mono_ms();
    size_t dropped = 0;
    while ((req = srv->pending_head) != NULL) {
        srv->pending_head = req->next_pending;
        req->in_pending = false;
        dropped++;
        server_request_dropped(srv, req);
    }
    srv->pending_tail = NULL;
    prep_forget_after(srv, srv->last_applied_zxid);
    srv->last_zxid = srv->last_applied_zxid;
    if (dropped > 0)
        log_warn("pipeline", "%zu writes not made durable were dropped; their clients lose "
                             "their connection and retry",
                 dropped);
    synclog_resume(srv->synclog);
}

int pipeline_start(struct server *srv, const char *log_dir, char *err, size_t err_len)
{
    const struct config *cfg = srv->cfg;
    struct synclog_opts opts = {
        .dir = log_dir,
        .prealloc_bytes = cfg->prealloc_kb * 1024,
        .force_sync = cfg->force_sync,
        .fsync_warn_ms = cfg->fsync_warning_threshold_ms,
        .max_batch = 1000,
    };
    srv->synclog = synclog_start(srv->env->base, &opts, on_durable, srv, err, err_len);
    return srv->synclog != NULL ? 0 : -1;
}

void pipeline_stop(struct server *srv)
{
    synclog_stop(srv->synclog);
    srv->synclog = NULL;
    struct request *req;
    while ((req = srv->pending_head) != NULL) {
        srv->pending_head = req->next_pending;
        req->in_pending = false;
        if (req->conn == NULL)
            server_request_free(req);
    }
    srv->pending_tail = NULL;
}

bool pipeline_accepts_writes(struct server *srv)
{
    if (srv->writes_failed && server_mono_ms() - srv->write_error_ms >= PIPELINE_RETRY_MS) {
        log_info("pipeline", "retrying writes after: %s", srv->write_error);
        srv->writes_failed = false;
    }
    return !srv->writes_failed;
}

void pipeline_submit(struct server *srv, struct request *req)
{
    struct jute_writer *w = &srv->out;
    jute_writer_reset(w);
    txnlog_encode_entry(&req->hdr, &req->txn, w);
    int rc = w->failed ? -ENOMEM : synclog_submit(srv->synclog, req->hdr.zxid, w->buf, w->len);
    if (rc != 0) {
        /* Earlier txns may already be on their way to the disk, so this one cannot simply be
         * skipped (its zxid would be missing from the log): stop before anything is acked. */
        log_error("pipeline", "cannot queue txn 0x%" PRIx64 " for the log: %s; exiting",
                  req->hdr.zxid, strerror(-rc));
        abort();
    }
    req->in_pending = true;
    req->next_pending = NULL;
    if (srv->pending_tail != NULL)
        srv->pending_tail->next_pending = req;
    else
        srv->pending_head = req;
    srv->pending_tail = req;
}
