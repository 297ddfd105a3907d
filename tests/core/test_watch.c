/* core/watch.c: the two watch tables, their modes and the events that reach each watcher. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "watch.h"
#include "zkerr.h"

/* Watchers are opaque pointers; these addresses stand in for connections. */
static char conn_a, conn_b, conn_c, conn_d, conn_e;
#define A ((void *)&conn_a)
#define B ((void *)&conn_b)
#define C ((void *)&conn_c)
#define D ((void *)&conn_d)
#define E ((void *)&conn_e)

#define MAX_EVENTS 64

struct event_log {
    size_t n;
    void *watcher[MAX_EVENTS];
    int type[MAX_EVENTS];
    char path[MAX_EVENTS][64];
};

static void log_event(void *watcher, int event_type, const char *path, void *arg)
{
    struct event_log *log = arg;
    assert_true(log->n < MAX_EVENTS);
    log->watcher[log->n] = watcher;
    log->type[log->n] = event_type;
    strncpy(log->path[log->n], path, sizeof log->path[0] - 1);
    log->n++;
}

/* How many events in the log went to watcher. */
static size_t got(const struct event_log *log, void *watcher)
{
    size_t n = 0;
    for (size_t i = 0; i < log->n; i++)
        n += log->watcher[i] == watcher;
    return n;
}

static int setup(void **state)
{
    *state = watches_new();
    return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    watches_free(*state);
    return 0;
}

static size_t fire(struct watches *w, enum watch_table table, const char *path, int type,
                   struct event_log *log)
{
    return watches_trigger(w, table, path, type, log_event, log, NULL, NULL);
}

static void a_standard_watch_fires_once_and_is_gone(void **state)
{
    struct watches *w = *state;
    struct event_log log = {0};
    assert_int_equal(watches_add(w, WATCH_DATA, "/a", A, WATCH_STANDARD), 0);
    assert_int_equal(watches_count(w, WATCH_DATA), 1);

    assert_int_equal(fire(w, WATCH_DATA, "/a", ZK_EVENT_DATA_CHANGED, &log), 1);
    assert_ptr_equal(log.watcher[0], A);
    assert_int_equal(log.type[0], ZK_EVENT_DATA_CHANGED);
    assert_string_equal(log.path[0], "/a");

    assert_int_equal(fire(w, WATCH_DATA, "/a", ZK_EVENT_DATA_CHANGED, &log), 0);
    assert_int_equal(log.n, 1);
    assert_false(watches_contains(w, "/a", A, WATCHER_DATA));
    assert_int_equal(watches_count(w, WATCH_DATA), 0);
    assert_int_equal(watches_path_count(w, WATCH_DATA), 0);
    assert_int_equal(watches_watcher_count(w, WATCH_DATA), 0);
}

static void registration_is_a_set_so_get_data_twice_and_exists_give_one_event(void **state)
{
    struct watches *w = *state;
    struct event_log log = {0};
    for (int i = 0; i < 3; i++) /* getData(watch), getData(watch), exists(watch) */
        assert_int_equal(watches_add(w, WATCH_DATA, "/n", A, WATCH_STANDARD), 0);
    assert_int_equal(watches_count(w, WATCH_DATA), 1);
    assert_int_equal(fire(w, WATCH_DATA, "/n", ZK_EVENT_DATA_CHANGED, &log), 1);
    assert_int_equal(log.n, 1);
    assert_int_equal(watches_count(w, WATCH_DATA), 0);
}

