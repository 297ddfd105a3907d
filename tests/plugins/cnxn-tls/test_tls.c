/* cnxn-tls against the fake host, with real loopback sockets and an OpenSSL client in the same
 * thread. The certificates (two CAs, two servers, three clients) are made at start-up with the
 * OpenSSL API into a temporary directory. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
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
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <corral/cnxn.h>
#include <corral/plugin.h>

#include "fake_host.h"

#define WAIT_MS 5000 /* generous bound for anything that should take milliseconds */

/* ---- the test PKI ---- */

struct pki {
    char dir[256];
    char ca[PATH_MAX], other_ca[PATH_MAX];
    char server[PATH_MAX], server_key[PATH_MAX];
    char server2[PATH_MAX], server2_key[PATH_MAX];
    char alice[PATH_MAX], alice_key[PATH_MAX];
    char bob[PATH_MAX], bob_key[PATH_MAX];
    char mallory[PATH_MAX], mallory_key[PATH_MAX]; /* signed by other_ca */
    char encrypted_key[PATH_MAX];
    char garbage[PATH_MAX];
};
static struct pki pki; /* the test's own; plugins keep nothing at file scope */
static long pki_serial = 1;

#define ALICE_SUBJECT "CN=alice,OU=clients,O=corral"
#define BOB_SUBJECT "CN=bob,OU=clients,O=corral"

static void pki_path(char *out, const char *name)
{
    snprintf(out, PATH_MAX, "%s/%s", pki.dir, name);
}

static void pki_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(cert, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* kind: 'a' a CA, 's' a server, 'c' a client. issuer NULL: self-signed. */
static X509 *pki_cert(const char *cn, const char *ou, EVP_PKEY *key, X509 *issuer,
                      EVP_PKEY *issuer_key, char kind)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), pki_serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"corral", -1, -1, 0);
    if (ou != NULL)
        X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_ASC, (const unsigned char *)ou, -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509 *iss = issuer != NULL ? issuer : x;
    X509_set_issuer_name(x, X509_get_subject_name(iss));
    pki_ext(x, iss, NID_subject_key_identifier, "hash");
    if (kind == 'a') {
        pki_ext(x, iss, NID_basic_constraints, "critical,CA:TRUE");
        pki_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        pki_ext(x, iss, NID_basic_constraints, "critical,CA:FALSE");
        pki_ext(x, iss, NID_key_usage, "critical,digitalSignature");
        pki_ext(x, iss, NID_ext_key_usage, kind == 's' ? "serverAuth" : "clientAuth");
        if (kind == 's')
            pki_ext(x, iss, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    }
    pki_ext(x, iss, NID_authority_key_identifier, "keyid:always");
    assert_true(X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

static void pki_write_cert(const char *path, X509 *x)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    fclose(f);
}

static void pki_write_key(const char *path, EVP_PKEY *k, bool encrypted)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (encrypted)
        assert_int_equal(PEM_write_PrivateKey(f, k, EVP_aes_128_cbc(),
                                              (const unsigned char *)"secret", 6, NULL, NULL),
                         1);
    else
        assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
}

/* A leaf: its key and certificate, written to name.pem and name.key. */
static void pki_leaf(char *cert_path, char *key_path, const char *name, const char *cn,
                     const char *ou, X509 *ca, EVP_PKEY *ca_key, char kind)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    X509 *x = pki_cert(cn, ou, k, ca, ca_key, kind);
    char file[64];
    snprintf(file, sizeof file, "%s.pem", name);
    pki_path(cert_path, file);
    snprintf(file, sizeof file, "%s.key", name);
    pki_path(key_path, file);
    pki_write_cert(cert_path, x);
    pki_write_key(key_path, k, false);
    X509_free(x);
    EVP_PKEY_free(k);
}

static int pki_setup(void **state)
{
    (void)state;
    snprintf(pki.dir, sizeof pki.dir, "/tmp/corral-test-tls.XXXXXX");
    assert_non_null(mkdtemp(pki.dir));
    EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *other_key = EVP_EC_gen("P-256");
    assert_non_null(ca_key);
    assert_non_null(other_key);
    X509 *ca = pki_cert("corral test CA", NULL, ca_key, NULL, NULL, 'a');
    X509 *other = pki_cert("some other CA", NULL, other_key, NULL, NULL, 'a');
    pki_path(pki.ca, "ca.pem");
    pki_path(pki.other_ca, "other-ca.pem");
    pki_write_cert(pki.ca, ca);
    pki_write_cert(pki.other_ca, other);
    pki_leaf(pki.server, pki.server_key, "server", "corral-server", NULL, ca, ca_key, 's');
    pki_leaf(pki.server2, pki.server2_key, "server2", "corral-server-2", NULL, ca, ca_key, 's');
    pki_leaf(pki.alice, pki.alice_key, "alice", "alice", "clients", ca, ca_key, 'c');
    pki_leaf(pki.bob, pki.bob_key, "bob", "bob", "clients", ca, ca_key, 'c');
    pki_leaf(pki.mallory, pki.mallory_key, "mallory", "mallory", "clients", other, other_key, 'c');
    EVP_PKEY *k = EVP_EC_gen("P-256");
    pki_path(pki.encrypted_key, "encrypted.key");
    pki_write_key(pki.encrypted_key, k, true);
    EVP_PKEY_free(k);
    pki_path(pki.garbage, "garbage.pem");
    FILE *f = fopen(pki.garbage, "w");
    assert_non_null(f);
    fputs("this is not PEM\n", f);
    fclose(f);
    X509_free(ca);
    X509_free(other);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(other_key);
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int pki_teardown(void **state)
{
    (void)state;
    if (getenv("CORRAL_KEEP_TMP") == NULL)
        nftw(pki.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    assert_non_null(in);
    FILE *out = fopen(to, "wb"); /* in place: the same inode, as an editor or cp would */
    assert_non_null(out);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* ---- sockets and the loop ---- */

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

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

static bool has_log(struct fake_host *fh, void *arg)
{
    return fake_host_find_log(fh, arg) != NULL;
}

static bool wait_log(struct fake_host *fh, const char *needle)
{
    return fake_host_run_until(fh, WAIT_MS, has_log, (void *)needle);
}

/* The metric of that name the latest instance defined. */
static const struct fake_metric *metric(const struct fake_host *fh, const char *name)
{
    for (uint32_t i = fh->n_metrics; i-- > 0;)
        if (strcmp(fh->metrics[i].name, name) == 0)
            return &fh->metrics[i];
    fail_msg("no metric %s was defined", name);
    return NULL;
}

static bool has_failures(struct fake_host *fh, void *arg)
{
    return metric(fh, "unsuccessful_handshake")->value >= (double)*(size_t *)arg;
}

static bool wait_failures(struct fake_host *fh, size_t n)
{
    return fake_host_run_until(fh, WAIT_MS, has_failures, &n);
}

static size_t put_frame(uint8_t *buf, size_t at, const void *payload, uint32_t len)
{
    buf[at] = (uint8_t)(len >> 24);
    buf[at + 1] = (uint8_t)(len >> 16);
    buf[at + 2] = (uint8_t)(len >> 8);
    buf[at + 3] = (uint8_t)len;
    memcpy(buf + at + 4, payload, len);
    return at + 4 + len;
}

static void fill_pattern(uint8_t *p, size_t len, size_t seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)((i + seed) * 131u >> 3);
}

/* Reads a plain socket until EOF, pumping the loop; returns the bytes read or -1. */
static ssize_t raw_read_until_eof(struct fake_host *fh, int fd)
{
    uint8_t buf[4096];
    size_t got = 0;
    uint64_t deadline = mono_ms() + WAIT_MS;
    while (mono_ms() < deadline) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0)
            return (ssize_t)got;
        if (n > 0)
            got += (size_t)n;
        else if (errno == ECONNRESET)
            return (ssize_t)got;
        else if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        else
            fake_host_run(fh, 2);
    }
    return -1;
}

