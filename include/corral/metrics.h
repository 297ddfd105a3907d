/*
 * Metrics provider plugins (ZooKeeper's MetricsProvider / MetricsContext).
 *
 * The host defines every metric before start() and then records values on the loop thread.
 * A provider exports them its own way (Prometheus over HTTP, ...). Without a metrics group in
 * the config the host uses a built-in provider that discards everything.
 */
#ifndef CORRAL_METRICS_H
#define CORRAL_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct corral_host;
struct corral_ctx;

/* A gauge the provider reads when it exports, on the loop thread. */
typedef double (*corral_gauge_fn)(void *arg);

#define CORRAL_METRICS_OPS_VERSION 1

struct corral_metrics_ops {
    uint32_t version;
    /* v1: all required. Lifecycle as for connection factories (include/corral/cnxn.h). */
    int (*create)(const struct corral_host *host, struct corral_ctx *ctx, void **self);
    int (*start)(void *self);
    void (*stop)(void *self);
    void (*destroy)(void *self);
    /* define: a metric named as ZooKeeper names it ("packets_received"), of enum
     *   corral_metric_type, before start(). Writes an opaque handle on success.
     * gauge: a gauge computed on demand by fn(arg).
     * record: counter += value, gauge = value, or summary observes value. Never fails. */
    int (*define)(void *self, const char *name, int type, const char *help, void **handle);
    int (*gauge)(void *self, const char *name, const char *help, corral_gauge_fn fn, void *arg);
    void (*record)(void *self, void *handle, double value);
};

#ifdef __cplusplus
}
#endif
#endif
