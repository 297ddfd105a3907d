/* The transaction log in ZooKeeper 3.8's format (disk-and-quorum.md A.4-A.7): version-2/log.<zxid
 * hex> files of a FileHeader and checksummed records, preallocated and zero-padded. */
#ifndef CORRAL_TXNLOG_H
#define CORRAL_TXNLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jute.h"
#include "txn.h"

#define TXNLOG_MAGIC 0x5A4B4C47 /* "ZKLG" */
/* A new log file is written here first, then renamed to log.<zxid>; a leftover is removed at
 * start-up. ZooKeeper reads only names of the form log.<hex>. */
#define TXNLOG_TMP_PREFIX "tmp.log."

/* --- record bodies ------------------------------------------------------------------------ */

/* Appends one log entry (TxnHeader + body, no digest) to w. Creates inside a multi are written
 * as type 1, which 3.8.0 and 3.8.1 can replay; closeSession carries txn->paths. */
void txnlog_encode_entry(const struct txn_header *hdr, const struct txn *txn,
                         struct jute_writer *w);
/* Decodes an entry (ignoring a trailing TxnDigest). Fills *txn with heap copies (txn_free).
 * Returns 0, or -EBADMSG with a reason in err for an unknown type or a malformed body. */
int txnlog_decode_entry(const uint8_t *entry, size_t len, struct txn_header *hdr,
                        struct txn *txn, char *err, size_t err_len);

/* zlib's Adler-32, as ZooKeeper checksums records and snapshots. */
uint32_t txnlog_adler32(uint32_t adler, const uint8_t *buf, size_t len);

/* --- writing: the sync thread only ---------------------------------------------------------- */

struct txnlog_writer;

/* dir is <dataLogDir>/version-2 (created if missing). prealloc_bytes: ZooKeeper's
 * preAllocSize (64 MiB by default); 0 disables preallocation. */
struct txnlog_writer *txnlog_writer_open(const char *dir, int64_t prealloc_bytes, char *err,
                                         size_t err_len);
void txnlog_writer_close(struct txnlog_writer *w);
/* Buffers one entry with its checksum, length and end marker. The first append after open or
 * roll creates log.<zxid> (its 16-byte header written and flushed at once). Returns 0 or a
 * negative errno; a failed append drops the uncommitted entries as a failed commit does. */
int txnlog_append(struct txnlog_writer *w, int64_t zxid, const uint8_t *entry, size_t len);
/* Writes what is buffered and, when force_sync, fdatasyncs every file written since the
 * last commit. Only after it returns 0 are the appended txns durable. On failure (-ENOSPC,
 * -EIO ...) the file is cut back to its last committed length so no partial record stays:
 * every entry appended since the last successful commit is dropped (a file left without any
 * committed record is removed), and the writer goes on from there. */
int txnlog_commit(struct txnlog_writer *w, bool force_sync);
/* The next append opens a new file (after a snapshot, as ZooKeeper rolls). */
void txnlog_roll(struct txnlog_writer *w);
/* Bytes appended to the current file since it was opened. */
int64_t txnlog_current_bytes(const struct txnlog_writer *w);

/* --- reading and recovery --------------------------------------------------------------------- */

struct txnlog_replay_stats {
    int64_t txns;            /* records handed to fn */
    int64_t last_zxid;       /* the highest zxid read, or the start zxid when none */
    int64_t truncated_bytes; /* cut from a torn or corrupt tail, up to its last non-zero byte */
    int64_t truncated_after; /* the zxid after which the tail was cut (0 when none) */
    char truncated_file[4096];
};

/* Replays every record with zxid > after_zxid, in order: the newest file whose name is
 * <= after_zxid + 1 and every later file (A.7). A record cut short, a zero length, a missing
 * end marker or a checksum mismatch ends that file (zeros alone up to the end are its normal
 * end): if it is the newest file, its tail from there is cut off (truncated, when repair is
 * true; a newest file without a header is removed) and reported in stats; in an older file it
 * is corruption and replay fails, unless the next file starts right after the last zxid read,
 * as ZooKeeper leaves it after rewriting a torn last txn into a new file (A.3). fn returns 0 to
 * go on, or a negative errno to stop. Returns 0 or a negative errno with one sentence in err
 * naming the file and the offset. A missing dir holds no logs. */
int txnlog_replay(const char *dir, int64_t after_zxid, bool repair,
                  int (*fn)(const struct txn_header *hdr, const struct txn *txn, void *arg),
                  void *arg, struct txnlog_replay_stats *stats, char *err, size_t err_len);

/* The log files of dir, ascending by start zxid (heap array of zxids; free it). */
int txnlog_list(const char *dir, int64_t **zxids, size_t *count);

#endif
