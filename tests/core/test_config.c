/* Config parsing and validation: every refusal is one sentence with file, line and key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <corral/host.h>

#include "config.h"
#include "fourletter.h"

#define LISTENER "listeners = ( { plugin = \"cnxn-nio\"; } );\n"

/* Loads text as t.conf and expects exactly the sentence `want`. */
static void expect_error(const char *text, const char *want)
{
    struct config cfg;
    char err[512] = "";
    int rc = config_load_string(&cfg, "t.conf", text, err, sizeof err);
    config_free(&cfg);
    if (rc != -1 || strcmp(err, want) != 0)
        fail_msg("config:\n%s\nreturned %d with\n  \"%s\"\nwanted\n  \"%s\"", text, rc, err, want);
}

static void load_ok(struct config *cfg, const char *text)
{
    char err[512] = "";
    if (config_load_string(cfg, "t.conf", text, err, sizeof err) != 0)
        fail_msg("config:\n%s\nfailed: %s", text, err);
}

static void a_syntax_error_names_the_line(void **state)
{
    (void)state;
    expect_error(LISTENER "tick_time_ms = 2000\nfoo", "t.conf:3: syntax error");
}

static void an_unknown_top_level_key_is_refused(void **state)
{
    (void)state;
    expect_error(LISTENER "tick_time = 2000;", "t.conf:2: unknown key \"tick_time\"");
    expect_error("\n\nmaxClientCnxns = 10;\n" LISTENER, "t.conf:3: unknown key \"maxClientCnxns\"");
}

static void wrong_types_are_refused(void **state)
{
    (void)state;
    expect_error(LISTENER "tick_time_ms = \"2000\";",
                 "t.conf:2: tick_time_ms: expected an integer from 1 to 3600000");
    expect_error(LISTENER "tick_time_ms = 2.5;",
                 "t.conf:2: tick_time_ms: expected an integer from 1 to 3600000");
    expect_error(LISTENER "max_client_cnxns = true;",
                 "t.conf:2: max_client_cnxns: expected an integer from 0 to 1000000");
    expect_error(LISTENER "data_dir = 5;", "t.conf:2: data_dir: expected a string");
    expect_error(LISTENER "log_level = 3;", "t.conf:2: log_level: expected a string");
    expect_error(LISTENER "extended_types = 1;",
                 "t.conf:2: extended_types: expected true or false");
    expect_error(LISTENER "metrics = ( 1 );",
                 "t.conf:2: metrics: expected a group { plugin = \"...\"; ... }");
    expect_error(LISTENER "election = 5;", "t.conf:2: election: expected a group { plugin = "
                                           "\"...\"; }");
}

static void out_of_range_values_are_refused(void **state)
{
    (void)state;
    expect_error(LISTENER "tick_time_ms = 0;",
                 "t.conf:2: tick_time_ms: 0 is out of range; expected 1 to 3600000");
    expect_error(LISTENER "\ntick_time_ms = 3600001;",
                 "t.conf:3: tick_time_ms: 3600001 is out of range; expected 1 to 3600000");
    expect_error(LISTENER "max_packet_bytes = 1023;",
                 "t.conf:2: max_packet_bytes: 1023 is out of range; expected 1024 to 1073741823");
    expect_error(LISTENER "max_client_cnxns = -1;",
                 "t.conf:2: max_client_cnxns: -1 is out of range; expected 0 to 1000000");
    expect_error(LISTENER "min_session_timeout_ms = 0;",
                 "t.conf:2: min_session_timeout_ms: 0 is out of range; expected 1 to 2147483647");
}

static void min_session_timeout_above_max_is_refused(void **state)
{
    (void)state;
    expect_error(LISTENER "max_session_timeout_ms = 4000;\nmin_session_timeout_ms = 5000;",
                 "t.conf:3: min_session_timeout_ms: 5000 is above max_session_timeout_ms 4000");
    /* with min defaulted to 2 ticks (4000), a max below it is refused as well */
    struct config cfg;
    char err[512] = "";
    assert_int_equal(config_load_string(&cfg, "t.conf", LISTENER "max_session_timeout_ms = 3000;",
                                        err, sizeof err),
                     -1);
    config_free(&cfg);
    assert_non_null(strstr(err, "min_session_timeout_ms: 4000 is above max_session_timeout_ms "
                                "3000"));
    assert_int_equal(strncmp(err, "t.conf:", 7), 0);
}

