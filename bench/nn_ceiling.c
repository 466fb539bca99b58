/*
 * nn_ceiling — the raw nanomsg ceiling for mixupd's batch replies.
 *
 *   nn_ceiling [--endpoint ADDR] [--seconds S] [--batch B]
 *              [--shape HxWxC] [--classes K] [--send alloc|plain]
 *              [--consume copy|none]
 *
 * A bare REQ/REP loop with nothing else in it: a server process (forked
 * child) answers every request with a message of exactly the size of a
 * mixupd batch reply of the same shape (mxp_batch_layout_compute), and a
 * client process (the parent) asks for S seconds and prints, like
 * `mixupctl bench`:
 *
 *   samples/s: X      (replies/s x B)
 *   batches/s: Y
 *   MB/s: Z
 *
 * Two processes, as mixupd and its client are, over the same transport.
 * What each side does per batch, and why it is fair:
 *
 * - Server: the reply is a valid BATCH message encoded once at start-up
 *   into a pre-filled buffer. Per request it receives the request
 *   (NN_MSG, freed), then, with the default `--send alloc`, does
 *   nn_allocmsg(total) + memcpy(pre-filled) + patches the request id, and
 *   sends the NN_MSG buffer (zero-copy hand-over to nanomsg). mixupd also
 *   sends a freshly nn_allocmsg'd buffer zero-copy; its workers write it
 *   with the mixed pixels where we write it with memcpy: the memcpy is the
 *   cheapest possible stand-in for computing the batch, and the malloc /
 *   free per batch is the same on both sides. (With one reply in flight
 *   glibc hands the same warm heap chunk back every time, so this side
 *   takes no page faults; whether mixupd does depends on its own
 *   allocation pattern, which is what run.sh's faults/batch shows.)
 *   `--send plain` instead nn_send()s the plain buffer, which makes
 *   nanomsg do the same allocate + copy internally (no request id patch);
 *   it is there to check that the two agree.
 * - The server's NN_SNDBUF is one reply (4 MiB at most), as mixupd sets
 *   it; the client's buffers are nanomsg's defaults, as libmixup leaves
 *   them. `--sockbuf BYTES` sets NN_SNDBUF on the server and NN_RCVBUF on
 *   the client to see what other buffers would give (the kernel caps them
 *   at net.core.wmem_max).
 * - Client: as libmixup's mixup_next() does: nn_send of a NEXT request
 *   (mxp_encode_next_req, 40 bytes), nn_recv with NN_MSG, mxp_reply_decode
 *   and a request-id check, then (`--consume copy`, the default, as
 *   `mixupctl bench` does) x and y copied into a buffer of its own, as a
 *   trainer copies a batch into its tensors; nn_freemsg. NN_RCVMAXSIZE is
 *   -1 (the default 1 MiB limit would silently drop a batch).
 *   `--consume none` leaves the pixels untouched.
 *
 * It also prints `cpu us/batch: C`: the CPU time (user + system, all threads,
 * from /proc/PID/stat) of both processes over the timed loop, per batch. On
 * a shared, noisy machine that figure moves much less than samples/s.
 *
 * It does not build a mixup_batch (one small malloc per batch in
 * libmixup), nor run a libuv loop, worker threads or a raw REP socket on
 * the server side: those are exactly the overheads the ratio
 * mixupd / ceiling is meant to show.
 */
#include <errno.h>
#include <inttypes.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

