/*
 * fuzz_check_images.c — checks for the image inputs a dataset folder or
 * list brings (target images): arbitrary bytes as a list file
 * (dsi_parse_list) and as an image file (img_jpeg_markers, img_jpeg_walk,
 * img_probe and, when the header passes, img_decode into a buffer of the
 * size the probe announced, at scale 1 and 1/8, and for a JPEG the rows
 * path, img_decode_rows, whole and the lower half at 1/4), under a bound
 * on the decoder's memory that a file over it must not pass.
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
    int r2 = img_decode(data, len, &in, 8, 1, out, err, sizeof err);
    int r3 = 0, r4 = 0;
    if (in.kind == IMG_JPEG) { /* the serving path: rows */
        uint32_t h, w;
        r3 = img_decode_rows(data, len, &in, 1, 3, 0, in.h, out, err,
                             sizeof err);
        img_scaled_size(&in, 4, &h, &w);
        r4 = img_decode_rows(data, len, &in, 4, 1, h / 2, h, out, err,
                             sizeof err);
    }
    free(out);
    if (over && (r1 >= 0 || r2 >= 0 || r3 >= 0 || r4 >= 0)) {
        snprintf(why, whylen, "a JPEG needing %llu bytes of coefficients "
                 "decoded under a bound of %llu",
                 (unsigned long long)in.coef_bytes,
                 (unsigned long long)in.max_memory);
        return -1;
    }
    return 0;
}
