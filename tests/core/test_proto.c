/* Protocol records: round trips, the byte examples of client-protocol.md §12, and hostile input
 * (truncation at every offset, bad lengths, absurd vector counts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jute.h"
#include "proto.h"
#include "zkerr.h"

#define MAX_FIELD 1048575

/* Under ASan the allocator reports every allocation, which lets a test prove that a decoder
 * rejected a vector count before allocating for it. Without ASan the hook is absent and those
 * tests check the rejection alone. */
typedef void (*malloc_hook_fn)(const volatile void *ptr, size_t size);
typedef void (*free_hook_fn)(const volatile void *ptr);
int __sanitizer_install_malloc_and_free_hooks(malloc_hook_fn on_malloc, free_hook_fn on_free)
    __attribute__((weak));

static bool alloc_hooked;
static bool alloc_watching;
static size_t alloc_count;

static void note_malloc(const volatile void *ptr, size_t size)
{
    (void)ptr;
    (void)size;
    if (alloc_watching)
        alloc_count++;
}

static void note_free(const volatile void *ptr)
{
    (void)ptr;
}

static int install_alloc_hooks(void **state)
{
    (void)state;
    if (__sanitizer_install_malloc_and_free_hooks != NULL)
        alloc_hooked = __sanitizer_install_malloc_and_free_hooks(note_malloc, note_free) != 0;
    return 0;
}

/* Decoding input: an exact-size heap copy, so ASan catches any read past the end. */
struct input {
    uint8_t *bytes;
    size_t len;
    struct jute_reader r;
};

static void input_from(struct input *in, const void *bytes, size_t len)
{
    in->bytes = malloc(len > 0 ? len : 1);
    assert_non_null(in->bytes);
    if (len > 0)
        memcpy(in->bytes, bytes, len);
    in->len = len;
    jute_reader_init(&in->r, in->bytes, len, MAX_FIELD);
}

static void input_free(struct input *in)
{
    free(in->bytes);
    in->bytes = NULL;
}

/* "00000010 6869" -> bytes; spaces and newlines are ignored. */
static uint8_t *hex_bytes(const char *hex, size_t *len)
{
    uint8_t *out = malloc(strlen(hex) / 2 + 1);
    assert_non_null(out);
    size_t n = 0;
    for (const char *p = hex; *p != '\0';) {
        if (*p == ' ' || *p == '\n') {
            p++;
            continue;
        }
        unsigned int byte;
        assert_int_equal(sscanf(p, "%2x", &byte), 1);
        out[n++] = (uint8_t)byte;
        p += 2;
    }
    *len = n;
    return out;
}

static void assert_writer_equals_hex(const struct jute_writer *w, const char *hex)
{
    size_t len;
    uint8_t *want = hex_bytes(hex, &len);
    assert_false(w->failed);
    assert_int_equal(w->len, len);
    assert_memory_equal(w->buf, want, len);
    free(want);
}

/* Reads a §12 frame: checks its length prefix and leaves the reader on the payload. */
static void input_from_frame_hex(struct input *in, const char *hex)
{
    size_t len;
    uint8_t *bytes = hex_bytes(hex, &len);
    input_from(in, bytes, len);
    free(bytes);
    assert_int_equal(jute_read_int(&in->r), (int32_t)(len - 4));
}

/* Request records written field by field with the primitives, as a client would. */

static void build_connect(struct jute_writer *w, bool with_read_only)
{
    jute_write_int(w, 0);
    jute_write_long(w, 0x123456789a);
    jute_write_int(w, 30000);
    jute_write_long(w, 0x010000aed3530000);
    jute_write_buffer(w, "0123456789abcdef", 16);
    if (with_read_only)
        jute_write_bool(w, true);
}

static void build_connect_full(struct jute_writer *w)
{
    build_connect(w, true);
}

static void write_acl(struct jute_writer *w, int32_t perms, const char *scheme, const char *id)
{
    jute_write_int(w, perms);
    jute_write_ustring(w, scheme);
    jute_write_ustring(w, id);
}

static void build_create(struct jute_writer *w, bool with_ttl)
{
    jute_write_ustring(w, "/app/node");
    jute_write_buffer(w, "payload", 7);
    jute_write_int(w, 2);
    write_acl(w, ZK_PERM_ALL, "world", "anyone");
    write_acl(w, ZK_PERM_READ, NULL, "x");
    jute_write_int(w, 3);
    if (with_ttl)
        jute_write_long(w, 60000);
}

static void build_create_plain(struct jute_writer *w)
{
    build_create(w, false);
}

static void build_create_ttl(struct jute_writer *w)
{
    build_create(w, true);
}

static void build_path(struct jute_writer *w)
{
    jute_write_ustring(w, "/p");
}

static void build_path_watch(struct jute_writer *w)
{
    jute_write_ustring(w, "/p/w");
    jute_write_bool(w, true);
}

static void build_path_version(struct jute_writer *w)
{
    jute_write_ustring(w, "/p/v");
    jute_write_int(w, 17);
}

static void build_path_int(struct jute_writer *w)
{
    jute_write_ustring(w, "/p/i");
    jute_write_int(w, 4);
}

static void build_request_header(struct jute_writer *w)
{
    jute_write_int(w, 42);
    jute_write_int(w, ZK_OP_GETDATA);
}

static void build_multi_header(struct jute_writer *w)
{
    jute_write_int(w, ZK_OP_CREATE);
    jute_write_bool(w, false);
    jute_write_int(w, -1);
}

static void build_set_data(struct jute_writer *w)
{
    jute_write_ustring(w, "/sd");
    jute_write_buffer(w, "new", 3);
    jute_write_int(w, 5);
}

static void build_set_acl(struct jute_writer *w)
{
    jute_write_ustring(w, "/sa");
    jute_write_int(w, 2);
    write_acl(w, ZK_PERM_READ | ZK_PERM_WRITE, "digest", "bob:hash");
    write_acl(w, ZK_PERM_ADMIN, "ip", "10.0.0.1");
    jute_write_int(w, -1);
}

static void build_auth(struct jute_writer *w)
{
    jute_write_int(w, 0);
    jute_write_ustring(w, "digest");
    jute_write_buffer(w, "bob:pw", 6);
}

static void write_str_vec(struct jute_writer *w, const char *const *items, int32_t count)
{
    jute_write_int(w, count);
    for (int32_t i = 0; i < count; i++)
        jute_write_ustring(w, items[i]);
}

static const char *const watch_data[] = {"/d1", "/d2"};
static const char *const watch_exist[] = {"/e1"};
static const char *const watch_child[] = {"/c1", "/c2", "/c3"};
static const char *const watch_persistent[] = {"/p1"};
static const char *const watch_recursive[] = {"/r1", "/r2"};

