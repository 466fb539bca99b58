/*
 * image.c — see image.h.
 */
#include "image.h"

#include <png.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
/* jpeglib.h wants FILE and size_t declared first. */
#include <jpeglib.h>

#include "mixup_errors.h"

static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a,
                                     '\n'};

static int fail(char *err, size_t errlen, const char *what, const char *why)
{
    snprintf(err, errlen, "%s%s%s", what, why ? ": " : "", why ? why : "");
    return MIXUP_EDATASET;
}

/* ------------------------------------------------------------- JPEG */

int img_jpeg_markers(const uint8_t *buf, size_t len, int *adobe)
{
    *adobe = 0;
    if (len < 4 || buf[0] != 0xFF || buf[1] != 0xD8)
        return -1;
    size_t pos = 2;
    while (pos + 4 <= len) {
        if (buf[pos] != 0xFF)
            return -1;
        uint8_t m = buf[pos + 1];
        if (m == 0xFF) { /* fill byte */
            pos++;
            continue;
        }
        if (m == 0xD9 || m == 0xDA) /* EOI, SOS: the header is over */
            return 0;
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { /* no length */
            pos += 2;
            continue;
        }
        size_t seg = (size_t)buf[pos + 2] << 8 | buf[pos + 3];
        if (seg < 2 || seg > len - pos - 2)
            return -1;
        if (m == 0xEE && seg >= 2 + 5 && memcmp(buf + pos + 4, "Adobe", 5) == 0)
            *adobe = 1;
        pos += 2 + seg;
    }
    return -1;
}

static int probe_jpeg(const uint8_t *buf, size_t len, img_info *in, char *err,
                      size_t errlen)
{
    int adobe;
    if (img_jpeg_markers(buf, len, &adobe) < 0)
        return fail(err, errlen, "not a valid JPEG",
                    "broken marker structure before the image data");
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return fail(err, errlen, "JPEG", "cannot create a decompressor");
    int w, h, sub, cs;
    int rc = tjDecompressHeader3(tj, buf, (unsigned long)len, &w, &h, &sub, &cs);
    if (rc < 0) {
        fail(err, errlen, "not a valid JPEG", tjGetErrorStr2(tj));
        tjDestroy(tj);
        return MIXUP_EDATASET;
    }
    tjDestroy(tj);
    /* A file cut short loses its end-of-image marker. */
    size_t end = len;
    while (end > 2 && buf[end - 1] == 0) /* padding some writers add */
        end--;
    if (end < 4 || buf[end - 2] != 0xFF || buf[end - 1] != 0xD9)
        return fail(err, errlen, "truncated JPEG",
                    "no end-of-image marker (FF D9) at the end");
    *in = (img_info){.kind = IMG_JPEG, .h = (uint32_t)h, .w = (uint32_t)w,
                     .cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK,
                     .adobe = (uint8_t)adobe};
    return 0;
}

/* PIL's CMYK to RGB (Convert.c cmyk2rgb), in place, @n pixels, RGB. */
static void cmyk_to_rgb(uint8_t *px, size_t n, int inverted)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t v[4];
        for (int k = 0; k < 4; k++)
            v[k] = inverted ? (uint8_t)(255 - px[4 * i + k]) : px[4 * i + k];
        int nk = 255 - v[3];
        for (int k = 0; k < 3; k++) {
            int t = v[k] * nk + 128;
            int r = nk - (((t >> 8) + t) >> 8);
            px[3 * i + k] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
        }
    }
}

static int decode_jpeg(const uint8_t *buf, size_t len, const img_info *in,
                       uint32_t denom, uint32_t channels, uint8_t *out,
                       char *err, size_t errlen)
{
    uint32_t h, w;
    img_scaled_size(in, denom, &h, &w);
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return fail(err, errlen, "JPEG", "cannot create a decompressor");
    int pf = in->cmyk ? TJPF_CMYK : TJPF_RGB;
    int rc = tjDecompress2(tj, buf, (unsigned long)len, out, (int)w, 0,
                           (int)h, pf, 0);
    int status = 0;
    if (rc < 0) {
        if (tjGetErrorCode(tj) == TJERR_WARNING) {
            status = 1;
        } else {
            fail(err, errlen, "JPEG decoding failed", tjGetErrorStr2(tj));
            tjDestroy(tj);
            return MIXUP_EDATASET;
        }
    }
    tjDestroy(tj);
    if (in->cmyk)
        cmyk_to_rgb(out, (size_t)h * w, in->adobe);
    if (channels == 1)
        img_rgb_to_gray(out, (size_t)h * w);
    return status;
}

