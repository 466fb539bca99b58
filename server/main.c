/*
 * main.c — mixupd: command line, start-up, signals, shutdown.
 *
 * Start-up order: configuration (file, then --set overrides, then checks),
 * the instance lock (one daemon per server.name), stale shared memory of
 * this instance removed, dataset loaded into shared memory, sockets bound,
 * workers started, then READY=1 to systemd (sd_notify; a no-op outside
 * systemd).
 *
 * Signals are handled from main's first instruction. Until the loop runs,
 * a plain handler only records them: SIGINT/SIGTERM abandon the dataset
 * load (the loaders look between chunks), remove what was created and
 * exit 0; SIGHUP is ignored with a log line (there is nothing to reload
 * into yet). Once the loop runs, they only request things of it:
 *   SIGHUP           reload: re-read the file and --set options, apply
 *                    those the table marks runtime, log the others as
 *                    needing a restart; a broken file changes nothing.
 *   SIGINT, SIGTERM  drain: stop taking requests, let the batches being
 *                    computed for waiting requests go out (1 s at most),
 *                    then shut down in this order: signal handlers and
 *                    timers closed, socket polling stopped, requests still
 *                    waiting dropped, workers joined, ring freed, socket
 *                    closed, ipc files removed, dataset unlinked from
 *                    /dev/shm, instance lock removed.
 *   a second one     skips the drain.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <nanomsg/nn.h>
#include <nanomsg/pair.h>
#include <systemd/sd-daemon.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "batch.h"
#include "auth.h"
#include "config.h"
#include "dataset.h"
#include "fdlimit.h"
#include "ipcperm.h"
#include "loadwatch.h"
#include "log.h"
#include "pack_file.h"
#include "mixup.h" /* MIXUP_VERSION_* */
#include "proto.h"
#include "ring.h"
#include "reach.h"
#include "server.h"
#include "shm.h"

/* ------------------------------------------------ signals before the loop */

static volatile sig_atomic_t early_stop, early_hup;

static void on_early_signal(int signum)
{
    if (signum == SIGHUP) {
        early_hup = 1;
        return;
    }
    early_stop = signum;
    ds_stop_requested = 1;
}

static void catch_early_signals(void)
{
    struct sigaction sa = {.sa_handler = on_early_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Say what the early handler saw; return 1 if a stop was asked. */
static int early_signals(const char *during)
{
    if (early_hup) {
        early_hup = 0;
        log_warn("SIGHUP while %s: ignored (reload once serving)", during);
    }
    if (early_stop)
        log_info("%s while %s: stopping", strsignal(early_stop), during);
    return early_stop != 0;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mixupd [--config FILE | --no-config]\n"
            "              [--set section.key=value ...]\n"
            "              [--check] [--pack FILE] [--print-config] [--help]\n"
            "              [--version]\n"
            "\n"
            "Serves mixup-mixed batches of a dataset to training processes.\n"
            "  --config FILE    read an INI configuration file (default:\n"
            "                   $MIXUPD_CONFIG when set; no other file is ever\n"
            "                   read unless named: the service's unit names\n"
            "                   its own)\n"
            "  --no-config      the built-in defaults, whatever $MIXUPD_CONFIG\n"
            "  --set S.K=V      override one option (repeatable; after the file)\n"
            "  --check          validate the configuration and the dataset, exit\n"
            "  --pack FILE      load the [dataset] and write it as a pack file\n"
            "                   (dataset.format = pack serves it), exit\n"
            "  --print-config   print the effective configuration, exit\n"
            "  --help           this text and every option with its default\n"
            "  --version        print the version\n"
            "\n");
}

typedef struct args {
    const char *config;     /* NULL: the built-in defaults */
    const char *config_why; /* where the path came from, for the log */
    int no_config;
    const char *sets[64];
    int n_sets;
    int check, print_config;
    const char *pack;
} args;

static int default_config(args *a);

/* Return -1 to continue, else an exit status. */
static int parse_args(int argc, char **argv, args *a)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},
        {"no-config", no_argument, 0, 'n'},
        {"set", required_argument, 0, 's'},
        {"check", no_argument, 0, 'k'},
        {"pack", required_argument, 0, 'P'},
        {"print-config", no_argument, 0, 'p'},
        {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': a->config = optarg; break;
        case 'n': a->no_config = 1; break;
        case 's':
            if (a->n_sets == 64) {
                fprintf(stderr, "mixupd: too many --set options (64 at most)\n");
                return 1;
            }
            a->sets[a->n_sets++] = optarg;
            break;
        case 'k': a->check = 1; break;
        case 'P': a->pack = optarg; break;
        case 'p': a->print_config = 1; break;
        case 'h':
            usage(stdout);
            cfg_print_help(stdout);
            return 0;
        case 'V':
            printf("mixupd %d.%d.%d (protocol %u)\n", MIXUP_VERSION_MAJOR,
                   MIXUP_VERSION_MINOR, MIXUP_VERSION_PATCH, MXP_VERSION);
            return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mixupd: unexpected argument '%s'\n", argv[optind]);
        return 1;
    }
    return default_config(a);
}

