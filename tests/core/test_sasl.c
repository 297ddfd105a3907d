/* SASL: the JAAS login file parser, the DIGEST-MD5 computation against RFC 2831's worked
 * example, and whole exchanges driven by a client written here from the RFC (its own MD5
 * calls, so it does not just agree with itself). */
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

#include <openssl/evp.h>

#include "acl.h"
#include "config.h"
#include "sasl.h"
#include "zkerr.h"

#define DIGEST SASL_DIGEST_LOGIN_MODULE

/* ---- JAAS ---- */

static struct sasl_users *parse_ok(const char *text, const char *section)
{
    struct sasl_users *u = NULL;
    char err[512] = "";
    if (sasl_users_parse("t.jaas", text, strlen(text), section, &u, err, sizeof err) != 0)
        fail_msg("JAAS text:\n%s\nfailed: %s", text, err);
    return u;
}

/* Parses text as t.jaas and expects exactly the sentence `want`. */
static void expect_jaas_error(const char *text, const char *want)
{
    struct sasl_users *u = NULL;
    char err[512] = "";
    int rc = sasl_users_parse("t.jaas", text, strlen(text), "Server", &u, err, sizeof err);
    assert_null(u);
    if (rc != -1 || strcmp(err, want) != 0)
        fail_msg("JAAS text:\n%s\nreturned %d with\n  \"%s\"\nwanted\n  \"%s\"", text, rc, err,
                 want);
    /* no password ever reaches a message */
    assert_null(strstr(err, "s3cret"));
}

static void a_zookeeper_jaas_file_gives_the_server_users(void **state)
{
    (void)state;
    const char *text =
        "/* ZooKeeper's own example, with both comment styles */\n"
        "Server {\n"
        "    " DIGEST " required\n"
        "    user_super=\"adminsecret\"   // the super user\n"
        "    user_bob=\"pw\"\n"
        "    user_carol='single quoted'\n"
        "    user_dave=bare.word-1\n"
        "    user_eve=\"esc\\\"aped\\\\ \\t\\101\\344\";\n"
        "};\n"
        "Client {\n"
        "    " DIGEST " required username=\"bob\" password=\"pw\"\n"
        "    user_notme=\"x\";\n"
        "};\n"
        "QuorumServer { com.sun.security.auth.module.Krb5LoginModule REQUIRED useKeyTab=true"
        " keyTab=\"/etc/zk.keytab\"; };\n";
    struct sasl_users *u = parse_ok(text, "Server");
    assert_int_equal(sasl_users_count(u), 5);
    assert_string_equal(sasl_users_password(u, "super"), "adminsecret");
    assert_string_equal(sasl_users_password(u, "bob"), "pw");
    assert_string_equal(sasl_users_password(u, "carol"), "single quoted");
    assert_string_equal(sasl_users_password(u, "dave"), "bare.word-1");
    /* StreamTokenizer's escapes; octal 344 is U+00E4, kept as UTF-8 */
    assert_string_equal(sasl_users_password(u, "eve"), "esc\"aped\\ \tA\xc3\xa4");
    assert_null(sasl_users_password(u, "notme"));
    assert_null(sasl_users_password(u, "Bob"));
    sasl_users_free(u);

    /* another section, as zookeeper.sasl.serverconfig would name */
    u = parse_ok(text, "Client");
    assert_int_equal(sasl_users_count(u), 1);
    assert_string_equal(sasl_users_password(u, "notme"), "x");
    sasl_users_free(u);

    /* several DigestLoginModule entries: their users add up, as in ZooKeeper */
    u = parse_ok("Server {\n " DIGEST " required user_a=\"1\";\n " DIGEST
                 " optional user_b=\"2\";\n};",
                 "Server");
    assert_int_equal(sasl_users_count(u), 2);
    sasl_users_free(u);
}

