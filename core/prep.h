/* prep: validates a write request against the tree as it will be once every earlier write
 * is applied (ZooKeeper's PrepRequestProcessor with its outstanding changes) and turns it into
 * a txn. Runs on the loop thread, in arrival order, before the log stage. */
#ifndef CORRAL_PREP_H
#define CORRAL_PREP_H

#include <stdbool.h>
#include <stdint.h>

#include "jute.h"
#include "server_internal.h"
#include "txn.h"

struct prep_caller {
    int64_t session_id;          /* 0 for the server itself (reaper) */
    const struct auth_id *ids;   /* the connection's identities */
    size_t n_ids;
    bool session_closing;
};

/* Decodes the body of write request `type` from r and fills `txn`: the change to apply, or an
 * error txn (type ZK_OP_ERROR) for a request that fails; a failed multi is a multi of error
 * txns. The caller assigns the zxid first, as every write consumes one even when it fails.
 * Returns false only when the body cannot be decoded (the reply is then MARSHALLINGERROR; an
 * error txn is still produced). */
bool prep_write(struct server *srv, const struct prep_caller *who, int32_t type,
                struct jute_reader *r, int64_t zxid, struct txn *txn);

/* The txns the server makes itself: createSession, closeSession, deleteContainer. */
void prep_create_session(struct txn *txn, int32_t timeout_ms);
void prep_close_session(struct server *srv, int64_t session_id, int64_t zxid, struct txn *txn);
void prep_delete_container(struct server *srv, const char *path, int64_t zxid, struct txn *txn);

/* apply calls this once the txn with `zxid` is in the tree: its outstanding changes are no
 * longer needed. */
void prep_forget(struct server *srv, int64_t zxid);
/* The log stage dropped every txn above `zxid`: forget what prep assumed of them. */
void prep_forget_after(struct server *srv, int64_t zxid);
/* Frees the outstanding changes, at exit. */
void prep_free(struct server *srv);

#endif