/* ---- a TLS client on a non-blocking socket, pumping the server's loop while it waits ---- */

struct tcli {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    bool clean_eof; /* the server sent close_notify */
};

struct tcli_opts {
    const char *cert, *key; /* NULL: no client certificate */
    int min_version, max_version;
    int rcvbuf;
};

static struct tcli *tcli_connect(int port, const struct tcli_opts *o)
{
    struct tcli *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(c->ctx);
    assert_int_equal(SSL_CTX_load_verify_locations(c->ctx, pki.ca, NULL), 1);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (o != NULL && o->min_version != 0)
        SSL_CTX_set_min_proto_version(c->ctx, o->min_version);
    if (o != NULL && o->max_version != 0)
        SSL_CTX_set_max_proto_version(c->ctx, o->max_version);
    if (o != NULL && o->cert != NULL) {
        assert_int_equal(SSL_CTX_use_certificate_file(c->ctx, o->cert, SSL_FILETYPE_PEM), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(c->ctx, o->key, SSL_FILETYPE_PEM), 1);
    }
    c->fd = connect_to(port, o != NULL ? o->rcvbuf : 0);
    assert_int_equal(fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK), 0);
    c->ssl = SSL_new(c->ctx);
    assert_non_null(c->ssl);
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_connect_state(c->ssl);
    return c;
}

static void tcli_free(struct tcli *c)
{
    if (c == NULL)
        return;
    SSL_free(c->ssl);
    SSL_CTX_free(c->ctx);
    close(c->fd);
    free(c);
    ERR_clear_error();
}

/* Runs the client's handshake to the end; true when the client side of it succeeded. */
static bool tcli_handshake(struct fake_host *fh, struct tcli *c)
{
    uint64_t deadline = mono_ms() + WAIT_MS;
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(c->ssl);
        if (r == 1)
            return true;
        int e = SSL_get_error(c->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return false;
        if (mono_ms() > deadline)
            fail_msg("client handshake did not finish");
        fake_host_run(fh, 1);
    }
}

static void tcli_write(struct fake_host *fh, struct tcli *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t deadline = mono_ms() + WAIT_MS;
    while (len > 0) {
        ERR_clear_error();
        int n = SSL_write(c->ssl, p, (int)len);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            fail_msg("client SSL_write failed: %d", e);
        if (mono_ms() > deadline)
            fail_msg("client could not write");
        fake_host_run(fh, 1);
    }
}

/* Reads up to cap bytes until `want` arrived (0: until EOF). Returns the count, or -1 on a
 * timeout or when more than cap arrived; -2 when the connection failed instead of ending. */
static ssize_t tcli_read(struct fake_host *fh, struct tcli *c, uint8_t *buf, size_t cap,
                         size_t want)
{
    size_t got = 0;
    uint64_t deadline = mono_ms() + WAIT_MS;
    while (mono_ms() < deadline) {
        if (want > 0 && got >= want)
            return (ssize_t)got;
        ERR_clear_error();
        if (got == cap) {
            uint8_t extra;
            int n = SSL_peek(c->ssl, &extra, 1);
            if (n > 0)
                return -1; /* more than expected */
            int e = SSL_get_error(c->ssl, n);
            if (e == SSL_ERROR_ZERO_RETURN) {
                c->clean_eof = true;
                return (ssize_t)got;
            }
            if (e != SSL_ERROR_WANT_READ)
                return e == SSL_ERROR_SYSCALL ? (ssize_t)got : -2;
            fake_host_run(fh, 1);
            continue;
        }
        int n = SSL_read(c->ssl, buf + got, (int)(cap - got));
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        int e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_ZERO_RETURN) {
            c->clean_eof = true;
            return (ssize_t)got;
        }
        if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
            return (ssize_t)got; /* EOF without close_notify */
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return -2;
        fake_host_run(fh, 1);
    }
    return -1;
}

/* True when the server refused the client: the handshake failed, or (TLS 1.3, where the server
 * judges the client's certificate after the client is done) the first read fails. */
static bool tcli_refused(struct fake_host *fh, struct tcli *c)
{
    if (!tcli_handshake(fh, c))
        return true;
    uint8_t buf[16];
    return tcli_read(fh, c, buf, sizeof buf, 0) == -2;
}

/* The CN of the certificate the server presented. */
static void tcli_server_cn(struct tcli *c, char *cn, size_t len)
{
    X509 *x = SSL_get0_peer_certificate(c->ssl);
    assert_non_null(x);
    assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, (int)len) >
                0);
}

/* ---- the plugin under test ---- */

struct tls_test {
    const struct corral_cnxn_ops *ops;
    void *self;
    int port;
    size_t reply_bytes;   /* on_frame sends this many bytes of pattern ... */
    bool close_in_frame;  /* ... then closes */
    bool pause_in_frame;  /* on_frame calls set_reading(false) */
    bool echo;            /* on_frame sends the frame back */
    int send_after_close; /* what send() returned after close() inside on_frame */
};

static const struct corral_cnxn_ops *ops(void)
{
    return corral_plugin.ops.cnxn;
}

/* "cert = ...; key = ...; ca = ...;" for the standard server files. */
static const char *std_files(void)
{
    static char buf[4 * PATH_MAX];
    snprintf(buf, sizeof buf, "cert = \"%s\"; key = \"%s\"; ca = \"%s\";", pki.server,
             pki.server_key, pki.ca);
    return buf;
}

