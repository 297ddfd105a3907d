/* ACLs: checks, fixupACL, digests, ip matching, masking and the interned cache (§8). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "acl.h"
#include "zkerr.h"

/* clang-format off */
#define ACL1(p, s, i) {.perms = (p), .id = {.scheme = (s), .id = (i)}}
#define VEC(arr) {.count = (int32_t)(sizeof(arr) / sizeof((arr)[0])), .items = (arr)}
/* clang-format on */

static char BOB_DIGEST[] = "bob:ikIaKsbtGweaHnb/jKn7OHqbunM=";

static void digest_matches_zookeeper(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(acl_digest("bob:pw", 6, out, sizeof(out)), 0);
    assert_string_equal(out, BOB_DIGEST);
}

static void digest_user_is_before_the_first_colon(void **state)
{
    (void)state;
    char a[80], b[80];
    /* The whole string is hashed; only the user part is kept in front. */
    assert_int_equal(acl_digest("bob:pw:x", 8, a, sizeof(a)), 0);
    assert_memory_equal(a, "bob:", 4);
    assert_int_equal(strlen(a), 4 + 28);
    assert_string_not_equal(a, BOB_DIGEST);
    assert_int_equal(acl_digest("nocolon", 7, b, sizeof(b)), 0);
    assert_memory_equal(b, "nocolon:", 8);
    assert_int_equal(strlen(b), 8 + 28);
    assert_int_equal(b[strlen(b) - 1], '=');
    /* The length is honoured, not the NUL. */
    assert_int_equal(acl_digest("bob:pwEXTRA", 6, a, sizeof(a)), 0);
    assert_string_equal(a, BOB_DIGEST);
}

static void digest_needs_room(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(acl_digest("bob:pw", 6, out, 33), 0); /* 3 + 1 + 28 + NUL */
    assert_string_equal(out, BOB_DIGEST);
    assert_int_equal(acl_digest("bob:pw", 6, out, 32), -ENOSPC);
}

static void world_anyone_permits_by_perm_bits(void **state)
{
    (void)state;
    struct zk_acl items[] = {ACL1(ZK_PERM_READ | ZK_PERM_WRITE, "world", "anyone")};
    struct zk_acl_vec acl = VEC(items);
    assert_true(acl_permits(&acl, ZK_PERM_READ, NULL, 0));
    assert_true(acl_permits(&acl, ZK_PERM_WRITE, NULL, 0));
    assert_false(acl_permits(&acl, ZK_PERM_DELETE, NULL, 0));
    assert_false(acl_permits(&acl, ZK_PERM_ADMIN, NULL, 0));
}

static void super_and_empty_lists_always_pass(void **state)
{
    (void)state;
    struct zk_acl items[] = {ACL1(ZK_PERM_READ, "digest", BOB_DIGEST)};
    struct zk_acl_vec acl = VEC(items);
    struct auth_id super[] = {{"ip", "127.0.0.1"}, {"super", ""}};
    struct auth_id ip_only[] = {{"ip", "127.0.0.1"}};
    assert_true(acl_permits(&acl, ZK_PERM_ADMIN, super, 2));
    assert_false(acl_permits(&acl, ZK_PERM_ADMIN, ip_only, 1));
    struct zk_acl_vec empty = {.count = 0, .items = NULL};
    assert_true(acl_permits(&empty, ZK_PERM_ADMIN, NULL, 0));
}

static void digest_is_exact_string_equality(void **state)
{
    (void)state;
    struct zk_acl items[] = {ACL1(ZK_PERM_ALL, "digest", BOB_DIGEST)};
    struct zk_acl_vec acl = VEC(items);
    struct auth_id bob[] = {{"ip", "10.0.0.1"}, {"digest", "bob:ikIaKsbtGweaHnb/jKn7OHqbunM="}};
    struct auth_id other[] = {{"digest", "bob:ikIaKsbtGweaHnb/jKn7OHqbunM"}};
    struct auth_id wrong_scheme[] = {{"x509", "bob:ikIaKsbtGweaHnb/jKn7OHqbunM="}};
    assert_true(acl_permits(&acl, ZK_PERM_WRITE, bob, 2));
    assert_false(acl_permits(&acl, ZK_PERM_WRITE, other, 1));
    assert_false(acl_permits(&acl, ZK_PERM_WRITE, wrong_scheme, 1));

    struct zk_acl x[] = {ACL1(ZK_PERM_READ, "x509", "CN=a,O=b")};
    struct zk_acl_vec xacl = VEC(x);
    struct auth_id cert[] = {{"x509", "CN=a,O=b"}};
    struct auth_id cert2[] = {{"x509", "CN=a"}};
    assert_true(acl_permits(&xacl, ZK_PERM_READ, cert, 1));
    assert_false(acl_permits(&xacl, ZK_PERM_READ, cert2, 1));
}

