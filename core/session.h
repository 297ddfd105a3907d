/* Sessions and their expiry (ZooKeeper's SessionTrackerImpl and ExpiryQueue): sessions
 * expire in tick-sized buckets, so checking costs O(sessions that expire), never a scan. */
#ifndef CORRAL_SESSION_H
#define CORRAL_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SESSION_PASSWD_BYTES 16

struct session {
    int64_t id;
    int32_t timeout_ms;
    bool closing;             /* closeSession or expiry is under way: new requests fail */
    uint64_t expire_at_ms;    /* the bucket's time, on the monotonic clock */
    void *conn;               /* the server's connection bound to it, or NULL */
    struct session *hash_next;
    struct session *bucket_prev, *bucket_next;
    struct session_bucket *bucket;
};

struct sessions;

/* tick_ms is the bucket width (> 0, else NULL). Ids start at
 * ((wall_ms << 24) >> 8) | (server_id << 56), as ZooKeeper's initializeNextSessionId does (the
 * shifts are on unsigned 64-bit values). */
struct sessions *sessions_new(int64_t tick_ms, int64_t server_id, int64_t wall_ms);
void sessions_free(struct sessions *s);

/* The next unused id, never 0 nor 0x8000000000000000; each call returns a new one, so two
 * sessions being created at once cannot get the same id. It does not register the id. */
int64_t sessions_next_id(struct sessions *s);
/* Registers a session (a new one, or one loaded from disk) and touches it. Returns the
 * session, or NULL on ENOMEM or when the id already exists. */
struct session *sessions_add(struct sessions *s, int64_t id, int32_t timeout_ms,
                             uint64_t now_ms);
struct session *sessions_get(const struct sessions *s, int64_t id);
void sessions_remove(struct sessions *s, struct session *sess);
/* Moves the session's expiry to roundUp(now + timeout) (the next multiple of tick_ms). A
 * closing session stays where it is; so does one whose new bucket cannot be allocated. */
void sessions_touch(struct sessions *s, struct session *sess, uint64_t now_ms);
void sessions_set_timeout(struct sessions *s, struct session *sess, int32_t timeout_ms,
                          uint64_t now_ms);
/* Calls fn for every session whose bucket time is <= now_ms and that is not closing, and
 * marks it closing; the caller closes and removes it (fn may remove or touch any session).
 * Every session in those buckets leaves them, closing ones too. Returns how many. */
size_t sessions_expire(struct sessions *s, uint64_t now_ms,
                       void (*fn)(struct session *sess, void *arg), void *arg);
/* The time of the earliest non-empty bucket, or UINT64_MAX. */
uint64_t sessions_next_expiry(const struct sessions *s);
size_t sessions_count(const struct sessions *s);
/* `fn` must not add or remove sessions. */
void sessions_each(const struct sessions *s, void (*fn)(struct session *sess, void *arg),
                   void *arg);

/* The 16-byte password of a session id, as ZooKeeper computes it: java.util.Random seeded
 * with id ^ 0xB3415C00, nextBytes(16). Clients resuming on corral after ZooKeeper keep
 * working because of that. */
void session_password(int64_t id, uint8_t out[SESSION_PASSWD_BYTES]);

#endif
