/*
 * mixupctl — talk to mixupd from the command line.
 *
 *   mixupctl [--endpoint ADDR]... [--timeout MS] [--seed S] [--start E:B]
 *            [--mode independent|sharded|shared] [--job NAME]
 *            [--rank R] [--world W] COMMAND [options]
 *
 *   info                          what the daemon serves
 *   dump --batches N --out DIR    received batches as .npy files
 *   bench --seconds S [--clients K]
 *                                 receive for S seconds, print samples/s
 *   jobs                          jobs and streams with positions and rates
 *   stats [--json]                the daemon's counters
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "mixup.h"
#include "npy_write.h"

#define MAX_ENDPOINTS 16
#define DEFAULT_ENDPOINT "ipc:///tmp/mixupd.ipc"

typedef struct ctl {
    const char *endpoints[MAX_ENDPOINTS];
    size_t n_endpoints;
    int timeout_ms;
    mixup_stream_options stream;
    mixup_client *client;
} ctl;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mixupctl [--endpoint ADDR]... [--timeout MS] [--seed S]\n"
            "                [--start EPOCH:BATCH] [--mode MODE] [--job NAME]\n"
            "                [--rank R] [--world W] COMMAND [options]\n"
            "modes: independent (default), sharded (--job, --rank, --world),\n"
            "       shared (--job)\n"
            "commands:\n"
            "  info                         what the daemon serves\n"
            "  dump --batches N --out DIR   write x.npy y.npy index1.npy "
            "index2.npy lam.npy position.npy\n"
            "  bench --seconds S [--clients K]\n"
            "                               print samples/s and batches/s "
            "(per client and total)\n"
            "  jobs                         jobs and streams: positions, rates\n"
            "  stats [--json]               the daemon's counters\n"
            "default endpoint: " DEFAULT_ENDPOINT "\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_start(const char *s, mixup_stream_options *o)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s", s);
    char *colon = strchr(buf, ':');
    if (!colon)
        return -1;
    *colon = 0;
    return parse_u64(buf, &o->start_epoch) || parse_u64(colon + 1, &o->start_batch)
               ? -1
               : 0;
}

static int parse_global(int argc, char **argv, ctl *c)
{
    static const struct option opts[] = {
        {"endpoint", required_argument, 0, 'e'},
        {"timeout", required_argument, 0, 't'},
        {"seed", required_argument, 0, 's'},
        {"start", required_argument, 0, 'S'},
        {"mode", required_argument, 0, 'm'},
        {"job", required_argument, 0, 'j'},
        {"rank", required_argument, 0, 'r'},
        {"world", required_argument, 0, 'w'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int o;
    uint64_t v;
    while ((o = getopt_long(argc, argv, "+e:t:s:S:m:j:r:w:h", opts, NULL)) != -1) {
        switch (o) {
        case 'e':
            if (c->n_endpoints == MAX_ENDPOINTS) {
                fprintf(stderr, "mixupctl: at most %d endpoints\n", MAX_ENDPOINTS);
                return -1;
            }
            c->endpoints[c->n_endpoints++] = optarg;
            break;
        case 't':
            if (parse_u64(optarg, &v) || v > INT32_MAX) {
                fprintf(stderr, "mixupctl: --timeout wants milliseconds, got '%s'\n", optarg);
                return -1;
            }
            c->timeout_ms = (int)v;
            break;
        case 's':
            if (parse_u64(optarg, &c->stream.seed)) {
                fprintf(stderr, "mixupctl: --seed wants an unsigned integer, got '%s'\n", optarg);
                return -1;
            }
            break;
        case 'S':
            if (parse_start(optarg, &c->stream)) {
                fprintf(stderr, "mixupctl: --start wants EPOCH:BATCH, got '%s'\n", optarg);
                return -1;
            }
            break;
        case 'm':
            if (!strcmp(optarg, "independent"))
                c->stream.mode = MIXUP_MODE_INDEPENDENT;
            else if (!strcmp(optarg, "sharded"))
                c->stream.mode = MIXUP_MODE_SHARDED;
            else if (!strcmp(optarg, "shared"))
                c->stream.mode = MIXUP_MODE_SHARED;
            else {
                fprintf(stderr, "mixupctl: --mode wants independent, sharded "
                        "or shared, got '%s'\n", optarg);
                return -1;
            }
            break;
        case 'j': c->stream.job = optarg; break;
        case 'r':
        case 'w':
            if (parse_u64(optarg, &v) || v > UINT32_MAX) {
                fprintf(stderr, "mixupctl: --%s wants an unsigned integer, "
                        "got '%s'\n", o == 'r' ? "rank" : "world", optarg);
                return -1;
            }
            if (o == 'r')
                c->stream.rank = (uint32_t)v;
            else
                c->stream.world = (uint32_t)v;
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (c->n_endpoints == 0)
        c->endpoints[c->n_endpoints++] = DEFAULT_ENDPOINT;
    return 0;
}

static int fail(ctl *c, int rc, const char *what)
{
    const char *msg = c->client ? mixup_client_error(c->client) : "";
    fprintf(stderr, "mixupctl: %s: %s\n", what, *msg ? msg : mixup_strerror(rc));
    return 1;
}

static int connect_and_open(ctl *c, int open_stream)
{
    mixup_client_options o;
    mixup_client_options_init(&o);
    o.timeout_ms = c->timeout_ms;
    int rc = mixup_client_connect(&c->client, c->endpoints, c->n_endpoints, &o);
    if (rc < 0)
        return fail(c, rc, "connect");
    if (open_stream && (rc = mixup_stream_open(c->client, &c->stream)) < 0)
        return fail(c, rc, "open stream");
    return 0;
}

static int cmd_info(ctl *c)
{
    mixup_info i;
    int rc = mixup_client_info(c->client, &i);
    if (rc < 0)
        return fail(c, rc, "info");
    printf("samples: %" PRIu64 "\nshape: %ux%ux%u\nclasses: %u\n"
           "batch_size: %u\nbatches_per_epoch: %" PRIu64 "\nalpha: %g\n"
           "shuffle: %u\nprotocol: %u\n",
           i.samples, i.height, i.width, i.channels, i.classes, i.batch_size,
           i.batches_per_epoch, (double)i.alpha, i.shuffle, i.protocol_version);
    return 0;
}

/* ---- dump ---- */

