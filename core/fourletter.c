/* Four-letter words (client-protocol.md §9): the command table, the whitelist and the text each
 * command answers, laid out byte for byte as ZooKeeper 3.8 prints it. */
#include "fourletter.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <libconfig.h>

#include "server_internal.h"
#include "server_metrics.h"

/* The ZooKeeper release whose behaviour we follow; kazoo parses the leading digits. */
#define FLW_ZK_VERSION "3.8.4"

static const struct {
    const char *name;
    uint32_t code;
} flw_table[FLW_COUNT] = {
    [FLW_CONF] = {"conf", 0x636f6e66},
    [FLW_CONS] = {"cons", 0x636f6e73},
    [FLW_CRST] = {"crst", 0x63727374},
    [FLW_DIRS] = {"dirs", 0x64697273},
    [FLW_DUMP] = {"dump", 0x64756d70},
    [FLW_ENVI] = {"envi", 0x656e7669},
    [FLW_GTMK] = {"gtmk", 0x67746d6b},
    [FLW_RUOK] = {"ruok", 0x72756f6b},
    [FLW_STMK] = {"stmk", 0x73746d6b},
    [FLW_SRST] = {"srst", 0x73727374},
    [FLW_SRVR] = {"srvr", 0x73727672},
    [FLW_STAT] = {"stat", 0x73746174},
    [FLW_WCHC] = {"wchc", 0x77636863},
    [FLW_WCHP] = {"wchp", 0x77636870},
    [FLW_WCHS] = {"wchs", 0x77636873},
    [FLW_MNTR] = {"mntr", 0x6d6e7472},
    [FLW_ISRO] = {"isro", 0x6973726f},
    [FLW_HASH] = {"hash", 0x68617368},
    [FLW_TELNET_CLOSE] = {"telnet close", 0xfff4fffd},
};

int flw_lookup(uint32_t word)
{
    for (int i = 0; i < FLW_COUNT; i++)
        if (flw_table[i].code == word)
            return i;
    return -1;
}

const char *flw_name(int cmd)
{
    return cmd >= 0 && cmd < FLW_COUNT ? flw_table[cmd].name : NULL;
}

int flw_parse_whitelist(const char *list, uint32_t *out, char *err, size_t err_len)
{
    uint32_t bits = 1u << FLW_SRVR;
    const char *p = list;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        size_t n = (size_t)(b - a);
        if (n == 1 && *a == '*') {
            bits |= ((1u << FLW_COUNT) - 1) & ~(1u << FLW_TELNET_CLOSE);
        } else if (n > 0) {
            int cmd = -1;
            for (int i = 0; i < FLW_COUNT && cmd < 0; i++)
                if (i != FLW_TELNET_CLOSE && strlen(flw_table[i].name) == n &&
                    memcmp(flw_table[i].name, a, n) == 0)
                    cmd = i;
            if (cmd < 0) {
                snprintf(err, err_len, "unknown four-letter word \"%.*s\"", (int)(n > 64 ? 64 : n),
                         a);
                return -1;
            }
            bits |= 1u << cmd;
        }
        p = *end == ',' ? end + 1 : end;
    }
    *out = bits;
    return 0;
}

/* Java's Double.toString of an already rounded value: the shortest decimal that reads back as
 * v, plain for 1e-3 <= |v| < 1e7 ("2.5", "11.0"), else "d.dddE<exp>" ("5.0E-4"). */
