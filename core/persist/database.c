#include "database.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "apply.h"
#include "log.h"
#include "persist/purge.h"
#include "persist/snapshot.h"
#include "persist/synclog.h"
#include "persist/txnlog.h"
#include "pipeline.h"
#include "server_internal.h"
#include "server_metrics.h"

static int make_dir(const char *path, char *err, size_t err_len)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        snprintf(err, err_len, "%s exists and is not a directory", path);
        return -1;
    }
    snprintf(err, err_len, "cannot create %s: %s", path, strerror(errno));
    return -1;
}

/* A snapshot.<zxid>.tmp is a snapshot whose writer died before its rename, a tmp.log.<zxid>
 * a log file whose server died before its header was in place: neither is ever complete. */
static void remove_unfinished_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        bool snap = strncmp(e->d_name, "snapshot.", 9) == 0 && len >= 4 &&
                    strcmp(e->d_name + len - 4, ".tmp") == 0;
        bool log = strncmp(e->d_name, TXNLOG_TMP_PREFIX, strlen(TXNLOG_TMP_PREFIX)) == 0;
        if (!snap && !log)
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0)
            log_info("database", "removed %s, left by a %s that did not finish", path,
                     snap ? "snapshot writer" : "log roll");
    }
    closedir(d);
}

static void version2_dirs(const struct server *srv, char *snap_dir, char *log_dir, size_t len)
{
    snprintf(snap_dir, len, "%s/version-2", srv->data_dir);
    const char *log_parent = srv->cfg->data_log_dir != NULL ? srv->cfg->data_log_dir
                                                            : srv->data_dir;
    snprintf(log_dir, len, "%s/version-2", log_parent);
}

/* ZooKeeper spreads snapshots across an ensemble: each takes one after snapCount/2 plus a
 * random share of snapCount/2 txns. */
static void next_threshold(struct server *srv)
{
    int64_t half = srv->cfg->snap_count / 2;
    srv->snapshot_threshold = half + (half > 0 ? random() % half : 0);
    srv->txns_since_snapshot = 0;
}

static int replay_one(const struct txn_header *hdr, const struct txn *txn, void *arg)
{
    struct server *srv = arg;
    apply_txn(srv, hdr, txn);
    if (hdr->zxid > srv->last_zxid)
        srv->last_zxid = hdr->zxid;
    return 0;
}

struct orphan_scan {
    struct server *srv;
    char **paths;
    size_t n, cap;
};

static void note_orphan(struct znode *n, void *arg)
{
    struct orphan_scan *os = arg;
    if (os->n == os->cap) {
        size_t cap = os->cap ? os->cap * 2 : 16;
        char **paths = realloc(os->paths, cap * sizeof *paths);
        if (paths == NULL)
            return;
        os->paths = paths;
        os->cap = cap;
    }
    if ((os->paths[os->n] = strdup(n->path)) != NULL)
        os->n++;
}

/* Owners are few: look their sessions up, not every node of the tree. */
static void find_orphan_owner(int64_t session_id, void *arg)
{
    struct orphan_scan *os = arg;
    if (sessions_get(os->srv->sessions, session_id) == NULL)
        datatree_each_ephemeral(os->srv->tree, session_id, note_orphan, os);
}

static void track_reapable(struct znode *n, void *arg)
{
    enum znode_kind kind = znode_kind(n);
    if (kind == ZNODE_CONTAINER || kind == ZNODE_TTL)
        server_track_reapable(arg, n->path);
}

/* Ephemerals whose session is not in the table died with a session that expired while the
 * server was down: remove them without a txn, as ZooKeeper's loadData does. */
static void kill_orphan_ephemerals(struct server *srv)
{
    struct orphan_scan os = {srv, NULL, 0, 0};
    datatree_each_ephemeral_owner(srv->tree, find_orphan_owner, &os);
    for (size_t i = 0; i < os.n; i++) {
        datatree_delete(srv->tree, os.paths[i], strlen(os.paths[i]), srv->last_applied_zxid);
        free(os.paths[i]);
    }
    if (os.n > 0)
        log_info("database", "removed %zu ephemerals of sessions that no longer exist", os.n);
    free(os.paths);
}

/* fork() copies the page table of every resident page, and malloc keeps what a mass delete
 * freed resident: after 500k creates and deletes, forks for a 10k-znode tree took 3-4 ms. So
 * once the tree has lost a quarter of its znodes since its peak, free memory goes back to the
 * kernel (malloc_trim: MADV_DONTNEED on free pages) before the fork. */
static void trim_before_fork(struct server *srv)
{
    int64_t nodes = datatree_node_count(srv->tree);
    if (nodes > srv->trim_peak_nodes)
        srv->trim_peak_nodes = nodes;
#if defined(__GLIBC__)
    if (nodes < srv->trim_peak_nodes / 4 * 3) {
        malloc_trim(0);
        srv->trim_peak_nodes = nodes;
    }
#endif
}

