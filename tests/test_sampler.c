/*
 * test_sampler.c — epoch orders and per-epoch coverage.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampler.h"

Test(sampler, batches_per_epoch_is_floor_n_over_2b)
{
    smp_settings st = {.n = 60000, .batch_size = 32, .alpha = 0.2, .shuffle = 1};
    cr_assert_eq(smp_batches_per_epoch(&st), 937u);
    st.n = 63;
    cr_assert_eq(smp_batches_per_epoch(&st), 0u);
    st.n = 64;
    cr_assert_eq(smp_batches_per_epoch(&st), 1u);
}

Test(sampler, permutation_is_a_permutation_and_depends_on_seed_and_epoch)
{
    enum { N = 1000 };
    static uint32_t a[N], b[N], c[N], d[N];
    smp_permutation(a, N, 5, 0, 1);
    smp_permutation(b, N, 5, 0, 1);
    smp_permutation(c, N, 5, 1, 1);
    smp_permutation(d, N, 6, 0, 1);
    static int seen[N];
    for (int i = 0; i < N; i++) {
        cr_assert_lt(a[i], (uint32_t)N);
        seen[a[i]]++;
    }
    for (int i = 0; i < N; i++)
        cr_assert_eq(seen[i], 1, "index %d appears %d times", i, seen[i]);
    cr_assert_eq(memcmp(a, b, sizeof a), 0);
    cr_assert_neq(memcmp(a, c, sizeof a), 0);
    cr_assert_neq(memcmp(a, d, sizeof a), 0);
}

Test(sampler, no_shuffle_is_identity)
{
    uint32_t p[10];
    smp_permutation(p, 10, 5, 3, 0);
    for (uint32_t i = 0; i < 10; i++)
        cr_assert_eq(p[i], i);
}

/* Frozen values: a change here breaks every saved resume position and
 * every comparison with another daemon (the determinism contract). */
Test(sampler, permutation_is_frozen)
{
    uint32_t p[10];
    smp_permutation(p, 10, 42, 0, 1);
    static const uint32_t want[10] = {7, 9, 6, 1, 3, 5, 8, 2, 0, 4};
    for (int i = 0; i < 10; i++)
        cr_assert_eq(p[i], want[i], "position %d: %u", i, p[i]);
}

Test(sampler, epoch_coverage)
{
    smp_settings st = {.n = 1003, .batch_size = 7, .alpha = 0.4, .shuffle = 1};
    uint64_t bpe = smp_batches_per_epoch(&st);
    cr_assert_eq(bpe, 71u); /* floor(1003 / 14) */
    for (uint64_t epoch = 0; epoch < 3; epoch++) {
        smp_order *o = smp_order_new(&st, 77, epoch);
        cr_assert_not_null(o);
        static int used[1003];
        memset(used, 0, sizeof used);
        int64_t i1[7], i2[7];
        float lam[7];
        for (uint64_t k = 0; k < bpe; k++) {
            smp_batch_draws(&st, o, k, i1, i2, lam);
            for (int j = 0; j < 7; j++) {
                cr_assert_eq((uint32_t)i1[j], o->index[14 * k + j]);
                cr_assert_eq((uint32_t)i2[j], o->index[14 * k + 7 + j]);
                used[i1[j]]++;
                used[i2[j]]++;
                cr_assert(lam[j] >= 0.0f && lam[j] <= 1.0f);
            }
        }
        int once = 0, never = 0;
        for (int i = 0; i < 1003; i++) {
            cr_assert_leq(used[i], 1, "index %d used %d times", i, used[i]);
            once += used[i] == 1;
            never += used[i] == 0;
        }
        cr_assert_eq(once, 994);   /* 2B * batches */
        cr_assert_eq(never, 9);    /* N mod 2B */
        /* The unused ones are exactly the tail of the order. */
        for (int i = 994; i < 1003; i++)
            cr_assert_eq(used[o->index[i]], 0);
        smp_order_unref(o);
    }
}

Test(sampler, lambda_draws_are_per_sample_and_reproducible)
{
    smp_settings st = {.n = 100, .batch_size = 5, .alpha = 0.2, .shuffle = 1};
    smp_order *o = smp_order_new(&st, 3, 2);
    int64_t a1[5], a2[5], b1[5], b2[5];
    float la[5], lb[5];
    smp_batch_draws(&st, o, 4, a1, a2, la);
    smp_batch_draws(&st, o, 4, b1, b2, lb);
    for (int j = 0; j < 5; j++) {
        cr_assert_eq(la[j], lb[j]);
        cr_assert_eq(a1[j], b1[j]);
    }
    cr_assert(la[0] != la[1] || la[1] != la[2]);
    st.alpha = 0;
    smp_batch_draws(&st, o, 4, b1, b2, lb);
    for (int j = 0; j < 5; j++)
        cr_assert_eq(lb[j], 1.0f);
    smp_order_unref(o);
}

/* ---- mixing modes ---- */

