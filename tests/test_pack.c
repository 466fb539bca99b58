/*
 * test_pack.c — pack files: written from every source format and served
 * byte for byte as the source is (shm and mapped), corrupt packs refused
 * with the file and the reason, an interrupted pack leaves no file, a pack
 * on a read-only filesystem serves.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <archive.h>
#include <archive_entry.h>
#include <turbojpeg.h>
#include <png.h>
#include <unistd.h>

#include "batch.h"
#include "config.h"
#include "dataset.h"
#include "dataset_internal.h"
#include "dataset_tar.h"
#include "mixup_errors.h"
#include "pack_file.h"
#include "pack_format.h"
#include "daemon.h"
#include "testutil.h"

static char err[1024];

/* ------------------------------------------------------------ sources */

enum { PN = 40, PH = 6, PW = 5, PC = 3, PK = 4 }; /* N, H, ... are daemon.h's */

static void write_raw(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "%s", path);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

static ds_source npy_source(const char *dir)
{
    static uint8_t x[PN * PH * PW * PC];
    static int64_t y[PN];
    for (size_t i = 0; i < sizeof x; i++)
        x[i] = (uint8_t)(i * 131 + i / 7);
    for (int i = 0; i < PN; i++)
        y[i] = (i * 7) % PK;
    uint64_t xs[4] = {PN, PH, PW, PC}, ys[1] = {PN};
    char *xp = tu_write_npy(dir, "x.npy", "|u1", xs, 4, x, sizeof x);
    char *yp = tu_write_npy(dir, "y.npy", "<i8", ys, 1, y, sizeof y);
    return (ds_source){.format = DS_NPY, .images = xp, .labels = yp,
                       .segment = "pk"};
}

/* float32 images with soft label rows (the other array layout). */
static ds_source npy_soft_source(const char *dir)
{
    static float x[PN * PH * PW];
    static float y[PN * PK];
    for (size_t i = 0; i < PN * PH * PW; i++)
        x[i] = (float)(i % 97) / 97.0f;
    for (size_t i = 0; i < PN * PK; i++)
        y[i] = (i % PK) == (i / PK) % PK ? 0.75f : 0.25f / 3;
    uint64_t xs[3] = {PN, PH, PW}, ys[2] = {PN, PK};
    char *xp = tu_write_npy(dir, "xf.npy", "<f4", xs, 3, x, sizeof x);
    char *yp = tu_write_npy(dir, "yf.npy", "<f4", ys, 2, y, sizeof y);
    return (ds_source){.format = DS_NPY, .images = xp, .labels = yp,
                       .segment = "pk"};
}

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static ds_source idx_source(const char *dir)
{
    static uint8_t img[16 + PN * PH * PW], lab[8 + PN];
    be32(img, 0x803);
    be32(img + 4, PN);
    be32(img + 8, PH);
    be32(img + 12, PW);
    for (int i = 0; i < PN * PH * PW; i++)
        img[16 + i] = (uint8_t)(i * 29);
    be32(lab, 0x801);
    be32(lab + 4, PN);
    for (int i = 0; i < PN; i++)
        lab[8 + i] = (uint8_t)((i * 3) % PK);
    static char xp[512], yp[512];
    snprintf(xp, sizeof xp, "%s/x.idx", dir);
    snprintf(yp, sizeof yp, "%s/y.idx", dir);
    write_raw(xp, img, sizeof img);
    write_raw(yp, lab, sizeof lab);
    return (ds_source){.format = DS_IDX, .images = xp, .labels = yp,
                       .segment = "pk"};
}

static void write_jpeg(const char *path, int w, int h, int seed)
{
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++)
        px[i] = (uint8_t)((i * 37 + seed * 11 + i / 13) & 0xff);
    tjhandle tj = tjInitCompress();
    uint8_t *jpeg = NULL;
    unsigned long n = 0;
    cr_assert_eq(tjCompress2(tj, px, w, 0, h, TJPF_RGB, &jpeg, &n,
                             TJSAMP_420, 85, 0), 0);
    write_raw(path, jpeg, n);
    tjFree(jpeg);
    tjDestroy(tj);
    free(px);
}

