/*
 * test_dataset.c — the dataset store and its loaders (.npy, IDX, CIFAR-10).
 *
 * Every test writes its own small files with known bytes into a private
 * directory and loads them under its own instance name; every failure must
 * name the file and what was wrong, and leave nothing in /dev/shm.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "dataset.h"
#include "dataset_internal.h"
#include "mixup.h"
#include "testutil.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/"

static char *dir;
static char inst[96];
static char prefix[128];
static char err[1024];

static void setup(void)
{
    dir = tu_tmpdir("ds");
    snprintf(inst, sizeof inst, "%s", tu_unique("ds"));
    snprintf(prefix, sizeof prefix, "mixupd.%s.", inst);
    err[0] = '\0';
}

static void teardown(void)
{
    tu_rmtree(dir);
    free(dir);
}

TestSuite(npy, .init = setup, .fini = teardown);
TestSuite(idx, .init = setup, .fini = teardown);
TestSuite(cifar, .init = setup, .fini = teardown);
TestSuite(store, .init = setup, .fini = teardown);

/* ------------------------------------------------------------ helpers */

static char *paths[16];
static int npaths;

/* A path kept until the process ends (each test is its own process). */
static const char *keep(char *p)
{
    cr_assert_lt(npaths, 16);
    return paths[npaths++] = p;
}

static const char *write_file(const char *name, const void *data, size_t len)
{
    return keep(tu_write_file(dir, name, data, len));
}

static void expect_fail(const ds_source *src, int code, const char *s1,
                        const char *s2)
{
    ds_dataset ds;
    int rc = ds_load(&ds, src, inst, err, sizeof err);
    cr_assert_eq(rc, code, "rc %d, expected %d: %s", rc, code, err);
    cr_assert(strstr(err, s1), "'%s' not in: %s", s1, err);
    cr_assert(!s2 || strstr(err, s2), "'%s' not in: %s", s2, err);
    cr_assert_eq(tu_count_shm(prefix), 0);
    cr_assert_null(ds.seg.addr);
    ds_unload(&ds);
}

static void load_ok(ds_dataset *ds, const ds_source *src)
{
    int rc = ds_load(ds, src, inst, err, sizeof err);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, err);
    cr_assert_eq(tu_count_shm(prefix), 1);
    cr_assert_eq((uintptr_t)ds->images % 64, 0);
    cr_assert_eq((uintptr_t)(ds->soft_labels ? (void *)ds->label_rows
                                             : (void *)ds->labels) % 64, 0);
}

static void unload(ds_dataset *ds)
{
    ds_unload(ds);
    cr_assert_eq(tu_count_shm(prefix), 0);
    cr_assert_null(ds->images);
}

/* -------------------------------------------------------- .npy helpers */

/* A .npy file: preamble of @version, @dict padded to 64 and '\n', data. */
static const char *write_npy_dict(const char *name, int version,
                                  const char *dict, const void *data,
                                  size_t len)
{
    size_t pre = version == 1 ? 10 : 12, dlen = strlen(dict);
    size_t hlen = (pre + dlen + 1 + 63) / 64 * 64 - pre;
    uint8_t *buf = malloc(pre + hlen + len);
    cr_assert_not_null(buf);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (uint8_t)version;
    buf[7] = 0;
    for (size_t i = 0; i < pre - 8; i++)
        buf[8 + i] = (uint8_t)(hlen >> (8 * i));
    memcpy(buf + pre, dict, dlen);
    memset(buf + pre + dlen, ' ', hlen - dlen - 1);
    buf[pre + hlen - 1] = '\n';
    if (len)
        memcpy(buf + pre + hlen, data, len);
    const char *p = write_file(name, buf, pre + hlen + len);
    free(buf);
    return p;
}

static const char *write_npy(const char *name, int version,
                             const char *descr, const char *shape,
                             const void *data, size_t len)
{
    char dict[256];
    snprintf(dict, sizeof dict,
             "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
             shape);
    return write_npy_dict(name, version, dict, data, len);
}

/* 5 images of 4x3, byte i*12+k = 3*i + 7*k + 1 (mod 256). */
static uint8_t img_u8[5 * 12];
static const int64_t lab_i8[5] = {0, 2, 1, 2, 0};

static const char *good_images(void)
{
    for (int i = 0; i < 60; i++)
        img_u8[i] = (uint8_t)(3 * (i / 12) + 7 * (i % 12) + 1);
    return write_npy("x.npy", 1, "|u1", "(5, 4, 3)", img_u8, sizeof img_u8);
}

static const char *good_labels(void)
{
    return write_npy("y.npy", 1, "<i8", "(5,)", lab_i8, sizeof lab_i8);
}

static ds_source npy_src(const char *x, const char *y, uint32_t classes)
{
    return (ds_source){.format = DS_NPY, .images = x, .labels = y,
                       .classes = classes};
}

/* ------------------------------------------------------------ .npy */

