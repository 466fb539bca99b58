/*
 * test_augment.c — every augmentation against a reference written here,
 * independently of server/batch/augment.c: hand-written fill patterns and
 * bilinear values, explicitly padded images, the bounds of the erase and
 * CutMix recipes, and reproducibility of draw + apply from params alone.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "augment.h"
#include "mixup.h"

static void stream(prng_stream *s, uint32_t sample)
{
    prng_stream_init(s, 0x5eed1234abcdull, PRNG_SAMPLE, 3, 7, sample);
}

static void fill_image(float *img, size_t n, float base)
{
    for (size_t i = 0; i < n; i++)
        img[i] = base + (float)i * 0.25f;
}

static size_t at(uint32_t w, uint32_t c, uint32_t r, uint32_t x, uint32_t k)
{
    return ((size_t)r * w + x) * c + k;
}

/* ------------------------------------------------------------------ flip */

Test(augment, flip_matches_index_reference_and_twice_is_identity)
{
    static float img[7 * 6 * 3], orig[7 * 6 * 3];
    const uint32_t dims[][3] = {{7, 6, 3}, {6, 7, 1}, {5, 5, 2}, {1, 4, 3}};
    for (size_t d = 0; d < 4; d++) {
        uint32_t h = dims[d][0], w = dims[d][1], c = dims[d][2];
        size_t n = (size_t)h * w * c;
        for (int m = 0; m < 4; m++) {
            aug_flip_params p = {.horizontal = m & 1, .vertical = m >> 1};
            fill_image(orig, n, -3.0f);
            memcpy(img, orig, n * sizeof *img);
            aug_flip_apply(img, h, w, c, &p);
            for (uint32_t r = 0; r < h; r++)
                for (uint32_t x = 0; x < w; x++)
                    for (uint32_t k = 0; k < c; k++) {
                        uint32_t sr = p.vertical ? h - 1 - r : r;
                        uint32_t sx = p.horizontal ? w - 1 - x : x;
                        cr_assert_eq(img[at(w, c, r, x, k)],
                                     orig[at(w, c, sr, sx, k)],
                                     "%ux%ux%u mode %d at %u,%u,%u", h, w, c,
                                     m, r, x, k);
                    }
            aug_flip_apply(img, h, w, c, &p);
            cr_assert_eq(memcmp(img, orig, n * sizeof *img), 0,
                         "%ux%ux%u mode %d: twice is not identity", h, w, c,
                         m);
        }
    }
}

Test(augment, flip_draw_follows_probabilities)
{
    aug_flip_settings never = {0.0, 0.0}, always = {1.0, 1.0};
    aug_flip_settings half = {0.5, 0.25};
    int nh = 0, nv = 0;
    for (uint32_t j = 0; j < 4000; j++) {
        prng_stream s;
        aug_flip_params p;
        stream(&s, j);
        aug_flip_draw(&s, &never, &p);
        cr_assert(!p.horizontal && !p.vertical);
        stream(&s, j);
        aug_flip_draw(&s, &always, &p);
        cr_assert(p.horizontal && p.vertical);
        stream(&s, j);
        aug_flip_draw(&s, &half, &p);
        nh += p.horizontal;
        nv += p.vertical;
    }
    cr_assert(fabs(nh / 4000.0 - 0.5) < 0.04, "%d", nh);
    cr_assert(fabs(nv / 4000.0 - 0.25) < 0.04, "%d", nv);
}

/* ----------------------------------------------------------------- shift */

static void shift(float *dst, const float *src, uint32_t h, uint32_t w,
                  uint32_t c, aug_fill fill, float cval, float dy, float dx)
{
    aug_shift_settings st = {.fill = fill, .cval = cval};
    aug_shift_params p = {.dy = dy, .dx = dx};
    aug_shift_apply(dst, src, h, w, c, &st, &p);
}

Test(augment, whole_pixel_shift_copies_pixels_and_fills_cval)
{
    enum { H = 6, W = 9, C = 3 };
    static float src[H * W * C], dst[H * W * C];
    fill_image(src, H * W * C, 1.0f);
    const float cval = -7.5f;
    for (int dy = -H - 1; dy <= H + 1; dy++)
        for (int dx = -W - 1; dx <= W + 1; dx++) {
            shift(dst, src, H, W, C, AUG_FILL_CONSTANT, cval, (float)dy,
                  (float)dx);
            for (int r = 0; r < H; r++)
                for (int x = 0; x < W; x++)
                    for (int k = 0; k < C; k++) {
                        int sr = r + dy, sx = x + dx;
                        int in = sr >= 0 && sr < H && sx >= 0 && sx < W;
                        float want = in ? src[at(W, C, sr, sx, k)] : cval;
                        cr_assert_eq(dst[at(W, C, r, x, k)], want,
                                     "shift %d,%d at %d,%d,%d", dy, dx, r, x,
                                     k);
                    }
        }
}

