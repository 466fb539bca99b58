/*
 * test_e2e.c — the real daemon, started as a process, serving real
 * clients over ipc and tcp. Batches are checked byte for byte against
 * batches built here, in the test, from the same data.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "mixup.h"
#include "proto.h"
#include "daemon.h"
#include "testutil.h"


Test(e2e, three_clients_at_once_over_ipc_and_tcp, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "three");
    ref_init();
    start_daemon(&d, 2, 8);
    puller p[3] = {
        {.endpoint = d.ipc, .seed = 1, .batches = 25},
        {.endpoint = d.tcp, .seed = 2, .batches = 25},
        {.endpoint = d.ipc, .seed = 1, .start_epoch = 1, .start_batch = 5, .batches = 20},
    };
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, pull, &p[i]);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 3; i++)
        check_pulled(&p[i]);
    stop_daemon(&d);
    cleanup(&d);
}

/* The determinism contract: the bytes of batch (seed, epoch, k) do not
 * depend on the number of workers or on the ring's size. */
Test(e2e, same_bytes_for_1_2_and_8_workers, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "workers");
    ref_init();
    const uint32_t workers[3] = {1, 2, 8}, slots[3] = {1, 5, 32};
    uint8_t *first = NULL;
    size_t per = 0;
    for (int run = 0; run < 3; run++) {
        start_daemon(&d, workers[run], slots[run]);
        puller p = {.endpoint = d.ipc, .seed = 77, .batches = 30};
        pull(&p);
        cr_assert_eq(p.failures, 0, "%s", p.error);
        per = p.got[0]->message_size_;
        if (!first)
            first = malloc(per * 30);
        for (int i = 0; i < 30; i++) {
            /* Compare everything after the stream id (bytes 24+16..24+24)
             * and request id, which differ from run to run. */
            uint8_t *msg = p.got[i]->message_;
            memset(msg + 12, 0, 8);
            memset(msg + MXP_HEADER_SIZE + 16, 0, 8);
            if (run == 0)
                memcpy(first + per * (size_t)i, msg, per);
            else
                cr_assert_eq(memcmp(first + per * (size_t)i, msg, per), 0,
                             "batch %d differs with %u workers", i, workers[run]);
        }
        check_pulled(&p);
        stop_daemon(&d);
    }
    free(first);
    cleanup(&d);
}

/* Send raw bytes on a REQ socket and decode the reply. */
static int raw_request(const char *ep, const void *req, size_t len,
                       mxp_reply *rep, char *text, size_t textlen)
{
    int s = nn_socket(AF_SP, NN_REQ);
    int to = 10000;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &to, sizeof to);
    int unlimited = -1;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &unlimited, sizeof unlimited);
    cr_assert_geq(nn_connect(s, ep), 0);
    cr_assert_eq(nn_send(s, req, len, 0), (int)len);
    void *buf;
    int n = nn_recv(s, &buf, NN_MSG, 0);
    cr_assert_gt(n, 0, "no reply: %s", nn_strerror(nn_errno()));
    char err[256];
    cr_assert_eq(mxp_reply_decode(buf, (size_t)n, NULL, rep, err, sizeof err), 0, "%s", err);
    int code = 0;
    if (rep->hdr.type == MXP_ERROR_REP) {
        code = rep->u.error.code;
        snprintf(text, textlen, "%.*s", (int)rep->u.error.msg_len, rep->u.error.msg);
    }
    nn_freemsg(buf);
    nn_close(s);
    return code;
}