static void build_set_watches(struct jute_writer *w, bool v2)
{
    jute_write_long(w, 0x77);
    write_str_vec(w, watch_data, 2);
    write_str_vec(w, watch_exist, 1);
    write_str_vec(w, watch_child, 3);
    if (v2) {
        write_str_vec(w, watch_persistent, 1);
        write_str_vec(w, watch_recursive, 2);
    }
}

static void build_set_watches_v1(struct jute_writer *w)
{
    build_set_watches(w, false);
}

static void build_set_watches_v2(struct jute_writer *w)
{
    build_set_watches(w, true);
}

static void build_reconfig(struct jute_writer *w)
{
    jute_write_ustring(w, "server.4=h:2888:3888");
    jute_write_ustring(w, "3");
    jute_write_ustring(w, NULL);
    jute_write_long(w, -1);
}

/* Decoders under test. Each checks that a failure leaves its struct zeroed (it starts filled
 * with garbage) and frees what a success allocated, so ASan sees any leak. */

#define GARBAGE 0xa5

static int try_connect(struct jute_reader *r)
{
    struct connect_request cr;
    memset(&cr, GARBAGE, sizeof cr);
    int rc = proto_read_connect_request(r, &cr);
    if (rc != 0) {
        assert_null(cr.passwd);
        assert_int_equal(cr.passwd_len, 0);
        assert_int_equal(cr.session_id, 0);
        assert_false(cr.has_read_only);
    }
    return rc;
}

static int try_request_header(struct jute_reader *r)
{
    struct request_header h;
    memset(&h, GARBAGE, sizeof h);
    int rc = proto_read_request_header(r, &h);
    if (rc != 0) {
        assert_int_equal(h.xid, 0);
        assert_int_equal(h.type, 0);
    }
    return rc;
}

static int try_multi_header(struct jute_reader *r)
{
    struct multi_header h;
    memset(&h, GARBAGE, sizeof h);
    int rc = proto_read_multi_header(r, &h);
    if (rc != 0) {
        assert_int_equal(h.type, 0);
        assert_false(h.done);
    }
    return rc;
}

static int try_path(struct jute_reader *r)
{
    struct path_request pr;
    memset(&pr, GARBAGE, sizeof pr);
    int rc = proto_read_path(r, &pr);
    if (rc != 0) {
        assert_null(pr.path);
        assert_int_equal(pr.path_len, 0);
    }
    return rc;
}

static int try_path_watch(struct jute_reader *r)
{
    struct path_watch_request pw;
    memset(&pw, GARBAGE, sizeof pw);
    int rc = proto_read_path_watch(r, &pw);
    if (rc != 0) {
        assert_null(pw.path);
        assert_false(pw.watch);
    }
    return rc;
}

static int try_path_version(struct jute_reader *r)
{
    struct path_version_request pv;
    memset(&pv, GARBAGE, sizeof pv);
    int rc = proto_read_path_version(r, &pv);
    if (rc != 0) {
        assert_null(pv.path);
        assert_int_equal(pv.version, 0);
    }
    return rc;
}

static int try_path_int(struct jute_reader *r)
{
    struct path_int_request pi;
    memset(&pi, GARBAGE, sizeof pi);
    int rc = proto_read_path_int(r, &pi);
    if (rc != 0) {
        assert_null(pi.path);
        assert_int_equal(pi.value, 0);
    }
    return rc;
}

static int try_create_with(struct jute_reader *r, bool with_ttl)
{
    struct create_request cr;
    memset(&cr, GARBAGE, sizeof cr);
    int rc = proto_read_create(r, with_ttl, &cr);
    if (rc != 0) {
        assert_null(cr.path);
        assert_null(cr.data);
        assert_null(cr.acl.items);
        assert_int_equal(cr.acl.count, 0);
    }
    proto_acl_vec_free(&cr.acl);
    return rc;
}

static int try_create(struct jute_reader *r)
{
    return try_create_with(r, false);
}

static int try_create_ttl(struct jute_reader *r)
{
    return try_create_with(r, true);
}

static int try_set_data(struct jute_reader *r)
{
    struct set_data_request sd;
    memset(&sd, GARBAGE, sizeof sd);
    int rc = proto_read_set_data(r, &sd);
    if (rc != 0) {
        assert_null(sd.path);
        assert_null(sd.data);
    }
    return rc;
}

static int try_set_acl(struct jute_reader *r)
{
    struct set_acl_request sa;
    memset(&sa, GARBAGE, sizeof sa);
    int rc = proto_read_set_acl(r, &sa);
    if (rc != 0) {
        assert_null(sa.path);
        assert_null(sa.acl.items);
        assert_int_equal(sa.acl.count, 0);
    }
    proto_acl_vec_free(&sa.acl);
    return rc;
}

static int try_auth(struct jute_reader *r)
{
    struct auth_packet ap;
    memset(&ap, GARBAGE, sizeof ap);
    int rc = proto_read_auth(r, &ap);
    if (rc != 0) {
        assert_null(ap.scheme);
        assert_null(ap.auth);
    }
    return rc;
}

static int try_set_watches_with(struct jute_reader *r, bool v2)
{
    struct set_watches sw;
    memset(&sw, GARBAGE, sizeof sw);
    int rc = proto_read_set_watches(r, v2, &sw);
    if (rc != 0) {
        const struct zk_str_vec *vecs[] = {&sw.data, &sw.exist, &sw.child, &sw.persistent,
                                           &sw.recursive};
        for (size_t i = 0; i < 5; i++) {
            assert_null(vecs[i]->items);
            assert_int_equal(vecs[i]->count, 0);
        }
    }
    proto_set_watches_free(&sw);
    return rc;
}

static int try_set_watches_v1(struct jute_reader *r)
{
    return try_set_watches_with(r, false);
}

static int try_set_watches_v2(struct jute_reader *r)
{
    return try_set_watches_with(r, true);
}

static int try_reconfig(struct jute_reader *r)
{
    struct reconfig_request rc_out;
    memset(&rc_out, GARBAGE, sizeof rc_out);
    int rc = proto_read_reconfig(r, &rc_out);
    if (rc != 0) {
        assert_null(rc_out.joining);
        assert_null(rc_out.leaving);
        assert_null(rc_out.new_members);
    }
    return rc;
}

struct decoder_case {
    const char *name;
    void (*build)(struct jute_writer *w); /* a complete record using every optional part */
    int (*decode)(struct jute_reader *r);
    size_t min_len_back; /* bytes at the end that may be missing (connect's readOnly) */
};

