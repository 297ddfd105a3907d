/* Purge: PurgeTxnLog's rules (disk-and-quorum.md A.12), on files laid out in a temp dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "jute.h"
#include "log.h"
#include "persist/purge.h"
#include "persist/snapshot.h"
#include "persist/txnlog.h"
#include "tmpdir.h"

struct fixture {
    struct tmpdir tmp;
    char snap_dir[4200];
    char log_dir[4200];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char err[256];
    if (f == NULL || tmpdir_make(&f->tmp, "corral-purge", err, sizeof err) != 0)
        return -1;
    snprintf(f->snap_dir, sizeof f->snap_dir, "%s/snap", f->tmp.path);
    snprintf(f->log_dir, sizeof f->log_dir, "%s/log", f->tmp.path);
    mkdir(f->snap_dir, 0755);
    mkdir(f->log_dir, 0755);
    log_set_level(CORRAL_LOG_WARN); /* the "removed" lines would bury cmocka's output */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    tmpdir_remove(&f->tmp);
    free(f);
    return 0;
}

static void write_file(const char *dir, const char *name, const uint8_t *bytes, size_t len)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* The smallest snapshot with a valid header, no sessions, no ACLs, no nodes, a correct seal1
 * and the "/" that the quick validity test looks for at the end (A.8). */
static void put_snapshot(const char *dir, int64_t zxid, bool valid)
{
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_int(&w, SNAPSHOT_MAGIC);
    jute_write_int(&w, 2);
    jute_write_long(&w, -1);
    jute_write_int(&w, 0);
    jute_write_int(&w, 0);
    jute_write_ustring(&w, "/");
    jute_write_long(&w, txnlog_adler32(1, w.buf, w.len));
    jute_write_ustring(&w, "/");
    assert_false(w.failed);
    char name[64];
    snprintf(name, sizeof name, "snapshot.%llx", (unsigned long long)zxid);
    /* An invalid one is cut short, as a crash in the middle of writing leaves it. */
    write_file(dir, name, w.buf, valid ? w.len : w.len - 3);
    jute_writer_free(&w);
}

static void put_log(const char *dir, int64_t zxid)
{
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_int(&w, TXNLOG_MAGIC);
    jute_write_int(&w, 2);
    jute_write_long(&w, 0);
    assert_false(w.failed);
    char name[64];
    snprintf(name, sizeof name, "log.%llx", (unsigned long long)zxid);
    write_file(dir, name, w.buf, w.len);
    jute_writer_free(&w);
}

