/* metrics-prom: the host's metrics in Prometheus text format, over HTTP on the host's loop. */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include <corral/host.h>
#include <corral/metrics.h>
#include <corral/plugin.h>

#include "prom_format.h"

/* A scraper sends a short GET; anything much bigger is not one. */
#define PROM_MAX_HEADER_BYTES 16384
#define PROM_MAX_BODY_BYTES 1024
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct prom {
    const struct corral_host *host;
    struct corral_ctx *ctx;
    const char *address;
    int64_t port;
    struct evhttp *http;
    struct prom_metric **metrics; /* in definition order, which is the scrape's order */
    size_t n_metrics, cap_metrics;
};

static int prom_create(const struct corral_host *host, struct corral_ctx *ctx, void **self)
{
    struct prom *p = calloc(1, sizeof *p);
    if (p == NULL)
        return host->fail(ctx, -ENOMEM, "allocating metrics provider state");
    p->host = host;
    p->ctx = ctx;
    /* ZooKeeper's metricsProvider.httpHost and httpPort defaults. */
    int rc;
    if ((rc = host->conf_str(ctx, "address", "0.0.0.0", &p->address)) < 0 ||
        (rc = host->conf_int(ctx, "port", 1, 65535, 7000, &p->port)) < 0) {
        free(p);
        return rc; /* the getter already named the key, the value and the line */
    }
    *self = p;
    return 0;
}

/* libevent 2.1 writes a body even for HEAD, so HEAD gets the length and no bytes. */
static void prom_send(struct evhttp_request *req, int code, const char *reason,
                      struct evbuffer *body)
{
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        char len[24];
        snprintf(len, sizeof len, "%zu", evbuffer_get_length(body));
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Length", len);
        evbuffer_drain(body, evbuffer_get_length(body));
    }
    evhttp_send_reply(req, code, reason, body);
}

/* evhttp_send_error() drops the headers we set, and 405 must carry Allow. */
static void prom_send_error(struct evhttp_request *req, int code, const char *reason)
{
    struct evkeyvalq *headers = evhttp_request_get_output_headers(req);
    struct evbuffer *body = evbuffer_new();
    if (body == NULL) {
        evhttp_send_error(req, code, reason);
        return;
    }
    evhttp_add_header(headers, "Content-Type", "text/plain; charset=utf-8");
    evhttp_add_header(headers, "Connection", "close");
    if (code == 405)
        evhttp_add_header(headers, "Allow", "GET, HEAD");
    evbuffer_add_printf(body, "%d %s\n", code, reason);
    prom_send(req, code, reason, body);
    evbuffer_free(body);
}

static void prom_reply(struct evhttp_request *req, void *arg)
{
    struct prom *p = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    /* ZooKeeper maps its servlet at exactly /metrics; the query string is ignored. */
    if (path == NULL || strcmp(path, "/metrics") != 0) {
        prom_send_error(req, HTTP_NOTFOUND, "Not Found");
        return;
    }
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        prom_send_error(req, 405, "Method Not Allowed");
        return;
    }
    struct evbuffer *body = evbuffer_new();
    if (body == NULL) {
        prom_send_error(req, HTTP_SERVUNAVAIL, "Service Unavailable");
        return;
    }
    uint64_t now_ms = p->host->now_ms(p->ctx);
    /* By index, re-reading the array: a gauge callback may define a metric mid-scrape. */
    for (size_t i = 0; i < p->n_metrics; i++) {
        if (prom_metric_write(body, p->metrics[i], now_ms) < 0) {
            evbuffer_free(body);
            prom_send_error(req, HTTP_SERVUNAVAIL, "Service Unavailable");
            return;
        }
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", PROM_CONTENT_TYPE);
    prom_send(req, HTTP_OK, "OK", body);
    evbuffer_free(body);
}

