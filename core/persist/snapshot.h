/* Snapshots in ZooKeeper 3.8's format (disk-and-quorum.md A.8, A.11): version-2/snapshot.<zxid
 * hex> holding the sessions, the ACL cache, every node (parents first), the tree digest and two
 * Adler-32 seals. */
#ifndef CORRAL_SNAPSHOT_H
#define CORRAL_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct datatree;
struct sessions;

#define SNAPSHOT_MAGIC 0x5A4B534E /* "ZKSN" */

/* Writes the snapshot of (tree, sessions) at zxid to fd, with a correct tree digest (CRC-32
 * per node, A.11). Runs in a forked child as well: it allocates only through stdio buffers and
 * touches nothing but what it reads. Returns 0 or a negative errno. */
int snapshot_write(int fd, const struct datatree *tree, const struct sessions *sessions,
                   int64_t zxid);
/* Writes <dir>/snapshot.<zxid hex> via a .tmp file, fsync and rename. */
int snapshot_save(const char *dir, const struct datatree *tree, const struct sessions *sessions,
                  int64_t zxid, char *err, size_t err_len);

/* Loads a snapshot into a fresh tree and registers its sessions (timeouts only, touched at
 * now_ms). Plain snapshots only: a .gz or .snappy one is an error naming it. Verifies both
 * seals; a mismatch, truncation or bad magic fails with -EBADMSG and a sentence in
 * err naming the file and the offset. *zxid gets the zxid from the file name. */
int snapshot_load(const char *path, struct datatree **tree, struct sessions *sessions,
                  uint64_t now_ms, int64_t *zxid, char *err, size_t err_len);

/* ZooKeeper's quick validity test: the file ends with the "/" marker (A.8). */
bool snapshot_looks_complete(const char *path);

/* The snapshot files of dir, newest first (heap array of zxids; free it). */
int snapshot_list(const char *dir, int64_t **zxids, size_t *count);

/* The tree digest as ZooKeeper computes it (A.11). O(nodes). */
uint64_t snapshot_tree_digest(const struct datatree *tree);

#endif
