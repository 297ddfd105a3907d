/*
 * cnxn-tls private: the server's SSL_CTX built from its PEM files, the config values that
 * shape it, and a fingerprint of the files so a timer can tell when they change.
 *
 * Everything here is plain functions over the caller's data: no state at file scope, as one
 * .so may back several listeners.
 */
#ifndef CORRAL_TLS_CTX_H
#define CORRAL_TLS_CTX_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/* ZooKeeper's ssl.clientAuth. */
enum tls_client_auth {
    TLS_AUTH_NONE = 0, /* no client certificate asked for */
    TLS_AUTH_WANT = 1, /* asked for; a missing one is fine, a bad one is refused */
    TLS_AUTH_NEED = 2, /* required and verified against `ca` */
};

struct tls_ctx_conf {
    const char *cert; /* PEM: the server certificate, then any intermediates */
    const char *key;  /* PEM: its private key, unencrypted */
    const char *ca;   /* PEM: the CAs client certificates must chain to; NULL with NONE */
    enum tls_client_auth client_auth;
    int min_version, max_version; /* TLS1_2_VERSION or TLS1_3_VERSION */
    const char *ciphers;          /* OpenSSL cipher list for TLS 1.2, or NULL for the default */
    const char *ciphersuites;     /* TLS 1.3 suites, or NULL for the default */
};

/* "none", "want" or "need" into *out; -EINVAL for anything else. */
int tls_parse_client_auth(const char *s, enum tls_client_auth *out);

/* A comma-separated list of "TLSv1.2" and "TLSv1.3" (spaces allowed) into a version range.
 * Returns 0, or -EINVAL with the offending word copied into bad (always NUL-terminated). */
int tls_parse_protocols(const char *s, int *min_version, int *max_version, char *bad,
                        size_t bad_len);

/* Builds a server context from the files. Returns it (the caller frees it with SSL_CTX_free),
 * or NULL with a negative errno in *err and one sentence naming the key and the file in msg:
 * "key /etc/corral/server.key does not match cert /etc/corral/server.pem". */
SSL_CTX *tls_ctx_build(const struct tls_ctx_conf *conf, int *err, char *msg, size_t msg_len);

/* What the reload timer compares: a SHA-256 of each file's bytes (or the errno that kept it
 * from being read). Content, not mtime, as timestamps are only as fine as the kernel tick. */
struct tls_files_print {
    unsigned char md[3][32];
    int read_err[3];
};

void tls_files_fingerprint(const struct tls_ctx_conf *conf, struct tls_files_print *out);
bool tls_files_equal(const struct tls_files_print *a, const struct tls_files_print *b);

/* A certificate's subject in RFC 2253 form ("CN=alice,O=corral"), malloc'd; NULL when out of
 * memory. */
char *tls_subject(const X509 *cert);

#endif
