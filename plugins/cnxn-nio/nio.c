/* cnxn-nio: plain TCP client connections on the host's libevent loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <corral/cnxn.h>
#include <corral/host.h>
#include <corral/plugin.h>

struct nio {
    const struct corral_host *host;
    struct corral_ctx *ctx;
    const char *address;
    int64_t port;
    int64_t backlog;
    int64_t max_queued_bytes; /* stop reading a connection whose output passes this */
    struct evconnlistener *listener;
    struct nio_conn *conns; /* every live connection, for stop() */
    bool stopping;
};

struct nio_conn {
    struct corral_cnxn base;
    struct nio *nio;
    struct bufferevent *bev;
    struct event *deferred; /* runs buffered frames after a resume, or finishes a close */
    struct nio_conn *prev, *next;
    bool word_checked;    /* the first 4 bytes went to host->cnxn_word */
    bool closing;         /* close() was called: flush, then finish */
    bool paused_by_host;  /* set_reading(false) */
    bool paused_by_output;
    bool in_dispatch;     /* inside nio_process_input: close() must not free */
};

static void nio_finish(struct nio_conn *nc);

static void nio_update_reading(struct nio_conn *nc)
{
    if (nc->closing || nc->paused_by_host || nc->paused_by_output)
        bufferevent_disable(nc->bev, EV_READ);
    else
        bufferevent_enable(nc->bev, EV_READ);
}

static void nio_schedule(struct nio_conn *nc)
{
    if (!event_pending(nc->deferred, EV_TIMEOUT, NULL))
        event_active(nc->deferred, EV_TIMEOUT, 0);
}

static bool nio_can_deliver(const struct nio_conn *nc)
{
    return !nc->closing && !nc->paused_by_host && !nc->paused_by_output;
}

/* Hands every complete frame in the input buffer to the host, while it wants them. */
static void nio_process_input(struct nio_conn *nc)
{
    struct nio *nio = nc->nio;
    struct evbuffer *in = bufferevent_get_input(nc->bev);
    uint32_t max_frame = nio->host->max_frame_bytes(nio->ctx);
    nc->in_dispatch = true;
    while (nio_can_deliver(nc)) {
        size_t avail = evbuffer_get_length(in);
        if (avail < 4)
            break;
        uint8_t hdr[4];
        evbuffer_copyout(in, hdr, 4);
        uint32_t word = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
                        (uint32_t)hdr[2] << 8 | hdr[3];
        if (!nc->word_checked) {
            nc->word_checked = true;
            size_t head_len = avail < 16 ? avail : 16;
            uint8_t *head = evbuffer_pullup(in, (ssize_t)head_len);
            if (head != NULL && nio->host->cnxn_word(nio->ctx, &nc->base, head, head_len)) {
                evbuffer_drain(in, evbuffer_get_length(in));
                break;
            }
        }
        int32_t len = (int32_t)word;
        if (len < 0 || (uint32_t)len > max_frame) {
            nio->host->log(nio->ctx, CORRAL_LOG_INFO,
                           "closing %s:%u: frame of %" PRId32
                           " bytes is outside 0 to max_packet_bytes %" PRIu32,
                           nc->base.peer_addr, nc->base.peer_port, len, max_frame);
            evbuffer_drain(in, avail);
            nc->in_dispatch = false;
            nc->closing = true;
            nio_update_reading(nc);
            nio_schedule(nc);
            return;
        }
        if (avail < 4 + (size_t)len)
            break;
        uint8_t *frame = evbuffer_pullup(in, 4 + (ssize_t)len);
        if (frame == NULL)
            break;
        nio->host->cnxn_frame(nio->ctx, &nc->base, frame + 4, (size_t)len);
        evbuffer_drain(in, 4 + (size_t)len);
    }
    nc->in_dispatch = false;
    if (nc->closing && evbuffer_get_length(bufferevent_get_output(nc->bev)) == 0)
        nio_schedule(nc);
}

static void nio_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    nio_process_input(arg);
}

static void nio_write_cb(struct bufferevent *bev, void *arg)
{
    struct nio_conn *nc = arg;
    (void)bev;
    /* Called once the output is drained (low watermark 0). */
    if (nc->closing) {
        nio_schedule(nc);
    } else if (nc->paused_by_output) {
        nc->paused_by_output = false;
        nio_update_reading(nc);
        nio_schedule(nc);
    }
}

static void nio_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct nio_conn *nc = arg;
    struct evbuffer *out = bufferevent_get_output(bev);
    if (what & BEV_EVENT_ERROR) {
        nc->closing = true;
        nio_finish(nc);
    } else if (what & BEV_EVENT_EOF) {
        /* The peer stopped sending ("echo ruok | nc"); still deliver what is queued for it. */
        nc->closing = true;
        nio_update_reading(nc);
        if (evbuffer_get_length(out) == 0)
            nio_finish(nc);
    }
}

