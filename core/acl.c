/* ACLs: checks, fixupACL, digests, ip matching and the interned ACL cache (client-protocol.md
 * §8). */
#include "acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "zkerr.h"

static bool acl_str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool acl_entry_eq(const struct zk_acl *a, const struct zk_acl *b)
{
    return a->perms == b->perms && acl_str_eq(a->id.scheme, b->id.scheme) &&
           acl_str_eq(a->id.id, b->id.id);
}

#define ACL_FNV_OFFSET 0xcbf29ce484222325ULL
#define ACL_FNV_PRIME 0x100000001b3ULL

static uint64_t acl_hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * ACL_FNV_PRIME;
    return h;
}

/* A NULL string hashes differently from "" so that equal hashes stay likely equal lists. */
static uint64_t acl_hash_str(uint64_t h, const char *s)
{
    if (s == NULL)
        return acl_hash_bytes(h, "\xff\xfe", 2);
    return acl_hash_bytes(h, s, strlen(s) + 1);
}

static uint64_t acl_hash_entry(const struct zk_acl *a)
{
    uint64_t h = acl_hash_bytes(ACL_FNV_OFFSET, &a->perms, sizeof(a->perms));
    h = acl_hash_str(h, a->id.scheme);
    return acl_hash_str(h, a->id.id);
}

/* ---- ip scheme ---- */

/* Java's Integer.parseInt over [s, s+len): optional sign, then at least one ASCII digit.
 * Values beyond `max` (or negative) are rejected, which covers int overflow too. */
static bool acl_parse_small_int(const char *s, size_t len, long max, long *out)
{
    size_t i = 0;
    bool neg = false;
    if (len > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len)
        return false;
    long v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v <= max)
            v = v * 10 + (s[i] - '0');
    }
    if (neg && v != 0)
        return false;
    if (v > max)
        return false;
    *out = v;
    return true;
}

/* An address as IPAuthenticationProvider reads it: text with a ':' is IPv6 (an IPv4-mapped one
 * becomes 4 bytes, as Java's InetAddress does), anything else must be four dotted decimals.
 * Returns the byte length (4 or 16), or 0 when it does not parse. */
static int acl_ip_parse(const char *s, size_t len, uint8_t out[16])
{
    if (memchr(s, ':', len) != NULL) {
        char buf[INET6_ADDRSTRLEN + 1];
        if (len >= sizeof(buf) || memchr(s, '\0', len) != NULL)
            return 0;
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (inet_pton(AF_INET6, buf, out) != 1)
            return 0;
        static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(out, v4_mapped, sizeof(v4_mapped)) == 0) {
            memmove(out, out + 12, 4);
            return 4;
        }
        return 16;
    }
    const char *p = s, *end = s + len;
    for (int part = 0; part < 4; part++) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *stop = dot != NULL ? dot : end;
        long v;
        if ((part < 3) != (dot != NULL) || !acl_parse_small_int(p, (size_t)(stop - p), 255, &v))
            return 0;
        out[part] = (uint8_t)v;
        p = stop + 1;
    }
    return 4;
}

/* Splits "addr[/bits]" and parses both halves; bits defaults to the full length. */
static int acl_ip_parse_expr(const char *expr, uint8_t addr[16], long *bits)
{
    const char *slash = strchr(expr, '/');
    size_t addr_len = slash != NULL ? (size_t)(slash - expr) : strlen(expr);
    int n = acl_ip_parse(expr, addr_len, addr);
    if (n == 0)
        return 0;
    *bits = n * 8;
    if (slash != NULL && !acl_parse_small_int(slash + 1, strlen(slash + 1), n * 8, bits))
        return 0;
    return n;
}

static void acl_ip_mask(uint8_t *addr, int n, long bits)
{
    for (int i = 0; i < n; i++) {
        long left = bits - i * 8;
        if (left <= 0)
            addr[i] = 0;
        else if (left < 8)
            addr[i] &= (uint8_t)(0xFF << (8 - left));
    }
}

