/* cnxn-nio against the fake host, with real loopback sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <corral/cnxn.h>
#include <corral/plugin.h>

#include "fake_host.h"

#define WAIT_MS 5000 /* generous bound for anything that should take microseconds */

/* What the hooks need: the instance under test and what the test wants done inside upcalls. */
struct nio_test {
    const struct corral_cnxn_ops *ops;
    void *self;
    size_t reply_bytes;   /* on_frame sends this many bytes of pattern ... */
    bool close_in_frame;  /* ... then closes */
    bool pause_in_frame;  /* on_frame calls set_reading(false) */
    int send_after_close; /* what send() returned after close() inside on_frame */
};

static const struct corral_cnxn_ops *ops(void)
{
    return corral_plugin.ops.cnxn;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A socket listening on 127.0.0.1 at a port the kernel picked. */
static int listen_on_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 8), 0);
    socklen_t len = sizeof sa;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int free_port(void)
{
    int port;
    close(listen_on_loopback(&port));
    return port;
}

static int connect_to(int port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static void write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Appends a frame (4-byte big-endian length, payload) to buf; returns the new length. */
static size_t put_frame(uint8_t *buf, size_t at, const void *payload, uint32_t len)
{
    buf[at] = (uint8_t)(len >> 24);
    buf[at + 1] = (uint8_t)(len >> 16);
    buf[at + 2] = (uint8_t)(len >> 8);
    buf[at + 3] = (uint8_t)len;
    memcpy(buf + at + 4, payload, len);
    return at + 4 + len;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Reads what the server sends until EOF, spinning the server's loop in between, as the
 * client and the server share this thread. Returns the byte count, or -1 on timeout/error. */
static ssize_t read_until_eof(struct fake_host *fh, int fd, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    uint64_t deadline = mono_ms() + WAIT_MS;
    while (mono_ms() < deadline) {
        ssize_t n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
        if (n == 0)
            return (ssize_t)got;
        if (n > 0) {
            got += (size_t)n;
            if (got == cap)
                return -1; /* more than expected */
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        fake_host_run(fh, 2);
    }
    return -1;
}

/* Reads and discards up to `want` bytes, spinning the loop, within WAIT_MS. */
static size_t drain(struct fake_host *fh, int fd, size_t want)
{
    static uint8_t sink[1 << 16];
    size_t got = 0;
    uint64_t deadline = mono_ms() + WAIT_MS;
    while (got < want && mono_ms() < deadline) {
        ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t)n;
        else if (n == 0)
            break;
        else
            fake_host_run(fh, 1);
    }
    return got;
}

struct want {
    enum fake_event_type type;
    size_t n;
};

static bool has_events(struct fake_host *fh, void *arg)
{
    const struct want *w = arg;
    return fake_host_count(fh, w->type, NULL) >= w->n;
}

static bool wait_events(struct fake_host *fh, enum fake_event_type type, size_t n)
{
    struct want w = {type, n};
    return fake_host_run_until(fh, WAIT_MS, has_events, &w);
}

/* create + start on 127.0.0.1 at a free port with extra config; returns the port. */
static int start_nio(struct fake_host *fh, struct nio_test *t, const char *extra)
{
    int port = free_port();
    fake_host_set_configf(fh, "address = \"127.0.0.1\"; port = %d; %s", port, extra);
    t->ops = ops();
    t->self = NULL;
    assert_int_equal(t->ops->create(&fh->host, fh->ctx, &t->self), 0);
    assert_non_null(t->self);
    assert_int_equal(t->ops->start(t->self), 0);
    fh->user = t;
    return port;
}

static void stop_nio(struct nio_test *t)
{
    t->ops->stop(t->self);
    t->ops->destroy(t->self);
    t->self = NULL;
}

/* Connects and waits for the plugin to report the connection open. */
static int connect_open(struct fake_host *fh, int port, int rcvbuf, struct corral_cnxn **c)
{
    size_t before = fake_host_count(fh, FAKE_EV_OPENED, NULL);
    int fd = connect_to(port, rcvbuf);
    assert_true(wait_events(fh, FAKE_EV_OPENED, before + 1));
    *c = fake_host_event(fh, FAKE_EV_OPENED, before)->c;
    return fd;
}

static void fill_pattern(uint8_t *p, size_t len, size_t seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)((i + seed) * 131u >> 3);
}

/* on_frame: optionally reply, pause or close, as the test asked. */
static void frame_hook(struct fake_host *fh, struct corral_cnxn *c, const uint8_t *frame,
                       size_t len)
{
    struct nio_test *t = fh->user;
    (void)frame, (void)len;
    if (t->reply_bytes > 0) {
        uint8_t *reply = malloc(t->reply_bytes);
        assert_non_null(reply);
        fill_pattern(reply, t->reply_bytes, 0);
        /* two iovecs, to check they go out back to back */
        struct iovec iov[2] = {{reply, t->reply_bytes / 2},
                               {reply + t->reply_bytes / 2, t->reply_bytes - t->reply_bytes / 2}};
        int n = t->ops->send(t->self, c, iov, 2);
        free(reply);
        assert_int_equal(n, (int)t->reply_bytes);
    }
    if (t->pause_in_frame)
        t->ops->set_reading(t->self, c, false);
    if (t->close_in_frame) {
        t->ops->close(t->self, c, CORRAL_CLOSE_NORMAL);
        t->ops->close(t->self, c, CORRAL_CLOSE_NORMAL); /* twice is allowed */
        struct iovec iov = {"x", 1};
        t->send_after_close = t->ops->send(t->self, c, &iov, 1);
    }
}

/* lifecycle and config */

static void a_taken_port_fails_start_and_stop_stays_safe(void **state)
{
    struct fake_host *fh = *state;
    int port, holder = listen_on_loopback(&port); /* keeps the port busy */
    fake_host_set_configf(fh, "address = \"127.0.0.1\"; port = %d;", port);
    void *self = NULL;
    assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), 0);
    assert_int_equal(ops()->start(self), -EADDRINUSE);
    assert_non_null(fake_host_find_error(fh, "Address already in use"));
    char bind_what[64];
    snprintf(bind_what, sizeof bind_what, "bind 127.0.0.1:%d: ", port);
    assert_non_null(fake_host_find_error(fh, bind_what));
    ops()->stop(self);
    ops()->stop(self);
    ops()->destroy(self); /* the ASan+UBSan build catches a leak or double free */
    close(holder);
}

