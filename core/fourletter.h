/* Four-letter words (client-protocol.md §9): detection, the whitelist and their answers. */
#ifndef CORRAL_FOURLETTER_H
#define CORRAL_FOURLETTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct jute_writer;

enum flw_cmd {
    FLW_CONF, FLW_CONS, FLW_CRST, FLW_DIRS, FLW_DUMP, FLW_ENVI, FLW_GTMK, FLW_RUOK, FLW_STMK,
    FLW_SRST, FLW_SRVR, FLW_STAT, FLW_WCHC, FLW_WCHP, FLW_WCHS, FLW_MNTR, FLW_ISRO, FLW_HASH,
    FLW_TELNET_CLOSE,
    FLW_COUNT,
};

/* The command a connection's first 4 bytes name, or -1. */
int flw_lookup(uint32_t word);
/* "ruok", ..., "telnet close"; NULL outside 0..FLW_COUNT-1. */
const char *flw_name(int cmd);
/* Parses ZooKeeper's 4lw.commands.whitelist ("stat, ruok", "*"); srvr is always allowed.
 * Returns 0, or -1 naming the unknown word in err. */
int flw_parse_whitelist(const char *list, uint32_t *out, char *err, size_t err_len);
/* Appends the answer to `cmd` (whitelisted or not) to w: the exact text of §9.2, or
 * "<cmd> is not executed because it is not in the whitelist.\n". srvr always runs; telnet
 * close never does. self_conn is the struct conn asking (shown with interestOps 0 by stat
 * and cons). srst and crst reset the server's and every connection's counters. stmk cannot
 * see its 8-byte argument here, so it reports the mask unchanged. */
void flw_answer(struct server *srv, int cmd, uint32_t whitelist, void *self_conn,
                struct jute_writer *w);
/* Java's Double.toString of v rounded to 4 decimals HALF_UP, as ZooKeeper prints average
 * latencies: "0.0", "11.0", "2.0714", "5.0E-4". out is always NUL-terminated. */
void flw_format_double(double v, char *out, size_t len);

/* What the answers are made of, shared with the admin server (core/admin.c), which reports
 * the same facts as JSON. */

struct conn;

/* ZooKeeper's version line: "3.8.4-corral-0.1.0, built on 2025-01-05 13:04 UTC". */
void flw_server_version(char *out, size_t len);
/* c's peer as Java's InetSocketAddress.toString prints it: "/127.0.0.1:2181". */
void flw_conn_address(const struct conn *c, char *out, size_t len);
/* c came in through a cnxn-tls listener (ZooKeeper's secure connection factory). */
bool flw_conn_is_secure(const struct conn *c);

/* conf's and dirs' values. The directories are absolute ".../version-2" paths; sizes are the
 * bytes of the regular files directly in them. */
struct flw_conf {
    int64_t client_port;        /* the first non-TLS listener's, -1 without one */
    int64_t secure_client_port; /* the first TLS listener's, -1 without one */
    int64_t listen_backlog;     /* the client listener's backlog, -1: the system's */
    char data_dir[4200];
    char data_log_dir[4200];
    int64_t data_dir_bytes, data_log_bytes;
};
void flw_conf_read(struct server *srv, struct flw_conf *out);

/* envi's keys and values, in ZooKeeper's order ("zookeeper.version", "host.name", ...). */
void flw_environment_each(void (*fn)(const char *key, const char *value, void *arg), void *arg);

/* srst: the server's counters, latencies and metrics back to zero. */
void flw_reset_server_stats(struct server *srv);
/* crst: every connection's counters and latencies back to their initial values. */
void flw_reset_conn_stats(struct server *srv);

#endif
