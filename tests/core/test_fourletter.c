/* core/fourletter.c: command codes, the whitelist, Java's double formatting and the text each
 * four-letter word answers on a server built by hand. */
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fourletter.h"
#include "server_internal.h"

#define ALL_WORDS ((1u << FLW_COUNT) - 1)
#define MAX_CONNS 4

struct fixture {
    struct config cfg;
    struct server srv;
    struct conn conns[MAX_CONNS];
    struct corral_cnxn cnxns[MAX_CONNS];
    size_t n_conns;
    struct jute_writer w;
    char dir[64];
};

static uint64_t now_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int64_t now_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_file(const char *dir, const char *name, size_t bytes)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (size_t i = 0; i < bytes; i++)
        fputc('x', f);
    fclose(f);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    char err[256];
    if (config_load_string(&f->cfg, "test.conf",
                           "tick_time_ms = 2000;\n"
                           "listeners = ( { plugin = \"cnxn-nio\"; port = 23181; backlog = 128; },"
                           " { name = \"tls\"; plugin = \"cnxn-tls\"; port = 23182; } );\n",
                           err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(f->dir, sizeof f->dir, "/tmp/flw-test-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    char v2[96];
    snprintf(v2, sizeof v2, "%s/version-2", f->dir);
    if (mkdir(v2, 0700) != 0)
        return -1;
    write_file(v2, "log.1", 400);
    write_file(v2, "snapshot.0", 57);

    struct server *srv = &f->srv;
    srv->cfg = &f->cfg;
    srv->data_dir = f->dir;
    srv->tree = datatree_new();
    srv->watches = watches_new();
    srv->sessions = sessions_new(2000, 0, now_wall_ms());
    srv->trace_mask = 306;
    srv->start_ms = now_mono_ms() - 5000;
    jute_writer_init(&f->w);
    *state = f;
    return srv->tree != NULL && srv->watches != NULL && srv->sessions != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    datatree_free(f->srv.tree);
    watches_free(f->srv.watches);
    sessions_free(f->srv.sessions);
    config_free(&f->cfg);
    jute_writer_free(&f->w);
    free(f);
    return 0;
}

/* A connection from 127.0.0.1:port, appended to srv->conns. */
static struct conn *add_conn(struct fixture *f, uint16_t port)
{
    assert_true(f->n_conns < MAX_CONNS);
    struct conn *c = &f->conns[f->n_conns];
    struct corral_cnxn *x = &f->cnxns[f->n_conns];
    f->n_conns++;
    snprintf(x->peer_addr, sizeof x->peer_addr, "127.0.0.1");
    x->peer_port = port;
    c->srv = &f->srv;
    c->cnxn = x;
    c->last_cxid = -1;
    c->last_zxid = -1;
    struct conn **tail = &f->srv.conns;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = c;
    f->srv.n_conns++;
    return c;
}

/* The answer to cmd, NUL-terminated, with everything whitelisted. */
static const char *ask(struct fixture *f, int cmd, void *self)
{
    jute_writer_reset(&f->w);
    flw_answer(&f->srv, cmd, ALL_WORDS, self, &f->w);
    jute_write_raw(&f->w, "", 1);
    assert_false(f->w.failed);
    return (const char *)f->w.buf;
}

static void assert_starts_with(const char *text, const char *prefix)
{
    if (strncmp(text, prefix, strlen(prefix)) != 0)
        fail_msg("%s\ndoes not start with\n%s", text, prefix);
}

static void assert_matches(const char *text, const char *pattern)
{
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    int rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    if (rc != 0)
        fail_msg("%s\ndoes not match\n%s", text, pattern);
}

/* The value of one mntr key, or NULL. */
static const char *mntr_value(const char *mntr, const char *key, char *out, size_t len)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\n%s\t", key);
    const char *p = strstr(mntr, needle);
    if (p == NULL)
        return NULL;
    p += strlen(needle);
    size_t n = strcspn(p, "\n");
    snprintf(out, len, "%.*s", (int)n, p);
    return out;
}

static void every_code_maps_to_its_command_and_back(void **state)
{
    (void)state;
    static const struct {
        uint32_t code;
        int cmd;
        const char *name;
    } codes[] = {
        {0x72756f6b, FLW_RUOK, "ruok"},
        {0x73727672, FLW_SRVR, "srvr"},
        {0x73746174, FLW_STAT, "stat"},
        {0x6d6e7472, FLW_MNTR, "mntr"},
        {0x636f6e66, FLW_CONF, "conf"},
        {0x636f6e73, FLW_CONS, "cons"},
        {0x6973726f, FLW_ISRO, "isro"},
        {0x656e7669, FLW_ENVI, "envi"},
        {0x64697273, FLW_DIRS, "dirs"},
        {0x77636873, FLW_WCHS, "wchs"},
        {0x77636863, FLW_WCHC, "wchc"},
        {0x77636870, FLW_WCHP, "wchp"},
        {0x64756d70, FLW_DUMP, "dump"},
        {0x63727374, FLW_CRST, "crst"},
        {0x73727374, FLW_SRST, "srst"},
        {0x67746d6b, FLW_GTMK, "gtmk"},
        {0x73746d6b, FLW_STMK, "stmk"},
        {0x68617368, FLW_HASH, "hash"},
        {0xfff4fffd, FLW_TELNET_CLOSE, "telnet close"},
    };
    assert_int_equal(sizeof codes / sizeof codes[0], FLW_COUNT);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        assert_int_equal(flw_lookup(codes[i].code), codes[i].cmd);
        assert_string_equal(flw_name(codes[i].cmd), codes[i].name);
    }
}

