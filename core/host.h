/* The host side of the plugin ABI: the corral_host table, one corral_ctx per plugin
 * instance, and the instance lifecycle (create, start, stop, destroy) with the error
 * sentences that name the file, line, group and plugin. */
#ifndef CORRAL_HOST_INTERNAL_H
#define CORRAL_HOST_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <corral/cnxn.h>
#include <corral/host.h>
#include <corral/metrics.h>

#include "config.h"
#include "plugin.h"

struct server;

/* What every instance shares: the loop, the server its upcalls reach, the metrics provider. */
struct host_env {
    struct event_base *base;
    const struct config *cfg;
    const char *plugin_dir;
    struct server *srv;
    struct instance *metrics; /* never NULL once set up: the null provider stands in */
};

struct corral_ctx {
    struct host_env *env;
    struct instance *inst;
    const struct plugin_conf *conf; /* NULL for the built-in null metrics provider */
    char component[96];             /* "cnxn-nio[client]", the log prefix */
    char fail_msg[512];
    int fail_line;
    const char *keys_read[32];
    size_t n_keys_read;
};

struct instance {
    struct corral_ctx ctx;
    struct plugin_lib lib;
    void *self;
    bool started;
};

extern const struct corral_host host_table;

/* load + create: on failure returns a negative errno and one sentence in err, e.g.
 * "corral.conf:14: listeners.[1] (cnxn-tls, /usr/lib/corral/cnxn-tls.so): create failed:
 * bind ...". A config key of the group that create() did not read is such a failure. */
int instance_create(struct instance *in, struct host_env *env, const struct plugin_conf *pc,
                    uint32_t kind, char *err, size_t err_len);
/* The built-in metrics provider that discards everything (ZooKeeper's NullMetricsProvider). */
void instance_init_null_metrics(struct instance *in, struct host_env *env);
int instance_start(struct instance *in, char *err, size_t err_len);
void instance_stop(struct instance *in);
void instance_destroy(struct instance *in); /* release, then unload */
/* destroy() without unloading: at exit the loop may still run a plugin's code (libevent frees
 * a plugin's bufferevents lazily, through libraries only the plugin loaded), so the shared
 * objects are unloaded only after event_base_free. */
void instance_release(struct instance *in);
void instance_unload(struct instance *in);

static inline const struct corral_cnxn_ops *instance_cnxn(const struct instance *in)
{
    return in->lib.desc->ops.cnxn;
}

/* Queues a whole frame on c; a short write is the plugin's to finish. */
static inline int listener_send(struct instance *l, struct corral_cnxn *c,
                                const struct iovec *iov, int iovcnt)
{
    return instance_cnxn(l)->send(l->self, c, iov, iovcnt);
}

/* Flushes what is queued on c, then closes it; cnxn_closed follows. */
static inline void listener_close(struct instance *l, struct corral_cnxn *c, int reason)
{
    instance_cnxn(l)->close(l->self, c, reason);
}

static inline void listener_set_reading(struct instance *l, struct corral_cnxn *c, bool on)
{
    instance_cnxn(l)->set_reading(l->self, c, on);
}

/* Metrics through the configured provider (or the null one). */
void *host_metric_define(struct host_env *env, const char *name, int type, const char *help);
void host_metric_gauge(struct host_env *env, const char *name, const char *help,
                       corral_gauge_fn fn, void *arg);
static inline void host_metric_record(struct host_env *env, void *handle, double value)
{
    env->metrics->lib.desc->ops.metrics->record(env->metrics->self, handle, value);
}

#endif