typedef struct opts {
    const char *endpoint;
    double seconds;
    mxp_batch_shape shape;
    int plain;
    int sndbuf; /* NN_SNDBUF of the server, NN_RCVBUF of the client; 0: nanomsg's */
    int no_consume; /* --consume none */
} opts;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU ticks (utime + stime, every thread) of a process; -1 if unknown. */
static long long proc_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* Fields after the ")" closing comm: state is field 3, utime 14,
     * stime 15. */
    char *p = strrchr(buf, ')');
    unsigned long long ut, st;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                     &ut, &st) != 2)
        return -1;
    return (long long)(ut + st);
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: nn_ceiling [--endpoint ADDR] [--seconds S] [--batch B]\n"
            "                  [--shape HxWxC] [--classes K] [--send alloc|plain]\n"
            "                  [--sockbuf BYTES] [--consume copy|none]\n"
            "defaults: ipc:///tmp/nn_ceiling.PID.ipc, 3 s, B 128, 32x32x3, "
            "10 classes, alloc, copy,\n"
            "          nanomsg's socket buffers (--sockbuf sets NN_SNDBUF on the "
            "server, NN_RCVBUF on the client)\n");
}

static int parse_u32(const char *s, uint32_t *out)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v == 0 || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_args(int argc, char **argv, opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "nn_ceiling: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--endpoint")) {
            o->endpoint = v;
        } else if (!strcmp(a, "--seconds")) {
            char *end;
            o->seconds = strtod(v, &end);
            if (*end || !(o->seconds > 0)) {
                fprintf(stderr, "nn_ceiling: --seconds wants a positive number\n");
                return -1;
            }
        } else if (!strcmp(a, "--batch")) {
            if (parse_u32(v, &o->shape.size)) {
                fprintf(stderr, "nn_ceiling: --batch wants a count >= 1\n");
                return -1;
            }
        } else if (!strcmp(a, "--classes")) {
            if (parse_u32(v, &o->shape.classes)) {
                fprintf(stderr, "nn_ceiling: --classes wants a count >= 1\n");
                return -1;
            }
        } else if (!strcmp(a, "--shape")) {
            unsigned h, w, c;
            char tail;
            if (sscanf(v, "%ux%ux%u%c", &h, &w, &c, &tail) != 3 || !h || !w || !c) {
                fprintf(stderr, "nn_ceiling: --shape wants HxWxC, got '%s'\n", v);
                return -1;
            }
            o->shape.height = h;
            o->shape.width = w;
            o->shape.channels = c;
        } else if (!strcmp(a, "--sockbuf")) {
            uint32_t v32;
            if (parse_u32(v, &v32) || v32 > INT32_MAX) {
                fprintf(stderr, "nn_ceiling: --sockbuf wants bytes >= 1\n");
                return -1;
            }
            o->sndbuf = (int)v32;
        } else if (!strcmp(a, "--consume")) {
            if (!strcmp(v, "copy"))
                o->no_consume = 0;
            else if (!strcmp(v, "none"))
                o->no_consume = 1;
            else {
                fprintf(stderr, "nn_ceiling: --consume wants copy or none\n");
                return -1;
            }
        } else if (!strcmp(a, "--send")) {
            if (!strcmp(v, "alloc"))
                o->plain = 0;
            else if (!strcmp(v, "plain"))
                o->plain = 1;
            else {
                fprintf(stderr, "nn_ceiling: --send wants alloc or plain\n");
                return -1;
            }
        } else {
            fprintf(stderr, "nn_ceiling: unknown argument '%s'\n", a);
            usage(stderr);
            return -1;
        }
    }
    return 0;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The child: answer requests until killed. */
