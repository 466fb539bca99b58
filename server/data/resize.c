/*
 * resize.c — see resize.h.
 *
 * The vector kernels compute the same integer sums as the portable one,
 * only grouped differently: 32-bit two's-complement addition is
 * associative, and every partial sum of a bilinear resize (weights >= 0,
 * summing to 2^22 within rounding, pixels <= 255) fits 31 bits, so every
 * kernel gives every byte the portable kernel gives (tests compare them).
 */
#include "resize.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RSZ_X86 1
#endif

#define HALF (1 << (RSZ_PRECISION_BITS - 1))

static inline uint8_t clip8(int32_t v)
{
    v >>= RSZ_PRECISION_BITS; /* arithmetic, as Pillow's clip8 */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* ------------------------------------------------------------ coefficients */

uint32_t rsz_ksize(double box_len, uint32_t out_total)
{
    double fs = box_len / out_total;
    if (fs < 1.0)
        fs = 1.0;
    uint32_t k = (uint32_t)ceil(fs) * 2 + 1;
    return (k + 7) & ~7u;
}

size_t rsz_axis_bytes(uint32_t n, uint32_t ksize)
{
    return (size_t)n * 4 * (2 + 5 * (size_t)ksize);
}

void rsz_axis_carve(rsz_axis *a, void *mem, uint32_t n, uint32_t ksize)
{
    a->n = n;
    a->ksize = ksize;
    a->first = mem;
    a->count = a->first + n;
    a->k = (int32_t *)(void *)(a->count + n);
    a->kt = a->k + (size_t)n * ksize;
}

static double bilinear(double x)
{
    if (x < 0.0)
        x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

int rsz_axis_init(rsz_axis *a, uint32_t in_len, float in0, float in1,
                  uint32_t out_total, uint32_t o0)
{
    /* precompute_coeffs: the box width is a float difference. */
    double scale = (double)(in1 - in0) / out_total;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 1.0 * filterscale;
    int pk = (int)ceil(support) * 2 + 1;
    if (pk < 0 || (uint32_t)pk > a->ksize)
        return -1;
    double ss = 1.0 / filterscale;
    for (uint32_t i = 0; i < a->n; i++) {
        int xx = (int)(o0 + i);
        double center = in0 + (xx + 0.5) * scale;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0)
            xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > (int)in_len)
            xmax = (int)in_len;
        xmax -= xmin;
        if (xmax < 0)
            xmax = 0;
        if (xmax > pk)
            xmax = pk;
        double ww = 0.0;
        for (int x = 0; x < xmax; x++)
            ww += bilinear((x + xmin - center + 0.5) * ss);
        int32_t *k = a->k + (size_t)i * a->ksize;
        for (int x = 0; x < xmax; x++) {
            double w = bilinear((x + xmin - center + 0.5) * ss);
            if (ww != 0.0)
                w /= ww;
            /* normalize_coeffs_8bpc */
            k[x] = w < 0 ? (int32_t)(-0.5 + w * (1 << RSZ_PRECISION_BITS))
                         : (int32_t)(0.5 + w * (1 << RSZ_PRECISION_BITS));
        }
        for (uint32_t x = (uint32_t)xmax; x < a->ksize; x++)
            k[x] = 0;
        a->first[i] = xmax ? (uint32_t)xmin : 0;
        a->count[i] = (uint32_t)xmax;
    }
    /* kt: per output, per 4 taps, 16 words of kl then 16 of kh in
     * h_avx2_rgb's order: [k0 k1 k0 k1 k0 k1 0 0 | k2 k3 k2 k3 k2 k3 0 0]. */
    for (uint32_t i = 0; i < a->n; i++) {
        const int32_t *k = a->k + (size_t)i * a->ksize;
        int16_t *o = (int16_t *)(void *)(a->kt + (size_t)i * a->ksize * 4);
        for (uint32_t g = 0; g < a->ksize / 4; g++, o += 32)
            for (int part = 0; part < 2; part++) {
                int16_t *w = o + 16 * part;
                for (int lane = 0; lane < 2; lane++)
                    for (int j = 0; j < 8; j++) {
                        uint32_t t = 4 * g + 2 * (uint32_t)lane + (uint32_t)(j & 1);
                        int32_t v = j < 6 ? k[t] : 0;
                        w[8 * lane + j] = (int16_t)(part ? v >> 11 : v & 2047);
                    }
            }
    }
    return 0;
}