static void listeners_are_required(void **state)
{
    (void)state;
    struct config cfg;
    char err[512] = "";
    assert_int_equal(config_load_string(&cfg, "t.conf", "tick_time_ms = 2000;\n", err, sizeof err),
                     -1);
    config_free(&cfg);
    const char *want = "missing key \"listeners\": at least one client listener is needed";
    assert_int_equal(strncmp(err, "t.conf:", 7), 0);
    assert_true(strlen(err) > strlen(want));
    assert_string_equal(err + strlen(err) - strlen(want), want);

    expect_error("\nlisteners = ();",
                 "t.conf:2: listeners: expected a list of groups ( { plugin = ...; } )");
    expect_error("listeners = { plugin = \"cnxn-nio\"; };",
                 "t.conf:1: listeners: expected a list of groups ( { plugin = ...; } )");
    expect_error("listeners = ( 5 );",
                 "t.conf:1: listeners.[0]: expected a group { plugin = \"...\"; ... }");
}

static void a_listener_needs_a_plugin(void **state)
{
    (void)state;
    expect_error("listeners = (\n  { plugin = \"cnxn-nio\"; },\n  { name = \"b\"; port = 1; }\n);",
                 "t.conf:3: listeners.[1]: missing key \"plugin\"");
    expect_error("listeners = ( { plugin = \"\"; } );",
                 "t.conf:1: listeners.[0]: plugin: expected a plugin name or an absolute path");
    expect_error("listeners = ( { plugin = 5; } );",
                 "t.conf:1: listeners.[0]: plugin: expected a plugin name or an absolute path");
    expect_error("listeners = ( { plugin = \"cnxn-nio\"; name = 3; } );",
                 "t.conf:1: listeners.[0]: name: expected a string");
}

static void listener_names_must_differ(void **state)
{
    (void)state;
    expect_error("listeners = (\n"
                 "  { name = \"a\"; plugin = \"cnxn-nio\"; port = 1; },\n"
                 "  { name = \"b\"; plugin = \"cnxn-nio\"; port = 2; },\n"
                 "  { name = \"a\"; plugin = \"cnxn-tls\"; port = 3; }\n"
                 ");",
                 "t.conf:4: listeners.[2]: name \"a\" is already used by listeners.[0]; give "
                 "each listener its own name");
    /* an unnamed listener is "client", so two unnamed ones clash */
    expect_error("listeners = (\n  { plugin = \"cnxn-nio\"; },\n  { plugin = \"cnxn-tls\"; }\n);",
                 "t.conf:3: listeners.[1]: name \"client\" is already used by listeners.[0]; give "
                 "each listener its own name");
}

static void at_most_sixteen_listeners(void **state)
{
    (void)state;
    char text[2048] = "listeners = (";
    for (int i = 0; i < 17; i++) {
        char one[64];
        snprintf(one, sizeof one, "%s{ name = \"l%d\"; plugin = \"cnxn-nio\"; }", i ? "," : "", i);
        strcat(text, one);
    }
    strcat(text, ");");
    expect_error(text, "t.conf:1: listeners: 17 listeners; at most 16 are supported");
    text[0] = '\0';
    strcat(text, "listeners = (");
    for (int i = 0; i < 16; i++) {
        char one[64];
        snprintf(one, sizeof one, "%s{ name = \"l%d\"; plugin = \"cnxn-nio\"; }", i ? "," : "", i);
        strcat(text, one);
    }
    strcat(text, ");");
    struct config cfg;
    load_ok(&cfg, text);
    assert_int_equal(cfg.n_listeners, 16);
    assert_string_equal(cfg.listeners[15].name, "l15");
    assert_string_equal(cfg.listeners[15].where, "listeners.[15]");
    config_free(&cfg);
}

