/*
 * augment.c — see augment.h.
 *
 * Shift and pad-and-crop are one operation: a translation of the image by
 * (dy, dx) with a fill mode (crop by (y - p, x - p) is exactly the window
 * of the padded image). Each output row is split into an interior span,
 * whose source pixels are contiguous and need no fill logic (one plain
 * loop the compiler vectorises), and a few border pixels handled one by
 * one through the fill mode.
 */
#include "augment.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mixup_errors.h"

/* ------------------------------------------------------------ fill modes */

static long mod_pos(long i, long n)
{
    long m = i % n;
    return m < 0 ? m + n : m;
}

/* Source index for index @i of an axis of @n samples, extended by @fill;
 * -1 means "the constant". */
static long ext_index(long i, long n, aug_fill fill)
{
    if (i >= 0 && i < n)
        return i;
    switch (fill) {
    case AUG_FILL_NEAREST:
        return i < 0 ? 0 : n - 1;
    case AUG_FILL_WRAP:
        return mod_pos(i, n);
    case AUG_FILL_REFLECT: { /* period 2n: abcd dcba */
        long m = mod_pos(i, 2 * n);
        return m < n ? m : 2 * n - 1 - m;
    }
    case AUG_FILL_MIRROR: { /* period 2n-2: abcd cb */
        if (n == 1)
            return 0;
        long m = mod_pos(i, 2 * n - 2);
        return m < n ? m : 2 * n - 2 - m;
    }
    case AUG_FILL_CONSTANT:
    default:
        return -1;
    }
}

/* ----------------------------------------------------------- translation */

/* out[r][c] = in(r + iy + fy, c + ix + fx), 0 <= fy, fx < 1. */
typedef struct translation {
    long iy, ix;
    float fy, fx;
    long h, w, c;
    aug_fill fill;
    float cval;
} translation;

/* The two source taps of output index @i on one axis, or 0 when the
 * output is the constant. CONSTANT follows scipy's 'constant': no
 * interpolation beyond the edges, the coordinate must lie in [0, n-1].
 * With f == 0 the second tap repeats the first (its weight is 0). */
static int axis_taps(long i, long s, float f, long n, aug_fill fill,
                     long *a, long *b)
{
    long j = i + s;
    if (fill == AUG_FILL_CONSTANT) {
        if (j < 0 || j > n - 1 || (j == n - 1 && f > 0.0f))
            return 0;
        *a = j;
        *b = f > 0.0f ? j + 1 : j;
        return 1;
    }
    *a = ext_index(j, n, fill);
    *b = f > 0.0f ? ext_index(j + 1, n, fill) : *a;
    return 1;
}

static void fill_span(float *o, size_t n, float v)
{
    for (size_t i = 0; i < n; i++)
        o[i] = v;
}

/* The vectorised part: weights are the same for every pixel of a pure
 * translation, and the four taps are contiguous runs. */
static void lerp_span(float *restrict o, const float *restrict a0,
                      const float *restrict a1, const float *restrict b0,
                      const float *restrict b1, size_t n, float fy, float fx)
{
    float gy = 1.0f - fy, gx = 1.0f - fx;
    for (size_t i = 0; i < n; i++)
        o[i] = gy * (gx * a0[i] + fx * a1[i]) + fy * (gx * b0[i] + fx * b1[i]);
}

static int whole(const translation *t)
{
    return t->fy == 0.0f && t->fx == 0.0f;
}

/* One output pixel through the fill mode (border columns). */
static void border_px(float *o, const float *ra, const float *rb, long col,
                      const translation *t)
{
    long ca, cb;
    if (!axis_taps(col, t->ix, t->fx, t->w, t->fill, &ca, &cb)) {
        fill_span(o, (size_t)t->c, t->cval);
        return;
    }
    if (whole(t))
        memcpy(o, ra + ca * t->c, (size_t)t->c * sizeof *o);
    else
        lerp_span(o, ra + ca * t->c, ra + cb * t->c, rb + ca * t->c,
                  rb + cb * t->c, (size_t)t->c, t->fy, t->fx);
}

