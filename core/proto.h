/* The client protocol's records (client-protocol.md §1.3): decoders for what clients send,
 * encoders for what the server answers. Decoders return 0, or ZK_MARSHALLINGERROR when the
 * record is truncated or malformed (the struct is then zeroed and owns nothing); strings and
 * buffers point into the reader's buffer. Every null ustring decodes as NULL (a path then has
 * path_len 0), never as "": for reads "" means the root while a null path is MARSHALLINGERROR
 * (client-protocol.md §3.5.5), so the caller decides. */
#ifndef CORRAL_PROTO_H
#define CORRAL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jute.h"

struct zk_stat {
    int64_t czxid, mzxid, ctime, mtime;
    int32_t version, cversion, aversion;
    int64_t ephemeral_owner;
    int32_t data_length, num_children;
    int64_t pzxid;
};

struct zk_id {
    const char *scheme; /* NULL when null on the wire */
    const char *id;
};

struct zk_acl {
    int32_t perms;
    struct zk_id id;
};

/* A vector<ACL>; count -1 is a null vector. `items` is heap memory owned by the holder:
 * free it with proto_acl_vec_free(). */
struct zk_acl_vec {
    int32_t count;
    struct zk_acl *items;
};

/* A vector<ustring>; count -1 is null. `items` is heap memory (the strings are not). */
struct zk_str_vec {
    int32_t count;
    const char **items;
};

struct connect_request {
    int32_t protocol_version;
    int64_t last_zxid_seen;
    int32_t timeout_ms;
    int64_t session_id;
    const uint8_t *passwd;
    int32_t passwd_len; /* -1 null */
    bool read_only;
    bool has_read_only; /* false for clients that omit the byte (3.3 and older) */
};

struct connect_response {
    int32_t protocol_version;
    int32_t timeout_ms;
    int64_t session_id;
    const uint8_t *passwd; /* 16 bytes */
    bool read_only;
    bool has_read_only;
};

struct request_header {
    int32_t xid;
    int32_t type;
};

struct reply_header {
    int32_t xid;
    int64_t zxid;
    int32_t err;
};

struct multi_header {
    int32_t type;
    bool done;
    int32_t err;
};

/* One record type serves several requests whose wire layout is the same. */
struct path_request {          /* sync, getACL, getEphemerals, getAllChildrenNumber,
                                  deleteContainer */
    const char *path;
    size_t path_len;
};

struct path_watch_request {    /* exists, getData, getChildren, getChildren2 */
    const char *path;
    size_t path_len;
    bool watch;
};

struct path_version_request {  /* delete, check */
    const char *path;
    size_t path_len;
    int32_t version;
};

struct path_int_request {      /* addWatch (mode), checkWatches/removeWatches (type) */
    const char *path;
    size_t path_len;
    int32_t value;
};

struct create_request {        /* create, create2, createContainer; createTTL adds ttl */
    const char *path;
    size_t path_len;
    const uint8_t *data;
    int32_t data_len;          /* -1 null */
    struct zk_acl_vec acl;
    int32_t flags;
    int64_t ttl;               /* -1 unless op 21 */
};

struct set_data_request {
    const char *path;
    size_t path_len;
    const uint8_t *data;
    int32_t data_len;
    int32_t version;
};

struct set_acl_request {
    const char *path;
    size_t path_len;
    struct zk_acl_vec acl;
    int32_t version;
};

struct auth_packet {
    int32_t type;
    const char *scheme;
    const uint8_t *auth;
    int32_t auth_len;
};

struct set_watches {           /* op 101; op 105 fills the last two vectors too */
    int64_t relative_zxid;
    struct zk_str_vec data, exist, child, persistent, recursive;
};

struct reconfig_request {
    const char *joining, *leaving, *new_members;
    int64_t config_id;
};

int proto_read_connect_request(struct jute_reader *r, struct connect_request *out);
int proto_read_request_header(struct jute_reader *r, struct request_header *out);
int proto_read_multi_header(struct jute_reader *r, struct multi_header *out);
int proto_read_path(struct jute_reader *r, struct path_request *out);
int proto_read_path_watch(struct jute_reader *r, struct path_watch_request *out);
int proto_read_path_version(struct jute_reader *r, struct path_version_request *out);
int proto_read_path_int(struct jute_reader *r, struct path_int_request *out);
/* with_ttl: op 21 (CreateTTLRequest); otherwise ttl is set to -1. */
int proto_read_create(struct jute_reader *r, bool with_ttl, struct create_request *out);
int proto_read_set_data(struct jute_reader *r, struct set_data_request *out);
int proto_read_set_acl(struct jute_reader *r, struct set_acl_request *out);
int proto_read_auth(struct jute_reader *r, struct auth_packet *out);
/* v2: SetWatches2 (op 105); otherwise persistent and recursive are empty (count 0). */
int proto_read_set_watches(struct jute_reader *r, bool v2, struct set_watches *out);
int proto_read_reconfig(struct jute_reader *r, struct reconfig_request *out);
/* Frees the heap parts of decoded records (safe on zeroed or partly decoded ones). */
void proto_acl_vec_free(struct zk_acl_vec *v);
void proto_str_vec_free(struct zk_str_vec *v);
void proto_set_watches_free(struct set_watches *sw);

void proto_write_connect_response(struct jute_writer *w, const struct connect_response *cr);
void proto_write_reply_header(struct jute_writer *w, const struct reply_header *h);
void proto_write_multi_header(struct jute_writer *w, const struct multi_header *h);
void proto_write_stat(struct jute_writer *w, const struct zk_stat *st);
void proto_write_acl_vec(struct jute_writer *w, const struct zk_acl_vec *v);
void proto_write_watcher_event(struct jute_writer *w, int32_t type, int32_t state,
                               const char *path);

#define ZK_STAT_BYTES 68
#define ZK_PASSWD_BYTES 16

#endif
