/* cnxn-unix: ZooKeeper client connections over a Unix-domain socket. A third-party corral
 * plugin, built out of tree against the installed headers only (docs/plugins.md):
 *
 *   listeners = ( { name = "local"; plugin = "/opt/corral-unix/cnxn-unix.so";
 *                   path = "/run/corral/client.sock"; mode = "0660"; } );
 *
 * Local tools then talk to the server without a TCP port, guarded by file permissions:
 * `echo ruok | nc -U /run/corral/client.sock`. A client on the socket is on this machine, so it
 * reaches the host as 127.0.0.1: ip:127.0.0.1 ACLs and max_client_cnxns count it as a loopback
 * client. Its peer_port is a per-listener connection number that tells log lines apart. */
#define _GNU_SOURCE /* SOCK_NONBLOCK, SOCK_CLOEXEC, S_ISSOCK under -std=c17 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <corral/cnxn.h>
#include <corral/host.h>
#include <corral/plugin.h>

struct ux {
    const struct corral_host *host;
    struct corral_ctx *ctx;
    const char *path; /* the host's string, valid until destroy() */
    mode_t mode;
    int64_t max_queued_bytes; /* stop reading a connection whose output passes this */
    struct evconnlistener *listener;
    dev_t dev; /* the socket file start() made; stop() removes that one only */
    ino_t ino;
    struct ux_conn *conns; /* every live connection, for stop() */
    uint16_t last_port;
};

struct ux_conn {
    struct corral_cnxn base; /* what the host sees; corral_container_of() gets back here */
    struct ux *ux;
    struct bufferevent *bev;
    struct event *deferred; /* delivers frames buffered during a pause, or finishes a close */
    struct ux_conn *prev, *next;
    bool word_checked;   /* the first bytes went to host->cnxn_word */
    bool closing;        /* flush the output, then close */
    bool paused_by_host; /* set_reading(false) */
    bool paused_by_output;
    bool in_dispatch; /* inside ux_process_input, which picks up set_reading(true) itself */
};

static void ux_finish(struct ux_conn *uc);

static bool ux_can_deliver(const struct ux_conn *uc)
{
    return !uc->closing && !uc->paused_by_host && !uc->paused_by_output;
}

static void ux_update_reading(struct ux_conn *uc)
{
    if (ux_can_deliver(uc))
        bufferevent_enable(uc->bev, EV_READ);
    else
        bufferevent_disable(uc->bev, EV_READ);
}

/* cnxn_closed must not run inside the host's own call to close() or set_reading(), so both
 * leave the work to this event, which runs on the next loop pass. */
static void ux_schedule(struct ux_conn *uc)
{
    event_active(uc->deferred, EV_TIMEOUT, 0);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Hands the host every whole frame in the input buffer, while it wants them. */
static void ux_process_input(struct ux_conn *uc)
{
    struct ux *ux = uc->ux;
    struct evbuffer *in = bufferevent_get_input(uc->bev);
    uint32_t max_frame = ux->host->max_frame_bytes(ux->ctx);
    uc->in_dispatch = true;
    while (ux_can_deliver(uc)) {
        size_t avail = evbuffer_get_length(in);
        if (avail < 4)
            break;
        if (!uc->word_checked) {
            /* A four-letter word may carry an argument (stmk), so pass all that is buffered. */
            uc->word_checked = true;
            size_t head_len = avail < 16 ? avail : 16;
            const uint8_t *head = evbuffer_pullup(in, (ssize_t)head_len);
            if (head != NULL && ux->host->cnxn_word(ux->ctx, &uc->base, head, head_len)) {
                evbuffer_drain(in, avail);
                break;
            }
        }
        uint8_t hdr[4];
        evbuffer_copyout(in, hdr, sizeof hdr);
        int32_t len = (int32_t)be32(hdr);
        if (len < 0 || (uint32_t)len > max_frame) {
            ux->host->log(ux->ctx, CORRAL_LOG_INFO,
                          "closing connection %u: frame of %" PRId32
                          " bytes is outside 0 to max_packet_bytes %" PRIu32,
                          uc->base.peer_port, len, max_frame);
            evbuffer_drain(in, avail);
            uc->closing = true;
            break;
        }
        if (avail < 4 + (size_t)len)
            break;
        const uint8_t *frame = evbuffer_pullup(in, 4 + (ssize_t)len);
        if (frame == NULL)
            break;
        ux->host->cnxn_frame(ux->ctx, &uc->base, frame + 4, (size_t)len);
        evbuffer_drain(in, 4 + (size_t)len);
    }
    uc->in_dispatch = false;
    ux_update_reading(uc);
    if (uc->closing && evbuffer_get_length(bufferevent_get_output(uc->bev)) == 0)
        ux_schedule(uc);
}

static void ux_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    ux_process_input(arg);
}