static void a_trigger_on_an_unwatched_path_or_other_table_delivers_nothing(void **state)
{
    struct watches *w = *state;
    struct event_log log = {0};
    assert_int_equal(fire(w, WATCH_DATA, "/a", ZK_EVENT_CREATED, &log), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/a", A, WATCH_STANDARD), 0);
    assert_int_equal(fire(w, WATCH_DATA, "/b", ZK_EVENT_CREATED, &log), 0);
    assert_int_equal(fire(w, WATCH_CHILD, "/a", ZK_EVENT_CHILDREN_CHANGED, &log), 0);
    assert_int_equal(log.n, 0);
    assert_true(watches_contains(w, "/a", A, WATCHER_DATA));
}

static void recursive_watches_on_ancestors_and_the_root_fire_with_the_event_path(void **state)
{
    struct watches *w = *state;
    struct event_log log = {0};
    assert_int_equal(watches_add(w, WATCH_DATA, "/", A, WATCH_RECURSIVE), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/a", B, WATCH_RECURSIVE), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/a/b", C, WATCH_STANDARD), 0);
    /* Neither a descendant nor a sibling sharing the prefix "/a" is an ancestor. */
    assert_int_equal(watches_add(w, WATCH_DATA, "/a/b/c", D, WATCH_RECURSIVE), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/ab", E, WATCH_RECURSIVE), 0);

    assert_int_equal(fire(w, WATCH_DATA, "/a/b", ZK_EVENT_CREATED, &log), 3);
    assert_int_equal(got(&log, A), 1);
    assert_int_equal(got(&log, B), 1);
    assert_int_equal(got(&log, C), 1);
    for (size_t i = 0; i < log.n; i++) {
        assert_string_equal(log.path[i], "/a/b");
        assert_int_equal(log.type[i], ZK_EVENT_CREATED);
    }

    /* Recursive watches stay; the standard one is spent. */
    log.n = 0;
    assert_int_equal(fire(w, WATCH_DATA, "/a/b", ZK_EVENT_DATA_CHANGED, &log), 2);
    assert_int_equal(got(&log, A), 1);
    assert_int_equal(got(&log, B), 1);

    /* The root's recursive watch sees the root itself and any depth. */
    log.n = 0;
    assert_int_equal(fire(w, WATCH_DATA, "/", ZK_EVENT_DATA_CHANGED, &log), 1);
    assert_ptr_equal(log.watcher[0], A);
    log.n = 0;
    assert_int_equal(fire(w, WATCH_DATA, "/ab/x/y/z", ZK_EVENT_DELETED, &log), 2);
    assert_int_equal(got(&log, A), 1);
    assert_int_equal(got(&log, E), 1);
    log.n = 0;
    assert_int_equal(fire(w, WATCH_DATA, "/a/b/c", ZK_EVENT_DELETED, &log), 3);
    assert_int_equal(got(&log, D), 1);
    assert_int_equal(watches_count(w, WATCH_DATA), 4);
}

static void a_watcher_reached_several_ways_gets_one_event_and_loses_only_the_standard(void **state)
{
    struct watches *w = *state;
    struct event_log log = {0};
    assert_int_equal(watches_add(w, WATCH_DATA, "/x/y", A, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/x/y", A, WATCH_RECURSIVE), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/x", A, WATCH_RECURSIVE), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/", A, WATCH_RECURSIVE), 0);
    assert_int_equal(watches_count(w, WATCH_DATA), 3);

    assert_int_equal(fire(w, WATCH_DATA, "/x/y", ZK_EVENT_DATA_CHANGED, &log), 1);
    assert_int_equal(log.n, 1);
    assert_false(watches_contains(w, "/x/y", A, WATCHER_DATA));
    assert_true(watches_contains(w, "/x/y", A, WATCHER_RECURSIVE));
    assert_int_equal(watches_count(w, WATCH_DATA), 3);
}

static void an_ancestor_fires_only_its_recursive_watches_whatever_their_order(void **state)
{
    struct watches *w = *state;
    struct event_log log = {0};
    assert_int_equal(watches_add(w, WATCH_DATA, "/a", B, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/a", A, WATCH_PERSISTENT), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/a", C, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/a", A, WATCH_RECURSIVE), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/a", D, WATCH_RECURSIVE), 0);
    assert_int_equal(fire(w, WATCH_DATA, "/a/b", ZK_EVENT_CREATED, &log), 2);
    assert_int_equal(got(&log, A), 1);
    assert_int_equal(got(&log, D), 1);

    /* A keeps its persistent watch but is no longer recursive. */
    assert_int_equal(watches_remove(w, "/a", A, WATCHER_RECURSIVE), 1);
    log.n = 0;
    assert_int_equal(fire(w, WATCH_DATA, "/a/b", ZK_EVENT_CREATED, &log), 1);
    assert_ptr_equal(log.watcher[0], D);
    assert_true(watches_contains(w, "/a", A, WATCHER_PERSISTENT));
    assert_true(watches_contains(w, "/a", B, WATCHER_DATA));
    assert_true(watches_contains(w, "/a", C, WATCHER_DATA));
}

static void recursive_watches_never_fire_children_changed(void **state)
{
    struct watches *w = *state;
    struct event_log log = {0};
    assert_int_equal(watches_add(w, WATCH_DATA, "/", A, WATCH_RECURSIVE), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/p", B, WATCH_RECURSIVE), 0);
    assert_int_equal(fire(w, WATCH_DATA, "/p", ZK_EVENT_CHILDREN_CHANGED, &log), 0);
    assert_int_equal(fire(w, WATCH_DATA, "/p/q", ZK_EVENT_CHILDREN_CHANGED, &log), 0);
    assert_int_equal(fire(w, WATCH_CHILD, "/p", ZK_EVENT_CHILDREN_CHANGED, &log), 0);
    assert_int_equal(log.n, 0);
    assert_int_equal(watches_count(w, WATCH_DATA), 2);
}

static void delete_suppresses_the_child_table_event_for_those_already_told(void **state)
{
    struct watches *w = *state;
    struct event_log log = {0};
    struct watcher_set delivered = {0};
    assert_int_equal(watches_add(w, WATCH_DATA, "/p", A, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_CHILD, "/p", A, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_CHILD, "/p", B, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/", C, WATCH_RECURSIVE), 0);
    assert_int_equal(watches_add(w, WATCH_CHILD, "/p", C, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_CHILD, "/", D, WATCH_STANDARD), 0);

    /* (1) data table at /p, (2) child table at /p, (3) child table at the parent. */
    assert_int_equal(
        watches_trigger(w, WATCH_DATA, "/p", ZK_EVENT_DELETED, log_event, &log, NULL, &delivered),
        2);
    assert_int_equal(delivered.count, 2);
    assert_true(watcher_set_contains(&delivered, A));
    assert_true(watcher_set_contains(&delivered, C));
    assert_int_equal(watches_trigger(w, WATCH_CHILD, "/p", ZK_EVENT_DELETED, log_event, &log,
                                     &delivered, &delivered),
                     1);
    assert_ptr_equal(log.watcher[2], B);
    assert_int_equal(log.type[2], ZK_EVENT_DELETED);
    assert_int_equal(fire(w, WATCH_CHILD, "/", ZK_EVENT_CHILDREN_CHANGED, &log), 1);
    assert_ptr_equal(log.watcher[3], D);
    assert_string_equal(log.path[3], "/");
    assert_int_equal(got(&log, A), 1);
    assert_int_equal(got(&log, B), 1);
    assert_int_equal(got(&log, C), 1);

    /* The suppressed standard child watches are spent all the same. */
    assert_false(watches_contains(w, "/p", A, WATCHER_CHILDREN));
    assert_false(watches_contains(w, "/p", C, WATCHER_CHILDREN));
    assert_int_equal(watches_count(w, WATCH_CHILD), 0);
    assert_int_equal(watches_count(w, WATCH_DATA), 1);
    watcher_set_free(&delivered);
    assert_null(delivered.items);
}

static void a_skipped_watcher_not_in_the_table_changes_nothing(void **state)
{
    struct watches *w = *state;
    struct event_log log = {0};
    void *items[] = {E};
    struct watcher_set skip = {.items = items, .count = 1, .cap = 1};
    assert_int_equal(watches_add(w, WATCH_DATA, "/s", A, WATCH_STANDARD), 0);
    assert_int_equal(
        watches_trigger(w, WATCH_DATA, "/s", ZK_EVENT_CREATED, log_event, &log, &skip, NULL), 1);
    assert_ptr_equal(log.watcher[0], A);
}

static void a_persistent_watch_keeps_firing_from_both_tables(void **state)
{
    struct watches *w = *state;
    struct event_log log = {0};
    assert_int_equal(watches_add(w, WATCH_DATA, "/p", A, WATCH_PERSISTENT), 0);
    assert_int_equal(watches_add(w, WATCH_CHILD, "/p", A, WATCH_PERSISTENT), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(fire(w, WATCH_DATA, "/p", ZK_EVENT_DATA_CHANGED, &log), 1);
        assert_int_equal(fire(w, WATCH_CHILD, "/p", ZK_EVENT_CHILDREN_CHANGED, &log), 1);
    }
    assert_int_equal(log.n, 6);
    assert_int_equal(log.type[1], ZK_EVENT_CHILDREN_CHANGED);
    /* Deleted and re-created: still there. */
    struct watcher_set delivered = {0};
    assert_int_equal(
        watches_trigger(w, WATCH_DATA, "/p", ZK_EVENT_DELETED, log_event, &log, NULL, &delivered),
        1);
    assert_int_equal(
        watches_trigger(w, WATCH_CHILD, "/p", ZK_EVENT_DELETED, log_event, &log, &delivered, NULL),
        0);
    assert_int_equal(fire(w, WATCH_DATA, "/p", ZK_EVENT_CREATED, &log), 1);
    /* Not recursive: a child's own events do not reach it. */
    assert_int_equal(fire(w, WATCH_DATA, "/p/c", ZK_EVENT_CREATED, &log), 0);
    assert_true(watches_contains(w, "/p", A, WATCHER_PERSISTENT));
    assert_int_equal(watches_count(w, WATCH_DATA), 1);
    assert_int_equal(watches_count(w, WATCH_CHILD), 1);
    watcher_set_free(&delivered);
}

static void firing_a_standard_and_persistent_pair_spends_only_the_standard(void **state)
{
    struct watches *w = *state;
    struct event_log log = {0};
    assert_int_equal(watches_add(w, WATCH_DATA, "/p", A, WATCH_PERSISTENT), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/p", A, WATCH_STANDARD), 0);
    assert_true(watches_contains(w, "/p", A, WATCHER_DATA));
    assert_int_equal(fire(w, WATCH_DATA, "/p", ZK_EVENT_DATA_CHANGED, &log), 1);
    assert_false(watches_contains(w, "/p", A, WATCHER_DATA));
    assert_true(watches_contains(w, "/p", A, WATCHER_PERSISTENT));
    assert_int_equal(fire(w, WATCH_DATA, "/p", ZK_EVENT_DATA_CHANGED, &log), 1);
}

static void contains_follows_the_watcher_type_table(void **state)
{
    struct watches *w = *state;
    assert_int_equal(watches_add(w, WATCH_DATA, "/d", A, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_CHILD, "/c", A, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/p", A, WATCH_PERSISTENT), 0);
    assert_int_equal(watches_add(w, WATCH_CHILD, "/p", A, WATCH_PERSISTENT), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/r", A, WATCH_RECURSIVE), 0);

    assert_true(watches_contains(w, "/d", A, WATCHER_DATA));
    assert_false(watches_contains(w, "/d", A, WATCHER_CHILDREN));
    assert_true(watches_contains(w, "/d", A, WATCHER_ANY));
    assert_false(watches_contains(w, "/d", A, WATCHER_PERSISTENT));
    assert_false(watches_contains(w, "/d", A, WATCHER_RECURSIVE));

    assert_true(watches_contains(w, "/c", A, WATCHER_CHILDREN));
    assert_false(watches_contains(w, "/c", A, WATCHER_DATA));
    assert_true(watches_contains(w, "/c", A, WATCHER_ANY));

    /* A persistent watch is not a standard one of either kind. */
    assert_false(watches_contains(w, "/p", A, WATCHER_DATA));
    assert_false(watches_contains(w, "/p", A, WATCHER_CHILDREN));
    assert_true(watches_contains(w, "/p", A, WATCHER_PERSISTENT));
    assert_false(watches_contains(w, "/p", A, WATCHER_RECURSIVE));
    assert_true(watches_contains(w, "/p", A, WATCHER_ANY));

    assert_true(watches_contains(w, "/r", A, WATCHER_RECURSIVE));
    assert_false(watches_contains(w, "/r", A, WATCHER_PERSISTENT));
    assert_false(watches_contains(w, "/r", A, WATCHER_DATA));
    assert_true(watches_contains(w, "/r", A, WATCHER_ANY));

    /* NOWATCHER: another watcher, another path, an unknown type. */
    assert_false(watches_contains(w, "/d", B, WATCHER_ANY));
    assert_false(watches_contains(w, "/nope", A, WATCHER_ANY));
    assert_false(watches_contains(w, "/d", A, (enum watcher_type)9));
}

static void remove_children_and_data_take_only_the_standard_watch(void **state)
{
    struct watches *w = *state;
    assert_int_equal(watches_add(w, WATCH_DATA, "/x", A, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/x", A, WATCH_PERSISTENT), 0);
    assert_int_equal(watches_add(w, WATCH_CHILD, "/x", A, WATCH_STANDARD), 0);

    assert_int_equal(watches_remove(w, "/x", A, WATCHER_CHILDREN), 1);
    assert_int_equal(watches_remove(w, "/x", A, WATCHER_CHILDREN), 0); /* NOWATCHER */
    assert_int_equal(watches_count(w, WATCH_CHILD), 0);

    assert_int_equal(watches_remove(w, "/x", A, WATCHER_DATA), 1);
    assert_int_equal(watches_remove(w, "/x", A, WATCHER_DATA), 0);
    assert_true(watches_contains(w, "/x", A, WATCHER_PERSISTENT));
    assert_int_equal(watches_count(w, WATCH_DATA), 1);

    /* Another watcher's or another path's removal finds nothing. */
    assert_int_equal(watches_remove(w, "/x", B, WATCHER_ANY), 0);
    assert_int_equal(watches_remove(w, "/y", A, WATCHER_ANY), 0);
    assert_int_equal(watches_remove(w, "/x", A, WATCHER_RECURSIVE), 0);
    assert_int_equal(watches_remove(w, "/x", A, (enum watcher_type)0), 0);
    assert_int_equal(watches_count(w, WATCH_DATA), 1);
}

static void remove_any_takes_everything_at_the_path_in_both_tables(void **state)
{
    struct watches *w = *state;
    assert_int_equal(watches_add(w, WATCH_DATA, "/x", A, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/x", A, WATCH_RECURSIVE), 0);
    assert_int_equal(watches_add(w, WATCH_CHILD, "/x", A, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/x", B, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/y", A, WATCH_STANDARD), 0);

    assert_int_equal(watches_remove(w, "/x", A, WATCHER_ANY), 2);
    assert_false(watches_contains(w, "/x", A, WATCHER_ANY));
    assert_int_equal(watches_remove(w, "/x", A, WATCHER_ANY), 0);
    assert_true(watches_contains(w, "/x", B, WATCHER_DATA));
    assert_true(watches_contains(w, "/y", A, WATCHER_DATA));
    assert_int_equal(watches_count(w, WATCH_DATA), 2);
    assert_int_equal(watches_count(w, WATCH_CHILD), 0);

    /* The recursive watch went too: nothing below /x reaches A. */
    struct event_log log = {0};
    assert_int_equal(fire(w, WATCH_DATA, "/x/z", ZK_EVENT_CREATED, &log), 0);
}

static void remove_persistent_takes_it_from_both_tables_and_recursive_from_data(void **state)
{
    struct watches *w = *state;
    assert_int_equal(watches_add(w, WATCH_DATA, "/p", A, WATCH_PERSISTENT), 0);
    assert_int_equal(watches_add(w, WATCH_CHILD, "/p", A, WATCH_PERSISTENT), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/p", A, WATCH_RECURSIVE), 0);

    assert_int_equal(watches_remove(w, "/p", A, WATCHER_PERSISTENT), 2);
    assert_int_equal(watches_remove(w, "/p", A, WATCHER_PERSISTENT), 0);
    assert_int_equal(watches_count(w, WATCH_CHILD), 0);
    assert_true(watches_contains(w, "/p", A, WATCHER_RECURSIVE));

    assert_int_equal(watches_remove(w, "/p", A, WATCHER_RECURSIVE), 1);
    assert_int_equal(watches_remove(w, "/p", A, WATCHER_RECURSIVE), 0);
    assert_int_equal(watches_count(w, WATCH_DATA), 0);

    /* The recursive count went back to 0 too: a deep trigger still delivers nothing. */
    struct event_log log = {0};
    assert_int_equal(fire(w, WATCH_DATA, "/p/q", ZK_EVENT_CREATED, &log), 0);
}

static void removing_a_watcher_cleans_both_tables(void **state)
{
    struct watches *w = *state;
    char path[32];
    for (int i = 0; i < 100; i++) {
        snprintf(path, sizeof path, "/n%d", i);
        assert_int_equal(watches_add(w, WATCH_DATA, path, A, WATCH_STANDARD), 0);
        assert_int_equal(watches_add(w, WATCH_CHILD, path, A, WATCH_STANDARD), 0);
    }
    assert_int_equal(watches_add(w, WATCH_DATA, "/", A, WATCH_RECURSIVE), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/n1", B, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_CHILD, "/n2", B, WATCH_PERSISTENT), 0);
    assert_int_equal(watches_count(w, WATCH_DATA), 102);
    assert_int_equal(watches_count(w, WATCH_CHILD), 101);
    assert_int_equal(watches_watcher_count(w, WATCH_DATA), 2);

    watches_remove_watcher(w, A);
    assert_int_equal(watches_count(w, WATCH_DATA), 1);
    assert_int_equal(watches_count(w, WATCH_CHILD), 1);
    assert_int_equal(watches_path_count(w, WATCH_DATA), 1);
    assert_int_equal(watches_watcher_count(w, WATCH_DATA), 1);
    assert_false(watches_contains(w, "/n1", A, WATCHER_ANY));

    struct event_log log = {0};
    assert_int_equal(fire(w, WATCH_DATA, "/n1", ZK_EVENT_DELETED, &log), 1);
    assert_ptr_equal(log.watcher[0], B);
    assert_int_equal(fire(w, WATCH_DATA, "/n7", ZK_EVENT_DELETED, &log), 0);

    watches_remove_watcher(w, B);
    watches_remove_watcher(w, B); /* a watcher with nothing left is a no-op */
    for (int t = WATCH_DATA; t <= WATCH_CHILD; t++) {
        assert_int_equal(watches_count(w, t), 0);
        assert_int_equal(watches_path_count(w, t), 0);
        assert_int_equal(watches_watcher_count(w, t), 0);
    }
}

static void counts_are_pairs_paths_and_watchers_per_table(void **state)
{
    struct watches *w = *state;
    assert_int_equal(watches_add(w, WATCH_DATA, "/a", A, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/a", A, WATCH_RECURSIVE), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/a", B, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/b", B, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/c", C, WATCH_PERSISTENT), 0);
    assert_int_equal(watches_add(w, WATCH_CHILD, "/c", C, WATCH_PERSISTENT), 0);
    assert_int_equal(watches_count(w, WATCH_DATA), 4);
    assert_int_equal(watches_path_count(w, WATCH_DATA), 3);
    assert_int_equal(watches_watcher_count(w, WATCH_DATA), 3);
    assert_int_equal(watches_count(w, WATCH_CHILD), 1);
    assert_int_equal(watches_path_count(w, WATCH_CHILD), 1);
    assert_int_equal(watches_watcher_count(w, WATCH_CHILD), 1);
}

struct pair_log {
    size_t n;
    char text[16][32];
};

static void log_pair(const char *path, void *watcher, void *arg)
{
    struct pair_log *pl = arg;
    assert_true(pl->n < 16);
    char name = '?';
    if (watcher == A)
        name = 'A';
    else if (watcher == B)
        name = 'B';
    snprintf(pl->text[pl->n++], sizeof pl->text[0], "%s %c", path, name);
}

static int cmp_text(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void each_visits_every_pair_grouped_as_asked(void **state)
{
    struct watches *w = *state;
    assert_int_equal(watches_add(w, WATCH_DATA, "/a", A, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/b", A, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/a", B, WATCH_RECURSIVE), 0);
    assert_int_equal(watches_add(w, WATCH_CHILD, "/z", B, WATCH_STANDARD), 0);

    for (int by_watcher = 0; by_watcher <= 1; by_watcher++) {
        struct pair_log pl = {0};
        watches_each(w, WATCH_DATA, by_watcher, log_pair, &pl);
        assert_int_equal(pl.n, 3);
        /* Grouped: the pairs of one key are adjacent. */
        if (by_watcher) {
            assert_true(pl.text[0][3] == pl.text[1][3] || pl.text[1][3] == pl.text[2][3]);
        } else {
            assert_true(pl.text[0][1] == pl.text[1][1] || pl.text[1][1] == pl.text[2][1]);
        }
        qsort(pl.text, pl.n, sizeof pl.text[0], cmp_text);
        assert_string_equal(pl.text[0], "/a A");
        assert_string_equal(pl.text[1], "/a B");
        assert_string_equal(pl.text[2], "/b A");
    }
}

static void invalid_modes_are_refused(void **state)
{
    struct watches *w = *state;
    assert_int_equal(watches_add(w, WATCH_CHILD, "/a", A, WATCH_RECURSIVE), -EINVAL);
    assert_int_equal(watches_add(w, WATCH_DATA, "/a", A, (enum watch_mode)0), -EINVAL);
    assert_int_equal(watches_add(w, WATCH_DATA, "/a", A, (enum watch_mode)8), -EINVAL);
    assert_int_equal(watches_count(w, WATCH_DATA) + watches_count(w, WATCH_CHILD), 0);
}

struct reentry {
    struct watches *w;
    size_t n;
};

/* A delivery that closes its own connection and arms a new watch, as a server might. */
static void drop_and_rearm(void *watcher, int event_type, const char *path, void *arg)
{
    struct reentry *r = arg;
    (void)event_type;
    (void)path;
    r->n++;
    watches_remove_watcher(r->w, watcher);
    assert_int_equal(watches_add(r->w, WATCH_DATA, "/other", watcher, WATCH_STANDARD), 0);
}

static void a_delivery_may_change_the_tables(void **state)
{
    struct watches *w = *state;
    struct reentry r = {.w = w};
    assert_int_equal(watches_add(w, WATCH_DATA, "/", A, WATCH_RECURSIVE), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/q", B, WATCH_PERSISTENT), 0);
    assert_int_equal(watches_add(w, WATCH_DATA, "/q", C, WATCH_STANDARD), 0);
    assert_int_equal(
        watches_trigger(w, WATCH_DATA, "/q", ZK_EVENT_DATA_CHANGED, drop_and_rearm, &r, NULL, NULL),
        3);
    assert_int_equal(r.n, 3);
    assert_int_equal(watches_count(w, WATCH_DATA), 3);
    assert_int_equal(watches_path_count(w, WATCH_DATA), 1);
    assert_true(watches_contains(w, "/other", A, WATCHER_DATA));
}

static void count_only(void *watcher, int event_type, const char *path, void *arg)
{
    (void)watcher;
    (void)event_type;
    (void)path;
    (*(size_t *)arg)++;
}

static void many_watchers_and_many_cycles_leave_nothing_behind(void **state)
{
    struct watches *w = *state;
    enum { WATCHERS = 20000 };
    char *conns = malloc(WATCHERS);
    assert_non_null(conns);
    struct watcher_set delivered = {0};
    size_t n = 0;

    for (int i = 0; i < WATCHERS; i++)
        assert_int_equal(watches_add(w, WATCH_CHILD, "/", conns + i, WATCH_STANDARD), 0);
    assert_int_equal(watches_count(w, WATCH_CHILD), WATCHERS);
    assert_int_equal(watches_trigger(w, WATCH_CHILD, "/", ZK_EVENT_CHILDREN_CHANGED, count_only, &n,
                                     NULL, &delivered),
                     WATCHERS);
    assert_int_equal(n, WATCHERS);
    assert_int_equal(delivered.count, WATCHERS);
    assert_int_equal(watches_count(w, WATCH_CHILD), 0);
    assert_int_equal(watches_watcher_count(w, WATCH_CHILD), 0);

    /* Add, fire and remove over and over, across many paths; ASan reports any leak. */
    char path[32];
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 1000; i++) {
            snprintf(path, sizeof path, "/r/%d", i);
            void *c = conns + (i % 97);
            assert_int_equal(watches_add(w, WATCH_DATA, path, c, WATCH_STANDARD), 0);
            assert_int_equal(watches_add(w, WATCH_CHILD, path, c, WATCH_PERSISTENT), 0);
            if (i % 10 == 0)
                assert_int_equal(watches_add(w, WATCH_DATA, "/r", c, WATCH_RECURSIVE), 0);
        }
        n = 0;
        for (int i = 0; i < 1000; i++) {
            snprintf(path, sizeof path, "/r/%d", i);
            watches_trigger(w, WATCH_DATA, path, ZK_EVENT_DATA_CHANGED, count_only, &n, NULL, NULL);
        }
        /* Path i reaches the recursive watchers of "/r" plus its own, once each. */
        bool recursive[97] = {false};
        size_t nrec = 0, expect = 0;
        for (int i = 0; i < 1000; i += 10)
            if (!recursive[i % 97]) {
                recursive[i % 97] = true;
                nrec++;
            }
        for (int i = 0; i < 1000; i++)
            expect += nrec + !recursive[i % 97];
        assert_int_equal(n, expect);
        assert_int_equal(watches_count(w, WATCH_DATA), nrec);
        for (int i = 0; i < 97; i++)
            watches_remove_watcher(w, conns + i);
        assert_int_equal(watches_count(w, WATCH_DATA) + watches_count(w, WATCH_CHILD), 0);
        assert_int_equal(watches_path_count(w, WATCH_DATA) + watches_path_count(w, WATCH_CHILD), 0);
    }
    watcher_set_free(&delivered);
    free(conns);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(a_standard_watch_fires_once_and_is_gone),
        T(registration_is_a_set_so_get_data_twice_and_exists_give_one_event),
        T(a_trigger_on_an_unwatched_path_or_other_table_delivers_nothing),
        T(recursive_watches_on_ancestors_and_the_root_fire_with_the_event_path),
        T(a_watcher_reached_several_ways_gets_one_event_and_loses_only_the_standard),
        T(an_ancestor_fires_only_its_recursive_watches_whatever_their_order),
        T(recursive_watches_never_fire_children_changed),
        T(delete_suppresses_the_child_table_event_for_those_already_told),
        T(a_skipped_watcher_not_in_the_table_changes_nothing),
        T(a_persistent_watch_keeps_firing_from_both_tables),
        T(firing_a_standard_and_persistent_pair_spends_only_the_standard),
        T(contains_follows_the_watcher_type_table),
        T(remove_children_and_data_take_only_the_standard_watch),
        T(remove_any_takes_everything_at_the_path_in_both_tables),
        T(remove_persistent_takes_it_from_both_tables_and_recursive_from_data),
        T(removing_a_watcher_cleans_both_tables),
        T(counts_are_pairs_paths_and_watchers_per_table),
        T(each_visits_every_pair_grouped_as_asked),
        T(invalid_modes_are_refused),
        T(a_delivery_may_change_the_tables),
        T(many_watchers_and_many_cycles_leave_nothing_behind),
#undef T
    };
    return cmocka_run_group_tests_name("watch", tests, NULL, NULL);
}