static smp_settings modes(smp_mix mix, smp_pairing pairing)
{
    smp_settings st = {.n = 1000, .batch_size = 10, .alpha = 0.4,
                       .shuffle = 1, .mix = mix, .pairing = pairing,
                       .height = 8, .width = 6};
    return st;
}

Test(sampler, pairing_within_partners_mirror_the_batch)
{
    smp_settings st = modes(SMP_MIXUP, SMP_WITHIN);
    cr_assert_eq(smp_batches_per_epoch(&st), 100u); /* floor(N / B) */
    smp_order *o = smp_order_new(&st, 2, 0);
    smp_draw d[10];
    smp_batch_plan(&st, o, 7, d);
    for (int j = 0; j < 10; j++) {
        cr_assert_eq((uint32_t)d[j].index1, o->index[70 + j]);
        cr_assert_eq(d[j].index2, d[9 - j].index1);
    }
    smp_order_unref(o);
}

Test(sampler, mixup_batch_draws_one_lambda)
{
    smp_settings st = modes(SMP_MIXUP_BATCH, SMP_DISJOINT);
    smp_order *o = smp_order_new(&st, 2, 0);
    smp_draw d[10];
    int distinct = 0;
    float first = -1;
    for (uint64_t k = 0; k < 20; k++) {
        smp_batch_plan(&st, o, k, d);
        for (int j = 1; j < 10; j++)
            cr_assert_eq(d[j].lam, d[0].lam);
        distinct += d[0].lam != first;
        first = d[0].lam;
    }
    cr_assert_gt(distinct, 15);
    smp_order_unref(o);
}

Test(sampler, mix_none_takes_b_samples_with_lambda_one)
{
    smp_settings st = modes(SMP_NONE, SMP_DISJOINT);
    cr_assert_eq(smp_batches_per_epoch(&st), 100u);
    smp_order *o = smp_order_new(&st, 2, 0);
    smp_draw d[10];
    smp_batch_plan(&st, o, 3, d);
    for (int j = 0; j < 10; j++) {
        cr_assert_eq((uint32_t)d[j].index1, o->index[30 + j]);
        cr_assert_eq(d[j].index2, d[j].index1);
        cr_assert_eq(d[j].lam, 1.0f);
        cr_assert_eq(d[j].kind, SMP_KIND_NONE);
    }
    smp_order_unref(o);
}

Test(sampler, cutmix_lambda_is_the_box_area)
{
    smp_settings st = modes(SMP_CUTMIX, SMP_DISJOINT);
    smp_order *o = smp_order_new(&st, 2, 0);
    smp_draw d[10];
    for (uint64_t k = 0; k < 30; k++) {
        smp_batch_plan(&st, o, k, d);
        for (int j = 0; j < 10; j++) {
            cr_assert_eq(d[j].kind, SMP_KIND_CUTMIX);
            const aug_cutmix_params *b = &d[j].box;
            cr_assert(b->y0 <= b->y1 && b->y1 <= 8 && b->x0 <= b->x1 && b->x1 <= 6);
            float area = (float)((b->y1 - b->y0) * (b->x1 - b->x0));
            cr_assert(fabsf(d[j].lam - (1.0f - area / 48.0f)) < 1e-6f,
                      "lam %g box %ux%u", d[j].lam, b->y1 - b->y0,
                      b->x1 - b->x0);
        }
    }
    smp_order_unref(o);
}

Test(sampler, switch_and_mix_prob)
{
    smp_settings st = modes(SMP_MIXUP, SMP_DISJOINT);
    st.cutmix_alpha = 1.0;
    st.switch_prob = 0.5;
    smp_order *o = smp_order_new(&st, 2, 0);
    smp_draw d[10];
    int kinds[3] = {0};
    for (uint64_t k = 0; k < 40; k++) {
        smp_batch_plan(&st, o, k, d);
        for (int j = 0; j < 10; j++)
            kinds[d[j].kind]++;
    }
    cr_assert_eq(kinds[SMP_KIND_NONE], 0);
    cr_assert(kinds[SMP_KIND_CUTMIX] > 150 && kinds[SMP_KIND_MIXUP] > 150,
              "cutmix %d mixup %d of 400", kinds[SMP_KIND_CUTMIX],
              kinds[SMP_KIND_MIXUP]);
    st.skip_prob = 1.0; /* mix_prob = 0: never mixed */
    smp_batch_plan(&st, o, 0, d);
    for (int j = 0; j < 10; j++) {
        cr_assert_eq(d[j].kind, SMP_KIND_NONE);
        cr_assert_eq(d[j].lam, 1.0f);
    }
    smp_order_unref(o);
}

/* The default's lambdas do not move when other modes exist: frozen. */
Test(sampler, default_lambdas_are_frozen)
{
    smp_settings st = {.n = 100, .batch_size = 4, .alpha = 0.2, .shuffle = 1};
    smp_order *o = smp_order_new(&st, 42, 0);
    int64_t i1[4], i2[4];
    float lam[4];
    smp_batch_draws(&st, o, 0, i1, i2, lam);
    static const float want[4] = {0.211540923f, 0.985217869f, 0.310385644f, 0.270238489f};
    for (int j = 0; j < 4; j++)
        cr_assert_eq(lam[j], want[j], "lambda %d: %.9g", j, lam[j]);
    smp_order_unref(o);
}

