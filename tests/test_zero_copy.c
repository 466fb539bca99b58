/*
 * test_zero_copy.c — the ring as clients see it, end to end with the real
 * daemon: lent batches equal copied ones byte for byte, the held limit,
 * stale references, a client killed while holding slots, the segment's
 * mode and removal, shm_delivery = off, a tcp client on this host, and
 * clients that never read: the daemon's memory stays bounded.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "proto.h"
#include "testutil.h"

extern char **environ;

static mixup_client *connect_as(const char *ep, mixup_transport t)
{
    mixup_client *c;
    mixup_client_options o;
    mixup_client_options_init(&o);
    o.timeout_ms = 20000;
    o.transport = t;
    const char *eps[] = {ep};
    cr_assert_eq(mixup_client_connect(&c, eps, 1, &o), 0);
    return c;
}

static mixup_client *open_stream(const char *ep, mixup_transport t,
                                 uint64_t seed)
{
    mixup_client *c = connect_as(ep, t);
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    so.seed = seed;
    cr_assert_eq(mixup_stream_open(c, &so), 0, "%s", mixup_client_error(c));
    return c;
}

/* A batch's message without the ids that differ between two streams. */
static uint8_t *comparable(const mixup_batch *b)
{
    uint8_t *m = malloc(b->message_size_);
    memcpy(m, b->message_, b->message_size_);
    memset(m + 12, 0, 8);                      /* request id */
    memset(m + MXP_HEADER_SIZE + 16, 0, 8);    /* stream id */
    return m;
}

static char *stats_json(const char *ep)
{
    mixup_client *c = connect_as(ep, MIXUP_TRANSPORT_SOCKET);
    char *text = NULL;
    cr_assert_eq(mixup_client_stats(c, 1, &text), 0, "%s",
                 mixup_client_error(c));
    mixup_client_close(c);
    return text;
}

/* The number after @key, looked for after @section in the stats JSON. */
static long long stat_num(const char *json, const char *section,
                          const char *key)
{
    const char *s = strstr(json, section);
    cr_assert_not_null(s, "no %s in %s", section, json);
    const char *k = strstr(s, key);
    cr_assert_not_null(k, "no %s after %s in %s", key, section, json);
    return strtoll(k + strlen(key), NULL, 10);
}

static long long slots_in(const char *ep, const char *state)
{
    char key[32];
    snprintf(key, sizeof key, "\"%s\": ", state);
    char *j = stats_json(ep);
    long long n = stat_num(j, "\"slots\": {", key);
    free(j);
    return n;
}

/* ------------------------------------------------------------ same bytes */

static void same_bytes_with(const char *tag, const char *extra)
{
    daemon_ctx d;
    setup_daemon(&d, tag);
    write_config(&d, 2, 8, extra);
    d.pid = tu_spawn_daemon(d.config, d.log);
    wait_ready(&d);
    mixup_client *lent = open_stream(d.ipc, MIXUP_TRANSPORT_AUTO, 21);
    mixup_client *copied = open_stream(d.ipc, MIXUP_TRANSPORT_SOCKET, 21);
    cr_assert_str_eq(mixup_client_transport(lent), "shm", "%s",
                     mixup_client_transport_note(lent));
    cr_assert_str_eq(mixup_client_transport(copied), "socket");
    for (int i = 0; i < 2 * BPE + 3; i++) {
        mixup_batch *a, *b;
        cr_assert_eq(mixup_next(lent, &a), 0, "%s", mixup_client_error(lent));
        cr_assert_eq(mixup_next(copied, &b), 0, "%s",
                     mixup_client_error(copied));
        cr_assert_eq(mixup_batch_lent(a), 1);
        cr_assert_eq(mixup_batch_lent(b), 0);
        cr_assert_eq(a->message_size_, b->message_size_);
        uint8_t *ma = comparable(a), *mb = comparable(b);
        cr_assert_eq(memcmp(ma, mb, a->message_size_), 0,
                     "%s: batch %d differs between the two paths", tag, i);
        cr_assert_eq(a->aug_per_sample, b->aug_per_sample);
        if (a->aug)
            cr_assert_eq(memcmp(a->aug, b->aug,
                                (size_t)a->size * a->aug_per_sample *
                                    sizeof(mixup_aug)), 0);
        free(ma);
        free(mb);
        mixup_batch_release(a);
        mixup_batch_release(b);
    }
    mixup_client_close(lent);
    mixup_client_close(copied);
    stop_daemon(&d);
    cleanup(&d);
}

