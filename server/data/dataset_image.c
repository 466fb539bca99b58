/*
 * dataset_image.c — format = folder | list: JPEG and PNG files.
 *
 * folder: ImageFolder's layout. Every subfolder of `images` is a class;
 * classes are sorted by name (byte order, as Python sorts str for UTF-8
 * names) and numbered from 0. The files directly in a class folder whose
 * names end in .jpg, .jpeg or .png (any case) are its samples, sorted by
 * name; other files and nested folders are skipped and counted in the log.
 * A class folder without images is an error (as torchvision's).
 * list: `path label` lines (dsi_parse_list()), in the file's order.
 * Finding the files and their labels is dataset_image_scan.c's; this file
 * reads, checks, decodes and stores them. --check's and the stats'
 * descriptions are in dataset_image_describe.c.
 *
 * Storage:
 *   encoded — one segment [labels int32 [n] | ds_file [n] | packed bytes]:
 *     everything in it is an offset from its start, so the same layout can
 *     later be a file on disk mapped read-only (page cache shared between
 *     daemons) instead of /dev/shm, whose size is today's limit.
 *   decoded — every image decoded once and stored as uint8 [n, h, w, c]
 *     like the array formats; resized (antialiased bilinear, resize.h) to
 *     dataset.height x width when given, else all must share one size.
 *
 * Every file's header is checked at load (img_probe(): magic bytes, the
 * decoder's header parse, a complete stream, size <= max_pixels and
 * sides <= 65535): a bad file is an error naming it, or with skip_bad it
 * is left out, counted, and the first names logged.
 */
#include "dataset.h"
#include "dataset_image.h"
#include "dataset_image_scan.h"
#include "dataset_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "image.h"
#include "log.h"
#include "mixup_errors.h"
#include "resize.h"

#define ALIGN64(n) (((n) + 63) & ~(uint64_t)63)
#define BAD_NAMES_LOGGED 10

/* ------------------------------------------------------------- files */

typedef struct bad_log {
    const ds_source *src;
    uint64_t count;
} bad_log;

/* A bad file: the error, or (skip_bad) counted and maybe logged. */
static int bad_file(bad_log *b, entry *e, const char *path, const char *why,
                    char *err, size_t errlen)
{
    if (!b->src->skip_bad) {
        snprintf(err, errlen, "%s: %s", path, why);
        return MIXUP_EDATASET;
    }
    e->bad = 1;
    if (b->count++ < BAD_NAMES_LOGGED)
        log_warn("dataset: skipping %s: %s", path, why);
    return 0;
}

/* Size and readability of every file (before the segment is sized). */
static int stat_files(scan *s, bad_log *b, uint64_t *total, char *err,
                      size_t errlen)
{
    *total = 0;
    for (size_t i = 0; i < s->n; i++) {
        entry *e = &s->e[i];
        const char *path = s->names + e->path;
        struct stat st;
        int rc = 0;
        if (stat(path, &st) < 0)
            rc = bad_file(b, e, path, strerror(errno), err, errlen);
        else if (!S_ISREG(st.st_mode))
            rc = bad_file(b, e, path, "not a regular file", err, errlen);
        else if (access(path, R_OK) < 0)
            rc = bad_file(b, e, path, strerror(errno), err, errlen);
        else if (st.st_size == 0)
            rc = bad_file(b, e, path, "empty file (0 bytes)", err, errlen);
        else if ((uint64_t)st.st_size > UINT32_MAX)
            rc = bad_file(b, e, path, "larger than 4 GiB", err, errlen);
        if (rc < 0)
            return rc;
        e->size = e->bad ? 0 : (uint64_t)st.st_size;
        *total += e->size;
    }
    return 0;
}

/* verify = full: the whole file decodes (header checks do not see a
 * stream cut inside the data, or corrupt entropy-coded segments). */
typedef struct verify_buf {
    uint8_t *p;
    size_t cap;
} verify_buf;

/* Read file @e into @dst and check its header (and with @vb, decode it
 * once). Return 0; 1 with @why when the file is bad; MIXUP_ENOMEM. Touches
 * nothing shared but @e and @dst: loading threads call it in parallel. */