/* Keras' documented patterns for the axis "abcd", at offsets -8..11. The
 * output of a shift by d at column x is the pattern at x + d. */
static const struct {
    aug_fill fill;
    const char *pattern; /* 8 to the left | abcd | 8 to the right */
} patterns[] = {
    {AUG_FILL_NEAREST, "aaaaaaaa" "abcd" "dddddddd"},
    {AUG_FILL_REFLECT, "abcddcba" "abcd" "dcbaabcd"},
    {AUG_FILL_WRAP, "abcdabcd" "abcd" "abcdabcd"},
    {AUG_FILL_MIRROR, "cbabcdcb" "abcd" "cbabcdcb"},
    {AUG_FILL_CONSTANT, "kkkkkkkk" "abcd" "kkkkkkkk"},
};

static float letter(char ch)
{
    return ch == 'k' ? -1.0f : (float)(ch - 'a' + 1) * 10.0f;
}

Test(augment, every_fill_mode_gives_the_documented_pattern)
{
    const float abcd[4] = {10, 20, 30, 40};
    float out[4];
    for (size_t m = 0; m < sizeof patterns / sizeof patterns[0]; m++)
        for (int d = -8; d <= 8; d++) {
            /* horizontal: 1 x 4 */
            shift(out, abcd, 1, 4, 1, patterns[m].fill, -1.0f, 0.0f,
                  (float)d);
            for (int x = 0; x < 4; x++)
                cr_assert_eq(out[x], letter(patterns[m].pattern[x + d + 8]),
                             "fill %d dx %d x %d: %g", patterns[m].fill, d,
                             x, out[x]);
            /* vertical: 4 x 1 */
            shift(out, abcd, 4, 1, 1, patterns[m].fill, -1.0f, (float)d,
                  0.0f);
            for (int r = 0; r < 4; r++)
                cr_assert_eq(out[r], letter(patterns[m].pattern[r + d + 8]),
                             "fill %d dy %d r %d: %g", patterns[m].fill, d,
                             r, out[r]);
        }
}

/* keras-preprocessing 1.1.2: apply_affine_transform(x, tx=1) on rows
 * 1, 2, 3 gives rows 2, 3, 3 with 'nearest' (keras-preprocessing issue
 * #315): positive dy moves the content up. */
Test(augment, shift_sign_is_keras_1_1_2)
{
    const float x[9] = {1, 1, 1, 2, 2, 2, 3, 3, 3};
    const float want[9] = {2, 2, 2, 3, 3, 3, 3, 3, 3};
    float out[9];
    shift(out, x, 3, 3, 1, AUG_FILL_NEAREST, 0.0f, 1.0f, 0.0f);
    for (int i = 0; i < 9; i++)
        cr_assert_eq(out[i], want[i], "%d", i);
}

/* Bilinear values worked out by hand on
 *    0  4  8
 *   16  0  0
 *    0  0 32
 * shifted by dy = 0.25, dx = 0.5: out[r][x] = sample(r + 0.25, x + 0.5).
 *   [0][0]: 0.75*(0.5*0 + 0.5*4) + 0.25*(0.5*16 + 0.5*0)  = 3.5
 *   [0][1]: 0.75*(0.5*4 + 0.5*8) + 0.25*0                 = 4.5
 *   [1][1]: 0.75*0 + 0.25*(0.5*0 + 0.5*32)                = 4
 *   [0][2]: column 2.5 is beyond the edge: constant -> cval; nearest and
 *           reflect repeat column 2: 0.75*8 + 0.25*0 = 6; wrap takes
 *           column 0: 0.75*(0.5*8 + 0.5*0) + 0.25*(0.5*0 + 0.5*16) = 5
 *   [2][2]: nearest 32; wrap rows 2,0 cols 2,0:
 *           0.75*(0.5*32 + 0) + 0.25*(0.5*8 + 0) = 13 */