/* create + start on 127.0.0.1 at a free port; `body` is the rest of the group. */
static void start_tls(struct fake_host *fh, struct tls_test *t, const char *fmt, ...)
    CORRAL_PRINTF(3, 4);

static void start_tls(struct fake_host *fh, struct tls_test *t, const char *fmt, ...)
{
    char body[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    t->port = free_port();
    fake_host_set_configf(fh, "address = \"127.0.0.1\"; port = %d; %s", t->port, body);
    t->ops = ops();
    t->self = NULL;
    assert_int_equal(t->ops->create(&fh->host, fh->ctx, &t->self), 0);
    assert_null(fake_host_unread_key(fh));
    assert_non_null(t->self);
    int rc = t->ops->start(t->self);
    if (rc != 0 && fh->n_lines > 0)
        fail_msg("start failed (%d): %s", rc, fh->lines[fh->n_lines - 1].text);
    fh->user = t;
}

static void stop_tls(struct tls_test *t)
{
    t->ops->stop(t->self);
    t->ops->destroy(t->self);
    t->self = NULL;
}

/* A TLS client that finished its handshake and that the plugin reported open. */
static struct tcli *tls_open(struct fake_host *fh, struct tls_test *t, const struct tcli_opts *o,
                             struct corral_cnxn **c)
{
    size_t before = fake_host_count(fh, FAKE_EV_OPENED, NULL);
    struct tcli *cli = tcli_connect(t->port, o);
    assert_true(tcli_handshake(fh, cli));
    assert_true(wait_events(fh, FAKE_EV_OPENED, before + 1));
    *c = fake_host_event(fh, FAKE_EV_OPENED, before)->c;
    return cli;
}

static const struct tcli_opts ALICE = {.cert = pki.alice, .key = pki.alice_key};

static void frame_hook(struct fake_host *fh, struct corral_cnxn *c, const uint8_t *frame,
                       size_t len)
{
    struct tls_test *t = fh->user;
    if (t->echo) {
        uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                          (uint8_t)len};
        struct iovec iov[2] = {{hdr, 4}, {(void *)frame, len}};
        assert_int_equal(t->ops->send(t->self, c, iov, 2), (int)(4 + len));
    }
    if (t->reply_bytes > 0) {
        uint8_t *reply = malloc(t->reply_bytes);
        assert_non_null(reply);
        fill_pattern(reply, t->reply_bytes, 0);
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

/* Sends one frame and expects it echoed back. */
static void expect_echo(struct fake_host *fh, struct tcli *cli, const char *text)
{
    uint8_t req[256], resp[256];
    size_t n = put_frame(req, 0, text, (uint32_t)strlen(text));
    tcli_write(fh, cli, req, n);
    assert_int_equal(tcli_read(fh, cli, resp, n, n), (ssize_t)n);
    assert_memory_equal(resp, req, n);
}

/* ---- lifecycle and config ---- */

static void stop_and_destroy_without_start_are_safe(void **state)
{
    struct fake_host *fh = *state;
    fake_host_set_configf(fh, "%s", std_files());
    void *self = NULL;
    assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), 0);
    ops()->stop(self);
    ops()->stop(self);
    ops()->destroy(self);
}

static void create_reads_every_key_it_knows_and_no_other(void **state)
{
    struct fake_host *fh = *state;
    fake_host_set_configf(fh,
                          "address = \"127.0.0.1\"; port = 2281; backlog = 10;"
                          " max_queued_bytes = 100000; %s client_auth = \"want\";"
                          " protocols = \"TLSv1.3\"; ciphers = \"HIGH\";"
                          " ciphersuites = \"TLS_AES_128_GCM_SHA256\";"
                          " handshake_timeout_ms = 500; reload_interval_ms = 0; prot = 2;",
                          std_files());
    void *self = NULL;
    assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), 0);
    assert_string_equal(fake_host_unread_key(fh), "prot");
    assert_int_equal(fake_host_count_errors(fh), 0);
    /* ZooKeeper's names for the two TLS metrics */
    assert_int_equal(metric(fh, "unsuccessful_handshake")->type, CORRAL_METRIC_COUNTER);
    assert_int_equal(metric(fh, "outstanding_tls_handshake")->type, CORRAL_METRIC_GAUGE);
    ops()->destroy(self);
}

struct bad_value {
    const char *config;
    const char *error; /* the sentence create records */
};

static void bad_config_values_fail_create_naming_the_key(void **state)
{
    struct fake_host *fh = *state;
    static const struct bad_value cases[] = {
        {"key = \"/k\"; ca = \"/c\";", "cert: required"},
        {"cert = \"\"; key = \"/k\"; ca = \"/c\";", "cert: required"},
        {"cert = \"/c\"; ca = \"/c\";", "key: required"},
        {"cert = \"/c\"; key = \"/k\";",
         "ca: required to verify clients with client_auth \"need\""},
        {"cert = \"/c\"; key = \"/k\"; client_auth = \"want\";",
         "ca: required to verify clients with client_auth \"want\""},
        {"cert = \"/c\"; key = \"/k\"; ca = \"/c\"; client_auth = \"maybe\";",
         "client_auth: \"maybe\" is not one of \"none\", \"want\", \"need\""},
        {"cert = \"/c\"; key = \"/k\"; ca = \"/c\"; client_auth = true;",
         "client_auth: expected a string"},
        {"cert = \"/c\"; key = \"/k\"; ca = \"/c\"; protocols = \"TLSv1.1,TLSv1.2\";",
         "protocols: \"TLSv1.1,TLSv1.2\" names an unsupported protocol"},
        {"cert = \"/c\"; key = \"/k\"; ca = \"/c\"; protocols = \" , \";",
         "protocols: \" , \" is empty"},
        {"cert = 5; key = \"/k\"; ca = \"/c\";", "cert: expected a string"},
        {"cert = \"/c\"; key = \"/k\"; ca = \"/c\"; port = 0;", "port: 0 is out of range"},
        {"cert = \"/c\"; key = \"/k\"; ca = \"/c\"; handshake_timeout_ms = 0;",
         "handshake_timeout_ms: 0 is out of range"},
        {"cert = \"/c\"; key = \"/k\"; ca = \"/c\"; reload_interval_ms = -1;",
         "reload_interval_ms: -1 is out of range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_host_set_configf(fh, "%s", cases[i].config);
        size_t errors = fake_host_count_errors(fh);
        void *self = NULL;
        assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), -EINVAL);
        assert_null(self);
        assert_int_equal(fake_host_count_errors(fh), errors + 1);
        if (fake_host_find_error(fh, cases[i].error) == NULL)
            fail_msg("config \"%s\": no error containing \"%s\"", cases[i].config, cases[i].error);
    }
    /* client_auth none needs no ca, and ignores one */
    fake_host_set_configf(fh, "cert = \"/c\"; key = \"/k\"; client_auth = \"none\";");
    void *self = NULL;
    assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), 0);
    ops()->destroy(self);
}

