/*
 * test_stripe.c — one stream striped over several real daemons
 * (client/lib/stripe.c): the batches come in stream order with the bytes
 * one daemon gives (independent and sharded streams, ipc and tcp); a
 * daemon killed mid-stream and restarted; daemons whose data or settings
 * differ refused; every daemon gone is an error after the timeout; four
 * sharded ranks on two daemons ("nodes") cover an epoch exactly once.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "mixup.h"
#include "testutil.h"

static mixup_client *spread_over(const char *a, const char *b, int timeout_ms)
{
    mixup_client *c;
    mixup_client_options o;
    mixup_client_options_init(&o);
    o.timeout_ms = timeout_ms;
    o.spread = 1;
    const char *eps[] = {a, b};
    cr_assert_eq(mixup_client_connect(&c, eps, 2, &o), 0, "%s",
                 mixup_client_error(NULL));
    return c;
}

static void open_stream(mixup_client *c, mixup_mode mode, uint64_t seed,
                        const char *job, uint32_t rank, uint32_t world)
{
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    so.mode = mode;
    so.seed = seed;
    so.job = job;
    so.rank = rank;
    so.world = world;
    cr_assert_eq(mixup_stream_open(c, &so), 0, "%s", mixup_client_error(c));
}

/* Batches a daemon has sent (its stats). */
static uint64_t batches_sent(const char *ep)
{
    mixup_client *c = connect_to(ep, 5000);
    char *text = NULL;
    cr_assert_eq(mixup_client_stats(c, 1, &text), 0, "%s",
                 mixup_client_error(c));
    const char *at = strstr(text, "\"batches_sent\": ");
    cr_assert_not_null(at);
    uint64_t n = strtoull(at + 16, NULL, 10);
    free(text);
    mixup_client_close(c);
    return n;
}

/* The next batch must be (epoch, k) of @seed with the reference's bytes
 * (which are one daemon's: test_e2e). Positions: a sharded rank's
 * batches rank + i * world. */
typedef struct cursor {
    uint64_t seed, epoch, i;
    uint32_t rank, world;
} cursor;

static void expect_next(mixup_client *c, cursor *cur)
{
    mixup_batch *b = NULL;
    int rc = mixup_next(c, &b);
    cr_assert_eq(rc, 0, "batch %" PRIu64 ":%" PRIu64 ": %s", cur->epoch,
                 cur->i, mixup_client_error(c));
    check_against_reference(b, cur->seed, cur->epoch,
                            cur->rank + cur->i * cur->world);
    mixup_batch_release(b);
    if (++cur->i == BPE / cur->world) {
        cur->i = 0;
        cur->epoch++;
    }
}

typedef struct pair {
    daemon_ctx a, b;
} pair;

static void start_pair(pair *p, const char *tag)
{
    char t[32];
    snprintf(t, sizeof t, "%s-a", tag);
    setup_daemon(&p->a, t);
    snprintf(t, sizeof t, "%s-b", tag);
    setup_daemon(&p->b, t);
    ref_init();
    start_daemon(&p->a, 1, 8);
    start_daemon(&p->b, 1, 8);
}

static void stop_pair(pair *p)
{
    stop_daemon(&p->a);
    stop_daemon(&p->b);
    cleanup(&p->a);
    cleanup(&p->b);
}

/* A pair of daemons and a client striping an independent stream of
 * @seed over them (b over tcp when @tcp), @n batches already checked. */
static mixup_client *striping(pair *p, const char *tag, int tcp,
                              int timeout_ms, cursor *cur, int n)
{
    start_pair(p, tag);
    mixup_client *c = spread_over(p->a.ipc, tcp ? p->b.tcp : p->b.ipc,
                                  timeout_ms);
    open_stream(c, MIXUP_MODE_INDEPENDENT, cur->seed, NULL, 0, 1);
    for (int i = 0; i < n; i++)
        expect_next(c, cur);
    return c;
}

