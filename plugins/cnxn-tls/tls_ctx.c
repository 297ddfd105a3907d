/* cnxn-tls: the server's SSL_CTX from its PEM files, and their fingerprints for reloads. */
#include "tls_ctx.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define TLS_MAX_FILE_BYTES (16u << 20) /* a PEM bundle far larger than this is a mistake */

int tls_parse_client_auth(const char *s, enum tls_client_auth *out)
{
    static const char *const names[] = {"none", "want", "need"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum tls_client_auth)i;
            return 0;
        }
    }
    return -EINVAL;
}

int tls_parse_protocols(const char *s, int *min_version, int *max_version, char *bad,
                        size_t bad_len)
{
    int lo = 0, hi = 0;
    const char *p = s;
    bad[0] = '\0';
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        size_t n = strcspn(p, ", ");
        int v = 0;
        if (n == 7 && strncasecmp(p, "TLSv1.2", n) == 0)
            v = TLS1_2_VERSION;
        else if (n == 7 && strncasecmp(p, "TLSv1.3", n) == 0)
            v = TLS1_3_VERSION;
        if (v == 0) {
            snprintf(bad, bad_len, "%.*s", (int)(n < 64 ? n : 64), p);
            return -EINVAL;
        }
        lo = lo == 0 || v < lo ? v : lo;
        hi = v > hi ? v : hi;
        p += n;
    }
    if (lo == 0)
        return -EINVAL; /* an empty list */
    *min_version = lo;
    *max_version = hi;
    return 0;
}

/* Reads a whole file into a malloc'd buffer; returns 0 or a negative errno. */
static int tls_slurp(const char *path, unsigned char **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -errno;
    unsigned char *data = NULL;
    size_t used = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (used == cap) {
            if (cap >= TLS_MAX_FILE_BYTES) {
                rc = -EFBIG;
                break;
            }
            cap = cap ? 2 * cap : 8192;
            unsigned char *bigger = realloc(data, cap);
            if (bigger == NULL) {
                rc = -ENOMEM;
                break;
            }
            data = bigger;
        }
        size_t n = fread(data + used, 1, cap - used, f);
        used += n;
        if (n == 0) {
            if (ferror(f))
                rc = errno != 0 ? -errno : -EIO; /* a directory gives EISDIR here */
            break;
        }
    }
    fclose(f);
    if (rc < 0) {
        free(data);
        return rc;
    }
    *buf = data;
    *len = used;
    return 0;
}

/* A file's bytes as a memory BIO, or NULL with *err and msg set. */
static BIO *tls_open_pem(const char *key, const char *path, int *err, char *msg, size_t msg_len)
{
    unsigned char *data = NULL;
    size_t len = 0;
    errno = 0;
    int rc = tls_slurp(path, &data, &len);
    if (rc < 0) {
        *err = rc;
        snprintf(msg, msg_len, "%s %s: %s", key, path,
                 rc == -EFBIG ? "larger than 16 MB" : strerror(-rc));
        return NULL;
    }
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL || BIO_write(bio, data, (int)len) != (int)len) {
        BIO_free(bio);
        free(data);
        *err = -ENOMEM;
        snprintf(msg, msg_len, "%s %s: out of memory", key, path);
        return NULL;
    }
    free(data);
    return bio;
}

/* PEM password callback: corral reads only unencrypted keys, and must never prompt. */
static int tls_no_password(char *buf, int size, int rwflag, void *arg)
{
    (void)buf, (void)size, (void)rwflag;
    *(bool *)arg = true;
    return -1;
}

