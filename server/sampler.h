/*
 * sampler.h — which samples go into batch (epoch, k), with which lambda.
 *
 * The seed's scheme (DESIGN.md, "Mixup, exactly"): the epoch's order is a
 * permutation keyed by (seed, epoch); batch k takes the 2B indices
 * perm[2Bk .. 2Bk+2B), pairs sample j of the first half with sample j of
 * the second half, and draws lambda_j ~ Beta(alpha, alpha) from the
 * stream keyed by (seed, epoch, k, j). An epoch has floor(N / 2B)
 * batches; the last N mod 2B samples of the order are not used.
 */
#ifndef SRV_SAMPLER_H
#define SRV_SAMPLER_H

#include <stdint.h>

typedef struct smp_settings {
    uint64_t n;          /* samples in the dataset */
    uint32_t batch_size; /* B */
    double alpha;        /* 0: no mixing, lambda = 1 */
    int shuffle;         /* 0: the identity order every epoch */
} smp_settings;

/* An epoch's order, shared (read-only) by the jobs that need it. The
 * reference count is touched by the loop thread only. */
typedef struct smp_order {
    uint64_t seed, epoch;
    uint64_t n;
    uint32_t refs;
    uint32_t index[]; /* n entries */
} smp_order;

/* floor(N / 2B). */
uint64_t smp_batches_per_epoch(const smp_settings *st);

/* Fill @perm[0..n) with the order of @epoch: Fisher–Yates driven by
 * prng stream (seed, PERMUTATION, epoch), or the identity if !shuffle. */
void smp_permutation(uint32_t *perm, uint64_t n, uint64_t seed,
                     uint64_t epoch, int shuffle);

/* Allocate an order with one reference, or NULL. */
smp_order *smp_order_new(const smp_settings *st, uint64_t seed,
                         uint64_t epoch);
void smp_order_ref(smp_order *o);
void smp_order_unref(smp_order *o);

/* The provenance of batch k: index1/index2 (dataset indices) and lambda
 * for each of its B samples. */
void smp_batch_draws(const smp_settings *st, const smp_order *order,
                     uint64_t k, int64_t *index1, int64_t *index2,
                     float *lam);

#endif
