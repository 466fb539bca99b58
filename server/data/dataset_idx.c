/*
 * dataset_idx.c — IDX files, the format of MNIST and Fashion-MNIST.
 *
 * A big-endian header (magic 0x00000803 + N, H, W for uint8 images;
 * 0x00000801 + N for uint8 labels) followed by the raw bytes. Files are
 * read through zlib's gzread, which reads gzip'd and plain files alike.
 * Every size a header declares is checked against the file before the
 * store reserves shared memory for it: a plain file must hold exactly the
 * declared bytes; a gzip'd one at most 1032 times its compressed size
 * (deflate's largest ratio), which is sound for any gzip stream, several
 * members included (the ISIZE trailer is not: it is per member, modulo
 * 2^32). Within that bound, exact sizes are checked while reading:
 * exactly the expected bytes, then EOF.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dataset_internal.h"
#include "mixup_errors.h"

#define IDX_IMAGES 0x00000803u
#define IDX_LABELS 0x00000801u
#define DEFLATE_MAX_RATIO 1032u /* output bytes per compressed byte, at most */

typedef struct idx_file {
    const char *path;
    gzFile gz;
    uint64_t file_size; /* on disk (compressed, for gzip) */
} idx_file;

typedef struct idx_state {
    idx_file img, lab;
    uint64_t image_bytes, n_labels;
} idx_state;

static int gz_fail(const idx_file *f, const char *doing, char *err,
                   size_t errlen)
{
    int zerr = Z_OK;
    const char *msg = gzerror(f->gz, &zerr);
    if (zerr == Z_ERRNO)
        msg = strerror(errno);
    /* zlib prefixes its own name of the file ("<fd:N>: " after gzdopen);
     * the path is named once, by us. */
    const char *sep = strncmp(msg, "<fd:", 4) == 0 ? strstr(msg, ": ") : NULL;
    if (sep)
        msg = sep + 2;
    snprintf(err, errlen, "%s: %s: %s", f->path, doing, msg);
    return MIXUP_EIO;
}

/* Read up to @len bytes; *@got says how many came before EOF. */
static int gz_read_full(const idx_file *f, void *buf, uint64_t len,
                        uint64_t *got, char *err, size_t errlen)
{
    *got = 0;
    while (*got < len) {
        unsigned want = len - *got > DS_READ_STEP ? DS_READ_STEP
                                                  : (unsigned)(len - *got);
        int rc = ds_check_stop(f->path, err, errlen);
        if (rc < 0)
            return rc;
        int r = gzread(f->gz, (char *)buf + *got, want);
        if (r < 0)
            return gz_fail(f, "read", err, errlen);
        if (r == 0)
            break;
        *got += (uint64_t)r;
    }
    return 0;
}

static int open_file(idx_file *f, const char *path, char *err, size_t errlen)
{
    f->path = path;
    int fd = rf_open(path, &f->file_size, err, errlen);
    if (fd < 0)
        return fd;
    f->gz = gzdopen(fd, "rb");
    if (!f->gz) {
        close(fd);
        snprintf(err, errlen, "%s: cannot open: out of memory", path);
        return MIXUP_ENOMEM;
    }
    gzbuffer(f->gz, 256 * 1024); /* fewer read(2) calls on 47 MB files */
    return 0;
}

/* The header (@header bytes) declares @data bytes of @what: can the file
 * hold them? Only a cheap bound before anything is reserved. */
static int check_declared(const idx_file *f, uint64_t header, uint64_t data,
                          const char *what, char *err, size_t errlen)
{
    uint64_t have = f->file_size > header ? f->file_size - header : 0;
    if (gzdirect(f->gz)) {
        if (data <= have)
            return 0; /* trailing bytes are named while reading */
        snprintf(err, errlen, "%s: the header declares %s (%llu bytes of "
                 "data) but the file has %llu bytes (%llu after the "
                 "%llu-byte header)", f->path, what, (unsigned long long)data,
                 (unsigned long long)f->file_size, (unsigned long long)have,
                 (unsigned long long)header);
        return MIXUP_EDATASET;
    }
    uint64_t max;
    if (ds_mul(f->file_size, DEFLATE_MAX_RATIO, &max) == 0 &&
        data + header > max) {
        snprintf(err, errlen, "%s: the header declares %s (%llu bytes of "
                 "data) but the gzip file has %llu bytes, which decompress "
                 "to at most %llu", f->path, what, (unsigned long long)data,
                 (unsigned long long)f->file_size, (unsigned long long)max);
        return MIXUP_EDATASET;
    }
    return 0;
}

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
           b[3];
}