Test(zero_copy, same_bytes_as_the_socket_float32_nhwc, .timeout = 60)
{
    same_bytes_with("zcf32", NULL);
}

Test(zero_copy, same_bytes_as_the_socket_float32_nchw_pairs, .timeout = 60)
{
    same_bytes_with("zcnchw", "labels = pairs\n[output]\nlayout = NCHW\n");
}

Test(zero_copy, same_bytes_as_the_socket_float16_augmented, .timeout = 60)
{
    same_bytes_with("zcf16", "[augment]\norder = before_mix\n"
                    "flip_horizontal = 0.5\nerase_prob = 0.5\n"
                    "[output]\ndtype = float16\nlayout = NCHW\n");
}

Test(zero_copy, same_bytes_as_the_socket_bfloat16_cutmix, .timeout = 60)
{
    same_bytes_with("zcbf16", "mix = cutmix\ncutmix_alpha = 1\n[augment]\n"
                    "width_shift_range = 2\n[output]\ndtype = bfloat16\n");
}

/* ------------------------------------------------------------ held */

Test(zero_copy, holding_max_held_and_one_past_it, .timeout = 60)
{
    daemon_ctx d;
    setup_daemon(&d, "zcheld");
    ref_init();
    write_config(&d, 2, 8, "[server]\nmax_held = 3\n");
    d.pid = tu_spawn_daemon(d.config, d.log);
    wait_ready(&d);
    mixup_client *c = open_stream(d.ipc, MIXUP_TRANSPORT_AUTO, 5);
    mixup_batch *held[3];
    uint8_t *saved[3];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(mixup_next(c, &held[i]), 0, "%s", mixup_client_error(c));
        cr_assert_eq(mixup_batch_lent(held[i]), 1);
        saved[i] = comparable(held[i]);
    }
    mixup_batch *more;
    cr_assert_eq(mixup_next(c, &more), MIXUP_EHELD);
    cr_assert(strstr(mixup_client_error(c), "server.max_held"), "%s",
              mixup_client_error(c));
    cr_assert_eq(slots_in(d.ipc, "lent"), 3);
    /* Release one: the next request carries it and gets a batch. */
    mixup_batch_release(held[0]);
    free(saved[0]);
    cr_assert_eq(mixup_next(c, &more), 0, "%s", mixup_client_error(c));
    check_against_reference(more, 5, 0, 3);
    mixup_batch_release(more);
    /* Traffic went on; the batches still held kept their bytes. */
    for (int i = 1; i < 3; i++) {
        cr_assert_eq(mixup_batch_check(held[i]), 0);
        uint8_t *now = comparable(held[i]);
        cr_assert_eq(memcmp(now, saved[i], held[i]->message_size_), 0);
        free(now);
        check_against_reference(held[i], 5, 0, (uint64_t)i);
    }
    /* Closing the client with batches held: they keep their bytes, at
     * the same addresses, and the daemon has its slots back. */
    const float *x1 = held[1]->x;
    mixup_client_close(c);
    cr_assert_eq(held[1]->x, x1);
    for (int i = 1; i < 3; i++) {
        check_against_reference(held[i], 5, 0, (uint64_t)i);
        cr_assert_eq(mixup_batch_check(held[i]), 0);
    }
    cr_assert_eq(slots_in(d.ipc, "lent"), 0);
    /* ... and more traffic in those slots does not touch them. */
    mixup_client *o = open_stream(d.ipc, MIXUP_TRANSPORT_AUTO, 6);
    for (int i = 0; i < 20; i++) {
        mixup_batch *b;
        cr_assert_eq(mixup_next(o, &b), 0);
        mixup_batch_release(b);
    }
    mixup_client_close(o);
    for (int i = 1; i < 3; i++) {
        check_against_reference(held[i], 5, 0, (uint64_t)i);
        mixup_batch_release(held[i]);
        free(saved[i]);
    }
    stop_daemon(&d);
    cleanup(&d);
}