/* Columns [lo, hi) whose taps are inside the row without any fill. */
static void interior(long *lo, long *hi, const translation *t)
{
    long last = t->fx > 0.0f ? t->w - 1 : t->w; /* c + ix (+1) < w */
    *lo = t->ix < 0 ? -t->ix : 0;
    *hi = last - t->ix < t->w ? last - t->ix : t->w;
    if (*lo > t->w)
        *lo = t->w;
    if (*hi < *lo)
        *hi = *lo;
}

static void translate_row(float *out, const float *src, long r,
                          const translation *t)
{
    size_t row = (size_t)t->w * t->c;
    long a, b;
    if (!axis_taps(r, t->iy, t->fy, t->h, t->fill, &a, &b)) {
        fill_span(out, row, t->cval);
        return;
    }
    const float *ra = src + a * row, *rb = src + b * row;
    long lo, hi;
    interior(&lo, &hi, t);
    for (long col = 0; col < lo; col++)
        border_px(out + col * t->c, ra, rb, col, t);
    if (hi > lo) { /* else lo + ix may lie outside the row */
        const float *a0 = ra + (lo + t->ix) * t->c;
        const float *b0 = rb + (lo + t->ix) * t->c;
        size_t n = (size_t)(hi - lo) * t->c;
        long step = t->fx > 0.0f ? t->c : 0;
        if (whole(t))
            memcpy(out + lo * t->c, a0, n * sizeof *out);
        else
            lerp_span(out + lo * t->c, a0, a0 + step, b0, b0 + step, n,
                      t->fy, t->fx);
    }
    for (long col = hi; col < t->w; col++)
        border_px(out + col * t->c, ra, rb, col, t);
}

static void translate(float *restrict dst, const float *restrict src,
                      const translation *t)
{
    for (long r = 0; r < t->h; r++)
        translate_row(dst + (size_t)r * t->w * t->c, src, r, t);
}

/* ------------------------------------------------------------------ flip */

static double uniform_in(prng_stream *s, double lo, double hi)
{
    return lo + (hi - lo) * prng_uniform(s);
}

void aug_flip_draw(prng_stream *s, const aug_flip_settings *st,
                   aug_flip_params *p)
{
    memset(p, 0, sizeof *p);
    p->horizontal = prng_uniform(s) < st->p_horizontal;
    p->vertical = prng_uniform(s) < st->p_vertical;
}

static void swap_span(float *restrict a, float *restrict b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}

/* Swap pixels i and j of a row of 3-channel pixels. */
static void swap_px3(float *row, size_t i, size_t j)
{
    float a0 = row[3 * i], a1 = row[3 * i + 1], a2 = row[3 * i + 2];
    row[3 * i] = row[3 * j];
    row[3 * i + 1] = row[3 * j + 1];
    row[3 * i + 2] = row[3 * j + 2];
    row[3 * j] = a0;
    row[3 * j + 1] = a1;
    row[3 * j + 2] = a2;
}

/* Pixel order reversed, channels kept. c = 1 vectorises (reverse
 * permutes); a reversal of float triples has no vector form GCC finds, but
 * a constant stride still beats the general loop by 2-3x. */
static void flip_row(float *row, size_t w, size_t c)
{
    if (c == 1) {
        for (size_t i = 0; i < w / 2; i++) {
            float t = row[i];
            row[i] = row[w - 1 - i];
            row[w - 1 - i] = t;
        }
        return;
    }
    if (c == 3) {
        for (size_t i = 0; i < w / 2; i++)
            swap_px3(row, i, w - 1 - i);
        return;
    }
    for (size_t i = 0; i < w / 2; i++)
        for (size_t k = 0; k < c; k++) {
            float t = row[i * c + k];
            row[i * c + k] = row[(w - 1 - i) * c + k];
            row[(w - 1 - i) * c + k] = t;
        }
}

