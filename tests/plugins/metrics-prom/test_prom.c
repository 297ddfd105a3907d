/* metrics-prom against the fake host, scraped over real loopback HTTP. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
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
#include <event2/buffer.h>

#include <corral/metrics.h>
#include <corral/plugin.h>

#include "fake_host.h"
#include "prom_format.h"
#include "scrape.h"

struct prom_test {
    const struct corral_metrics_ops *ops;
    void *self;
    int port;
};

static const struct corral_metrics_ops *ops(void)
{
    return corral_plugin.ops.metrics;
}

/* create + start on 127.0.0.1 at a free port; returns the port. */
static int start_prom(struct fake_host *fh, struct prom_test *t)
{
    t->port = scrape_free_port();
    assert_true(t->port > 0);
    fake_host_set_configf(fh, "address = \"127.0.0.1\"; port = %d;", t->port);
    t->ops = ops();
    t->self = NULL;
    assert_int_equal(t->ops->create(&fh->host, fh->ctx, &t->self), 0);
    assert_non_null(t->self);
    assert_int_equal(t->ops->start(t->self), 0);
    return t->port;
}

static void stop_prom(struct prom_test *t)
{
    t->ops->stop(t->self);
    t->ops->destroy(t->self);
    t->self = NULL;
}

static void *define_ok(struct prom_test *t, const char *name, int type, const char *help)
{
    void *h = NULL;
    assert_int_equal(t->ops->define(t->self, name, type, help, &h), 0);
    assert_non_null(h);
    return h;
}

/* GET /metrics, expecting 200; the body, which the caller frees. */
static char *scrape_ok(struct fake_host *fh, const struct prom_test *t)
{
    struct http_reply r;
    assert_int_equal(scrape_get(fh, t->port, "/metrics", &r), 0);
    assert_int_equal(r.status, 200);
    char *body = r.body;
    r.body = NULL;
    scrape_reply_free(&r);
    return body;
}

/* Everything prom_metric_write() appends for m, as a string the caller frees. */
static char *render(struct prom_metric *m, uint64_t now_ms)
{
    struct evbuffer *out = evbuffer_new();
    assert_non_null(out);
    assert_int_equal(prom_metric_write(out, m, now_ms), 0);
    size_t len = evbuffer_get_length(out);
    char *s = malloc(len + 1);
    assert_non_null(s);
    evbuffer_remove(out, s, len);
    s[len] = '\0';
    evbuffer_free(out);
    return s;
}

static size_t open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    size_t n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static double gauge_value(void *arg)
{
    int *calls = arg;
    (*calls)++;
    return 1234;
}

/* config */

static void create_reads_address_and_port_and_no_other_key(void **state)
{
    struct fake_host *fh = *state;
    void *self = NULL;
    fake_host_set_configf(fh, "address = \"127.0.0.1\"; port = 7001; export_jvm_info = true;");
    assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), 0);
    /* The host reports what the plugin did not read: ZooKeeper's exportJvmInfo has no place. */
    assert_string_equal(fake_host_unread_key(fh), "export_jvm_info");
    ops()->destroy(self);

    self = NULL;
    fake_host_set_configf(fh, "%s", "");
    assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), 0);
    assert_null(fake_host_unread_key(fh));
    assert_int_equal(fake_host_count_errors(fh), 0);
    ops()->destroy(self);
}

static void expect_create_fails(struct fake_host *fh, const char *conf, const char *why)
{
    void *self = NULL;
    fake_host_set_configf(fh, "%s", conf);
    assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), -EINVAL);
    assert_null(self);
    if (fake_host_find_error(fh, why) == NULL)
        fail_msg("no error containing \"%s\" for config: %s", why, conf);
}

