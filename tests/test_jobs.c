/*
 * test_jobs.c — several trainers on one daemon: sharded ranks, a shared
 * queue with a client killed halfway, resume, and clients that vanish.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "daemon.h"
#include "proto.h"
#include "testutil.h"

extern char **environ;

static mixup_stream_options stream_options(mixup_mode mode, const char *job,
                                           uint32_t rank, uint32_t world,
                                           uint64_t seed, uint64_t start_batch)
{
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    so.mode = mode;
    so.job = job;
    so.rank = rank;
    so.world = world;
    so.seed = seed;
    so.start_batch = start_batch;
    return so;
}

static mixup_client *open_stream(const char *ep, mixup_mode mode,
                                 const char *job, uint32_t rank,
                                 uint32_t world, uint64_t seed)
{
    mixup_client *c = connect_to(ep, 20000);
    mixup_stream_options so = stream_options(mode, job, rank, world, seed, 0);
    cr_assert_eq(mixup_stream_open(c, &so), 0, "%s", mixup_client_error(c));
    return c;
}

/* A number from the daemon's stats JSON ("key": value). */
static long long stat_of(const char *ep, const char *key)
{
    mixup_client *c = connect_to(ep, 20000);
    char *json;
    cr_assert_eq(mixup_client_stats(c, 1, &json), 0);
    char pat[96];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *at = strstr(json, pat);
    cr_assert_not_null(at, "no %s in %s", key, json);
    long long v = atoll(at + strlen(pat));
    free(json);
    mixup_client_close(c);
    return v;
}

/* Poll a stat until it equals @want (the daemon's own clock decides when:
 * leases and idle timeouts); fail after 30 s. */
static void await_stat(const char *ep, const char *key, long long want,
                       int at_least)
{
    for (int i = 0; i < 300; i++) {
        long long v = stat_of(ep, key);
        if (v == want || (at_least && v >= want))
            return;
        usleep(100 * 1000);
    }
    cr_assert_fail("stat %s never reached %lld", key, want);
}

Test(jobs, sharded_ranks_split_each_epoch_exactly, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "sharded");
    ref_init();
    start_daemon(&d, 2, 16);
    for (uint32_t world = 1; world <= 4; world++) {
        char job[16];
        snprintf(job, sizeof job, "w%u", world);
        uint64_t per = BPE / world;
        int seen[BPE] = {0};
        int sample_seen[N] = {0};
        for (uint32_t r = 0; r < world; r++) {
            mixup_client *c = open_stream(d.ipc, MIXUP_MODE_SHARDED, job, r, world, 9);
            uint64_t ds_epoch, st_epoch;
            cr_assert_eq(mixup_stream_epoch(c, &ds_epoch, &st_epoch), 0);
            cr_assert_eq(ds_epoch, (uint64_t)BPE);
            cr_assert_eq(st_epoch, per);
            for (uint64_t i = 0; i <= per; i++) {
                mixup_batch *b;
                cr_assert_eq(mixup_next(c, &b), 0, "%s", mixup_client_error(c));
                uint64_t e = i < per ? 0 : 1, k = i < per ? r + i * world : r;
                check_against_reference(b, 9, e, k);
                if (e == 0) {
                    seen[k]++;
                    for (uint32_t j = 0; j < B; j++) {
                        sample_seen[b->index1[j]]++;
                        sample_seen[b->index2[j]]++;
                    }
                }
                mixup_batch_release(b);
            }
            mixup_client_close(c);
        }
        for (uint64_t k = 0; k < BPE; k++)
            cr_assert_eq(seen[k], k < world * per ? 1 : 0,
                         "world %u: batch %llu seen %d times", world,
                         (unsigned long long)k, seen[k]);
        for (int i = 0; i < N; i++)
            cr_assert_leq(sample_seen[i], 1, "sample %d twice", i);
    }
    stop_daemon(&d);
    cleanup(&d);
}

static int open_code(const char *ep, mixup_mode mode, const char *job,
                     uint32_t rank, uint32_t world, uint64_t seed,
                     uint64_t start_batch, char *msg, size_t msglen)
{
    mixup_client *c = connect_to(ep, 20000);
    mixup_stream_options so =
        stream_options(mode, job, rank, world, seed, start_batch);
    int rc = mixup_stream_open(c, &so);
    snprintf(msg, msglen, "%s", mixup_client_error(c));
    mixup_client_close(c);
    return rc;
}