void aug_flip_apply(float *img, uint32_t h, uint32_t w, uint32_t c,
                    const aug_flip_params *p)
{
    size_t row = (size_t)w * c;
    if (p->horizontal)
        for (uint32_t r = 0; r < h; r++)
            flip_row(img + r * row, w, c);
    if (p->vertical)
        for (uint32_t r = 0; r < h / 2; r++)
            swap_span(img + r * row, img + (h - 1 - r) * row, row);
}

/* ----------------------------------------------------------------- shift */

/* Keras 1.1.2: np.random.uniform(-r, r) for a float range, or
 * np.random.choice(r) * np.random.choice([-1, 1]) for an int range;
 * a fraction (< 1) is scaled by the axis size. */
static float shift_draw_axis(prng_stream *s, double range, int integer,
                             uint32_t n)
{
    if (range == 0.0)
        return 0.0f;
    if (integer) {
        double k = prng_below(s, (uint32_t)range);
        return (float)(prng_below(s, 2) ? k : -k);
    }
    double v = uniform_in(s, -range, range);
    return (float)(range < 1.0 ? v * n : v);
}

void aug_shift_draw(prng_stream *s, const aug_shift_settings *st,
                    uint32_t h, uint32_t w, aug_shift_params *p)
{
    memset(p, 0, sizeof *p);
    p->dy = shift_draw_axis(s, st->height_range, st->integer, h);
    p->dx = shift_draw_axis(s, st->width_range, st->integer, w);
}

/* d = i + f with 0 <= f < 1. The difference is exact in double, but its
 * rounding to float can reach 1 (d = -1e-9): that is the next integer. */
static void split(float d, long *i, float *f)
{
    double fl = floor((double)d);
    *i = (long)fl;
    *f = (float)((double)d - fl);
    if (*f >= 1.0f) {
        *i += 1;
        *f = 0.0f;
    }
}

void aug_shift_apply(float *restrict dst, const float *restrict src,
                     uint32_t h, uint32_t w, uint32_t c,
                     const aug_shift_settings *st, const aug_shift_params *p)
{
    translation t = {
        .h = h, .w = w, .c = c, .fill = st->fill, .cval = st->cval,
    };
    split(p->dy, &t.iy, &t.fy);
    split(p->dx, &t.ix, &t.fx);
    translate(dst, src, &t);
}

/* ------------------------------------------------------ pad-and-crop */

void aug_crop_draw(prng_stream *s, const aug_crop_settings *st,
                   aug_crop_params *p)
{
    memset(p, 0, sizeof *p);
    p->y = prng_below(s, 2 * st->pad + 1);
    p->x = prng_below(s, 2 * st->pad + 1);
}

void aug_crop_apply(float *restrict dst, const float *restrict src,
                    uint32_t h, uint32_t w, uint32_t c,
                    const aug_crop_settings *st, const aug_crop_params *p)
{
    translation t = {
        .iy = (long)p->y - (long)st->pad, .ix = (long)p->x - (long)st->pad,
        .h = h, .w = w, .c = c,
        .fill = st->fill, .cval = st->value,
    };
    translate(dst, src, &t);
}

/* ------------------------------------------------------- random erasing */

void aug_erase_defaults(aug_erase_settings *st)
{
    *st = (aug_erase_settings){
        .p = 0.5, .area_lo = 0.02, .area_hi = 0.4, .ratio = 0.3,
        .attempts = 100, .fill = AUG_ERASE_CONSTANT, .lo = 0.0f, .hi = 1.0f,
    };
}

/* Box size of one attempt; 0 when it does not fit. rint: Python's round()
 * is half-to-even, as is the default rounding mode. */
static int erase_size(prng_stream *s, const aug_erase_settings *st,
                      uint32_t h, uint32_t w, uint32_t *eh, uint32_t *ew)
{
    double area = (double)h * w * uniform_in(s, st->area_lo, st->area_hi);
    double ratio = uniform_in(s, st->ratio, 1.0 / st->ratio);
    double bh = rint(sqrt(area * ratio)), bw = rint(sqrt(area / ratio));
    if (bh < 1.0 || bw < 1.0 || bh >= h || bw >= w)
        return 0;
    *eh = (uint32_t)bh;
    *ew = (uint32_t)bw;
    return 1;
}

