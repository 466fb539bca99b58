/*
 * convert.c — see convert.h.
 *
 * The float16 helpers compute every candidate and pick one with integer
 * masks, not ?: — with the default -ftrapping-math, GCC moves the float
 * addition of the subnormal path under a branch and then cannot
 * if-convert the loop, which stays scalar.
 */
#include "convert.h"

#include <string.h>

static inline uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* All ones when @cond holds, else zero. */
static inline uint32_t mask(int cond)
{
    return -(uint32_t)(cond != 0);
}

/* float32 -> float16, round to nearest even (after F. Giesen's
 * float_to_half_fast3_rtne). */
static inline uint16_t f16_round(float f)
{
    uint32_t x = bits_of(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t a = x & 0x7fffffffu;
    /* Normal results: rebias the exponent (127 -> 15), add just under half
     * an ulp plus the ulp's parity bit (ties to even), cut 13 bits. A
     * carry out of the mantissa bumps the exponent, up to inf (0x7c00). */
    uint32_t normal = (a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13;
    /* Below 2^-14: adding 0.5 puts the value's subnormal bits at the
     * bottom of the float32 mantissa, rounded to nearest even by the add. */
    uint32_t sub = bits_of(float_of(a) + 0.5f) - 0x3f000000u;
    /* NaN: quiet bit set, top payload kept; else (>= 65536 or inf) inf. */
    uint32_t nan = 0x7e00u | ((a >> 13) & 0x3ffu);
    uint32_t is_nan = mask(a > 0x7f800000u), is_sub = mask(a < 0x38800000u);
    uint32_t is_big = mask(a >= 0x47800000u);
    uint32_t special = (nan & is_nan) | (0x7c00u & ~is_nan);
    uint32_t r = (sub & is_sub) | (normal & ~is_sub);
    r = (special & is_big) | (r & ~is_big);
    return (uint16_t)(r | sign);
}

/* float32 -> bfloat16: the upper half, rounded to nearest even. */
static inline uint16_t bf16_round(float f)
{
    uint32_t x = bits_of(f);
    uint32_t rounded = (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
    uint32_t nan = (x >> 16) | 0x0040u; /* quiet, sign and payload kept */
    return (uint16_t)((x & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

static inline float f16_widen(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    /* Subnormals: m * 2^-24, exact in float32. */
    float sub = (float)m * 0x1p-24f;
    uint32_t normal = ((e + 112u) << 23) | (m << 13);
    uint32_t special = 0x7f800000u | (m << 13);
    uint32_t is_special = mask(e == 0x1fu), is_sub = mask(e == 0);
    uint32_t r = (special & is_special) | (normal & ~is_special);
    r = (bits_of(sub) & is_sub) | (r & ~is_sub);
    return float_of(r | sign);
}

size_t cvt_dtype_size(cvt_dtype t)
{
    switch (t) {
    case CVT_F32:
        return 4;
    case CVT_F16:
    case CVT_BF16:
        return 2;
    }
    return 0;
}

uint16_t cvt_f16_from_f32(float f)
{
    return f16_round(f);
}

uint16_t cvt_bf16_from_f32(float f)
{
    return bf16_round(f);
}

float cvt_f32_from_f16(uint16_t h)
{
    return f16_widen(h);
}

float cvt_f32_from_bf16(uint16_t b)
{
    return float_of((uint32_t)b << 16);
}

void cvt_f32_to_f16(uint16_t *restrict dst, const float *restrict src,
                    size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = f16_round(src[i]);
}

void cvt_f32_to_bf16(uint16_t *restrict dst, const float *restrict src,
                     size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = bf16_round(src[i]);
}

void cvt_f16_to_f32(float *restrict dst, const uint16_t *restrict src,
                    size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = f16_widen(src[i]);
}

void cvt_bf16_to_f32(float *restrict dst, const uint16_t *restrict src,
                     size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = cvt_f32_from_bf16(src[i]);
}

void cvt_scale(float *x, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        x[i] *= scale;
}

void cvt_u8_to_f32(float *restrict dst, const uint8_t *restrict src,
                   size_t n, float scale)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = scale * (float)src[i];
}

/* ------------------------------------------------------------- layouts
 * One channel plane at a time: the writes are contiguous, the reads have
 * stride c. c = 1 is a copy and c = 3 gets a loop with a constant stride,
 * which the compiler turns into vector shuffles; other c stay scalar. */

#define PLANES(CONV)                                                         \
    do {                                                                     \
        size_t hw = (size_t)h * w;                                           \
        if (c == 1) {                                                        \
            for (size_t i = 0; i < hw; i++)                                  \
                dst[i] = CONV(src[i]);                                       \
        } else if (c == 3) {                                                 \
            for (size_t i = 0; i < hw; i++) {                                \
                dst[i] = CONV(src[3 * i]);                                   \
                dst[hw + i] = CONV(src[3 * i + 1]);                          \
                dst[2 * hw + i] = CONV(src[3 * i + 2]);                      \
            }                                                                \
        } else {                                                             \
            for (size_t k = 0; k < c; k++)                                   \
                for (size_t i = 0; i < hw; i++)                              \
                    dst[k * hw + i] = CONV(src[i * c + k]);                  \
        }                                                                    \
    } while (0)

#define SAME(v) (v)

static void planes_f32(float *restrict dst, const float *restrict src,
                       uint32_t h, uint32_t w, size_t c)
{
    PLANES(SAME);
}

static void planes_u16(uint16_t *restrict dst, const uint16_t *restrict src,
                       uint32_t h, uint32_t w, size_t c)
{
    PLANES(SAME);
}

static void planes_f16(uint16_t *restrict dst, const float *restrict src,
                       uint32_t h, uint32_t w, size_t c)
{
    PLANES(f16_round);
}

static void planes_bf16(uint16_t *restrict dst, const float *restrict src,
                        uint32_t h, uint32_t w, size_t c)
{
    PLANES(bf16_round);
}

void cvt_nhwc_to_nchw_f32(float *restrict dst, const float *restrict src,
                          size_t n, uint32_t h, uint32_t w, uint32_t c)
{
    size_t per = (size_t)h * w * c;
    for (size_t i = 0; i < n; i++)
        planes_f32(dst + i * per, src + i * per, h, w, c);
}

void cvt_nhwc_to_nchw_u16(uint16_t *restrict dst,
                          const uint16_t *restrict src, size_t n, uint32_t h,
                          uint32_t w, uint32_t c)
{
    size_t per = (size_t)h * w * c;
    for (size_t i = 0; i < n; i++)
        planes_u16(dst + i * per, src + i * per, h, w, c);
}

/* PLANES with (x - mean[k]) / std[k] on the way: in NCHW a channel's
 * mean and std are constants of its plane, so this costs next to nothing
 * on top of the transpose. */
#define NORM_PLANES(CONV)                                                    \
    do {                                                                     \
        size_t hw = (size_t)h * w;                                           \
        if (c == 3) {                                                        \
            float m0 = mean[0], m1 = mean[1], m2 = mean[2];                  \
            float d0 = std[0], d1 = std[1], d2 = std[2];                     \
            for (size_t i = 0; i < hw; i++) {                                \
                dst[i] = CONV((src[3 * i] - m0) / d0);                       \
                dst[hw + i] = CONV((src[3 * i + 1] - m1) / d1);              \
                dst[2 * hw + i] = CONV((src[3 * i + 2] - m2) / d2);          \
            }                                                                \
        } else {                                                             \
            for (size_t k = 0; k < c; k++) {                                 \
                float m = mean[k], d = std[k];                               \
                for (size_t i = 0; i < hw; i++)                              \
                    dst[k * hw + i] = CONV((src[i * c + k] - m) / d);        \
            }                                                                \
        }                                                                    \
    } while (0)

static void norm_planes_f32(float *restrict dst, const float *restrict src,
                            uint32_t h, uint32_t w, size_t c,
                            const float *mean, const float *std)
{
    NORM_PLANES(SAME);
}

static void norm_planes_f16(uint16_t *restrict dst,
                            const float *restrict src, uint32_t h, uint32_t w,
                            size_t c, const float *mean, const float *std)
{
    NORM_PLANES(f16_round);
}

static void norm_planes_bf16(uint16_t *restrict dst,
                             const float *restrict src, uint32_t h,
                             uint32_t w, size_t c, const float *mean,
                             const float *std)
{
    NORM_PLANES(bf16_round);
}

int cvt_image_nchw_normalized(void *restrict dst, const float *restrict src,
                              uint32_t h, uint32_t w, uint32_t c,
                              cvt_dtype dtype, const float *mean,
                              const float *std)
{
    switch (dtype) {
    case CVT_F32:
        norm_planes_f32(dst, src, h, w, c, mean, std);
        return 0;
    case CVT_F16:
        norm_planes_f16(dst, src, h, w, c, mean, std);
        return 0;
    case CVT_BF16:
        norm_planes_bf16(dst, src, h, w, c, mean, std);
        return 0;
    }
    return -1;
}

int cvt_image(void *restrict dst, const float *restrict src, uint32_t h,
              uint32_t w, uint32_t c, cvt_dtype dtype, cvt_layout layout)
{
    size_t n = (size_t)h * w * c;
    if (layout != CVT_NHWC && layout != CVT_NCHW)
        return -1;
    int nchw = layout == CVT_NCHW;
    switch (dtype) {
    case CVT_F32:
        if (nchw)
            planes_f32(dst, src, h, w, c);
        else
            memcpy(dst, src, n * sizeof *src);
        return 0;
    case CVT_F16:
        if (nchw)
            planes_f16(dst, src, h, w, c);
        else
            cvt_f32_to_f16(dst, src, n);
        return 0;
    case CVT_BF16:
        if (nchw)
            planes_bf16(dst, src, h, w, c);
        else
            cvt_f32_to_bf16(dst, src, n);
        return 0;
    }
    return -1;
}
