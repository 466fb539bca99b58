/*
 * test_images.c — image folders and lists (dataset_image.c, image.c):
 * the list parser, the folder scan, PNG variants decoded to known pixels,
 * JPEG decoded as libjpeg-turbo decodes it, and bad files at load.
 */
#include <criterion/criterion.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
/* jpeglib.h wants FILE and size_t declared first. */
#include <jpeglib.h>
#include <unistd.h>
#include <zlib.h>

#include "dataset.h"
#include "dataset_image.h"
#include "image.h"
#include "log.h"
#include "mixup_errors.h"
#include "testutil.h"

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "%s", path);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* A PNG of @type/@depth, w x h, pixel rows from @rows (packed). */
static void write_png(const char *path, uint32_t w, uint32_t h, int type,
                      int depth, const uint8_t *px, const png_color *pal,
                      int npal)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
                                              NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, depth, type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pal)
        png_set_PLTE(png, info, pal, npal);
    png_write_info(png, info);
    size_t row = png_get_rowbytes(png, info);
    for (uint32_t y = 0; y < h; y++)
        png_write_row(png, px + y * row);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

/* An 8-bit PNG of @type (RGB or GRAY) from @px, Adam7 when @interlace. */
static void write_png_interlace(const char *path, uint32_t w, uint32_t h,
                                int type, const uint8_t *px, int interlace)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
                                              NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, 8, type,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    size_t row = png_get_rowbytes(png, info);
    png_bytep *rows = malloc(h * sizeof *rows);
    for (uint32_t y = 0; y < h; y++)
        rows[y] = (png_bytep)(px + y * row);
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(rows);
    fclose(f);
}

static uint8_t *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void decode_file(const char *path, uint32_t ch, uint8_t *out)
{
    size_t n;
    uint8_t *b = read_all(path, &n);
    img_info in;
    char err[256];
    cr_assert_eq(img_probe(b, n, &in, err, sizeof err), 0, "%s", err);
    cr_assert_eq(img_decode(b, n, &in, 1, ch, out, err, sizeof err), 0, "%s",
                 err);
    free(b);
}

Test(images, png_variants_decode_to_known_pixels)
{
    char *dir = tu_tmpdir("png");
    char p[512];
    uint8_t out[64];
    /* gray 8 -> replicated */
    const uint8_t gray[2] = {10, 200};
    snprintf(p, sizeof p, "%s/g.png", dir);
    write_png(p, 2, 1, PNG_COLOR_TYPE_GRAY, 8, gray, NULL, 0);
    decode_file(p, 3, out);
    cr_assert(out[0] == 10 && out[1] == 10 && out[2] == 10 && out[3] == 200);
    /* RGBA -> alpha dropped; to gray with PIL's weights */
    const uint8_t rgba[8] = {255, 0, 0, 7, 0, 0, 255, 99};
    snprintf(p, sizeof p, "%s/a.png", dir);
    write_png(p, 2, 1, PNG_COLOR_TYPE_RGBA, 8, rgba, NULL, 0);
    decode_file(p, 3, out);
    cr_assert(out[0] == 255 && out[1] == 0 && out[2] == 0 && out[5] == 255);
    decode_file(p, 1, out);
    cr_assert_eq(out[0], (255 * 19595 + 0x8000) >> 16);
    cr_assert_eq(out[1], (255 * 7471 + 0x8000) >> 16);
    /* palette */
    const png_color pal[2] = {{1, 2, 3}, {250, 251, 252}};
    const uint8_t idx[2] = {1, 0};
    snprintf(p, sizeof p, "%s/p.png", dir);
    write_png(p, 2, 1, PNG_COLOR_TYPE_PALETTE, 8, idx, pal, 2);
    decode_file(p, 3, out);
    cr_assert(out[0] == 250 && out[2] == 252 && out[3] == 1 && out[5] == 3);
    /* 16-bit gray: the high byte */
    const uint8_t g16[4] = {0x12, 0x34, 0xff, 0x00};
    snprintf(p, sizeof p, "%s/s.png", dir);
    write_png(p, 2, 1, PNG_COLOR_TYPE_GRAY, 16, g16, NULL, 0);
    decode_file(p, 1, out);
    cr_assert(out[0] == 0x12 && out[1] == 0xff);
    tu_rmtree(dir);
    free(dir);
}

/* Every PNG colour type and bit depth, with tRNS, alpha and Adam7, decodes
 * to the bytes Pillow's convert("RGB") and convert("L") give (what
 * torchvision's default loader serves): tests/data/png, written by
 * make_fixtures.py there, with Pillow's output beside each file. */
Test(images, png_matches_pil)
{
    static const char *names[] = {
        "p8_trns", "p4_trns_adam7", "p2_trns", "p1", "p8_all_transparent",
        "p8_short_palette", "p2_short_palette",
        "l1_trns", "l2_trns", "l4_trns", "l8_trns", "l8_adam7", "la8",
        "la16", "rgb8_trns", "rgb16_trns", "rgba8", "rgba8_adam7", "rgba16"};
    const char *root = getenv("MIXUPD_SOURCE_ROOT");
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char p[1024];
        size_t n, nrgb, nl;
        snprintf(p, sizeof p, "%s/tests/data/png/%s.png", root ? root : ".",
                 names[i]);
        uint8_t *png = read_all(p, &n);
        snprintf(p, sizeof p, "%s/tests/data/png/%s.rgb", root ? root : ".",
                 names[i]);
        uint8_t *rgb = read_all(p, &nrgb);
        snprintf(p, sizeof p, "%s/tests/data/png/%s.l", root ? root : ".",
                 names[i]);
        uint8_t *l = read_all(p, &nl);
        img_info in;
        char err[256];
        cr_assert_eq(img_probe(png, n, &in, err, sizeof err), 0, "%s: %s",
                     names[i], err);
        cr_assert_eq((size_t)in.h * in.w * 3, nrgb, "%s", names[i]);
        uint8_t *out = malloc(img_decode_bytes(&in));
        cr_assert_eq(img_decode(png, n, &in, 1, 3, out, err, sizeof err), 0,
                     "%s: %s", names[i], err);
        cr_assert_eq(memcmp(out, rgb, nrgb), 0, "%s: RGB differs from PIL's",
                     names[i]);
        cr_assert_eq(img_decode(png, n, &in, 1, 1, out, err, sizeof err), 0,
                     "%s: %s", names[i], err);
        cr_assert_eq(memcmp(out, l, nl), 0, "%s: L differs from PIL's",
                     names[i]);
        free(out);
        free(png);
        free(rgb);
        free(l);
    }
}