/* Without --config: $MIXUPD_CONFIG, else the built-in defaults. There is
 * deliberately no compiled-in path: an installed example file would
 * otherwise become the configuration of every daemon started by hand, by a
 * test or by a notebook, pipelines and ipc directory included. The unit
 * names its file with --config. An empty $MIXUPD_CONFIG counts as unset. */
static int default_config(args *a)
{
    if (a->no_config) {
        if (a->config) {
            fprintf(stderr, "mixupd: --config and --no-config exclude each "
                    "other\n");
            return 1;
        }
        a->config_why = "--no-config";
        return -1;
    }
    if (a->config) {
        a->config_why = "--config";
        return -1;
    }
    const char *env = getenv("MIXUPD_CONFIG");
    if (env && *env) {
        a->config = env;
        a->config_why = "$MIXUPD_CONFIG";
    }
    return -1;
}

static void log_config_source(const args *a)
{
    if (a->config)
        log_info("configuration: %s (%s)", a->config, a->config_why);
    else
        log_info("configuration: built-in defaults (%s)",
                 a->config_why ? a->config_why
                               : "no --config and no $MIXUPD_CONFIG");
}

/* /dev/null (or a link to it) stands for an empty file, as it does for
 * most tools: the way to say "no file" through $MIXUPD_CONFIG. */
static int is_null_device(const char *path)
{
    struct stat st, null;
    return stat(path, &st) == 0 && S_ISCHR(st.st_mode) &&
           stat("/dev/null", &null) == 0 && st.st_rdev == null.st_rdev;
}

/* File, then --set overrides, then cross-checks. */
static int build_config(const args *a, cfg_config *cfg, char *err,
                        size_t errlen)
{
    char msg[512];
    cfg_defaults(cfg);
    if (a->config && !is_null_device(a->config) &&
        cfg_load_file(cfg, a->config, err, errlen) < 0)
        return -1;
    cfg_overrides_begin(cfg);
    for (int i = 0; i < a->n_sets; i++)
        if (cfg_set(cfg, a->sets[i], msg, sizeof msg) < 0) {
            snprintf(err, errlen, "--set %s: %s", a->sets[i], msg);
            return -1;
        }
    return cfg_validate(cfg, err, errlen) < 0 ? -1 : 0;
}

/* The pipelines to serve: main (the file's sections), then each
 * [pipeline NAME] resolved over main, with their datasets. Pipelines
 * whose [dataset] settings are the same files share one load. */
typedef struct pipelines {
    int n;
    srv_pipeline_def defs[SRV_MAX_PIPELINES];
    cfg_config *cfgs[SRV_MAX_PIPELINES]; /* [0] is the main configuration */
    ds_dataset ds[SRV_MAX_PIPELINES];    /* loaded ones, n_ds of them */
    int n_ds;
} pipelines;

