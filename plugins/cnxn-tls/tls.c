/* cnxn-tls: TLS client connections (ZooKeeper's secureClientPort) on the host's libevent loop.
 *
 * The same framing, back-pressure and close rules as cnxn-nio, over libevent's OpenSSL
 * bufferevents. The host hears of a connection only once its handshake has succeeded. */
#include <arpa/inet.h>
#include <dlfcn.h>
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
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <corral/cnxn.h>
#include <corral/host.h>
#include <corral/plugin.h>

#include "tls_ctx.h"

struct tls {
    const struct corral_host *host;
    struct corral_ctx *ctx;
    const char *address;
    int64_t port;
    int64_t backlog;
    int64_t max_queued_bytes; /* stop reading a connection whose output passes this */
    int64_t handshake_timeout_ms;
    int64_t reload_interval_ms; /* 0: never look at the files again */
    const char *client_auth_name;
    struct tls_ctx_conf conf;
    SSL_CTX *ssl_ctx;             /* for new connections; live ones keep a reference to theirs */
    struct tls_files_print files; /* the files as ssl_ctx (or the last failed reload) saw them */
    struct event *reload_timer;
    struct evconnlistener *listener;
    struct tls_conn *conns; /* every connection, handshaking or open, for stop() */
    int64_t handshaking;
    uint32_t m_unsuccessful; /* counter: unsuccessful_handshake */
    uint32_t m_outstanding;  /* gauge: outstanding_tls_handshake */
};

struct tls_conn {
    struct corral_cnxn base;
    struct tls *tls;
    struct bufferevent *bev;
    struct event *deferred; /* runs buffered frames after a resume, or finishes a close */
    struct event *hs_timer; /* bounds the handshake */
    char *subject;          /* base.peer_subject points here */
    struct tls_conn *prev, *next;
    bool handshaking;    /* counted in outstanding_tls_handshake */
    bool opened;         /* handshake done and cnxn_opened accepted it */
    bool word_checked;   /* the first 4 bytes went to host->cnxn_word */
    bool closing;        /* close() was called: flush, then finish */
    bool broken;         /* a TLS or socket error: no close_notify */
    bool paused_by_host; /* set_reading(false) */
    bool paused_by_output;
    bool in_dispatch; /* inside tls_process_input */
};

static void tls_finish(struct tls_conn *tc);

static void tls_update_reading(struct tls_conn *tc)
{
    if (tc->closing || tc->paused_by_host || tc->paused_by_output)
        bufferevent_disable(tc->bev, EV_READ);
    else
        bufferevent_enable(tc->bev, EV_READ);
}

static void tls_schedule(struct tls_conn *tc)
{
    if (!event_pending(tc->deferred, EV_TIMEOUT, NULL))
        event_active(tc->deferred, EV_TIMEOUT, 0);
}

static bool tls_can_deliver(const struct tls_conn *tc)
{
    return tc->opened && !tc->closing && !tc->paused_by_host && !tc->paused_by_output;
}

/* Hands every complete frame in the input buffer to the host, while it wants them. */
static void tls_process_input(struct tls_conn *tc)
{
    struct tls *tls = tc->tls;
    struct evbuffer *in = bufferevent_get_input(tc->bev);
    uint32_t max_frame = tls->host->max_frame_bytes(tls->ctx);
    tc->in_dispatch = true;
    while (tls_can_deliver(tc)) {
        size_t avail = evbuffer_get_length(in);
        if (avail < 4)
            break;
        uint8_t hdr[4];
        evbuffer_copyout(in, hdr, 4);
        uint32_t word =
            (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
        if (!tc->word_checked) {
            /* ZooKeeper's TLS port answers four-letter words after the handshake too. */
            tc->word_checked = true;
            size_t head_len = avail < 16 ? avail : 16;
            uint8_t *head = evbuffer_pullup(in, (ssize_t)head_len);
            if (head != NULL && tls->host->cnxn_word(tls->ctx, &tc->base, head, head_len)) {
                evbuffer_drain(in, evbuffer_get_length(in));
                break;
            }
        }
        int32_t len = (int32_t)word;
        if (len < 0 || (uint32_t)len > max_frame) {
            tls->host->log(tls->ctx, CORRAL_LOG_INFO,
                           "closing %s:%u: frame of %" PRId32
                           " bytes is outside 0 to max_packet_bytes %" PRIu32,
                           tc->base.peer_addr, tc->base.peer_port, len, max_frame);
            evbuffer_drain(in, avail);
            tc->in_dispatch = false;
            tc->closing = true;
            tls_update_reading(tc);
            tls_schedule(tc);
            return;
        }
        if (avail < 4 + (size_t)len)
            break;
        uint8_t *frame = evbuffer_pullup(in, 4 + (ssize_t)len);
        if (frame == NULL)
            break;
        tls->host->cnxn_frame(tls->ctx, &tc->base, frame + 4, (size_t)len);
        evbuffer_drain(in, 4 + (size_t)len);
    }
    tc->in_dispatch = false;
    if (tc->closing && evbuffer_get_length(bufferevent_get_output(tc->bev)) == 0)
        tls_schedule(tc);
}

static void tls_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    tls_process_input(arg);
}

