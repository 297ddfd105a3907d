#include "fake_host.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <event2/event.h>
#include <libconfig.h>

#include <corral/cnxn.h>
#include <corral/election.h>

/* The level recorded for fail() messages and for upcalls the plugin should never make. */
#define FAKE_LINE_FAIL (-1)
#define FAKE_LINE_VIOLATION (-2)

struct fake_injection {
    bool armed;
    bool persist;
    uint64_t at_call; /* the value of calls[slot] that fails */
    int err;
};

/* The plugin only ever sees a pointer to this; the fake host keeps its private state here. */
struct corral_ctx {
    struct fake_host *fh;
    config_t *lc;       /* the current group */
    config_t **retired; /* earlier groups: their strings stay valid until the fake host goes */
    size_t n_retired;
    const char *keys_read[64];
    size_t n_keys_read;
    uint64_t now_ms;
    struct fake_injection inject[FAKE_SLOT_COUNT];
    size_t violations;
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL) {
        fprintf(stderr, "fake host: out of memory\n");
        abort();
    }
    return q;
}

static char *xvasprintf(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) {
        fprintf(stderr, "fake host: out of memory\n");
        abort();
    }
    return s;
}

static char *xasprintf(const char *fmt, ...) CORRAL_PRINTF(1, 2);

static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

static const char *level_name(int level)
{
    switch (level) {
    case CORRAL_LOG_ERROR:
        return "ERROR";
    case CORRAL_LOG_WARN:
        return "WARN";
    case CORRAL_LOG_INFO:
        return "INFO";
    case CORRAL_LOG_DEBUG:
        return "DEBUG";
    case FAKE_LINE_FAIL:
        return "FAIL";
    default:
        return "VIOLATION";
    }
}

static void add_line(struct fake_host *fh, int level, int err, char *text)
{
    if (fh->n_lines == fh->cap_lines) {
        fh->cap_lines = fh->cap_lines ? 2 * fh->cap_lines : 32;
        fh->lines = xrealloc(fh->lines, fh->cap_lines * sizeof *fh->lines);
    }
    fh->lines[fh->n_lines++] = (struct fake_line){.level = level, .err = err, .text = text};
    if (fh->echo_logs || level == FAKE_LINE_VIOLATION)
        fprintf(stderr, "fake host: %s %s\n", level_name(level), text);
}

static void violation(struct fake_host *fh, const char *fmt, ...) CORRAL_PRINTF(2, 3);

static void violation(struct fake_host *fh, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_line(fh, FAKE_LINE_VIOLATION, 0, xvasprintf(fmt, ap));
    va_end(ap);
    fh->ctx->violations++;
}

static struct fake_event *add_event(struct fake_host *fh, enum fake_event_type type,
                                    struct corral_cnxn *c)
{
    if (fh->n_events == fh->cap_events) {
        fh->cap_events = fh->cap_events ? 2 * fh->cap_events : 64;
        fh->events = xrealloc(fh->events, fh->cap_events * sizeof *fh->events);
    }
    struct fake_event *ev = &fh->events[fh->n_events++];
    *ev = (struct fake_event){.type = type, .c = c};
    return ev;
}

/* Counts the call and says whether an injected failure fires on it. */
static bool injected(struct fake_host *fh, enum fake_slot slot, int *err)
{
    uint64_t n = ++fh->calls[slot];
    struct fake_injection *in = &fh->ctx->inject[slot];
    if (!in->armed || n < in->at_call || (n > in->at_call && !in->persist))
        return false;
    *err = in->err;
    add_line(fh, FAKE_LINE_FAIL, in->err, xasprintf("injected failure of call %" PRIu64, n));
    return true;
}

/* host slots */

static void fh_log(struct corral_ctx *ctx, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    if (level < CORRAL_LOG_ERROR || level > CORRAL_LOG_DEBUG)
        violation(ctx->fh, "log() with level %d: %s", level, text);
    if (text[0] == '\0' || text[strlen(text) - 1] == '\n')
        violation(ctx->fh, "log line is empty or ends in a newline: \"%s\"", text);
    add_line(ctx->fh, level, 0, text);
}

static int fh_fail(struct corral_ctx *ctx, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    /* The real host maps a non-negative err to -EINVAL; do the same so tests see real codes. */
    int rc = err < 0 ? err : -EINVAL;
    add_line(ctx->fh, FAKE_LINE_FAIL, rc, text);
    return rc;
}