/* Deferred work: either finish a close whose output is flushed, or deliver frames that were
 * buffered while the host had paused reading. */
static void nio_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
    struct nio_conn *nc = arg;
    (void)fd, (void)what;
    if (nc->closing) {
        if (evbuffer_get_length(bufferevent_get_output(nc->bev)) == 0)
            nio_finish(nc);
        return;
    }
    nio_process_input(nc);
}

static void nio_unlink(struct nio_conn *nc)
{
    if (nc->prev != NULL)
        nc->prev->next = nc->next;
    else
        nc->nio->conns = nc->next;
    if (nc->next != NULL)
        nc->next->prev = nc->prev;
}

static void nio_free_conn(struct nio_conn *nc)
{
    nio_unlink(nc);
    event_free(nc->deferred);
    bufferevent_free(nc->bev);
    free(nc);
}

static void nio_finish(struct nio_conn *nc)
{
    struct nio *nio = nc->nio;
    nio->host->cnxn_closed(nio->ctx, &nc->base);
    nio_free_conn(nc);
}

static void nio_accept_conn(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa,
                            int salen, void *arg)
{
    struct nio *nio = arg;
    (void)lst, (void)salen;
    struct nio_conn *nc = calloc(1, sizeof *nc);
    if (nc == NULL) {
        nio->host->log(nio->ctx, CORRAL_LOG_WARN, "dropping a connection: out of memory");
        evutil_closesocket(fd);
        return;
    }
    nc->nio = nio;
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, nc->base.peer_addr, sizeof nc->base.peer_addr);
        nc->base.peer_port = ntohs(s6->sin6_port);
        nc->base.is_ipv6 = true;
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, nc->base.peer_addr, sizeof nc->base.peer_addr);
        nc->base.peer_port = ntohs(s4->sin_port);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct event_base *base = nio->host->loop(nio->ctx);
    nc->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    nc->deferred = event_new(base, -1, 0, nio_deferred_cb, nc);
    if (nc->bev == NULL || nc->deferred == NULL) {
        nio->host->log(nio->ctx, CORRAL_LOG_WARN, "dropping %s:%u: out of memory",
                       nc->base.peer_addr, nc->base.peer_port);
        if (nc->bev != NULL)
            bufferevent_free(nc->bev);
        else
            evutil_closesocket(fd);
        if (nc->deferred != NULL)
            event_free(nc->deferred);
        free(nc);
        return;
    }
    nc->next = nio->conns;
    if (nio->conns != NULL)
        nio->conns->prev = nc;
    nio->conns = nc;
    if (nio->host->cnxn_opened(nio->ctx, &nc->base) < 0) {
        nio_free_conn(nc); /* refused (per-IP limit ...): closed without a byte */
        return;
    }
    bufferevent_setcb(nc->bev, nio_read_cb, nio_write_cb, nio_event_cb, nc);
    bufferevent_enable(nc->bev, EV_READ | EV_WRITE);
}

static void nio_accept_error(struct evconnlistener *lst, void *arg)
{
    struct nio *nio = arg;
    int err = EVUTIL_SOCKET_ERROR();
    (void)lst;
    /* EMFILE and friends: log and keep listening; libevent retries on the next readiness. */
    nio->host->log(nio->ctx, CORRAL_LOG_WARN, "accept on %s:%" PRId64 ": %s", nio->address,
                   nio->port, evutil_socket_error_to_string(err));
}

static int nio_create(const struct corral_host *host, struct corral_ctx *ctx, void **self)
{
    struct nio *nio = calloc(1, sizeof *nio);
    if (nio == NULL)
        return host->fail(ctx, -ENOMEM, "allocating listener state");
    nio->host = host;
    nio->ctx = ctx;
    int rc;
    if ((rc = host->conf_str(ctx, "address", "0.0.0.0", &nio->address)) < 0 ||
        (rc = host->conf_int(ctx, "port", 1, 65535, 2181, &nio->port)) < 0 ||
        (rc = host->conf_int(ctx, "backlog", -1, 65535, -1, &nio->backlog)) < 0 ||
        (rc = host->conf_int(ctx, "max_queued_bytes", 65536, INT32_MAX, 4 << 20,
                             &nio->max_queued_bytes)) < 0) {
        free(nio);
        return rc; /* the getter already named the key and the value */
    }
    *self = nio;
    return 0;
}

