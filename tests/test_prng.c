/*
 * test_prng.c — Philox against its published answers; Beta(a, a) draws
 * against the true distribution (mean, variance, Kolmogorov–Smirnov).
 */
#include <criterion/criterion.h>
#include <math.h>

#include "prng.h"

/* Known-answer vectors of Random123 (kat_vectors, philox4x32_10). */
Test(prng, philox_known_answers)
{
    static const uint32_t ctr[3][4] = {
        {0, 0, 0, 0},
        {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
        {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
    };
    static const uint32_t key[3][2] = {
        {0, 0}, {0xffffffffu, 0xffffffffu}, {0xa4093822u, 0x299f31d0u}};
    static const uint32_t want[3][4] = {
        {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u},
        {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu},
        {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u},
    };
    for (int v = 0; v < 3; v++) {
        uint32_t out[4];
        prng_philox4x32(ctr[v], key[v], out);
        for (int i = 0; i < 4; i++)
            cr_assert_eq(out[i], want[v][i], "vector %d word %d: %08x", v, i,
                         out[i]);
    }
}

Test(prng, streams_are_pure_functions_of_their_key)
{
    prng_stream a, b, c;
    prng_stream_init(&a, 7, PRNG_SAMPLE, 3, 11, 5);
    prng_stream_init(&b, 7, PRNG_SAMPLE, 3, 11, 5);
    prng_stream_init(&c, 7, PRNG_SAMPLE, 3, 11, 6);
    int differ = 0;
    for (int i = 0; i < 64; i++) {
        uint32_t x = prng_u32(&a), y = prng_u32(&b), z = prng_u32(&c);
        cr_assert_eq(x, y);
        differ += x != z;
    }
    cr_assert_gt(differ, 60);
}

Test(prng, below_stays_in_range_and_covers_it)
{
    prng_stream s;
    prng_stream_init(&s, 1, PRNG_BATCH, 0, 0, 0);
    int seen[7] = {0};
    for (int i = 0; i < 7000; i++) {
        uint32_t v = prng_below(&s, 7);
        cr_assert_lt(v, 7u);
        seen[v]++;
    }
    for (int i = 0; i < 7; i++)
        cr_assert(seen[i] > 850 && seen[i] < 1150, "bucket %d: %d", i, seen[i]);
    cr_assert_eq(prng_below(&s, 1), 0u);
}

Test(prng, uniform_in_unit_interval)
{
    prng_stream s;
    prng_stream_init(&s, 99, PRNG_SAMPLE, 0, 0, 0);
    double sum = 0;
    for (int i = 0; i < 100000; i++) {
        double u = prng_uniform(&s);
        cr_assert(u >= 0.0 && u < 1.0);
        sum += u;
    }
    cr_assert(fabs(sum / 100000 - 0.5) < 0.005);
}

Test(prng, alpha_zero_means_no_mixing)
{
    prng_stream s;
    prng_stream_init(&s, 1, PRNG_SAMPLE, 0, 0, 0);
    cr_assert_eq(prng_beta_sym(&s, 0.0), 1.0);
}

/* Regularized incomplete beta I_x(a, b) by Lentz's continued fraction
 * (Numerical Recipes, betacf), written independently of the code under
 * test. */
static double betacf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m < 10000; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-15)
            break;
    }
    return h;
}

static double beta_cdf(double x, double a, double b)
{
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double bt = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) +
                    b * log(1 - x));
    if (x < (a + 1) / (a + b + 2))
        return bt * betacf(a, b, x) / a;
    return 1 - bt * betacf(b, a, 1 - x) / b;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Draw as the sampler does: one stream per (epoch, batch, sample). */
static void check_beta(double alpha)
{
    enum { N = 20000 };
    static double v[N];
    double sum = 0, sq = 0;
    for (int i = 0; i < N; i++) {
        prng_stream s;
        prng_stream_init(&s, 12345, PRNG_SAMPLE, 0, (uint64_t)i / 128,
                         (uint32_t)(i % 128));
        v[i] = prng_beta_sym(&s, alpha);
        cr_assert(v[i] >= 0.0 && v[i] <= 1.0, "draw %g out of [0,1]", v[i]);
        sum += v[i];
    }
    double mean = sum / N;
    for (int i = 0; i < N; i++)
        sq += (v[i] - mean) * (v[i] - mean);
    double var = sq / (N - 1);
    double true_var = 1.0 / (4.0 * (2.0 * alpha + 1.0));
    /* Standard error of the mean: sqrt(var/N) < 0.0036; allow 4 sigma. */
    cr_assert(fabs(mean - 0.5) < 4 * sqrt(true_var / N),
              "alpha %g: mean %g", alpha, mean);
    cr_assert(fabs(var - true_var) / true_var < 0.05,
              "alpha %g: variance %g, expected %g", alpha, var, true_var);
    qsort(v, N, sizeof v[0], cmp_double);
    /* Draws within 1e-16 of 1 round to exactly 1.0 in double (about 1.3%
     * of them for alpha = 0.1): an atom the continuous CDF does not have.
     * The statistic is taken at the points strictly inside (0, 1). */
    double d = 0;
    for (int i = 0; i < N; i++) {
        if (v[i] <= 0.0 || v[i] >= 1.0)
            continue;
        double f = beta_cdf(v[i], alpha, alpha);
        double lo = f - (double)i / N, hi = (double)(i + 1) / N - f;
        if (lo > d) d = lo;
        if (hi > d) d = hi;
    }
    /* Critical value of the KS statistic at the 1% level. */
    double crit = 1.628 / sqrt((double)N);
    cr_assert(d < crit, "alpha %g: KS statistic %g >= %g", alpha, d, crit);
}

Test(prng, beta_0_1) { check_beta(0.1); }
Test(prng, beta_0_2) { check_beta(0.2); }
Test(prng, beta_0_4) { check_beta(0.4); }
Test(prng, beta_1) { check_beta(1.0); }
Test(prng, beta_2) { check_beta(2.0); }

/* The KS check must be able to fail: Beta(1,1) draws are not Beta(2,2). */
Test(prng, ks_check_detects_a_wrong_distribution)
{
    enum { N = 20000 };
    static double v[N];
    for (int i = 0; i < N; i++) {
        prng_stream s;
        prng_stream_init(&s, 12345, PRNG_SAMPLE, 0, 0, (uint32_t)i);
        v[i] = prng_beta_sym(&s, 1.0);
    }
    qsort(v, N, sizeof v[0], cmp_double);
    double d = 0;
    for (int i = 0; i < N; i++) {
        double f = beta_cdf(v[i], 2.0, 2.0);
        double lo = f - (double)i / N, hi = (double)(i + 1) / N - f;
        if (lo > d) d = lo;
        if (hi > d) d = hi;
    }
    cr_assert(d > 1.628 / sqrt((double)N));
}