static void write_png_rgb(const char *path, uint32_t w, uint32_t h, int seed)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
                                              NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    uint8_t *row = malloc(w * 3);
    for (uint32_t y = 0; y < h; y++) {
        for (uint32_t i = 0; i < w * 3; i++)
            row[i] = (uint8_t)(i * 5 + y * 17 + (uint32_t)seed);
        png_write_row(png, row);
    }
    free(row);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

/* Three classes of JPEG and PNG files of several sizes. */
static ds_source folder_source(const char *dir)
{
    static char root[512];
    snprintf(root, sizeof root, "%s/imgs", dir);
    mkdir(root, 0755);
    const char *cls[3] = {"cat", "dog", "eel"};
    for (int c = 0; c < 3; c++) {
        char p[768];
        snprintf(p, sizeof p, "%s/%s", root, cls[c]);
        mkdir(p, 0755);
        for (int i = 0; i < 6; i++) {
            snprintf(p, sizeof p, "%s/%s/%02d.%s", root, cls[c], i,
                     i % 3 == 2 ? "png" : "jpg");
            if (i % 3 == 2)
                write_png_rgb(p, 9 + (uint32_t)i, 7 + (uint32_t)c, c * 10 + i);
            else
                write_jpeg(p, 12 + i * 3, 10 + c * 2, c * 10 + i);
        }
    }
    return (ds_source){.format = DS_FOLDER, .images = root, .channels = 3,
                       .max_pixels = 1u << 20, .segment = "pk",
                       .load_threads = 2};
}

/* The folder's files as a list, in another order, labels shifted. */
static ds_source list_source(const char *dir)
{
    folder_source(dir);
    static char list[512];
    snprintf(list, sizeof list, "%s/train.txt", dir);
    FILE *f = fopen(list, "w");
    cr_assert(f);
    const char *cls[3] = {"cat", "dog", "eel"};
    for (int i = 5; i >= 0; i--)
        for (int c = 0; c < 3; c++)
            fprintf(f, "imgs/%s/%02d.%s %d\n", cls[c], i,
                    i % 3 == 2 ? "png" : "jpg", (c + 1) % 3);
    fclose(f);
    return (ds_source){.format = DS_LIST, .images = list, .channels = 3,
                       .max_pixels = 1u << 20, .segment = "pk",
                       .load_threads = 1};
}

