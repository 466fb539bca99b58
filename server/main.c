/*
 * main.c — mixupd: command line, start-up, signals, shutdown.
 *
 * Start-up order: configuration (file, then --set overrides, then checks),
 * stale shared memory of this instance removed, dataset loaded into shared
 * memory, sockets bound, workers started. Runs in the foreground until
 * SIGINT or SIGTERM; the signal handler only stops the loop, and shutdown
 * then runs in this order: sockets and timers closed, waiting requests
 * dropped, workers joined, ring freed, ipc files removed, shared memory
 * unlinked.
 */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "batch.h"
#include "config.h"
#include "dataset.h"
#include "log.h"
#include "mixup.h"
#include "server.h"
#include "shm.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mixupd [--config FILE] [--set section.key=value ...]\n"
            "              [--check] [--print-config] [--help] [--version]\n"
            "\n"
            "Serves mixup-mixed batches of a dataset to training processes.\n"
            "  --config FILE    read an INI configuration file\n"
            "  --set S.K=V      override one option (repeatable; after the file)\n"
            "  --check          validate the configuration and the dataset, exit\n"
            "  --print-config   print the effective configuration, exit\n"
            "  --help           this text and every option with its default\n"
            "  --version        print the version\n"
            "\n");
}

typedef struct args {
    const char *config;
    const char *sets[64];
    int n_sets;
    int check, print_config;
} args;

/* Return -1 to continue, else an exit status. */
static int parse_args(int argc, char **argv, args *a)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},
        {"set", required_argument, 0, 's'},
        {"check", no_argument, 0, 'k'},
        {"print-config", no_argument, 0, 'p'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': a->config = optarg; break;
        case 's':
            if (a->n_sets == 64) {
                fprintf(stderr, "mixupd: too many --set options (64 at most)\n");
                return 1;
            }
            a->sets[a->n_sets++] = optarg;
            break;
        case 'k': a->check = 1; break;
        case 'p': a->print_config = 1; break;
        case 'h':
            usage(stdout);
            cfg_print_help(stdout);
            return 0;
        case 'V':
            printf("mixupd %d.%d.%d (protocol %u)\n", MIXUP_VERSION_MAJOR,
                   MIXUP_VERSION_MINOR, MIXUP_VERSION_PATCH, 1u);
            return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mixupd: unexpected argument '%s'\n", argv[optind]);
        return 1;
    }
    return -1;
}

static int build_config(const args *a, cfg_config *cfg)
{
    char err[512];
    cfg_defaults(cfg);
    if (a->config && cfg_load_file(cfg, a->config, err, sizeof err) < 0) {
        fprintf(stderr, "mixupd: %s\n", err);
        return -1;
    }
    cfg_overrides_begin(cfg);
    for (int i = 0; i < a->n_sets; i++)
        if (cfg_set(cfg, a->sets[i], err, sizeof err) < 0) {
            fprintf(stderr, "mixupd: --set %s: %s\n", a->sets[i], err);
            return -1;
        }
    if (cfg_validate(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "mixupd: %s\n", err);
        return -1;
    }
    return 0;
}

static int load_dataset(const cfg_config *cfg, ds_dataset *ds)
{
    char err[1024];
    ds_source src = {
        .format = ds_format_parse(cfg->format),
        .images = cfg->images,
        .labels = cfg->labels,
        .classes = cfg->classes,
    };
    int stale = shm_reclaim_stale(cfg->name);
    if (stale > 0)
        log_warn("removed %d shared-memory segment(s) left by a killed "
                 "mixupd '%s'", stale, cfg->name);
    if (ds_load(ds, &src, cfg->name, err, sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    log_info("dataset %s: %" PRIu64 " samples of %ux%ux%u %s, %u classes, "
             "%" PRIu64 " bytes in shared memory (%s)",
             cfg->format, ds->n, ds->h, ds->w, ds->c,
             ds->dtype == DS_U8 ? "uint8" : "float32", ds->classes, ds->bytes,
             ds->seg.name);
    return 0;
}

static void on_signal(uv_signal_t *handle, int signum)
{
    log_info("%s: shutting down", strsignal(signum));
    uv_stop(handle->loop);
}

static int serve(const cfg_config *cfg, const ds_dataset *ds)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[512];
    srv_server *srv = NULL;
    if (srv_start(&srv, &loop, cfg, ds, err, sizeof err) < 0) {
        log_error("%s", err);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        return -1;
    }
    uv_signal_t sigint, sigterm;
    uv_signal_init(&loop, &sigint);
    uv_signal_init(&loop, &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    log_info("ready: %u workers, %u ring slots, batch %u, alpha %g",
             cfg->workers, cfg->ring_slots, cfg->batch_size, cfg->alpha);

    uv_run(&loop, UV_RUN_DEFAULT);

    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
    srv_stop(srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        log_warn("event loop closed with handles still open");
    return 0;
}

int main(int argc, char **argv)
{
    args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    static cfg_config cfg;
    if (build_config(&a, &cfg) < 0)
        return 1;
    if (a.print_config) {
        cfg_print(&cfg, stdout);
        return 0;
    }
    log_set_level(cfg.log_level);
    signal(SIGPIPE, SIG_IGN);

    ds_dataset ds = {0};
    if (load_dataset(&cfg, &ds) < 0)
        return 1;
    if (a.check) {
        bat_plan plan;
        char err[512];
        rc = bat_plan_init(&plan, &ds, cfg.batch_size, cfg.alpha, cfg.shuffle,
                           err, sizeof err);
        ds_unload(&ds);
        if (rc < 0) {
            log_error("%s", err);
            return 1;
        }
        printf("mixupd: configuration and dataset are valid\n");
        return 0;
    }
    rc = serve(&cfg, &ds) < 0 ? 1 : 0;
    ds_unload(&ds);
    log_info("stopped");
    return rc;
}