static void bad_config_values_fail_create_naming_the_key(void **state)
{
    struct fake_host *fh = *state;
    expect_create_fails(fh, "port = 0;", "port: 0 is out of range; expected 1 to 65535");
    expect_create_fails(fh, "port = 65536;", "port: 65536 is out of range; expected 1 to 65535");
    expect_create_fails(fh, "port = \"7000\";", "port: expected an integer from 1 to 65535");
    expect_create_fails(fh, "port = 70.5;", "port: expected an integer");
    expect_create_fails(fh, "address = 127;", "address: expected a string");
    expect_create_fails(fh, "address = [\"127.0.0.1\"];", "address: expected a string");
}

static void every_getter_failure_fails_create_cleanly(void **state)
{
    struct fake_host *fh = *state;
    const enum fake_slot slots[] = {FAKE_SLOT_CONF_STR, FAKE_SLOT_CONF_INT};
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
        void *self = NULL;
        fake_host_set_configf(fh, "port = 7001;");
        fake_host_inject(fh, slots[i], 1, -ENOMEM, false);
        assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), -ENOMEM);
        assert_null(self); /* and ASan sees nothing leaked */
    }
}

/* lifecycle */

static void a_taken_port_fails_start_and_stop_stays_safe(void **state)
{
    struct fake_host *fh = *state;
    int port, holder = scrape_listen(&port);
    assert_true(holder >= 0);
    fake_host_set_configf(fh, "address = \"127.0.0.1\"; port = %d;", port);
    void *self = NULL;
    assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), 0);
    assert_int_equal(ops()->start(self), -EADDRINUSE);
    char want[64];
    snprintf(want, sizeof want, "bind 127.0.0.1:%d: Address already in use", port);
    assert_non_null(fake_host_find_error(fh, want));
    ops()->stop(self);
    ops()->stop(self);
    ops()->destroy(self);
    close(holder);
}

static void an_address_not_on_this_host_fails_start(void **state)
{
    struct fake_host *fh = *state;
    /* TEST-NET-1: numeric, so no resolver is asked, and never a local address. */
    fake_host_set_configf(fh, "address = \"192.0.2.1\"; port = %d;", scrape_free_port());
    void *self = NULL;
    assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), 0);
    assert_int_equal(ops()->start(self), -EADDRNOTAVAIL);
    assert_non_null(fake_host_find_error(fh, "Cannot assign requested address"));
    ops()->stop(self);
    ops()->destroy(self);
}

static void stop_and_destroy_without_start_are_safe(void **state)
{
    struct fake_host *fh = *state;
    void *self = NULL;
    fake_host_set_configf(fh, "port = 7001;");
    assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), 0);
    ops()->stop(self);
    ops()->stop(self);
    ops()->destroy(self);
}

static void start_logs_where_it_serves_and_stop_twice_closes_the_port(void **state)
{
    struct fake_host *fh = *state;
    struct prom_test t;
    int port = start_prom(fh, &t);
    char want[64];
    snprintf(want, sizeof want, "serving /metrics on 127.0.0.1:%d", port);
    assert_non_null(fake_host_find_log(fh, want));
    /* An idle scraper connection: stop must close it too. */
    int idle = scrape_connect(port);
    assert_true(idle >= 0);
    fake_host_run(fh, 20);
    t.ops->stop(t.self);
    t.ops->stop(t.self);
    char c;
    fake_host_run(fh, 20);
    assert_int_equal(recv(idle, &c, 1, MSG_DONTWAIT), 0); /* EOF */
    close(idle);
    assert_int_equal(scrape_connect(port), -1);
    assert_int_equal(errno, ECONNREFUSED);
    t.ops->destroy(t.self);
}

static void destroy_frees_every_metric_and_socket(void **state)
{
    struct fake_host *fh = *state;
    size_t fds = open_fds();
    struct prom_test t;
    start_prom(fh, &t);
    int calls = 0;
    for (int i = 0; i < 100; i++) {
        char name[32];
        snprintf(name, sizeof name, "m%d", i);
        void *h = define_ok(&t, name, 1 + i % 3, "help");
        for (int k = 0; k < 2000; k++) /* summaries fill and rotate their reservoirs */
            t.ops->record(t.self, h, k);
        fake_host_advance_clock(fh, 60 * 1000);
    }
    assert_int_equal(t.ops->gauge(t.self, "g", NULL, gauge_value, &calls), 0);
    free(scrape_ok(fh, &t));
    stop_prom(&t); /* ASan reports anything left behind */
    assert_int_equal(open_fds(), fds);
}

