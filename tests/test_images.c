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
#include <zlib.h>

#include "dataset.h"
#include "dataset_image.h"
#include "image.h"
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
}
