/* cnxn-unix against corral's fake host (libcorral-fakehost.a), over real Unix-domain sockets.
 * The test and the plugin share one thread, so the test spins the loop while it waits. */
#define _GNU_SOURCE /* mkdtemp under -std=c17 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <corral/cnxn.h>
#include <corral/fake_host.h>
#include <corral/plugin.h>

#define WAIT_MS 5000

struct t {
    struct fake_host *fh;
    const struct corral_cnxn_ops *ops;
    void *self;
    char dir[64];
    char path[128];
    size_t reply_bytes; /* on_frame sends this many bytes back ... */
    bool close_after;   /* ... and then closes */
    char peer_addr[48]; /* what on_frame saw */
};

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->fh = fake_host_new();
    t->fh->user = t;
    t->ops = corral_plugin.ops.cnxn;
    snprintf(t->dir, sizeof t->dir, "/tmp/cnxn-unix-test.XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/client.sock", t->dir);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;
    unlink(t->path);
    rmdir(t->dir);
    void *fh = t->fh;
    free(t);
    return fake_host_teardown(&fh); /* fails the test if the plugin broke the upcall contract */
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* create + start on t->path; asserts both succeed. */
static void start(struct t *t, const char *extra)
{
    fake_host_set_configf(t->fh, "path = \"%s\"; %s", t->path, extra);
    assert_int_equal(t->ops->create(&t->fh->host, t->fh->ctx, &t->self), 0);
    assert_null(fake_host_unread_key(t->fh));
    assert_int_equal(t->ops->start(t->self), 0);
}

static void stop(struct t *t)
{
    t->ops->stop(t->self);
    t->ops->destroy(t->self);
    t->self = NULL;
}

