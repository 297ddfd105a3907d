/*
 * Connection factory plugins (ZooKeeper's ServerCnxnFactory / ServerCnxn).
 *
 * A factory instance is one listener: it accepts connections, splits the byte stream into
 * frames (4-byte big-endian length, then that many bytes) and hands each frame to the host
 * through host->cnxn_frame(). The host answers with send(). All on the loop thread.
 */
#ifndef CORRAL_CNXN_H
#define CORRAL_CNXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

struct corral_host;
struct corral_ctx;

/* One client connection. Owned by the plugin, which embeds it in its own struct; the host
 * reads the fields below and forgets `c` once host->cnxn_closed() returns. */
struct corral_cnxn {
    void *host_data;     /* the host's; the plugin never reads or writes it */
    char peer_addr[48];  /* numeric address of the peer, "127.0.0.1" or "::1" */
    uint16_t peer_port;
    bool is_ipv6;
    bool is_secure;           /* arrived over TLS */
    const char *peer_subject; /* TLS: verified client certificate subject (RFC 2253), or NULL */
};

/* Why a connection is closed; the plugin logs it at DEBUG and counts it. */
enum corral_close_reason {
    CORRAL_CLOSE_NORMAL = 0,     /* session closed or four-letter word answered */
    CORRAL_CLOSE_PROTOCOL = 1,   /* malformed or oversized input */
    CORRAL_CLOSE_EXPIRED = 2,    /* the session expired */
    CORRAL_CLOSE_REPLACED = 3,   /* the session reconnected on another connection */
    CORRAL_CLOSE_AUTH = 4,       /* authentication failed */
    CORRAL_CLOSE_SHUTDOWN = 5,   /* the server is stopping */
    CORRAL_CLOSE_REFUSED = 6,    /* the handshake was refused */
};

#define CORRAL_CNXN_OPS_VERSION 1

struct corral_cnxn_ops {
    uint32_t version;
    /* v1: all required.
     * create: allocate the instance and read its config group (address, port, ...); no
     *   sockets, files or threads yet. *self is written only on success.
     * start: bind and listen, register events on host->loop(). May fail (-EADDRINUSE ...).
     * stop: stop accepting and close every connection (calling cnxn_closed for each);
     *   idempotent, safe after a failed or missing start.
     * destroy: free the instance. The host uses no pointer of the plugin's after it. */
    int (*create)(const struct corral_host *host, struct corral_ctx *ctx, void **self);
    int (*start)(void *self);
    void (*stop)(void *self);
    void (*destroy)(void *self);
    /* send: queue the bytes (copied before returning) to `c`; returns the number of bytes
     *   queued or a negative errno (-EPIPE once `c` is closing). The host sends whole frames,
     *   length included. A short write is the plugin's to finish.
     * close: stop reading `c`, write out what is queued, then close it and call
     *   host->cnxn_closed(). Safe to call from inside an upcall and more than once. */
    int (*send)(void *self, struct corral_cnxn *c, const struct iovec *iov, int iovcnt);
    void (*close)(void *self, struct corral_cnxn *c, int reason);
    /* set_reading: pause (false) or resume (true) reading frames from `c`; the host pauses a
     *   connection while its session is being set up or too many of its requests are pending.
     *   The plugin also pauses on its own while `c` has more than its output bound queued. */
    void (*set_reading)(void *self, struct corral_cnxn *c, bool on);
    /* queued_bytes: bytes accepted by send() and not yet written to the socket. */
    size_t (*queued_bytes)(void *self, const struct corral_cnxn *c);
};

#ifdef __cplusplus
}
#endif
#endif
