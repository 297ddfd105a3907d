/*
 * A fake corral host for plugin unit tests (STYLE.md §12).
 *
 * It implements struct corral_host over a real libevent loop, with the instance's config
 * group parsed by libconfig from a string, and records everything a plugin tells it: log
 * lines, fail() messages, connection upcalls (with the frame bytes), metrics and peer traffic.
 * A test steers it: what cnxn_word returns, whether cnxn_opened refuses, max_frame_bytes, the
 * clock, hooks that run inside upcalls, and failure injection that makes the Nth call of a
 * chosen slot fail, as SQLite's testvfs does.
 *
 * Single-threaded like the real host: the plugin and the test both run on the loop thread.
 */
#ifndef CORRAL_FAKE_HOST_H
#define CORRAL_FAKE_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <corral/host.h>

struct corral_cnxn;
struct corral_vote;

/* Host slots whose calls are counted and can be made to fail. */
enum fake_slot {
    FAKE_SLOT_CONF_INT,
    FAKE_SLOT_CONF_STR,
    FAKE_SLOT_CONF_BOOL,
    FAKE_SLOT_CNXN_OPENED,
    FAKE_SLOT_METRIC_DEFINE,
    FAKE_SLOT_PEER_SEND,
    FAKE_SLOT_ELECTION_DECIDED,
    FAKE_SLOT_COUNT,
};

enum fake_event_type {
    FAKE_EV_OPENED,
    FAKE_EV_WORD,
    FAKE_EV_FRAME,
    FAKE_EV_CLOSED,
};

/* One recorded connection upcall. `c` identifies the connection only: after FAKE_EV_CLOSED
 * the plugin may have freed it, so never dereference it then. */
struct fake_event {
    enum fake_event_type type;
    struct corral_cnxn *c;
    uint32_t word; /* FAKE_EV_WORD */
    int result;    /* FAKE_EV_OPENED: what cnxn_opened returned (negative: refused) */
    uint8_t *data; /* FAKE_EV_FRAME: a copy of the payload, owned by the fake host */
    size_t len;
};

struct fake_line {
    int level; /* enum corral_log_level; -1 for a fail() message */
    int err;   /* fail(): the errno it returned */
    char *text;
};

struct fake_metric {
    char *name;
    int type;       /* enum corral_metric_type */
    double value;   /* counters add, gauges set, summaries keep the last observation */
    uint64_t count; /* record() calls */
};

struct fake_host {
    struct corral_host host; /* the table handed to the plugin */
    struct corral_ctx *ctx;  /* the one instance's context */
    struct event_base *base;

    /* Steering, read when the upcall happens. */
    uint32_t max_frame_bytes; /* default 1048575, ZooKeeper's jute.maxbuffer */
    bool word_answer;         /* what cnxn_word returns; default false */
    int opened_result;        /* what cnxn_opened returns; default 0, negative refuses */
    bool echo_logs;           /* also print log lines on stderr (or set FAKE_HOST_VERBOSE) */

    /* Hooks that run inside the upcall, before it returns; the test calls the plugin's send(),
     * close() or set_reading() from them. `user` is the test's. */
    void (*on_opened)(struct fake_host *fh, struct corral_cnxn *c);
    void (*on_word)(struct fake_host *fh, struct corral_cnxn *c, uint32_t word);
    void (*on_frame)(struct fake_host *fh, struct corral_cnxn *c, const uint8_t *frame, size_t len);
    void (*on_closed)(struct fake_host *fh, struct corral_cnxn *c);
    void *user;

    /* Recorded, in order. */
    struct fake_event *events;
    size_t n_events, cap_events;
    struct fake_line *lines; /* log lines and fail() messages, interleaved */
    size_t n_lines, cap_lines;
    uint64_t calls[FAKE_SLOT_COUNT];
    struct fake_metric metrics[64]; /* indexed by the handle metric_define wrote */
    uint32_t n_metrics;
    size_t peer_sends;
    int64_t last_peer_sid;
    size_t decisions;
    int64_t decided_leader_sid;
};

/* cmocka setup/teardown: *state becomes a fresh fake host with an empty config group. */
int fake_host_setup(void **state);
int fake_host_teardown(void **state);

struct fake_host *fake_host_new(void);
void fake_host_free(struct fake_host *fh);

/* Replaces the instance's config group with the libconfig text (the group's body, e.g.
 * "address = \"127.0.0.1\"; port = 2181;"). A syntax error fails the test. Strings of earlier
 * groups stay valid until the fake host is freed, so several instances can be created in turn,
 * each from its own group. */
void fake_host_set_configf(struct fake_host *fh, const char *fmt, ...) CORRAL_PRINTF(2, 3);
/* The first key of the group that no getter has read, or NULL: what the real host reports
 * as `unknown key "prot"` after create(). */
const char *fake_host_unread_key(struct fake_host *fh);

/* Failure injection: the nth call (1-based, counted from this call) of `slot` returns `err`
 * (a negative errno) and records a fail() message "injected failure"; with `persist`, so does
 * every later call. For cnxn_opened the plugin sees a refusal. */
void fake_host_inject(struct fake_host *fh, enum fake_slot slot, uint64_t nth, int err,
                      bool persist);

/* The clock now_ms() reads. It starts at 1000 and moves only when the test moves it. */
void fake_host_set_clock(struct fake_host *fh, uint64_t now_ms);
void fake_host_advance_clock(struct fake_host *fh, uint64_t ms);

/* Runs the loop for up to `ms` of real time. */
void fake_host_run(struct fake_host *fh, int ms);
/* Runs the loop until pred(fh, arg) holds (checked before each loop pass) or `ms` of real time
 * passed; returns whether it held. */
bool fake_host_run_until(struct fake_host *fh, int ms, bool (*pred)(struct fake_host *, void *),
                         void *arg);

/* The first log line (or fail() message) containing `needle`, or NULL. */
const char *fake_host_find_log(const struct fake_host *fh, const char *needle);
const char *fake_host_find_error(const struct fake_host *fh, const char *needle);
size_t fake_host_count_errors(const struct fake_host *fh);

/* Upcalls of one type, optionally for one connection (c NULL: any). */
size_t fake_host_count(const struct fake_host *fh, enum fake_event_type type,
                       const struct corral_cnxn *c);
/* The i-th (0-based) event of that type, or NULL. */
const struct fake_event *fake_host_event(const struct fake_host *fh, enum fake_event_type type,
                                         size_t i);
/* The i-th opened connection not yet closed, or NULL. */
struct corral_cnxn *fake_host_open_cnxn(const struct fake_host *fh, size_t i);
size_t fake_host_open_count(const struct fake_host *fh);

#endif
