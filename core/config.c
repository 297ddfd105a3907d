#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fourletter.h"
#include "log.h"
#include "sasl.h"

const char config_embedded_default[] =
    "# corral's embedded default: standalone, loopback, a temporary data directory.\n"
    "tick_time_ms = 2000;\n"
    "listeners = ( { name = \"client\"; plugin = \"cnxn-nio\"; address = \"127.0.0.1\";"
    " port = 2181; } );\n"
    "admin = { enabled = true; address = \"127.0.0.1\"; port = 8080; };\n";

/* Every top-level key, so that a misspelt one is an error rather than silently ignored. */
static const char *const known_keys[] = {
    "data_dir", "data_log_dir", "plugin_dir", "log_level", "tick_time_ms",
    "min_session_timeout_ms", "max_session_timeout_ms", "max_client_cnxns", "max_packet_bytes",
    "four_letter_words", "super_digest", "extended_types",
    "container_check_interval_ms", "container_max_per_minute", "listeners", "metrics",
    "election", "quorum", "snap_count", "prealloc_kb", "force_sync",
    "fsync_warning_threshold_ms", "autopurge", "sasl", "admin",
};

struct parse {
    struct config *cfg;
    char *err;
    size_t err_len;
};

static int parse_fail(struct parse *p, const config_setting_t *s, const char *fmt, ...)
    CORRAL_PRINTF(3, 4);

