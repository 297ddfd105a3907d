/* The plugin loader and the instance lifecycle against the fixture plugins in tests/fixtures:
 * each refusal is one sentence naming the file, and the host adds file, line, group and
 * plugin (STYLE.md §3, §5). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "config.h"
#include "host.h"
#include "plugin.h"

#ifndef CORRAL_FIXTURES_DIR
#error "CORRAL_FIXTURES_DIR must name the directory of the fixture plugins"
#endif
#define DIR CORRAL_FIXTURES_DIR

/* plugin_load */

static int load(const char *plugin, uint32_t kind, struct plugin_lib *lib, char *err, size_t len)
{
    err[0] = '\0';
    int rc = plugin_load(DIR, plugin, kind, lib, err, len);
    if (rc < 0) {
        /* nothing half-loaded is left behind */
        assert_null(lib->handle);
        assert_null(lib->desc);
    }
    return rc;
}

static void expect_refusal(const char *plugin, uint32_t kind, int want_rc, const char *want)
{
    struct plugin_lib lib;
    char err[1024];
    assert_int_equal(load(plugin, kind, &lib, err, sizeof err), want_rc);
    assert_string_equal(err, want);
}

static void a_good_plugin_loads_by_name(void **state)
{
    (void)state;
    struct plugin_lib lib;
    char err[256];
    assert_int_equal(load("fx-good", CORRAL_KIND_CNXN, &lib, err, sizeof err), 0);
    assert_string_equal(lib.path, DIR "/fx-good.so");
    assert_non_null(lib.handle);
    assert_string_equal(lib.desc->name, "fx-good");
    assert_string_equal(lib.desc->version, "1.2.3");
    assert_int_equal(lib.desc->abi, CORRAL_ABI);
    plugin_unload(&lib);
    assert_null(lib.handle);
    plugin_unload(&lib); /* harmless twice */
}

static void a_plugin_loads_by_absolute_path_whatever_its_name(void **state)
{
    (void)state;
    struct plugin_lib lib;
    char err[256];
    assert_int_equal(load(DIR "/fx-good.so", CORRAL_KIND_CNXN, &lib, err, sizeof err), 0);
    assert_string_equal(lib.path, DIR "/fx-good.so");
    plugin_unload(&lib);
    /* the file name need not match the descriptor when given by path */
    assert_int_equal(load(DIR "/fx-misnamed.so", CORRAL_KIND_CNXN, &lib, err, sizeof err), 0);
    assert_string_equal(lib.desc->name, "fx-other");
    plugin_unload(&lib);
}

static void a_relative_path_is_refused(void **state)
{
    (void)state;
    expect_refusal("fixtures/fx-good.so", CORRAL_KIND_CNXN, -EINVAL,
                   "fixtures/fx-good.so: a plugin path must be absolute (or give a bare name to "
                   "look it up in plugin_dir)");
}

static void a_missing_file_names_the_path(void **state)
{
    (void)state;
    expect_refusal("fx-nosuch", CORRAL_KIND_CNXN, -ENOENT,
                   DIR "/fx-nosuch.so: No such file or directory (looked up in plugin_dir)");
    expect_refusal(DIR "/nosuch.so", CORRAL_KIND_CNXN, -ENOENT,
                   DIR "/nosuch.so: No such file or directory");
}

static void another_abi_is_refused_before_anything_else(void **state)
{
    (void)state;
    /* the kind is wrong too, but abi is read first and nothing else is trusted */
    expect_refusal("fx-abi99", CORRAL_KIND_METRICS, -ENOEXEC,
                   DIR "/fx-abi99.so: built for plugin ABI 99, this server speaks ABI 1");
}

static void a_library_without_descriptor_is_not_a_plugin(void **state)
{
    (void)state;
    expect_refusal("fx-nodesc", CORRAL_KIND_CNXN, -ENOEXEC,
                   DIR "/fx-nodesc.so: not a corral plugin: it exports no corral_plugin "
                       "descriptor");
}