/* The output drained (the low watermark is 0): finish a close, or resume reading. */
static void ux_write_cb(struct bufferevent *bev, void *arg)
{
    struct ux_conn *uc = arg;
    (void)bev;
    if (uc->closing) {
        ux_schedule(uc);
    } else if (uc->paused_by_output) {
        uc->paused_by_output = false;
        ux_update_reading(uc);
        ux_schedule(uc);
    }
}

static void ux_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct ux_conn *uc = arg;
    if (what & BEV_EVENT_ERROR) {
        uc->closing = true;
        ux_finish(uc);
    } else if (what & BEV_EVENT_EOF) {
        /* The client stopped sending (`echo ruok | nc -U`): still write what is queued. */
        uc->closing = true;
        ux_update_reading(uc);
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            ux_finish(uc);
    }
}

static void ux_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ux_conn *uc = arg;
    (void)fd, (void)what;
    if (!uc->closing)
        ux_process_input(uc);
    else if (evbuffer_get_length(bufferevent_get_output(uc->bev)) == 0)
        ux_finish(uc);
}

static void ux_free_conn(struct ux_conn *uc)
{
    if (uc->prev != NULL)
        uc->prev->next = uc->next;
    else
        uc->ux->conns = uc->next;
    if (uc->next != NULL)
        uc->next->prev = uc->prev;
    event_free(uc->deferred);
    bufferevent_free(uc->bev);
    free(uc);
}

static void ux_finish(struct ux_conn *uc)
{
    uc->ux->host->cnxn_closed(uc->ux->ctx, &uc->base);
    ux_free_conn(uc);
}

static void ux_accept(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct ux *ux = arg;
    (void)lst, (void)sa, (void)salen;
    struct ux_conn *uc = calloc(1, sizeof *uc);
    if (uc == NULL) {
        ux->host->log(ux->ctx, CORRAL_LOG_WARN, "dropping a connection: out of memory");
        evutil_closesocket(fd);
        return;
    }
    struct event_base *base = ux->host->loop(ux->ctx);
    uc->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    uc->deferred = event_new(base, -1, 0, ux_deferred_cb, uc);
    if (uc->bev == NULL || uc->deferred == NULL) {
        ux->host->log(ux->ctx, CORRAL_LOG_WARN, "dropping a connection: out of memory");
        if (uc->bev != NULL)
            bufferevent_free(uc->bev); /* closes fd */
        else
            evutil_closesocket(fd);
        if (uc->deferred != NULL)
            event_free(uc->deferred);
        free(uc);
        return;
    }
    uc->ux = ux;
    snprintf(uc->base.peer_addr, sizeof uc->base.peer_addr, "127.0.0.1");
    ux->last_port = ux->last_port == UINT16_MAX ? 1 : ux->last_port + 1;
    uc->base.peer_port = ux->last_port;
    uc->next = ux->conns;
    if (ux->conns != NULL)
        ux->conns->prev = uc;
    ux->conns = uc;
    if (ux->host->cnxn_opened(ux->ctx, &uc->base) < 0) {
        ux_free_conn(uc); /* refused: closed without a byte and without cnxn_closed */
        return;
    }
    bufferevent_setcb(uc->bev, ux_read_cb, ux_write_cb, ux_event_cb, uc);
    bufferevent_enable(uc->bev, EV_READ | EV_WRITE);
}

