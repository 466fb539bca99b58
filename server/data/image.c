/*
 * image.c — see image.h.
 */
#include "image.h"

#include <limits.h>
#include <png.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>
/* jpeglib.h wants FILE and size_t declared first. */
#include <jpeglib.h>
#include <jerror.h>

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

static int is_sof(uint8_t m)
{
    return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

/* The frame header (SOF): size and each component's sampling factors. */
static int read_sof(const uint8_t *p, size_t n, uint8_t m, img_jpeg_layout *l)
{
    if (n < 6 || p[5] == 0 || n < 6 + 3 * (size_t)p[5])
        return -1;
    l->sof = m;
    l->h = (uint32_t)p[1] << 8 | p[2];
    l->w = (uint32_t)p[3] << 8 | p[4];
    l->ncomp = p[5];
    for (uint32_t c = 0; c < l->ncomp && c < 4; c++) {
        l->hs[c] = p[6 + 3 * c + 1] >> 4;
        l->vs[c] = p[6 + 3 * c + 1] & 15;
    }
    return 0;
}

int img_jpeg_walk(const uint8_t *buf, size_t len, img_jpeg_layout *l)
{
    memset(l, 0, sizeof *l);
    if (len < 4 || buf[0] != 0xFF || buf[1] != 0xD8)
        return -1;
    /* The header: segments back to back, up to the first scan. */
    size_t pos = 2;
    for (;;) {
        if (pos + 4 > len || buf[pos] != 0xFF)
            return -1;
        uint8_t m = buf[pos + 1];
        if (m == 0xFF) { /* fill byte */
            pos++;
            continue;
        }
        if (m == 0xD9) /* EOI: no image (the decoder says so) */
            return 0;
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { /* no length */
            pos += 2;
            continue;
        }
        size_t seg = (size_t)buf[pos + 2] << 8 | buf[pos + 3];
        if (seg < 2 || seg > len - pos - 2)
            return -1;
        const uint8_t *p = buf + pos + 4;
        if (m == 0xEE && seg >= 2 + 5 && memcmp(p, "Adobe", 5) == 0)
            l->adobe = 1;
        if (is_sof(m) && !l->sof && read_sof(p, seg - 2, m, l) < 0)
            return -1;
        pos += 2 + seg;
        if (m == 0xDA)
            break;
    }
    /* The scans: entropy-coded data (0xFF stuffed as FF 00, restart
     * markers inside) with table segments between scans. Only the scans
     * are counted here; the decoder judges the rest. */
    l->scans = 1;
    while (pos + 1 < len) {
        const uint8_t *ff = memchr(buf + pos, 0xFF, len - pos - 1);
        if (!ff)
            break;
        pos = (size_t)(ff - buf);
        uint8_t m = buf[pos + 1];
        if (m == 0xFF) {
            pos++;
            continue;
        }
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
            pos += 2;
            continue;
        }
        if (m == 0xD9 || pos + 4 > len)
            break;
        size_t seg = (size_t)buf[pos + 2] << 8 | buf[pos + 3];
        if (seg < 2 || seg > len - pos - 2)
            break;
        if (m == 0xDA && l->scans < UINT32_MAX)
            l->scans++;
        pos += 2 + seg;
    }
    return 0;
}

uint64_t img_jpeg_coef_bytes(const img_jpeg_layout *l)
{
    uint32_t mh = 1, mv = 1, n = l->ncomp < 4 ? l->ncomp : 4;
    for (uint32_t c = 0; c < n; c++) {
        mh = l->hs[c] > mh ? l->hs[c] : mh;
        mv = l->vs[c] > mv ? l->vs[c] : mv;
    }
    uint64_t bytes = 0;
    for (uint32_t c = 0; c < n; c++) {
        uint64_t hs = l->hs[c] ? l->hs[c] : 1, vs = l->vs[c] ? l->vs[c] : 1;
        uint64_t bw = ((uint64_t)l->w * hs + 8 * mh - 1) / (8 * mh);
        uint64_t bh = ((uint64_t)l->h * vs + 8 * mv - 1) / (8 * mv);
        bw = (bw + hs - 1) / hs * hs;
        bh = (bh + vs - 1) / vs * vs;
        bytes += bw * bh * 64 * sizeof(JCOEF);
    }
    return bytes;
}

/* The decoders' own guard for a file that reaches them unprobed. */
static int over_memory(const img_info *in, char *err, size_t errlen)
{
    if (!in->max_memory || in->coef_bytes <= in->max_memory)
        return 0;
    snprintf(err, errlen, "JPEG refused: decoding this %s file needs a "
             "%llu-byte coefficient buffer, more than the bound of %llu",
             in->progressive ? "progressive" : "multi-scan",
             (unsigned long long)in->coef_bytes,
             (unsigned long long)in->max_memory);
    return MIXUP_EDATASET;
}