static void ip_acl_in_permits(void **state)
{
    (void)state;
    struct zk_acl items[] = {ACL1(ZK_PERM_READ, "ip", "10.0.0.0/8")};
    struct zk_acl_vec acl = VEC(items);
    struct auth_id in[] = {{"ip", "10.1.2.3"}};
    struct auth_id out[] = {{"ip", "11.1.2.3"}};
    assert_true(acl_permits(&acl, ZK_PERM_READ, in, 1));
    assert_false(acl_permits(&acl, ZK_PERM_READ, out, 1));
}

static void ip_matching(void **state)
{
    (void)state;
    assert_true(acl_ip_matches("127.0.0.1", "127.0.0.1"));
    assert_false(acl_ip_matches("127.0.0.1", "127.0.0.2"));
    assert_true(acl_ip_matches("10.0.0.0/8", "10.255.1.2"));
    assert_false(acl_ip_matches("10.0.0.0/8", "11.0.0.0"));
    assert_true(acl_ip_matches("10.9.9.9/8", "10.1.1.1")); /* the ACL side is masked too */
    assert_true(acl_ip_matches("192.168.1.128/25", "192.168.1.200"));
    assert_false(acl_ip_matches("192.168.1.128/25", "192.168.1.100"));
    assert_true(acl_ip_matches("0.0.0.0/0", "8.8.8.8"));
    assert_true(acl_ip_matches("1.2.3.4/32", "1.2.3.4"));
    assert_false(acl_ip_matches("1.2.3.4/33", "1.2.3.4"));

    assert_true(acl_ip_matches("::1", "::1"));
    assert_true(acl_ip_matches("::1", "0:0:0:0:0:0:0:1"));
    assert_false(acl_ip_matches("::1", "::2"));
    assert_true(acl_ip_matches("fe80::/10", "fe80::1234:5678"));
    assert_true(acl_ip_matches("fe80::/10", "febf::1"));
    assert_false(acl_ip_matches("fe80::/10", "fec0::1"));
    assert_true(acl_ip_matches("2001:db8::/32", "2001:db8:ffff::1"));
    assert_true(acl_ip_matches("::/0", "2001:db8::1"));

    /* Families never match each other, even with /0. */
    assert_false(acl_ip_matches("0.0.0.0/0", "::1"));
    assert_false(acl_ip_matches("::/0", "127.0.0.1"));
    assert_false(acl_ip_matches("127.0.0.1", "::1"));
    /* Java turns an IPv4-mapped IPv6 literal into the IPv4 address. */
    assert_true(acl_ip_matches("127.0.0.1", "::ffff:127.0.0.1"));

    assert_false(acl_ip_matches("127.0.0.1", "localhost"));
    assert_false(acl_ip_matches("bogus", "127.0.0.1"));
}

static void ip_validity(void **state)
{
    (void)state;
    assert_true(acl_ip_valid("127.0.0.1"));
    assert_true(acl_ip_valid("10.0.0.0/8"));
    assert_true(acl_ip_valid("10.0.0.0/0"));
    assert_true(acl_ip_valid("10.0.0.0/32"));
    assert_false(acl_ip_valid("10.0.0.0/33"));
    assert_false(acl_ip_valid("10.0.0.0/40"));
    assert_false(acl_ip_valid("10.0.0.0/-1"));
    assert_false(acl_ip_valid("10.0.0.0/"));
    assert_false(acl_ip_valid("10.0.0.0/8/8"));
    assert_false(acl_ip_valid("10.0.0.0/x"));
    assert_false(acl_ip_valid("10.0.0"));
    assert_false(acl_ip_valid("10.0.0.0.0"));
    assert_false(acl_ip_valid("10.0.0."));
    assert_false(acl_ip_valid("256.0.0.1"));
    assert_false(acl_ip_valid("1.2.3.-1"));
    assert_false(acl_ip_valid("a.b.c.d"));
    assert_false(acl_ip_valid(""));
    assert_false(acl_ip_valid("localhost"));
    assert_true(acl_ip_valid("010.1.1.1")); /* Integer.parseInt reads "010" as 10 */
    assert_true(acl_ip_matches("010.1.1.1", "10.1.1.1"));
    assert_true(acl_ip_valid("::1"));
    assert_true(acl_ip_valid("fe80::/10"));
    assert_true(acl_ip_valid("::/128"));
    assert_false(acl_ip_valid("::/129"));
    assert_false(acl_ip_valid("1:2:3:4:5:6:7:8:9"));
    assert_false(acl_ip_valid("fe80:::1"));
}