static void a_scrape_larger_than_the_socket_buffers_arrives_whole(void **state)
{
    struct fake_host *fh = *state;
    struct prom_test t;
    start_prom(fh, &t);
    const int n = 5000; /* some 400 KiB of text */
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "gauge_number_%d", i);
        t.ops->record(t.self, define_ok(&t, name, CORRAL_METRIC_GAUGE, NULL), i);
    }
    char *body = scrape_ok(fh, &t);
    size_t lines = 0;
    for (const char *p = body; *p != '\0'; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 3 * (size_t)n);
    assert_non_null(strstr(body, "\ngauge_number_4999 4999.0\n"));
    free(body);
    stop_prom(&t);
}

static void two_instances_are_independent(void **state)
{
    struct fake_host *fh = *state;
    struct prom_test a, b;
    start_prom(fh, &a);
    start_prom(fh, &b);
    a.ops->record(a.self, define_ok(&a, "only_in_a", CORRAL_METRIC_COUNTER, NULL), 1);
    b.ops->record(b.self, define_ok(&b, "only_in_b", CORRAL_METRIC_COUNTER, NULL), 2);
    char *ba = scrape_ok(fh, &a), *bb = scrape_ok(fh, &b);
    assert_non_null(strstr(ba, "only_in_a 1.0\n"));
    assert_null(strstr(ba, "only_in_b"));
    assert_non_null(strstr(bb, "only_in_b 2.0\n"));
    assert_null(strstr(bb, "only_in_a"));
    free(ba);
    free(bb);
    stop_prom(&a);
    stop_prom(&b);
}

/* the scrape */

static void a_scrape_shows_counter_gauge_and_summary_exactly(void **state)
{
    struct fake_host *fh = *state;
    struct prom_test t;
    start_prom(fh, &t);
    void *received = define_ok(&t, "packets_received", CORRAL_METRIC_COUNTER, NULL);
    void *znodes = define_ok(&t, "znode_count", CORRAL_METRIC_GAUGE, "Number of znodes");
    int calls = 0;
    assert_int_equal(t.ops->gauge(t.self, "approximate_data_size", "", gauge_value, &calls), 0);
    void *latency = define_ok(&t, "readlatency", CORRAL_METRIC_SUMMARY, NULL);
    t.ops->record(t.self, received, 4);
    t.ops->record(t.self, received, 6);
    t.ops->record(t.self, znodes, 7);
    t.ops->record(t.self, znodes, 5);
    t.ops->record(t.self, latency, 10);
    t.ops->record(t.self, latency, 10);

    struct http_reply r;
    assert_int_equal(scrape_get(fh, t.port, "/metrics", &r), 0);
    assert_int_equal(r.status, 200);
    char ct[128];
    assert_non_null(scrape_header(&r, "Content-Type", ct, sizeof ct));
    assert_string_equal(ct, "text/plain; version=0.0.4; charset=utf-8");
    assert_string_equal(r.body, "# HELP packets_received packets_received\n"
                                "# TYPE packets_received counter\n"
                                "packets_received 10.0\n"
                                "# HELP znode_count Number of znodes\n"
                                "# TYPE znode_count gauge\n"
                                "znode_count 5.0\n"
                                "# HELP approximate_data_size approximate_data_size\n"
                                "# TYPE approximate_data_size gauge\n"
                                "approximate_data_size 1234.0\n"
                                "# HELP readlatency readlatency\n"
                                "# TYPE readlatency summary\n"
                                "readlatency{quantile=\"0.5\",} 10.0\n"
                                "readlatency{quantile=\"0.9\",} 10.0\n"
                                "readlatency{quantile=\"0.99\",} 10.0\n"
                                "readlatency_count 2.0\n"
                                "readlatency_sum 20.0\n");
    assert_int_equal(calls, 1); /* the gauge is read once per scrape */
    scrape_reply_free(&r);
    stop_prom(&t);
}