static void java_double_string(double v, char *out, size_t len)
{
    if (isnan(v)) {
        snprintf(out, len, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, len, "%sInfinity", v < 0 ? "-" : "");
        return;
    }
    if (v == 0) {
        snprintf(out, len, "0.0");
        return;
    }
    char sci[40];
    for (int prec = 0; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec, v);
        if (strtod(sci, NULL) == v)
            break;
    }
    /* sci is "[-]d.ddde[+-]xx": gather the digits and the decimal exponent. */
    const char *s = sci;
    bool neg = *s == '-';
    s += neg;
    char digits[24];
    size_t nd = 0;
    for (; *s != 'e'; s++)
        if (isdigit((unsigned char)*s))
            digits[nd++] = *s;
    int exp10 = atoi(s + 1);
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';

    char body[64];
    double mag = fabs(v);
    if (mag >= 1e-3 && mag < 1e7) {
        if (exp10 >= 0) {
            char ip[16], fp[24];
            size_t ni = (size_t)exp10 + 1;
            for (size_t i = 0; i < ni; i++)
                ip[i] = i < nd ? digits[i] : '0';
            ip[ni] = '\0';
            snprintf(fp, sizeof fp, "%s", nd > ni ? digits + ni : "0");
            snprintf(body, sizeof body, "%s.%s", ip, fp);
        } else {
            snprintf(body, sizeof body, "0.%.*s%s", -exp10 - 1, "000", digits);
        }
    } else {
        snprintf(body, sizeof body, "%c.%sE%d", digits[0], nd > 1 ? digits + 1 : "0", exp10);
    }
    snprintf(out, len, "%s%s", neg ? "-" : "", body);
}

void flw_format_double(double v, char *out, size_t len)
{
    /* Round to 4 decimals HALF_UP on the exact binary value, as BigDecimal.setScale does: the
     * exact expansion is truncated after the 5th decimal, whose digit decides. 40 digits are
     * exact enough that printf's own rounding cannot carry into the 5th. */
    if (isfinite(v) && fabs(v) < 1e14) {
        char buf[80];
        snprintf(buf, sizeof buf, "%.40f", fabs(v));
        const char *dot = strchr(buf, '.');
        int64_t k = 0;
        for (const char *p = buf; p < dot; p++)
            k = k * 10 + (*p - '0');
        for (int i = 1; i <= 4; i++)
            k = k * 10 + (dot[i] - '0');
        if (dot[5] >= '5')
            k++;
        double r = (double)k / 10000.0;
        v = v < 0 && k != 0 ? -r : r;
    }
    java_double_string(v, out, len);
}

/* "3.8.4-corral-0.1.0, built on 2025-01-05 13:04 UTC", shared by srvr, stat, mntr and envi. */
void flw_server_version(char *out, size_t len)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    const char *date = __DATE__, *tm = __TIME__; /* "Jan  5 2025", "13:04:59" */
    int month = 1;
    for (int i = 0; i < 12; i++)
        if (strncmp(months + 3 * i, date, 3) == 0)
            month = i + 1;
    snprintf(out, len, "%s-corral-%s, built on %.4s-%02d-%02d %.5s UTC", FLW_ZK_VERSION,
             CORRAL_VERSION, date + 7, month, atoi(date + 4), tm);
}

static void put(struct jute_writer *w, const char *s)
{
    jute_write_raw(w, s, strlen(s));
}

static void putf(struct jute_writer *w, const char *fmt, ...) CORRAL_PRINTF(2, 3);

