#include "host.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <corral/election.h>

#include "log.h"
#include "server.h"

static void host_log(struct corral_ctx *ctx, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, ctx->component, fmt, ap);
    va_end(ap);
}

static int host_fail(struct corral_ctx *ctx, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->fail_msg, sizeof ctx->fail_msg, fmt, ap);
    va_end(ap);
    return err < 0 ? err : -EINVAL;
}

static bool key_was_read(const struct corral_ctx *ctx, const char *key)
{
    if (strcmp(key, "plugin") == 0 || strcmp(key, "name") == 0)
        return true;
    for (size_t i = 0; i < ctx->n_keys_read; i++)
        if (strcmp(ctx->keys_read[i], key) == 0)
            return true;
    return false;
}

/* Looks a key up in the instance's group and remembers it was read. */
static config_setting_t *conf_key(struct corral_ctx *ctx, const char *key)
{
    if (ctx->conf == NULL)
        return NULL;
    config_setting_t *s = config_setting_get_member(ctx->conf->group, key);
    if (s != NULL && !key_was_read(ctx, key) &&
        ctx->n_keys_read < sizeof ctx->keys_read / sizeof ctx->keys_read[0])
        ctx->keys_read[ctx->n_keys_read++] = config_setting_name(s);
    return s;
}

static int conf_bad(struct corral_ctx *ctx, config_setting_t *s, const char *fmt, ...)
    CORRAL_PRINTF(3, 4);

static int conf_bad(struct corral_ctx *ctx, config_setting_t *s, const char *fmt, ...)
{
    int n = snprintf(ctx->fail_msg, sizeof ctx->fail_msg, "%s: ", config_setting_name(s));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->fail_msg + n, sizeof ctx->fail_msg - (size_t)n, fmt, ap);
    va_end(ap);
    ctx->fail_line = config_setting_source_line(s);
    return -EINVAL;
}

static int host_conf_int(struct corral_ctx *ctx, const char *key, int64_t min, int64_t max,
                         int64_t dflt, int64_t *out)
{
    config_setting_t *s = conf_key(ctx, key);
    if (s == NULL) {
        *out = dflt;
        return 0;
    }
    int type = config_setting_type(s);
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return conf_bad(ctx, s, "expected an integer from %" PRId64 " to %" PRId64, min, max);
    long long v = config_setting_get_int64(s);
    if (v < min || v > max)
        return conf_bad(ctx, s, "%lld is out of range; expected %" PRId64 " to %" PRId64, v, min,
                        max);
    *out = v;
    return 0;
}