/* Return 0, -1 on failure (logged), 1 when a stop signal came. */
static int load_one(const cfg_config *cfg, const char *pipeline,
                    ds_dataset *ds)
{
    char err[1024], segment[32];
    snprintf(segment, sizeof segment, strcmp(pipeline, "main")
                                          ? "dataset-%s" : "dataset",
             pipeline);
    ds_source src = {
        .format = ds_format_parse(cfg->format),
        .images = cfg->images,
        .labels = cfg->labels,
        .classes = cfg->classes,
        .segment = segment,
        .root = cfg->root,
        .decoded = cfg->storage == 1,
        .mapped = cfg->storage == 3,
        .channels = cfg->channels,
        .height = cfg->ds_height,
        .width = cfg->ds_width,
        .max_pixels = cfg->max_pixels,
        .max_decode_memory = cfg->max_decode_memory,
        .skip_bad = cfg->on_bad_file == 1,
        .verify_full = cfg->verify == 1,
        .load_threads = cfg->workers,
    };
    log_info("loading dataset %s (%s) for pipeline %s", cfg->images,
             cfg->format, pipeline);
    /* Image folders draw their own line (files, not bytes) on a tty. */
    int images = src.format == DS_FOLDER || src.format == DS_LIST;
    loadwatch watch;
    lw_start(&watch, pipeline, cfg->images, images ? "" : cfg->labels,
             !images && isatty(2));
    int rc = ds_load(ds, &src, cfg->name, err, sizeof err);
    lw_stop(&watch);
    if (early_signals("loading the dataset")) {
        if (rc == 0)
            ds_unload(ds); /* finished, but no longer wanted */
        return 1;
    }
    if (rc < 0) {
        if (strcmp(pipeline, "main"))
            log_error("pipeline %s: %s", pipeline, err);
        else
            log_error("%s", err);
        return -1;
    }
    /* Files of their own sizes (an encoded folder) have no one shape:
     * batches get the output size, which the pipeline's line gives. */
    const char *dtype = ds->dtype == DS_U8 ? "uint8" : "float32";
    char shape[96];
    if (ds->h && ds->w)
        snprintf(shape, sizeof shape, "%ux%ux%u %s", ds->h, ds->w, ds->c,
                 dtype);
    else
        snprintf(shape, sizeof shape, "%s %u-channel images of their own "
                 "sizes", dtype, ds->c);
    log_info("dataset %s: %" PRIu64 " samples of %s, %u classes, "
             "%" PRIu64 " bytes %s%s%s, loaded for pipeline %s; "
             "digest %016" PRIx64 " (%.1f ms)",
             cfg->format, ds->n, shape, ds->classes, ds->bytes,
             ds->map ? "" : "in shared memory (",
             ds->map ? ds->origin : ds->seg.name, ds->map ? "" : ")",
             pipeline, ds->digest, ds->digest_ms);
    return 0;
}

static void unload_pipelines(pipelines *P)
{
    for (int i = 0; i < P->n_ds; i++)
        ds_unload(&P->ds[i]);
    for (int i = 1; i < P->n; i++)
        free(P->cfgs[i]);
    P->n = P->n_ds = 0;
}

