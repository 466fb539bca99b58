/*
 * test_convert.c — output conversions against bit patterns worked out by
 * hand, against the compiler's own _Float16 where it has one, and the
 * NCHW layout against an index formula written here.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "convert.h"

static float F(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t U(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

#define F16_IS_NAN(h) (((h) & 0x7c00u) == 0x7c00u && ((h) & 0x3ffu) != 0)
#define BF16_IS_NAN(b) (((b) & 0x7f80u) == 0x7f80u && ((b) & 0x7fu) != 0)

typedef struct {
    uint32_t in;
    uint16_t want;
} case16;

static void check_f16(const case16 *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint16_t got = cvt_f16_from_f32(F(c[i].in));
        cr_assert_eq(got, c[i].want, "f16(%08x = %a): got %04x, want %04x",
                     c[i].in, F(c[i].in), got, c[i].want);
    }
}

Test(convert, f16_known_values)
{
    static const case16 c[] = {
        {0x3f800000u, 0x3c00u}, /* 1 */
        {0xc0000000u, 0xc000u}, /* -2 */
        {0x00000000u, 0x0000u}, /* +0 */
        {0x80000000u, 0x8000u}, /* -0 */
        {0x3dcccccdu, 0x2e66u}, /* 0.1f: 0x2e66 = 0.0999755859375 */
        {0x477fe000u, 0x7bffu}, /* 65504, the largest half */
        {0x3eaaaaabu, 0x3555u}, /* 1/3 rounds down */
        {0x3f2aaaabu, 0x3955u}, /* 2/3 rounds down: 0x3955 */
    };
    check_f16(c, sizeof c / sizeof c[0]);
}

Test(convert, f16_rounding_ties_to_even)
{
    static const case16 c[] = {
        {0x3f801000u, 0x3c00u}, /* 1 + 2^-11: tie, 0x3c00 is even */
        {0x3f803000u, 0x3c02u}, /* 1 + 3*2^-11: tie, up to even 0x3c02 */
        {0x3f801001u, 0x3c01u}, /* just above the tie: up */
        {0x3f800fffu, 0x3c00u}, /* just below the tie: down */
        {0xbf801000u, 0xbc00u}, /* negative tie */
        {0x3f7ff000u, 0x3c00u}, /* 1 - 2^-12: tie between 0x3bff and 1 */
    };
    check_f16(c, sizeof c / sizeof c[0]);
}

Test(convert, f16_overflow_inf_nan)
{
    static const case16 c[] = {
        {0x477fefffu, 0x7bffu}, /* just below 65520: 65504 */
        {0x477ff000u, 0x7c00u}, /* 65520: tie, 65536 is even -> inf */
        {0x47800000u, 0x7c00u}, /* 65536 */
        {0x49742400u, 0x7c00u}, /* 1e6 */
        {0x7f7fffffu, 0x7c00u}, /* FLT_MAX */
        {0xc7800000u, 0xfc00u}, /* -65536 */
        {0x7f800000u, 0x7c00u}, /* inf */
        {0xff800000u, 0xfc00u}, /* -inf */
    };
    check_f16(c, sizeof c / sizeof c[0]);
    const uint32_t nans[] = {0x7fc00000u, 0x7f800001u, 0xffc00000u,
                             0x7fffffffu, 0xff800001u};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t h = cvt_f16_from_f32(F(nans[i]));
        cr_assert(F16_IS_NAN(h), "nan %08x -> %04x", nans[i], h);
        cr_assert_eq(h >> 15, nans[i] >> 31, "sign of nan %08x", nans[i]);
        cr_assert(isnan(cvt_f32_from_f16(h)));
    }
}

