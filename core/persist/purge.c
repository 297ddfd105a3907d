/* Purging old snapshots and logs, as ZooKeeper's PurgeTxnLog does it (disk-and-quorum.md A.12). */
#include "purge.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "persist/snapshot.h"
#include "persist/txnlog.h"

#define PURGE_MIN_RETAIN 3

/* ZooKeeper's name rule (A.3): "<prefix>.<signed 64-bit hex>", anything after a further '.'
 * ignored, so snapshot.5.tmp and log.25.bak count as data files too. */
static bool purge_parse_name(const char *name, const char *prefix, int64_t *zxid)
{
    size_t plen = strlen(prefix);
    if (strncmp(name, prefix, plen) != 0 || name[plen] != '.')
        return false;
    const char *p = name + plen + 1;
    bool negative = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    uint64_t v = 0;
    const char *digits = p;
    for (; *p != '\0' && *p != '.'; p++) {
        int d;
        if (*p >= '0' && *p <= '9')
            d = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            d = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            d = *p - 'A' + 10;
        else
            return false;
        if (v > (UINT64_MAX >> 4))
            return false;
        v = v << 4 | (uint64_t)d;
    }
    /* Java's Long.parseLong(s, 16) rejects "ffffffffffffffff": the range is signed. */
    if (p == digits || v > (uint64_t)INT64_MAX + negative)
        return false;
    *zxid = negative ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

struct purge_pass {
    int removed;
    int rc; /* the first failure; err describes it */
    char *err;
    size_t err_len;
};

static void purge_fail(struct purge_pass *pp, int rc, const char *what, const char *path)
{
    /* Go on: one undeletable file should not keep the rest of the disk full. */
    log_warn("purge", "cannot %s %s: %s", what, path, strerror(-rc));
    if (pp->rc == 0) {
        snprintf(pp->err, pp->err_len, "cannot %s %s: %s", what, path, strerror(-rc));
        pp->rc = rc;
    }
}

/* Deletes the files of dir named <prefix>.<zxid> with zxid < below, except those with zxid
 * *keep when keep is not NULL. */
static void purge_sweep(struct purge_pass *pp, const char *dir, const char *prefix, int64_t below,
                        const int64_t *keep)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        purge_fail(pp, -errno, "read", dir);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int64_t zxid;
        if (!purge_parse_name(de->d_name, prefix, &zxid) || zxid >= below ||
            (keep != NULL && zxid == *keep))
            continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path) {
            purge_fail(pp, -ENAMETOOLONG, "remove", de->d_name);
            continue;
        }
        if (unlink(path) != 0) {
            purge_fail(pp, -errno, "remove", path);
            continue;
        }
        log_info("purge", "removed %s", path);
        pp->removed++;
    }
    closedir(d);
}

int purge_run(const char *snap_dir, const char *log_dir, int retain, char *err, size_t err_len)
{
    if (retain < PURGE_MIN_RETAIN)
        retain = PURGE_MIN_RETAIN;

    int64_t *snaps = NULL;
    size_t n_snaps = 0;
    int rc = snapshot_list(snap_dir, &snaps, &n_snaps);
    if (rc < 0) {
        snprintf(err, err_len, "cannot list the snapshots of %s: %s", snap_dir, strerror(-rc));
        return rc;
    }
    /* Newest first; the oldest of the `retain` newest valid ones bounds what replay needs. */
    int found = 0;
    int64_t oldest_kept = 0;
    for (size_t i = 0; i < n_snaps && found < retain; i++) {
        /* The list merges snapshot.<z> with its compressed forms; any of them will do. */
        static const char *const suffixes[] = {"", ".gz", ".snappy"};
        for (size_t k = 0; k < sizeof suffixes / sizeof suffixes[0]; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/snapshot.%" PRIx64 "%s", snap_dir, (uint64_t)snaps[i],
                     suffixes[k]);
            if (snapshot_looks_complete(path)) {
                oldest_kept = snaps[i];
                found++;
                break;
            }
        }
    }
    free(snaps);
    if (found == 0)
        return 0; /* without a valid snapshot every log may still be needed */

    int64_t *logs = NULL;
    size_t n_logs = 0;
    rc = txnlog_list(log_dir, &logs, &n_logs);
    if (rc < 0) {
        snprintf(err, err_len, "cannot list the logs of %s: %s", log_dir, strerror(-rc));
        return rc;
    }
    /* Ascending; the newest log starting at or before S holds the txns right after S. */
    int64_t keep_log = 0;
    bool has_keep_log = false;
    for (size_t i = 0; i < n_logs && logs[i] <= oldest_kept; i++) {
        keep_log = logs[i];
        has_keep_log = true;
    }
    free(logs);

    struct purge_pass pp = {.err = err, .err_len = err_len};
    purge_sweep(&pp, log_dir, "log", oldest_kept, has_keep_log ? &keep_log : NULL);
    purge_sweep(&pp, snap_dir, "snapshot", oldest_kept, NULL);
    return pp.rc < 0 ? pp.rc : pp.removed;
}