static int tls_load_cert(SSL_CTX *ssl_ctx, const struct tls_ctx_conf *conf, char *msg,
                         size_t msg_len)
{
    int err = 0;
    BIO *bio = tls_open_pem("cert", conf->cert, &err, msg, msg_len);
    if (bio == NULL)
        return err;
    X509 *leaf = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
    if (leaf == NULL || SSL_CTX_use_certificate(ssl_ctx, leaf) != 1) {
        BIO_free(bio);
        X509_free(leaf);
        snprintf(msg, msg_len, "cert %s: no PEM certificate in it", conf->cert);
        return -EINVAL;
    }
    X509_free(leaf);
    /* The rest of the file is the chain up to (not always including) the CA. */
    X509 *link;
    while ((link = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (SSL_CTX_add0_chain_cert(ssl_ctx, link) != 1) {
            X509_free(link);
            BIO_free(bio);
            snprintf(msg, msg_len, "cert %s: cannot add its chain certificates", conf->cert);
            return -EINVAL;
        }
    }
    BIO_free(bio);
    return 0;
}

static int tls_load_key(SSL_CTX *ssl_ctx, const struct tls_ctx_conf *conf, char *msg,
                        size_t msg_len)
{
    int err = 0;
    BIO *bio = tls_open_pem("key", conf->key, &err, msg, msg_len);
    if (bio == NULL)
        return err;
    bool encrypted = false;
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, tls_no_password, &encrypted);
    BIO_free(bio);
    if (pkey == NULL) {
        if (encrypted)
            snprintf(msg, msg_len, "key %s is encrypted; corral reads only unencrypted keys",
                     conf->key);
        else
            snprintf(msg, msg_len, "key %s: no PEM private key in it", conf->key);
        return -EINVAL;
    }
    X509 *cert = SSL_CTX_get0_certificate(ssl_ctx);
    if (X509_check_private_key(cert, pkey) != 1) {
        EVP_PKEY_free(pkey);
        snprintf(msg, msg_len, "key %s does not match cert %s", conf->key, conf->cert);
        return -EINVAL;
    }
    int ok = SSL_CTX_use_PrivateKey(ssl_ctx, pkey);
    EVP_PKEY_free(pkey);
    if (ok != 1) {
        snprintf(msg, msg_len, "key %s: OpenSSL refused it (%s)", conf->key,
                 ERR_reason_error_string(ERR_peek_last_error()));
        return -EINVAL;
    }
    return 0;
}

static int tls_load_ca(SSL_CTX *ssl_ctx, const struct tls_ctx_conf *conf, char *msg, size_t msg_len)
{
    int err = 0;
    BIO *bio = tls_open_pem("ca", conf->ca, &err, msg, msg_len);
    if (bio == NULL)
        return err;
    X509_STORE *store = SSL_CTX_get_cert_store(ssl_ctx);
    int n = 0;
    X509 *ca;
    while ((ca = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL)) != NULL) {
        /* The store verifies; the client CA list tells clients which certificate to offer. */
        if (X509_STORE_add_cert(store, ca) != 1 || SSL_CTX_add_client_CA(ssl_ctx, ca) != 1) {
            X509_free(ca);
            BIO_free(bio);
            snprintf(msg, msg_len, "ca %s: cannot add certificate %d", conf->ca, n + 1);
            return -EINVAL;
        }
        X509_free(ca);
        n++;
    }
    BIO_free(bio);
    if (n == 0) {
        snprintf(msg, msg_len, "ca %s: no PEM certificate in it", conf->ca);
        return -EINVAL;
    }
    return 0;
}

