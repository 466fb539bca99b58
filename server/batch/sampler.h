/*
 * sampler.h — which samples go into batch (epoch, k), with which lambda.
 *
 * The seed's scheme (DESIGN.md, "Mixup, exactly"): the epoch's order is a
 * permutation keyed by (seed, epoch); batch k takes the 2B indices
 * perm[2Bk .. 2Bk+2B), pairs sample j of the first half with sample j of
 * the second half, and draws lambda_j ~ Beta(alpha, alpha) from the
 * stream keyed by (seed, epoch, k, j). An epoch has floor(N / 2B)
 * batches; the last N mod 2B samples of the order are not used.
 *
 * Other modes, chosen in the configuration, never silent changes of that
 * default:
 *   mix = mixup_batch  one lambda per batch (drawn as sample 0's)
 *   mix = cutmix       a box of the partner pasted; lambda corrected to it
 *   mix = none         no partner: B samples per batch, lambda = 1
 *   pairing = within   B samples per batch; the partner of sample j is
 *                      sample B-1-j of the same batch (timm)
 *   cutmix_alpha > 0 with alpha > 0 (mix = mixup): CutMix with probability
 *                      switch_prob, else mixup (timm's switch)
 *   mix_prob < 1       a sample (or batch) is mixed with that probability,
 *                      else lambda = 1 (drawn as u < 1 - mix_prob: skip)
 *   keep_last          (batch.drop_last = false, evaluation) an epoch has
 *                      ceil(N / B) batches, the last one holding the
 *                      N mod B samples left (B samples per batch only:
 *                      mix = none or pairing = within, where the partner
 *                      of j is sample b-1-j of a batch of b)
 * Selections draw from their own stream (PRNG_MIX_SELECT), boxes from
 * PRNG_CUTMIX, so the default's lambdas stay what they were.
 */
#ifndef SRV_SAMPLER_H
#define SRV_SAMPLER_H

#include <stdint.h>

#include "augment.h"

typedef enum smp_mix {
    SMP_MIXUP = 0,
    SMP_MIXUP_BATCH = 1,
    SMP_CUTMIX = 2,
    SMP_NONE = 3,
} smp_mix;

typedef enum smp_pairing { SMP_DISJOINT = 0, SMP_WITHIN = 1 } smp_pairing;

/* Kinds of mixing of a sample; the values are mixup_mix_kind's. */
enum { SMP_KIND_NONE = 0, SMP_KIND_MIXUP = 1, SMP_KIND_CUTMIX = 2 };

typedef struct smp_settings {
    uint64_t n;          /* samples in the dataset */
    uint32_t batch_size; /* B */
    double alpha;        /* 0: no mixing, lambda = 1 */
    int shuffle;         /* 0: the identity order every epoch; 1: a
                            uniform permutation; SMP_SHUFFLE_BLOCKS */
    uint32_t block, window; /* SMP_SHUFFLE_BLOCKS: samples per block,
                               blocks per window */
    smp_mix mix;
    smp_pairing pairing;
    double cutmix_alpha; /* 0: off (mix = cutmix then uses alpha) */
    double switch_prob;  /* CutMix vs mixup when both alphas are set */
    double skip_prob;    /* 1 - mix_prob: probability that a sample (or
                            batch) is not mixed; 0 by default, so that a
                            zeroed struct is the seed's behaviour */
    uint32_t height, width; /* for CutMix boxes */
    int keep_last;       /* serve the last partial batch (see above) */
} smp_settings;

/* What the sampler decided for one sample. */
typedef struct smp_draw {
    int64_t index1, index2;
    float lam;        /* corrected to the box for CutMix */
    uint8_t kind;     /* SMP_KIND_* */
    aug_cutmix_params box; /* when kind is CUTMIX */
} smp_draw;

/* An epoch's order, shared (read-only) by the jobs that need it. The
 * reference count is touched by the loop thread only. */
typedef struct smp_order {
    uint64_t seed, epoch;
    uint64_t n;
    uint32_t refs;
    uint32_t index[]; /* n entries */
} smp_order;

/* Samples of the order one batch uses: 2B, or B (mix = none, pairing =
 * within). */
uint64_t smp_samples_per_batch(const smp_settings *st);

/* floor(N / samples_per_batch): floor(N / 2B) by default; ceil(N / B)
 * with keep_last. */
uint64_t smp_batches_per_epoch(const smp_settings *st);

/* Samples in batch @k: B, but for the last batch of an epoch with
 * keep_last, which has the samples left. */
uint32_t smp_batch_len(const smp_settings *st, uint64_t k);

/* Fill @perm[0..n) with the order of @epoch: Fisher–Yates driven by
 * prng stream (seed, PERMUTATION, epoch), or the identity if !shuffle. */
void smp_permutation(uint32_t *perm, uint64_t n, uint64_t seed,
                     uint64_t epoch, int shuffle);

/* shuffle = blocks: an order whose working set is bounded, for datasets
 * read from a file larger than memory. The samples are cut into blocks
 * of @block consecutive indices (the last one shorter); the blocks are
 * visited in a permuted order (stream (seed, PERMUTATION, epoch, batch 1,
 * sample 0)), and each run of @window consecutive blocks of that order
 * has its samples shuffled together (stream (..., batch 2, sample r) for
 * run r). Every sample appears once; between two positions of the order
 * at most block x window distinct samples' neighbourhoods are touched,
 * so a file is read in runs of `block` samples and its cache working set
 * is one window. */
void smp_block_permutation(uint32_t *perm, uint64_t n, uint64_t seed,
                           uint64_t epoch, uint32_t block, uint32_t window);

#define SMP_SHUFFLE_BLOCKS 2

/* The order of @epoch as @st says (smp_permutation or
 * smp_block_permutation). */
void smp_order_fill(uint32_t *perm, const smp_settings *st, uint64_t seed,
                    uint64_t epoch);

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

/* The same with the mixing kind and CutMix box of each sample: @out has
 * smp_batch_len(st, k) entries (at most B). */
void smp_batch_plan(const smp_settings *st, const smp_order *order,
                    uint64_t k, smp_draw *out);

#endif