static struct zk_acl_vec fixup_ok(struct zk_acl_vec *in, const struct auth_id *ids, size_t n)
{
    struct zk_acl_vec out;
    assert_int_equal(acl_fixup(in, ids, n, &out), 0);
    return out;
}

static void fixup_fails(struct zk_acl_vec *in, const struct auth_id *ids, size_t n)
{
    struct zk_acl_vec out = {.count = 99, .items = (struct zk_acl *)&out};
    assert_int_equal(acl_fixup(in, ids, n, &out), ZK_INVALIDACL);
    assert_int_equal(out.count, 0);
    assert_null(out.items);
}

static void fixup_rejects_empty_and_null(void **state)
{
    (void)state;
    struct zk_acl_vec empty = {.count = 0, .items = NULL};
    struct zk_acl_vec null = {.count = -1, .items = NULL};
    fixup_fails(&empty, NULL, 0);
    fixup_fails(&null, NULL, 0);
    fixup_fails(NULL, NULL, 0);
    struct zk_acl no_scheme[] = {ACL1(31, NULL, "anyone")};
    struct zk_acl no_id[] = {ACL1(31, "world", NULL)};
    struct zk_acl_vec a = VEC(no_scheme), b = VEC(no_id);
    fixup_fails(&a, NULL, 0);
    fixup_fails(&b, NULL, 0);
}

static void x509_ids_need_the_tls_provider(void **state)
{
    (void)state;
    const char *dn = "CN=client-a,O=corral";
    struct zk_acl x509[] = {ACL1(1, "x509", dn)};
    struct zk_acl not_dn[] = {ACL1(1, "x509", "client-a")};
    struct zk_acl_vec v = VEC(x509), bad = VEC(not_dn);
    acl_enable_x509(false);
    fixup_fails(&v, NULL, 0); /* no TLS listener: no x509 provider, as in ZooKeeper */
    acl_enable_x509(true);
    struct zk_acl_vec out = fixup_ok(&v, NULL, 0);
    assert_int_equal(out.count, 1);
    assert_string_equal(out.items[0].id.id, dn);
    fixup_fails(&bad, NULL, 0);
    struct auth_id holder[] = {{"x509", (char *)dn}}, other[] = {{"x509", "CN=client-b"}};
    assert_true(acl_permits(&out, ZK_PERM_READ, holder, 1));
    assert_false(acl_permits(&out, ZK_PERM_READ, other, 1));
    /* the auth scheme expands to a verified certificate's subject too */
    struct zk_acl auth[] = {ACL1(31, "auth", "")};
    struct zk_acl_vec av = VEC(auth);
    struct zk_acl_vec expanded = fixup_ok(&av, holder, 1);
    assert_int_equal(expanded.count, 1);
    assert_string_equal(expanded.items[0].id.scheme, "x509");
    acl_vec_free(&expanded);
    acl_vec_free(&out);
    acl_enable_x509(false);
}

static void fixup_world_only_anyone(void **state)
{
    (void)state;
    struct zk_acl ok[] = {ACL1(999, "world", "anyone")}; /* perms are not validated */
    struct zk_acl bad[] = {ACL1(31, "world", "x")};
    struct zk_acl_vec okv = VEC(ok), badv = VEC(bad);
    struct zk_acl_vec out = fixup_ok(&okv, NULL, 0);
    assert_int_equal(out.count, 1);
    assert_int_equal(out.items[0].perms, 999);
    assert_string_equal(out.items[0].id.scheme, "world");
    assert_string_equal(out.items[0].id.id, "anyone");
    assert_ptr_not_equal(out.items[0].id.id, ok[0].id.id); /* a heap copy */
    acl_vec_free(&out);
    fixup_fails(&badv, NULL, 0);
}