static void ux_accept_error(struct evconnlistener *lst, void *arg)
{
    struct ux *ux = arg;
    int err = EVUTIL_SOCKET_ERROR();
    (void)lst;
    /* EMFILE and friends: keep listening; libevent retries on the next readiness. */
    ux->host->log(ux->ctx, CORRAL_LOG_WARN, "accept on %s: %s", ux->path,
                  evutil_socket_error_to_string(err));
}

static int ux_create(const struct corral_host *host, struct corral_ctx *ctx, void **self)
{
    struct ux *ux = calloc(1, sizeof *ux);
    if (ux == NULL)
        return host->fail(ctx, -ENOMEM, "allocating listener state");
    ux->host = host;
    ux->ctx = ctx;
    const char *mode;
    int rc;
    if ((rc = host->conf_str(ctx, "path", NULL, &ux->path)) < 0 ||
        (rc = host->conf_str(ctx, "mode", "0660", &mode)) < 0 ||
        (rc = host->conf_int(ctx, "max_queued_bytes", 65536, INT32_MAX, 4 << 20,
                             &ux->max_queued_bytes)) < 0) {
        free(ux);
        return rc; /* the getter already named the key and the value */
    }
    struct sockaddr_un sa;
    char *end;
    long bits = strtol(mode, &end, 8);
    if (ux->path == NULL)
        rc = host->fail(ctx, -EINVAL, "path: not set; give the socket file's absolute path");
    else if (ux->path[0] != '/')
        rc = host->fail(ctx, -EINVAL, "path: \"%s\" is not absolute", ux->path);
    else if (strlen(ux->path) >= sizeof sa.sun_path)
        rc = host->fail(ctx, -ENAMETOOLONG, "path: %s is longer than a socket address (%zu bytes)",
                        ux->path, sizeof sa.sun_path - 1);
    else if (mode[0] == '\0' || *end != '\0' || bits < 0 || bits > 0777)
        rc = host->fail(ctx, -EINVAL, "mode: \"%s\" is not octal permissions such as \"0660\"",
                        mode);
    if (rc < 0) {
        free(ux);
        return rc;
    }
    ux->mode = (mode_t)bits;
    *self = ux;
    return 0;
}

/* A socket file that refuses connections was left by a server that died; one that is not a
 * socket, or that answers, is not ours to take. */
static bool ux_is_stale(const struct sockaddr_un *sa)
{
    struct stat st;
    if (lstat(sa->sun_path, &st) != 0 || !S_ISSOCK(st.st_mode))
        return false;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    bool stale = connect(fd, (const struct sockaddr *)sa, sizeof *sa) != 0 && errno == ECONNREFUSED;
    close(fd);
    return stale;
}

/* Binds, sets the permissions and listens; on failure closes fd and removes what it made. */
static int ux_listen(struct ux *ux, int fd, const struct sockaddr_un *sa)
{
    const struct sockaddr *addr = (const struct sockaddr *)sa;
    int rc = bind(fd, addr, sizeof *sa);
    if (rc != 0 && errno == EADDRINUSE && ux_is_stale(sa)) {
        ux->host->log(ux->ctx, CORRAL_LOG_INFO, "removing the stale socket %s", ux->path);
        unlink(ux->path);
        rc = bind(fd, addr, sizeof *sa);
    }
    if (rc != 0) {
        int err = errno;
        close(fd);
        return ux->host->fail(ux->ctx, -err, "bind %s: %s", ux->path, strerror(err));
    }
    /* chmod before listen(), so nobody connects through the umask's wider permissions. */
    const char *step = "chmod";
    struct stat st;
    if (chmod(ux->path, ux->mode) == 0) {
        step = "stat";
        if (stat(ux->path, &st) == 0) {
            step = "listen";
            if (listen(fd, SOMAXCONN) == 0) {
                ux->dev = st.st_dev;
                ux->ino = st.st_ino;
                return 0;
            }
        }
    }
    int err = errno;
    close(fd);
    unlink(ux->path);
    return ux->host->fail(ux->ctx, -err, "%s %s: %s", step, ux->path, strerror(err));
}