Test(e2e, malformed_requests_get_error_replies_and_service_goes_on, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "malformed");
    ref_init();
    start_daemon(&d, 2, 4);
    mxp_reply rep;
    char text[1100];

    uint8_t shortmsg[5] = {1, 2, 3, 4, 5};
    cr_assert_eq(raw_request(d.ipc, shortmsg, 5, &rep, text, sizeof text), MIXUP_EPROTO);
    cr_assert(strstr(text, "header"), "%s", text);

    uint8_t msg[MXP_HEADER_SIZE + MXP_NEXT_FIXED];
    mxp_encode_next_req(msg, sizeof msg, 7, 12345, 0, NULL, NULL, 0);
    msg[4] = 9; /* version 9 */
    cr_assert_eq(raw_request(d.tcp, msg, sizeof msg, &rep, text, sizeof text), MIXUP_EVERSION);
    cr_assert(strstr(text, "protocol 9, this build speaks 3: upgrade the daemon"), "%s", text);
    cr_assert_eq(rep.hdr.request_id, 7u);

    mxp_encode_next_req(msg, sizeof msg, 8, 12345, 0, NULL, NULL, 0);
    cr_assert_eq(raw_request(d.ipc, msg, sizeof msg, &rep, text, sizeof text), MIXUP_ENOSTREAM);
    cr_assert(strstr(text, "not open"), "%s", text);

    size_t big = 8000; /* above server.max_request = 4096 */
    uint8_t *huge = calloc(1, big);
    mxp_header_encode(huge, MXP_OPEN_REQ, 9, (uint32_t)(big - MXP_HEADER_SIZE));
    cr_assert_eq(raw_request(d.ipc, huge, big, &rep, text, sizeof text), MIXUP_ETOOBIG);
    cr_assert(strstr(text, "limit"), "%s", text);
    free(huge);

    uint8_t open[MXP_HEADER_SIZE + MXP_OPEN_FIXED];
    mxp_open_req o = {.mode = MIXUP_MODE_INDEPENDENT, .start_batch = BPE};
    mxp_encode_open_req(open, sizeof open, 10, &o);
    cr_assert_eq(raw_request(d.ipc, open, sizeof open, &rep, text, sizeof text), MIXUP_EPOSITION);
    cr_assert(strstr(text, "past the end of an epoch"), "%s", text);

    o = (mxp_open_req){.mode = MIXUP_MODE_SHARDED};
    mxp_encode_open_req(open, sizeof open, 11, &o);
    cr_assert_eq(raw_request(d.ipc, open, sizeof open, &rep, text, sizeof text), MIXUP_EINVAL);
    cr_assert(strstr(text, "sharded stream needs a job name"), "%s", text);

    /* A client that asks for a batch and vanishes before the reply. */
    int s = nn_socket(AF_SP, NN_REQ);
    nn_connect(s, d.ipc);
    mxp_encode_next_req(msg, sizeof msg, 12, 1, 0, NULL, NULL, 0);
    nn_send(s, msg, sizeof msg, 0);
    nn_close(s);

    puller p = {.endpoint = d.ipc, .seed = 5, .batches = 5};
    pull(&p);
    check_pulled(&p);
    char *log = tu_read_file(d.log);
    cr_assert(strstr(log, "bad request"), "the log names bad requests");
    free(log);
    stop_daemon(&d);
    cleanup(&d);
}