static void fixup_unknown_schemes(void **state)
{
    (void)state;
    const char *schemes[] = {"super", "auths", "x509", "sasl", "WORLD", ""};
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        struct zk_acl a[] = {ACL1(31, schemes[i], "anyone")};
        struct zk_acl_vec v = VEC(a);
        fixup_fails(&v, NULL, 0);
    }
}

static void fixup_digest_ids(void **state)
{
    (void)state;
    const char *good[] = {BOB_DIGEST, "user:hash", ":hash", "a:b:", "a:b::"};
    const char *bad[] = {"user:", "user", "a:b:c", "::b", ":", "", "a::"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct zk_acl a[] = {ACL1(31, "digest", good[i])};
        struct zk_acl_vec v = VEC(a);
        struct zk_acl_vec out = fixup_ok(&v, NULL, 0);
        assert_int_equal(out.count, 1);
        assert_string_equal(out.items[0].id.id, good[i]);
        acl_vec_free(&out);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct zk_acl a[] = {ACL1(31, "digest", bad[i])};
        struct zk_acl_vec v = VEC(a);
        fixup_fails(&v, NULL, 0);
    }
}

static void fixup_ip_ids(void **state)
{
    (void)state;
    struct zk_acl ok[] = {ACL1(1, "ip", "10.0.0.0/8"), ACL1(1, "ip", "::1"),
                          ACL1(1, "ip", "fe80::/10")};
    struct zk_acl_vec okv = VEC(ok);
    struct zk_acl_vec out = fixup_ok(&okv, NULL, 0);
    assert_int_equal(out.count, 3);
    acl_vec_free(&out);
    struct zk_acl bad[] = {ACL1(1, "ip", "10.0.0.0/40")};
    struct zk_acl_vec badv = VEC(bad);
    fixup_fails(&badv, NULL, 0);
}

static void fixup_expands_auth(void **state)
{
    (void)state;
    struct auth_id ids[] = {{"ip", "127.0.0.1"},
                            {"digest", BOB_DIGEST},
                            {"super", ""},
                            {"x509", "CN=client"},
                            {"sasl", "alice@EXAMPLE"}};
    struct zk_acl items[] = {ACL1(ZK_PERM_READ, "world", "anyone"), ACL1(ZK_PERM_ALL, "auth", "")};
    struct zk_acl_vec in = VEC(items);
    struct zk_acl_vec out = fixup_ok(&in, ids, 5);
    assert_int_equal(out.count, 4);
    assert_string_equal(out.items[0].id.scheme, "world");
    assert_int_equal(out.items[0].perms, ZK_PERM_READ);
    assert_string_equal(out.items[1].id.scheme, "digest");
    assert_string_equal(out.items[1].id.id, BOB_DIGEST);
    assert_int_equal(out.items[1].perms, ZK_PERM_ALL);
    assert_string_equal(out.items[2].id.scheme, "x509");
    assert_string_equal(out.items[2].id.id, "CN=client");
    assert_string_equal(out.items[3].id.scheme, "sasl");
    assert_string_equal(out.items[3].id.id, "alice@EXAMPLE");
    acl_vec_free(&out);
}

static void fixup_auth_without_ids_is_invalid(void **state)
{
    (void)state;
    struct auth_id ids[] = {{"ip", "127.0.0.1"}, {"super", ""}};
    struct zk_acl items[] = {ACL1(ZK_PERM_ALL, "auth", "")};
    struct zk_acl_vec in = VEC(items);
    fixup_fails(&in, ids, 2);
    fixup_fails(&in, NULL, 0);
    /* One bad entry spoils an otherwise good list. */
    struct zk_acl mixed[] = {ACL1(ZK_PERM_READ, "world", "anyone"), ACL1(ZK_PERM_ALL, "auth", "")};
    struct zk_acl_vec mixedv = VEC(mixed);
    fixup_fails(&mixedv, ids, 2);
}