static void four_letter_words_are_checked(void **state)
{
    (void)state;
    expect_error(LISTENER "four_letter_words = \"ruok, bogus\";",
                 "t.conf:2: four_letter_words: unknown four-letter word \"bogus\"");
    expect_error(LISTENER "four_letter_words = 1;",
                 "t.conf:2: four_letter_words: expected a string");
    struct config cfg;
    load_ok(&cfg, LISTENER "four_letter_words = \"ruok, stat\";");
    assert_int_equal(cfg.four_letter_words, 1u << FLW_RUOK | 1u << FLW_STAT | 1u << FLW_SRVR);
    config_free(&cfg);
    load_ok(&cfg, LISTENER "four_letter_words = \"*\";");
    assert_true(cfg.four_letter_words & 1u << FLW_MNTR);
    assert_true(cfg.four_letter_words & 1u << FLW_WCHC);
    assert_false(cfg.four_letter_words & 1u << FLW_TELNET_CLOSE);
    config_free(&cfg);
}

static void log_level_is_checked(void **state)
{
    (void)state;
    expect_error(LISTENER "log_level = \"loud\";",
                 "t.conf:2: log_level: \"loud\" is not one of error, warn, info, debug");
    struct config cfg;
    load_ok(&cfg, LISTENER "log_level = \"debug\";");
    assert_int_equal(cfg.log_level, CORRAL_LOG_DEBUG);
    config_free(&cfg);
}

static void a_quorum_group_is_refused(void **state)
{
    (void)state;
    expect_error(LISTENER "quorum = { servers = ( \"a:2888:3888\" ); };",
                 "t.conf:2: quorum: distributed mode is not supported by this release; remove "
                 "the quorum group to run standalone");
}

static void super_digest_needs_a_user(void **state)
{
    (void)state;
    expect_error(LISTENER "super_digest = \"abc\";",
                 "t.conf:2: super_digest: expected \"super:<base64 of sha1(super:password)>\"");
}

static void defaults_follow_zookeeper(void **state)
{
    (void)state;
    struct config cfg;
    load_ok(&cfg, "\n" LISTENER);
    assert_string_equal(cfg.file, "t.conf");
    assert_int_equal(cfg.tick_ms, 2000);
    assert_int_equal(cfg.min_session_timeout_ms, 4000);  /* 2 ticks */
    assert_int_equal(cfg.max_session_timeout_ms, 40000); /* 20 ticks */
    assert_int_equal(cfg.max_packet_bytes, 1048575);
    assert_int_equal(cfg.max_client_cnxns, 60);
    assert_int_equal(cfg.container_check_interval_ms, 60000);
    assert_int_equal(cfg.container_max_per_minute, 10000);
    assert_int_equal(cfg.four_letter_words, 1u << FLW_SRVR);
    assert_int_equal(cfg.log_level, CORRAL_LOG_INFO);
    assert_false(cfg.extended_types);
    assert_null(cfg.data_dir);
    assert_null(cfg.data_log_dir);
    assert_null(cfg.plugin_dir);
    assert_null(cfg.super_digest);
    assert_false(cfg.has_metrics);
    assert_int_equal(cfg.n_listeners, 1);
    assert_string_equal(cfg.listeners[0].name, "client");
    assert_string_equal(cfg.listeners[0].plugin, "cnxn-nio");
    assert_string_equal(cfg.listeners[0].where, "listeners.[0]");
    assert_int_equal(cfg.listeners[0].line, 2);
    config_free(&cfg);

    /* the session bounds follow the tick when not given */
    load_ok(&cfg, LISTENER "tick_time_ms = 100;");
    assert_int_equal(cfg.min_session_timeout_ms, 200);
    assert_int_equal(cfg.max_session_timeout_ms, 2000);
    config_free(&cfg);
}