uint32_t rsz_rows_needed(const rsz_axis *ay)
{
    uint32_t last = ay->first[ay->n - 1] + ay->count[ay->n - 1];
    uint32_t first = ay->first[0];
    return last > first ? last - first : 0;
}

/* ------------------------------------------------------------ portable */

static void h_pixel(uint8_t *dst, const uint8_t *p, uint32_t c,
                    const int32_t *k, uint32_t n)
{
    if (c == 3) {
        int32_t s0 = HALF, s1 = HALF, s2 = HALF;
        for (uint32_t i = 0; i < n; i++) {
            s0 += p[3 * i] * k[i];
            s1 += p[3 * i + 1] * k[i];
            s2 += p[3 * i + 2] * k[i];
        }
        dst[0] = clip8(s0);
        dst[1] = clip8(s1);
        dst[2] = clip8(s2);
        return;
    }
    for (uint32_t ch = 0; ch < c; ch++) {
        int32_t s = HALF;
        for (uint32_t i = 0; i < n; i++)
            s += p[(size_t)i * c + ch] * k[i];
        dst[ch] = clip8(s);
    }
}

static void h_portable(uint8_t *dst, const uint8_t *src, size_t avail,
                       uint32_t c, const rsz_axis *ax)
{
    (void)avail;
    for (uint32_t x = 0; x < ax->n; x++)
        h_pixel(dst + (size_t)x * c, src + (size_t)ax->first[x] * c, c,
                ax->k + (size_t)x * ax->ksize, ax->count[x]);
}

static void v_span(uint8_t *dst, const uint8_t *base, size_t stride,
                   size_t from, size_t to, const int32_t *k, uint32_t n)
{
    for (size_t i = from; i < to; i++) {
        int32_t s = HALF;
        for (uint32_t t = 0; t < n; t++)
            s += base[t * stride + i] * k[t];
        dst[i] = clip8(s);
    }
}

static void v_portable(uint8_t *dst, const uint8_t *rows, size_t stride,
                       size_t width, const rsz_axis *ay, uint32_t y)
{
    v_span(dst, rows + (size_t)(ay->first[y] - ay->first[0]) * stride,
           stride, 0, width, ay->k + (size_t)y * ay->ksize, ay->count[y]);
}

/* ------------------------------------------------------------ AVX2 */

#ifdef RSZ_X86
__attribute__((target("avx2"))) static void
h_avx2(uint8_t *dst, const uint8_t *src, size_t avail, uint32_t c,
       const rsz_axis *ax)
{
    if (c != 3 && c != 1) {
        h_portable(dst, src, avail, c, ax);
        return;
    }
    /* c = 3: two taps per step, [R G B 0 R G B 0] against their weights. */
    const __m128i spread = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, -1, -1,
                                         -1, -1, -1, -1, -1, -1);
    const __m256i kidx = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
    for (uint32_t x = 0; x < ax->n; x++) {
        uint32_t n = ax->count[x];
        size_t at = (size_t)ax->first[x] * c;
        const uint8_t *p = src + at;
        const int32_t *k = ax->k + (size_t)x * ax->ksize;
        __m256i acc = _mm256_setzero_si256();
        if (c == 3) {
            size_t pairs = (n + 1) / 2;
            if (at + pairs * 6 + 2 > avail) { /* the row's end: no over-read */
                h_pixel(dst + 3 * (size_t)x, p, 3, k, n);
                continue;
            }
            for (size_t i = 0; i < pairs; i++) {
                __m128i b = _mm_loadl_epi64((const __m128i *)(const void *)(p + 6 * i));
                __m256i v = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(b, spread));
                __m128i kk = _mm_loadl_epi64((const __m128i *)(const void *)(k + 2 * i));
                __m256i kv = _mm256_permutevar8x32_epi32(
                    _mm256_castsi128_si256(kk), kidx);
                acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(v, kv));
            }
            __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc),
                                      _mm256_extracti128_si256(acc, 1));
            s = _mm_srai_epi32(_mm_add_epi32(s, _mm_set1_epi32(HALF)),
                               RSZ_PRECISION_BITS);
            s = _mm_packus_epi16(_mm_packs_epi32(s, s), s);
            uint32_t v = (uint32_t)_mm_cvtsi128_si32(s);
            dst[3 * (size_t)x] = (uint8_t)v;
            dst[3 * (size_t)x + 1] = (uint8_t)(v >> 8);
            dst[3 * (size_t)x + 2] = (uint8_t)(v >> 16);
            continue;
        }
        size_t blocks = (n + 7) / 8;
        if (at + blocks * 8 > avail) {
            h_pixel(dst + x, p, 1, k, n);
            continue;
        }
        for (size_t i = 0; i < blocks; i++) {
            __m256i v = _mm256_cvtepu8_epi32(
                _mm_loadl_epi64((const __m128i *)(const void *)(p + 8 * i)));
            __m256i kv = _mm256_loadu_si256((const __m256i *)(const void *)(k + 8 * i));
            acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(v, kv));
        }
        __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc),
                                  _mm256_extracti128_si256(acc, 1));
        s = _mm_hadd_epi32(s, s);
        s = _mm_hadd_epi32(s, s);
        dst[x] = clip8(_mm_cvtsi128_si32(s) + HALF);
    }
}