Test(augment, sub_pixel_shift_matches_hand_computed_bilinear)
{
    const float img[9] = {0, 4, 8, 16, 0, 0, 0, 0, 32};
    float out[9];
    const float cval = -2.0f;
    shift(out, img, 3, 3, 1, AUG_FILL_CONSTANT, cval, 0.25f, 0.5f);
    cr_assert_eq(out[0], 3.5f);
    cr_assert_eq(out[1], 4.5f);
    cr_assert_eq(out[4], 4.0f);
    cr_assert_eq(out[2], cval);
    for (int x = 0; x < 3; x++)
        cr_assert_eq(out[6 + x], cval, "row 2.25 is beyond the edge");
    shift(out, img, 3, 3, 1, AUG_FILL_NEAREST, cval, 0.25f, 0.5f);
    cr_assert_eq(out[0], 3.5f);
    cr_assert_eq(out[2], 6.0f);
    cr_assert_eq(out[8], 32.0f);
    shift(out, img, 3, 3, 1, AUG_FILL_REFLECT, cval, 0.25f, 0.5f);
    cr_assert_eq(out[2], 6.0f);
    shift(out, img, 3, 3, 1, AUG_FILL_WRAP, cval, 0.25f, 0.5f);
    cr_assert_eq(out[2], 5.0f);
    cr_assert_eq(out[8], 13.0f);
    /* dy = -0.5: row 0 samples -0.5 (constant: cval), row 1 samples 0.5. */
    shift(out, img, 3, 3, 1, AUG_FILL_CONSTANT, cval, -0.5f, 0.0f);
    cr_assert_eq(out[0], cval);
    cr_assert_eq(out[3], 8.0f);  /* 0.5*0 + 0.5*16 */
    cr_assert_eq(out[4], 2.0f);  /* 0.5*4 + 0.5*0 */
    cr_assert_eq(out[8], 16.0f); /* 0.5*0 + 0.5*32 */
}

/* Reference extension by repeated folding (not by modulo, as the daemon
 * does it). */
static int ref_fold(int i, int n, aug_fill fill)
{
    switch (fill) {
    case AUG_FILL_NEAREST:
        return i < 0 ? 0 : i >= n ? n - 1 : i;
    case AUG_FILL_WRAP:
        while (i < 0)
            i += n;
        while (i >= n)
            i -= n;
        return i;
    case AUG_FILL_REFLECT:
        while (i < 0 || i >= n)
            i = i < 0 ? -i - 1 : 2 * n - 1 - i;
        return i;
    case AUG_FILL_MIRROR:
        while (n > 1 && (i < 0 || i >= n))
            i = i < 0 ? -i : 2 * n - 2 - i;
        return n > 1 ? i : 0;
    default:
        return -1;
    }
}

/* scipy order=1 at (y, x): bilinear over taps through the fill; with
 * 'constant', cval when the coordinate is outside [0, n-1]. */
static double ref_sample(const float *img, int h, int w, int c, int k,
                         double y, double x, aug_fill fill, double cval)
{
    if (fill == AUG_FILL_CONSTANT && (y < 0 || y > h - 1 || x < 0 || x > w - 1))
        return cval;
    int y0 = (int)floor(y), x0 = (int)floor(x);
    double fy = y - y0, fx = x - x0, v = 0;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            double wgt = (dy ? fy : 1 - fy) * (dx ? fx : 1 - fx);
            if (wgt == 0)
                continue;
            int yy = fill == AUG_FILL_CONSTANT ? y0 + dy
                                               : ref_fold(y0 + dy, h, fill);
            int xx = fill == AUG_FILL_CONSTANT ? x0 + dx
                                               : ref_fold(x0 + dx, w, fill);
            v += wgt * img[((size_t)yy * w + xx) * c + k];
        }
    return v;
}

Test(augment, shift_matches_bilinear_reference_in_every_mode)
{
    enum { H = 5, W = 7, C = 2 };
    float src[H * W * C], dst[H * W * C];
    for (int i = 0; i < H * W * C; i++)
        src[i] = (float)((i * 37) % 23) - 5.0f;
    const float shifts[] = {0.0f, 0.25f, -0.75f, 1.5f, -3.125f, 6.5f, -8.875f,
                            0.0078125f};
    for (aug_fill f = AUG_FILL_CONSTANT; f <= AUG_FILL_MIRROR; f++)
        for (size_t a = 0; a < 8; a++)
            for (size_t b = 0; b < 8; b++) {
                float dy = shifts[a], dx = shifts[7 - b];
                shift(dst, src, H, W, C, f, 3.0f, dy, dx);
                for (int r = 0; r < H; r++)
                    for (int x = 0; x < W; x++)
                        for (int k = 0; k < C; k++) {
                            double want = ref_sample(src, H, W, C, k, r + dy,
                                                     x + dx, f, 3.0);
                            float got = dst[at(W, C, r, x, k)];
                            cr_assert(fabs(got - want) < 1e-5,
                                      "fill %d shift %g,%g at %d,%d,%d: %.9g "
                                      "vs %.9g", f, dy, dx, r, x, k, got,
                                      want);
                        }
            }
}