static int host_conf_str(struct corral_ctx *ctx, const char *key, const char *dflt,
                         const char **out)
{
    config_setting_t *s = conf_key(ctx, key);
    if (s == NULL) {
        *out = dflt;
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return conf_bad(ctx, s, "expected a string");
    *out = config_setting_get_string(s);
    return 0;
}

static int host_conf_bool(struct corral_ctx *ctx, const char *key, bool dflt, bool *out)
{
    config_setting_t *s = conf_key(ctx, key);
    if (s == NULL) {
        *out = dflt;
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return conf_bad(ctx, s, "expected true or false");
    *out = config_setting_get_bool(s) != 0;
    return 0;
}

static struct event_base *host_loop(struct corral_ctx *ctx)
{
    return ctx->env->base;
}

static uint64_t host_now_ms(struct corral_ctx *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t host_max_frame_bytes(struct corral_ctx *ctx)
{
    return (uint32_t)ctx->env->cfg->max_packet_bytes;
}

static int host_cnxn_opened(struct corral_ctx *ctx, struct corral_cnxn *c)
{
    return server_cnxn_opened(ctx->env->srv, ctx->inst, c);
}

static bool host_cnxn_word(struct corral_ctx *ctx, struct corral_cnxn *c, const uint8_t *head,
                           size_t len)
{
    return server_cnxn_word(ctx->env->srv, c, head, len);
}

static void host_cnxn_frame(struct corral_ctx *ctx, struct corral_cnxn *c, const uint8_t *frame,
                            size_t len)
{
    server_cnxn_frame(ctx->env->srv, c, frame, len);
}

static void host_cnxn_closed(struct corral_ctx *ctx, struct corral_cnxn *c)
{
    server_cnxn_closed(ctx->env->srv, c);
}

/* Plugin-defined metrics are kept in a small table so a handle is a plain index. */
#define HOST_MAX_PLUGIN_METRICS 256
static void *plugin_metric_handles[HOST_MAX_PLUGIN_METRICS];
static uint32_t n_plugin_metrics;

static int host_metric_define_slot(struct corral_ctx *ctx, const char *name, int type,
                                   const char *help, uint32_t *handle)
{
    if (type < CORRAL_METRIC_COUNTER || type > CORRAL_METRIC_SUMMARY)
        return host_fail(ctx, -EINVAL, "metric %s: unknown metric type %d", name, type);
    if (n_plugin_metrics == HOST_MAX_PLUGIN_METRICS)
        return host_fail(ctx, -ENOSPC, "metric %s: more than %d plugin metrics", name,
                         HOST_MAX_PLUGIN_METRICS);
    plugin_metric_handles[n_plugin_metrics] = host_metric_define(ctx->env, name, type, help);
    *handle = n_plugin_metrics++;
    return 0;
}

static void host_metric_record_slot(struct corral_ctx *ctx, uint32_t handle, double value)
{
    if (handle < n_plugin_metrics)
        host_metric_record(ctx->env, plugin_metric_handles[handle], value);
}

static int host_peer_send(struct corral_ctx *ctx, int64_t sid, const uint8_t *msg, size_t len)
{
    (void)sid, (void)msg, (void)len;
    return host_fail(ctx, -ENOTCONN, "standalone mode has no peers");
}

static int host_election_decided(struct corral_ctx *ctx, const struct corral_vote *vote)
{
    (void)vote;
    return host_fail(ctx, -ENOTCONN, "standalone mode holds no elections");
}

const struct corral_host host_table = {
    .version = CORRAL_HOST_VERSION,
    .log = host_log,
    .fail = host_fail,
    .conf_int = host_conf_int,
    .conf_str = host_conf_str,
    .conf_bool = host_conf_bool,
    .loop = host_loop,
    .now_ms = host_now_ms,
    .max_frame_bytes = host_max_frame_bytes,
    .cnxn_opened = host_cnxn_opened,
    .cnxn_word = host_cnxn_word,
    .cnxn_frame = host_cnxn_frame,
    .cnxn_closed = host_cnxn_closed,
    .metric_define = host_metric_define_slot,
    .metric_record = host_metric_record_slot,
    .peer_send = host_peer_send,
    .election_decided = host_election_decided,
};

/* "corral.conf:14: listeners.[1] (cnxn-tls, /path/cnxn-tls.so): " */
static int describe(const struct instance *in, int line, char *buf, size_t len)
{
    const struct plugin_conf *pc = in->ctx.conf;
    /* the descriptor's name: the config may have named the plugin by its path */
    const char *name = in->lib.desc != NULL ? in->lib.desc->name : pc->plugin;
    return snprintf(buf, len, "%s:%d: %s (%s, %s): ", in->ctx.env->cfg->file,
                    line > 0 ? line : pc->line, pc->where, name, in->lib.path);
}

static int report(struct instance *in, int rc, const char *stage, char *err, size_t err_len)
{
    int n = describe(in, in->ctx.fail_line, err, err_len);
    if (n < 0 || (size_t)n >= err_len)
        return rc;
    if (in->ctx.fail_msg[0] != '\0')
        snprintf(err + n, err_len - (size_t)n, "%s failed: %s", stage, in->ctx.fail_msg);
    else
        snprintf(err + n, err_len - (size_t)n, "%s failed: %s (the plugin gave no reason)", stage,
                 strerror(rc < 0 ? -rc : EINVAL));
    return rc;
}


static void ctx_init(struct instance *in, struct host_env *env, const struct plugin_conf *pc,
                     const char *plugin_name)
{
    memset(in, 0, sizeof *in);
    in->ctx.env = env;
    in->ctx.inst = in;
    in->ctx.conf = pc;
    if (pc != NULL && strcmp(pc->name, pc->where) != 0 && strcmp(pc->name, "metrics") != 0)
        snprintf(in->ctx.component, sizeof in->ctx.component, "%s[%s]", plugin_name, pc->name);
    else
        snprintf(in->ctx.component, sizeof in->ctx.component, "%s", plugin_name);
}

int instance_create(struct instance *in, struct host_env *env, const struct plugin_conf *pc,
                    uint32_t kind, char *err, size_t err_len)
{
    ctx_init(in, env, pc, pc->plugin);
    char why[1024];
    int rc = plugin_load(env->plugin_dir, pc->plugin, kind, &in->lib, why, sizeof why);
    if (rc < 0) {
        snprintf(err, err_len, "%s:%d: %s: %s", env->cfg->file, pc->line, pc->where, why);
        return rc;
    }
    const char *pname = in->lib.desc->name;
    snprintf(in->ctx.component, sizeof in->ctx.component, "%s[%s]", pname, pc->name);
    const struct corral_host *h = &host_table;
    void *self = NULL;
    switch (kind) {
    case CORRAL_KIND_CNXN:
        rc = in->lib.desc->ops.cnxn->create(h, &in->ctx, &self);
        break;
    case CORRAL_KIND_METRICS:
        rc = in->lib.desc->ops.metrics->create(h, &in->ctx, &self);
        break;
    default:
        rc = in->lib.desc->ops.election->create(h, &in->ctx, &self);
        break;
    }
    if (rc < 0) {
        report(in, rc, "create", err, err_len);
        plugin_unload(&in->lib);
        return rc;
    }
    in->self = self;
    for (int i = 0; i < config_setting_length(pc->group); i++) {
        config_setting_t *s = config_setting_get_elem(pc->group, (unsigned)i);
        if (!key_was_read(&in->ctx, config_setting_name(s))) {
            snprintf(err, err_len, "%s:%d: %s: unknown key \"%s\" (plugin %s)", env->cfg->file,
                     config_setting_source_line(s), pc->where, config_setting_name(s), pname);
            instance_destroy(in);
            return -EINVAL;
        }
    }
    return 0;
}

/* Every kind's lifecycle slots sit at the same place after `version`, so one helper serves
 * them all; the static asserts keep that true. */
struct lifecycle_ops {
    uint32_t version;
    int (*create)(const struct corral_host *, struct corral_ctx *, void **);
    int (*start)(void *);
    void (*stop)(void *);
    void (*destroy)(void *);
};
_Static_assert(offsetof(struct corral_cnxn_ops, stop) == offsetof(struct lifecycle_ops, stop),
               "cnxn ops lifecycle layout");
_Static_assert(offsetof(struct corral_metrics_ops, stop) == offsetof(struct lifecycle_ops, stop),
               "metrics ops lifecycle layout");
_Static_assert(offsetof(struct corral_election_ops, stop) == offsetof(struct lifecycle_ops, stop),
               "election ops lifecycle layout");

static const struct lifecycle_ops *lifecycle(const struct instance *in)
{
    return (const struct lifecycle_ops *)(const void *)in->lib.desc->ops.cnxn;
}

int instance_start(struct instance *in, char *err, size_t err_len)
{
    in->ctx.fail_msg[0] = '\0';
    in->ctx.fail_line = 0;
    int rc = lifecycle(in)->start(in->self);
    if (rc < 0)
        return report(in, rc, "start", err, err_len);
    in->started = true;
    return 0;
}

void instance_stop(struct instance *in)
{
    if (in->lib.desc != NULL && in->self != NULL)
        lifecycle(in)->stop(in->self);
    in->started = false;
}

void instance_release(struct instance *in)
{
    if (in->lib.desc != NULL && in->self != NULL)
        lifecycle(in)->destroy(in->self);
    in->self = NULL;
}

void instance_unload(struct instance *in)
{
    plugin_unload(&in->lib);
}

void instance_destroy(struct instance *in)
{
    instance_release(in);
    instance_unload(in);
}

/* The null metrics provider. */
static int null_create(const struct corral_host *h, struct corral_ctx *ctx, void **self)
{
    (void)h, (void)ctx;
    *self = (void *)&host_table; /* any non-NULL token: it keeps no state */
    return 0;
}
static int null_start(void *self)
{
    (void)self;
    return 0;
}
static void null_void(void *self)
{
    (void)self;
}
static int null_define(void *self, const char *name, int type, const char *help, void **handle)
{
    (void)self, (void)name, (void)type, (void)help;
    *handle = NULL;
    return 0;
}
static int null_gauge(void *self, const char *name, const char *help, corral_gauge_fn fn,
                      void *arg)
{
    (void)self, (void)name, (void)help, (void)fn, (void)arg;
    return 0;
}
static void null_record(void *self, void *handle, double value)
{
    (void)self, (void)handle, (void)value;
}
static const struct corral_metrics_ops null_metrics_ops = {
    .version = CORRAL_METRICS_OPS_VERSION,
    .create = null_create,
    .start = null_start,
    .stop = null_void,
    .destroy = null_void,
    .define = null_define,
    .gauge = null_gauge,
    .record = null_record,
};
static const struct corral_plugin null_metrics_plugin = {
    .abi = CORRAL_ABI,
    .kind = CORRAL_KIND_METRICS,
    .name = "null-metrics",
    .version = CORRAL_VERSION,
    .ops = {.metrics = &null_metrics_ops},
};

void instance_init_null_metrics(struct instance *in, struct host_env *env)
{
    ctx_init(in, env, NULL, "null-metrics");
    in->lib.desc = &null_metrics_plugin;
    snprintf(in->lib.path, sizeof in->lib.path, "(built in)");
    null_create(&host_table, &in->ctx, &in->self);
}

void *host_metric_define(struct host_env *env, const char *name, int type, const char *help)
{
    void *handle = NULL;
    const struct instance *m = env->metrics;
    if (m->lib.desc->ops.metrics->define(m->self, name, type, help, &handle) < 0)
        log_warn("metrics", "metric %s could not be defined: %s", name, m->ctx.fail_msg);
    return handle;
}

void host_metric_gauge(struct host_env *env, const char *name, const char *help,
                       corral_gauge_fn fn, void *arg)
{
    const struct instance *m = env->metrics;
    if (m->lib.desc->ops.metrics->gauge(m->self, name, help, fn, arg) < 0)
        log_warn("metrics", "gauge %s could not be defined: %s", name, m->ctx.fail_msg);
}
