/* metrics-prom: metric values, summary windows and the text exposition format 0.0.4. */
#include "prom_format.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include <corral/host.h>

const double prom_quantiles[PROM_QUANTILES] = {0.5, 0.9, 0.99};

#define PROM_SLICE_MS (PROM_WINDOW_MS / PROM_AGE_BUCKETS)

/*
 * Quantile estimation: ZooKeeper's simpleclient keeps CKMS sketches over a sliding 10-minute
 * window rotated in 5 steps. Here each 2-minute slice keeps a uniform reservoir sample (Vitter's
 * algorithm R) of at most PROM_BUCKET_SAMPLES observations plus its exact count; a scrape merges
 * the slices of the last 10 minutes, weighting each kept value by seen/kept, and reads the
 * nearest rank. Memory is bounded (5 x 512 doubles per summary, grown on demand), the result is
 * exact while a slice holds fewer observations than that, and it is always an observed value.
 */
struct prom_age_bucket {
    uint64_t slice; /* now_ms / PROM_SLICE_MS of its observations */
    uint64_t seen;
    uint32_t kept;
    uint32_t cap;
    double *samples;
};

struct prom_window {
    struct prom_age_bucket buckets[PROM_AGE_BUCKETS];
    uint64_t rng; /* xorshift64* state: deterministic, and per summary, as all state is */
};

struct prom_weighted {
    double value;
    double weight;
};

bool prom_name_is_valid(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return false;
    for (const char *p = name; *p != '\0'; p++) {
        char c = *p;
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && (p == name || c < '0' || c > '9'))
            return false;
    }
    return true;
}

static bool prom_is_suffixed(const char *base, const char *name)
{
    size_t n = strlen(base);
    return strncmp(base, name, n) == 0 &&
           (strcmp(name + n, "_count") == 0 || strcmp(name + n, "_sum") == 0);
}

bool prom_names_clash(const char *a, int a_type, const char *b, int b_type)
{
    return strcmp(a, b) == 0 || (a_type == CORRAL_METRIC_SUMMARY && prom_is_suffixed(a, b)) ||
           (b_type == CORRAL_METRIC_SUMMARY && prom_is_suffixed(b, a));
}

struct prom_metric *prom_metric_new(const char *name, int type, const char *help)
{
    struct prom_metric *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->type = type;
    m->name = strdup(name);
    m->help = strdup(help != NULL && help[0] != '\0' ? help : name);
    if (type == CORRAL_METRIC_SUMMARY) {
        m->window = calloc(1, sizeof *m->window);
        if (m->window != NULL)
            m->window->rng = 0x9e3779b97f4a7c15u;
    }
    if (m->name == NULL || m->help == NULL || (type == CORRAL_METRIC_SUMMARY && !m->window)) {
        prom_metric_free(m);
        return NULL;
    }
    return m;
}

void prom_metric_free(struct prom_metric *m)
{
    if (m == NULL)
        return;
    if (m->window != NULL)
        for (int i = 0; i < PROM_AGE_BUCKETS; i++)
            free(m->window->buckets[i].samples);
    free(m->window);
    free(m->name);
    free(m->help);
    free(m);
}

static uint64_t prom_random(struct prom_window *w)
{
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * 0x2545f4914f6cdd1du;
}

static void prom_window_observe(struct prom_window *w, double value, uint64_t now_ms)
{
    uint64_t slice = now_ms / PROM_SLICE_MS;
    struct prom_age_bucket *b = &w->buckets[slice % PROM_AGE_BUCKETS];
    if (b->slice != slice || b->seen == 0) {
        b->slice = slice;
        b->seen = 0;
        b->kept = 0;
    }
    b->seen++;
    if (b->kept < PROM_BUCKET_SAMPLES) {
        if (b->kept == b->cap) {
            uint32_t cap = b->cap == 0 ? 16 : 2 * b->cap;
            if (cap > PROM_BUCKET_SAMPLES)
                cap = PROM_BUCKET_SAMPLES;
            double *grown = realloc(b->samples, cap * sizeof *grown);
            if (grown == NULL)
                return; /* the kept values still stand for all seen, just less precisely */
            b->samples = grown;
            b->cap = cap;
        }
        b->samples[b->kept++] = value;
        return;
    }
    uint64_t j = (prom_random(w) >> 11) % b->seen;
    if (j < PROM_BUCKET_SAMPLES)
        b->samples[j] = value;
}