static void stop_and_destroy_without_start_are_safe(void **state)
{
    struct fake_host *fh = *state;
    void *self = NULL;
    assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), 0);
    ops()->stop(self);
    ops()->destroy(self);
}

static void create_reads_every_key_it_knows_and_no_other(void **state)
{
    struct fake_host *fh = *state;
    fake_host_set_configf(fh, "address = \"127.0.0.1\"; port = 2181; backlog = 10;"
                              " max_queued_bytes = 100000; prot = 2;");
    void *self = NULL;
    assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), 0);
    /* the host reports a key nobody read; the plugin must not swallow it */
    assert_string_equal(fake_host_unread_key(fh), "prot");
    assert_int_equal(fake_host_count_errors(fh), 0);
    ops()->destroy(self);
}

struct bad_value {
    const char *config;
    const char *error; /* the sentence the getter records */
};

static void bad_config_values_fail_create_naming_the_key(void **state)
{
    struct fake_host *fh = *state;
    static const struct bad_value cases[] = {
        {"port = 0;", "port: 0 is out of range; expected 1 to 65535"},
        {"port = 65536;", "port: 65536 is out of range; expected 1 to 65535"},
        {"port = \"x\";", "port: expected an integer from 1 to 65535"},
        {"address = 127;", "address: expected a string"},
        {"backlog = -2;", "backlog: -2 is out of range"},
        {"max_queued_bytes = 1;", "max_queued_bytes: 1 is out of range; expected 65536 to"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_host_set_configf(fh, "%s", cases[i].config);
        size_t errors = fake_host_count_errors(fh);
        void *self = NULL;
        assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), -EINVAL);
        assert_null(self); /* written only on success */
        assert_int_equal(fake_host_count_errors(fh), errors + 1);
        if (fake_host_find_error(fh, cases[i].error) == NULL)
            fail_msg("config \"%s\": no error containing \"%s\"", cases[i].config, cases[i].error);
    }
}

/* As testvfs does: fail each getter call in turn; create must pass the code on and leak
 * nothing, and succeed once the failure lies beyond its last call. */