static int load_pipelines(cfg_config *cfg, pipelines *P, int locked)
{
    char err[1024];
    int stale = shm_reclaim_stale(cfg->name, locked);
    if (stale > 0)
        log_warn("removed %d shared-memory segment(s) left by a killed "
                 "mixupd '%s'", stale, cfg->name);
    P->cfgs[0] = cfg;
    P->n = 1;
    for (int i = 0; i < cfg->n_pipelines; i++) {
        P->cfgs[P->n] = malloc(sizeof *cfg);
        if (!P->cfgs[P->n] ||
            cfg_pipeline_resolve(cfg, i, P->cfgs[P->n], err, sizeof err) < 0) {
            log_error("%s", P->cfgs[P->n] ? err : "out of memory");
            free(P->cfgs[P->n]);
            unload_pipelines(P);
            return -1;
        }
        P->n++;
    }
    /* What the configuration alone decides, before any load. */
    for (int i = 0; i < P->n; i++)
        if (bat_check_config(P->cfgs[i], err, sizeof err) < 0) {
            cfg_annotate(P->cfgs[i], err, sizeof err);
            log_error("pipeline %s: %s", i ? cfg->pipelines[i - 1].name
                                           : "main", err);
            unload_pipelines(P);
            return -1;
        }
    for (int i = 0; i < P->n; i++) {
        const char *name = i ? cfg->pipelines[i - 1].name : "main";
        P->defs[i] = (srv_pipeline_def){.name = name, .cfg = P->cfgs[i]};
        for (int j = 0; j < i && !P->defs[i].ds; j++)
            if (cfg_same_dataset(P->cfgs[i], P->cfgs[j])) {
                P->defs[i].ds = P->defs[j].ds;
                log_info("pipeline %s: same dataset as pipeline %s, loaded "
                         "once (%s)", name, P->defs[j].name,
                         P->defs[j].ds->seg.name);
            }
        if (P->defs[i].ds)
            continue;
        int rc = load_one(P->cfgs[i], name, &P->ds[P->n_ds]);
        if (rc != 0) {
            unload_pipelines(P);
            return rc;
        }
        P->defs[i].ds = &P->ds[P->n_ds++];
    }
    return 0;
}

/* Batch buffers are a few MB each and freed by nanomsg after sending.
 * glibc would give them back to the kernel (trimming the heap, or mmap
 * and munmap for each) and take page faults to get them again: about 150
 * faults and half the CPU of a batch (bench/). Memory stays bounded by
 * the ring and the replies in flight either way. Both knobs are needed:
 * setting one stops glibc's tuning of the other. */