enum { W_X, W_Y, W_I1, W_I2, W_LAM, W_POS, W_COUNT };

static int open_writers(npy_writer *w, const char *dir, const mixup_batch *b,
                        uint64_t rows)
{
    static const char *names[W_COUNT] = {"x.npy", "y.npy", "index1.npy",
                                         "index2.npy", "lam.npy", "position.npy"};
    uint64_t sx[4] = {rows, b->height, b->width, b->channels};
    uint64_t sy[2] = {rows, b->classes};
    uint64_t s1[1] = {rows};
    uint64_t sp[2] = {rows, 2};
    const struct { const char *descr; size_t size; const uint64_t *shape; int nd; } spec[W_COUNT] = {
        {"<f4", 4, sx, 4}, {"<f4", 4, sy, 2}, {"<i8", 8, s1, 1},
        {"<i8", 8, s1, 1}, {"<f4", 4, s1, 1}, {"<i8", 8, sp, 2},
    };
    for (int i = 0; i < W_COUNT; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        int rc = npy_writer_open(&w[i], path, spec[i].descr, spec[i].size,
                                 spec[i].shape, spec[i].nd);
        if (rc < 0) {
            fprintf(stderr, "mixupctl: cannot write %s: %s\n", path, strerror(-rc));
            return -1;
        }
    }
    return 0;
}

static int append_batch(npy_writer *w, const mixup_batch *b)
{
    size_t B = b->size;
    size_t px = (size_t)b->height * b->width * b->channels;
    int rc = npy_writer_append(&w[W_X], b->x, B * px * 4);
    rc |= npy_writer_append(&w[W_Y], b->y, B * b->classes * 4);
    rc |= npy_writer_append(&w[W_I1], b->index1, B * 8);
    rc |= npy_writer_append(&w[W_I2], b->index2, B * 8);
    rc |= npy_writer_append(&w[W_LAM], b->lam, B * 4);
    for (size_t j = 0; j < B; j++) {
        int64_t pos[2] = {(int64_t)b->epoch, (int64_t)b->index};
        rc |= npy_writer_append(&w[W_POS], pos, sizeof pos);
    }
    return rc ? -1 : 0;
}