static void other_words_are_not_commands(void **state)
{
    (void)state;
    assert_int_equal(flw_lookup(0x61626364), -1); /* "abcd" */
    assert_int_equal(flw_lookup(0x52554f4b), -1); /* "RUOK": case matters */
    assert_int_equal(flw_lookup(0), -1);
    assert_int_equal(flw_lookup(0x0000002c), -1); /* a real frame length */
    assert_null(flw_name(-1));
    assert_null(flw_name(FLW_COUNT));
}

static void whitelist_trims_spaces_and_always_allows_srvr(void **state)
{
    (void)state;
    uint32_t bits = 0;
    char err[128] = "";
    assert_int_equal(flw_parse_whitelist(" stat ,ruok,\tmntr  ", &bits, err, sizeof err), 0);
    assert_int_equal(bits, 1u << FLW_STAT | 1u << FLW_RUOK | 1u << FLW_MNTR | 1u << FLW_SRVR);
    assert_int_equal(flw_parse_whitelist("", &bits, err, sizeof err), 0);
    assert_int_equal(bits, 1u << FLW_SRVR);
    assert_int_equal(flw_parse_whitelist("conf,, ,cons", &bits, err, sizeof err), 0);
    assert_int_equal(bits, 1u << FLW_CONF | 1u << FLW_CONS | 1u << FLW_SRVR);
    assert_int_equal(flw_parse_whitelist("srvr", &bits, err, sizeof err), 0);
    assert_int_equal(bits, 1u << FLW_SRVR);
}

static void star_allows_everything_but_telnet_close(void **state)
{
    (void)state;
    uint32_t bits = 0;
    char err[128] = "";
    assert_int_equal(flw_parse_whitelist(" * ", &bits, err, sizeof err), 0);
    assert_int_equal(bits, ALL_WORDS & ~(1u << FLW_TELNET_CLOSE));
    assert_int_equal(flw_parse_whitelist("ruok, *", &bits, err, sizeof err), 0);
    assert_int_equal(bits, ALL_WORDS & ~(1u << FLW_TELNET_CLOSE));
}

static void an_unknown_word_is_an_error_naming_it(void **state)
{
    (void)state;
    uint32_t bits = 12345;
    char err[128] = "";
    assert_int_equal(flw_parse_whitelist("ruok, xyzw ,stat", &bits, err, sizeof err), -1);
    assert_string_equal(err, "unknown four-letter word \"xyzw\"");
    assert_int_equal(bits, 12345); /* written only on success */
    assert_int_equal(flw_parse_whitelist("Ruok", &bits, err, sizeof err), -1);
    assert_string_equal(err, "unknown four-letter word \"Ruok\"");
    assert_int_equal(flw_parse_whitelist("telnet close", &bits, err, sizeof err), -1);
    assert_int_equal(flw_parse_whitelist("**", &bits, err, sizeof err), -1);
}

