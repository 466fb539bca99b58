/*
 * preview.h — a picture of what mixupd serves: the mixed images of a batch
 * as one PNG grid, and the names for a legend (mixupctl preview).
 *
 * Geometry. Tiles are laid out row by row, `cols` to a row, each image
 * enlarged `scale` times by pixel repetition (nearest neighbour: no
 * smoothing, so the pixels the network sees stay visible), with a
 * PREVIEW_GAP-pixel grey gutter around and between tiles:
 *
 *     width  = cols * W * scale + (cols + 1) * PREVIEW_GAP
 *     height = rows * H * scale + (rows + 1) * PREVIEW_GAP
 *
 * Values: x in [0, 1] maps to 0 .. 255 (rounded); anything outside (a
 * float dataset that is not scaled to [0, 1]) is clipped and counted.
 * 1 channel gives a greyscale PNG, 3 an RGB one; others are refused.
 */
#ifndef MIXUPCTL_PREVIEW_H
#define MIXUPCTL_PREVIEW_H

#include <stddef.h>
#include <stdint.h>

#define PREVIEW_GAP 2           /* pixels of gutter around every tile */
#define PREVIEW_GUTTER 128      /* its grey level */
#define PREVIEW_TARGET_PX 112   /* the default scale aims at tiles this big */
#define PREVIEW_MAX_SCALE 64
#define PREVIEW_MAX_COLS 8      /* default columns: min(tiles, this) */
#define PREVIEW_MAX_SIDE 100000 /* pixels; below libpng's own limit */
#define PREVIEW_MAX_BYTES ((size_t)1 << 30) /* of decoded image */

typedef struct preview_grid {
    uint32_t tiles, cols, rows;
    uint32_t tile_h, tile_w, channels; /* of one image, before scaling */
    uint32_t scale;
    uint32_t width, height;            /* of the PNG, pixels */
} preview_grid;

/**
 * preview_default_scale() - the scale that makes an HxW tile about
 * PREVIEW_TARGET_PX pixels on its longer side (28x28 -> 4, 32x32 -> 4,
 * 8x8 -> 14, 224x224 -> 1). Always >= 1.
 */
uint32_t preview_default_scale(uint32_t h, uint32_t w);

/**
 * preview_grid_init() - lay out @tiles images of @h x @w x @c.
 * @scale: 1 .. PREVIEW_MAX_SCALE, or 0 for preview_default_scale().
 * @cols: columns, or 0 for min(@tiles, PREVIEW_MAX_COLS).
 * Return: 0; -EINVAL with a message in @err for a channel count other
 * than 1 or 3 ("preview needs 1 or 3 channels, the dataset has 2"), a
 * bad scale or column count, or an image over PREVIEW_MAX_SIDE pixels a
 * side or PREVIEW_MAX_BYTES bytes.
 */
int preview_grid_init(preview_grid *g, uint32_t tiles, uint32_t h,
                      uint32_t w, uint32_t c, uint32_t scale, uint32_t cols,
                      char *err, size_t errlen);

/**
 * preview_render() - draw the grid.
 * @tiles: g->tiles pointers, each to one image of H*W*C float32 (NHWC).
 * @clipped: receives how many values were outside [0, 1] (or NaN).
 * Return: g->height rows of g->width * g->channels bytes, malloc'd (free
 * it); NULL when out of memory.
 */
uint8_t *preview_render(const preview_grid *g, const float *const *tiles,
                        uint64_t *clipped);

/**
 * preview_write_png() - write rendered pixels as an 8-bit PNG (greyscale
 * or RGB) to @path. A failed write leaves no file behind.
 * Return: 0; -errno with a message in @err naming the file.
 */
int preview_write_png(const char *path, const preview_grid *g,
                      const uint8_t *pixels, char *err, size_t errlen);

/**
 * preview_class_names() - names of a dataset's classes for the legend.
 * @set: "auto" (by shape: 28x28x1 with 10 classes is taken for
 *       Fashion-MNIST, 32x32x3 with 10 for CIFAR-10), "fashion-mnist",
 *       "cifar10", or "numbers".
 * @names: receives @k names, or NULL when classes go by their numbers.
 * Return: 0; -EINVAL with a message in @err for an unknown @set, or a
 * named set whose class count is not the dataset's.
 */
int preview_class_names(const char *set, uint32_t h, uint32_t w, uint32_t c,
                        uint32_t k, const char *const **names, char *err,
                        size_t errlen);

/**
 * preview_top2() - the two heaviest entries of a label row @y of @k
 * (a mixed one-hot row holds at most two): classes in @top, weights in
 * @weight, heaviest first, the lower class first on a tie. With k == 1
 * the second is UINT32_MAX with weight 0.
 */
void preview_top2(const float *y, uint32_t k, uint32_t top[2],
                  float weight[2]);

#endif
