/* ZooKeeper path rules (client-protocol.md §7.5). */
#include "path.h"

#include <string.h>

/* Java decodes the path as UTF-8 (malformed input becomes U+FFFD) and checks UTF-16 code
 * units. Returns the code point of the sequence at p[0..], setting *n to its byte length, or
 * 0xFFFD for anything Java would not decode to a single BMP character: malformed, overlong,
 * truncated, encoded surrogates, or 4-byte sequences (surrogate pairs, both rejected). */
static unsigned path_decode_char(const unsigned char *p, size_t left, size_t *n)
{
    unsigned c = p[0];
    *n = 1;
    if (c < 0x80)
        return c;
    if (c >= 0xC2 && c <= 0xDF) {
        if (left < 2 || (p[1] & 0xC0) != 0x80)
            return 0xFFFD;
        *n = 2;
        return ((c & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (left < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0xFFFD;
        unsigned cp = ((c & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
        *n = 3;
        return cp < 0x800 ? 0xFFFD : cp;
    }
    return 0xFFFD;
}

static bool path_char_rejected(unsigned c)
{
    return (c >= 0x01 && c <= 0x1F) || (c >= 0x7F && c <= 0x9F) || (c >= 0xD800 && c <= 0xF8FF) ||
           (c >= 0xFFF0 && c <= 0xFFFF);
}

bool path_is_valid(const char *path, size_t len)
{
    if (path == NULL || len == 0 || path[0] != '/')
        return false;
    if (len == 1)
        return true;
    if (path[len - 1] == '/')
        return false;

    const unsigned char *p = (const unsigned char *)path;
    size_t comp_start = 1; /* first byte of the current component */
    for (size_t i = 1; i < len;) {
        if (p[i] == '/') {
            size_t comp_len = i - comp_start;
            if (comp_len == 0)
                return false;
            if (p[comp_start] == '.' &&
                (comp_len == 1 || (comp_len == 2 && p[comp_start + 1] == '.')))
                return false;
            comp_start = ++i;
            continue;
        }
        if (p[i] == 0)
            return false;
        size_t n;
        if (path_char_rejected(path_decode_char(p + i, len - i, &n)))
            return false;
        i += n;
    }
    /* The last component (the path does not end with '/'). */
    size_t comp_len = len - comp_start;
    if (p[comp_start] == '.' && (comp_len == 1 || (comp_len == 2 && p[comp_start + 1] == '.')))
        return false;
    return true;
}

long path_parent_len(const char *path, size_t len)
{
    const char *slash = memrchr(path, '/', len);
    return slash == NULL ? -1 : (long)(slash - path);
}

bool path_is_protected(const char *path)
{
    return strcmp(path, "/") == 0 || strcmp(path, "/zookeeper") == 0 ||
           strcmp(path, "/zookeeper/quota") == 0 || strcmp(path, "/zookeeper/config") == 0;
}