static void tls_write_cb(struct bufferevent *bev, void *arg)
{
    struct tls_conn *tc = arg;
    (void)bev;
    /* Called once the output is drained (low watermark 0). */
    if (tc->closing) {
        tls_schedule(tc);
    } else if (tc->paused_by_output) {
        tc->paused_by_output = false;
        tls_update_reading(tc);
        tls_schedule(tc);
    }
}

static void tls_handshake_begin(struct tls_conn *tc)
{
    struct tls *tls = tc->tls;
    struct timeval tv = {(time_t)(tls->handshake_timeout_ms / 1000),
                         (suseconds_t)(tls->handshake_timeout_ms % 1000 * 1000)};
    evtimer_add(tc->hs_timer, &tv);
    tc->handshaking = true;
    tls->handshaking++;
    tls->host->metric_record(tls->ctx, tls->m_outstanding, (double)tls->handshaking);
}

static void tls_handshake_over(struct tls_conn *tc)
{
    struct tls *tls = tc->tls;
    if (!tc->handshaking)
        return;
    evtimer_del(tc->hs_timer);
    tc->handshaking = false;
    tls->handshaking--;
    tls->host->metric_record(tls->ctx, tls->m_outstanding, (double)tls->handshaking);
}

static void tls_unlink(struct tls_conn *tc)
{
    if (tc->prev != NULL)
        tc->prev->next = tc->next;
    else
        tc->tls->conns = tc->next;
    if (tc->next != NULL)
        tc->next->prev = tc->prev;
}

/* Frees a connection the host does not know (refused, or never past its handshake). */
static void tls_free_conn(struct tls_conn *tc)
{
    tls_unlink(tc);
    tls_handshake_over(tc);
    event_free(tc->hs_timer);
    event_free(tc->deferred);
    bufferevent_free(tc->bev); /* closes the socket and frees the SSL */
    free(tc->subject);
    free(tc);
}

static void tls_finish(struct tls_conn *tc)
{
    struct tls *tls = tc->tls;
    if (!tc->broken) {
        /* One non-blocking close_notify, so the client sees a clean end, not a truncation. */
        SSL *ssl = bufferevent_openssl_get_ssl(tc->bev);
        if (ssl != NULL && SSL_shutdown(ssl) < 0)
            ERR_clear_error();
    }
    tls->host->cnxn_closed(tls->ctx, &tc->base);
    tls_free_conn(tc);
}

/* One line of why a handshake failed, from what OpenSSL and libevent recorded. */
static void tls_failure_reason(struct tls_conn *tc, short what, char *buf, size_t len)
{
    SSL *ssl = bufferevent_openssl_get_ssl(tc->bev);
    long verify = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
    const char *reason = NULL, *hint = "";
    unsigned long e;
    /* Popped newest first; the oldest library error is the cause, the rest its echoes. */
    while ((e = bufferevent_get_openssl_error(tc->bev)) != 0) {
        if (ERR_GET_LIB(e) != 0 && ERR_reason_error_string(e) != NULL) {
            reason = ERR_reason_error_string(e);
            bool plain =
                ERR_GET_LIB(e) == ERR_LIB_SSL && (ERR_GET_REASON(e) == SSL_R_WRONG_VERSION_NUMBER ||
                                                  ERR_GET_REASON(e) == SSL_R_HTTP_REQUEST);
            hint = plain ? " (not TLS: a plain client on the secure port?)" : "";
        }
    }
    int sock_err = EVUTIL_SOCKET_ERROR();
    if (verify != X509_V_OK)
        snprintf(buf, len, "client certificate rejected: %s",
                 X509_verify_cert_error_string(verify));
    else if (reason != NULL)
        snprintf(buf, len, "%s%s", reason, hint);
    else if (what & BEV_EVENT_EOF)
        snprintf(buf, len, "the client closed the connection");
    else if (sock_err != 0)
        snprintf(buf, len, "%s", evutil_socket_error_to_string(sock_err));
    else
        snprintf(buf, len, "the connection failed");
    ERR_clear_error();
}