static void tar_add(struct archive *a, const char *name, const void *data,
                    size_t len)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)len);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK);
    cr_assert_eq(archive_write_data(a, data, len), (la_ssize_t)len);
    archive_entry_free(e);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n ? *n : 1);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* The folder's samples, in the folder's order with its labels, as two
 * WebDataset shards (the second gzip'd): KEY.jpg|png, KEY.cls, and a
 * KEY.json that is skipped. With @broken, one sample lacks its .cls. */
static ds_source tar_source(const char *dir, int broken)
{
    ds_source f = folder_source(dir);
    const char *cls[3] = {"cat", "dog", "eel"};
    for (int shard = 0; shard < 2; shard++) {
        char path[600];
        snprintf(path, sizeof path, "%s/shard-%03d.tar%s", dir, shard,
                 shard ? ".gz" : "");
        struct archive *a = archive_write_new();
        archive_write_set_format_pax_restricted(a);
        if (shard)
            archive_write_add_filter_gzip(a);
        cr_assert_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
        for (int c = shard ? 2 : 0; c < (shard ? 3 : 2); c++)
            for (int i = 0; i < 6; i++) {
                char file[700], key[64], name[80], label[16];
                const char *ext = i % 3 == 2 ? "png" : "jpg";
                snprintf(file, sizeof file, "%s/%s/%02d.%s", f.images, cls[c],
                         i, ext);
                snprintf(key, sizeof key, "s%d/%s_%02d", shard, cls[c], i);
                size_t n;
                uint8_t *b = slurp(file, &n);
                snprintf(name, sizeof name, "%s.%s", key, ext);
                tar_add(a, name, b, n);
                free(b);
                snprintf(name, sizeof name, "%s.json", key);
                tar_add(a, name, "{}", 2);
                snprintf(name, sizeof name, "%s.cls", key);
                snprintf(label, sizeof label, " %d\n", c);
                if (!(broken && c == 1 && i == 4))
                    tar_add(a, name, label, strlen(label));
            }
        cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
    }
    static char glob_pat[600];
    snprintf(glob_pat, sizeof glob_pat, "%s/shard-*.tar, %s/shard-*.tar.gz",
             dir, dir);
    return (ds_source){.format = DS_TAR, .images = glob_pat, .channels = 3,
                       .max_pixels = 1u << 20, .segment = "pk"};
}

/* ------------------------------------------------------------ helpers */

static void load_ok(ds_dataset *ds, const ds_source *src)
{
    cr_assert_eq(ds_load(ds, src, tu_unique("pk"), err, sizeof err), 0, "%s",
                 err);
}

static ds_source pack_src(const char *path, int mapped, int verify)
{
    return (ds_source){.format = DS_PACK, .images = path, .mapped = mapped,
                       .verify_full = verify, .segment = "pk"};
}

static char *pack_path(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static void write_pack(const ds_dataset *ds, const char *path)
{
    pk_write_opts o = {.align = 0};
    cr_assert_eq(pk_write(ds, path, &o, err, sizeof err), 0, "%s", err);
}

static void plan_for(bat_plan *plan, const ds_dataset *ds, const char *extra)
{
    static cfg_config cfg;
    char msg[256];
    cfg_defaults(&cfg);
    const char *sets[] = {"batch.size=4", "batch.alpha=0.4",
                          "augment.flip_horizontal=0.5"};
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
        cr_assert_eq(cfg_set(&cfg, sets[i], msg, sizeof msg), 0, "%s", msg);
    if (ds->encoded) {
        cr_assert_eq(cfg_set(&cfg, "output.height=8", msg, sizeof msg), 0);
        cr_assert_eq(cfg_set(&cfg, "output.width=8", msg, sizeof msg), 0);
    }
    if (extra)
        cr_assert_eq(cfg_set(&cfg, extra, msg, sizeof msg), 0, "%s", msg);
    cr_assert_eq(bat_plan_from_config(plan, ds, &cfg, err, sizeof err), 0,
                 "%s", err);
}

/* Every batch of two epochs of @a and @b has the same bytes. */
static void same_batches(const ds_dataset *a, const ds_dataset *b,
                         const char *extra)
{
    bat_plan pa, pb;
    plan_for(&pa, a, extra);
    plan_for(&pb, b, extra);
    cr_assert_eq(pa.layout.total, pb.layout.total);
    uint8_t *ma = malloc(pa.layout.total), *mb = malloc(pb.layout.total);
    for (uint64_t e = 0; e < 2; e++) {
        smp_order *oa = smp_order_new(&pa.smp, 7, e);
        smp_order *ob = smp_order_new(&pb.smp, 7, e);
        uint64_t nb = smp_batches_per_epoch(&pa.smp);
        cr_assert(nb > 0);
        for (uint64_t k = 0; k < nb; k++) {
            bat_build(&pa, oa, k, 1, ma);
            bat_build(&pb, ob, k, 1, mb);
            cr_assert(memcmp(ma, mb, pa.layout.total) == 0,
                      "epoch %llu batch %llu differs",
                      (unsigned long long)e, (unsigned long long)k);
        }
        smp_order_unref(oa);
        smp_order_unref(ob);
    }
    free(ma);
    free(mb);
}

/* Pack @src, then serve it from shm and mapped: the same digest, shape
 * and batches as the source. */
static void roundtrip(const ds_source *src)
{
    char *dir = tu_tmpdir("pack");
    ds_dataset ds, shm, map;
    load_ok(&ds, src);
    char *path = pack_path(dir, "d.pack");
    write_pack(&ds, path);
    ds_source s1 = pack_src(path, 0, 1), s2 = pack_src(path, 1, 1);
    load_ok(&shm, &s1);
    load_ok(&map, &s2);
    cr_assert(map.map && !shm.map);
    for (int i = 0; i < 2; i++) {
        const ds_dataset *p = i ? &map : &shm;
        cr_assert_eq(p->digest, ds.digest);
        cr_assert_eq(p->n, ds.n);
        cr_assert_eq(p->classes, ds.classes);
        cr_assert_eq(p->encoded, ds.encoded);
        cr_assert_eq(p->n_class_names, ds.n_class_names);
        if (ds.encoded)
            cr_assert_str_eq(ds_path(p, 3), ds_path(&ds, 3));
    }
    same_batches(&ds, &shm, NULL);
    same_batches(&ds, &map, NULL);
    same_batches(&ds, &map, "batch.shuffle=blocks");
    ds_unload(&ds);
    ds_unload(&shm);
    ds_unload(&map);
    free(path);
    tu_rmtree(dir);
}

/* ------------------------------------------------------------ tests */

Test(pack, npy_served_as_the_source)
{
    char *dir = tu_tmpdir("src");
    ds_source s = npy_source(dir);
    roundtrip(&s);
    tu_rmtree(dir);
}

Test(pack, npy_float_soft_labels_served_as_the_source)
{
    char *dir = tu_tmpdir("src");
    ds_source s = npy_soft_source(dir);
    roundtrip(&s);
    tu_rmtree(dir);
}

Test(pack, idx_served_as_the_source)
{
    char *dir = tu_tmpdir("src");
    ds_source s = idx_source(dir);
    roundtrip(&s);
    tu_rmtree(dir);
}

Test(pack, folder_served_as_the_source)
{
    char *dir = tu_tmpdir("src");
    ds_source s = folder_source(dir);
    roundtrip(&s);
    s.decoded = 1; /* decoded images pack as arrays */
    s.height = 8;
    s.width = 7;
    roundtrip(&s);
    tu_rmtree(dir);
}

Test(pack, list_served_as_the_source)
{
    char *dir = tu_tmpdir("src");
    ds_source s = list_source(dir);
    roundtrip(&s);
    tu_rmtree(dir);
}

Test(pack, tar_served_as_the_source)
{
    char *dir = tu_tmpdir("src");
    ds_source s = tar_source(dir, 0);
    roundtrip(&s);
    tu_rmtree(dir);
}

/* Shards of the folder's files in its order, with its labels: the same
 * dataset digest as the folder (the digest is of content, not format). */
Test(tar, shards_hold_the_folders_samples)
{
    char *dir = tu_tmpdir("src");
    ds_source t = tar_source(dir, 0), f = folder_source(dir);
    ds_dataset a, b;
    load_ok(&a, &t);
    load_ok(&b, &f);
    cr_assert_eq(a.n, 18u);
    cr_assert_eq(a.classes, 3u);
    cr_assert_eq(a.digest, b.digest);
    cr_assert(strstr(ds_path(&a, 0), "shard-000.tar:s0/cat_00"), "%s",
              ds_path(&a, 0));
    cr_assert(strstr(ds_path(&a, 17), "shard-001.tar.gz:s1/eel_05"), "%s",
              ds_path(&a, 17));
    ds_unload(&a);
    ds_unload(&b);
    tu_rmtree(dir);
}

Test(tar, bad_sample_named_or_skipped)
{
    char *dir = tu_tmpdir("src");
    ds_source t = tar_source(dir, 1);
    ds_dataset a;
    cr_assert_eq(ds_load(&a, &t, tu_unique("tar"), err, sizeof err),
                 MIXUP_EDATASET);
    cr_assert(strstr(err, "shard-000.tar: sample 's0/dog_04': no .cls entry"),
              "%s", err);
    t.skip_bad = 1;
    load_ok(&a, &t);
    cr_assert_eq(a.n, 17u);
    ds_unload(&a);
    t.images = "/nonexistent/shard-*.tar";
    cr_assert_eq(ds_load(&a, &t, tu_unique("tar"), err, sizeof err),
                 MIXUP_EDATASET);
    cr_assert(strstr(err, "matches no file"), "%s", err);
    char notar[600];
    snprintf(notar, sizeof notar, "%s/x.idx", dir);
    idx_source(dir);
    t.images = notar;
    cr_assert_eq(ds_load(&a, &t, tu_unique("tar"), err, sizeof err),
                 MIXUP_EDATASET);
    cr_assert(strstr(err, notar), "%s", err);
    tu_rmtree(dir);
}

Test(tar, webdataset_names)
{
    size_t k;
    const char *ext;
    cr_assert_eq(dst_split_name("a/b.c/key.seg.jpg", &k, &ext), 0);
    cr_assert_eq(k, strlen("a/b.c/key"));
    cr_assert_str_eq(ext, "seg.jpg");
    cr_assert_eq(dst_split_name("dir/.hidden", &k, &ext), -1);
    cr_assert_eq(dst_split_name("noext", &k, &ext), -1);
    cr_assert_eq(dst_split_name("x.", &k, &ext), -1);
    int32_t l;
    cr_assert_eq(dst_parse_cls(" 42\n", 4, &l), 0);
    cr_assert_eq(l, 42);
    cr_assert_eq(dst_parse_cls("2147483647", 10, &l), 0);
    cr_assert_eq(dst_parse_cls("2147483648", 10, &l), -1);
    cr_assert_eq(dst_parse_cls("-1", 2, &l), -1);
    cr_assert_eq(dst_parse_cls("4 2", 3, &l), -1);
    cr_assert_eq(dst_parse_cls("  ", 2, &l), -1);
}

Test(pack, encoded_samples_page_aligned_and_names_kept)
{
    char *dir = tu_tmpdir("src");
    ds_source s = folder_source(dir);
    ds_dataset ds, p;
    load_ok(&ds, &s);
    char *path = pack_path(dir, "f.pack");
    write_pack(&ds, path);
    ds_source ps = pack_src(path, 1, 0);
    load_ok(&p, &ps);
    for (uint64_t i = 0; i < p.n; i++) {
        cr_assert_eq(p.files[i].offset % PK_PAGE, 0);
        cr_assert_eq(((uintptr_t)(p.packed + p.files[i].offset)) % PK_PAGE, 0);
        cr_assert_eq(p.files[i].length, ds.files[i].length);
        cr_assert(memcmp(p.packed + p.files[i].offset,
                         ds.packed + ds.files[i].offset,
                         p.files[i].length) == 0);
    }
    cr_assert_str_eq(p.class_names, "cat");
    cr_assert_str_eq(p.class_names + 4, "dog");
    cr_assert_eq(p.max_w, ds.max_w);
    ds_unload(&ds);
    ds_unload(&p);
    tu_rmtree(dir);
}

/* ------------------------------------------------ interrupted packing */

static void stop_now(void *ctx, uint64_t done, uint64_t total)
{
    (void)ctx;
    (void)done;
    (void)total;
    ds_stop_requested = 1;
}

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

Test(pack, interrupted_pack_leaves_no_file)
{
    char *src = tu_tmpdir("src"), *out = tu_tmpdir("out");
    ds_source s = npy_source(src);
    ds_dataset ds;
    load_ok(&ds, &s);
    char *path = pack_path(out, "d.pack");
    pk_write_opts o = {.progress = stop_now};
    cr_assert_eq(pk_write(&ds, path, &o, err, sizeof err), MIXUP_EINTR);
    ds_stop_requested = 0;
    cr_assert(strstr(err, path), "%s", err);
    cr_assert_eq(entries(out), 0, "something left in %s", out);
    /* An old pack under the name stays whole when a new one is stopped. */
    write_raw(path, "old", 3);
    cr_assert_eq(pk_write(&ds, path, &o, err, sizeof err), MIXUP_EINTR);
    ds_stop_requested = 0;
    char *old = tu_read_file(path);
    cr_assert_str_eq(old, "old");
    free(old);
    cr_assert_eq(entries(out), 1);
    /* Then a complete one replaces it. */
    write_pack(&ds, path);
    cr_assert_eq(entries(out), 1);
    ds_dataset p;
    ds_source ps = pack_src(path, 1, 1);
    load_ok(&p, &ps);
    ds_unload(&p);
    ds_unload(&ds);
    tu_rmtree(src);
    tu_rmtree(out);
}

/* mixupd --pack: the configured dataset written as a pack that loads
 * with the same digest. */
Test(pack, mixupd_pack_writes_a_servable_pack)
{
    char *dir = tu_tmpdir("cli");
    ds_source s = npy_source(dir);
    char conf[600], log[600], pack[600], arg[700];
    snprintf(conf, sizeof conf, "%s/c.ini", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    snprintf(pack, sizeof pack, "%s/out.pack", dir);
    FILE *f = fopen(conf, "w");
    fprintf(f, "[server]\nname = %s\n[dataset]\nformat = npy\nimages = %s\n"
            "labels = %s\n", tu_unique("cli"), s.images, s.labels);
    fclose(f);
    snprintf(arg, sizeof arg, "--pack=%s", pack);
    int pid = tu_spawn_daemon_args(conf, log, arg);
    int status = tu_stop_daemon(pid, 0);
    char *text = tu_read_file(log);
    cr_assert_eq(status, 0, "%s", text);
    cr_assert(strstr(text, "packed "), "%s", text);
    free(text);
    ds_dataset ds, p;
    load_ok(&ds, &s);
    ds_source ps = pack_src(pack, 1, 1);
    load_ok(&p, &ps);
    cr_assert_eq(p.digest, ds.digest);
    ds_unload(&ds);
    ds_unload(&p);
    tu_rmtree(dir);
}

/* ------------------------------------------------ corrupt packs */

static char *corrupt_dir;
static char *good_array, *good_encoded;

static void make_packs(void)
{
    corrupt_dir = tu_tmpdir("bad");
    ds_source a = npy_source(corrupt_dir), e = folder_source(corrupt_dir);
    ds_dataset ds;
    load_ok(&ds, &a);
    good_array = pack_path(corrupt_dir, "a.pack");
    write_pack(&ds, good_array);
    ds_unload(&ds);
    load_ok(&ds, &e);
    good_encoded = pack_path(corrupt_dir, "e.pack");
    write_pack(&ds, good_encoded);
    ds_unload(&ds);
}

/* A copy of @good with @len bytes at @at replaced (or cut at @cut). */
static char *variant(const char *good, const char *name, long at,
                     const void *bytes, size_t len, long cut)
{
    char *buf = NULL;
    FILE *f = fopen(good, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)size);
    cr_assert_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    if (bytes)
        memcpy(buf + at, bytes, len);
    char *path = pack_path(corrupt_dir, name);
    write_raw(path, buf, cut >= 0 ? (size_t)cut : (size_t)size);
    free(buf);
    return path;
}

static void refused(const char *path, int mapped, int verify,
                    const char *why)
{
    ds_dataset ds;
    ds_source s = pack_src(path, mapped, verify);
    cr_assert_eq(ds_load(&ds, &s, tu_unique("bad"), err, sizeof err),
                 MIXUP_EDATASET, "%s: loaded", path);
    cr_assert(strstr(err, path), "no file name: %s", err);
    cr_assert(strstr(err, why), "expected '%s' in: %s", why, err);
}

static long file_size(const char *p)
{
    struct stat st;
    cr_assert_eq(stat(p, &st), 0);
    return (long)st.st_size;
}

TestSuite(corrupt, .init = make_packs);

Test(corrupt, truncated)
{
    char *p = variant(good_array, "t.pack", 0, NULL, 0,
                      file_size(good_array) - 1);
    refused(p, 1, 0, "runs past the end of the file");
    p = variant(good_array, "t2.pack", 0, NULL, 0, 100);
    refused(p, 0, 0, "truncated");
    p = variant(good_encoded, "t3.pack", 0, NULL, 0,
                file_size(good_encoded) - 4096);
    refused(p, 1, 0, "runs past the end of the file");
}

Test(corrupt, wrong_magic_and_version)
{
    refused(variant(good_array, "m.pack", 0, "MIXUPACX", 8, -1), 1, 0,
            "wrong magic");
    uint8_t v2[4] = {2, 0, 0, 0};
    refused(variant(good_array, "v.pack", 8, v2, 4, -1), 1, 0,
            "pack version 2");
}

/* Entry @i's offset (8 bytes, little-endian) set to @off. */
static char *with_offset(const char *name, int i, uint64_t off)
{
    FILE *f = fopen(good_encoded, "rb");
    uint8_t head[PK_HEADER_BYTES];
    cr_assert_eq(fread(head, 1, sizeof head, f), sizeof head);
    fclose(f);
    pk_header h;
    cr_assert_eq(pk_decode_header(head, sizeof head, (uint64_t)file_size(good_encoded), &h, err, sizeof err), 0, "%s", err);
    uint8_t le[8];
    for (int b = 0; b < 8; b++)
        le[b] = (uint8_t)(off >> (8 * b));
    return variant(good_encoded, name,
                   (long)(h.index_off + (uint64_t)i * PK_ENTRY_BYTES), le, 8,
                   -1);
}

Test(corrupt, index_outside_the_file)
{
    refused(with_offset("o.pack", 3, 1ull << 40), 1, 0,
            "outside the data section");
    refused(with_offset("o2.pack", 0, UINT64_MAX - 2), 0, 0,
            "outside the data section");
}

Test(corrupt, overlapping_samples)
{
    refused(with_offset("ov.pack", 1, 0), 1, 0, "overlaps the sample before");
}

Test(corrupt, section_outside_the_file)
{
    uint8_t big[8] = {0, 0, 0, 0, 0, 1, 0, 0};
    refused(variant(good_array, "s.pack", 96, big, 8, -1), 1, 0,
            "runs past the end of the file");
}

Test(corrupt, digest_mismatch_under_verify_full)
{
    long size = file_size(good_encoded);
    char *p = variant(good_encoded, "d.pack", size - 1, "\x5a", 1, -1);
    refused(p, 1, 1, "digest mismatch");
    refused(p, 0, 1, "digest mismatch");
    /* verify = header trusts the digest: the start stays fast. */
    ds_dataset ds;
    ds_source s = pack_src(p, 1, 0);
    load_ok(&ds, &s);
    ds_unload(&ds);
    p = variant(good_array, "d2.pack", 4096 + 5, "\x01\x02", 2, -1);
    refused(p, 1, 1, "digest mismatch");
}

/* ------------------------------------------------ read-only filesystem */

/* A read-only bind mount in a private mount namespace when root (the
 * test process's own: nothing outside sees it), else a read-only file in
 * a read-only folder. */
static void make_read_only(const char *dir, const char *file)
{
    if (geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
        mount(dir, dir, NULL, MS_BIND, NULL) == 0 &&
        mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) == 0) {
        char probe[600];
        snprintf(probe, sizeof probe, "%s/probe", dir);
        cr_assert_eq(open(probe, O_CREAT | O_WRONLY, 0600), -1);
        cr_assert_eq(errno, EROFS);
        return;
    }
    cr_assert_eq(chmod(file, 0444), 0);
    cr_assert_eq(chmod(dir, 0555), 0);
}

Test(pack, read_only_filesystem_serves)
{
    char *src = tu_tmpdir("src"), *ro = tu_tmpdir("ro");
    ds_source s = folder_source(src);
    ds_dataset ds, p;
    load_ok(&ds, &s);
    char *path = pack_path(ro, "d.pack");
    write_pack(&ds, path);
    make_read_only(ro, path);
    ds_source ps = pack_src(path, 1, 1);
    load_ok(&p, &ps);
    same_batches(&ds, &p, NULL);
    ds_unload(&p);
    ps.mapped = 0;
    load_ok(&p, &ps);
    same_batches(&ds, &p, NULL);
    ds_unload(&p);
    ds_unload(&ds);
    chmod(ro, 0755);
    tu_rmtree(src);
}

/* The fuzz corpus's seeds are a second, independent writing of the
 * format (tests/fuzz/make_corpus.py): the good ones must read, each broken
 * one must be refused for its own reason. */
Test(pack, corpus_seeds_read_as_written)
{
    static const struct {
        const char *seed, *why;
    } cases[] = {
        {"encoded", NULL}, {"encoded-one-gray", NULL}, {"array-u8", NULL},
        {"array-f32-soft", NULL}, {"truncated", "runs past the end"},
        {"header-only", "runs past the end"}, {"wrong-magic", "magic"},
        {"version-2", "version 2"}, {"overlap", "overlaps"},
        {"outside", "outside the data"}, {"label-range", "label 7"},
        {"array-wrong-size", "runs past the end"},
    };
    const char *root = getenv("MIXUPD_SOURCE_ROOT");
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/fuzz/corpus/pack/seed-%s",
                 root ? root : ".", cases[i].seed);
        char *text = NULL;
        FILE *f = fopen(path, "rb");
        cr_assert(f, "%s", path);
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        text = malloc((size_t)n);
        cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        pk_header h;
        int rc = pk_check_file((const uint8_t *)text, (uint64_t)n, &h, err,
                               sizeof err);
        free(text);
        if (!cases[i].why)
            cr_assert_eq(rc, 0, "%s: %s", cases[i].seed, err);
        else
            cr_assert(rc == MIXUP_EDATASET && strstr(err, cases[i].why),
                      "%s: %d %s", cases[i].seed, rc, err);
    }
}