static void another_kind_is_refused(void **state)
{
    (void)state;
    expect_refusal("fx-metrics", CORRAL_KIND_CNXN, -EINVAL,
                   DIR "/fx-metrics.so: is a metrics provider plugin, but this config group "
                       "needs a connection factory");
    expect_refusal("fx-good", CORRAL_KIND_METRICS, -EINVAL,
                   DIR "/fx-good.so: is a connection factory plugin, but this config group "
                       "needs a metrics provider");
}

static void a_name_mismatch_is_refused(void **state)
{
    (void)state;
    expect_refusal("fx-misnamed", CORRAL_KIND_CNXN, -EINVAL,
                   DIR "/fx-misnamed.so: calls itself \"fx-other\", not \"fx-misnamed\"");
}

static void a_missing_required_slot_is_named(void **state)
{
    (void)state;
    expect_refusal("fx-nosend", CORRAL_KIND_CNXN, -ENOEXEC,
                   DIR "/fx-nosend.so: the required slot send is not set (connection factory)");
}

static void an_unresolvable_symbol_fails_at_load(void **state)
{
    (void)state;
    struct plugin_lib lib;
    char err[1024];
    assert_int_equal(load("fx-undef", CORRAL_KIND_CNXN, &lib, err, sizeof err), -ENOEXEC);
    const char *prefix = DIR "/fx-undef.so: cannot be loaded: ";
    assert_int_equal(strncmp(err, prefix, strlen(prefix)), 0);
    assert_non_null(strstr(err, "undefined symbol: corral_fixture_missing_symbol"));
}

static void a_file_that_is_not_elf_cannot_be_loaded(void **state)
{
    (void)state;
    char path[] = "/tmp/corral-test-loader-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "not a shared object\n", 20), 20);
    close(fd);
    struct plugin_lib lib;
    char err[1024], prefix[256];
    int rc = load(path, CORRAL_KIND_CNXN, &lib, err, sizeof err);
    unlink(path);
    assert_int_equal(rc, -ENOEXEC);
    snprintf(prefix, sizeof prefix, "%s: cannot be loaded: ", path);
    assert_int_equal(strncmp(err, prefix, strlen(prefix)), 0);
}

/* instances through core/host.c */

struct env {
    struct config cfg;
    struct host_env host;
    struct instance null_metrics;
    struct instance in;
    char err[1024];
};

/* Loads `text` as test.conf; every instance gets the fixtures dir and the null metrics. */
static struct env *env_new(const char *text)
{
    struct env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    if (config_load_string(&e->cfg, "test.conf", text, e->err, sizeof e->err) != 0)
        fail_msg("config: %s", e->err);
    e->host.base = event_base_new();
    assert_non_null(e->host.base);
    e->host.cfg = &e->cfg;
    e->host.plugin_dir = DIR;
    instance_init_null_metrics(&e->null_metrics, &e->host);
    e->host.metrics = &e->null_metrics;
    return e;
}

static void env_free(struct env *e)
{
    instance_destroy(&e->null_metrics);
    event_base_free(e->host.base);
    config_free(&e->cfg);
    free(e);
}

static int create_listener(struct env *e, size_t i)
{
    e->err[0] = '\0';
    return instance_create(&e->in, &e->host, &e->cfg.listeners[i], CORRAL_KIND_CNXN, e->err,
                           sizeof e->err);
}

/* The group sits on line 3 and its plugin's own key on line 4. */
static struct env *env_listener(const char *plugin, const char *key_line)
{
    char text[1024];
    snprintf(text, sizeof text,
             "# test\n"
             "listeners = (\n"
             "  { name = \"client\"; plugin = \"%s\";\n"
             "    %s }\n"
             ");\n",
             plugin, key_line);
    return env_new(text);
}

