/*
 * test_fork.c — libmixup across fork(), end to end with the real daemon:
 * a client made in a forked child works while the parent holds one open
 * (nanomsg's threads are not in the child: libmixup closes its sockets
 * around the fork), the inherited client refuses to be used in the child
 * and the parent's stream goes on; and a lent batch written in place
 * leaves the ring's bytes alone for the slot's next batches.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "testutil.h"

static mixup_client *open_stream(const char *ep, uint64_t seed)
{
    mixup_client *c = connect_to(ep, 20000);
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    so.seed = seed;
    cr_assert_eq(mixup_stream_open(c, &so), 0, "%s", mixup_client_error(c));
    return c;
}

extern char **environ;

/* client_helper ... fork: the forks happen there (see its comment). */
Test(fork, a_child_connects_while_the_parent_holds_a_client, .timeout = 60)
{
    daemon_ctx d;
    setup_daemon(&d, "fork");
    start_daemon(&d, 2, 8);
    const char *bin = getenv("CLIENT_HELPER_BIN");
    cr_assert_not_null(bin);
    char out[600];
    snprintf(out, sizeof out, "%s/helper.out", d.dir);
    char *argv[] = {(char *)bin, d.ipc, "independent", "-", "1", "2", "fork",
                    NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, bin, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "client_helper status %d (see the test's stderr)", status);
    /* Batches 0 and 1, then one after each of the three forks: the
     * parent's stream went on where it was. */
    FILE *f = fopen(out, "r");
    cr_assert_not_null(f);
    for (unsigned k = 0; k < 5; k++) {
        unsigned long long e, i;
        long long first;
        cr_assert_eq(fscanf(f, "%llu %llu %lld", &e, &i, &first), 3,
                     "line %u", k);
        cr_assert(e == 0 && i == k, "line %u: batch %llu:%llu", k, e, i);
    }
    fclose(f);
    stop_daemon(&d);
    cleanup(&d);
}

Test(fork, a_lent_batch_written_in_place_does_not_change_the_ring,
     .timeout = 60)
{
    daemon_ctx d;
    setup_daemon(&d, "cow");
    start_daemon(&d, 2, 8);
    ref_init();
    mixup_client *writer = open_stream(d.ipc, 3);
    mixup_client *reader = open_stream(d.ipc, 3);
    cr_assert_str_eq(mixup_client_transport(writer), "shm", "%s",
                     mixup_client_transport_note(writer));
    /* More batches than slots: every slot is written, given back and
     * lent again; its next batches must read the daemon's bytes. */
    for (uint64_t k = 0; k < 3 * 8; k++) {
        mixup_batch *w, *r;
        cr_assert_eq(mixup_next(writer, &w), 0, "%s",
                     mixup_client_error(writer));
        cr_assert_eq(mixup_batch_lent(w), 1);
        cr_assert_eq(mixup_batch_writable(w), 1);
        check_against_reference(w, 3, k / BPE, k % BPE);
        float *x = (float *)(uintptr_t)w->x;
        for (size_t i = 0; i < (size_t)B * H * W * C; i++)
            x[i] = -1.0f;
        cr_assert_eq(mixup_next(reader, &r), 0, "%s",
                     mixup_client_error(reader));
        check_against_reference(r, 3, k / BPE, k % BPE);
        mixup_batch_release(r);
        mixup_batch_release(w);
    }
    mixup_client_close(writer);
    mixup_client_close(reader);
    stop_daemon(&d);
    cleanup(&d);
}