SSL_CTX *tls_ctx_build(const struct tls_ctx_conf *conf, int *err, char *msg, size_t msg_len)
{
    msg[0] = '\0';
    SSL_CTX *ssl_ctx = SSL_CTX_new(TLS_server_method());
    if (ssl_ctx == NULL) {
        *err = -ENOMEM;
        snprintf(msg, msg_len, "creating the TLS context: %s",
                 ERR_reason_error_string(ERR_peek_last_error()));
        ERR_clear_error();
        return NULL;
    }
    int rc = 0;
    /* No renegotiation (a cheap DoS, and libevent's TLS buffers handle it poorly); a peer that
     * closes without close_notify is an EOF, as frames carry their own lengths. */
    SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                     SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* No resumption: every connection proves its certificate, and a reload takes effect for
     * every new connection at once. */
    SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ssl_ctx, 0);
    SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_TICKET);
    static const unsigned char sid_ctx[] = "corral";
    SSL_CTX_set_session_id_context(ssl_ctx, sid_ctx, sizeof sid_ctx - 1);
    if (SSL_CTX_set_min_proto_version(ssl_ctx, conf->min_version) != 1 ||
        SSL_CTX_set_max_proto_version(ssl_ctx, conf->max_version) != 1) {
        rc = -EINVAL;
        snprintf(msg, msg_len, "protocols: OpenSSL refused the version range");
    } else if (conf->ciphers != NULL && SSL_CTX_set_cipher_list(ssl_ctx, conf->ciphers) != 1) {
        rc = -EINVAL;
        snprintf(msg, msg_len, "ciphers \"%s\": no cipher in it is known to OpenSSL",
                 conf->ciphers);
    } else if (conf->ciphersuites != NULL &&
               SSL_CTX_set_ciphersuites(ssl_ctx, conf->ciphersuites) != 1) {
        rc = -EINVAL;
        snprintf(msg, msg_len, "ciphersuites \"%s\": not a list of TLS 1.3 suites",
                 conf->ciphersuites);
    } else if ((rc = tls_load_cert(ssl_ctx, conf, msg, msg_len)) < 0 ||
               (rc = tls_load_key(ssl_ctx, conf, msg, msg_len)) < 0) {
        /* msg names the key and the file */
    } else if (conf->client_auth != TLS_AUTH_NONE &&
               (rc = tls_load_ca(ssl_ctx, conf, msg, msg_len)) < 0) {
        /* likewise */
    }
    ERR_clear_error(); /* the PEM readers leave "no start line" behind at the end of a file */
    if (rc < 0) {
        SSL_CTX_free(ssl_ctx);
        *err = rc;
        return NULL;
    }
    int mode = SSL_VERIFY_NONE;
    if (conf->client_auth == TLS_AUTH_WANT)
        mode = SSL_VERIFY_PEER; /* a certificate that is offered must still verify */
    else if (conf->client_auth == TLS_AUTH_NEED)
        mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ssl_ctx, mode, NULL);
    return ssl_ctx;
}

static void tls_fingerprint_one(const char *path, unsigned char md[32], int *read_err)
{
    memset(md, 0, 32);
    *read_err = 0;
    if (path == NULL)
        return;
    unsigned char *data = NULL;
    size_t len = 0;
    errno = 0;
    int rc = tls_slurp(path, &data, &len);
    if (rc < 0) {
        *read_err = rc;
        return;
    }
    unsigned int md_len = 0;
    if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1)
        *read_err = -ENOMEM;
    free(data);
}

void tls_files_fingerprint(const struct tls_ctx_conf *conf, struct tls_files_print *out)
{
    tls_fingerprint_one(conf->cert, out->md[0], &out->read_err[0]);
    tls_fingerprint_one(conf->key, out->md[1], &out->read_err[1]);
    tls_fingerprint_one(conf->client_auth != TLS_AUTH_NONE ? conf->ca : NULL, out->md[2],
                        &out->read_err[2]);
}

bool tls_files_equal(const struct tls_files_print *a, const struct tls_files_print *b)
{
    for (int i = 0; i < 3; i++)
        if (a->read_err[i] != b->read_err[i] || memcmp(a->md[i], b->md[i], 32) != 0)
            return false;
    return true;
}

char *tls_subject(const X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL)
        return NULL;
    /* RFC 2253 as Java's X500Principal.getName() writes it: UTF-8 left as is, not \-escaped,
     * so ACL ids written for ZooKeeper match. */
    unsigned long flags = XN_FLAG_RFC2253 & ~(unsigned long)ASN1_STRFLGS_ESC_MSB;
    char *out = NULL;
    if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, flags) >= 0) {
        char *data = NULL;
        long len = BIO_get_mem_data(bio, &data);
        out = malloc((size_t)len + 1);
        if (out != NULL) {
            memcpy(out, data, (size_t)len);
            out[len] = '\0';
        }
    }
    BIO_free(bio);
    return out;
}
