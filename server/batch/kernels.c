/*
 * kernels.c — see kernels.h.
 */
#include "kernels.h"

/* The two mixing loops carry a batch's weight (half the daemon's CPU): one
 * AVX2 clone besides the baseline one, chosen at load time. The bytes are
 * the same: each element is the same float32 expression (no fused
 * multiply-add: -ffp-contract=off), only more of them per instruction. */
/* GCC only: clang 14 leaves target_clones functions of a static library
 * undefined at link time. Not under ASan (ifunc resolvers run before it). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define KRN_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define KRN_CLONES
#endif

KRN_CLONES void krn_mix_u8(float *restrict out, const uint8_t *restrict a,
                const uint8_t *restrict b, size_t n, float lam, float scale)
{
    float mu = 1.0f - lam;
    for (size_t i = 0; i < n; i++)
        out[i] = lam * (scale * (float)a[i]) + mu * (scale * (float)b[i]);
}

KRN_CLONES void krn_mix_f32(float *restrict out, const float *restrict a,
                 const float *restrict b, size_t n, float lam)
{
    float mu = 1.0f - lam;
    for (size_t i = 0; i < n; i++)
        out[i] = lam * a[i] + mu * b[i];
}

void krn_mix_onehot(float *restrict row, uint32_t classes, int32_t label1,
                    int32_t label2, float lam)
{
    float mu = 1.0f - lam;
    for (uint32_t c = 0; c < classes; c++) {
        float y1 = (int32_t)c == label1 ? 1.0f : 0.0f;
        float y2 = (int32_t)c == label2 ? 1.0f : 0.0f;
        row[c] = lam * y1 + mu * y2;
    }
}

void krn_mix_rows(float *restrict row, const float *restrict y1,
                  const float *restrict y2, uint32_t classes, float lam)
{
    float mu = 1.0f - lam;
    for (uint32_t c = 0; c < classes; c++)
        row[c] = lam * y1[c] + mu * y2[c];
}
