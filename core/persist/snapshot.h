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
 * per node, A.11). Runs in a forked child as well: it allocates nothing (a static 1 MiB buffer,
 * or a 64 KiB stack one while another writer holds it), takes no locks, and writes with
 * write(2). Nodes with the open ACL [31 world:anyone] get aclIndex -1 and that list stays out
 * of the map; other indexes are the cache's ids. Returns 0 or a negative errno. */
int snapshot_write(int fd, const struct datatree *tree, const struct sessions *sessions,
                   int64_t zxid);
/* Writes <dir>/snapshot.<zxid hex> via a .tmp file, fsync and rename, then fsyncs dir. */
int snapshot_save(const char *dir, const struct datatree *tree, const struct sessions *sessions,
                  int64_t zxid, char *err, size_t err_len);

/* Loads a snapshot into a fresh tree and registers its sessions (timeouts only, touched at
 * now_ms; only once the whole file checked out). Plain snapshots only: a .gz or .snappy one
 * fails with -ENOTSUP naming it, a name that is not snapshot.<hex> with -EINVAL. Verifies both
 * seals; a mismatch, truncation, bad magic, a node before its parent or an aclIndex missing
 * from the map fails with -EBADMSG and a sentence in err naming the file and the offset. A
 * file that ends right after seal1 (written before 3.6, no digest) loads; bytes after seal2
 * (3.9) are ignored. When the digest section's zxid equals the file's, a digest mismatch is
 * logged as a warning only. *zxid gets the zxid from the file name. */
int snapshot_load(const char *path, struct datatree **tree, struct sessions *sessions,
                  uint64_t now_ms, int64_t *zxid, char *err, size_t err_len);

/* ZooKeeper's quick validity test (A.8): the name parses, and the file is >= 16 bytes and
 * ends with the "/" marker (a .gz or .snappy name: starts with that format's magic). */
bool snapshot_looks_complete(const char *path);

/* The snapshot files of dir (snapshot.<hex>[.anything], not *.tmp), newest first, each zxid
 * once (heap array of zxids; free it). */
int snapshot_list(const char *dir, int64_t **zxids, size_t *count);

/* The tree digest as ZooKeeper computes it (A.11). O(nodes). */
uint64_t snapshot_tree_digest(const struct datatree *tree);

#endif