/* Writes snapshot.<zxid> from a forked child, so the loop keeps serving: the child sees the
 * tree as it was at fork time, copy-on-write. */
static void snapshot_begin(struct server *srv)
{
    if (srv->snapshot_child > 0) {
        log_info("database", "snapshot at zxid 0x%" PRIx64 " still being written; not starting "
                             "another",
                 srv->snapshot_zxid);
        next_threshold(srv);
        return;
    }
    char snap_dir[4096], log_dir[4096];
    version2_dirs(srv, snap_dir, log_dir, sizeof snap_dir);
    if (srv->synclog != NULL)
        synclog_roll(srv->synclog); /* replay from the snapshot starts in the new file */
    uint64_t start = server_mono_ms();
    trim_before_fork(srv);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* A writer that outlives a killed server would race the restarted one for the same
         * snapshot.<zxid>.tmp: die with the parent. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        char err[512];
        _exit(snapshot_save(snap_dir, srv->tree, srv->sessions, srv->last_applied_zxid, err,
                            sizeof err) == 0
                  ? 0
                  : 1);
    }
    uint64_t stall = server_mono_ms() - start;
    if (pid < 0) {
        log_warn("database", "cannot fork to write a snapshot: %s", strerror(errno));
    } else {
        srv->snapshot_child = pid;
        srv->snapshot_zxid = srv->last_applied_zxid;
        srv->snapshot_started_ms = start;
        log_info("database", "writing snapshot.%" PRIx64 " in process %d (fork paused the server "
                             "%" PRIu64 " ms)",
                 srv->last_applied_zxid, (int)pid, stall);
    }
    next_threshold(srv);
}

void database_after_apply(struct server *srv)
{
    if (++srv->txns_since_snapshot >= srv->snapshot_threshold)
        snapshot_begin(srv);
}

static void run_purge(struct server *srv)
{
    char err[512];
    const char *log_parent = srv->cfg->data_log_dir ? srv->cfg->data_log_dir : srv->data_dir;
    if (database_purge(srv->data_dir, log_parent, (int)srv->cfg->purge_snap_retain_count, err,
                       sizeof err) < 0)
        log_warn("purge", "%s", err);
}

static void collect_snapshot_child(struct server *srv)
{
    if (srv->snapshot_child > 0) {
        int status;
        pid_t r = waitpid(srv->snapshot_child, &status, WNOHANG);
        if (r == srv->snapshot_child) {
            uint64_t took = server_mono_ms() - srv->snapshot_started_ms;
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                log_info("database", "snapshot.%" PRIx64 " written in %" PRIu64 " ms",
                         srv->snapshot_zxid, took);
                server_metrics_record(srv, SM_SNAP_COUNT, 1);
                server_metrics_record(srv, SM_SNAPSHOT_TIME, (double)took);
            }
            else
                log_warn("database", "writing snapshot.%" PRIx64 " failed (child status 0x%x); "
                                     "the log keeps everything since the previous one",
                         srv->snapshot_zxid, (unsigned)status);
            srv->snapshot_child = 0;
        }
    }
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    collect_snapshot_child(arg);
}

void database_tick(struct server *srv)
{
    collect_snapshot_child(srv); /* in case a SIGCHLD was merged with another */
    if (srv->cfg->purge_interval_h > 0) {
        uint64_t every = (uint64_t)srv->cfg->purge_interval_h * 3600 * 1000;
        uint64_t now = server_mono_ms();
        if (now - srv->last_purge_ms >= every) {
            srv->last_purge_ms = now;
            run_purge(srv);
        }
    }
}

