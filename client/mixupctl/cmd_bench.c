/*
 * cmd_bench.c — mixupctl bench: K clients, each with its own stream,
 * receive for S seconds and consume every batch as a trainer would.
 */
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "mixup.h"
#include "mixupctl.h"
#include "progress.h"

/* ---- bench ---- */

enum { CONSUME_COPY, CONSUME_READ, CONSUME_NONE };

typedef struct bench_run {
    ctl *base;
    int index;
    int consume;
    double seconds;
    char transport[16];
    uint64_t checksum; /* of what was read, so that reading is not elided */
    double samples_per_s, batches_per_s, mb_per_s;
    char error[600];
    uint64_t batches;
    _Atomic uint64_t done; /* timed batches so far, for the progress line */
    atomic_int finished;
} bench_run;

/* Bytes of a batch's x and y. */
static size_t x_bytes(const mixup_batch *b)
{
    size_t n = (size_t)b->size * b->height * b->width * b->channels;
    return n * (b->dtype == MIXUP_FLOAT32 ? 4 : 2);
}

/* What a trainer does with a batch: copy x and y into memory of its own
 * (a pinned buffer, a tensor), or at least read them. Without this, a
 * zero-copy figure would measure nothing. */
static void consume(bench_run *r, const mixup_batch *b, uint8_t *buf)
{
    const void *x = b->x ? (const void *)b->x : (const void *)b->x_half;
    size_t xb = x_bytes(b), yb = b->y ? (size_t)b->size * b->classes * 4 : 0;
    if (r->consume == CONSUME_COPY) {
        memcpy(buf, x, xb);
        if (yb)
            memcpy(buf + xb, b->y, yb);
        r->checksum += buf[xb / 2];
    } else if (r->consume == CONSUME_READ) {
        uint64_t sum = 0, w;
        for (size_t i = 0; i + 8 <= xb; i += 8) {
            memcpy(&w, (const uint8_t *)x + i, 8);
            sum += w;
        }
        for (size_t i = 0; i + 8 <= yb; i += 8) {
            memcpy(&w, (const uint8_t *)b->y + i, 8);
            sum += w;
        }
        r->checksum += sum;
    }
}

/* One client: its own connection and stream, timed after a warm-up. */
static void *bench_one(void *arg)
{
    bench_run *r = arg;
    ctl c = *r->base;
    c.client = NULL;
    if (r->base->stream.mode == MIXUP_MODE_INDEPENDENT)
        c.stream.seed += (uint64_t)r->index; /* K different streams */
    mixup_client_options o;
    client_options(&c, &o);
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
        atomic_store(&r->finished, 1);
        return NULL;
    }
    size_t bytes = b->message_size_;
    uint8_t *buf = malloc(bytes);
    snprintf(r->transport, sizeof r->transport, "%s",
             mixup_client_transport(c.client));
    if (buf)
        consume(r, b, buf); /* touch the buffer once before timing */
    mixup_batch_release(b);
    uint64_t batches = 0, samples = 0;
    double t0 = progress_now(), t = t0;
    while (buf && t - t0 < r->seconds) {
        if ((rc = mixup_next(c.client, &b)) < 0) {
            snprintf(r->error, sizeof r->error, "%s", mixup_client_error(c.client));
            break;
        }
        consume(r, b, buf);
        samples += b->size;
        batches++;
        atomic_store_explicit(&r->done, batches, memory_order_relaxed);
        mixup_batch_release(b);
        t = progress_now();
    }
    if (!buf)
        snprintf(r->error, sizeof r->error, "out of memory");
    free(buf);
    double el = t - t0;
    r->batches = batches;
    r->samples_per_s = (double)samples / el;
    r->batches_per_s = (double)batches / el;
    r->mb_per_s = (double)batches * (double)bytes / el / 1e6;
    mixup_client_close(c.client);
    atomic_store(&r->finished, 1);
    return NULL;
}

/* On a terminal, show the batches of all clients until every one is done
 * (the threads are joined afterwards either way). */
static void bench_watch(bench_run *runs, uint64_t clients, double seconds)
{
    progress p;
    progress_start(&p, "bench", 0, seconds);
    if (!p.out)
        return;
    const struct timespec tick = {0, 20 * 1000 * 1000};
    for (;;) {
        uint64_t done = 0, finished = 0;
        for (uint64_t i = 0; i < clients; i++) {
            done += atomic_load_explicit(&runs[i].done, memory_order_relaxed);
            finished += (uint64_t)atomic_load(&runs[i].finished);
        }
        if (finished == clients)
            break;
        progress_update(&p, done);
        nanosleep(&tick, NULL);
    }
    progress_end(&p);
}

int cmd_bench(ctl *c, int argc, char **argv)
{
    double seconds = 5;
    uint64_t clients = 1;
    int how = CONSUME_COPY;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (!strcmp(argv[i], "--consume")) {
            if (!(v = opt_value("bench", argc, argv, &i)))
                return 2;
            if (!strcmp(v, "copy"))
                how = CONSUME_COPY;
            else if (!strcmp(v, "read"))
                how = CONSUME_READ;
            else if (!strcmp(v, "none"))
                how = CONSUME_NONE;
            else {
                fprintf(stderr, "mixupctl: bench --consume wants copy, read "
                        "or none, got '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(argv[i], "--seconds")) {
            char *end;
            if (!(v = opt_value("bench", argc, argv, &i)))
                return 2;
            seconds = strtod(v, &end);
            if (!*v || *end || !(seconds > 0)) {
                fprintf(stderr, "mixupctl: bench --seconds wants a positive number\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--clients")) {
            if (!(v = opt_value("bench", argc, argv, &i)))
                return 2;
            if (parse_u64(v, &clients) || clients < 1 || clients > 256) {
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
    uint64_t started = 0;
    for (uint64_t i = 0; i < clients; i++) {
        runs[i].base = c; /* calloc'd: the rest, counters too, is 0 */
        runs[i].index = (int)i;
        runs[i].seconds = seconds;
        runs[i].consume = how;
        int rc = pthread_create(&threads[i], NULL, bench_one, &runs[i]);
        if (rc != 0) {
            fprintf(stderr, "mixupctl: bench: cannot start client %llu: %s\n",
                    (unsigned long long)i, strerror(rc));
            break;
        }
        started++;
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    if (started == clients)
        bench_watch(runs, clients, seconds);
    double total = 0, total_b = 0, total_mb = 0;
    uint64_t batches = 0;
    int status = started == clients ? 0 : 1;
    clients = started;
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
        batches += runs[i].batches;
        if (clients > 1)
            printf("client %llu samples/s: %.1f\n", (unsigned long long)i,
                   runs[i].samples_per_s);
    }
    getrusage(RUSAGE_SELF, &ru1);
    double cpu = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                 (double)(ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) * 1e-6 +
                 (double)(ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) * 1e-6;
    static const char *const how_names[] = {"copy", "read", "none"};
    printf("transport: %s\n", clients ? runs[0].transport : "-");
    printf("consume: %s\n", how_names[how]);
    printf("samples/s: %.1f\n", total);
    printf("batches/s: %.1f\n", total_b);
    printf("MB/s: %.1f\n", total_mb);
    printf("client CPU ms/batch: %.3f\n",
           batches ? cpu * 1e3 / (double)batches : 0.0);
    free(runs);
    free(threads);
    return status;
}
