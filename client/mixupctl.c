/*
 * mixupctl — talk to mixupd from the command line.
 *
 *   mixupctl [--endpoint ADDR]... [--timeout MS] [--seed S] [--start E:B]
 *            COMMAND [options]
 *
 *   info                          what the daemon serves
 *   dump --batches N --out DIR    received batches as .npy files
 *   bench --seconds S             receive for S seconds, print samples/s
 */
#include <errno.h>
#include <getopt.h>
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
            "                [--start EPOCH:BATCH] COMMAND [options]\n"
            "commands:\n"
            "  info                         what the daemon serves\n"
            "  dump --batches N --out DIR   write x.npy y.npy index1.npy "
            "index2.npy lam.npy position.npy\n"
            "  bench --seconds S            print samples/s and batches/s\n"
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
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int o;
    uint64_t v;
    while ((o = getopt_long(argc, argv, "+e:t:s:S:h", opts, NULL)) != -1) {
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

static int cmd_bench(ctl *c, int argc, char **argv)
{
    double seconds = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            char *end;
            seconds = strtod(argv[++i], &end);
            if (*end || !(seconds > 0)) {
                fprintf(stderr, "mixupctl: bench --seconds wants a positive number\n");
                return 2;
            }
        } else {
            fprintf(stderr, "mixupctl: bench: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (connect_and_open(c, 1))
        return 1;
    mixup_batch *b;
    int rc = mixup_next(c->client, &b); /* warm-up: not timed */
    if (rc < 0)
        return fail(c, rc, "next batch");
    size_t bytes = b->message_size_;
    mixup_batch_release(b);
    uint64_t batches = 0, samples = 0;
    double t0 = now_s(), t = t0;
    while (t - t0 < seconds) {
        if ((rc = mixup_next(c->client, &b)) < 0)
            return fail(c, rc, "next batch");
        samples += b->size;
        batches++;
        mixup_batch_release(b);
        t = now_s();
    }
    double el = t - t0;
    printf("samples/s: %.1f\n", (double)samples / el);
    printf("batches/s: %.1f\n", (double)batches / el);
    printf("MB/s: %.1f\n", (double)batches * (double)bytes / el / 1e6);
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
    else {
        fprintf(stderr, "mixupctl: unknown command '%s'\n", cmd);
        usage(stderr);
        status = 2;
    }
    mixup_client_close(c.client);
    return status;
}
