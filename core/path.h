/* ZooKeeper path rules (client-protocol.md §7.5). */
#ifndef CORRAL_PATH_H
#define CORRAL_PATH_H

#include <stdbool.h>
#include <stddef.h>

/* PathUtils.validatePath: non-empty, starts with '/', no trailing '/' (except "/"), no NUL,
 * no empty, "." or ".." component, no character in U+0001-U+001F, U+007F-U+009F,
 * U+D800-U+F8FF, U+FFF0-U+FFFF or outside the BMP, and no malformed UTF-8 (which Java decodes
 * to U+FFFD, itself rejected). `len` is the byte length (a NUL inside is rejected). */
bool path_is_valid(const char *path, size_t len);

/* Length of the parent part of `path` (everything before the last '/'; 0 for "/x" whose
 * parent is the root). Returns -1 when there is no '/'. */
long path_parent_len(const char *path, size_t len);

/* True for "/", "/zookeeper", "/zookeeper/quota" and "/zookeeper/config". */
bool path_is_protected(const char *path);

#endif
