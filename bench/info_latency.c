/*
 * info_latency.c — INFO latency while clients churn OPEN/CLOSE.
 *
 *   info_latency ENDPOINT [SECONDS (10)] [CHURNERS (4)] [SEEDS (new|same)]
 *
 * CHURNERS threads, each with its own connection, loop OPEN then CLOSE of
 * an independent stream (a new seed every time, or always seed 1); the
 * main thread sends INFO back to back meanwhile and prints the latency
 * percentiles and the churners' OPENs per second. Used by
 * bench/info_latency.sh (the loop thread's work per request must not
 * grow with the dataset).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mixup.h"

static const char *endpoint;
static atomic_int stop;
static atomic_ulong opens, failures;
static int same_seed;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *churn(void *arg)
{
    uint64_t seed = 1000003u * (uint64_t)(uintptr_t)arg + 1;
    mixup_client_options co;
    mixup_client_options_init(&co);
    mixup_client *c;
    if (mixup_client_connect(&c, &endpoint, 1, &co) < 0)
        return NULL;
    while (!atomic_load(&stop)) {
        mixup_stream_options so;
        mixup_stream_options_init(&so);
        so.seed = same_seed ? 1 : seed++;
        if (mixup_stream_open(c, &so) < 0 || mixup_stream_close(c) < 0)
            atomic_fetch_add(&failures, 1);
        else
            atomic_fetch_add(&opens, 1);
    }
    mixup_client_close(c);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: info_latency ENDPOINT [SECONDS] [CHURNERS] "
                        "[new|same]\n");
        return 2;
    }
    endpoint = argv[1];
    double seconds = argc > 2 ? atof(argv[2]) : 10;
    int churners = argc > 3 ? atoi(argv[3]) : 4;
    same_seed = argc > 4 && strcmp(argv[4], "same") == 0;
    mixup_client_options co;
    mixup_client_options_init(&co);
    mixup_client *c;
    if (mixup_client_connect(&c, &endpoint, 1, &co) < 0) {
        fprintf(stderr, "info_latency: cannot connect to %s\n", endpoint);
        return 1;
    }
    pthread_t th[64];
    if (churners > 64)
        churners = 64;
    for (int i = 0; i < churners; i++)
        pthread_create(&th[i], NULL, churn, (void *)(uintptr_t)i);
    size_t cap = 1 << 20, n = 0;
    double *lat = malloc(cap * sizeof *lat);
    double t0 = now_s(), end = t0 + seconds;
    mixup_info info;
    while (now_s() < end && n < cap) {
        double a = now_s();
        if (mixup_client_info(c, &info) < 0) {
            fprintf(stderr, "info_latency: INFO failed: %s\n",
                    mixup_client_error(c));
            break;
        }
        lat[n++] = now_s() - a;
    }
    double took = now_s() - t0;
    atomic_store(&stop, 1);
    for (int i = 0; i < churners; i++)
        pthread_join(th[i], NULL);
    mixup_client_close(c);
    if (n == 0)
        return 1;
    qsort(lat, n, sizeof *lat, cmp);
    printf("samples N=%llu  INFO requests %zu  p50 %.3f ms  p99 %.3f ms  "
           "max %.3f ms  |  %d churners (%s seeds): %.1f OPEN+CLOSE/s, "
           "%lu failed\n",
           (unsigned long long)info.samples, n, lat[n / 2] * 1e3,
           lat[(size_t)((double)n * 0.99)] * 1e3, lat[n - 1] * 1e3, churners,
           same_seed ? "same" : "new", (double)atomic_load(&opens) / took,
           atomic_load(&failures));
    free(lat);
    return 0;
}
