/* Purging old snapshots and logs (ZooKeeper's PurgeTxnLog, disk-and-quorum.md A.12). */
#ifndef CORRAL_PURGE_H
#define CORRAL_PURGE_H

#include <stddef.h>

/* Keeps the `retain` (>= 3) newest snapshots that look complete and the logs replay from the
 * oldest of them needs; deletes older logs and snapshots. snap_dir and log_dir are the
 * version-2 directories. Returns the number of files deleted, or a negative errno with err
 * set. Logs each deletion through log_info. */
int purge_run(const char *snap_dir, const char *log_dir, int retain, char *err, size_t err_len);

#endif
