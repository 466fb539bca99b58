/*
 * dataset_tar.c — format = tar: WebDataset shards.
 *
 * dataset.images is a list (',' or blanks) of shard paths, each possibly
 * a glob (matches sorted); shards are read in that order and the entries
 * of each in archive order, so the sample order is deterministic. As in
 * WebDataset, a sample is the run of consecutive entries sharing a key:
 * the entry's path up to the first '.' of its file name; what follows is
 * the extension. A sample takes one image (jpg, jpeg or png) and one
 * class (cls: a decimal integer, blanks around it ignored); entries with
 * other extensions are skipped and counted. A sample without both, with
 * two images, with a .cls that is not an integer or an image whose header
 * fails (as for format = folder) is a bad sample: an error naming shard
 * and key, or with on_bad_file = skip left out and counted. (A shard
 * whose entries are not grouped by key gives samples lacking one half:
 * bad samples too.)
 *
 * The archive is read by libarchive (a maintained reader of every tar
 * dialect — ustar, pax, GNU — and of compressed shards, .tar.gz and the
 * like), not by hand. The files' bytes are gathered on the heap, then
 * stored as format = folder stores them (storage = encoded: one segment
 * [labels | ds_file | bytes]), with each image's header checked
 * (img_probe) as there.
 */
#include "dataset.h"
#include "dataset_internal.h"
#include "dataset_tar.h"

#include <archive.h>
#include <archive_entry.h>
#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "image.h"
#include "log.h"
#include "mixup_errors.h"

#define TAR_SEPARATORS ", \t\n"
#define TAR_MAX_CLS 64 /* bytes of a .cls entry */

int dst_split_name(const char *path, size_t *key_len, const char **ext)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strchr(base, '.');
    if (!dot || dot == base || !dot[1])
        return -1;
    *key_len = (size_t)(dot - path);
    *ext = dot + 1;
    return 0;
}

int dst_parse_cls(const char *text, size_t len, int32_t *label)
{
    size_t a = 0, b = len;
    while (a < b && isspace((unsigned char)text[a]))
        a++;
    while (b > a && isspace((unsigned char)text[b - 1]))
        b--;
    if (a == b)
        return -1;
    int64_t v = 0;
    for (size_t i = a; i < b; i++) {
        if (!isdigit((unsigned char)text[i]) || v > INT32_MAX)
            return -1;
        v = v * 10 + (text[i] - '0');
    }
    if (v > INT32_MAX)
        return -1;
    *label = (int32_t)v;
    return 0;
}

/* ------------------------------------------------------------ gathering */

typedef struct tar_sample {
    uint64_t offset;  /* of the image in the bytes buffer */
    uint32_t length;
    int32_t label;
    size_t path;      /* in the names buffer: "shard:key.ext" */
    img_info info;
} tar_sample;

typedef struct tar_scan {
    const ds_source *src;
    tar_sample *s;
    uint64_t n, cap;
    uint8_t *bytes;
    uint64_t bytes_len, bytes_cap;
    char *names;
    uint64_t names_len, names_cap;
    uint64_t skipped, bad;
    /* the sample being gathered */
    char key[1024];
    int have_key, have_image, have_label, dup;
    const char *broken; /* why the sample is bad, found while reading */
    tar_sample cur;
    char last_shard[512];
} tar_scan;

static int grow(void **p, uint64_t *cap, uint64_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    uint64_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, (size_t)(c * elem));
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

static int bad_sample(tar_scan *t, const char *shard, const char *why,
                      char *err, size_t errlen)
{
    if (!t->src->skip_bad) {
        snprintf(err, errlen, "%s: sample '%s': %s", shard, t->key, why);
        return MIXUP_EDATASET;
    }
    if (t->bad++ < 10)
        log_warn("dataset: skipping %s: sample '%s': %s", shard, t->key, why);
    return 0;
}