static void fixup_removes_exact_duplicates(void **state)
{
    (void)state;
    struct zk_acl items[] = {
        ACL1(31, "world", "anyone"), ACL1(1, "ip", "10.0.0.1"), ACL1(31, "world", "anyone"),
        ACL1(2, "ip", "10.0.0.1"),   ACL1(1, "ip", "10.0.0.1"),
    };
    struct zk_acl_vec in = VEC(items);
    struct zk_acl_vec out = fixup_ok(&in, NULL, 0);
    assert_int_equal(out.count, 3);
    assert_string_equal(out.items[0].id.scheme, "world");
    assert_int_equal(out.items[1].perms, 1);
    assert_int_equal(out.items[2].perms, 2);
    assert_string_equal(out.items[2].id.id, "10.0.0.1");
    acl_vec_free(&out);
}

static void fixup_dedupes_long_lists(void **state)
{
    (void)state;
    /* Above the pairwise threshold: 200 entries, 50 distinct, first occurrences kept in order. */
    static struct zk_acl items[200];
    for (int i = 0; i < 200; i++)
        items[i] = (struct zk_acl)ACL1(i % 50, "world", "anyone");
    struct zk_acl_vec in = {.count = 200, .items = items};
    struct zk_acl_vec out = fixup_ok(&in, NULL, 0);
    assert_int_equal(out.count, 50);
    for (int i = 0; i < 50; i++)
        assert_int_equal(out.items[i].perms, i);
    acl_vec_free(&out);
}

static void mask_digests(void **state)
{
    (void)state;
    struct zk_acl items[] = {
        ACL1(31, "digest", BOB_DIGEST), ACL1(1, "world", "anyone"), ACL1(1, "ip", "10.0.0.1"),
        ACL1(3, "digest", "a:b:c"),     ACL1(3, "digest", "user:"), ACL1(3, "digest", "nocolon"),
    };
    struct zk_acl_vec in = VEC(items), out;
    assert_int_equal(acl_mask_digests(&in, &out), 0);
    assert_int_equal(out.count, 6);
    assert_string_equal(out.items[0].id.id, "bob:x");
    assert_int_equal(out.items[0].perms, 31);
    assert_string_equal(out.items[1].id.id, "anyone");
    assert_string_equal(out.items[2].id.id, "10.0.0.1");
    assert_string_equal(out.items[3].id.id, "a:x");
    assert_string_equal(out.items[4].id.id, "user:x");
    assert_string_equal(out.items[5].id.id, "nocolon");
    assert_string_equal(items[0].id.id, BOB_DIGEST); /* the input is untouched */
    acl_vec_free(&out);
}

static void vec_copy_is_deep(void **state)
{
    (void)state;
    struct zk_acl items[] = {ACL1(31, "world", "anyone"), ACL1(1, "ip", "10.0.0.1")};
    struct zk_acl_vec in = VEC(items), out;
    assert_int_equal(acl_vec_copy(&in, &out), 0);
    assert_int_equal(out.count, 2);
    assert_ptr_not_equal(out.items[1].id.id, items[1].id.id);
    assert_string_equal(out.items[1].id.id, "10.0.0.1");
    acl_vec_free(&out);
    assert_int_equal(out.count, 0);
    assert_null(out.items);
}

static void cache_shares_equal_lists(void **state)
{
    (void)state;
    struct acl_cache *c = acl_cache_new();
    assert_non_null(c);
    struct zk_acl open[] = {ACL1(31, "world", "anyone")};
    struct zk_acl open2[] = {ACL1(31, "world", "anyone")};
    struct zk_acl read[] = {ACL1(1, "world", "anyone")};
    struct zk_acl two[] = {ACL1(31, "world", "anyone"), ACL1(1, "ip", "10.0.0.1")};
    struct zk_acl two_swapped[] = {ACL1(1, "ip", "10.0.0.1"), ACL1(31, "world", "anyone")};
    struct zk_acl_vec vo = VEC(open), vo2 = VEC(open2), vr = VEC(read), vt = VEC(two),
                      vts = VEC(two_swapped);

    int64_t a = acl_cache_intern(c, &vo);
    int64_t b = acl_cache_intern(c, &vo2);
    int64_t r = acl_cache_intern(c, &vr);
    int64_t t = acl_cache_intern(c, &vt);
    int64_t ts = acl_cache_intern(c, &vts);
    assert_true(a > 0);
    assert_int_equal(b, a);
    assert_true(r > a);
    assert_true(t > r);
    assert_true(ts > t); /* order matters: a different list */
    assert_int_equal(acl_cache_size(c), 4);

    const struct zk_acl_vec *got = acl_cache_get(c, t);
    assert_non_null(got);
    assert_int_equal(got->count, 2);
    assert_string_equal(got->items[1].id.scheme, "ip");
    assert_string_equal(got->items[1].id.id, "10.0.0.1");
    assert_ptr_not_equal(got->items[1].id.id, two[1].id.id);
    assert_null(acl_cache_get(c, 12345));
    acl_cache_free(c);
}

