#include "plugin.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <corral/cnxn.h>
#include <corral/election.h>
#include <corral/metrics.h>

const char *plugin_kind_name(uint32_t kind)
{
    switch (kind) {
    case CORRAL_KIND_CNXN:
        return "connection factory";
    case CORRAL_KIND_METRICS:
        return "metrics provider";
    case CORRAL_KIND_ELECTION:
        return "leader election";
    default:
        return "unknown kind";
    }
}

/* The first v1 slot left NULL, or NULL when all are set. */
static const char *missing_slot(const struct corral_plugin *d)
{
#define REQUIRE(ops, slot)                                                                     \
    if ((ops)->slot == NULL)                                                                   \
        return #slot;
    switch (d->kind) {
    case CORRAL_KIND_CNXN:
        REQUIRE(d->ops.cnxn, create) REQUIRE(d->ops.cnxn, start) REQUIRE(d->ops.cnxn, stop)
        REQUIRE(d->ops.cnxn, destroy) REQUIRE(d->ops.cnxn, send) REQUIRE(d->ops.cnxn, close)
        REQUIRE(d->ops.cnxn, set_reading) REQUIRE(d->ops.cnxn, queued_bytes)
        return NULL;
    case CORRAL_KIND_METRICS:
        REQUIRE(d->ops.metrics, create) REQUIRE(d->ops.metrics, start)
        REQUIRE(d->ops.metrics, stop) REQUIRE(d->ops.metrics, destroy)
        REQUIRE(d->ops.metrics, define) REQUIRE(d->ops.metrics, gauge)
        REQUIRE(d->ops.metrics, record)
        return NULL;
    case CORRAL_KIND_ELECTION:
        REQUIRE(d->ops.election, create) REQUIRE(d->ops.election, start)
        REQUIRE(d->ops.election, stop) REQUIRE(d->ops.election, destroy)
        REQUIRE(d->ops.election, look) REQUIRE(d->ops.election, receive)
        return NULL;
    }
#undef REQUIRE
    return NULL;
}

/* Every ops table starts with its version; all kinds' versions are 1 in this ABI. */
static uint32_t ops_version(const struct corral_plugin *d)
{
    switch (d->kind) {
    case CORRAL_KIND_CNXN:
        return d->ops.cnxn->version;
    case CORRAL_KIND_METRICS:
        return d->ops.metrics->version;
    default:
        return d->ops.election->version;
    }
}

static int fail(char *err, size_t err_len, int rc, const char *path, const char *fmt,
                const char *a, const char *b)
{
    char msg[512];
    snprintf(msg, sizeof msg, fmt, a, b);
    snprintf(err, err_len, "%s: %s", path, msg);
    return rc;
}

int plugin_load(const char *plugin_dir, const char *plugin, uint32_t kind,
                struct plugin_lib *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof *out);
    bool by_path = strchr(plugin, '/') != NULL;
    if (by_path && plugin[0] != '/')
        return fail(err, err_len, -EINVAL, plugin, "%s%s",
                    "a plugin path must be absolute (or give a bare name to look it up in "
                    "plugin_dir)",
                    "");
    if (by_path)
        snprintf(out->path, sizeof out->path, "%s", plugin);
    else
        snprintf(out->path, sizeof out->path, "%s/%s.so", plugin_dir, plugin);
    const char *path = out->path;

    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        return fail(err, err_len, -e, path, "%s%s", strerror(e),
                    by_path ? "" : " (looked up in plugin_dir)");
    }
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *why = dlerror();
        return fail(err, err_len, -ENOEXEC, path, "cannot be loaded: %s%s",
                    why != NULL ? why : "unknown dlopen error", "");
    }
    const struct corral_plugin *d = dlsym(h, "corral_plugin");
    int rc = 0;
    char num[2][16];
    if (d == NULL) {
        rc = fail(err, err_len, -ENOEXEC, path, "%s%s",
                  "not a corral plugin: it exports no corral_plugin descriptor", "");
    } else if (d->abi != CORRAL_ABI) {
        snprintf(num[0], sizeof num[0], "%u", (unsigned)d->abi);
        snprintf(num[1], sizeof num[1], "%d", CORRAL_ABI);
        rc = fail(err, err_len, -ENOEXEC, path, "built for plugin ABI %s, this server speaks ABI %s",
                  num[0], num[1]);
    } else if (d->kind != kind) {
        rc = fail(err, err_len, -EINVAL, path, "is a %s plugin, but this config group needs a %s",
                  plugin_kind_name(d->kind), plugin_kind_name(kind));
    } else if (d->name == NULL || d->version == NULL || d->ops.cnxn == NULL) {
        rc = fail(err, err_len, -ENOEXEC, path, "%s%s",
                  "its descriptor lacks a name, a version or an ops table", "");
    } else if (!by_path && strcmp(d->name, plugin) != 0) {
        rc = fail(err, err_len, -EINVAL, path, "calls itself \"%s\", not \"%s\"", d->name, plugin);
    } else if (ops_version(d) < 1) {
        rc = fail(err, err_len, -ENOEXEC, path, "%s%s", "its ops table has version 0", "");
    } else {
        const char *slot = missing_slot(d);
        if (slot != NULL)
            rc = fail(err, err_len, -ENOEXEC, path, "the required slot %s is not set (%s)", slot,
                      plugin_kind_name(kind));
    }
    if (rc != 0) {
        dlclose(h);
        return rc;
    }
    out->handle = h;
    out->desc = d;
    return 0;
}

void plugin_unload(struct plugin_lib *lib)
{
    if (lib->handle != NULL)
        dlclose(lib->handle);
    lib->handle = NULL;
    lib->desc = NULL;
}

void plugin_default_dir(char *out, size_t out_len)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char candidate[4200];
        snprintf(candidate, sizeof candidate, "%s/plugins", dirname(exe));
        struct stat st;
        if (stat(candidate, &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(out, out_len, "%s", candidate);
            return;
        }
    }
    snprintf(out, out_len, "%s", CORRAL_PLUGIN_INSTALL_DIR);
}