/* As testvfs does: fail each getter (and metric_define) call in turn; create must pass the
 * code on and leak nothing, and succeed once the failure lies beyond its last call. */
static void every_host_failure_fails_create_cleanly(void **state)
{
    struct fake_host *fh = *state;
    fake_host_set_configf(fh, "%s", std_files());
    static const enum fake_slot slots[] = {FAKE_SLOT_CONF_INT, FAKE_SLOT_CONF_STR,
                                           FAKE_SLOT_METRIC_DEFINE};
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
        assert_true(nth > 1);
        fake_host_inject(fh, slots[s], 0, 0, false);
    }
}

struct bad_file {
    const char *cert, *key, *ca;
    const char *extra;
    int rc;
    const char *error;
};

static void bad_files_fail_start_naming_the_key_and_file(void **state)
{
    struct fake_host *fh = *state;
    char missing[PATH_MAX + 16], msg[4][3 * PATH_MAX];
    snprintf(missing, sizeof missing, "%s/nope.pem", pki.dir);
    snprintf(msg[0], sizeof msg[0], "cert %s: No such file or directory", missing);
    snprintf(msg[1], sizeof msg[1], "key %s: no PEM private key in it", pki.garbage);
    snprintf(msg[2], sizeof msg[2], "key %s does not match cert %s", pki.alice_key, pki.server);
    snprintf(msg[3], sizeof msg[3], "ca %s: no PEM certificate in it", pki.garbage);
    char enc[2 * PATH_MAX], dir[2 * PATH_MAX], nocert[2 * PATH_MAX];
    snprintf(enc, sizeof enc, "key %s is encrypted", pki.encrypted_key);
    snprintf(dir, sizeof dir, "key %s: Is a directory", pki.dir);
    snprintf(nocert, sizeof nocert, "cert %s: no PEM certificate in it", pki.server_key);
    const struct bad_file cases[] = {
        {missing, pki.server_key, pki.ca, "", -ENOENT, msg[0]},
        {pki.server, pki.garbage, pki.ca, "", -EINVAL, msg[1]},
        {pki.server, pki.alice_key, pki.ca, "", -EINVAL, msg[2]},
        {pki.server, pki.server_key, pki.garbage, "", -EINVAL, msg[3]},
        {pki.server, pki.encrypted_key, pki.ca, "", -EINVAL, enc},
        {pki.server, pki.dir, pki.ca, "", -EISDIR, dir},
        {pki.server_key, pki.server_key, pki.ca, "", -EINVAL, nocert},
        {pki.server, pki.server_key, pki.ca, "ciphers = \"NOPE\"; protocols = \"TLSv1.2\";",
         -EINVAL, "ciphers \"NOPE\": no cipher in it is known to OpenSSL"},
        {pki.server, pki.server_key, pki.ca, "ciphersuites = \"TLS_NOPE\";", -EINVAL,
         "ciphersuites \"TLS_NOPE\": not a list of TLS 1.3 suites"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int port = free_port();
        fake_host_set_configf(fh,
                              "address = \"127.0.0.1\"; port = %d; cert = \"%s\"; key = \"%s\";"
                              " ca = \"%s\"; %s",
                              port, cases[i].cert, cases[i].key, cases[i].ca, cases[i].extra);
        void *self = NULL;
        assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), 0);
        assert_int_equal(ops()->start(self), cases[i].rc);
        if (fake_host_find_error(fh, cases[i].error) == NULL)
            fail_msg("case %zu: no error containing \"%s\"", i, cases[i].error);
        ops()->stop(self);
        ops()->stop(self);
        ops()->destroy(self);
        /* nothing was left listening */
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), -1);
        close(fd);
    }
}

static void a_taken_port_fails_start_and_stop_stays_safe(void **state)
{
    struct fake_host *fh = *state;
    int port, holder = listen_on_loopback(&port);
    fake_host_set_configf(fh, "address = \"127.0.0.1\"; port = %d; %s", port, std_files());
    void *self = NULL;
    assert_int_equal(ops()->create(&fh->host, fh->ctx, &self), 0);
    assert_int_equal(ops()->start(self), -EADDRINUSE);
    char bind_what[64];
    snprintf(bind_what, sizeof bind_what, "bind 127.0.0.1:%d: Address already in use", port);
    assert_non_null(fake_host_find_error(fh, bind_what));
    ops()->stop(self);
    ops()->stop(self);
    ops()->destroy(self);
    close(holder);
}

/* ---- handshakes and client certificates ---- */

static void need_with_a_good_certificate_names_the_client(void **state)
{
    struct fake_host *fh = *state;
    struct tls_test t = {.echo = true};
    start_tls(fh, &t, "%s", std_files());
    assert_non_null(fake_host_find_log(fh, "(TLS, client_auth need): CN=corral-server,O=corral"));
    fh->on_frame = frame_hook;
    struct corral_cnxn *c;
    struct tcli *cli = tls_open(fh, &t, &ALICE, &c);
    assert_true(c->is_secure);
    assert_non_null(c->peer_subject);
    assert_string_equal(c->peer_subject, ALICE_SUBJECT);
    assert_string_equal(c->peer_addr, "127.0.0.1");
    struct sockaddr_in local;
    socklen_t len = sizeof local;
    assert_int_equal(getsockname(cli->fd, (struct sockaddr *)&local, &len), 0);
    assert_int_equal(c->peer_port, ntohs(local.sin_port));
    char cn[64];
    tcli_server_cn(cli, cn, sizeof cn);
    assert_string_equal(cn, "corral-server");
    assert_int_equal(SSL_get_verify_result(cli->ssl), X509_V_OK);
    expect_echo(fh, cli, "hello over TLS");
    expect_echo(fh, cli, "");
    /* the first 4 bytes were offered as a four-letter word, once */
    assert_int_equal(fake_host_count(fh, FAKE_EV_WORD, c), 1);
    assert_int_equal(fake_host_event(fh, FAKE_EV_WORD, 0)->word, 14);
    assert_int_equal(metric(fh, "unsuccessful_handshake")->value, 0);
    assert_int_equal(metric(fh, "outstanding_tls_handshake")->value, 0);
    tcli_free(cli);
    assert_true(wait_events(fh, FAKE_EV_CLOSED, 1));
    stop_tls(&t);
}

