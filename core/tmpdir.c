#include "tmpdir.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tmpdir_make(struct tmpdir *t, const char *prefix, char *err, size_t err_len)
{
    const char *root = getenv("TMPDIR");
    if (root == NULL || root[0] == '\0')
        root = "/tmp";
    snprintf(t->path, sizeof t->path, "%s/%s.XXXXXX", root, prefix);
    if (mkdtemp(t->path) == NULL) {
        snprintf(err, err_len, "cannot make a temporary data directory in %s: %s", root,
                 strerror(errno));
        t->path[0] = '\0';
        return -1;
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void tmpdir_remove(struct tmpdir *t)
{
    if (t->path[0] != '\0')
        nftw(t->path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    t->path[0] = '\0';
}
