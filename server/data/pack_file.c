/*
 * pack_file.c — see pack_file.h and pack_format.h.
 *
 * Loading: the file is mapped read-only and its header, names and index
 * checked (pack_format.c) before anything in it is used. With storage =
 * shm the data section is then copied into a shared-memory segment and
 * the file unmapped; with storage = mapped the data is served from the
 * mapping itself, so the page cache is the shared memory (shared by every
 * daemon on the host, warm across restarts, evictable when the dataset is
 * larger than memory) and the daemon's own memory holds only the index.
 * The digest in the header is trusted unless verify = full, which
 * recomputes it from the data and refuses a pack that disagrees.
 */
/* O_TMPFILE and AT_SYMLINK_FOLLOW: the build defines _GNU_SOURCE. */
#include "pack_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dataset_internal.h"
#include "log.h"
#include "mixup_errors.h"
#include "pack_format.h"

#define DIGEST_IMAGES_FLAG 1u /* pk_header.digest_kind */

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

/* ------------------------------------------------------------- writing */

/* What goes before the data: header, names, index (heap), sized. */
typedef struct pk_plan {
    pk_header h;
    uint8_t *names;   /* class names, then paths */
    uint8_t *index;   /* n entries (encoded) */
    uint64_t *offset; /* encoded: each sample's offset in the data */
} pk_plan;

static void plan_free(pk_plan *p)
{
    free(p->names);
    free(p->index);
    free(p->offset);
}

static uint64_t class_names_len(const ds_dataset *ds)
{
    uint64_t len = 0;
    const char *c = ds->class_names;
    for (uint32_t i = 0; c && i < ds->n_class_names; i++) {
        len += strlen(c + len) + 1;
    }
    return len;
}

static int plan_names(pk_plan *p, const ds_dataset *ds, uint32_t **path_off)
{
    uint64_t cl = class_names_len(ds), len = cl;
    for (uint64_t i = 0; ds->encoded && i < ds->n; i++)
        len += strlen(ds_path(ds, i)) + 1;
    p->names = malloc(len ? len : 1);
    *path_off = ds->encoded ? malloc(ds->n * sizeof **path_off) : NULL;
    if (!p->names || (ds->encoded && !*path_off))
        return MIXUP_ENOMEM;
    if (cl)
        memcpy(p->names, ds->class_names, cl);
    uint64_t at = cl;
    for (uint64_t i = 0; ds->encoded && i < ds->n; i++) {
        size_t l = strlen(ds_path(ds, i)) + 1;
        if (at > UINT32_MAX)
            return MIXUP_EDATASET;
        (*path_off)[i] = (uint32_t)at;
        memcpy(p->names + at, ds_path(ds, i), l);
        at += l;
    }
    p->h.names_len = len;
    p->h.n_class_names = cl ? ds->n_class_names : 0;
    return 0;
}

static int plan_index(pk_plan *p, const ds_dataset *ds, uint32_t align,
                      const uint32_t *path_off)
{
    p->index = malloc(ds->n * PK_ENTRY_BYTES);
    p->offset = malloc(ds->n * sizeof *p->offset);
    if (!p->index || !p->offset)
        return MIXUP_ENOMEM;
    uint64_t at = 0;
    for (uint64_t i = 0; i < ds->n; i++) {
        const ds_file *f = &ds->files[i];
        at = align_up(at, align);
        pk_entry e = {.offset = at, .length = f->length,
                      .label = ds->labels[i], .path = path_off[i],
                      .h = f->h, .w = f->w, .kind = f->kind,
                      .cmyk = f->cmyk, .adobe = f->adobe};
        pk_encode_entry(&e, p->index + i * PK_ENTRY_BYTES);
        p->offset[i] = at;
        at += f->length;
    }
    p->h.index_len = ds->n * PK_ENTRY_BYTES;
    p->h.data_len = at;
    return 0;
}