static int probe_one(const ds_source *src, const scan *s, entry *e,
                     uint8_t *dst, verify_buf *vb, char *why, size_t whylen)
{
    const char *path = s->names + e->path;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return 1;
    }
    int r = dsi_read_fd(fd, dst, e->size);
    close(fd);
    if (r < 0) {
        snprintf(why, whylen, "cannot read it (changed while loading?)");
        return 1;
    }
    if (img_probe(dst, e->size, &e->info, why, whylen) < 0)
        return 1;
    uint64_t px = (uint64_t)e->info.h * e->info.w;
    if (px > src->max_pixels || e->info.h > 65535 || e->info.w > 65535) {
        snprintf(why, whylen, "%ux%u pixels, more than dataset.max_pixels "
                 "= %llu or a side over 65535", e->info.w, e->info.h,
                 (unsigned long long)src->max_pixels);
        return 1;
    }
    if (!vb)
        return 0;
    size_t need = img_decode_bytes(&e->info);
    if (need > vb->cap) {
        uint8_t *p = realloc(vb->p, need);
        if (!p)
            return MIXUP_ENOMEM;
        vb->p = p;
        vb->cap = need;
    }
    int rc = img_decode(dst, e->size, &e->info, 1, src->channels, vb->p, why,
                        whylen);
    if (rc < 0)
        return 1;
    /* A JPEG warning is damage the decoder papered over ("corrupt JPEG
     * data", "premature end"); libpng's warnings are about ancillary
     * chunks (colour profiles and the like), not the pixels. */
    if (rc > 0 && e->info.kind == IMG_JPEG) {
        snprintf(why, whylen, "the image data is damaged (the JPEG decoder "
                 "warned)");
        return 1;
    }
    return 0;
}

/* Read file @e into @dst and check its header; a bad file as bad_file(). */
static int read_check(const ds_source *src, bad_log *b, scan *s, entry *e,
                      uint8_t *dst, char *err, size_t errlen)
{
    char why[256];
    int rc = probe_one(src, s, e, dst, NULL, why, sizeof why);
    if (rc == 1)
        return bad_file(b, e, s->names + e->path, why, err, errlen);
    if (rc < 0)
        snprintf(err, errlen, "out of memory reading %s", s->names + e->path);
    return rc;
}

/* ------------------------------------------------------------- stores */

static int check_labels(const scan *s, const ds_source *src, uint32_t *classes,
                        char *err, size_t errlen)
{
    uint32_t bound = src->classes ? src->classes : s->n_classes;
    int32_t max = -1;
    for (size_t i = 0; i < s->n; i++) {
        const entry *e = &s->e[i];
        if (e->bad)
            continue;
        if (bound && (uint32_t)e->label >= bound) {
            snprintf(err, errlen, "%s: label %d, expected 0 <= label < %u",
                     s->names + e->path, e->label, bound);
            return MIXUP_EDATASET;
        }
        max = e->label > max ? e->label : max;
    }
    if (!bound && (uint32_t)max >= DS_MAX_CLASSES) {
        snprintf(err, errlen, "%s: largest label %d, at most %u classes",
                 src->images, max, DS_MAX_CLASSES);
        return MIXUP_EDATASET;
    }
    *classes = bound ? bound : (uint32_t)max + 1;
    return 0;
}

/* The heap side of the dataset: names, paths of the kept files. */
static int keep_names(ds_dataset *ds, scan *s)
{
    ds->class_names = s->classes;
    ds->n_class_names = s->n_classes;
    s->classes = NULL;
    ds->paths = s->names;
    s->names = NULL;
    return 0;
}

/* Files read and checked by several threads at once (each into its own
 * place in the segment); what they found is then judged in file order,
 * so messages and skips are those of a reading in order. */
typedef struct load_job {
    const ds_source *src;
    const scan *s;
    uint8_t *packed;
    const uint64_t *off; /* where each file goes */
    char **why;          /* per file: NULL, or why it is bad (heap) */
    atomic_size_t next, done;
    atomic_int enomem;
} load_job;

static void *load_thread(void *arg)
{
    load_job *j = arg;
    verify_buf vb = {0};
    char why[256];
    while (!ds_stop_requested) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->s->n)
            break;
        entry *e = &j->s->e[i];
        int rc = e->bad ? 0
                        : probe_one(j->src, j->s, e, j->packed + j->off[i],
                                    j->src->verify_full ? &vb : NULL, why,
                                    sizeof why);
        if (rc == 1 && !(j->why[i] = strdup(why)))
            rc = MIXUP_ENOMEM;
        if (rc < 0)
            atomic_store(&j->enomem, 1);
        atomic_fetch_add(&j->done, 1);
    }
    free(vb.p);
    return NULL;
}

