/* libFuzzer target for the request decoders. Input: one flag byte, then a frame payload.
 * Flag bit 0: the payload is a ConnectRequest; otherwise a RequestHeader and the body its type
 * names (multi and multiRead walk their sub-records). Flag bit 1: a tiny max_field_bytes, so
 * the length cap is hit too. Every decoded record is checked against the input and, for
 * create, re-encoded and decoded again; any inconsistency aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jute.h"
#include "proto.h"
#include "zkerr.h"

#define FUZZ_MAX_FIELD_BYTES (2 * 1048575)
#define FUZZ_SMALL_FIELD_BYTES 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_input {
    const uint8_t *start;
    const uint8_t *end;
};

static void fuzz_check(bool ok)
{
    if (!ok)
        abort();
}

static bool fuzz_inside(const struct fuzz_input *in, const void *p, size_t len)
{
    const uint8_t *b = p;
    return b >= in->start && b <= in->end && len <= (size_t)(in->end - b);
}

/* A decoded path: NULL with length 0 when null, else inside the input and terminated right
 * after its wire length. */
static void fuzz_check_path(const struct fuzz_input *in, const char *path, size_t path_len)
{
    fuzz_check(path != NULL ? fuzz_inside(in, path, path_len + 1) && path[path_len] == '\0'
                            : path_len == 0);
}

static void fuzz_check_buffer(const struct fuzz_input *in, const uint8_t *p, int32_t len)
{
    fuzz_check(len >= -1);
    fuzz_check(len == -1 ? p == NULL : p != NULL && fuzz_inside(in, p, (size_t)len));
}

static void fuzz_check_string(const struct fuzz_input *in, const char *s)
{
    fuzz_check(s == NULL || fuzz_inside(in, s, strlen(s) + 1));
}

static void fuzz_check_acl_vec(const struct fuzz_input *in, const struct zk_acl_vec *v)
{
    fuzz_check(v->count >= -1);
    fuzz_check((v->count > 0) == (v->items != NULL));
    for (int32_t i = 0; i < v->count; i++) {
        fuzz_check_string(in, v->items[i].id.scheme);
        fuzz_check_string(in, v->items[i].id.id);
    }
}

static void fuzz_check_str_vec(const struct fuzz_input *in, const struct zk_str_vec *v)
{
    fuzz_check(v->count >= -1);
    fuzz_check((v->count > 0) == (v->items != NULL));
    for (int32_t i = 0; i < v->count; i++)
        fuzz_check_string(in, v->items[i]);
}