/* ------------------------------------------------ through the daemon */

/* A mapped pack with shuffle = blocks, served by 1 and by 3 workers:
 * every batch equals the in-process reference over the source's bytes
 * (so the order does not depend on the worker count), and stats show the
 * mapping's residency and read bytes. */
Test(serve, mapped_pack_with_blocks_same_bytes_for_any_worker_count)
{
    daemon_ctx d;
    setup_daemon(&d, "pkd");
    ref_init();
    char pack[600], extra[1200];
    snprintf(pack, sizeof pack, "%s/data.pack", d.dir);
    ds_dataset src = ref_ds;
    src.bytes = (uint64_t)N * H * W * C; /* [images | labels], as a store */
    uint8_t *store = malloc(src.bytes + 64 + N * 4);
    memcpy(store, images, src.bytes);
    uint64_t lab = (src.bytes + 63) / 64 * 64;
    memset(store + src.bytes, 0, lab - src.bytes);
    memcpy(store + lab, labels32, N * 4);
    src.images = store;
    src.labels = (const int32_t *)(const void *)(store + lab);
    src.bytes = lab + N * 4;
    src.digest = src.digest_images ? ds_digest_images(&src)
                                   : ds_digest_arrays(&src);
    write_pack(&src, pack);
    snprintf(extra, sizeof extra, "[dataset]\nformat = pack\nimages = %s\n"
             "storage = mapped\nverify = full\n[batch]\nshuffle = blocks\n"
             "shuffle_block = 16\nshuffle_window = 3\n", pack);
    bat_plan plan = ref_plan;
    plan.smp.shuffle = SMP_SHUFFLE_BLOCKS;
    plan.smp.block = 16;
    plan.smp.window = 3;
    uint32_t workers[2] = {1, 3};
    for (int w = 0; w < 2; w++) {
        write_config(&d, workers[w], 8, extra);
        d.pid = tu_spawn_daemon(d.config, d.log);
        wait_ready(&d);
        puller p = {.endpoint = d.ipc, .seed = 11, .batches = BPE + 3};
        pull(&p);
        cr_assert_eq(p.failures, 0, "%s", p.error);
        for (int i = 0; i < p.batches; i++) {
            uint64_t e = (uint64_t)i / BPE, k = (uint64_t)i % BPE;
            smp_order *o = smp_order_new(&plan.smp, 11, e);
            uint8_t *msg = malloc(plan.layout.total);
            bat_build(&plan, o, k, 0, msg);
            const mixup_batch *b = p.got[i];
            const mxp_batch_layout *L = &plan.layout;
            cr_assert_eq(b->epoch, e);
            cr_assert_eq(b->index, k);
            cr_assert(!memcmp(b->index1, msg + L->index1, B * 8) &&
                      !memcmp(b->lam, msg + L->lam, B * 4) &&
                      !memcmp(b->x, msg + L->x, (size_t)B * H * W * C * 4) &&
                      !memcmp(b->y, msg + L->y, (size_t)B * K * 4),
                      "workers %u: batch (%llu, %llu) differs", workers[w],
                      (unsigned long long)e, (unsigned long long)k);
            free(msg);
            smp_order_unref(o);
            mixup_batch_release(p.got[i]);
        }
        mixup_client *c = connect_to(d.ipc, 5000);
        char *text = NULL;
        cr_assert_eq(mixup_client_stats(c, 1, &text), 0);
        cr_assert(strstr(text, "\"mapped\": {\"file\": ") &&
                  strstr(text, "data.pack\", \"resident\": ") &&
                  strstr(text, "\"read_bytes\": ") &&
                  strstr(text, "\"shuffle\": \"blocks\""), "%s", text);
        free(text);
        mixup_client_close(c);
        stop_daemon(&d);
    }
    free(store);
    cleanup(&d);
}