static void tls_handshake_failed(struct tls_conn *tc, const char *reason)
{
    struct tls *tls = tc->tls;
    tls->host->log(tls->ctx, CORRAL_LOG_INFO, "TLS handshake with %s:%u failed: %s",
                   tc->base.peer_addr, tc->base.peer_port, reason);
    tls->host->metric_record(tls->ctx, tls->m_unsuccessful, 1);
    tls_free_conn(tc);
}

static void tls_handshake_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tls_conn *tc = arg;
    (void)fd, (void)what;
    char reason[64];
    snprintf(reason, sizeof reason, "no handshake within %" PRId64 " ms",
             tc->tls->handshake_timeout_ms);
    tls_handshake_failed(tc, reason);
}

static void tls_handshake_done(struct tls_conn *tc)
{
    struct tls *tls = tc->tls;
    SSL *ssl = bufferevent_openssl_get_ssl(tc->bev);
    tls_handshake_over(tc);
    /* Only a certificate that verified names the client; "want" may have none. */
    X509 *peer = SSL_get0_peer_certificate(ssl);
    if (peer != NULL && SSL_get_verify_result(ssl) == X509_V_OK) {
        tc->subject = tls_subject(peer);
        if (tc->subject == NULL) {
            tls_handshake_failed(tc, "out of memory reading the client certificate");
            return;
        }
    }
    tc->base.is_secure = true;
    tc->base.peer_subject = tc->subject;
    tls->host->log(tls->ctx, CORRAL_LOG_DEBUG, "TLS handshake with %s:%u: %s %s, client %s",
                   tc->base.peer_addr, tc->base.peer_port, SSL_get_version(ssl),
                   SSL_get_cipher_name(ssl), tc->subject != NULL ? tc->subject : "anonymous");
    tc->opened = true;
    if (tls->host->cnxn_opened(tls->ctx, &tc->base) < 0) {
        tls_free_conn(tc); /* refused (per-IP limit ...): closed without a frame */
        return;
    }
    /* The host may have paused or closed it from inside cnxn_opened. */
    tls_update_reading(tc);
}

static void tls_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct tls_conn *tc = arg;
    if (!tc->opened) {
        if (what & BEV_EVENT_CONNECTED) {
            tls_handshake_done(tc);
        } else if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
            char reason[256];
            tls_failure_reason(tc, what, reason, sizeof reason);
            tls_handshake_failed(tc, reason);
        }
        return;
    }
    struct evbuffer *out = bufferevent_get_output(bev);
    if (what & BEV_EVENT_ERROR) {
        while (bufferevent_get_openssl_error(bev) != 0)
            ;
        tc->broken = true;
        tc->closing = true;
        tls_finish(tc);
    } else if (what & BEV_EVENT_EOF) {
        /* The peer stopped sending; still deliver what is queued for it. libevent stopped
         * writing when it saw the EOF, so start again. */
        tc->closing = true;
        tls_update_reading(tc);
        if (evbuffer_get_length(out) == 0)
            tls_finish(tc);
        else
            bufferevent_enable(bev, EV_WRITE);
    }
}

/* Deferred work: either finish a close whose output is flushed, or deliver frames that were
 * buffered while the host had paused reading. */
static void tls_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tls_conn *tc = arg;
    (void)fd, (void)what;
    if (tc->closing) {
        if (evbuffer_get_length(bufferevent_get_output(tc->bev)) == 0)
            tls_finish(tc);
        return;
    }
    tls_process_input(tc);
}