/* Read @count big-endian u32 words after checking the magic. */
static int read_header(idx_file *f, uint32_t magic, const char *need,
                       uint32_t *words, int count, char *err, size_t errlen)
{
    uint8_t b[16];
    uint64_t want = 4 * (uint64_t)count, got;
    int rc = gz_read_full(f, b, want, &got, err, errlen);
    if (rc < 0)
        return rc;
    if (got >= 4 && be32(b) != magic) {
        snprintf(err, errlen, "%s: IDX magic 0x%08x but %s", f->path,
                 be32(b), need);
        return MIXUP_EDATASET;
    }
    if (got < want) {
        snprintf(err, errlen, "%s: truncated IDX header: expected %llu "
                 "bytes, file has %llu", f->path, (unsigned long long)want,
                 (unsigned long long)got);
        return MIXUP_EDATASET;
    }
    for (int i = 0; i < count; i++)
        words[i] = be32(b + 4 * i);
    return 0;
}

static void idx_close(void *state)
{
    idx_state *s = state;
    if (!s)
        return;
    if (s->img.gz)
        gzclose(s->img.gz);
    if (s->lab.gz)
        gzclose(s->lab.gz);
    free(s);
}

static int probe_files(idx_state *s, const ds_source *src, ds_probe *p,
                       char *err, size_t errlen)
{
    uint32_t hi[4], hl[2];
    int rc = open_file(&s->img, src->images, err, errlen);
    if (rc == 0)
        rc = read_header(&s->img, IDX_IMAGES, "images need 0x00000803 "
                         "(unsigned byte, 3 dimensions)", hi, 4, err, errlen);
    if (rc == 0)
        rc = open_file(&s->lab, src->labels, err, errlen);
    if (rc == 0)
        rc = read_header(&s->lab, IDX_LABELS, "labels need 0x00000801 "
                         "(unsigned byte, 1 dimension)", hl, 2, err, errlen);
    if (rc < 0)
        return rc;
    *p = (ds_probe){
        .n = hi[1], .h = hi[2], .w = hi[3], .c = 1, .dtype = DS_U8,
        .n_labels = hl[1], .images_name = src->images,
        .labels_name = src->labels,
    };
    /* Wraps only where the store's own overflow-checked layout fails,
     * and then nothing is read. */
    s->image_bytes = (uint64_t)hi[1] * hi[2] * hi[3];
    s->n_labels = hl[1];
    char what[128];
    snprintf(what, sizeof what, "%u images of %ux%u", hi[1], hi[2], hi[3]);
    rc = check_declared(&s->img, 16, s->image_bytes, what, err, errlen);
    snprintf(what, sizeof what, "%u labels", hl[1]);
    if (rc == 0)
        rc = check_declared(&s->lab, 8, s->n_labels, what, err, errlen);
    return rc;
}

static int idx_probe(const ds_source *src, void **state, ds_probe *p,
                     char *err, size_t errlen)
{
    idx_state *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "%s: no memory", src->images);
        return MIXUP_ENOMEM;
    }
    int rc = probe_files(s, src, p, err, errlen);
    if (rc < 0) {
        idx_close(s);
        return rc;
    }
    *state = s;
    return 0;
}

/* Exactly @len bytes of data, then end of file. */
static int read_exact(const idx_file *f, void *buf, uint64_t len,
                      const char *what, char *err, size_t errlen)
{
    uint64_t got;
    int rc = gz_read_full(f, buf, len, &got, err, errlen);
    if (rc < 0)
        return rc;
    if (got < len) {
        snprintf(err, errlen, "%s: truncated: expected %llu bytes of %s "
                 "data, file has %llu", f->path, (unsigned long long)len,
                 what, (unsigned long long)got);
        return MIXUP_EDATASET;
    }
    char extra;
    int r = gzread(f->gz, &extra, 1);
    if (r < 0)
        return gz_fail(f, "read", err, errlen);
    if (r > 0) {
        snprintf(err, errlen, "%s: trailing bytes after the %llu bytes of "
                 "%s data the header announces", f->path,
                 (unsigned long long)len, what);
        return MIXUP_EDATASET;
    }
    return 0;
}

static int idx_read(void *state, const ds_dest *d, char *err, size_t errlen)
{
    idx_state *s = state;
    int rc = read_exact(&s->img, d->images, s->image_bytes, "image", err,
                        errlen);
    if (rc < 0)
        return rc;
    /* uint8 labels widen in place: read them into the last quarter of the
     * int32 array and convert front to back, which never overwrites a
     * byte not yet converted (4i + 3 < 3n + i + 1 for every i < n). */
    uint8_t *bytes = (uint8_t *)d->labels + 3 * s->n_labels;
    rc = read_exact(&s->lab, bytes, s->n_labels, "label", err, errlen);
    for (uint64_t i = 0; rc == 0 && i < s->n_labels; i++)
        d->labels[i] = bytes[i];
    return rc;
}

static void idx_where(void *state, uint64_t i, char *buf, size_t len)
{
    idx_state *s = state;
    snprintf(buf, len, "%s sample %llu", s->lab.path, (unsigned long long)i);
}

const ds_loader ds_loader_idx = {idx_probe, idx_read, idx_where, idx_close};