static void need_refuses_a_client_without_a_certificate_and_counts_it(void **state)
{
    struct fake_host *fh = *state;
    static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
    struct tls_test t = {0};
    start_tls(fh, &t, "%s", std_files());
    for (size_t i = 0; i < 2; i++) {
        struct tcli_opts anon = {.min_version = versions[i], .max_version = versions[i]};
        struct tcli *cli = tcli_connect(t.port, &anon);
        assert_true(tcli_refused(fh, cli));
        assert_true(wait_failures(fh, i + 1));
        tcli_free(cli);
    }
    assert_int_equal(fake_host_count(fh, FAKE_EV_OPENED, NULL), 0);
    assert_int_equal(metric(fh, "unsuccessful_handshake")->value, 2);
    assert_int_equal(metric(fh, "outstanding_tls_handshake")->value, 0);
    assert_non_null(fake_host_find_log(fh, "failed: peer did not return a certificate"));
    stop_tls(&t);
}

static void want_accepts_a_client_without_a_certificate(void **state)
{
    struct fake_host *fh = *state;
    struct tls_test t = {.echo = true};
    start_tls(fh, &t, "%s client_auth = \"want\";", std_files());
    fh->on_frame = frame_hook;
    struct corral_cnxn *c;
    struct tcli *anon = tls_open(fh, &t, NULL, &c);
    assert_true(c->is_secure);
    assert_null(c->peer_subject);
    expect_echo(fh, anon, "anonymous");
    /* and names a client that has one */
    struct corral_cnxn *c2;
    struct tcli *alice = tls_open(fh, &t, &ALICE, &c2);
    assert_string_equal(c2->peer_subject, ALICE_SUBJECT);
    expect_echo(fh, alice, "alice");
    tcli_free(anon);
    tcli_free(alice);
    stop_tls(&t);
}

static void none_asks_for_no_certificate(void **state)
{
    struct fake_host *fh = *state;
    struct tls_test t = {0};
    start_tls(fh, &t, "cert = \"%s\"; key = \"%s\"; client_auth = \"none\";", pki.server,
              pki.server_key);
    struct corral_cnxn *c;
    struct tcli *cli = tls_open(fh, &t, &ALICE, &c);
    assert_true(c->is_secure);
    assert_null(c->peer_subject); /* offered nothing: the server never asked */
    tcli_free(cli);
    stop_tls(&t);
}

static void a_certificate_from_another_ca_is_refused(void **state)
{
    struct fake_host *fh = *state;
    static const char *const modes[] = {"need", "want"};
    for (size_t m = 0; m < 2; m++) {
        struct tls_test t = {0};
        start_tls(fh, &t, "%s client_auth = \"%s\";", std_files(), modes[m]);
        struct tcli_opts mallory = {.cert = pki.mallory, .key = pki.mallory_key};
        struct tcli *cli = tcli_connect(t.port, &mallory);
        assert_true(tcli_refused(fh, cli));
        assert_true(wait_log(fh, "client certificate rejected: unable to get local issuer"));
        tcli_free(cli);
        assert_int_equal(fake_host_count(fh, FAKE_EV_OPENED, NULL), 0);
        assert_int_equal(metric(fh, "unsuccessful_handshake")->value, 1);
        stop_tls(&t);
    }
}

static void a_plain_client_is_refused_and_a_silent_one_blocks_nobody(void **state)
{
    struct fake_host *fh = *state;
    struct tls_test t = {.echo = true};
    start_tls(fh, &t, "%s", std_files());
    fh->on_frame = frame_hook;
    /* a client that connects and says nothing holds a handshake open ... */
    int silent = connect_to(t.port, 0);
    fake_host_run(fh, 20);
    assert_int_equal(metric(fh, "outstanding_tls_handshake")->value, 1);
    /* ... while a plain ZooKeeper client is turned away (its ConnectRequest is no record) */
    int plain = connect_to(t.port, 0);
    uint8_t connect_req[48] = {0, 0, 0, 44};
    assert_int_equal(send(plain, connect_req, sizeof connect_req, MSG_NOSIGNAL), 48);
    assert_true(wait_failures(fh, 1));
    assert_non_null(fake_host_find_log(fh, "wrong version number (not TLS: a plain client on"));
    assert_true(raw_read_until_eof(fh, plain) >= 0); /* an alert at most, then the end */
    /* ... and a TLS client goes through */
    struct corral_cnxn *c;
    struct tcli *cli = tls_open(fh, &t, &ALICE, &c);
    expect_echo(fh, cli, "not blocked");
    assert_int_equal(metric(fh, "outstanding_tls_handshake")->value, 1);
    assert_int_equal(fake_host_count(fh, FAKE_EV_OPENED, NULL), 1);
    close(plain);
    close(silent);
    tcli_free(cli);
    stop_tls(&t);
}

static void a_handshake_that_never_finishes_times_out(void **state)
{
    struct fake_host *fh = *state;
    struct tls_test t = {0};
    start_tls(fh, &t, "%s handshake_timeout_ms = 100;", std_files());
    int fd = connect_to(t.port, 0);
    assert_true(wait_log(fh, "failed: no handshake within 100 ms"));
    assert_int_equal(metric(fh, "unsuccessful_handshake")->value, 1);
    assert_int_equal(metric(fh, "outstanding_tls_handshake")->value, 0);
    assert_int_equal(raw_read_until_eof(fh, fd), 0);
    close(fd);
    assert_int_equal(fake_host_count(fh, FAKE_EV_OPENED, NULL), 0);
    stop_tls(&t);
}

