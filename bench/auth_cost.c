/*
 * auth_cost.c — what the proofs cost a request: INFO and NEXT round trips
 * on one client, timed.
 *
 *   auth_cost ENDPOINT [ROUNDS (20000)]
 *
 * The token, if any, comes from $MIXUPD_TOKEN_FILE (libmixup's default),
 * so the same binary measures a daemon with a token and one without.
 * Prints the mean microseconds per INFO and per NEXT (socket transport,
 * tiny batches: the request's own cost dominates). Used by
 * bench/auth_cost.sh, which compares both in one run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mixup.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: auth_cost ENDPOINT [ROUNDS]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 20000;
    mixup_client_options o;
    mixup_client_options_init(&o);
    o.transport = MIXUP_TRANSPORT_SOCKET;
    const char *eps[] = {argv[1]};
    mixup_client *c;
    if (mixup_client_connect(&c, eps, 1, &o) < 0) {
        fprintf(stderr, "%s\n", mixup_client_error(NULL));
        return 1;
    }
    mixup_info info;
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    if (mixup_client_info(c, &info) < 0 || mixup_stream_open(c, &so) < 0) {
        fprintf(stderr, "%s\n", mixup_client_error(c));
        return 1;
    }
    double t0 = now_s();
    for (int i = 0; i < rounds; i++)
        if (mixup_client_info(c, &info) < 0) {
            fprintf(stderr, "%s\n", mixup_client_error(c));
            return 1;
        }
    double t1 = now_s();
    for (int i = 0; i < rounds; i++) {
        mixup_batch *b;
        if (mixup_next(c, &b) < 0) {
            fprintf(stderr, "%s\n", mixup_client_error(c));
            return 1;
        }
        mixup_batch_release(b);
    }
    double t2 = now_s();
    printf("info_us %.2f next_us %.2f\n", (t1 - t0) * 1e6 / rounds,
           (t2 - t1) * 1e6 / rounds);
    mixup_client_close(c);
    return 0;
}