Test(augment, shift_draw_ranges)
{
    aug_shift_settings frac = {.height_range = 0.1, .width_range = 0.2};
    aug_shift_settings pix = {.height_range = 3.0, .width_range = 0.0};
    aug_shift_settings ints = {.height_range = 4, .width_range = 2,
                               .integer = 1};
    int seen[7] = {0};
    float far_y = 0, far_x = 0, far_pix = 0;
    for (uint32_t j = 0; j < 3000; j++) {
        prng_stream s;
        aug_shift_params p;
        stream(&s, j);
        aug_shift_draw(&s, &frac, 30, 50, &p);
        cr_assert(p.dy >= -3.0f && p.dy < 3.0f, "%g", p.dy);
        cr_assert(p.dx >= -10.0f && p.dx < 10.0f, "%g", p.dx);
        far_y = fmaxf(far_y, fabsf(p.dy));
        far_x = fmaxf(far_x, fabsf(p.dx));
        stream(&s, j);
        aug_shift_draw(&s, &pix, 30, 50, &p);
        cr_assert(p.dy >= -3.0f && p.dy < 3.0f && p.dx == 0.0f);
        far_pix = fmaxf(far_pix, fabsf(p.dy));
        stream(&s, j);
        aug_shift_draw(&s, &ints, 30, 50, &p);
        cr_assert(p.dy == floorf(p.dy) && fabsf(p.dy) <= 3.0f, "%g", p.dy);
        cr_assert(p.dx == floorf(p.dx) && fabsf(p.dx) <= 1.0f, "%g", p.dx);
        seen[(int)p.dy + 3]++;
    }
    /* The whole range is used: 0.1 * 30 = 3 rows, 0.2 * 50 = 10 columns. */
    cr_assert(far_y > 2.9f && far_x > 9.9f && far_pix > 2.9f, "%g %g %g",
              far_y, far_x, far_pix);
    for (int i = 0; i < 7; i++)
        cr_assert(seen[i] > 0, "integer shift %d never drawn", i - 3);
}

/* ------------------------------------------------------ pad-and-crop */

/* The padded image, built explicitly, one mode at a time. */
static float ref_padded_at(const float *img, int h, int w, int c, int p,
                           aug_fill fill, float value, int r, int x, int k)
{
    int sr = r - p, sx = x - p;
    if (fill == AUG_FILL_CONSTANT &&
        (sr < 0 || sr >= h || sx < 0 || sx >= w))
        return value;
    if (fill != AUG_FILL_CONSTANT) {
        sr = ref_fold(sr, h, fill);
        sx = ref_fold(sx, w, fill);
    }
    return img[((size_t)sr * w + sx) * c + k];
}

Test(augment, crop_is_a_window_of_the_padded_image)
{
    enum { H = 5, W = 6, C = 2, P = 3, PH = H + 2 * P, PW = W + 2 * P };
    float src[H * W * C], dst[H * W * C], padded[PH * PW * C];
    fill_image(src, H * W * C, 2.0f);
    for (aug_fill f = AUG_FILL_CONSTANT; f <= AUG_FILL_MIRROR; f++) {
        aug_crop_settings st = {.pad = P, .fill = f, .value = -4.0f};
        for (int r = 0; r < PH; r++)
            for (int x = 0; x < PW; x++)
                for (int k = 0; k < C; k++)
                    padded[at(PW, C, r, x, k)] =
                        ref_padded_at(src, H, W, C, P, f, -4.0f, r, x, k);
        int seen[2 * P + 1][2 * P + 1];
        memset(seen, 0, sizeof seen);
        for (uint32_t j = 0; j < 2000; j++) {
            prng_stream s;
            aug_crop_params p;
            stream(&s, j);
            aug_crop_draw(&s, &st, &p);
            cr_assert(p.y <= 2 * P && p.x <= 2 * P);
            seen[p.y][p.x]++;
            aug_crop_apply(dst, src, H, W, C, &st, &p);
            for (uint32_t r = 0; r < H; r++)
                for (uint32_t x = 0; x < W; x++)
                    for (uint32_t k = 0; k < C; k++)
                        cr_assert_eq(dst[at(W, C, r, x, k)],
                                     padded[at(PW, C, r + p.y, x + p.x, k)],
                                     "fill %d offset %u,%u at %u,%u,%u", f,
                                     p.y, p.x, r, x, k);
        }
        for (int y = 0; y <= 2 * P; y++)
            for (int x = 0; x <= 2 * P; x++)
                cr_assert(seen[y][x] > 0, "offset %d,%d never drawn", y, x);
    }
}

