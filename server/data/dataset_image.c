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
#include "regfile.h"
#include "mixup_errors.h"
#include "resize.h"

#define ALIGN64(n) (((n) + 63) & ~(uint64_t)63)
#define BAD_NAMES_LOGGED 10 /* on_bad_file = skip: names logged */
#define BAD_NAMES_LISTED 20 /* on_bad_file = error: names listed */

/* ------------------------------------------------------------- files */

void (*dsi_after_sizing)(void *arg);
void *dsi_after_sizing_arg;

typedef struct bad_listed {
    size_t entry;  /* its place in the scan */
    char *text;    /* "path: why" (heap), NULL when out of memory */
} bad_listed;

typedef struct bad_log {
    const ds_source *src;
    const scan *s;
    uint64_t count;
    bad_listed listed[BAD_NAMES_LISTED]; /* on_bad_file = error */
} bad_log;

static int cmp_listed(const void *a, const void *b)
{
    size_t x = ((const bad_listed *)a)->entry, y = ((const bad_listed *)b)->entry;
    return x < y ? -1 : x > y;
}

/* A bad file: left out. With skip_bad counted and the first ones logged;
 * without, remembered, and the load goes on finding the others so that
 * one run (and --check) names them all: bad_report() then fails it. */
static void bad_file(bad_log *b, entry *e, const char *path, const char *why)
{
    e->bad = 1;
    if (b->src->skip_bad) {
        if (b->count++ < BAD_NAMES_LOGGED)
            log_warn("dataset: skipping %s: %s", path, why);
        return;
    }
    if (b->count < BAD_NAMES_LISTED) {
        size_t n = strlen(path) + strlen(why) + 3;
        char *m = malloc(n);
        if (m)
            snprintf(m, n, "%s: %s", path, why);
        b->listed[b->count] = (bad_listed){.entry = (size_t)(e - b->s->e),
                                           .text = m};
    }
    b->count++;
}

/* With on_bad_file = error and bad files found: list them (in file
 * order) and fail the load (@rc 0) naming the first and the option that
 * would skip them. A load that failed for another reason (@rc < 0) keeps
 * its error. */
static int bad_report(bad_log *b, int rc, char *err, size_t errlen)
{
    if (b->src->skip_bad || b->count == 0)
        return rc;
    size_t shown = b->count < BAD_NAMES_LISTED ? b->count : BAD_NAMES_LISTED;
    qsort(b->listed, shown, sizeof *b->listed, cmp_listed);
    const char *oom = "(out of memory)";
    const char *first = b->listed[0].text ? b->listed[0].text : oom;
    for (size_t i = 0; (b->count > 1 || rc < 0) && i < shown; i++)
        log_error("dataset: bad file %s",
                  b->listed[i].text ? b->listed[i].text : oom);
    if (b->count > shown)
        log_error("dataset: and %llu more bad files",
                  (unsigned long long)(b->count - shown));
    if (rc == 0 && b->count == 1)
        snprintf(err, errlen, "%s (dataset.on_bad_file = skip would leave "
                 "it out)", first);
    else if (rc == 0)
        snprintf(err, errlen, "%s: %llu bad files, listed above "
                 "(dataset.on_bad_file = skip would leave them out); the "
                 "first: %s", b->src->images, (unsigned long long)b->count,
                 first);
    for (size_t i = 0; i < shown; i++)
        free(b->listed[i].text);
    return rc < 0 ? rc : MIXUP_EDATASET;
}

/* Size and readability of every file (before the segment is sized). */
static int stat_files(scan *s, bad_log *b, uint64_t *total)
{
    *total = 0;
    for (size_t i = 0; i < s->n; i++) {
        entry *e = &s->e[i];
        const char *path = s->names + e->path;
        struct stat st;
        char why[64];
        if (stat(path, &st) < 0) {
            bad_file(b, e, path, strerror(errno));
        } else if (!S_ISREG(st.st_mode)) {
            snprintf(why, sizeof why, "not a regular file (%s)",
                     rf_kind(st.st_mode));
            bad_file(b, e, path, why);
        } else if (access(path, R_OK) < 0) {
            bad_file(b, e, path, strerror(errno));
        } else if (st.st_size == 0) {
            bad_file(b, e, path, "empty file (0 bytes)");
        } else if ((uint64_t)st.st_size > UINT32_MAX) {
            bad_file(b, e, path, "larger than 4 GiB");
        }
        e->size = e->bad ? 0 : (uint64_t)st.st_size;
        *total += e->size;
    }
    return 0;
}

/* Read the file at @path, listed with @size bytes, into @dst (room for
 * exactly that). Opened without blocking and refused unless it is still a
 * regular file (a FIFO or device put in its place is not waited on), and
 * of the listed size, to its end: a file changed since the listing is
 * bad, never read past its room. Symbolic links are followed (no
 * O_NOFOLLOW), as torchvision's ImageFolder follows them and folders of
 * links are a common way to make splits: what is checked is the object
 * opened. Return 0, or 1 with @why. */