/* The sample gathered so far is complete: keep it (or judge it bad). */
static int finish_sample(tar_scan *t, const char *shard, char *err,
                         size_t errlen)
{
    if (!t->have_key)
        return 0;
    t->have_key = 0;
    if (t->broken || t->dup || !t->have_image || !t->have_label) {
        t->bytes_len = t->cur.offset; /* drop its bytes */
        return bad_sample(t, shard, t->broken ? t->broken : t->dup
                          ? "two images" : !t->have_image
                          ? "no .jpg, .jpeg or .png entry" : "no .cls entry",
                          err, errlen);
    }
    char why[256];
    const tar_sample *c = &t->cur;
    const char *fail = NULL;
    if (img_probe(t->bytes + c->offset, c->length, &t->cur.info, why,
                  sizeof why) < 0)
        fail = why;
    else if ((uint64_t)t->cur.info.h * t->cur.info.w > t->src->max_pixels ||
             t->cur.info.h > 65535 || t->cur.info.w > 65535)
        fail = "more pixels than dataset.max_pixels, or a side over 65535";
    if (fail) {
        t->bytes_len = t->cur.offset;
        return bad_sample(t, shard, fail, err, errlen);
    }
    uint64_t need = t->names_len + strlen(shard) + 1 + strlen(t->key) + 1;
    if (need > UINT32_MAX) {
        snprintf(err, errlen, "%s: the samples' names take more than 4 GiB",
                 shard);
        return MIXUP_EDATASET;
    }
    if (grow((void **)&t->s, &t->cap, t->n + 1, sizeof *t->s) ||
        grow((void **)&t->names, &t->names_cap, need, 1))
        return MIXUP_ENOMEM;
    t->cur.path = t->names_len;
    t->names_len += (size_t)sprintf(t->names + t->names_len, "%s:%s", shard,
                                    t->key) + 1;
    t->s[t->n++] = t->cur;
    return 0;
}

/* Read the entry's data: into the bytes buffer (image) or @small. */
static int read_entry(struct archive *a, int64_t size, uint8_t *dst,
                      const char *shard, const char *name, char *err,
                      size_t errlen)
{
    int64_t got = 0;
    while (got < size) {
        la_ssize_t r = archive_read_data(a, dst + got, (size_t)(size - got));
        if (r <= 0) {
            snprintf(err, errlen, "%s: entry %s: %s", shard, name,
                     r < 0 ? archive_error_string(a) : "shorter than its "
                     "header says");
            return MIXUP_EDATASET;
        }
        got += r;
    }
    return 0;
}

static int image_ext(const char *ext)
{
    return !strcasecmp(ext, "jpg") || !strcasecmp(ext, "jpeg") ||
           !strcasecmp(ext, "png");
}

static int take_entry(struct archive *a, struct archive_entry *e, tar_scan *t,
                      const char *shard, char *err, size_t errlen)
{
    const char *name = archive_entry_pathname(e);
    size_t key_len;
    const char *ext;
    if (archive_entry_filetype(e) != AE_IFREG || !name ||
        dst_split_name(name, &key_len, &ext) < 0) {
        t->skipped++;
        return 0;
    }
    if (key_len >= sizeof t->key) {
        snprintf(err, errlen, "%s: entry %s: key longer than %zu bytes",
                 shard, name, sizeof t->key - 1);
        return MIXUP_EDATASET;
    }
    int is_image = image_ext(ext), is_cls = !strcasecmp(ext, "cls");
    if (!is_image && !is_cls) {
        t->skipped++;
        return 0;
    }
    if (!t->have_key || strlen(t->key) != key_len ||
        memcmp(t->key, name, key_len)) {
        int rc = finish_sample(t, shard, err, errlen);
        if (rc < 0)
            return rc;
        memcpy(t->key, name, key_len);
        t->key[key_len] = 0;
        t->have_key = 1;
        t->have_image = t->have_label = t->dup = 0;
        t->broken = NULL;
        t->cur = (tar_sample){.offset = t->bytes_len};
    }
    int64_t size = archive_entry_size(e);
    if (size <= 0 || size > (is_cls ? TAR_MAX_CLS : (int64_t)UINT32_MAX)) {
        t->broken = is_cls ? "the .cls entry is empty or longer than 64 "
                             "bytes"
                           : "the image entry is empty or larger than 4 GiB";
        return 0;
    }
    if (is_cls) {
        char text[TAR_MAX_CLS];
        int rc = read_entry(a, size, (uint8_t *)text, shard, name, err,
                            errlen);
        if (rc < 0)
            return rc;
        if (dst_parse_cls(text, (size_t)size, &t->cur.label) < 0)
            t->broken = "the .cls entry is not an integer >= 0";
        t->have_label = 1;
        return 0;
    }
    if (t->have_image) {
        t->dup = 1;
        return 0;
    }
    if (grow((void **)&t->bytes, &t->bytes_cap, t->bytes_len + (uint64_t)size,
             1) < 0)
        return MIXUP_ENOMEM;
    int rc = read_entry(a, size, t->bytes + t->bytes_len, shard, name, err,
                        errlen);
    if (rc < 0)
        return rc;
    t->cur.length = (uint32_t)size;
    t->bytes_len += (uint64_t)size;
    t->have_image = 1;
    return ds_check_stop(shard, err, errlen);
}

