/* The ZooKeeper server proper: connections, sessions, the request pipeline
 * (decode -> prep -> log -> apply -> reply), watches and the four-letter words. */
#ifndef CORRAL_SERVER_H
#define CORRAL_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <corral/cnxn.h>

#include "config.h"
#include "host.h"

struct server;

/* data_dir is the directory in use (the configured one or the temporary one). */
struct server *server_new(const struct config *cfg, struct host_env *env, const char *data_dir);
/* Registers the timers (session expiry, container and TTL reaping). */
int server_start(struct server *srv);
/* Closes every connection's requests and stops the timers; sessions stay (as ZooKeeper's
 * do across a restart). */
void server_stop(struct server *srv);
void server_free(struct server *srv);

/* Connection upcalls, as in include/corral/host.h; `l` is the listener c arrived on. */
int server_cnxn_opened(struct server *srv, struct instance *l, struct corral_cnxn *c);
bool server_cnxn_word(struct server *srv, struct corral_cnxn *c, const uint8_t *head, size_t len);
void server_cnxn_frame(struct server *srv, struct corral_cnxn *c, const uint8_t *frame,
                       size_t len);
void server_cnxn_closed(struct server *srv, struct corral_cnxn *c);

#endif
