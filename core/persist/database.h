/* The database on disk (ZooKeeper's FileTxnSnapLog and ZKDatabase): recovery at start-up,
 * snapshots while serving, and the purge task. */
#ifndef CORRAL_DATABASE_H
#define CORRAL_DATABASE_H

#include <stddef.h>

#include "config.h"

struct server;

/* Creates the version-2 directories, loads the newest snapshot that verifies (falling back to
 * older ones), replays the log after it (cutting a torn tail), writes a start-up snapshot and
 * starts the log stage. Returns 0 or -1 with one sentence in err. */
int database_open(struct server *srv, char *err, size_t err_len);
/* Counts an applied txn; past the snapshot threshold, rolls the log and forks a snapshot. */
void database_after_apply(struct server *srv);
/* Collects a finished snapshot child; runs the purge when it is due. */
void database_tick(struct server *srv);
/* Stops the log stage (committing what is queued) and waits for a snapshot child. */
void database_close(struct server *srv);
/* One purge pass over a data directory, as zkCleanup.sh: keeps `retain` snapshots. Returns the
 * number of files removed, or -1 with err set. */
int database_purge(const char *data_dir, const char *data_log_dir, int retain, char *err,
                   size_t err_len);

#endif
