/* Pins the plugin ABI's layouts on x86-64 (STYLE.md §3). Within one CORRAL_ABI a slot never
 * moves, so its offset here never changes. A version's size is pinned too: appending a slot
 * without bumping the version, or bumping it without pinning the new slots, fails the build. */
#include <assert.h>
#include <stddef.h>

#include <corral/cnxn.h>
#include <corral/election.h>
#include <corral/host.h>
#include <corral/metrics.h>
#include <corral/plugin.h>

#define PIN(type, field, off)                                                                      \
    static_assert(offsetof(type, field) == (off), #type "." #field " moved")
#define PIN_SIZE(type, size) static_assert(sizeof(type) == (size), #type " changed size")
#define PIN_VALUE(name, value) static_assert((name) == (value), #name " changed value")

/* Everything below holds for this ABI; a new ABI starts a new set. */
PIN_VALUE(CORRAL_ABI, 1);

/* Numbers that cross the boundary. */
PIN_VALUE(CORRAL_KIND_CNXN, 1);
PIN_VALUE(CORRAL_KIND_METRICS, 2);
PIN_VALUE(CORRAL_KIND_ELECTION, 3);
PIN_VALUE(CORRAL_LOG_ERROR, 0);
PIN_VALUE(CORRAL_LOG_WARN, 1);
PIN_VALUE(CORRAL_LOG_INFO, 2);
PIN_VALUE(CORRAL_LOG_DEBUG, 3);
PIN_VALUE(CORRAL_METRIC_COUNTER, 1);
PIN_VALUE(CORRAL_METRIC_GAUGE, 2);
PIN_VALUE(CORRAL_METRIC_SUMMARY, 3);
PIN_VALUE(CORRAL_CLOSE_NORMAL, 0);
PIN_VALUE(CORRAL_CLOSE_PROTOCOL, 1);
PIN_VALUE(CORRAL_CLOSE_EXPIRED, 2);
PIN_VALUE(CORRAL_CLOSE_REPLACED, 3);
PIN_VALUE(CORRAL_CLOSE_AUTH, 4);
PIN_VALUE(CORRAL_CLOSE_SHUTDOWN, 5);
PIN_VALUE(CORRAL_CLOSE_REFUSED, 6);
PIN_VALUE(CORRAL_PEER_LOOKING, 0);
PIN_VALUE(CORRAL_PEER_FOLLOWING, 1);
PIN_VALUE(CORRAL_PEER_LEADING, 2);
PIN_VALUE(CORRAL_PEER_OBSERVING, 3);

#if defined(__x86_64__)

/* struct corral_plugin has no version: it is the ABI. */
PIN(struct corral_plugin, abi, 0);
PIN(struct corral_plugin, kind, 4);
PIN(struct corral_plugin, name, 8);
PIN(struct corral_plugin, version, 16);
PIN(struct corral_plugin, ops, 24);
PIN(struct corral_plugin, ops.cnxn, 24);
PIN(struct corral_plugin, ops.metrics, 24);
PIN(struct corral_plugin, ops.election, 24);
PIN_SIZE(struct corral_plugin, 32);

/* struct corral_cnxn is the plugin's, read by the host: fixed for the ABI. */
PIN(struct corral_cnxn, host_data, 0);
PIN(struct corral_cnxn, peer_addr, 8);
PIN_SIZE(((struct corral_cnxn *)0)->peer_addr, 48);
PIN(struct corral_cnxn, peer_port, 56);
PIN(struct corral_cnxn, is_ipv6, 58);
PIN(struct corral_cnxn, is_secure, 59);
PIN(struct corral_cnxn, peer_subject, 64);
PIN_SIZE(struct corral_cnxn, 72);

PIN(struct corral_vote, leader_sid, 0);
PIN(struct corral_vote, zxid, 8);
PIN(struct corral_vote, election_epoch, 16);
PIN(struct corral_vote, peer_epoch, 24);
PIN(struct corral_vote, state, 32);
PIN_SIZE(struct corral_vote, 40);

/* host v1 */
PIN(struct corral_host, version, 0);
PIN(struct corral_host, log, 8);
PIN(struct corral_host, fail, 16);
PIN(struct corral_host, conf_int, 24);
PIN(struct corral_host, conf_str, 32);
PIN(struct corral_host, conf_bool, 40);
PIN(struct corral_host, loop, 48);
PIN(struct corral_host, now_ms, 56);
PIN(struct corral_host, max_frame_bytes, 64);
PIN(struct corral_host, cnxn_opened, 72);
PIN(struct corral_host, cnxn_word, 80);
PIN(struct corral_host, cnxn_frame, 88);
PIN(struct corral_host, cnxn_closed, 96);
PIN(struct corral_host, metric_define, 104);
PIN(struct corral_host, metric_record, 112);
PIN(struct corral_host, peer_send, 120);
PIN(struct corral_host, election_decided, 128);
#if CORRAL_HOST_VERSION == 1
PIN_SIZE(struct corral_host, 136);
#else
#error "pin the slots of the new host version and its size here"
#endif

/* cnxn ops v1 */
PIN(struct corral_cnxn_ops, version, 0);
PIN(struct corral_cnxn_ops, create, 8);
PIN(struct corral_cnxn_ops, start, 16);
PIN(struct corral_cnxn_ops, stop, 24);
PIN(struct corral_cnxn_ops, destroy, 32);
PIN(struct corral_cnxn_ops, send, 40);
PIN(struct corral_cnxn_ops, close, 48);
PIN(struct corral_cnxn_ops, set_reading, 56);
PIN(struct corral_cnxn_ops, queued_bytes, 64);
#if CORRAL_CNXN_OPS_VERSION == 1
PIN_SIZE(struct corral_cnxn_ops, 72);
#else
#error "pin the slots of the new cnxn ops version and its size here"
#endif

/* metrics ops v1 */
PIN(struct corral_metrics_ops, version, 0);
PIN(struct corral_metrics_ops, create, 8);
PIN(struct corral_metrics_ops, start, 16);
PIN(struct corral_metrics_ops, stop, 24);
PIN(struct corral_metrics_ops, destroy, 32);
PIN(struct corral_metrics_ops, define, 40);
PIN(struct corral_metrics_ops, gauge, 48);
PIN(struct corral_metrics_ops, record, 56);
#if CORRAL_METRICS_OPS_VERSION == 1
PIN_SIZE(struct corral_metrics_ops, 64);
#else
#error "pin the slots of the new metrics ops version and its size here"
#endif

/* election ops v1 */
PIN(struct corral_election_ops, version, 0);
PIN(struct corral_election_ops, create, 8);
PIN(struct corral_election_ops, start, 16);
PIN(struct corral_election_ops, stop, 24);
PIN(struct corral_election_ops, destroy, 32);
PIN(struct corral_election_ops, look, 40);
PIN(struct corral_election_ops, receive, 48);
#if CORRAL_ELECTION_OPS_VERSION == 1
PIN_SIZE(struct corral_election_ops, 56);
#else
#error "pin the slots of the new election ops version and its size here"
#endif

#endif /* __x86_64__ */

/* The checks above run at compile time; building this file is the test. */
int main(void)
{
    return 0;
}