static int parse_fail(struct parse *p, const config_setting_t *s, const char *fmt, ...)
{
    int line = s != NULL ? config_setting_source_line(s) : 0;
    int n = line > 0 ? snprintf(p->err, p->err_len, "%s:%d: ", p->cfg->file, line)
                     : snprintf(p->err, p->err_len, "%s: ", p->cfg->file);
    if (n < 0 || (size_t)n >= p->err_len)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->err_len - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int get_int(struct parse *p, const char *key, int64_t min, int64_t max, int64_t dflt,
                   int64_t *out)
{
    config_setting_t *s = config_lookup(&p->cfg->lc, key);
    if (s == NULL) {
        *out = dflt;
        return 0;
    }
    int type = config_setting_type(s);
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return parse_fail(p, s, "%s: expected an integer from %" PRId64 " to %" PRId64, key, min,
                          max);
    long long v = config_setting_get_int64(s);
    if (v < min || v > max)
        return parse_fail(p, s, "%s: %lld is out of range; expected %" PRId64 " to %" PRId64, key,
                          v, min, max);
    *out = v;
    return 0;
}

static int get_str(struct parse *p, const char *key, const char **out)
{
    config_setting_t *s = config_lookup(&p->cfg->lc, key);
    *out = NULL;
    if (s == NULL)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return parse_fail(p, s, "%s: expected a string", key);
    *out = config_setting_get_string(s);
    return 0;
}

static int get_bool(struct parse *p, const char *key, bool dflt, bool *out)
{
    config_setting_t *s = config_lookup(&p->cfg->lc, key);
    if (s == NULL) {
        *out = dflt;
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_BOOL)
        return parse_fail(p, s, "%s: expected true or false", key);
    *out = config_setting_get_bool(s) != 0;
    return 0;
}

/* A plugin group: "plugin" (required) and "name" belong to the host, the rest to the plugin. */
static int parse_plugin_group(struct parse *p, config_setting_t *g, const char *where,
                              const char *dflt_name, struct plugin_conf *out)
{
    if (!config_setting_is_group(g))
        return parse_fail(p, g, "%s: expected a group { plugin = \"...\"; ... }", where);
    out->group = g;
    out->line = config_setting_source_line(g);
    out->name = dflt_name;
    const char *plugin = NULL;
    config_setting_t *s = config_setting_get_member(g, "plugin");
    if (s == NULL)
        return parse_fail(p, g, "%s: missing key \"plugin\"", where);
    if (config_setting_type(s) != CONFIG_TYPE_STRING ||
        (plugin = config_setting_get_string(s))[0] == '\0')
        return parse_fail(p, s, "%s: plugin: expected a plugin name or an absolute path", where);
    out->plugin = plugin;
    s = config_setting_get_member(g, "name");
    if (s != NULL) {
        if (config_setting_type(s) != CONFIG_TYPE_STRING)
            return parse_fail(p, s, "%s: name: expected a string", where);
        out->name = config_setting_get_string(s);
    }
    return 0;
}

/* admin = { enabled; address; port; command_url; }: ZooKeeper's admin.* keys. */
static int parse_admin(struct parse *p)
{
    struct config *cfg = p->cfg;
    config_setting_t *g = config_lookup(&cfg->lc, "admin");
    if (g != NULL) {
        if (!config_setting_is_group(g))
            return parse_fail(p, g, "admin: expected a group { enabled = true; port = 8080; }");
        cfg->admin_line = config_setting_source_line(g);
        static const char *const keys[] = {"enabled", "address", "port", "command_url"};
        for (int i = 0; i < config_setting_length(g); i++) {
            config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
            bool known = false;
            for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
                known = known || strcmp(config_setting_name(s), keys[k]) == 0;
            if (!known)
                return parse_fail(p, s, "admin: unknown key \"%s\"", config_setting_name(s));
        }
    }
    if (get_bool(p, "admin.enabled", true, &cfg->admin_enabled) ||
        get_int(p, "admin.port", 1, 65535, 8080, &cfg->admin_port) ||
        get_str(p, "admin.address", &cfg->admin_address) ||
        get_str(p, "admin.command_url", &cfg->admin_command_url))
        return -1;
    if (cfg->admin_address == NULL)
        cfg->admin_address = "127.0.0.1";
    else if (cfg->admin_address[0] == '\0')
        return parse_fail(p, config_lookup(&cfg->lc, "admin.address"),
                          "admin.address: expected an address to listen on, e.g. \"127.0.0.1\"");
    if (cfg->admin_command_url == NULL)
        cfg->admin_command_url = "/commands";
    else if (cfg->admin_command_url[0] != '/' || strpbrk(cfg->admin_command_url, "?# \t") != NULL)
        return parse_fail(p, config_lookup(&cfg->lc, "admin.command_url"),
                          "admin.command_url: \"%s\" is not a URL path such as \"/commands\"",
                          cfg->admin_command_url);
    return 0;
}

/* sasl = { jaas_file = "..."; section = "Server"; super_user = "super"; }: the JAAS file is
 * read now, so a bad one stops start-up (and --check) with its own file and line. */
static int parse_sasl(struct parse *p, config_setting_t *g)
{
    struct config *cfg = p->cfg;
    if (!config_setting_is_group(g))
        return parse_fail(p, g, "sasl: expected a group { jaas_file = \"...\"; }");
    const char *file = NULL, *section = "Server";
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(s), **to = NULL;
        if (strcmp(name, "jaas_file") == 0)
            to = &file;
        else if (strcmp(name, "section") == 0)
            to = &section;
        else if (strcmp(name, "super_user") == 0)
            to = &cfg->sasl_super_user;
        else
            return parse_fail(p, s, "sasl: unknown key \"%s\"", name);
        if (config_setting_type(s) != CONFIG_TYPE_STRING ||
            (*to = config_setting_get_string(s))[0] == '\0')
            return parse_fail(p, s, "sasl.%s: expected a non-empty string", name);
    }
    if (file == NULL)
        return parse_fail(p, g,
                          "sasl: missing key \"jaas_file\" (the JAAS file with the "
                          "users, as ZooKeeper's java.security.auth.login.config)");
    char why[512];
    if (sasl_users_load(file, section, &cfg->sasl_users, why, sizeof why) != 0)
        return parse_fail(p, config_setting_get_member(g, "jaas_file"), "sasl.jaas_file: %s", why);
    return 0;
}