/* Run the loading threads; on a terminal, a progress line meanwhile. */
static int read_parallel(load_job *j, uint32_t threads)
{
    pthread_t t[16];
    uint32_t n = threads < 1 ? 1 : threads > 16 ? 16 : threads, started = 0;
    for (; started < n; started++)
        if (pthread_create(&t[started], NULL, load_thread, j) != 0)
            break;
    if (started == 0)
        load_thread(j); /* no thread to be had: this one reads */
    int tty = isatty(2);
    const struct timespec tick = {0, 100 * 1000 * 1000};
    while (started && tty && !ds_stop_requested &&
           atomic_load(&j->done) < j->s->n) {
        fprintf(stderr, "\rloading images: %zu / %zu files",
                atomic_load(&j->done), j->s->n);
        nanosleep(&tick, NULL);
    }
    for (uint32_t i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    if (tty && started)
        fprintf(stderr, "\rloading images: %zu / %zu files\n",
                atomic_load(&j->done), j->s->n);
    return atomic_load(&j->enomem) ? MIXUP_ENOMEM : 0;
}

static int load_encoded(ds_dataset *ds, scan *s, const ds_source *src,
                        const char *instance, bad_log *b, uint64_t bytes,
                        char *err, size_t errlen)
{
    uint64_t lab = ALIGN64((uint64_t)s->n * 4);
    uint64_t idx = ALIGN64((uint64_t)s->n * sizeof(ds_file));
    uint64_t total = lab + idx + bytes;
    int rc = shm_segment_create(&ds->seg, instance,
                                src->segment ? src->segment : "dataset",
                                (size_t)(total ? total : 1), err, errlen);
    if (rc < 0)
        return rc;
    uint8_t *base = ds->seg.addr;
    int32_t *labels = (int32_t *)(void *)base;
    ds_file *files = (ds_file *)(void *)(base + lab);
    uint8_t *packed = base + lab + idx;
    uint64_t *off = calloc(s->n ? s->n : 1, sizeof *off);
    char **why = calloc(s->n ? s->n : 1, sizeof *why);
    if (!off || !why) {
        free(off);
        free(why);
        snprintf(err, errlen, "out of memory loading %s", src->images);
        return MIXUP_ENOMEM;
    }
    for (size_t i = 0, at = 0; i < s->n; i++) {
        off[i] = at;
        at += s->e[i].bad ? 0 : s->e[i].size;
    }
    load_job j = {.src = src, .s = s, .packed = packed, .off = off,
                  .why = why};
    rc = read_parallel(&j, src->load_threads);
    if (rc < 0)
        snprintf(err, errlen, "out of memory loading %s", src->images);
    if (rc == 0)
        rc = ds_check_stop(src->images, err, errlen);
    /* In file order: the bad ones judged, the good ones packed (moved down
     * over the room of files found bad). */
    uint64_t at = 0, n = 0;
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        entry *e = &s->e[i];
        if (!e->bad && why[i])
            rc = bad_file(b, e, s->names + e->path, why[i], err, errlen);
        if (rc < 0 || e->bad)
            continue;
        if (at != off[i])
            memmove(packed + at, packed + off[i], e->size);
        files[n] = (ds_file){.offset = at, .length = (uint32_t)e->size,
                             .path = (uint32_t)e->path,
                             .h = (uint16_t)e->info.h,
                             .w = (uint16_t)e->info.w,
                             .kind = (uint8_t)e->info.kind,
                             .cmyk = e->info.cmyk, .adobe = e->info.adobe};
        labels[n++] = e->label;
        at += e->size;
        ds->max_h = e->info.h > ds->max_h ? e->info.h : ds->max_h;
        ds->max_w = e->info.w > ds->max_w ? e->info.w : ds->max_w;
    }
    for (size_t i = 0; i < s->n; i++)
        free(why[i]);
    free(why);
    free(off);
    if (rc < 0)
        return rc;
    ds->n = n;
    ds->encoded = 1;
    ds->c = src->channels;
    ds->dtype = DS_U8;
    ds->labels = labels;
    ds->files = files;
    ds->packed = packed;
    ds->bytes = total;
    return 0;
}

