/* The client protocol's records: field order is the wire order (client-protocol.md §1.3). */
#include "proto.h"

#include <stdlib.h>

#include "zkerr.h"

/* Smallest encodings, which bound a vector's count by the bytes left in the frame. */
#define PROTO_MIN_USTRING_BYTES 4
#define PROTO_MIN_ACL_BYTES (4 + 2 * PROTO_MIN_USTRING_BYTES)

/* A vector's items. Decoders report only MARSHALLINGERROR, so running out of memory fails the
 * reader; jute_read_count already bounded the count by the frame. */
static void *proto_alloc_items(struct jute_reader *r, int32_t count, size_t item_bytes)
{
    void *items = calloc((size_t)count, item_bytes);
    if (items == NULL)
        r->failed = true;
    return items;
}

static void proto_read_acl_vec(struct jute_reader *r, struct zk_acl_vec *v)
{
    int32_t count = jute_read_count(r, PROTO_MIN_ACL_BYTES);
    *v = (struct zk_acl_vec){.count = count};
    if (r->failed || count <= 0)
        return;
    v->items = proto_alloc_items(r, count, sizeof *v->items);
    if (v->items == NULL) {
        v->count = 0;
        return;
    }
    for (int32_t i = 0; i < count && !r->failed; i++) {
        v->items[i].perms = jute_read_int(r);
        v->items[i].id.scheme = jute_read_ustring(r, NULL, NULL);
        v->items[i].id.id = jute_read_ustring(r, NULL, NULL);
    }
}

static void proto_read_str_vec(struct jute_reader *r, struct zk_str_vec *v)
{
    int32_t count = jute_read_count(r, PROTO_MIN_USTRING_BYTES);
    *v = (struct zk_str_vec){.count = count};
    if (r->failed || count <= 0)
        return;
    v->items = proto_alloc_items(r, count, sizeof *v->items);
    if (v->items == NULL) {
        v->count = 0;
        return;
    }
    for (int32_t i = 0; i < count && !r->failed; i++)
        v->items[i] = jute_read_ustring(r, NULL, NULL);
}

int proto_read_connect_request(struct jute_reader *r, struct connect_request *out)
{
    struct connect_request cr = {0};
    cr.protocol_version = jute_read_int(r);
    cr.last_zxid_seen = jute_read_long(r);
    cr.timeout_ms = jute_read_int(r);
    cr.session_id = jute_read_long(r);
    cr.passwd_len = jute_read_buffer(r, &cr.passwd);
    /* Clients from 3.3 and older end the record after passwd. */
    if (jute_remaining(r) > 0) {
        cr.read_only = jute_read_bool(r);
        cr.has_read_only = true;
    }
    *out = r->failed ? (struct connect_request){0} : cr;
    return r->failed ? ZK_MARSHALLINGERROR : 0;
}

int proto_read_request_header(struct jute_reader *r, struct request_header *out)
{
    struct request_header h;
    h.xid = jute_read_int(r);
    h.type = jute_read_int(r);
    *out = r->failed ? (struct request_header){0} : h;
    return r->failed ? ZK_MARSHALLINGERROR : 0;
}

int proto_read_multi_header(struct jute_reader *r, struct multi_header *out)
{
    struct multi_header h;
    h.type = jute_read_int(r);
    h.done = jute_read_bool(r);
    h.err = jute_read_int(r);
    *out = r->failed ? (struct multi_header){0} : h;
    return r->failed ? ZK_MARSHALLINGERROR : 0;
}

int proto_read_path(struct jute_reader *r, struct path_request *out)
{
    struct path_request pr;
    pr.path = jute_read_ustring(r, NULL, &pr.path_len);
    *out = r->failed ? (struct path_request){0} : pr;
    return r->failed ? ZK_MARSHALLINGERROR : 0;
}

int proto_read_path_watch(struct jute_reader *r, struct path_watch_request *out)
{
    struct path_watch_request pw;
    pw.path = jute_read_ustring(r, NULL, &pw.path_len);
    pw.watch = jute_read_bool(r);
    *out = r->failed ? (struct path_watch_request){0} : pw;
    return r->failed ? ZK_MARSHALLINGERROR : 0;
}

int proto_read_path_version(struct jute_reader *r, struct path_version_request *out)
{
    struct path_version_request pv;
    pv.path = jute_read_ustring(r, NULL, &pv.path_len);
    pv.version = jute_read_int(r);
    *out = r->failed ? (struct path_version_request){0} : pv;
    return r->failed ? ZK_MARSHALLINGERROR : 0;
}

int proto_read_path_int(struct jute_reader *r, struct path_int_request *out)
{
    struct path_int_request pi;
    pi.path = jute_read_ustring(r, NULL, &pi.path_len);
    pi.value = jute_read_int(r);
    *out = r->failed ? (struct path_int_request){0} : pi;
    return r->failed ? ZK_MARSHALLINGERROR : 0;
}

int proto_read_create(struct jute_reader *r, bool with_ttl, struct create_request *out)
{
    struct create_request cr;
    cr.path = jute_read_ustring(r, NULL, &cr.path_len);
    cr.data_len = jute_read_buffer(r, &cr.data);
    proto_read_acl_vec(r, &cr.acl);
    cr.flags = jute_read_int(r);
    cr.ttl = with_ttl ? jute_read_long(r) : -1;
    if (r->failed) {
        proto_acl_vec_free(&cr.acl);
        *out = (struct create_request){0};
        return ZK_MARSHALLINGERROR;
    }
    *out = cr;
    return 0;
}