Test(convert, f16_subnormals)
{
    static const case16 c[] = {
        {0x33800000u, 0x0001u}, /* 2^-24, the smallest subnormal */
        {0x33000000u, 0x0000u}, /* 2^-25: tie between 0 and 1 -> 0 */
        {0x33000001u, 0x0001u}, /* just above: 1 */
        {0x33c00000u, 0x0002u}, /* 3 * 2^-25: tie -> even 2 */
        {0x34200000u, 0x0002u}, /* 5 * 2^-25: tie -> even 2 */
        {0x387fc000u, 0x03ffu}, /* 1023 * 2^-24, the largest subnormal */
        {0x387fe000u, 0x0400u}, /* 1023.5 * 2^-24: tie -> 1024, normal */
        {0x38800000u, 0x0400u}, /* 2^-14, the smallest normal */
        {0xb3800000u, 0x8001u}, /* -2^-24 */
        {0x00000001u, 0x0000u}, /* float32 subnormal -> 0 */
        {0x32ffffffu, 0x0000u}, /* below 2^-25 -> 0 */
    };
    check_f16(c, sizeof c / sizeof c[0]);
}

Test(convert, f16_round_trip_of_every_half)
{
    for (uint32_t h = 0; h < 0x10000u; h++) {
        float f = cvt_f32_from_f16((uint16_t)h);
        if (F16_IS_NAN(h)) {
            cr_assert(isnan(f), "%04x", h);
            continue;
        }
        cr_assert_eq(cvt_f16_from_f32(f), h, "half %04x -> %a -> %04x", h, f,
                     cvt_f16_from_f32(f));
    }
    cr_assert_eq(cvt_f32_from_f16(0x0001u), 0x1p-24f);
    cr_assert_eq(cvt_f32_from_f16(0x3555u), 0x1.554p-2f);
    cr_assert_eq(cvt_f32_from_f16(0x7bffu), 65504.0f);
    cr_assert_eq(U(cvt_f32_from_f16(0x8000u)), 0x80000000u);
    cr_assert(isinf(cvt_f32_from_f16(0xfc00u)) && cvt_f32_from_f16(0xfc00u) < 0);
}

#ifdef __FLT16_MAX__
/* The compiler's conversion (libgcc / F16C, IEEE round to nearest even)
 * over a sweep of float32 bit patterns: every 2^-13 of the mantissa near
 * each exponent, plus the neighbours of every tie. */
Test(convert, f16_agrees_with_compiler_float16)
{
    for (uint64_t u = 0; u < 0x100000000ull; u += 0x1235u) {
        uint32_t x = (uint32_t)u;
        if (isnan(F(x)))
            continue;
        _Float16 ref = (_Float16)F(x);
        uint16_t want;
        memcpy(&want, &ref, sizeof want);
        cr_assert_eq(cvt_f16_from_f32(F(x)), want, "%08x", x);
        for (int d = -1; d <= 1; d++) {
            uint32_t t = (x & ~0x1fffu) + 0x1000u + (uint32_t)d; /* a tie */
            if (isnan(F(t)))
                continue;
            ref = (_Float16)F(t);
            memcpy(&want, &ref, sizeof want);
            cr_assert_eq(cvt_f16_from_f32(F(t)), want, "tie %08x", t);
        }
    }
}
#endif

static void check_bf16(uint32_t in, uint16_t want)
{
    uint16_t got = cvt_bf16_from_f32(F(in));
    cr_assert_eq(got, want, "bf16(%08x): got %04x, want %04x", in, got, want);
}

Test(convert, bf16_known_values_and_ties)
{
    check_bf16(0x3f800000u, 0x3f80u); /* 1 */
    check_bf16(0x3f808000u, 0x3f80u); /* tie, 0x3f80 even: down */
    check_bf16(0x3f818000u, 0x3f82u); /* tie, 0x3f81 odd: up to 0x3f82 */
    check_bf16(0x3f808001u, 0x3f81u); /* above the tie */
    check_bf16(0x3f807fffu, 0x3f80u); /* below the tie */
    check_bf16(0xbf818000u, 0xbf82u); /* negative tie */
    check_bf16(0x3dcccccdu, 0x3dcdu); /* 0.1f */
    check_bf16(0x80000000u, 0x8000u); /* -0 */
    check_bf16(0x00008000u, 0x0000u); /* subnormal tie -> 0 */
    check_bf16(0x00018000u, 0x0002u); /* subnormal tie -> even */
    check_bf16(0x00010000u, 0x0001u); /* smallest bf16 subnormal */
}