/* Decode @e (read again from its file) into @dst as h x w x c. */
static int decode_into(const ds_source *src, bad_log *b, scan *s, entry *e,
                       uint8_t *file, uint8_t *pix, float *work,
                       uint8_t *dst, uint32_t h, uint32_t w, char *err,
                       size_t errlen)
{
    int rc = read_check(src, b, s, e, file, err, errlen);
    if (rc < 0 || e->bad)
        return rc;
    char why[256];
    uint32_t c = src->channels;
    if (img_decode(file, e->size, &e->info, 1, c, pix, why, sizeof why) < 0)
        return bad_file(b, e, s->names + e->path, why, err, errlen);
    size_t n = (size_t)h * w * c;
    if (e->info.h == h && e->info.w == w) {
        memcpy(dst, pix, n);
        return 0;
    }
    rsz_axis ax = {.first = (uint32_t *)(void *)work, .count = NULL};
    rsz_axis ay;
    /* work: [first/count x, first/count y, weights x, weights y, rows]. */
    uint32_t *u = (uint32_t *)(void *)work;
    ax.first = u;
    ax.count = u + w;
    ay.first = u + 2 * w;
    ay.count = u + 2 * w + h;
    float *fw = work + 2 * (w + h);
    ax.w = fw;
    ay.w = fw + rsz_axis_floats(e->info.w, w);
    float *rows = ay.w + rsz_axis_floats(e->info.h, h);
    float *out = rows + (size_t)w * e->info.h * c;
    rsz_axis_init(&ax, e->info.w, 0, e->info.w, w);
    rsz_axis_init(&ay, e->info.h, 0, e->info.h, h);
    rsz_resample_u8(out, pix, (size_t)e->info.w * c, e->info.h, c, &ax, &ay,
                    1.0f, rows);
    for (size_t i = 0; i < n; i++) {
        float v = nearbyintf(out[i]);
        dst[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
    }
    return 0;
}

static int load_decoded(ds_dataset *ds, scan *s, const ds_source *src,
                        const char *instance, bad_log *b, char *err,
                        size_t errlen)
{
    /* Pass 1: headers, for the sizes. */
    uint64_t big = 0, n = 0;
    uint32_t h = src->height, w = src->width, mh = 0, mw = 0;
    for (size_t i = 0; i < s->n; i++)
        big = s->e[i].size > big ? s->e[i].size : big;
    uint8_t *file = malloc(big ? big : 1);
    if (!file)
        return MIXUP_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        entry *e = &s->e[i];
        if (e->bad || (rc = read_check(src, b, s, e, file, err, errlen)) < 0 ||
            e->bad)
            continue;
        if (!src->height && n && (e->info.h != h || e->info.w != w)) {
            snprintf(err, errlen, "%s: %ux%u, but %s is %ux%u: set "
                     "dataset.height and width to resize them all",
                     s->names + e->path, e->info.w, e->info.h,
                     s->names + s->e[0].path, w, h);
            rc = MIXUP_EDATASET;
        }
        if (!src->height) {
            h = e->info.h;
            w = e->info.w;
        }
        mh = e->info.h > mh ? e->info.h : mh;
        mw = e->info.w > mw ? e->info.w : mw;
        n++;
    }
    uint64_t per = (uint64_t)h * w * src->channels;
    uint64_t img = ALIGN64(per * n), total = img + (uint64_t)n * 4;
    uint8_t *pix = NULL;
    float *work = NULL;
    if (rc == 0 && n) {
        pix = malloc((size_t)mh * mw * 4);
        work = malloc(4 * (2 * ((size_t)w + h) + rsz_axis_floats(mw, w) +
                           rsz_axis_floats(mh, h) +
                           (size_t)w * mh * src->channels + per));
        rc = pix && work ? 0 : MIXUP_ENOMEM;
    }
    if (rc == 0 && n)
        rc = shm_segment_create(&ds->seg, instance,
                                src->segment ? src->segment : "dataset",
                                (size_t)total, err, errlen);
    uint64_t j = 0;
    for (size_t i = 0; i < s->n && rc == 0 && n; i++) {
        entry *e = &s->e[i];
        if (e->bad)
            continue;
        uint8_t *dst = (uint8_t *)ds->seg.addr + j * per;
        rc = decode_into(src, b, s, e, file, pix, work, dst, h, w, err, errlen);
        if (rc == 0 && !e->bad)
            ((int32_t *)(void *)((uint8_t *)ds->seg.addr + img))[j++] = e->label;
    }
    free(file);
    free(pix);
    free(work);
    if (rc == MIXUP_ENOMEM && !*err)
        snprintf(err, errlen, "out of memory decoding %s", src->images);
    if (rc < 0)
        return rc;
    ds->n = j;
    ds->h = h;
    ds->w = w;
    ds->c = src->channels;
    ds->dtype = DS_U8;
    ds->images = ds->seg.addr;
    ds->labels = (int32_t *)(void *)((uint8_t *)ds->seg.addr + img);
    ds->bytes = total;
    return 0;
}