Test(jobs, bad_stream_requests_say_why, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "badjobs");
    ref_init();
    write_config(&d, 1, 8, "[server]\nmax_streams = 3\n");
    d.pid = tu_spawn_daemon(d.config, d.log);
    wait_ready(&d);
    char m[1024];
    cr_assert_eq(open_code(d.ipc, MIXUP_MODE_SHARDED, "j", 2, 2, 1, 0, m, sizeof m), MIXUP_EINVAL, "%s", m);
    cr_assert(strstr(m, "rank 2 is not below world size 2"), "%s", m);
    cr_assert_eq(open_code(d.ipc, MIXUP_MODE_SHARDED, "j", 0, 0, 1, 0, m, sizeof m), MIXUP_EINVAL, "%s", m);
    cr_assert(strstr(m, "world size 0"), "%s", m);
    cr_assert_eq(open_code(d.ipc, MIXUP_MODE_SHARDED, "j", 0, 99, 1, 0, m, sizeof m), MIXUP_EINVAL, "%s", m);
    cr_assert(strstr(m, "exceeds the 18 batches"), "%s", m);
    cr_assert_eq(open_code(d.ipc, MIXUP_MODE_SHARDED, "j", 1, 4, 1, 17, m, sizeof m), MIXUP_EPOSITION, "%s", m);
    cr_assert(strstr(m, "past rank 1's last batch"), "%s", m);

    /* A live job, and streams that disagree with it. */
    mixup_client *holder = open_stream(d.ipc, MIXUP_MODE_SHARDED, "j", 0, 2, 1);
    cr_assert_eq(open_code(d.ipc, MIXUP_MODE_SHARDED, "j", 1, 3, 1, 0, m, sizeof m), MIXUP_EINVAL, "%s", m);
    cr_assert(strstr(m, "job 'j' has world size 2, this stream asked for 3"), "%s", m);
    cr_assert_eq(open_code(d.ipc, MIXUP_MODE_SHARDED, "j", 1, 2, 7, 0, m, sizeof m), MIXUP_EINVAL, "%s", m);
    cr_assert(strstr(m, "job 'j' has seed 1, this stream asked for 7"), "%s", m);
    cr_assert_eq(open_code(d.ipc, MIXUP_MODE_SHARED, "j", 0, 0, 1, 0, m, sizeof m), MIXUP_EINVAL, "%s", m);
    cr_assert(strstr(m, "job 'j' is sharded, this stream asked for shared"), "%s", m);
    cr_assert_eq(open_code(d.ipc, MIXUP_MODE_SHARED, NULL, 0, 0, 1, 0, m, sizeof m), MIXUP_EINVAL, "%s", m);
    cr_assert(strstr(m, "needs a job name"), "%s", m);

    /* The limit: 3 streams (the holder and two more). */
    mixup_client *a = open_stream(d.ipc, MIXUP_MODE_INDEPENDENT, NULL, 0, 0, 1);
    mixup_client *b = open_stream(d.ipc, MIXUP_MODE_INDEPENDENT, NULL, 0, 0, 2);
    cr_assert_eq(open_code(d.ipc, MIXUP_MODE_INDEPENDENT, NULL, 0, 0, 3, 0, m, sizeof m), MIXUP_ELIMIT, "%s", m);
    cr_assert(strstr(m, "server.max_streams"), "%s", m);
    /* Nothing else changed: the holder's job still serves its rank. */
    mixup_batch *batch;
    cr_assert_eq(mixup_next(holder, &batch), 0);
    check_against_reference(batch, 1, 0, 0);
    mixup_batch_release(batch);
    mixup_client_close(a);
    mixup_client_close(b);
    mixup_client_close(holder);
    stop_daemon(&d);
    cleanup(&d);
}