static const struct decoder_case decoder_cases[] = {
    {"connect", build_connect_full, try_connect, 1},
    {"request_header", build_request_header, try_request_header, 0},
    {"multi_header", build_multi_header, try_multi_header, 0},
    {"path", build_path, try_path, 0},
    {"path_watch", build_path_watch, try_path_watch, 0},
    {"path_version", build_path_version, try_path_version, 0},
    {"path_int", build_path_int, try_path_int, 0},
    {"create", build_create_plain, try_create, 0},
    {"create_ttl", build_create_ttl, try_create_ttl, 0},
    {"set_data", build_set_data, try_set_data, 0},
    {"set_acl", build_set_acl, try_set_acl, 0},
    {"auth", build_auth, try_auth, 0},
    {"set_watches", build_set_watches_v1, try_set_watches_v1, 0},
    {"set_watches2", build_set_watches_v2, try_set_watches_v2, 0},
    {"reconfig", build_reconfig, try_reconfig, 0},
};

#define N_DECODER_CASES (sizeof decoder_cases / sizeof decoder_cases[0])

/* Round trips of request records. */

static void connect_request_decodes_with_and_without_read_only(void **state)
{
    (void)state;
    for (int with_ro = 0; with_ro <= 1; with_ro++) {
        struct jute_writer w;
        jute_writer_init(&w);
        build_connect(&w, with_ro);
        assert_int_equal(w.len, with_ro ? 45 : 44);
        struct input in;
        input_from(&in, w.buf, w.len);
        struct connect_request cr;
        assert_int_equal(proto_read_connect_request(&in.r, &cr), 0);
        assert_int_equal(cr.protocol_version, 0);
        assert_true(cr.last_zxid_seen == 0x123456789a);
        assert_int_equal(cr.timeout_ms, 30000);
        assert_true(cr.session_id == 0x010000aed3530000);
        assert_int_equal(cr.passwd_len, 16);
        assert_memory_equal(cr.passwd, "0123456789abcdef", 16);
        assert_int_equal(cr.has_read_only, with_ro);
        assert_int_equal(cr.read_only, with_ro);
        assert_int_equal(jute_remaining(&in.r), 0);
        input_free(&in);
        jute_writer_free(&w);
    }
}

static void connect_request_accepts_a_null_password(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_int(&w, 0);
    jute_write_long(&w, 0);
    jute_write_int(&w, 4000);
    jute_write_long(&w, 0);
    jute_write_buffer(&w, NULL, -1);
    jute_write_bool(&w, false);
    struct input in;
    input_from(&in, w.buf, w.len);
    struct connect_request cr;
    assert_int_equal(proto_read_connect_request(&in.r, &cr), 0);
    assert_int_equal(cr.passwd_len, -1);
    assert_null(cr.passwd);
    assert_true(cr.has_read_only);
    assert_false(cr.read_only);
    input_free(&in);
    jute_writer_free(&w);
}

static void headers_decode(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    build_request_header(&w);
    build_multi_header(&w);
    jute_write_int(&w, -1);
    jute_write_bool(&w, true);
    jute_write_int(&w, -1);
    struct input in;
    input_from(&in, w.buf, w.len);
    struct request_header h;
    assert_int_equal(proto_read_request_header(&in.r, &h), 0);
    assert_int_equal(h.xid, 42);
    assert_int_equal(h.type, ZK_OP_GETDATA);
    struct multi_header mh;
    assert_int_equal(proto_read_multi_header(&in.r, &mh), 0);
    assert_int_equal(mh.type, ZK_OP_CREATE);
    assert_false(mh.done);
    assert_int_equal(mh.err, -1);
    assert_int_equal(proto_read_multi_header(&in.r, &mh), 0);
    assert_int_equal(mh.type, -1);
    assert_true(mh.done);
    assert_int_equal(jute_remaining(&in.r), 0);
    input_free(&in);
    jute_writer_free(&w);
}

static void path_records_decode(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    build_path(&w);
    build_path_watch(&w);
    build_path_version(&w);
    build_path_int(&w);
    jute_write_ustring(&w, "/q");
    jute_write_bool(&w, false);
    struct input in;
    input_from(&in, w.buf, w.len);

    struct path_request pr;
    assert_int_equal(proto_read_path(&in.r, &pr), 0);
    struct path_watch_request pw;
    assert_int_equal(proto_read_path_watch(&in.r, &pw), 0);
    struct path_version_request pv;
    assert_int_equal(proto_read_path_version(&in.r, &pv), 0);
    struct path_int_request pi;
    assert_int_equal(proto_read_path_int(&in.r, &pi), 0);
    struct path_watch_request pw2;
    assert_int_equal(proto_read_path_watch(&in.r, &pw2), 0);
    assert_int_equal(jute_remaining(&in.r), 0);

    assert_string_equal(pr.path, "/p");
    assert_int_equal(pr.path_len, 2);
    assert_string_equal(pw.path, "/p/w");
    assert_int_equal(pw.path_len, 4);
    assert_true(pw.watch);
    assert_string_equal(pv.path, "/p/v");
    assert_int_equal(pv.version, 17);
    assert_string_equal(pi.path, "/p/i");
    assert_int_equal(pi.value, 4);
    assert_string_equal(pw2.path, "/q");
    assert_false(pw2.watch);
    input_free(&in);
    jute_writer_free(&w);
}

static void null_and_embedded_nul_paths_are_visible_to_callers(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_ustring(&w, NULL);
    jute_write_int(&w, -1);
    jute_write_ustring_len(&w, "/a\0/b", 5);
    jute_write_int(&w, 2);
    struct input in;
    input_from(&in, w.buf, w.len);

    /* A null path stays NULL: for reads "" is the root but null is MARSHALLINGERROR. */
    struct path_version_request pv;
    assert_int_equal(proto_read_path_version(&in.r, &pv), 0);
    assert_null(pv.path);
    assert_int_equal(pv.path_len, 0);
    assert_int_equal(pv.version, -1);
    assert_int_equal(proto_read_path_version(&in.r, &pv), 0);
    assert_int_equal(pv.path_len, 5);
    assert_int_equal(strlen(pv.path), 2);
    assert_int_equal(pv.version, 2);
    input_free(&in);
    jute_writer_free(&w);
}