static uint8_t *make_jpeg(int w, int h, int pf, int sub, unsigned long *n)
{
    int ps = tjPixelSize[pf];
    uint8_t *px = malloc((size_t)w * h * ps);
    for (int i = 0; i < w * h * ps; i++)
        px[i] = (uint8_t)((i * 37 + i / 11) & 0xff);
    tjhandle tj = tjInitCompress();
    uint8_t *jpeg = NULL;
    cr_assert_eq(tjCompress2(tj, px, w, 0, h, pf, &jpeg, n, sub, 90, 0), 0);
    tjDestroy(tj);
    free(px);
    return jpeg;
}

/* Scale 1: the bytes libjpeg-turbo gives with its defaults (ISLOW IDCT,
 * fancy upsampling); scaled decodes have TJSCALED sizes. */
Test(images, jpeg_decodes_as_libjpeg_turbo)
{
    unsigned long n;
    uint8_t *jpeg = make_jpeg(61, 37, TJPF_RGB, TJSAMP_420, &n);
    img_info in;
    char err[256];
    cr_assert_eq(img_probe(jpeg, n, &in, err, sizeof err), 0, "%s", err);
    cr_assert(in.kind == IMG_JPEG && in.w == 61 && in.h == 37 && !in.cmyk);
    uint8_t *a = malloc(img_decode_bytes(&in)), *b = malloc(61 * 37 * 3);
    cr_assert_eq(img_decode(jpeg, n, &in, 1, 3, a, err, sizeof err), 0);
    tjhandle tj = tjInitDecompress();
    cr_assert_eq(tjDecompress2(tj, jpeg, n, b, 61, 0, 37, TJPF_RGB, 0), 0);
    tjDestroy(tj);
    cr_assert_eq(memcmp(a, b, 61 * 37 * 3), 0);
    uint32_t h, w;
    img_scaled_size(&in, 4, &h, &w);
    cr_assert(h == 10 && w == 16);
    cr_assert_eq(img_decode(jpeg, n, &in, 4, 3, a, err, sizeof err), 0);
    /* truncated: refused at the header check */
    cr_assert_eq(img_probe(jpeg, n / 2, &in, err, sizeof err), MIXUP_EDATASET);
    cr_assert(strstr(err, "truncated"), "%s", err);
    tjFree(jpeg);
    /* CMYK */
    jpeg = make_jpeg(16, 8, TJPF_CMYK, TJSAMP_444, &n);
    cr_assert_eq(img_probe(jpeg, n, &in, err, sizeof err), 0, "%s", err);
    cr_assert(in.cmyk);
    cr_assert_eq(img_decode(jpeg, n, &in, 1, 3, a, err, sizeof err), 0);
    tjFree(jpeg);
    free(a);
    free(b);
}

/* The serving path's decoder (img_decode_region) over whole rows y0..y1,
 * gathered into @out as the rows of a (y1 - y0) x w image. */
typedef struct rows_sink {
    uint8_t *out;
    size_t stride;
    uint32_t y0;
} rows_sink;

static void sink_row(void *ctx, uint32_t y, const uint8_t *px, size_t avail)
{
    rows_sink *s = ctx;
    memcpy(s->out + (size_t)(y - s->y0) * s->stride, px,
           avail < s->stride ? avail : s->stride);
}

static int decode_rows(const uint8_t *buf, size_t n, const img_info *info,
                       uint32_t denom, uint32_t c, uint32_t y0, uint32_t y1,
                       uint8_t *out, char *err, size_t errlen)
{
    uint32_t h, w;
    img_scaled_size(info, denom, &h, &w);
    uint8_t *row = malloc(IMG_ROW_BYTES(info->w));
    rows_sink sk = {.out = out, .stride = (size_t)w * c, .y0 = y0};
    int rc = img_decode_region(buf, n, info, denom, c, y0, y1, 0, w, row,
                               sink_row, &sk, err, errlen);
    free(row);
    return rc;
}

/* A JPEG damaged inside its data: the decoders warn (return 1) and say
 * what they found, in the whole-image and the rows path, and a PNG
 * whose ancillary chunk is bad says it too. */
Test(images, decoder_warnings_carry_their_message)
{
    unsigned long n;
    uint8_t *jpeg = make_jpeg(64, 64, TJPF_RGB, TJSAMP_420, &n);
    size_t cut = n * 6 / 10; /* data cut short, the end marker kept */
    jpeg[cut] = 0xFF;
    jpeg[cut + 1] = 0xD9;
    img_info in;
    char err[256];
    cr_assert_eq(img_probe(jpeg, cut + 2, &in, err, sizeof err), 0, "%s",
                 err);
    uint8_t *out = malloc(img_decode_bytes(&in));
    memset(err, 'p', sizeof err - 1);
    err[sizeof err - 1] = 0;
    cr_assert_eq(img_decode(jpeg, cut + 2, &in, 1, 3, out, err, sizeof err),
                 1);
    cr_assert(strstr(err, "damaged JPEG data: ") &&
              strstr(err, "Corrupt JPEG data"), "%s", err);
    memset(err, 'p', sizeof err - 1);
    cr_assert_eq(decode_rows(jpeg, cut + 2, &in, 1, 3, 0, 64, out, err,
                                 sizeof err), 1);
    cr_assert(strstr(err, "damaged JPEG data: ") &&
              strstr(err, "Corrupt JPEG data"), "%s", err);
    tjFree(jpeg);
    /* A PNG with a text chunk whose CRC is wrong: libpng drops the chunk
     * and warns. */
    char *dir = tu_tmpdir("pngwarn");
    char p[512];
    snprintf(p, sizeof p, "%s/w.png", dir);
    const uint8_t px[4] = {1, 2, 3, 4};
    write_png(p, 4, 1, PNG_COLOR_TYPE_GRAY, 8, px, NULL, 0);
    size_t len;
    uint8_t *png = read_all(p, &len);
    static const uint8_t text[] = {0, 0, 0, 3, 't', 'E', 'X', 't', 'a', 0,
                                   'b', 1, 2, 3, 4}; /* a bad CRC */
    uint8_t *bad = malloc(len + sizeof text);
    memcpy(bad, png, 33); /* signature and IHDR */
    memcpy(bad + 33, text, sizeof text);
    memcpy(bad + 33 + sizeof text, png + 33, len - 33);
    cr_assert_eq(img_probe(bad, len + sizeof text, &in, err, sizeof err), 0,
                 "%s", err);
    memset(err, 'p', sizeof err - 1);
    cr_assert_eq(img_decode(bad, len + sizeof text, &in, 1, 1, out, err,
                            sizeof err), 1);
    cr_assert(strstr(err, "libpng warned: ") && strstr(err, "CRC"), "%s",
              err);
    cr_assert_eq(memcmp(out, px, 4), 0);
    free(bad);
    free(png);
    free(out);
    tu_rmtree(dir);
    free(dir);
}

