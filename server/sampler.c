/*
 * sampler.c — see sampler.h.
 */
#include "sampler.h"

#include <stdlib.h>

#include "prng.h"

uint64_t smp_batches_per_epoch(const smp_settings *st)
{
    return st->n / (2 * (uint64_t)st->batch_size);
}

void smp_permutation(uint32_t *perm, uint64_t n, uint64_t seed,
                     uint64_t epoch, int shuffle)
{
    for (uint64_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    if (!shuffle || n < 2)
        return;
    prng_stream s;
    prng_stream_init(&s, seed, PRNG_PERMUTATION, epoch, 0, 0);
    for (uint64_t i = n - 1; i > 0; i--) {
        uint32_t j = prng_below(&s, (uint32_t)(i + 1));
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

smp_order *smp_order_new(const smp_settings *st, uint64_t seed,
                         uint64_t epoch)
{
    smp_order *o = malloc(sizeof *o + st->n * sizeof(uint32_t));
    if (!o)
        return NULL;
    o->seed = seed;
    o->epoch = epoch;
    o->n = st->n;
    o->refs = 1;
    smp_permutation(o->index, st->n, seed, epoch, st->shuffle);
    return o;
}

void smp_order_ref(smp_order *o)
{
    o->refs++;
}

void smp_order_unref(smp_order *o)
{
    if (o && --o->refs == 0)
        free(o);
}

void smp_batch_draws(const smp_settings *st, const smp_order *order,
                     uint64_t k, int64_t *index1, int64_t *index2,
                     float *lam)
{
    uint32_t B = st->batch_size;
    const uint32_t *first = order->index + 2 * (uint64_t)B * k;
    const uint32_t *second = first + B;
    for (uint32_t j = 0; j < B; j++) {
        index1[j] = first[j];
        index2[j] = second[j];
        prng_stream s;
        prng_stream_init(&s, order->seed, PRNG_SAMPLE, order->epoch, k, j);
        lam[j] = (float)prng_beta_sym(&s, st->alpha);
    }
}
