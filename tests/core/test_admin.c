/* core/admin.c and the admin group of core/config.c: the JSON each command answers, byte for
 * byte as ZooKeeper 3.8's Jackson output, string escaping, and the start-up error sentences. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "admin.h"
#include "server_internal.h"

struct fixture {
    struct config cfg;
    struct server srv;
    struct conn conns[2];
    struct corral_cnxn cnxns[2];
    struct admin *admin;
    struct jute_writer w;
    char dir[64];
};

static uint64_t now_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A hand-built server whose config is `text` (the listener line is added). */
static int make_fixture(struct fixture *f, const char *text)
{
    char conf[1024], err[256];
    snprintf(conf, sizeof conf, "listeners = ( { plugin = \"cnxn-nio\"; port = 23181; } );\n%s",
             text);
    if (config_load_string(&f->cfg, "test.conf", conf, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(f->dir, sizeof f->dir, "/tmp/admin-test-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    struct server *srv = &f->srv;
    srv->cfg = &f->cfg;
    srv->data_dir = f->dir;
    srv->tree = datatree_new();
    srv->watches = watches_new();
    srv->sessions = sessions_new(2000, 0, 0);
    srv->trace_mask = 306;
    srv->start_ms = now_mono_ms() - 5000;
    jute_writer_init(&f->w);
    f->admin = admin_new(srv);
    return srv->tree != NULL && srv->watches != NULL && srv->sessions != NULL && f->admin != NULL
               ? 0
               : -1;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL || make_fixture(f, "") != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    admin_free(f->admin);
    rmdir(f->dir);
    datatree_free(f->srv.tree);
    watches_free(f->srv.watches);
    sessions_free(f->srv.sessions);
    config_free(&f->cfg);
    jute_writer_free(&f->w);
    free(f);
    return 0;
}

/* The JSON document `GET /commands/<name>?<query>` answers, NUL-terminated. */
static const char *ask(struct fixture *f, const char *name, const char *query)
{
    jute_writer_reset(&f->w);
    assert_int_equal(admin_answer(f->admin, name, query, &f->w), 200);
    jute_write_raw(&f->w, "", 1);
    assert_false(f->w.failed);
    return (const char *)f->w.buf;
}

static struct conn *add_conn(struct fixture *f, size_t i, const char *addr, bool v6)
{
    struct conn *c = &f->conns[i];
    struct corral_cnxn *x = &f->cnxns[i];
    snprintf(x->peer_addr, sizeof x->peer_addr, "%s", addr);
    x->peer_port = 5000;
    x->is_ipv6 = v6;
    c->srv = &f->srv;
    c->cnxn = x;
    c->last_cxid = -1;
    c->last_zxid = -1;
    c->next = f->srv.conns;
    f->srv.conns = c;
    f->srv.n_conns++;
    return c;
}

static void the_admin_group_defaults_to_zookeepers(void **state)
{
    struct fixture *f = *state;
    assert_true(f->cfg.admin_enabled);
    assert_string_equal(f->cfg.admin_address, "127.0.0.1");
    assert_int_equal(f->cfg.admin_port, 8080);
    assert_string_equal(f->cfg.admin_command_url, "/commands");
    assert_int_equal(f->cfg.admin_line, 0);
}

static void admin_group_errors_name_the_line_and_key(void **state)
{
    (void)state;
    static const struct {
        const char *text, *error;
    } cases[] = {
        {"admin = { prot = 1; };", "test.conf:2: admin: unknown key \"prot\""},
        {"admin = { port = 0; };", "test.conf:2: admin.port: 0 is out of range; expected 1 "
                                   "to 65535"},
        {"admin = { enabled = 1; };", "test.conf:2: admin.enabled: expected true or false"},
        {"admin = { command_url = \"cmds\"; };",
         "test.conf:2: admin.command_url: \"cmds\" is not a URL path such as \"/commands\""},
        {"admin = { address = \"\"; };",
         "test.conf:2: admin.address: expected an address to listen on, e.g. \"127.0.0.1\""},
        {"admin = 1;", "test.conf:2: admin: expected a group { enabled = true; port = 8080; }"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct config cfg;
        char text[256], err[256];
        snprintf(text, sizeof text, "listeners = ( { plugin = \"cnxn-nio\"; } );\n%s\n",
                 cases[i].text);
        assert_int_equal(config_load_string(&cfg, "test.conf", text, err, sizeof err), -1);
        assert_string_equal(err, cases[i].error);
        config_free(&cfg);
    }
}

static void ruok_and_an_unknown_command_are_zookeepers_bytes(void **state)
{
    struct fixture *f = *state;
    assert_string_equal(ask(f, "ruok", NULL),
                        "{\n  \"command\" : \"ruok\",\n  \"error\" : null\n}");
    assert_string_equal(ask(f, "nosuch", NULL), "{\n  \"command\" : \"nosuch\",\n"
                                                "  \"error\" : \"Unknown command: nosuch\"\n}");
    f->srv.writes_failed = true;
    assert_string_equal(ask(f, "ruok", NULL),
                        "{\n  \"error\" : \"This ZooKeeper instance is not currently serving "
                        "requests\",\n  \"command\" : \"ruok\"\n}");
}

static void empty_containers_and_aliases(void **state)
{
    struct fixture *f = *state;
    assert_string_equal(ask(f, "obsr", NULL),
                        "{\n  \"synced_observers\" : 0,\n  \"observers\" : [ ],\n"
                        "  \"command\" : \"observers\",\n  \"error\" : null\n}");
    assert_string_equal(ask(f, "voting_view", NULL),
                        "{\n  \"current_config\" : { },\n"
                        "  \"command\" : \"voting_view\",\n  \"error\" : null\n}");
    assert_string_equal(ask(f, "wchp", NULL),
                        "{\n  \"path_to_session_ids\" : { },\n"
                        "  \"command\" : \"watches_by_path\",\n  \"error\" : null\n}");
}

static void set_trace_mask_reads_its_query(void **state)
{
    struct fixture *f = *state;
    assert_string_equal(ask(f, "stmk", NULL),
                        "{\n  \"error\" : \"setTraceMask requires long traceMask argument\",\n"
                        "  \"command\" : \"set_trace_mask\"\n}");
    assert_non_null(strstr(ask(f, "stmk", "traceMask=%207"),
                           "\"error\" : \"setTraceMask requires long traceMask argument, "
                           "got  7\""));
    assert_string_equal(ask(f, "set_trace_mask", "x=1&traceMask=7"),
                        "{\n  \"tracemask\" : 7,\n"
                        "  \"command\" : \"set_trace_mask\",\n  \"error\" : null\n}");
    assert_int_equal(f->srv.trace_mask, 7);
    assert_non_null(strstr(ask(f, "gtmk", NULL), "\"tracemask\" : 7,"));
}

static void strings_escape_as_jackson_and_bad_utf8_becomes_fffd(void **state)
{
    struct fixture *f = *state;
    struct conn *c = add_conn(f, 0, "127.0.0.1", false);
    c->session = sessions_add(f->srv.sessions, 42, 10000, now_mono_ms());
    assert_non_null(c->session);
    const char *path = "/q\"b\\s/\x01\t\n\xc3\xa9\xe2\x9c\x93\xff\xc0\xaf\xed\xa0\x80";
    assert_int_equal(watches_add(f->srv.watches, WATCH_DATA, path, c, WATCH_STANDARD), 0);
    assert_string_equal(ask(f, "watches_by_path", NULL),
                        "{\n  \"path_to_session_ids\" : {\n"
                        "    \"/q\\\"b\\\\s/\\u0001\\t\\n\xc3\xa9\xe2\x9c\x93\\uFFFD\\uFFFD"
                        "\\uFFFD\\uFFFD\\uFFFD\\uFFFD\" : [ 42 ]\n  },\n"
                        "  \"command\" : \"watches_by_path\",\n  \"error\" : null\n}");
    assert_non_null(strstr(ask(f, "wchc", NULL), "\"42\" : [ \"/q\\\"b"));
}

static void connections_nest_objects_in_arrays(void **state)
{
    struct fixture *f = *state;
    add_conn(f, 0, "::1", true);
    const char *doc = ask(f, "stat", NULL);
    assert_non_null(strstr(doc, "  \"connections\" : [ {\n"
                                "    \"remote_socket_address\" : \"[0:0:0:0:0:0:0:1]:5000\",\n"
                                "    \"interest_ops\" : 1,\n"
                                "    \"outstanding_requests\" : 0,\n"
                                "    \"packets_received\" : 0,\n"
                                "    \"packets_sent\" : 0\n"
                                "  } ],\n"
                                "  \"secure_connections\" : [ ],\n"));
    add_conn(f, 1, "127.0.0.1", false);
    doc = ask(f, "cons", NULL);
    assert_non_null(strstr(doc, "\"max_latency\" : 0\n  }, {\n    \"remote_socket_address\""));
    assert_non_null(strstr(doc, "\"last_operation\" : \"NA\",\n"));
    assert_non_null(strstr(doc, "\"last_cxid\" : -1,\n"));
}

static void monitor_drops_the_zk_prefix_and_keeps_number_types(void **state)
{
    struct fixture *f = *state;
    const char *doc = ask(f, "mntr", NULL);
    assert_non_null(strstr(doc, "{\n  \"version\" : \"3.8."));
    assert_non_null(strstr(doc, "\n  \"server_state\" : \"standalone\",\n"));
    assert_non_null(strstr(doc, "\n  \"avg_latency\" : 0.0,\n"));
    assert_non_null(strstr(doc, "\n  \"znode_count\" : "));
    assert_null(strstr(doc, "zk_"));
    assert_non_null(strstr(doc, "\n  \"command\" : \"monitor\",\n  \"error\" : null\n}"));
}

static void the_index_links_each_command_once(void **state)
{
    struct fixture *f = *state;
    jute_writer_reset(&f->w);
    admin_list(f->admin, &f->w);
    jute_write_raw(&f->w, "", 1);
    const char *page = (const char *)f->w.buf;
    static const char first[] =
        "<a href=\"/commands/configuration\">configuration</a>\n<br/>\n"
        "<a href=\"/commands/connection_stat_reset\">connection_stat_reset</a>\n<br/>\n";
    assert_memory_equal(page, first, sizeof first - 1);
    assert_non_null(strstr(page, "<a href=\"/commands/zabstate\">zabstate</a>\n<br/>\n"));
    assert_null(strstr(page, "\"/commands/mntr\""));
}

static void a_taken_port_fails_start_with_one_sentence(void **state)
{
    (void)state;
    int holder = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    assert_int_equal(bind(holder, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(holder, 1), 0);
    assert_int_equal(getsockname(holder, (struct sockaddr *)&sa, &len), 0);
    int port = ntohs(sa.sin_port);

    struct fixture *f = calloc(1, sizeof *f);
    char text[128], err[256], expect[256];
    snprintf(text, sizeof text, "admin = { port = %d; };\n", port);
    assert_int_equal(make_fixture(f, text), 0);
    struct event_base *base = event_base_new();
    assert_int_equal(admin_start(f->admin, base, err, sizeof err), -EADDRINUSE);
    snprintf(expect, sizeof expect, "test.conf:2: admin: bind 127.0.0.1:%d: Address already in use",
             port);
    assert_string_equal(err, expect);
    admin_stop(f->admin);
    admin_stop(f->admin);
    close(holder);

    /* once the port is free the same instance starts; stop and free stay safe */
    assert_int_equal(admin_start(f->admin, base, err, sizeof err), 0);
    admin_stop(f->admin);
    void *state2 = f;
    teardown(&state2);
    event_base_free(base);
}

static void a_disabled_server_binds_nothing(void **state)
{
    (void)state;
    struct fixture *f = calloc(1, sizeof *f);
    assert_int_equal(make_fixture(f, "admin = { enabled = false; port = 1; };\n"), 0);
    struct event_base *base = event_base_new();
    char err[256] = "";
    assert_int_equal(admin_start(f->admin, base, err, sizeof err), 0); /* port 1 needs root */
    void *state2 = f;
    teardown(&state2);
    event_base_free(base);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(the_admin_group_defaults_to_zookeepers),
        cmocka_unit_test(admin_group_errors_name_the_line_and_key),
        T(ruok_and_an_unknown_command_are_zookeepers_bytes),
        T(empty_containers_and_aliases),
        T(set_trace_mask_reads_its_query),
        T(strings_escape_as_jackson_and_bad_utf8_becomes_fffd),
        T(connections_nest_objects_in_arrays),
        T(monitor_drops_the_zk_prefix_and_keeps_number_types),
        T(the_index_links_each_command_once),
        cmocka_unit_test(a_taken_port_fails_start_with_one_sentence),
        cmocka_unit_test(a_disabled_server_binds_nothing),
    };
    return cmocka_run_group_tests_name("admin", tests, NULL, NULL);
}