bool acl_ip_valid(const char *acl_id)
{
    uint8_t addr[16];
    long bits;
    return acl_id != NULL && acl_ip_parse_expr(acl_id, addr, &bits) != 0;
}

bool acl_ip_matches(const char *acl_id, const char *client_addr)
{
    uint8_t acl_addr[16], client[16];
    long bits;
    if (acl_id == NULL || client_addr == NULL)
        return false;
    int n = acl_ip_parse_expr(acl_id, acl_addr, &bits);
    if (n == 0 || acl_ip_parse(client_addr, strlen(client_addr), client) != n)
        return false;
    acl_ip_mask(acl_addr, n, bits);
    acl_ip_mask(client, n, bits);
    return memcmp(acl_addr, client, (size_t)n) == 0;
}

/* ---- checks ---- */

static bool acl_id_matches(const struct zk_id *acl_id, const struct auth_id *who)
{
    if (who->scheme == NULL || who->id == NULL || strcmp(who->scheme, acl_id->scheme) != 0)
        return false;
    if (strcmp(acl_id->scheme, "ip") == 0)
        return acl_ip_matches(acl_id->id, who->id);
    if (strcmp(acl_id->scheme, "digest") == 0 || strcmp(acl_id->scheme, "x509") == 0)
        return strcmp(acl_id->id, who->id) == 0;
    /* ZooKeeper's SASL provider lets a SASL user named "super" match every sasl entry */
    if (strcmp(acl_id->scheme, "sasl") == 0)
        return strcmp(acl_id->id, who->id) == 0 || strcmp(who->id, "super") == 0;
    return false; /* no provider for the scheme */
}

bool acl_permits(const struct zk_acl_vec *acl, int perm, const struct auth_id *ids, size_t n_ids)
{
    for (size_t i = 0; i < n_ids; i++)
        if (ids[i].scheme != NULL && strcmp(ids[i].scheme, "super") == 0)
            return true;
    if (acl == NULL || acl->count <= 0)
        return true;
    for (int32_t i = 0; i < acl->count; i++) {
        const struct zk_acl *a = &acl->items[i];
        if ((a->perms & perm) == 0 || a->id.scheme == NULL || a->id.id == NULL)
            continue;
        if (strcmp(a->id.scheme, "world") == 0 && strcmp(a->id.id, "anyone") == 0)
            return true;
        for (size_t j = 0; j < n_ids; j++)
            if (acl_id_matches(&a->id, &ids[j]))
                return true;
    }
    return false;
}

/* ---- copies ---- */

void acl_vec_free(struct zk_acl_vec *v)
{
    if (v == NULL)
        return;
    for (int32_t i = 0; i < v->count; i++) {
        free((char *)v->items[i].id.scheme);
        free((char *)v->items[i].id.id);
    }
    free(v->items);
    v->items = NULL;
    v->count = 0;
}

/* Appends a heap copy of (perms, scheme, id) to out, which has room. */
static int acl_vec_push(struct zk_acl_vec *out, int32_t perms, const char *scheme, const char *id)
{
    struct zk_acl *a = &out->items[out->count];
    a->perms = perms;
    a->id.scheme = scheme != NULL ? strdup(scheme) : NULL;
    a->id.id = id != NULL ? strdup(id) : NULL;
    out->count++;
    if ((scheme != NULL && a->id.scheme == NULL) || (id != NULL && a->id.id == NULL))
        return -ENOMEM;
    return 0;
}

int acl_vec_copy(const struct zk_acl_vec *in, struct zk_acl_vec *out)
{
    struct zk_acl_vec v = {.count = 0, .items = NULL};
    if (in->count < 0) {
        *out = (struct zk_acl_vec){.count = -1, .items = NULL};
        return 0;
    }
    if (in->count > 0) {
        v.items = calloc((size_t)in->count, sizeof(*v.items));
        if (v.items == NULL)
            return -ENOMEM;
    }
    for (int32_t i = 0; i < in->count; i++) {
        const struct zk_acl *a = &in->items[i];
        if (acl_vec_push(&v, a->perms, a->id.scheme, a->id.id) != 0) {
            acl_vec_free(&v);
            return -ENOMEM;
        }
    }
    *out = v;
    return 0;
}