static void every_getter_failure_fails_create_cleanly(void **state)
{
    struct fake_host *fh = *state;
    static const enum fake_slot slots[] = {FAKE_SLOT_CONF_INT, FAKE_SLOT_CONF_STR};
    for (size_t s = 0; s < sizeof slots / sizeof slots[0]; s++) {
        uint64_t nth = 1;
        for (;; nth++) {
            assert_true(nth < 20);
            fake_host_inject(fh, slots[s], nth, -ENOMEM, false);
            void *self = NULL;
            int rc = ops()->create(&fh->host, fh->ctx, &self);
            if (rc == 0) {
                ops()->destroy(self);
                break;
            }
            assert_int_equal(rc, -ENOMEM);
            assert_null(self);
        }
        assert_true(nth > 1); /* create does read this kind of key */
        fake_host_inject(fh, slots[s], 0, 0, false);
    }
}

/* framing */

static void peer_fields_are_filled_when_opened(void **state)
{
    struct fake_host *fh = *state;
    struct nio_test t = {0};
    int port = start_nio(fh, &t, "");
    assert_non_null(fake_host_find_log(fh, "listening on 127.0.0.1:"));
    struct corral_cnxn *c;
    int fd = connect_open(fh, port, 0, &c);
    struct sockaddr_in local;
    socklen_t len = sizeof local;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&local, &len), 0);
    assert_string_equal(c->peer_addr, "127.0.0.1");
    assert_int_equal(c->peer_port, ntohs(local.sin_port));
    assert_false(c->is_ipv6);
    assert_false(c->is_secure);
    assert_null(c->peer_subject);
    close(fd);
    assert_true(wait_events(fh, FAKE_EV_CLOSED, 1));
    stop_nio(&t);
}

static void several_frames_in_one_write_arrive_whole_and_in_order(void **state)
{
    struct fake_host *fh = *state;
    struct nio_test t = {0};
    int port = start_nio(fh, &t, "");
    struct corral_cnxn *c;
    int fd = connect_open(fh, port, 0, &c);
    uint8_t buf[64];
    size_t n = put_frame(buf, 0, "hello", 5);
    n = put_frame(buf, n, "", 0);
    n = put_frame(buf, n, "abc", 3);
    write_all(fd, buf, n);
    assert_true(wait_events(fh, FAKE_EV_FRAME, 3));
    fake_host_run(fh, 20);
    assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, c), 3);
    /* the first 4 bytes were offered as a four-letter word first */
    assert_int_equal(fake_host_count(fh, FAKE_EV_WORD, c), 1);
    assert_int_equal(fake_host_event(fh, FAKE_EV_WORD, 0)->word, 5);
    const struct fake_event *f0 = fake_host_event(fh, FAKE_EV_FRAME, 0);
    const struct fake_event *f1 = fake_host_event(fh, FAKE_EV_FRAME, 1);
    const struct fake_event *f2 = fake_host_event(fh, FAKE_EV_FRAME, 2);
    assert_int_equal(f0->len, 5);
    assert_memory_equal(f0->data, "hello", 5);
    assert_int_equal(f1->len, 0);
    assert_int_equal(f2->len, 3);
    assert_memory_equal(f2->data, "abc", 3);
    close(fd);
    stop_nio(&t);
}

static void one_frame_split_over_many_writes_arrives_whole(void **state)
{
    struct fake_host *fh = *state;
    struct nio_test t = {0};
    int port = start_nio(fh, &t, "");
    struct corral_cnxn *c;
    int fd = connect_open(fh, port, 0, &c);
    enum { LEN = 1000 };
    static uint8_t buf[LEN + 4 + LEN + 4];
    uint8_t payload[LEN];
    fill_pattern(payload, LEN, 7);
    size_t n = put_frame(buf, 0, payload, LEN);
    /* byte by byte through the header, then in odd-sized pieces */
    size_t at = 0;
    while (at < n) {
        size_t piece = at < 4 ? 1 : 7;
        if (piece > n - at)
            piece = n - at;
        write_all(fd, buf + at, piece);
        at += piece;
        fake_host_run(fh, 1);
        if (at < n)
            assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, NULL), 0);
    }
    assert_true(wait_events(fh, FAKE_EV_FRAME, 1));
    const struct fake_event *f = fake_host_event(fh, FAKE_EV_FRAME, 0);
    assert_int_equal(f->len, LEN);
    assert_memory_equal(f->data, payload, LEN);
    /* and a second frame after it still splits correctly */
    fill_pattern(payload, LEN, 9);
    n = put_frame(buf, 0, payload, LEN);
    write_all(fd, buf, 3);
    fake_host_run(fh, 5);
    write_all(fd, buf + 3, n - 3);
    assert_true(wait_events(fh, FAKE_EV_FRAME, 2));
    f = fake_host_event(fh, FAKE_EV_FRAME, 1);
    assert_int_equal(f->len, LEN);
    assert_memory_equal(f->data, payload, LEN);
    assert_int_equal(fake_host_count(fh, FAKE_EV_WORD, c), 1);
    close(fd);
    stop_nio(&t);
}

