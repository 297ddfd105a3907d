/* The admin server (ZooKeeper's AdminServer): `GET <command_url>/<name>` runs a command and
 * answers with the JSON ZooKeeper 3.8 answers, `GET <command_url>` lists the commands. It
 * serves HTTP with libevent's evhttp on the server's own loop, so a command reads the
 * server's state between two events and never races it. */
#ifndef CORRAL_ADMIN_H
#define CORRAL_ADMIN_H

#include <stddef.h>

struct admin;
struct server;
struct event_base;
struct jute_writer;

/* Allocates the admin server of srv and reads what it needs from srv->cfg (the admin group
 * and, for initial_configuration, the config file's text). No socket yet. NULL only when out
 * of memory. */
struct admin *admin_new(struct server *srv);

/* Binds admin.address:admin.port and serves on base; does nothing when admin.enabled is
 * false. Returns 0, or a negative errno with one sentence in err naming the config line, the
 * address and the reason: "corral.conf:21: admin: bind 127.0.0.1:8080: Address already in
 * use". */
int admin_start(struct admin *a, struct event_base *base, char *err, size_t err_len);

/* Closes the listening socket and every open HTTP connection. Idempotent, safe after a
 * failed or skipped start. */
void admin_stop(struct admin *a);

/* Stops, then frees a (NULL is fine). */
void admin_free(struct admin *a);

/* Writes the JSON document that `GET <command_url>/<name>?<query>` answers to out (query may
 * be NULL): the command's fields, then "command" (its primary name) and "error" (null, or
 * why it could not run). An unknown name answers {"command": name, "error": "Unknown
 * command: name"}. Returns the HTTP status, 200 in every case, as ZooKeeper 3.8. Loop thread
 * only; srst, crst and set_trace_mask change the server's state. */
int admin_answer(struct admin *a, const char *name, const char *query, struct jute_writer *out);

/* The commands' index page, as ZooKeeper's: one `<a href="<url>/<name>">name</a>` and a
 * `<br/>` line per command, by primary name. */
void admin_list(struct admin *a, struct jute_writer *out);

#endif
