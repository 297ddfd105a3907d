#include "scrape.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fake_host.h"

#define SCRAPE_WAIT_MS 5000 /* generous bound for what should take microseconds */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int scrape_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

int scrape_free_port(void)
{
    int port = -1;
    int fd = scrape_listen(&port);
    if (fd >= 0)
        close(fd);
    return port;
}

int scrape_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    /* The kernel completes the handshake from the backlog; the loop need not run yet. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int scrape_request(struct fake_host *fh, int port, const char *request, int wait_ms,
                   struct http_reply *out)
{
    int fd = scrape_connect(port);
    if (fd < 0)
        return -1;
    size_t len = strlen(request);
    if (send(fd, request, len, MSG_NOSIGNAL) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    size_t cap = 1 << 16, got = 0;
    char *buf = malloc(cap + 1);
    uint64_t deadline = mono_ms() + (uint64_t)wait_ms;
    bool eof = false;
    while (buf != NULL && !eof && mono_ms() < deadline) {
        if (got == cap) {
            char *grown = realloc(buf, 2 * cap + 1);
            if (grown == NULL)
                break;
            buf = grown;
            cap *= 2;
        }
        ssize_t n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t)n;
        else if (n == 0)
            eof = true;
        else if (errno == EAGAIN || errno == EWOULDBLOCK)
            fake_host_run(fh, 2);
        else
            break;
    }
    close(fd);
    char *sep = buf != NULL && eof ? (buf[got] = '\0', strstr(buf, "\r\n\r\n")) : NULL;
    int status = 0;
    if (sep == NULL || sscanf(buf, "HTTP/1.%*d %d", &status) != 1) {
        free(buf);
        return -1;
    }
    *sep = '\0';
    size_t body_len = got - (size_t)(sep + 4 - buf);
    *out = (struct http_reply){.status = status, .head = buf, .body_len = body_len};
    out->body = malloc(body_len + 1);
    if (out->body == NULL) {
        free(buf);
        return -1;
    }
    memcpy(out->body, sep + 4, body_len);
    out->body[body_len] = '\0';
    return 0;
}

int scrape_get(struct fake_host *fh, int port, const char *path, struct http_reply *out)
{
    char req[512];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n",
             path, port);
    return scrape_request(fh, port, req, SCRAPE_WAIT_MS, out);
}

const char *scrape_header(const struct http_reply *r, const char *name, char *buf, size_t len)
{
    size_t n = strlen(name);
    for (const char *line = strstr(r->head, "\r\n"); line != NULL;
         line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, n) != 0 || h[n] != ':')
            continue;
        h += n + 1;
        while (*h == ' ')
            h++;
        const char *end = strstr(h, "\r\n");
        size_t vlen = end != NULL ? (size_t)(end - h) : strlen(h);
        snprintf(buf, len, "%.*s", (int)vlen, h);
        return buf;
    }
    return NULL;
}

void scrape_reply_free(struct http_reply *r)
{
    free(r->head);
    free(r->body);
    r->head = r->body = NULL;
}