static void protocols_limit_the_versions_in_both_directions(void **state)
{
    struct fake_host *fh = *state;
    struct {
        const char *server;
        int client_min, client_max;
        bool ok;
    } cases[] = {
        {"TLSv1.2", TLS1_3_VERSION, TLS1_3_VERSION, false},
        {"TLSv1.3", TLS1_2_VERSION, TLS1_2_VERSION, false},
        {"TLSv1.2", 0, 0, true},
        {"TLSv1.3", 0, 0, true},
        {"TLSv1.3, TLSv1.2", TLS1_2_VERSION, TLS1_2_VERSION, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tls_test t = {0};
        start_tls(fh, &t, "%s protocols = \"%s\";", std_files(), cases[i].server);
        size_t failures = (size_t)metric(fh, "unsuccessful_handshake")->value;
        struct tcli_opts o = {.cert = pki.alice,
                              .key = pki.alice_key,
                              .min_version = cases[i].client_min,
                              .max_version = cases[i].client_max};
        struct tcli *cli = tcli_connect(t.port, &o);
        if (cases[i].ok) {
            size_t before = fake_host_count(fh, FAKE_EV_OPENED, NULL);
            assert_true(tcli_handshake(fh, cli));
            assert_true(wait_events(fh, FAKE_EV_OPENED, before + 1));
            int v = SSL_version(cli->ssl);
            assert_true(strstr(cases[i].server, v == TLS1_3_VERSION ? "1.3" : "1.2") != NULL);
        } else {
            assert_false(tcli_handshake(fh, cli));
            assert_true(wait_log(fh, "unsupported protocol"));
            fake_host_run(fh, 10);
            assert_int_equal(metric(fh, "unsuccessful_handshake")->value, failures + 1);
        }
        tcli_free(cli);
        stop_tls(&t);
    }
}

/* ---- reloading the certificate ---- */

static void a_new_certificate_on_disk_serves_new_connections_only(void **state)
{
    struct fake_host *fh = *state;
    char cert[PATH_MAX + 32], key[PATH_MAX + 32];
    snprintf(cert, sizeof cert, "%s/reload.pem", pki.dir);
    snprintf(key, sizeof key, "%s/reload.key", pki.dir);
    copy_file(pki.server, cert);
    copy_file(pki.server_key, key);
    struct tls_test t = {.echo = true};
    start_tls(fh, &t, "cert = \"%s\"; key = \"%s\"; ca = \"%s\"; reload_interval_ms = 20;", cert,
              key, pki.ca);
    fh->on_frame = frame_hook;
    struct corral_cnxn *c1;
    struct tcli *old = tls_open(fh, &t, &ALICE, &c1);
    char cn[64];
    tcli_server_cn(old, cn, sizeof cn);
    assert_string_equal(cn, "corral-server");
    fake_host_run(fh, 60); /* unchanged files: no reload */
    assert_null(fake_host_find_log(fh, "reloaded"));

    /* half-written (a new cert with the old key): logged, and the old pair stays in use */
    copy_file(pki.server2, cert);
    assert_true(wait_log(fh, "did not load, keeping the previous ones: key"));
    struct corral_cnxn *c2;
    struct tcli *mid = tls_open(fh, &t, &ALICE, &c2);
    tcli_server_cn(mid, cn, sizeof cn);
    assert_string_equal(cn, "corral-server");

    copy_file(pki.server2_key, key);
    assert_true(wait_log(fh, "reloaded cert"));
    assert_non_null(fake_host_find_log(fh, "CN=corral-server-2,O=corral, valid until"));
    struct corral_cnxn *c3;
    struct tcli *fresh = tls_open(fh, &t, &ALICE, &c3);
    tcli_server_cn(fresh, cn, sizeof cn);
    assert_string_equal(cn, "corral-server-2");
    expect_echo(fh, fresh, "new");
    /* connections made before stay up on the old certificate */
    expect_echo(fh, old, "old still works");
    expect_echo(fh, mid, "so does this one");
    tcli_server_cn(old, cn, sizeof cn);
    assert_string_equal(cn, "corral-server");
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, NULL), 0);
    tcli_free(old);
    tcli_free(mid);
    tcli_free(fresh);
    stop_tls(&t);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, NULL), 3);
}

/* ---- framing, four-letter words, back-pressure, close: as cnxn-nio ---- */

static void answer_word(struct fake_host *fh, struct corral_cnxn *c, uint32_t word)
{
    struct tls_test *t = fh->user;
    (void)word;
    struct iovec iov = {"imok", 4};
    assert_int_equal(t->ops->send(t->self, c, &iov, 1), 4);
    t->ops->close(t->self, c, CORRAL_CLOSE_NORMAL);
}

static void a_four_letter_word_is_answered_over_tls(void **state)
{
    struct fake_host *fh = *state;
    struct tls_test t = {0};
    start_tls(fh, &t, "%s", std_files());
    fh->word_answer = true;
    fh->on_word = answer_word;
    struct corral_cnxn *c;
    struct tcli *cli = tls_open(fh, &t, &ALICE, &c);
    tcli_write(fh, cli, "ruok", 4);
    uint8_t buf[64];
    assert_int_equal(tcli_read(fh, cli, buf, sizeof buf, 0), 4);
    assert_memory_equal(buf, "imok", 4);
    assert_true(cli->clean_eof); /* close_notify, not a bare TCP close */
    assert_int_equal(fake_host_event(fh, FAKE_EV_WORD, 0)->word, 0x72756f6bu);
    assert_true(wait_events(fh, FAKE_EV_CLOSED, 1));
    assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, NULL), 0);
    tcli_free(cli);
    stop_tls(&t);
}

static void frames_split_and_joined_arrive_whole(void **state)
{
    struct fake_host *fh = *state;
    struct tls_test t = {0};
    start_tls(fh, &t, "%s", std_files());
    struct corral_cnxn *c;
    struct tcli *cli = tls_open(fh, &t, &ALICE, &c);
    enum { LEN = 40000 }; /* spans several TLS records */
    static uint8_t buf[3 * (LEN + 4)];
    static uint8_t payload[LEN];
    fill_pattern(payload, LEN, 7);
    size_t n = put_frame(buf, 0, payload, LEN);
    n = put_frame(buf, n, "", 0);
    n = put_frame(buf, n, "abc", 3);
    for (size_t at = 0; at < n; at += 1000) /* many small records */
        tcli_write(fh, cli, buf + at, n - at < 1000 ? n - at : 1000);
    assert_true(wait_events(fh, FAKE_EV_FRAME, 3));
    const struct fake_event *f0 = fake_host_event(fh, FAKE_EV_FRAME, 0);
    assert_int_equal(f0->len, LEN);
    assert_memory_equal(f0->data, payload, LEN);
    assert_int_equal(fake_host_event(fh, FAKE_EV_FRAME, 1)->len, 0);
    assert_memory_equal(fake_host_event(fh, FAKE_EV_FRAME, 2)->data, "abc", 3);
    tcli_free(cli);
    stop_tls(&t);
}

static void send_twice(struct fake_host *fh, struct corral_cnxn *c, const uint8_t *frame,
                       size_t len)
{
    struct tls_test *t = fh->user;
    (void)frame, (void)len;
    uint8_t reply[2][8];
    size_t n1 = put_frame(reply[0], 0, "one", 3), n2 = put_frame(reply[1], 0, "two", 3);
    struct iovec a = {reply[0], n1}, b = {reply[1], n2};
    assert_int_equal(t->ops->send(t->self, c, &a, 1), (int)n1);
    assert_int_equal(t->ops->send(t->self, c, &b, 1), (int)n2);
}