static int validate(struct parse *p)
{
    struct config *cfg = p->cfg;
    config_setting_t *root = config_root_setting(&cfg->lc);
    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);
        bool known = false;
        for (size_t k = 0; k < sizeof known_keys / sizeof known_keys[0]; k++)
            known = known || strcmp(name, known_keys[k]) == 0;
        if (!known)
            return parse_fail(p, s, "unknown key \"%s\"", name);
    }
    if (config_lookup(&cfg->lc, "quorum") != NULL)
        return parse_fail(p, config_lookup(&cfg->lc, "quorum"),
                          "quorum: distributed mode is not supported by this release; "
                          "remove the quorum group to run standalone");

    const char *level = NULL;
    if (get_str(p, "data_dir", &cfg->data_dir) || get_str(p, "data_log_dir", &cfg->data_log_dir) ||
        get_str(p, "plugin_dir", &cfg->plugin_dir) || get_str(p, "log_level", &level) ||
        get_str(p, "super_digest", &cfg->super_digest))
        return -1;
    cfg->log_level = CORRAL_LOG_INFO;
    if (level != NULL && (cfg->log_level = log_parse_level(level)) < 0)
        return parse_fail(p, config_lookup(&cfg->lc, "log_level"),
                          "log_level: \"%s\" is not one of error, warn, info, debug", level);
    if (cfg->data_dir != NULL && cfg->data_dir[0] == '\0')
        cfg->data_dir = NULL;
    if (cfg->data_log_dir == NULL || cfg->data_log_dir[0] == '\0')
        cfg->data_log_dir = cfg->data_dir;
    if (cfg->super_digest != NULL && strchr(cfg->super_digest, ':') == NULL)
        return parse_fail(p, config_lookup(&cfg->lc, "super_digest"),
                          "super_digest: expected \"super:<base64 of sha1(super:password)>\"");

    if (get_int(p, "tick_time_ms", 1, 3600000, 2000, &cfg->tick_ms) ||
        get_int(p, "min_session_timeout_ms", 1, INT32_MAX, 2 * cfg->tick_ms,
                &cfg->min_session_timeout_ms) ||
        get_int(p, "max_session_timeout_ms", 1, INT32_MAX, 20 * cfg->tick_ms,
                &cfg->max_session_timeout_ms) ||
        get_int(p, "max_client_cnxns", 0, 1000000, 60, &cfg->max_client_cnxns) ||
        get_int(p, "max_packet_bytes", 1024, INT32_MAX / 2, 1048575, &cfg->max_packet_bytes) ||
        get_int(p, "container_check_interval_ms", 1, 86400000, 60000,
                &cfg->container_check_interval_ms) ||
        get_int(p, "container_max_per_minute", 1, 100000000, 10000,
                &cfg->container_max_per_minute) ||
        get_bool(p, "extended_types", false, &cfg->extended_types) ||
        get_int(p, "snap_count", 2, INT32_MAX, 100000, &cfg->snap_count) ||
        get_int(p, "prealloc_kb", 0, 1 << 22, 65536, &cfg->prealloc_kb) ||
        get_bool(p, "force_sync", true, &cfg->force_sync) ||
        get_int(p, "fsync_warning_threshold_ms", 1, 3600000, 1000,
                &cfg->fsync_warning_threshold_ms) ||
        get_int(p, "autopurge.snap_retain_count", 3, 1000000, 3, &cfg->purge_snap_retain_count) ||
        get_int(p, "autopurge.purge_interval", 0, 24 * 365, 0, &cfg->purge_interval_h))
        return -1;
    config_setting_t *ap = config_lookup(&cfg->lc, "autopurge");
    if (ap != NULL) {
        if (!config_setting_is_group(ap))
            return parse_fail(p, ap, "autopurge: expected a group { snap_retain_count = 3; "
                                     "purge_interval = 24; }");
        for (int i = 0; i < config_setting_length(ap); i++) {
            config_setting_t *s = config_setting_get_elem(ap, (unsigned)i);
            const char *name = config_setting_name(s);
            if (strcmp(name, "snap_retain_count") != 0 && strcmp(name, "purge_interval") != 0)
                return parse_fail(p, s, "autopurge: unknown key \"%s\"", name);
        }
    }
    if (cfg->min_session_timeout_ms > cfg->max_session_timeout_ms)
        return parse_fail(p,
                          config_lookup(&cfg->lc, "min_session_timeout_ms")
                              ? config_lookup(&cfg->lc, "min_session_timeout_ms")
                              : config_lookup(&cfg->lc, "max_session_timeout_ms"),
                          "min_session_timeout_ms: %" PRId64
                          " is above max_session_timeout_ms %" PRId64,
                          cfg->min_session_timeout_ms, cfg->max_session_timeout_ms);

    const char *words = NULL;
    if (get_str(p, "four_letter_words", &words))
        return -1;
    char why[128];
    if (flw_parse_whitelist(words != NULL ? words : "srvr", &cfg->four_letter_words, why,
                            sizeof why) != 0)
        return parse_fail(p, config_lookup(&cfg->lc, "four_letter_words"),
                          "four_letter_words: %s", why);

    config_setting_t *ls = config_lookup(&cfg->lc, "listeners");
    if (ls == NULL)
        return parse_fail(p, root, "missing key \"listeners\": at least one client listener "
                                   "is needed");
    if (!config_setting_is_list(ls) || config_setting_length(ls) == 0)
        return parse_fail(p, ls, "listeners: expected a list of groups ( { plugin = ...; } )");
    int n = config_setting_length(ls);
    if ((size_t)n > sizeof cfg->listeners / sizeof cfg->listeners[0])
        return parse_fail(p, ls, "listeners: %d listeners; at most %zu are supported", n,
                          sizeof cfg->listeners / sizeof cfg->listeners[0]);
    for (int i = 0; i < n; i++) {
        struct plugin_conf *l = &cfg->listeners[i];
        snprintf(l->where, sizeof l->where, "listeners.[%d]", i);
        if (parse_plugin_group(p, config_setting_get_elem(ls, (unsigned)i), l->where, "client",
                               l))
            return -1;
        for (int j = 0; j < i; j++)
            if (strcmp(cfg->listeners[j].name, cfg->listeners[i].name) == 0)
                return parse_fail(p, cfg->listeners[i].group,
                                  "%s: name \"%s\" is already used by listeners.[%d]; give "
                                  "each listener its own name",
                                  l->where, l->name, j);
    }
    cfg->n_listeners = (size_t)n;

    config_setting_t *m = config_lookup(&cfg->lc, "metrics");
    if (m != NULL) {
        snprintf(cfg->metrics.where, sizeof cfg->metrics.where, "metrics");
        if (parse_plugin_group(p, m, "metrics", "metrics", &cfg->metrics))
            return -1;
        cfg->has_metrics = true;
    }
    if (parse_admin(p) != 0)
        return -1;
    config_setting_t *sasl = config_lookup(&cfg->lc, "sasl");
    if (sasl != NULL && parse_sasl(p, sasl) != 0)
        return -1;
    config_setting_t *e = config_lookup(&cfg->lc, "election");
    if (e != NULL && !config_setting_is_group(e))
        return parse_fail(p, e, "election: expected a group { plugin = \"...\"; }");
    return 0;
}