static void each_malformed_file_is_refused_with_its_line(void **state)
{
    (void)state;
    expect_jaas_error("Server {\n " DIGEST " required\n user_bob \"s3cret\";\n};\n",
                      "t.jaas:3: expected \"=\" after option user_bob, found a quoted string");
    expect_jaas_error("Server {\n " DIGEST " required user_bob=;\n};\n",
                      "t.jaas:2: option user_bob: expected a value, found \";\"");
    expect_jaas_error("Server {\n " DIGEST " required user_bob=\"s3cret;\n};\n",
                      "t.jaas:2: unterminated string: the closing \" is missing on this line");
    expect_jaas_error("Server {\n " DIGEST " required user_bob=\"s3cret\";\n}\n",
                      "t.jaas:3: expected \";\" after the \"}\" closing section \"Server\", "
                      "found the end of the file");
    expect_jaas_error("Server {\n " DIGEST " mandatory user_bob=\"s3cret\";\n};\n",
                      "t.jaas:2: login module " DIGEST ": invalid control flag \"mandatory\"; "
                      "expected required, requisite, sufficient or optional");
    expect_jaas_error("Server {\n " DIGEST " user_bob=\"s3cret\";\n};\n",
                      "t.jaas:2: login module " DIGEST ": invalid control flag \"user_bob\"; "
                      "expected required, requisite, sufficient or optional");
    expect_jaas_error("Server {\n " DIGEST " required user_bob=\"s3cret\"\n};\n",
                      "t.jaas:3: login module " DIGEST ": expected an option key=\"value\" or "
                      "\";\", found \"}\"");
    expect_jaas_error("Server {\n " DIGEST " required user_bob=\"s3cret\";\n",
                      "t.jaas:1: section \"Server\" is not closed by \"};\"");
    expect_jaas_error("Server {\n " DIGEST " required user_bob=\"s3cret\"",
                      "t.jaas:2: login module " DIGEST " is not ended by \";\"");
    expect_jaas_error("Server \n " DIGEST " required user_bob=\"s3cret\";\n};\n",
                      "t.jaas:2: expected \"{\" after section name \"Server\", found a word");
    expect_jaas_error("{ " DIGEST " required; };", "t.jaas:1: expected a section name, found "
                                                   "\"{\"");
    expect_jaas_error("Server {\n = ;\n};", "t.jaas:2: section \"Server\": expected a login "
                                            "module class name, found \"=\"");
    expect_jaas_error("/* a comment\n\nServer { };", "t.jaas:1: comment opened here is not closed");
    expect_jaas_error("Server {\n " DIGEST " required user_bob=\"s3cret\" @;\n};\n",
                      "t.jaas:2: unexpected character '@'");
    expect_jaas_error("Server {\n " DIGEST " required\n user_b\xffob=\"s3cret\";\n};\n",
                      "t.jaas:3: not valid UTF-8 (byte 0xff)");
    expect_jaas_error("", "t.jaas: no section \"Server\": the file defines no sections");
    expect_jaas_error("Client { " DIGEST " required username=\"bob\" password=\"s3cret\"; };\n"
                      "QuorumServer { " DIGEST " required; };",
                      "t.jaas: no section \"Server\" (the file has Client, QuorumServer)");
    expect_jaas_error("Server { " DIGEST " required user_a=\"s3cret\"; };\n"
                      "Server { " DIGEST " required user_b=\"s3cret\"; };",
                      "t.jaas:2: section \"Server\" is defined twice (first at line 1)");
    expect_jaas_error("Server {\n " DIGEST " required\n user_bob=\"s3cret\"\n"
                      " user_bob=\"s3cret2\";\n};",
                      "t.jaas:4: user \"bob\" is defined twice (first at line 3)");
    expect_jaas_error("Server {\n " DIGEST " required user_=\"s3cret\";\n};",
                      "t.jaas:2: option user_ names no user; write user_<name>=\"<password>\"");
    expect_jaas_error("Server {\n " DIGEST " required user_bob=\"${s3cret}\";\n};",
                      "t.jaas:2: option user_bob: ${property} expansion is not supported");
    expect_jaas_error("\n\nServer {\n com.sun.security.auth.module.Krb5LoginModule required\n"
                      " useKeyTab=true;\n};",
                      "t.jaas:4: section \"Server\": login module "
                      "com.sun.security.auth.module.Krb5LoginModule is not supported; corral "
                      "does DIGEST-MD5 only, with " DIGEST);
    expect_jaas_error("\nServer {\n " DIGEST " required username=\"bob\" password=\"s3cret\";\n"
                      "};",
                      "t.jaas:2: section \"Server\" names no users; add "
                      "user_<name>=\"<password>\" options to its " DIGEST " entry");
    expect_jaas_error("Server { };", "t.jaas:1: section \"Server\" names no users; add "
                                     "user_<name>=\"<password>\" options to its " DIGEST " entry");
}