static void an_empty_summary_has_nan_quantiles_and_zero_count(void **state)
{
    struct fake_host *fh = *state;
    struct prom_test t;
    start_prom(fh, &t);
    define_ok(&t, "election_time", CORRAL_METRIC_SUMMARY, NULL);
    char *body = scrape_ok(fh, &t);
    assert_string_equal(body, "# HELP election_time election_time\n"
                              "# TYPE election_time summary\n"
                              "election_time{quantile=\"0.5\",} NaN\n"
                              "election_time{quantile=\"0.9\",} NaN\n"
                              "election_time{quantile=\"0.99\",} NaN\n"
                              "election_time_count 0.0\n"
                              "election_time_sum 0.0\n");
    free(body);
    stop_prom(&t);
}

static void metrics_defined_after_start_and_between_scrapes_appear(void **state)
{
    struct fake_host *fh = *state;
    struct prom_test t;
    start_prom(fh, &t);
    char *body = scrape_ok(fh, &t);
    assert_string_equal(body, ""); /* nothing defined yet: an empty, valid exposition */
    free(body);
    void *h = define_ok(&t, "outstanding_requests", CORRAL_METRIC_GAUGE, NULL);
    t.ops->record(t.self, h, 3);
    body = scrape_ok(fh, &t);
    assert_non_null(strstr(body, "\noutstanding_requests 3.0\n"));
    free(body);
    t.ops->record(t.self, h, 0);
    void *c = define_ok(&t, "bytes_received_count", CORRAL_METRIC_COUNTER, NULL);
    t.ops->record(t.self, c, 512);
    body = scrape_ok(fh, &t);
    assert_non_null(strstr(body, "\noutstanding_requests 0.0\n"));
    assert_non_null(strstr(body, "\nbytes_received_count 512.0\n"));
    free(body);
    stop_prom(&t);
}

static void bad_values_are_ignored_and_warned_once(void **state)
{
    struct fake_host *fh = *state;
    struct prom_test t;
    start_prom(fh, &t);
    void *c = define_ok(&t, "packets_sent", CORRAL_METRIC_COUNTER, NULL);
    void *s = define_ok(&t, "updatelatency", CORRAL_METRIC_SUMMARY, NULL);
    void *g = define_ok(&t, "watch_count", CORRAL_METRIC_GAUGE, NULL);
    t.ops->record(t.self, c, 5);
    t.ops->record(t.self, c, -3);
    t.ops->record(t.self, c, -4);
    t.ops->record(t.self, c, NAN);
    t.ops->record(t.self, c, INFINITY);
    t.ops->record(t.self, s, NAN);
    t.ops->record(t.self, g, -2.5); /* a gauge may go anywhere */
    t.ops->record(t.self, NULL, 1); /* the handle of a define that failed */
    char *body = scrape_ok(fh, &t);
    assert_non_null(strstr(body, "\npackets_sent 5.0\n"));
    assert_non_null(strstr(body, "\nupdatelatency_count 0.0\n"));
    assert_non_null(strstr(body, "\nwatch_count -2.5\n"));
    free(body);
    assert_non_null(fake_host_find_log(fh, "packets_sent counter: ignoring the value -3; a "
                                           "counter only goes up"));
    assert_null(fake_host_find_log(fh, "ignoring the value -4"));
    assert_non_null(fake_host_find_log(fh, "updatelatency summary: ignoring the value nan"));
    stop_prom(&t);
}

