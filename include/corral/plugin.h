/*
 * corral plugin ABI: the one descriptor a plugin exports.
 *
 * A plugin is a shared object exporting exactly one symbol, `corral_plugin`. The loader reads
 * `abi` first and refuses the file unless it equals CORRAL_ABI; only then does it trust `kind`,
 * `name` and the ops table of that kind.
 *
 * Changelog of CORRAL_ABI (bumped only by an incompatible change):
 *   1  first release: cnxn, metrics and election kinds; host table v1.
 */
#ifndef CORRAL_PLUGIN_H
#define CORRAL_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CORRAL_ABI 1

enum corral_kind {
    CORRAL_KIND_CNXN = 1,     /* connection factory: include/corral/cnxn.h */
    CORRAL_KIND_METRICS = 2,  /* metrics provider: include/corral/metrics.h */
    CORRAL_KIND_ELECTION = 3, /* leader election: include/corral/election.h */
};

struct corral_cnxn_ops;
struct corral_metrics_ops;
struct corral_election_ops;

struct corral_plugin {
    uint32_t abi;        /* first, always: the loader reads it before trusting anything else */
    uint32_t kind;       /* enum corral_kind */
    const char *name;    /* equals the config's  plugin = "..."  */
    const char *version; /* the plugin's own version string, printed at start-up */
    union {
        const struct corral_cnxn_ops *cnxn;
        const struct corral_metrics_ops *metrics;
        const struct corral_election_ops *election;
    } ops;
};

extern const struct corral_plugin corral_plugin;

/* Defines the descriptor; the ABI number comes from the header the plugin was built with. */
#define CORRAL_PLUGIN(kind_, name_, version_, ...)                                           \
    __attribute__((visibility("default"))) const struct corral_plugin corral_plugin = {     \
        .abi = CORRAL_ABI, .kind = (kind_), .name = (name_), .version = (version_),         \
        .ops = {__VA_ARGS__}}

/* True when an ops table (or the host table) is at least version `ver` and has `slot` set.
 * Read a slot appended after v1 only through this: a v1 table has no such field. */
#define CORRAL_HAS_SLOT(ops, ver, slot) ((ops)->version >= (ver) && (ops)->slot != NULL)

/* Recover the plugin's struct from an embedded public one. */
#define corral_container_of(ptr, type, member)                                               \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#ifdef __cplusplus
}
#endif
#endif
