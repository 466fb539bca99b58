/*
 * preview.c — see preview.h. The PNG is written by libpng; its errors
 * come back through our handler (and longjmp) as a message, never as
 * output on stderr of their own.
 */
#include "preview.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(int code, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

/* ------------------------------------------------------------ geometry */

uint32_t preview_default_scale(uint32_t h, uint32_t w)
{
    uint32_t side = h > w ? h : w;
    if (side == 0)
        return 1;
    uint32_t s = (PREVIEW_TARGET_PX + side / 2) / side;
    if (s < 1)
        s = 1;
    return s > PREVIEW_MAX_SCALE ? PREVIEW_MAX_SCALE : s;
}

/* Pixels along one axis: n tiles of @side pixels at @scale, with gutters. */
static uint64_t extent(uint64_t n, uint64_t side, uint64_t scale)
{
    return n * side * scale + (n + 1) * PREVIEW_GAP;
}

int preview_grid_init(preview_grid *g, uint32_t tiles, uint32_t h,
                      uint32_t w, uint32_t c, uint32_t scale, uint32_t cols,
                      char *err, size_t errlen)
{
    if (c != 1 && c != 3)
        return fail(-EINVAL, err, errlen,
                    "preview needs 1 or 3 channels, the dataset has %u", c);
    if (tiles == 0 || h == 0 || w == 0)
        return fail(-EINVAL, err, errlen, "nothing to draw: %u tiles of %ux%u",
                    tiles, h, w);
    if (scale == 0)
        scale = preview_default_scale(h, w);
    if (scale > PREVIEW_MAX_SCALE)
        return fail(-EINVAL, err, errlen, "scale %u: expected 1 .. %d", scale,
                    PREVIEW_MAX_SCALE);
    if (cols == 0)
        cols = tiles < PREVIEW_MAX_COLS ? tiles : PREVIEW_MAX_COLS;
    if (cols > tiles)
        cols = tiles;
    uint32_t rows = (uint32_t)(((uint64_t)tiles + cols - 1) / cols);
    uint64_t width = extent(cols, w, scale), height = extent(rows, h, scale);
    if (width > PREVIEW_MAX_SIDE || height > PREVIEW_MAX_SIDE)
        return fail(-EINVAL, err, errlen,
                    "a %llux%llu pixel image is too large (at most %d a side): "
                    "use a smaller --scale, fewer --batches or other --cols",
                    (unsigned long long)width, (unsigned long long)height,
                    PREVIEW_MAX_SIDE);
    if (width * height * c > PREVIEW_MAX_BYTES)
        return fail(-EINVAL, err, errlen,
                    "a %llux%llu pixel image is too large (at most %zu MiB "
                    "decoded): use a smaller --scale or fewer --batches",
                    (unsigned long long)width, (unsigned long long)height,
                    PREVIEW_MAX_BYTES >> 20);
    *g = (preview_grid){
        .tiles = tiles, .cols = cols, .rows = rows,
        .tile_h = h, .tile_w = w, .channels = c, .scale = scale,
        .width = (uint32_t)width, .height = (uint32_t)height,
    };
    return 0;
}

/* ------------------------------------------------------------ drawing */

static uint8_t to_byte(float v, uint64_t *clipped)
{
    if (!(v >= 0.0f)) { /* negative or NaN */
        ++*clipped;
        return 0;
    }
    if (v > 1.0f) {
        ++*clipped;
        return 255;
    }
    return (uint8_t)lrintf(v * 255.0f);
}

/* One tile: each source row becomes `scale` identical image rows. */
static void draw_tile(const preview_grid *g, uint8_t *img, size_t stride,
                      uint32_t t, const float *x, uint64_t *clipped)
{
    const uint32_t s = g->scale, c = g->channels;
    size_t x0 = PREVIEW_GAP + (size_t)(t % g->cols) * (g->tile_w * s + PREVIEW_GAP);
    size_t y0 = PREVIEW_GAP + (size_t)(t / g->cols) * (g->tile_h * s + PREVIEW_GAP);
    size_t row_bytes = (size_t)g->tile_w * s * c;
    for (uint32_t r = 0; r < g->tile_h; r++) {
        uint8_t *dst = img + (y0 + (size_t)r * s) * stride + x0 * c;
        const float *src = x + (size_t)r * g->tile_w * c;
        for (uint32_t col = 0; col < g->tile_w; col++) {
            uint8_t px[3];
            for (uint32_t ch = 0; ch < c; ch++)
                px[ch] = to_byte(src[(size_t)col * c + ch], clipped);
            for (uint32_t k = 0; k < s; k++)
                memcpy(dst + ((size_t)col * s + k) * c, px, c);
        }
        for (uint32_t k = 1; k < s; k++)
            memcpy(dst + k * stride, dst, row_bytes);
    }
}