static void keep_heap(void)
{
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

/* The ring and dataset segments go to server.ipc_group with
 * server.shm_mode: the trainers allowed on the socket are the ones that
 * may map the ring. Return 0 or -1 (logged). */
static int shm_access(const cfg_config *cfg)
{
    char err[256];
    gid_t gid = (gid_t)-1;
    if (cfg->ipc_group[0] && ipc_group_id(cfg->ipc_group, &gid, err,
                                          sizeof err) < 0) {
        log_error("%s", err);
        return -1;
    }
    shm_set_access((unsigned)strtoul(cfg->shm_mode, NULL, 8), gid);
    return 0;
}

/* ------------------------------------------------------------ serving */

typedef struct daemon_state {
    uv_loop_t loop;
    const args *args;
    cfg_config *cfg;
    srv_server *srv;
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t drain_timer, summary_timer;
    uv_check_t drain_check;
    int signals; /* SIGINT/SIGTERM received */
    srv_stats last;
    uint64_t last_summary_ms;
} daemon_state;

static void stop_now(daemon_state *d)
{
    uv_stop(&d->loop);
}

static void on_drain_check(uv_check_t *h)
{
    daemon_state *d = h->data;
    if (srv_waiting(d->srv) == 0)
        stop_now(d);
}

static void on_drain_timeout(uv_timer_t *t)
{
    daemon_state *d = t->data;
    log_warn("%u request(s) still waiting after 1 s: stopping anyway",
             srv_waiting(d->srv));
    stop_now(d);
}

/* First signal: take no new requests, let the batches being computed for
 * waiting requests go out (1 s at most), then stop. Second: stop now. */
static void on_stop_signal(uv_signal_t *h, int signum)
{
    daemon_state *d = h->data;
    if (d->signals++ > 0) {
        log_warn("%s again: stopping now", strsignal(signum));
        stop_now(d);
        return;
    }
    log_info("%s: draining %u waiting request(s), then shutting down",
             strsignal(signum), srv_waiting(d->srv));
    sd_notify(0, "STOPPING=1\nSTATUS=draining");
    srv_begin_drain(d->srv);
    if (srv_waiting(d->srv) == 0) {
        stop_now(d);
        return;
    }
    uv_check_start(&d->drain_check, on_drain_check);
    uv_timer_start(&d->drain_timer, on_drain_timeout, 1000, 0);
}

static void note_reload(void *ctx, int applied, const char *msg)
{
    (void)ctx;
    if (applied)
        log_info("reload: %s", msg);
    else
        log_warn("reload: %s", msg);
}

static void start_summary(daemon_state *d);

/* SIGHUP: read the configuration again; apply what may change while
 * running, report the rest, and never die of a bad file. */
static void on_reload_signal(uv_signal_t *h, int signum)
{
    daemon_state *d = h->data;
    (void)signum;
    sd_notify(0, "RELOADING=1");
    static cfg_config next;
    char err[512];
    if (build_config(d->args, &next, err, sizeof err) < 0) {
        log_error("reload: %s; keeping the running configuration", err);
        sd_notify(0, "READY=1\nSTATUS=reload failed; running as before");
        return;
    }
    int left = cfg_reload(d->cfg, &next, note_reload, NULL);
    if (log_open(d->cfg->log_file, err, sizeof err) < 0)
        log_error("reload: %s", err); /* keeps the previous destination */
    log_set_level(d->cfg->log_level);
    srv_apply_runtime(d->srv, d->cfg);
    start_summary(d);
    log_info("reloaded%s", left ? " (some changes need a restart)" : "");
    sd_notify(0, "READY=1\nSTATUS=serving (reloaded)");
}

static void on_summary(uv_timer_t *t)
{
    daemon_state *d = t->data;
    srv_stats now;
    srv_get_stats(d->srv, &now);
    uint64_t ms = uv_now(&d->loop);
    double dt = (double)(ms - d->last_summary_ms) / 1000.0;
    if (dt <= 0)
        return;
    log_info("summary: %u streams, %.1f batches/s, %.1f MB/s, ring %u/%u "
             "held, %llu requests, %llu errors",
             now.streams_open,
             (double)(now.batches_sent - d->last.batches_sent) / dt,
             (double)(now.bytes_sent - d->last.bytes_sent) / dt / 1e6,
             now.ring_slots - now.ring_free, now.ring_slots,
             (unsigned long long)now.requests,
             (unsigned long long)now.errors_sent);
    d->last = now;
    d->last_summary_ms = ms;
}

static void start_summary(daemon_state *d)
{
    uv_timer_stop(&d->summary_timer);
    uint64_t every = (uint64_t)d->cfg->summary_interval * 1000;
    srv_get_stats(d->srv, &d->last);
    d->last_summary_ms = uv_now(&d->loop);
    if (every)
        uv_timer_start(&d->summary_timer, on_summary, every, every);
}

static void init_handles(daemon_state *d)
{
    uv_signal_t *sig[3] = {&d->sigint, &d->sigterm, &d->sighup};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&d->loop, sig[i]);
        sig[i]->data = d;
    }
    uv_signal_start(&d->sigint, on_stop_signal, SIGINT);
    uv_signal_start(&d->sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&d->sighup, on_reload_signal, SIGHUP);
    uv_timer_init(&d->loop, &d->drain_timer);
    uv_timer_init(&d->loop, &d->summary_timer);
    uv_check_init(&d->loop, &d->drain_check);
    d->drain_timer.data = d->summary_timer.data = d->drain_check.data = d;
}

static void close_handles(daemon_state *d)
{
    uv_handle_t *h[6] = {
        (uv_handle_t *)&d->sigint,      (uv_handle_t *)&d->sigterm,
        (uv_handle_t *)&d->sighup,      (uv_handle_t *)&d->drain_timer,
        (uv_handle_t *)&d->summary_timer, (uv_handle_t *)&d->drain_check,
    };
    for (int i = 0; i < 6; i++)
        uv_close(h[i], NULL);
}

