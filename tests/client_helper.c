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
 * batch unacknowledged (for kill -9); "fork" forks a child that checks the
 * inherited client refuses to be used and that a client of its own gets
 * batch 0:0 of seed SEED + 1 (exit 0, else a code per failure), waits for
 * it, then pulls and writes one more batch of its own stream (a process
 * of its own: Criterion's test processes hold nanomsg sockets of their
 * own, which no library can close around a fork).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mixup.h"

/* The forked child of THEN = fork. */
static int forked_child(const char *ep, mixup_client *inherited, uint64_t seed)
{
    mixup_batch *b;
    if (mixup_next(inherited, &b) != MIXUP_ESTATE)
        return 3;
    if (!strstr(mixup_client_error(inherited), "before the fork()"))
        return 4;
    mixup_client_close(inherited); /* frees; the parent's stream stays */
    mixup_client *own;
    const char *eps[] = {ep};
    mixup_client_options o = {.timeout_ms = 10000};
    if (mixup_client_connect(&own, eps, 1, &o) < 0)
        return 5;
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    so.seed = seed;
    if (mixup_stream_open(own, &so) < 0 || mixup_next(own, &b) < 0) {
        fprintf(stderr, "client_helper child: %s\n", mixup_client_error(own));
        return 6;
    }
    int ok = b->epoch == 0 && b->index == 0;
    mixup_batch_release(b);
    mixup_client_close(own);
    return ok ? 0 : 7;
}

static int fork_then_pull(const char *ep, mixup_client *c, uint64_t seed)
{
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0)
        _exit(forked_child(ep, c, seed + 1));
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "client_helper: forked child status %d\n", status);
        return 8;
    }
    mixup_batch *b;
    if (mixup_next(c, &b) < 0) {
        fprintf(stderr, "client_helper: after fork: %s\n",
                mixup_client_error(c));
        return 1;
    }
    printf("%llu %llu %lld\n", (unsigned long long)b->epoch,
           (unsigned long long)b->index, (long long)b->index1[0]);
    mixup_batch_release(b);
    return 0;
}

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
    if (!strcmp(argv[6], "fork")) {
        int rc = 0;
        for (int round = 0; rc == 0 && round < 3; round++)
            rc = fork_then_pull(argv[1], c, so.seed);
        mixup_client_close(c);
        return rc;
    }
    mixup_client_close(c);
    return 0;
}