/* CIFAR recipe: pad 4 with zeros, crop 32 x 32, offsets in {0..8}. */
Test(augment, cifar_crop_border_is_zero)
{
    enum { S = 32, C = 3 };
    static float src[S * S * C], dst[S * S * C];
    for (int i = 0; i < S * S * C; i++)
        src[i] = 1.0f;
    aug_crop_settings st = {.pad = 4, .fill = AUG_FILL_CONSTANT};
    aug_crop_params p = {.y = 0, .x = 8};
    aug_crop_apply(dst, src, S, S, C, &st, &p);
    for (uint32_t r = 0; r < S; r++)
        for (uint32_t x = 0; x < S; x++) {
            int inside = r >= 4 && x < S - 4;
            cr_assert_eq(dst[at(S, C, r, x, 1)], inside ? 1.0f : 0.0f);
        }
}

/* ------------------------------------------------------- random erasing */

/* A box h x w can come from some area a in [s_l, s_h] * S and ratio
 * r in [r_1, 1/r_1] with h = round(sqrt(a r)), w = round(sqrt(a / r)) only
 * if these hold (|h - sqrt(a r)| <= 1/2, the same for w). */
static void check_erase_box(const aug_erase_params *p,
                            const aug_erase_settings *st, uint32_t h,
                            uint32_t w)
{
    double S = (double)h * w, bh = p->h, bw = p->w;
    cr_assert(p->h >= 1 && p->w >= 1 && p->h < h && p->w < w, "%ux%u",
              p->h, p->w);
    cr_assert(p->y + p->h <= h && p->x + p->w <= w, "box at %u,%u", p->y,
              p->x);
    cr_assert((bh + 0.5) * (bw + 0.5) >= st->area_lo * S, "%ux%u", p->h,
              p->w);
    cr_assert((bh - 0.5) * (bw - 0.5) <= st->area_hi * S, "%ux%u", p->h,
              p->w);
    cr_assert((bh + 0.5) / (bw - 0.5) >= st->ratio, "%ux%u", p->h, p->w);
    cr_assert((bh - 0.5) / (bw + 0.5) <= 1.0 / st->ratio, "%ux%u", p->h,
              p->w);
}

Test(augment, erase_box_inside_with_area_and_aspect_in_bounds)
{
    aug_erase_settings st;
    aug_erase_defaults(&st);
    const uint32_t dims[][2] = {{32, 32}, {24, 40}, {28, 28}};
    for (size_t d = 0; d < 3; d++) {
        int erased = 0;
        for (uint32_t j = 0; j < 4000; j++) {
            prng_stream s;
            aug_erase_params p;
            stream(&s, j);
            aug_erase_draw(&s, &st, dims[d][0], dims[d][1], 3, &p);
            if (p.fill == AUG_ERASE_NONE) {
                cr_assert(p.h == 0 && p.w == 0);
                continue;
            }
            erased++;
            cr_assert_eq(p.fill, AUG_ERASE_CONSTANT);
            check_erase_box(&p, &st, dims[d][0], dims[d][1]);
        }
        cr_assert(fabs(erased / 4000.0 - st.p) < 0.04, "%d erased", erased);
    }
}