/* batch.drop_last = false (evaluation): ceil(N / B) batches, the last one
 * with the samples left, so an epoch is every sample exactly once; with
 * pairing = within, a partial batch pairs j with b-1-j of its own b. */
Test(sampler, keep_last_covers_every_sample_once)
{
    smp_settings st = modes(SMP_NONE, SMP_DISJOINT);
    st.n = 1003;
    st.keep_last = 1;
    cr_assert_eq(smp_batches_per_epoch(&st), 101u);
    cr_assert_eq(smp_batch_len(&st, 99), 10u);
    cr_assert_eq(smp_batch_len(&st, 100), 3u);
    smp_order *o = smp_order_new(&st, 5, 2);
    int seen[1003] = {0};
    smp_draw d[10];
    for (uint64_t k = 0; k < 101; k++) {
        uint32_t len = smp_batch_len(&st, k);
        smp_batch_plan(&st, o, k, d);
        for (uint32_t j = 0; j < len; j++) {
            cr_assert_eq(d[j].index1, d[j].index2);
            cr_assert_eq(d[j].lam, 1.0f);
            seen[d[j].index1]++;
        }
    }
    for (int i = 0; i < 1003; i++)
        cr_assert_eq(seen[i], 1, "sample %d seen %d times", i, seen[i]);
    st.mix = SMP_MIXUP;
    st.pairing = SMP_WITHIN;
    smp_batch_plan(&st, o, 100, d);
    for (uint32_t j = 0; j < 3; j++)
        cr_assert_eq(d[j].index2, d[2 - j].index1);
    smp_order_unref(o);
    st.keep_last = 0;
    cr_assert_eq(smp_batches_per_epoch(&st), 100u);
}

/* shuffle = blocks: a permutation for every shape (N not a multiple of
 * the block, one block, blocks of one, windows wider than the blocks). */
Test(sampler, block_order_covers_every_sample_once)
{
    static const uint32_t shapes[][3] = {
        {1, 1, 1}, {2, 1, 1}, {10, 3, 2}, {100, 7, 3}, {1000, 16, 4},
        {1000, 1000, 1}, {1000, 5000, 9}, {1001, 1, 1}, {4097, 64, 16},
        {999, 10, 1000},
    };
    for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        uint32_t n = shapes[t][0], blk = shapes[t][1], win = shapes[t][2];
        uint32_t *p = malloc(n * sizeof *p);
        uint8_t *seen = calloc(n, 1);
        for (uint64_t e = 0; e < 3; e++) {
            memset(seen, 0, n);
            smp_block_permutation(p, n, 42, e, blk, win);
            for (uint32_t i = 0; i < n; i++) {
                cr_assert_lt(p[i], n, "n %u block %u window %u", n, blk, win);
                cr_assert_eq(seen[p[i]], 0, "n %u: %u twice", n, p[i]);
                seen[p[i]] = 1;
            }
        }
        free(p);
        free(seen);
    }
}

/* The working set is bounded: each run of block x window positions holds
 * samples of at most `window` blocks, and the order is a pure function of
 * (seed, epoch) that still changes with each. */
Test(sampler, block_order_bounded_and_deterministic)
{
    enum { BN = 5000, BLK = 50, WIN = 4 };
    static uint32_t a[BN], b[BN], c[BN];
    smp_block_permutation(a, BN, 9, 2, BLK, WIN);
    smp_block_permutation(b, BN, 9, 2, BLK, WIN);
    cr_assert(memcmp(a, b, sizeof a) == 0);
    smp_block_permutation(c, BN, 9, 3, BLK, WIN);
    cr_assert(memcmp(a, c, sizeof a) != 0, "the epoch changes the order");
    smp_block_permutation(c, BN, 10, 2, BLK, WIN);
    cr_assert(memcmp(a, c, sizeof a) != 0, "the seed changes the order");
    for (uint32_t run = 0; run < BN / (BLK * WIN); run++) {
        uint8_t used[BN / BLK] = {0};
        uint32_t blocks = 0;
        for (uint32_t i = run * BLK * WIN; i < (run + 1) * BLK * WIN; i++)
            if (!used[a[i] / BLK]++)
                blocks++;
        cr_assert_eq(blocks, WIN, "run %u touches %u blocks", run, blocks);
    }
    /* Shuffled within a run: not the blocks' own order. */
    uint32_t in_place = 0;
    for (uint32_t i = 1; i < BN; i++)
        in_place += a[i] == a[i - 1] + 1;
    cr_assert_lt(in_place, BN / 10);
    /* smp_order_new takes it from the settings. */
    smp_settings st = {.n = BN, .batch_size = 8, .shuffle = SMP_SHUFFLE_BLOCKS,
                       .block = BLK, .window = WIN};
    smp_order *o = smp_order_new(&st, 9, 2);
    cr_assert(memcmp(o->index, a, sizeof a) == 0);
    smp_order_unref(o);
}