static int serve(const args *a, cfg_config *cfg, const pipelines *P)
{
    static daemon_state d;
    d.args = a;
    d.cfg = cfg;
    uv_loop_init(&d.loop);
    char err[512];
    if (srv_start(&d.srv, &d.loop, cfg, P->defs, P->n, err, sizeof err) < 0) {
        cfg_annotate(cfg, err, sizeof err);
        log_error("%s", err);
        uv_loop_close(&d.loop);
        return -1;
    }
    init_handles(&d);
    start_summary(&d);
    /* A signal between the load and init_handles() was only recorded. */
    if (early_signals("starting"))
        stop_now(&d);
    log_info("ready: %d pipeline(s), %u workers, %u ring slots each, "
             "batch %u, alpha %g", P->n, cfg->workers, cfg->ring_slots,
             cfg->batch_size, cfg->alpha);
    sd_notifyf(0, "READY=1\nSTATUS=serving %llu samples in %d pipeline(s) "
               "on %d endpoint(s)", (unsigned long long)P->defs[0].ds->n,
               P->n, cfg->n_endpoints);

    uv_run(&d.loop, UV_RUN_DEFAULT);

    close_handles(&d);
    srv_stop(d.srv);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&d.loop) != 0)
        log_warn("event loop closed with handles still open");
    return 0;
}

static void warn_line(void *ctx, const char *msg)
{
    (void)ctx;
    log_warn("%s", msg);
}

/* Bind every endpoint to a throw-away socket: what the real start would
 * do (port range, ipc directory, an address this host has, in use). */
static int check_endpoints(const cfg_config *cfg)
{
    int bad = 0;
    for (int i = 0; i < cfg->n_endpoints; i++) {
        int s = nn_socket(AF_SP, NN_PAIR);
        if (s < 0)
            return -1;
        char where[CFG_STR_MAX + 16];
        if (nn_bind(s, cfg->endpoints[i]) < 0) {
            int e = nn_errno();
            log_error("%s: cannot bind server.endpoint %s: %s%s",
                      cfg_endpoint_where(cfg, i, where, sizeof where),
                      cfg->endpoints[i], nn_strerror(e),
                      e == EADDRINUSE ? " (another daemon listens there: "
                                        "give this one its own "
                                        "server.endpoint)" : "");
            bad = 1;
        }
        nn_close(s);
    }
    return bad ? -1 : 0;
}

/* The rings are made only when serving: --check adds up what they will
 * take and compares it with what /dev/shm has left (the datasets it
 * loaded are there already). */
static int check_ring_room(const cfg_config *cfg, const pipelines *P)
{
    char err[512];
    uint64_t need = 0, avail = 0;
    for (int i = 0; i < P->n; i++) {
        bat_plan plan;
        if (bat_plan_from_config(&plan, P->defs[i].ds, P->defs[i].cfg, err,
                                 sizeof err) < 0)
            return -1; /* reported by the caller's pass */
        size_t bytes = ring_segment_bytes(cfg->ring_slots, plan.layout.total);
        if (bytes == 0 || need + bytes < need) {
            log_error("pipeline %s: %u ring slots of %zu bytes overflow",
                      P->defs[i].name, cfg->ring_slots, plan.layout.total);
            return -1;
        }
        need += bytes;
    }
    if (shm_room(&avail) < 0) {
        log_warn("cannot tell the room left in /dev/shm: %s", strerror(errno));
        return 0;
    }
    if (need > avail) {
        log_error("no room in /dev/shm for the ring%s: need %llu bytes "
                  "(server.ring_slots = %u batches of each pipeline), %llu "
                  "available; lower server.ring_slots or batch.size, or "
                  "enlarge /dev/shm", P->n > 1 ? "s" : "",
                  (unsigned long long)need, cfg->ring_slots,
                  (unsigned long long)avail);
        return -1;
    }
    printf("rings: %llu bytes of /dev/shm (%llu available)\n",
           (unsigned long long)need, (unsigned long long)avail);
    return 0;
}