/* A region decoded alone (img_decode_region: rows skipped, columns
 * cropped with jpeg_crop_scanline, one row at a time) equals the same
 * region of a whole decode. */
typedef struct region_check {
    const uint8_t *whole;
    uint32_t w, c, x0, x1, next_y, rows;
    int bad;
} region_check;

static void check_row(void *ctx, uint32_t y, const uint8_t *px, size_t avail)
{
    region_check *r = ctx;
    size_t n = (size_t)(r->x1 - r->x0) * r->c;
    if (y != r->next_y || avail < n ||
        memcmp(px, r->whole + ((size_t)y * r->w + r->x0) * r->c, n) != 0)
        r->bad = 1;
    r->next_y = y + 1;
    r->rows++;
}

static void regions_equal_whole(const uint8_t *buf, unsigned long n,
                                int denoms_used)
{
    img_info in;
    char err[256];
    cr_assert_eq(img_probe(buf, n, &in, err, sizeof err), 0, "%s", err);
    uint8_t *whole = malloc(img_decode_bytes(&in));
    uint8_t *row = malloc(IMG_ROW_BYTES(in.w));
    const uint32_t denoms[4] = {1, 2, 4, 8};
    for (int d = 0; d < denoms_used; d++) {
        uint32_t h, w;
        img_scaled_size(&in, denoms[d], &h, &w);
        for (uint32_t c = 1; c <= 3; c += 2) {
            cr_assert_eq(img_decode(buf, n, &in, denoms[d], c, whole, err,
                                    sizeof err), 0, "%s", err);
            const uint32_t ys[][2] = {{0, 1}, {0, h}, {1, h}, {7, 9},
                                      {8, 17}, {9, 16}, {15, h},
                                      {h / 2, h / 2 + 1}, {h - 1, h}};
            const uint32_t xs[][2] = {{0, 1}, {0, w}, {1, w}, {7, 9},
                                      {8, 17}, {9, 40}, {17, w - 1},
                                      {w / 2, w / 2 + 1}, {w - 1, w},
                                      {33, 34}, {40, w}};
            for (size_t i = 0; i < sizeof ys / sizeof *ys; i++)
                for (size_t j = 0; j < sizeof xs / sizeof *xs; j++) {
                    uint32_t y0 = ys[i][0], y1 = ys[i][1];
                    uint32_t x0 = xs[j][0], x1 = xs[j][1];
                    if (y0 >= y1 || y1 > h || x0 >= x1 || x1 > w)
                        continue;
                    region_check r = {.whole = whole, .w = w, .c = c,
                                      .x0 = x0, .x1 = x1, .next_y = y0};
                    cr_assert_eq(img_decode_region(buf, n, &in, denoms[d], c,
                                                   y0, y1, x0, x1, row,
                                                   check_row, &r, err,
                                                   sizeof err),
                                 0, "%s", err);
                    cr_assert(!r.bad && r.rows == y1 - y0,
                              "region rows %u..%u cols %u..%u at 1/%u, %u "
                              "channel(s) differ from the whole decode",
                              y0, y1, x0, x1, denoms[d], c);
                }
        }
    }
    free(whole);
    free(row);
}

Test(images, jpeg_regions_alone_equal_the_whole_image)
{
    const int subs[] = {TJSAMP_420, TJSAMP_422, TJSAMP_444, TJSAMP_440,
                        TJSAMP_411};
    for (int i = 0; i < 5; i++) {
        unsigned long n;
        uint8_t *jpeg = make_jpeg(83, 71, TJPF_RGB, subs[i], &n);
        regions_equal_whole(jpeg, n, 4);
        tjFree(jpeg);
        /* wider than the margin on both sides of every crop */
        jpeg = make_jpeg(150, 40, TJPF_RGB, subs[i], &n);
        regions_equal_whole(jpeg, n, 4);
        tjFree(jpeg);
    }
    unsigned long n;
    uint8_t *jpeg = make_jpeg(90, 50, TJPF_GRAY, TJSAMP_GRAY, &n);
    regions_equal_whole(jpeg, n, 4);
    tjFree(jpeg);
    jpeg = make_jpeg(90, 50, TJPF_CMYK, TJSAMP_444, &n);
    regions_equal_whole(jpeg, n, 4);
    tjFree(jpeg);
    jpeg = make_jpeg(90, 50, TJPF_CMYK, TJSAMP_420, &n);
    regions_equal_whole(jpeg, n, 4);
    tjFree(jpeg);
    /* A real photograph when python3-sklearn has one. */
    FILE *f = fopen("/usr/lib/python3/dist-packages/sklearn/datasets/"
                    "images/china.jpg", "rb");
    if (f) {
        static uint8_t buf[1 << 20];
        size_t got_n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        regions_equal_whole(buf, got_n, 4);
    }
    const int psubs[] = {TJSAMP_420, TJSAMP_444};
    for (int i = 0; i < 2; i++) {
        int w = 120, h = 48;
        uint8_t *px = malloc((size_t)w * h * 3);
        for (int k = 0; k < w * h * 3; k++)
            px[k] = (uint8_t)(k * 7 + (k / 97) * 13);
        tjhandle tj = tjInitCompress();
        uint8_t *pj = NULL;
        cr_assert_eq(tjCompress2(tj, px, w, 0, h, TJPF_RGB, &pj, &n,
                                 psubs[i], 85, TJFLAG_PROGRESSIVE), 0);
        tjDestroy(tj);
        free(px);
        regions_equal_whole(pj, n, 4);
        tjFree(pj);
    }
}