static void putf(struct jute_writer *w, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        jute_write_raw(w, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
        w->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    jute_write_raw(w, big, (size_t)n);
    free(big);
}

/* The clocks server_wall_ms/server_mono_ms read. Called directly so that fourletter.o, which
 * config.o needs for the whitelist, does not drag the whole server into every link. */
static int64_t flw_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t flw_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Java's InetSocketAddress.toString: "/127.0.0.1:2181", IPv6 as 8 unabbreviated groups. */
void flw_conn_address(const struct conn *c, char *out, size_t len)
{
    if (c->cnxn == NULL) {
        snprintf(out, len, "/0.0.0.0:0");
        return;
    }
    const struct corral_cnxn *x = c->cnxn;
    char host[48];
    snprintf(host, sizeof host, "%s", x->peer_addr);
    char *scope = strchr(host, '%');
    if (scope != NULL)
        *scope++ = '\0';
    struct in6_addr a6;
    if (x->is_ipv6 && inet_pton(AF_INET6, host, &a6) == 1) {
        const uint8_t *b = a6.s6_addr;
        snprintf(out, len, "/%x:%x:%x:%x:%x:%x:%x:%x%s%s:%u", b[0] << 8 | b[1], b[2] << 8 | b[3],
                 b[4] << 8 | b[5], b[6] << 8 | b[7], b[8] << 8 | b[9], b[10] << 8 | b[11],
                 b[12] << 8 | b[13], b[14] << 8 | b[15], scope != NULL ? "%" : "",
                 scope != NULL ? scope : "", (unsigned)x->peer_port);
    } else {
        snprintf(out, len, "/%s:%u", host, (unsigned)x->peer_port);
    }
}

static int64_t latency_min(const struct latency_stats *l)
{
    return l->count > 0 ? l->min_ms : 0;
}

static double latency_avg(const struct latency_stats *l)
{
    return l->count > 0 ? (double)l->total_ms / (double)l->count : 0.0;
}

static int64_t conn_session_id(const struct conn *c)
{
    return c != NULL && c->session != NULL ? c->session->id : 0;
}

/* One line of stat (brief) or cons, without its newline (ServerCnxn.dumpConnectionInfo). */
static void put_conn(struct jute_writer *w, const struct conn *c, const void *self_conn, bool brief)
{
    char addr[96];
    flw_conn_address(c, addr, sizeof addr);
    /* Only the asking 4lw connection has stopped reading, as in ZooKeeper. */
    int interest = c == self_conn || c->is_four_letter ? 0 : 1;
    putf(w, " %s[%x](queued=%zu,recved=%" PRIu64 ",sent=%" PRIu64, addr, interest, c->queued,
         c->packets_received, c->packets_sent);
    if (!brief && c->session != NULL) {
        const struct latency_stats *l = &c->latency;
        putf(w, ",sid=0x%" PRIx64 ",lop=%s,est=%" PRId64 ",to=%" PRId32, (uint64_t)c->session->id,
             c->last_op != NULL ? c->last_op : "NA", c->established_ms, c->session->timeout_ms);
        if (c->last_cxid >= 0)
            putf(w, ",lcxid=0x%" PRIx64, (uint64_t)c->last_cxid);
        putf(w,
             ",lzxid=0x%" PRIx64 ",lresp=%" PRIu64 ",llat=%" PRId64 ",minlat=%" PRId64
             ",avglat=%" PRId64 ",maxlat=%" PRId64,
             (uint64_t)c->last_zxid, c->last_response_ms, c->last_latency_ms, latency_min(l),
             l->count > 0 ? l->total_ms / l->count : 0, l->max_ms);
    }
    put(w, ")");
}

static void answer_srvr(struct server *srv, bool with_clients, const void *self_conn,
                        struct jute_writer *w)
{
    char version[96], avg[32];
    flw_server_version(version, sizeof version);
    putf(w, "Zookeeper version: %s\n", version);
    if (with_clients) {
        put(w, "Clients:\n");
        for (const struct conn *c = srv->conns; c != NULL; c = c->next) {
            put_conn(w, c, self_conn, true);
            put(w, "\n");
        }
        put(w, "\n");
    }
    flw_format_double(latency_avg(&srv->latency), avg, sizeof avg);
    putf(w,
         "Latency min/avg/max: %" PRId64 "/%s/%" PRId64 "\nReceived: %" PRIu64 "\nSent: %" PRIu64
         "\nConnections: %zu\nOutstanding: %" PRIu64 "\nZxid: 0x%" PRIx64
         "\nMode: standalone\nNode count: %" PRId64 "\n",
         latency_min(&srv->latency), avg, srv->latency.max_ms, srv->packets_received,
         srv->packets_sent, srv->n_conns, srv->outstanding, (uint64_t)srv->last_applied_zxid,
         datatree_node_count(srv->tree));
}

static void answer_cons(struct server *srv, const void *self_conn, struct jute_writer *w)
{
    for (const struct conn *c = srv->conns; c != NULL; c = c->next) {
        put_conn(w, c, self_conn, false);
        put(w, "\n");
    }
    put(w, "\n");
}

static bool is_tls_plugin(const char *plugin)
{
    const char *base = strrchr(plugin, '/');
    base = base != NULL ? base + 1 : plugin;
    return strcmp(base, "cnxn-tls") == 0 || strcmp(base, "cnxn-tls.so") == 0;
}

static int64_t group_int(const struct plugin_conf *pc, const char *key, int64_t dflt)
{
    config_setting_t *s = pc->group != NULL ? config_setting_get_member(pc->group, key) : NULL;
    if (s == NULL)
        return dflt;
    int type = config_setting_type(s);
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return dflt;
    return config_setting_get_int64(s);
}

/* Bytes of the regular files directly in dir, as ZooKeeper sums its version-2 directory. */
static int64_t dir_size(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    int64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, 0) == 0 && S_ISREG(st.st_mode))
            total += st.st_size;
    }
    closedir(d);
    return total;
}