int proto_read_set_data(struct jute_reader *r, struct set_data_request *out)
{
    struct set_data_request sd;
    sd.path = jute_read_ustring(r, NULL, &sd.path_len);
    sd.data_len = jute_read_buffer(r, &sd.data);
    sd.version = jute_read_int(r);
    *out = r->failed ? (struct set_data_request){0} : sd;
    return r->failed ? ZK_MARSHALLINGERROR : 0;
}

int proto_read_set_acl(struct jute_reader *r, struct set_acl_request *out)
{
    struct set_acl_request sa;
    sa.path = jute_read_ustring(r, NULL, &sa.path_len);
    proto_read_acl_vec(r, &sa.acl);
    sa.version = jute_read_int(r);
    if (r->failed) {
        proto_acl_vec_free(&sa.acl);
        *out = (struct set_acl_request){0};
        return ZK_MARSHALLINGERROR;
    }
    *out = sa;
    return 0;
}

int proto_read_auth(struct jute_reader *r, struct auth_packet *out)
{
    struct auth_packet ap;
    ap.type = jute_read_int(r);
    ap.scheme = jute_read_ustring(r, NULL, NULL);
    ap.auth_len = jute_read_buffer(r, &ap.auth);
    *out = r->failed ? (struct auth_packet){0} : ap;
    return r->failed ? ZK_MARSHALLINGERROR : 0;
}

int proto_read_set_watches(struct jute_reader *r, bool v2, struct set_watches *out)
{
    struct set_watches sw = {0};
    sw.relative_zxid = jute_read_long(r);
    proto_read_str_vec(r, &sw.data);
    proto_read_str_vec(r, &sw.exist);
    proto_read_str_vec(r, &sw.child);
    if (v2) {
        proto_read_str_vec(r, &sw.persistent);
        proto_read_str_vec(r, &sw.recursive);
    }
    if (r->failed) {
        proto_set_watches_free(&sw);
        *out = (struct set_watches){0};
        return ZK_MARSHALLINGERROR;
    }
    *out = sw;
    return 0;
}

int proto_read_reconfig(struct jute_reader *r, struct reconfig_request *out)
{
    struct reconfig_request rc;
    rc.joining = jute_read_ustring(r, NULL, NULL);
    rc.leaving = jute_read_ustring(r, NULL, NULL);
    rc.new_members = jute_read_ustring(r, NULL, NULL);
    rc.config_id = jute_read_long(r);
    *out = r->failed ? (struct reconfig_request){0} : rc;
    return r->failed ? ZK_MARSHALLINGERROR : 0;
}

void proto_acl_vec_free(struct zk_acl_vec *v)
{
    free(v->items);
    *v = (struct zk_acl_vec){0};
}

void proto_str_vec_free(struct zk_str_vec *v)
{
    free(v->items);
    *v = (struct zk_str_vec){0};
}

void proto_set_watches_free(struct set_watches *sw)
{
    proto_str_vec_free(&sw->data);
    proto_str_vec_free(&sw->exist);
    proto_str_vec_free(&sw->child);
    proto_str_vec_free(&sw->persistent);
    proto_str_vec_free(&sw->recursive);
}

void proto_write_connect_response(struct jute_writer *w, const struct connect_response *cr)
{
    static const uint8_t zero_passwd[ZK_PASSWD_BYTES];
    jute_write_int(w, cr->protocol_version);
    jute_write_int(w, cr->timeout_ms);
    jute_write_long(w, cr->session_id);
    /* The C client copies exactly 16 bytes, so even a refused session gets 16 (zero) bytes. */
    jute_write_buffer(w, cr->passwd != NULL ? cr->passwd : zero_passwd, ZK_PASSWD_BYTES);
    if (cr->has_read_only)
        jute_write_bool(w, cr->read_only);
}

void proto_write_reply_header(struct jute_writer *w, const struct reply_header *h)
{
    jute_write_int(w, h->xid);
    jute_write_long(w, h->zxid);
    jute_write_int(w, h->err);
}

void proto_write_multi_header(struct jute_writer *w, const struct multi_header *h)
{
    jute_write_int(w, h->type);
    jute_write_bool(w, h->done);
    jute_write_int(w, h->err);
}

void proto_write_stat(struct jute_writer *w, const struct zk_stat *st)
{
    jute_write_long(w, st->czxid);
    jute_write_long(w, st->mzxid);
    jute_write_long(w, st->ctime);
    jute_write_long(w, st->mtime);
    jute_write_int(w, st->version);
    jute_write_int(w, st->cversion);
    jute_write_int(w, st->aversion);
    jute_write_long(w, st->ephemeral_owner);
    jute_write_int(w, st->data_length);
    jute_write_int(w, st->num_children);
    jute_write_long(w, st->pzxid);
}

void proto_write_acl_vec(struct jute_writer *w, const struct zk_acl_vec *v)
{
    if (v->count > 0 && v->items == NULL) {
        w->failed = true;
        return;
    }
    jute_write_int(w, v->count < 0 ? -1 : v->count);
    for (int32_t i = 0; i < v->count; i++) {
        jute_write_int(w, v->items[i].perms);
        jute_write_ustring(w, v->items[i].id.scheme);
        jute_write_ustring(w, v->items[i].id.id);
    }
}

void proto_write_watcher_event(struct jute_writer *w, int32_t type, int32_t state, const char *path)
{
    jute_write_int(w, type);
    jute_write_int(w, state);
    jute_write_ustring(w, path);
}