static void doubles_print_as_java_after_rounding_to_four_decimals(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *java;
    } cases[] = {
        {0.0, "0.0"},
        {11.0, "11.0"},
        {29.0 / 14.0, "2.0714"}, /* 2.071428... */
        {2.5, "2.5"},
        {100.0, "100.0"},
        {1.0 / 3.0, "0.3333"},
        {2.0 / 3.0, "0.6667"},
        {1.0 / 32.0, "0.0313"},   /* an exact tie: HALF_UP */
        {0.00015, "1.0E-4"},      /* just below the tie in binary */
        {1.0 / 2000.0, "5.0E-4"}, /* below 1e-3 Java switches to E notation */
        {0.00004, "0.0"},
        {0.001, "0.001"},
        {0.0125, "0.0125"},
        {9.99995, "10.0"},
        {1234567.5, "1234567.5"},
        {9999999.0, "9999999.0"},
        {1e7, "1.0E7"},
        {12345678.9, "1.23456789E7"},
        {-2.5, "-2.5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[32];
        flw_format_double(cases[i].v, out, sizeof out);
        assert_string_equal(out, cases[i].java);
    }
}

static void a_word_outside_the_whitelist_is_refused_by_name(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    /* The refusal needs no server. */
    flw_answer(NULL, FLW_CONF, 1u << FLW_SRVR, NULL, &w);
    jute_write_raw(&w, "", 1);
    assert_string_equal((char *)w.buf,
                        "conf is not executed because it is not in the whitelist.\n");
    jute_writer_reset(&w);
    flw_answer(NULL, FLW_TELNET_CLOSE, 1u << FLW_RUOK, NULL, &w);
    jute_write_raw(&w, "", 1);
    assert_string_equal((char *)w.buf,
                        "telnet close is not executed because it is not in the whitelist.\n");
    jute_writer_reset(&w);
    /* with "*" ZooKeeper reads it as a negative frame length and closes without a word */
    flw_answer(NULL, FLW_TELNET_CLOSE, ALL_WORDS, NULL, &w);
    assert_int_equal(w.len, 0);
    jute_writer_reset(&w);
    flw_answer(NULL, -1, ALL_WORDS, NULL, &w);
    assert_int_equal(w.len, 0);
    jute_writer_free(&w);
}

static void srvr_runs_whatever_the_whitelist(void **state)
{
    struct fixture *f = *state;
    jute_writer_reset(&f->w);
    flw_answer(&f->srv, FLW_SRVR, 0, NULL, &f->w);
    jute_write_raw(&f->w, "", 1);
    assert_non_null(strstr((char *)f->w.buf, "Mode: standalone\n"));
}

static void fixed_answers_have_no_newline(void **state)
{
    struct fixture *f = *state;
    assert_string_equal(ask(f, FLW_RUOK, NULL), "imok");
    assert_string_equal(ask(f, FLW_ISRO, NULL), "rw");
    assert_string_equal(ask(f, FLW_GTMK, NULL), "306");
    f->srv.trace_mask = 250;
    assert_string_equal(ask(f, FLW_STMK, NULL), "250");
    assert_string_equal(ask(f, FLW_HASH, NULL), "");
}

static void srvr_on_a_fresh_server(void **state)
{
    struct fixture *f = *state;
    struct conn *me = add_conn(f, 40000);
    me->is_four_letter = true;
    f->srv.packets_received = 3;
    f->srv.packets_sent = 2;
    const char *out = ask(f, FLW_SRVR, me);
    assert_matches(out, "^Zookeeper version: 3\\.8\\.4-corral-" CORRAL_VERSION
                        ", built on [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} UTC\n");
    assert_string_equal(strchr(out, '\n') + 1, "Latency min/avg/max: 0/0.0/0\n"
                                               "Received: 3\n"
                                               "Sent: 2\n"
                                               "Connections: 1\n"
                                               "Outstanding: 0\n"
                                               "Zxid: 0x0\n"
                                               "Mode: standalone\n"
                                               "Node count: 5\n");
    f->srv.latency = (struct latency_stats){.min_ms = 1, .max_ms = 13, .total_ms = 29, .count = 14};
    f->srv.last_applied_zxid = 0x1a2b;
    out = ask(f, FLW_SRVR, me);
    assert_non_null(strstr(out, "\nLatency min/avg/max: 1/2.0714/13\n"));
    assert_non_null(strstr(out, "\nZxid: 0x1a2b\n"));
}