static int read_shard(tar_scan *t, const char *shard, char *err,
                      size_t errlen)
{
    struct archive *a = archive_read_new();
    if (!a)
        return MIXUP_ENOMEM;
    archive_read_support_format_tar(a);
    archive_read_support_filter_all(a);
    if (archive_read_open_filename(a, shard, 1 << 20) != ARCHIVE_OK) {
        snprintf(err, errlen, "%s: cannot read the shard: %s", shard,
                 archive_error_string(a));
        archive_read_free(a);
        return MIXUP_EDATASET;
    }
    struct archive_entry *e;
    int rc = 0, r;
    while (rc == 0 && (r = archive_read_next_header(a, &e)) == ARCHIVE_OK)
        rc = take_entry(a, e, t, shard, err, errlen);
    if (rc == 0 && r != ARCHIVE_EOF) {
        snprintf(err, errlen, "%s: not a readable tar archive: %s", shard,
                 archive_error_string(a));
        rc = MIXUP_EDATASET;
    }
    /* A key is not carried over from one shard to the next. */
    if (rc == 0)
        rc = finish_sample(t, shard, err, errlen);
    archive_read_free(a);
    if (rc == MIXUP_ENOMEM && !*err)
        snprintf(err, errlen, "%s: out of memory", shard);
    return rc;
}

static int read_pattern(tar_scan *t, const char *pat, int *shards, char *err,
                        size_t errlen)
{
    glob_t g;
    int rc = ds_glob(pat, &g, err, errlen);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < g.gl_pathc && rc == 0; i++, (*shards)++)
        rc = read_shard(t, g.gl_pathv[i], err, errlen);
    globfree(&g);
    return rc;
}

/* ------------------------------------------------------------ storing */

#define ALIGN64(n) (((n) + 63) & ~(uint64_t)63)

static int store(ds_dataset *ds, tar_scan *t, const char *instance,
                 char *err, size_t errlen)
{
    const ds_source *src = t->src;
    ds_encoded_layout L;
    int rc = ds_encoded_create(ds, src, instance, t->n, t->bytes_len, &L,
                               err, errlen);
    if (rc < 0)
        return rc;
    int32_t *labels = L.labels;
    ds_file *files = L.files;
    uint8_t *packed = L.packed;
    memcpy(packed, t->bytes, (size_t)t->bytes_len);
    int32_t max = -1;
    for (uint64_t i = 0; i < t->n; i++) {
        const tar_sample *s = &t->s[i];
        if (src->classes && (uint32_t)s->label >= src->classes) {
            snprintf(err, errlen, "%s: label %d, expected 0 <= label < %u",
                     t->names + s->path, s->label, src->classes);
            return MIXUP_EDATASET;
        }
        max = s->label > max ? s->label : max;
        files[i] = (ds_file){.offset = s->offset, .length = s->length,
                             .path = (uint32_t)s->path,
                             .h = (uint16_t)s->info.h,
                             .w = (uint16_t)s->info.w,
                             .kind = (uint8_t)s->info.kind,
                             .cmyk = s->info.cmyk, .adobe = s->info.adobe};
        labels[i] = s->label;
        ds->max_h = s->info.h > ds->max_h ? s->info.h : ds->max_h;
        ds->max_w = s->info.w > ds->max_w ? s->info.w : ds->max_w;
    }
    if (!src->classes && (uint32_t)max >= DS_MAX_CLASSES) {
        snprintf(err, errlen, "%s: largest label %d, at most %u classes",
                 src->images, max, DS_MAX_CLASSES);
        return MIXUP_EDATASET;
    }
    ds->classes = src->classes ? src->classes : (uint32_t)max + 1;
    ds_encoded_finish(ds, src, &L, t->n);
    return 0;
}