static bool exists(const char *dir, const char *name)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static int count_files(const char *dir)
{
    char cmd[4500];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

static const int64_t live_snaps[] = {0x0, 0x5, 0xb, 0x15, 0x1b, 0x23, 0x2d};
static const int64_t live_logs[] = {0x1, 0x7, 0xd, 0x17, 0x1d, 0x25, 0x2f};

static void put_live_example(const char *snap_dir, const char *log_dir)
{
    for (size_t i = 0; i < 7; i++) {
        put_snapshot(snap_dir, live_snaps[i], true);
        put_log(log_dir, live_logs[i]);
    }
}

/* A.12's example, as ZooKeeper 3.8.0 purged it: S = 0x1b, log.17 kept since it starts
 * before S. Both kinds in one directory, as with dataLogDir unset. */
static void check_live_example(const char *snap_dir, const char *log_dir, int retain)
{
    char err[256] = "";
    put_live_example(snap_dir, log_dir);
    assert_int_equal(purge_run(snap_dir, log_dir, retain, err, sizeof err), 7);
    static const char *const gone_logs[] = {"log.1", "log.7", "log.d"};
    static const char *const kept_logs[] = {"log.17", "log.1d", "log.25", "log.2f"};
    static const char *const gone_snaps[] = {"snapshot.0", "snapshot.5", "snapshot.b",
                                             "snapshot.15"};
    static const char *const kept_snaps[] = {"snapshot.1b", "snapshot.23", "snapshot.2d"};
    for (size_t i = 0; i < 3; i++)
        assert_false(exists(log_dir, gone_logs[i]));
    for (size_t i = 0; i < 4; i++)
        assert_true(exists(log_dir, kept_logs[i]));
    for (size_t i = 0; i < 4; i++)
        assert_false(exists(snap_dir, gone_snaps[i]));
    for (size_t i = 0; i < 3; i++)
        assert_true(exists(snap_dir, kept_snaps[i]));
}

static void the_live_example_deletes_what_zookeeper_deleted(void **state)
{
    struct fixture *f = *state;
    /* Each deletion is logged at INFO: catch stderr to see the lines. */
    char log_path[4300];
    snprintf(log_path, sizeof log_path, "%s/stderr", f->tmp.path);
    fflush(stderr);
    int saved = dup(2);
    FILE *cap = fopen(log_path, "w+");
    assert_non_null(cap);
    dup2(fileno(cap), 2);
    log_set_level(CORRAL_LOG_INFO);
    check_live_example(f->snap_dir, f->snap_dir, 3);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_int_equal(count_files(f->snap_dir), 7);

    char line[8192], want[4400];
    int lines = 0;
    bool saw_log1 = false;
    snprintf(want, sizeof want, "removed %s/log.1\n", f->snap_dir);
    rewind(cap);
    while (fgets(line, sizeof line, cap) != NULL) {
        lines += strstr(line, "INFO purge: removed ") != NULL;
        saw_log1 = saw_log1 || strstr(line, want) != NULL;
    }
    fclose(cap);
    assert_int_equal(lines, 7);
    assert_true(saw_log1);

    /* A second pass finds nothing more to do. */
    char err[256] = "";
    assert_int_equal(purge_run(f->snap_dir, f->snap_dir, 3, err, sizeof err), 0);
}

static void a_retain_count_below_three_is_raised_to_three(void **state)
{
    struct fixture *f = *state;
    check_live_example(f->snap_dir, f->log_dir, 1);

    char err[256] = "";
    for (int retain = -1; retain <= 2; retain++)
        assert_int_equal(purge_run(f->snap_dir, f->log_dir, retain, err, sizeof err), 0);
    assert_true(exists(f->snap_dir, "snapshot.1b"));
    assert_true(exists(f->log_dir, "log.17"));
}

static void a_larger_retain_count_keeps_more(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    put_live_example(f->snap_dir, f->log_dir);
    /* N = 5: S = 0xb, so log.7 (starting before it) stays and only log.1, snapshot.0 and
     * snapshot.5 go. */
    assert_int_equal(purge_run(f->snap_dir, f->log_dir, 5, err, sizeof err), 3);
    assert_false(exists(f->log_dir, "log.1"));
    assert_true(exists(f->log_dir, "log.7"));
    assert_false(exists(f->snap_dir, "snapshot.0"));
    assert_false(exists(f->snap_dir, "snapshot.5"));
    assert_true(exists(f->snap_dir, "snapshot.b"));
    /* More than there are: S is the oldest valid one, and nothing is older. */
    assert_int_equal(purge_run(f->snap_dir, f->log_dir, 100, err, sizeof err), 0);
}

static void without_a_valid_snapshot_nothing_is_deleted(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    for (size_t i = 0; i < 7; i++) {
        put_snapshot(f->snap_dir, live_snaps[i], false);
        put_log(f->log_dir, live_logs[i]);
    }
    assert_int_equal(purge_run(f->snap_dir, f->log_dir, 3, err, sizeof err), 0);
    assert_int_equal(count_files(f->snap_dir), 7);
    assert_int_equal(count_files(f->log_dir), 7);

    /* Nor in empty directories. */
    char empty[4300];
    snprintf(empty, sizeof empty, "%s/empty", f->tmp.path);
    mkdir(empty, 0755);
    assert_int_equal(purge_run(empty, empty, 3, err, sizeof err), 0);
}

static void invalid_snapshots_do_not_count_and_newer_ones_stay(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    /* Valid 10, 20, 30, 40; invalid 5 (older than S), 35 (between) and 50 (newest). */
    static const int64_t valid[] = {0x10, 0x20, 0x30, 0x40};
    for (size_t i = 0; i < 4; i++)
        put_snapshot(f->snap_dir, valid[i], true);
    put_snapshot(f->snap_dir, 0x5, false);
    put_snapshot(f->snap_dir, 0x35, false);
    put_snapshot(f->snap_dir, 0x50, false);
    put_log(f->log_dir, 0x1);
    put_log(f->log_dir, 0x11);
    put_log(f->log_dir, 0x21);
    put_log(f->log_dir, 0x31);
    /* S = 0x20 (the invalid 0x50 and 0x35 are skipped); log.11 holds 0x21.. of snapshot.20. */
    assert_int_equal(purge_run(f->snap_dir, f->log_dir, 3, err, sizeof err), 3);
    assert_false(exists(f->snap_dir, "snapshot.5"));
    assert_false(exists(f->snap_dir, "snapshot.10"));
    assert_true(exists(f->snap_dir, "snapshot.20"));
    assert_true(exists(f->snap_dir, "snapshot.35"));
    assert_true(exists(f->snap_dir, "snapshot.50"));
    assert_false(exists(f->log_dir, "log.1"));
    assert_true(exists(f->log_dir, "log.11"));
    assert_true(exists(f->log_dir, "log.21"));
    assert_true(exists(f->log_dir, "log.31"));
}

static void separate_directories_and_other_files(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    put_snapshot(f->snap_dir, 0x20, true);
    put_snapshot(f->snap_dir, 0x30, true);
    put_snapshot(f->snap_dir, 0x40, true);
    put_snapshot(f->snap_dir, 0x8, true);
    put_log(f->log_dir, 0x1);
    put_log(f->log_dir, 0x9);
    put_log(f->log_dir, 0x20); /* starts exactly at S: it is the one replay reads first */
    put_log(f->log_dir, 0x2a);
    /* Not data files, or data files of the other kind: purge leaves them alone. */
    static const uint8_t junk[] = "x";
    write_file(f->snap_dir, "currentEpoch", junk, 1);
    write_file(f->snap_dir, "snapshot.xyz", junk, 1);
    write_file(f->snap_dir, "snapshot.ffffffffffffffff", junk, 1);
    write_file(f->snap_dir, "log.3", junk, 1);
    write_file(f->log_dir, "snapshot.3", junk, 1);
    write_file(f->log_dir, "initialize", junk, 1);
    /* Suffixes after the zxid still make a data file (A.3). */
    write_file(f->log_dir, "log.2.bak", junk, 1);
    write_file(f->snap_dir, "snapshot.7.tmp", junk, 1);

    assert_int_equal(purge_run(f->snap_dir, f->log_dir, 3, err, sizeof err), 5);
    assert_false(exists(f->snap_dir, "snapshot.8"));
    assert_false(exists(f->snap_dir, "snapshot.7.tmp"));
    assert_false(exists(f->log_dir, "log.1"));
    assert_false(exists(f->log_dir, "log.2.bak"));
    assert_false(exists(f->log_dir, "log.9"));
    assert_true(exists(f->log_dir, "log.20"));
    assert_true(exists(f->log_dir, "log.2a"));
    assert_true(exists(f->snap_dir, "currentEpoch"));
    assert_true(exists(f->snap_dir, "snapshot.xyz"));
    assert_true(exists(f->snap_dir, "snapshot.ffffffffffffffff"));
    assert_true(exists(f->snap_dir, "log.3"));
    assert_true(exists(f->log_dir, "snapshot.3"));
    assert_true(exists(f->log_dir, "initialize"));
    assert_int_equal(count_files(f->snap_dir), 7);
    assert_int_equal(count_files(f->log_dir), 4);
}

static void compressed_snapshots_count_as_valid(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    static const uint8_t gz[] = {0x1f, 0x8b, 0x08, 0x00};
    put_snapshot(f->snap_dir, 0x5, true);
    put_snapshot(f->snap_dir, 0x10, true);
    put_snapshot(f->snap_dir, 0x20, true);
    write_file(f->snap_dir, "snapshot.30.gz", gz, sizeof gz);
    put_log(f->log_dir, 0x1);
    put_log(f->log_dir, 0x6);
    put_log(f->log_dir, 0x11);
    /* S = 0x10 only if the .gz counts; otherwise S = 0x5 and nothing would go. */
    assert_int_equal(purge_run(f->snap_dir, f->log_dir, 3, err, sizeof err), 2);
    assert_false(exists(f->snap_dir, "snapshot.5"));
    assert_false(exists(f->log_dir, "log.1"));
    assert_true(exists(f->log_dir, "log.6"));
    assert_true(exists(f->snap_dir, "snapshot.30.gz"));
}

static void a_missing_log_directory_is_an_error(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    char missing[4300];
    snprintf(missing, sizeof missing, "%s/nope", f->tmp.path);
    put_snapshot(f->snap_dir, 0x1, true);
    assert_true(purge_run(f->snap_dir, missing, 3, err, sizeof err) < 0);
    assert_non_null(strstr(err, missing));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(the_live_example_deletes_what_zookeeper_deleted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_retain_count_below_three_is_raised_to_three, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_larger_retain_count_keeps_more, setup, teardown),
        cmocka_unit_test_setup_teardown(without_a_valid_snapshot_nothing_is_deleted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(invalid_snapshots_do_not_count_and_newer_ones_stay, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(separate_directories_and_other_files, setup, teardown),
        cmocka_unit_test_setup_teardown(compressed_snapshots_count_as_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(a_missing_log_directory_is_an_error, setup, teardown),
    };
    return cmocka_run_group_tests_name("purge", tests, NULL, NULL);
}
