/*
 * dataset.c — see dataset.h; the shared store behind the loaders
 * (dataset_internal.h describes the probe / create / read steps). The
 * loaders use it; ds_load() in dataset_load.c sits on top of both and
 * picks the loader, so nothing here calls a loader by name.
 *
 * Decisions beyond the header:
 * - an empty dataset (N = 0) or an image with a zero dimension is an error;
 * - float32 images must be finite (a NaN would poison every batch it is
 *   mixed into, silently);
 * - float32 label rows must be finite and >= 0; their sum is not checked
 *   (soft targets need not be normalised); with classes configured, the
 *   row width must equal it.
 */
#include "dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <time.h>

#include "dataset_internal.h"
#include "digest.h"
#include "mixup_errors.h"

#define DS_ALIGN 64u

ds_format ds_format_parse(const char *name)
{
    if (!name)
        return 0;
    if (strcasecmp(name, "npy") == 0)
        return DS_NPY;
    if (strcasecmp(name, "idx") == 0)
        return DS_IDX;
    if (strcasecmp(name, "cifar") == 0)
        return DS_CIFAR;
    if (strcasecmp(name, "folder") == 0)
        return DS_FOLDER;
    if (strcasecmp(name, "list") == 0)
        return DS_LIST;
    if (strcasecmp(name, "pack") == 0)
        return DS_PACK;
    if (strcasecmp(name, "tar") == 0)
        return DS_TAR;
    return 0;
}

const char *ds_format_name(ds_format f)
{
    switch (f) {
    case DS_NPY: return "npy";
    case DS_IDX: return "idx";
    case DS_CIFAR: return "cifar";
    case DS_FOLDER: return "folder";
    case DS_LIST: return "list";
    case DS_PACK: return "pack";
    case DS_TAR: return "tar";
    }
    return "unknown";
}

volatile sig_atomic_t ds_stop_requested;

int ds_check_stop(const char *path, char *err, size_t errlen)
{
    if (!ds_stop_requested)
        return 0;
    snprintf(err, errlen, "%s: loading abandoned: stop requested", path);
    return MIXUP_EINTR;
}

/* Shape and count checks that hold for every format. */
static int check_probe(const ds_probe *p, const ds_source *src, char *err,
                       size_t errlen)
{
    if (p->n == 0) {
        snprintf(err, errlen, "%s: no samples (N = 0)", p->images_name);
        return MIXUP_EDATASET;
    }
    if (p->h == 0 || p->w == 0 || p->c == 0) {
        snprintf(err, errlen,
                 "%s: image shape %ux%ux%u (HxWxC) has a zero dimension",
                 p->images_name, p->h, p->w, p->c);
        return MIXUP_EDATASET;
    }
    /* The sampler keeps indices in 32 bits (an epoch order of N entries). */
    if (p->n > UINT32_MAX) {
        snprintf(err, errlen, "%s: %llu samples, at most %u are supported",
                 p->images_name, (unsigned long long)p->n, UINT32_MAX);
        return MIXUP_EDATASET;
    }
    if (p->n_labels != p->n) {
        snprintf(err, errlen, "%s has %llu labels but %s has %llu images",
                 p->labels_name, (unsigned long long)p->n_labels,
                 p->images_name, (unsigned long long)p->n);
        return MIXUP_EDATASET;
    }
    if (p->label_width && src->classes && src->classes != p->label_width) {
        snprintf(err, errlen,
                 "%s: label rows have %u columns but dataset.classes = %u",
                 p->labels_name, p->label_width, src->classes);
        return MIXUP_EDATASET;
    }
    return 0;
}

typedef struct ds_layout {
    uint64_t image_bytes, label_off, label_bytes, total;
} ds_layout;

/* [images | pad to 64 | labels], every product overflow-checked. */
static int compute_layout(const ds_probe *p, ds_layout *L, char *err,
                          size_t errlen)
{
    uint64_t per, lab;
    int bad = ds_mul(p->h, p->w, &per) || ds_mul(per, p->c, &per) ||
              ds_mul(per, ds_dtype_size(p->dtype), &per) ||
              ds_mul(per, p->n, &L->image_bytes) ||
              ds_mul(p->label_width ? p->label_width : 1, 4, &lab) ||
              ds_mul(lab, p->n, &L->label_bytes);
    L->label_off = (L->image_bytes + DS_ALIGN - 1) / DS_ALIGN * DS_ALIGN;
    bad = bad || L->label_off < L->image_bytes ||
          __builtin_add_overflow(L->label_off, L->label_bytes, &L->total) ||
          L->total > SIZE_MAX;
    if (bad) {
        snprintf(err, errlen,
                 "%s: %llu images of %ux%ux%u do not fit in memory "
                 "(size overflows)",
                 p->images_name, (unsigned long long)p->n, p->h, p->w, p->c);
        return MIXUP_EDATASET;
    }
    return 0;
}

