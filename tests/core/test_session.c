/* core/session.c: session ids, passwords, and expiry in tick-sized buckets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "session.h"

#define TICK 2000

static int setup(void **state)
{
    *state = sessions_new(TICK, 1, 0);
    return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    sessions_free(*state);
    return 0;
}

/* Records which sessions fn saw, in order. */
struct expired {
    size_t n;
    int64_t ids[64];
};

static void note_expired(struct session *sess, void *arg)
{
    struct expired *ex = arg;
    assert_true(sess->closing);
    assert_true(ex->n < 64);
    ex->ids[ex->n++] = sess->id;
}

static void the_password_matches_zookeeper(void **state)
{
    (void)state;
    static const uint8_t want[SESSION_PASSWD_BYTES] = {
        0x6f, 0x90, 0x58, 0x33, 0xd0, 0x6a, 0x62, 0xa3,
        0x65, 0x26, 0x9f, 0x7c, 0x99, 0x5f, 0x00, 0x9d,
    };
    uint8_t got[SESSION_PASSWD_BYTES];
    session_password(INT64_C(0x10000aed3530000), got);
    assert_memory_equal(got, want, sizeof want);

    uint8_t other[SESSION_PASSWD_BYTES];
    session_password(INT64_C(0x10000aed3530001), other);
    assert_memory_not_equal(got, other, sizeof got);
}

static void ids_start_from_the_clock_and_server_id_and_skip_taken_ones(void **state)
{
    (void)state;
    /* 41 bits of milliseconds: the top one falls off, the next 40 sit above a 16-bit counter. */
    struct sessions *s = sessions_new(TICK, 1, INT64_C(0x18c12345678));
    assert_non_null(s);
    int64_t base = INT64_C(0x018c123456780000);
    assert_int_equal(sessions_next_id(s), base);
    assert_int_equal(sessions_next_id(s), base + 1);
    assert_non_null(sessions_add(s, base + 2, 4000, 0));
    assert_non_null(sessions_add(s, base + 3, 4000, 0));
    assert_int_equal(sessions_next_id(s), base + 4);
    sessions_free(s);

    /* The server id fills the top byte. */
    s = sessions_new(TICK, 0x7f, 1);
    assert_non_null(s);
    assert_int_equal(sessions_next_id(s), INT64_C(0x7f00000000010000));
    sessions_free(s);
}

static void adding_registers_and_refuses_a_duplicate(void **state)
{
    struct sessions *s = *state;
    struct session *sess = sessions_add(s, 42, 4000, 1000);
    assert_non_null(sess);
    assert_int_equal(sess->id, 42);
    assert_int_equal(sess->timeout_ms, 4000);
    assert_false(sess->closing);
    assert_null(sess->conn);
    assert_ptr_equal(sessions_get(s, 42), sess);
    assert_null(sessions_get(s, 43));
    assert_null(sessions_add(s, 42, 5000, 1000));
    assert_int_equal(sessions_count(s), 1);
}

static void expiry_rounds_up_to_the_next_tick(void **state)
{
    struct sessions *s = *state;
    struct expired ex = {0};
    assert_int_equal(sessions_next_expiry(s), UINT64_MAX);
    struct session *sess = sessions_add(s, 1, 4000, 1000);
    assert_int_equal(sess->expire_at_ms, 6000);
    assert_int_equal(sessions_next_expiry(s), 6000);
    assert_int_equal(sessions_expire(s, 5999, note_expired, &ex), 0);
    assert_false(sess->closing);
    assert_int_equal(sessions_expire(s, 6000, note_expired, &ex), 1);
    assert_int_equal(ex.ids[0], 1);
    assert_true(sess->closing);
    assert_int_equal(sessions_next_expiry(s), UINT64_MAX);
    /* Expiry does not remove: the caller closes and removes it. */
    assert_ptr_equal(sessions_get(s, 1), sess);

    /* An exact multiple still moves to the next one: 2000 + 4000 = 6000 -> 8000. */
    struct session *edge = sessions_add(s, 2, 4000, 2000);
    assert_int_equal(edge->expire_at_ms, 8000);
}

