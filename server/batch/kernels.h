/*
 * kernels.h — the arithmetic of a batch: plain loops over arrays, no
 * knowledge of sockets, threads or the PRNG, so each can be checked
 * against a reference and vectorised by the compiler.
 *
 * Exact formulas (float32, no fused multiply-add; -ffp-contract=off):
 *   mix:    out[i] = lam * (scale * a[i]) + (1 - lam) * (scale * b[i])
 *   labels: row[c] = lam * y1[c] + (1 - lam) * y2[c], y one-hot or soft
 * where (1 - lam) is computed once in float32.
 */
#ifndef SRV_KERNELS_H
#define SRV_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* uint8 sources scaled by @scale (1/255 maps to [0, 1]). */
void krn_mix_u8(float *restrict out, const uint8_t *restrict a,
                const uint8_t *restrict b, size_t n, float lam, float scale);

/* float32 sources, used as they are. */
void krn_mix_f32(float *restrict out, const float *restrict a,
                 const float *restrict b, size_t n, float lam);

/* One-hot rows from class indices. */
void krn_mix_onehot(float *restrict row, uint32_t classes, int32_t label1,
                    int32_t label2, float lam);

/* Soft rows (float32 [K] each). */
void krn_mix_rows(float *restrict row, const float *restrict y1,
                  const float *restrict y2, uint32_t classes, float lam);

#endif
