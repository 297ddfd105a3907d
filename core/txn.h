/* Transactions: what prep produces and apply consumes, shaped as ZooKeeper's txn records
 * (TxnHeader, CreateTxn, DeleteTxn, SetDataTxn, SetACLTxn, ErrorTxn, MultiTxn, ...), so the
 * log stage can write them in ZooKeeper's format unchanged. */
#ifndef CORRAL_TXN_H
#define CORRAL_TXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct txn_header {
    int64_t client_id; /* session id */
    int32_t cxid;      /* the request's xid */
    int64_t zxid;
    int64_t time_ms;   /* wall clock at prep */
    int32_t type;      /* enum zk_op of the txn (ZK_OP_ERROR for a failed request) */
};

/* One txn body. Which fields mean something depends on `type`:
 *   ZK_OP_CREATE / CREATECONTAINER / CREATETTL: path, data, acl, ephemeral, parent_cversion, ttl
 *   ZK_OP_DELETE / DELETECONTAINER: path
 *   ZK_OP_SETDATA: path, data, version (the new version)
 *   ZK_OP_SETACL: path, acl, version (the new aversion)
 *   ZK_OP_CHECK: path, version
 *   ZK_OP_ERROR: err
 *   ZK_OP_CREATESESSION: timeout_ms
 *   ZK_OP_CLOSESESSION: paths (the session's ephemerals, as prep saw them; apply also deletes
 *     any other ephemeral the session still owns)
 *   ZK_OP_MULTI: sub[0..n_sub) */
struct txn {
    int32_t type;
    char *path;          /* heap */
    uint8_t *data;       /* heap; NULL when data_len <= 0 */
    int32_t data_len;    /* -1: null */
    struct zk_acl_vec acl; /* heap (acl_vec_free) */
    bool ephemeral;
    int32_t parent_cversion;
    int64_t ttl;
    int32_t version;
    int32_t err;
    int32_t timeout_ms;
    struct txn *sub;
    size_t n_sub;
    char **paths; /* heap strings */
    size_t n_paths;
};

void txn_free(struct txn *t); /* frees the contents, not t itself */

#endif