Test(npy, v1_u8_images_int64_labels)
{
    ds_source src = npy_src(good_images(), good_labels(), 0);
    ds_dataset ds;
    load_ok(&ds, &src);
    cr_assert_eq(ds.n, 5);
    cr_assert_eq(ds.h, 4);
    cr_assert_eq(ds.w, 3);
    cr_assert_eq(ds.c, 1);
    cr_assert_eq(ds.dtype, DS_U8);
    cr_assert_eq(ds.soft_labels, 0);
    cr_assert_eq(ds.classes, 3); /* inferred: max + 1 */
    const uint8_t *x = ds.images;
    for (int i = 0; i < 60; i++)
        cr_assert_eq(x[i], img_u8[i], "byte %d", i);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(ds.labels[i], lab_i8[i]);
    cr_assert_geq(ds.bytes, 64 + 5 * 4);
    unload(&ds);
}

Test(npy, v2_f32_nhwc_and_float_rows)
{
    float x[5 * 2 * 2 * 3], y[5 * 3] = {0};
    for (int i = 0; i < 60; i++)
        x[i] = (float)i * 0.5f - 3.0f;
    for (int i = 0; i < 5; i++)
        y[i * 3 + i % 3] = 1.0f;
    y[14] = 0.25f; /* a soft row */
    ds_source src = npy_src(
        write_npy("x.npy", 2, "<f4", "(5, 2, 2, 3)", x, sizeof x),
        write_npy("y.npy", 2, "<f4", "(5, 3)", y, sizeof y), 0);
    ds_dataset ds;
    load_ok(&ds, &src);
    cr_assert_eq(ds.n, 5);
    cr_assert_eq(ds.h, 2);
    cr_assert_eq(ds.w, 2);
    cr_assert_eq(ds.c, 3);
    cr_assert_eq(ds.dtype, DS_F32);
    cr_assert_eq(ds.soft_labels, 1);
    cr_assert_eq(ds.classes, 3);
    const float *xs = ds.images;
    for (int i = 0; i < 60; i++)
        cr_assert_eq(xs[i], x[i], "element %d", i);
    for (int i = 0; i < 15; i++)
        cr_assert_eq(ds.label_rows[i], y[i], "label element %d", i);
    unload(&ds);

    src.classes = 3; /* the row width, said explicitly */
    load_ok(&ds, &src);
    unload(&ds);
}

Test(npy, v3_header_u8_labels_with_classes)
{
    uint8_t y[5] = {4, 0, 1, 1, 3};
    ds_source src = npy_src(
        write_npy("x.npy", 3, "|u1", "(5, 4, 3, 1)", img_u8, sizeof img_u8),
        write_npy("y.npy", 3, "|u1", "(5,)", y, sizeof y), 7);
    ds_dataset ds;
    load_ok(&ds, &src);
    cr_assert_eq(ds.c, 1);
    cr_assert_eq(ds.classes, 7);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(ds.labels[i], y[i]);
    unload(&ds);
}

/* Every integer label dtype, little-endian, values 0 1 2 3 4. */
Test(npy, integer_label_dtypes)
{
    static const struct { const char *descr; unsigned size; } t[] = {
        {"|u1", 1}, {"|i1", 1}, {"<u2", 2}, {"<i2", 2},
        {"<u4", 4}, {"<i4", 4}, {"<u8", 8}, {"<i8", 8},
    };
    const char *x = good_images();
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
        uint8_t buf[40] = {0};
        for (unsigned i = 0; i < 5; i++)
            buf[i * t[k].size] = (uint8_t)i;
        char name[32];
        snprintf(name, sizeof name, "y%zu.npy", k);
        ds_source src = npy_src(
            x, write_npy(name, 1, t[k].descr, "(5,)", buf, 5 * t[k].size), 0);
        ds_dataset ds;
        load_ok(&ds, &src);
        cr_assert_eq(ds.classes, 5, "%s", t[k].descr);
        for (int i = 0; i < 5; i++)
            cr_assert_eq(ds.labels[i], i, "%s", t[k].descr);
        unload(&ds);
    }
}

Test(npy, negative_and_huge_labels)
{
    const char *x = good_images();
    int8_t neg[5] = {0, 1, -1, 2, 0};
    ds_source src = npy_src(x, write_npy("n.npy", 1, "|i1", "(5,)", neg, 5), 0);
    expect_fail(&src, MIXUP_EDATASET, "n.npy sample 2", "label -1, expected >= 0");

    int64_t big[5] = {0, 1, 2, 1LL << 40, 0};
    src.labels = write_npy("b.npy", 1, "<i8", "(5,)", big, sizeof big);
    expect_fail(&src, MIXUP_EDATASET, "b.npy sample 3", "does not fit");
}

/* A label out of range is shown as the file has it, not clamped. */
Test(npy, huge_unsigned_label_shown_as_in_the_file)
{
    const char *x = good_images();
    uint64_t big[5] = {0, 1, UINT64_MAX, 1, 0};
    ds_source src = npy_src(x, write_npy("u.npy", 1, "<u8", "(5,)", big,
                                         sizeof big), 0);
    expect_fail(&src, MIXUP_EDATASET, "u.npy sample 2",
                "label 18446744073709551615 does not fit");
}

Test(npy, labels_out_of_range)
{
    ds_source src = npy_src(good_images(), good_labels(), 2);
    expect_fail(&src, MIXUP_EDATASET, "y.npy sample 1",
                "label 2, expected 0 <= label < 2 (classes)");
}