int acl_mask_digests(const struct zk_acl_vec *in, struct zk_acl_vec *out)
{
    struct zk_acl_vec v;
    int rc = acl_vec_copy(in, &v);
    if (rc != 0)
        return rc;
    for (int32_t i = 0; i < v.count; i++) {
        struct zk_acl *a = &v.items[i];
        if (!acl_str_eq(a->id.scheme, "digest") || a->id.id == NULL)
            continue;
        const char *colon = strchr(a->id.id, ':');
        if (colon == NULL)
            continue;
        size_t keep = (size_t)(colon - a->id.id) + 1;
        char *masked = malloc(keep + 2);
        if (masked == NULL) {
            acl_vec_free(&v);
            return -ENOMEM;
        }
        memcpy(masked, a->id.id, keep);
        memcpy(masked + keep, "x", 2);
        free((char *)a->id.id);
        a->id.id = masked;
    }
    *out = v;
    return 0;
}

/* ---- fixupACL ---- */

/* Java's id.split(":").length == 2, where split drops trailing empty strings: after removing
 * trailing ':', exactly one ':' must remain. */
static bool acl_digest_id_valid(const char *id)
{
    size_t len = strlen(id);
    while (len > 0 && id[len - 1] == ':')
        len--;
    const char *colon = memchr(id, ':', len);
    return colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon + 1 - id)) == NULL;
}

/* The x509 provider exists only where TLS listeners can present certificates, as ZooKeeper
 * registers X509AuthenticationProvider only with TLS configured. */
static bool x509_provider;

void acl_enable_x509(bool on)
{
    x509_provider = on;
}

/* Likewise the SASL provider, registered when SASL is configured. */
static bool sasl_provider;

void acl_enable_sasl(bool on)
{
    sasl_provider = on;
}

/* ZooKeeper's SASL provider takes any id that parses as a Kerberos name: without "@"
 * anything, else primary[/instance]@realm with no further "/" or "@". */
static bool acl_sasl_valid(const char *id)
{
    const char *at = strchr(id, '@');
    if (at == NULL)
        return true;
    if (strchr(at + 1, '@') != NULL || strchr(at + 1, '/') != NULL)
        return false;
    const char *slash = memchr(id, '/', (size_t)(at - id));
    return slash == NULL || memchr(slash + 1, '/', (size_t)(at - slash - 1)) == NULL;
}

/* An X.500 distinguished name in RFC 2253 form: attribute=value pairs. */
static bool acl_x509_valid(const char *id)
{
    return id[0] != '\0' && strchr(id, '=') != NULL;
}

static bool acl_is_authenticated_scheme(const char *scheme)
{
    return scheme != NULL && (strcmp(scheme, "digest") == 0 || strcmp(scheme, "x509") == 0 ||
                              strcmp(scheme, "sasl") == 0);
}

/* Marks keep[i] = false for each entry equal to an earlier one. Small lists compare pairwise;
 * long ones (a client may send thousands) go through a temporary hash set of indices. */
static int acl_mark_duplicates(const struct zk_acl_vec *in, bool *keep)
{
    size_t n = (size_t)in->count;
    if (n <= 16) {
        for (size_t i = 0; i < n; i++) {
            keep[i] = true;
            for (size_t j = 0; j < i && keep[i]; j++)
                if (keep[j] && acl_entry_eq(&in->items[i], &in->items[j]))
                    keep[i] = false;
        }
        return 0;
    }
    size_t cap = 32;
    while (cap < n * 2)
        cap *= 2;
    size_t *slots = malloc(cap * sizeof(*slots)); /* index + 1; 0 is empty */
    if (slots == NULL)
        return -ENOMEM;
    memset(slots, 0, cap * sizeof(*slots));
    for (size_t i = 0; i < n; i++) {
        size_t s = (size_t)acl_hash_entry(&in->items[i]) & (cap - 1);
        keep[i] = true;
        for (; slots[s] != 0; s = (s + 1) & (cap - 1)) {
            if (acl_entry_eq(&in->items[i], &in->items[slots[s] - 1])) {
                keep[i] = false;
                break;
            }
        }
        if (keep[i])
            slots[s] = i + 1;
    }
    free(slots);
    return 0;
}