/* Looks a key up in the group and remembers that it was read. */
static config_setting_t *conf_key(struct corral_ctx *ctx, const char *key)
{
    config_setting_t *s = config_setting_get_member(config_root_setting(ctx->lc), key);
    if (s == NULL)
        return NULL;
    for (size_t i = 0; i < ctx->n_keys_read; i++)
        if (strcmp(ctx->keys_read[i], key) == 0)
            return s;
    if (ctx->n_keys_read < sizeof ctx->keys_read / sizeof ctx->keys_read[0])
        ctx->keys_read[ctx->n_keys_read++] = config_setting_name(s);
    return s;
}

/* As the real host words it: "port: 0 is out of range; expected 1 to 65535". */
static int conf_bad(struct corral_ctx *ctx, config_setting_t *s, const char *fmt, ...)
    CORRAL_PRINTF(3, 4);

static int conf_bad(struct corral_ctx *ctx, config_setting_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *why = xvasprintf(fmt, ap);
    va_end(ap);
    add_line(
        ctx->fh, FAKE_LINE_FAIL, -EINVAL,
        xasprintf("%s: %s (line %d)", config_setting_name(s), why, config_setting_source_line(s)));
    free(why);
    return -EINVAL;
}

static int fh_conf_int(struct corral_ctx *ctx, const char *key, int64_t min, int64_t max,
                       int64_t dflt, int64_t *out)
{
    int err;
    if (injected(ctx->fh, FAKE_SLOT_CONF_INT, &err))
        return err;
    if (min > max)
        violation(ctx->fh, "conf_int(%s) with min %" PRId64 " above max %" PRId64, key, min, max);
    config_setting_t *s = conf_key(ctx, key);
    if (s == NULL) {
        *out = dflt;
        return 0;
    }
    int type = config_setting_type(s);
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return conf_bad(ctx, s, "expected an integer from %" PRId64 " to %" PRId64, min, max);
    long long v = config_setting_get_int64(s);
    if (v < min || v > max)
        return conf_bad(ctx, s, "%lld is out of range; expected %" PRId64 " to %" PRId64, v, min,
                        max);
    *out = v;
    return 0;
}

