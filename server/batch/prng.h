/*
 * prng.h — counter-based random numbers (Philox4x32-10, Salmon et al.,
 * SC'11) and the distributions mixupd draws from.
 *
 * A draw is a pure function of (seed, domain, epoch, batch, sample,
 * counter): no state is carried between batches, so batch (e, k) can be
 * computed by any thread, in any order, on any machine (DESIGN.md,
 * "The determinism contract").
 *
 * The 128-bit counter is laid out as
 *   ctr[3] = epoch, ctr[2] = batch index,
 *   ctr[1] = domain << 24 | sample index, ctr[0] = block counter,
 * and the 64-bit key is the seed.
 */
#ifndef SRV_PRNG_H
#define SRV_PRNG_H

#include <stdint.h>

/* What a stream of draws is for; part of the counter, so streams for
 * different purposes never overlap. Values are part of the determinism
 * contract: never renumber. */
enum prng_domain {
    PRNG_PERMUTATION = 1, /* the epoch's order; batch = sample = 0 */
    PRNG_SAMPLE = 2,      /* per-sample draws: lambda, augmentation */
    PRNG_BATCH = 3,       /* per-batch draws */
    PRNG_NOISE = 4,       /* per-pixel erase noise, keyed by a drawn seed */
    PRNG_FLIP = 5,        /* one stream per augmentation, so that turning */
    PRNG_SHIFT = 6,       /* one on or off leaves the others' draws as */
    PRNG_CROP = 7,        /* they were */
    PRNG_ERASE = 8,
    PRNG_CUTMIX = 9,      /* the CutMix box */
    PRNG_MIX_SELECT = 10, /* mix_prob and switch_prob */
    PRNG_RRC = 11,        /* random_resized_crop of an encoded image */
};

#define PRNG_MAX_SAMPLE ((1u << 24) - 1)

typedef struct prng_stream {
    uint32_t key[2];
    uint32_t ctr[4];
    uint32_t buf[4];
    int avail; /* unread words in buf */
} prng_stream;

/* The raw block function: out = Philox4x32-10(ctr, key). */
void prng_philox4x32(const uint32_t ctr[4], const uint32_t key[2],
                     uint32_t out[4]);

/* Start the stream of draws for (seed, domain, epoch, batch, sample).
 * epoch and batch are reduced to 32 bits (callers keep them below 2^32). */
void prng_stream_init(prng_stream *s, uint64_t seed, uint32_t domain,
                      uint64_t epoch, uint64_t batch, uint32_t sample);

uint32_t prng_u32(prng_stream *s);
/* Uniform in [0, 1) with 53 random bits. */
double prng_uniform(prng_stream *s);
/* Uniform integer in [0, n), n >= 1, without bias (Lemire 2019). */
uint32_t prng_below(prng_stream *s, uint32_t n);
/* Standard normal (Box–Muller, one value per call). */
double prng_normal(prng_stream *s);
/* log of a Gamma(shape, 1) draw, shape > 0 (Marsaglia–Tsang 2000; for
 * shape < 1 the boost G(a) = G(a+1) U^(1/a), kept in log space so small
 * shapes do not underflow). */
double prng_log_gamma(prng_stream *s, double shape);
/* Beta(a, a) as X / (X + Y) with X, Y ~ Gamma(a); a = 0 gives 1. */
double prng_beta_sym(prng_stream *s, double a);

#endif