Test(augment, erase_fills_the_box_and_nothing_else)
{
    enum { H = 20, W = 16, C = 3 };
    float img[H * W * C], orig[H * W * C];
    aug_erase_settings st;
    aug_erase_defaults(&st);
    st.p = 1.0;
    st.lo = -0.5f;
    st.hi = 2.0f;
    const aug_erase_fill fills[] = {AUG_ERASE_CONSTANT, AUG_ERASE_CHANNEL,
                                    AUG_ERASE_UNIFORM, AUG_ERASE_NORMAL};
    st.value[0] = 0.25f, st.value[1] = -1.0f, st.value[2] = 9.0f;
    for (size_t f = 0; f < 4; f++) {
        st.fill = fills[f];
        for (uint32_t j = 0; j < 200; j++) {
            prng_stream s;
            aug_erase_params p;
            stream(&s, j);
            aug_erase_draw(&s, &st, H, W, C, &p);
            cr_assert_eq(p.fill, fills[f]);
            fill_image(orig, H * W * C, 100.0f);
            memcpy(img, orig, sizeof img);
            aug_erase_apply(img, H, W, C, &st, &p);
            for (uint32_t r = 0; r < H; r++)
                for (uint32_t x = 0; x < W; x++)
                    for (uint32_t k = 0; k < C; k++) {
                        float v = img[at(W, C, r, x, k)];
                        int in = r >= p.y && r < p.y + p.h && x >= p.x &&
                                 x < p.x + p.w;
                        if (!in)
                            cr_assert_eq(v, orig[at(W, C, r, x, k)]);
                        else if (fills[f] == AUG_ERASE_CONSTANT)
                            cr_assert_eq(v, st.value[k]);
                        else if (fills[f] == AUG_ERASE_CHANNEL)
                            cr_assert(v == p.value[k] && v >= st.lo &&
                                      v <= st.hi);
                        else if (fills[f] == AUG_ERASE_UNIFORM)
                            cr_assert(v >= st.lo && v <= st.hi, "%g", v);
                        else
                            cr_assert(isfinite(v) && fabsf(v) < 10.0f);
                    }
        }
    }
}

Test(augment, erase_attempts_exhausted_leaves_image_unchanged)
{
    enum { S = 16, C = 2 };
    float img[S * S * C], orig[S * S * C];
    aug_erase_settings st;
    aug_erase_defaults(&st);
    /* Area = the whole image, square: h = w = 16, never < 16. */
    st.p = 1.0;
    st.area_lo = st.area_hi = 1.0;
    st.ratio = 1.0;
    fill_image(orig, S * S * C, 5.0f);
    for (uint32_t j = 0; j < 50; j++) {
        prng_stream s;
        aug_erase_params p;
        stream(&s, j);
        aug_erase_draw(&s, &st, S, S, C, &p);
        cr_assert_eq(p.fill, AUG_ERASE_NONE);
        cr_assert(p.h == 0 && p.w == 0);
        memcpy(img, orig, sizeof img);
        aug_erase_apply(img, S, S, C, &st, &p);
        cr_assert_eq(memcmp(img, orig, sizeof img), 0);
    }
}

/* -------------------------------------------------------- normalisation */

Test(augment, normalize_per_channel)
{
    enum { PIX = 1000 }; /* more than one internal chunk, not a multiple */
    static float img[PIX * 4];
    aug_normalize_settings st = {{0.4914f, 0.4822f, 0.4465f, -1.0f},
                                 {0.2470f, 0.2435f, 0.2616f, 3.0f}};
    for (uint32_t c = 1; c <= 4; c++) {
        fill_image(img, PIX * c, 0.0f);
        aug_normalize_apply(img, PIX, c, &st);
        for (size_t i = 0; i < PIX; i++)
            for (uint32_t k = 0; k < c; k++) {
                float x = (float)(i * c + k) * 0.25f;
                cr_assert_eq(img[i * c + k], (x - st.mean[k]) / st.std[k],
                             "c %u pixel %zu channel %u", c, i, k);
            }
    }
}

/* ---------------------------------------------------------------- CutMix */

