/*
 * sampler.c — see sampler.h.
 */
#include "sampler.h"

#include <stdlib.h>

#include "prng.h"

uint64_t smp_samples_per_batch(const smp_settings *st)
{
    uint64_t B = st->batch_size;
    return st->mix == SMP_NONE || st->pairing == SMP_WITHIN ? B : 2 * B;
}

uint64_t smp_batches_per_epoch(const smp_settings *st)
{
    uint64_t per = smp_samples_per_batch(st);
    return st->keep_last ? (st->n + per - 1) / per : st->n / per;
}

uint32_t smp_batch_len(const smp_settings *st, uint64_t k)
{
    uint64_t per = smp_samples_per_batch(st);
    if (st->keep_last && (k + 1) * per > st->n)
        return (uint32_t)(st->n - k * per);
    return st->batch_size;
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

static void shuffle_range(uint32_t *v, uint64_t n, prng_stream *s)
{
    for (uint64_t i = n - 1; n > 1 && i > 0; i--) {
        uint32_t j = prng_below(s, (uint32_t)(i + 1));
        uint32_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

void smp_block_permutation(uint32_t *perm, uint64_t n, uint64_t seed,
                           uint64_t epoch, uint32_t block, uint32_t window)
{
    if (n == 0)
        return;
    block = block ? block : 1;
    window = window ? window : 1;
    uint64_t nb = (n + block - 1) / block;
    /* The block order lives in the last nb entries of @perm (no memory
     * beyond the order's own, so this cannot fail). Samples are written
     * from the front: before block order entry b is read, at most
     * b * block samples have been written, and b * block <= n - nb + b
     * because n - nb >= (nb - 1) * (block - 1); so the write never
     * reaches an entry not yet read. */
    uint32_t *blocks = perm + (n - nb);
    for (uint64_t b = 0; b < nb; b++)
        blocks[b] = (uint32_t)b;
    prng_stream s;
    prng_stream_init(&s, seed, PRNG_PERMUTATION, epoch, 1, 0);
    shuffle_range(blocks, nb, &s);
    uint64_t at = 0;
    for (uint64_t r = 0; r * window < nb; r++) {
        uint64_t start = at;
        for (uint64_t b = r * window; b < nb && b < (r + 1) * window; b++) {
            uint64_t lo = (uint64_t)blocks[b] * block;
            uint64_t hi = lo + block < n ? lo + block : n;
            for (uint64_t i = lo; i < hi; i++)
                perm[at++] = (uint32_t)i;
        }
        prng_stream_init(&s, seed, PRNG_PERMUTATION, epoch, 2, (uint32_t)r);
        shuffle_range(perm + start, at - start, &s);
    }
}

void smp_order_fill(uint32_t *perm, const smp_settings *st, uint64_t seed,
                    uint64_t epoch)
{
    if (st->shuffle == SMP_SHUFFLE_BLOCKS)
        smp_block_permutation(perm, st->n, seed, epoch, st->block, st->window);
    else
        smp_permutation(perm, st->n, seed, epoch, st->shuffle);
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
    smp_order_fill(o->index, st, seed, epoch);
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

/* Which kind of mixing sample (or batch) @j gets and its lambda. */
static void draw_mix(const smp_settings *st, const smp_order *o, uint64_t k,
                     uint32_t j, smp_draw *d)
{
    d->kind = SMP_KIND_NONE;
    d->lam = 1.0f;
    if (st->mix == SMP_NONE)
        return;
    prng_stream sel;
    prng_stream_init(&sel, o->seed, PRNG_MIX_SELECT, o->epoch, k, j);
    if (st->skip_prob > 0 && prng_uniform(&sel) < st->skip_prob)
        return;
    int cutmix = st->mix == SMP_CUTMIX;
    if (st->cutmix_alpha > 0 && st->mix != SMP_CUTMIX)
        cutmix = st->alpha <= 0 || prng_uniform(&sel) < st->switch_prob;
    double a = cutmix && st->cutmix_alpha > 0 ? st->cutmix_alpha : st->alpha;
    if (a <= 0)
        return;
    prng_stream s;
    prng_stream_init(&s, o->seed, PRNG_SAMPLE, o->epoch, k, j);
    d->lam = (float)prng_beta_sym(&s, a);
    d->kind = SMP_KIND_MIXUP;
    if (cutmix) {
        prng_stream b;
        prng_stream_init(&b, o->seed, PRNG_CUTMIX, o->epoch, k, j);
        aug_cutmix_draw(&b, d->lam, st->height, st->width, &d->box);
        d->lam = d->box.lam;
        d->kind = SMP_KIND_CUTMIX;
    }
}

void smp_batch_plan(const smp_settings *st, const smp_order *order,
                    uint64_t k, smp_draw *out)
{
    uint32_t B = smp_batch_len(st, k);
    const uint32_t *first = order->index + smp_samples_per_batch(st) * k;
    for (uint32_t j = 0; j < B; j++) {
        smp_draw *d = &out[j];
        *d = (smp_draw){0};
        d->index1 = first[j];
        if (st->mix == SMP_NONE)
            d->index2 = first[j];
        else if (st->pairing == SMP_WITHIN)
            d->index2 = first[B - 1 - j];
        else
            d->index2 = first[B + j];
        if (st->mix == SMP_MIXUP_BATCH && j > 0) {
            d->lam = out[0].lam; /* one draw for the whole batch */
            d->kind = out[0].kind;
            d->box = out[0].box;
        } else {
            draw_mix(st, order, k, st->mix == SMP_MIXUP_BATCH ? 0 : j, d);
        }
    }
}

void smp_batch_draws(const smp_settings *st, const smp_order *order,
                     uint64_t k, int64_t *index1, int64_t *index2,
                     float *lam)
{
    uint32_t B = smp_batch_len(st, k);
    smp_draw small[64];
    smp_draw *d = B <= 64 ? small : malloc(B * sizeof *d);
    if (!d)
        abort(); /* only tests call this for large B */
    smp_batch_plan(st, order, k, d);
    for (uint32_t j = 0; j < B; j++) {
        index1[j] = d[j].index1;
        index2[j] = d[j].index2;
        lam[j] = d[j].lam;
    }
    if (d != small)
        free(d);
}