Test(stripe, independent_and_sharded_streams_as_one_daemon_gives,
     .timeout = 120)
{
    pair p;
    cursor cur = {.seed = 5, .world = 1};
    /* One over ipc, one over tcp: a remote daemon's batches are copies;
     * across two epochs. */
    mixup_client *c = striping(&p, "strsame", 1, 10000, &cur, 2 * BPE + 3);
    uint64_t e, k;
    cr_assert_eq(mixup_client_position(c, &e, &k), 0);
    cr_assert_eq(e, 2u);
    cr_assert_eq(k, 2u);
    cr_assert_eq(mixup_stream_close(c), 0, "%s", mixup_client_error(c));
    uint64_t from_a = batches_sent(p.a.ipc), from_b = batches_sent(p.b.ipc);
    cr_assert_geq(from_a, (uint64_t)BPE - 1, "a served %" PRIu64, from_a);
    cr_assert_geq(from_b, (uint64_t)BPE - 1, "b served %" PRIu64, from_b);

    /* Rank 1 of 3 in job "J": its batches 1, 4, 7, ... striped. */
    open_stream(c, MIXUP_MODE_SHARDED, 0, "J", 1, 3);
    cursor sh = {.seed = 0, .rank = 1, .world = 3};
    for (int n = 0; n < BPE; n++)
        expect_next(c, &sh);
    mixup_client_close(c);
    stop_pair(&p);
}

Test(stripe, a_daemon_killed_midstream_then_restarted, .timeout = 180)
{
    pair p;
    cursor cur = {.seed = 9, .world = 1};
    mixup_client *c = striping(&p, "strkill", 0, 3000, &cur, 7);
    cr_assert_eq(tu_stop_daemon(p.b.pid, SIGKILL), 128 + SIGKILL);
    /* b's batches now come from a: no gap, no duplicate. */
    for (int n = 0; n < BPE; n++)
        expect_next(c, &cur);
    start_daemon(&p.b, 1, 8); /* same name: it clears what b left */
    cr_assert_eq(batches_sent(p.b.ipc), 0u);
    uint64_t until = (uint64_t)time(NULL) + 30;
    while (batches_sent(p.b.ipc) == 0) {
        cr_assert_lt((uint64_t)time(NULL), until, "b was not used again");
        expect_next(c, &cur);
    }
    for (int n = 0; n < 5; n++)
        expect_next(c, &cur);
    mixup_client_close(c);
    stop_pair(&p);
}

/* A stopped daemon (SIGSTOP) keeps its connection but answers nothing:
 * after the timeout its batches come from the other; once it runs again
 * it is used again. */
Test(stripe, a_stopped_daemon_is_passed_over_then_used_again, .timeout = 120)
{
    pair p;
    cursor cur = {.seed = 6, .world = 1};
    mixup_client *c = striping(&p, "strstop", 1, 700, &cur, 5);
    cr_assert_eq(kill(p.b.pid, SIGSTOP), 0);
    uint64_t sent = batches_sent(p.a.ipc);
    for (int n = 0; n < 12; n++)
        expect_next(c, &cur);
    cr_assert_geq(batches_sent(p.a.ipc) - sent, 12u, "a served b's share");
    cr_assert_eq(kill(p.b.pid, SIGCONT), 0);
    sent = batches_sent(p.b.ipc);
    uint64_t until = (uint64_t)time(NULL) + 30;
    while (batches_sent(p.b.ipc) == sent) {
        cr_assert_lt((uint64_t)time(NULL), until, "b was not used again");
        expect_next(c, &cur);
    }
    mixup_client_close(c);
    stop_pair(&p);
}