static void answer_word(struct fake_host *fh, struct corral_cnxn *c, uint32_t word)
{
    struct nio_test *t = fh->user;
    (void)word;
    struct iovec iov = {"imok", 4};
    assert_int_equal(t->ops->send(t->self, c, &iov, 1), 4);
    t->ops->close(t->self, c, CORRAL_CLOSE_NORMAL);
}

static void a_four_letter_word_is_answered_then_closed(void **state)
{
    struct fake_host *fh = *state;
    struct nio_test t = {0};
    int port = start_nio(fh, &t, "");
    fh->word_answer = true;
    fh->on_word = answer_word;
    struct corral_cnxn *c;
    int fd = connect_open(fh, port, 0, &c);
    write_all(fd, "ruok", 4);
    uint8_t buf[64];
    ssize_t n = read_until_eof(fh, fd, buf, sizeof buf);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "imok", 4);
    assert_int_equal(fake_host_event(fh, FAKE_EV_WORD, 0)->word, 0x72756f6bu);
    assert_true(wait_events(fh, FAKE_EV_CLOSED, 1));
    assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, NULL), 0);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, c), 1);
    close(fd);
    stop_nio(&t);
}

/* Sends `first` (a whole frame, may be empty) then a bare length header, and expects the
 * connection closed with a log line naming the length. */
static void expect_closed_for_length(struct fake_host *fh, int port, int32_t bad_len,
                                     size_t frames_before)
{
    struct corral_cnxn *c;
    int fd = connect_open(fh, port, 0, &c);
    uint8_t buf[2048];
    size_t n = 0;
    uint8_t payload[1024];
    fill_pattern(payload, sizeof payload, 3);
    for (size_t i = 0; i < frames_before; i++)
        n = put_frame(buf, n, payload, sizeof payload); /* exactly the limit is fine */
    put_be32(buf + n, (uint32_t)bad_len);
    n += 4;
    write_all(fd, buf, n);
    size_t closed = fake_host_count(fh, FAKE_EV_CLOSED, NULL);
    assert_int_equal(read_until_eof(fh, fd, buf, sizeof buf), 0);
    assert_true(wait_events(fh, FAKE_EV_CLOSED, closed + 1));
    assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, c), frames_before);
    char what[64];
    snprintf(what, sizeof what, "frame of %" PRId32 " bytes", bad_len);
    if (fake_host_find_log(fh, what) == NULL)
        fail_msg("no log line contains \"%s\"", what);
    close(fd);
}

static void an_oversized_frame_closes_the_connection(void **state)
{
    struct fake_host *fh = *state;
    struct nio_test t = {0};
    int port = start_nio(fh, &t, "");
    fh->max_frame_bytes = 1024;
    expect_closed_for_length(fh, port, 1025, 1);
    assert_non_null(fake_host_find_log(fh, "1024"));
    expect_closed_for_length(fh, port, 1025, 0); /* as the very first frame, too */
    stop_nio(&t);
}

static void a_negative_length_closes_the_connection(void **state)
{
    struct fake_host *fh = *state;
    struct nio_test t = {0};
    int port = start_nio(fh, &t, "");
    fh->max_frame_bytes = 1024;
    expect_closed_for_length(fh, port, -1, 0);
    expect_closed_for_length(fh, port, INT32_MIN, 1);
    stop_nio(&t);
}

