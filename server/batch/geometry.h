/*
 * geometry.h — where an encoded image's output sample comes from: a crop
 * box in the source image, the resampling that maps it to the output size,
 * and the JPEG decode scale.
 *
 * Two modes:
 *   - random_resized_crop: torchvision's RandomResizedCrop.get_params —
 *     up to 10 attempts of (area fraction ~ U(scale), log aspect ~
 *     U(log ratio)), w = round(sqrt(A r)), h = round(sqrt(A / r)) (round
 *     half to even, as Python), accepted when it fits, then a uniform
 *     position; else the central fallback (the whole image clamped to the
 *     ratio range). Draws come from the Philox stream PRNG_RRC of (seed,
 *     epoch, k, s); the crop is then resized to the output size.
 *   - resize (+ center_crop): torchvision's Resize(int) (shorter side to
 *     `resize`, the other int(size * long / short)) then CenterCrop
 *     (round((in - out) / 2)); resize = 0 resizes the whole image to the
 *     output size. Computed as one resampling with a box in the source.
 *
 * The decode scale: with dct_scaling on, a JPEG is decoded at 1/d, d the
 * largest of 8, 4, 2 such that the box is shrunk by at least d on both
 * axes (box_w >= d out_w and box_h >= d out_h); then resampled from the
 * smaller image with the box scaled by 1/d. A function of the image's size,
 * the settings and the drawn box only.
 */
#ifndef SRV_GEOMETRY_H
#define SRV_GEOMETRY_H

#include <stdint.h>

#include "prng.h"

typedef struct geo_settings {
    int rrc;                      /* 1: random resized crop */
    double scale_lo, scale_hi;    /* area fraction */
    double ratio_lo, ratio_hi;    /* aspect w/h */
    uint32_t resize;              /* shorter side; 0: to the output size */
    int center_crop;
    int dct_scaling;
    uint32_t out_h, out_w;
} geo_settings;

/* Where a sample comes from. */
typedef struct geo_plan {
    uint32_t y, x, h, w;   /* integer crop box in the source (provenance) */
    double by, bx, bh, bw; /* the resampling box, source pixels at scale 1 */
    uint32_t clip_y, clip_x, clip_h, clip_w; /* region taps may read */
    uint32_t denom;        /* JPEG decode scale 1/denom: 1, 2, 4, 8 */
} geo_plan;

/* Parse "lo, hi" into two numbers; return 0 or -1. */
int geo_parse_pair(const char *s, double *lo, double *hi);

/* torchvision's get_params for an @h x @w image (exposed for tests). */
void geo_rrc_box(prng_stream *s, const geo_settings *g, uint32_t h,
                 uint32_t w, uint32_t box[4]);

/* torchvision's Resize(resize) + CenterCrop(out) on an @h x @w image: the
 * resized size and the crop's offset in it. */
void geo_resize_dims(const geo_settings *g, uint32_t h, uint32_t w,
                     uint32_t *rh, uint32_t *rw, uint32_t *top,
                     uint32_t *left);

/* The plan for sample stream (seed, epoch, k, sample) of an @h x @w image;
 * @jpeg: whether DCT scaling is possible. */
void geo_plan_sample(geo_plan *p, const geo_settings *g, uint64_t seed,
                     uint64_t epoch, uint64_t k, uint32_t sample, uint32_t h,
                     uint32_t w, int jpeg);

#endif