/* "<dir>/version-2", absolute as Java's File.getAbsolutePath makes it. */
static void version_dir(const char *dir, char *out, size_t len)
{
    char cwd[PATH_MAX];
    if (dir == NULL)
        dir = ".";
    if (dir[0] != '/' && getcwd(cwd, sizeof cwd) != NULL)
        snprintf(out, len, "%s/%s/version-2", cwd, dir);
    else
        snprintf(out, len, "%s/version-2", dir);
}

static const char *log_dir_of(const struct server *srv)
{
    return srv->cfg != NULL && srv->cfg->data_log_dir != NULL ? srv->cfg->data_log_dir
                                                              : srv->data_dir;
}

bool flw_conn_is_secure(const struct conn *c)
{
    const struct instance *l = c->listener;
    return l != NULL && l->ctx.conf != NULL && l->ctx.conf->plugin != NULL &&
           is_tls_plugin(l->ctx.conf->plugin);
}

void flw_conf_read(struct server *srv, struct flw_conf *out)
{
    const struct config *cfg = srv->cfg;
    out->client_port = -1;
    out->secure_client_port = -1;
    out->listen_backlog = -1;
    bool have_client = false, have_secure = false;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct plugin_conf *pc = &cfg->listeners[i];
        if (pc->plugin != NULL && is_tls_plugin(pc->plugin)) {
            if (!have_secure)
                out->secure_client_port = group_int(pc, "port", -1);
            have_secure = true;
        } else if (!have_client) {
            /* cnxn-nio's defaults: port 2181, backlog -1 (the system's). */
            out->client_port = group_int(pc, "port", 2181);
            out->listen_backlog = group_int(pc, "backlog", -1);
            have_client = true;
        }
    }
    version_dir(srv->data_dir, out->data_dir, sizeof out->data_dir);
    version_dir(log_dir_of(srv), out->data_log_dir, sizeof out->data_log_dir);
    out->data_dir_bytes = dir_size(out->data_dir);
    out->data_log_bytes = dir_size(out->data_log_dir);
}

static void answer_conf(struct server *srv, struct jute_writer *w)
{
    const struct config *cfg = srv->cfg;
    struct flw_conf *fc = malloc(sizeof *fc);
    if (fc == NULL) {
        w->failed = true;
        return;
    }
    flw_conf_read(srv, fc);
    putf(w,
         "clientPort=%" PRId64 "\nsecureClientPort=%" PRId64 "\ndataDir=%s\ndataDirSize=%" PRId64
         "\ndataLogDir=%s\ndataLogSize=%" PRId64 "\ntickTime=%" PRId64 "\nmaxClientCnxns=%" PRId64
         "\nminSessionTimeout=%" PRId64 "\nmaxSessionTimeout=%" PRId64
         "\nclientPortListenBacklog=%" PRId64 "\nserverId=0\n",
         fc->client_port, fc->secure_client_port, fc->data_dir, fc->data_dir_bytes,
         fc->data_log_dir, fc->data_log_bytes, cfg->tick_ms, cfg->max_client_cnxns,
         cfg->min_session_timeout_ms, cfg->max_session_timeout_ms, fc->listen_backlog);
    free(fc);
}

static void answer_dirs(struct server *srv, struct jute_writer *w)
{
    char data[PATH_MAX + 32], logs[PATH_MAX + 32];
    version_dir(srv->data_dir, data, sizeof data);
    version_dir(log_dir_of(srv), logs, sizeof logs);
    putf(w, "datadir_size: %" PRId64 "\nlogdir_size: %" PRId64 "\n", dir_size(data),
         dir_size(logs));
}

/* Resident set size in bytes, from /proc/self/status; 0 when unavailable. */
static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmRSS: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (uint64_t)kb * 1024u;
}