static void create_decodes_with_and_without_ttl(void **state)
{
    (void)state;
    for (int with_ttl = 0; with_ttl <= 1; with_ttl++) {
        struct jute_writer w;
        jute_writer_init(&w);
        build_create(&w, with_ttl);
        struct input in;
        input_from(&in, w.buf, w.len);
        struct create_request cr;
        assert_int_equal(proto_read_create(&in.r, with_ttl, &cr), 0);
        assert_int_equal(jute_remaining(&in.r), 0);
        assert_string_equal(cr.path, "/app/node");
        assert_int_equal(cr.path_len, 9);
        assert_int_equal(cr.data_len, 7);
        assert_memory_equal(cr.data, "payload", 7);
        assert_int_equal(cr.acl.count, 2);
        assert_int_equal(cr.acl.items[0].perms, ZK_PERM_ALL);
        assert_string_equal(cr.acl.items[0].id.scheme, "world");
        assert_string_equal(cr.acl.items[0].id.id, "anyone");
        assert_int_equal(cr.acl.items[1].perms, ZK_PERM_READ);
        assert_null(cr.acl.items[1].id.scheme);
        assert_string_equal(cr.acl.items[1].id.id, "x");
        assert_int_equal(cr.flags, 3);
        assert_true(cr.ttl == (with_ttl ? 60000 : -1));
        proto_acl_vec_free(&cr.acl);
        assert_null(cr.acl.items);
        assert_int_equal(cr.acl.count, 0);
        input_free(&in);
        jute_writer_free(&w);
    }
}

static void create_keeps_null_data_apart_from_empty_and_null_acl_apart_from_empty(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_ustring(&w, "/n");
    jute_write_buffer(&w, NULL, -1);
    jute_write_int(&w, -1);
    jute_write_int(&w, 0);
    jute_write_ustring(&w, "/e");
    jute_write_buffer(&w, NULL, 0);
    jute_write_int(&w, 0);
    jute_write_int(&w, 1);
    struct input in;
    input_from(&in, w.buf, w.len);

    struct create_request cr;
    assert_int_equal(proto_read_create(&in.r, false, &cr), 0);
    assert_int_equal(cr.data_len, -1);
    assert_null(cr.data);
    assert_int_equal(cr.acl.count, -1);
    assert_null(cr.acl.items);
    proto_acl_vec_free(&cr.acl);
    assert_int_equal(proto_read_create(&in.r, false, &cr), 0);
    assert_int_equal(cr.data_len, 0);
    assert_non_null(cr.data);
    assert_int_equal(cr.acl.count, 0);
    assert_int_equal(cr.flags, 1);
    proto_acl_vec_free(&cr.acl);
    input_free(&in);
    jute_writer_free(&w);
}

static void set_data_set_acl_and_auth_decode(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    build_set_data(&w);
    build_set_acl(&w);
    build_auth(&w);
    jute_write_ustring(&w, "/null-data");
    jute_write_buffer(&w, NULL, -1);
    jute_write_int(&w, -1);
    jute_write_int(&w, 0);
    jute_write_ustring(&w, NULL);
    jute_write_buffer(&w, NULL, -1);
    struct input in;
    input_from(&in, w.buf, w.len);

    struct set_data_request sd;
    assert_int_equal(proto_read_set_data(&in.r, &sd), 0);
    assert_string_equal(sd.path, "/sd");
    assert_int_equal(sd.path_len, 3);
    assert_int_equal(sd.data_len, 3);
    assert_memory_equal(sd.data, "new", 3);
    assert_int_equal(sd.version, 5);

    struct set_acl_request sa;
    assert_int_equal(proto_read_set_acl(&in.r, &sa), 0);
    assert_string_equal(sa.path, "/sa");
    assert_int_equal(sa.acl.count, 2);
    assert_int_equal(sa.acl.items[0].perms, ZK_PERM_READ | ZK_PERM_WRITE);
    assert_string_equal(sa.acl.items[0].id.scheme, "digest");
    assert_string_equal(sa.acl.items[0].id.id, "bob:hash");
    assert_string_equal(sa.acl.items[1].id.scheme, "ip");
    assert_string_equal(sa.acl.items[1].id.id, "10.0.0.1");
    assert_int_equal(sa.version, -1);
    proto_acl_vec_free(&sa.acl);

    struct auth_packet ap;
    assert_int_equal(proto_read_auth(&in.r, &ap), 0);
    assert_int_equal(ap.type, 0);
    assert_string_equal(ap.scheme, "digest");
    assert_int_equal(ap.auth_len, 6);
    assert_memory_equal(ap.auth, "bob:pw", 6);

    assert_int_equal(proto_read_set_data(&in.r, &sd), 0);
    assert_int_equal(sd.data_len, -1);
    assert_null(sd.data);
    assert_int_equal(proto_read_auth(&in.r, &ap), 0);
    assert_null(ap.scheme);
    assert_int_equal(ap.auth_len, -1);
    assert_null(ap.auth);
    assert_int_equal(jute_remaining(&in.r), 0);
    input_free(&in);
    jute_writer_free(&w);
}

static void assert_str_vec(const struct zk_str_vec *v, const char *const *want, int32_t count)
{
    assert_int_equal(v->count, count);
    for (int32_t i = 0; i < count; i++)
        assert_string_equal(v->items[i], want[i]);
}

static void set_watches_decode_in_both_versions(void **state)
{
    (void)state;
    for (int v2 = 0; v2 <= 1; v2++) {
        struct jute_writer w;
        jute_writer_init(&w);
        build_set_watches(&w, v2);
        struct input in;
        input_from(&in, w.buf, w.len);
        struct set_watches sw;
        assert_int_equal(proto_read_set_watches(&in.r, v2, &sw), 0);
        assert_int_equal(jute_remaining(&in.r), 0);
        assert_true(sw.relative_zxid == 0x77);
        assert_str_vec(&sw.data, watch_data, 2);
        assert_str_vec(&sw.exist, watch_exist, 1);
        assert_str_vec(&sw.child, watch_child, 3);
        if (v2) {
            assert_str_vec(&sw.persistent, watch_persistent, 1);
            assert_str_vec(&sw.recursive, watch_recursive, 2);
        } else {
            assert_int_equal(sw.persistent.count, 0);
            assert_null(sw.persistent.items);
            assert_int_equal(sw.recursive.count, 0);
            assert_null(sw.recursive.items);
        }
        proto_set_watches_free(&sw);
        assert_null(sw.data.items);
        proto_set_watches_free(&sw); /* safe twice */
        input_free(&in);
        jute_writer_free(&w);
    }
}

static void set_watches_handles_null_vectors_and_null_elements(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_long(&w, 1);
    jute_write_int(&w, -1);
    jute_write_int(&w, 0);
    jute_write_int(&w, 2);
    jute_write_ustring(&w, NULL);
    jute_write_ustring(&w, "/c");
    struct input in;
    input_from(&in, w.buf, w.len);
    struct set_watches sw;
    assert_int_equal(proto_read_set_watches(&in.r, false, &sw), 0);
    assert_int_equal(sw.data.count, -1);
    assert_null(sw.data.items);
    assert_int_equal(sw.exist.count, 0);
    assert_null(sw.exist.items);
    assert_int_equal(sw.child.count, 2);
    assert_null(sw.child.items[0]);
    assert_string_equal(sw.child.items[1], "/c");
    proto_set_watches_free(&sw);
    input_free(&in);
    jute_writer_free(&w);
}

