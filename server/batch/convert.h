/*
 * convert.h — output conversions of a batch's images ([output]):
 * float32 to float16 / bfloat16, NHWC to NCHW, scaling. Plain loops over
 * arrays, no knowledge of sockets, threads or the PRNG.
 *
 * Rounding is IEEE round-to-nearest-even, computed on the bits (no
 * dependence on the FPU's rounding mode, F16C or flush-to-zero, except the
 * float16 subnormal path, which relies on one float32 addition in the
 * default mode):
 *   float16:  |x| >= 65520 (the tie above 65504) -> inf; results below
 *             2^-14 become subnormals (smallest 2^-24), below 2^-25 zero;
 *   bfloat16: the upper half of the float32 rounded, FLT_MAX -> inf,
 *             subnormals kept as bfloat16 subnormals;
 *   NaN stays NaN (quiet, sign and the top payload bits kept); -0 stays -0.
 * float16 and bfloat16 values are carried as uint16_t bit patterns.
 *
 * Destination and source arrays never overlap (restrict): convert from a
 * worker's float32 scratch image into the batch slot.
 */
#ifndef SRV_CONVERT_H
#define SRV_CONVERT_H

#include <stddef.h>
#include <stdint.h>

/* Element types and layouts of an output batch. The integrator maps them
 * onto the wire's mixup_dtype / mixup_layout. */
typedef enum cvt_dtype {
    CVT_F32 = 1,
    CVT_F16 = 2,
    CVT_BF16 = 3,
} cvt_dtype;

typedef enum cvt_layout {
    CVT_NHWC = 0,
    CVT_NCHW = 1,
} cvt_layout;

/* Bytes per element: 4, 2, 2; 0 for an unknown type. */
size_t cvt_dtype_size(cvt_dtype t);

/* One value. */
uint16_t cvt_f16_from_f32(float f);
uint16_t cvt_bf16_from_f32(float f);
float cvt_f32_from_f16(uint16_t h);  /* exact */
float cvt_f32_from_bf16(uint16_t b); /* exact */

/* n values. */
void cvt_f32_to_f16(uint16_t *restrict dst, const float *restrict src,
                    size_t n);
void cvt_f32_to_bf16(uint16_t *restrict dst, const float *restrict src,
                     size_t n);
void cvt_f16_to_f32(float *restrict dst, const uint16_t *restrict src,
                    size_t n);
void cvt_bf16_to_f32(float *restrict dst, const uint16_t *restrict src,
                     size_t n);

/* x[i] *= scale, in place. */
void cvt_scale(float *x, size_t n, float scale);
/* dst[i] = scale * src[i]: uint8 sources to float32 without mixing
 * (mix = none, or augmenting before the mix); the same product as the mix
 * kernels use, so lam = 1 gives the same bytes. */
void cvt_u8_to_f32(float *restrict dst, const uint8_t *restrict src,
                   size_t n, float scale);

/* dst[n][k][y][x] = src[n][y][x][k], for @n images of h x w x c. */
void cvt_nhwc_to_nchw_f32(float *restrict dst, const float *restrict src,
                          size_t n, uint32_t h, uint32_t w, uint32_t c);
void cvt_nhwc_to_nchw_u16(uint16_t *restrict dst,
                          const uint16_t *restrict src, size_t n, uint32_t h,
                          uint32_t w, uint32_t c);

/* One float32 HWC image into @dst as @dtype in @layout (one pass: the
 * transpose and the rounding are fused). Return 0, or -1 for an unknown
 * dtype or layout (nothing written). */
int cvt_image(void *restrict dst, const float *restrict src, uint32_t h,
              uint32_t w, uint32_t c, cvt_dtype dtype, cvt_layout layout);

/* The same for NCHW output with per-channel normalisation fused into the
 * transpose: plane k = dtype((x - mean[k]) / std[k]), the same bytes as
 * aug_normalize_apply followed by cvt_image(..., CVT_NCHW), in one pass.
 * @mean and @std hold c values. Return 0, or -1 for an unknown dtype. */
int cvt_image_nchw_normalized(void *restrict dst, const float *restrict src,
                              uint32_t h, uint32_t w, uint32_t c,
                              cvt_dtype dtype, const float *mean,
                              const float *std);

#endif