Test(jobs, resume_gives_the_same_bytes, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "resume");
    ref_init();
    start_daemon(&d, 2, 8);
    /* Independent: a stream from (1, 3) continues a stream from (0, 0). */
    puller whole = {.endpoint = d.ipc, .seed = 4, .batches = 30};
    pull(&whole);
    cr_assert_eq(whole.failures, 0, "%s", whole.error);
    mixup_client *c = connect_to(d.ipc, 20000);
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    so.seed = 4;
    so.start_epoch = 1;
    so.start_batch = 3;
    cr_assert_eq(mixup_stream_open(c, &so), 0);
    for (int i = 0; i < 9; i++) {
        mixup_batch *b;
        cr_assert_eq(mixup_next(c, &b), 0);
        const mixup_batch *w = whole.got[BPE + 3 + i];
        cr_assert_eq(b->epoch, w->epoch);
        cr_assert_eq(b->index, w->index);
        size_t xb = (size_t)B * H * W * C * 4;
        cr_assert_eq(memcmp(b->x, w->x, xb), 0);
        cr_assert_eq(memcmp(b->y, w->y, (size_t)B * K * 4), 0);
        cr_assert_eq(memcmp(b->lam, w->lam, B * 4), 0);
        cr_assert_eq(memcmp(b->index1, w->index1, B * 8), 0);
        mixup_batch_release(b);
    }
    mixup_client_close(c);
    check_pulled(&whole);

    /* Sharded: the position saved after a batch resumes right after it,
     * across the end of the rank's share of an epoch. */
    c = open_stream(d.ipc, MIXUP_MODE_SHARDED, "r", 1, 4, 6); /* 4 per epoch */
    mixup_batch *b;
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(mixup_next(c, &b), 0);
        mixup_batch_release(b);
    }
    uint64_t e, k;
    cr_assert_eq(mixup_client_position(c, &e, &k), 0);
    cr_assert(e == 0 && k == 13, "position %llu:%llu", (unsigned long long)e,
              (unsigned long long)k);
    cr_assert_eq(mixup_client_resume_position(c, &e, &k), 0);
    cr_assert(e == 1 && k == 1, "resume %llu:%llu", (unsigned long long)e,
              (unsigned long long)k);
    mixup_client_close(c);
    c = connect_to(d.ipc, 20000);
    so = stream_options(MIXUP_MODE_SHARDED, "r", 1, 4, 6, k);
    so.start_epoch = e;
    cr_assert_eq(mixup_stream_open(c, &so), 0, "%s", mixup_client_error(c));
    cr_assert_eq(mixup_next(c, &b), 0);
    check_against_reference(b, 6, 1, 1);
    mixup_batch_release(b);
    mixup_client_close(c);
    stop_daemon(&d);
    cleanup(&d);
}

/* ---- real client processes ---- */

static int spawn_client(const char *ep, const char *mode, const char *job,
                        const char *batches, const char *then,
                        const char *out)
{
    const char *bin = getenv("CLIENT_HELPER_BIN");
    cr_assert_not_null(bin);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    char *argv[] = {(char *)bin, (char *)ep, (char *)mode, (char *)job, "8",
                    (char *)batches, (char *)then, NULL};
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, bin, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

/* Batches of epoch 0 listed in a client's output; returns the count. */
static int read_batches(const char *path, int *seen)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    unsigned long long e, k;
    long long first;
    int n = 0;
    while (fscanf(f, "%llu %llu %lld", &e, &k, &first) == 3) {
        n++;
        if (e == 0) {
            cr_assert_lt(k, (unsigned long long)BPE);
            seen[k]++;
        }
    }
    fclose(f);
    return n;
}

static int lines_in(const char *path)
{
    char *s = tu_read_file(path);
    int n = 0;
    for (char *p = s; p && *p; p++)
        n += *p == '\n';
    free(s);
    return n;
}

Test(jobs, shared_queue_survives_a_killed_client, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "shared");
    ref_init();
    write_config(&d, 2, 8, "[server]\nshared_lease = 1\n");
    d.pid = tu_spawn_daemon(d.config, d.log);
    wait_ready(&d);
    char out[3][600];
    for (int i = 0; i < 3; i++)
        snprintf(out[i], sizeof out[i], "%s/client%d.txt", d.dir, i);

    /* Client 0 takes 3 batches and stops, holding the third; kill -9. */
    int victim = spawn_client(d.ipc, "shared", "q", "3", "pause", out[0]);
    for (int i = 0; i < 300 && lines_in(out[0]) < 3; i++)
        usleep(20 * 1000);
    cr_assert_eq(lines_in(out[0]), 3);
    kill(victim, SIGKILL);
    waitpid(victim, NULL, 0);
    /* Its unacknowledged batch goes back to the queue once the lease ends. */
    await_stat(d.ipc, "shared_redelivered", 1, 1);

    /* Two more clients pull concurrently until each sees epoch 1. */
    int p1 = spawn_client(d.ipc, "shared", "q", "0", "close", out[1]);
    int p2 = spawn_client(d.ipc, "shared", "q", "0", "close", out[2]);
    cr_assert_eq(tu_stop_daemon(p1, 0), 0);
    cr_assert_eq(tu_stop_daemon(p2, 0), 0);

    int dead[BPE] = {0}, live1[BPE] = {0}, live2[BPE] = {0};
    read_batches(out[0], dead);
    read_batches(out[1], live1);
    read_batches(out[2], live2);
    int overlap = 0;
    for (int k = 0; k < BPE; k++) {
        cr_assert_leq(live1[k] + live2[k], 1, "batch %d went to two live clients", k);
        cr_assert_geq(dead[k] + live1[k] + live2[k], 1, "batch %d lost", k);
        overlap += dead[k] && (live1[k] || live2[k]);
    }
    cr_assert_eq(overlap, 1, "the dead client's last batch is handed on once");
    stop_daemon(&d);
    cleanup(&d);
}