int acl_fixup(const struct zk_acl_vec *in, const struct auth_id *ids, size_t n_ids,
              struct zk_acl_vec *out)
{
    struct zk_acl_vec v = {.count = 0, .items = NULL};
    *out = v;
    if (in == NULL || in->count <= 0)
        return ZK_INVALIDACL;

    size_t n = (size_t)in->count, n_auth_ids = 0, cap = 0;
    for (size_t j = 0; j < n_ids; j++)
        if (acl_is_authenticated_scheme(ids[j].scheme) && ids[j].id != NULL)
            n_auth_ids++;
    bool *keep = malloc(n * sizeof(*keep));
    if (keep == NULL)
        return -ENOMEM;
    int rc = acl_mark_duplicates(in, keep);
    if (rc != 0)
        goto done;

    for (size_t i = 0; i < n; i++) {
        const struct zk_acl *a = &in->items[i];
        if (!keep[i])
            continue;
        /* kazoo sends auth's empty id as a null string; only the auth scheme ignores it */
        if (a->id.scheme == NULL || (a->id.id == NULL && strcmp(a->id.scheme, "auth") != 0)) {
            rc = ZK_INVALIDACL;
            goto done;
        }
        cap += strcmp(a->id.scheme, "auth") == 0 ? n_auth_ids : 1;
    }
    if (cap > INT32_MAX || (cap > 0 && (v.items = calloc(cap, sizeof(*v.items))) == NULL)) {
        rc = -ENOMEM;
        goto done;
    }

    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct zk_acl *a = &in->items[i];
        const char *scheme = a->id.scheme, *id = a->id.id;
        if (!keep[i])
            continue;
        if (strcmp(scheme, "world") == 0 && strcmp(id, "anyone") == 0) {
            rc = acl_vec_push(&v, a->perms, scheme, id);
        } else if (strcmp(scheme, "auth") == 0) {
            if (n_auth_ids == 0)
                rc = ZK_INVALIDACL;
            for (size_t j = 0; j < n_ids && rc == 0; j++)
                if (acl_is_authenticated_scheme(ids[j].scheme) && ids[j].id != NULL)
                    rc = acl_vec_push(&v, a->perms, ids[j].scheme, ids[j].id);
        } else if ((strcmp(scheme, "digest") == 0 && acl_digest_id_valid(id)) ||
                   (strcmp(scheme, "ip") == 0 && acl_ip_valid(id)) ||
                   (strcmp(scheme, "x509") == 0 && x509_provider && acl_x509_valid(id)) ||
                   (strcmp(scheme, "sasl") == 0 && sasl_provider && acl_sasl_valid(id))) {
            rc = acl_vec_push(&v, a->perms, scheme, id);
        } else {
            rc = ZK_INVALIDACL; /* world with another id, or no provider for the scheme */
        }
    }
    if (rc != 0)
        acl_vec_free(&v);
    else
        *out = v;
done:
    free(keep);
    return rc;
}

/* ---- digest ---- */

int acl_digest(const char *user_password, size_t len, char *out, size_t out_len)
{
    const char *colon = memchr(user_password, ':', len);
    size_t user_len = colon != NULL ? (size_t)(colon - user_password) : len;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;

    /* user ':' base64(20 bytes) = 28 characters, NUL */
    if (out_len < user_len + 1 + 28 + 1)
        return -ENOSPC;
    if (EVP_Digest(user_password, len, md, &md_len, EVP_sha1(), NULL) != 1)
        return -ENOMEM;
    memcpy(out, user_password, user_len);
    out[user_len] = ':';
    EVP_EncodeBlock((unsigned char *)out + user_len + 1, md, (int)md_len);
    return 0;
}

