/*
 * resize.h — antialiased bilinear resampling with Pillow's arithmetic
 * (libImaging/Resample.c: Image.resize(size, BILINEAR, box)), byte for byte.
 *
 * One axis: output pixel x of a resize of the box [in0, in1) onto
 * out_total pixels has its centre at in0 + (x + 0.5) * scale, scale =
 * (in1 - in0) / out_total (in1 - in0 in float, as Pillow's box is float);
 * the triangle filter's support is max(scale, 1); the taps are clipped to
 * the source [0, in_len) and normalised in double (precompute_coeffs),
 * then rounded to 22-bit fixed point (normalize_coeffs_8bpc). The image is
 * filtered along x first (each sum starts at 2^21 and is shifted right by
 * 22 and clipped to 0..255: an 8-bit intermediate), then along y the same
 * way. All of it is integer arithmetic: the order of the additions does
 * not change a byte, so the vector kernels equal the portable one.
 *
 * What torchvision runs on PIL images: RandomResizedCrop is F.resized_crop
 * = img.crop(box).resize(size, BILINEAR) (in_len = box length, in0 = 0,
 * in1 = box length: the taps stop at the crop's edge, which is not what
 * resize(size, box=...) on the whole image gives); Resize + CenterCrop is
 * a whole-image resize of which only the centre's outputs are computed
 * (o0 = the crop's offset). rsz_axis_init() takes both forms.
 *
 * Kernels: portable C, AVX2 and AVX-512 (vertical pass), chosen once at
 * run time from the CPU (__builtin_cpu_supports); MIXUPD_RESAMPLE=portable
 * | avx2 | avx512 in the environment, or rsz_use(), forces one (tests).
 *
 * No I/O, no allocation; thread-safe once the kernel is chosen.
 */
#ifndef SRV_RESIZE_H
#define SRV_RESIZE_H

#include <stddef.h>
#include <stdint.h>

#define RSZ_PRECISION_BITS 22

/* One axis: where each output pixel reads and with which weights. */
typedef struct rsz_axis {
    uint32_t n;        /* output pixels */
    uint32_t ksize;    /* coefficients per output pixel, a multiple of 8 */
    uint32_t *first;   /* [n]: first source pixel */
    uint32_t *count;   /* [n]: taps used (<= ksize; the rest are 0) */
    int32_t *k;        /* [n * ksize]: fixed point, 22 fraction bits */
    int32_t *kt;       /* [n * ksize * 4]: the same split into 11-bit
                        * halves in the RGB vector kernel's layout */
} rsz_axis;

/* Coefficients per output pixel for a box of @box_len source pixels
 * resized onto @out_total (Pillow's ksize rounded up to a multiple of 8). */
uint32_t rsz_ksize(double box_len, uint32_t out_total);

/* Bytes of an axis of @n outputs with @ksize coefficients each (first,
 * count, k and kt, in that order, 4-byte aligned); rsz_axis_carve() lays
 * them out in @mem. */
size_t rsz_axis_bytes(uint32_t n, uint32_t ksize);
void rsz_axis_carve(rsz_axis *a, void *mem, uint32_t n, uint32_t ksize);

/* Fill @a (carved for at least rsz_ksize(in1 - in0, out_total)
 * coefficients) with outputs [o0, o0 + a->n) of Pillow's resize of the
 * box [@in0, @in1) of @in_len source pixels onto @out_total pixels.
 * Return 0, or -1 when the carved ksize is too small. */
int rsz_axis_init(rsz_axis *a, uint32_t in_len, float in0, float in1,
                  uint32_t out_total, uint32_t o0);

/* The horizontal pass of one row: @src is source pixel 0 of the axis (c
 * bytes each); @avail bytes may be read from @src (the vector kernels
 * read up to 8 bytes past the last tap where they may); @dst gets
 * ax->n * c bytes. */
void rsz_h_row(uint8_t *dst, const uint8_t *src, size_t avail, uint32_t c,
               const rsz_axis *ax);

/* The vertical pass of output row @y: @rows is source row ay->first[0]
 * (the first any output reads), rows @stride bytes apart, @width bytes each; @dst gets @width bytes. */
void rsz_v_row(uint8_t *dst, const uint8_t *rows, size_t stride,
               size_t width, const rsz_axis *ay, uint32_t y);

/* A whole image in memory: @src (rows of @stride bytes, @c channels, @h
 * rows readable) resampled to @out (ay->n x ax->n x c, packed) through
 * @tmp (ax->n * c * rsz_rows_needed(ay) bytes). */
uint32_t rsz_rows_needed(const rsz_axis *ay);
void rsz_resample(uint8_t *out, const uint8_t *src, size_t stride,
                  uint32_t h, uint32_t c, const rsz_axis *ax,
                  const rsz_axis *ay, uint8_t *tmp);

/* Image.resize((out_w, out_h), BILINEAR) of a packed @in_h x @in_w x @c
 * image, through @work (rsz_image_work_bytes()). */
size_t rsz_image_work_bytes(uint32_t in_h, uint32_t in_w, uint32_t out_h,
                            uint32_t out_w, uint32_t c);
void rsz_image(uint8_t *out, const uint8_t *src, uint32_t in_h,
               uint32_t in_w, uint32_t c, uint32_t out_h, uint32_t out_w,
               void *work);

typedef enum rsz_kernel {
    RSZ_PORTABLE = 0,
    RSZ_AVX2 = 1,
    RSZ_AVX512 = 2,
} rsz_kernel;

/* The kernel in use (chosen on first use). */
rsz_kernel rsz_current(void);

/* Use @k from now on (tests; not while another thread resamples).
 * Return 0, or -1 when this CPU cannot run it. */
int rsz_use(rsz_kernel k);

const char *rsz_kernel_name(rsz_kernel k);

#endif
