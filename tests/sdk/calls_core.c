/* A plugin that calls log_msg(), a function of the server's core instead of host->log. The
 * SDK test links it with -z defs, which must refuse it, and without, which the loader must
 * then refuse: the server exports nothing of its core (no -rdynamic). */
#include <errno.h>
#include <stdlib.h>

#include <corral/host.h>
#include <corral/metrics.h>
#include <corral/plugin.h>

extern void log_msg(int level, const char *component, const char *fmt, ...);

static int cc_create(const struct corral_host *host, struct corral_ctx *ctx, void **self)
{
    (void)host, (void)ctx;
    log_msg(CORRAL_LOG_INFO, "calls-core", "reached into the core");
    *self = calloc(1, 1);
    return *self != NULL ? 0 : -ENOMEM;
}

static int cc_start(void *self)
{
    (void)self;
    return 0;
}

static void cc_stop(void *self)
{
    (void)self;
}

static void cc_destroy(void *self)
{
    free(self);
}

static int cc_define(void *self, const char *name, int type, const char *help, void **handle)
{
    (void)self, (void)name, (void)type, (void)help;
    *handle = NULL;
    return 0;
}

static int cc_gauge(void *self, const char *name, const char *help, corral_gauge_fn fn, void *arg)
{
    (void)self, (void)name, (void)help, (void)fn, (void)arg;
    return 0;
}

static void cc_record(void *self, void *handle, double value)
{
    (void)self, (void)handle, (void)value;
}

static const struct corral_metrics_ops cc_ops = {
    .version = CORRAL_METRICS_OPS_VERSION,
    .create = cc_create,
    .start = cc_start,
    .stop = cc_stop,
    .destroy = cc_destroy,
    .define = cc_define,
    .gauge = cc_gauge,
    .record = cc_record,
};
CORRAL_PLUGIN(CORRAL_KIND_METRICS, "calls-core", "0.0.1", .metrics = &cc_ops);