static void cache_frees_at_zero_refs_and_never_reuses_ids(void **state)
{
    (void)state;
    struct acl_cache *c = acl_cache_new();
    struct zk_acl open[] = {ACL1(31, "world", "anyone")};
    struct zk_acl_vec vo = VEC(open);
    int64_t a = acl_cache_intern(c, &vo);
    assert_int_equal(acl_cache_intern(c, &vo), a); /* 2 refs */
    acl_cache_addref(c, a);                        /* 3 refs */
    acl_cache_release(c, a);
    acl_cache_release(c, a);
    assert_non_null(acl_cache_get(c, a));
    assert_int_equal(acl_cache_size(c), 1);
    acl_cache_release(c, a);
    assert_null(acl_cache_get(c, a));
    assert_int_equal(acl_cache_size(c), 0);
    acl_cache_release(c, a); /* unknown ids are ignored */

    int64_t again = acl_cache_intern(c, &vo);
    assert_true(again > a);
    assert_int_equal(acl_cache_size(c), 1);
    acl_cache_free(c);
}

static void cache_grows(void **state)
{
    (void)state;
    struct acl_cache *c = acl_cache_new();
    int64_t ids[1000];
    for (int i = 0; i < 1000; i++) {
        struct zk_acl a[] = {ACL1(i, "world", "anyone")};
        struct zk_acl_vec v = VEC(a);
        ids[i] = acl_cache_intern(c, &v);
        assert_int_equal(ids[i], i + 1);
    }
    assert_int_equal(acl_cache_size(c), 1000);
    for (int i = 0; i < 1000; i++) {
        struct zk_acl a[] = {ACL1(i, "world", "anyone")};
        struct zk_acl_vec v = VEC(a);
        assert_int_equal(acl_cache_intern(c, &v), ids[i]);
        assert_int_equal(acl_cache_get(c, ids[i])->items[0].perms, i);
    }
    for (int i = 0; i < 1000; i += 2) {
        acl_cache_release(c, ids[i]);
        acl_cache_release(c, ids[i]);
    }
    assert_int_equal(acl_cache_size(c), 500);
    assert_null(acl_cache_get(c, ids[0]));
    assert_non_null(acl_cache_get(c, ids[1]));
    acl_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(digest_matches_zookeeper),
        cmocka_unit_test(digest_user_is_before_the_first_colon),
        cmocka_unit_test(digest_needs_room),
        cmocka_unit_test(world_anyone_permits_by_perm_bits),
        cmocka_unit_test(super_and_empty_lists_always_pass),
        cmocka_unit_test(digest_is_exact_string_equality),
        cmocka_unit_test(ip_acl_in_permits),
        cmocka_unit_test(ip_matching),
        cmocka_unit_test(ip_validity),
        cmocka_unit_test(fixup_rejects_empty_and_null),
        cmocka_unit_test(fixup_world_only_anyone),
        cmocka_unit_test(fixup_unknown_schemes),
        cmocka_unit_test(fixup_digest_ids),
        cmocka_unit_test(fixup_ip_ids),
        cmocka_unit_test(fixup_expands_auth),
        cmocka_unit_test(fixup_auth_without_ids_is_invalid),
        cmocka_unit_test(fixup_removes_exact_duplicates),
        cmocka_unit_test(fixup_dedupes_long_lists),
        cmocka_unit_test(mask_digests),
        cmocka_unit_test(vec_copy_is_deep),
        cmocka_unit_test(cache_shares_equal_lists),
        cmocka_unit_test(cache_frees_at_zero_refs_and_never_reuses_ids),
        cmocka_unit_test(cache_grows),
        cmocka_unit_test(x509_ids_need_the_tls_provider),
    };
    return cmocka_run_group_tests_name("acl", tests, NULL, NULL);
}