Test(npy, label_count_differs)
{
    ds_source src = npy_src(
        good_images(),
        write_npy("y4.npy", 1, "<i8", "(4,)", lab_i8, 4 * sizeof lab_i8[0]),
        0);
    expect_fail(&src, MIXUP_EDATASET, "y4.npy has 4 labels", "has 5 images");
}

Test(npy, bad_descr)
{
    double x[60] = {0};
    ds_source src = npy_src(
        write_npy("f8.npy", 1, "<f8", "(5, 4, 3)", x, sizeof x),
        good_labels(), 0);
    expect_fail(&src, MIXUP_EDATASET, "f8.npy", "descr '<f8'");

    src = npy_src(good_images(),
                  write_npy("yf8.npy", 1, "<f8", "(5,)", x, 40), 0);
    expect_fail(&src, MIXUP_EDATASET, "yf8.npy", "descr '<f8'");

    src.images = write_npy("be.npy", 1, ">f4", "(5, 4, 3)", x, 240);
    expect_fail(&src, MIXUP_EDATASET, "be.npy", "descr '>f4'");
}

Test(npy, fortran_order_true)
{
    const char *x = write_npy_dict(
        "fo.npy", 1,
        "{'descr': '|u1', 'fortran_order': True, 'shape': (5, 4, 3), }",
        img_u8, sizeof img_u8);
    ds_source src = npy_src(x, good_labels(), 0);
    expect_fail(&src, MIXUP_EDATASET, "fo.npy", "fortran_order is True");
}

Test(npy, truncated_and_trailing)
{
    good_images();
    ds_source src = npy_src(
        write_npy("short.npy", 1, "|u1", "(5, 4, 3)", img_u8, 59),
        good_labels(), 0);
    expect_fail(&src, MIXUP_EDATASET, "short.npy",
                "truncated: expected 60 bytes of data");
    cr_assert(strstr(err, "file has 59"), "%s", err);

    uint8_t more[61] = {0};
    src.images = write_npy("long.npy", 2, "|u1", "(5, 4, 3)", more, 61);
    expect_fail(&src, MIXUP_EDATASET, "long.npy", "1 trailing bytes");

    src.images = write_file("tiny.npy", "\x93NUMPY\x01\x00\x40", 9);
    expect_fail(&src, MIXUP_EDATASET, "tiny.npy", "truncated .npy header");
}

Test(npy, bad_shapes)
{
    good_images();
    ds_source src = npy_src(
        write_npy("2d.npy", 1, "|u1", "(5, 12)", img_u8, 60), good_labels(),
        0);
    expect_fail(&src, MIXUP_EDATASET, "2d.npy", "(N, H, W) or (N, H, W, C)");

    src.images = write_npy("z.npy", 1, "|u1", "(5, 0, 3)", NULL, 0);
    expect_fail(&src, MIXUP_EDATASET, "z.npy", "zero dimension");

    src.images = write_npy("n0.npy", 1, "|u1", "(0, 4, 3)", NULL, 0);
    expect_fail(&src, MIXUP_EDATASET, "n0.npy", "no samples");

    src.images = write_npy("ovf.npy", 1, "<f4",
                           "(1099511627776, 2147483648, 2147483648)", NULL, 0);
    expect_fail(&src, MIXUP_EDATASET, "ovf.npy", "overflows");

    src.images = write_npy("wide.npy", 1, "|u1", "(1, 4294967296, 1)", NULL,
                           0);
    expect_fail(&src, MIXUP_EDATASET, "wide.npy", "shape[1] = 4294967296");

    src.images = good_images();
    src.labels = write_npy("y2.npy", 1, "<i8", "(5, 1)", lab_i8, 40);
    expect_fail(&src, MIXUP_EDATASET, "y2.npy", "expected (N,)");

    src.labels = write_npy("r1.npy", 1, "<f4", "(5,)", lab_i8, 20);
    expect_fail(&src, MIXUP_EDATASET, "r1.npy", "expected (N, K)");
}

Test(npy, bad_header)
{
    ds_source src = npy_src(NULL, good_labels(), 0);
    good_images();
    src.images = write_file("magic.npy", "\x93NUMPZ\x01\x00\x10\x00{}", 12);
    expect_fail(&src, MIXUP_EDATASET, "magic.npy", "not a .npy file");

    src.images = write_file("ver.npy", "\x93NUMPY\x04\x00\x10\x00{}", 12);
    expect_fail(&src, MIXUP_EDATASET, "ver.npy", "version 4.0");

    src.images = write_npy_dict("key.npy", 1,
                                "{'descr': '|u1', 'fortran_order': False, "
                                "'shape': (5, 4, 3), 'extra': 1}",
                                img_u8, 60);
    expect_fail(&src, MIXUP_EDATASET, "key.npy", "key 'extra' unknown");

    src.images = write_npy_dict("noshape.npy", 1,
                                "{'descr': '|u1', 'fortran_order': False}",
                                img_u8, 60);
    expect_fail(&src, MIXUP_EDATASET, "noshape.npy", "lacks 'shape'");

    src.images = write_npy("letters.npy", 1, "|u1", "(5, x, 3)", img_u8, 60);
    expect_fail(&src, MIXUP_EDATASET, "letters.npy", "in 'shape'");

    /* Header length beyond the file. */
    src.images = write_file("hlen.npy", "\x93NUMPY\x02\x00\x00\x00\x01\x00{}",
                            14);
    expect_fail(&src, MIXUP_EDATASET, "hlen.npy", "truncated .npy header");
}