uint8_t *preview_render(const preview_grid *g, const float *const *tiles,
                        uint64_t *clipped)
{
    size_t stride = (size_t)g->width * g->channels;
    uint8_t *img = malloc(stride * g->height);
    if (!img)
        return NULL;
    memset(img, PREVIEW_GUTTER, stride * g->height);
    *clipped = 0;
    for (uint32_t t = 0; t < g->tiles; t++)
        draw_tile(g, img, stride, t, tiles[t], clipped);
    return img;
}

/* ------------------------------------------------------------ PNG */

typedef struct png_ctx {
    char *err;
    size_t errlen;
} png_ctx;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_ctx *ctx = png_get_error_ptr(png);
    snprintf(ctx->err, ctx->errlen, "%s", msg);
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg; /* nothing we write can draw a warning worth showing */
}

/* Everything between setjmp and the end lives in this one function, so
 * that no local is modified after setjmp (the longjmp rule). */
static int encode(FILE *f, const preview_grid *g, const uint8_t *pixels,
                  png_ctx *ctx)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, ctx,
                                              on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        snprintf(ctx->err, ctx->errlen, "out of memory");
        return -ENOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -EIO;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, g->width, g->height, 8,
                 g->channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_text text = {
        .compression = PNG_TEXT_COMPRESSION_NONE,
        .key = "Software",
        .text = "mixupctl preview (mixupd)",
    };
    png_set_text(png, info, &text, 1);
    png_write_info(png, info);
    size_t stride = (size_t)g->width * g->channels;
    for (uint32_t y = 0; y < g->height; y++)
        png_write_row(png, pixels + (size_t)y * stride);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int preview_write_png(const char *path, const preview_grid *g,
                      const uint8_t *pixels, char *err, size_t errlen)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return fail(-errno, err, errlen, "cannot create %s: %s", path,
                    strerror(errno));
    char why[256] = "";
    png_ctx ctx = {why, sizeof why};
    int rc = encode(f, g, pixels, &ctx);
    int saved = errno;
    if (rc == 0 && ferror(f))
        rc = -(saved ? saved : EIO);
    if (fclose(f) != 0 && rc == 0) {
        saved = errno;
        rc = -saved;
    }
    if (rc < 0) {
        unlink(path);
        return fail(rc, err, errlen, "cannot write %s: %s", path,
                    why[0] ? why : strerror(-rc));
    }
    return 0;
}

/* ------------------------------------------------------------ legend */

static const char *const fashion_mnist[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

static const char *const cifar10[10] = {
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
};

static const struct {
    const char *set;
    uint32_t h, w, c, k;
    const char *const *names;
} known_sets[] = {
    {"fashion-mnist", 28, 28, 1, 10, fashion_mnist},
    {"cifar10", 32, 32, 3, 10, cifar10},
};

int preview_class_names(const char *set, uint32_t h, uint32_t w, uint32_t c,
                        uint32_t k, const char *const **names, char *err,
                        size_t errlen)
{
    *names = NULL;
    const size_t n = sizeof known_sets / sizeof known_sets[0];
    if (!strcmp(set, "numbers"))
        return 0;
    if (!strcmp(set, "auto")) {
        for (size_t i = 0; i < n; i++)
            if (known_sets[i].h == h && known_sets[i].w == w &&
                known_sets[i].c == c && known_sets[i].k == k)
                *names = known_sets[i].names;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(set, known_sets[i].set))
            continue;
        if (known_sets[i].k != k)
            return fail(-EINVAL, err, errlen,
                        "--names %s: %s has %u classes, the dataset has %u",
                        set, set, known_sets[i].k, k);
        *names = known_sets[i].names;
        return 0;
    }
    return fail(-EINVAL, err, errlen,
                "--names '%s': expected auto, fashion-mnist, cifar10 or numbers",
                set);
}

void preview_top2(const float *y, uint32_t k, uint32_t top[2], float weight[2])
{
    top[0] = top[1] = UINT32_MAX;
    weight[0] = weight[1] = 0;
    for (uint32_t i = 0; i < k; i++) {
        if (top[0] == UINT32_MAX || y[i] > weight[0]) {
            top[1] = top[0];
            weight[1] = weight[0];
            top[0] = i;
            weight[0] = y[i];
        } else if (top[1] == UINT32_MAX || y[i] > weight[1]) {
            top[1] = i;
            weight[1] = y[i];
        }
    }
}