Test(e2e, library_errors_carry_the_daemons_words, .timeout = 60)
{
    daemon_ctx d;
    setup_daemon(&d, "liberr");
    ref_init();
    start_daemon(&d, 1, 2);
    mixup_client *c = connect_to(d.ipc, 10000);
    mixup_batch *b;
    cr_assert_eq(mixup_next(c, &b), MIXUP_ESTATE);
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    so.start_batch = 1000;
    cr_assert_eq(mixup_stream_open(c, &so), MIXUP_EPOSITION);
    cr_assert(strstr(mixup_client_error(c), "past the end of an epoch"), "%s",
              mixup_client_error(c));
    so.start_batch = BPE - 1;
    cr_assert_eq(mixup_stream_open(c, &so), 0);
    cr_assert_eq(mixup_stream_open(c, &so), MIXUP_ESTATE);
    uint64_t e, k;
    cr_assert_eq(mixup_client_position(c, &e, &k), MIXUP_ESTATE);
    cr_assert_eq(mixup_next(c, &b), 0);
    cr_assert_eq(mixup_client_position(c, &e, &k), 0);
    cr_assert_eq(e, 0u);
    cr_assert_eq(k, (uint64_t)BPE - 1);
    mixup_batch *b2;
    cr_assert_eq(mixup_next(c, &b2), 0, "%s", mixup_client_error(c)); /* crosses into epoch 1 */
    cr_assert_eq(b2->epoch, 1u);
    cr_assert_eq(b2->index, 0u);
    mixup_info info;
    cr_assert_eq(mixup_client_info(c, &info), 0);
    cr_assert_eq(info.samples, (uint64_t)N);
    cr_assert_eq(info.batches_per_epoch, (uint64_t)BPE);
    cr_assert_eq(info.classes, (uint32_t)K);
    mixup_client_close(c);
    /* Batches outlive their client. */
    check_against_reference(b, 0, 0, BPE - 1);
    check_against_reference(b2, 0, 1, 0);
    mixup_batch_release(b);
    mixup_batch_release(b2);
    stop_daemon(&d);
    cleanup(&d);
}

Test(e2e, a_daemon_that_is_not_there_is_a_timeout_not_a_hang, .timeout = 30)
{
    char *dir = tu_tmpdir("absent");
    char ep[300];
    snprintf(ep, sizeof ep, "ipc://%s/nobody.ipc", dir);
    mixup_client *c;
    /* A missing ipc socket is said at connect (test_client.c); over tcp
     * nobody can tell before a request times out. */
    const char *ipc[] = {ep};
    cr_assert_eq(mixup_client_connect(&c, ipc, 1, NULL), MIXUP_ECONNECT);
    c = connect_to("tcp://127.0.0.1:1", 300);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(mixup_stream_open(c, NULL), MIXUP_ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    cr_assert(el < 5.0, "took %g s", el);
    cr_assert(strstr(mixup_client_error(c), "no reply within 300 ms"), "%s",
              mixup_client_error(c));
    mixup_client_close(c);
    const char *bad[] = {"nonsense://x"};
    cr_assert_eq(mixup_client_connect(&c, bad, 1, NULL), MIXUP_ECONNECT);
    cr_assert(strstr(mixup_client_error(NULL), "endpoint 'nonsense://x'"), "%s",
              mixup_client_error(NULL));
    tu_rmtree(dir);
    free(dir);
}

Test(e2e, broken_dataset_exits_nonzero_naming_the_file, .timeout = 60)
{
    daemon_ctx d;
    setup_daemon(&d, "broken");
    /* Labels file with 7 fewer entries than images. */
    uint64_t lshape[1] = {N - 7};
    free(tu_write_npy(d.dir, "labels.npy", "<i8", lshape, 1, labels64, (N - 7) * 8));
    write_config(&d, 1, 2, NULL);
    int pid = tu_spawn_daemon(d.config, d.log);
    int status = tu_stop_daemon(pid, 0);
    char *log = tu_read_file(d.log);
    cr_assert_eq(status, 1, "exit status %d", status);
    assert_clean_log(log);
    cr_assert(strstr(log, "labels.npy"), "log does not name the file:\n%s", log);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "mixupd.%s.", d.name);
    cr_assert_eq(tu_count_shm(prefix), 0);
    free(log);
    cleanup(&d);
}

Test(e2e, check_mode_validates_and_exits, .timeout = 60)
{
    daemon_ctx d;
    setup_daemon(&d, "check");
    write_config(&d, 1, 2, NULL);
    int pid = tu_spawn_daemon_args(d.config, d.log, "--check");
    cr_assert_eq(tu_stop_daemon(pid, 0), 0);
    write_config(&d, 1, 2, "colour = blue\n");
    pid = tu_spawn_daemon_args(d.config, d.log, "--check");
    cr_assert_eq(tu_stop_daemon(pid, 0), 1);
    char *log = tu_read_file(d.log);
    assert_clean_log(log);
    cr_assert(strstr(log, "batch.colour"), "%s", log);
    free(log);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "mixupd.%s.", d.name);
    cr_assert_eq(tu_count_shm(prefix), 0);
    cleanup(&d);
}

