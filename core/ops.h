/* The operations' replies: reads executed against the tree, and the replies of writes built
 * from their applied txn (FinalRequestProcessor). */
#ifndef CORRAL_OPS_H
#define CORRAL_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jute.h"
#include "server_internal.h"
#include "txn.h"

/* True for the opcodes that go through prep and the log and consume a zxid. */
bool ops_is_write(int32_t type);
/* True for every opcode a client may send once its session is established. */
bool ops_is_known(int32_t type);
/* Executes read request `type` (body in r) for conn and appends its whole reply frame. */
void ops_read(struct server *srv, struct conn *conn, int32_t xid, int32_t type,
              struct jute_reader *r, struct jute_writer *w);
/* Appends the reply frame of an applied write. `decoded` false: MARSHALLINGERROR. */
void ops_write_reply(struct server *srv, int32_t xid, int32_t type, bool decoded,
                     const struct txn_header *hdr, const struct txn *txn, struct jute_writer *w);
/* The reply frame header; ops_reply_end patches the frame length. */
size_t ops_reply_begin(struct jute_writer *w, int32_t xid, int64_t zxid, int32_t err);
void ops_reply_end(struct jute_writer *w, size_t frame);
/* The four-letter op name shown by cons ("GETD"). */
const char *ops_short_name(int32_t type);

#endif