bool prom_metric_record(struct prom_metric *m, double value, uint64_t now_ms)
{
    switch (m->type) {
    case CORRAL_METRIC_COUNTER:
        /* simpleclient refuses a negative increment; NaN and infinities would stick forever. */
        if (!(value >= 0) || isinf(value))
            return false;
        m->value += value;
        return true;
    case CORRAL_METRIC_GAUGE:
        m->value = value;
        return true;
    default:
        if (isnan(value))
            return false;
        m->count++;
        m->sum += value;
        prom_window_observe(m->window, value, now_ms);
        return true;
    }
}

static int prom_weighted_cmp(const void *a, const void *b)
{
    double x = ((const struct prom_weighted *)a)->value;
    double y = ((const struct prom_weighted *)b)->value;
    return (x > y) - (x < y);
}

int prom_summary_quantiles(const struct prom_metric *m, uint64_t now_ms, double out[PROM_QUANTILES])
{
    for (int q = 0; q < PROM_QUANTILES; q++)
        out[q] = NAN;
    if (m->window == NULL)
        return 0;
    uint64_t slice = now_ms / PROM_SLICE_MS;
    size_t n = 0;
    double total = 0;
    for (int i = 0; i < PROM_AGE_BUCKETS; i++) {
        const struct prom_age_bucket *b = &m->window->buckets[i];
        if (b->seen > 0 && b->kept > 0 && b->slice <= slice && slice - b->slice < PROM_AGE_BUCKETS)
            n += b->kept;
    }
    if (n == 0)
        return 0;
    struct prom_weighted *all = malloc(n * sizeof *all);
    if (all == NULL)
        return -ENOMEM;
    n = 0;
    for (int i = 0; i < PROM_AGE_BUCKETS; i++) {
        const struct prom_age_bucket *b = &m->window->buckets[i];
        if (b->seen == 0 || b->kept == 0 || b->slice > slice ||
            slice - b->slice >= PROM_AGE_BUCKETS)
            continue;
        double weight = (double)b->seen / b->kept;
        for (uint32_t k = 0; k < b->kept; k++)
            all[n++] = (struct prom_weighted){b->samples[k], weight};
        total += (double)b->seen;
    }
    qsort(all, n, sizeof *all, prom_weighted_cmp);
    for (int q = 0; q < PROM_QUANTILES; q++) {
        /* Nearest rank: the least value with at least q of the weight at or below it. The
         * slack absorbs rounding in q * total (0.9 * 100 must reach rank 90, not 91). */
        double target = prom_quantiles[q] * total - total * 1e-12;
        double cum = 0;
        size_t k = 0;
        while (k + 1 < n && (cum += all[k].weight) < target)
            k++;
        out[q] = all[k].value;
    }
    free(all);
    return 0;
}

