/*
 * metrics-prom's metrics and their Prometheus text exposition (format 0.0.4).
 *
 * The wire matches what ZooKeeper 3.8/3.9's PrometheusMetricsProvider serves through the Java
 * simpleclient 0.9: help and type lines per family, counters under their own name (no _total
 * suffix), numbers as Java's Double.toString prints them ("10.0", "1.0E7", "NaN", "+Inf"),
 * summaries as quantile lines 0.5, 0.9 and 0.99 with a trailing comma in the label set, then
 * _count and _sum. Everything here runs on the loop thread.
 */
#ifndef CORRAL_PROM_FORMAT_H
#define CORRAL_PROM_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <corral/metrics.h>

struct evbuffer;
struct prom_window; /* a summary's recent observations, private to prom_format.c */

#define PROM_QUANTILES 3
/* The quantiles ZooKeeper's advanced summaries export; every summary here exports all three. */
extern const double prom_quantiles[PROM_QUANTILES];

/* Quantiles cover the last 10 minutes in 5 age buckets: simpleclient's maxAgeSeconds and
 * ageBuckets defaults, which ZooKeeper keeps. */
#define PROM_WINDOW_MS (10 * 60 * 1000)
#define PROM_AGE_BUCKETS 5
/* At most this many observations are kept per age bucket (a uniform sample beyond it). */
#define PROM_BUCKET_SAMPLES 512

/* Room for any number prom_format_double() writes, with its NUL. */
#define PROM_DOUBLE_LEN 32

struct prom_metric {
    char *name;
    char *help;         /* escaped when written */
    int type;           /* enum corral_metric_type */
    double value;       /* counter total or gauge value */
    corral_gauge_fn fn; /* a gauge read at each scrape, or NULL */
    void *fn_arg;
    uint64_t count;             /* summary observations ever */
    double sum;                 /* and their sum */
    struct prom_window *window; /* summaries only */
    bool warned;                /* a bad record() was logged once */
};

/* Whether `name` is a valid Prometheus metric name: [a-zA-Z_:][a-zA-Z0-9_:]*. */
bool prom_name_is_valid(const char *name);

/* Whether two families would write the same sample name: equal names, or one is a summary
 * whose name plus _count or _sum is the other's. */
bool prom_names_clash(const char *a, int a_type, const char *b, int b_type);

/* A new metric with copies of name and help (help NULL or empty: the name, as ZooKeeper's
 * help is). Returns NULL when out of memory. Free with prom_metric_free(). */
struct prom_metric *prom_metric_new(const char *name, int type, const char *help);
void prom_metric_free(struct prom_metric *m);

/* Counter: adds a finite value >= 0. Gauge: sets. Summary: observes a non-NaN value at
 * now_ms. Returns false, changing nothing, for a value the type refuses. */
bool prom_metric_record(struct prom_metric *m, double value, uint64_t now_ms);

/* The summary's quantiles (prom_quantiles order) over the window ending at now_ms: the
 * nearest-rank value, NaN when the window is empty. Returns -ENOMEM, leaving NaN, when
 * scratch space can't be had. */
int prom_summary_quantiles(const struct prom_metric *m, uint64_t now_ms,
                           double out[PROM_QUANTILES]);

/* Appends the metric's family (# HELP, # TYPE, samples) to `out`; a gauge with fn is read
 * now. Returns 0 or -ENOMEM. */
int prom_metric_write(struct evbuffer *out, struct prom_metric *m, uint64_t now_ms);

/* Java's Double.toString of v, as simpleclient writes it; NaN, +Inf and -Inf as Go spells. */
void prom_format_double(char out[PROM_DOUBLE_LEN], double v);

/* Appends s escaped for a # HELP line (backslash, newline) or, with is_label_value, for a
 * label value (also the double quote). Returns 0 or -ENOMEM. */
int prom_put_escaped(struct evbuffer *out, const char *s, bool is_label_value);

#endif