static int check_images_finite(const ds_probe *p, const float *x, uint64_t count,
                               char *err, size_t errlen)
{
    uint64_t per = (uint64_t)p->h * p->w * p->c;
    for (uint64_t i = 0; i < count; i++) {
        if (isfinite(x[i]))
            continue;
        snprintf(err, errlen,
                 "%s: image %llu element %llu is %g, expected a finite value",
                 p->images_name, (unsigned long long)(i / per),
                 (unsigned long long)(i % per), (double)x[i]);
        return MIXUP_EDATASET;
    }
    return 0;
}

/* Class indices: in [0, bound), or >= 0 with the bound inferred. */
static int check_labels(const ds_loader *ld, void *st, const ds_probe *p,
                        const int32_t *y, uint32_t bound, uint32_t *classes,
                        char *err, size_t errlen)
{
    int32_t max = -1;
    for (uint64_t i = 0; i < p->n; i++) {
        if (y[i] >= 0 && (bound == 0 || (uint32_t)y[i] < bound)) {
            max = y[i] > max ? y[i] : max;
            continue;
        }
        char where[512];
        ld->where(st, i, where, sizeof where);
        if (bound)
            snprintf(err, errlen, "%s: label %d, expected 0 <= label < %u "
                     "(classes)", where, y[i], bound);
        else
            snprintf(err, errlen, "%s: label %d, expected >= 0", where, y[i]);
        return MIXUP_EDATASET;
    }
    /* An inferred count comes from the data: a stray huge label would make
     * every label row enormous, so cap it as dataset.classes is capped. */
    if (!bound && (int64_t)max >= (int64_t)DS_MAX_CLASSES) {
        snprintf(err, errlen, "%s: largest label %d implies %lld classes, "
                 "at most %u (set dataset.classes to check the range)",
                 p->labels_name, max, (long long)max + 1, DS_MAX_CLASSES);
        return MIXUP_EDATASET;
    }
    *classes = bound ? bound : (uint32_t)max + 1;
    return 0;
}

static int check_rows(const ds_loader *ld, void *st, const ds_probe *p,
                      const float *r, char *err, size_t errlen)
{
    uint64_t count = p->n * p->label_width;
    for (uint64_t i = 0; i < count; i++) {
        if (isfinite(r[i]) && r[i] >= 0.0f)
            continue;
        char where[512];
        ld->where(st, i / p->label_width, where, sizeof where);
        snprintf(err, errlen, "%s: column %llu is %g, expected a finite "
                 "value >= 0", where,
                 (unsigned long long)(i % p->label_width), (double)r[i]);
        return MIXUP_EDATASET;
    }
    return 0;
}

static int validate(const ds_loader *ld, void *st, const ds_probe *p,
                    const ds_source *src, ds_dataset *ds, char *err,
                    size_t errlen)
{
    int rc = 0;
    if (p->dtype == DS_F32)
        rc = check_images_finite(p, ds->images, p->n * p->h * p->w * p->c,
                                 err, errlen);
    if (rc < 0)
        return rc;
    if (p->label_width) {
        ds->classes = p->label_width;
        return check_rows(ld, st, p, ds->label_rows, err, errlen);
    }
    uint32_t bound = src->classes ? src->classes : p->classes;
    return check_labels(ld, st, p, ds->labels, bound, &ds->classes, err,
                        errlen);
}

static void fill_dataset(ds_dataset *ds, const ds_probe *p,
                         const ds_layout *L, ds_dest *d)
{
    uint8_t *base = ds->seg.addr;
    ds->n = p->n;
    ds->h = p->h;
    ds->w = p->w;
    ds->c = p->c;
    ds->dtype = p->dtype;
    ds->soft_labels = p->label_width > 0;
    ds->bytes = L->total;
    ds->images = d->images = base;
    if (ds->soft_labels)
        ds->label_rows = d->rows = (float *)(void *)(base + L->label_off);
    else
        ds->labels = d->labels = (int32_t *)(void *)(base + L->label_off);
}