Test(convert, bf16_overflow_inf_nan)
{
    check_bf16(0x7f7fffffu, 0x7f80u); /* FLT_MAX rounds to inf */
    check_bf16(0x7f7f7fffu, 0x7f7fu); /* stays finite */
    check_bf16(0x7f7f8000u, 0x7f80u); /* tie, odd: up to inf */
    check_bf16(0xff7fffffu, 0xff80u);
    check_bf16(0x7f800000u, 0x7f80u);
    check_bf16(0xff800000u, 0xff80u);
    const uint32_t nans[] = {0x7fc00000u, 0x7f800001u, 0x7fffffffu,
                             0xffc00000u, 0xff800001u, 0x7f80ffffu};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        uint16_t b = cvt_bf16_from_f32(F(nans[i]));
        cr_assert(BF16_IS_NAN(b), "nan %08x -> %04x", nans[i], b);
        cr_assert_eq(b >> 15, nans[i] >> 31);
        cr_assert(isnan(cvt_f32_from_bf16(b)));
    }
    cr_assert_eq(U(cvt_f32_from_bf16(0x3f82u)), 0x3f820000u);
}

Test(convert, array_forms_match_the_scalar_ones)
{
    enum { N = 1003 }; /* not a multiple of any vector width */
    static float src[N], back[N];
    static uint16_t h[N], b[N];
    for (int i = 0; i < N; i++)
        src[i] = F(0x3f000000u + (uint32_t)i * 0x9e37u) * (i % 2 ? -1 : 1);
    src[5] = NAN;
    src[6] = INFINITY;
    src[7] = 1e-6f;
    cvt_f32_to_f16(h, src, N);
    cvt_f32_to_bf16(b, src, N);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(h[i], cvt_f16_from_f32(src[i]), "%d", i);
        cr_assert_eq(b[i], cvt_bf16_from_f32(src[i]), "%d", i);
    }
    cvt_f16_to_f32(back, h, N);
    for (int i = 0; i < N; i++)
        cr_assert(U(back[i]) == U(cvt_f32_from_f16(h[i])), "%d", i);
    cvt_bf16_to_f32(back, b, N);
    for (int i = 0; i < N; i++)
        cr_assert_eq(U(back[i]), (uint32_t)b[i] << 16, "%d", i);
}

Test(convert, scale_and_u8)
{
    uint8_t u[300];
    float f[300];
    for (int i = 0; i < 300; i++)
        u[i] = (uint8_t)(i * 7);
    const float s = 1.0f / 255.0f;
    cvt_u8_to_f32(f, u, 300, s);
    for (int i = 0; i < 300; i++)
        cr_assert_eq(f[i], s * (float)u[i]);
    cvt_scale(f, 300, 255.0f);
    for (int i = 0; i < 300; i++)
        cr_assert_eq(f[i], (s * (float)u[i]) * 255.0f);
}

/* dst[n][k][y][x] = src[n][y][x][k], for channel counts with their own
 * code paths (1, 3) and the general one (2, 4). */