static void define_checks_names_types_and_clashes(void **state)
{
    struct fake_host *fh = *state;
    struct prom_test t;
    start_prom(fh, &t);
    void *h = NULL;
    const char *bad[] = {"", "9lives", "a-b", "a b", "zk.latency", "é"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(t.ops->define(t.self, bad[i], CORRAL_METRIC_COUNTER, NULL, &h), -EINVAL);
        assert_null(h);
    }
    assert_non_null(fake_host_find_error(fh, "metric \"a-b\": not a Prometheus name"));
    assert_int_equal(t.ops->define(t.self, "ok", 0, NULL, &h), -EINVAL);
    assert_int_equal(t.ops->define(t.self, "ok", 4, NULL, &h), -EINVAL);
    assert_non_null(fake_host_find_error(fh, "metric ok: unknown metric type 4"));
    assert_null(h);

    /* The same name and kind is the same metric, as ZooKeeper's getCounter answers. */
    void *a = define_ok(&t, "_ok:name_1", CORRAL_METRIC_COUNTER, NULL);
    assert_ptr_equal(define_ok(&t, "_ok:name_1", CORRAL_METRIC_COUNTER, "other help"), a);
    assert_int_equal(t.ops->define(t.self, "_ok:name_1", CORRAL_METRIC_GAUGE, NULL, &h), -EEXIST);
    assert_non_null(fake_host_find_error(fh, "metric _ok:name_1: clashes with the counter"));
    /* A summary's _count and _sum lines are names too. */
    define_ok(&t, "fsynctime", CORRAL_METRIC_SUMMARY, NULL);
    assert_int_equal(t.ops->define(t.self, "fsynctime_count", CORRAL_METRIC_GAUGE, NULL, &h),
                     -EEXIST);
    define_ok(&t, "snap_sum", CORRAL_METRIC_COUNTER, NULL);
    assert_int_equal(t.ops->define(t.self, "snap", CORRAL_METRIC_SUMMARY, NULL, &h), -EEXIST);
    assert_null(h);
    int calls = 0;
    assert_int_equal(t.ops->gauge(t.self, "fsynctime", NULL, gauge_value, &calls), -EEXIST);
    assert_int_equal(t.ops->gauge(t.self, "g", NULL, NULL, NULL), -EINVAL);
    stop_prom(&t);
}

static double other_value(void *arg)
{
    (void)arg;
    return -89;
}

static void registering_a_gauge_again_replaces_its_function(void **state)
{
    struct fake_host *fh = *state;
    struct prom_test t;
    start_prom(fh, &t);
    int calls = 0;
    assert_int_equal(t.ops->gauge(t.self, "gg", NULL, gauge_value, &calls), 0);
    char *body = scrape_ok(fh, &t);
    assert_non_null(strstr(body, "\ngg 1234.0\n"));
    free(body);
    assert_int_equal(t.ops->gauge(t.self, "gg", NULL, other_value, NULL), 0);
    body = scrape_ok(fh, &t);
    assert_non_null(strstr(body, "\ngg -89.0\n"));
    assert_null(strstr(body, "1234"));
    free(body);
    assert_int_equal(calls, 1);
    stop_prom(&t);
}

static void help_text_is_escaped(void **state)
{
    struct fake_host *fh = *state;
    struct prom_test t;
    start_prom(fh, &t);
    define_ok(&t, "odd_help", CORRAL_METRIC_GAUGE, "back\\slash \"quoted\"\nsecond line");
    char *body = scrape_ok(fh, &t);
    /* In help only backslash and newline are escaped; quotes stay. */
    assert_string_equal(body, "# HELP odd_help back\\\\slash \"quoted\"\\nsecond line\n"
                              "# TYPE odd_help gauge\n"
                              "odd_help 0.0\n");
    free(body);
    stop_prom(&t);
}

/* HTTP */