/* ------------------------------------------------------------ stale */

static int raw(const char *ep, const uint8_t *req, size_t len, mxp_reply *rep,
               void **buf, char *text, size_t textlen)
{
    int s = nn_socket(AF_SP, NN_REQ);
    int to = 10000, unlimited = -1;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &to, sizeof to);
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVMAXSIZE, &unlimited, sizeof unlimited);
    cr_assert_geq(nn_connect(s, ep), 0);
    cr_assert_eq(nn_send(s, req, len, 0), (int)len);
    int n = nn_recv(s, buf, NN_MSG, 0);
    cr_assert_gt(n, 0, "no reply: %s", nn_strerror(nn_errno()));
    char err[256];
    cr_assert_eq(mxp_reply_decode(*buf, (size_t)n, NULL, rep, err, sizeof err),
                 0, "%s", err);
    nn_close(s);
    if (rep->hdr.type != MXP_ERROR_REP)
        return 0;
    snprintf(text, textlen, "%.*s", (int)rep->u.error.msg_len,
             rep->u.error.msg);
    return rep->u.error.code;
}

Test(zero_copy, a_stale_release_is_refused_and_the_request_served, .timeout = 60)
{
    daemon_ctx d;
    setup_daemon(&d, "zcstale");
    start_daemon(&d, 2, 8);
    uint8_t req[256];
    mxp_open_req o = {.mode = MIXUP_MODE_INDEPENDENT, .seed = 1};
    int len = mxp_encode_open_req(req, sizeof req, 1, &o);
    cr_assert_gt(len, 0);
    mxp_reply rep;
    void *buf;
    char text[512];
    cr_assert_eq(raw(d.ipc, req, (size_t)len, &rep, &buf, text, sizeof text), 0);
    uint64_t sid = rep.u.open.stream_id;
    cr_assert_neq(rep.u.open.ring_name[0], 0, "the ring is offered");
    uint8_t key[MXP_STREAM_KEY_SIZE]; /* NEXT must carry it */
    cr_assert_not_null(rep.stream_key);
    memcpy(key, rep.stream_key, sizeof key);
    nn_freemsg(buf);
    len = mxp_encode_next_req(req, sizeof req, 2, sid, MXP_NEXT_REF, NULL,
                              NULL, 0);
    len = mxp_append_trailer(req, sizeof req, (size_t)len, MXP_FLAG_STREAM_KEY,
                             key);
    cr_assert_eq(raw(d.ipc, req, (size_t)len, &rep, &buf, text, sizeof text), 0);
    cr_assert_eq(rep.hdr.type, MXP_BATCH_REF_REP);
    mxp_batch_ref ref = rep.u.ref;
    nn_freemsg(buf);
    uint32_t slot = ref.slot, gen = ref.generation + 1;
    len = mxp_encode_next_req(req, sizeof req, 3, sid, MXP_NEXT_REF, &slot,
                              &gen, 1);
    len = mxp_append_trailer(req, sizeof req, (size_t)len, MXP_FLAG_STREAM_KEY,
                             key);
    /* The stale release is refused (the slot stays lent), the request is
     * served: batch 1, in another slot. */
    cr_assert_eq(raw(d.ipc, req, (size_t)len, &rep, &buf, text, sizeof text),
                 0, "%s", text);
    cr_assert_eq(rep.u.ref.index, 1u);
    cr_assert_neq(rep.u.ref.slot, ref.slot);
    nn_freemsg(buf);
    cr_assert_eq(slots_in(d.ipc, "lent"), 2, "a refused release frees nothing");
    char *j = stats_json(d.ipc);
    cr_assert_eq(stat_num(j, "\"copy_bytes\": {", "\"releases_refused\": "), 1);
    free(j);
    gen = ref.generation; /* the right one: released, a new batch lent */
    len = mxp_encode_next_req(req, sizeof req, 4, sid, MXP_NEXT_REF, &slot,
                              &gen, 1);
    len = mxp_append_trailer(req, sizeof req, (size_t)len, MXP_FLAG_STREAM_KEY,
                             key);
    cr_assert_eq(raw(d.ipc, req, (size_t)len, &rep, &buf, text, sizeof text),
                 0, "%s", text);
    cr_assert_eq(rep.u.ref.index, 2u);
    nn_freemsg(buf);
    cr_assert_eq(slots_in(d.ipc, "lent"), 2, "batch 0's slot came back");
    stop_daemon(&d);
    cleanup(&d);
}