static void refusing_in_cnxn_opened_closes_without_a_byte(void **state)
{
    struct fake_host *fh = *state;
    struct nio_test t = {0};
    int port = start_nio(fh, &t, "");
    fh->opened_result = -ECONNREFUSED;
    int fd = connect_to(port, 0);
    assert_true(wait_events(fh, FAKE_EV_OPENED, 1));
    uint8_t buf[16];
    assert_int_equal(read_until_eof(fh, fd, buf, sizeof buf), 0);
    fake_host_run(fh, 20);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, NULL), 0); /* refused: no closed */
    assert_int_equal(fake_host_open_count(fh), 0);
    close(fd);
    stop_nio(&t);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, NULL), 0);
}

static void an_injected_refusal_refuses_only_that_connection(void **state)
{
    struct fake_host *fh = *state;
    struct nio_test t = {0};
    int port = start_nio(fh, &t, "");
    fake_host_inject(fh, FAKE_SLOT_CNXN_OPENED, 2, -EMFILE, false);
    struct corral_cnxn *c1, *c3;
    int fd1 = connect_open(fh, port, 0, &c1);
    int fd2 = connect_to(port, 0);
    assert_true(wait_events(fh, FAKE_EV_OPENED, 2));
    uint8_t buf[16];
    assert_int_equal(read_until_eof(fh, fd2, buf, sizeof buf), 0);
    int fd3 = connect_open(fh, port, 0, &c3);
    assert_int_equal(fake_host_open_count(fh), 2);
    assert_true(fake_host_open_cnxn(fh, 0) == c1);
    assert_true(fake_host_open_cnxn(fh, 1) == c3);
    close(fd1), close(fd2), close(fd3);
    stop_nio(&t);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, NULL), 2);
}

static void close_inside_cnxn_frame_flushes_what_was_sent_first(void **state)
{
    struct fake_host *fh = *state;
    struct nio_test t = {.reply_bytes = 300000, .close_in_frame = true};
    int port = start_nio(fh, &t, "");
    fh->on_frame = frame_hook;
    struct corral_cnxn *c;
    int fd = connect_open(fh, port, 0, &c);
    uint8_t req[32];
    size_t n = put_frame(req, 0, "one", 3);
    n = put_frame(req, n, "two", 3); /* arrives with the first; must not be delivered */
    write_all(fd, req, n);
    uint8_t *got = malloc(t.reply_bytes + 1), *want = malloc(t.reply_bytes);
    assert_non_null(got);
    assert_non_null(want);
    fill_pattern(want, t.reply_bytes, 0);
    ssize_t len = read_until_eof(fh, fd, got, t.reply_bytes + 1);
    assert_int_equal(len, (ssize_t)t.reply_bytes);
    assert_memory_equal(got, want, t.reply_bytes);
    free(got);
    free(want);
    assert_int_equal(t.send_after_close, -EPIPE);
    assert_true(wait_events(fh, FAKE_EV_CLOSED, 1));
    assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, c), 1);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, c), 1);
    close(fd);
    stop_nio(&t);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, NULL), 1);
}

static void set_reading_pauses_and_resumes_frame_delivery(void **state)
{
    struct fake_host *fh = *state;
    struct nio_test t = {.pause_in_frame = true};
    int port = start_nio(fh, &t, "");
    fh->on_frame = frame_hook;
    struct corral_cnxn *c;
    int fd = connect_open(fh, port, 0, &c);
    uint8_t req[64];
    size_t n = put_frame(req, 0, "a", 1);
    n = put_frame(req, n, "bb", 2);
    n = put_frame(req, n, "ccc", 3);
    write_all(fd, req, n);
    assert_true(wait_events(fh, FAKE_EV_FRAME, 1));
    fake_host_run(fh, 50);
    assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, c), 1); /* paused inside the upcall */

    /* resumed from outside an upcall: the frames already buffered come without new input */
    t.pause_in_frame = false;
    t.ops->set_reading(t.self, c, true);
    assert_true(wait_events(fh, FAKE_EV_FRAME, 3));
    assert_memory_equal(fake_host_event(fh, FAKE_EV_FRAME, 1)->data, "bb", 2);
    assert_memory_equal(fake_host_event(fh, FAKE_EV_FRAME, 2)->data, "ccc", 3);

    /* paused from outside an upcall: bytes that arrive later wait in the socket */
    t.ops->set_reading(t.self, c, false);
    t.ops->set_reading(t.self, c, false); /* idempotent */
    n = put_frame(req, 0, "dddd", 4);
    write_all(fd, req, n);
    fake_host_run(fh, 50);
    assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, c), 3);
    t.ops->set_reading(t.self, c, true);
    assert_true(wait_events(fh, FAKE_EV_FRAME, 4));
    assert_memory_equal(fake_host_event(fh, FAKE_EV_FRAME, 3)->data, "dddd", 4);
    close(fd);
    stop_nio(&t);
}