static long rss_kb(int pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    char *s = tu_read_file(path);
    cr_assert_not_null(s);
    const char *at = strstr(s, "VmRSS:");
    long kb = at ? atol(at + 6) : -1;
    free(s);
    return kb;
}

static void fifty_vanish(daemon_ctx *d)
{
    int pids[50];
    char out[600];
    snprintf(out, sizeof out, "%s/vanish.txt", d->dir);
    for (int i = 0; i < 50; i++)
        pids[i] = spawn_client(i % 2 ? d->ipc : d->tcp, "independent", "-",
                               "3", "vanish", out);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(tu_stop_daemon(pids[i], 0), 0);
    await_stat(d->ipc, "streams_open", 0, 0);
    cr_assert_eq(stat_of(d->ipc, "held"), 0, "ring slots still held");
}

Test(jobs, fifty_vanishing_clients_leave_nothing_held, .timeout = 180)
{
    daemon_ctx d;
    setup_daemon(&d, "vanish");
    ref_init();
    write_config(&d, 2, 16, "[server]\nstream_timeout = 1\n");
    d.pid = tu_spawn_daemon(d.config, d.log);
    wait_ready(&d);
    fifty_vanish(&d); /* warm-up: allocator pools reach their size */
    long before = rss_kb(d.pid);
    fifty_vanish(&d);
    fifty_vanish(&d);
    long after = rss_kb(d.pid);
    cr_assert(after - before < 2048, "daemon grew from %ld to %ld kB", before, after);
    cr_assert_geq(stat_of(d.ipc, "streams_expired"), 150);
    char *log = tu_read_file(d.log);
    cr_assert(strstr(log, "client connection(s) accepted") &&
              strstr(log, "client connection(s) closed"),
              "connections are not logged:\n%.2000s", log);
    free(log);
    stop_daemon(&d);
    cleanup(&d);
}

/* Several daemons serve one job: a client lists two; the first dies
 * mid-stream; the client goes on with the second, with the very bytes the
 * stream would have had (the stream is reopened at its position). */
Test(jobs, failover_to_another_daemon_keeps_the_bytes, .timeout = 120)
{
    daemon_ctx a, b;
    setup_daemon(&a, "failA");
    setup_daemon(&b, "failB");
    ref_init();
    start_daemon(&a, 1, 4);
    start_daemon(&b, 1, 4);
    mixup_client *c;
    const char *eps[] = {a.ipc, b.ipc};
    mixup_client_options o = {.timeout_ms = 1000};
    cr_assert_eq(mixup_client_connect(&c, eps, 2, &o), 0);
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    so.seed = 31;
    cr_assert_eq(mixup_stream_open(c, &so), 0);
    uint64_t e = 0, k = 0;
    for (int i = 0; i < 40; i++) {
        if (i == 10)
            stop_daemon(&a); /* SIGTERM: the first daemon goes away */
        mixup_batch *batch;
        int rc;
        int tries = 0;
        while ((rc = mixup_next(c, &batch)) == MIXUP_ETIMEDOUT && tries++ < 20)
            ; /* nanomsg notices the dead pipe and re-sends to the other */
        cr_assert_eq(rc, 0, "batch %d: %s", i, mixup_client_error(c));
        check_against_reference(batch, 31, e, k);
        mixup_batch_release(batch);
        if (++k == BPE) {
            k = 0;
            e++;
        }
    }
    mixup_client_close(c);
    stop_daemon(&b);
    cleanup(&a);
    cleanup(&b);
}

/* Failover never goes on with other bytes: a daemon whose settings
 * differ (here alpha) is refused with a message naming what differs. */
