/*
 * resize.h — antialiased bilinear resampling as PIL does it
 * (Image.resize(..., BILINEAR) with a box; torchvision's PIL path).
 *
 * Each output pixel x (of n) has its centre at box0 + (x + 0.5) * scale in
 * source coordinates (scale = box length / n); the triangle filter's
 * support is widened by the scale when shrinking (support = max(scale, 1)),
 * and the taps are clipped to the source region [0, in_len) and normalised
 * (PIL's precompute_coeffs). Rows are filtered first, then columns, in
 * float: PIL rounds its intermediate rows to 8 bits and its weights to 22
 * bits, which is where the small differences to PIL come from
 * (tests/python/test_images.py bounds them).
 *
 * A plain kernel: no I/O, no allocation, pure.
 */
#ifndef SRV_RESIZE_H
#define SRV_RESIZE_H

#include <stddef.h>
#include <stdint.h>

/* One axis: where each output pixel reads. */
typedef struct rsz_axis {
    uint32_t n;        /* output pixels */
    uint32_t ksize;    /* taps per output pixel (row stride of w) */
    uint32_t *first;   /* [n]: first source pixel (relative to the region) */
    uint32_t *count;   /* [n]: taps used */
    float *w;          /* [n * ksize] */
} rsz_axis;

/* Taps per output pixel for a box of @box_len source pixels onto @n. */
uint32_t rsz_ksize(double box_len, uint32_t n);

/* Floats of weight storage rsz_axis_init() needs, bounded for any box of at
 * most @max_len source pixels onto @n outputs. */
size_t rsz_axis_floats(uint32_t max_len, uint32_t n);

/* Fill @a (its arrays provided, a->n = n) for the box [box0, box0 +
 * box_len) of a source region of @in_len pixels. */
void rsz_axis_init(rsz_axis *a, uint32_t in_len, double box0, double box_len,
                   uint32_t n);

/* Resample the @src region (rows [0, in_h) of @src_stride bytes, @c
 * channels, starting at @src) to @out (ay->n x ax->n x c floats), each
 * value multiplied by @mul. @tmp: ax->n * in_h * c floats. */
void rsz_resample_u8(float *out, const uint8_t *src, size_t src_stride,
                     uint32_t in_h, uint32_t c, const rsz_axis *ax,
                     const rsz_axis *ay, float mul, float *tmp);

#endif