static int make_plan(pk_plan *p, const ds_dataset *ds, uint32_t align)
{
    memset(p, 0, sizeof *p);
    pk_header *h = &p->h;
    h->version = PK_VERSION;
    h->kind = ds->encoded ? PK_ENCODED : PK_ARRAY;
    h->soft_labels = ds->soft_labels ? 1u : 0u;
    h->n = ds->n;
    h->h = ds->h;
    h->w = ds->w;
    h->c = ds->c;
    h->dtype = ds->dtype;
    h->classes = ds->classes;
    h->digest = ds->digest;
    h->digest_kind = ds->digest_images ? DIGEST_IMAGES_FLAG : 0u;
    h->align = ds->encoded ? align : 0;
    h->max_h = ds->max_h;
    h->max_w = ds->max_w;
    uint32_t *path_off = NULL;
    int rc = plan_names(p, ds, &path_off);
    if (rc == 0 && ds->encoded)
        rc = plan_index(p, ds, align, path_off);
    free(path_off);
    if (rc < 0)
        return rc;
    if (!ds->encoded)
        h->data_len = ds->bytes;
    h->names_off = PK_HEADER_BYTES;
    h->index_off = align_up(h->names_off + h->names_len, 8);
    h->data_off = align_up(h->index_off + h->index_len, PK_PAGE);
    return 0;
}

typedef struct pk_out {
    int fd;
    const char *path;
    uint64_t written, total;
    const pk_write_opts *o;
    uint8_t *buf;  /* staging, so small samples become large writes */
    size_t used;
} pk_out;

#define PK_STAGE (4u << 20)

static int flush_out(pk_out *w, char *err, size_t errlen)
{
    size_t at = 0;
    while (at < w->used) {
        ssize_t r = write(w->fd, w->buf + at, w->used - at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "%s: cannot write: %s", w->path,
                     r < 0 ? strerror(errno) : "no progress");
            return MIXUP_EIO;
        }
        at += (size_t)r;
    }
    w->written += w->used;
    w->used = 0;
    if (w->o && w->o->progress)
        w->o->progress(w->o->ctx, w->written, w->total);
    return ds_check_stop(w->path, err, errlen);
}

/* Append @len bytes of @src (NULL: zeros). */
static int put(pk_out *w, const void *src, uint64_t len, char *err,
               size_t errlen)
{
    const uint8_t *s = src;
    while (len) {
        size_t n = PK_STAGE - w->used;
        n = len < n ? (size_t)len : n;
        if (s) {
            memcpy(w->buf + w->used, s, n);
            s += n;
        } else {
            memset(w->buf + w->used, 0, n);
        }
        w->used += n;
        len -= n;
        if (w->used == PK_STAGE) {
            int rc = flush_out(w, err, errlen);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int put_to(pk_out *w, uint64_t at, char *err, size_t errlen)
{
    uint64_t here = w->written + w->used;
    return at > here ? put(w, NULL, at - here, err, errlen) : 0;
}

static int write_all(pk_out *w, const pk_plan *p, const ds_dataset *ds,
                     char *err, size_t errlen)
{
    uint8_t head[PK_HEADER_BYTES];
    pk_encode_header(&p->h, head);
    int rc = put(w, head, sizeof head, err, errlen);
    if (rc == 0)
        rc = put(w, p->names, p->h.names_len, err, errlen);
    if (rc == 0)
        rc = put_to(w, p->h.index_off, err, errlen);
    if (rc == 0 && p->index)
        rc = put(w, p->index, p->h.index_len, err, errlen);
    if (rc == 0)
        rc = put_to(w, p->h.data_off, err, errlen);
    if (rc == 0 && !ds->encoded)
        rc = put(w, ds->images, ds->bytes, err, errlen);
    for (uint64_t i = 0; rc == 0 && ds->encoded && i < ds->n; i++) {
        rc = put_to(w, p->h.data_off + p->offset[i], err, errlen);
        if (rc == 0)
            rc = put(w, ds->packed + ds->files[i].offset,
                     ds->files[i].length, err, errlen);
    }
    if (rc == 0 && w->used)
        rc = flush_out(w, err, errlen);
    if (rc == 0 && fsync(w->fd) < 0) {
        snprintf(err, errlen, "%s: cannot sync: %s", w->path, strerror(errno));
        rc = MIXUP_EIO;
    }
    return rc;
}

/* The folder of @path, for O_TMPFILE and the directory sync. */
static void dir_of(const char *path, char *dir, size_t len)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    snprintf(dir, len, "%s", dirname(tmp));
}

/* An unnamed file in @dir, or failing that (a filesystem without
 * O_TMPFILE) a hidden temporary name beside @path, in *@named. */
static int open_temp(const char *path, const char *dir, char *named,
                     size_t namedlen, char *err, size_t errlen)
{
    named[0] = 0;
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0)
        return fd;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    snprintf(named, namedlen, "%s/.%s.partial-%ld", dir, basename(tmp),
             (long)getpid());
    fd = open(named, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create a file in %s: %s", path, dir,
                 strerror(errno));
        named[0] = 0;
        return MIXUP_EIO;
    }
    return fd;
}

