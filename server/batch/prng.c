/*
 * prng.c — see prng.h.
 *
 * The block function is Random123's philox4x32_R(10, ...) (Debian
 * librandom123-dev, the algorithm's authors' reference code, header only):
 * it gives the same words as the copy the daemon carried before, checked
 * on a million random (counter, key) pairs and by the known-answer tests
 * (tests/test_prng.c).
 *
 * Floating-point draws use glibc's log/exp/sqrt/cos in double precision;
 * the results mixupd ships (lambda) are rounded to float32, which hides
 * last-bit differences between libm builds in all but vanishingly rare
 * cases. Integer draws (the permutation) are exact everywhere.
 */
#include "prng.h"

#include <Random123/philox.h>
#include <math.h>

void prng_philox4x32(const uint32_t ctr[4], const uint32_t key[2],
                     uint32_t out[4])
{
    philox4x32_ctr_t c = {{ctr[0], ctr[1], ctr[2], ctr[3]}};
    philox4x32_key_t k = {{key[0], key[1]}};
    philox4x32_ctr_t r = philox4x32_R(10, c, k);
    for (int i = 0; i < 4; i++)
        out[i] = r.v[i];
}

void prng_stream_init(prng_stream *s, uint64_t seed, uint32_t domain,
                      uint64_t epoch, uint64_t batch, uint32_t sample)
{
    s->key[0] = (uint32_t)seed;
    s->key[1] = (uint32_t)(seed >> 32);
    s->ctr[0] = 0;
    s->ctr[1] = (domain << 24) | (sample & PRNG_MAX_SAMPLE);
    s->ctr[2] = (uint32_t)batch;
    s->ctr[3] = (uint32_t)epoch;
    s->avail = 0;
}

uint32_t prng_u32(prng_stream *s)
{
    if (s->avail == 0) {
        prng_philox4x32(s->ctr, s->key, s->buf);
        s->ctr[0]++;
        s->avail = 4;
    }
    return s->buf[4 - s->avail--];
}

double prng_uniform(prng_stream *s)
{
    uint64_t hi = prng_u32(s), lo = prng_u32(s);
    uint64_t bits = ((hi << 32) | lo) >> 11;
    return (double)bits * 0x1.0p-53;
}

uint32_t prng_below(prng_stream *s, uint32_t n)
{
    uint64_t m = (uint64_t)prng_u32(s) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)prng_u32(s) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double prng_normal(prng_stream *s)
{
    double u1 = 1.0 - prng_uniform(s); /* (0, 1]: log is finite */
    double u2 = prng_uniform(s);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* log Gamma(a) draw for a >= 1. */
static double log_gamma_ge1(prng_stream *s, double a)
{
    double d = a - 1.0 / 3.0;
    double c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = prng_normal(s);
        double v = 1.0 + c * x;
        if (v <= 0.0)
            continue;
        v = v * v * v;
        double u = 1.0 - prng_uniform(s);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v))
            return log(d) + log(v);
    }
}

double prng_log_gamma(prng_stream *s, double shape)
{
    if (shape >= 1.0)
        return log_gamma_ge1(s, shape);
    double lg = log_gamma_ge1(s, shape + 1.0);
    double u = 1.0 - prng_uniform(s);
    return lg + log(u) / shape;
}

double prng_beta_sym(prng_stream *s, double a)
{
    if (a <= 0.0)
        return 1.0;
    double lx = prng_log_gamma(s, a);
    double ly = prng_log_gamma(s, a);
    /* X / (X + Y) = 1 / (1 + exp(ly - lx)), exact in the tails too. */
    return 1.0 / (1.0 + exp(ly - lx));
}