Test(npy, non_finite_values)
{
    float x[60] = {0}, y[15] = {0};
    x[17] = NAN;
    ds_source src = npy_src(
        write_npy("nan.npy", 1, "<f4", "(5, 4, 3)", x, sizeof x),
        good_labels(), 0);
    expect_fail(&src, MIXUP_EDATASET, "nan.npy", "image 1 element 5");
    cr_assert(strstr(err, "finite"), "%s", err);

    x[17] = 0.0f;
    y[7] = -0.5f;
    src.images = write_npy("ok.npy", 1, "<f4", "(5, 4, 3)", x, sizeof x);
    src.labels = write_npy("neg.npy", 1, "<f4", "(5, 3)", y, sizeof y);
    expect_fail(&src, MIXUP_EDATASET, "neg.npy sample 2",
                "column 1 is -0.5");

    y[7] = INFINITY;
    src.labels = write_npy("inf.npy", 1, "<f4", "(5, 3)", y, sizeof y);
    expect_fail(&src, MIXUP_EDATASET, "inf.npy sample 2", "finite");
}

Test(npy, rows_disagree_with_classes)
{
    float y[15] = {0};
    ds_source src = npy_src(
        good_images(), write_npy("y.npy", 1, "<f4", "(5, 3)", y, sizeof y),
        10);
    expect_fail(&src, MIXUP_EDATASET, "y.npy",
                "rows have 3 columns but dataset.classes = 10");
}

Test(npy, missing_file)
{
    ds_source src = npy_src(good_images(), "/nonexistent/y.npy", 0);
    expect_fail(&src, MIXUP_EIO, "/nonexistent/y.npy", "cannot open");
    src = npy_src(dir, good_labels(), 0);
    expect_fail(&src, MIXUP_EIO, dir, "not a regular file");
}

/* The dict parser alone, on inputs a file could hold. */
static int dict(const char *s, npy_header *h)
{
    memset(h, 0, sizeof *h);
    return npy_parse_dict(s, strlen(s), h, "t.npy", err, sizeof err);
}