static bool fuzz_same_string(const char *a, const char *b)
{
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* The encoders and the decoder must agree: write the record back and read it again. */
static void fuzz_round_trip_create(const struct create_request *cr, bool with_ttl)
{
    struct jute_writer w;
    jute_writer_init(&w);
    jute_write_ustring_len(&w, cr->path, cr->path_len);
    jute_write_buffer(&w, cr->data, cr->data_len);
    proto_write_acl_vec(&w, &cr->acl);
    jute_write_int(&w, cr->flags);
    if (with_ttl)
        jute_write_long(&w, cr->ttl);
    fuzz_check(!w.failed);

    struct jute_reader r;
    struct create_request again;
    jute_reader_init(&r, w.buf, w.len, FUZZ_MAX_FIELD_BYTES);
    fuzz_check(proto_read_create(&r, with_ttl, &again) == 0 && jute_remaining(&r) == 0);
    fuzz_check(again.path_len == cr->path_len);
    fuzz_check(cr->path == NULL ? again.path == NULL
                                : memcmp(again.path, cr->path, cr->path_len + 1) == 0);
    fuzz_check(again.data_len == cr->data_len);
    fuzz_check(cr->data_len <= 0 || memcmp(again.data, cr->data, (size_t)cr->data_len) == 0);
    fuzz_check(again.flags == cr->flags && again.ttl == cr->ttl);
    fuzz_check(again.acl.count == cr->acl.count);
    for (int32_t i = 0; i < cr->acl.count; i++) {
        fuzz_check(again.acl.items[i].perms == cr->acl.items[i].perms);
        fuzz_check(fuzz_same_string(again.acl.items[i].id.scheme, cr->acl.items[i].id.scheme));
        fuzz_check(fuzz_same_string(again.acl.items[i].id.id, cr->acl.items[i].id.id));
    }
    proto_acl_vec_free(&again.acl);
    jute_writer_free(&w);
}

/* Decodes one request body; false when it was malformed or the type has no body here. */
static bool fuzz_body(const struct fuzz_input *in, struct jute_reader *r, int32_t type)
{
    int rc = ZK_MARSHALLINGERROR;
    switch (type) {
    case ZK_OP_CREATE:
    case ZK_OP_CREATE2:
    case ZK_OP_CREATECONTAINER:
    case ZK_OP_CREATETTL: {
        bool with_ttl = type == ZK_OP_CREATETTL;
        struct create_request cr;
        rc = proto_read_create(r, with_ttl, &cr);
        if (rc == 0) {
            fuzz_check_path(in, cr.path, cr.path_len);
            fuzz_check_buffer(in, cr.data, cr.data_len);
            fuzz_check_acl_vec(in, &cr.acl);
            fuzz_check(with_ttl || cr.ttl == -1);
            fuzz_round_trip_create(&cr, with_ttl);
        } else {
            fuzz_check(cr.acl.items == NULL && cr.path == NULL);
        }
        proto_acl_vec_free(&cr.acl);
        break;
    }
    case ZK_OP_DELETE:
    case ZK_OP_CHECK: {
        struct path_version_request pv;
        if ((rc = proto_read_path_version(r, &pv)) == 0)
            fuzz_check_path(in, pv.path, pv.path_len);
        break;
    }
    case ZK_OP_EXISTS:
    case ZK_OP_GETDATA:
    case ZK_OP_GETCHILDREN:
    case ZK_OP_GETCHILDREN2: {
        struct path_watch_request pw;
        if ((rc = proto_read_path_watch(r, &pw)) == 0)
            fuzz_check_path(in, pw.path, pw.path_len);
        break;
    }
    case ZK_OP_SYNC:
    case ZK_OP_GETACL:
    case ZK_OP_GETEPHEMERALS:
    case ZK_OP_GETALLCHILDRENNUMBER:
    case ZK_OP_DELETECONTAINER: {
        struct path_request pr;
        if ((rc = proto_read_path(r, &pr)) == 0)
            fuzz_check_path(in, pr.path, pr.path_len);
        break;
    }
    case ZK_OP_ADDWATCH:
    case ZK_OP_CHECKWATCHES:
    case ZK_OP_REMOVEWATCHES: {
        struct path_int_request pi;
        if ((rc = proto_read_path_int(r, &pi)) == 0)
            fuzz_check_path(in, pi.path, pi.path_len);
        break;
    }
    case ZK_OP_SETDATA: {
        struct set_data_request sd;
        if ((rc = proto_read_set_data(r, &sd)) == 0) {
            fuzz_check_path(in, sd.path, sd.path_len);
            fuzz_check_buffer(in, sd.data, sd.data_len);
        }
        break;
    }
    case ZK_OP_SETACL: {
        struct set_acl_request sa;
        rc = proto_read_set_acl(r, &sa);
        if (rc == 0) {
            fuzz_check_path(in, sa.path, sa.path_len);
            fuzz_check_acl_vec(in, &sa.acl);
        } else {
            fuzz_check(sa.acl.items == NULL && sa.acl.count == 0);
        }
        proto_acl_vec_free(&sa.acl);
        break;
    }
    case ZK_OP_AUTH: {
        struct auth_packet ap;
        if ((rc = proto_read_auth(r, &ap)) == 0) {
            fuzz_check_string(in, ap.scheme);
            fuzz_check_buffer(in, ap.auth, ap.auth_len);
        }
        break;
    }
    case ZK_OP_SETWATCHES:
    case ZK_OP_SETWATCHES2: {
        struct set_watches sw;
        rc = proto_read_set_watches(r, type == ZK_OP_SETWATCHES2, &sw);
        if (rc == 0) {
            fuzz_check_str_vec(in, &sw.data);
            fuzz_check_str_vec(in, &sw.exist);
            fuzz_check_str_vec(in, &sw.child);
            fuzz_check_str_vec(in, &sw.persistent);
            fuzz_check_str_vec(in, &sw.recursive);
        }
        proto_set_watches_free(&sw);
        break;
    }
    case ZK_OP_RECONFIG: {
        struct reconfig_request rq;
        if ((rc = proto_read_reconfig(r, &rq)) == 0) {
            fuzz_check_string(in, rq.joining);
            fuzz_check_string(in, rq.leaving);
            fuzz_check_string(in, rq.new_members);
        }
        break;
    }
    default:
        return false;
    }
    fuzz_check(rc == 0 || rc == ZK_MARSHALLINGERROR);
    fuzz_check((rc == 0) == !r->failed);
    return rc == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    size_t len = size - 1;
    /* Decoding writes into the buffer, and an exact-size copy lets ASan see overreads. */
    uint8_t *buf = malloc(len > 0 ? len : 1);
    if (buf == NULL)
        return 0;
    if (len > 0)
        memcpy(buf, data + 1, len);
    struct fuzz_input in = {buf, buf + len};
    struct jute_reader r;
    jute_reader_init(&r, buf, len,
                     (flags & 2) != 0 ? FUZZ_SMALL_FIELD_BYTES : FUZZ_MAX_FIELD_BYTES);

    if ((flags & 1) != 0) {
        struct connect_request cr;
        if (proto_read_connect_request(&r, &cr) == 0) {
            fuzz_check_buffer(&in, cr.passwd, cr.passwd_len);
            fuzz_check(cr.has_read_only || jute_remaining(&r) == 0);
        }
    } else {
        struct request_header h;
        if (proto_read_request_header(&r, &h) == 0) {
            if (h.type == ZK_OP_MULTI || h.type == ZK_OP_MULTIREAD) {
                /* Each header takes 9 bytes, so this ends; nested multis are not a thing. */
                struct multi_header mh;
                while (proto_read_multi_header(&r, &mh) == 0 && !mh.done &&
                       mh.type != ZK_OP_MULTI && mh.type != ZK_OP_MULTIREAD &&
                       fuzz_body(&in, &r, mh.type))
                    ;
            } else {
                fuzz_body(&in, &r, h.type);
            }
        }
    }
    free(buf);
    return 0;
}