Test(e2e, serves_fashion_mnist, .timeout = 120)
{
    const char *img = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
    struct stat st;
    if (stat(img, &st) < 0)
        cr_skip_test("dataset-fashion-mnist is not installed");
    daemon_ctx d;
    setup_daemon(&d, "fmnist");
    FILE *f = fopen(d.config, "w");
    fprintf(f, "[server]\nendpoint = %s\nname = %s\n[dataset]\nformat = idx\n"
               "images = %s\nlabels = /usr/share/datasets/fashion-mnist/"
               "train-labels-idx1-ubyte.gz\n[batch]\nsize = 32\nalpha = 0.2\n",
            d.ipc, d.name, img);
    fclose(f);
    d.pid = tu_spawn_daemon(d.config, d.log);
    wait_ready(&d);
    mixup_client *c = connect_to(d.ipc, 20000);
    mixup_info info;
    cr_assert_eq(mixup_client_info(c, &info), 0);
    cr_assert_eq(info.samples, 60000u);
    cr_assert_eq(info.height, 28u);
    cr_assert_eq(info.width, 28u);
    cr_assert_eq(info.channels, 1u);
    cr_assert_eq(info.classes, 10u);
    cr_assert_eq(info.batches_per_epoch, 937u);
    cr_assert_eq(mixup_stream_open(c, NULL), 0);
    static int seen[60000];
    for (int k = 0; k < 20; k++) {
        mixup_batch *b;
        cr_assert_eq(mixup_next(c, &b), 0, "%s", mixup_client_error(c));
        for (uint32_t j = 0; j < 32; j++) {
            cr_assert(b->lam[j] >= 0.0f && b->lam[j] <= 1.0f);
            seen[b->index1[j]]++;
            seen[b->index2[j]]++;
            float sum = 0;
            for (int c2 = 0; c2 < 10; c2++)
                sum += b->y[j * 10 + c2];
            cr_assert(sum > 0.99999f && sum < 1.00001f);
        }
        for (size_t i = 0; i < 32u * 784; i++)
            cr_assert(b->x[i] >= 0.0f && b->x[i] <= 1.0000001f);
        mixup_batch_release(b);
    }
    int distinct = 0;
    for (int i = 0; i < 60000; i++) {
        cr_assert_leq(seen[i], 1);
        distinct += seen[i];
    }
    cr_assert_eq(distinct, 20 * 64);
    mixup_client_close(c);
    stop_daemon(&d);
    cleanup(&d);
}

/* A client that stops reading holds prepared batches; with the ring full
 * of them, another client must still be served (its batches are taken
 * back and recomputed later), and the stalled client, when it resumes,
 * gets exactly the batches it would have got. */
Test(e2e, a_stalled_client_does_not_stall_the_others, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "stall");
    ref_init();
    start_daemon(&d, 2, 4); /* 4 slots, prefetch 4: one stream can fill it */
    mixup_client *stalled = connect_to(d.ipc, 20000);
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    so.seed = 21;
    cr_assert_eq(mixup_stream_open(stalled, &so), 0);
    mixup_batch *b;
    cr_assert_eq(mixup_next(stalled, &b), 0);
    check_against_reference(b, 21, 0, 0);
    mixup_batch_release(b);

    puller p = {.endpoint = d.tcp, .seed = 22, .batches = 40};
    pull(&p);
    check_pulled(&p);

    for (uint64_t k = 1; k < 10; k++) {
        cr_assert_eq(mixup_next(stalled, &b), 0, "%s", mixup_client_error(stalled));
        check_against_reference(b, 21, 0, k);
        mixup_batch_release(b);
    }
    mixup_client_close(stalled);
    stop_daemon(&d);
    cleanup(&d);
}