Test(augment, cutmix_box_pixels_and_corrected_lambda)
{
    enum { H = 12, W = 20, C = 3 };
    float base[H * W * C], partner[H * W * C], img[H * W * C];
    fill_image(base, H * W * C, 0.0f);
    fill_image(partner, H * W * C, 1000.0f);
    for (int i = 0; i <= 100; i++) {
        float lam = (float)i / 100.0f;
        long cut_h = (long)(H * sqrt(1.0 - lam));
        long cut_w = (long)(W * sqrt(1.0 - lam));
        for (uint32_t j = 0; j < 20; j++) {
            prng_stream s;
            aug_cutmix_params p;
            stream(&s, 1000 * i + j);
            aug_cutmix_draw(&s, lam, H, W, &p);
            cr_assert(p.y0 <= p.y1 && p.y1 <= H && p.x0 <= p.x1 && p.x1 <= W);
            /* timm: [c - cut//2, c + cut//2), then clipped */
            cr_assert((long)(p.y1 - p.y0) <= 2 * (cut_h / 2));
            cr_assert((long)(p.x1 - p.x0) <= 2 * (cut_w / 2));
            memcpy(img, base, sizeof img);
            aug_cutmix_apply(img, partner, H, W, C, &p);
            long inside = 0;
            for (uint32_t r = 0; r < H; r++)
                for (uint32_t x = 0; x < W; x++) {
                    int in = r >= p.y0 && r < p.y1 && x >= p.x0 && x < p.x1;
                    inside += in;
                    for (uint32_t k = 0; k < C; k++)
                        cr_assert_eq(img[at(W, C, r, x, k)],
                                     (in ? partner : base)[at(W, C, r, x, k)]);
                }
            float want = (float)(1.0 - (double)inside / (H * W));
            cr_assert_eq(p.lam, want, "lam %g: %g vs %g", lam, p.lam, want);
        }
    }
}

/* ------------------------------------------------------ label smoothing */

Test(augment, label_smoothing_rows_sum_to_one_and_floor_is_eps_over_k)
{
    static float row[1000], soft[1000];
    const uint32_t ks[] = {2, 10, 1000};
    const float eps[] = {0.0f, 0.1f, 0.3f, 0.9f};
    for (size_t a = 0; a < 3; a++)
        for (size_t b = 0; b < 4; b++) {
            uint32_t K = ks[a];
            float floor_v = eps[b] / (float)K;
            aug_smooth_onehot(row, K, (int32_t)(K / 2), eps[b]);
            for (uint32_t k = 0; k < K; k++)
                soft[k] = (float)((k * 7) % 5); /* then made a distribution */
            double total = 0;
            for (uint32_t k = 0; k < K; k++)
                total += soft[k];
            for (uint32_t k = 0; k < K; k++)
                soft[k] = (float)(soft[k] / total);
            aug_smooth_row(soft, K, eps[b]);
            double s1 = 0, s2 = 0;
            for (uint32_t k = 0; k < K; k++) {
                cr_assert(row[k] >= floor_v && soft[k] >= floor_v,
                          "K %u eps %g k %u", K, eps[b], k);
                s1 += row[k];
                s2 += soft[k];
            }
            cr_assert(fabs(s1 - 1.0) < 1e-6 * K, "K %u eps %g: %.9g", K,
                      eps[b], s1);
            cr_assert(fabs(s2 - 1.0) < 1e-6 * K, "K %u eps %g: %.9g", K,
                      eps[b], s2);
            cr_assert_eq(row[K / 2], (1.0f - eps[b]) + floor_v);
        }
}

/* ------------------------------------------------- reproducibility */

typedef struct all_params {
    aug_flip_params flip;
    aug_shift_params shift;
    aug_crop_params crop;
    aug_erase_params erase;
    aug_cutmix_params cutmix;
} all_params;

static const aug_flip_settings FLIP = {0.5, 0.5};
static const aug_shift_settings SHIFT = {.height_range = 0.2,
                                         .width_range = 0.15,
                                         .fill = AUG_FILL_REFLECT};
static const aug_crop_settings CROP = {.pad = 2, .fill = AUG_FILL_MIRROR};

static void draw_all(uint32_t sample, const aug_erase_settings *er,
                     all_params *p)
{
    prng_stream s;
    stream(&s, sample);
    memset(p, 0, sizeof *p); /* the gaps between the members */
    aug_flip_draw(&s, &FLIP, &p->flip);
    aug_shift_draw(&s, &SHIFT, 9, 11, &p->shift);
    aug_crop_draw(&s, &CROP, &p->crop);
    aug_erase_draw(&s, er, 9, 11, 3, &p->erase);
    aug_cutmix_draw(&s, (float)prng_uniform(&s), 9, 11, &p->cutmix);
}

static void apply_all(float *out, const float *x, const float *partner,
                      const aug_erase_settings *er, const all_params *p)
{
    float tmp[9 * 11 * 3];
    aug_shift_apply(tmp, x, 9, 11, 3, &SHIFT, &p->shift);
    aug_crop_apply(out, tmp, 9, 11, 3, &CROP, &p->crop);
    aug_flip_apply(out, 9, 11, 3, &p->flip);
    aug_erase_apply(out, 9, 11, 3, er, &p->erase);
    aug_cutmix_apply(out, partner, 9, 11, 3, &p->cutmix);
}