static void a_touch_moves_the_session_to_a_later_bucket(void **state)
{
    struct sessions *s = *state;
    struct expired ex = {0};
    struct session *sess = sessions_add(s, 7, 4000, 0);
    assert_int_equal(sess->expire_at_ms, 6000);
    sessions_touch(s, sess, 3000);
    assert_int_equal(sess->expire_at_ms, 8000);
    assert_int_equal(sessions_next_expiry(s), 8000); /* the old bucket is gone */
    assert_int_equal(sessions_expire(s, 7999, note_expired, &ex), 0);
    sessions_touch(s, sess, 3999); /* same bucket: nothing moves */
    assert_int_equal(sess->expire_at_ms, 8000);
    assert_int_equal(sessions_expire(s, 8000, note_expired, &ex), 1);
    assert_int_equal(ex.ids[0], 7);
}

static void a_new_timeout_rebuckets_the_session(void **state)
{
    struct sessions *s = *state;
    struct session *sess = sessions_add(s, 7, 4000, 0);
    sessions_set_timeout(s, sess, 10000, 500);
    assert_int_equal(sess->timeout_ms, 10000);
    assert_int_equal(sess->expire_at_ms, 12000);
    assert_int_equal(sessions_next_expiry(s), 12000);
}

static void a_closing_session_is_not_touched_and_not_expired_again(void **state)
{
    struct sessions *s = *state;
    struct expired ex = {0};
    struct session *closing = sessions_add(s, 1, 4000, 0);
    struct session *live = sessions_add(s, 2, 4000, 0);
    closing->closing = true; /* closeSession under way */
    sessions_touch(s, closing, 5000);
    assert_int_equal(closing->expire_at_ms, 6000);
    sessions_touch(s, live, 5000);
    assert_int_equal(live->expire_at_ms, 10000);

    /* Its bucket passes without calling fn for it. */
    assert_int_equal(sessions_expire(s, 6000, note_expired, &ex), 0);
    assert_int_equal(sessions_next_expiry(s), 10000);
    assert_int_equal(sessions_expire(s, 10000, note_expired, &ex), 1);
    assert_int_equal(ex.ids[0], 2);
    sessions_touch(s, live, 11000); /* now closing too */
    assert_int_equal(sessions_next_expiry(s), UINT64_MAX);
    assert_int_equal(sessions_expire(s, 100000, note_expired, &ex), 0);
    assert_int_equal(sessions_count(s), 2);
}

static void expire_calls_fn_once_per_session(void **state)
{
    struct sessions *s = *state;
    struct expired ex = {0};
    for (int64_t id = 1; id <= 5; id++)
        assert_non_null(sessions_add(s, id, 4000, (uint64_t)id * 100));
    assert_int_equal(sessions_next_expiry(s), 6000);
    assert_int_equal(sessions_expire(s, 6000, note_expired, &ex), 5);
    assert_int_equal(sessions_expire(s, 6000, note_expired, &ex), 0);
    assert_int_equal(sessions_expire(s, 60000, note_expired, &ex), 0);
    assert_int_equal(ex.n, 5);
    int seen = 0;
    for (size_t i = 0; i < ex.n; i++)
        seen |= 1 << ex.ids[i];
    assert_int_equal(seen, 0x3e);
}

static void removing_drops_the_session_and_its_empty_bucket(void **state)
{
    struct sessions *s = *state;
    struct expired ex = {0};
    struct session *early = sessions_add(s, 1, 2000, 0);
    assert_non_null(sessions_add(s, 2, 6000, 0));
    assert_int_equal(sessions_next_expiry(s), 4000);
    sessions_remove(s, early);
    assert_null(sessions_get(s, 1));
    assert_int_equal(sessions_count(s), 1);
    assert_int_equal(sessions_next_expiry(s), 8000);
    assert_int_equal(sessions_expire(s, 4000, note_expired, &ex), 0);
    assert_int_equal(sessions_expire(s, 8000, note_expired, &ex), 1);
    sessions_remove(s, sessions_get(s, 2));
    assert_int_equal(sessions_count(s), 0);
}

struct remover {
    struct sessions *s;
    size_t calls;
};

/* The server's expirer: closes the session on the spot, and an unrelated one with it. */
static void remove_on_expiry(struct session *sess, void *arg)
{
    struct remover *r = arg;
    r->calls++;
    struct session *other = sessions_get(r->s, sess->id ^ 1);
    if (other != NULL)
        sessions_remove(r->s, other);
    sessions_remove(r->s, sess);
}