static void tls_accept_conn(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa,
                            int salen, void *arg)
{
    struct tls *tls = arg;
    (void)lst, (void)salen;
    struct tls_conn *tc = calloc(1, sizeof *tc);
    if (tc == NULL) {
        tls->host->log(tls->ctx, CORRAL_LOG_WARN, "dropping a connection: out of memory");
        evutil_closesocket(fd);
        return;
    }
    tc->tls = tls;
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, tc->base.peer_addr, sizeof tc->base.peer_addr);
        tc->base.peer_port = ntohs(s6->sin6_port);
        tc->base.is_ipv6 = true;
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, tc->base.peer_addr, sizeof tc->base.peer_addr);
        tc->base.peer_port = ntohs(s4->sin_port);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct event_base *base = tls->host->loop(tls->ctx);
    SSL *ssl = SSL_new(tls->ssl_ctx);
    /* With CLOSE_ON_FREE libevent owns the SSL from here, even when it fails. */
    if (ssl != NULL)
        tc->bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                 BEV_OPT_CLOSE_ON_FREE);
    tc->deferred = event_new(base, -1, 0, tls_deferred_cb, tc);
    tc->hs_timer = evtimer_new(base, tls_handshake_timeout_cb, tc);
    if (tc->bev == NULL || tc->deferred == NULL || tc->hs_timer == NULL) {
        tls->host->log(tls->ctx, CORRAL_LOG_WARN, "dropping %s:%u: out of memory",
                       tc->base.peer_addr, tc->base.peer_port);
        if (tc->bev != NULL)
            bufferevent_free(tc->bev);
        else
            evutil_closesocket(fd);
        if (tc->deferred != NULL)
            event_free(tc->deferred);
        if (tc->hs_timer != NULL)
            event_free(tc->hs_timer);
        free(tc);
        ERR_clear_error();
        return;
    }
    tc->next = tls->conns;
    if (tls->conns != NULL)
        tls->conns->prev = tc;
    tls->conns = tc;
    bufferevent_openssl_set_allow_dirty_shutdown(tc->bev, 1);
    bufferevent_setcb(tc->bev, tls_read_cb, tls_write_cb, tls_event_cb, tc);
    bufferevent_enable(tc->bev, EV_READ | EV_WRITE);
    tls_handshake_begin(tc);
}

static void tls_accept_error(struct evconnlistener *lst, void *arg)
{
    struct tls *tls = arg;
    int err = EVUTIL_SOCKET_ERROR();
    (void)lst;
    /* EMFILE and friends: log and keep listening; libevent retries on the next readiness. */
    tls->host->log(tls->ctx, CORRAL_LOG_WARN, "accept on %s:%" PRId64 ": %s", tls->address,
                   tls->port, evutil_socket_error_to_string(err));
}

/* "CN=server,O=corral, valid until Jan  1 00:00:00 2030 GMT" for the log. */
static void tls_describe_cert(SSL_CTX *ssl_ctx, char *buf, size_t len)
{
    X509 *cert = SSL_CTX_get0_certificate(ssl_ctx);
    char *subject = cert != NULL ? tls_subject(cert) : NULL;
    char until[64] = "?";
    BIO *bio = BIO_new(BIO_s_mem());
    if (cert != NULL && bio != NULL && ASN1_TIME_print(bio, X509_get0_notAfter(cert)) == 1) {
        int n = BIO_read(bio, until, (int)sizeof until - 1);
        until[n > 0 ? n : 0] = '\0';
    }
    BIO_free(bio);
    snprintf(buf, len, "%s, valid until %s", subject != NULL ? subject : "?", until);
    free(subject);
}

/* Reload timer: rebuild the context when the files' bytes change. Connections already open
 * keep the context they were accepted with. */