static void serve(const opts *o, const uint8_t *reply, size_t total)
{
    int sock = nn_socket(AF_SP, NN_REP);
    /* As mixupd does (server.c): a send buffer of one batch, 4 MiB at most. */
    int sndbuf = o->sndbuf ? o->sndbuf
                           : (total < (4u << 20) ? (int)total : 4 << 20);
    if (sock >= 0)
        nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDBUF, &sndbuf, sizeof sndbuf);
    if (sock < 0 || nn_bind(sock, o->endpoint) < 0) {
        fprintf(stderr, "nn_ceiling: server cannot bind %s: %s\n", o->endpoint,
                nn_strerror(nn_errno()));
        _exit(1);
    }
    for (;;) {
        void *req = NULL;
        int n = nn_recv(sock, &req, NN_MSG, 0);
        if (n < 0) {
            if (nn_errno() == EINTR)
                continue;
            fprintf(stderr, "nn_ceiling: server receive: %s\n",
                    nn_strerror(nn_errno()));
            _exit(1);
        }
        uint64_t id = (size_t)n >= MXP_HEADER_SIZE ? get_u64((uint8_t *)req + 12) : 0;
        nn_freemsg(req);
        int rc;
        if (o->plain) {
            /* nanomsg allocates a chunk and copies the buffer into it. */
            rc = nn_send(sock, reply, total, 0);
        } else {
            /* nn_allocmsg + memcpy per reply, handed over zero-copy. */
            uint8_t *msg = nn_allocmsg(total, 0);
            if (!msg) {
                fprintf(stderr, "nn_ceiling: out of memory\n");
                _exit(1);
            }
            memcpy(msg, reply, total);
            mxp_set_request_id(msg, id);
            void *p = msg;
            rc = nn_send(sock, &p, NN_MSG, 0);
            if (rc < 0)
                nn_freemsg(msg);
        }
        if (rc < 0 && nn_errno() != EINTR) {
            fprintf(stderr, "nn_ceiling: server send: %s\n",
                    nn_strerror(nn_errno()));
            _exit(1);
        }
    }
}

/* --consume copy: x and y go here, as a trainer's tensors. */
static uint8_t *consume_buf;