/* RGB, four taps per step with 16-bit multiplies: each weight split as
 * k = kh * 2^11 + kl (both fit 16 bits), the pixels of taps t..t+3 spread
 * to words [R_t R_t+1 G_t G_t+1 B_t B_t+1 0 0 | the same for t+2, t+3]
 * and multiplied pairwise (madd) by the layout in kw; the sum is
 * (sum_h << 11) + sum_l: the same integer. */
__attribute__((target("avx2"))) static void
h_avx2_rgb(uint8_t *dst, const uint8_t *src, size_t avail,
           const rsz_axis *ax)
{
    const __m256i spread = _mm256_setr_epi8(
        0, -1, 3, -1, 1, -1, 4, -1, 2, -1, 5, -1, -1, -1, -1, -1,
        6, -1, 9, -1, 7, -1, 10, -1, 8, -1, 11, -1, -1, -1, -1, -1);
    const __m128i half = _mm_set1_epi32(HALF);
    uint32_t x = 0;
    for (; x < ax->n; x++) {
        uint32_t n = ax->count[x];
        size_t at = (size_t)ax->first[x] * 3;
        size_t groups = (n + 3) / 4;
        if (at + groups * 12 + 4 > avail)
            break; /* the row's end: no over-read */
        const uint8_t *p = src + at;
        const __m256i *kw = (const __m256i *)(const void *)
                                (ax->kt + (size_t)x * ax->ksize * 4);
        __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
        for (size_t g = 0; g < groups; g++) {
            __m256i b = _mm256_broadcastsi128_si256(
                _mm_loadu_si128((const __m128i *)(const void *)(p + 12 * g)));
            __m256i v = _mm256_shuffle_epi8(b, spread);
            lo = _mm256_add_epi32(lo, _mm256_madd_epi16(
                v, _mm256_loadu_si256(kw + 2 * g)));
            hi = _mm256_add_epi32(hi, _mm256_madd_epi16(
                v, _mm256_loadu_si256(kw + 2 * g + 1)));
        }
        __m128i l = _mm_add_epi32(_mm256_castsi256_si128(lo),
                                  _mm256_extracti128_si256(lo, 1));
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(hi),
                                  _mm256_extracti128_si256(hi, 1));
        __m128i s = _mm_add_epi32(_mm_add_epi32(_mm_slli_epi32(h, 11), l),
                                  half);
        s = _mm_srai_epi32(s, RSZ_PRECISION_BITS);
        s = _mm_packus_epi16(_mm_packs_epi32(s, s), s);
        uint32_t v = (uint32_t)_mm_cvtsi128_si32(s);
        dst[3 * (size_t)x] = (uint8_t)v;
        dst[3 * (size_t)x + 1] = (uint8_t)(v >> 8);
        dst[3 * (size_t)x + 2] = (uint8_t)(v >> 16);
    }
    if (x < ax->n) { /* the rest, near the row's end */
        rsz_axis rest = *ax;
        rest.n = ax->n - x;
        rest.first += x;
        rest.count += x;
        rest.k += (size_t)x * ax->ksize;
        h_avx2(dst + (size_t)x * 3, src, avail, 3, &rest);
    }
}

