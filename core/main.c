/* corral-server: ZooKeeper's QuorumPeerMain in C. Parse the config, choose the mode, start the
 * metrics provider, the connection factories and the server, run until told to stop, then
 * stop everything in reverse order. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "admin.h"
#include "config.h"
#include "host.h"
#include "log.h"
#include "persist/database.h"
#include "plugin.h"
#include "server.h"
#include "tmpdir.h"

static void usage(FILE *to)
{
    fprintf(to,
            "usage: corral-server [--config FILE]\n"
            "\n"
            "A coordination server that speaks Apache ZooKeeper's client protocol.\n"
            "\n"
            "  -c, --config FILE   run with this libconfig file (see README.md for every key);\n"
            "                      without it, standalone on 127.0.0.1:2181 with a temporary\n"
            "                      data directory\n"
            "  -t, --check         validate the config and load its plugins, then exit\n"
            "  -p, --purge N       remove all but the N (>= 3) newest snapshots and the logs\n"
            "                      they do not need from the configured data directory, then\n"
            "                      exit (as ZooKeeper's zkCleanup.sh -n N)\n"
            "  -h, --help          print this help\n"
            "  -V, --version       print the version\n");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    log_info("core", "received %s, stopping", strsignal((int)sig));
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 't'},
        {"purge", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    bool check_only = false;
    long purge_retain = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:tp:hV", opts, NULL)) != -1) {
        switch (opt) {
        case 'p': {
            char *end;
            purge_retain = strtol(optarg, &end, 10);
            if (*end != '\0' || purge_retain < 3) {
                fprintf(stderr, "corral-server: --purge takes a count of at least 3, not \"%s\"\n",
                        optarg);
                return 2;
            }
            break;
        }
        case 'c':
            config_path = optarg;
            break;
        case 't':
            check_only = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("corral-server %s (ZooKeeper client protocol 3.8)\n", CORRAL_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "corral-server: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    /* 1. the config, validated before anything is touched */
    static struct config cfg;
    char err[2048];
    int rc = config_path != NULL ? config_load_file(&cfg, config_path, err, sizeof err)
                                 : config_load_string(&cfg, "<embedded>", config_embedded_default,
                                                      err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "corral-server: %s\n", err);
        return 1;
    }
    log_set_level(cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    if (purge_retain > 0) {
        if (cfg.data_dir == NULL) {
            fprintf(stderr, "corral-server: --purge needs a config with data_dir\n");
            config_free(&cfg);
            return 1;
        }
        int removed = database_purge(cfg.data_dir, cfg.data_log_dir, (int)purge_retain, err,
                                     sizeof err);
        config_free(&cfg);
        if (removed < 0) {
            fprintf(stderr, "corral-server: %s\n", err);
            return 1;
        }
        printf("removed %d files\n", removed);
        return 0;
    }

    char plugin_dir[4096];
    if (cfg.plugin_dir != NULL)
        snprintf(plugin_dir, sizeof plugin_dir, "%s", cfg.plugin_dir);
    else
        plugin_default_dir(plugin_dir, sizeof plugin_dir);

    struct event_base *base = event_base_new();
    if (base == NULL) {
        fprintf(stderr, "corral-server: cannot create the event loop\n");
        return 1;
    }
    static struct host_env env;
    env.base = base;
    env.cfg = &cfg;
    env.plugin_dir = plugin_dir;

    /* 2-4. standalone (no quorum group; config.c refuses one for now); metrics provider */
    static struct instance metrics, listeners[16];
    size_t n_created = 0;
    int exit_code = 1;
    struct admin *admin = NULL;
    if (cfg.has_metrics) {
        if (instance_create(&metrics, &env, &cfg.metrics, CORRAL_KIND_METRICS, err,
                            sizeof err) < 0) {
            fprintf(stderr, "corral-server: %s\n", err);
            goto out_base;
        }
    } else {
        instance_init_null_metrics(&metrics, &env);
    }
    env.metrics = &metrics;

    /* 5. the connection factories, created (config read) before any data is touched */
    for (; n_created < cfg.n_listeners; n_created++) {
        if (instance_create(&listeners[n_created], &env, &cfg.listeners[n_created],
                            CORRAL_KIND_CNXN, err, sizeof err) < 0) {
            fprintf(stderr, "corral-server: %s\n", err);
            goto out_instances;
        }
    }
    if (check_only) {
        printf("%s: configuration is valid\n", cfg.file);
        exit_code = 0;
        goto out_instances;
    }

    /* 6. the data directory and the database */
    struct tmpdir data_tmp = {0};
    const char *data_dir = cfg.data_dir;
    if (data_dir == NULL) {
        if (tmpdir_make(&data_tmp, "corral-data", err, sizeof err) != 0) {
            fprintf(stderr, "corral-server: %s\n", err);
            goto out_instances;
        }
        data_dir = data_tmp.path;
    }
    env.srv = server_new(&cfg, &env, data_dir);
    if (env.srv == NULL) {
        fprintf(stderr, "corral-server: cannot set up the server: out of memory\n");
        goto out_tmp;
    }
    admin = admin_new(env.srv);
    if (admin == NULL) {
        fprintf(stderr, "corral-server: cannot set up the admin server: out of memory\n");
        goto out_server;
    }
    log_info("core", "corral %s starting standalone, config %s, data dir %s%s", CORRAL_VERSION,
             cfg.file, data_dir, data_tmp.path[0] != '\0' ? " (temporary)" : "");
    if (database_open(env.srv, err, sizeof err) != 0) {
        fprintf(stderr, "corral-server: %s\n", err);
        goto out_server;
    }

    /* 7. start: metrics, then listeners, then the server's timers */
    log_info("core", "plugin dir %s", plugin_dir);
    size_t n_started = 0;
    if (instance_start(&metrics, err, sizeof err) < 0) {
        fprintf(stderr, "corral-server: %s\n", err);
        goto out_server;
    }
    log_info("core", "metrics provider %s %s (%s)", metrics.lib.desc->name,
             metrics.lib.desc->version, metrics.lib.path);
    for (; n_started < cfg.n_listeners; n_started++) {
        struct instance *l = &listeners[n_started];
        if (instance_start(l, err, sizeof err) < 0) {
            fprintf(stderr, "corral-server: %s\n", err);
            instance_stop(l);
            goto out_stop;
        }
        log_info("core", "listener %s: plugin %s %s (%s)", cfg.listeners[n_started].name,
                 l->lib.desc->name, l->lib.desc->version, l->lib.path);
    }
    if (server_start(env.srv) != 0) {
        fprintf(stderr, "corral-server: cannot start the server's timers\n");
        goto out_stop;
    }
    /* 7b. the admin server (HTTP), once there is a server to report on */
    if (admin_start(admin, base, err, sizeof err) < 0) {
        fprintf(stderr, "corral-server: %s\n", err);
        server_stop(env.srv);
        goto out_stop;
    }

    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);
    log_info("core", "serving");
    event_base_dispatch(base);
    event_free(sigterm);
    event_free(sigint);
    admin_stop(admin);
    server_stop(env.srv);
    exit_code = 0;

    /* 8. stop in reverse order */
out_stop:
    admin_stop(admin);
    while (n_started > 0)
        instance_stop(&listeners[--n_started]);
    instance_stop(&metrics);
out_server:
    admin_free(admin);
    database_close(env.srv);
    server_free(env.srv);
out_tmp:
    tmpdir_remove(&data_tmp);
out_instances:
    while (n_created > 0)
        instance_release(&listeners[--n_created]);
    instance_release(&metrics);
out_base:
    event_base_free(base);
    for (size_t i = 0; i < cfg.n_listeners; i++)
        instance_unload(&listeners[i]);
    instance_unload(&metrics);
    config_free(&cfg);
    if (exit_code == 0)
        log_info("core", "stopped");
    return exit_code;
}