/* Bytes a non-reading client and the kernel can soak up are far below this. */
#define FLOOD_BYTES (24u << 20)

static void flood(struct nio_test *t, struct corral_cnxn *c, size_t total)
{
    static uint8_t chunk[1 << 16];
    for (size_t sent = 0; sent < total; sent += sizeof chunk) {
        struct iovec iov = {chunk, sizeof chunk};
        assert_int_equal(t->ops->send(t->self, c, &iov, 1), (int)sizeof chunk);
    }
}

static void a_client_that_does_not_read_stops_frame_delivery(void **state)
{
    struct fake_host *fh = *state;
    struct nio_test t = {0};
    int port = start_nio(fh, &t, "max_queued_bytes = 65536;");
    struct corral_cnxn *c;
    int fd = connect_open(fh, port, 4096, &c);
    assert_int_equal(t.ops->queued_bytes(t.self, c), 0);
    flood(&t, c, FLOOD_BYTES);
    assert_int_equal(t.ops->queued_bytes(t.self, c), FLOOD_BYTES);
    fake_host_run(fh, 100);
    size_t queued = t.ops->queued_bytes(t.self, c);
    assert_true(queued > 65536); /* the kernel took some; the rest waits for the client */
    assert_true(queued < FLOOD_BYTES);

    uint8_t req[16];
    size_t n = put_frame(req, 0, "req", 3);
    write_all(fd, req, n);
    fake_host_run(fh, 100);
    assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, c), 0);

    assert_int_equal(drain(fh, fd, FLOOD_BYTES), FLOOD_BYTES);
    assert_true(wait_events(fh, FAKE_EV_FRAME, 1));
    assert_memory_equal(fake_host_event(fh, FAKE_EV_FRAME, 0)->data, "req", 3);
    assert_int_equal(t.ops->queued_bytes(t.self, c), 0);
    close(fd);
    stop_nio(&t);
}

static void flood_hook(struct fake_host *fh, struct corral_cnxn *c, const uint8_t *frame,
                       size_t len)
{
    (void)frame, (void)len;
    if (fake_host_count(fh, FAKE_EV_FRAME, c) == 1)
        flood(fh->user, c, FLOOD_BYTES);
}

/* The same bound holds for frames that were already read into the plugin's buffer. */
static void back_pressure_also_holds_frames_already_buffered(void **state)
{
    struct fake_host *fh = *state;
    struct nio_test t = {0};
    int port = start_nio(fh, &t, "max_queued_bytes = 65536;");
    fh->on_frame = flood_hook;
    struct corral_cnxn *c;
    int fd = connect_open(fh, port, 4096, &c);
    uint8_t req[32];
    size_t n = put_frame(req, 0, "one", 3);
    n = put_frame(req, n, "two", 3);
    write_all(fd, req, n);
    assert_true(wait_events(fh, FAKE_EV_FRAME, 1));
    fake_host_run(fh, 100);
    assert_true(t.ops->queued_bytes(t.self, c) > 65536);
    assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, c), 1);
    assert_int_equal(drain(fh, fd, FLOOD_BYTES), FLOOD_BYTES);
    assert_true(wait_events(fh, FAKE_EV_FRAME, 2));
    assert_memory_equal(fake_host_event(fh, FAKE_EV_FRAME, 1)->data, "two", 3);
    close(fd);
    stop_nio(&t);
}

static void peer_eof_calls_cnxn_closed_exactly_once(void **state)
{
    struct fake_host *fh = *state;
    struct nio_test t = {0};
    int port = start_nio(fh, &t, "");
    struct corral_cnxn *c;
    int fd = connect_open(fh, port, 0, &c);
    uint8_t req[16];
    write_all(fd, req, put_frame(req, 0, "bye", 3));
    close(fd);
    assert_true(wait_events(fh, FAKE_EV_CLOSED, 1));
    assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, c), 1); /* what came before EOF */
    fake_host_run(fh, 50);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, c), 1);
    stop_nio(&t);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, NULL), 1);
}