Test(npy, dict_parser)
{
    npy_header h;
    cr_assert_eq(dict("{\"shape\":(60000L,28,28),\"descr\":\"|u1\","
                      "\"fortran_order\":False}\n", &h), 0, "%s", err);
    cr_assert_str_eq(h.descr, "|u1");
    cr_assert_eq(h.ndim, 3);
    cr_assert_eq(h.shape[0], 60000);
    cr_assert_eq(h.shape[2], 28);
    cr_assert_eq(dict("{'descr':'<f4','fortran_order':False,'shape':()}",
                      &h), 0, "%s", err);
    cr_assert_eq(h.ndim, 0);
    cr_assert_eq(dict("{'descr':'<f4','fortran_order':False,'shape':(7,)}",
                      &h), 0, "%s", err);
    cr_assert_eq(h.ndim, 1);
    cr_assert_eq(h.shape[0], 7);

    static const char *const bad[][2] = {
        {"{'descr':'<f4','fortran_order':False,'shape':(18446744073709551616,)}",
         "below 2^64"},
        {"{'descr':'<f4','descr':'<f4','fortran_order':False,'shape':()}",
         "appears twice"},
        {"{'descr':'<f4,'fortran_order':False,'shape':()}", "expected"},
        {"{'descr':'<f4','fortran_order':False,'shape':(1,2)", "'}'"},
        {"{'descr':'<f4','fortran_order':Fals,'shape':()}", "True or False"},
        {"{'descr':'<f4','fortran_order':False,'shape':(1,1,1,1,1,1,1,1,1)}",
         "at most 8"},
        {"{'descr':'<f4','fortran_order':False,'shape':(1 2)}", "','"},
        {"{'descr':'a-very-long-descr','fortran_order':False,'shape':()}",
         "'descr'"},
        {"{'descr':[('x','<f4')],'fortran_order':False,'shape':()}",
         "'descr'"},
        {"{'descr':'<f4','fortran_order':False,'shape':()} x", "only spaces"},
        {"", "'{'"},
        {"{'descr':'<f\\4','fortran_order':False,'shape':()}", "'descr'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(dict(bad[i][0], &h), MIXUP_EDATASET, "%s", bad[i][0]);
        cr_assert(strstr(err, bad[i][1]) && strstr(err, "t.npy"),
                  "'%s' not in: %s", bad[i][1], err);
    }
    /* Not NUL-terminated: the parser stops at the given length. */
    const char s[] = "{'descr':'<f4','fortran_order':False,'shape':(5,)}XXXX";
    cr_assert_eq(npy_parse_dict(s, sizeof s - 5, &h, "t.npy", err,
                                sizeof err), 0, "%s", err);
}

/* ------------------------------------------------------------ IDX */

static void put_be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

/* IDX images: magic, N, H, W (@nwords header words from @words) + data. */
static size_t idx_bytes(uint8_t *out, const uint32_t *words, int nwords,
                        const uint8_t *data, size_t len)
{
    for (int i = 0; i < nwords; i++)
        put_be32(out + 4 * i, words[i]);
    memcpy(out + 4 * nwords, data, len);
    return 4 * (size_t)nwords + len;
}

static const char *write_gz(const char *name, const void *data, size_t len)
{
    char *path = NULL;
    cr_assert_gt(asprintf(&path, "%s/%s", dir, name), 0);
    gzFile gz = gzopen(path, "wb");
    cr_assert_not_null(gz);
    cr_assert_eq(gzwrite(gz, data, (unsigned)len), (int)len);
    cr_assert_eq(gzclose(gz), Z_OK);
    return keep(path);
}

static uint8_t idx_img[16 + 60], idx_lab[8 + 5];
static size_t idx_img_len, idx_lab_len;
static const uint8_t lab_u8[5] = {1, 0, 3, 1, 2};

static void build_idx(uint32_t n_images, uint32_t n_labels)
{
    good_images(); /* fills img_u8 */
    uint32_t hi[4] = {0x803, n_images, 4, 3}, hl[2] = {0x801, n_labels};
    idx_img_len = idx_bytes(idx_img, hi, 4, img_u8, 60);
    idx_lab_len = idx_bytes(idx_lab, hl, 2, lab_u8, 5);
}

static ds_source idx_src(const char *x, const char *y, uint32_t classes)
{
    return (ds_source){.format = DS_IDX, .images = x, .labels = y,
                       .classes = classes};
}

static void check_idx_values(const ds_dataset *ds)
{
    cr_assert_eq(ds->n, 5);
    cr_assert_eq(ds->h, 4);
    cr_assert_eq(ds->w, 3);
    cr_assert_eq(ds->c, 1);
    cr_assert_eq(ds->dtype, DS_U8);
    cr_assert_eq(ds->soft_labels, 0);
    cr_assert_eq(ds->classes, 4);
    const uint8_t *x = ds->images;
    for (int i = 0; i < 60; i++)
        cr_assert_eq(x[i], img_u8[i], "byte %d", i);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(ds->labels[i], lab_u8[i]);
}

Test(idx, raw)
{
    build_idx(5, 5);
    ds_source src = idx_src(write_file("x-idx3", idx_img, idx_img_len),
                            write_file("y-idx1", idx_lab, idx_lab_len), 0);
    ds_dataset ds;
    load_ok(&ds, &src);
    check_idx_values(&ds);
    unload(&ds);
}

Test(idx, gzip)
{
    build_idx(5, 5);
    ds_source src = idx_src(write_gz("x-idx3.gz", idx_img, idx_img_len),
                            write_gz("y-idx1.gz", idx_lab, idx_lab_len), 0);
    ds_dataset ds;
    load_ok(&ds, &src);
    check_idx_values(&ds);
    unload(&ds);
}

Test(idx, wrong_magic)
{
    build_idx(5, 5);
    const char *y = write_gz("y-idx1.gz", idx_lab, idx_lab_len);
    ds_source src = idx_src(y, y, 0);
    expect_fail(&src, MIXUP_EDATASET, "y-idx1.gz: IDX magic 0x00000801",
                "images need 0x00000803 (unsigned byte, 3 dimensions)");

    const char *x = write_file("x-idx3", idx_img, idx_img_len);
    src = idx_src(x, x, 0);
    expect_fail(&src, MIXUP_EDATASET, "x-idx3: IDX magic 0x00000803",
                "labels need 0x00000801");

    src = idx_src(write_file("short-idx3", idx_img, 10), y, 0);
    expect_fail(&src, MIXUP_EDATASET, "short-idx3", "truncated IDX header");
}

Test(idx, truncated)
{
    build_idx(5, 5);
    ds_source src = idx_src(write_gz("x-idx3.gz", idx_img, idx_img_len - 1),
                            write_gz("y-idx1.gz", idx_lab, idx_lab_len), 0);
    expect_fail(&src, MIXUP_EDATASET, "x-idx3.gz",
                "truncated: expected 60 bytes of image data, file has 59");

    src.images = write_file("x-idx3", idx_img, idx_img_len);
    src.labels = write_file("y-idx1", idx_lab, idx_lab_len - 2);
    expect_fail(&src, MIXUP_EDATASET, "y-idx1: the header declares 5 labels",
                "the file has 11 bytes (3 after the 8-byte header)");
}

Test(idx, trailing_bytes)
{
    build_idx(5, 5);
    uint8_t more[sizeof idx_img + 1];
    memcpy(more, idx_img, idx_img_len);
    more[idx_img_len] = 0;
    ds_source src = idx_src(write_file("x-idx3", more, idx_img_len + 1),
                            write_file("y-idx1", idx_lab, idx_lab_len), 0);
    expect_fail(&src, MIXUP_EDATASET, "x-idx3", "trailing bytes");

    /* gzip'd labels with one byte after the 5 the header announces. */
    uint8_t lab[sizeof idx_lab + 1];
    memcpy(lab, idx_lab, idx_lab_len);
    lab[idx_lab_len] = 1;
    src.images = write_gz("x-idx3.gz", idx_img, idx_img_len);
    src.labels = write_gz("y-idx1.gz", lab, idx_lab_len + 1);
    expect_fail(&src, MIXUP_EDATASET, "y-idx1.gz",
                "trailing bytes after the 5 bytes of label data");
}

Test(idx, label_count_differs)
{
    build_idx(5, 6);
    uint8_t lab[8 + 6] = {0};
    memcpy(lab, idx_lab, idx_lab_len);
    ds_source src = idx_src(write_file("x-idx3", idx_img, idx_img_len),
                            write_file("y-idx1", lab, sizeof lab), 0);
    expect_fail(&src, MIXUP_EDATASET, "y-idx1 has 6 labels",
                "x-idx3 has 5 images");
}

Test(idx, labels_out_of_range)
{
    build_idx(5, 5);
    ds_source src = idx_src(write_file("x-idx3", idx_img, idx_img_len),
                            write_file("y-idx1", idx_lab, idx_lab_len), 3);
    expect_fail(&src, MIXUP_EDATASET, "y-idx1 sample 2",
                "label 3, expected 0 <= label < 3");
}

Test(idx, missing_and_corrupt)
{
    build_idx(5, 5);
    ds_source src = idx_src("/nonexistent/x-idx3.gz",
                            write_file("y-idx1", idx_lab, idx_lab_len), 0);
    expect_fail(&src, MIXUP_EIO, "/nonexistent/x-idx3.gz", "cannot open");

    /* A gzip stream with a damaged body: zlib reports it. */
    uint8_t big[16 + 4096];
    uint32_t hi[4] = {0x803, 1, 64, 64};
    uint8_t px[4096];
    for (int i = 0; i < 4096; i++)
        px[i] = (uint8_t)(i * 37 + i / 7);
    size_t n = idx_bytes(big, hi, 4, px, sizeof px);
    const char *gz = write_gz("bad-idx3.gz", big, n);
    FILE *f = fopen(gz, "r+b");
    cr_assert_not_null(f);
    fseek(f, 40, SEEK_SET);
    fputc(0xff, f);
    fputc(0x00, f);
    fputc(0xff, f);
    fclose(f);
    src.images = gz;
    ds_dataset ds;
    int rc = ds_load(&ds, &src, inst, err, sizeof err);
    cr_assert(rc == MIXUP_EIO || rc == MIXUP_EDATASET, "rc %d", rc);
    cr_assert(strstr(err, "bad-idx3.gz"), "%s", err);
    /* Named once: zlib's own "path: " prefix is not repeated. */
    cr_assert(!strstr(strstr(err, "bad-idx3.gz") + 1, "bad-idx3.gz") &&
                  !strstr(err, "<fd:"), "%s", err);
    cr_assert_eq(tu_count_shm(prefix), 0);
}

/* A 1 KB file that declares 20,000,000 images of 28x28 fails before
 * anything is reserved, naming the file, the declared and actual sizes;
 * raw and gzip'd. */
Test(idx, declared_size_beyond_the_file, .timeout = 20)
{
    build_idx(5, 5);
    uint8_t big[1024] = {0};
    uint32_t hi[4] = {0x803, 20000000, 28, 28};
    idx_bytes(big, hi, 4, img_u8, 0);
    ds_source src = idx_src(write_file("x-idx3", big, sizeof big),
                            write_file("y-idx1", idx_lab, idx_lab_len), 0);
    expect_fail(&src, MIXUP_EDATASET,
                "x-idx3: the header declares 20000000 images of 28x28 "
                "(15680000000 bytes of data)",
                "the file has 1024 bytes (1008 after the 16-byte header)");
    src.images = write_gz("x-idx3.gz", big, sizeof big);
    expect_fail(&src, MIXUP_EDATASET,
                "x-idx3.gz: the header declares 20000000 images of 28x28",
                "which decompress to at most");
    /* Labels too. */
    uint8_t lab[1024] = {0};
    uint32_t hl[2] = {0x801, 20000000};
    idx_bytes(lab, hl, 2, lab_u8, 0);
    src.images = write_file("x5-idx3", idx_img, idx_img_len);
    src.labels = write_file("y-big-idx1", lab, sizeof lab);
    expect_fail(&src, MIXUP_EDATASET,
                "y-big-idx1: the header declares 20000000 labels",
                "the file has 1024 bytes");
}

/* Paths that are not regular files are refused at once: a FIFO with no
 * writer used to block open(2) forever. */
Test(store, fifo_refused, .timeout = 20)
{
    char *fifo = NULL;
    cr_assert_gt(asprintf(&fifo, "%s/fifo", dir), 0);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    keep(fifo);
    build_idx(5, 5);
    const char *y = write_file("y-idx1", idx_lab, idx_lab_len);
    ds_source src = idx_src(fifo, y, 0);
    expect_fail(&src, MIXUP_EIO, "/fifo: not a regular file (a FIFO)", NULL);
    src = npy_src(fifo, good_labels(), 0);
    expect_fail(&src, MIXUP_EIO, "/fifo: not a regular file (a FIFO)", NULL);
    src = npy_src(good_images(), dir, 0);
    expect_fail(&src, MIXUP_EIO, "not a regular file (a directory)", NULL);
    src = (ds_source){.format = DS_CIFAR, .images = fifo};
    expect_fail(&src, MIXUP_EIO, "/fifo: not a regular file", NULL);
}

static void check_fashion(const char *x, const char *y, uint64_t n)
{
    if (access(x, R_OK) != 0 || access(y, R_OK) != 0)
        cr_skip_test("%s not installed (package dataset-fashion-mnist)", x);
    ds_source src = idx_src(x, y, 0);
    ds_dataset ds;
    load_ok(&ds, &src);
    cr_assert_eq(ds.n, n);
    cr_assert_eq(ds.h, 28);
    cr_assert_eq(ds.w, 28);
    cr_assert_eq(ds.c, 1);
    cr_assert_eq(ds.classes, 10);
    cr_assert_eq(ds.bytes, n * 784 + n * 4);
    uint64_t count[10] = {0};
    for (uint64_t i = 0; i < n; i++)
        count[ds.labels[i]]++;
    for (int k = 0; k < 10; k++)
        cr_assert_eq(count[k], n / 10, "class %d", k); /* balanced */
    unload(&ds);

    src.classes = 10;
    load_ok(&ds, &src);
    unload(&ds);
}

Test(idx, fashion_mnist_train, .timeout = 120)
{
    check_fashion(FMNIST "train-images-idx3-ubyte.gz",
                  FMNIST "train-labels-idx1-ubyte.gz", 60000);
}

Test(idx, fashion_mnist_t10k, .timeout = 120)
{
    check_fashion(FMNIST "t10k-images-idx3-ubyte.gz",
                  FMNIST "t10k-labels-idx1-ubyte.gz", 10000);
}

Test(idx, fashion_mnist_first_train_label, .timeout = 120)
{
    const char *x = FMNIST "train-images-idx3-ubyte.gz";
    const char *y = FMNIST "train-labels-idx1-ubyte.gz";
    if (access(x, R_OK) != 0 || access(y, R_OK) != 0)
        cr_skip_test("%s not installed (package dataset-fashion-mnist)", x);
    ds_source src = idx_src(x, y, 0);
    ds_dataset ds;
    load_ok(&ds, &src);
    cr_assert_eq(ds.labels[0], 9); /* an ankle boot, as published */
    cr_assert_eq(ds.labels[1], 0);
    unload(&ds);
}

/* ------------------------------------------------------------ CIFAR */

#define REC 3073

/* Record r of a file: label @label, plane ch pixel p = (ch*1024 + p + 7r). */
static void cifar_record(uint8_t *rec, uint8_t label, unsigned r)
{
    rec[0] = label;
    for (unsigned i = 0; i < 3072; i++)
        rec[1 + i] = (uint8_t)(i + 7 * r);
}

static const char *write_cifar(const char *name, const uint8_t *labels,
                               unsigned n, unsigned tag)
{
    uint8_t *buf = malloc((size_t)n * REC + 1);
    cr_assert_not_null(buf);
    for (unsigned r = 0; r < n; r++)
        cifar_record(buf + (size_t)r * REC, labels[r], r + tag);
    const char *p = write_file(name, buf, (size_t)n * REC);
    free(buf);
    return p;
}

/* HWC pixel p channel ch of sample @i, recorded with tag @r. */
static void check_cifar_image(const ds_dataset *ds, uint64_t i, unsigned r)
{
    const uint8_t *x = (const uint8_t *)ds->images + i * 3072;
    for (unsigned p = 0; p < 1024; p++)
        for (unsigned ch = 0; ch < 3; ch++)
            cr_assert_eq(x[3 * p + ch], (uint8_t)(ch * 1024 + p + 7 * r),
                         "sample %llu pixel %u channel %u",
                         (unsigned long long)i, p, ch);
}

Test(cifar, list_and_chw_to_hwc)
{
    const uint8_t l1[2] = {3, 9}, l2[3] = {0, 5, 1};
    char list[1024];
    snprintf(list, sizeof list, "%s,\n  %s ",
             write_cifar("b1.bin", l1, 2, 0),
             write_cifar("b2.bin", l2, 3, 100));
    ds_source src = {.format = DS_CIFAR, .images = list};
    ds_dataset ds;
    load_ok(&ds, &src);
    cr_assert_eq(ds.n, 5);
    cr_assert_eq(ds.h, 32);
    cr_assert_eq(ds.w, 32);
    cr_assert_eq(ds.c, 3);
    cr_assert_eq(ds.dtype, DS_U8);
    cr_assert_eq(ds.classes, 10); /* CIFAR-10's, not max + 1 */
    const int32_t want[5] = {3, 9, 0, 5, 1};
    const unsigned tag[5] = {0, 1, 100, 101, 102};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(ds.labels[i], want[i]);
        check_cifar_image(&ds, (uint64_t)i, tag[i]);
    }
    unload(&ds);
}