/* ---- the interned cache ---- */

struct acl_entry {
    int64_t id;
    uint64_t refs;
    uint64_t hash;
    struct acl_entry *next_by_list, *next_by_id;
    struct zk_acl_vec acl; /* items and strings live in the same allocation */
};

struct acl_cache {
    struct acl_entry **by_list, **by_id; /* both nbuckets long */
    size_t nbuckets;
    size_t count;
    int64_t next_id;
};

static uint64_t acl_hash_vec(const struct zk_acl_vec *v)
{
    uint64_t h = acl_hash_bytes(ACL_FNV_OFFSET, &v->count, sizeof(v->count));
    for (int32_t i = 0; i < v->count; i++)
        h = acl_hash_bytes(h, &(uint64_t){acl_hash_entry(&v->items[i])}, sizeof(uint64_t));
    return h;
}

static size_t acl_id_bucket(int64_t id, size_t nbuckets)
{
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ULL;
    return (size_t)(x >> 32) & (nbuckets - 1);
}

static bool acl_vec_eq(const struct zk_acl_vec *a, const struct zk_acl_vec *b)
{
    if (a->count != b->count)
        return false;
    for (int32_t i = 0; i < a->count; i++)
        if (!acl_entry_eq(&a->items[i], &b->items[i]))
            return false;
    return true;
}

struct acl_cache *acl_cache_new(void)
{
    struct acl_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->nbuckets = 16;
    c->by_list = calloc(c->nbuckets, sizeof(*c->by_list));
    c->by_id = calloc(c->nbuckets, sizeof(*c->by_id));
    if (c->by_list == NULL || c->by_id == NULL) {
        free(c->by_list);
        free(c->by_id);
        free(c);
        return NULL;
    }
    c->next_id = 1;
    return c;
}

void acl_cache_free(struct acl_cache *c)
{
    if (c == NULL)
        return;
    for (size_t b = 0; b < c->nbuckets; b++) {
        struct acl_entry *e = c->by_id[b];
        while (e != NULL) {
            struct acl_entry *next = e->next_by_id;
            free(e);
            e = next;
        }
    }
    free(c->by_list);
    free(c->by_id);
    free(c);
}

static int acl_cache_grow(struct acl_cache *c)
{
    size_t nb = c->nbuckets * 2;
    struct acl_entry **by_list = calloc(nb, sizeof(*by_list));
    struct acl_entry **by_id = calloc(nb, sizeof(*by_id));
    if (by_list == NULL || by_id == NULL) {
        free(by_list);
        free(by_id);
        return -ENOMEM;
    }
    for (size_t b = 0; b < c->nbuckets; b++) {
        struct acl_entry *e = c->by_id[b];
        while (e != NULL) {
            struct acl_entry *next = e->next_by_id;
            size_t lb = (size_t)e->hash & (nb - 1), ib = acl_id_bucket(e->id, nb);
            e->next_by_list = by_list[lb];
            by_list[lb] = e;
            e->next_by_id = by_id[ib];
            by_id[ib] = e;
            e = next;
        }
    }
    free(c->by_list);
    free(c->by_id);
    c->by_list = by_list;
    c->by_id = by_id;
    c->nbuckets = nb;
    return 0;
}