Test(stripe, daemons_with_other_settings_or_data_are_refused, .timeout = 120)
{
    pair p;
    start_pair(&p, "strdiff");
    write_config(&p.b, 1, 8, "[batch]\nalpha = 0.5\n");
    stop_daemon(&p.b);
    p.b.pid = tu_spawn_daemon(p.b.config, p.b.log);
    wait_ready(&p.b);
    mixup_client *c = spread_over(p.a.ipc, p.b.ipc, 5000);
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    cr_assert_eq(mixup_stream_open(c, &so), MIXUP_EMISMATCH);
    const char *msg = mixup_client_error(c);
    cr_assert(strstr(msg, p.a.ipc) && strstr(msg, p.b.ipc) &&
              strstr(msg, "settings digest"), "%s", msg);
    mixup_client_close(c);

    /* Same settings, other data: one pixel differs. */
    stop_daemon(&p.b);
    images[0] ^= 1;
    uint64_t ishape[4] = {N, H, W, C};
    free(tu_write_npy(p.b.dir, "images.npy", "|u1", ishape, 4, images,
                      sizeof images));
    images[0] ^= 1;
    start_daemon(&p.b, 1, 8);
    c = spread_over(p.a.ipc, p.b.ipc, 5000);
    cr_assert_eq(mixup_stream_open(c, &so), MIXUP_EMISMATCH);
    msg = mixup_client_error(c);
    cr_assert(strstr(msg, "dataset digest"), "%s", msg);
    mixup_info ia, ib;
    mixup_client *ca = connect_to(p.a.ipc, 5000), *cb = connect_to(p.b.ipc, 5000);
    cr_assert_eq(mixup_client_info(ca, &ia), 0);
    cr_assert_eq(mixup_client_info(cb, &ib), 0);
    cr_assert_neq(ia.dataset_digest, ib.dataset_digest);
    cr_assert_eq(ia.settings_digest, ib.settings_digest);
    mixup_client_close(ca);
    mixup_client_close(cb);

    /* A shared stream is never striped. */
    so.mode = MIXUP_MODE_SHARED;
    so.job = "S";
    cr_assert_eq(mixup_stream_open(c, &so), MIXUP_EMODE);
    cr_assert(strstr(mixup_client_error(c), "shared stream"), "%s",
              mixup_client_error(c));
    mixup_client_close(c);
    stop_pair(&p);
}

Test(stripe, every_daemon_gone_is_an_error_after_the_timeout, .timeout = 120)
{
    pair p;
    cursor cur = {.seed = 2, .world = 1};
    mixup_client *c = striping(&p, "strgone", 1, 500, &cur, 3);
    cr_assert_eq(tu_stop_daemon(p.a.pid, SIGKILL), 128 + SIGKILL);
    cr_assert_eq(tu_stop_daemon(p.b.pid, SIGKILL), 128 + SIGKILL);
    time_t t0 = time(NULL);
    mixup_batch *b = NULL;
    int rc = MIXUP_EINVAL;
    for (int n = 0; n < 20 && (rc = mixup_next(c, &b)) == 0; n++)
        mixup_batch_release(b); /* replies that were on their way */
    cr_assert_eq(rc, MIXUP_ETIMEDOUT, "%s", mixup_client_error(c));
    cr_assert_lt(time(NULL) - t0, 10);
    cr_assert(strstr(mixup_client_error(c), "every daemon"), "%s",
              mixup_client_error(c));
    mixup_client_close(c);
    /* Both were killed: start them once more so that they clean up. */
    start_daemon(&p.a, 1, 8);
    start_daemon(&p.b, 1, 8);
    stop_pair(&p);
}

/* The multi-node recipe: two nodes, each with its daemon; ranks 0, 1 on
 * the first, 2, 3 on the second, sharded with the global rank and world.
 * Together they get every batch of the epoch (BPE rounded down to 4)
 * exactly once, with the bytes of the job's seed. */
Test(stripe, four_ranks_on_two_nodes_cover_an_epoch_once, .timeout = 120)
{
    pair p;
    start_pair(&p, "strnodes");
    int seen[BPE] = {0};
    for (uint32_t rank = 0; rank < 4; rank++) {
        mixup_client *c = connect_to(rank < 2 ? p.a.tcp : p.b.tcp, 10000);
        open_stream(c, MIXUP_MODE_SHARDED, 0, "nodes", rank, 4);
        cursor cur = {.seed = 0, .rank = rank, .world = 4};
        for (int n = 0; n < BPE / 4; n++) {
            seen[cur.rank + cur.i * 4]++;
            expect_next(c, &cur);
        }
        mixup_client_close(c);
    }
    for (int k = 0; k < BPE / 4 * 4; k++)
        cr_assert_eq(seen[k], 1, "batch %d served %d times", k, seen[k]);
    for (int k = BPE / 4 * 4; k < BPE; k++)
        cr_assert_eq(seen[k], 0, "batch %d is past the shards", k);
    stop_pair(&p);
}