static void other_paths_are_404_and_other_methods_405(void **state)
{
    struct fake_host *fh = *state;
    struct prom_test t;
    start_prom(fh, &t);
    define_ok(&t, "packets_received", CORRAL_METRIC_COUNTER, NULL);
    const char *missing[] = {"/", "/metrics/", "/metricsx", "/other", "/metrics/x"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        struct http_reply r;
        assert_int_equal(scrape_get(fh, t.port, missing[i], &r), 0);
        assert_int_equal(r.status, 404);
        scrape_reply_free(&r);
    }
    const char *methods[] = {"POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH"};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        char req[256];
        snprintf(req, sizeof req,
                 "%s /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                 "Connection: close\r\n\r\n",
                 methods[i]);
        struct http_reply r;
        assert_int_equal(scrape_request(fh, t.port, req, 5000, &r), 0);
        assert_int_equal(r.status, 405);
        char allow[64];
        assert_non_null(scrape_header(&r, "Allow", allow, sizeof allow));
        assert_string_equal(allow, "GET, HEAD");
        assert_null(strstr(r.body, "packets_received"));
        scrape_reply_free(&r);
    }
    /* A query string is ignored, as ZooKeeper's servlet mapping ignores it. */
    char *body = NULL;
    struct http_reply r;
    assert_int_equal(scrape_get(fh, t.port, "/metrics?name[]=x", &r), 0);
    assert_int_equal(r.status, 200);
    body = r.body;
    assert_non_null(strstr(body, "packets_received 0.0"));
    scrape_reply_free(&r);
    stop_prom(&t);
}