/* A client that reads one frame and then waits on the socket (kazoo) must not find the next
 * frame already decrypted in its TLS buffer, where select() cannot see it. */
static void each_send_is_a_tls_record_of_its_own(void **state)
{
    struct fake_host *fh = *state;
    struct tls_test t = {0};
    start_tls(fh, &t, "%s", std_files());
    fh->on_frame = send_twice;
    struct corral_cnxn *c;
    struct tcli *cli = tls_open(fh, &t, &ALICE, &c);
    uint8_t req[16];
    tcli_write(fh, cli, req, put_frame(req, 0, "go", 2));
    assert_true(wait_events(fh, FAKE_EV_FRAME, 1));
    fake_host_run(fh, 50); /* both frames are on the wire */
    uint8_t buf[64];
    int n;
    uint64_t deadline = mono_ms() + WAIT_MS;
    while ((n = SSL_read(cli->ssl, buf, sizeof buf)) <= 0 && mono_ms() < deadline)
        fake_host_run(fh, 1);
    assert_int_equal(n, 7); /* "one" only: SSL_read returns one record at a time */
    assert_memory_equal(buf + 4, "one", 3);
    assert_int_equal(SSL_pending(cli->ssl), 0);
    assert_int_equal(tcli_read(fh, cli, buf, 7, 7), 7);
    assert_memory_equal(buf + 4, "two", 3);
    tcli_free(cli);
    stop_tls(&t);
}

static void an_oversized_frame_closes_the_connection(void **state)
{
    struct fake_host *fh = *state;
    struct tls_test t = {0};
    start_tls(fh, &t, "%s", std_files());
    fh->max_frame_bytes = 1024;
    struct corral_cnxn *c;
    struct tcli *cli = tls_open(fh, &t, &ALICE, &c);
    uint8_t hdr[4] = {0, 0, 4, 1}; /* 1025 */
    tcli_write(fh, cli, hdr, 4);
    uint8_t buf[16];
    assert_int_equal(tcli_read(fh, cli, buf, sizeof buf, 0), 0);
    assert_true(wait_events(fh, FAKE_EV_CLOSED, 1));
    assert_non_null(fake_host_find_log(fh, "frame of 1025 bytes is outside 0 to"));
    assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, NULL), 0);
    tcli_free(cli);
    stop_tls(&t);
}

static void refusing_in_cnxn_opened_closes_without_cnxn_closed(void **state)
{
    struct fake_host *fh = *state;
    struct tls_test t = {0};
    start_tls(fh, &t, "%s", std_files());
    fh->opened_result = -ECONNREFUSED;
    struct tcli *cli = tcli_connect(t.port, &ALICE);
    assert_true(tcli_handshake(fh, cli));
    assert_true(wait_events(fh, FAKE_EV_OPENED, 1));
    uint8_t buf[16];
    assert_true(tcli_read(fh, cli, buf, sizeof buf, 0) <= 0);
    fake_host_run(fh, 20);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, NULL), 0);
    assert_int_equal(metric(fh, "unsuccessful_handshake")->value, 0); /* the host's choice */
    tcli_free(cli);
    stop_tls(&t);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, NULL), 0);
}

static void close_inside_cnxn_frame_flushes_what_was_sent_first(void **state)
{
    struct fake_host *fh = *state;
    struct tls_test t = {.reply_bytes = 300000, .close_in_frame = true};
    start_tls(fh, &t, "%s", std_files());
    fh->on_frame = frame_hook;
    struct corral_cnxn *c;
    struct tcli *cli = tls_open(fh, &t, &ALICE, &c);
    uint8_t req[32];
    size_t n = put_frame(req, 0, "one", 3);
    n = put_frame(req, n, "two", 3); /* arrives with the first; must not be delivered */
    tcli_write(fh, cli, req, n);
    uint8_t *got = malloc(t.reply_bytes), *want = malloc(t.reply_bytes);
    assert_non_null(got);
    assert_non_null(want);
    fill_pattern(want, t.reply_bytes, 0);
    assert_int_equal(tcli_read(fh, cli, got, t.reply_bytes, 0), (ssize_t)t.reply_bytes);
    assert_memory_equal(got, want, t.reply_bytes);
    assert_true(cli->clean_eof);
    free(got);
    free(want);
    assert_int_equal(t.send_after_close, -EPIPE);
    assert_true(wait_events(fh, FAKE_EV_CLOSED, 1));
    assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, c), 1);
    tcli_free(cli);
    stop_tls(&t);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, NULL), 1);
}

static void set_reading_pauses_and_resumes_frame_delivery(void **state)
{
    struct fake_host *fh = *state;
    struct tls_test t = {.pause_in_frame = true};
    start_tls(fh, &t, "%s", std_files());
    fh->on_frame = frame_hook;
    struct corral_cnxn *c;
    struct tcli *cli = tls_open(fh, &t, &ALICE, &c);
    uint8_t req[64];
    size_t n = put_frame(req, 0, "a", 1);
    n = put_frame(req, n, "bb", 2);
    n = put_frame(req, n, "ccc", 3);
    tcli_write(fh, cli, req, n);
    assert_true(wait_events(fh, FAKE_EV_FRAME, 1));
    fake_host_run(fh, 50);
    assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, c), 1);
    t.pause_in_frame = false;
    t.ops->set_reading(t.self, c, true);
    assert_true(wait_events(fh, FAKE_EV_FRAME, 3));
    assert_memory_equal(fake_host_event(fh, FAKE_EV_FRAME, 2)->data, "ccc", 3);
    t.ops->set_reading(t.self, c, false);
    t.ops->set_reading(t.self, c, false);
    n = put_frame(req, 0, "dddd", 4);
    tcli_write(fh, cli, req, n);
    fake_host_run(fh, 50);
    assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, c), 3);
    t.ops->set_reading(t.self, c, true);
    assert_true(wait_events(fh, FAKE_EV_FRAME, 4));
    assert_memory_equal(fake_host_event(fh, FAKE_EV_FRAME, 3)->data, "dddd", 4);
    tcli_free(cli);
    stop_tls(&t);
}

#define FLOOD_BYTES (24u << 20)