static int read_listed(const char *path, uint64_t size, uint8_t *dst,
                       char *why, size_t whylen)
{
    uint64_t now;
    char oerr[512];
    int fd = rf_open(path, &now, oerr, sizeof oerr);
    if (fd < 0) { /* "path: what": the caller names the path */
        size_t pl = strlen(path);
        snprintf(why, whylen, "%s", strncmp(oerr, path, pl) == 0 &&
                 oerr[pl] == ':' ? oerr + pl + 2 : oerr);
        return 1;
    }
    int r = now != size ? -3 : dsi_read_fd(fd, dst, size);
    if (r == -1 && errno == 0)
        r = -2; /* an early end */
    uint8_t more;
    ssize_t extra = 0;
    while (r == 0 && (extra = read(fd, &more, 1)) < 0 && errno == EINTR)
        ;
    if (r == -1 || extra < 0)
        snprintf(why, whylen, "cannot read it: %s", strerror(errno));
    else if (r == -3)
        snprintf(why, whylen, "changed while loading: %llu bytes when "
                 "listed, %llu now", (unsigned long long)size,
                 (unsigned long long)now);
    else if (r == -2)
        snprintf(why, whylen, "changed while loading: shorter than the "
                 "%llu bytes listed", (unsigned long long)size);
    else if (extra > 0)
        snprintf(why, whylen, "changed while loading: longer than the "
                 "%llu bytes listed", (unsigned long long)size);
    close(fd);
    return r < 0 || extra != 0;
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
    if (read_listed(s->names + e->path, e->size, dst, why, whylen))
        return 1;
    if (img_probe(dst, e->size, &e->info, why, whylen) < 0)
        return 1;
    uint64_t px = (uint64_t)e->info.h * e->info.w;
    if (px > src->max_pixels || e->info.h > 65535 || e->info.w > 65535) {
        snprintf(why, whylen, "%ux%u pixels, more than dataset.max_pixels "
                 "= %llu or a side over 65535", e->info.w, e->info.h,
                 (unsigned long long)src->max_pixels);
        return 1;
    }
    /* A progressive JPEG is decoded whole into coefficients: a small
     * file can cost hundreds of MB per decode, on every worker. */
    if (src->max_decode_memory && e->info.coef_bytes > src->max_decode_memory) {
        snprintf(why, whylen, "%s JPEG of %ux%u: decoding it needs a "
                 "%llu-byte coefficient buffer, more than "
                 "dataset.max_decode_memory = %llu",
                 e->info.progressive ? "progressive" : "multi-scan",
                 e->info.w, e->info.h,
                 (unsigned long long)e->info.coef_bytes,
                 (unsigned long long)src->max_decode_memory);
        return 1;
    }
    e->info.max_memory = src->max_decode_memory;
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
    char said[256];
    int rc = img_decode(dst, e->size, &e->info, 1, src->channels, vb->p,
                        said, sizeof said);
    if (rc < 0) {
        snprintf(why, whylen, "%s", said);
        return 1;
    }
    /* A JPEG warning is damage the decoder papered over ("corrupt JPEG
     * data", "premature end"); libpng's warnings are about ancillary
     * chunks (colour profiles and the like), not the pixels. */
    if (rc > 0 && e->info.kind == IMG_JPEG) {
        snprintf(why, whylen, "%s (the JPEG decoder warned)", said);
        return 1;
    }
    return 0;
}

/* Read file @e into @dst and check its header; a bad file as bad_file(). */
static int read_check(const ds_source *src, bad_log *b, scan *s, entry *e,
                      uint8_t *dst, char *err, size_t errlen)
{
    char why[512];
    int rc = probe_one(src, s, e, dst, NULL, why, sizeof why);
    if (rc == 1) {
        bad_file(b, e, s->names + e->path, why);
        return 0;
    }
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
    char why[512];
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
    ds_encoded_layout L;
    int rc = ds_encoded_create(ds, src, instance, s->n, bytes, &L, err,
                               errlen);
    if (rc < 0)
        return rc;
    int32_t *labels = L.labels;
    ds_file *files = L.files;
    uint8_t *packed = L.packed;
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
            bad_file(b, e, s->names + e->path, why[i]);
        if (e->bad)
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
    ds_encoded_finish(ds, src, &L, n);
    return 0;
}

/* Scratch of the decoded load, grown to each image as it is decoded, not
 * as it was sized: a file may have changed in between. */
typedef struct dec_buf {
    uint8_t *pix;
    float *work;
    size_t pix_cap, work_cap;
} dec_buf;

static int reserve(void **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    void *q = realloc(*p, need);
    if (!q)
        return -1;
    *p = q;
    *cap = need;
    return 0;
}

