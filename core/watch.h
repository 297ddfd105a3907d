/* Watches (client-protocol.md §6): two tables, data and child, each path -> watchers, with a
 * mode set per (watcher, path). A watcher is an opaque pointer (the server's connection).
 * Indexed both ways, so dropping a watcher costs O(its watches) and firing a path costs
 * O(its watchers + depth) for recursive watches. */
#ifndef CORRAL_WATCH_H
#define CORRAL_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum watch_table {
    WATCH_DATA = 0,  /* getData, exists, persistent, persistent-recursive */
    WATCH_CHILD = 1, /* getChildren, persistent */
};

/* Mode bits; one (watcher, path) pair in one table may hold several at once. */
enum watch_mode {
    WATCH_STANDARD = 1,  /* one-shot: removed when it fires */
    WATCH_PERSISTENT = 2,
    WATCH_RECURSIVE = 4, /* data table only; fires for the path and every descendant */
};

/* WatcherType of checkWatches/removeWatches. */
enum watcher_type {
    WATCHER_CHILDREN = 1,
    WATCHER_DATA = 2,
    WATCHER_ANY = 3,
    WATCHER_PERSISTENT = 4,
    WATCHER_RECURSIVE = 5,
};

struct watches;

/* Called once per watcher that an event reaches. */
typedef void (*watch_deliver_fn)(void *watcher, int event_type, const char *path, void *arg);

/* A small set of watchers, to suppress a second delivery within one mutation. Start it
 * zeroed; watches_trigger grows it; the owner frees it with watcher_set_free. */
struct watcher_set {
    void **items;
    size_t count, cap;
};
void watcher_set_free(struct watcher_set *s);
bool watcher_set_contains(const struct watcher_set *s, void *watcher);

struct watches *watches_new(void);
void watches_free(struct watches *w);

/* Adds `mode` for (watcher, path) in `table`. Returns 0, -ENOMEM (nothing changed), or -EINVAL
 * for no mode bit, an unknown bit, or WATCH_RECURSIVE in the child table. */
int watches_add(struct watches *w, enum watch_table table, const char *path, void *watcher,
                enum watch_mode mode);

/* Fires `event_type` at `path` through `table`: every watcher with a mode on `path` and, in
 * the data table, every watcher with a recursive watch on `path` or an ancestor. Each watcher
 * is delivered to at most once; one in `skip` (may be NULL) is not delivered to at all, and
 * each delivered watcher is added to `delivered` (may be NULL). Standard modes that fired are
 * removed; persistent and recursive ones stay. A recursive watch does not fire for
 * ZK_EVENT_CHILDREN_CHANGED. A standard watch on `path` is spent even when its watcher was
 * in `skip`. The tables are updated before the first call to fn, so fn may add, remove or
 * trigger watches (a watcher it removes may still get this event). Returns the number of
 * deliveries. Without memory for its working list it delivers nothing, changes nothing and
 * returns 0; when only `delivered` cannot grow, it delivers without recording. */
size_t watches_trigger(struct watches *w, enum watch_table table, const char *path,
                       int event_type, watch_deliver_fn fn, void *arg,
                       const struct watcher_set *skip, struct watcher_set *delivered);

/* checkWatches semantics for one WatcherType: does `watcher` hold such a watch on path? */
bool watches_contains(const struct watches *w, const char *path, void *watcher,
                      enum watcher_type type);
/* removeWatches: removes what `type` names for (watcher, path); returns how many
 * (watcher, path, table) entries changed; 0 means ZK_NOWATCHER. */
size_t watches_remove(struct watches *w, const char *path, void *watcher,
                      enum watcher_type type);
/* Drops every watch of a watcher (its connection closed). */
void watches_remove_watcher(struct watches *w, void *watcher);

/* (watcher, path) pairs in one table: zk_watch_count is the sum over both tables. */
size_t watches_count(const struct watches *w, enum watch_table table);
/* Distinct paths and distinct watchers in one table (wchs reports the data table). */
size_t watches_path_count(const struct watches *w, enum watch_table table);
size_t watches_watcher_count(const struct watches *w, enum watch_table table);
/* Every (path, watcher) pair of one table, for wchc/wchp. Grouped by watcher when
 * by_watcher is true, else by path. */
void watches_each(const struct watches *w, enum watch_table table, bool by_watcher,
                  void (*fn)(const char *path, void *watcher, void *arg), void *arg);

#endif