/* The dataset digest: shape, dtype, label form and class count, then the
 * store [images | labels] from its start (its padding is zero: a new
 * segment reads as zeros). One pass right after the read, while the tail
 * of the data is still in cache: the loaders stay free of it (each format reads and
 * converts in its own way), and it runs at memory speed. */
uint64_t ds_digest_arrays(const ds_dataset *ds)
{
    uint64_t head[6] = {ds->n, ds->h, ds->w, ds->c,
                        (uint64_t)ds->dtype | (uint64_t)ds->soft_labels << 8,
                        ds->classes};
    dg_state st;
    dg_init(&st);
    dg_update(&st, head, sizeof head);
    dg_update(&st, ds->images, (size_t)ds->bytes);
    return dg_final(&st);
}

static void digest_dataset(ds_dataset *ds)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ds->digest = ds_digest_arrays(ds);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ds->digest_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
}

int ds_load_probed(ds_dataset *ds, const ds_loader *ld, void *st,
                   const ds_probe *p, const ds_source *src,
                   const char *instance, char *err, size_t errlen)
{
    ds_layout L;
    int rc = check_probe(p, src, err, errlen);
    if (rc == 0)
        rc = compute_layout(p, &L, err, errlen);
    if (rc == 0)
        rc = shm_segment_create(&ds->seg, instance,
                                src->segment ? src->segment : "dataset",
                                (size_t)L.total, err, errlen);
    if (rc < 0)
        return rc;
    ds_dest d = {0};
    fill_dataset(ds, p, &L, &d);
    rc = ld->read(st, &d, err, errlen);
    if (rc == 0)
        rc = validate(ld, st, p, src, ds, err, errlen);
    if (rc == 0)
        digest_dataset(ds);
    if (rc == 0)
        rc = shm_segment_seal(&ds->seg, err, errlen);
    ds->origin = "shared memory";
    return rc;
}

void ds_unload(ds_dataset *ds)
{
    shm_segment_destroy(&ds->seg);
    if (ds->map)
        munmap(ds->map, ds->map_len);
    free(ds->heap_files);
    free(ds->heap_labels);
    free(ds->class_names);
    free(ds->paths);
    if (ds->faults)
        free(ds->faults->logged);
    free(ds->faults);
    memset(ds, 0, sizeof *ds);
}

int ds_glob(const char *pat, glob_t *g, char *err, size_t errlen)
{
    int r = glob(pat, GLOB_NOMAGIC, NULL, g);
    if (r == 0)
        return 0;
    if (r == GLOB_NOMATCH) {
        snprintf(err, errlen, "dataset.images: pattern '%s' matches no file",
                 pat);
        return MIXUP_EDATASET;
    }
    snprintf(err, errlen, "dataset.images: pattern '%s': %s", pat,
             r == GLOB_NOSPACE ? "out of memory" : "read error");
    return r == GLOB_NOSPACE ? MIXUP_ENOMEM : MIXUP_EIO;
}

int ds_encoded_create(ds_dataset *ds, const ds_source *src,
                      const char *instance, uint64_t n, uint64_t bytes,
                      ds_encoded_layout *L, char *err, size_t errlen)
{
    uint64_t lab = (n * 4 + 63) & ~(uint64_t)63;
    uint64_t idx = (n * sizeof(ds_file) + 63) & ~(uint64_t)63;
    L->total = lab + idx + bytes;
    int rc = shm_segment_create(&ds->seg, instance,
                                src->segment ? src->segment : "dataset",
                                (size_t)(L->total ? L->total : 1), err,
                                errlen);
    if (rc < 0)
        return rc;
    uint8_t *base = ds->seg.addr;
    L->labels = (int32_t *)(void *)base;
    L->files = (ds_file *)(void *)(base + lab);
    L->packed = base + lab + idx;
    return 0;
}

void ds_encoded_finish(ds_dataset *ds, const ds_source *src,
                       const ds_encoded_layout *L, uint64_t n)
{
    ds->n = n;
    ds->encoded = 1;
    ds->c = src->channels;
    ds->dtype = DS_U8;
    ds->labels = L->labels;
    ds->files = L->files;
    ds->packed = L->packed;
    ds->bytes = L->total;
}
