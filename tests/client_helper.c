/*
 * client_helper — a real client process for end-to-end tests.
 *
 *   client_helper ENDPOINT MODE JOB SEED BATCHES THEN
 *
 * MODE: independent | sharded | shared (sharded is rank 0 of 1).
 * Pulls BATCHES batches (0: until a batch of epoch 1 arrives) and writes
 * "EPOCH INDEX INDEX1[0]\n" for each to stdout, unbuffered, as soon as it
 * has it. THEN: "close" closes the stream and exits; "vanish" exits
 * without a word to the daemon; "pause" waits forever holding the last
 * batch unacknowledged (for kill -9).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mixup.h"

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: client_helper ENDPOINT MODE JOB SEED BATCHES THEN\n");
        return 2;
    }
    mixup_client *c;
    const char *eps[] = {argv[1]};
    mixup_client_options o = {.timeout_ms = 30000};
    if (mixup_client_connect(&c, eps, 1, &o) < 0)
        return 1;
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    so.mode = !strcmp(argv[2], "shared")    ? MIXUP_MODE_SHARED
              : !strcmp(argv[2], "sharded") ? MIXUP_MODE_SHARDED
                                            : MIXUP_MODE_INDEPENDENT;
    so.job = so.mode == MIXUP_MODE_INDEPENDENT ? NULL : argv[3];
    so.world = 1;
    so.seed = strtoull(argv[4], NULL, 10);
    long want = atol(argv[5]);
    if (mixup_stream_open(c, &so) < 0) {
        fprintf(stderr, "client_helper: %s\n", mixup_client_error(c));
        return 1;
    }
    for (long n = 0; want == 0 || n < want; n++) {
        mixup_batch *b;
        if (mixup_next(c, &b) < 0) {
            fprintf(stderr, "client_helper: %s\n", mixup_client_error(c));
            return 1;
        }
        char line[96];
        int len = snprintf(line, sizeof line, "%llu %llu %lld\n",
                           (unsigned long long)b->epoch,
                           (unsigned long long)b->index, (long long)b->index1[0]);
        if (write(1, line, (size_t)len) != len)
            return 1;
        uint64_t epoch = b->epoch;
        mixup_batch_release(b);
        if (want == 0 && epoch >= 1)
            break;
    }
    if (!strcmp(argv[6], "pause"))
        for (;;)
            pause();
    if (!strcmp(argv[6], "vanish"))
        _exit(0); /* no CLOSE: the daemon must notice on its own */
    mixup_client_close(c);
    return 0;
}