/* Give the complete file its name, atomically replacing an old one. */
static int publish(int fd, const char *path, const char *dir, char *named,
                   size_t namedlen, char *err, size_t errlen)
{
    if (!named[0]) {
        char proc[64], tmp[4096];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        snprintf(tmp, sizeof tmp, "%s", path);
        snprintf(named, namedlen, "%s/.%s.partial-%ld", dir, basename(tmp),
                 (long)getpid());
        if (linkat(AT_FDCWD, proc, AT_FDCWD, named, AT_SYMLINK_FOLLOW) < 0) {
            snprintf(err, errlen, "%s: cannot link the written file: %s",
                     named, strerror(errno));
            named[0] = 0;
            return MIXUP_EIO;
        }
    }
    if (rename(named, path) < 0) {
        snprintf(err, errlen, "%s: cannot rename %s to it: %s", path, named,
                 strerror(errno));
        return MIXUP_EIO;
    }
    named[0] = 0;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int pk_write(const ds_dataset *ds, const char *path, const pk_write_opts *o,
             char *err, size_t errlen)
{
    uint32_t align = o && o->align ? o->align : PK_PAGE;
    if (align & (align - 1) || align > PK_PAGE) {
        snprintf(err, errlen, "%s: alignment %u, expected a power of two <= "
                 "%u", path, align, PK_PAGE);
        return MIXUP_EINVAL;
    }
    pk_plan p;
    int rc = make_plan(&p, ds, align);
    if (rc < 0) {
        plan_free(&p);
        snprintf(err, errlen, "%s: %s", path, rc == MIXUP_ENOMEM
                 ? "out of memory planning the pack"
                 : "the paths take more than 4 GiB");
        return rc;
    }
    char dir[4096], named[4096 + 64] = "";
    dir_of(path, dir, sizeof dir);
    pk_out w = {.path = path, .o = o, .total = p.h.data_off + p.h.data_len};
    w.buf = malloc(PK_STAGE);
    w.fd = w.buf ? open_temp(path, dir, named, sizeof named, err, errlen)
                 : MIXUP_ENOMEM;
    rc = w.fd < 0 ? w.fd : write_all(&w, &p, ds, err, errlen);
    if (rc == 0)
        rc = publish(w.fd, path, dir, named, sizeof named, err, errlen);
    if (w.fd >= 0)
        close(w.fd);
    if (named[0] && w.fd >= 0)
        unlink(named); /* a failure after the temporary got a name */
    if (rc == MIXUP_ENOMEM && !w.buf)
        snprintf(err, errlen, "%s: out of memory", path);
    free(w.buf);
    plan_free(&p);
    return rc;
}

void pk_progress_tty(void *ctx, uint64_t done, uint64_t total)
{
    static struct timespec start, last;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (done <= PK_STAGE || start.tv_sec == 0)
        start = last = now;
    double since = (double)(now.tv_sec - last.tv_sec) +
                   (double)(now.tv_nsec - last.tv_nsec) / 1e9;
    if (done < total && since < 0.1)
        return;
    last = now;
    double t = (double)(now.tv_sec - start.tv_sec) +
               (double)(now.tv_nsec - start.tv_nsec) / 1e9;
    double rate = t > 0 ? (double)done / t : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    fprintf(stderr, "\rpacking %s: %.1f / %.1f MiB (%.0f%%), %.1f MiB/s, "
            "ETA %.0f s   ", (const char *)ctx, (double)done / 1048576.0,
            (double)total / 1048576.0,
            total ? 100.0 * (double)done / (double)total : 100.0,
            rate / 1048576.0, eta);
    if (done >= total)
        fputc('\n', stderr);
}

/* ------------------------------------------------------------- reading */

static int fail(const char *path, const char *why, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", path, why);
    return MIXUP_EDATASET;
}

/* Files and labels from the index, onto the heap. */
static int read_index(ds_dataset *ds, const pk_header *h, const uint8_t *base,
                      const char *path, char *err, size_t errlen)
{
    ds->heap_files = malloc(h->n * sizeof *ds->heap_files);
    ds->heap_labels = malloc(h->n * sizeof *ds->heap_labels);
    if (!ds->heap_files || !ds->heap_labels) {
        snprintf(err, errlen, "%s: out of memory for the index of %llu "
                 "samples", path, (unsigned long long)h->n);
        return MIXUP_ENOMEM;
    }
    uint64_t end = 0;
    char why[256];
    for (uint64_t i = 0; i < h->n; i++) {
        pk_entry e;
        pk_decode_entry(base + h->index_off + i * PK_ENTRY_BYTES, &e);
        if (pk_check_entry(h, i, &e, &end, why, sizeof why) < 0)
            return fail(path, why, err, errlen);
        ds->heap_files[i] = (ds_file){.offset = e.offset, .length = e.length,
                                      .path = e.path, .h = e.h, .w = e.w,
                                      .kind = e.kind, .cmyk = e.cmyk,
                                      .adobe = e.adobe};
        ds->heap_labels[i] = e.label;
    }
    ds->files = ds->heap_files;
    ds->labels = ds->heap_labels;
    return 0;
}

/* Arrays: labels in range, label rows finite and >= 0 (as the loaders
 * check them), before any worker reads them. */
static int check_array_labels(const ds_dataset *ds, const char *path,
                              char *err, size_t errlen)
{
    char why[256];
    if (!ds->soft_labels) {
        for (uint64_t i = 0; i < ds->n; i++)
            if (ds->labels[i] < 0 || (uint32_t)ds->labels[i] >= ds->classes) {
                snprintf(why, sizeof why, "sample %llu: label %d, expected "
                         "0 <= label < %u", (unsigned long long)i,
                         ds->labels[i], ds->classes);
                return fail(path, why, err, errlen);
            }
        return 0;
    }
    uint64_t count = ds->n * ds->classes;
    for (uint64_t i = 0; i < count; i++)
        if (!isfinite(ds->label_rows[i]) || ds->label_rows[i] < 0) {
            snprintf(why, sizeof why, "sample %llu: label column %llu is %g, "
                     "expected a finite value >= 0",
                     (unsigned long long)(i / ds->classes),
                     (unsigned long long)(i % ds->classes),
                     (double)ds->label_rows[i]);
            return fail(path, why, err, errlen);
        }
    return 0;
}

/* Point @ds at the data section @data (in the mapping or the segment). */
static void point_at(ds_dataset *ds, const pk_header *h, const uint8_t *data)
{
    if (h->kind == PK_ENCODED) {
        ds->packed = data;
        return;
    }
    ds->images = data;
    uint64_t lab = 0;
    pk_array_bytes(h, &lab);
    if (h->soft_labels)
        ds->label_rows = (const float *)(const void *)(data + lab);
    else
        ds->labels = (const int32_t *)(const void *)(data + lab);
}

/* storage = shm: the data into a new segment. Encoded samples are packed
 * tight there (the page alignment serves the mapping, not memory), so
 * the segment is as large as the folder's would be. */
static int copy_to_shm(ds_dataset *ds, const pk_header *h, const uint8_t *data,
                       const ds_source *src, const char *instance, char *err,
                       size_t errlen)
{
    uint64_t size = h->data_len;
    if (ds->encoded) {
        size = 0;
        for (uint64_t i = 0; i < ds->n; i++)
            size += ds->heap_files[i].length;
    }
    /* The kernel reads the file ahead while the copy runs. */
    madvise((void *)((uintptr_t)data & ~(uintptr_t)(PK_PAGE - 1)),
            (size_t)h->data_len + ((uintptr_t)data & (PK_PAGE - 1)),
            MADV_SEQUENTIAL);
    int rc = shm_segment_create(&ds->seg, instance,
                                src->segment ? src->segment : "dataset",
                                (size_t)(size ? size : 1), err, errlen);
    uint8_t *dst = rc == 0 ? ds->seg.addr : NULL;
    if (rc == 0 && ds->encoded) {
        uint64_t at = 0, since = 0;
        for (uint64_t i = 0; rc == 0 && i < ds->n; i++) {
            ds_file *f = &ds->heap_files[i];
            memcpy(dst + at, data + f->offset, f->length);
            f->offset = at;
            at += f->length;
            since += f->length;
            if (since >= DS_READ_STEP) {
                since = 0;
                rc = ds_check_stop(src->images, err, errlen);
            }
        }
    }
    for (uint64_t at = 0; rc == 0 && !ds->encoded && at < size;
         at += DS_READ_STEP) {
        uint64_t n = size - at < DS_READ_STEP ? size - at : DS_READ_STEP;
        memcpy(dst + at, data + at, (size_t)n);
        rc = ds_check_stop(src->images, err, errlen);
    }
    if (rc == 0)
        rc = shm_segment_seal(&ds->seg, err, errlen);
    ds->bytes = size;
    return rc;
}

static void fill_from_header(ds_dataset *ds, const pk_header *h)
{
    ds->n = h->n;
    ds->h = h->h;
    ds->w = h->w;
    ds->c = h->c;
    ds->classes = h->classes;
    ds->dtype = h->dtype == 2 ? DS_F32 : DS_U8;
    ds->soft_labels = (int)h->soft_labels;
    ds->encoded = h->kind == PK_ENCODED;
    ds->bytes = h->data_len;
    ds->digest = h->digest;
    ds->digest_images = (h->digest_kind & DIGEST_IMAGES_FLAG) != 0;
    ds->max_h = h->max_h;
    ds->max_w = h->max_w;
}

/* Class names and paths onto the heap (for stats and messages). */
static int keep_names(ds_dataset *ds, const pk_header *h, const uint8_t *names)
{
    ds->paths = malloc(h->names_len + 1);
    if (!ds->paths)
        return MIXUP_ENOMEM;
    memcpy(ds->paths, names, h->names_len);
    ds->paths[h->names_len] = 0;
    if (!h->n_class_names)
        return 0;
    uint64_t len = 0;
    for (uint32_t i = 0; i < h->n_class_names; i++)
        len += strlen(ds->paths + len) + 1;
    ds->class_names = malloc(len);
    if (!ds->class_names)
        return MIXUP_ENOMEM;
    memcpy(ds->class_names, names, len);
    ds->n_class_names = h->n_class_names;
    return 0;
}

static int verify_digest(ds_dataset *ds, const char *path, char *err,
                         size_t errlen)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t got = (ds->digest_images ? ds_digest_images(ds)
                                       : ds_digest_arrays(ds));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ds->digest_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (got == ds->digest)
        return 0;
    snprintf(err, errlen, "%s: digest mismatch: the header says %016llx, "
             "the data gives %016llx (corrupt or modified pack)", path,
             (unsigned long long)ds->digest, (unsigned long long)got);
    return MIXUP_EDATASET;
}

