/* SASL for op 102 (client-protocol.md §8.5): the DIGEST-MD5 mechanism (RFC 2831) as
 * ZooKeeper's server runs it with a JAAS digest login, and the JAAS login file the users come
 * from. Nothing here knows about connections; core/ops.c drives one sasl_server per
 * connection and adds the resulting ("sasl", user) identity. */
#ifndef CORRAL_SASL_H
#define CORRAL_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ZooKeeper's fixed DIGEST-MD5 names: the realm its server offers, and the digest-uri its
 * clients send (protocol "zookeeper", server name "zk-sasl-md5"). */
#define SASL_ZK_REALM "zk-sasl-md5"
#define SASL_ZK_DIGEST_URI "zookeeper/zk-sasl-md5"

/* The login module whose user_<name> options ZooKeeper's server authenticates against. */
#define SASL_DIGEST_LOGIN_MODULE "org.apache.zookeeper.server.auth.DigestLoginModule"

/* ---- users: one section of a JAAS login configuration ---- */

struct sasl_users;

/* Reads a JAAS login configuration (Java's syntax: `Name { class flag key=value ...; };`,
 * with // and slash-star comments, "quoted" or bare values) and keeps the
 * user_<name>="<password>" options of the login modules in `section` ("Server" for
 * ZooKeeper). The section must exist, hold only DigestLoginModule entries (corral has no
 * Kerberos) and name at least one user; a user named twice is refused. Other sections are
 * checked for syntax only. Returns 0 and a new table in *out, or -1 with one sentence in
 * err naming the file and, where there is one, the line:
 *   jaas.conf:4: expected "=" after option user_bob, found "pw"
 *   jaas.conf: no section "Server" (the file has Client, QuorumServer)
 * *out is written only on success. Passwords never appear in messages. */
int sasl_users_load(const char *path, const char *section, struct sasl_users **out, char *err,
                    size_t err_len);
/* The same from `len` bytes of text; `name` stands for the file in messages. */
int sasl_users_parse(const char *name, const char *text, size_t len, const char *section,
                     struct sasl_users **out, char *err, size_t err_len);
size_t sasl_users_count(const struct sasl_users *u);
/* The password of `user` (both UTF-8), or NULL for a user the section does not name.
 * Borrowed from the table. */
const char *sasl_users_password(const struct sasl_users *u, const char *user);
/* Frees the table and wipes the passwords; NULL is fine. */
void sasl_users_free(struct sasl_users *u);

/* ---- DIGEST-MD5 ---- */

/* The inputs of RFC 2831's response-value (§2.1.2.1). user, realm and password are UTF-8;
 * as the RFC asks for charset=utf-8, "user:realm:password" is hashed as ISO 8859-1 when every
 * character fits. authzid is NULL when the client sent none. */
struct sasl_digest_params {
    const char *user, *realm, *password;
    const char *nonce, *cnonce, *nc, *qop, *digest_uri;
    const char *authzid;
};

/* Computes the client's response-value and the server's rspauth (§2.1.3), each as 32
 * lowercase hex digits and a NUL, with MD5 via OpenSSL's EVP. Returns 0, -EINVAL for text
 * that is not UTF-8, or -ENOMEM. */
int sasl_digest_md5(const struct sasl_digest_params *p, char response[33], char rspauth[33]);

/* One connection's exchange, server side. The first client token (ZooKeeper's Java client
 * sends an empty one; its content is ignored, as ZooKeeper does) is answered with the
 * digest-challenge `realm="...",nonce="...",charset=utf-8,algorithm=md5-sess`; the
 * digest-response is then verified (nonce, nc=1, qop auth, realm, digest-uri compared
 * without case, known user, response) and answered with `rspauth=...`. Any token after that
 * fails. */
enum sasl_step {
    SASL_CONTINUE, /* *out is a challenge; the client answers with another token */
    SASL_DONE,     /* authenticated: *out is the final token, sasl_server_user() the name */
    SASL_FAILED,   /* no token; sasl_server_error() says why */
};

struct sasl_server;

/* users (borrowed) must outlive the exchange. realm and digest_uri are copied; ZooKeeper
 * uses SASL_ZK_REALM and SASL_ZK_DIGEST_URI. nonce NULL draws 30 random bytes (40 base64
 * characters, as ZooKeeper's); a test passes a fixed one. NULL on ENOMEM or a failed RNG. */
struct sasl_server *sasl_server_new(const struct sasl_users *users, const char *realm,
                                    const char *digest_uri, const char *nonce);
/* Feeds one client token of `len` bytes (in may be NULL when len is 0). *out and *out_len get
 * the token to send back (NULL and 0 when FAILED), borrowed until the next call or free. */
enum sasl_step sasl_server_step(struct sasl_server *s, const uint8_t *in, size_t len,
                                const uint8_t **out, size_t *out_len);
/* After SASL_DONE: the authorization id, which is the authenticated user name, as
 * ZooKeeper's callback handler sets it (an authzid the client sends is not honoured). */
const char *sasl_server_user(const struct sasl_server *s);
/* After SASL_FAILED: one phrase for the log ("wrong password for user \"bob\""). */
const char *sasl_server_error(const struct sasl_server *s);
void sasl_server_free(struct sasl_server *s);

#endif