/* One allocation: the entry, its items, then every string. */
static struct acl_entry *acl_entry_new(const struct zk_acl_vec *acl)
{
    int32_t count = acl->count > 0 ? acl->count : 0;
    size_t strings = 0;
    for (int32_t i = 0; i < count; i++) {
        const struct zk_id *id = &acl->items[i].id;
        strings += (id->scheme != NULL ? strlen(id->scheme) + 1 : 0) +
                   (id->id != NULL ? strlen(id->id) + 1 : 0);
    }
    size_t items_bytes = (size_t)count * sizeof(struct zk_acl);
    struct acl_entry *e = malloc(sizeof(*e) + items_bytes + strings);
    if (e == NULL)
        return NULL;
    e->acl.count = acl->count;
    e->acl.items = count > 0 ? (struct zk_acl *)(e + 1) : NULL;
    char *s = (char *)(e + 1) + items_bytes;
    for (int32_t i = 0; i < count; i++) {
        const struct zk_acl *src = &acl->items[i];
        struct zk_acl *dst = &e->acl.items[i];
        dst->perms = src->perms;
        dst->id.scheme = dst->id.id = NULL;
        if (src->id.scheme != NULL) {
            size_t n = strlen(src->id.scheme) + 1;
            dst->id.scheme = memcpy(s, src->id.scheme, n);
            s += n;
        }
        if (src->id.id != NULL) {
            size_t n = strlen(src->id.id) + 1;
            dst->id.id = memcpy(s, src->id.id, n);
            s += n;
        }
    }
    return e;
}

int64_t acl_cache_intern(struct acl_cache *c, const struct zk_acl_vec *acl)
{
    uint64_t h = acl_hash_vec(acl);
    for (struct acl_entry *e = c->by_list[h & (c->nbuckets - 1)]; e != NULL; e = e->next_by_list) {
        if (e->hash == h && acl_vec_eq(&e->acl, acl)) {
            e->refs++;
            return e->id;
        }
    }
    if (c->count >= c->nbuckets && acl_cache_grow(c) != 0)
        return -1;
    struct acl_entry *e = acl_entry_new(acl);
    if (e == NULL)
        return -1;
    e->id = c->next_id++;
    e->refs = 1;
    e->hash = h;
    size_t lb = (size_t)h & (c->nbuckets - 1), ib = acl_id_bucket(e->id, c->nbuckets);
    e->next_by_list = c->by_list[lb];
    c->by_list[lb] = e;
    e->next_by_id = c->by_id[ib];
    c->by_id[ib] = e;
    c->count++;
    return e->id;
}

static struct acl_entry *acl_cache_find(const struct acl_cache *c, int64_t id)
{
    struct acl_entry *e = c->by_id[acl_id_bucket(id, c->nbuckets)];
    while (e != NULL && e->id != id)
        e = e->next_by_id;
    return e;
}

void acl_cache_addref(struct acl_cache *c, int64_t id)
{
    struct acl_entry *e = acl_cache_find(c, id);
    if (e != NULL)
        e->refs++;
}

void acl_cache_release(struct acl_cache *c, int64_t id)
{
    struct acl_entry *e = acl_cache_find(c, id);
    if (e == NULL || --e->refs > 0)
        return;
    struct acl_entry **pp = &c->by_id[acl_id_bucket(id, c->nbuckets)];
    while (*pp != e)
        pp = &(*pp)->next_by_id;
    *pp = e->next_by_id;
    pp = &c->by_list[(size_t)e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->next_by_list;
    *pp = e->next_by_list;
    c->count--;
    free(e);
}

const struct zk_acl_vec *acl_cache_get(const struct acl_cache *c, int64_t id)
{
    struct acl_entry *e = acl_cache_find(c, id);
    return e != NULL ? &e->acl : NULL;
}

size_t acl_cache_size(const struct acl_cache *c)
{
    return c->count;
}

int64_t acl_cache_lookup(const struct acl_cache *c, const struct zk_acl_vec *acl)
{
    uint64_t h = acl_hash_vec(acl);
    for (struct acl_entry *e = c->by_list[h & (c->nbuckets - 1)]; e != NULL; e = e->next_by_list)
        if (e->hash == h && acl_vec_eq(&e->acl, acl))
            return e->id;
    return 0;
}

void acl_cache_each(const struct acl_cache *c,
                    void (*fn)(int64_t id, const struct zk_acl_vec *acl, void *arg), void *arg)
{
    for (size_t b = 0; b < c->nbuckets; b++)
        for (struct acl_entry *e = c->by_id[b]; e != NULL; e = e->next_by_id)
            fn(e->id, &e->acl, arg);
}