Test(cifar, glob_sorted)
{
    const uint8_t a[1] = {1}, b[1] = {2}, c[1] = {3};
    write_cifar("data_batch_3.bin", c, 1, 0);
    write_cifar("data_batch_1.bin", a, 1, 0);
    write_cifar("data_batch_2.bin", b, 1, 0);
    write_cifar("test_batch.bin", b, 1, 0);
    char pat[1024];
    snprintf(pat, sizeof pat, "%s/data_batch_*.bin %s/test_batch.bin", dir,
             dir);
    ds_source src = {.format = DS_CIFAR, .images = pat, .classes = 4};
    ds_dataset ds;
    load_ok(&ds, &src);
    cr_assert_eq(ds.n, 4);
    cr_assert_eq(ds.classes, 4);
    cr_assert_eq(ds.labels[0], 1);
    cr_assert_eq(ds.labels[1], 2);
    cr_assert_eq(ds.labels[2], 3);
    cr_assert_eq(ds.labels[3], 2);
    unload(&ds);
}

Test(cifar, glob_matches_nothing)
{
    char pat[1024];
    snprintf(pat, sizeof pat, "%s/nothing_*.bin", dir);
    ds_source src = {.format = DS_CIFAR, .images = pat};
    expect_fail(&src, MIXUP_EDATASET, pat, "matches no file");

    src.images = " , ";
    expect_fail(&src, MIXUP_EDATASET, "names no file", NULL);
}

