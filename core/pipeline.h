/* The log stage of the request pipeline: prep hands it requests carrying a txn; it encodes
 * them for the sync thread and, once they are durable, applies them in zxid order and hands
 * them back to the server to reply. */
#ifndef CORRAL_PIPELINE_H
#define CORRAL_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>

#include "server_internal.h"

/* Starts the sync thread on <data_log_dir>/version-2. Returns 0 or -1 with err set. */
int pipeline_start(struct server *srv, const char *log_dir, char *err, size_t err_len);
/* Commits what is queued and stops the sync thread; requests still pending are freed. */
void pipeline_stop(struct server *srv);
/* Takes req (its hdr and txn filled by prep, its zxid the next one) into the log stage. */
void pipeline_submit(struct server *srv, struct request *req);
/* False while the log cannot be written: writes are answered NOTREADONLY, no session is
 * created or expired, until a retry succeeds (tried every PIPELINE_RETRY_MS). */
bool pipeline_accepts_writes(struct server *srv);

#define PIPELINE_RETRY_MS 5000

#endif