static int nio_start(void *self)
{
    struct nio *nio = self;
    char port[8];
    snprintf(port, sizeof port, "%" PRId64, nio->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(nio->address, port, &hints, &ai);
    if (gai != 0)
        return nio->host->fail(nio->ctx, -EADDRNOTAVAIL, "address %s: %s", nio->address,
                               gai_strerror(gai));
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    if (fd < 0) {
        int err = errno;
        freeaddrinfo(ai);
        return nio->host->fail(nio->ctx, -err, "socket for %s: %s", nio->address,
                               strerror(err));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* restart binds at once */
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        int err = errno;
        close(fd);
        freeaddrinfo(ai);
        return nio->host->fail(nio->ctx, -err, "bind %s:%" PRId64 ": %s", nio->address,
                               nio->port, strerror(err));
    }
    freeaddrinfo(ai);
    /* ZooKeeper's clientPortListenBacklog of -1 means the platform default (Java's 50). */
    int backlog = nio->backlog < 0 ? 50 : (int)nio->backlog;
    if (listen(fd, backlog) != 0) {
        int err = errno;
        close(fd);
        return nio->host->fail(nio->ctx, -err, "listen %s:%" PRId64 ": %s", nio->address,
                               nio->port, strerror(err));
    }
    nio->listener = evconnlistener_new(nio->host->loop(nio->ctx), nio_accept_conn, nio,
                                       LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (nio->listener == NULL) {
        close(fd);
        return nio->host->fail(nio->ctx, -ENOMEM, "registering %s:%" PRId64 " on the loop",
                               nio->address, nio->port);
    }
    evconnlistener_set_error_cb(nio->listener, nio_accept_error);
    nio->host->log(nio->ctx, CORRAL_LOG_INFO, "listening on %s:%" PRId64, nio->address,
                   nio->port);
    return 0;
}

static void nio_stop(void *self)
{
    struct nio *nio = self;
    if (nio->listener != NULL) {
        evconnlistener_free(nio->listener);
        nio->listener = NULL;
    }
    while (nio->conns != NULL) {
        struct nio_conn *nc = nio->conns;
        nc->closing = true;
        nio_finish(nc);
    }
}

static void nio_destroy(void *self)
{
    free(self);
}

static int nio_send(void *self, struct corral_cnxn *c, const struct iovec *iov, int iovcnt)
{
    struct nio *nio = self;
    struct nio_conn *nc = corral_container_of(c, struct nio_conn, base);
    if (nc->closing)
        return -EPIPE;
    struct evbuffer *out = bufferevent_get_output(nc->bev);
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (evbuffer_add(out, iov[i].iov_base, iov[i].iov_len) != 0)
            return -ENOMEM;
        total += iov[i].iov_len;
    }
    if (!nc->paused_by_output && evbuffer_get_length(out) > (size_t)nio->max_queued_bytes) {
        /* A client that does not read must not grow our memory: stop reading its requests. */
        nc->paused_by_output = true;
        nio_update_reading(nc);
    }
    return (int)total;
}

static void nio_close(void *self, struct corral_cnxn *c, int reason)
{
    struct nio *nio = self;
    struct nio_conn *nc = corral_container_of(c, struct nio_conn, base);
    if (nc->closing)
        return;
    nio->host->log(nio->ctx, CORRAL_LOG_DEBUG, "closing %s:%u (reason %d)", c->peer_addr,
                   c->peer_port, reason);
    nc->closing = true;
    nio_update_reading(nc);
    if (evbuffer_get_length(bufferevent_get_output(nc->bev)) == 0)
        nio_schedule(nc);
    /* else nio_write_cb finishes once the output has been written */
}

static void nio_set_reading(void *self, struct corral_cnxn *c, bool on)
{
    struct nio_conn *nc = corral_container_of(c, struct nio_conn, base);
    (void)self;
    if (nc->paused_by_host == !on)
        return;
    nc->paused_by_host = !on;
    nio_update_reading(nc);
    if (on && !nc->in_dispatch)
        nio_schedule(nc); /* frames may already sit in the input buffer */
}

static size_t nio_queued_bytes(void *self, const struct corral_cnxn *c)
{
    const struct nio_conn *nc = corral_container_of(c, const struct nio_conn, base);
    (void)self;
    return evbuffer_get_length(bufferevent_get_output(nc->bev));
}

static const struct corral_cnxn_ops nio_ops = {
    .version = CORRAL_CNXN_OPS_VERSION,
    .create = nio_create,
    .start = nio_start,
    .stop = nio_stop,
    .destroy = nio_destroy,
    .send = nio_send,
    .close = nio_close,
    .set_reading = nio_set_reading,
    .queued_bytes = nio_queued_bytes,
};
CORRAL_PLUGIN(CORRAL_KIND_CNXN, "cnxn-nio", "0.1.0", .cnxn = &nio_ops);