static void a_missing_file_is_named(void **state)
{
    (void)state;
    struct sasl_users *u = NULL;
    char err[256];
    assert_int_equal(sasl_users_load("/nonexistent/jaas.conf", "Server", &u, err, sizeof err), -1);
    assert_null(u);
    assert_string_equal(err, "/nonexistent/jaas.conf: cannot read: No such file or directory");
}

/* ---- the sasl config group ---- */

#define LISTENER "listeners = ( { plugin = \"cnxn-nio\"; } );\n"

static char *write_temp(const char *text)
{
    char *path = strdup("/tmp/corral-test-jaas-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void the_sasl_group_reads_its_jaas_file_at_load(void **state)
{
    (void)state;
    char *good = write_temp("Server { " DIGEST " required user_bob=\"pw\"; };\n");
    char *bad = write_temp("Server {\n " DIGEST " required user_bob \"pw\";\n};\n");
    char text[1024], err[512], want[512];
    struct config cfg;

    snprintf(text, sizeof text, LISTENER "sasl = { jaas_file = \"%s\"; super_user = \"bob\"; };",
             good);
    assert_int_equal(config_load_string(&cfg, "t.conf", text, err, sizeof err), 0);
    assert_non_null(cfg.sasl_users);
    assert_string_equal(sasl_users_password(cfg.sasl_users, "bob"), "pw");
    assert_string_equal(cfg.sasl_super_user, "bob");
    config_free(&cfg);

    assert_int_equal(config_load_string(&cfg, "t.conf", LISTENER, err, sizeof err), 0);
    assert_null(cfg.sasl_users);
    assert_null(cfg.sasl_super_user);
    config_free(&cfg);

    /* the config's line, then the JAAS file's own */
    snprintf(text, sizeof text, LISTENER "sasl = {\n jaas_file = \"%s\";\n};", bad);
    snprintf(want, sizeof want,
             "t.conf:3: sasl.jaas_file: %s:2: expected \"=\" after option user_bob, found a "
             "quoted string",
             bad);
    assert_int_equal(config_load_string(&cfg, "t.conf", text, err, sizeof err), -1);
    assert_string_equal(err, want);
    config_free(&cfg);

    snprintf(text, sizeof text, LISTENER "sasl = { jaas_file = \"%s\"; section = \"Nope\"; };",
             good);
    snprintf(want, sizeof want,
             "t.conf:2: sasl.jaas_file: %s: no section \"Nope\" (the file "
             "has Server)",
             good);
    assert_int_equal(config_load_string(&cfg, "t.conf", text, err, sizeof err), -1);
    assert_string_equal(err, want);
    config_free(&cfg);

    struct {
        const char *text, *want;
    } cases[] = {
        {LISTENER "sasl = { section = \"Server\"; };",
         "t.conf:2: sasl: missing key \"jaas_file\" (the JAAS file with the users, as "
         "ZooKeeper's java.security.auth.login.config)"},
        {LISTENER "sasl = { jaas_file = \"/x\"; realm = \"r\"; };",
         "t.conf:2: sasl: unknown key \"realm\""},
        {LISTENER "sasl = { jaas_file = 5; };",
         "t.conf:2: sasl.jaas_file: expected a non-empty string"},
        {LISTENER "sasl = { jaas_file = \"/x\"; super_user = \"\"; };",
         "t.conf:2: sasl.super_user: expected a non-empty string"},
        {LISTENER "sasl = \"/x\";", "t.conf:2: sasl: expected a group { jaas_file = \"...\"; }"},
        {LISTENER "sasl = { jaas_file = \"/nonexistent/jaas.conf\"; };",
         "t.conf:2: sasl.jaas_file: /nonexistent/jaas.conf: cannot read: No such file or "
         "directory"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = config_load_string(&cfg, "t.conf", cases[i].text, err, sizeof err);
        config_free(&cfg);
        if (rc != -1 || strcmp(err, cases[i].want) != 0)
            fail_msg("config:\n%s\nreturned %d with\n  \"%s\"\nwanted\n  \"%s\"", cases[i].text, rc,
                     err, cases[i].want);
    }
    unlink(good);
    unlink(bad);
    free(good);
    free(bad);
}

/* ---- DIGEST-MD5 ---- */

/* RFC 2831 §4, example 1 (IMAP). */
#define RFC_USER "chris"
#define RFC_PASSWORD "secret"
#define RFC_REALM "elwood.innosoft.com"
#define RFC_NONCE "OA6MG9tEQGm2hh"
#define RFC_CNONCE "OA6MHXh6VqTrRk"
#define RFC_URI "imap/elwood.innosoft.com"
#define RFC_RESPONSE "d388dad90d4bbd760a152321f2143af7"
#define RFC_RSPAUTH "ea40f60335c427b5527b84dbabcdfffd"

static void the_rfc_2831_example_computes(void **state)
{
    (void)state;
    struct sasl_digest_params p = {RFC_USER,   RFC_REALM, RFC_PASSWORD, RFC_NONCE, RFC_CNONCE,
                                   "00000001", "auth",    RFC_URI,      NULL};
    char response[33], rspauth[33];
    assert_int_equal(sasl_digest_md5(&p, response, rspauth), 0);
    assert_string_equal(response, RFC_RESPONSE);
    assert_string_equal(rspauth, RFC_RSPAUTH);

    /* an authzid joins A1, so both values change */
    p.authzid = "chris";
    assert_int_equal(sasl_digest_md5(&p, response, rspauth), 0);
    assert_string_not_equal(response, RFC_RESPONSE);
    p.authzid = NULL;

    p.password = "bad\xff";
    assert_int_equal(sasl_digest_md5(&p, response, rspauth), -EINVAL);
}

static struct sasl_users *users_of(const char *jaas)
{
    return parse_ok(jaas, "Server");
}

static enum sasl_step step_str(struct sasl_server *s, const char *token, char *out, size_t out_cap)
{
    const uint8_t *o = NULL;
    size_t n = 0;
    enum sasl_step r = sasl_server_step(s, (const uint8_t *)token, strlen(token), &o, &n);
    if (r == SASL_FAILED) {
        assert_null(o);
        assert_int_equal(n, 0);
        out[0] = '\0';
        return r;
    }
    assert_true(n < out_cap);
    memcpy(out, o, n);
    out[n] = '\0';
    return r;
}

static void the_rfc_2831_exchange_runs_on_the_server(void **state)
{
    (void)state;
    struct sasl_users *u = users_of("Server { " DIGEST " required user_chris=\"secret\"; };");
    struct sasl_server *s = sasl_server_new(u, RFC_REALM, RFC_URI, RFC_NONCE);
    char out[2048];
    assert_int_equal(step_str(s, "", out, sizeof out), SASL_CONTINUE);
    assert_string_equal(out, "realm=\"" RFC_REALM "\",nonce=\"" RFC_NONCE
                             "\",charset=utf-8,algorithm=md5-sess");
    /* the RFC's digest-response, byte for byte */
    assert_int_equal(step_str(s,
                              "charset=utf-8,username=\"chris\",realm=\"elwood.innosoft.com\","
                              "nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce=\"OA6MHXh6VqTrRk\","
                              "digest-uri=\"imap/elwood.innosoft.com\","
                              "response=d388dad90d4bbd760a152321f2143af7,qop=auth",
                              out, sizeof out),
                     SASL_DONE);
    assert_string_equal(out, "rspauth=" RFC_RSPAUTH);
    assert_string_equal(sasl_server_user(s), "chris");
    /* the exchange is over: another token fails */
    assert_int_equal(step_str(s, "", out, sizeof out), SASL_FAILED);
    assert_string_equal(sasl_server_error(s), "a token after the exchange completed");
    sasl_server_free(s);
    sasl_users_free(u);
}

/* ---- a client, written from RFC 2831 ---- */

static void md5(const void *data, size_t len, unsigned char out[16])
{
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(data, len, out, &n, EVP_md5(), NULL), 1);
    assert_int_equal(n, 16);
}

static void md5_hex(const char *text, char out[33])
{
    unsigned char d[16];
    md5(text, strlen(text), d);
    for (int i = 0; i < 16; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

/* The quoted value of `key` in a challenge. */
static void challenge_value(const char *challenge, const char *key, char *out, size_t cap)
{
    char pat[32];
    snprintf(pat, sizeof pat, "%s=\"", key);
    const char *v = strstr(challenge, pat);
    assert_non_null(v);
    v += strlen(pat);
    const char *end = strchr(v, '"');
    assert_non_null(end);
    assert_true((size_t)(end - v) < cap);
    memcpy(out, v, (size_t)(end - v));
    out[end - v] = '\0';
}

struct client {
    const char *user, *password;        /* as the client hashes them: ISO 8859-1 here */
    const char *wire_user;              /* as sent; NULL: user */
    const char *uri, *nc, *qop, *realm; /* NULL realm: the challenge's */
    const char *authzid;
    const char *extra; /* appended directives */
    bool no_charset;
    char nonce[64];
    char rspauth[33]; /* what the server must answer */
};

static void client_response(struct client *c, const char *challenge, char *out, size_t cap)
{
    char realm[128], a1_inner_text[256], a2[128], ha1[33], ha2[33], kd[512], response[33];
    unsigned char inner[16];
    challenge_value(challenge, "nonce", c->nonce, sizeof c->nonce);
    challenge_value(challenge, "realm", realm, sizeof realm);
    assert_non_null(strstr(challenge, "algorithm=md5-sess"));
    const char *use_realm = c->realm ? c->realm : realm;
    const char *uri = c->uri ? c->uri : SASL_ZK_DIGEST_URI;
    const char *nc = c->nc ? c->nc : "00000001";
    const char *qop = c->qop ? c->qop : "auth";
    const char *cnonce = "vYX1dWq8yB2iGzPhc3UwHg";

    snprintf(a1_inner_text, sizeof a1_inner_text, "%s:%s:%s", c->user, use_realm, c->password);
    md5(a1_inner_text, strlen(a1_inner_text), inner);
    unsigned char a1[256];
    size_t a1_len = 0;
    memcpy(a1, inner, 16);
    a1_len = 16 + (size_t)snprintf((char *)a1 + 16, sizeof a1 - 16, ":%s:%s%s%s", c->nonce, cnonce,
                                   c->authzid ? ":" : "", c->authzid ? c->authzid : "");
    unsigned char d[16];
    md5(a1, a1_len, d);
    for (int i = 0; i < 16; i++)
        sprintf(ha1 + 2 * i, "%02x", d[i]);

    snprintf(a2, sizeof a2, "AUTHENTICATE:%s", uri);
    md5_hex(a2, ha2);
    snprintf(kd, sizeof kd, "%s:%s:%s:%s:%s:%s", ha1, c->nonce, nc, cnonce, qop, ha2);
    md5_hex(kd, response);
    snprintf(a2, sizeof a2, ":%s", uri);
    md5_hex(a2, ha2);
    snprintf(kd, sizeof kd, "%s:%s:%s:%s:%s:%s", ha1, c->nonce, nc, cnonce, qop, ha2);
    md5_hex(kd, c->rspauth);

    char authzid[96] = "";
    if (c->authzid)
        snprintf(authzid, sizeof authzid, ",authzid=\"%s\"", c->authzid);
    snprintf(out, cap,
             "%susername=\"%s\",realm=\"%s\",nonce=\"%s\",nc=%s,cnonce=\"%s\","
             "digest-uri=\"%s\",maxbuf=65536,response=%s,qop=%s%s%s",
             c->no_charset ? "" : "charset=utf-8,", c->wire_user ? c->wire_user : c->user,
             use_realm, c->nonce, nc, cnonce, uri, response, qop, authzid,
             c->extra ? c->extra : "");
}

struct fixture {
    struct sasl_users *users;
};

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->users = users_of("Server {\n " DIGEST " required\n user_bob=\"pw\"\n"
                        " user_super=\"adminsecret\"\n"
                        " user_j\xc3\xbcrgen=\"p\xc3\xa4sswort\";\n};\n");
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    sasl_users_free(f->users);
    free(f);
    return 0;
}

/* Runs the exchange as ZooKeeper's Java client does (an empty first token); returns what the
 * second step gave and leaves the server's last token in out. */
static enum sasl_step exchange(struct fixture *f, struct client *c, char **user, char *why,
                               size_t why_len)
{
    struct sasl_server *s = sasl_server_new(f->users, SASL_ZK_REALM, SASL_ZK_DIGEST_URI, NULL);
    assert_non_null(s);
    char challenge[2048], response[4200], final[2048];
    assert_int_equal(step_str(s, "", challenge, sizeof challenge), SASL_CONTINUE);
    client_response(c, challenge, response, sizeof response);
    enum sasl_step r = step_str(s, response, final, sizeof final);
    if (r == SASL_DONE) {
        /* the client checks rspauth against its own computation */
        char want[48];
        snprintf(want, sizeof want, "rspauth=%s", c->rspauth);
        assert_string_equal(final, want);
        *user = strdup(sasl_server_user(s));
    } else {
        *user = NULL;
    }
    snprintf(why, why_len, "%s", sasl_server_error(s));
    sasl_server_free(s);
    return r;
}

static void a_client_logs_in_and_checks_rspauth(void **state)
{
    struct fixture *f = *state;
    char *user, why[200];
    struct client c = {.user = "bob", .password = "pw"};
    assert_int_equal(exchange(f, &c, &user, why, sizeof why), SASL_DONE);
    assert_string_equal(user, "bob");
    free(user);

    /* the nonce is ZooKeeper's length, and fresh each time */
    char first[64];
    strcpy(first, c.nonce);
    assert_int_equal(strlen(first), 40);
    assert_int_equal(exchange(f, &c, &user, why, sizeof why), SASL_DONE);
    assert_string_not_equal(first, c.nonce);
    free(user);
}

static void a_wrong_password_fails(void **state)
{
    struct fixture *f = *state;
    char *user, why[200];
    struct client c = {.user = "bob", .password = "wrong"};
    assert_int_equal(exchange(f, &c, &user, why, sizeof why), SASL_FAILED);
    assert_null(user);
    assert_string_equal(why, "wrong password for user \"bob\"");
    assert_null(strstr(why, "wrong\""));
}

static void what_zookeeper_accepts_is_accepted(void **state)
{
    struct fixture *f = *state;
    char *user, why[200];
    /* an authzid is hashed but the identity stays the user, as ZooKeeper sets it */
    struct client c = {.user = "bob", .password = "pw", .authzid = "alice"};
    assert_int_equal(exchange(f, &c, &user, why, sizeof why), SASL_DONE);
    assert_string_equal(user, "bob");
    free(user);
    /* digest-uri compared without case; unknown directives ignored */
    struct client c2 = {.user = "bob",
                        .password = "pw",
                        .uri = "ZooKeeper/ZK-SASL-MD5",
                        .extra = ",cipher=rc4,x-future=\"a, b\""};
    assert_int_equal(exchange(f, &c2, &user, why, sizeof why), SASL_DONE);
    free(user);
    /* charset=utf-8: a name and password in ISO 8859-1 range are hashed in ISO 8859-1 */
    struct client c3 = {
        .user = "j\xfcrgen", .wire_user = "j\xc3\xbcrgen", .password = "p\xe4sswort"};
    assert_int_equal(exchange(f, &c3, &user, why, sizeof why), SASL_DONE);
    assert_string_equal(user, "j\xc3\xbcrgen");
    free(user);
    /* no charset: the name itself comes in ISO 8859-1 */
    struct client c4 = {.user = "j\xfcrgen", .password = "p\xe4sswort", .no_charset = true};
    assert_int_equal(exchange(f, &c4, &user, why, sizeof why), SASL_DONE);
    assert_string_equal(user, "j\xc3\xbcrgen");
    free(user);
}

static void what_zookeeper_refuses_is_refused(void **state)
{
    struct fixture *f = *state;
    char *user, why[200];
    struct {
        struct client c;
        const char *why;
    } cases[] = {
        {{.user = "mallory", .password = "pw"}, "unknown user \"mallory\""},
        {{.user = "bob", .password = "pw", .nc = "00000002"}, "nonce count is not 00000001"},
        {{.user = "bob", .password = "pw", .qop = "auth-int"},
         "qop is not auth (integrity and privacy are not offered)"},
        {{.user = "bob", .password = "pw", .uri = "zookeeper/elsewhere"},
         "digest-uri is not zookeeper/zk-sasl-md5"},
        {{.user = "bob", .password = "pw", .realm = "other"}, "realm is not \"zk-sasl-md5\""},
        {{.user = "bob", .password = "pw", .extra = ",nc=00000001"}, "malformed digest-response"},
        {{.user = "bob", .password = "pw", .extra = ",charset=latin1"},
         "malformed digest-response"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(exchange(f, &cases[i].c, &user, why, sizeof why), SASL_FAILED);
        assert_null(user);
        assert_string_equal(why, cases[i].why);
    }
}

static void malformed_tokens_fail(void **state)
{
    struct fixture *f = *state;
    char out[2048];
    const char *tokens[] = {
        "garbage",
        "username=\"bob\"",
        "username=\"bob,realm=x",
        "=x",
        "username=\"bob\" realm=\"x\"",
        "charset=latin1,username=\"bob\",realm=\"zk-sasl-md5\",nonce=\"n\",nc=00000001,"
        "cnonce=\"c\",digest-uri=\"zookeeper/zk-sasl-md5\",response=00,qop=auth",
    };
    const char *why[] = {
        "malformed digest-response", "digest-response lacks a required directive",
        "malformed digest-response", "malformed digest-response",
        "malformed digest-response", "charset is not utf-8",
    };
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        struct sasl_server *s = sasl_server_new(f->users, SASL_ZK_REALM, SASL_ZK_DIGEST_URI, NULL);
        assert_int_equal(step_str(s, "ignored initial response", out, sizeof out), SASL_CONTINUE);
        assert_int_equal(step_str(s, tokens[i], out, sizeof out), SASL_FAILED);
        assert_string_equal(sasl_server_error(s), why[i]);
        /* a failed exchange stays failed */
        assert_int_equal(step_str(s, "", out, sizeof out), SASL_FAILED);
        sasl_server_free(s);
    }

    /* a stale nonce, a short response, a binary or oversized token */
    struct sasl_server *s = sasl_server_new(f->users, SASL_ZK_REALM, SASL_ZK_DIGEST_URI, "n1");
    assert_int_equal(step_str(s, "", out, sizeof out), SASL_CONTINUE);
    assert_int_equal(step_str(s,
                              "username=\"bob\",realm=\"zk-sasl-md5\",nonce=\"n0\",nc=00000001,"
                              "cnonce=\"c\",digest-uri=\"zookeeper/zk-sasl-md5\",response=00",
                              out, sizeof out),
                     SASL_FAILED);
    assert_string_equal(sasl_server_error(s), "nonce does not match the challenge");
    sasl_server_free(s);

    s = sasl_server_new(f->users, SASL_ZK_REALM, SASL_ZK_DIGEST_URI, "n1");
    assert_int_equal(step_str(s, "", out, sizeof out), SASL_CONTINUE);
    assert_int_equal(step_str(s,
                              "username=\"bob\",realm=\"zk-sasl-md5\",nonce=\"n1\",nc=00000001,"
                              "cnonce=\"c\",digest-uri=\"zookeeper/zk-sasl-md5\",response=00",
                              out, sizeof out),
                     SASL_FAILED);
    assert_string_equal(sasl_server_error(s), "malformed response value");
    sasl_server_free(s);

    s = sasl_server_new(f->users, SASL_ZK_REALM, SASL_ZK_DIGEST_URI, NULL);
    const uint8_t *o;
    size_t n;
    assert_int_equal(sasl_server_step(s, NULL, 0, &o, &n), SASL_CONTINUE);
    static const uint8_t binary[] = {'u', '=', 0, 'x'};
    assert_int_equal(sasl_server_step(s, binary, sizeof binary, &o, &n), SASL_FAILED);
    assert_string_equal(sasl_server_error(s), "empty or binary digest-response");
    sasl_server_free(s);

    s = sasl_server_new(f->users, SASL_ZK_REALM, SASL_ZK_DIGEST_URI, NULL);
    assert_int_equal(sasl_server_step(s, NULL, 0, &o, &n), SASL_CONTINUE);
    static uint8_t big[5000];
    memset(big, 'a', sizeof big);
    assert_int_equal(sasl_server_step(s, big, sizeof big, &o, &n), SASL_FAILED);
    assert_string_equal(sasl_server_error(s), "digest-response of 5000 bytes exceeds 4096");
    sasl_server_free(s);
}

/* ---- sasl ACL ids ---- */

static int fixup_one(const char *scheme, const char *id)
{
    struct zk_acl item = {.perms = ZK_PERM_ALL, .id = {.scheme = scheme, .id = id}};
    struct zk_acl_vec in = {.count = 1, .items = &item}, out = {0};
    int rc = acl_fixup(&in, NULL, 0, &out);
    acl_vec_free(&out);
    return rc;
}

static void sasl_acl_ids_are_valid_once_sasl_is_configured(void **state)
{
    (void)state;
    assert_int_equal(fixup_one("sasl", "bob"), ZK_INVALIDACL); /* no provider yet */
    acl_enable_sasl(true);
    /* ZooKeeper's rule is Kerberos name syntax */
    const char *good[] = {"bob", "", "a/b/c", "bob@EXAMPLE.COM", "zk/host@EXAMPLE.COM", "@R"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (fixup_one("sasl", good[i]) != 0)
            fail_msg("sasl:%s refused", good[i]);
    const char *bad[] = {"a@b@c", "a/b/c@R", "a@R/x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (fixup_one("sasl", bad[i]) != ZK_INVALIDACL)
            fail_msg("sasl:%s accepted", bad[i]);

    /* a sasl entry admits its own user, and ZooKeeper's provider lets "super" match any */
    struct zk_acl item = {.perms = ZK_PERM_READ, .id = {.scheme = "sasl", .id = "bob"}};
    struct zk_acl_vec acl = {.count = 1, .items = &item};
    struct auth_id bob[] = {{"ip", "127.0.0.1"}, {"sasl", "bob"}};
    struct auth_id carol[] = {{"ip", "127.0.0.1"}, {"sasl", "carol"}};
    struct auth_id super_user[] = {{"sasl", "super"}};
    struct auth_id digest_bob[] = {{"digest", "bob"}};
    assert_true(acl_permits(&acl, ZK_PERM_READ, bob, 2));
    assert_false(acl_permits(&acl, ZK_PERM_WRITE, bob, 2));
    assert_false(acl_permits(&acl, ZK_PERM_READ, carol, 2));
    assert_true(acl_permits(&acl, ZK_PERM_READ, super_user, 1));
    assert_false(acl_permits(&acl, ZK_PERM_READ, digest_bob, 1));
    acl_enable_sasl(false);
    assert_int_equal(fixup_one("sasl", "bob"), ZK_INVALIDACL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_zookeeper_jaas_file_gives_the_server_users),
        cmocka_unit_test(each_malformed_file_is_refused_with_its_line),
        cmocka_unit_test(a_missing_file_is_named),
        cmocka_unit_test(the_sasl_group_reads_its_jaas_file_at_load),
        cmocka_unit_test(the_rfc_2831_example_computes),
        cmocka_unit_test(the_rfc_2831_exchange_runs_on_the_server),
        cmocka_unit_test_setup_teardown(a_client_logs_in_and_checks_rspauth, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(a_wrong_password_fails, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(what_zookeeper_accepts_is_accepted, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(what_zookeeper_refuses_is_refused, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(malformed_tokens_fail, fixture_setup, fixture_teardown),
        cmocka_unit_test(sasl_acl_ids_are_valid_once_sasl_is_configured),
    };
    return cmocka_run_group_tests_name("sasl", tests, NULL, NULL);
}