static void stat_lists_clients_and_the_asker_is_not_reading(void **state)
{
    struct fixture *f = *state;
    struct conn *client = add_conn(f, 39130);
    client->packets_received = 23;
    client->packets_sent = 23;
    struct conn *me = add_conn(f, 39154);
    me->is_four_letter = true;
    me->packets_received = 1;
    const char *out = ask(f, FLW_STAT, me);
    assert_starts_with(strchr(out, '\n') + 1, "Clients:\n"
                                              " /127.0.0.1:39130[1](queued=0,recved=23,sent=23)\n"
                                              " /127.0.0.1:39154[0](queued=0,recved=1,sent=0)\n"
                                              "\n"
                                              "Latency min/avg/max: 0/0.0/0\n");
    assert_non_null(strstr(out, "\nConnections: 2\n"));
}

static void cons_adds_session_fields_only_with_a_session(void **state)
{
    struct fixture *f = *state;
    struct conn *client = add_conn(f, 35986);
    struct session *sess = sessions_add(f->srv.sessions, 0x10000aed3530000, 30000, now_mono_ms());
    assert_non_null(sess);
    client->session = sess;
    client->packets_received = 1;
    client->packets_sent = 1;
    client->last_op = "SESS";
    client->established_ms = 1795412891711;
    client->last_cxid = 0;
    client->last_zxid = 1;
    client->last_response_ms = 11476390;
    client->last_latency_ms = 11;
    client->latency =
        (struct latency_stats){.min_ms = 11, .max_ms = 11, .total_ms = 11, .count = 1};
    struct conn *me = add_conn(f, 36000);
    me->is_four_letter = true;
    me->packets_received = 1;
    assert_string_equal(ask(f, FLW_CONS, me),
                        " /127.0.0.1:35986[1](queued=0,recved=1,sent=1,sid=0x10000aed3530000,"
                        "lop=SESS,est=1795412891711,to=30000,lcxid=0x0,lzxid=0x1,lresp=11476390,"
                        "llat=11,minlat=11,avglat=11,maxlat=11)\n"
                        " /127.0.0.1:36000[0](queued=0,recved=1,sent=0)\n"
                        "\n");
    /* After crst: no last op, no cxid (left out), zxid -1, latencies 0. */
    assert_string_equal(ask(f, FLW_CRST, me), "Connection stats reset.\n");
    assert_string_equal(ask(f, FLW_CONS, me),
                        " /127.0.0.1:35986[1](queued=0,recved=0,sent=0,sid=0x10000aed3530000,"
                        "lop=NA,est=1795412891711,to=30000,lzxid=0xffffffffffffffff,lresp=0,"
                        "llat=0,minlat=0,avglat=0,maxlat=0)\n"
                        " /127.0.0.1:36000[0](queued=0,recved=0,sent=0)\n"
                        "\n");
}

static void an_ipv6_peer_prints_as_java_does(void **state)
{
    struct fixture *f = *state;
    struct conn *c = add_conn(f, 2181);
    snprintf(c->cnxn->peer_addr, sizeof c->cnxn->peer_addr, "::1");
    c->cnxn->is_ipv6 = true;
    assert_string_equal(ask(f, FLW_CONS, NULL),
                        " /0:0:0:0:0:0:0:1:2181[1](queued=0,recved=0,sent=0)\n\n");
}

