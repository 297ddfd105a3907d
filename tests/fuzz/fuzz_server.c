/* libFuzzer target: the whole request path. A session is opened with a valid ConnectRequest,
 * then the input is cut into frames (2-byte big-endian lengths) that go through
 * server_cnxn_frame as a client's requests would: decode, prep, apply, reply. Whatever the
 * bytes, the server must neither crash nor leak; a malformed frame may only close the
 * connection. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "host.h"
#include "log.h"
#include "server.h"

static bool closed;

static int fz_send(void *self, struct corral_cnxn *c, const struct iovec *iov, int iovcnt)
{
    (void)self, (void)c;
    int total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += (int)iov[i].iov_len;
    return total;
}

static void fz_close(void *self, struct corral_cnxn *c, int reason)
{
    (void)self, (void)c, (void)reason;
    closed = true;
}

static void fz_set_reading(void *self, struct corral_cnxn *c, bool on)
{
    (void)self, (void)c, (void)on;
}

static size_t fz_queued(void *self, const struct corral_cnxn *c)
{
    (void)self, (void)c;
    return 0;
}

static const struct corral_cnxn_ops fz_ops = {
    .version = CORRAL_CNXN_OPS_VERSION,
    .send = fz_send,
    .close = fz_close,
    .set_reading = fz_set_reading,
    .queued_bytes = fz_queued,
};
static const struct corral_plugin fz_plugin = {
    .abi = CORRAL_ABI, .kind = CORRAL_KIND_CNXN, .name = "fuzz", .version = "0",
    .ops = {.cnxn = &fz_ops}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct config cfg;
    static bool loaded;
    char err[256];
    if (!loaded) {
        log_set_level(CORRAL_LOG_ERROR); /* every malformed frame would log a line */
        if (config_load_string(&cfg, "fuzz",
                               "extended_types = true; four_letter_words = \"*\";"
                               "listeners = ( { plugin = \"cnxn-nio\"; } );",
                               err, sizeof err) != 0)
            abort();
        loaded = true;
    }
    struct event_base *base = event_base_new();
    struct host_env env = {.base = base, .cfg = &cfg};
    struct instance metrics, listener;
    instance_init_null_metrics(&metrics, &env);
    env.metrics = &metrics;
    memset(&listener, 0, sizeof listener);
    listener.lib.desc = &fz_plugin;
    env.srv = server_new(&cfg, &env, "/nonexistent");

    struct corral_cnxn c = {.peer_port = 1};
    strcpy(c.peer_addr, "127.0.0.1");
    closed = false;
    if (server_cnxn_opened(env.srv, &listener, &c) == 0) {
        static const uint8_t connect[45] = {[14] = 0x75, [15] = 0x30, [27] = 16};
        server_cnxn_frame(env.srv, &c, connect, sizeof connect);
        size_t off = 0;
        while (!closed && off + 2 <= size) {
            size_t len = (size_t)data[off] << 8 | data[off + 1];
            off += 2;
            if (len > size - off)
                len = size - off;
            server_cnxn_frame(env.srv, &c, data + off, len);
            off += len;
        }
        server_cnxn_closed(env.srv, &c);
    }
    server_free(env.srv);
    event_base_free(base);
    return 0;
}
