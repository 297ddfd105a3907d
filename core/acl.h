/* ACLs: identities, permission checks, validation of new ACLs (fixupACL), the interned ACL
 * cache, digest hashing and ip matching (client-protocol.md §8). */
#ifndef CORRAL_ACL_H
#define CORRAL_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* One identity a connection holds: ("ip","127.0.0.1"), ("digest","bob:ikIa..="),
 * ("super",""), ("x509","CN=..."). Strings owned by whoever holds the auth_id. */
struct auth_id {
    char *scheme;
    char *id;
};

/* True if `acl` grants `perm` (one ZK_PERM_ bit) to a holder of `ids`. A holder of a
 * "super" id passes every check; an empty list (count 0) passes too. */
bool acl_permits(const struct zk_acl_vec *acl, int perm, const struct auth_id *ids, size_t n_ids);

/* fixupACL: drops exact duplicates, rejects a null or empty list, validates every id by its
 * scheme (world:anyone only; digest "user:hash" with exactly two parts; ip address with
 * optional /bits), expands `auth` into one entry per authenticated id of the caller (digest,
 * x509 and sasl, never ip or super). Only world, auth, digest and ip are accepted as schemes of
 * the requested entries, plus x509 and sasl when enabled below. Writes a heap list into *out
 * (free with acl_vec_free) and returns 0, or ZK_INVALIDACL (or -ENOMEM) and leaves *out
 * zeroed. */
int acl_fixup(const struct zk_acl_vec *in, const struct auth_id *ids, size_t n_ids,
              struct zk_acl_vec *out);

/* Accept x509 ACL ids (a TLS listener is configured). Off by default. */
void acl_enable_x509(bool on);
/* Accept sasl ACL ids (a sasl group is configured), as ZooKeeper does with its
 * SASLAuthenticationProvider registered: any name without "@", or a Kerberos-style
 * primary[/instance]@realm. Off by default. */
void acl_enable_sasl(bool on);

/* Deep copy / free of a list whose strings are heap copies. */
int acl_vec_copy(const struct zk_acl_vec *in, struct zk_acl_vec *out);
void acl_vec_free(struct zk_acl_vec *v);

/* "user:password" -> "user:BASE64(SHA1(user:password))" in out (NUL-terminated).
 * Returns 0, or -ENOSPC when out_len is too small (64 bytes beyond the user always fit). */
int acl_digest(const char *user_password, size_t len, char *out, size_t out_len);

/* ip scheme: a valid ACL id ("10.0.0.0/8", "::1", "fe80::/10") and whether a client address
 * (numeric text) matches it. */
bool acl_ip_valid(const char *acl_id);
bool acl_ip_matches(const char *acl_id, const char *client_addr);

/* getACL masking for callers without ADMIN: each digest id "user:hash" becomes "user:x".
 * Writes a heap copy (free with acl_vec_free). */
int acl_mask_digests(const struct zk_acl_vec *in, struct zk_acl_vec *out);

/* The interned ACL cache (ZooKeeper's ReferenceCountedACLCache): every node stores a small
 * id; equal lists share one entry. ids are > 0 and never reused within a process. */
struct acl_cache;
struct acl_cache *acl_cache_new(void);
void acl_cache_free(struct acl_cache *c);
/* Interns a copy of `acl` and takes one reference; returns the id, or -1 on ENOMEM. */
int64_t acl_cache_intern(struct acl_cache *c, const struct zk_acl_vec *acl);
void acl_cache_addref(struct acl_cache *c, int64_t id);
void acl_cache_release(struct acl_cache *c, int64_t id); /* frees the entry at zero refs */
/* The list behind id, or NULL for an unknown id. Valid while the id has references. */
const struct zk_acl_vec *acl_cache_get(const struct acl_cache *c, int64_t id);
size_t acl_cache_size(const struct acl_cache *c);

/* The id of an interned list equal to `acl`, or 0 when there is none; takes no reference. */
int64_t acl_cache_lookup(const struct acl_cache *c, const struct zk_acl_vec *acl);
/* Calls fn for every entry, in no particular order; it must not change the cache. Allocates
 * nothing, so a forked child may call it. */
void acl_cache_each(const struct acl_cache *c,
                    void (*fn)(int64_t id, const struct zk_acl_vec *acl, void *arg), void *arg);

#endif