/* "echo ruok | nc": the client half-closes, and still gets everything sent to it. */
static void a_half_closed_peer_still_gets_the_answer(void **state)
{
    struct fake_host *fh = *state;
    struct nio_test t = {.reply_bytes = 200000};
    int port = start_nio(fh, &t, "");
    fh->on_frame = frame_hook;
    struct corral_cnxn *c;
    int fd = connect_open(fh, port, 0, &c);
    uint8_t req[16];
    write_all(fd, req, put_frame(req, 0, "q", 1));
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    uint8_t *got = malloc(t.reply_bytes + 1);
    assert_non_null(got);
    assert_int_equal(read_until_eof(fh, fd, got, t.reply_bytes + 1), (ssize_t)t.reply_bytes);
    free(got);
    assert_true(wait_events(fh, FAKE_EV_CLOSED, 1));
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, c), 1);
    close(fd);
    stop_nio(&t);
}

static void stop_closes_every_connection(void **state)
{
    struct fake_host *fh = *state;
    struct nio_test t = {0};
    int port = start_nio(fh, &t, "");
    int fds[3];
    struct corral_cnxn *cs[3];
    for (int i = 0; i < 3; i++)
        fds[i] = connect_open(fh, port, 0, &cs[i]);
    assert_int_equal(fake_host_open_count(fh), 3);
    t.ops->stop(t.self);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, NULL), 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, cs[i]), 1);
    assert_int_equal(fake_host_open_count(fh), 0);
    uint8_t buf[8];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(read_until_eof(fh, fds[i], buf, sizeof buf), 0);
        close(fds[i]);
    }
    /* the listener is gone too */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), -1);
    assert_int_equal(errno, ECONNREFUSED);
    close(fd);
    t.ops->stop(t.self);
    fake_host_run(fh, 20);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, NULL), 3);
    t.ops->destroy(t.self);
}

/* One .so backs several listeners, so nothing may live at file scope. */
static void two_instances_are_independent(void **state)
{
    struct fake_host *fh = *state;
    struct nio_test a = {0}, b = {0};
    int port_a = start_nio(fh, &a, "");
    int port_b = start_nio(fh, &b, "");
    assert_true(a.self != b.self);
    struct corral_cnxn *ca, *cb;
    int fda = connect_open(fh, port_a, 0, &ca);
    int fdb = connect_open(fh, port_b, 0, &cb);
    a.ops->stop(a.self);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, ca), 1);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, cb), 0);
    uint8_t req[16];
    write_all(fdb, req, put_frame(req, 0, "still", 5));
    assert_true(wait_events(fh, FAKE_EV_FRAME, 1));
    assert_true(fake_host_event(fh, FAKE_EV_FRAME, 0)->c == cb);
    a.ops->destroy(a.self);
    close(fda), close(fdb);
    stop_nio(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fake_host_setup, fake_host_teardown)
        T(a_taken_port_fails_start_and_stop_stays_safe),
        T(stop_and_destroy_without_start_are_safe),
        T(create_reads_every_key_it_knows_and_no_other),
        T(bad_config_values_fail_create_naming_the_key),
        T(every_getter_failure_fails_create_cleanly),
        T(peer_fields_are_filled_when_opened),
        T(several_frames_in_one_write_arrive_whole_and_in_order),
        T(one_frame_split_over_many_writes_arrives_whole),
        T(a_four_letter_word_is_answered_then_closed),
        T(an_oversized_frame_closes_the_connection),
        T(a_negative_length_closes_the_connection),
        T(refusing_in_cnxn_opened_closes_without_a_byte),
        T(an_injected_refusal_refuses_only_that_connection),
        T(close_inside_cnxn_frame_flushes_what_was_sent_first),
        T(set_reading_pauses_and_resumes_frame_delivery),
        T(a_client_that_does_not_read_stops_frame_delivery),
        T(back_pressure_also_holds_frames_already_buffered),
        T(peer_eof_calls_cnxn_closed_exactly_once),
        T(a_half_closed_peer_still_gets_the_answer),
        T(stop_closes_every_connection),
        T(two_instances_are_independent),
#undef T
    };
    return cmocka_run_group_tests_name("cnxn-nio", tests, NULL, NULL);
}
