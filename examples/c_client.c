/*
 * c_client.c — the smallest complete libmixup program: connect, open a
 * stream, pull batches, print where each came from, resume position.
 *
 *   cc c_client.c $(pkg-config --cflags --libs mixup) -o c_client
 *   ./c_client ipc:///tmp/mixupd.ipc 5
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <mixup.h>

int main(int argc, char **argv)
{
    const char *ep[] = {argc > 1 ? argv[1] : "ipc:///tmp/mixupd.ipc"};
    int batches = argc > 2 ? atoi(argv[2]) : 5;
    mixup_client *c;
    int rc = mixup_client_connect(&c, ep, 1, NULL);
    if (rc < 0) {
        fprintf(stderr, "connect: %s\n", mixup_client_error(NULL));
        return 1;
    }
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    so.seed = 42;
    if ((rc = mixup_stream_open(c, &so)) < 0) {
        fprintf(stderr, "open: %s\n", mixup_client_error(c));
        mixup_client_close(c);
        return 1;
    }
    for (int n = 0; n < batches; n++) {
        mixup_batch *b;
        if ((rc = mixup_next(c, &b)) < 0) {
            fprintf(stderr, "next: %s\n", mixup_client_error(c));
            break;
        }
        printf("batch %" PRIu64 ":%" PRIu64 ", %u samples of %ux%ux%u: "
               "x[0] = %.3f * #%" PRId64 " + %.3f * #%" PRId64 "\n",
               b->epoch, b->index, b->size, b->height, b->width, b->channels,
               (double)b->lam[0], b->index1[0], 1.0 - (double)b->lam[0],
               b->index2[0]);
        mixup_batch_release(b);
    }
    uint64_t e, k;
    if (mixup_client_resume_position(c, &e, &k) == 0)
        printf("resume with start = %" PRIu64 ":%" PRIu64 "\n", e, k);
    mixup_client_close(c);
    return rc < 0;
}
