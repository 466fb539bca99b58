/*
 * test_sampler.c — epoch orders and per-epoch coverage.
 */
#include <criterion/criterion.h>
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