static int cmd_dump(ctl *c, int argc, char **argv)
{
    uint64_t batches = 0;
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batches") && i + 1 < argc) {
            if (parse_u64(argv[++i], &batches) || batches == 0) {
                fprintf(stderr, "mixupctl: dump --batches wants a count >= 1\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
        } else {
            fprintf(stderr, "mixupctl: dump: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!batches || !out) {
        fprintf(stderr, "mixupctl: dump needs --batches N and --out DIR\n");
        return 2;
    }
    if (mkdir(out, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "mixupctl: cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }
    if (connect_and_open(c, 1))
        return 1;
    npy_writer w[W_COUNT] = {0};
    int status = 0;
    for (uint64_t n = 0; n < batches && !status; n++) {
        mixup_batch *b;
        int rc = mixup_next(c->client, &b);
        if (rc < 0)
            return fail(c, rc, "next batch");
        if (n == 0 && open_writers(w, out, b, batches * b->size) < 0)
            status = 1;
        if (!status && append_batch(w, b) < 0) {
            fprintf(stderr, "mixupctl: writing to %s failed\n", out);
            status = 1;
        }
        mixup_batch_release(b);
    }
    for (int i = 0; i < W_COUNT; i++)
        if (npy_writer_close(&w[i]) < 0 && !status) {
            fprintf(stderr, "mixupctl: %s is incomplete\n", w[i].path);
            status = 1;
        }
    if (!status)
        printf("wrote %" PRIu64 " batches to %s\n", batches, out);
    return status;
}

/* ---- bench ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct bench_run {
    ctl *base;
    int index;
    double seconds;
    double samples_per_s, batches_per_s, mb_per_s;
    char error[600];
} bench_run;

/* One client: its own connection and stream, timed after a warm-up. */
static void *bench_one(void *arg)
{
    bench_run *r = arg;
    ctl c = *r->base;
    c.client = NULL;
    if (r->base->stream.mode == MIXUP_MODE_INDEPENDENT)
        c.stream.seed += (uint64_t)r->index; /* K different streams */
    mixup_client_options o;
    mixup_client_options_init(&o);
    o.timeout_ms = c.timeout_ms;
    int rc = mixup_client_connect(&c.client, c.endpoints, c.n_endpoints, &o);
    mixup_batch *b = NULL;
    if (rc == 0)
        rc = mixup_stream_open(c.client, &c.stream);
    if (rc == 0)
        rc = mixup_next(c.client, &b); /* warm-up: not timed */
    if (rc < 0) {
        snprintf(r->error, sizeof r->error, "%s",
                 c.client ? mixup_client_error(c.client) : mixup_strerror(rc));
        mixup_client_close(c.client);
        return NULL;
    }
    size_t bytes = b->message_size_;
    mixup_batch_release(b);
    uint64_t batches = 0, samples = 0;
    double t0 = now_s(), t = t0;
    while (t - t0 < r->seconds) {
        if ((rc = mixup_next(c.client, &b)) < 0) {
            snprintf(r->error, sizeof r->error, "%s", mixup_client_error(c.client));
            break;
        }
        samples += b->size;
        batches++;
        mixup_batch_release(b);
        t = now_s();
    }
    double el = t - t0;
    r->samples_per_s = (double)samples / el;
    r->batches_per_s = (double)batches / el;
    r->mb_per_s = (double)batches * (double)bytes / el / 1e6;
    mixup_client_close(c.client);
    return NULL;
}

static int cmd_bench(ctl *c, int argc, char **argv)
{
    double seconds = 5;
    uint64_t clients = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            char *end;
            seconds = strtod(argv[++i], &end);
            if (*end || !(seconds > 0)) {
                fprintf(stderr, "mixupctl: bench --seconds wants a positive number\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--clients") && i + 1 < argc) {
            if (parse_u64(argv[++i], &clients) || clients < 1 || clients > 256) {
                fprintf(stderr, "mixupctl: bench --clients wants 1 .. 256\n");
                return 2;
            }
        } else {
            fprintf(stderr, "mixupctl: bench: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    bench_run *runs = calloc(clients, sizeof *runs);
    pthread_t *threads = calloc(clients, sizeof *threads);
    if (!runs || !threads) {
        fprintf(stderr, "mixupctl: out of memory\n");
        return 1;
    }
    for (uint64_t i = 0; i < clients; i++) {
        runs[i] = (bench_run){.base = c, .index = (int)i, .seconds = seconds};
        pthread_create(&threads[i], NULL, bench_one, &runs[i]);
    }
    double total = 0, total_b = 0, total_mb = 0;
    int status = 0;
    for (uint64_t i = 0; i < clients; i++) {
        pthread_join(threads[i], NULL);
        if (runs[i].error[0]) {
            fprintf(stderr, "mixupctl: client %llu: %s\n",
                    (unsigned long long)i, runs[i].error);
            status = 1;
        }
        total += runs[i].samples_per_s;
        total_b += runs[i].batches_per_s;
        total_mb += runs[i].mb_per_s;
        if (clients > 1)
            printf("client %llu samples/s: %.1f\n", (unsigned long long)i,
                   runs[i].samples_per_s);
    }
    printf("samples/s: %.1f\n", total);
    printf("batches/s: %.1f\n", total_b);
    printf("MB/s: %.1f\n", total_mb);
    free(runs);
    free(threads);
    return status;
}

static int cmd_stats(ctl *c, int argc, char **argv, int json)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else {
            fprintf(stderr, "mixupctl: %s: unknown argument '%s'\n", argv[0], argv[i]);
            return 2;
        }
    }
    if (connect_and_open(c, 0))
        return 1;
    char *text;
    int rc = mixup_client_stats(c->client, json, &text);
    if (rc < 0)
        return fail(c, rc, argv[0]);
    fputs(text, stdout);
    free(text);
    return 0;
}

int main(int argc, char **argv)
{
    ctl c = {.timeout_ms = 10000};
    mixup_stream_options_init(&c.stream);
    if (parse_global(argc, argv, &c) < 0)
        return 2;
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    int status;
    if (!strcmp(cmd, "info"))
        status = connect_and_open(&c, 0) ? 1 : cmd_info(&c);
    else if (!strcmp(cmd, "dump"))
        status = cmd_dump(&c, sub_argc, sub_argv);
    else if (!strcmp(cmd, "bench"))
        status = cmd_bench(&c, sub_argc, sub_argv);
    else if (!strcmp(cmd, "jobs"))
        status = cmd_stats(&c, sub_argc, sub_argv, 0);
    else if (!strcmp(cmd, "stats"))
        status = cmd_stats(&c, sub_argc, sub_argv, 1);
    else {
        fprintf(stderr, "mixupctl: unknown command '%s'\n", cmd);
        usage(stderr);
        status = 2;
    }
    mixup_client_close(c.client);
    return status;
}