/* A full /dev/shm: a private mount namespace with a 16 KiB tmpfs on
 * /dev/shm (needs root and unshare(1); skipped otherwise). */
Test(e2e, a_full_dev_shm_is_a_clear_error, .timeout = 60)
{
    if (geteuid() != 0 || system("unshare -m true 2>/dev/null") != 0)
        cr_skip_test("needs root and unshare -m");
    daemon_ctx d;
    setup_daemon(&d, "shmfull");
    write_config(&d, 1, 2, NULL);
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "unshare -m sh -c 'mount -t tmpfs -o size=16k tmpfs /dev/shm && "
             "%s --config %s; echo \"exit=$?\"; ls /dev/shm | wc -l' >%s 2>&1",
             getenv("MIXUPD_BIN"), d.config, d.log);
    cr_assert_eq(system(cmd), 0);
    char *log = tu_read_file(d.log);
    assert_clean_log(log);
    cr_assert(strstr(log, "no room in /dev/shm"), "%s", log);
    cr_assert(strstr(log, "exit=1"), "%s", log);
    cr_assert(strstr(log, "\n0\n"), "segments left in /dev/shm:\n%s", log);
    free(log);
    cleanup(&d);
}

/* Determinism with every augmentation on: the same bytes with 1, 2 and 8
 * workers (and different ring sizes). */
Test(e2e, same_bytes_for_any_worker_count_with_every_augmentation, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "augdet");
    static const char *extra =
        "[batch]\ncutmix_alpha = 1\nlabel_smoothing = 0.1\n"
        "[augment]\norder = before_mix\nflip_horizontal = 0.5\n"
        "flip_vertical = 0.3\nwidth_shift_range = 0.2\nheight_shift_range = 2\n"
        "fill_mode = wrap\ncrop_padding = 2\ncrop_mode = edge\n"
        "erase_prob = 0.8\nerase_fill = normal\n"
        "normalize_mean = 0.5, 0.5, 0.5\nnormalize_std = 0.25, 0.25, 0.25\n"
        "[output]\ndtype = bfloat16\nlayout = NCHW\n";
    const uint32_t workers[3] = {1, 2, 8}, slots[3] = {1, 6, 32};
    uint8_t *first = NULL;
    size_t per = 0;
    for (int run = 0; run < 3; run++) {
        write_config(&d, workers[run], slots[run], extra);
        d.pid = tu_spawn_daemon(d.config, d.log);
        wait_ready(&d);
        puller p = {.endpoint = d.ipc, .seed = 12, .batches = 20};
        pull(&p);
        cr_assert_eq(p.failures, 0, "%s", p.error);
        cr_assert_eq(p.got[0]->dtype, MIXUP_BFLOAT16);
        cr_assert_eq(p.got[0]->layout, MIXUP_NCHW);
        cr_assert_eq(p.got[0]->aug_per_sample, 2u);
        cr_assert_not_null(p.got[0]->x_half);
        per = p.got[0]->message_size_;
        if (!first)
            first = malloc(per * 20);
        for (int i = 0; i < 20; i++) {
            uint8_t *msg = p.got[i]->message_;
            memset(msg + 12, 0, 8);                  /* request id */
            memset(msg + MXP_HEADER_SIZE + 16, 0, 8); /* stream id */
            if (run == 0)
                memcpy(first + per * (size_t)i, msg, per);
            else
                cr_assert_eq(memcmp(first + per * (size_t)i, msg, per), 0,
                             "batch %d differs with %u workers", i, workers[run]);
            mixup_batch_release(p.got[i]);
        }
        stop_daemon(&d);
    }
    free(first);
    cleanup(&d);
}
