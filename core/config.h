/* The server's configuration: one libconfig file (or the embedded default) parsed into an
 * immutable struct and validated before anything else runs. */
#ifndef CORRAL_CONFIG_H
#define CORRAL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libconfig.h>

struct sasl_users;

/* A plugin instance's group: listeners.[i], metrics or election. */
struct plugin_conf {
    const char *name;        /* the listener's name, or the group's key ("metrics") */
    const char *plugin;      /* "cnxn-nio" or an absolute path to a .so */
    char where[24];          /* "listeners.[0]", for messages */
    int line;
    config_setting_t *group;
};

struct config {
    config_t lc;          /* owns every string below */
    char file[256];       /* the file name, or "<embedded>" */
    const char *data_dir; /* NULL: a temporary directory made at start-up */
    const char *data_log_dir;
    const char *plugin_dir; /* NULL: beside the executable, else the install dir */
    int log_level;
    int64_t tick_ms;
    int64_t min_session_timeout_ms;
    int64_t max_session_timeout_ms;
    int64_t max_client_cnxns;   /* per client IP; 0: unlimited */
    int64_t max_packet_bytes;   /* jute.maxbuffer */
    uint32_t four_letter_words; /* bit set of enum flw_cmd, see fourletter.h */
    const char *super_digest;   /* "super:<base64 sha1>", or NULL */
    bool extended_types;        /* TTL nodes */
    int64_t container_check_interval_ms;
    int64_t container_max_per_minute;
    /* persistence */
    int64_t snap_count;          /* txns between snapshots, randomised as ZooKeeper's */
    int64_t prealloc_kb;         /* log file preallocation (ZooKeeper's preAllocSize) */
    bool force_sync;             /* fdatasync each commit (ZooKeeper's forceSync) */
    int64_t fsync_warning_threshold_ms;
    int64_t purge_snap_retain_count; /* autopurge.snap_retain_count, at least 3 */
    int64_t purge_interval_h;        /* autopurge.purge_interval; 0: off */
    /* sasl group: DIGEST-MD5 users read from its JAAS file at load time (core/sasl.h);
     * NULL without the group, when op 102 answers as an unconfigured ZooKeeper does */
    struct sasl_users *sasl_users;
    const char *sasl_super_user; /* sasl.super_user: that SASL user also gets "super" */
    struct plugin_conf listeners[16];
    size_t n_listeners;
    struct plugin_conf metrics; /* plugin NULL: the built-in null provider */
    bool has_metrics;
    /* the admin server (ZooKeeper's AdminServer, admin.*): JSON commands over HTTP */
    bool admin_enabled;            /* admin.enableServer; default true, as ZooKeeper */
    const char *admin_address;     /* admin.serverAddress; default "127.0.0.1" */
    int64_t admin_port;            /* admin.serverPort; default 8080 */
    const char *admin_command_url; /* admin.commandURL; default "/commands" */
    int admin_line;                /* the admin group's line for messages; 0 without one */
};

/* Parse and validate. On failure returns -1 with one line in err, naming the file, the line
 * and the key: "corral.conf:9: tick_time_ms: expected an integer from 1 to 3600000". */
int config_load_file(struct config *cfg, const char *path, char *err, size_t err_len);
int config_load_string(struct config *cfg, const char *name, const char *text, char *err,
                       size_t err_len);
void config_free(struct config *cfg);

/* The configuration corral runs with when given none: standalone on 127.0.0.1:2181 with a
 * temporary data directory. */
extern const char config_embedded_default[];

#endif