Test(jobs, failover_to_a_daemon_with_other_settings_is_refused, .timeout = 120)
{
    daemon_ctx a, b;
    setup_daemon(&a, "mismA");
    setup_daemon(&b, "mismB");
    ref_init();
    start_daemon(&a, 1, 4);
    write_config(&b, 1, 4, "[batch]\nalpha = 0.9\n");
    b.pid = tu_spawn_daemon(b.config, b.log);
    wait_ready(&b);
    mixup_client *c;
    const char *eps[] = {a.ipc, b.ipc};
    mixup_client_options o;
    mixup_client_options_init(&o);
    o.timeout_ms = 1000;
    cr_assert_eq(mixup_client_connect(&c, eps, 2, &o), 0);
    /* Requests go to the first endpoint once it is connected: wait until
     * the first daemon (its digests) answers, so the stream opens there. */
    mixup_client *only_a = connect_to(a.ipc, 5000);
    mixup_info ia, ic;
    cr_assert_eq(mixup_client_info(only_a, &ia), 0);
    mixup_client_close(only_a);
    for (int i = 0;; i++) {
        cr_assert_eq(mixup_client_info(c, &ic), 0, "%s", mixup_client_error(c));
        if (ic.settings_digest == ia.settings_digest)
            break;
        cr_assert_lt(i, 250, "the first daemon never answered");
        usleep(20 * 1000);
    }
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    so.seed = 31;
    cr_assert_eq(mixup_stream_open(c, &so), 0);
    mixup_batch *batch;
    for (uint64_t k = 0; k < 3; k++) {
        cr_assert_eq(mixup_next(c, &batch), 0, "%s", mixup_client_error(c));
        check_against_reference(batch, 31, 0, k);
        mixup_batch_release(batch);
    }
    stop_daemon(&a);
    int rc, tries = 0;
    while ((rc = mixup_next(c, &batch)) == MIXUP_ETIMEDOUT && tries++ < 20)
        ;
    cr_assert_eq(rc, MIXUP_EMISMATCH, "%d: %s", rc, mixup_client_error(c));
    cr_assert(strstr(mixup_client_error(c), "failover refused") &&
                  strstr(mixup_client_error(c), "its settings") &&
                  strstr(mixup_client_error(c), a.ipc) &&
                  strstr(mixup_client_error(c), b.ipc),
              "%s", mixup_client_error(c));
    cr_assert_eq(mixup_next(c, &batch), MIXUP_ESTATE, "no stream goes on");
    mixup_client_close(c);
    stop_daemon(&b);
    cleanup(&a);
    cleanup(&b);
}

/* A retried OPEN (the same nonce and request id: the client's retry after
 * a timeout or a signal) gets the stream it opened, not a second one; the
 * same request id with another nonce is another OPEN. */
Test(jobs, a_retried_open_is_the_same_stream, .timeout = 60)
{
    daemon_ctx d;
    setup_daemon(&d, "reopen");
    ref_init();
    start_daemon(&d, 1, 4);
    uint8_t req[MXP_HEADER_SIZE + MXP_OPEN_FIXED];
    mxp_open_req o = {.mode = MIXUP_MODE_INDEPENDENT, .seed = 3};
    uint64_t ids[3];
    const uint64_t request_ids[3] = {0x1234567890ull, 0x1234567890ull, 0x1234567890ull};
    for (int i = 0; i < 3; i++) {
        memset(o.nonce, i < 2 ? 0x5a : 0xa5, sizeof o.nonce);
        int s = nn_socket(AF_SP, NN_REQ);
        int to = 10000;
        nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &to, sizeof to);
        cr_assert_geq(nn_connect(s, d.ipc), 0);
        int len = mxp_encode_open_req(req, sizeof req, request_ids[i], &o);
        cr_assert_eq(nn_send(s, req, (size_t)len, 0), len);
        void *buf;
        int n = nn_recv(s, &buf, NN_MSG, 0);
        cr_assert_gt(n, 0);
        mxp_reply rep;
        char err[256];
        cr_assert_eq(mxp_reply_decode(buf, (size_t)n, NULL, &rep, err, sizeof err), 0, "%s", err);
        cr_assert_eq(rep.hdr.type, MXP_OPEN_REP);
        ids[i] = rep.u.open.stream_id;
        nn_freemsg(buf);
        nn_close(s);
    }
    cr_assert_eq(ids[0], ids[1], "a retried OPEN opened a second stream");
    cr_assert_neq(ids[0], ids[2]);
    cr_assert_eq(stat_of(d.ipc, "streams_open"), 2);
    stop_daemon(&d);
    cleanup(&d);
}

