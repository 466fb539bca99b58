/*
 * dataset_cifar.c — CIFAR-10 binary batches (data_batch_*.bin).
 *
 * Each record is 1 label byte + 3072 image bytes, 32x32 channel-planar
 * (1024 R, 1024 G, 1024 B); images are converted to HWC while loading.
 * dataset.images lists files separated by ',' or whitespace, each item
 * possibly a glob; files come in list order, each glob's matches sorted
 * (glob(3) sorts), so the sample order is deterministic. A file named
 * twice is an error rather than silently doubled samples. Labels are
 * < 10 unless dataset.classes says otherwise. CIFAR-100 (two label bytes
 * per record) is not this format.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset_internal.h"
#include "mixup_errors.h"

#define CIFAR_SIDE 32u
#define CIFAR_PIXELS (CIFAR_SIDE * CIFAR_SIDE)
#define CIFAR_RECORD (1u + 3u * CIFAR_PIXELS)
#define CIFAR_CLASSES 10u
#define CIFAR_CHUNK 64u /* records per read(2) */
#define CIFAR_SEPARATORS ", \t\r\n\v\f"

typedef struct cifar_file {
    char *path;
    uint64_t records;
    uint64_t first; /* global index of its first record */
} cifar_file;

typedef struct cifar_state {
    cifar_file *files;
    size_t count, cap;
} cifar_state;

static void cifar_close(void *state)
{
    cifar_state *s = state;
    if (!s)
        return;
    for (size_t i = 0; i < s->count; i++)
        free(s->files[i].path);
    free(s->files);
    free(s);
}

static int check_file(const cifar_state *s, const char *path, uint64_t *size,
                      char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return MIXUP_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        return MIXUP_EIO;
    }
    *size = (uint64_t)st.st_size;
    if (*size % CIFAR_RECORD) {
        snprintf(err, errlen, "%s: size %llu is not a multiple of %u (1 label "
                 "byte + 3072 image bytes per CIFAR-10 record)", path,
                 (unsigned long long)*size, CIFAR_RECORD);
        return MIXUP_EDATASET;
    }
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->files[i].path, path) == 0) {
            snprintf(err, errlen, "%s: listed twice in dataset.images", path);
            return MIXUP_EDATASET;
        }
    return 0;
}

static int add_file(cifar_state *s, const char *path, uint64_t *n, char *err,
                    size_t errlen)
{
    uint64_t size;
    int rc = check_file(s, path, &size, err, errlen);
    if (rc < 0)
        return rc;
    if (s->count == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        cifar_file *f = realloc(s->files, cap * sizeof *f);
        if (!f)
            goto nomem;
        s->files = f;
        s->cap = cap;
    }
    cifar_file *f = &s->files[s->count];
    if (!(f->path = strdup(path)))
        goto nomem;
    f->records = size / CIFAR_RECORD;
    f->first = *n;
    *n += f->records;
    s->count++;
    return 0;
nomem:
    snprintf(err, errlen, "%s: no memory", path);
    return MIXUP_ENOMEM;
}

/* GLOB_NOMAGIC: a plain path comes back as is, and a missing one is then
 * reported as "cannot open" by add_file rather than as a glob. */
static int add_pattern(cifar_state *s, const char *pat, uint64_t *n,
                       char *err, size_t errlen)
{
    glob_t g;
    int rc = ds_glob(pat, &g, err, errlen);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < g.gl_pathc && rc == 0; i++)
        rc = add_file(s, g.gl_pathv[i], n, err, errlen);
    globfree(&g);
    return rc;
}

static int add_list(cifar_state *s, const char *list, uint64_t *n, char *err,
                    size_t errlen)
{
    char *copy = strdup(list), *save = NULL;
    if (!copy) {
        snprintf(err, errlen, "dataset.images: no memory");
        return MIXUP_ENOMEM;
    }
    int rc = 0;
    for (char *t = strtok_r(copy, CIFAR_SEPARATORS, &save); t && rc == 0;
         t = strtok_r(NULL, CIFAR_SEPARATORS, &save))
        rc = add_pattern(s, t, n, err, errlen);
    free(copy);
    if (rc == 0 && s->count == 0) {
        snprintf(err, errlen, "dataset.images '%s' names no file", list);
        rc = MIXUP_EDATASET;
    }
    return rc;
}