static int probe_jpeg(const uint8_t *buf, size_t len, img_info *in, char *err,
                      size_t errlen)
{
    img_jpeg_layout lay;
    if (img_jpeg_walk(buf, len, &lay) < 0)
        return fail(err, errlen, "not a valid JPEG",
                    "broken marker structure before the image data");
    int adobe = lay.adobe;
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
    if (lay.w != (uint32_t)w || lay.h != (uint32_t)h)
        return fail(err, errlen, "not a valid JPEG",
                    "more than one frame header");
    if (lay.scans > IMG_MAX_SCANS) {
        snprintf(err, errlen, "JPEG with %u scans, more than %d (each scan "
                 "is a pass over the whole image)", lay.scans, IMG_MAX_SCANS);
        return MIXUP_EDATASET;
    }
    int prog = lay.sof == 0xC2 || lay.sof == 0xC6 || lay.sof == 0xCA ||
               lay.sof == 0xCE;
    *in = (img_info){.kind = IMG_JPEG, .h = (uint32_t)h, .w = (uint32_t)w,
                     .cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK,
                     .adobe = (uint8_t)adobe, .progressive = (uint8_t)prog,
                     .scans = lay.scans,
                     .coef_bytes = prog || lay.scans > 1
                                       ? img_jpeg_coef_bytes(&lay) : 0};
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
    if (over_memory(in, err, errlen) < 0)
        return MIXUP_EDATASET;
    tjhandle tj = tjInitDecompress();
    if (!tj)
        return fail(err, errlen, "JPEG", "cannot create a decompressor");
    int pf = in->cmyk ? TJPF_CMYK : TJPF_RGB;
    /* LIMITSCANS: at most IMG_MAX_SCANS (TurboJPEG's 500) scans. */
    int rc = tjDecompress2(tj, buf, (unsigned long)len, out, (int)w, 0,
                           (int)h, pf, TJFLAG_LIMITSCANS);
    int status = 0;
    if (rc < 0) {
        if (tjGetErrorCode(tj) == TJERR_WARNING) {
            status = 1;
            fail(err, errlen, "damaged JPEG data", tjGetErrorStr2(tj));
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
    if (!c->warned++) /* the first says most */
        snprintf(c->msg, sizeof c->msg, "%s", msg);
}

static void png_on_read(png_structp png, png_bytep out, size_t n)
{
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->len - c->pos)
        png_error(png, "truncated PNG (data ends inside a chunk)");
    memcpy(out, c->buf + c->pos, n);
    c->pos += n;
}

/* A palette shorter than the indices can address: PIL reads an index past
 * its end as gray (i, i, i) (its palettes start as a gray ramp); libpng as
 * black. The ramp fills the rest, so the pixels are PIL's. */
static void full_palette(png_structp png, png_infop info, int depth)
{
    png_colorp pal;
    int n = 0;
    if (png_get_PLTE(png, info, &pal, &n) != PNG_INFO_PLTE || depth > 8 ||
        n >= 1 << depth)
        return;
    png_color full[256];
    for (int i = 0; i < 1 << depth; i++)
        full[i] = i < n ? pal[i]
                        : (png_color){(png_byte)i, (png_byte)i, (png_byte)i};
    png_set_PLTE(png, info, full, 1 << depth);
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
    if (type == PNG_COLOR_TYPE_PALETTE) {
        full_palette(png, info, depth);
        png_set_palette_to_rgb(png);
    }
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16)
        png_set_strip_16(png);
    /* Alpha is dropped, not composited (PIL's convert("RGB")), and so is
     * a tRNS chunk, which expanding a palette turns into an alpha
     * channel. */
    if ((type & PNG_COLOR_MASK_ALPHA) ||
        png_get_valid(png, info, PNG_INFO_tRNS))
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
    if (c.warned)
        fail(err, errlen, "libpng warned", c.msg);
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
    if (ci->err->msg_code == JERR_NO_BACKING_STORE) /* max_memory_to_use */
        snprintf(e->msg, sizeof e->msg, "the decoder needs more memory than "
                 "the bound of %ld bytes", ci->mem->max_memory_to_use);
    else
        (*ci->err->format_message)(ci, e->msg);
    longjmp(e->jump, 1);
}

/* TurboJPEG's TJFLAG_LIMITSCANS, for the libjpeg API. */
static void rows_progress(j_common_ptr ci)
{
    if (((j_decompress_ptr)ci)->input_scan_number > IMG_MAX_SCANS) {
        rows_err *e = (rows_err *)(void *)ci->err;
        snprintf(e->msg, sizeof e->msg, "more than %d scans", IMG_MAX_SCANS);
        longjmp(e->jump, 1);
    }
}

static void rows_emit(j_common_ptr ci, int level)
{
    rows_err *e = (rows_err *)(void *)ci->err;
    /* A warning: corrupt data the decoder got through. The first one is
     * kept, as TurboJPEG keeps it. */
    if (level < 0 && !e->warned++)
        (*ci->err->format_message)(ci, e->msg);
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
    if (over_memory(r->info, err, errlen) < 0)
        return MIXUP_EDATASET;
    wk->e.warned = 0;
    wk->e.msg[0] = 0;
    /* A scan limit (TurboJPEG's TJFLAG_LIMITSCANS) and a memory bound:
     * past max_memory_to_use libjpeg fails (no backing store). Besides
     * the coefficient buffer it holds ~20 KB and ~40 bytes per column of
     * row buffers (measured, 4:4:4 to 4:2:0): room for those is added. */
    struct jpeg_progress_mgr progress = {.progress_monitor = rows_progress};
    wk->ci.progress = &progress;
    uint64_t room = (1u << 20) + 128 * (uint64_t)r->info->w;
    wk->ci.mem->max_memory_to_use =
        !r->info->max_memory ? 0
        : r->info->max_memory > LONG_MAX - room ? LONG_MAX
                                                : (long)(r->info->max_memory + room);
    if (setjmp(wk->e.jump)) {
        jpeg_abort_decompress(&wk->ci);
        wk->ci.progress = NULL;
        return fail(err, errlen, "JPEG decoding failed", wk->e.msg);
    }
    int rc = region_jpeg_run(wk, r);
    jpeg_abort_decompress(&wk->ci); /* the rows below are not needed */
    wk->ci.progress = NULL;
    if (rc < 0)
        return fail(err, errlen, "JPEG decoding failed", wk->e.msg);
    if (wk->e.warned)
        fail(err, errlen, "damaged JPEG data", wk->e.msg);
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