/* ------------------------------------------------------------- PNG */

/* Rows [y0, y1) from column x0, one at a time (img_decode_region). */
typedef struct png_region {
    uint32_t y0, y1, x0;
    img_row_fn fn;
    void *ctx;
    uint8_t *row;
} png_region;

typedef struct png_ctx {
    const uint8_t *buf;
    size_t len, pos;
    char msg[160];
    int warned;
    const png_region *region; /* NULL: the whole image into out */
    uint8_t *whole;           /* an interlaced region's buffer */
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    (void)msg;
    c->warned = 1;
}

static void png_on_read(png_structp png, png_bytep out, size_t n)
{
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->len - c->pos)
        png_error(png, "truncated PNG (data ends inside a chunk)");
    memcpy(out, c->buf + c->pos, n);
    c->pos += n;
}

/* The region's rows: a plain PNG row by row, stopping after the last one
 * needed; an interlaced one whole first (its rows are complete only after
 * the seventh pass). */
static void png_rows(png_ctx *c, png_structp png, uint32_t h, uint32_t w,
                     size_t row, int passes, int to_gray, uint32_t channels)
{
    const png_region *rg = c->region;
    size_t cap = IMG_ROW_BYTES(w), skip = (size_t)rg->x0 * channels;
    if (passes > 1) {
        c->whole = malloc((size_t)h * row);
        if (!c->whole)
            png_error(png, "out of memory for an interlaced PNG");
        for (int p = 0; p < passes; p++)
            for (uint32_t y = 0; y < h; y++)
                png_read_row(png, c->whole + y * row, NULL);
        for (uint32_t y = rg->y0; y < rg->y1; y++) {
            uint8_t *r = c->whole + y * row;
            if (to_gray)
                img_rgb_to_gray(r, w);
            rg->fn(rg->ctx, y, r + skip, (size_t)(h - y) * row - skip);
        }
        free(c->whole);
        c->whole = NULL;
        return;
    }
    for (uint32_t y = 0; y < rg->y1; y++) {
        png_read_row(png, rg->row, NULL);
        if (y < rg->y0)
            continue;
        if (to_gray)
            img_rgb_to_gray(rg->row, w);
        rg->fn(rg->ctx, y, rg->row + skip, cap - skip);
    }
}

/* Read the PNG in @c; with @out NULL only its header (into @in). */
static int png_run(png_ctx *c, img_info *in, uint32_t channels, uint8_t *out)
{
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c,
                                             png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(c->msg, sizeof c->msg, "out of memory");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(c->whole);
        c->whole = NULL;
        return -1;
    }
    png_set_read_fn(png, c, png_on_read);
    /* Large images are bounded by dataset.max_pixels, not libpng's own
     * 1M x 1M default. */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);
    uint32_t w = png_get_image_width(png, info);
    uint32_t h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info);
    int type = png_get_color_type(png, info);
    if (!out) {
        in->kind = IMG_PNG;
        in->h = h;
        in->w = w;
        png_destroy_read_struct(&png, &info, NULL);
        return 0;
    }
    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16)
        png_set_strip_16(png);
    if (type & PNG_COLOR_MASK_ALPHA)
        png_set_strip_alpha(png);
    int colour = (type & PNG_COLOR_MASK_COLOR) != 0;
    if (!colour && channels == 3)
        png_set_gray_to_rgb(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t row = png_get_rowbytes(png, info);
    if (row != (size_t)w * (colour || channels == 3 ? 3 : 1))
        png_error(png, "unexpected row size after the transformations");
    if (c->region) {
        png_rows(c, png, h, w, row, passes, colour && channels == 1,
                 channels);
        png_destroy_read_struct(&png, &info, NULL);
        return 0;
    }
    for (int p = 0; p < passes; p++)
        for (uint32_t y = 0; y < h; y++)
            png_read_row(png, out + y * row, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    if (colour && channels == 1)
        img_rgb_to_gray(out, (size_t)h * w);
    return 0;
}

static int probe_png(const uint8_t *buf, size_t len, img_info *in, char *err,
                     size_t errlen)
{
    static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D',
                                     0xAE, 0x42, 0x60, 0x82};
    png_ctx c = {.buf = buf, .len = len};
    if (png_run(&c, in, 0, NULL) < 0)
        return fail(err, errlen, "not a valid PNG", c.msg);
    if (len < 8 + 12 || memcmp(buf + len - 12, iend, 12) != 0)
        return fail(err, errlen, "truncated PNG",
                    "the file does not end with an IEND chunk");
    return 0;
}

