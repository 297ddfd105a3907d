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

#endif