void flw_environment_each(void (*fn)(const char *key, const char *value, void *arg), void *arg)
{
    char version[96], host[256] = "", cwd[PATH_MAX] = "", num[32];
    flw_server_version(version, sizeof version);
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "localhost");
    if (getcwd(cwd, sizeof cwd) == NULL)
        cwd[0] = '\0';
    struct utsname u;
    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    const struct passwd *pw = getpwuid(geteuid());
    const char *user = pw != NULL ? pw->pw_name : getenv("USER");
    const char *home = pw != NULL ? pw->pw_dir : getenv("HOME");
    /* Java reports its heap; the nearest C equivalents are the system's free and total memory
     * and this process's resident size. */
    struct sysinfo si;
    uint64_t free_b = 0, max_b = 0;
    if (sysinfo(&si) == 0) {
        free_b = (uint64_t)si.freeram * si.mem_unit;
        max_b = (uint64_t)si.totalram * si.mem_unit;
    }
    const uint64_t mib = 1024u * 1024u;
    fn("zookeeper.version", version, arg);
    fn("host.name", host, arg);
    static const char *const java_keys[] = {
        "java.version",      "java.vendor",    "java.home",     "java.class.path",
        "java.library.path", "java.io.tmpdir", "java.compiler",
    };
    for (size_t i = 0; i < sizeof java_keys / sizeof java_keys[0]; i++)
        fn(java_keys[i], "n/a", arg);
    fn("os.name", u.sysname, arg);
    fn("os.arch", u.machine, arg);
    fn("os.version", u.release, arg);
    fn("user.name", user != NULL ? user : "", arg);
    fn("user.home", home != NULL ? home : "", arg);
    fn("user.dir", cwd, arg);
    snprintf(num, sizeof num, "%" PRIu64 "MB", free_b / mib);
    fn("os.memory.free", num, arg);
    snprintf(num, sizeof num, "%" PRIu64 "MB", max_b / mib);
    fn("os.memory.max", num, arg);
    snprintf(num, sizeof num, "%" PRIu64 "MB", rss_bytes() / mib);
    fn("os.memory.total", num, arg);
}

static void put_env(const char *key, const char *value, void *arg)
{
    putf(arg, "%s=%s\n", key, value);
}

static void answer_envi(struct jute_writer *w)
{
    put(w, "Environment:\n");
    flw_environment_each(put_env, w);
}

struct watch_dump {
    struct jute_writer *w;
    bool by_watcher;
    bool started;
    const void *last_watcher;
    const char *last_path;
};

static void put_watch(const char *path, void *watcher, void *arg)
{
    struct watch_dump *d = arg;
    uint64_t sid = (uint64_t)conn_session_id(watcher);
    if (d->by_watcher) {
        if (!d->started || watcher != d->last_watcher)
            putf(d->w, "0x%" PRIx64 "\n", sid);
        putf(d->w, "\t%s\n", path);
    } else {
        if (!d->started || strcmp(path, d->last_path) != 0)
            putf(d->w, "%s\n", path);
        putf(d->w, "\t0x%" PRIx64 "\n", sid);
    }
    d->started = true;
    d->last_watcher = watcher;
    d->last_path = path;
}

static void answer_watches(struct server *srv, bool by_watcher, struct jute_writer *w)
{
    struct watch_dump d = {.w = w, .by_watcher = by_watcher};
    watches_each(srv->watches, WATCH_DATA, by_watcher, put_watch, &d);
    put(w, "\n");
}

/* One member of an expiry bucket in dump: a session or a connection. */
struct expiry_item {
    int64_t wall_ms;
    int64_t id;
    char text[128];
};

struct expiry_list {
    struct expiry_item *items;
    size_t n, cap;
    bool failed;
};

static struct expiry_item *expiry_push(struct expiry_list *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap != 0 ? 2 * l->cap : 16;
        struct expiry_item *p = realloc(l->items, cap * sizeof *p);
        if (p == NULL) {
            l->failed = true;
            return NULL;
        }
        l->items = p;
        l->cap = cap;
    }
    return &l->items[l->n++];
}

