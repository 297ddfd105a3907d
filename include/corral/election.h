/*
 * Leader election plugins (ZooKeeper's Election / FastLeaderElection).
 *
 * The host starts a round with look() whenever the peer enters LOOKING, hands it every
 * election message from another server with receive(), and learns the outcome from
 * host->election_decided(). Messages go out with host->peer_send().
 */
#ifndef CORRAL_ELECTION_H
#define CORRAL_ELECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct corral_host;
struct corral_ctx;

enum corral_peer_state {
    CORRAL_PEER_LOOKING = 0,
    CORRAL_PEER_FOLLOWING = 1,
    CORRAL_PEER_LEADING = 2,
    CORRAL_PEER_OBSERVING = 3,
};

/* A vote, as Fast Leader Election exchanges it. */
struct corral_vote {
    int64_t leader_sid;
    int64_t zxid;           /* the proposed leader's last zxid */
    int64_t election_epoch; /* the round */
    int64_t peer_epoch;     /* the proposed leader's epoch */
    int32_t state;          /* enum corral_peer_state of the voter */
};

#define CORRAL_ELECTION_OPS_VERSION 1

struct corral_election_ops {
    uint32_t version;
    /* v1: all required. Lifecycle as for connection factories (include/corral/cnxn.h). */
    int (*create)(const struct corral_host *host, struct corral_ctx *ctx, void **self);
    int (*start)(void *self);
    void (*stop)(void *self);
    void (*destroy)(void *self);
    /* look: begin a round, voting first for `self_vote` (this server). Returns 0 or -errno. */
    int (*look)(void *self, const struct corral_vote *self_vote);
    /* receive: an election message from server `from_sid`; borrowed for the call. */
    void (*receive)(void *self, int64_t from_sid, const uint8_t *msg, size_t len);
};

#ifdef __cplusplus
}
#endif
#endif