static void reconfig_decodes_and_keeps_null_strings_null(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    build_reconfig(&w);
    struct input in;
    input_from(&in, w.buf, w.len);
    struct reconfig_request rc;
    assert_int_equal(proto_read_reconfig(&in.r, &rc), 0);
    assert_string_equal(rc.joining, "server.4=h:2888:3888");
    assert_string_equal(rc.leaving, "3");
    assert_null(rc.new_members);
    assert_true(rc.config_id == -1);
    input_free(&in);
    jute_writer_free(&w);
}

/* Encoders. */

static void stat_is_68_bytes_in_field_order(void **state)
{
    (void)state;
    const struct zk_stat st = {
        .czxid = 0x0101010101010101,
        .mzxid = 0x0202020202020202,
        .ctime = 0x0303030303030303,
        .mtime = 0x0404040404040404,
        .version = 0x05050505,
        .cversion = 0x06060606,
        .aversion = 0x07070707,
        .ephemeral_owner = 0x0808080808080808,
        .data_length = 0x09090909,
        .num_children = 0x0a0a0a0a,
        .pzxid = 0x0b0b0b0b0b0b0b0b,
    };
    struct jute_writer w;
    jute_writer_init(&w);
    proto_write_stat(&w, &st);
    assert_int_equal(w.len, ZK_STAT_BYTES);
    static const int widths[] = {8, 8, 8, 8, 4, 4, 4, 8, 4, 4, 8};
    size_t at = 0;
    for (int field = 0; field < 11; field++)
        for (int i = 0; i < widths[field]; i++)
            assert_int_equal(w.buf[at++], field + 1);
    assert_int_equal(at, ZK_STAT_BYTES);
    jute_writer_free(&w);
}

