/*
 * Prints one real scrape of metrics-prom, with metrics of every kind and the awkward values
 * (NaN quantiles, escaped help, exponents), for promtool to check.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <corral/metrics.h>
#include <corral/plugin.h>

#include "fake_host.h"
#include "scrape.h"

static double data_size(void *arg)
{
    (void)arg;
    return 12345678;
}

static int fail(const char *what)
{
    fprintf(stderr, "scrape_sample: %s\n", what);
    return 1;
}

int main(void)
{
    const struct corral_metrics_ops *ops = corral_plugin.ops.metrics;
    struct fake_host *fh = fake_host_new();
    int port = scrape_free_port();
    fake_host_set_configf(fh, "address = \"127.0.0.1\"; port = %d;", port);
    void *self = NULL;
    if (ops->create(&fh->host, fh->ctx, &self) < 0 || ops->start(self) < 0)
        return fail("the plugin did not start");
    struct {
        const char *name;
        int type;
        const char *help;
        void *handle;
    } m[] = {
        {"packets_received", CORRAL_METRIC_COUNTER, NULL, NULL},
        {"packets_sent", CORRAL_METRIC_COUNTER, "", NULL},
        {"znode_count", CORRAL_METRIC_GAUGE, "Znodes in the tree \\ \"all\"\nof them", NULL},
        {"min_latency", CORRAL_METRIC_GAUGE, NULL, NULL},
        {"readlatency", CORRAL_METRIC_SUMMARY, NULL, NULL},
        {"updatelatency", CORRAL_METRIC_SUMMARY, NULL, NULL},
        {"election_time", CORRAL_METRIC_SUMMARY, NULL, NULL},
        {"read_commitproc_time_ms", CORRAL_METRIC_SUMMARY, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (ops->define(self, m[i].name, m[i].type, m[i].help, &m[i].handle) < 0)
            return fail("define failed");
    if (ops->gauge(self, "approximate_data_size", NULL, data_size, NULL) < 0)
        return fail("gauge failed");
    ops->record(self, m[0].handle, 42);
    ops->record(self, m[1].handle, 1e9);
    ops->record(self, m[2].handle, 7);
    ops->record(self, m[3].handle, 0.00025);
    for (int i = 1; i <= 1000; i++) {
        ops->record(self, m[4].handle, i % 17);
        ops->record(self, m[5].handle, i * 0.5);
        ops->record(self, m[7].handle, i % 3);
    }
    /* election_time stays empty: its quantiles read NaN. */
    struct http_reply r;
    if (scrape_get(fh, port, "/metrics", &r) < 0 || r.status != 200)
        return fail("GET /metrics did not answer 200");
    fwrite(r.body, 1, r.body_len, stdout);
    scrape_reply_free(&r);
    ops->stop(self);
    ops->destroy(self);
    fake_host_free(fh);
    return 0;
}