static void erase_fill_draw(prng_stream *s, const aug_erase_settings *st,
                            uint32_t c, aug_erase_params *p)
{
    p->fill = (uint8_t)st->fill;
    for (uint32_t k = 0; k < c && k < AUG_MAX_CHANNELS; k++) {
        if (st->fill == AUG_ERASE_CONSTANT)
            p->value[k] = st->value[k];
        else if (st->fill == AUG_ERASE_CHANNEL)
            p->value[k] = (float)uniform_in(s, st->lo, st->hi);
    }
    if (st->fill == AUG_ERASE_UNIFORM || st->fill == AUG_ERASE_NORMAL) {
        uint64_t hi = prng_u32(s);
        p->noise_seed = hi << 32 | prng_u32(s);
    }
}

void aug_erase_draw(prng_stream *s, const aug_erase_settings *st, uint32_t h,
                    uint32_t w, uint32_t c, aug_erase_params *p)
{
    memset(p, 0, sizeof *p);
    if (!(prng_uniform(s) < st->p))
        return;
    for (uint32_t a = 0; a < st->attempts; a++) {
        uint32_t eh, ew;
        if (!erase_size(s, st, h, w, &eh, &ew))
            continue;
        p->h = eh;
        p->w = ew;
        p->y = prng_below(s, h - eh + 1);
        p->x = prng_below(s, w - ew + 1);
        erase_fill_draw(s, st, c, p);
        return;
    }
}

static void erase_noise(float *img, uint32_t w, uint32_t c,
                        const aug_erase_settings *st,
                        const aug_erase_params *p)
{
    prng_stream s;
    prng_stream_init(&s, p->noise_seed, AUG_PRNG_NOISE, 0, 0, 0);
    for (uint32_t r = p->y; r < p->y + p->h; r++) {
        float *o = img + ((size_t)r * w + p->x) * c;
        for (size_t i = 0; i < (size_t)p->w * c; i++)
            o[i] = p->fill == AUG_ERASE_NORMAL
                       ? (float)prng_normal(&s)
                       : (float)uniform_in(&s, st->lo, st->hi);
    }
}

void aug_erase_apply(float *img, uint32_t h, uint32_t w, uint32_t c,
                     const aug_erase_settings *st, const aug_erase_params *p)
{
    (void)h;
    if (p->fill == AUG_ERASE_NONE || p->h == 0 || p->w == 0 ||
        c > AUG_MAX_CHANNELS) /* rejected by aug_erase_check */
        return;
    if (p->fill == AUG_ERASE_UNIFORM || p->fill == AUG_ERASE_NORMAL) {
        erase_noise(img, w, c, st, p);
        return;
    }
    for (uint32_t r = p->y; r < p->y + p->h; r++) {
        float *o = img + ((size_t)r * w + p->x) * c;
        for (uint32_t i = 0; i < p->w; i++)
            for (uint32_t k = 0; k < c; k++)
                o[(size_t)i * c + k] = p->value[k];
    }
}

/* -------------------------------------------------------- normalisation */

/* The per-channel mean and std laid out as NORM_PIXELS pixels, so that
 * the loop below runs over contiguous floats with no index modulo c: the
 * form the compiler vectorises. */
#define NORM_PIXELS 64u

void aug_normalize_apply(float *img, size_t pixels, uint32_t c,
                         const aug_normalize_settings *st)
{
    float m[NORM_PIXELS * AUG_MAX_CHANNELS], d[NORM_PIXELS * AUG_MAX_CHANNELS];
    if (c == 0 || c > AUG_MAX_CHANNELS) /* rejected by aug_normalize_check */
        return;
    size_t chunk = (size_t)NORM_PIXELS * c;
    for (size_t j = 0; j < chunk; j++) { /* no j % c: a division each */
        m[j] = j < c ? st->mean[j] : m[j - c];
        d[j] = j < c ? st->std[j] : d[j - c];
    }
    size_t total = pixels * c;
    for (size_t base = 0; base < total; base += chunk) {
        size_t n = total - base < chunk ? total - base : chunk;
        float *x = img + base;
        for (size_t j = 0; j < n; j++)
            x[j] = (x[j] - m[j]) / d[j];
    }
}