void prom_format_double(char out[PROM_DOUBLE_LEN], double v)
{
    if (isnan(v)) {
        strcpy(out, "NaN");
        return;
    }
    if (isinf(v)) {
        strcpy(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (v == 0) {
        strcpy(out, signbit(v) ? "-0.0" : "0.0");
        return;
    }
    /* The fewest significant digits that read back as v, as Java chooses them. */
    char sci[40];
    for (int prec = 0; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec, v);
        if (strtod(sci, NULL) == v)
            break;
    }
    char digits[24];
    size_t nd = 0;
    const char *p = sci + (sci[0] == '-');
    for (; *p != 'e' && *p != '\0' && nd < sizeof digits; p++)
        if (*p != '.')
            digits[nd++] = *p;
    int exp10 = *p == 'e' ? atoi(p + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;

    char *o = out;
    if (v < 0)
        *o++ = '-';
    double mag = v < 0 ? -v : v;
    if (mag >= 1e-3 && mag < 1e7) { /* Java's plain range; the rest is d.dddE±n */
        if (exp10 >= 0) {
            for (int i = 0; i <= exp10; i++)
                *o++ = (size_t)i < nd ? digits[i] : '0';
            *o++ = '.';
            if ((size_t)exp10 + 1 < nd) {
                memcpy(o, digits + exp10 + 1, nd - (size_t)exp10 - 1);
                o += nd - (size_t)exp10 - 1;
            } else {
                *o++ = '0';
            }
        } else {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -exp10 - 1; i++)
                *o++ = '0';
            memcpy(o, digits, nd);
            o += nd;
        }
        *o = '\0';
        return;
    }
    *o++ = digits[0];
    *o++ = '.';
    if (nd > 1) {
        memcpy(o, digits + 1, nd - 1);
        o += nd - 1;
    } else {
        *o++ = '0';
    }
    snprintf(o, (size_t)(out + PROM_DOUBLE_LEN - o), "E%d", exp10);
}

int prom_put_escaped(struct evbuffer *out, const char *s, bool is_label_value)
{
    const char *run = s;
    for (const char *p = s;; p++) {
        const char *esc = NULL;
        if (*p == '\\')
            esc = "\\\\";
        else if (*p == '\n')
            esc = "\\n";
        else if (*p == '"' && is_label_value)
            esc = "\\\"";
        else if (*p != '\0')
            continue;
        if (p > run && evbuffer_add(out, run, (size_t)(p - run)) != 0)
            return -ENOMEM;
        if (esc == NULL)
            return 0;
        if (evbuffer_add(out, esc, 2) != 0)
            return -ENOMEM;
        run = p + 1;
    }
}

static const char *prom_type_name(int type)
{
    switch (type) {
    case CORRAL_METRIC_COUNTER:
        return "counter";
    case CORRAL_METRIC_GAUGE:
        return "gauge";
    default:
        return "summary";
    }
}

/* One sample line: name[suffix][{quantile="q",}] value */
static int prom_put_sample(struct evbuffer *out, const char *name, const char *suffix,
                           const double *quantile, double value)
{
    char num[PROM_DOUBLE_LEN];
    prom_format_double(num, value);
    if (quantile == NULL)
        return evbuffer_add_printf(out, "%s%s %s\n", name, suffix, num) < 0 ? -ENOMEM : 0;
    char q[PROM_DOUBLE_LEN];
    prom_format_double(q, *quantile);
    /* simpleclient ends every label with a comma; the format allows it. */
    if (evbuffer_add_printf(out, "%s%s{quantile=\"", name, suffix) < 0 ||
        prom_put_escaped(out, q, true) < 0 || evbuffer_add_printf(out, "\",} %s\n", num) < 0)
        return -ENOMEM;
    return 0;
}

int prom_metric_write(struct evbuffer *out, struct prom_metric *m, uint64_t now_ms)
{
    if (evbuffer_add_printf(out, "# HELP %s ", m->name) < 0 ||
        prom_put_escaped(out, m->help, false) < 0 ||
        evbuffer_add_printf(out, "\n# TYPE %s %s\n", m->name, prom_type_name(m->type)) < 0)
        return -ENOMEM;
    if (m->type != CORRAL_METRIC_SUMMARY) {
        if (m->fn != NULL)
            m->value = m->fn(m->fn_arg); /* read at scrape time, as ZooKeeper samples gauges */
        return prom_put_sample(out, m->name, "", NULL, m->value);
    }
    double qv[PROM_QUANTILES];
    prom_summary_quantiles(m, now_ms, qv); /* on ENOMEM the quantiles read NaN */
    for (int q = 0; q < PROM_QUANTILES; q++)
        if (prom_put_sample(out, m->name, "", &prom_quantiles[q], qv[q]) < 0)
            return -ENOMEM;
    if (prom_put_sample(out, m->name, "_count", NULL, (double)m->count) < 0 ||
        prom_put_sample(out, m->name, "_sum", NULL, m->sum) < 0)
        return -ENOMEM;
    return 0;
}
