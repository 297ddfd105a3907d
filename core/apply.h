/* apply: puts a txn that the log stage made durable into the data tree and the session
 * table, and fires the watches it triggers (ZooKeeper's DataTree.processTxn). Txns are
 * applied one at a time in zxid order; replaying a log on recovery goes through here too. */
#ifndef CORRAL_APPLY_H
#define CORRAL_APPLY_H

#include "server_internal.h"
#include "txn.h"

/* Applies `txn` at hdr->zxid. Events go to the connections watching, before the reply of the
 * request that caused them. A txn prep accepted cannot fail here except on ENOMEM, which is
 * logged. */
void apply_txn(struct server *srv, const struct txn_header *hdr, const struct txn *txn);

#endif