/* ------------------------------------------------------------- common */

int img_probe(const uint8_t *buf, size_t len, img_info *info, char *err,
              size_t errlen)
{
    memset(info, 0, sizeof *info);
    int rc;
    if (len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
        rc = probe_jpeg(buf, len, info, err, errlen);
    else if (len >= 8 && memcmp(buf, png_magic, 8) == 0)
        rc = probe_png(buf, len, info, err, errlen);
    else
        return fail(err, errlen, len ? "not a JPEG or PNG file (magic bytes)"
                                     : "empty file (0 bytes)", NULL);
    if (rc == 0 && (info->h == 0 || info->w == 0))
        return fail(err, errlen, "image has a zero dimension", NULL);
    return rc;
}

void img_scaled_size(const img_info *info, uint32_t denom, uint32_t *h,
                     uint32_t *w)
{
    if (info->kind != IMG_JPEG)
        denom = 1;
    *h = (info->h + denom - 1) / denom;
    *w = (info->w + denom - 1) / denom;
}

size_t img_decode_bytes(const img_info *info)
{
    return (size_t)info->h * info->w * 4;
}

int img_decode(const uint8_t *buf, size_t len, const img_info *info,
               uint32_t denom, uint32_t channels, uint8_t *out, char *err,
               size_t errlen)
{
    if (info->kind == IMG_JPEG)
        return decode_jpeg(buf, len, info, denom, channels, out, err, errlen);
    png_ctx c = {.buf = buf, .len = len};
    img_info dummy;
    if (png_run(&c, &dummy, channels, out) < 0)
        return fail(err, errlen, "PNG decoding failed", c.msg);
    return c.warned ? 1 : 0;
}

/* ---- regions of a JPEG: libjpeg's own API (skip_scanlines,
 * crop_scanline) ----
 * TurboJPEG 2.1 decodes whole images only; a crop needs only the rows and
 * columns its taps read. Same decoder, same settings as tjDecompress2's
 * defaults (accurate integer IDCT, fancy upsampling, RGB or CMYK out,
 * 1/denom scaling), so the pixels are those of the whole image (a test
 * compares). */

typedef struct rows_err {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int warned;
    char msg[JMSG_LENGTH_MAX];
} rows_err;

static void rows_error_exit(j_common_ptr ci)
{
    rows_err *e = (rows_err *)(void *)ci->err;
    (*ci->err->format_message)(ci, e->msg);
    longjmp(e->jump, 1);
}

static void rows_emit(j_common_ptr ci, int level)
{
    if (level < 0) /* a warning: corrupt data the decoder got through */
        ((rows_err *)(void *)ci->err)->warned = 1;
}

/* ---- regions of a JPEG: a decoder per thread ---- */

typedef struct jpeg_worker {
    struct jpeg_decompress_struct ci;
    rows_err e;
} jpeg_worker;

static pthread_key_t worker_key;
static pthread_once_t worker_once = PTHREAD_ONCE_INIT;
static _Thread_local jpeg_worker *tls_worker;

static void worker_free(void *p)
{
    jpeg_worker *w = p;
    jpeg_destroy_decompress(&w->ci);
    free(w);
}

static void worker_key_init(void)
{
    (void)pthread_key_create(&worker_key, worker_free);
}

static jpeg_worker *jpeg_worker_get(void)
{
    if (tls_worker)
        return tls_worker;
    pthread_once(&worker_once, worker_key_init);
    jpeg_worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->ci.err = jpeg_std_error(&w->e.pub);
    w->e.pub.error_exit = rows_error_exit;
    w->e.pub.emit_message = rows_emit;
    if (setjmp(w->e.jump)) { /* out of memory creating it */
        free(w);
        return NULL;
    }
    jpeg_create_decompress(&w->ci);
    pthread_setspecific(worker_key, w);
    tls_worker = w;
    return w;
}

typedef struct jpeg_region {
    const uint8_t *buf;
    size_t len;
    const img_info *info;
    uint32_t denom, channels, y0, y1, x0, x1;
    uint8_t *row;
    img_row_fn fn;
    void *ctx;
} jpeg_region;

/* The decoding; an error longjmps to region_jpeg(). */
static int region_jpeg_run(jpeg_worker *wk, const jpeg_region *r)
{
    struct jpeg_decompress_struct *ci = &wk->ci;
    uint32_t h, w;
    img_scaled_size(r->info, r->denom, &h, &w);
    jpeg_mem_src(ci, r->buf, (unsigned long)r->len);
    jpeg_read_header(ci, TRUE);
    ci->out_color_space = r->info->cmyk ? JCS_CMYK : JCS_RGB;
    ci->scale_num = 1;
    ci->scale_denom = r->denom;
    ci->dct_method = JDCT_ISLOW;
    ci->do_fancy_upsampling = TRUE;
    jpeg_start_decompress(ci);
    if (ci->output_height != h || ci->output_width != w) {
        snprintf(wk->e.msg, sizeof wk->e.msg,
                 "scaled to %ux%u, expected %ux%u", ci->output_width,
                 ci->output_height, w, h);
        return -1;
    }
    JDIMENSION xoff = r->x0 > IMG_CROP_MARGIN ? r->x0 - IMG_CROP_MARGIN : 0;
    JDIMENSION end = r->x1 + IMG_CROP_MARGIN < w ? r->x1 + IMG_CROP_MARGIN
                                                 : w;
    JDIMENSION cw = end - xoff;
    if (cw < w) /* aligns xoff down to an iMCU and widens cw */
        jpeg_crop_scanline(ci, &xoff, &cw);
    if (r->y0)
        jpeg_skip_scanlines(ci, r->y0);
    size_t skip = (size_t)(r->x0 - xoff) * r->channels;
    size_t cap = IMG_ROW_BYTES(r->info->w);
    for (uint32_t y = r->y0; y < r->y1; y++) {
        JSAMPROW p = r->row;
        jpeg_read_scanlines(ci, &p, 1);
        if (r->info->cmyk)
            cmyk_to_rgb(r->row, cw, r->info->adobe);
        if (r->channels == 1)
            img_rgb_to_gray(r->row, cw);
        r->fn(r->ctx, y, r->row + skip, cap - skip);
    }
    return 0;
}

static int region_jpeg(const jpeg_region *r, char *err, size_t errlen)
{
    jpeg_worker *wk = jpeg_worker_get();
    if (!wk)
        return fail(err, errlen, "JPEG", "cannot create a decompressor");
    wk->e.warned = 0;
    wk->e.msg[0] = 0;
    if (setjmp(wk->e.jump)) {
        jpeg_abort_decompress(&wk->ci);
        return fail(err, errlen, "JPEG decoding failed", wk->e.msg);
    }
    int rc = region_jpeg_run(wk, r);
    jpeg_abort_decompress(&wk->ci); /* the rows below are not needed */
    if (rc < 0)
        return fail(err, errlen, "JPEG decoding failed", wk->e.msg);
    return wk->e.warned ? 1 : 0;
}

int img_decode_region(const uint8_t *buf, size_t len, const img_info *info,
                      uint32_t denom, uint32_t channels, uint32_t y0,
                      uint32_t y1, uint32_t x0, uint32_t x1, uint8_t *row,
                      img_row_fn fn, void *ctx, char *err, size_t errlen)
{
    uint32_t h, w;
    img_scaled_size(info, denom, &h, &w);
    if (y0 >= y1 || y1 > h || x0 >= x1 || x1 > w)
        return fail(err, errlen, "image region", "out of the image");
    if (info->kind == IMG_JPEG) {
        jpeg_region r = {.buf = buf, .len = len, .info = info,
                         .denom = denom, .channels = channels, .y0 = y0,
                         .y1 = y1, .x0 = x0, .x1 = x1, .row = row, .fn = fn,
                         .ctx = ctx};
        return region_jpeg(&r, err, errlen);
    }
    png_region rg = {.y0 = y0, .y1 = y1, .x0 = x0, .fn = fn, .ctx = ctx,
                     .row = row};
    png_ctx c = {.buf = buf, .len = len, .region = &rg};
    img_info dummy;
    if (png_run(&c, &dummy, channels, row) < 0)
        return fail(err, errlen, "PNG decoding failed", c.msg);
    return c.warned ? 1 : 0;
}

void img_rgb_to_gray(uint8_t *px, size_t n)
{
    for (size_t i = 0; i < n; i++)
        px[i] = (uint8_t)((px[3 * i] * 19595u + px[3 * i + 1] * 38470u +
                           px[3 * i + 2] * 7471u + 0x8000u) >> 16);
}