/* The next batch of a stream of @seed at (*e, *k), checked, then the
 * position moves on. Timeouts are retried until @deadline_ms (uv-free:
 * wall clock); any other error fails. */
static void next_checked(mixup_client *c, uint64_t seed, uint64_t *e,
                         uint64_t *k, int64_t deadline_ms)
{
    mixup_batch *batch;
    int rc;
    while ((rc = mixup_next(c, &batch)) == MIXUP_ETIMEDOUT)
        cr_assert_lt(tu_now_ms(), deadline_ms, "no batch %llu:%llu: %s",
                     (unsigned long long)*e, (unsigned long long)*k,
                     mixup_client_error(c));
    cr_assert_eq(rc, 0, "batch %llu:%llu: %s (%s)", (unsigned long long)*e,
                 (unsigned long long)*k, mixup_client_error(c),
                 mixup_err_name(rc));
    check_against_reference(batch, seed, *e, *k);
    mixup_batch_release(batch);
    if (++*k == BPE) {
        *k = 0;
        ++*e;
    }
}

/* Daemons @a and @b started, a client listing both (@timeout_ms) with a
 * stream of @seed open. */
static mixup_client *two_daemons(daemon_ctx *a, daemon_ctx *b,
                                 const char *tag_a, const char *tag_b,
                                 int timeout_ms, uint64_t seed)
{
    setup_daemon(a, tag_a);
    setup_daemon(b, tag_b);
    ref_init();
    start_daemon(a, 1, 4);
    start_daemon(b, 1, 4);
    mixup_client *c;
    const char *eps[] = {a->ipc, b->ipc};
    mixup_client_options o = {.timeout_ms = timeout_ms};
    cr_assert_eq(mixup_client_connect(&c, eps, 2, &o), 0);
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    so.seed = seed;
    cr_assert_eq(mixup_stream_open(c, &so), 0);
    return c;
}

static void two_daemons_end(mixup_client *c, daemon_ctx *a, daemon_ctx *b)
{
    kill(a->pid, SIGCONT);
    kill(b->pid, SIGCONT);
    mixup_client_close(c);
    stop_daemon(a);
    stop_daemon(b);
    cleanup(a);
    cleanup(b);
}

/* A daemon that stops answering keeps its connection (SIGSTOP): nanomsg
 * never re-sends elsewhere, so the client fails over on the timeout. */
Test(jobs, a_timeout_fails_over_to_the_next_daemon, .timeout = 120)
{
    daemon_ctx a, b;
    mixup_client *c = two_daemons(&a, &b, "stopA", "stopB", 500, 41);
    uint64_t e = 0, k = 0;
    for (int i = 0; i < 5; i++)
        next_checked(c, 41, &e, &k, tu_now_ms() + 20000);
    kill(a.pid, SIGSTOP);
    for (int i = 0; i < 25; i++) /* across an epoch boundary on b */
        next_checked(c, 41, &e, &k, tu_now_ms() + 20000);
    two_daemons_end(c, &a, &b);
}

/* Both daemons stopped: the NEXT and the failover reopen time out; every
 * call says so (never ENOSTREAM or ESTATE) and, once a daemon answers
 * again, the stream goes on at its position. */
Test(jobs, a_timed_out_reopen_stays_retryable, .timeout = 120)
{
    daemon_ctx a, b;
    mixup_client *c = two_daemons(&a, &b, "hungA", "hungB", 300, 43);
    uint64_t e = 0, k = 0;
    for (int i = 0; i < 3; i++)
        next_checked(c, 43, &e, &k, tu_now_ms() + 20000);
    kill(a.pid, SIGSTOP);
    kill(b.pid, SIGSTOP);
    for (int i = 0; i < 3; i++) {
        mixup_batch *batch;
        int rc = mixup_next(c, &batch);
        cr_assert_eq(rc, MIXUP_ETIMEDOUT, "call %d: %s (%s)", i,
                     mixup_err_name(rc), mixup_client_error(c));
    }
    kill(b.pid, SIGCONT);
    for (int i = 0; i < 5; i++)
        next_checked(c, 43, &e, &k, tu_now_ms() + 30000);
    two_daemons_end(c, &a, &b);
}