static int prom_start(void *self)
{
    struct prom *p = self;
    char port[8];
    snprintf(port, sizeof port, "%" PRId64, p->port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(p->address, port, &hints, &ai);
    if (gai != 0)
        return p->host->fail(p->ctx, -EADDRNOTAVAIL, "address %s: %s", p->address,
                             gai_strerror(gai));
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        int err = errno;
        freeaddrinfo(ai);
        return p->host->fail(p->ctx, -err, "socket for %s: %s", p->address, strerror(err));
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* restart binds at once */
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        int err = errno;
        close(fd);
        freeaddrinfo(ai);
        return p->host->fail(p->ctx, -err, "bind %s:%" PRId64 ": %s", p->address, p->port,
                             strerror(err));
    }
    freeaddrinfo(ai);
    if (listen(fd, 16) != 0) {
        int err = errno;
        close(fd);
        return p->host->fail(p->ctx, -err, "listen %s:%" PRId64 ": %s", p->address, p->port,
                             strerror(err));
    }
    p->http = evhttp_new(p->host->loop(p->ctx));
    /* evhttp owns the socket from here: freeing the evhttp closes it. */
    if (p->http == NULL || evhttp_accept_socket_with_handle(p->http, fd) == NULL) {
        close(fd);
        if (p->http != NULL)
            evhttp_free(p->http);
        p->http = NULL;
        return p->host->fail(p->ctx, -ENOMEM, "registering %s:%" PRId64 " on the loop", p->address,
                             p->port);
    }
    /* Every method reaches prom_reply, which answers 405; libevent would answer 501. */
    evhttp_set_allowed_methods(p->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_max_headers_size(p->http, PROM_MAX_HEADER_BYTES);
    evhttp_set_max_body_size(p->http, PROM_MAX_BODY_BYTES);
    evhttp_set_gencb(p->http, prom_reply, p);
    p->host->log(p->ctx, CORRAL_LOG_INFO, "serving /metrics on %s:%" PRId64, p->address, p->port);
    return 0;
}

static void prom_stop(void *self)
{
    struct prom *p = self;
    if (p->http != NULL) {
        evhttp_free(p->http); /* closes the listener and every open connection */
        p->http = NULL;
    }
}

static void prom_destroy(void *self)
{
    struct prom *p = self;
    prom_stop(p);
    for (size_t i = 0; i < p->n_metrics; i++)
        prom_metric_free(p->metrics[i]);
    free(p->metrics);
    free(p);
}

static struct prom_metric *prom_find_clash(const struct prom *p, const char *name, int type)
{
    for (size_t i = 0; i < p->n_metrics; i++)
        if (prom_names_clash(p->metrics[i]->name, p->metrics[i]->type, name, type))
            return p->metrics[i];
    return NULL;
}

static int prom_add(struct prom *p, const char *name, int type, const char *help,
                    struct prom_metric **out)
{
    if (!prom_name_is_valid(name))
        return p->host->fail(p->ctx, -EINVAL,
                             "metric \"%s\": not a Prometheus name ([a-zA-Z_:][a-zA-Z0-9_:]*)",
                             name != NULL ? name : "(null)");
    if (type < CORRAL_METRIC_COUNTER || type > CORRAL_METRIC_SUMMARY)
        return p->host->fail(p->ctx, -EINVAL, "metric %s: unknown metric type %d", name, type);
    struct prom_metric *old = prom_find_clash(p, name, type);
    if (old != NULL) {
        /* As ZooKeeper's getCounter/getSummary: the same name and kind is the same metric. */
        if (strcmp(old->name, name) == 0 && old->type == type) {
            *out = old;
            return 0;
        }
        return p->host->fail(p->ctx, -EEXIST, "metric %s: clashes with the %s %s", name,
                             old->type == CORRAL_METRIC_COUNTER ? "counter"
                             : old->type == CORRAL_METRIC_GAUGE ? "gauge"
                                                                : "summary",
                             old->name);
    }
    if (p->n_metrics == p->cap_metrics) {
        size_t cap = p->cap_metrics ? 2 * p->cap_metrics : 32;
        struct prom_metric **grown = realloc(p->metrics, cap * sizeof *grown);
        if (grown == NULL)
            return p->host->fail(p->ctx, -ENOMEM, "metric %s: out of memory", name);
        p->metrics = grown;
        p->cap_metrics = cap;
    }
    struct prom_metric *m = prom_metric_new(name, type, help);
    if (m == NULL)
        return p->host->fail(p->ctx, -ENOMEM, "metric %s: out of memory", name);
    p->metrics[p->n_metrics++] = m;
    *out = m;
    return 0;
}

static int prom_define(void *self, const char *name, int type, const char *help, void **handle)
{
    struct prom_metric *m;
    int rc = prom_add(self, name, type, help, &m);
    if (rc < 0)
        return rc;
    *handle = m;
    return 0;
}

static int prom_gauge(void *self, const char *name, const char *help, corral_gauge_fn fn, void *arg)
{
    struct prom *p = self;
    if (fn == NULL)
        return p->host->fail(p->ctx, -EINVAL, "gauge %s: no function to read it",
                             name != NULL ? name : "(null)");
    struct prom_metric *m;
    int rc = prom_add(p, name, CORRAL_METRIC_GAUGE, help, &m);
    if (rc < 0)
        return rc;
    /* Registering a gauge again replaces its function, as ZooKeeper's registerGauge does. */
    m->fn = fn;
    m->fn_arg = arg;
    return 0;
}

static void prom_record(void *self, void *handle, double value)
{
    struct prom *p = self;
    struct prom_metric *m = handle;
    if (m == NULL) /* the host records through the handle of a define that failed */
        return;
    if (!prom_metric_record(m, value, p->host->now_ms(p->ctx)) && !m->warned) {
        m->warned = true;
        p->host->log(p->ctx, CORRAL_LOG_WARN, "%s %s: ignoring the value %g%s", m->name,
                     m->type == CORRAL_METRIC_COUNTER ? "counter" : "summary", value,
                     m->type == CORRAL_METRIC_COUNTER ? "; a counter only goes up" : "");
    }
}

static const struct corral_metrics_ops prom_ops = {
    .version = CORRAL_METRICS_OPS_VERSION, /* the layout this file was compiled against */
    .create = prom_create,
    .start = prom_start,
    .stop = prom_stop,
    .destroy = prom_destroy,
    .define = prom_define,
    .gauge = prom_gauge,
    .record = prom_record,
};
CORRAL_PLUGIN(CORRAL_KIND_METRICS, "metrics-prom", "0.1.0", .metrics = &prom_ops);