static void a_good_instance_runs_its_lifecycle(void **state)
{
    (void)state;
    struct env *e = env_listener("fx-good", "port = 2182;");
    assert_int_equal(create_listener(e, 0), 0);
    assert_string_equal(e->err, "");
    assert_non_null(e->in.self);
    assert_string_equal(e->in.ctx.component, "fx-good[client]");
    assert_int_equal(instance_start(&e->in, e->err, sizeof e->err), 0);
    assert_true(e->in.started);
    instance_stop(&e->in);
    assert_false(e->in.started);
    instance_stop(&e->in);
    instance_destroy(&e->in);
    assert_null(e->in.self);
    assert_null(e->in.lib.handle);
    env_free(e);
}

static void a_load_failure_names_file_line_and_group(void **state)
{
    (void)state;
    struct env *e = env_listener("fx-abi99", "");
    assert_int_equal(create_listener(e, 0), -ENOEXEC);
    assert_string_equal(e->err, "test.conf:3: listeners.[0]: " DIR "/fx-abi99.so: built for "
                                "plugin ABI 99, this server speaks ABI 1");
    assert_null(e->in.self);
    env_free(e);
}

static void a_create_failure_carries_the_plugins_reason(void **state)
{
    (void)state;
    struct env *e = env_listener("fx-createfail", "");
    assert_int_equal(create_listener(e, 0), -EPROTO);
    assert_string_equal(e->err, "test.conf:3: listeners.[0] (fx-createfail, " DIR
                                "/fx-createfail.so): create failed: the frobnicator is jammed");
    assert_null(e->in.self);
    assert_null(e->in.lib.handle); /* unloaded again */
    env_free(e);
}

static void a_create_failure_without_reason_says_so(void **state)
{
    (void)state;
    struct env *e = env_listener("fx-createfail", "silent = true;");
    assert_int_equal(create_listener(e, 0), -EIO);
    assert_string_equal(e->err, "test.conf:3: listeners.[0] (fx-createfail, " DIR
                                "/fx-createfail.so): create failed: Input/output error (the "
                                "plugin gave no reason)");
    env_free(e);
}

static void a_bad_value_names_the_keys_line(void **state)
{
    (void)state;
    struct env *e = env_listener("fx-good", "port = 0;");
    assert_int_equal(create_listener(e, 0), -EINVAL);
    assert_string_equal(e->err, "test.conf:4: listeners.[0] (fx-good, " DIR
                                "/fx-good.so): create failed: port: 0 is out of range; expected "
                                "1 to 65535");
    env_free(e);
    e = env_listener("fx-good", "port = \"x\";");
    assert_int_equal(create_listener(e, 0), -EINVAL);
    assert_string_equal(e->err, "test.conf:4: listeners.[0] (fx-good, " DIR
                                "/fx-good.so): create failed: port: expected an integer from 1 "
                                "to 65535");
    env_free(e);
}

static void a_key_nobody_read_is_an_unknown_key(void **state)
{
    (void)state;
    struct env *e = env_listener("fx-good", "prot = 2181;");
    assert_int_equal(create_listener(e, 0), -EINVAL);
    assert_string_equal(e->err, "test.conf:4: listeners.[0]: unknown key \"prot\" (plugin "
                                "fx-good)");
    assert_null(e->in.self); /* created, then destroyed again */
    assert_null(e->in.lib.handle);
    env_free(e);
}

static void a_start_failure_carries_the_plugins_reason(void **state)
{
    (void)state;
    struct env *e = env_listener("fx-startfail", "port = 2181;");
    assert_int_equal(create_listener(e, 0), 0);
    assert_int_equal(instance_start(&e->in, e->err, sizeof e->err), -EADDRINUSE);
    assert_string_equal(e->err, "test.conf:3: listeners.[0] (fx-startfail, " DIR
                                "/fx-startfail.so): start failed: bind 127.0.0.1:2181: Address "
                                "already in use");
    assert_false(e->in.started);
    instance_stop(&e->in); /* what the host does after a failed start */
    instance_destroy(&e->in);
    env_free(e);
}