Test(cifar, size_not_multiple)
{
    const uint8_t l[2] = {1, 2};
    const char *ok = write_cifar("ok.bin", l, 2, 0);
    uint8_t junk[REC + 5] = {0};
    const char *bad = write_file("odd.bin", junk, sizeof junk);
    char list[1024];
    snprintf(list, sizeof list, "%s %s", ok, bad);
    ds_source src = {.format = DS_CIFAR, .images = list};
    expect_fail(&src, MIXUP_EDATASET, "odd.bin: size 3078",
                "not a multiple of 3073");
}

Test(cifar, labels_out_of_range)
{
    const uint8_t l[3] = {1, 10, 2};
    const char *f = write_cifar("b.bin", l, 3, 0);
    ds_source src = {.format = DS_CIFAR, .images = f};
    expect_fail(&src, MIXUP_EDATASET, "b.bin record 1",
                "label 10, expected 0 <= label < 10");

    src.classes = 11;
    ds_dataset ds;
    load_ok(&ds, &src);
    cr_assert_eq(ds.labels[1], 10);
    unload(&ds);

    const uint8_t l2[2] = {0, 2};
    char list[1024];
    snprintf(list, sizeof list, "%s,%s", write_cifar("a.bin", l2, 2, 0), f);
    src.images = list;
    src.classes = 3;
    expect_fail(&src, MIXUP_EDATASET, "b.bin record 1", "< 3");
}