static int expiry_cmp(const void *a, const void *b)
{
    const struct expiry_item *x = a, *y = b;
    if (x->wall_ms != y->wall_ms)
        return x->wall_ms < y->wall_ms ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* "<label> Sets (buckets)/(members):" then each bucket, oldest first (ExpiryQueue.dump). */
static void put_expiry(struct jute_writer *w, const char *label, struct expiry_list *l)
{
    if (l->failed) {
        w->failed = true;
        return;
    }
    if (l->n > 0)
        qsort(l->items, l->n, sizeof l->items[0], expiry_cmp);
    size_t buckets = 0;
    for (size_t i = 0; i < l->n; i++)
        buckets += i == 0 || l->items[i].wall_ms != l->items[i - 1].wall_ms;
    putf(w, "%s Sets (%zu)/(%zu):\n", label, buckets, l->n);
    for (size_t i = 0, j; i < l->n; i = j) {
        for (j = i; j < l->n && l->items[j].wall_ms == l->items[i].wall_ms; j++)
            ;
        /* Java's Date.toString: "Mon Nov 23 05:51:53 UTC 2026". */
        time_t t = (time_t)(l->items[i].wall_ms / 1000);
        struct tm tm;
        char date[64] = "";
        if (localtime_r(&t, &tm) != NULL)
            strftime(date, sizeof date, "%a %b %d %H:%M:%S %Z %Y", &tm);
        putf(w, "%zu expire at %s:\n", j - i, date);
        for (size_t k = i; k < j; k++)
            putf(w, "\t%s\n", l->items[k].text);
    }
}

struct dump_ctx {
    struct server *srv;
    struct expiry_list list;
    int64_t now_wall;
    uint64_t now_mono;
};

static int64_t mono_to_wall(const struct dump_ctx *d, uint64_t mono_ms)
{
    return d->now_wall + ((int64_t)mono_ms - (int64_t)d->now_mono);
}

static void collect_session(struct session *sess, void *arg)
{
    struct dump_ctx *d = arg;
    struct expiry_item *it = expiry_push(&d->list);
    if (it == NULL)
        return;
    it->wall_ms = mono_to_wall(d, sess->expire_at_ms);
    it->id = sess->id;
    snprintf(it->text, sizeof it->text, "0x%" PRIx64, (uint64_t)sess->id);
}

static void collect_ephemeral_owner(struct session *sess, void *arg)
{
    struct dump_ctx *d = arg;
    if (datatree_ephemeral_count(d->srv->tree, sess->id) == 0)
        return;
    struct expiry_item *it = expiry_push(&d->list);
    if (it != NULL)
        *it = (struct expiry_item){.id = sess->id};
}

static void put_ephemeral(struct znode *n, void *arg)
{
    putf(arg, "\t%s\n", n->path);
}

static void answer_dump(struct server *srv, struct jute_writer *w)
{
    struct dump_ctx d = {.srv = srv, .now_wall = flw_wall_ms(), .now_mono = flw_mono_ms()};

    put(w, "SessionTracker dump:\n");
    sessions_each(srv->sessions, collect_session, &d);
    put_expiry(w, "Session", &d.list);

    put(w, "ephemeral nodes dump:\n");
    d.list.n = 0;
    sessions_each(srv->sessions, collect_ephemeral_owner, &d);
    if (d.list.failed) {
        w->failed = true;
    } else {
        if (d.list.n > 0)
            qsort(d.list.items, d.list.n, sizeof d.list.items[0], expiry_cmp);
        putf(w, "Sessions with Ephemerals (%zu):\n", d.list.n);
        for (size_t i = 0; i < d.list.n; i++) {
            putf(w, "0x%" PRIx64 ":\n", (uint64_t)d.list.items[i].id);
            datatree_each_ephemeral(srv->tree, d.list.items[i].id, put_ephemeral, w);
        }
    }

    /* A connection expires with its session; one still in its handshake when its handshake
     * timer fires; anything else (this 4lw connection) is shown as due now. */
    put(w, "Connections dump:\n");
    d.list.n = 0;
    for (const struct conn *c = srv->conns; c != NULL; c = c->next) {
        struct expiry_item *it = expiry_push(&d.list);
        if (it == NULL)
            break;
        struct timeval tv;
        if (c->session != NULL)
            it->wall_ms = mono_to_wall(&d, c->session->expire_at_ms);
        else if (c->handshake_timer != NULL &&
                 event_pending(c->handshake_timer, EV_TIMEOUT, &tv) != 0)
            it->wall_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
        else
            it->wall_ms = d.now_wall;
        it->id = conn_session_id(c);
        char addr[96];
        flw_conn_address(c, addr, sizeof addr);
        snprintf(it->text, sizeof it->text, "ip: %s sessionId: 0x%" PRIx64, addr, (uint64_t)it->id);
    }
    put_expiry(w, "Connections", &d.list);
    free(d.list.items);
}

static void answer_mntr(struct server *srv, struct jute_writer *w)
{
    char version[96];
    flw_server_version(version, sizeof version);
    putf(w, "zk_version\t%s\nzk_server_state\tstandalone\n", version);
    if (srv->writes_failed)
        putf(w, "zk_log_write_error\t%s\n", srv->write_error); /* corral's own key */
    server_metrics_dump(srv, w);
}

void flw_reset_server_stats(struct server *srv)
{
    server_metrics_reset(srv);
    srv->latency = (struct latency_stats){0};
    srv->packets_received = 0;
    srv->packets_sent = 0;
}

/* ServerCnxn.resetStats: -1 marks "no cxid/zxid yet", which cons then leaves out. */
void flw_reset_conn_stats(struct server *srv)
{
    for (struct conn *c = srv->conns; c != NULL; c = c->next) {
        c->packets_received = 0;
        c->packets_sent = 0;
        c->last_op = NULL;
        c->last_cxid = -1;
        c->last_zxid = -1;
        c->last_response_ms = 0;
        c->last_latency_ms = 0;
        c->latency = (struct latency_stats){0};
    }
}

void flw_answer(struct server *srv, int cmd, uint32_t whitelist, void *self_conn,
                struct jute_writer *w)
{
    if (cmd < 0 || cmd >= FLW_COUNT)
        return;
    whitelist |= 1u << FLW_SRVR;
    uint32_t every_word = ((1u << FLW_COUNT) - 1) & ~(1u << FLW_TELNET_CLOSE);
    if (cmd == FLW_TELNET_CLOSE && (whitelist & every_word) == every_word)
        return; /* with "*" ZooKeeper reads it as a negative frame length and just closes */
    if (cmd == FLW_TELNET_CLOSE || (whitelist & (1u << cmd)) == 0) {
        putf(w, "%s is not executed because it is not in the whitelist.\n", flw_table[cmd].name);
        return;
    }
    switch ((enum flw_cmd)cmd) {
    case FLW_RUOK:
        /* ZooKeeper: "imok" when running in a non-error state, otherwise no answer at all */
        if (!srv->writes_failed)
            put(w, "imok");
        break;
    case FLW_ISRO:
        put(w, "rw");
        break;
    case FLW_GTMK:
    case FLW_STMK: /* the server has already set the mask from the 8-byte argument */
        putf(w, "%" PRIu32, srv->trace_mask);
        break;
    case FLW_SRVR:
    case FLW_STAT:
        answer_srvr(srv, cmd == FLW_STAT, self_conn, w);
        break;
    case FLW_CONS:
        answer_cons(srv, self_conn, w);
        break;
    case FLW_CONF:
        answer_conf(srv, w);
        break;
    case FLW_DIRS:
        answer_dirs(srv, w);
        break;
    case FLW_ENVI:
        answer_envi(w);
        break;
    case FLW_WCHS:
        putf(w, "%zu connections watching %zu paths\nTotal watches:%zu\n",
             watches_watcher_count(srv->watches, WATCH_DATA),
             watches_path_count(srv->watches, WATCH_DATA), watches_count(srv->watches, WATCH_DATA));
        break;
    case FLW_WCHC:
    case FLW_WCHP:
        answer_watches(srv, cmd == FLW_WCHC, w);
        break;
    case FLW_DUMP:
        answer_dump(srv, w);
        break;
    case FLW_MNTR:
        answer_mntr(srv, w);
        break;
    case FLW_SRST:
        flw_reset_server_stats(srv);
        put(w, "Server stats reset.\n");
        break;
    case FLW_CRST:
        flw_reset_conn_stats(srv);
        put(w, "Connection stats reset.\n");
        break;
    case FLW_HASH: /* the digest log keeps one entry per 128 txns; we keep none */
    case FLW_TELNET_CLOSE:
    case FLW_COUNT:
        break;
    }
}