static int finish(ds_dataset *ds, tar_scan *t, char *err, size_t errlen)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ds->digest = ds_digest_images(ds);
    ds->digest_images = 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ds->digest_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    int rc = shm_segment_seal(&ds->seg, err, errlen);
    ds->origin = "shared memory";
    ds->faults = rc == 0 ? calloc(1, sizeof *ds->faults) : NULL;
    if (ds->faults)
        ds->faults->logged = calloc(ds->n, 1);
    if (rc == 0 && (!ds->faults || !ds->faults->logged)) {
        snprintf(err, errlen, "out of memory loading %s", t->src->images);
        rc = MIXUP_ENOMEM;
    }
    if (rc == 0) {
        ds->paths = t->names;
        t->names = NULL;
    }
    return rc;
}

int ds_load_tar(ds_dataset *ds, const ds_source *src, const char *instance,
                char *err, size_t errlen)
{
    memset(ds, 0, sizeof *ds);
    if (errlen)
        err[0] = 0;
    if (src->channels != 1 && src->channels != 3) {
        snprintf(err, errlen, "dataset.channels = %u: expected 1 or 3",
                 src->channels);
        return MIXUP_EINVAL;
    }
    if (src->decoded) {
        snprintf(err, errlen, "dataset.storage = decoded is not supported for "
                 "format = tar (encoded: decode per batch)");
        return MIXUP_EINVAL;
    }
    tar_scan t = {.src = src};
    char *copy = src->images ? strdup(src->images) : NULL, *save = NULL;
    int rc = copy ? 0 : MIXUP_ENOMEM, shards = 0;
    for (char *p = copy ? strtok_r(copy, TAR_SEPARATORS, &save) : NULL;
         p && rc == 0; p = strtok_r(NULL, TAR_SEPARATORS, &save))
        rc = read_pattern(&t, p, &shards, err, errlen);
    free(copy);
    if (rc == 0 && t.n == 0) {
        snprintf(err, errlen, "%s: no samples in %d shard(s) (%llu bad, "
                 "%llu other entries)", src->images ? src->images : "",
                 shards, (unsigned long long)t.bad,
                 (unsigned long long)t.skipped);
        rc = MIXUP_EDATASET;
    }
    if (rc == 0)
        rc = store(ds, &t, instance, err, errlen);
    if (rc == 0)
        rc = finish(ds, &t, err, errlen);
    if (rc == 0)
        log_info("dataset %s: %llu samples from %d shard(s), %u classes, "
                 "%llu bytes, %llu other entries skipped, %llu bad samples "
                 "skipped", src->images, (unsigned long long)ds->n, shards,
                 ds->classes, (unsigned long long)ds->bytes,
                 (unsigned long long)t.skipped, (unsigned long long)t.bad);
    else if (rc == MIXUP_ENOMEM && !*err)
        snprintf(err, errlen, "out of memory loading %s", src->images);
    free(t.s);
    free(t.bytes);
    free(t.names);
    if (rc < 0)
        ds_unload(ds);
    return rc;
}
