/* The host table as a plugin sees it (core/host.c): config getters, fail(), the clock, the
 * standalone quorum slots, and metrics through the null or a real provider. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include <corral/election.h>

#include "config.h"
#include "host.h"
#include "log.h"

#ifndef CORRAL_FIXTURES_DIR
#error "CORRAL_FIXTURES_DIR must name the directory of the fixture plugins"
#endif

struct env {
    struct config cfg;
    struct host_env host;
    struct instance null_metrics;
    struct corral_ctx ctx; /* as instance_create sets it up for listeners.[0] */
};

static const struct corral_host *H = &host_table;

static int env_setup(void **state)
{
    struct env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    char err[512];
    static const char text[] = "max_packet_bytes = 4096;\n"
                               "listeners = ( { name = \"client\"; plugin = \"fx-good\";\n"
                               "  port = 2181;\n"
                               "  big = 5000000000L;\n"
                               "  address = \"::1\";\n"
                               "  tls = true;\n"
                               "  ratio = 0.5;\n"
                               "} );\n";
    if (config_load_string(&e->cfg, "h.conf", text, err, sizeof err) != 0)
        fail_msg("%s", err);
    e->host.base = event_base_new();
    e->host.cfg = &e->cfg;
    e->host.plugin_dir = CORRAL_FIXTURES_DIR;
    instance_init_null_metrics(&e->null_metrics, &e->host);
    e->host.metrics = &e->null_metrics;
    e->ctx.env = &e->host;
    e->ctx.conf = &e->cfg.listeners[0];
    snprintf(e->ctx.component, sizeof e->ctx.component, "fx-good[client]");
    *state = e;
    return 0;
}

static int env_teardown(void **state)
{
    struct env *e = *state;
    instance_destroy(&e->null_metrics);
    event_base_free(e->host.base);
    config_free(&e->cfg);
    free(e);
    return 0;
}

static void conf_int_reads_checks_and_defaults(void **state)
{
    struct env *e = *state;
    int64_t v = -7;
    assert_int_equal(H->conf_int(&e->ctx, "port", 1, 65535, 9, &v), 0);
    assert_int_equal(v, 2181);
    assert_int_equal(H->conf_int(&e->ctx, "big", 0, INT64_MAX, 0, &v), 0);
    assert_true(v == 5000000000LL);
    assert_int_equal(H->conf_int(&e->ctx, "missing", 1, 10, 9, &v), 0);
    assert_int_equal(v, 9);
    assert_string_equal(e->ctx.fail_msg, "");

    v = -7;
    assert_int_equal(H->conf_int(&e->ctx, "port", 1, 1024, 9, &v), -EINVAL);
    assert_int_equal(v, -7); /* out-parameters are written only on success */
    assert_string_equal(e->ctx.fail_msg, "port: 2181 is out of range; expected 1 to 1024");
    assert_int_equal(e->ctx.fail_line, 3);
    assert_int_equal(H->conf_int(&e->ctx, "address", 1, 1024, 9, &v), -EINVAL);
    assert_string_equal(e->ctx.fail_msg, "address: expected an integer from 1 to 1024");
    assert_int_equal(e->ctx.fail_line, 5);
    assert_int_equal(H->conf_int(&e->ctx, "ratio", 0, 1, 0, &v), -EINVAL);
    assert_int_equal(v, -7);
}

static void conf_str_and_conf_bool_check_types(void **state)
{
    struct env *e = *state;
    const char *s = "unset";
    assert_int_equal(H->conf_str(&e->ctx, "address", "0.0.0.0", &s), 0);
    assert_string_equal(s, "::1");
    assert_int_equal(H->conf_str(&e->ctx, "missing", "0.0.0.0", &s), 0);
    assert_string_equal(s, "0.0.0.0");
    s = "unset";
    assert_int_equal(H->conf_str(&e->ctx, "port", "x", &s), -EINVAL);
    assert_string_equal(s, "unset");
    assert_string_equal(e->ctx.fail_msg, "port: expected a string");

    bool b = false;
    assert_int_equal(H->conf_bool(&e->ctx, "tls", false, &b), 0);
    assert_true(b);
    assert_int_equal(H->conf_bool(&e->ctx, "missing", true, &b), 0);
    assert_true(b);
    b = false;
    assert_int_equal(H->conf_bool(&e->ctx, "port", true, &b), -EINVAL);
    assert_false(b);
    assert_string_equal(e->ctx.fail_msg, "port: expected true or false");
    assert_int_equal(e->ctx.fail_line, 3);
}

static void getters_remember_what_was_read(void **state)
{
    struct env *e = *state;
    int64_t v;
    const char *s;
    assert_int_equal(e->ctx.n_keys_read, 0);
    H->conf_int(&e->ctx, "port", 1, 65535, 1, &v);
    H->conf_str(&e->ctx, "address", "", &s);
    H->conf_str(&e->ctx, "nothere", "", &s); /* a missing key is nothing to remember */
    assert_int_equal(e->ctx.n_keys_read, 2);
    assert_string_equal(e->ctx.keys_read[0], "port");
    assert_string_equal(e->ctx.keys_read[1], "address");
}

static void fail_records_the_message_and_returns_a_negative_errno(void **state)
{
    struct env *e = *state;
    /* (H->fail) keeps cmocka's fail() macro from expanding */
    assert_int_equal((H->fail)(&e->ctx, -EADDRINUSE, "bind %s:%d: %s", "127.0.0.1", 2181,
                               "Address already in use"),
                     -EADDRINUSE);
    assert_string_equal(e->ctx.fail_msg, "bind 127.0.0.1:2181: Address already in use");
    /* a plugin that passes a positive or zero code still fails */
    assert_int_equal((H->fail)(&e->ctx, EIO, "x"), -EINVAL);
    assert_int_equal((H->fail)(&e->ctx, 0, "y"), -EINVAL);
    assert_string_equal(e->ctx.fail_msg, "y");
}