static int connect_to(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Reads until EOF, spinning the plugin's loop in between; returns the byte count. */
static size_t read_to_eof(struct t *t, int fd, uint8_t *buf, size_t cap)
{
    size_t got = 0;
    for (uint64_t deadline = mono_ms() + WAIT_MS; mono_ms() < deadline;) {
        ssize_t n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
        if (n == 0)
            return got;
        if (n > 0)
            got += (size_t)n;
        else if (errno != EAGAIN)
            fail_msg("recv: %s", strerror(errno));
        else
            fake_host_run(t->fh, 2);
        assert_true(got < cap);
    }
    fail_msg("no EOF within %d ms (%zu bytes read)", WAIT_MS, got);
    return 0;
}

static bool has_events(struct fake_host *fh, void *arg)
{
    const size_t *want = arg; /* {type, count} */
    return fake_host_count(fh, (enum fake_event_type)want[0], NULL) >= want[1];
}

static void wait_for(struct t *t, enum fake_event_type type, size_t count)
{
    size_t want[2] = {type, count};
    assert_true(fake_host_run_until(t->fh, WAIT_MS, has_events, want));
}

static void on_frame_reply(struct fake_host *fh, struct corral_cnxn *c, const uint8_t *frame,
                           size_t len)
{
    struct t *t = fh->user;
    (void)frame, (void)len;
    snprintf(t->peer_addr, sizeof t->peer_addr, "%s", c->peer_addr);
    uint8_t *reply = malloc(t->reply_bytes);
    assert_non_null(reply);
    memset(reply, 'r', t->reply_bytes);
    struct iovec iov = {reply, t->reply_bytes};
    assert_int_equal(t->ops->send(t->self, c, &iov, 1), (int)t->reply_bytes);
    free(reply);
    if (t->close_after)
        t->ops->close(t->self, c, CORRAL_CLOSE_NORMAL);
}

static void on_word_imok(struct fake_host *fh, struct corral_cnxn *c, uint32_t word)
{
    struct t *t = fh->user;
    assert_int_equal(word, 0x72756f6b); /* "ruok" */
    struct iovec iov = {"imok", 4};
    assert_int_equal(t->ops->send(t->self, c, &iov, 1), 4);
    t->ops->close(t->self, c, CORRAL_CLOSE_NORMAL);
}

static void create_refuses_a_bad_path_or_mode(void **state)
{
    struct t *t = *state;
    static const struct {
        const char *config, *error;
    } cases[] = {
        {"mode = \"0600\";", "path: not set; give the socket file's absolute path"},
        {"path = \"run/x.sock\";", "path: \"run/x.sock\" is not absolute"},
        {"path = \"/tmp/x.sock\"; mode = \"0999\";", "mode: \"0999\" is not octal permissions"},
        {"path = \"/tmp/x.sock\"; mode = 660;", "mode: expected a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_host_set_configf(t->fh, "%s", cases[i].config);
        void *self = NULL;
        assert_int_equal(t->ops->create(&t->fh->host, t->fh->ctx, &self), -EINVAL);
        assert_null(self);
        if (fake_host_find_error(t->fh, cases[i].error) == NULL)
            fail_msg("case %zu: no error containing \"%s\"", i, cases[i].error);
    }
}

static void start_listens_with_the_mode_and_stop_removes_the_socket(void **state)
{
    struct t *t = *state;
    start(t, "mode = \"0600\";");
    struct stat st;
    assert_int_equal(lstat(t->path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_non_null(fake_host_find_log(t->fh, "listening on"));
    t->ops->stop(t->self);
    assert_int_equal(lstat(t->path, &st), -1);
    t->ops->stop(t->self); /* idempotent */
    t->ops->destroy(t->self);
}

static void a_frame_reaches_the_host_and_close_flushes_the_reply(void **state)
{
    struct t *t = *state;
    t->reply_bytes = 100;
    t->close_after = true;
    t->fh->on_frame = on_frame_reply;
    start(t, "");
    int fd = connect_to(t->path);
    uint8_t req[] = {0, 0, 0, 3, 'a', 'b', 'c'};
    assert_int_equal(send(fd, req, sizeof req, 0), (ssize_t)sizeof req);
    uint8_t buf[256];
    assert_int_equal(read_to_eof(t, fd, buf, sizeof buf), 100);
    wait_for(t, FAKE_EV_CLOSED, 1);
    const struct fake_event *ev = fake_host_event(t->fh, FAKE_EV_FRAME, 0);
    assert_non_null(ev);
    assert_int_equal(ev->len, 3);
    assert_memory_equal(ev->data, "abc", 3);
    assert_string_equal(t->peer_addr, "127.0.0.1");
    close(fd);
    stop(t);
}

static void a_four_letter_word_is_answered_and_closed(void **state)
{
    struct t *t = *state;
    t->fh->word_answer = true;
    t->fh->on_word = on_word_imok;
    start(t, "");
    int fd = connect_to(t->path);
    assert_int_equal(send(fd, "ruok", 4, 0), 4);
    uint8_t buf[16];
    assert_int_equal(read_to_eof(t, fd, buf, sizeof buf), 4);
    assert_memory_equal(buf, "imok", 4);
    wait_for(t, FAKE_EV_CLOSED, 1);
    assert_int_equal(fake_host_count(t->fh, FAKE_EV_FRAME, NULL), 0);
    close(fd);
    stop(t);
}

static void a_client_that_does_not_read_is_paused_until_it_does(void **state)
{
    struct t *t = *state;
    t->reply_bytes = 4 << 20; /* more than the socket buffers and max_queued_bytes */
    t->fh->on_frame = on_frame_reply;
    start(t, "max_queued_bytes = 65536;");
    int fd = connect_to(t->path);
    uint8_t two[] = {0, 0, 0, 1, 'x', 0, 0, 0, 1, 'y'};
    assert_int_equal(send(fd, two, sizeof two, 0), (ssize_t)sizeof two);
    wait_for(t, FAKE_EV_FRAME, 1);
    fake_host_run(t->fh, 100);
    assert_int_equal(fake_host_count(t->fh, FAKE_EV_FRAME, NULL), 1);
    static uint8_t sink[1 << 16];
    size_t got = 0;
    for (uint64_t deadline = mono_ms() + WAIT_MS; got < t->reply_bytes && mono_ms() < deadline;) {
        ssize_t n = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
        if (n > 0)
            got += (size_t)n;
        fake_host_run(t->fh, 1);
    }
    assert_int_equal(got, t->reply_bytes);
    wait_for(t, FAKE_EV_FRAME, 2);
    close(fd);
    stop(t);
}

static void stop_closes_every_connection(void **state)
{
    struct t *t = *state;
    start(t, "");
    int a = connect_to(t->path), b = connect_to(t->path);
    wait_for(t, FAKE_EV_OPENED, 2);
    t->ops->stop(t->self);
    assert_int_equal(fake_host_count(t->fh, FAKE_EV_CLOSED, NULL), 2);
    uint8_t buf[4]; /* libevent closes a freed bufferevent's socket on the next loop pass */
    assert_int_equal(read_to_eof(t, a, buf, sizeof buf), 0);
    assert_int_equal(read_to_eof(t, b, buf, sizeof buf), 0);
    close(a);
    close(b);
    t->ops->destroy(t->self);
}

static void a_stale_socket_is_replaced_but_a_live_one_is_not(void **state)
{
    struct t *t = *state;
    /* A socket file nobody listens on, as a killed server leaves it. */
    int dead = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", t->path);
    assert_int_equal(bind(dead, (struct sockaddr *)&sa, sizeof sa), 0);
    close(dead);
    start(t, "");
    assert_non_null(fake_host_find_log(t->fh, "removing the stale socket"));

    /* A second instance on the same path finds the first one answering. */
    void *second = NULL;
    fake_host_set_configf(t->fh, "path = \"%s\";", t->path);
    assert_int_equal(t->ops->create(&t->fh->host, t->fh->ctx, &second), 0);
    assert_int_equal(t->ops->start(second), -EADDRINUSE);
    assert_non_null(fake_host_find_error(t->fh, "Address already in use"));
    t->ops->stop(second);
    t->ops->destroy(second);
    int fd = connect_to(t->path); /* the first one's socket is still there */
    close(fd);
    stop(t);
}

static void a_file_that_is_not_a_socket_is_left_alone(void **state)
{
    struct t *t = *state;
    FILE *f = fopen(t->path, "w");
    assert_non_null(f);
    fputs("precious\n", f);
    fclose(f);
    fake_host_set_configf(t->fh, "path = \"%s\";", t->path);
    assert_int_equal(t->ops->create(&t->fh->host, t->fh->ctx, &t->self), 0);
    assert_int_equal(t->ops->start(t->self), -EADDRINUSE);
    t->ops->stop(t->self);
    t->ops->destroy(t->self);
    struct stat st;
    assert_int_equal(stat(t->path, &st), 0);
    assert_int_equal(st.st_size, 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(create_refuses_a_bad_path_or_mode),
        T(start_listens_with_the_mode_and_stop_removes_the_socket),
        T(a_frame_reaches_the_host_and_close_flushes_the_reply),
        T(a_four_letter_word_is_answered_and_closed),
        T(a_client_that_does_not_read_is_paused_until_it_does),
        T(stop_closes_every_connection),
        T(a_stale_socket_is_replaced_but_a_live_one_is_not),
        T(a_file_that_is_not_a_socket_is_left_alone),
#undef T
    };
    return cmocka_run_group_tests_name("cnxn-unix", tests, NULL, NULL);
}