static void tls_reload_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tls *tls = arg;
    (void)fd, (void)what;
    struct tls_files_print now;
    tls_files_fingerprint(&tls->conf, &now);
    if (tls_files_equal(&now, &tls->files))
        return;
    tls->files = now; /* a failed build is not retried until the files change again */
    int err = 0;
    char msg[512];
    SSL_CTX *fresh = tls_ctx_build(&tls->conf, &err, msg, sizeof msg);
    if (fresh == NULL) {
        tls->host->log(tls->ctx, CORRAL_LOG_WARN,
                       "certificate files changed but did not load, "
                       "keeping the previous ones: %s",
                       msg);
        return;
    }
    SSL_CTX_free(tls->ssl_ctx);
    tls->ssl_ctx = fresh;
    char desc[512];
    tls_describe_cert(fresh, desc, sizeof desc);
    tls->host->log(tls->ctx, CORRAL_LOG_INFO, "reloaded cert %s and key %s: %s", tls->conf.cert,
                   tls->conf.key, desc);
}

static int tls_create(const struct corral_host *host, struct corral_ctx *ctx, void **self)
{
    struct tls *tls = calloc(1, sizeof *tls);
    if (tls == NULL)
        return host->fail(ctx, -ENOMEM, "allocating listener state");
    tls->host = host;
    tls->ctx = ctx;
    const char *protocols = NULL;
    int rc;
    if ((rc = host->conf_str(ctx, "address", "0.0.0.0", &tls->address)) < 0 ||
        (rc = host->conf_int(ctx, "port", 1, 65535, 2281, &tls->port)) < 0 ||
        (rc = host->conf_int(ctx, "backlog", -1, 65535, -1, &tls->backlog)) < 0 ||
        (rc = host->conf_int(ctx, "max_queued_bytes", 65536, INT32_MAX, 4 << 20,
                             &tls->max_queued_bytes)) < 0 ||
        (rc = host->conf_str(ctx, "cert", NULL, &tls->conf.cert)) < 0 ||
        (rc = host->conf_str(ctx, "key", NULL, &tls->conf.key)) < 0 ||
        (rc = host->conf_str(ctx, "ca", NULL, &tls->conf.ca)) < 0 ||
        (rc = host->conf_str(ctx, "client_auth", "need", &tls->client_auth_name)) < 0 ||
        (rc = host->conf_str(ctx, "protocols", "TLSv1.2,TLSv1.3", &protocols)) < 0 ||
        (rc = host->conf_str(ctx, "ciphers", NULL, &tls->conf.ciphers)) < 0 ||
        (rc = host->conf_str(ctx, "ciphersuites", NULL, &tls->conf.ciphersuites)) < 0 ||
        (rc = host->conf_int(ctx, "handshake_timeout_ms", 1, 3600000, 10000,
                             &tls->handshake_timeout_ms)) < 0 ||
        (rc = host->conf_int(ctx, "reload_interval_ms", 0, 86400000, 10000,
                             &tls->reload_interval_ms)) < 0) {
        free(tls);
        return rc; /* the getter already named the key and the value */
    }
    char bad[80];
    if (tls_parse_client_auth(tls->client_auth_name, &tls->conf.client_auth) < 0)
        rc = host->fail(ctx, -EINVAL,
                        "client_auth: \"%s\" is not one of \"none\", \"want\", \"need\"",
                        tls->client_auth_name);
    else if (tls->conf.cert == NULL || tls->conf.cert[0] == '\0')
        rc = host->fail(ctx, -EINVAL, "cert: required (the server's certificate, a PEM file)");
    else if (tls->conf.key == NULL || tls->conf.key[0] == '\0')
        rc = host->fail(ctx, -EINVAL, "key: required (the cert's private key, a PEM file)");
    else if (tls->conf.client_auth != TLS_AUTH_NONE &&
             (tls->conf.ca == NULL || tls->conf.ca[0] == '\0'))
        rc = host->fail(ctx, -EINVAL,
                        "ca: required to verify clients with client_auth \"%s\" "
                        "(or set client_auth = \"none\")",
                        tls->client_auth_name);
    else if (tls_parse_protocols(protocols, &tls->conf.min_version, &tls->conf.max_version, bad,
                                 sizeof bad) < 0)
        rc = host->fail(ctx, -EINVAL, "protocols: \"%s\" %s; expected TLSv1.2, TLSv1.3 or both",
                        protocols, bad[0] != '\0' ? "names an unsupported protocol" : "is empty");
    /* Named as ZooKeeper's ServerMetrics and NettyServerCnxnFactory name them. */
    if (rc == 0 && (rc = host->metric_define(ctx, "unsuccessful_handshake", CORRAL_METRIC_COUNTER,
                                             "TLS handshakes that failed or timed out",
                                             &tls->m_unsuccessful)) == 0)
        rc = host->metric_define(ctx, "outstanding_tls_handshake", CORRAL_METRIC_GAUGE,
                                 "TLS handshakes in progress", &tls->m_outstanding);
    if (rc < 0) {
        free(tls);
        return rc;
    }
    if (tls->conf.client_auth == TLS_AUTH_NONE)
        tls->conf.ca = NULL; /* nothing to verify against; not read, not watched */
    *self = tls;
    return 0;
}

