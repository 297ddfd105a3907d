/*
 * corral host services: the table the server hands every plugin instance.
 *
 * A plugin links against nothing of the core; everything it may ask of the server is a slot
 * here. Every slot is called on the loop thread only, and none blocks.
 */
#ifndef CORRAL_HOST_H
#define CORRAL_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base; /* libevent 2.1: part of the ABI, as plugins register events on it */
struct corral_ctx; /* one per plugin instance; opaque, owned by the host */
struct corral_cnxn;
struct corral_vote;

#if defined(__GNUC__)
#define CORRAL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CORRAL_PRINTF(fmt, args)
#endif

enum corral_log_level {
    CORRAL_LOG_ERROR = 0,
    CORRAL_LOG_WARN = 1,
    CORRAL_LOG_INFO = 2,
    CORRAL_LOG_DEBUG = 3,
};

enum corral_metric_type {
    CORRAL_METRIC_COUNTER = 1, /* monotonically increasing; record() adds */
    CORRAL_METRIC_GAUGE = 2,   /* current value; record() sets */
    CORRAL_METRIC_SUMMARY = 3, /* distribution; record() observes one value */
};

#define CORRAL_HOST_VERSION 1

struct corral_host {
    uint32_t version; /* check before calling a slot added after v1: CORRAL_HAS_SLOT(host, 2, x) */

    /* v1: diagnostics. log() prints "LEVEL component[name]: message" (the host adds the prefix;
     * no trailing newline). fail() logs nothing itself: it records the message for the host to
     * report with the config file, line and plugin, and returns `err` (a negative errno). */
    void (*log)(struct corral_ctx *ctx, int level, const char *fmt, ...) CORRAL_PRINTF(3, 4);
    int (*fail)(struct corral_ctx *ctx, int err, const char *fmt, ...) CORRAL_PRINTF(3, 4);

    /* v1: this instance's own config group, for create() only. Each getter checks type and
     * range, reports a bad value itself (through fail) and returns -EINVAL; a missing key yields
     * `dflt`. Strings are the host's and stay valid until destroy() returns. A key of the group
     * that no getter read by the end of create() is an error the host reports. */
    int (*conf_int)(struct corral_ctx *ctx, const char *key, int64_t min, int64_t max,
                    int64_t dflt, int64_t *out);
    int (*conf_str)(struct corral_ctx *ctx, const char *key, const char *dflt, const char **out);
    int (*conf_bool)(struct corral_ctx *ctx, const char *key, bool dflt, bool *out);

    /* v1: the one event loop everything runs on, and a monotonic clock in milliseconds. */
    struct event_base *(*loop)(struct corral_ctx *ctx);
    uint64_t (*now_ms)(struct corral_ctx *ctx);
    /* v1: the largest frame payload a client may send (ZooKeeper's jute.maxbuffer). A
     * connection factory closes a connection whose frame length is negative or above it. */
    uint32_t (*max_frame_bytes)(struct corral_ctx *ctx);

    /* v1: connection upcalls, for connection factories.
     * cnxn_opened: a connection was accepted and its peer fields are filled. Returns 0, or a
     *   negative errno to refuse it (the plugin then closes it without calling cnxn_closed).
     * cnxn_word: what a fresh connection sent before its first frame: `len` >= 4 bytes (all
     *   that is buffered; a four-letter word may carry an argument, as stmk's 8 bytes). Returns
     *   true when the host took the first 4 as a four-letter word: it has sent the answer and
     *   asked to close. Returns false to read them as the first frame's length.
     * cnxn_frame: one whole frame's payload (without the length). Borrowed for the call.
     * cnxn_closed: the connection is gone; the host forgets `c` before returning.
     * The host may call the plugin's send(), close() and set_reading() from inside any of these;
 * cnxn_closed itself is never called from inside send(), close() or set_reading() (the
 * plugin defers it to the loop), only from the loop or from the plugin's stop(). */
    int (*cnxn_opened)(struct corral_ctx *ctx, struct corral_cnxn *c);
    bool (*cnxn_word)(struct corral_ctx *ctx, struct corral_cnxn *c, const uint8_t *head,
                      size_t len);
    void (*cnxn_frame)(struct corral_ctx *ctx, struct corral_cnxn *c, const uint8_t *frame,
                       size_t len);
    void (*cnxn_closed)(struct corral_ctx *ctx, struct corral_cnxn *c);

    /* v1: metrics a plugin keeps about itself (say, TLS handshake failures). define() returns
     * 0 and a handle, valid until the plugin's destroy(); record() is as the type says. */
    int (*metric_define)(struct corral_ctx *ctx, const char *name, int type, const char *help,
                         uint32_t *handle);
    void (*metric_record)(struct corral_ctx *ctx, uint32_t handle, double value);

    /* v1: quorum traffic, for election plugins. In standalone mode there are no peers and
     * both return -ENOTCONN. peer_send queues `len` bytes to server `sid` (copied).
     * election_decided reports the outcome of the round started by look(). */
    int (*peer_send)(struct corral_ctx *ctx, int64_t sid, const uint8_t *msg, size_t len);
    int (*election_decided)(struct corral_ctx *ctx, const struct corral_vote *vote);
};

#ifdef __cplusplus
}
#endif
#endif