/* What a client decodes from the wire: the fields, one by one, into a
 * fresh struct (no padding bytes or anything else carried over). */
static void from_wire(all_params *q, const all_params *p)
{
    memset(q, 0xa5, sizeof *q);
    q->flip = (aug_flip_params){p->flip.horizontal, p->flip.vertical};
    q->shift = (aug_shift_params){p->shift.dy, p->shift.dx};
    q->crop = (aug_crop_params){p->crop.y, p->crop.x};
    q->erase = (aug_erase_params){.y = p->erase.y, .x = p->erase.x,
                                  .h = p->erase.h, .w = p->erase.w,
                                  .fill = p->erase.fill,
                                  .noise_seed = p->erase.noise_seed};
    memcpy(q->erase.value, p->erase.value, sizeof q->erase.value);
    q->cutmix = (aug_cutmix_params){p->cutmix.y0, p->cutmix.y1, p->cutmix.x0,
                                    p->cutmix.x1, p->cutmix.lam};
}

Test(augment, draws_reproducible_and_apply_recomputes_from_params)
{
    enum { N = 9 * 11 * 3 };
    float x[N], partner[N], a[N], b[N];
    fill_image(x, N, -1.0f);
    fill_image(partner, N, 50.0f);
    aug_erase_settings er;
    aug_erase_defaults(&er);
    er.p = 0.9;
    const aug_erase_fill fills[] = {AUG_ERASE_CONSTANT, AUG_ERASE_CHANNEL,
                                    AUG_ERASE_UNIFORM, AUG_ERASE_NORMAL};
    int distinct = 0;
    for (size_t f = 0; f < 4; f++) {
        er.fill = fills[f];
        for (uint32_t j = 0; j < 100; j++) {
            all_params p1, p2, q;
            draw_all(j, &er, &p1);
            draw_all(j, &er, &p2);
            cr_assert_eq(memcmp(&p1, &p2, sizeof p1), 0, "sample %u", j);
            apply_all(a, x, partner, &er, &p1);
            from_wire(&q, &p1);
            apply_all(b, x, partner, &er, &q);
            cr_assert_eq(memcmp(a, b, sizeof a), 0, "fill %zu sample %u", f,
                         j);
            all_params other;
            draw_all(j + 1, &er, &other);
            distinct += memcmp(&p1, &other, sizeof p1) != 0;
        }
    }
    cr_assert(distinct >= 399, "different streams, different draws");
}

/* ------------------------------------------------------------ validation */

Test(augment, checks_reject_bad_settings_with_a_message)
{
    char err[256] = "";
    aug_erase_settings er;
    aug_erase_defaults(&er);
    cr_assert_eq(aug_erase_check(&er, 3, err, sizeof err), 0);
    er.area_lo = 0.5;
    cr_assert_eq(aug_erase_check(&er, 3, err, sizeof err), MIXUP_ECONFIG);
    cr_assert(strstr(err, "0.5") != NULL, "%s", err);
    aug_erase_defaults(&er);
    cr_assert_eq(aug_erase_check(&er, 5, err, sizeof err), MIXUP_ECONFIG);
    aug_flip_settings fl = {1.5, 0};
    cr_assert_eq(aug_flip_check(&fl, err, sizeof err), MIXUP_ECONFIG);
    aug_shift_settings sh = {.height_range = 2.5, .integer = 1};
    cr_assert_eq(aug_shift_check(&sh, err, sizeof err), MIXUP_ECONFIG);
    sh.height_range = NAN;
    cr_assert_eq(aug_shift_check(&sh, err, sizeof err), MIXUP_ECONFIG);
    sh = (aug_shift_settings){.height_range = 0.1, .width_range = 4};
    cr_assert_eq(aug_shift_check(&sh, err, sizeof err), 0);
    aug_normalize_settings no = {{0, 0, 0}, {1, 0, 1}};
    cr_assert_eq(aug_normalize_check(&no, 3, err, sizeof err), MIXUP_ECONFIG);
    cr_assert_eq(aug_smooth_check(1.0f, err, sizeof err), MIXUP_ECONFIG);
    cr_assert_eq(aug_smooth_check(0.1f, err, sizeof err), 0);
    aug_crop_settings cr = {.pad = 4, .fill = (aug_fill)9};
    cr_assert_eq(aug_crop_check(&cr, err, sizeof err), MIXUP_ECONFIG);
}