/* ---------------------------------------------------------------- CutMix */

static uint32_t clip_to(long v, uint32_t n)
{
    return v < 0 ? 0u : v > (long)n ? n : (uint32_t)v;
}

void aug_cutmix_draw(prng_stream *s, float lam, uint32_t h, uint32_t w,
                     aug_cutmix_params *p)
{
    memset(p, 0, sizeof *p);
    double ratio = sqrt(1.0 - (double)lam);
    long cut_h = (long)(h * ratio), cut_w = (long)(w * ratio);
    long cy = prng_below(s, h), cx = prng_below(s, w);
    p->y0 = clip_to(cy - cut_h / 2, h);
    p->y1 = clip_to(cy + cut_h / 2, h);
    p->x0 = clip_to(cx - cut_w / 2, w);
    p->x1 = clip_to(cx + cut_w / 2, w);
    double area = (double)(p->y1 - p->y0) * (p->x1 - p->x0);
    p->lam = (float)(1.0 - area / ((double)h * w));
}

void aug_cutmix_apply(float *restrict img, const float *restrict partner,
                      uint32_t h, uint32_t w, uint32_t c,
                      const aug_cutmix_params *p)
{
    (void)h;
    size_t n = (size_t)(p->x1 - p->x0) * c;
    for (uint32_t r = p->y0; r < p->y1; r++) {
        size_t at = ((size_t)r * w + p->x0) * c;
        memcpy(img + at, partner + at, n * sizeof *img);
    }
}

/* ------------------------------------------------------ label smoothing */

void aug_smooth_onehot(float *row, uint32_t classes, int32_t label,
                       float eps)
{
    float keep = 1.0f - eps, off = eps / (float)classes;
    /* The same bits as keep * onehot + off, in a loop without a branch. */
    for (uint32_t k = 0; k < classes; k++)
        row[k] = off;
    if (label >= 0 && (uint32_t)label < classes)
        row[label] = keep + off;
}

void aug_smooth_row(float *row, uint32_t classes, float eps)
{
    float keep = 1.0f - eps, off = eps / (float)classes;
    for (uint32_t k = 0; k < classes; k++)
        row[k] = keep * row[k] + off;
}

/* ------------------------------------------------------------ validation */

#define BAD(...)                                                             \
    do {                                                                     \
        snprintf(err, errlen, __VA_ARGS__);                                  \
        return MIXUP_ECONFIG;                                                \
    } while (0)

static int probability_ok(double p)
{
    return p >= 0.0 && p <= 1.0; /* false for NaN */
}

int aug_flip_check(const aug_flip_settings *st, char *err, size_t errlen)
{
    if (!probability_ok(st->p_horizontal))
        BAD("horizontal flip probability %g: expected a number in [0, 1]",
            st->p_horizontal);
    if (!probability_ok(st->p_vertical))
        BAD("vertical flip probability %g: expected a number in [0, 1]",
            st->p_vertical);
    return 0;
}

static int fill_ok(aug_fill f)
{
    return (unsigned)f <= AUG_FILL_MIRROR;
}

/* Ranges up to 2^16 pixels keep every shift exact in float32 to 1/256. */
static int shift_range_check(const char *axis, double r, int integer,
                             char *err, size_t errlen)
{
    if (!(r >= 0.0 && r <= 65536.0))
        BAD("%s shift range %g: expected a fraction in [0, 1) or pixels in "
            "[1, 65536]", axis, r);
    if (integer && r != 0.0 && (r < 1.0 || r != floor(r)))
        BAD("%s shift range %g: integer shifts need a whole number of "
            "pixels >= 1", axis, r);
    return 0;
}