static void mntr_starts_with_version_and_state_and_counts_honestly(void **state)
{
    struct fixture *f = *state;
    struct conn *me = add_conn(f, 40000);
    me->is_four_letter = true;
    struct session *sess = sessions_add(f->srv.sessions, 0x100, 10000, now_mono_ms());
    assert_non_null(sess);
    struct zk_acl open = {31, {"world", "anyone"}};
    struct zk_acl_vec acl = {1, &open};
    assert_int_equal(
        datatree_create(f->srv.tree, "/e", 2, (const uint8_t *)"ab", 2, &acl, 0x100, 1, 1, 0, NULL),
        0);
    assert_int_equal(watches_add(f->srv.watches, WATCH_DATA, "/e", me, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(f->srv.watches, WATCH_CHILD, "/e", me, WATCH_STANDARD), 0);
    f->srv.latency = (struct latency_stats){.min_ms = 2, .max_ms = 20, .total_ms = 22, .count = 2};

    const char *out = ask(f, FLW_MNTR, me);
    assert_matches(out, "^zk_version\t3\\.8\\.4-corral-[^\n]* UTC\nzk_server_state\tstandalone\n");
    char v[64];
    static const struct {
        const char *key, *value;
    } expect[] = {
        {"zk_avg_latency", "11.0"},
        {"zk_max_latency", "20"},
        {"zk_min_latency", "2"},
        {"zk_packets_received", "0"},
        {"zk_packets_sent", "0"},
        {"zk_num_alive_connections", "1"},
        {"zk_outstanding_requests", "0"},
        {"zk_znode_count", "6"},
        {"zk_watch_count", "2"},
        {"zk_ephemerals_count", "1"},
        {"zk_approximate_data_size", "48"},
        {"zk_global_sessions", "1"},
        {"zk_local_sessions", "0"},
        {"zk_connection_drop_probability", "0.0"},
        {"zk_auth_failed_count", "0"},
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        if (mntr_value(out, expect[i].key, v, sizeof v) == NULL)
            fail_msg("no %s in\n%s", expect[i].key, out);
        assert_string_equal(v, expect[i].value);
    }
    assert_non_null(mntr_value(out, "zk_uptime", v, sizeof v));
    long uptime = atol(v);
    assert_true(uptime >= 5000 && uptime < 65000);
    assert_non_null(mntr_value(out, "zk_open_file_descriptor_count", v, sizeof v));
    assert_true(atol(v) >= 3);
    assert_non_null(mntr_value(out, "zk_max_file_descriptor_count", v, sizeof v));
    assert_true(atol(v) > 0);
    /* Every line is one key, one TAB, one value. */
    assert_matches(out, "^(zk_[a-z_]+\t[^\t\n]+\n)+$");
}

static void watch_words_report_the_data_table_only(void **state)
{
    struct fixture *f = *state;
    assert_string_equal(ask(f, FLW_WCHS, NULL),
                        "0 connections watching 0 paths\nTotal watches:0\n");
    assert_string_equal(ask(f, FLW_WCHC, NULL), "\n");
    assert_string_equal(ask(f, FLW_WCHP, NULL), "\n");

    struct conn *a = add_conn(f, 40001);
    struct conn *b = add_conn(f, 40002);
    a->session = sessions_add(f->srv.sessions, 0xa1, 10000, now_mono_ms());
    assert_non_null(a->session);
    assert_int_equal(watches_add(f->srv.watches, WATCH_DATA, "/x", a, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(f->srv.watches, WATCH_CHILD, "/x", a, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(f->srv.watches, WATCH_CHILD, "/y", b, WATCH_STANDARD), 0);
    assert_string_equal(ask(f, FLW_WCHS, NULL),
                        "1 connections watching 1 paths\nTotal watches:1\n");
    assert_string_equal(ask(f, FLW_WCHC, NULL), "0xa1\n\t/x\n\n");
    assert_string_equal(ask(f, FLW_WCHP, NULL), "/x\n\t0xa1\n\n");

    /* A connection without a session shows as 0x0; each group is printed once. */
    assert_int_equal(watches_add(f->srv.watches, WATCH_DATA, "/z", a, WATCH_STANDARD), 0);
    assert_int_equal(watches_add(f->srv.watches, WATCH_DATA, "/x", b, WATCH_STANDARD), 0);
    assert_string_equal(ask(f, FLW_WCHS, NULL),
                        "2 connections watching 2 paths\nTotal watches:3\n");
    const char *wchc = ask(f, FLW_WCHC, NULL);
    assert_true(strcmp(wchc, "0xa1\n\t/x\n\t/z\n0x0\n\t/x\n\n") == 0 ||
                strcmp(wchc, "0xa1\n\t/z\n\t/x\n0x0\n\t/x\n\n") == 0 ||
                strcmp(wchc, "0x0\n\t/x\n0xa1\n\t/x\n\t/z\n\n") == 0 ||
                strcmp(wchc, "0x0\n\t/x\n0xa1\n\t/z\n\t/x\n\n") == 0);
    const char *wchp = ask(f, FLW_WCHP, NULL);
    assert_true(strcmp(wchp, "/x\n\t0xa1\n\t0x0\n/z\n\t0xa1\n\n") == 0 ||
                strcmp(wchp, "/x\n\t0x0\n\t0xa1\n/z\n\t0xa1\n\n") == 0 ||
                strcmp(wchp, "/z\n\t0xa1\n/x\n\t0xa1\n\t0x0\n\n") == 0 ||
                strcmp(wchp, "/z\n\t0xa1\n/x\n\t0x0\n\t0xa1\n\n") == 0);
}

static void conf_and_dirs_read_the_listeners_and_data_dir(void **state)
{
    struct fixture *f = *state;
    char expect[512];
    snprintf(expect, sizeof expect,
             "clientPort=23181\n"
             "secureClientPort=23182\n"
             "dataDir=%s/version-2\n"
             "dataDirSize=457\n"
             "dataLogDir=%s/version-2\n"
             "dataLogSize=457\n"
             "tickTime=2000\n"
             "maxClientCnxns=60\n"
             "minSessionTimeout=4000\n"
             "maxSessionTimeout=40000\n"
             "clientPortListenBacklog=128\n"
             "serverId=0\n",
             f->dir, f->dir);
    assert_string_equal(ask(f, FLW_CONF, NULL), expect);
    assert_string_equal(ask(f, FLW_DIRS, NULL), "datadir_size: 457\nlogdir_size: 457\n");

    /* A missing directory counts 0 bytes; a listener without port or backlog gets nio's
     * defaults, and no TLS listener means -1. */
    struct config cfg;
    char err[256];
    assert_int_equal(config_load_string(&cfg, "t.conf",
                                        "listeners = ( { plugin = \"cnxn-nio\"; } );", err,
                                        sizeof err),
                     0);
    f->srv.cfg = &cfg;
    f->srv.data_dir = "/nonexistent/corral";
    const char *out = ask(f, FLW_CONF, NULL);
    assert_starts_with(out, "clientPort=2181\nsecureClientPort=-1\n"
                            "dataDir=/nonexistent/corral/version-2\ndataDirSize=0\n");
    assert_non_null(strstr(out, "\nclientPortListenBacklog=-1\n"));
    assert_string_equal(ask(f, FLW_DIRS, NULL), "datadir_size: 0\nlogdir_size: 0\n");
    f->srv.cfg = &f->cfg;
    config_free(&cfg);
}

static void srst_resets_the_server_counters(void **state)
{
    struct fixture *f = *state;
    f->srv.latency = (struct latency_stats){.min_ms = 1, .max_ms = 9, .total_ms = 10, .count = 2};
    f->srv.packets_received = 7;
    f->srv.packets_sent = 6;
    assert_string_equal(ask(f, FLW_SRST, NULL), "Server stats reset.\n");
    const char *out = ask(f, FLW_SRVR, NULL);
    assert_non_null(strstr(out, "\nLatency min/avg/max: 0/0.0/0\nReceived: 0\nSent: 0\n"));
}

static void dump_lists_sessions_ephemerals_and_connections(void **state)
{
    struct fixture *f = *state;
    uint64_t now = now_mono_ms();
    struct session *s1 = sessions_add(f->srv.sessions, 0x10000b1ed8a0000, 4000, now);
    struct session *s2 = sessions_add(f->srv.sessions, 0x10000b1ed8a0001, 4000, now);
    assert_non_null(s1);
    assert_non_null(s2);
    struct zk_acl open = {31, {"world", "anyone"}};
    struct zk_acl_vec acl = {1, &open};
    assert_int_equal(datatree_create(f->srv.tree, "/e1", 3, NULL, -1, &acl, s2->id, 1, 1, 0, NULL),
                     0);
    assert_int_equal(datatree_create(f->srv.tree, "/e2", 3, NULL, -1, &acl, s2->id, 2, 2, 0, NULL),
                     0);
    struct conn *c = add_conn(f, 39138);
    c->session = s1;
    add_conn(f, 39139)->is_four_letter = true;

    const char *out = ask(f, FLW_DUMP, NULL);
    const char *date = "[A-Z][a-z]{2} [A-Z][a-z]{2} [0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} [^ ]+ "
                       "[0-9]{4}";
    char re[1024];
    snprintf(re, sizeof re,
             "^SessionTracker dump:\n"
             "Session Sets \\(1\\)/\\(2\\):\n"
             "2 expire at %s:\n"
             "\t0x10000b1ed8a0000\n"
             "\t0x10000b1ed8a0001\n"
             "ephemeral nodes dump:\n"
             "Sessions with Ephemerals \\(1\\):\n"
             "0x10000b1ed8a0001:\n"
             "\t/e1\n"
             "\t/e2\n"
             "Connections dump:\n"
             "Connections Sets \\(2\\)/\\(2\\):\n"
             "1 expire at %s:\n" /* the 4lw connection, due now */
             "\tip: /127\\.0\\.0\\.1:39139 sessionId: 0x0\n"
             "1 expire at %s:\n" /* then the one that expires with its session */
             "\tip: /127\\.0\\.0\\.1:39138 sessionId: 0x10000b1ed8a0000\n$",
             date, date, date);
    assert_matches(out, re);
}

static void envi_keeps_zookeepers_keys_in_order(void **state)
{
    struct fixture *f = *state;
    const char *out = ask(f, FLW_ENVI, NULL);
    static const char *const keys[] = {
        "zookeeper.version", "host.name",         "java.version",    "java.vendor",   "java.home",
        "java.class.path",   "java.library.path", "java.io.tmpdir",  "java.compiler", "os.name",
        "os.arch",           "os.version",        "user.name",       "user.home",     "user.dir",
        "os.memory.free",    "os.memory.max",     "os.memory.total",
    };
    assert_starts_with(out, "Environment:\n");
    const char *p = out + 13;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        size_t n = strlen(keys[i]);
        if (strncmp(p, keys[i], n) != 0 || p[n] != '=')
            fail_msg("expected %s= at\n%s", keys[i], p);
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    assert_string_equal(p, "");
    assert_matches(out, "\nzookeeper\\.version=3\\.8\\.4-corral-[^\n]*, built on [^\n]* UTC\n");
    assert_matches(out, "\njava\\.version=n/a\n");
    assert_matches(out, "\nos\\.memory\\.free=[0-9]+MB\nos\\.memory\\.max=[0-9]+MB\n"
                        "os\\.memory\\.total=[0-9]+MB\n$");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_maps_to_its_command_and_back),
        cmocka_unit_test(other_words_are_not_commands),
        cmocka_unit_test(whitelist_trims_spaces_and_always_allows_srvr),
        cmocka_unit_test(star_allows_everything_but_telnet_close),
        cmocka_unit_test(an_unknown_word_is_an_error_naming_it),
        cmocka_unit_test(doubles_print_as_java_after_rounding_to_four_decimals),
        cmocka_unit_test(a_word_outside_the_whitelist_is_refused_by_name),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(srvr_runs_whatever_the_whitelist),
        T(fixed_answers_have_no_newline),
        T(srvr_on_a_fresh_server),
        T(stat_lists_clients_and_the_asker_is_not_reading),
        T(cons_adds_session_fields_only_with_a_session),
        T(an_ipv6_peer_prints_as_java_does),
        T(mntr_starts_with_version_and_state_and_counts_honestly),
        T(watch_words_report_the_data_table_only),
        T(conf_and_dirs_read_the_listeners_and_data_dir),
        T(srst_resets_the_server_counters),
        T(dump_lists_sessions_ephemerals_and_connections),
        T(envi_keeps_zookeepers_keys_in_order),
#undef T
    };
    return cmocka_run_group_tests_name("fourletter", tests, NULL, NULL);
}