/* Map @path read-only; *@size gets its size. */
static int map_file(const char *path, void **map, size_t *size, char *err,
                    size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: cannot open the pack: %s", path,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return MIXUP_EDATASET;
    }
    if (!S_ISREG(st.st_mode) || st.st_size < (off_t)PK_HEADER_BYTES) {
        close(fd);
        snprintf(err, errlen, "%s: %s (%lld bytes, a pack header is %u): "
                 "truncated?", path, S_ISREG(st.st_mode) ? "too short"
                 : "not a regular file", (long long)st.st_size,
                 PK_HEADER_BYTES);
        return MIXUP_EDATASET;
    }
    *size = (size_t)st.st_size;
    *map = mmap(NULL, *size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (*map == MAP_FAILED) {
        *map = NULL;
        snprintf(err, errlen, "%s: cannot map %zu bytes: %s", path, *size,
                 strerror(errno));
        return MIXUP_ESYS;
    }
    return 0;
}

int ds_load_pack(ds_dataset *ds, const ds_source *src, const char *instance,
                 char *err, size_t errlen)
{
    memset(ds, 0, sizeof *ds);
    const char *path = src->images;
    if (!path || !*path) {
        snprintf(err, errlen, "dataset.images: format = pack needs the pack "
                 "file");
        return MIXUP_EINVAL;
    }
    void *map;
    size_t size;
    int rc = map_file(path, &map, &size, err, errlen);
    if (rc < 0)
        return rc;
    const uint8_t *base = map;
    pk_header h;
    char why[384];
    rc = pk_check_file(base, size, &h, why, sizeof why);
    if (rc < 0) {
        munmap(map, size);
        return fail(path, why, err, errlen);
    }
    fill_from_header(ds, &h);
    rc = keep_names(ds, &h, base + h.names_off);
    if (rc < 0)
        snprintf(err, errlen, "%s: out of memory for the names", path);
    if (rc == 0 && ds->encoded)
        rc = read_index(ds, &h, base, path, err, errlen);
    if (rc == 0 && src->mapped) {
        /* Samples are read in the epoch's order, not the file's: no
         * read-around on a fault (with a device read-ahead of megabytes
         * every 12 KiB sample would read that much, and a cache smaller
         * than the file would evict it unused); the workers ask for what
         * the next batches need instead (ds_willneed). */
        madvise(map, size, MADV_RANDOM);
        ds->map = map;
        ds->map_len = size;
        map = NULL;
        point_at(ds, &h, base + h.data_off);
        snprintf(ds->origin_buf, sizeof ds->origin_buf, "mapped %s", path);
        ds->origin = ds->origin_buf;
    } else if (rc == 0) {
        rc = copy_to_shm(ds, &h, base + h.data_off, src, instance, err, errlen);
        point_at(ds, &h, ds->seg.addr);
        ds->origin = "shared memory";
    }
    if (map)
        munmap(map, size);
    if (rc == 0 && !ds->encoded)
        rc = check_array_labels(ds, path, err, errlen);
    if (rc == 0 && src->verify_full)
        rc = verify_digest(ds, path, err, errlen);
    if (rc == 0 && ds->encoded) {
        ds->faults = calloc(1, sizeof *ds->faults);
        if (ds->faults)
            ds->faults->logged = calloc(ds->n, 1);
        if (!ds->faults || !ds->faults->logged) {
            snprintf(err, errlen, "%s: out of memory", path);
            rc = MIXUP_ENOMEM;
        }
    }
    if (rc < 0)
        ds_unload(ds);
    return rc;
}
