/*
 * image.h — JPEG and PNG files: header checks and decoding to 8-bit HWC.
 *
 * JPEG goes through libjpeg-turbo's TurboJPEG API (2.1: tjDecompress2),
 * with its defaults, the same as PIL's: the accurate integer IDCT
 * (JDCT_ISLOW) and fancy (smooth) chroma upsampling; so a JPEG decoded at
 * scale 1 is byte-identical to libjpeg-turbo's and PIL's output. Scaled
 * decoding (1/2, 1/4, 1/8) is libjpeg's DCT scaling. CMYK/YCCK JPEGs are
 * decoded to CMYK and converted as PIL converts CMYK to RGB (Adobe files,
 * which store the ink inverted, are un-inverted first).
 *
 * PNG goes through libpng: palette expanded, gray below 8 bits expanded,
 * 16-bit reduced to its high byte, alpha and tRNS transparency dropped
 * (not composited): the bytes of PIL's convert("RGB") (and "L"), what
 * torchvision's default loader serves, except 16-bit gray, which PIL
 * clips to 0..255.
 *
 * Channels: 3 gives RGB (gray replicated); 1 gives gray, colour converted
 * with PIL's ITU-R 601 weights, L = (19595 R + 38470 G + 7471 B + 2^15) >> 16.
 * Every function here is pure (no I/O, no global state) and thread-safe.
 */
#ifndef SRV_IMAGE_H
#define SRV_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef enum img_kind { IMG_JPEG = 1, IMG_PNG = 2 } img_kind;

/* Progressive scans a JPEG may have (TurboJPEG's TJFLAG_LIMITSCANS bound:
 * each scan is a pass over the whole coefficient buffer). */
#define IMG_MAX_SCANS 500

typedef struct img_info {
    img_kind kind;   /* from the magic bytes, never the file's name */
    uint32_t h, w;   /* at scale 1 */
    uint8_t cmyk;    /* JPEG stored as CMYK or YCCK */
    uint8_t adobe;   /* JPEG with an Adobe APP14 marker (inverted CMYK) */
    uint8_t progressive; /* JPEG: a progressive SOF */
    uint32_t scans;  /* JPEG: start-of-scan markers in the file */
    /* JPEG: bytes of the whole-image coefficient buffer libjpeg holds while
     * decoding a progressive (or multi-scan) file, 128 per 8x8 block of
     * every component; 0 for a single-scan file, which needs a few rows.
     * A small file can announce a large one: it is not bounded by the
     * file's size. */
    uint64_t coef_bytes;
    /* Set by the caller (img_probe() leaves 0, no bound): the decoders
     * refuse a JPEG whose coefficient buffer is larger, and libjpeg's
     * allocator is held to it plus room for its row buffers
     * (max_memory_to_use, in img_decode_rows()). */
    uint64_t max_memory;
} img_info;

/* What img_jpeg_walk() finds in a JPEG's markers. */
typedef struct img_jpeg_layout {
    int adobe;         /* an APP14 "Adobe" segment before the first scan */
    int sof;           /* the frame's SOF marker (0xC0..0xCF), 0: none */
    uint32_t h, w;     /* from the SOF */
    uint32_t ncomp;    /* components (at most 4 are described below) */
    uint8_t hs[4], vs[4]; /* their sampling factors */
    uint32_t scans;    /* SOS markers up to EOI or the end of @buf */
} img_jpeg_layout;

/* Check @buf[0..len): a JPEG or PNG (magic bytes), its header accepted by
 * the decoder, the size > 0, and the stream complete (JPEG ends with EOI,
 * PNG with IEND) — a cheap test for a truncated file; a JPEG with more than
 * IMG_MAX_SCANS scans is refused. Fills @info (max_memory 0). Return 0 or
 * MIXUP_EDATASET with @err saying what is wrong (without the file's name:
 * the caller has it). */
int img_probe(const uint8_t *buf, size_t len, img_info *info, char *err,
              size_t errlen);

/* Walk a JPEG's markers up to the first SOS: set *@adobe when an APP14
 * "Adobe" segment is present. Return 0, or -1 when the marker structure
 * is broken (no SOI, a length running past @len). Exposed for the fuzz
 * target. */