static int tls_listen(struct tls *tls)
{
    char port[8];
    snprintf(port, sizeof port, "%" PRId64, tls->port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(tls->address, port, &hints, &ai);
    if (gai != 0)
        return tls->host->fail(tls->ctx, -EADDRNOTAVAIL, "address %s: %s", tls->address,
                               gai_strerror(gai));
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        int err = errno;
        freeaddrinfo(ai);
        return tls->host->fail(tls->ctx, -err, "socket for %s: %s", tls->address, strerror(err));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* restart binds at once */
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        int err = errno;
        close(fd);
        freeaddrinfo(ai);
        return tls->host->fail(tls->ctx, -err, "bind %s:%" PRId64 ": %s", tls->address, tls->port,
                               strerror(err));
    }
    freeaddrinfo(ai);
    /* ZooKeeper's clientPortListenBacklog of -1 means the platform default (Java's 50). */
    int backlog = tls->backlog < 0 ? 50 : (int)tls->backlog;
    if (listen(fd, backlog) != 0) {
        int err = errno;
        close(fd);
        return tls->host->fail(tls->ctx, -err, "listen %s:%" PRId64 ": %s", tls->address, tls->port,
                               strerror(err));
    }
    tls->listener = evconnlistener_new(tls->host->loop(tls->ctx), tls_accept_conn, tls,
                                       LEV_OPT_CLOSE_ON_FREE, -1, fd);
    if (tls->listener == NULL) {
        close(fd);
        return tls->host->fail(tls->ctx, -ENOMEM, "registering %s:%" PRId64 " on the loop",
                               tls->address, tls->port);
    }
    evconnlistener_set_error_cb(tls->listener, tls_accept_error);
    return 0;
}

/* libevent destroys a freed bufferevent later, on the loop, with destructors in libevent_openssl
 * and libssl, which only this plugin loads. The host may dlclose() plugins before it frees the
 * loop, so keep this module (and with it those libraries) mapped until the process exits. */