static void head_answers_headers_only(void **state)
{
    struct fake_host *fh = *state;
    struct prom_test t;
    start_prom(fh, &t);
    define_ok(&t, "packets_received", CORRAL_METRIC_COUNTER, NULL);
    struct http_reply r;
    assert_int_equal(
        scrape_request(fh, t.port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                       5000, &r),
        0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    char len[32];
    assert_non_null(scrape_header(&r, "Content-Length", len, sizeof len));
    char *body = scrape_ok(fh, &t);
    assert_int_equal(strtoul(len, NULL, 10), strlen(body)); /* what GET would send */
    free(body);
    scrape_reply_free(&r);
    assert_int_equal(scrape_request(fh, t.port,
                                    "HEAD /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                    5000, &r),
                     0);
    assert_int_equal(r.status, 404);
    assert_int_equal(r.body_len, 0);
    scrape_reply_free(&r);
    stop_prom(&t);
}

static void a_kept_alive_connection_serves_several_scrapes(void **state)
{
    struct fake_host *fh = *state;
    struct prom_test t;
    start_prom(fh, &t);
    define_ok(&t, "packets_received", CORRAL_METRIC_COUNTER, NULL);
    struct http_reply r;
    assert_int_equal(scrape_request(fh, t.port,
                                    "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                                    "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                    5000, &r),
                     0);
    assert_int_equal(r.status, 200);
    const char *second = strstr(r.body, "HTTP/1.1 200 OK\r\n");
    assert_non_null(second);
    assert_non_null(strstr(second, "packets_received 0.0\n"));
    scrape_reply_free(&r);
    stop_prom(&t);
}

static void oversized_headers_are_refused(void **state)
{
    struct fake_host *fh = *state;
    struct prom_test t;
    start_prom(fh, &t);
    size_t len = 64 * 1024;
    char *req = malloc(len + 128);
    assert_non_null(req);
    int n = snprintf(req, 128, "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + n, 'a', len);
    strcpy(req + n + len, "\r\nConnection: close\r\n\r\n");
    struct http_reply r;
    /* libevent answers 400 or just closes; either way no scrape comes back. */
    if (scrape_request(fh, t.port, req, 5000, &r) == 0) {
        assert_true(r.status >= 400);
        scrape_reply_free(&r);
    }
    free(req);
    stop_prom(&t);
}

/* numbers and quantiles, through the formatter directly */

static void numbers_are_written_as_java_writes_them(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {10, "10.0"},
        {-89, "-89.0"},
        {0.5, "0.5"},
        {0.99, "0.99"},
        {1.5, "1.5"},
        {0.1 + 0.2, "0.30000000000000004"},
        {0.001, "0.001"},
        {0.0001, "1.0E-4"},
        {0.00012345, "1.2345E-4"},
        {9999999, "9999999.0"},
        {1e7, "1.0E7"},
        {12345678, "1.2345678E7"},
        {9007199254740992.0, "9.007199254740992E15"},
        {1e300, "1.0E300"},
        {-1.5e-300, "-1.5E-300"},
        {2.2250738585072014e-308, "2.2250738585072014E-308"},
        {1.7976931348623157e308, "1.7976931348623157E308"},
        {123456.789, "123456.789"},
        {NAN, "NaN"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[PROM_DOUBLE_LEN];
        prom_format_double(out, cases[i].v);
        assert_string_equal(out, cases[i].text);
    }
}

static void label_values_and_help_escape_per_the_format(void **state)
{
    (void)state;
    struct evbuffer *out = evbuffer_new();
    assert_non_null(out);
    assert_int_equal(prom_put_escaped(out, "a\"b\\c\nd", true), 0);
    assert_int_equal(evbuffer_add(out, "|", 1), 0);
    assert_int_equal(prom_put_escaped(out, "a\"b\\c\nd", false), 0);
    assert_int_equal(evbuffer_add(out, "|", 1), 0);
    assert_int_equal(prom_put_escaped(out, "", true), 0);
    assert_int_equal(evbuffer_add(out, "", 1), 0);
    assert_string_equal((const char *)evbuffer_pullup(out, -1), "a\\\"b\\\\c\\nd|a\"b\\\\c\\nd|");
    evbuffer_free(out);
}

/* Observes 1..n in a scrambled but fixed order. */
static void observe_1_to_n(struct prom_metric *m, int n, uint64_t now_ms)
{
    for (int i = 0; i < n; i++)
        assert_true(prom_metric_record(m, (double)((i * 7919) % n + 1), now_ms));
}

static void quantiles_are_exact_on_a_known_sample_set(void **state)
{
    (void)state;
    struct prom_metric *m = prom_metric_new("readlatency", CORRAL_METRIC_SUMMARY, NULL);
    assert_non_null(m);
    observe_1_to_n(m, 100, 1000);
    double q[PROM_QUANTILES];
    assert_int_equal(prom_summary_quantiles(m, 1000, q), 0);
    assert_true(q[0] == 50 && q[1] == 90 && q[2] == 99);
    char *text = render(m, 1000);
    assert_string_equal(text, "# HELP readlatency readlatency\n"
                              "# TYPE readlatency summary\n"
                              "readlatency{quantile=\"0.5\",} 50.0\n"
                              "readlatency{quantile=\"0.9\",} 90.0\n"
                              "readlatency{quantile=\"0.99\",} 99.0\n"
                              "readlatency_count 100.0\n"
                              "readlatency_sum 5050.0\n");
    free(text);
    prom_metric_free(m);

    /* One value, and a handful: nearest rank is always an observed value. */
    m = prom_metric_new("s", CORRAL_METRIC_SUMMARY, NULL);
    assert_non_null(m);
    assert_true(prom_metric_record(m, 7.25, 0));
    assert_int_equal(prom_summary_quantiles(m, 0, q), 0);
    assert_true(q[0] == 7.25 && q[1] == 7.25 && q[2] == 7.25);
    const double more[] = {3, -1, 12, 5}; /* with 7.25: -1 3 5 7.25 12 */
    for (size_t i = 0; i < 4; i++)
        assert_true(prom_metric_record(m, more[i], 0));
    assert_int_equal(prom_summary_quantiles(m, 0, q), 0);
    assert_true(q[0] == 5 && q[1] == 12 && q[2] == 12);
    prom_metric_free(m);
}

static void quantiles_cover_the_last_ten_minutes_only(void **state)
{
    (void)state;
    struct prom_metric *m = prom_metric_new("updatelatency", CORRAL_METRIC_SUMMARY, NULL);
    assert_non_null(m);
    const uint64_t min = 60 * 1000, t0 = 1000;
    for (int i = 0; i < 10; i++)
        assert_true(prom_metric_record(m, 1000, t0));
    for (int i = 0; i < 10; i++)
        assert_true(prom_metric_record(m, 1, t0 + 5 * min));
    double q[PROM_QUANTILES];
    assert_int_equal(prom_summary_quantiles(m, t0 + 5 * min, q), 0);
    assert_true(q[0] == 1 && q[1] == 1000 && q[2] == 1000);
    /* Past ten minutes the first ten are gone; count and sum keep everything. */
    assert_int_equal(prom_summary_quantiles(m, t0 + 11 * min, q), 0);
    assert_true(q[0] == 1 && q[1] == 1 && q[2] == 1);
    assert_int_equal(prom_summary_quantiles(m, t0 + 16 * min, q), 0);
    assert_true(isnan(q[0]) && isnan(q[1]) && isnan(q[2]));
    char *text = render(m, t0 + 16 * min);
    assert_non_null(strstr(text, "updatelatency_count 20.0\nupdatelatency_sum 10010.0\n"));
    free(text);
    /* A slice reused after its time is emptied first, not mixed with the old values. */
    assert_true(prom_metric_record(m, 42, t0 + 20 * min));
    assert_int_equal(prom_summary_quantiles(m, t0 + 20 * min, q), 0);
    assert_true(q[0] == 42 && q[2] == 42);
    prom_metric_free(m);
}

static void a_busy_summary_stays_bounded_and_close(void **state)
{
    (void)state;
    struct prom_metric *m = prom_metric_new("propagation_latency", CORRAL_METRIC_SUMMARY, NULL);
    assert_non_null(m);
    const int n = 200000;
    /* Spread over the window, so every age bucket overflows its reservoir. */
    for (int i = 0; i < n; i++)
        assert_true(prom_metric_record(m, (double)((i * 7919) % n + 1),
                                       1000 + (uint64_t)i * PROM_WINDOW_MS / n));
    double q[PROM_QUANTILES];
    assert_int_equal(prom_summary_quantiles(m, 1000 + PROM_WINDOW_MS - 1, q), 0);
    /* Within ZooKeeper's configured CKMS tolerances (5%, 1%, 0.1% of rank) for p50 and p90;
     * p99 from 5 x 512 kept values is looser. */
    assert_true(fabs(q[0] - 0.5 * n) <= 0.05 * n);
    assert_true(fabs(q[1] - 0.9 * n) <= 0.02 * n);
    assert_true(fabs(q[2] - 0.99 * n) <= 0.01 * n);
    assert_int_equal(m->count, (uint64_t)n);
    prom_metric_free(m);
}

int main(void)
{
    /* The fake host's clock stands still unless a test moves it, which the summaries use. */
#define T(fn) cmocka_unit_test_setup_teardown(fn, fake_host_setup, fake_host_teardown)
    const struct CMUnitTest tests[] = {
        T(create_reads_address_and_port_and_no_other_key),
        T(bad_config_values_fail_create_naming_the_key),
        T(every_getter_failure_fails_create_cleanly),
        T(a_taken_port_fails_start_and_stop_stays_safe),
        T(an_address_not_on_this_host_fails_start),
        T(stop_and_destroy_without_start_are_safe),
        T(start_logs_where_it_serves_and_stop_twice_closes_the_port),
        T(destroy_frees_every_metric_and_socket),
        T(a_scrape_larger_than_the_socket_buffers_arrives_whole),
        T(two_instances_are_independent),
        T(a_scrape_shows_counter_gauge_and_summary_exactly),
        T(an_empty_summary_has_nan_quantiles_and_zero_count),
        T(metrics_defined_after_start_and_between_scrapes_appear),
        T(bad_values_are_ignored_and_warned_once),
        T(define_checks_names_types_and_clashes),
        T(registering_a_gauge_again_replaces_its_function),
        T(help_text_is_escaped),
        T(other_paths_are_404_and_other_methods_405),
        T(head_answers_headers_only),
        T(a_kept_alive_connection_serves_several_scrapes),
        T(oversized_headers_are_refused),
        cmocka_unit_test(numbers_are_written_as_java_writes_them),
        cmocka_unit_test(label_values_and_help_escape_per_the_format),
        cmocka_unit_test(quantiles_are_exact_on_a_known_sample_set),
        cmocka_unit_test(quantiles_cover_the_last_ten_minutes_only),
        cmocka_unit_test(a_busy_summary_stays_bounded_and_close),
    };
#undef T
    return cmocka_run_group_tests_name("metrics-prom", tests, NULL, NULL);
}