static int ux_start(void *self)
{
    struct ux *ux = self;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, ux->path, strlen(ux->path) + 1); /* create() checked the length */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int err = errno;
        return ux->host->fail(ux->ctx, -err, "socket for %s: %s", ux->path, strerror(err));
    }
    int rc = ux_listen(ux, fd, &sa);
    if (rc < 0)
        return rc;
    ux->listener =
        evconnlistener_new(ux->host->loop(ux->ctx), ux_accept, ux, LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (ux->listener == NULL) {
        close(fd);
        unlink(ux->path);
        return ux->host->fail(ux->ctx, -ENOMEM, "registering %s on the loop", ux->path);
    }
    evconnlistener_set_error_cb(ux->listener, ux_accept_error);
    ux->host->log(ux->ctx, CORRAL_LOG_INFO, "listening on %s (mode %04o)", ux->path,
                  (unsigned)ux->mode);
    return 0;
}

static void ux_stop(void *self)
{
    struct ux *ux = self;
    if (ux->listener != NULL) {
        evconnlistener_free(ux->listener);
        ux->listener = NULL;
        struct stat st;
        if (lstat(ux->path, &st) == 0 && st.st_dev == ux->dev && st.st_ino == ux->ino)
            unlink(ux->path);
    }
    while (ux->conns != NULL) {
        ux->conns->closing = true;
        ux_finish(ux->conns);
    }
}

static void ux_destroy(void *self)
{
    free(self);
}

static int ux_send(void *self, struct corral_cnxn *c, const struct iovec *iov, int iovcnt)
{
    struct ux *ux = self;
    struct ux_conn *uc = corral_container_of(c, struct ux_conn, base);
    if (uc->closing)
        return -EPIPE;
    struct evbuffer *out = bufferevent_get_output(uc->bev);
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (evbuffer_add(out, iov[i].iov_base, iov[i].iov_len) != 0)
            return -ENOMEM;
        total += iov[i].iov_len;
    }
    if (!uc->paused_by_output && evbuffer_get_length(out) > (size_t)ux->max_queued_bytes) {
        /* A client that does not read its replies must not grow our memory. */
        uc->paused_by_output = true;
        ux_update_reading(uc);
    }
    return (int)total;
}

static void ux_close(void *self, struct corral_cnxn *c, int reason)
{
    struct ux *ux = self;
    struct ux_conn *uc = corral_container_of(c, struct ux_conn, base);
    if (uc->closing)
        return;
    ux->host->log(ux->ctx, CORRAL_LOG_DEBUG, "closing connection %u (reason %d)", c->peer_port,
                  reason);
    uc->closing = true;
    ux_update_reading(uc);
    if (evbuffer_get_length(bufferevent_get_output(uc->bev)) == 0)
        ux_schedule(uc);
    /* else ux_write_cb finishes once the output is written */
}

static void ux_set_reading(void *self, struct corral_cnxn *c, bool on)
{
    struct ux_conn *uc = corral_container_of(c, struct ux_conn, base);
    (void)self;
    if (uc->paused_by_host == !on)
        return;
    uc->paused_by_host = !on;
    ux_update_reading(uc);
    if (on && !uc->in_dispatch)
        ux_schedule(uc); /* whole frames may already sit in the input buffer */
}

static size_t ux_queued_bytes(void *self, const struct corral_cnxn *c)
{
    const struct ux_conn *uc = corral_container_of(c, const struct ux_conn, base);
    (void)self;
    return evbuffer_get_length(bufferevent_get_output(uc->bev));
}

static const struct corral_cnxn_ops ux_ops = {
    .version = CORRAL_CNXN_OPS_VERSION,
    .create = ux_create,
    .start = ux_start,
    .stop = ux_stop,
    .destroy = ux_destroy,
    .send = ux_send,
    .close = ux_close,
    .set_reading = ux_set_reading,
    .queued_bytes = ux_queued_bytes,
};
CORRAL_PLUGIN(CORRAL_KIND_CNXN, "cnxn-unix", "0.1.0", .cnxn = &ux_ops);
