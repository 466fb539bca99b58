/*
 * fuzz_check_images.c — checks for the image inputs a dataset folder or
 * list brings (target images): arbitrary bytes as a list file
 * (dsi_parse_list) and as an image file (img_jpeg_markers, img_probe and,
 * when the header passes, img_decode into a buffer of the size the probe
 * announced, at scale 1 and 1/8).
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
    img_info in;
    if (img_probe(data, len, &in, err, sizeof err) < 0)
        return 0;
    if (in.h == 0 || in.w == 0) {
        snprintf(why, whylen, "probe accepted a %ux%u image", in.w, in.h);
        return -1;
    }
    if ((uint64_t)in.h * in.w > (1u << 22)) /* bounded as max_pixels does */
        return 0;
    uint8_t *out = malloc(img_decode_bytes(&in));
    if (!out)
        return 0;
    (void)img_decode(data, len, &in, 1, 3, out, err, sizeof err);
    (void)img_decode(data, len, &in, 8, 1, out, err, sizeof err);
    free(out);
    return 0;
}
