/* A temporary directory that is removed, with everything in it, at exit. */
#ifndef CORRAL_TMPDIR_H
#define CORRAL_TMPDIR_H

#include <stddef.h>

struct tmpdir {
    char path[4096]; /* empty when none was made */
};

/* Makes $TMPDIR/<prefix>.XXXXXX (TMPDIR defaults to /tmp). Returns 0 or -1 with err set. */
int tmpdir_make(struct tmpdir *t, const char *prefix, char *err, size_t err_len);
void tmpdir_remove(struct tmpdir *t);

#endif