static void given_values_are_kept(void **state)
{
    (void)state;
    struct config cfg;
    load_ok(&cfg, LISTENER "tick_time_ms = 500; min_session_timeout_ms = 1500;"
                           " max_session_timeout_ms = 9000; max_client_cnxns = 0;"
                           " max_packet_bytes = 4096; data_dir = \"/var/lib/corral\";"
                           " plugin_dir = \"/opt/p\"; extended_types = true;"
                           " super_digest = \"super:abc=\";"
                           " metrics = { plugin = \"metrics-prom\"; http_port = 7000; };");
    assert_int_equal(cfg.tick_ms, 500);
    assert_int_equal(cfg.min_session_timeout_ms, 1500);
    assert_int_equal(cfg.max_session_timeout_ms, 9000);
    assert_int_equal(cfg.max_client_cnxns, 0);
    assert_int_equal(cfg.max_packet_bytes, 4096);
    assert_string_equal(cfg.data_dir, "/var/lib/corral");
    assert_string_equal(cfg.data_log_dir, "/var/lib/corral"); /* defaults to data_dir */
    assert_string_equal(cfg.plugin_dir, "/opt/p");
    assert_true(cfg.extended_types);
    assert_string_equal(cfg.super_digest, "super:abc=");
    assert_true(cfg.has_metrics);
    assert_string_equal(cfg.metrics.plugin, "metrics-prom");
    assert_string_equal(cfg.metrics.name, "metrics");
    assert_string_equal(cfg.metrics.where, "metrics");
    config_free(&cfg);

    load_ok(&cfg, LISTENER "data_dir = \"\"; data_log_dir = \"/logs\";");
    assert_null(cfg.data_dir); /* empty: a temporary directory */
    assert_string_equal(cfg.data_log_dir, "/logs");
    config_free(&cfg);
}

static void the_embedded_default_parses(void **state)
{
    (void)state;
    struct config cfg;
    char err[512] = "";
    assert_int_equal(
        config_load_string(&cfg, "<embedded>", config_embedded_default, err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_int_equal(cfg.tick_ms, 2000);
    assert_int_equal(cfg.n_listeners, 1);
    assert_string_equal(cfg.listeners[0].name, "client");
    assert_string_equal(cfg.listeners[0].plugin, "cnxn-nio");
    const char *address = NULL;
    int port = 0;
    assert_int_equal(config_setting_lookup_string(cfg.listeners[0].group, "address", &address),
                     CONFIG_TRUE);
    assert_string_equal(address, "127.0.0.1");
    assert_int_equal(config_setting_lookup_int(cfg.listeners[0].group, "port", &port), CONFIG_TRUE);
    assert_int_equal(port, 2181);
    assert_null(cfg.data_dir);
    config_free(&cfg);
}

static void a_file_is_read_and_named(void **state)
{
    (void)state;
    char path[] = "/tmp/corral-test-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# corral.conf\n" LISTENER "tick_time_ms = -5;\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    struct config cfg;
    char err[512] = "", want[600];
    int rc = config_load_file(&cfg, path, err, sizeof err);
    config_free(&cfg);
    unlink(path);
    assert_int_equal(rc, -1);
    snprintf(want, sizeof want, "%s:3: tick_time_ms: -5 is out of range; expected 1 to 3600000",
             path);
    assert_string_equal(err, want);

    rc = config_load_file(&cfg, "/nonexistent/corral.conf", err, sizeof err);
    config_free(&cfg);
    assert_int_equal(rc, -1);
    assert_string_equal(err, "/nonexistent/corral.conf: cannot read: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_syntax_error_names_the_line),
        cmocka_unit_test(an_unknown_top_level_key_is_refused),
        cmocka_unit_test(wrong_types_are_refused),
        cmocka_unit_test(out_of_range_values_are_refused),
        cmocka_unit_test(min_session_timeout_above_max_is_refused),
        cmocka_unit_test(listeners_are_required),
        cmocka_unit_test(a_listener_needs_a_plugin),
        cmocka_unit_test(listener_names_must_differ),
        cmocka_unit_test(at_most_sixteen_listeners),
        cmocka_unit_test(four_letter_words_are_checked),
        cmocka_unit_test(log_level_is_checked),
        cmocka_unit_test(a_quorum_group_is_refused),
        cmocka_unit_test(super_digest_needs_a_user),
        cmocka_unit_test(defaults_follow_zookeeper),
        cmocka_unit_test(given_values_are_kept),
        cmocka_unit_test(the_embedded_default_parses),
        cmocka_unit_test(a_file_is_read_and_named),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
