/* Watch tables. Each table indexes its (path, watcher) entries three ways: by path (a list per
 * path), by watcher (a list per watcher) and by the pair itself (for add, contains and remove).
 * A path's list keeps its recursive entries first, so an ancestor's recursive watches are read
 * without walking the standard ones behind them. */
#include "watch.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zkerr.h"

#define WATCH_ALL_MODES (WATCH_STANDARD | WATCH_PERSISTENT | WATCH_RECURSIVE)
#define HMAP_MIN_BUCKETS 16

/* ---- a chained hash map with intrusive links ---------------------------------------------- */

struct hlink {
    struct hlink *next;
    uint64_t hash;
};

struct hmap {
    struct hlink **buckets; /* NULL until the first insert */
    size_t mask;            /* bucket count - 1 */
    size_t count;
};

static uint64_t hash_mix(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

#define FNV_BASIS UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)

static inline uint64_t fnv_step(uint64_t h, char c)
{
    return (h ^ (unsigned char)c) * FNV_PRIME;
}

/* FNV-1a, so that one pass over a path yields the state for each of its prefixes. */
static uint64_t hash_path(const char *p, size_t len)
{
    uint64_t h = FNV_BASIS;
    for (size_t i = 0; i < len; i++)
        h = fnv_step(h, p[i]);
    return hash_mix(h);
}

static uint64_t hash_ptr(const void *p)
{
    return hash_mix((uint64_t)(uintptr_t)p);
}

static uint64_t hash_pair(const void *a, const void *b)
{
    return hash_mix((uint64_t)(uintptr_t)a * UINT64_C(0x9e3779b97f4a7c15) ^ (uintptr_t)b);
}

static void hmap_free(struct hmap *m)
{
    free(m->buckets);
    m->buckets = NULL;
    m->mask = 0;
    m->count = 0;
}

static struct hlink *hmap_first(const struct hmap *m, uint64_t hash)
{
    return m->buckets == NULL ? NULL : m->buckets[hash & m->mask];
}

static void hmap_resize(struct hmap *m, size_t nbuckets)
{
    struct hlink **nb = calloc(nbuckets, sizeof *nb);
    if (nb == NULL)
        return; /* a fuller table is slower, not wrong */
    for (size_t i = 0; m->buckets != NULL && i <= m->mask; i++) {
        struct hlink *l = m->buckets[i];
        while (l != NULL) {
            struct hlink *next = l->next;
            struct hlink **slot = &nb[l->hash & (nbuckets - 1)];
            l->next = *slot;
            *slot = l;
            l = next;
        }
    }
    free(m->buckets);
    m->buckets = nb;
    m->mask = nbuckets - 1;
}

static int hmap_insert(struct hmap *m, struct hlink *l)
{
    if (m->buckets == NULL) {
        m->buckets = calloc(HMAP_MIN_BUCKETS, sizeof *m->buckets);
        if (m->buckets == NULL)
            return -ENOMEM;
        m->mask = HMAP_MIN_BUCKETS - 1;
    } else if (m->count > m->mask) {
        hmap_resize(m, (m->mask + 1) * 2);
    }
    struct hlink **slot = &m->buckets[l->hash & m->mask];
    l->next = *slot;
    *slot = l;
    m->count++;
    return 0;
}

static void hmap_remove(struct hmap *m, struct hlink *l)
{
    struct hlink **pp = &m->buckets[l->hash & m->mask];
    while (*pp != l)
        pp = &(*pp)->next;
    *pp = l->next;
    m->count--;
    if (m->count == 0)
        hmap_free(m); /* a table that emptied after a burst gives its memory back */
    else if (m->mask + 1 > HMAP_MIN_BUCKETS && m->count < (m->mask + 1) / 8)
        hmap_resize(m, (m->mask + 1) / 2);
}

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

/* ---- the tables --------------------------------------------------------------------------- */

struct watch_entry {
    struct hlink link; /* in table.pairs, keyed by (path node, owner node) */
    struct watch_path *wp;
    struct watch_owner *wo;
    struct watch_entry *path_prev, *path_next;
    struct watch_entry *owner_prev, *owner_next;
    unsigned mode;
};

struct watch_path {
    struct hlink link; /* in table.paths */
    struct watch_entry *head, *tail;
    size_t len;
    char path[];
};

struct watch_owner {
    struct hlink link; /* in table.owners */
    void *watcher;
    struct watch_entry *head;
    uint64_t stamp; /* == table.epoch: already collected (or skipped) by this trigger */
};

struct watch_index {
    struct hmap paths, owners, pairs;
    size_t recursive; /* entries holding WATCH_RECURSIVE; 0 skips the ancestor walk */
    uint64_t epoch;
};

struct watches {
    struct watch_index t[2];
    void **scratch; /* the watchers one trigger collects, kept between calls */
    size_t scratch_cap;
};

static struct watch_path *path_find(const struct watch_index *t, const char *path, size_t len,
                                    uint64_t hash)
{
    for (struct hlink *l = hmap_first(&t->paths, hash); l != NULL; l = l->next) {
        struct watch_path *wp = container_of(l, struct watch_path, link);
        if (l->hash == hash && wp->len == len && memcmp(wp->path, path, len) == 0)
            return wp;
    }
    return NULL;
}

static struct watch_owner *owner_find(const struct watch_index *t, const void *watcher)
{
    uint64_t hash = hash_ptr(watcher);
    for (struct hlink *l = hmap_first(&t->owners, hash); l != NULL; l = l->next) {
        struct watch_owner *wo = container_of(l, struct watch_owner, link);
        if (wo->watcher == watcher)
            return wo;
    }
    return NULL;
}

static struct watch_entry *entry_find(const struct watch_index *t, const struct watch_path *wp,
                                      const struct watch_owner *wo)
{
    uint64_t hash = hash_pair(wp, wo);
    for (struct hlink *l = hmap_first(&t->pairs, hash); l != NULL; l = l->next) {
        struct watch_entry *e = container_of(l, struct watch_entry, link);
        if (e->wp == wp && e->wo == wo)
            return e;
    }
    return NULL;
}

/* The entry of (watcher, path) in t, or NULL. */
static struct watch_entry *entry_lookup(const struct watch_index *t, const char *path,
                                        const void *watcher)
{
    if (t->pairs.count == 0)
        return NULL;
    size_t len = strlen(path);
    struct watch_path *wp = path_find(t, path, len, hash_path(path, len));
    if (wp == NULL)
        return NULL;
    struct watch_owner *wo = owner_find(t, watcher);
    return wo == NULL ? NULL : entry_find(t, wp, wo);
}

static void path_unlink(struct watch_entry *e)
{
    struct watch_path *wp = e->wp;
    if (e->path_prev != NULL)
        e->path_prev->path_next = e->path_next;
    else
        wp->head = e->path_next;
    if (e->path_next != NULL)
        e->path_next->path_prev = e->path_prev;
    else
        wp->tail = e->path_prev;
    e->path_prev = e->path_next = NULL;
}

static void path_push_head(struct watch_entry *e)
{
    struct watch_path *wp = e->wp;
    e->path_prev = NULL;
    e->path_next = wp->head;
    if (wp->head != NULL)
        wp->head->path_prev = e;
    else
        wp->tail = e;
    wp->head = e;
}

static void path_push_tail(struct watch_entry *e)
{
    struct watch_path *wp = e->wp;
    e->path_next = NULL;
    e->path_prev = wp->tail;
    if (wp->tail != NULL)
        wp->tail->path_next = e;
    else
        wp->head = e;
    wp->tail = e;
}

static void entry_free(struct watch_index *t, struct watch_entry *e)
{
    struct watch_path *wp = e->wp;
    struct watch_owner *wo = e->wo;
    if (e->mode & WATCH_RECURSIVE)
        t->recursive--;
    path_unlink(e);
    if (e->owner_prev != NULL)
        e->owner_prev->owner_next = e->owner_next;
    else
        wo->head = e->owner_next;
    if (e->owner_next != NULL)
        e->owner_next->owner_prev = e->owner_prev;
    hmap_remove(&t->pairs, &e->link);
    free(e);
    if (wp->head == NULL) {
        hmap_remove(&t->paths, &wp->link);
        free(wp);
    }
    if (wo->head == NULL) {
        hmap_remove(&t->owners, &wo->link);
        free(wo);
    }
}

/* Sets an entry's mode, keeping the recursive-first order and freeing an entry left empty. */
static void entry_set_mode(struct watch_index *t, struct watch_entry *e, unsigned mode)
{
    if (mode == 0) {
        entry_free(t, e);
        return;
    }
    unsigned was_rec = e->mode & WATCH_RECURSIVE, is_rec = mode & WATCH_RECURSIVE;
    e->mode = mode;
    if (was_rec == is_rec)
        return;
    path_unlink(e);
    if (is_rec) {
        t->recursive++;
        path_push_head(e);
    } else {
        t->recursive--;
        path_push_tail(e);
    }
}

static void table_free(struct watch_index *t)
{
    for (size_t i = 0; t->owners.buckets != NULL && i <= t->owners.mask; i++) {
        struct hlink *l = t->owners.buckets[i];
        while (l != NULL) {
            struct hlink *next = l->next;
            struct watch_owner *wo = container_of(l, struct watch_owner, link);
            for (struct watch_entry *e = wo->head, *en; e != NULL; e = en) {
                en = e->owner_next;
                free(e);
            }
            free(wo);
            l = next;
        }
    }
    for (size_t i = 0; t->paths.buckets != NULL && i <= t->paths.mask; i++) {
        struct hlink *l = t->paths.buckets[i];
        while (l != NULL) {
            struct hlink *next = l->next;
            free(container_of(l, struct watch_path, link));
            l = next;
        }
    }
    hmap_free(&t->owners);
    hmap_free(&t->paths);
    hmap_free(&t->pairs);
    t->recursive = 0;
}

/* ---- watcher sets ------------------------------------------------------------------------- */

void watcher_set_free(struct watcher_set *s)
{
    free(s->items);
    s->items = NULL;
    s->count = s->cap = 0;
}

bool watcher_set_contains(const struct watcher_set *s, void *watcher)
{
    for (size_t i = 0; i < s->count; i++)
        if (s->items[i] == watcher)
            return true;
    return false;
}

static int watcher_set_reserve(struct watcher_set *s, size_t extra)
{
    if (s->cap - s->count >= extra)
        return 0;
    size_t cap = s->cap < 8 ? 8 : s->cap;
    while (cap - s->count < extra)
        cap *= 2;
    void **items = realloc(s->items, cap * sizeof *items);
    if (items == NULL)
        return -ENOMEM;
    s->items = items;
    s->cap = cap;
    return 0;
}

/* ---- the API ------------------------------------------------------------------------------ */

struct watches *watches_new(void)
{
    return calloc(1, sizeof(struct watches));
}

void watches_free(struct watches *w)
{
    if (w == NULL)
        return;
    table_free(&w->t[WATCH_DATA]);
    table_free(&w->t[WATCH_CHILD]);
    free(w->scratch);
    free(w);
}

int watches_add(struct watches *w, enum watch_table table, const char *path, void *watcher,
                enum watch_mode mode)
{
    unsigned bits = (unsigned)mode;
    if ((table != WATCH_DATA && table != WATCH_CHILD) || bits == 0 || (bits & ~WATCH_ALL_MODES) ||
        (table == WATCH_CHILD && (bits & WATCH_RECURSIVE)))
        return -EINVAL;
    struct watch_index *t = &w->t[table];
    size_t len = strlen(path);
    uint64_t ph = hash_path(path, len);
    struct watch_path *wp = path_find(t, path, len, ph);
    struct watch_owner *wo = owner_find(t, watcher);
    if (wp != NULL && wo != NULL) {
        struct watch_entry *e = entry_find(t, wp, wo);
        if (e != NULL) {
            entry_set_mode(t, e, e->mode | bits);
            return 0;
        }
    }

    /* Allocate everything first so that a failure leaves the table as it was. */
    struct watch_entry *e = calloc(1, sizeof *e);
    struct watch_path *new_wp = wp == NULL ? malloc(sizeof *new_wp + len + 1) : NULL;
    struct watch_owner *new_wo = wo == NULL ? calloc(1, sizeof *new_wo) : NULL;
    if (e == NULL || (wp == NULL && new_wp == NULL) || (wo == NULL && new_wo == NULL))
        goto nomem;
    if (new_wp != NULL) {
        new_wp->link.hash = ph;
        new_wp->head = new_wp->tail = NULL;
        new_wp->len = len;
        memcpy(new_wp->path, path, len + 1);
        if (hmap_insert(&t->paths, &new_wp->link) < 0)
            goto nomem;
        wp = new_wp;
    }
    if (new_wo != NULL) {
        new_wo->link.hash = hash_ptr(watcher);
        new_wo->watcher = watcher;
        if (hmap_insert(&t->owners, &new_wo->link) < 0) {
            if (new_wp != NULL)
                hmap_remove(&t->paths, &new_wp->link);
            goto nomem;
        }
        wo = new_wo;
    }
    e->link.hash = hash_pair(wp, wo);
    e->wp = wp;
    e->wo = wo;
    e->mode = bits;
    if (hmap_insert(&t->pairs, &e->link) < 0) {
        if (new_wp != NULL)
            hmap_remove(&t->paths, &new_wp->link);
        if (new_wo != NULL)
            hmap_remove(&t->owners, &new_wo->link);
        goto nomem;
    }
    if (bits & WATCH_RECURSIVE) {
        t->recursive++;
        path_push_head(e);
    } else {
        path_push_tail(e);
    }
    e->owner_next = wo->head;
    if (wo->head != NULL)
        wo->head->owner_prev = e;
    wo->head = e;
    return 0;

nomem:
    free(e);
    free(new_wp);
    free(new_wo);
    return -ENOMEM;
}

static inline void collect(struct watches *w, size_t *n, struct watch_owner *wo, uint64_t epoch)
{
    if (wo->stamp == epoch)
        return;
    wo->stamp = epoch;
    w->scratch[(*n)++] = wo->watcher;
}

/* Collects the recursive watchers of the ancestor path[0, len). */
static void collect_ancestor(struct watches *w, struct watch_index *t, size_t *n, const char *path,
                             size_t len, uint64_t state, uint64_t epoch)
{
    struct watch_path *ap = path_find(t, path, len, hash_mix(state));
    if (ap == NULL)
        return;
    for (struct watch_entry *e = ap->head; e != NULL && (e->mode & WATCH_RECURSIVE);
         e = e->path_next)
        collect(w, n, e->wo, epoch);
}

size_t watches_trigger(struct watches *w, enum watch_table table, const char *path, int event_type,
                       watch_deliver_fn fn, void *arg, const struct watcher_set *skip,
                       struct watcher_set *delivered)
{
    if (table != WATCH_DATA && table != WATCH_CHILD)
        return 0;
    struct watch_index *t = &w->t[table];
    if (t->owners.count == 0)
        return 0;
    /* Each watcher is collected at most once, so the owner count bounds this trigger; reserving
     * it before touching anything means running out of memory changes nothing. */
    if (w->scratch_cap < t->owners.count) {
        size_t cap = t->owners.count < 64 ? 64 : t->owners.count;
        void **scratch = realloc(w->scratch, cap * sizeof *scratch);
        if (scratch == NULL)
            return 0;
        w->scratch = scratch;
        w->scratch_cap = cap;
    }
    uint64_t epoch = ++t->epoch;
    size_t n = 0;
    for (size_t i = 0; skip != NULL && i < skip->count; i++) {
        struct watch_owner *wo = owner_find(t, skip->items[i]);
        if (wo != NULL)
            wo->stamp = epoch; /* marked as already collected: never delivered to */
    }

    bool children = event_type == ZK_EVENT_CHILDREN_CHANGED;
    size_t len = strlen(path);
    struct watch_path *wp = path_find(t, path, len, hash_path(path, len));
    if (wp != NULL) {
        for (struct watch_entry *e = wp->head; e != NULL; e = e->path_next) {
            if ((e->mode & (WATCH_STANDARD | WATCH_PERSISTENT)) ||
                (!children && (e->mode & WATCH_RECURSIVE)))
                collect(w, &n, e->wo, epoch);
        }
    }
    if (t->recursive > 0 && !children && len > 1 && path[0] == '/') {
        /* The FNV state after each '/' is the hash of that ancestor: one pass finds them all. */
        uint64_t state = fnv_step(FNV_BASIS, '/');
        collect_ancestor(w, t, &n, path, 1, state, epoch);
        for (size_t i = 1; i < len; i++) {
            if (path[i] == '/')
                collect_ancestor(w, t, &n, path, i, state, epoch);
            state = fnv_step(state, path[i]);
        }
    }

    /* A standard watch on the path is spent even when its watcher was skipped or reached
     * through another watch. */
    if (wp != NULL) {
        for (struct watch_entry *e = wp->head, *en; e != NULL; e = en) {
            en = e->path_next;
            if (e->mode & WATCH_STANDARD)
                entry_set_mode(t, e, e->mode & ~(unsigned)WATCH_STANDARD);
        }
    }

    if (n == 0)
        return 0;
    /* Without room to record them, deliver anyway: a duplicate event beats a lost one. */
    if (delivered != NULL && watcher_set_reserve(delivered, n) == 0) {
        memcpy(delivered->items + delivered->count, w->scratch, n * sizeof *w->scratch);
        delivered->count += n;
    }
    /* fn may add, remove or even trigger watches; it must not find its list being reused. */
    void **list = w->scratch;
    size_t cap = w->scratch_cap;
    w->scratch = NULL;
    w->scratch_cap = 0;
    for (size_t i = 0; i < n; i++)
        fn(list[i], event_type, path, arg);
    if (w->scratch == NULL) {
        w->scratch = list;
        w->scratch_cap = cap;
    } else {
        free(list);
    }
    return n;
}

bool watches_contains(const struct watches *w, const char *path, void *watcher,
                      enum watcher_type type)
{
    const struct watch_entry *d = entry_lookup(&w->t[WATCH_DATA], path, watcher);
    switch (type) {
    case WATCHER_CHILDREN: {
        const struct watch_entry *c = entry_lookup(&w->t[WATCH_CHILD], path, watcher);
        return c != NULL && (c->mode & WATCH_STANDARD);
    }
    case WATCHER_DATA:
        return d != NULL && (d->mode & WATCH_STANDARD);
    case WATCHER_ANY:
        return d != NULL || entry_lookup(&w->t[WATCH_CHILD], path, watcher) != NULL;
    case WATCHER_PERSISTENT:
        return d != NULL && (d->mode & WATCH_PERSISTENT);
    case WATCHER_RECURSIVE:
        return d != NULL && (d->mode & WATCH_RECURSIVE);
    }
    return false;
}

/* Clears `bits` from (watcher, path) in one table; 1 if the entry changed. */
static size_t table_clear(struct watch_index *t, const char *path, void *watcher, unsigned bits)
{
    struct watch_entry *e = entry_lookup(t, path, watcher);
    if (e == NULL || (e->mode & bits) == 0)
        return 0;
    entry_set_mode(t, e, e->mode & ~bits);
    return 1;
}

size_t watches_remove(struct watches *w, const char *path, void *watcher, enum watcher_type type)
{
    struct watch_index *data = &w->t[WATCH_DATA], *child = &w->t[WATCH_CHILD];
    switch (type) {
    case WATCHER_CHILDREN:
        return table_clear(child, path, watcher, WATCH_STANDARD);
    case WATCHER_DATA:
        return table_clear(data, path, watcher, WATCH_STANDARD);
    case WATCHER_ANY:
        return table_clear(data, path, watcher, WATCH_ALL_MODES) +
               table_clear(child, path, watcher, WATCH_ALL_MODES);
    case WATCHER_PERSISTENT:
        return table_clear(data, path, watcher, WATCH_PERSISTENT) +
               table_clear(child, path, watcher, WATCH_PERSISTENT);
    case WATCHER_RECURSIVE:
        return table_clear(data, path, watcher, WATCH_RECURSIVE);
    }
    return 0;
}

void watches_remove_watcher(struct watches *w, void *watcher)
{
    for (int i = 0; i < 2; i++) {
        struct watch_index *t = &w->t[i];
        struct watch_owner *wo = owner_find(t, watcher);
        if (wo == NULL)
            continue;
        /* Freeing the last entry frees the owner too, so stop on that one. */
        struct watch_entry *e = wo->head;
        while (e != NULL) {
            struct watch_entry *en = e->owner_next;
            entry_free(t, e);
            e = en;
        }
    }
}

size_t watches_count(const struct watches *w, enum watch_table table)
{
    return w->t[table].pairs.count;
}

size_t watches_path_count(const struct watches *w, enum watch_table table)
{
    return w->t[table].paths.count;
}

size_t watches_watcher_count(const struct watches *w, enum watch_table table)
{
    return w->t[table].owners.count;
}

void watches_each(const struct watches *w, enum watch_table table, bool by_watcher,
                  void (*fn)(const char *path, void *watcher, void *arg), void *arg)
{
    const struct watch_index *t = &w->t[table];
    const struct hmap *m = by_watcher ? &t->owners : &t->paths;
    for (size_t i = 0; m->buckets != NULL && i <= m->mask; i++) {
        for (struct hlink *l = m->buckets[i]; l != NULL; l = l->next) {
            if (by_watcher) {
                const struct watch_owner *wo = container_of(l, struct watch_owner, link);
                for (const struct watch_entry *e = wo->head; e != NULL; e = e->owner_next)
                    fn(e->wp->path, wo->watcher, arg);
            } else {
                const struct watch_path *wp = container_of(l, struct watch_path, link);
                for (const struct watch_entry *e = wp->head; e != NULL; e = e->path_next)
                    fn(wp->path, e->wo->watcher, arg);
            }
        }
    }
}