static int finish(struct config *cfg, int read_ok, char *err, size_t err_len)
{
    if (!read_ok) {
        const char *f = config_error_file(&cfg->lc);
        if (config_error_type(&cfg->lc) == CONFIG_ERR_FILE_IO)
            snprintf(err, err_len, "%s: cannot read: %s", cfg->file, strerror(errno));
        else
            snprintf(err, err_len, "%s:%d: %s", f != NULL ? f : cfg->file,
                     config_error_line(&cfg->lc), config_error_text(&cfg->lc));
        return -1;
    }
    struct parse p = {cfg, err, err_len};
    return validate(&p);
}

int config_load_file(struct config *cfg, const char *path, char *err, size_t err_len)
{
    memset(cfg, 0, sizeof *cfg);
    config_init(&cfg->lc);
    snprintf(cfg->file, sizeof cfg->file, "%s", path);
    errno = 0;
    return finish(cfg, config_read_file(&cfg->lc, path) == CONFIG_TRUE, err, err_len);
}

int config_load_string(struct config *cfg, const char *name, const char *text, char *err,
                       size_t err_len)
{
    memset(cfg, 0, sizeof *cfg);
    config_init(&cfg->lc);
    snprintf(cfg->file, sizeof cfg->file, "%s", name);
    return finish(cfg, config_read_string(&cfg->lc, text) == CONFIG_TRUE, err, err_len);
}

void config_free(struct config *cfg)
{
    sasl_users_free(cfg->sasl_users);
    cfg->sasl_users = NULL;
    config_destroy(&cfg->lc);
}