static void a_client_that_does_not_read_stops_frame_delivery(void **state)
{
    struct fake_host *fh = *state;
    struct tls_test t = {0};
    start_tls(fh, &t, "%s max_queued_bytes = 65536;", std_files());
    struct corral_cnxn *c;
    struct tcli_opts o = ALICE;
    o.rcvbuf = 4096;
    struct tcli *cli = tls_open(fh, &t, &o, &c);
    static uint8_t chunk[1 << 16];
    for (size_t sent = 0; sent < FLOOD_BYTES; sent += sizeof chunk) {
        struct iovec iov = {chunk, sizeof chunk};
        assert_int_equal(t.ops->send(t.self, c, &iov, 1), (int)sizeof chunk);
    }
    assert_int_equal(t.ops->queued_bytes(t.self, c), FLOOD_BYTES);
    fake_host_run(fh, 100);
    size_t queued = t.ops->queued_bytes(t.self, c);
    assert_true(queued > 65536);
    assert_true(queued < FLOOD_BYTES);
    uint8_t req[16];
    tcli_write(fh, cli, req, put_frame(req, 0, "req", 3));
    fake_host_run(fh, 100);
    assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, c), 0);
    uint8_t *sink = malloc(FLOOD_BYTES);
    assert_non_null(sink);
    assert_int_equal(tcli_read(fh, cli, sink, FLOOD_BYTES, FLOOD_BYTES), FLOOD_BYTES);
    free(sink);
    assert_true(wait_events(fh, FAKE_EV_FRAME, 1));
    assert_memory_equal(fake_host_event(fh, FAKE_EV_FRAME, 0)->data, "req", 3);
    assert_int_equal(t.ops->queued_bytes(t.self, c), 0);
    tcli_free(cli);
    stop_tls(&t);
}

static void peer_close_calls_cnxn_closed_exactly_once(void **state)
{
    struct fake_host *fh = *state;
    struct tls_test t = {0};
    start_tls(fh, &t, "%s", std_files());
    struct corral_cnxn *c1, *c2;
    struct tcli *polite = tls_open(fh, &t, &ALICE, &c1);
    struct tcli *abrupt = tls_open(fh, &t, &ALICE, &c2);
    uint8_t req[16];
    tcli_write(fh, polite, req, put_frame(req, 0, "bye", 3));
    SSL_shutdown(polite->ssl); /* close_notify, then the socket */
    tcli_free(polite);
    tcli_free(abrupt); /* no close_notify */
    assert_true(wait_events(fh, FAKE_EV_CLOSED, 2));
    assert_int_equal(fake_host_count(fh, FAKE_EV_FRAME, c1), 1);
    fake_host_run(fh, 50);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, c1), 1);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, c2), 1);
    stop_tls(&t);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, NULL), 2);
}

static void stop_closes_open_connections_and_drops_handshakes(void **state)
{
    struct fake_host *fh = *state;
    struct tls_test t = {0};
    start_tls(fh, &t, "%s", std_files());
    struct tcli *clis[3];
    struct corral_cnxn *cs[3];
    for (int i = 0; i < 3; i++)
        clis[i] = tls_open(fh, &t, &ALICE, &cs[i]);
    int silent = connect_to(t.port, 0); /* mid-handshake when stop comes */
    fake_host_run(fh, 20);
    assert_int_equal(metric(fh, "outstanding_tls_handshake")->value, 1);
    t.ops->stop(t.self);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, NULL), 3);
    assert_int_equal(fake_host_open_count(fh), 0);
    assert_int_equal(metric(fh, "outstanding_tls_handshake")->value, 0);
    for (int i = 0; i < 3; i++) {
        uint8_t buf[8];
        assert_int_equal(tcli_read(fh, clis[i], buf, sizeof buf, 0), 0);
        assert_true(clis[i]->clean_eof);
        tcli_free(clis[i]);
    }
    assert_int_equal(raw_read_until_eof(fh, silent), 0); /* libevent closes it on the loop */
    close(silent);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)t.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), -1);
    assert_int_equal(errno, ECONNREFUSED);
    close(fd);
    t.ops->stop(t.self);
    fake_host_run(fh, 20);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, NULL), 3);
    t.ops->destroy(t.self);
}

static void two_instances_are_independent(void **state)
{
    struct fake_host *fh = *state;
    struct tls_test a = {0}, b = {.echo = true};
    start_tls(fh, &a, "%s", std_files());
    start_tls(fh, &b, "cert = \"%s\"; key = \"%s\"; ca = \"%s\";", pki.server2, pki.server2_key,
              pki.ca);
    fh->on_frame = frame_hook;
    fh->user = &b;
    struct corral_cnxn *ca, *cb;
    struct tcli *cla = tls_open(fh, &a, &ALICE, &ca);
    struct tcli *clb = tls_open(fh, &b, &ALICE, &cb);
    char cn[64];
    tcli_server_cn(clb, cn, sizeof cn);
    assert_string_equal(cn, "corral-server-2");
    a.ops->stop(a.self);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, ca), 1);
    assert_int_equal(fake_host_count(fh, FAKE_EV_CLOSED, cb), 0);
    expect_echo(fh, clb, "still");
    a.ops->destroy(a.self);
    tcli_free(cla);
    tcli_free(clb);
    stop_tls(&b);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as the server does: a peer gone mid-write is an error code */
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, fake_host_setup, fake_host_teardown)
        T(stop_and_destroy_without_start_are_safe),
        T(create_reads_every_key_it_knows_and_no_other),
        T(bad_config_values_fail_create_naming_the_key),
        T(every_host_failure_fails_create_cleanly),
        T(bad_files_fail_start_naming_the_key_and_file),
        T(a_taken_port_fails_start_and_stop_stays_safe),
        T(need_with_a_good_certificate_names_the_client),
        T(need_refuses_a_client_without_a_certificate_and_counts_it),
        T(want_accepts_a_client_without_a_certificate),
        T(none_asks_for_no_certificate),
        T(a_certificate_from_another_ca_is_refused),
        T(a_plain_client_is_refused_and_a_silent_one_blocks_nobody),
        T(a_handshake_that_never_finishes_times_out),
        T(protocols_limit_the_versions_in_both_directions),
        T(a_new_certificate_on_disk_serves_new_connections_only),
        T(a_four_letter_word_is_answered_over_tls),
        T(frames_split_and_joined_arrive_whole),
        T(each_send_is_a_tls_record_of_its_own),
        T(an_oversized_frame_closes_the_connection),
        T(refusing_in_cnxn_opened_closes_without_cnxn_closed),
        T(close_inside_cnxn_frame_flushes_what_was_sent_first),
        T(set_reading_pauses_and_resumes_frame_delivery),
        T(a_client_that_does_not_read_stops_frame_delivery),
        T(peer_close_calls_cnxn_closed_exactly_once),
        T(stop_closes_open_connections_and_drops_handshakes),
        T(two_instances_are_independent),
#undef T
    };
    return cmocka_run_group_tests_name("cnxn-tls", tests, pki_setup, pki_teardown);
}