static void connect_response_writes_read_only_only_when_asked(void **state)
{
    (void)state;
    const uint8_t passwd[ZK_PASSWD_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    struct connect_response cr = {
        .timeout_ms = 4000, .session_id = 7, .passwd = passwd, .read_only = true};
    struct jute_writer w;
    jute_writer_init(&w);
    proto_write_connect_response(&w, &cr);
    assert_int_equal(w.len, 36);
    cr.has_read_only = true;
    jute_writer_reset(&w);
    proto_write_connect_response(&w, &cr);
    assert_int_equal(w.len, 37);

    struct input in;
    input_from(&in, w.buf, w.len);
    assert_int_equal(jute_read_int(&in.r), 0);
    assert_int_equal(jute_read_int(&in.r), 4000);
    assert_true(jute_read_long(&in.r) == 7);
    const uint8_t *got;
    assert_int_equal(jute_read_buffer(&in.r, &got), ZK_PASSWD_BYTES);
    assert_memory_equal(got, passwd, ZK_PASSWD_BYTES);
    assert_true(jute_read_bool(&in.r));
    assert_int_equal(jute_remaining(&in.r), 0);
    input_free(&in);

    /* A refused session still gets 16 password bytes, all zero. */
    const struct connect_response refused = {.has_read_only = true};
    jute_writer_reset(&w);
    proto_write_connect_response(&w, &refused);
    assert_writer_equals_hex(&w, "00000000 00000000 0000000000000000 00000010"
                                 " 00000000000000000000000000000000 00");
    jute_writer_free(&w);
}

static void reply_and_multi_headers_encode(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    proto_write_reply_header(&w, &(struct reply_header){.xid = 9, .zxid = 0x1234, .err = -101});
    proto_write_multi_header(&w, &(struct multi_header){.type = 5, .done = false, .err = 0});
    proto_write_multi_header(&w, &(struct multi_header){.type = -1, .done = true, .err = -1});
    assert_writer_equals_hex(&w, "00000009 0000000000001234 ffffff9b"
                                 " 00000005 00 00000000 ffffffff 01 ffffffff");
    jute_writer_free(&w);
}

static void acl_vectors_round_trip_through_the_set_acl_decoder(void **state)
{
    (void)state;
    struct zk_acl items[] = {
        {.perms = ZK_PERM_ALL, .id = {"world", "anyone"}},
        {.perms = ZK_PERM_READ, .id = {"digest", "u:h"}},
        {.perms = 0, .id = {NULL, NULL}},
    };
    const struct zk_acl_vec vecs[] = {{.count = -1}, {.count = 0}, {.count = 3, .items = items}};
    for (size_t v = 0; v < 3; v++) {
        struct jute_writer w;
        jute_writer_init(&w);
        jute_write_ustring(&w, "/x");
        proto_write_acl_vec(&w, &vecs[v]);
        jute_write_int(&w, 3);
        assert_false(w.failed);
        struct input in;
        input_from(&in, w.buf, w.len);
        struct set_acl_request sa;
        assert_int_equal(proto_read_set_acl(&in.r, &sa), 0);
        assert_int_equal(sa.acl.count, vecs[v].count);
        for (int32_t i = 0; i < sa.acl.count; i++) {
            assert_int_equal(sa.acl.items[i].perms, items[i].perms);
            if (items[i].id.scheme == NULL) {
                assert_null(sa.acl.items[i].id.scheme);
                assert_null(sa.acl.items[i].id.id);
            } else {
                assert_string_equal(sa.acl.items[i].id.scheme, items[i].id.scheme);
                assert_string_equal(sa.acl.items[i].id.id, items[i].id.id);
            }
        }
        assert_int_equal(sa.version, 3);
        proto_acl_vec_free(&sa.acl);
        input_free(&in);
        jute_writer_free(&w);
    }
}

static void watcher_events_encode_type_state_path(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    proto_write_watcher_event(&w, ZK_EVENT_CHILDREN_CHANGED, ZK_STATE_SYNC_CONNECTED, "/w/x");
    assert_writer_equals_hex(&w, "00000004 00000003 00000004 2f772f78");
    jute_writer_free(&w);
}

/* The byte examples of client-protocol.md §12. */

static void spec_connect_request_decodes_and_rebuilds(void **state)
{
    (void)state;
    static const char hex[] = "0000002d 00000000 0000000000000000 00007530 0000000000000000"
                              " 00000010 00000000000000000000000000000000 00";
    struct input in;
    input_from_frame_hex(&in, hex);
    assert_int_equal(jute_remaining(&in.r), 45);
    struct connect_request cr;
    assert_int_equal(proto_read_connect_request(&in.r, &cr), 0);
    assert_int_equal(cr.protocol_version, 0);
    assert_true(cr.last_zxid_seen == 0);
    assert_int_equal(cr.timeout_ms, 30000);
    assert_true(cr.session_id == 0);
    assert_int_equal(cr.passwd_len, 16);
    static const uint8_t zeros[16];
    assert_memory_equal(cr.passwd, zeros, 16);
    assert_true(cr.has_read_only);
    assert_false(cr.read_only);
    assert_int_equal(jute_remaining(&in.r), 0);
    input_free(&in);

    struct jute_writer w;
    jute_writer_init(&w);
    size_t frame = jute_frame_begin(&w);
    jute_write_int(&w, 0);
    jute_write_long(&w, 0);
    jute_write_int(&w, 30000);
    jute_write_long(&w, 0);
    jute_write_buffer(&w, zeros, 16);
    jute_write_bool(&w, false);
    jute_frame_end(&w, frame);
    assert_writer_equals_hex(&w, hex);
    jute_writer_free(&w);
}

static void spec_connect_response_encodes_41_bytes(void **state)
{
    (void)state;
    static const uint8_t passwd[ZK_PASSWD_BYTES] = {0x6f, 0x90, 0x58, 0x33, 0xd0, 0x6a, 0x62, 0xa3,
                                                    0x65, 0x26, 0x9f, 0x7c, 0x99, 0x5f, 0x00, 0x9d};
    const struct connect_response cr = {
        .protocol_version = 0,
        .timeout_ms = 30000,
        .session_id = 0x010000aed3530000,
        .passwd = passwd,
        .read_only = false,
        .has_read_only = true,
    };
    struct jute_writer w;
    jute_writer_init(&w);
    size_t frame = jute_frame_begin(&w);
    proto_write_connect_response(&w, &cr);
    jute_frame_end(&w, frame);
    assert_int_equal(w.len, 41);
    assert_writer_equals_hex(&w, "00000025 00000000 00007530 010000aed3530000"
                                 " 00000010 6f905833d06a62a365269f7c995f009d 00");
    jute_writer_free(&w);
}

static void spec_get_data_decodes(void **state)
{
    (void)state;
    struct input in;
    input_from_frame_hex(&in, "0000000f 00000001 00000004 00000002 2f61 01");
    struct request_header h;
    assert_int_equal(proto_read_request_header(&in.r, &h), 0);
    assert_int_equal(h.xid, 1);
    assert_int_equal(h.type, ZK_OP_GETDATA);
    struct path_watch_request pw;
    assert_int_equal(proto_read_path_watch(&in.r, &pw), 0);
    assert_string_equal(pw.path, "/a");
    assert_int_equal(pw.path_len, 2);
    assert_true(pw.watch);
    assert_int_equal(jute_remaining(&in.r), 0);
    input_free(&in);
}

static void spec_error_reply_encodes(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    size_t frame = jute_frame_begin(&w);
    proto_write_reply_header(&w, &(struct reply_header){.xid = 1, .zxid = 3, .err = ZK_NONODE});
    jute_frame_end(&w, frame);
    assert_writer_equals_hex(&w, "00000010 00000001 0000000000000003 ffffff9b");
    jute_writer_free(&w);
}

static void spec_create_with_acl_decodes(void **state)
{
    (void)state;
    struct input in;
    input_from_frame_hex(&in, "00000033 00000002 00000001"
                              " 00000002 2f61 00000002 6869 00000001"
                              " 0000001f 00000005 776f726c64 00000006 616e796f6e65"
                              " 00000000");
    struct request_header h;
    assert_int_equal(proto_read_request_header(&in.r, &h), 0);
    assert_int_equal(h.xid, 2);
    assert_int_equal(h.type, ZK_OP_CREATE);
    struct create_request cr;
    assert_int_equal(proto_read_create(&in.r, false, &cr), 0);
    assert_string_equal(cr.path, "/a");
    assert_int_equal(cr.data_len, 2);
    assert_memory_equal(cr.data, "hi", 2);
    assert_int_equal(cr.acl.count, 1);
    assert_int_equal(cr.acl.items[0].perms, ZK_PERM_ALL);
    assert_string_equal(cr.acl.items[0].id.scheme, "world");
    assert_string_equal(cr.acl.items[0].id.id, "anyone");
    assert_int_equal(cr.flags, 0);
    assert_true(cr.ttl == -1);
    assert_int_equal(jute_remaining(&in.r), 0);
    proto_acl_vec_free(&cr.acl);
    input_free(&in);
}

static void spec_ping_and_its_reply(void **state)
{
    (void)state;
    struct input in;
    input_from_frame_hex(&in, "00000008 fffffffe 0000000b");
    struct request_header h;
    assert_int_equal(proto_read_request_header(&in.r, &h), 0);
    assert_int_equal(h.xid, ZK_XID_PING);
    assert_int_equal(h.type, ZK_OP_PING);
    assert_int_equal(jute_remaining(&in.r), 0);
    input_free(&in);

    struct jute_writer w;
    jute_writer_init(&w);
    size_t frame = jute_frame_begin(&w);
    proto_write_reply_header(&w, &(struct reply_header){.xid = ZK_XID_PING, .zxid = 0x25});
    jute_frame_end(&w, frame);
    assert_writer_equals_hex(&w, "00000010 fffffffe 0000000000000025 00000000");
    jute_writer_free(&w);
}

static void spec_auth_digest_decodes(void **state)
{
    (void)state;
    struct input in;
    input_from_frame_hex(&in, "00000020 fffffffc 00000064 00000000 00000006 646967657374"
                              " 00000006 626f623a7077");
    struct request_header h;
    assert_int_equal(proto_read_request_header(&in.r, &h), 0);
    assert_int_equal(h.xid, ZK_XID_AUTH);
    assert_int_equal(h.type, ZK_OP_AUTH);
    struct auth_packet ap;
    assert_int_equal(proto_read_auth(&in.r, &ap), 0);
    assert_int_equal(ap.type, 0);
    assert_string_equal(ap.scheme, "digest");
    assert_int_equal(ap.auth_len, 6);
    assert_memory_equal(ap.auth, "bob:pw", 6);
    assert_int_equal(jute_remaining(&in.r), 0);
    input_free(&in);
}

static void spec_notification_encodes(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    size_t frame = jute_frame_begin(&w);
    proto_write_reply_header(&w, &(struct reply_header){.xid = ZK_XID_NOTIFICATION, .zxid = -1});
    proto_write_watcher_event(&w, ZK_EVENT_DATA_CHANGED, ZK_STATE_SYNC_CONNECTED, "/w");
    jute_frame_end(&w, frame);
    assert_writer_equals_hex(&w, "0000001e ffffffff ffffffffffffffff 00000000 00000003 00000003"
                                 " 00000002 2f77");
    jute_writer_free(&w);
}

static void spec_multi_request_decodes_op_by_op(void **state)
{
    (void)state;
    struct input in;
    input_from_frame_hex(&in, "00000056 00000003 0000000e"
                              " 00000001 00 ffffffff"
                              " 00000002 2f6d 00000000 00000001 0000001f 00000005 776f726c64"
                              " 00000006 616e796f6e65 00000000"
                              " 00000002 00 ffffffff"
                              " 00000002 2f78 ffffffff"
                              " ffffffff 01 ffffffff");
    struct request_header h;
    assert_int_equal(proto_read_request_header(&in.r, &h), 0);
    assert_int_equal(h.xid, 3);
    assert_int_equal(h.type, ZK_OP_MULTI);

    struct multi_header mh;
    assert_int_equal(proto_read_multi_header(&in.r, &mh), 0);
    assert_int_equal(mh.type, ZK_OP_CREATE);
    assert_false(mh.done);
    assert_int_equal(mh.err, -1);
    struct create_request cr;
    assert_int_equal(proto_read_create(&in.r, false, &cr), 0);
    assert_string_equal(cr.path, "/m");
    assert_int_equal(cr.data_len, 0);
    assert_int_equal(cr.acl.count, 1);
    assert_string_equal(cr.acl.items[0].id.scheme, "world");
    assert_int_equal(cr.flags, 0);

    assert_int_equal(proto_read_multi_header(&in.r, &mh), 0);
    assert_int_equal(mh.type, ZK_OP_DELETE);
    assert_false(mh.done);
    struct path_version_request pv;
    assert_int_equal(proto_read_path_version(&in.r, &pv), 0);
    assert_string_equal(pv.path, "/x");
    assert_int_equal(pv.version, -1);

    assert_int_equal(proto_read_multi_header(&in.r, &mh), 0);
    assert_int_equal(mh.type, -1);
    assert_true(mh.done);
    assert_int_equal(mh.err, -1);
    assert_int_equal(jute_remaining(&in.r), 0);
    /* The create's strings survived decoding the later sub-records in place. */
    assert_string_equal(cr.path, "/m");
    assert_string_equal(cr.acl.items[0].id.id, "anyone");
    proto_acl_vec_free(&cr.acl);
    input_free(&in);
}

static void spec_multi_reply_encodes(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    size_t frame = jute_frame_begin(&w);
    proto_write_reply_header(&w, &(struct reply_header){.xid = 3, .zxid = 0x25});
    proto_write_multi_header(&w, &(struct multi_header){.type = ZK_OP_ERROR, .err = 0});
    jute_write_int(&w, 0);
    proto_write_multi_header(&w, &(struct multi_header){.type = ZK_OP_ERROR, .err = ZK_NONODE});
    jute_write_int(&w, ZK_NONODE);
    proto_write_multi_header(&w, &(struct multi_header){.type = -1, .done = true, .err = -1});
    jute_frame_end(&w, frame);
    assert_writer_equals_hex(&w, "00000033 00000003 0000000000000025 00000000"
                                 " ffffffff 00 00000000 00000000"
                                 " ffffffff 00 ffffff9b ffffff9b"
                                 " ffffffff 01 ffffffff");
    jute_writer_free(&w);
}

/* Hostile input. */

static void every_record_decodes_whole_and_rejects_every_truncation(void **state)
{
    (void)state;
    for (size_t c = 0; c < N_DECODER_CASES; c++) {
        const struct decoder_case *dc = &decoder_cases[c];
        struct jute_writer w;
        jute_writer_init(&w);
        dc->build(&w);
        assert_false(w.failed);
        for (size_t n = 0; n <= w.len; n++) {
            struct input in;
            input_from(&in, w.buf, n);
            int rc = dc->decode(&in.r);
            int want = n + dc->min_len_back >= w.len ? 0 : ZK_MARSHALLINGERROR;
            if (rc != want)
                fail_msg("%s: %zu of %zu bytes gave %d, want %d", dc->name, n, w.len, rc, want);
            input_free(&in);
        }
        jute_writer_free(&w);
    }
}

static void trailing_bytes_are_left_for_the_caller(void **state)
{
    (void)state;
    for (size_t c = 0; c < N_DECODER_CASES; c++) {
        const struct decoder_case *dc = &decoder_cases[c];
        struct jute_writer w;
        jute_writer_init(&w);
        dc->build(&w);
        jute_write_raw(&w, "\x01\x02\x03", 3);
        struct input in;
        input_from(&in, w.buf, w.len);
        if (dc->decode(&in.r) != 0)
            fail_msg("%s: rejected trailing bytes", dc->name);
        assert_int_equal(jute_remaining(&in.r), 3);
        input_free(&in);
        jute_writer_free(&w);
    }
}

static void a_failed_reader_fails_every_decoder(void **state)
{
    (void)state;
    for (size_t c = 0; c < N_DECODER_CASES; c++) {
        struct jute_writer w;
        jute_writer_init(&w);
        decoder_cases[c].build(&w);
        struct input in;
        input_from(&in, w.buf, w.len);
        in.r.failed = true;
        assert_int_equal(decoder_cases[c].decode(&in.r), ZK_MARSHALLINGERROR);
        input_free(&in);
        jute_writer_free(&w);
    }
}

static void negative_lengths_inside_records_are_rejected(void **state)
{
    (void)state;
    static const int32_t bad[] = {-2, INT32_MIN};
    for (size_t i = 0; i < 2; i++) {
        struct jute_writer w;
        struct input in;

        jute_writer_init(&w);
        jute_write_int(&w, bad[i]); /* path */
        jute_write_bool(&w, true);
        input_from(&in, w.buf, w.len);
        assert_int_equal(try_path_watch(&in.r), ZK_MARSHALLINGERROR);
        input_free(&in);

        jute_writer_reset(&w);
        jute_write_ustring(&w, "/a");
        jute_write_int(&w, bad[i]); /* data */
        jute_write_int(&w, 0);
        jute_write_int(&w, 0);
        input_from(&in, w.buf, w.len);
        assert_int_equal(try_create(&in.r), ZK_MARSHALLINGERROR);
        input_free(&in);

        jute_writer_reset(&w);
        jute_write_ustring(&w, "/a");
        jute_write_buffer(&w, NULL, 0);
        jute_write_int(&w, bad[i]); /* ACL count */
        jute_write_int(&w, 0);
        input_from(&in, w.buf, w.len);
        assert_int_equal(try_create(&in.r), ZK_MARSHALLINGERROR);
        input_free(&in);

        jute_writer_reset(&w);
        jute_write_ustring(&w, "/a");
        jute_write_int(&w, 1);
        jute_write_int(&w, ZK_PERM_ALL);
        jute_write_ustring(&w, "world");
        jute_write_int(&w, bad[i]); /* ACL id, after the vector was allocated */
        jute_write_int(&w, 0);
        input_from(&in, w.buf, w.len);
        assert_int_equal(try_set_acl(&in.r), ZK_MARSHALLINGERROR);
        input_free(&in);

        jute_writer_reset(&w);
        jute_write_long(&w, 0);
        write_str_vec(&w, watch_data, 2);
        jute_write_int(&w, 1);
        jute_write_int(&w, bad[i]); /* an element of the second vector */
        jute_write_int(&w, 0);
        input_from(&in, w.buf, w.len);
        assert_int_equal(try_set_watches_v1(&in.r), ZK_MARSHALLINGERROR);
        input_free(&in);

        jute_writer_reset(&w);
        jute_write_int(&w, 0);
        jute_write_long(&w, 0);
        jute_write_int(&w, 0);
        jute_write_long(&w, 0);
        jute_write_int(&w, bad[i]); /* passwd */
        jute_write_bool(&w, false);
        input_from(&in, w.buf, w.len);
        assert_int_equal(try_connect(&in.r), ZK_MARSHALLINGERROR);
        input_free(&in);
        jute_writer_free(&w);
    }
}

static void fields_above_max_field_bytes_are_rejected(void **state)
{
    (void)state;
    struct jute_writer w;
    jute_writer_init(&w);
    build_create(&w, false); /* path 9 bytes, data 7, "anyone" 6 */
    struct input in;
    input_from(&in, w.buf, w.len);
    in.r.max_field_bytes = 9;
    assert_int_equal(try_create(&in.r), 0);
    input_free(&in);
    for (size_t max = 0; max < 9; max++) {
        input_from(&in, w.buf, w.len);
        in.r.max_field_bytes = max;
        assert_int_equal(try_create(&in.r), ZK_MARSHALLINGERROR);
        input_free(&in);
    }
    jute_writer_free(&w);
}

static void huge_vector_counts_are_rejected_before_allocating(void **state)
{
    (void)state;
    /* The watch sees allocations at all: a sane ACL vector makes one. */
    struct jute_writer ok;
    jute_writer_init(&ok);
    build_create(&ok, false);
    struct input ok_in;
    input_from(&ok_in, ok.buf, ok.len);
    alloc_count = 0;
    alloc_watching = true;
    assert_int_equal(try_create(&ok_in.r), 0);
    alloc_watching = false;
    assert_int_equal(alloc_count, alloc_hooked ? 1 : 0);
    input_free(&ok_in);
    jute_writer_free(&ok);

    static const int32_t counts[] = {INT32_MAX, 0x10000000, 2};
    for (size_t i = 0; i < 3; i++) {
        struct jute_writer w;
        struct input in;
        jute_writer_init(&w);
        jute_write_ustring(&w, "/a");
        jute_write_buffer(&w, NULL, -1);
        jute_write_int(&w, counts[i]); /* 2 ACLs need at least 24 bytes; 8 follow */
        jute_write_int(&w, 0);
        jute_write_int(&w, 0);
        input_from(&in, w.buf, w.len);
        alloc_count = 0;
        alloc_watching = true;
        int rc = try_create(&in.r);
        alloc_watching = false;
        assert_int_equal(rc, ZK_MARSHALLINGERROR);
        assert_int_equal(alloc_count, 0);
        input_free(&in);

        jute_writer_reset(&w);
        jute_write_long(&w, 0);
        jute_write_int(&w, 0);
        jute_write_int(&w, -1);
        jute_write_int(&w, counts[i] == 2 ? 3 : counts[i]); /* 3 strings need 12 bytes; 8 follow */
        jute_write_long(&w, 0);
        input_from(&in, w.buf, w.len);
        alloc_count = 0;
        alloc_watching = true;
        rc = try_set_watches_v1(&in.r);
        alloc_watching = false;
        assert_int_equal(rc, ZK_MARSHALLINGERROR);
        assert_int_equal(alloc_count, 0);
        input_free(&in);
        jute_writer_free(&w);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_request_decodes_with_and_without_read_only),
        cmocka_unit_test(connect_request_accepts_a_null_password),
        cmocka_unit_test(headers_decode),
        cmocka_unit_test(path_records_decode),
        cmocka_unit_test(null_and_embedded_nul_paths_are_visible_to_callers),
        cmocka_unit_test(create_decodes_with_and_without_ttl),
        cmocka_unit_test(create_keeps_null_data_apart_from_empty_and_null_acl_apart_from_empty),
        cmocka_unit_test(set_data_set_acl_and_auth_decode),
        cmocka_unit_test(set_watches_decode_in_both_versions),
        cmocka_unit_test(set_watches_handles_null_vectors_and_null_elements),
        cmocka_unit_test(reconfig_decodes_and_keeps_null_strings_null),
        cmocka_unit_test(stat_is_68_bytes_in_field_order),
        cmocka_unit_test(connect_response_writes_read_only_only_when_asked),
        cmocka_unit_test(reply_and_multi_headers_encode),
        cmocka_unit_test(acl_vectors_round_trip_through_the_set_acl_decoder),
        cmocka_unit_test(watcher_events_encode_type_state_path),
        cmocka_unit_test(spec_connect_request_decodes_and_rebuilds),
        cmocka_unit_test(spec_connect_response_encodes_41_bytes),
        cmocka_unit_test(spec_get_data_decodes),
        cmocka_unit_test(spec_error_reply_encodes),
        cmocka_unit_test(spec_create_with_acl_decodes),
        cmocka_unit_test(spec_ping_and_its_reply),
        cmocka_unit_test(spec_auth_digest_decodes),
        cmocka_unit_test(spec_notification_encodes),
        cmocka_unit_test(spec_multi_request_decodes_op_by_op),
        cmocka_unit_test(spec_multi_reply_encodes),
        cmocka_unit_test(every_record_decodes_whole_and_rejects_every_truncation),
        cmocka_unit_test(trailing_bytes_are_left_for_the_caller),
        cmocka_unit_test(a_failed_reader_fails_every_decoder),
        cmocka_unit_test(negative_lengths_inside_records_are_rejected),
        cmocka_unit_test(fields_above_max_field_bytes_are_rejected),
        cmocka_unit_test(huge_vector_counts_are_rejected_before_allocating),
    };
    return cmocka_run_group_tests_name("proto", tests, install_alloc_hooks, NULL);
}