static int fh_conf_str(struct corral_ctx *ctx, const char *key, const char *dflt, const char **out)
{
    int err;
    if (injected(ctx->fh, FAKE_SLOT_CONF_STR, &err))
        return err;
    config_setting_t *s = conf_key(ctx, key);
    if (s == NULL) {
        *out = dflt;
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return conf_bad(ctx, s, "expected a string");
    *out = config_setting_get_string(s);
    return 0;
}

static int fh_conf_bool(struct corral_ctx *ctx, const char *key, bool dflt, bool *out)
{
    int err;
    if (injected(ctx->fh, FAKE_SLOT_CONF_BOOL, &err))
        return err;
    config_setting_t *s = conf_key(ctx, key);
    if (s == NULL) {
        *out = dflt;
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return conf_bad(ctx, s, "expected true or false");
    *out = config_setting_get_bool(s) != 0;
    return 0;
}

static struct event_base *fh_loop(struct corral_ctx *ctx)
{
    return ctx->fh->base;
}

static uint64_t fh_now_ms(struct corral_ctx *ctx)
{
    return ctx->now_ms;
}

static uint32_t fh_max_frame_bytes(struct corral_ctx *ctx)
{
    return ctx->fh->max_frame_bytes;
}

/* The index of c's latest accepted FAKE_EV_OPENED when c is open now, else -1. Addresses are
 * reused after free, so only events after that open count. */
static long open_index(const struct fake_host *fh, const struct corral_cnxn *c)
{
    for (size_t i = fh->n_events; i-- > 0;) {
        const struct fake_event *ev = &fh->events[i];
        if (ev->c != c)
            continue;
        if (ev->type == FAKE_EV_CLOSED)
            return -1;
        if (ev->type == FAKE_EV_OPENED)
            return ev->result >= 0 ? (long)i : -1;
    }
    return -1;
}

static int fh_cnxn_opened(struct corral_ctx *ctx, struct corral_cnxn *c)
{
    struct fake_host *fh = ctx->fh;
    if (open_index(fh, c) >= 0)
        violation(fh, "cnxn_opened for a connection already open");
    if (c->peer_addr[0] == '\0' || c->peer_port == 0)
        violation(fh, "cnxn_opened before the peer fields are filled");
    int rc = fh->opened_result;
    int err;
    if (injected(fh, FAKE_SLOT_CNXN_OPENED, &err))
        rc = err;
    struct fake_event *ev = add_event(fh, FAKE_EV_OPENED, c);
    ev->result = rc;
    if (rc >= 0 && fh->on_opened != NULL)
        fh->on_opened(fh, c);
    return rc;
}

static bool fh_cnxn_word(struct corral_ctx *ctx, struct corral_cnxn *c, const uint8_t *head,
                         size_t len)
{
    struct fake_host *fh = ctx->fh;
    if (len < 4)
        violation(fh, "cnxn_word with fewer than 4 bytes");
    uint32_t word = len < 4 ? 0
                            : (uint32_t)head[0] << 24 | (uint32_t)head[1] << 16 |
                                  (uint32_t)head[2] << 8 | head[3];
    long o = open_index(fh, c);
    if (o < 0)
        violation(fh, "cnxn_word for a connection that is not open");
    for (size_t i = o < 0 ? fh->n_events : (size_t)o + 1; i < fh->n_events; i++)
        if (fh->events[i].c == c)
            violation(fh, "cnxn_word after another upcall of the same connection");
    add_event(fh, FAKE_EV_WORD, c)->word = word;
    if (fh->on_word != NULL)
        fh->on_word(fh, c, word);
    return fh->word_answer;
}

static void fh_cnxn_frame(struct corral_ctx *ctx, struct corral_cnxn *c, const uint8_t *frame,
                          size_t len)
{
    struct fake_host *fh = ctx->fh;
    if (open_index(fh, c) < 0)
        violation(fh, "cnxn_frame for a connection that is not open");
    if (len > fh->max_frame_bytes)
        violation(fh, "cnxn_frame of %zu bytes, above max_frame_bytes %" PRIu32, len,
                  fh->max_frame_bytes);
    struct fake_event *ev = add_event(fh, FAKE_EV_FRAME, c);
    ev->data = xrealloc(NULL, len > 0 ? len : 1);
    if (len > 0)
        memcpy(ev->data, frame, len);
    ev->len = len;
    if (fh->on_frame != NULL)
        fh->on_frame(fh, c, frame, len);
}

static void fh_cnxn_closed(struct corral_ctx *ctx, struct corral_cnxn *c)
{
    struct fake_host *fh = ctx->fh;
    if (open_index(fh, c) < 0)
        violation(fh, "cnxn_closed for a connection that is not open");
    add_event(fh, FAKE_EV_CLOSED, c);
    if (fh->on_closed != NULL)
        fh->on_closed(fh, c);
}

static int fh_metric_define(struct corral_ctx *ctx, const char *name, int type, const char *help,
                            uint32_t *handle)
{
    struct fake_host *fh = ctx->fh;
    int err;
    if (injected(fh, FAKE_SLOT_METRIC_DEFINE, &err))
        return err;
    (void)help;
    if (type < CORRAL_METRIC_COUNTER || type > CORRAL_METRIC_SUMMARY)
        return fh_fail(ctx, -EINVAL, "metric %s: unknown metric type %d", name, type);
    if (fh->n_metrics == sizeof fh->metrics / sizeof fh->metrics[0])
        return fh_fail(ctx, -ENOSPC, "metric %s: too many metrics", name);
    fh->metrics[fh->n_metrics] = (struct fake_metric){.name = xasprintf("%s", name), .type = type};
    *handle = fh->n_metrics++;
    return 0;
}

static void fh_metric_record(struct corral_ctx *ctx, uint32_t handle, double value)
{
    struct fake_host *fh = ctx->fh;
    if (handle >= fh->n_metrics) {
        violation(fh, "metric_record with handle %" PRIu32 " that define never gave", handle);
        return;
    }
    struct fake_metric *m = &fh->metrics[handle];
    m->value = m->type == CORRAL_METRIC_COUNTER ? m->value + value : value;
    m->count++;
}

static int fh_peer_send(struct corral_ctx *ctx, int64_t sid, const uint8_t *msg, size_t len)
{
    struct fake_host *fh = ctx->fh;
    int err;
    (void)msg, (void)len;
    if (injected(fh, FAKE_SLOT_PEER_SEND, &err))
        return err;
    fh->peer_sends++;
    fh->last_peer_sid = sid;
    return 0;
}

static int fh_election_decided(struct corral_ctx *ctx, const struct corral_vote *vote)
{
    struct fake_host *fh = ctx->fh;
    int err;
    if (injected(fh, FAKE_SLOT_ELECTION_DECIDED, &err))
        return err;
    fh->decisions++;
    fh->decided_leader_sid = vote->leader_sid;
    return 0;
}

static const struct corral_host fake_host_table = {
    .version = CORRAL_HOST_VERSION,
    .log = fh_log,
    .fail = fh_fail,
    .conf_int = fh_conf_int,
    .conf_str = fh_conf_str,
    .conf_bool = fh_conf_bool,
    .loop = fh_loop,
    .now_ms = fh_now_ms,
    .max_frame_bytes = fh_max_frame_bytes,
    .cnxn_opened = fh_cnxn_opened,
    .cnxn_word = fh_cnxn_word,
    .cnxn_frame = fh_cnxn_frame,
    .cnxn_closed = fh_cnxn_closed,
    .metric_define = fh_metric_define,
    .metric_record = fh_metric_record,
    .peer_send = fh_peer_send,
    .election_decided = fh_election_decided,
};

/* the test's side */

struct fake_host *fake_host_new(void)
{
    struct fake_host *fh = xrealloc(NULL, sizeof *fh);
    memset(fh, 0, sizeof *fh);
    fh->host = fake_host_table;
    fh->ctx = xrealloc(NULL, sizeof *fh->ctx);
    memset(fh->ctx, 0, sizeof *fh->ctx);
    fh->ctx->fh = fh;
    fh->ctx->now_ms = 1000;
    fh->ctx->lc = xrealloc(NULL, sizeof *fh->ctx->lc);
    config_init(fh->ctx->lc);
    fh->base = event_base_new();
    if (fh->base == NULL) {
        fprintf(stderr, "fake host: event_base_new failed\n");
        abort();
    }
    fh->max_frame_bytes = 1048575;
    const char *v = getenv("FAKE_HOST_VERBOSE");
    fh->echo_logs = v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
    return fh;
}

void fake_host_free(struct fake_host *fh)
{
    if (fh == NULL)
        return;
    for (size_t i = 0; i < fh->n_events; i++)
        free(fh->events[i].data);
    free(fh->events);
    for (size_t i = 0; i < fh->n_lines; i++)
        free(fh->lines[i].text);
    free(fh->lines);
    for (uint32_t i = 0; i < fh->n_metrics; i++)
        free(fh->metrics[i].name);
    for (size_t i = 0; i < fh->ctx->n_retired; i++) {
        config_destroy(fh->ctx->retired[i]);
        free(fh->ctx->retired[i]);
    }
    free(fh->ctx->retired);
    config_destroy(fh->ctx->lc);
    free(fh->ctx->lc);
    free(fh->ctx);
    event_base_free(fh->base);
    free(fh);
}

int fake_host_setup(void **state)
{
    *state = fake_host_new();
    return 0;
}

/* Fails the test when the plugin broke the host's contract along the way. */
int fake_host_teardown(void **state)
{
    struct fake_host *fh = *state;
    size_t violations = fh->ctx->violations;
    fake_host_free(fh);
    *state = NULL;
    if (violations > 0) {
        print_error("fake host: the plugin broke the upcall contract %zu times (see above)\n",
                    violations);
        return -1;
    }
    return 0;
}

void fake_host_set_configf(struct fake_host *fh, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = xvasprintf(fmt, ap);
    va_end(ap);
    struct corral_ctx *ctx = fh->ctx;
    ctx->retired = xrealloc(ctx->retired, (ctx->n_retired + 1) * sizeof *ctx->retired);
    ctx->retired[ctx->n_retired++] = ctx->lc;
    ctx->lc = xrealloc(NULL, sizeof *ctx->lc);
    config_init(ctx->lc);
    ctx->n_keys_read = 0;
    if (config_read_string(ctx->lc, text) != CONFIG_TRUE) {
        char msg[512];
        snprintf(msg, sizeof msg, "fake_host_set_configf: line %d: %s in: %s",
                 config_error_line(ctx->lc), config_error_text(ctx->lc), text);
        free(text);
        fail_msg("%s", msg);
    }
    free(text);
}

const char *fake_host_unread_key(struct fake_host *fh)
{
    config_setting_t *root = config_root_setting(fh->ctx->lc);
    for (int i = 0; i < config_setting_length(root); i++) {
        const char *name = config_setting_name(config_setting_get_elem(root, (unsigned)i));
        bool read = false;
        for (size_t k = 0; k < fh->ctx->n_keys_read && !read; k++)
            read = strcmp(fh->ctx->keys_read[k], name) == 0;
        if (!read)
            return name;
    }
    return NULL;
}

void fake_host_inject(struct fake_host *fh, enum fake_slot slot, uint64_t nth, int err,
                      bool persist)
{
    fh->ctx->inject[slot] = (struct fake_injection){
        .armed = nth > 0, .persist = persist, .at_call = fh->calls[slot] + nth, .err = err};
}

void fake_host_set_clock(struct fake_host *fh, uint64_t now_ms)
{
    fh->ctx->now_ms = now_ms;
}

void fake_host_advance_clock(struct fake_host *fh, uint64_t ms)
{
    fh->ctx->now_ms += ms;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
}

bool fake_host_run_until(struct fake_host *fh, int ms, bool (*pred)(struct fake_host *, void *),
                         void *arg)
{
    uint64_t deadline = mono_ms() + (uint64_t)(ms > 0 ? ms : 0);
    /* A short timer bounds each pass, so the deadline holds even when nothing else happens. */
    struct event *tick = evtimer_new(fh->base, tick_cb, NULL);
    bool held = false;
    for (;;) {
        if (pred != NULL && pred(fh, arg)) {
            held = true;
            break;
        }
        uint64_t now = mono_ms();
        if (now >= deadline)
            break;
        uint64_t wait_ms = deadline - now < 5 ? deadline - now : 5;
        struct timeval tv = {0, (suseconds_t)(wait_ms * 1000)};
        evtimer_add(tick, &tv);
        event_base_loop(fh->base, EVLOOP_ONCE);
    }
    event_free(tick);
    return held;
}

void fake_host_run(struct fake_host *fh, int ms)
{
    fake_host_run_until(fh, ms, NULL, NULL);
}

static const char *find_line(const struct fake_host *fh, const char *needle, bool errors)
{
    for (size_t i = 0; i < fh->n_lines; i++) {
        const struct fake_line *l = &fh->lines[i];
        if ((l->level == FAKE_LINE_FAIL) == errors && l->level != FAKE_LINE_VIOLATION &&
            strstr(l->text, needle) != NULL)
            return l->text;
    }
    return NULL;
}

const char *fake_host_find_log(const struct fake_host *fh, const char *needle)
{
    return find_line(fh, needle, false);
}

const char *fake_host_find_error(const struct fake_host *fh, const char *needle)
{
    return find_line(fh, needle, true);
}

size_t fake_host_count_errors(const struct fake_host *fh)
{
    size_t n = 0;
    for (size_t i = 0; i < fh->n_lines; i++)
        n += fh->lines[i].level == FAKE_LINE_FAIL;
    return n;
}

size_t fake_host_count(const struct fake_host *fh, enum fake_event_type type,
                       const struct corral_cnxn *c)
{
    size_t n = 0;
    for (size_t i = 0; i < fh->n_events; i++)
        n += fh->events[i].type == type && (c == NULL || fh->events[i].c == c);
    return n;
}

const struct fake_event *fake_host_event(const struct fake_host *fh, enum fake_event_type type,
                                         size_t i)
{
    for (size_t k = 0; k < fh->n_events; k++)
        if (fh->events[k].type == type && i-- == 0)
            return &fh->events[k];
    return NULL;
}

struct corral_cnxn *fake_host_open_cnxn(const struct fake_host *fh, size_t i)
{
    for (size_t k = 0; k < fh->n_events; k++) {
        const struct fake_event *ev = &fh->events[k];
        if (ev->type == FAKE_EV_OPENED && open_index(fh, ev->c) == (long)k && i-- == 0)
            return ev->c;
    }
    return NULL;
}

size_t fake_host_open_count(const struct fake_host *fh)
{
    size_t n = 0;
    while (fake_host_open_cnxn(fh, n) != NULL)
        n++;
    return n;
}
