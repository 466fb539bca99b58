/*
 * fuzz_check_images.c — checks for the image inputs a dataset folder or
 * list brings (target images): arbitrary bytes as a list file
 * (dsi_parse_list) and as an image file (img_jpeg_markers, img_jpeg_walk,
 * img_probe and, when the header passes, img_decode into a buffer of the
 * size the probe announced, at scale 1 and 1/8), and a region of it
 * decoded alone (img_decode_region), which must equal the whole decode's
 * pixels when both decoded cleanly; all under a bound on the decoder's
 * memory that a file over it must not pass.
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "dataset_image.h"
#include "fuzz_check.h"
#include "image.h"
#include "mixup_errors.h"

static int entry_ok(void *ctx, const char *path, size_t plen, int32_t label,
                    unsigned line)
{
    char *why = ctx;
    if (plen == 0 || memchr(path, 0, plen) || memchr(path, '\n', plen) ||
        label < 0 || line == 0 || path[0] == ' ' || path[plen - 1] == ' ') {
        snprintf(why, 256, "list entry line %u: path of %zu bytes, label %d",
                 line, plen, label);
        return -1000;
    }
    return 0;
}

typedef struct fz_region {
    const uint8_t *whole;
    uint32_t w, x0, x1, bad_y;
    int bad;
} fz_region;

static void region_row(void *ctx, uint32_t y, const uint8_t *px, size_t avail)
{
    fz_region *r = ctx;
    size_t n = (size_t)(r->x1 - r->x0) * 3;
    if (!r->bad && (avail < n ||
                    memcmp(px, r->whole + ((size_t)y * r->w + r->x0) * 3,
                           n) != 0)) {
        r->bad = 1;
        r->bad_y = y;
    }
}

/* The middle half of the image, alone, against @whole (3 channels). */
static int check_region(const uint8_t *data, size_t len, const img_info *in,
                        const uint8_t *whole, char *why, size_t whylen)
{
    uint32_t y0 = in->h / 4, y1 = in->h - in->h / 4;
    uint32_t x0 = in->w / 4, x1 = in->w - in->w / 4;
    uint8_t *row = malloc(IMG_ROW_BYTES(in->w));
    if (!row || y0 >= y1 || x0 >= x1) {
        free(row);
        return 0;
    }
    char err[256];
    fz_region r = {.whole = whole, .w = in->w, .x0 = x0, .x1 = x1};
    int rc = img_decode_region(data, len, in, 1, 3, y0, y1, x0, x1, row,
                               region_row, &r, err, sizeof err);
    free(row);
    if (rc == 0 && r.bad) {
        snprintf(why, whylen, "region %u..%u x %u..%u of a %ux%u image: "
                 "row %u differs from the whole decode", y0, y1, x0, x1,
                 in->w, in->h, r.bad_y);
        return -1;
    }
    return 0;
}

static void discard_row(void *ctx, uint32_t y, const uint8_t *px,
                        size_t room)
{
    (void)ctx, (void)y, (void)px, (void)room;
}

static int decode_whole_region(const uint8_t *data, size_t len,
                               const img_info *in, char *err, size_t errlen)
{
    uint8_t *row = malloc(IMG_ROW_BYTES(in->w));
    if (!row)
        return 0;
    int rc = img_decode_region(data, len, in, 1, 3, 0, in->h, 0, in->w, row,
                               discard_row, NULL, err, errlen);
    free(row);
    return rc;
}

int fz_check_images(const uint8_t *data, size_t len, char *why, size_t whylen)
{
    char err[256], bad[256] = "";
    int rc = dsi_parse_list((const char *)data, len, "fuzz", entry_ok, bad,
                            err, sizeof err);
    if (rc == -1000 || (rc < 0 && rc != MIXUP_EDATASET)) {
        snprintf(why, whylen, "list: %d %s", rc, bad);
        return -1;
    }
    int adobe;
    (void)img_jpeg_markers(data, len, &adobe);
    img_jpeg_layout lay;
    (void)img_jpeg_walk(data, len, &lay);
    img_info in;
    if (img_probe(data, len, &in, err, sizeof err) < 0)
        return 0;
    if (in.h == 0 || in.w == 0) {
        snprintf(why, whylen, "probe accepted a %ux%u image", in.w, in.h);
        return -1;
    }
    if (in.kind == IMG_JPEG && (in.scans == 0 || in.scans > IMG_MAX_SCANS ||
                                (in.progressive && !in.coef_bytes))) {
        snprintf(why, whylen, "probe accepted a JPEG with %u scans, "
                 "progressive %d, coefficients %llu", in.scans,
                 in.progressive, (unsigned long long)in.coef_bytes);
        return -1;
    }
    if ((uint64_t)in.h * in.w > (1u << 22)) /* bounded as max_pixels does */
        return 0;
    uint8_t *out = malloc(img_decode_bytes(&in));
    if (!out)
        return 0;
    /* The loader's bound: a file over it must be refused, not decoded. */
    in.max_memory = 8u << 20;
    int over = in.coef_bytes > in.max_memory;
    int r1 = img_decode(data, len, &in, 1, 3, out, err, sizeof err);
    if (r1 == 0 && check_region(data, len, &in, out, why, whylen) < 0) {
        free(out);
        return -1;
    }
    int r2 = img_decode(data, len, &in, 8, 1, out, err, sizeof err);
    int r3 = -1;
    if (in.kind == IMG_JPEG) /* the serving path: a region, the whole image */
        r3 = decode_whole_region(data, len, &in, err, sizeof err);
    free(out);
    if (over && (r1 >= 0 || r2 >= 0 || r3 >= 0)) {
        snprintf(why, whylen, "a JPEG needing %llu bytes of coefficients "
                 "decoded under a bound of %llu",
                 (unsigned long long)in.coef_bytes,
                 (unsigned long long)in.max_memory);
        return -1;
    }
    return 0;
}