static void a_wrong_kind_in_the_metrics_group_is_refused(void **state)
{
    (void)state;
    struct env *e = env_new("listeners = ( { plugin = \"fx-good\"; } );\n"
                            "metrics = { plugin = \"fx-good\"; };\n");
    assert_true(e->cfg.has_metrics);
    int rc = instance_create(&e->in, &e->host, &e->cfg.metrics, CORRAL_KIND_METRICS, e->err,
                             sizeof e->err);
    assert_int_equal(rc, -EINVAL);
    assert_string_equal(e->err, "test.conf:2: metrics: " DIR "/fx-good.so: is a connection "
                                "factory plugin, but this config group needs a metrics "
                                "provider");
    env_free(e);
}

static void a_listener_slot_refuses_a_metrics_plugin(void **state)
{
    (void)state;
    struct env *e = env_listener("fx-metrics", "");
    assert_int_equal(create_listener(e, 0), -EINVAL);
    assert_string_equal(e->err, "test.conf:3: listeners.[0]: " DIR "/fx-metrics.so: is a "
                                "metrics provider plugin, but this config group needs a "
                                "connection factory");
    env_free(e);
}

/* Two listeners on one .so: the second load shares the handle, and unloading one leaves the
 * other working. */
static void one_plugin_backs_two_instances(void **state)
{
    (void)state;
    struct env *e = env_new("listeners = (\n"
                            "  { name = \"a\"; plugin = \"fx-good\"; port = 1; },\n"
                            "  { name = \"b\"; plugin = \"" DIR "/fx-good.so\"; port = 2; }\n"
                            ");\n");
    struct instance a, b;
    assert_int_equal(instance_create(&a, &e->host, &e->cfg.listeners[0], CORRAL_KIND_CNXN, e->err,
                                     sizeof e->err),
                     0);
    assert_int_equal(instance_create(&b, &e->host, &e->cfg.listeners[1], CORRAL_KIND_CNXN, e->err,
                                     sizeof e->err),
                     0);
    assert_true(a.self != b.self);
    assert_string_equal(b.ctx.component, "fx-good[b]");
    assert_int_equal(instance_start(&a, e->err, sizeof e->err), 0);
    assert_int_equal(instance_start(&b, e->err, sizeof e->err), 0);
    instance_stop(&a);
    instance_destroy(&a);
    instance_stop(&b);
    instance_destroy(&b);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_good_plugin_loads_by_name),
        cmocka_unit_test(a_plugin_loads_by_absolute_path_whatever_its_name),
        cmocka_unit_test(a_relative_path_is_refused),
        cmocka_unit_test(a_missing_file_names_the_path),
        cmocka_unit_test(another_abi_is_refused_before_anything_else),
        cmocka_unit_test(a_library_without_descriptor_is_not_a_plugin),
        cmocka_unit_test(another_kind_is_refused),
        cmocka_unit_test(a_name_mismatch_is_refused),
        cmocka_unit_test(a_missing_required_slot_is_named),
        cmocka_unit_test(an_unresolvable_symbol_fails_at_load),
        cmocka_unit_test(a_file_that_is_not_elf_cannot_be_loaded),
        cmocka_unit_test(a_good_instance_runs_its_lifecycle),
        cmocka_unit_test(a_load_failure_names_file_line_and_group),
        cmocka_unit_test(a_create_failure_carries_the_plugins_reason),
        cmocka_unit_test(a_create_failure_without_reason_says_so),
        cmocka_unit_test(a_bad_value_names_the_keys_line),
        cmocka_unit_test(a_key_nobody_read_is_an_unknown_key),
        cmocka_unit_test(a_start_failure_carries_the_plugins_reason),
        cmocka_unit_test(a_wrong_kind_in_the_metrics_group_is_refused),
        cmocka_unit_test(a_listener_slot_refuses_a_metrics_plugin),
        cmocka_unit_test(one_plugin_backs_two_instances),
    };
    return cmocka_run_group_tests_name("loader", tests, NULL, NULL);
}