/* The dataset digest of an image dataset: what makes its batches, not
 * where its files lie (the same folder under another root on another
 * node digests the same): shape, storage and class count, the labels,
 * then every file's bytes (encoded) or the decoded pixels. */
uint64_t ds_digest_images(const ds_dataset *ds)
{
    uint64_t head[6] = {ds->n, ds->h, ds->w, ds->c,
                        (uint64_t)ds->encoded << 16 | (uint64_t)ds->dtype,
                        ds->classes};
    dg_state st;
    dg_init(&st);
    dg_update(&st, head, sizeof head);
    dg_update(&st, ds->labels, (size_t)ds->n * sizeof *ds->labels);
    if (ds->encoded) {
        for (uint64_t i = 0; i < ds->n; i++) {
            const ds_file *f = &ds->files[i];
            uint64_t len = f->length;
            dg_update(&st, &len, sizeof len);
            dg_update(&st, ds->packed + f->offset, f->length);
        }
    } else {
        dg_update(&st, ds->images, (size_t)ds->n * ds->h * ds->w * ds->c);
    }
    return dg_final(&st);
}

static void digest_images(ds_dataset *ds)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ds->digest = ds_digest_images(ds);
    ds->digest_images = 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ds->digest_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}

int ds_load_images(ds_dataset *ds, const ds_source *src, const char *instance,
                   char *err, size_t errlen)
{
    memset(ds, 0, sizeof *ds);
    if (err && errlen)
        err[0] = 0;
    if (src->channels != 1 && src->channels != 3) {
        snprintf(err, errlen, "dataset.channels = %u: expected 1 or 3",
                 src->channels);
        return MIXUP_EINVAL;
    }
    if (!src->images || !*src->images) {
        snprintf(err, errlen, "dataset.images: a folder or list file is "
                 "needed");
        return MIXUP_EINVAL;
    }
    scan s = {0};
    bad_log b = {.src = src};
    uint64_t bytes = 0;
    int rc = src->format == DS_FOLDER ? dsi_scan_folder(&s, src->images, err, errlen)
                                      : dsi_scan_list(&s, src, err, errlen);
    if (rc == 0)
        rc = stat_files(&s, &b, &bytes, err, errlen);
    if (rc == 0)
        rc = check_labels(&s, src, &ds->classes, err, errlen);
    if (rc == 0)
        rc = src->decoded ? load_decoded(ds, &s, src, instance, &b, err, errlen)
                          : load_encoded(ds, &s, src, instance, &b, bytes,
                                         err, errlen);
    if (rc == 0 && ds->n == 0) {
        snprintf(err, errlen, "%s: no readable images (%llu bad files "
                 "skipped)", src->images, (unsigned long long)b.count);
        rc = MIXUP_EDATASET;
    }
    if (rc == 0) {
        digest_images(ds);
        rc = shm_segment_seal(&ds->seg, err, errlen);
        ds->origin = "shared memory";
    }
    if (rc == 0 && ds->encoded) {
        ds->faults = calloc(1, sizeof *ds->faults);
        if (ds->faults)
            ds->faults->logged = calloc(ds->n, 1);
        rc = ds->faults && ds->faults->logged ? 0 : MIXUP_ENOMEM;
    }
    if (rc == 0) {
        keep_names(ds, &s);
        log_info("dataset %s: %llu images (%s), %u classes, %llu bytes, "
                 "%llu other files skipped, %llu bad files skipped",
                 src->images, (unsigned long long)ds->n,
                 src->decoded ? "decoded" : "encoded", ds->classes,
                 (unsigned long long)ds->bytes,
                 (unsigned long long)(s.skipped),
                 (unsigned long long)b.count);
    } else if (rc == MIXUP_ENOMEM && !*err) {
        snprintf(err, errlen, "out of memory loading %s", src->images);
    }
    dsi_scan_free(&s);
    if (rc < 0)
        ds_unload(ds);
    return rc;
}