/* Decode @e, whose bytes are in @file, into @dst as h x w x c. */
static int decode_into(const ds_source *src, bad_log *b, scan *s, entry *e,
                       const uint8_t *file, dec_buf *db, uint8_t *dst,
                       uint32_t h, uint32_t w)
{
    char why[256];
    uint32_t c = src->channels, ih = e->info.h, iw = e->info.w;
    if (reserve((void **)&db->pix, &db->pix_cap, img_decode_bytes(&e->info)))
        return MIXUP_ENOMEM;
    int rc = img_decode(file, e->size, &e->info, 1, c, db->pix, why,
                        sizeof why);
    if (rc < 0 || (rc > 0 && src->verify_full && e->info.kind == IMG_JPEG)) {
        bad_file(b, e, s->names + e->path, why);
        return 0;
    }
    size_t n = (size_t)h * w * c;
    if (ih == h && iw == w) {
        memcpy(dst, db->pix, n);
        return 0;
    }
    if (reserve((void **)&db->work, &db->work_cap,
                rsz_image_work_bytes(ih, iw, h, w, c)))
        return MIXUP_ENOMEM;
    rsz_image(dst, db->pix, ih, iw, c, h, w, db->work);
    return 0;
}

/* The segment of a decoded dataset, made when its first good image fixes
 * the size (dataset.height x width, or that image's): room for every file
 * not yet found bad, [images | labels]. */
static int decoded_segment(ds_dataset *ds, const scan *s, size_t from,
                           const ds_source *src, const char *instance,
                           uint64_t per, uint64_t *img, char *err,
                           size_t errlen)
{
    uint64_t cap = 0, bytes;
    for (size_t k = from; k < s->n; k++)
        cap += !s->e[k].bad;
    if (ds_mul(per, cap, &bytes) < 0 || bytes > UINT64_MAX / 2) {
        snprintf(err, errlen, "%s: %llu images of %llu bytes do not fit in "
                 "memory", src->images, (unsigned long long)cap,
                 (unsigned long long)per);
        return MIXUP_EDATASET;
    }
    *img = ALIGN64(bytes);
    ds->bytes = *img + cap * 4;
    return shm_segment_create(&ds->seg, instance,
                              src->segment ? src->segment : "dataset",
                              (size_t)ds->bytes, err, errlen);
}

/* One pass, each file read once: read, checked, decoded (and resized)
 * straight into the segment. */
static int load_decoded(ds_dataset *ds, scan *s, const ds_source *src,
                        const char *instance, bad_log *b, char *err,
                        size_t errlen)
{
    uint64_t big = 0, per = 0, img = 0, j = 0;
    uint32_t h = src->height, w = src->width;
    const char *first = NULL;
    for (size_t i = 0; i < s->n; i++)
        big = s->e[i].size > big ? s->e[i].size : big;
    uint8_t *file = malloc(big ? big : 1);
    dec_buf db = {0};
    int rc = file ? 0 : MIXUP_ENOMEM;
    for (size_t i = 0; i < s->n && rc == 0; i++) {
        entry *e = &s->e[i];
        if (e->bad || (rc = ds_check_stop(src->images, err, errlen)) < 0 ||
            (rc = read_check(src, b, s, e, file, err, errlen)) < 0 || e->bad)
            continue;
        if (b->count && !src->skip_bad)
            continue; /* failing: the rest only checked, to name them all */
        if (!ds->seg.addr) {
            h = src->height ? h : e->info.h;
            w = src->height ? w : e->info.w;
            first = s->names + e->path;
            per = (uint64_t)h * w * src->channels;
            rc = decoded_segment(ds, s, i, src, instance, per, &img, err,
                                 errlen);
        } else if (!src->height && (e->info.h != h || e->info.w != w)) {
            snprintf(err, errlen, "%s: %ux%u, but %s is %ux%u: set "
                     "dataset.height and width to resize them all",
                     s->names + e->path, e->info.w, e->info.h, first, w, h);
            rc = MIXUP_EDATASET;
        }
        if (rc < 0)
            break;
        uint8_t *base = ds->seg.addr;
        rc = decode_into(src, b, s, e, file, &db, base + j * per, h, w);
        if (rc == 0 && !e->bad)
            ((int32_t *)(void *)(base + img))[j++] = e->label;
    }
    free(file);
    free(db.pix);
    free(db.work);
    if (rc == MIXUP_ENOMEM && !*err)
        snprintf(err, errlen, "out of memory decoding %s", src->images);
    if (rc < 0 || !ds->seg.addr)
        return rc;
    ds->n = j;
    ds->h = h;
    ds->w = w;
    ds->c = src->channels;
    ds->dtype = DS_U8;
    ds->images = ds->seg.addr;
    ds->labels = (int32_t *)(void *)((uint8_t *)ds->seg.addr + img);
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
    bad_log b = {.src = src, .s = &s};
    uint64_t bytes = 0;
    int rc = src->format == DS_FOLDER ? dsi_scan_folder(&s, src->images, err, errlen)
                                      : dsi_scan_list(&s, src, err, errlen);
    if (rc == 0)
        rc = stat_files(&s, &b, &bytes);
    if (rc == 0)
        rc = check_labels(&s, src, &ds->classes, err, errlen);
    if (rc == 0 && dsi_after_sizing)
        dsi_after_sizing(dsi_after_sizing_arg);
    if (rc == 0)
        rc = src->decoded ? load_decoded(ds, &s, src, instance, &b, err, errlen)
                          : load_encoded(ds, &s, src, instance, &b, bytes,
                                         err, errlen);
    rc = bad_report(&b, rc, err, errlen);
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
