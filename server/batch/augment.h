/*
 * augment.h — per-sample augmentations of one float32 HWC image.
 *
 * Each augmentation is split in two:
 *   draw:  settings + a prng_stream -> a small params struct. The params
 *          are the provenance that goes on the wire: every drawn number is
 *          an explicit field (integers for pixel offsets and boxes).
 *   apply: a pure function of (image, settings, params). Recomputing apply
 *          from recorded params gives the same bytes, which is what makes a
 *          batch checkable from outside (DESIGN.md, "The determinism
 *          contract").
 * Kernels are plain loops: no sockets, threads or allocation. Draws never
 * look at pixels, so the caller may draw everything first and apply later.
 *
 * Which reference each one follows, and where it differs:
 *
 * Shift: keras-preprocessing 1.1.2 ImageDataGenerator.random_transform +
 *   apply_affine_transform (scipy.ndimage.affine_transform, order=1).
 *   Keras 1.1.2 draws tx from height_shift_range (times H when < 1) and ty
 *   from width_shift_range (times W), then computes
 *       out[r][c] = in(r + tx, c + ty)
 *   i.e. a positive shift moves the content up/left. params.dy is Keras' tx
 *   and params.dx is Keras' ty, with that same sign. (Later versions, after
 *   keras-preprocessing PR #318, swap the axes: tf-keras issue #310.)
 *   Order 1 splines are exactly bilinear interpolation; differences:
 *   - fill CONSTANT follows scipy's 'constant': an output whose sample
 *     coordinate lies outside [0, n-1] on either axis is cval, no blending
 *     with cval across the border (scipy's 'grid-constant' would blend).
 *   - fill WRAP is the documented abcd|abcd|abcd (scipy 'grid-wrap');
 *     scipy's own 'wrap' has period n-1 for interpolation (its first and
 *     last samples overlap), so sub-pixel WRAP output differs from Keras
 *     under scipy >= 1.6 at the seam. Whole-pixel WRAP is the documented
 *     pattern.
 *   - arithmetic is float32 (Keras: float64 then cast), so sub-pixel
 *     values can differ from Keras in the last bits.
 *   - an integral shift copies pixels exactly (scipy's interpolation may
 *     differ in the last bit when the coordinate picks up rounding error).
 *
 * Pad-and-crop: torchvision RandomCrop(size, padding=p, padding_mode=...):
 *   offsets drawn row first, each uniform in {0..2p}.
 *
 * Random erasing: Zhong et al., arXiv:1708.04896, as the authors' code
 *   (github zhunzhong07/Random-Erasing) does it: aspect ratio r uniform in
 *   [r_1, 1/r_1] (the paper; torchvision draws log-uniform), box
 *   h = round(sqrt(S_e r)), w = round(sqrt(S_e / r)) with Python's round
 *   (half to even), accepted if 1 <= h < H and 1 <= w < W (strict, as the
 *   reference code and torchvision), then the top-left corner uniform among
 *   the positions where the box fits (rows first). The paper's Algorithm 1
 *   instead draws the corner anywhere and rejects boxes that overflow; the
 *   reference code and torchvision do not. Up to @attempts tries (100, as
 *   the reference code; torchvision uses 10); none fits -> image unchanged.
 *
 * CutMix: timm's rand_bbox + cutmix_bbox_and_lam(correct_lam=True):
 *   cut = int(size * sqrt(1 - lam)), centre uniform in [0, H) x [0, W)
 *   (rows first), box [c - cut//2, c + cut//2) clipped to the image (so an
 *   odd cut loses one pixel, as in timm), lam = 1 - box area / image area.
 *
 * Random draws use prng.h; which stream feeds which augmentation is the
 * caller's choice (see the note at aug_erase_params for the noise stream).
 */
#ifndef SRV_AUGMENT_H
#define SRV_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "prng.h"

/* Per-channel settings and params (normalisation, erase fill) hold this
 * many channels; aug_*_check rejects images with more. */
#define AUG_MAX_CHANNELS 4u

/* prng domain of the per-pixel erase noise stream (prng.h). */
#define AUG_PRNG_NOISE PRNG_NOISE

