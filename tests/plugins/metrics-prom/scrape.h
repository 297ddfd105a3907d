/*
 * A plain-socket HTTP client for metrics-prom's tests: it shares the thread with the plugin,
 * so it runs the fake host's loop while it waits.
 */
#ifndef CORRAL_TEST_SCRAPE_H
#define CORRAL_TEST_SCRAPE_H

#include <stddef.h>

struct fake_host;

struct http_reply {
    int status; /* from the status line */
    char *head; /* status line and headers, NUL-terminated */
    char *body; /* NUL-terminated; body_len excludes the NUL */
    size_t body_len;
};

/* A socket listening on 127.0.0.1 at a port the kernel picked; the caller closes it. */
int scrape_listen(int *port);
/* A port that was free a moment ago. */
int scrape_free_port(void);
/* Connects to 127.0.0.1:port; -1 on failure. */
int scrape_connect(int port);

/* Sends `request` as is on a new connection and reads until the server closes it, running the
 * loop in between, for at most wait_ms. Returns 0, or -1 (nothing to free) on any failure. */
int scrape_request(struct fake_host *fh, int port, const char *request, int wait_ms,
                   struct http_reply *out);
/* GET path with Connection: close. */
int scrape_get(struct fake_host *fh, int port, const char *path, struct http_reply *out);
/* The value of header `name` (case-insensitive) in r->head, copied into buf; NULL if absent. */
const char *scrape_header(const struct http_reply *r, const char *name, char *buf, size_t len);
void scrape_reply_free(struct http_reply *r);

#endif