/* One request/reply as libmixup does it; 0 or -1. */
static int roundtrip(int sock, uint64_t id, int check_id)
{
    uint8_t req[MXP_HEADER_SIZE + MXP_NEXT_FIXED];
    int len = mxp_encode_next_req(req, sizeof req, id, 1, 0, NULL, NULL, 0);
    if (nn_send(sock, req, (size_t)len, 0) < 0) {
        fprintf(stderr, "nn_ceiling: client send: %s\n", nn_strerror(nn_errno()));
        return -1;
    }
    void *buf = NULL;
    int n = nn_recv(sock, &buf, NN_MSG, 0);
    if (n < 0) {
        fprintf(stderr, "nn_ceiling: client receive: %s\n",
                nn_strerror(nn_errno()));
        return -1;
    }
    mxp_reply rep;
    char err[256];
    int rc = mxp_reply_decode(buf, (size_t)n, NULL, &rep, err, sizeof err);
    if (rc == 0 && rep.hdr.type != MXP_BATCH_REP) {
        snprintf(err, sizeof err, "not a batch reply");
        rc = -1;
    }
    if (rc == 0 && check_id && rep.hdr.request_id != id) {
        snprintf(err, sizeof err, "reply to request %" PRIu64 ", expected %" PRIu64,
                 rep.hdr.request_id, id);
        rc = -1;
    }
    if (rc == 0 && consume_buf) {
        const mxp_batch_layout *L = &rep.u.batch.layout;
        size_t yb = L->y ? (size_t)rep.u.batch.shape.size *
                               rep.u.batch.shape.classes * 4
                         : 0;
        memcpy(consume_buf, (uint8_t *)buf + L->x, L->x_bytes);
        memcpy(consume_buf + L->x_bytes, (uint8_t *)buf + L->y, yb);
    }
    nn_freemsg(buf);
    if (rc < 0) {
        fprintf(stderr, "nn_ceiling: bad reply: %s\n", err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static char default_ep[256];
    opts o = {
        .seconds = 3,
        .shape = {.size = 128, .height = 32, .width = 32, .channels = 3,
                  .classes = 10, .dtype = MIXUP_FLOAT32, .layout = MIXUP_NHWC},
    };
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    if (!o.endpoint) {
        snprintf(default_ep, sizeof default_ep, "ipc:///tmp/nn_ceiling.%ld.ipc",
                 (long)getpid());
        o.endpoint = default_ep;
    }

    mxp_batch_layout L;
    int rc = mxp_batch_layout_compute(&o.shape, &L);
    if (rc < 0) {
        fprintf(stderr, "nn_ceiling: shape does not fit a batch reply\n");
        return 2;
    }
    uint8_t *reply = aligned_alloc(64, (L.total + 63) & ~(size_t)63);
    if (!reply) {
        fprintf(stderr, "nn_ceiling: out of memory\n");
        return 1;
    }
    /* A valid, pre-filled batch reply: pixels of a constant, which the
     * kernel cannot share copy-on-write pages for (written, not zero). */
    memset(reply, 0x3f, L.total);
    mxp_encode_batch_head(reply, 0, 1, 0, 0, &o.shape, &L);

    fflush(stdout);
    pid_t child = fork();
    if (child < 0) {
        perror("nn_ceiling: fork");
        return 1;
    }
    if (child == 0)
        serve(&o, reply, L.total); /* never returns */

    int status = 0;
    if (!o.no_consume && !(consume_buf = malloc(L.total))) {
        fprintf(stderr, "nn_ceiling: out of memory\n");
        kill(child, SIGTERM);
        waitpid(child, NULL, 0);
        return 1;
    }
    if (consume_buf)
        memset(consume_buf, 0, L.total); /* mapped before timing */
    int sock = nn_socket(AF_SP, NN_REQ);
    int unlimited = -1, timeout = 10000;
    if (sock < 0 ||
        nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &unlimited, sizeof unlimited) < 0 ||
        nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout, sizeof timeout) < 0 ||
        nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &timeout, sizeof timeout) < 0 ||
        (o.sndbuf && nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVBUF, &o.sndbuf,
                                   sizeof o.sndbuf) < 0) ||
        nn_connect(sock, o.endpoint) < 0) {
        fprintf(stderr, "nn_ceiling: client cannot connect %s: %s\n", o.endpoint,
                nn_strerror(nn_errno()));
        status = 1;
        goto out;
    }
    /* Warm-up, not timed: the connection comes up (nanomsg reconnects
     * every 100 ms until the child has bound) and the first buffers are
     * mapped. */
    uint64_t id = 1;
    for (int i = 0; i < 3 && status == 0; i++)
        if (roundtrip(sock, id++, !o.plain) < 0)
            status = 1;
    uint64_t batches = 0;
    long long c0 = proc_ticks(getpid()), s0 = proc_ticks(child);
    double t0 = now_s(), t = t0;
    while (status == 0 && t - t0 < o.seconds) {
        if (roundtrip(sock, id++, !o.plain) < 0) {
            status = 1;
            break;
        }
        batches++;
        t = now_s();
    }
    if (status == 0) {
        double el = t - t0;
        printf("samples/s: %.1f\n", (double)batches * o.shape.size / el);
        printf("batches/s: %.1f\n", (double)batches / el);
        printf("MB/s: %.1f\n", (double)batches * (double)L.total / el / 1e6);
        printf("reply bytes: %zu\n", L.total);
        long long c1 = proc_ticks(getpid()), s1 = proc_ticks(child);
        long hz = sysconf(_SC_CLK_TCK);
        if (batches && c0 >= 0 && s0 >= 0 && c1 >= 0 && s1 >= 0 && hz > 0)
            printf("cpu us/batch: %.1f (client %.1f, server %.1f)\n",
                   (double)(c1 - c0 + s1 - s0) * 1e6 / (double)hz / (double)batches,
                   (double)(c1 - c0) * 1e6 / (double)hz / (double)batches,
                   (double)(s1 - s0) * 1e6 / (double)hz / (double)batches);
    }
out:
    if (sock >= 0)
        nn_close(sock);
    kill(child, SIGTERM);
    waitpid(child, NULL, 0);
    if (strncmp(o.endpoint, "ipc://", 6) == 0)
        unlink(o.endpoint + 6);
    free(reply);
    free(consume_buf);
    return status;
}