/* ------------------------------------------------------------ killed */

static int spawn_holder(const char *ep, const char *out)
{
    const char *bin = getenv("CLIENT_HELPER_BIN");
    cr_assert_not_null(bin);
    char *argv[] = {(char *)bin, (char *)ep, "independent", "-", "9", "3",
                    "pause", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, bin, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

Test(zero_copy, slots_of_a_killed_client_come_back_when_its_stream_expires,
     .timeout = 60)
{
    daemon_ctx d;
    setup_daemon(&d, "zckill");
    ref_init();
    write_config(&d, 2, 8, "[server]\nstream_timeout = 2\n");
    d.pid = tu_spawn_daemon(d.config, d.log);
    wait_ready(&d);
    char out[600];
    snprintf(out, sizeof out, "%s/holder.out", d.dir);
    int holder = spawn_holder(d.ipc, out);
    /* It holds its third batch, lent, and waits. */
    double until = now_s() + 20;
    while (slots_in(d.ipc, "lent") < 1) {
        cr_assert_lt(now_s(), until, "the holder never held a slot");
        usleep(20 * 1000);
    }
    kill(holder, SIGKILL);
    waitpid(holder, NULL, 0);
    /* The others are served meanwhile, with the right bytes. */
    mixup_client *c = open_stream(d.ipc, MIXUP_TRANSPORT_AUTO, 8);
    for (uint64_t k = 0; k < 10; k++) {
        mixup_batch *b;
        cr_assert_eq(mixup_next(c, &b), 0, "%s", mixup_client_error(c));
        check_against_reference(b, 8, 0, k);
        mixup_batch_release(b);
    }
    cr_assert_eq(slots_in(d.ipc, "lent"), 2, "the dead client's slot, and "
                 "the last one of the live client");
    until = now_s() + 20;
    while (slots_in(d.ipc, "lent") > 1) {
        cr_assert_lt(now_s(), until, "the killed client's slot never came "
                     "back");
        usleep(50 * 1000);
    }
    /* The live client held on through it (its stream is not idle: it
     * asks below), and goes on. */
    mixup_batch *b;
    cr_assert_eq(mixup_next(c, &b), 0, "%s", mixup_client_error(c));
    check_against_reference(b, 8, 0, 10);
    mixup_batch_release(b);
    mixup_client_close(c);
    stop_daemon(&d);
    cleanup(&d);
}

/* ------------------------------------------------------------ segment */

static unsigned ring_mode(const daemon_ctx *d)
{
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/mixupd.%s.%d.ring", d->name, d->pid);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s", path);
    return st.st_mode & 0777;
}

Test(zero_copy, segment_mode_and_removal, .timeout = 60)
{
    daemon_ctx d;
    setup_daemon(&d, "zcmode");
    start_daemon(&d, 1, 4);
    cr_assert_eq(ring_mode(&d), 0600u);
    stop_daemon(&d); /* nothing left in /dev/shm after SIGTERM */
    write_config(&d, 1, 4, "[server]\nshm_mode = 0640\n");
    d.pid = tu_spawn_daemon(d.config, d.log);
    wait_ready(&d);
    cr_assert_eq(ring_mode(&d), 0640u);
    stop_daemon(&d);
    cleanup(&d);
}

Test(zero_copy, shm_delivery_off_and_a_tcp_client_on_this_host, .timeout = 60)
{
    daemon_ctx d;
    setup_daemon(&d, "zcoff");
    ref_init();
    start_daemon(&d, 2, 8);
    /* tcp to this host: the ring is mapped all the same. */
    mixup_client *t = open_stream(d.tcp, MIXUP_TRANSPORT_AUTO, 4);
    cr_assert_str_eq(mixup_client_transport(t), "shm", "%s",
                     mixup_client_transport_note(t));
    for (uint64_t k = 0; k < 3; k++) {
        mixup_batch *b;
        cr_assert_eq(mixup_next(t, &b), 0);
        cr_assert_eq(mixup_batch_lent(b), 1);
        check_against_reference(b, 4, 0, k);
        mixup_batch_release(b);
    }
    mixup_client_close(t);
    stop_daemon(&d);
    write_config(&d, 2, 8, "[server]\nshm_delivery = off\n");
    d.pid = tu_spawn_daemon(d.config, d.log);
    wait_ready(&d);
    mixup_client *c = open_stream(d.ipc, MIXUP_TRANSPORT_AUTO, 4);
    cr_assert_str_eq(mixup_client_transport(c), "socket");
    cr_assert(strstr(mixup_client_transport_note(c), "shm_delivery = off"),
              "%s", mixup_client_transport_note(c));
    for (uint64_t k = 0; k < 3; k++) {
        mixup_batch *b;
        cr_assert_eq(mixup_next(c, &b), 0);
        cr_assert_eq(mixup_batch_lent(b), 0);
        check_against_reference(b, 4, 0, k);
        mixup_batch_release(b);
    }
    mixup_client_close(c);
    char *j = stats_json(d.ipc);
    cr_assert_eq(stat_num(j, "\"transport\": {", "\"lent\": "), 0);
    cr_assert_geq(stat_num(j, "\"transport\": {", "\"copied\": "), 3);
    free(j);
    stop_daemon(&d);
    cleanup(&d);
}

/* ------------------------------------------------------------ no readers */

/* A peer that speaks SP over tcp by hand: it opens a stream, asks for a
 * batch and never reads the reply (its receive buffer is tiny), as a
 * hostile or wedged client would. */
static int sp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    const uint8_t hello[8] = {0, 'S', 'P', 0, 0, NN_REQ, 0, 0};
    cr_assert_eq(write(fd, hello, 8), 8);
    uint8_t peer[8];
    cr_assert_eq(recv(fd, peer, 8, MSG_WAITALL), 8);
    cr_assert_eq(peer[5], NN_REP);
    return fd;
}