int database_open(struct server *srv, char *err, size_t err_len)
{
    char snap_dir[4096], log_dir[4096];
    version2_dirs(srv, snap_dir, log_dir, sizeof snap_dir);
    if (make_dir(srv->data_dir, err, err_len) || make_dir(snap_dir, err, err_len))
        return -1;
    if (srv->cfg->data_log_dir != NULL &&
        (make_dir(srv->cfg->data_log_dir, err, err_len) || make_dir(log_dir, err, err_len)))
        return -1;
    uint64_t start = server_mono_ms();
    remove_unfinished_files(snap_dir);
    if (strcmp(log_dir, snap_dir) != 0)
        remove_unfinished_files(log_dir);

    /* 1. the newest snapshot that loads */
    int64_t *snaps = NULL;
    size_t n_snaps = 0;
    int listed = snapshot_list(snap_dir, &snaps, &n_snaps);
    if (listed < 0) {
        snprintf(err, err_len, "cannot list %s: %s", snap_dir, strerror(-listed));
        return -1;
    }
    bool loaded = false;
    int64_t snap_zxid = 0;
    for (size_t i = 0; i < n_snaps && !loaded; i++) {
        char path[4200], why[1024];
        snprintf(path, sizeof path, "%s/snapshot.%" PRIx64, snap_dir, snaps[i]);
        struct datatree *tree = NULL;
        struct sessions *sessions = sessions_new(srv->cfg->tick_ms, 1, server_wall_ms());
        if (sessions != NULL && snapshot_looks_complete(path) &&
            snapshot_load(path, &tree, sessions, server_mono_ms(), &snap_zxid, why,
                          sizeof why) == 0) {
            datatree_free(srv->tree);
            sessions_free(srv->sessions);
            srv->tree = tree;
            srv->sessions = sessions;
            loaded = true;
            if (datatree_loaded_reapable(tree)) /* the log's creates are tracked by apply */
                datatree_each(tree, track_reapable, srv);
            datatree_quota_refresh(tree);
            log_info("database", "loaded %s: %" PRId64 " nodes, %zu sessions", path,
                     datatree_node_count(tree) - 1, sessions_count(sessions));
        } else {
            if (sessions != NULL)
                sessions_free(sessions);
            log_warn("database", "skipping %s: %s", path,
                     snapshot_looks_complete(path) ? why : "it is incomplete");
        }
    }
    free(snaps);
    int64_t *logs = NULL;
    size_t n_logs = 0;
    listed = txnlog_list(log_dir, &logs, &n_logs);
    if (listed < 0) {
        snprintf(err, err_len, "cannot list %s: %s", log_dir, strerror(-listed));
        return -1;
    }
    free(logs);
    if (!loaded && n_logs > 0) {
        snprintf(err, err_len, "%s holds transaction logs but no usable snapshot in %s; refusing "
                               "to start from an empty tree (restore a snapshot, or move the "
                               "logs away to start empty)",
                 log_dir, snap_dir);
        return -1;
    }
    srv->last_zxid = srv->last_applied_zxid = snap_zxid;

    /* 2. the log after it */
    uint64_t replay_start = server_mono_ms();
    struct txnlog_replay_stats st;
    memset(&st, 0, sizeof st);
    srv->replaying = true;
    datatree_bulk_load(srv->tree, true);
    int rc = txnlog_replay(log_dir, snap_zxid, true, replay_one, srv, &st, err, err_len);
    datatree_bulk_load(srv->tree, false);
    srv->replaying = false;
    if (rc < 0)
        return -1;
    kill_orphan_ephemerals(srv);
    uint64_t done = server_mono_ms();
    server_metrics_record(srv, SM_DB_INIT_TIME, (double)(done - start));
    server_metrics_record(srv, SM_STARTUP_SNAP_LOAD_TIME, (double)(replay_start - start));
    server_metrics_record(srv, SM_STARTUP_TXNS_LOAD_TIME, (double)(done - replay_start));
    server_metrics_record(srv, SM_STARTUP_TXNS_LOADED, (double)st.txns);
    log_info("database", "recovered to zxid 0x%" PRIx64 " (snapshot 0x%" PRIx64 " + %" PRId64
                         " txns) in %" PRIu64 " ms",
             srv->last_applied_zxid, snap_zxid, st.txns, server_mono_ms() - start);

    /* 3. the log stage, then a snapshot of what was recovered, as ZooKeeper takes one */
    if (pipeline_start(srv, log_dir, err, err_len) != 0)
        return -1;
    srv->sigchld = evsignal_new(srv->env->base, SIGCHLD, on_sigchld, srv);
    if (srv->sigchld == NULL || evsignal_add(srv->sigchld, NULL) != 0) {
        snprintf(err, err_len, "cannot watch for snapshot writers to finish (SIGCHLD)");
        return -1;
    }
    next_threshold(srv);
    if (!loaded || st.txns > 0) {
        if (!loaded) {
            /* a fresh directory: snapshot.0 must exist before any log does */
            if (snapshot_save(snap_dir, srv->tree, srv->sessions, srv->last_applied_zxid, err,
                              err_len) != 0)
                return -1;
        } else {
            snapshot_begin(srv);
        }
    }
    srv->last_purge_ms = server_mono_ms();
    if (srv->cfg->purge_interval_h > 0)
        run_purge(srv);
    return 0;
}

void database_close(struct server *srv)
{
    pipeline_stop(srv);
    if (srv->sigchld != NULL) {
        event_free(srv->sigchld);
        srv->sigchld = NULL;
    }
    if (srv->snapshot_child > 0) {
        int status;
        waitpid(srv->snapshot_child, &status, 0);
        srv->snapshot_child = 0;
    }
}

int database_purge(const char *data_dir, const char *data_log_dir, int retain, char *err,
                   size_t err_len)
{
    char snap_dir[4096], log_dir[4096];
    snprintf(snap_dir, sizeof snap_dir, "%s/version-2", data_dir);
    snprintf(log_dir, sizeof log_dir, "%s/version-2",
             data_log_dir != NULL ? data_log_dir : data_dir);
    return purge_run(snap_dir, log_dir, retain < 3 ? 3 : retain, err, err_len);
}