/* How samples beyond the border are made up, for an axis "abcd". The same
 * word means different things in Keras and torchvision, hence the names:
 *   CONSTANT  kkkk|abcd|kkkk   Keras 'constant' (cval), torchvision 'constant'
 *   NEAREST   aaaa|abcd|dddd   Keras 'nearest', torchvision 'edge'
 *   REFLECT   dcba|abcd|dcba   Keras/scipy 'reflect', torchvision 'symmetric'
 *   WRAP      abcd|abcd|abcd   Keras 'wrap'
 *   MIRROR    dcb|abcd|cba     torchvision/numpy 'reflect' (edge not repeated)
 */
typedef enum aug_fill {
    AUG_FILL_CONSTANT = 0,
    AUG_FILL_NEAREST = 1,
    AUG_FILL_REFLECT = 2,
    AUG_FILL_WRAP = 3,
    AUG_FILL_MIRROR = 4,
} aug_fill;

/* ------------------------------------------------------------------ flip */

typedef struct aug_flip_settings {
    double p_horizontal; /* probability of a left-right flip */
    double p_vertical;   /* probability of an up-down flip */
} aug_flip_settings;

typedef struct aug_flip_params {
    uint8_t horizontal, vertical; /* 0 or 1 */
} aug_flip_params;

/* Two uniforms, horizontal first; a flip happens when u < p. */
void aug_flip_draw(prng_stream *s, const aug_flip_settings *st,
                   aug_flip_params *p);

/* In place. Flipping twice with the same params is the identity. */
void aug_flip_apply(float *img, uint32_t h, uint32_t w, uint32_t c,
                    const aug_flip_params *p);

/* ----------------------------------------------------------------- shift */

typedef struct aug_shift_settings {
    /* Keras height_shift_range / width_shift_range: a fraction of the size
     * when < 1, pixels when >= 1; 0 = no shift on that axis. */
    double height_range, width_range;
    /* Keras' int ranges: |shift| uniform in {0..r-1} with a random sign
     * (np.random.choice(r) * choice([-1, 1])); needs r >= 1, integral. */
    int integer;
    aug_fill fill;
    float cval; /* for AUG_FILL_CONSTANT */
} aug_shift_settings;

typedef struct aug_shift_params {
    float dy, dx; /* pixels: out[r][c] = in(r + dy, c + dx); Keras tx, ty */
} aug_shift_params;

/* dy first (Keras' tx), then dx, each uniform in [-r, r) scaled to pixels
 * (or Keras' int draw); an axis with range 0 draws nothing. */
void aug_shift_draw(prng_stream *s, const aug_shift_settings *st,
                    uint32_t h, uint32_t w, aug_shift_params *p);

/* @dst and @src are distinct h*w*c images. Integral shifts copy pixels
 * exactly; others interpolate bilinearly (float32). */
void aug_shift_apply(float *restrict dst, const float *restrict src,
                     uint32_t h, uint32_t w, uint32_t c,
                     const aug_shift_settings *st, const aug_shift_params *p);

/* ------------------------------------------------------ pad-and-crop */

typedef struct aug_crop_settings {
    uint32_t pad;  /* p: pad each side by p, crop back to h x w */
    aug_fill fill; /* torchvision padding_mode: see enum aug_fill */
    float value;   /* for AUG_FILL_CONSTANT (torchvision fill, 0) */
} aug_crop_settings;

typedef struct aug_crop_params {
    uint32_t y, x; /* top-left of the crop in the padded image, 0..2p */
} aug_crop_params;

/* y first (torchvision draws i, then j), each uniform in {0..2p}. */
void aug_crop_draw(prng_stream *s, const aug_crop_settings *st,
                   aug_crop_params *p);

/* dst = window (y, x, h, w) of src padded by p; distinct buffers. The
 * padded image is never materialised. */
void aug_crop_apply(float *restrict dst, const float *restrict src,
                    uint32_t h, uint32_t w, uint32_t c,
                    const aug_crop_settings *st, const aug_crop_params *p);

/* ------------------------------------------------------- random erasing */

typedef enum aug_erase_fill {
    AUG_ERASE_NONE = 0,     /* params only: nothing was erased */
    AUG_ERASE_CONSTANT = 1, /* settings value[k] per channel */
    AUG_ERASE_CHANNEL = 2,  /* one uniform [lo, hi) value per channel */
    AUG_ERASE_UNIFORM = 3,  /* per-pixel uniform [lo, hi) noise (paper) */
    AUG_ERASE_NORMAL = 4,   /* per-pixel N(0, 1) (torchvision 'random') */
} aug_erase_fill;