static void fn_may_remove_sessions_while_expiring(void **state)
{
    struct sessions *s = *state;
    struct remover r = {.s = s};
    for (int64_t id = 2; id < 12; id++)
        assert_non_null(sessions_add(s, id, 4000, 0));
    assert_int_equal(sessions_expire(s, 6000, remove_on_expiry, &r), 5);
    assert_int_equal(r.calls, 5);
    assert_int_equal(sessions_count(s), 0);
    assert_int_equal(sessions_next_expiry(s), UINT64_MAX);
}

static void count_each(struct session *sess, void *arg)
{
    (void)sess;
    (*(size_t *)arg)++;
}

struct due_check {
    struct sessions *s;
    const uint64_t *due;
    uint64_t *when;
    uint64_t now, prev;
    size_t calls;
};

/* Every session must expire at the first step at or past its due time, once. */
static void check_due(struct session *sess, void *arg)
{
    struct due_check *dc = arg;
    int64_t id = sess->id;
    assert_true(dc->due[id] <= dc->now);
    assert_true(dc->due[id] > dc->prev);
    assert_int_equal(dc->when[id], 0);
    dc->when[id] = dc->now;
    dc->calls++;
    sessions_remove(dc->s, sess);
}

static void many_sessions_expire_across_many_buckets_exactly_on_time(void **state)
{
    struct sessions *s = *state;
    enum { N = 20000 };
    uint64_t *due = calloc(N, sizeof *due);
    uint64_t *when = calloc(N, sizeof *when);
    assert_non_null(due);
    assert_non_null(when);
    uint64_t seed = 12345;
    for (int i = 0; i < N; i++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        uint64_t now = (seed >> 33) % 50000;
        int32_t timeout = 2000 + (int32_t)((seed >> 20) % 38000);
        struct session *sess = sessions_add(s, i, timeout, now);
        assert_non_null(sess);
        due[i] = (now + (uint64_t)timeout) / TICK * TICK + TICK;
        assert_int_equal(sess->expire_at_ms, due[i]);
    }
    /* Touch every third one just before it is due, moving it to a later bucket. */
    for (int i = 0; i < N; i += 3) {
        struct session *sess = sessions_get(s, i);
        uint64_t later = due[i] - 1;
        sessions_touch(s, sess, later);
        due[i] = (later + (uint64_t)sess->timeout_ms) / TICK * TICK + TICK;
        assert_int_equal(sess->expire_at_ms, due[i]);
    }
    size_t n = 0;
    sessions_each(s, count_each, &n);
    assert_int_equal(n, N);

    /* Step time unevenly, so that one call often empties several buckets. */
    struct due_check dc = {.s = s, .due = due, .when = when};
    size_t total = 0;
    for (dc.now = 0; sessions_next_expiry(s) != UINT64_MAX; dc.now += 2777) {
        uint64_t next = sessions_next_expiry(s);
        assert_true(next > dc.prev);
        size_t got = sessions_expire(s, dc.now, check_due, &dc);
        total += got;
        if (next > dc.now)
            assert_int_equal(got, 0);
        else
            assert_true(got > 0);
        assert_true(sessions_next_expiry(s) > dc.now);
        dc.prev = dc.now;
    }
    assert_int_equal(total, N);
    assert_int_equal(dc.calls, N);
    for (int i = 0; i < N; i++)
        assert_true(when[i] >= due[i] && when[i] < due[i] + 2777);
    assert_int_equal(sessions_count(s), 0);
    free(due);
    free(when);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(the_password_matches_zookeeper),
        T(ids_start_from_the_clock_and_server_id_and_skip_taken_ones),
        T(adding_registers_and_refuses_a_duplicate),
        T(expiry_rounds_up_to_the_next_tick),
        T(a_touch_moves_the_session_to_a_later_bucket),
        T(a_new_timeout_rebuckets_the_session),
        T(a_closing_session_is_not_touched_and_not_expired_again),
        T(expire_calls_fn_once_per_session),
        T(removing_drops_the_session_and_its_empty_bucket),
        T(fn_may_remove_sessions_while_expiring),
        T(many_sessions_expire_across_many_buckets_exactly_on_time),
#undef T
    };
    return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