static int check_only(const cfg_config *cfg, const pipelines *P)
{
    bat_plan plan;
    char err[512];
    for (int i = 0; i < P->n; i++)
        if (bat_plan_from_config(&plan, P->defs[i].ds, P->defs[i].cfg, err,
                                 sizeof err) < 0) {
            cfg_annotate(P->defs[i].cfg, err, sizeof err);
            log_error("pipeline %s: %s", P->defs[i].name, err);
            return 1;
        }
    if (check_ring_room(cfg, P) < 0)
        return 1;
    for (int i = 0; i < P->n; i++) {
        const ds_dataset *ds = P->defs[i].ds;
        printf("pipeline %s: %llu samples of %s\n", P->defs[i].name,
               (unsigned long long)ds->n, P->defs[i].cfg->images);
        ds_describe_images_text(ds, stdout);
    }
    printf("mixupd: configuration and dataset are valid\n");
    return 0;
}

/* mixupd --pack FILE: the main pipeline's dataset, loaded as for
 * serving, written as a pack. No instance lock: packing beside a running
 * daemon of the same name is fine (segments carry the pid). */
static int pack_only(const args *a, const cfg_config *cfg)
{
    ds_dataset ds;
    int rc = load_one(cfg, "main", &ds);
    if (rc != 0)
        return rc > 0 ? 0 : 1;
    char err[1024];
    pk_write_opts o = {.progress = isatty(2) ? pk_progress_tty : NULL,
                       .ctx = (void *)a->pack};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = pk_write(&ds, a->pack, &o, err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    uint64_t digest = ds.digest;
    ds_unload(&ds);
    if (early_signals("packing")) {
        log_info("stopped: no pack written to %s", a->pack);
        return 0;
    }
    if (rc < 0) {
        log_error("%s", err);
        return 1;
    }
    log_info("packed %s: digest %016" PRIx64 " (%.1f s)", a->pack, digest,
             (double)(t1.tv_sec - t0.tv_sec) +
                 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}

int main(int argc, char **argv)
{
    catch_early_signals();
    args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    static cfg_config cfg;
    char err[1024];
    if (build_config(&a, &cfg, err, sizeof err) < 0) {
        fprintf(stderr, "mixupd: %s\n", err);
        return 1;
    }
    if (a.print_config) {
        cfg_print(&cfg, stdout);
        return 0;
    }
    log_set_level(cfg.log_level);
    if (log_open(cfg.log_file, err, sizeof err) < 0) {
        fprintf(stderr, "mixupd: %s\n", err);
        return 1;
    }
    log_config_source(&a);
    signal(SIGPIPE, SIG_IGN);
    keep_heap();
    fdl_raise();
    if (shm_access(&cfg) < 0)
        return 1;
    if (a.pack)
        return pack_only(&a, &cfg);
    shm_lock lock = {.fd = -1};
    if (!a.check && shm_lock_instance(&lock, cfg.name, err, sizeof err) < 0) {
        log_error("%s", err);
        return 1;
    }
    /* Before the dataset is loaded: a refusal should not wait for it. */
    auth_state auth;
    int refused = auth_prepare(&auth, &cfg, err, sizeof err) < 0;
    if (refused)
        log_error("%s", err);
    else
        refused = check_endpoints(&cfg) < 0; /* names each endpoint */
    if (refused) {
        shm_unlock_instance(&lock);
        return 1;
    }
    reach_warnings(&cfg, warn_line, NULL);
    static pipelines P;
    rc = load_pipelines(&cfg, &P, lock.fd >= 0);
    if (rc != 0) {
        shm_unlock_instance(&lock);
        if (rc > 0)
            log_info("stopped before serving");
        return rc > 0 ? 0 : 1;
    }
    if (a.check)
        rc = check_only(&cfg, &P);
    else
        rc = serve(&a, &cfg, &P) < 0 ? 1 : 0;
    unload_pipelines(&P);
    shm_unlock_instance(&lock);
    log_info("stopped");
    log_open("", err, sizeof err);
    return rc;
}