typedef struct aug_erase_settings {
    double p;                /* probability of trying to erase */
    double area_lo, area_hi; /* s_l, s_h: fraction of the image area */
    double ratio;            /* r_1: aspect h/w uniform in [r_1, 1/r_1] */
    uint32_t attempts;       /* placement tries */
    aug_erase_fill fill;     /* CONSTANT, CHANNEL, UNIFORM or NORMAL */
    float value[AUG_MAX_CHANNELS]; /* CONSTANT */
    float lo, hi;                  /* CHANNEL, UNIFORM */
} aug_erase_settings;

/* Per-pixel noise is not recorded value by value: it is the stream
 * prng_stream_init(noise_seed, AUG_PRNG_NOISE, 0, 0, 0), read in HWC order
 * over the box (one prng_uniform, or one prng_normal, per value). */
typedef struct aug_erase_params {
    uint32_t y, x, h, w; /* the box; h = w = 0 when nothing was erased */
    uint8_t fill;        /* enum aug_erase_fill; NONE when not erased */
    float value[AUG_MAX_CHANNELS]; /* CONSTANT, CHANNEL: the fill values */
    uint64_t noise_seed;           /* UNIFORM, NORMAL */
} aug_erase_params;

/* The paper's defaults: p 0.5, s_l 0.02, s_h 0.4, r_1 0.3, 100 attempts,
 * constant fill 0, lo 0, hi 1. */
void aug_erase_defaults(aug_erase_settings *st);

/* One uniform for p; per attempt two uniforms (area, ratio); on success
 * two prng_below (y, x), then c uniforms (CHANNEL) or two words of noise
 * seed (UNIFORM, NORMAL). */
void aug_erase_draw(prng_stream *s, const aug_erase_settings *st, uint32_t h,
                    uint32_t w, uint32_t c, aug_erase_params *p);

/* In place; @st supplies lo and hi for UNIFORM noise. */
void aug_erase_apply(float *img, uint32_t h, uint32_t w, uint32_t c,
                     const aug_erase_settings *st, const aug_erase_params *p);

/* -------------------------------------------------------- normalisation */

typedef struct aug_normalize_settings {
    float mean[AUG_MAX_CHANNELS];
    float std[AUG_MAX_CHANNELS];
} aug_normalize_settings;

/* In place over @pixels HWC pixels (one image, or a whole NHWC batch):
 * x = (x - mean[k]) / std[k], divided as torchvision does. */
void aug_normalize_apply(float *img, size_t pixels, uint32_t c,
                         const aug_normalize_settings *st);

/* ---------------------------------------------------------------- CutMix */

typedef struct aug_cutmix_params {
    uint32_t y0, y1, x0, x1; /* rows [y0, y1), columns [x0, x1) */
    float lam; /* 1 - box area / image area: the weight of the base image */
} aug_cutmix_params;

/* @lam is the drawn lambda (Beta(cutmix_alpha)); two prng_below: cy, cx. */
void aug_cutmix_draw(prng_stream *s, float lam, uint32_t h, uint32_t w,
                     aug_cutmix_params *p);

/* In place: the box of @img is replaced by the same box of @partner. */
void aug_cutmix_apply(float *restrict img, const float *restrict partner,
                      uint32_t h, uint32_t w, uint32_t c,
                      const aug_cutmix_params *p);

/* ------------------------------------------------------ label smoothing */

/* row = (1 - eps) * onehot(label) + eps / classes. */
void aug_smooth_onehot(float *row, uint32_t classes, int32_t label,
                       float eps);

/* In place on a soft row: row = (1 - eps) * row + eps / classes. */
void aug_smooth_row(float *row, uint32_t classes, float eps);

/* ------------------------------------------------------------ validation
 * Return 0, or MIXUP_ECONFIG with a message naming the setting, its value
 * and what was expected in @err. The caller prefixes the config key. */
int aug_flip_check(const aug_flip_settings *st, char *err, size_t errlen);
int aug_shift_check(const aug_shift_settings *st, char *err, size_t errlen);
int aug_crop_check(const aug_crop_settings *st, char *err, size_t errlen);
int aug_erase_check(const aug_erase_settings *st, uint32_t c, char *err,
                    size_t errlen);
int aug_normalize_check(const aug_normalize_settings *st, uint32_t c,
                        char *err, size_t errlen);
int aug_smooth_check(float eps, char *err, size_t errlen);

#endif