Test(images, png_regions_alone_equal_the_whole_image)
{
    char *dir = tu_tmpdir("pngreg");
    char p[512];
    uint32_t w = 70, h = 45;
    uint8_t *px = malloc((size_t)w * h * 3);
    for (uint32_t k = 0; k < w * h * 3; k++)
        px[k] = (uint8_t)(k * 11 + k / 7);
    const int types[2] = {PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_GRAY};
    for (int interlace = 0; interlace < 2; interlace++)
        for (int t = 0; t < 2; t++) {
            snprintf(p, sizeof p, "%s/r%d%d.png", dir, interlace, t);
            write_png_interlace(p, w, h, types[t], px, interlace);
            size_t n;
            uint8_t *buf = read_all(p, &n);
            regions_equal_whole(buf, n, 1);
            free(buf);
        }
    free(px);
    tu_rmtree(dir);
}

typedef struct got {
    char path[8][64];
    int32_t label[8];
    int n;
} got;

static int collect(void *ctx, const char *path, size_t plen, int32_t label,
                   unsigned line)
{
    got *g = ctx;
    (void)line;
    snprintf(g->path[g->n], 64, "%.*s", (int)plen, path);
    g->label[g->n++] = label;
    return 0;
}

Test(images, list_parser)
{
    const char *t = "# comment\n\n  a b.jpg   3 \r\nc.png\t0\n   # x\nd 12";
    got g = {0};
    char err[256];
    cr_assert_eq(dsi_parse_list(t, strlen(t), "l", collect, &g, err,
                                sizeof err), 0, "%s", err);
    cr_assert_eq(g.n, 3);
    cr_assert_str_eq(g.path[0], "a b.jpg");
    cr_assert_eq(g.label[0], 3);
    cr_assert_str_eq(g.path[1], "c.png");
    cr_assert_eq(g.label[2], 12);
    const char *bad[] = {"x.jpg -1\n", "x.jpg\n", "x.jpg 1a\n",
                         "x.jpg 99999999999\n"};
    for (int i = 0; i < 4; i++) {
        got h = {0};
        cr_assert_eq(dsi_parse_list(bad[i], strlen(bad[i]), "l", collect, &h,
                                    err, sizeof err), MIXUP_EDATASET, "%s",
                     bad[i]);
        cr_assert(strstr(err, "l:1:"), "%s", err);
    }
    cr_assert(dsi_image_name("A.JPG") && dsi_image_name("b.jpeg") &&
              dsi_image_name("c.PnG") && !dsi_image_name("d.gif") &&
              !dsi_image_name(".png"));
}

static ds_source folder_src(const char *dir)
{
    return (ds_source){.format = DS_FOLDER, .images = dir, .channels = 3,
                       .max_pixels = 1u << 20, .segment = "imgtest"};
}

/* A folder of classes b/ and A/ with good and bad files. */
static char *make_folder(void)
{
    char *dir = tu_tmpdir("folder");
    char p[512];
    unsigned long n;
    uint8_t *jpeg = make_jpeg(20, 10, TJPF_RGB, TJSAMP_420, &n);
    const char *cls[2] = {"b", "A"};
    for (int c = 0; c < 2; c++) {
        snprintf(p, sizeof p, "%s/%s", dir, cls[c]);
        mkdir(p, 0755);
        for (int i = 0; i < 2; i++) {
            snprintf(p, sizeof p, "%s/%s/%d.JPG", dir, cls[c], i);
            write_file(p, jpeg, n);
        }
        snprintf(p, sizeof p, "%s/%s/readme.txt", dir, cls[c]);
        write_file(p, "hi", 2);
    }
    tjFree(jpeg);
    return dir;
}