__attribute__((target("avx2"))) static void
v_avx2(uint8_t *dst, const uint8_t *rows, size_t stride, size_t width,
       const rsz_axis *ay, uint32_t y)
{
    const uint8_t *base = rows + (size_t)(ay->first[y] - ay->first[0]) * stride;
    const int32_t *k = ay->k + (size_t)y * ay->ksize;
    uint32_t n = ay->count[y];
    const __m256i half = _mm256_set1_epi32(HALF);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    size_t i = 0;
    for (; i + 32 <= width; i += 32) {
        __m256i a0 = half, a1 = half, a2 = half, a3 = half;
        for (uint32_t t = 0; t < n; t++) {
            __m256i kv = _mm256_set1_epi32(k[t]);
            __m256i b = _mm256_loadu_si256(
                (const __m256i *)(const void *)(base + t * stride + i));
            __m128i lo = _mm256_castsi256_si128(b);
            __m128i hi = _mm256_extracti128_si256(b, 1);
            a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(lo), kv));
            a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(
                _mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)), kv));
            a2 = _mm256_add_epi32(a2, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(hi), kv));
            a3 = _mm256_add_epi32(a3, _mm256_mullo_epi32(
                _mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)), kv));
        }
        a0 = _mm256_srai_epi32(a0, RSZ_PRECISION_BITS);
        a1 = _mm256_srai_epi32(a1, RSZ_PRECISION_BITS);
        a2 = _mm256_srai_epi32(a2, RSZ_PRECISION_BITS);
        a3 = _mm256_srai_epi32(a3, RSZ_PRECISION_BITS);
        __m256i w = _mm256_packus_epi16(_mm256_packs_epi32(a0, a1),
                                        _mm256_packs_epi32(a2, a3));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i),
                            _mm256_permutevar8x32_epi32(w, order));
    }
    v_span(dst, base, stride, i, width, k, n);
}

__attribute__((target("avx512f,avx512bw"))) static void
v_avx512(uint8_t *dst, const uint8_t *rows, size_t stride, size_t width,
         const rsz_axis *ay, uint32_t y)
{
    const uint8_t *base = rows + (size_t)(ay->first[y] - ay->first[0]) * stride;
    const int32_t *k = ay->k + (size_t)y * ay->ksize;
    uint32_t n = ay->count[y];
    const __m512i half = _mm512_set1_epi32(HALF);
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6,
                                            10, 14, 3, 7, 11, 15);
    size_t i = 0;
    for (; i + 64 <= width; i += 64) {
        __m512i a0 = half, a1 = half, a2 = half, a3 = half;
        for (uint32_t t = 0; t < n; t++) {
            __m512i kv = _mm512_set1_epi32(k[t]);
            const uint8_t *r = base + t * stride + i;
            __m128i b0 = _mm_loadu_si128((const __m128i *)(const void *)r);
            __m128i b1 = _mm_loadu_si128((const __m128i *)(const void *)(r + 16));
            __m128i b2 = _mm_loadu_si128((const __m128i *)(const void *)(r + 32));
            __m128i b3 = _mm_loadu_si128((const __m128i *)(const void *)(r + 48));
            a0 = _mm512_add_epi32(a0, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(b0), kv));
            a1 = _mm512_add_epi32(a1, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(b1), kv));
            a2 = _mm512_add_epi32(a2, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(b2), kv));
            a3 = _mm512_add_epi32(a3, _mm512_mullo_epi32(_mm512_cvtepu8_epi32(b3), kv));
        }
        a0 = _mm512_srai_epi32(a0, RSZ_PRECISION_BITS);
        a1 = _mm512_srai_epi32(a1, RSZ_PRECISION_BITS);
        a2 = _mm512_srai_epi32(a2, RSZ_PRECISION_BITS);
        a3 = _mm512_srai_epi32(a3, RSZ_PRECISION_BITS);
        __m512i w = _mm512_packus_epi16(_mm512_packs_epi32(a0, a1),
                                        _mm512_packs_epi32(a2, a3));
        _mm512_storeu_si512((void *)(dst + i), _mm512_permutexvar_epi32(order, w));
    }
    v_span(dst, base, stride, i, width, k, n);
}
#endif

/* ------------------------------------------------------------ dispatch */

typedef void (*h_fn)(uint8_t *, const uint8_t *, size_t, uint32_t,
                     const rsz_axis *);
typedef void (*v_fn)(uint8_t *, const uint8_t *, size_t, size_t,
                     const rsz_axis *, uint32_t);

static int chosen = -1; /* rsz_kernel, -1: not yet */

static int supported(rsz_kernel k)
{
#ifdef RSZ_X86
    __builtin_cpu_init();
    if (k == RSZ_AVX2)
        return __builtin_cpu_supports("avx2");
    if (k == RSZ_AVX512)
        return __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw");
#endif
    return k == RSZ_PORTABLE;
}