Test(cifar, missing_and_duplicate)
{
    char list[1024];
    snprintf(list, sizeof list, "%s/absent.bin", dir);
    ds_source src = {.format = DS_CIFAR, .images = list};
    expect_fail(&src, MIXUP_EIO, "absent.bin", "cannot open");

    const uint8_t l[1] = {0};
    const char *f = write_cifar("data_batch_1.bin", l, 1, 0);
    snprintf(list, sizeof list, "%s %s/data_batch_*.bin", f, dir);
    src.images = list;
    expect_fail(&src, MIXUP_EDATASET, "data_batch_1.bin", "listed twice");
}

/* ------------------------------------------------------------ store */

Test(store, format_names)
{
    cr_assert_eq(ds_format_parse("npy"), DS_NPY);
    cr_assert_eq(ds_format_parse("IDX"), DS_IDX);
    cr_assert_eq(ds_format_parse("cifar"), DS_CIFAR);
    cr_assert_eq(ds_format_parse("csv"), 0);
    cr_assert_eq(ds_format_parse(NULL), 0);
    cr_assert_str_eq(ds_format_name(DS_NPY), "npy");
    cr_assert_str_eq(ds_format_name(DS_IDX), "idx");
    cr_assert_str_eq(ds_format_name(DS_CIFAR), "cifar");
    cr_assert_str_eq(ds_format_name(0), "unknown");
    cr_assert_eq(ds_dtype_size(DS_U8), 1);
    cr_assert_eq(ds_dtype_size(DS_F32), 4);
}

Test(store, bad_source)
{
    ds_source src = {.format = 9, .images = "x"};
    expect_fail(&src, MIXUP_EINVAL, "dataset.format 9", NULL);
    src = (ds_source){.format = DS_NPY, .images = "x"};
    expect_fail(&src, MIXUP_EINVAL, "needs images and labels", NULL);
    src = (ds_source){.format = DS_CIFAR, .images = ""};
    expect_fail(&src, MIXUP_EINVAL, "needs images", NULL);
}

Test(store, bad_instance_leaves_nothing)
{
    ds_source src = npy_src(good_images(), good_labels(), 0);
    ds_dataset ds;
    int rc = ds_load(&ds, &src, "bad.name", err, sizeof err);
    cr_assert_eq(rc, MIXUP_EINVAL, "%s", err);
    cr_assert(strstr(err, "bad.name"), "%s", err);
    cr_assert_eq(tu_count_shm("mixupd.bad."), 0);
}

Test(store, unload_is_safe)
{
    ds_dataset ds;
    memset(&ds, 0, sizeof ds);
    ds_unload(&ds);
    ds_unload(&ds);
    ds_source src = npy_src(good_images(), good_labels(), 0);
    load_ok(&ds, &src);
    unload(&ds);
    ds_unload(&ds);
    cr_assert_eq(tu_count_shm(prefix), 0);
}