int aug_shift_check(const aug_shift_settings *st, char *err, size_t errlen)
{
    int rc = shift_range_check("height", st->height_range, st->integer, err,
                               errlen);
    if (rc == 0)
        rc = shift_range_check("width", st->width_range, st->integer, err,
                               errlen);
    if (rc < 0)
        return rc;
    if (!fill_ok(st->fill))
        BAD("shift fill mode %d: expected constant, nearest, reflect or wrap",
            (int)st->fill);
    if (!isfinite(st->cval))
        BAD("shift cval %g: expected a finite number", st->cval);
    return 0;
}

int aug_crop_check(const aug_crop_settings *st, char *err, size_t errlen)
{
    if (st->pad > 65535u)
        BAD("crop padding %u: expected at most 65535 pixels", st->pad);
    if (!fill_ok(st->fill))
        BAD("crop padding mode %d: expected constant, edge, reflect or "
            "symmetric", (int)st->fill);
    if (!isfinite(st->value))
        BAD("crop fill value %g: expected a finite number", st->value);
    return 0;
}

static int erase_fill_check(const aug_erase_settings *st, uint32_t c,
                            char *err, size_t errlen)
{
    if ((unsigned)st->fill - AUG_ERASE_CONSTANT >
        AUG_ERASE_NORMAL - AUG_ERASE_CONSTANT)
        BAD("erase fill %d: expected constant, channel, uniform or normal",
            (int)st->fill);
    if (c > AUG_MAX_CHANNELS)
        BAD("erase on images of %u channels: at most %u are supported", c,
            AUG_MAX_CHANNELS);
    if (!(st->lo <= st->hi) || !isfinite(st->lo) || !isfinite(st->hi))
        BAD("erase random fill range [%g, %g]: expected finite lo <= hi",
            st->lo, st->hi);
    for (uint32_t k = 0; k < c; k++)
        if (!isfinite(st->value[k]))
            BAD("erase fill value %g (channel %u): expected a finite number",
                st->value[k], k);
    return 0;
}

int aug_erase_check(const aug_erase_settings *st, uint32_t c, char *err,
                    size_t errlen)
{
    if (!probability_ok(st->p))
        BAD("erase probability %g: expected a number in [0, 1]", st->p);
    if (!(st->area_lo > 0.0 && st->area_lo <= st->area_hi &&
          st->area_hi <= 1.0))
        BAD("erase area fraction [%g, %g]: expected 0 < s_l <= s_h <= 1",
            st->area_lo, st->area_hi);
    if (!(st->ratio > 0.0 && st->ratio <= 1.0))
        BAD("erase aspect ratio r_1 %g: expected 0 < r_1 <= 1 (ratios in "
            "[r_1, 1/r_1])", st->ratio);
    if (st->attempts < 1 || st->attempts > 1000)
        BAD("erase attempts %u: expected 1 to 1000", st->attempts);
    return erase_fill_check(st, c, err, errlen);
}

int aug_normalize_check(const aug_normalize_settings *st, uint32_t c,
                        char *err, size_t errlen)
{
    if (c > AUG_MAX_CHANNELS)
        BAD("normalisation of images of %u channels: at most %u are "
            "supported", c, AUG_MAX_CHANNELS);
    for (uint32_t k = 0; k < c; k++) {
        if (!isfinite(st->mean[k]))
            BAD("normalisation mean %g (channel %u): expected a finite "
                "number", st->mean[k], k);
        if (!isfinite(st->std[k]) || st->std[k] == 0.0f)
            BAD("normalisation std %g (channel %u): expected a finite, "
                "non-zero number", st->std[k], k);
    }
    return 0;
}

int aug_smooth_check(float eps, char *err, size_t errlen)
{
    if (!(eps >= 0.0f && eps < 1.0f))
        BAD("label smoothing %g: expected a number in [0, 1)", eps);
    return 0;
}