static void loop_clock_and_frame_limit(void **state)
{
    struct env *e = *state;
    assert_ptr_equal(H->loop(&e->ctx), e->host.base);
    assert_int_equal(H->max_frame_bytes(&e->ctx), 4096);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t mono = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    uint64_t a = H->now_ms(&e->ctx);
    uint64_t b = H->now_ms(&e->ctx);
    assert_true(b >= a);
    assert_true(a >= mono && a - mono < 1000);
}

static void log_prints_one_line_with_the_component(void **state)
{
    struct env *e = *state;
    char path[] = "/tmp/corral-test-host-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    int level = log_level();
    log_set_level(CORRAL_LOG_INFO);
    H->log(&e->ctx, CORRAL_LOG_INFO, "listening on %s:%d", "127.0.0.1", 2181);
    H->log(&e->ctx, CORRAL_LOG_DEBUG, "not shown at info");
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    log_set_level(level);
    char buf[512] = "";
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    assert_true(n > 0);
    buf[n] = '\0';
    const char *want = " INFO fx-good[client]: listening on 127.0.0.1:2181\n";
    assert_non_null(strstr(buf, want));
    assert_string_equal(strstr(buf, want) + strlen(want), ""); /* nothing after it */
    assert_null(strstr(buf, "not shown"));
}

static void standalone_has_no_peers(void **state)
{
    struct env *e = *state;
    uint8_t msg[4] = {0};
    assert_int_equal(H->peer_send(&e->ctx, 2, msg, sizeof msg), -ENOTCONN);
    assert_string_equal(e->ctx.fail_msg, "standalone mode has no peers");
    struct corral_vote v = {.leader_sid = 1};
    assert_int_equal(H->election_decided(&e->ctx, &v), -ENOTCONN);
    assert_string_equal(e->ctx.fail_msg, "standalone mode holds no elections");
}

static void the_null_metrics_provider_takes_everything(void **state)
{
    struct env *e = *state;
    const struct instance *m = e->host.metrics;
    assert_string_equal(m->lib.desc->name, "null-metrics");
    assert_string_equal(m->lib.path, "(built in)");
    assert_non_null(m->self);
    void *h = host_metric_define(&e->host, "packets_received", CORRAL_METRIC_COUNTER, "help");
    host_metric_record(&e->host, h, 1);
    host_metric_gauge(&e->host, "znode_count", "help", NULL, NULL);
    /* plugin metrics go through it too */
    uint32_t handle = 999;
    assert_int_equal(
        H->metric_define(&e->ctx, "tls_handshake_failures", CORRAL_METRIC_COUNTER, "help", &handle),
        0);
    assert_true(handle != 999);
    H->metric_record(&e->ctx, handle, 1);
    H->metric_record(&e->ctx, 100000, 1); /* a handle never given is ignored */
    /* and it runs the lifecycle like any instance */
    char err[256];
    assert_int_equal(instance_start(&e->null_metrics, err, sizeof err), 0);
    instance_stop(&e->null_metrics);
}

static void an_unknown_metric_type_is_refused(void **state)
{
    struct env *e = *state;
    uint32_t handle = 999;
    assert_int_equal(H->metric_define(&e->ctx, "x", 9, "help", &handle), -EINVAL);
    assert_int_equal(handle, 999);
    assert_string_equal(e->ctx.fail_msg, "metric x: unknown metric type 9");
}

static void metrics_reach_a_configured_provider(void **state)
{
    struct env *e = *state;
    struct config cfg;
    char err[512];
    assert_int_equal(config_load_string(&cfg, "m.conf",
                                        "listeners = ( { plugin = \"fx-good\"; } );\n"
                                        "metrics = { plugin = \"fx-metrics\"; };\n",
                                        err, sizeof err),
                     0);
    struct instance prov;
    assert_int_equal(
        instance_create(&prov, &e->host, &cfg.metrics, CORRAL_KIND_METRICS, err, sizeof err), 0);
    assert_string_equal(prov.ctx.component, "fx-metrics[metrics]");
    e->host.metrics = &prov;
    /* fx-metrics hands out a pointer to a counter it keeps */
    double *h = host_metric_define(&e->host, "packets_sent", CORRAL_METRIC_COUNTER, "help");
    assert_non_null(h);
    host_metric_record(&e->host, h, 2);
    host_metric_record(&e->host, h, 3);
    assert_true(*h == 5.0);
    uint32_t handle;
    assert_int_equal(
        H->metric_define(&e->ctx, "plugin_counter", CORRAL_METRIC_COUNTER, "help", &handle), 0);
    H->metric_record(&e->ctx, handle, 4);
    H->metric_record(&e->ctx, handle, 1);
    /* the provider gave the second handle right after the first */
    assert_true(h[1] == 5.0);
    e->host.metrics = &e->null_metrics;
    instance_stop(&prov);
    instance_destroy(&prov);
    config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, env_setup, env_teardown)
        T(conf_int_reads_checks_and_defaults),
        T(conf_str_and_conf_bool_check_types),
        T(getters_remember_what_was_read),
        T(fail_records_the_message_and_returns_a_negative_errno),
        T(loop_clock_and_frame_limit),
        T(log_prints_one_line_with_the_component),
        T(standalone_has_no_peers),
        T(the_null_metrics_provider_takes_everything),
        T(an_unknown_metric_type_is_refused),
        T(metrics_reach_a_configured_provider),
#undef T
    };
    return cmocka_run_group_tests_name("host", tests, NULL, NULL);
}