Test(images, folder_classes_sorted_and_files_packed)
{
    char *dir = make_folder();
    ds_source src = folder_src(dir);
    ds_dataset ds;
    char err[512];
    cr_assert_eq(ds_load(&ds, &src, tu_unique("img"), err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(ds.n, 4u);
    cr_assert_eq(ds.classes, 2u);
    cr_assert_str_eq(ds.class_names, "A");
    cr_assert_str_eq(ds.class_names + 2, "b");
    cr_assert(ds.encoded && ds.max_w == 20 && ds.max_h == 10);
    cr_assert_eq(ds.labels[0], 0);
    cr_assert_eq(ds.labels[3], 1);
    cr_assert(strstr(ds_path(&ds, 1), "/A/1.JPG"), "%s", ds_path(&ds, 1));
    ds_unload(&ds);
    /* bounded memory: an image over max_pixels is a bad file */
    src.max_pixels = 199;
    cr_assert_eq(ds_load(&ds, &src, tu_unique("img"), err, sizeof err),
                 MIXUP_EDATASET);
    cr_assert(strstr(err, "A/0.JPG") && strstr(err, "max_pixels"), "%s", err);
    tu_rmtree(dir);
    free(dir);
}

/* Each bad file names itself at load; with skip it is left out. */
Test(images, bad_files_are_named_or_skipped)
{
    static const uint8_t crc_png_head[8] = {0x89, 'P', 'N', 'G', '\r', '\n',
                                            0x1a, '\n'};
    const char *cases[] = {"empty", "text", "truncated", "badcrc", "huge"};
    for (int c = 0; c < 5; c++) {
        char *dir = make_folder();
        char p[512];
        snprintf(p, sizeof p, "%s/A/bad.png", dir);
        uint8_t buf[128];
        size_t n = 0;
        if (c == 1) {
            memcpy(buf, "hello", 5);
            n = 5;
        } else if (c == 2 || c == 3 || c == 4) {
            /* a 1x1 or 20000x20000 gray PNG header, cut after IHDR */
            uint8_t ihdr[17] = {'I', 'H', 'D', 'R', 0, 0, 0, 1, 0, 0, 0, 1,
                                8, 0, 0, 0, 0};
            if (c == 4) {
                ihdr[6] = 0x4e, ihdr[7] = 0x20, ihdr[10] = 0x4e,
                ihdr[11] = 0x20;
            }
            memcpy(buf, crc_png_head, 8);
            buf[8] = 0, buf[9] = 0, buf[10] = 0, buf[11] = 13;
            memcpy(buf + 12, ihdr, 17);
            uint32_t crc = (uint32_t)crc32(0, ihdr, 17) ^ (c == 3 ? 1u : 0u);
            buf[29] = crc >> 24, buf[30] = crc >> 16, buf[31] = crc >> 8,
            buf[32] = (uint8_t)crc;
            n = 33; /* no IDAT, no IEND */
        }
        write_file(p, buf, n);
        ds_source src = folder_src(dir);
        ds_dataset ds;
        char err[512];
        int rc = ds_load(&ds, &src, tu_unique("img"), err, sizeof err);
        cr_assert_eq(rc, MIXUP_EDATASET, "%s: %d", cases[c], rc);
        cr_assert(strstr(err, "A/bad.png"), "%s: %s", cases[c], err);
        src.skip_bad = 1;
        cr_assert_eq(ds_load(&ds, &src, tu_unique("img"), err,
                             sizeof err), 0, "%s", err);
        cr_assert_eq(ds.n, 4u);
        ds_unload(&ds);
        tu_rmtree(dir);
        free(dir);
    }
}

Test(images, empty_folder_and_empty_class)
{
    char *dir = tu_tmpdir("empty");
    ds_source src = folder_src(dir);
    ds_dataset ds;
    char err[512];
    cr_assert_eq(ds_load(&ds, &src, tu_unique("img"), err, sizeof err),
                 MIXUP_EDATASET);
    cr_assert(strstr(err, "no class folders"), "%s", err);
    char p[512];
    snprintf(p, sizeof p, "%s/cls", dir);
    mkdir(p, 0755);
    cr_assert_eq(ds_load(&ds, &src, tu_unique("img"), err, sizeof err),
                 MIXUP_EDATASET);
    cr_assert(strstr(err, "has no .jpg"), "%s", err);
    tu_rmtree(dir);
    free(dir);
}

/* ---- files that change between the listing and the reading ---- */

/* A solid w x h RGB PNG of colour @rgb, padded with a text chunk after its
 * header to @pad_to bytes when that is larger. Returns its size. */
static size_t write_solid_png(const char *path, uint32_t w, uint32_t h,
                              const uint8_t rgb[3], size_t pad_to)
{
    uint8_t *px = malloc((size_t)w * h * 3);
    for (size_t i = 0; i < (size_t)w * h; i++)
        memcpy(px + 3 * i, rgb, 3);
    write_png(path, w, h, PNG_COLOR_TYPE_RGB, 8, px, NULL, 0);
    free(px);
    size_t n;
    uint8_t *b = read_all(path, &n);
    if (pad_to > n) {
        size_t body = pad_to - n - 12; /* length, type, CRC */
        cr_assert(pad_to >= n + 14);
        uint8_t *o = calloc(1, pad_to);
        memcpy(o, b, 33); /* signature, IHDR */
        uint8_t *c = o + 33;
        c[0] = (uint8_t)(body >> 24), c[1] = (uint8_t)(body >> 16);
        c[2] = (uint8_t)(body >> 8), c[3] = (uint8_t)body;
        memcpy(c + 4, "tEXt", 4);
        c[8] = 'k'; /* keyword "k", then the text: zeros after it */
        for (size_t i = 10; i < 8 + body; i++)
            c[i] = 'x';
        uint32_t crc = (uint32_t)crc32(0, c + 4, (uInt)(4 + body));
        c[8 + body] = (uint8_t)(crc >> 24), c[9 + body] = (uint8_t)(crc >> 16);
        c[10 + body] = (uint8_t)(crc >> 8), c[11 + body] = (uint8_t)crc;
        memcpy(c + 12 + body, b + 33, n - 33);
        write_file(path, o, pad_to);
        free(o);
        n = pad_to;
    }
    free(b);
    return n;
}

typedef struct swap {
    char path[512]; /* the file to replace */
    char with[512]; /* by this one (renamed over it), or "" for a FIFO */
    int calls;
} swap;

static void do_swap(void *arg)
{
    swap *w = arg;
    w->calls++;
    if (w->with[0]) {
        cr_assert_eq(rename(w->with, w->path), 0);
    } else {
        cr_assert_eq(unlink(w->path), 0);
        cr_assert_eq(mkfifo(w->path, 0600), 0);
    }
}

/* A folder c/ of two 8x8 PNGs, and big.png (3000x3000, the same size in
 * bytes as c/1.png) beside it. */
static char *make_swap_folder(swap *w, const uint8_t rgb[3])
{
    char *dir = tu_tmpdir("swap");
    char p[512];
    snprintf(p, sizeof p, "%s/c", dir);
    mkdir(p, 0755);
    const uint8_t grey[3] = {9, 9, 9};
    snprintf(p, sizeof p, "%s/c/0.png", dir);
    write_solid_png(p, 8, 8, grey, 0);
    snprintf(w->with, sizeof w->with, "%s/big.png", dir);
    size_t big = write_solid_png(w->with, 3000, 3000, rgb, 0);
    snprintf(w->path, sizeof w->path, "%s/c/1.png", dir);
    cr_assert_eq(write_solid_png(w->path, 8, 8, grey, big), big);
    w->calls = 0;
    return dir;
}

/* storage = decoded: an 8x8 PNG replaced by a 3000x3000 one of the same
 * byte size after the sizing pass is decoded as what it is now (it
 * overflowed a buffer sized from the 8x8 header before); encoded, its
 * bytes are packed with its own header. */
Test(images, file_swapped_after_sizing_is_read_as_it_is_now)
{
    const uint8_t rgb[3] = {37, 150, 222};
    for (int decoded = 0; decoded <= 1; decoded++) {
        swap w;
        char *dir = make_swap_folder(&w, rgb);
        ds_source src = folder_src(dir);
        src.max_pixels = 1u << 24;
        src.decoded = decoded;
        src.height = src.width = 8;
        dsi_after_sizing = do_swap;
        dsi_after_sizing_arg = &w;
        ds_dataset ds;
        char err[512];
        cr_assert_eq(ds_load(&ds, &src, tu_unique("img"), err, sizeof err), 0,
                     "%s", err);
        dsi_after_sizing = NULL;
        cr_assert_eq(w.calls, 1);
        cr_assert_eq(ds.n, 2u);
        if (decoded) {
            const uint8_t *img = (const uint8_t *)ds.images + 8 * 8 * 3;
            for (int i = 0; i < 8 * 8; i++)
                cr_assert(img[3 * i] == 37 && img[3 * i + 1] == 150 &&
                          img[3 * i + 2] == 222, "pixel %d", i);
            cr_assert_eq(((const uint8_t *)ds.images)[0], 9);
        } else {
            cr_assert(ds.files[1].h == 3000 && ds.files[1].w == 3000);
        }
        ds_unload(&ds);
        tu_rmtree(dir);
        free(dir);
    }
}

/* A file whose size changed since the listing, or replaced by a FIFO, is
 * a bad file named in the error (and skipped with on_bad_file = skip):
 * never read past its room, never waited on. */
Test(images, file_changed_or_fifo_after_sizing_is_a_bad_file)
{
    const uint8_t rgb[3] = {1, 2, 3};
    for (int c = 0; c < 4; c++) {
        int fifo = c & 1, decoded = c >> 1;
        swap w;
        char *dir = make_swap_folder(&w, rgb);
        if (fifo)
            w.with[0] = 0;
        else /* an 8x8 PNG, shorter than the one listed */
            write_solid_png(w.with, 8, 8, rgb, 0);
        ds_source src = folder_src(dir);
        src.decoded = decoded;
        dsi_after_sizing = do_swap;
        dsi_after_sizing_arg = &w;
        ds_dataset ds;
        char err[512];
        cr_assert_eq(ds_load(&ds, &src, tu_unique("img"), err, sizeof err),
                     MIXUP_EDATASET);
        cr_assert(strstr(err, "c/1.png: ") &&
                  strstr(err, fifo ? "not a regular file (a FIFO)"
                                   : "changed while loading") &&
                  strstr(err, "on_bad_file = skip"), "%s", err);
        /* skip: the listed file changes again, longer this time */
        if (fifo) {
            unlink(w.path);
            write_solid_png(w.path, 8, 8, rgb, 0);
        } else {
            struct stat st;
            cr_assert_eq(stat(w.path, &st), 0);
            write_solid_png(w.with, 8, 8, rgb, (size_t)st.st_size + 50);
        }
        src.skip_bad = 1;
        cr_assert_eq(ds_load(&ds, &src, tu_unique("img"), err, sizeof err), 0,
                     "%s", err);
        dsi_after_sizing = NULL;
        cr_assert_eq(ds.n, 1u);
        ds_unload(&ds);
        tu_rmtree(dir);
        free(dir);
    }
}

/* A FIFO already there when the folder is listed, and a FIFO as the list
 * file: errors naming them, no hang. */
Test(images, fifo_in_folder_or_as_list_is_named)
{
    char *dir = make_folder();
    char p[512];
    snprintf(p, sizeof p, "%s/A/pipe.png", dir);
    cr_assert_eq(mkfifo(p, 0600), 0);
    ds_source src = folder_src(dir);
    ds_dataset ds;
    char err[512];
    cr_assert_eq(ds_load(&ds, &src, tu_unique("img"), err, sizeof err),
                 MIXUP_EDATASET);
    cr_assert(strstr(err, "A/pipe.png: not a regular file (a FIFO)"), "%s",
              err);
    src.skip_bad = 1;
    cr_assert_eq(ds_load(&ds, &src, tu_unique("img"), err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(ds.n, 4u);
    ds_unload(&ds);
    snprintf(p, sizeof p, "%s/list.txt", dir);
    cr_assert_eq(mkfifo(p, 0600), 0);
    src = (ds_source){.format = DS_LIST, .images = p, .channels = 3,
                      .max_pixels = 1u << 20, .segment = "imgtest"};
    cr_assert_lt(ds_load(&ds, &src, tu_unique("img"), err, sizeof err), 0);
    cr_assert(strstr(err, "list.txt: not a regular file (a FIFO)"), "%s",
              err);
    tu_rmtree(dir);
    free(dir);
}

/* ---- every bad file named in one run ---- */

/* Three bad files (empty, not an image, missing from the list's view: a
 * FIFO) beside good ones: with on_bad_file = error the load fails naming
 * the first and the option, and the log lists all three; --check too. */
static char *make_three_bad(void)
{
    char *dir = make_folder();
    char p[512];
    snprintf(p, sizeof p, "%s/A/empty.png", dir);
    write_file(p, "", 0);
    snprintf(p, sizeof p, "%s/b/text.jpg", dir);
    write_file(p, "hello", 5);
    snprintf(p, sizeof p, "%s/b/zpipe.png", dir);
    cr_assert_eq(mkfifo(p, 0600), 0);
    return dir;
}

static void assert_three_listed(const char *log)
{
    cr_assert(strstr(log, "A/empty.png: empty file"), "%s", log);
    cr_assert(strstr(log, "b/text.jpg: not a JPEG or PNG"), "%s", log);
    cr_assert(strstr(log, "b/zpipe.png: not a regular file (a FIFO)"), "%s",
              log);
}

Test(images, every_bad_file_is_listed_before_the_load_fails)
{
    char *dir = make_three_bad();
    char logp[600];
    snprintf(logp, sizeof logp, "%s/log", dir);
    char err[512];
    cr_assert_eq(log_open(logp, err, sizeof err), 0, "%s", err);
    for (int decoded = 0; decoded <= 1; decoded++) {
        ds_source src = folder_src(dir);
        src.decoded = decoded;
        ds_dataset ds;
        cr_assert_eq(ds_load(&ds, &src, tu_unique("img"), err, sizeof err),
                     MIXUP_EDATASET);
        cr_assert(strstr(err, "3 bad files, listed above") &&
                  strstr(err, "the first: ") &&
                  strstr(err, "A/empty.png: empty file") &&
                  strstr(err, "dataset.on_bad_file = skip"), "%s", err);
        char *log = tu_read_file(logp);
        assert_three_listed(log);
        free(log);
        truncate(logp, 0);
        src.skip_bad = 1;
        cr_assert_eq(ds_load(&ds, &src, tu_unique("img"), err, sizeof err), 0,
                     "%s", err);
        cr_assert_eq(ds.n, 4u);
        ds_unload(&ds);
    }
    log_open("", err, sizeof err);
    tu_rmtree(dir);
    free(dir);
}

Test(images, check_lists_every_bad_file, .timeout = 60)
{
    char *dir = make_three_bad();
    char conf[600], logp[600];
    snprintf(conf, sizeof conf, "%s/mixupd.conf", dir);
    snprintf(logp, sizeof logp, "%s/log", dir);
    FILE *f = fopen(conf, "w");
    cr_assert(f);
    fprintf(f, "[server]\nname = %s\nendpoint = ipc://%s/m.ipc\n"
               "[dataset]\nformat = folder\nimages = %s\n"
               "[output]\nheight = 8\nwidth = 8\n[batch]\nsize = 2\n",
            tu_unique("chk"), dir, dir);
    fclose(f);
    int pid = tu_spawn_daemon_args(conf, logp, "--check");
    cr_assert_eq(tu_stop_daemon(pid, 0), 1);
    char *log = tu_read_file(logp);
    assert_three_listed(log);
    cr_assert(strstr(log, "dataset.on_bad_file = skip"), "%s", log);
    free(log);
    tu_rmtree(dir);
    free(dir);
}

/* ---- progressive JPEGs: scans and coefficient memory bounded ---- */

static uint8_t *make_jpeg_flags(int w, int h, int pf, int sub, int flags,
                                unsigned long *n)
{
    int ps = tjPixelSize[pf];
    uint8_t *px = malloc((size_t)w * h * ps);
    for (size_t i = 0; i < (size_t)w * h * ps; i++)
        px[i] = (uint8_t)((i * 37 + i / 11) & 0xff);
    tjhandle tj = tjInitCompress();
    uint8_t *jpeg = NULL;
    cr_assert_eq(tjCompress2(tj, px, w, 0, h, pf, &jpeg, n, sub, 90, flags),
                 0);
    tjDestroy(tj);
    free(px);
    return jpeg;
}

/* libjpeg's own view of the coefficient buffer: its components' blocks
 * (jpeg_read_header computes them), rounded up to whole MCUs. */
static uint64_t libjpeg_coef_bytes(const uint8_t *buf, unsigned long n)
{
    struct jpeg_decompress_struct ci;
    struct jpeg_error_mgr jerr;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_decompress(&ci);
    jpeg_mem_src(&ci, buf, n);
    cr_assert_eq(jpeg_read_header(&ci, TRUE), JPEG_HEADER_OK);
    uint64_t bytes = 0;
    for (int c = 0; c < ci.num_components; c++) {
        jpeg_component_info *k = &ci.comp_info[c];
        uint64_t bw = (k->width_in_blocks + k->h_samp_factor - 1) /
                      k->h_samp_factor * k->h_samp_factor;
        uint64_t bh = (k->height_in_blocks + k->v_samp_factor - 1) /
                      k->v_samp_factor * k->v_samp_factor;
        bytes += bw * bh * sizeof(JBLOCK);
    }
    jpeg_destroy_decompress(&ci);
    return bytes;
}

Test(images, jpeg_coefficient_buffer_as_libjpeg_sizes_it)
{
    const int subs[] = {TJSAMP_420, TJSAMP_422, TJSAMP_444, TJSAMP_440,
                        TJSAMP_411, TJSAMP_GRAY, TJSAMP_444};
    const int pfs[] = {TJPF_RGB, TJPF_RGB, TJPF_RGB, TJPF_RGB, TJPF_RGB,
                       TJPF_GRAY, TJPF_CMYK};
    const int sizes[][2] = {{83, 71}, {1, 1}, {17, 9}, {64, 48}, {9, 130}};
    for (int k = 0; k < 7; k++)
        for (int z = 0; z < 5; z++) {
            unsigned long n;
            uint8_t *j = make_jpeg_flags(sizes[z][0], sizes[z][1], pfs[k],
                                         subs[k], TJFLAG_PROGRESSIVE, &n);
            img_info in;
            char err[256];
            cr_assert_eq(img_probe(j, n, &in, err, sizeof err), 0, "%s", err);
            cr_assert(in.progressive && in.scans > 1);
            cr_assert_eq(in.coef_bytes, libjpeg_coef_bytes(j, n),
                         "sub %d, %dx%d", subs[k], sizes[z][0], sizes[z][1]);
            tjFree(j);
            j = make_jpeg_flags(sizes[z][0], sizes[z][1], pfs[k], subs[k], 0,
                                &n);
            cr_assert_eq(img_probe(j, n, &in, err, sizeof err), 0, "%s", err);
            cr_assert(!in.progressive && in.scans == 1 && in.coef_bytes == 0);
            tjFree(j);
        }
}

/* A progressive 64x64 file whose frame header says 9000x9000: 5 KB that
 * would cost 243 MB of coefficients per decode. */
static uint8_t *make_bomb(unsigned long *n)
{
    uint8_t *j = make_jpeg_flags(64, 64, TJPF_RGB, TJSAMP_420,
                                 TJFLAG_PROGRESSIVE, n);
    for (unsigned long i = 2; i + 9 < *n; i++)
        if (j[i] == 0xFF && j[i + 1] == 0xC2) {
            j[i + 5] = 9000 >> 8, j[i + 6] = 9000 & 255; /* height */
            j[i + 7] = 9000 >> 8, j[i + 8] = 9000 & 255; /* width */
            return j;
        }
    cr_assert_fail("no SOF2 in a progressive JPEG");
    return NULL;
}

Test(images, progressive_bomb_refused_by_decoders_and_at_load)
{
    unsigned long n;
    uint8_t *bomb = make_bomb(&n);
    cr_assert_lt(n, 10000);
    img_info in;
    char err[512];
    cr_assert_eq(img_probe(bomb, n, &in, err, sizeof err), 0, "%s", err);
    cr_assert(in.progressive && in.w == 9000 && in.h == 9000);
    /* Y: 1125 x 1125 blocks rounded up to 2x2 MCUs, Cb and Cr: 563 x 563,
     * 128 bytes each */
    cr_assert_eq(in.coef_bytes, (1126ull * 1126 + 2ull * 563 * 563) * 128);
    in.max_memory = 128u << 20;
    uint8_t out[16];
    cr_assert_eq(img_decode(bomb, n, &in, 8, 3, out, err, sizeof err),
                 MIXUP_EDATASET);
    cr_assert(strstr(err, "243432192-byte coefficient buffer"), "%s", err);
    cr_assert_eq(decode_rows(bomb, n, &in, 8, 3, 0, 1, out, err,
                                 sizeof err), MIXUP_EDATASET);
    cr_assert(strstr(err, "progressive"), "%s", err);
    /* At load: a bad file naming the key. */
    char *dir = make_folder();
    char p[512];
    snprintf(p, sizeof p, "%s/A/bomb.jpg", dir);
    write_file(p, bomb, n);
    ds_source src = folder_src(dir);
    src.max_pixels = 89478485;
    src.max_decode_memory = 128u << 20;
    ds_dataset ds;
    cr_assert_eq(ds_load(&ds, &src, tu_unique("img"), err, sizeof err),
                 MIXUP_EDATASET);
    cr_assert(strstr(err, "A/bomb.jpg: progressive JPEG of 9000x9000") &&
              strstr(err, "dataset.max_decode_memory = 134217728"), "%s",
              err);
    src.skip_bad = 1;
    cr_assert_eq(ds_load(&ds, &src, tu_unique("img"), err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(ds.n, 4u);
    ds_unload(&ds);
    tu_rmtree(dir);
    free(dir);
    tjFree(bomb);
}

/* Within the bound a progressive file decodes to TurboJPEG's bytes (both
 * paths), and libjpeg's own allocator is held to the bound: told the
 * file needs nothing, a decode that would exceed it still fails. */
Test(images, progressive_within_the_bound_decodes_exactly)
{
    unsigned long n;
    const int w = 64, h = 4096;
    uint8_t *j = make_jpeg_flags(w, h, TJPF_RGB, TJSAMP_444,
                                 TJFLAG_PROGRESSIVE, &n);
    img_info in;
    char err[256];
    cr_assert_eq(img_probe(j, n, &in, err, sizeof err), 0, "%s", err);
    in.max_memory = in.coef_bytes; /* just enough */
    uint8_t *ref = malloc((size_t)w * h * 3), *a = malloc(img_decode_bytes(&in));
    tjhandle tj = tjInitDecompress();
    cr_assert_eq(tjDecompress2(tj, j, n, ref, w, 0, h, TJPF_RGB, 0), 0);
    tjDestroy(tj);
    cr_assert_eq(img_decode(j, n, &in, 1, 3, a, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(memcmp(a, ref, (size_t)w * h * 3), 0);
    cr_assert_eq(decode_rows(j, n, &in, 1, 3, 100, (uint32_t)h, a, err,
                                 sizeof err), 0, "%s", err);
    cr_assert_eq(memcmp(a, ref + 100 * w * 3, (size_t)w * (h - 100) * 3), 0);
    img_info lie = in;
    lie.coef_bytes = 0;
    lie.max_memory = 1;
    cr_assert_eq(decode_rows(j, n, &lie, 1, 3, 0, 1, a, err, sizeof err),
                 MIXUP_EDATASET);
    cr_assert(strstr(err, "needs more memory than the bound"), "%s", err);
    free(a);
    free(ref);
    tjFree(j);
}

/* More than 500 scans (the last one repeated): refused by the probe, and
 * by both decoders given a probe of the original. */
Test(images, jpeg_scans_limited)
{
    unsigned long n;
    uint8_t *j = make_jpeg_flags(32, 32, TJPF_RGB, TJSAMP_420,
                                 TJFLAG_PROGRESSIVE, &n);
    img_info in;
    char err[256];
    cr_assert_eq(img_probe(j, n, &in, err, sizeof err), 0, "%s", err);
    unsigned long last = 0;
    for (unsigned long i = 2; i + 1 < n; i++)
        if (j[i] == 0xFF && j[i + 1] == 0xDA)
            last = i;
    size_t scan = n - 2 - last, copies = 600;
    size_t len = last + scan * copies + 2;
    uint8_t *many = malloc(len);
    memcpy(many, j, last);
    for (size_t k = 0; k < copies; k++)
        memcpy(many + last + k * scan, j + last, scan);
    many[len - 2] = 0xFF;
    many[len - 1] = 0xD9;
    img_info probed;
    cr_assert_eq(img_probe(many, len, &probed, err, sizeof err),
                 MIXUP_EDATASET);
    cr_assert(strstr(err, "JPEG with 6") && strstr(err, "scans, more than 500"),
              "%s", err);
    uint8_t *out = malloc(img_decode_bytes(&in));
    cr_assert_eq(img_decode(many, len, &in, 1, 3, out, err, sizeof err),
                 MIXUP_EDATASET);
    cr_assert(strstr(err, "500 scans"), "%s", err);
    cr_assert_eq(decode_rows(many, len, &in, 1, 3, 0, 32, out, err,
                                 sizeof err), MIXUP_EDATASET);
    cr_assert(strstr(err, "more than 500 scans"), "%s", err);
    free(out);
    free(many);
    tjFree(j);
}

/* storage = decoded with verify = full: a JPEG damaged inside its data
 * (the decoder warns) is a bad file naming what the decoder said, as it
 * is for encoded storage; with verify = header it loads as decoded. */
Test(images, decoded_verify_full_refuses_a_damaged_jpeg)
{
    char *dir = make_folder();
    unsigned long n;
    uint8_t *jpeg = make_jpeg(64, 64, TJPF_RGB, TJSAMP_420, &n);
    size_t cut = n * 6 / 10;
    jpeg[cut] = 0xFF;
    jpeg[cut + 1] = 0xD9;
    char p[512];
    snprintf(p, sizeof p, "%s/b/damaged.jpg", dir);
    write_file(p, jpeg, cut + 2);
    tjFree(jpeg);
    for (int decoded = 0; decoded <= 1; decoded++) {
        ds_source src = folder_src(dir);
        src.decoded = decoded;
        src.height = src.width = 10;
        src.verify_full = 1;
        ds_dataset ds;
        char err[512];
        cr_assert_eq(ds_load(&ds, &src, tu_unique("img"), err, sizeof err),
                     MIXUP_EDATASET);
        cr_assert(strstr(err, "b/damaged.jpg: ") &&
                  strstr(err, "Corrupt JPEG data"), "%s", err);
        src.verify_full = 0;
        cr_assert_eq(ds_load(&ds, &src, tu_unique("img"), err, sizeof err), 0,
                     "%s", err);
        cr_assert_eq(ds.n, 5u);
        ds_unload(&ds);
    }
    tu_rmtree(dir);
    free(dir);
}