Test(convert, nchw_is_nhwc_transposed)
{
    enum { N = 2, H = 3, W = 5 };
    static float src[N * H * W * 4], dst[N * H * W * 4];
    static uint16_t s16[N * H * W * 4], d16[N * H * W * 4];
    for (uint32_t c = 1; c <= 4; c++) {
        for (int i = 0; i < N * H * W * (int)c; i++) {
            src[i] = (float)i + 0.5f;
            s16[i] = (uint16_t)(i * 3 + 1);
        }
        cvt_nhwc_to_nchw_f32(dst, src, N, H, W, c);
        cvt_nhwc_to_nchw_u16(d16, s16, N, H, W, c);
        for (int n = 0; n < N; n++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    for (uint32_t k = 0; k < c; k++) {
                        size_t in = (((size_t)n * H + y) * W + x) * c + k;
                        size_t out = (((size_t)n * c + k) * H + y) * W + x;
                        cr_assert_eq(dst[out], src[in], "c %u", c);
                        cr_assert_eq(d16[out], s16[in], "c %u", c);
                    }
    }
}

Test(convert, image_fuses_dtype_and_layout)
{
    enum { H = 4, W = 3, C = 3, P = H * W * C };
    float src[P], nchw[P];
    uint16_t want[P], got[P];
    float got32[P];
    for (int i = 0; i < P; i++)
        src[i] = 1.0f + (float)i * 0x1p-11f; /* ties for float16 included */
    cvt_nhwc_to_nchw_f32(nchw, src, 1, H, W, C);
    cr_assert_eq(cvt_image(got32, src, H, W, C, CVT_F32, CVT_NCHW), 0);
    for (int i = 0; i < P; i++)
        cr_assert_eq(got32[i], nchw[i]);
    cr_assert_eq(cvt_image(got32, src, H, W, C, CVT_F32, CVT_NHWC), 0);
    for (int i = 0; i < P; i++)
        cr_assert_eq(got32[i], src[i]);
    cvt_f32_to_f16(want, nchw, P);
    cr_assert_eq(cvt_image(got, src, H, W, C, CVT_F16, CVT_NCHW), 0);
    for (int i = 0; i < P; i++)
        cr_assert_eq(got[i], want[i], "%d", i);
    cvt_f32_to_bf16(want, nchw, P);
    cr_assert_eq(cvt_image(got, src, H, W, C, CVT_BF16, CVT_NCHW), 0);
    for (int i = 0; i < P; i++)
        cr_assert_eq(got[i], want[i], "%d", i);
    cvt_f32_to_f16(want, src, P);
    cr_assert_eq(cvt_image(got, src, H, W, C, CVT_F16, CVT_NHWC), 0);
    for (int i = 0; i < P; i++)
        cr_assert_eq(got[i], want[i], "%d", i);
    cr_assert_eq(cvt_image(got, src, H, W, C, (cvt_dtype)9, CVT_NHWC), -1);
    cr_assert_eq(cvt_image(got, src, H, W, C, CVT_F16, (cvt_layout)7), -1);
    cr_assert_eq(cvt_dtype_size(CVT_F32), 4u);
    cr_assert_eq(cvt_dtype_size(CVT_BF16), 2u);
}

/* One pass (normalise inside the transpose) gives the bytes of two:
 * (x - mean) / std over the NHWC image, then the NCHW conversion. */
Test(convert, fused_normalisation_matches_two_passes)
{
    enum { H = 5, W = 7, MAXP = H * W * 4 };
    const float mean[4] = {0.4914f, 0.4822f, 0.4465f, -2.0f};
    const float std[4] = {0.2470f, 0.2435f, 0.2616f, 3.0f};
    float src[MAXP], normed[MAXP], want32[MAXP], got32[MAXP];
    uint16_t want[MAXP], got[MAXP];
    for (uint32_t c = 1; c <= 4; c++) {
        size_t P = (size_t)H * W * c;
        for (size_t i = 0; i < P; i++) {
            src[i] = (float)((i * 29) % 17) / 16.0f;
            normed[i] = (src[i] - mean[i % c]) / std[i % c];
        }
        const cvt_dtype types[] = {CVT_F32, CVT_F16, CVT_BF16};
        for (size_t t = 0; t < 3; t++) {
            int f32 = types[t] == CVT_F32;
            cr_assert_eq(cvt_image(f32 ? (void *)want32 : (void *)want, normed,
                                   H, W, c, types[t], CVT_NCHW), 0);
            cr_assert_eq(cvt_image_nchw_normalized(
                             f32 ? (void *)got32 : (void *)got, src, H, W, c,
                             types[t], mean, std), 0);
            for (size_t i = 0; i < P; i++) {
                if (f32)
                    cr_assert_eq(U(got32[i]), U(want32[i]), "c %u i %zu", c, i);
                else
                    cr_assert_eq(got[i], want[i], "c %u type %d i %zu", c,
                                 types[t], i);
            }
        }
    }
    cr_assert_eq(cvt_image_nchw_normalized(got, src, H, W, 3, (cvt_dtype)0,
                                           mean, std), -1);
}