static void sp_send(int fd, uint32_t id, const uint8_t *body, size_t len)
{
    uint8_t head[12];
    uint64_t size = 4 + len;
    for (int i = 0; i < 8; i++)
        head[i] = (uint8_t)(size >> (56 - 8 * i));
    id |= 0x80000000u;
    for (int i = 0; i < 4; i++)
        head[8 + i] = (uint8_t)(id >> (24 - 8 * i));
    cr_assert_eq(write(fd, head, 12), 12);
    cr_assert_eq(write(fd, body, len), (ssize_t)len);
}

static uint64_t sp_open_and_ask(int port, int *fd_out, uint32_t n)
{
    int fd = sp_connect(port);
    uint8_t req[256];
    mxp_open_req o = {.mode = MIXUP_MODE_INDEPENDENT, .seed = n};
    int len = mxp_encode_open_req(req, sizeof req, 1000 + n, &o);
    sp_send(fd, 1, req, (size_t)len);
    uint8_t head[12], rep[512];
    cr_assert_eq(recv(fd, head, 12, MSG_WAITALL), 12);
    uint64_t size = 0;
    for (int i = 0; i < 8; i++)
        size = size << 8 | head[i];
    cr_assert(size - 4 <= sizeof rep);
    cr_assert_eq(recv(fd, rep, size - 4, MSG_WAITALL), (ssize_t)(size - 4));
    mxp_reply r;
    char err[256];
    cr_assert_eq(mxp_reply_decode(rep, size - 4, NULL, &r, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(r.hdr.type, MXP_OPEN_REP);
    len = mxp_encode_next_req(req, sizeof req, 2000 + n, r.u.open.stream_id, 0,
                              NULL, NULL, 0);
    len = mxp_append_trailer(req, sizeof req, (size_t)len, MXP_FLAG_STREAM_KEY,
                             r.stream_key);
    sp_send(fd, 2, req, (size_t)len);
    *fd_out = fd;
    return r.u.open.stream_id;
}

static long rss_anon_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* Batches of 12 MB: more than the kernel takes into a socket's buffer
 * (twice SO_SNDBUF, which mixupd sets to min(batch, 4 MiB)), so that
 * nanomsg keeps the rest of each unread reply in the daemon's heap: 20
 * such clients would hold about 86 MB there. */
enum { BIG_N = 500, BIG_HW = 64, BIG_B = 250, HOSTILE = 20 };
#define BIG_BATCH (BIG_B * BIG_HW * BIG_HW * 3 * 4 + 65536)

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1 /* its allocator keeps freed memory (quarantine) */
#else
#define UNDER_ASAN 0
#endif

Test(zero_copy, clients_that_never_read_do_not_grow_the_daemon, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "zcnoread");
    static uint8_t big[BIG_N * BIG_HW * BIG_HW * 3];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    int64_t lab[BIG_N];
    for (int i = 0; i < BIG_N; i++)
        lab[i] = i % K;
    uint64_t ishape[4] = {BIG_N, BIG_HW, BIG_HW, 3}, lshape[1] = {BIG_N};
    free(tu_write_npy(d.dir, "big.npy", "|u1", ishape, 4, big, sizeof big));
    free(tu_write_npy(d.dir, "biglab.npy", "<i8", lshape, 1, lab, sizeof lab));
    /* A configuration of its own: another dataset, a budget of 2 copies. */
    FILE *f = fopen(d.config, "w");
    fprintf(f, "[server]\nendpoint = %s\nendpoint = %s\nname = %s\n"
            "workers = 2\nring_slots = 8\nprefetch = 2\nstream_timeout = 300\n"
            "max_copy_bytes = %d\nmax_streams = 128\n"
            "[dataset]\nformat = npy\nimages = %s/big.npy\n"
            "labels = %s/biglab.npy\nclasses = %d\n"
            "[batch]\nsize = %d\nalpha = 0.4\n",
            d.ipc, d.tcp, d.name,
            2 * BIG_BATCH, d.dir, d.dir, K,
            BIG_B);
    fclose(f);
    d.pid = tu_spawn_daemon(d.config, d.log);
    wait_ready(&d);
    int port = atoi(strrchr(d.tcp, ':') + 1);
    /* Warm up both paths, then let a tick trim the heap. */
    for (int t = 0; t < 2; t++) {
        mixup_client *c = open_stream(d.ipc, (mixup_transport)t, 1);
        for (int i = 0; i < 4; i++) {
            mixup_batch *b;
            cr_assert_eq(mixup_next(c, &b), 0, "%s", mixup_client_error(c));
            mixup_batch_release(b);
        }
        mixup_client_close(c);
    }
    usleep(2500 * 1000);
    long base = rss_anon_kb(d.pid);
    int fds[HOSTILE];
    for (int i = 0; i < HOSTILE; i++)
        sp_open_and_ask(port, &fds[i], (uint32_t)i);
    /* Every hostile request was looked at: the budget is spent and the
     * rest wait for it (or, without a budget, all were copied). */
    double until = now_s() + 30;
    for (;;) {
        char *j = stats_json(d.ipc);
        long long waits = stat_num(j, "\"copy_bytes\": {", "\"waits\": ");
        long long copied = stat_num(j, "\"transport\": {", "\"copied\": ");
        free(j);
        /* (4 warm-up copies before them.) */
        if ((waits > 0 && copied >= 4 + 2) || copied >= 4 + HOSTILE)
            break;
        cr_assert_lt(now_s(), until, "the hostile requests were not seen");
        usleep(50 * 1000);
    }
    /* A local client is served meanwhile (its batches are lent). */
    mixup_client *c = open_stream(d.ipc, MIXUP_TRANSPORT_AUTO, 2);
    for (int i = 0; i < 10; i++) {
        mixup_batch *b;
        cr_assert_eq(mixup_next(c, &b), 0, "%s", mixup_client_error(c));
        mixup_batch_release(b);
    }
    mixup_client_close(c);
    long during = rss_anon_kb(d.pid);
    long bound_kb = 2L * BIG_BATCH / 1024;
    if (!UNDER_ASAN)
        cr_assert_leq(during - base, bound_kb + 12 * 1024,
                      "daemon heap grew %ld kB with %d unread clients "
                      "(bound %ld kB + 12 MB)", during - base, HOSTILE,
                      bound_kb);
    for (int i = 0; i < HOSTILE; i++)
        close(fds[i]);
    /* The heap goes back within seconds of their connections closing,
     * long before their streams expire (300 s): what held it was
     * nanomsg's replies, freed when the peers went. */
    double gone = now_s();
    until = gone + 10;
    for (;;) {
        long now = rss_anon_kb(d.pid);
        if (UNDER_ASAN || now - base <= 4 * 1024)
            break;
        cr_assert_lt(now_s(), until, "%.1f s after the clients went: heap "
                     "%ld kB over the baseline", now_s() - gone, now - base);
        usleep(100 * 1000);
    }
    char *j = stats_json(d.ipc);
    char want[48];
    snprintf(want, sizeof want, "\"streams_open\": %d,", HOSTILE);
    cr_assert(strstr(j, want), "their streams were still open: %s", j);
    free(j);
    fprintf(stderr, "unread clients: heap +%ld kB while they stalled, back "
            "within 4 MB %.1f s after they went\n", during - base,
            now_s() - gone);
    stop_daemon(&d);
    cleanup(&d);
}

/* A client holds 3 lent batches and stays idle past stream_timeout (an
 * evaluation pass while the training iterator holds prefetched batches):
 * its stream expires, but the slots it reads stay lent, so their bytes do
 * not change while another client pulls through the ring; once released,
 * the slots come back. */
Test(zero_copy, held_batches_outlive_their_expired_stream, .timeout = 60)
{
    daemon_ctx d;
    setup_daemon(&d, "zcexpire");
    ref_init();
    write_config(&d, 2, 8, "[server]\nstream_timeout = 1\n");
    d.pid = tu_spawn_daemon(d.config, d.log);
    wait_ready(&d);
    mixup_client *c = open_stream(d.ipc, MIXUP_TRANSPORT_AUTO, 31);
    mixup_batch *held[3];
    uint8_t *copy[3];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(mixup_next(c, &held[i]), 0, "%s", mixup_client_error(c));
        cr_assert_eq(mixup_batch_lent(held[i]), 1);
        copy[i] = malloc(held[i]->message_size_);
        memcpy(copy[i], held[i]->message_, held[i]->message_size_);
    }
    double until = now_s() + 20;
    for (;;) {
        char *log = tu_read_file(d.log);
        int expired = log && strstr(log, "idle for");
        free(log);
        if (expired)
            break;
        cr_assert_lt(now_s(), until, "the idle stream never expired");
        usleep(100 * 1000);
    }
    cr_assert_eq(slots_in(d.ipc, "lent"), 3, "the read slots stay lent");
    /* Another client goes round the ring many times. */
    mixup_client *o = open_stream(d.ipc, MIXUP_TRANSPORT_AUTO, 32);
    for (uint64_t k = 0; k < 3 * BPE; k++) {
        mixup_batch *b;
        cr_assert_eq(mixup_next(o, &b), 0, "%s", mixup_client_error(o));
        check_against_reference(b, 32, k / BPE, k % BPE);
        mixup_batch_release(b);
    }
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(memcmp(copy[i], held[i]->message_,
                            held[i]->message_size_), 0,
                     "held batch %d changed after its stream expired", i);
        cr_assert_eq(mixup_batch_check(held[i]), 0);
        check_against_reference(held[i], 31, 0, (uint64_t)i);
        mixup_batch_release(held[i]);
        free(copy[i]);
    }
    /* Released (their stream is gone: no request carries the release),
     * the slots come back at a tick. */
    until = now_s() + 20;
    while (slots_in(d.ipc, "lent") > 1) { /* the other client's last one */
        cr_assert_lt(now_s(), until, "the released slots never came back");
        usleep(50 * 1000);
    }
    mixup_client_close(o);
    mixup_client_close(c);
    stop_daemon(&d);
    cleanup(&d);
}