static rsz_kernel choose(void)
{
    int c = __atomic_load_n(&chosen, __ATOMIC_RELAXED);
    if (c >= 0)
        return (rsz_kernel)c;
    rsz_kernel k = RSZ_PORTABLE;
    const char *env = getenv("MIXUPD_RESAMPLE");
    if (env && strcmp(env, "portable") == 0)
        k = RSZ_PORTABLE;
    else if (env && strcmp(env, "avx2") == 0 && supported(RSZ_AVX2))
        k = RSZ_AVX2;
    else if (supported(RSZ_AVX512) && !(env && strcmp(env, "avx2") == 0))
        k = RSZ_AVX512;
    else if (supported(RSZ_AVX2))
        k = RSZ_AVX2;
    __atomic_store_n(&chosen, (int)k, __ATOMIC_RELAXED);
    return k;
}

rsz_kernel rsz_current(void)
{
    return choose();
}

int rsz_use(rsz_kernel k)
{
    if (!supported(k))
        return -1;
    __atomic_store_n(&chosen, (int)k, __ATOMIC_RELAXED);
    return 0;
}

const char *rsz_kernel_name(rsz_kernel k)
{
    static const char *const names[3] = {"portable", "avx2", "avx512"};
    return (unsigned)k < 3 ? names[k] : "?";
}

void rsz_h_row(uint8_t *dst, const uint8_t *src, size_t avail, uint32_t c,
               const rsz_axis *ax)
{
#ifdef RSZ_X86
    if (choose() != RSZ_PORTABLE) {
        if (c == 3)
            h_avx2_rgb(dst, src, avail, ax);
        else
            h_avx2(dst, src, avail, c, ax);
        return;
    }
#endif
    h_portable(dst, src, avail, c, ax);
}

void rsz_v_row(uint8_t *dst, const uint8_t *rows, size_t stride,
               size_t width, const rsz_axis *ay, uint32_t y)
{
#ifdef RSZ_X86
    rsz_kernel k = choose();
    if (k == RSZ_AVX512) {
        v_avx512(dst, rows, stride, width, ay, y);
        return;
    }
    if (k == RSZ_AVX2) {
        v_avx2(dst, rows, stride, width, ay, y);
        return;
    }
#endif
    v_portable(dst, rows, stride, width, ay, y);
}

void rsz_resample(uint8_t *out, const uint8_t *src, size_t stride,
                  uint32_t h, uint32_t c, const rsz_axis *ax,
                  const rsz_axis *ay, uint8_t *tmp)
{
    uint32_t y0 = ay->first[0], rows = rsz_rows_needed(ay);
    size_t tw = (size_t)ax->n * c;
    for (uint32_t r = 0; r < rows && y0 + r < h; r++)
        rsz_h_row(tmp + r * tw, src + (size_t)(y0 + r) * stride,
                  (size_t)(h - y0 - r) * stride, c, ax);
    for (uint32_t y = 0; y < ay->n; y++)
        rsz_v_row(out + y * tw, tmp, tw, tw, ay, y);
}

/* ------------------------------------------------------------ whole image */

static uint32_t image_ksize(uint32_t in_len, uint32_t out)
{
    return rsz_ksize((double)in_len + 1.0, out);
}

size_t rsz_image_work_bytes(uint32_t in_h, uint32_t in_w, uint32_t out_h,
                            uint32_t out_w, uint32_t c)
{
    return rsz_axis_bytes(out_w, image_ksize(in_w, out_w)) +
           rsz_axis_bytes(out_h, image_ksize(in_h, out_h)) +
           (size_t)out_w * c * in_h;
}

void rsz_image(uint8_t *out, const uint8_t *src, uint32_t in_h,
               uint32_t in_w, uint32_t c, uint32_t out_h, uint32_t out_w,
               void *work)
{
    rsz_axis ax, ay;
    char *m = work;
    rsz_axis_carve(&ax, m, out_w, image_ksize(in_w, out_w));
    m += rsz_axis_bytes(out_w, ax.ksize);
    rsz_axis_carve(&ay, m, out_h, image_ksize(in_h, out_h));
    m += rsz_axis_bytes(out_h, ay.ksize);
    rsz_axis_init(&ax, in_w, 0.0f, (float)in_w, out_w, 0);
    rsz_axis_init(&ay, in_h, 0.0f, (float)in_h, out_h, 0);
    rsz_resample(out, src, (size_t)in_w * c, in_h, c, &ax, &ay,
                 (uint8_t *)m);
}