int img_jpeg_markers(const uint8_t *buf, size_t len, int *adobe);

/* Walk all of a JPEG's markers, through the entropy-coded data, to count
 * its scans, and read its frame header. Return 0, or -1 as
 * img_jpeg_markers() (and for a SOF that is cut or describes no
 * component). Exposed for the tests and the fuzz target. */
int img_jpeg_walk(const uint8_t *buf, size_t len, img_jpeg_layout *l);

/* The coefficient buffer (img_info.coef_bytes) of a frame @l whose file
 * needs one: libjpeg's jdcoefct.c sizes it per component as its blocks,
 * rounded up to whole MCUs, times 64 coefficients of 2 bytes. */
uint64_t img_jpeg_coef_bytes(const img_jpeg_layout *l);

/* Size of the image decoded at 1/@denom (1, 2, 4, 8; PNG: 1). */
void img_scaled_size(const img_info *info, uint32_t denom, uint32_t *h,
                     uint32_t *w);

/* Bytes img_decode() needs in @out for an image of @info at scale 1 (room
 * for 4 channels: CMYK is converted in place). */
size_t img_decode_bytes(const img_info *info);

/* Decode @buf at 1/@denom into @out as h x w x @channels (1 or 3) bytes,
 * h, w from img_scaled_size(). A JPEG over @info's max_memory or with more
 * than IMG_MAX_SCANS scans is refused. Return 0; 1 when the decoder warned (a
 * corrupt stream it got through: @out holds what it produced, @err says
 * what the decoder said); or MIXUP_EDATASET with @err when it failed
 * (@out is undefined). */
int img_decode(const uint8_t *buf, size_t len, const img_info *info,
               uint32_t denom, uint32_t channels, uint8_t *out, char *err,
               size_t errlen);

/* Region decoding: the rows and columns a crop needs, one row at a time.
 *
 * @fn gets each row y of [@y0, @y1) of the image decoded at 1/@denom, in
 * order, as @channels bytes per pixel starting at column @x0 (the columns
 * [@x0, @x1) are those of a whole decode, byte for byte); @avail bytes may
 * be read from @px (at least (x1 - x0) * channels). A JPEG skips the rows
 * above y0 (jpeg_skip_scanlines), never decodes those below, and decodes
 * only the iMCU columns around [x0, x1) widened by IMG_CROP_MARGIN pixels
 * each side (jpeg_crop_scanline: fancy upsampling treats the edges of the
 * decoded columns as the image's edges, so a margin keeps the kept pixels
 * those of a whole decode; test_images finds 2 pixels enough for every
 * subsampling and scale and fails with 1). A PNG is decoded row by row and stops after
 * row y1 - 1; an interlaced PNG is decoded whole into a buffer allocated
 * for the call (its rows are complete only after the last pass; the size
 * is bounded by dataset.max_pixels).
 *
 * The JPEG decoder is kept per thread and reused (created on a thread's
 * first call, destroyed when the thread exits): a worker does not create
 * and destroy libjpeg state per image. @row: IMG_ROW_BYTES(w) bytes, w the
 * image's width at scale 1 (CMYK is converted in place, and libjpeg may
 * widen the columns to whole iMCUs).
 * Return as img_decode(). */
#define IMG_CROP_MARGIN 4
#define IMG_ROW_BYTES(w) (((size_t)(w) + 2 * IMG_CROP_MARGIN + 64) * 4 + 64)

typedef void (*img_row_fn)(void *ctx, uint32_t y, const uint8_t *px,
                           size_t avail);

int img_decode_region(const uint8_t *buf, size_t len, const img_info *info,
                      uint32_t denom, uint32_t channels, uint32_t y0,
                      uint32_t y1, uint32_t x0, uint32_t x1, uint8_t *row,
                      img_row_fn fn, void *ctx, char *err, size_t errlen);

/* In place: @n RGB pixels to gray (PIL's weights). */
void img_rgb_to_gray(uint8_t *px, size_t n);

#endif