static int cifar_probe(const ds_source *src, void **state, ds_probe *p,
                       char *err, size_t errlen)
{
    cifar_state *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "dataset.images: no memory");
        return MIXUP_ENOMEM;
    }
    uint64_t n = 0;
    int rc = add_list(s, src->images, &n, err, errlen);
    if (rc < 0) {
        cifar_close(s);
        return rc;
    }
    *p = (ds_probe){
        .n = n, .n_labels = n, .h = CIFAR_SIDE, .w = CIFAR_SIDE, .c = 3,
        .dtype = DS_U8, .classes = CIFAR_CLASSES,
        .images_name = src->images, .labels_name = src->images,
    };
    *state = s;
    return 0;
}

/* CHW planes to HWC pixels. */
static void planar_to_hwc(const uint8_t *src, uint8_t *dst)
{
    for (unsigned px = 0; px < CIFAR_PIXELS; px++)
        for (unsigned ch = 0; ch < 3; ch++)
            dst[3 * px + ch] = src[ch * CIFAR_PIXELS + px];
}

/* Up to @len bytes; fewer only at end of file. */
static int read_some(int fd, const char *path, uint8_t *buf, size_t len,
                     size_t *got, char *err, size_t errlen)
{
    *got = 0;
    while (*got < len) {
        ssize_t r = read(fd, buf + *got, len - *got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: read: %s", path, strerror(errno));
            return MIXUP_EIO;
        }
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return 0;
}

static int read_records(int fd, const cifar_file *f, const ds_dest *d,
                        uint8_t *buf, char *err, size_t errlen)
{
    uint8_t *images = d->images;
    size_t got = 0;
    int rc = 0;
    for (uint64_t r = 0; r < f->records && rc == 0; r += CIFAR_CHUNK) {
        uint64_t k = f->records - r < CIFAR_CHUNK ? f->records - r : CIFAR_CHUNK;
        if ((rc = ds_check_stop(f->path, err, errlen)) < 0)
            return rc;
        rc = read_some(fd, f->path, buf, k * CIFAR_RECORD, &got, err, errlen);
        if (rc == 0 && got < k * CIFAR_RECORD) {
            snprintf(err, errlen, "%s: truncated while reading record %llu "
                     "(the file shrank)", f->path,
                     (unsigned long long)(r + got / CIFAR_RECORD));
            return MIXUP_EIO;
        }
        for (uint64_t j = 0; j < k && rc == 0; j++) {
            const uint8_t *rec = buf + j * CIFAR_RECORD;
            uint64_t i = f->first + r + j;
            d->labels[i] = rec[0];
            planar_to_hwc(rec + 1, images + i * (3 * CIFAR_PIXELS));
        }
    }
    if (rc == 0)
        rc = read_some(fd, f->path, buf, 1, &got, err, errlen);
    if (rc == 0 && got) {
        snprintf(err, errlen, "%s: grew while reading: more than %llu records",
                 f->path, (unsigned long long)f->records);
        rc = MIXUP_EIO;
    }
    return rc;
}

static int cifar_read(void *state, const ds_dest *d, char *err, size_t errlen)
{
    cifar_state *s = state;
    uint8_t *buf = malloc(CIFAR_CHUNK * CIFAR_RECORD);
    if (!buf) {
        snprintf(err, errlen, "dataset.images: no memory");
        return MIXUP_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < s->count && rc == 0; i++) {
        int fd = open(s->files[i].path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            snprintf(err, errlen, "%s: cannot open: %s", s->files[i].path,
                     strerror(errno));
            rc = MIXUP_EIO;
            break;
        }
        rc = read_records(fd, &s->files[i], d, buf, err, errlen);
        close(fd);
    }
    free(buf);
    return rc;
}

static void cifar_where(void *state, uint64_t i, char *buf, size_t len)
{
    cifar_state *s = state;
    size_t k = 0;
    while (k + 1 < s->count && s->files[k + 1].first <= i)
        k++;
    snprintf(buf, len, "%s record %llu", s->files[k].path,
             (unsigned long long)(i - s->files[k].first));
}

const ds_loader ds_loader_cifar = {cifar_probe, cifar_read, cifar_where,
                                   cifar_close};