static void tls_pin_module(void)
{
    Dl_info info;
    if (dladdr(&corral_plugin, &info) != 0 && info.dli_fname != NULL)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

static int tls_start(void *self)
{
    struct tls *tls = self;
    tls_pin_module();
    /* Fingerprint first: a file replaced while we build is seen as a change later. */
    tls_files_fingerprint(&tls->conf, &tls->files);
    int err = 0;
    char msg[512];
    tls->ssl_ctx = tls_ctx_build(&tls->conf, &err, msg, sizeof msg);
    if (tls->ssl_ctx == NULL)
        return tls->host->fail(tls->ctx, err, "%s", msg);
    if (tls->reload_interval_ms > 0) {
        tls->reload_timer =
            event_new(tls->host->loop(tls->ctx), -1, EV_PERSIST, tls_reload_cb, tls);
        struct timeval tv = {(time_t)(tls->reload_interval_ms / 1000),
                             (suseconds_t)(tls->reload_interval_ms % 1000 * 1000)};
        if (tls->reload_timer == NULL || event_add(tls->reload_timer, &tv) != 0)
            return tls->host->fail(tls->ctx, -ENOMEM, "registering the reload timer");
    }
    int rc = tls_listen(tls);
    if (rc < 0)
        return rc;
    char desc[512];
    tls_describe_cert(tls->ssl_ctx, desc, sizeof desc);
    tls->host->log(tls->ctx, CORRAL_LOG_INFO,
                   "listening on %s:%" PRId64 " (TLS, client_auth %s): %s", tls->address, tls->port,
                   tls->client_auth_name, desc);
    return 0;
}

static void tls_stop(void *self)
{
    struct tls *tls = self;
    if (tls->listener != NULL) {
        evconnlistener_free(tls->listener);
        tls->listener = NULL;
    }
    if (tls->reload_timer != NULL) {
        event_free(tls->reload_timer);
        tls->reload_timer = NULL;
    }
    while (tls->conns != NULL) {
        struct tls_conn *tc = tls->conns;
        if (tc->opened) {
            tc->closing = true;
            tls_finish(tc);
        } else {
            tls_free_conn(tc); /* the host never heard of it */
        }
    }
    if (tls->ssl_ctx != NULL) {
        SSL_CTX_free(tls->ssl_ctx);
        tls->ssl_ctx = NULL;
    }
}

static void tls_destroy(void *self)
{
    free(self);
}

static void tls_free_chunk(const void *data, size_t len, void *arg)
{
    (void)len, (void)arg;
    free((void *)data);
}

static int tls_send(void *self, struct corral_cnxn *c, const struct iovec *iov, int iovcnt)
{
    struct tls *tls = self;
    struct tls_conn *tc = corral_container_of(c, struct tls_conn, base);
    if (tc->closing)
        return -EPIPE;
    struct evbuffer *out = bufferevent_get_output(tc->bev);
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (total == 0)
        return 0;
    /* Each send() (a whole frame) goes into a chunk of its own, and libevent encrypts chunk by
     * chunk, so no TLS record holds the end of one frame and the start of the next. A client
     * that reads one frame and then waits on the socket (kazoo) would not see the next one
     * while it sits decrypted in its TLS buffer. */
    uint8_t *chunk = malloc(total);
    if (chunk == NULL)
        return -ENOMEM;
    size_t at = 0;
    for (int i = 0; i < iovcnt; i++) {
        memcpy(chunk + at, iov[i].iov_base, iov[i].iov_len);
        at += iov[i].iov_len;
    }
    if (evbuffer_add_reference(out, chunk, total, tls_free_chunk, NULL) != 0) {
        free(chunk);
        return -ENOMEM;
    }
    if (!tc->paused_by_output && evbuffer_get_length(out) > (size_t)tls->max_queued_bytes) {
        /* A client that does not read must not grow our memory: stop reading its requests. */
        tc->paused_by_output = true;
        tls_update_reading(tc);
    }
    return (int)total;
}

static void tls_close(void *self, struct corral_cnxn *c, int reason)
{
    struct tls *tls = self;
    struct tls_conn *tc = corral_container_of(c, struct tls_conn, base);
    if (tc->closing)
        return;
    tls->host->log(tls->ctx, CORRAL_LOG_DEBUG, "closing %s:%u (reason %d)", c->peer_addr,
                   c->peer_port, reason);
    tc->closing = true;
    tls_update_reading(tc);
    if (evbuffer_get_length(bufferevent_get_output(tc->bev)) == 0)
        tls_schedule(tc);
    /* else tls_write_cb finishes once the output has been written */
}

static void tls_set_reading(void *self, struct corral_cnxn *c, bool on)
{
    struct tls_conn *tc = corral_container_of(c, struct tls_conn, base);
    (void)self;
    if (tc->paused_by_host == !on)
        return;
    tc->paused_by_host = !on;
    tls_update_reading(tc);
    if (on && !tc->in_dispatch)
        tls_schedule(tc); /* frames may already sit in the input buffer */
}

static size_t tls_queued_bytes(void *self, const struct corral_cnxn *c)
{
    const struct tls_conn *tc = corral_container_of(c, const struct tls_conn, base);
    (void)self;
    return evbuffer_get_length(bufferevent_get_output(tc->bev));
}

static const struct corral_cnxn_ops tls_ops = {
    .version = CORRAL_CNXN_OPS_VERSION,
    .create = tls_create,
    .start = tls_start,
    .stop = tls_stop,
    .destroy = tls_destroy,
    .send = tls_send,
    .close = tls_close,
    .set_reading = tls_set_reading,
    .queued_bytes = tls_queued_bytes,
};
CORRAL_PLUGIN(CORRAL_KIND_CNXN, "cnxn-tls", "0.1.0", .cnxn = &tls_ops);
