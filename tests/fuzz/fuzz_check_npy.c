/*
 * fuzz_check_npy.c — see fuzz_check.h.
 *
 * The input is a .npy file, read two ways.
 *
 * In memory, as read_header() (server/data/dataset_npy.c) reads it: the
 * preamble from the first 12 bytes at most, then the dict it points to.
 * - npy_parse_preamble() must agree with a second reading of the format
 *   written here (magic, version 1.0, 2.0 or 3.0, a 2- or 4-byte length
 *   of 1 to NPY_MAX_HEADER), given 12 bytes or the whole input alike;
 * - a dict npy_parse_dict() accepts has a printable descr, fortran_order
 *   False and at most NPY_MAX_DIMS dimensions, and printed back as numpy
 *   writes it, parses to the same header;
 * - each parser gets an exact-size copy, so a read past it is caught.
 *
 * On disk, as the daemon loads it: written to a temporary directory and
 * probed by ds_loader_npy, once as the images (next to valid labels) and
 * once as the labels (next to valid images). A file the probe accepts
 * must have been accepted in memory too, have a dtype and a number of
 * dimensions the loader takes for that role, and a shape whose byte size
 * does not overflow and fills the rest of the file exactly; the probe's
 * fields must be the shape's.
 *
 * Every rejection: MIXUP_EDATASET, with a message that is non-empty,
 * NUL-terminated in the caller's buffer, printable ASCII (it goes to the
 * log) and names the file.
 */
#include "fuzz_check.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset_internal.h"
#include "mixup.h"

#define FZ_ERRSIZE 256     /* what the daemon passes */
#define FZ_FILL 0xa5       /* pre-fill of err: no NUL, not printable */
#define FZ_PATH "fuzz.npy" /* the name given to the parsers in memory */


/* @err after @who rejected @path with @rc: 0 when well reported. */
static int check_rejection(int rc, const char *err, const char *path,
                           const char *who, char *why, size_t whylen)
{
    if (rc != MIXUP_EDATASET)
        return fz_bad(why, whylen, "%s returned %d, expected MIXUP_EDATASET",
                   who, rc);
    const char *nul = memchr(err, 0, FZ_ERRSIZE);
    if (!nul)
        return fz_bad(why, whylen, "%s: error message not NUL-terminated", who);
    if (nul == err)
        return fz_bad(why, whylen, "%s: empty error message", who);
    for (const char *p = err; p < nul; p++)
        if (*p < 0x20 || *p > 0x7e)
            return fz_bad(why, whylen, "%s: error message byte %d is 0x%02x",
                       who, (int)(p - err), (unsigned char)*p);
    if (!strstr(err, path))
        return fz_bad(why, whylen, "%s: error message does not name %s: "
                   "\"%s\"", who, path, err);
    return 0;
}

/* ------------------------------------------------------------ in memory */

/* The preamble as the format describes it: 0 with *@off and *@n, 1 when
 * @len bytes are too few to tell, -1 when it is not a .npy 1.0-3.0 one. */
static int model_preamble(const uint8_t *b, size_t len, size_t *off,
                          size_t *n)
{
    if (len < 8)
        return 1;
    if (memcmp(b, "\x93NUMPY", 6) != 0 || b[6] < 1 || b[6] > 3 || b[7] != 0)
        return -1;
    *off = b[6] == 1 ? 10 : 12;
    if (len < *off)
        return 1;
    *n = (size_t)b[8] | (size_t)b[9] << 8;
    if (*off == 12)
        *n |= (size_t)b[10] << 16 | (size_t)b[11] << 24;
    return *n >= 1 && *n <= NPY_MAX_HEADER ? 0 : -1;
}

/* npy_parse_preamble() over the 12 bytes read_header() reads, then over
 * the whole input. 1 with *@off and *@n when accepted, 0 when rejected
 * (or too short) as it should be, -1 otherwise. */
static int check_preamble(const uint8_t *data, size_t len, size_t *off,
                          size_t *n, char *why, size_t whylen)
{
    const size_t sizes[2] = {len < 12 ? len : 12, len};
    int want = model_preamble(data, sizes[0], off, n);
    for (int k = 0; k < 2; k++) {
        uint8_t *copy = malloc(sizes[k] ? sizes[k] : 1);
        if (!copy)
            return fz_bad(why, whylen, "out of memory");
        memcpy(copy, data, sizes[k]);
        char err[FZ_ERRSIZE];
        memset(err, FZ_FILL, sizeof err);
        size_t o = 0, l = 0;
        int rc = npy_parse_preamble(copy, sizes[k], &o, &l, FZ_PATH, err,
                                    sizeof err);
        free(copy);
        if (want < 0 && check_rejection(rc, err, FZ_PATH,
                                        "npy_parse_preamble", why, whylen) < 0)
            return -1;
        if (want == 1 && rc != 1)
            return fz_bad(why, whylen, "npy_parse_preamble(%zu bytes) returned "
                       "%d, expected 1 (more bytes needed)", sizes[k], rc);
        if (want == 0 && (rc != 0 || o != *off || l != *n))
            return fz_bad(why, whylen, "npy_parse_preamble(%zu bytes) returned "
                       "%d, dict at %zu (%zu bytes); expected 0, %zu (%zu)",
                       sizes[k], rc, o, l, *off, *n);
    }
    return want == 0;
}

/* npy_parse_dict() over an exact-size copy of @s[0..@n): its code, and
 * its message in @err[FZ_ERRSIZE]. */
static int parse_dict(const char *s, size_t n, npy_header *h, char *err)
{
    char *copy = malloc(n ? n : 1);
    if (!copy) {
        snprintf(err, FZ_ERRSIZE, "out of memory");
        return MIXUP_ENOMEM;
    }
    memcpy(copy, s, n);
    memset(err, FZ_FILL, FZ_ERRSIZE);
    memset(h, FZ_FILL, sizeof *h);
    int rc = npy_parse_dict(copy, n, h, FZ_PATH, err, FZ_ERRSIZE);
    free(copy);
    return rc;
}

/* What an accepted header may hold. */
static int check_header(const npy_header *h, char *why, size_t whylen)
{
    const char *nul = memchr(h->descr, 0, sizeof h->descr);
    if (!nul)
        return fz_bad(why, whylen, "accepted descr not NUL-terminated");
    for (const char *p = h->descr; p < nul; p++)
        if (*p < 0x20 || *p > 0x7e || *p == '\\')
            return fz_bad(why, whylen, "accepted descr byte 0x%02x",
                       (unsigned char)*p);
    if (strchr(h->descr, '\'') && strchr(h->descr, '"'))
        return fz_bad(why, whylen, "accepted descr with both quotes: %s",
                   h->descr);
    if (h->fortran_order != 0)
        return fz_bad(why, whylen, "accepted fortran_order %d",
                   h->fortran_order);
    if (h->ndim < 0 || h->ndim > NPY_MAX_DIMS)
        return fz_bad(why, whylen, "accepted %d dimensions", h->ndim);
    return 0;
}

/* @h as numpy writes a version 1.0 dict: padded with spaces so that the
 * data starts on 64 bytes, ended by '\n'. Return its length. */
static size_t format_dict(const npy_header *h, char *buf, size_t cap)
{
    char q = strchr(h->descr, '\'') ? '"' : '\'';
    size_t k = (size_t)snprintf(buf, cap, "{'descr': %c%s%c, 'fortran_order':"
                                " False, 'shape': (", q, h->descr, q);
    for (int i = 0; i < h->ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%llu", i ? ", " : "",
                              (unsigned long long)h->shape[i]);
    if (k < cap)
        k += (size_t)snprintf(buf + k, cap - k, "%s), }",
                              h->ndim == 1 ? "," : "");
    size_t end = (10 + k + 1 + 63) / 64 * 64 - 10;
    if (end > cap)
        return cap; /* cannot happen: 8 dimensions of 20 digits fit */
    memset(buf + k, ' ', end - 1 - k);
    buf[end - 1] = '\n';
    return end;
}

static int same_header(const npy_header *a, const npy_header *b)
{
    if (strcmp(a->descr, b->descr) != 0 || a->ndim != b->ndim ||
        a->fortran_order != b->fortran_order)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

typedef struct npy_view {
    int ok;               /* the header was accepted in full */
    npy_header h;
    uint64_t data_offset; /* where the data starts */
} npy_view;

static int read_in_memory(const uint8_t *data, size_t len, npy_view *v,
                          char *why, size_t whylen)
{
    size_t off = 0, n = 0;
    v->ok = 0;
    int rc = check_preamble(data, len, &off, &n, why, whylen);
    if (rc <= 0 || off + n > len) /* rejected, or the dict is cut short */
        return rc < 0 ? -1 : 0;
    char err[FZ_ERRSIZE];
    rc = parse_dict((const char *)data + off, n, &v->h, err);
    if (rc != 0)
        return check_rejection(rc, err, FZ_PATH, "npy_parse_dict", why,
                               whylen);
    if (check_header(&v->h, why, whylen) < 0)
        return -1;
    char text[512];
    size_t tn = format_dict(&v->h, text, sizeof text);
    npy_header again;
    rc = parse_dict(text, tn, &again, err);
    if (rc != 0)
        return fz_bad(why, whylen, "the header printed back, \"%.*s\", is "
                   "rejected: %.*s", (int)tn, text, FZ_ERRSIZE, err);
    if (!same_header(&v->h, &again))
        return fz_bad(why, whylen, "the header printed back, \"%.*s\", parses "
                   "differently", (int)tn, text);
    v->ok = 1;
    v->data_offset = off + n;
    return 0;
}

/* -------------------------------------------------------------- on disk */

typedef struct npy_files {
    char dir[200];
    char file[240];   /* the input */
    char images[240]; /* valid partners: (1, 1, 1) and (1,), '|u1' */
    char labels[240];
} npy_files;

static int write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    for (size_t done = 0; done < len;) {
        ssize_t w = write(fd, (const char *)data + done, len - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    return close(fd);
}

/* A .npy 1.0 file of one zero '|u1' element, shaped as @ndim ones. */
static int write_partner(const char *path, int ndim)
{
    npy_header h = {.descr = "|u1", .ndim = ndim, .shape = {1, 1, 1}};
    uint8_t buf[256];
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    size_t n = format_dict(&h, (char *)buf + 10, sizeof buf - 11);
    buf[8] = (uint8_t)n;
    buf[9] = (uint8_t)(n >> 8);
    buf[10 + n] = 0;
    return write_file(path, buf, 10 + n + 1);
}

static void files_remove(npy_files *f)
{
    unlink(f->file);
    unlink(f->images);
    unlink(f->labels);
    rmdir(f->dir);
}

static int files_create(npy_files *f, const uint8_t *data, size_t len,
                        char *why, size_t whylen)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/fuzz-npy-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir))
        return fz_bad(why, whylen, "mkdtemp %s failed", f->dir);
    snprintf(f->file, sizeof f->file, "%s/%s", f->dir, FZ_PATH);
    snprintf(f->images, sizeof f->images, "%s/images.npy", f->dir);
    snprintf(f->labels, sizeof f->labels, "%s/labels.npy", f->dir);
    if (write_file(f->file, data, len) < 0 || write_partner(f->images, 3) < 0 ||
        write_partner(f->labels, 1) < 0) {
        files_remove(f);
        return fz_bad(why, whylen, "cannot write the files in %s", f->dir);
    }
    return 0;
}

/* Probe @src, where @path is the input. 1 with @p when accepted, 0 when
 * rejected as it should be, -1 otherwise. */
static int probe(const ds_source *src, const char *path, ds_probe *p,
                 const char *who, char *why, size_t whylen)
{
    void *state = NULL;
    char err[FZ_ERRSIZE];
    memset(err, FZ_FILL, sizeof err);
    memset(p, 0, sizeof *p);
    int rc = ds_loader_npy.probe(src, &state, p, err, sizeof err);
    if (rc < 0)
        return check_rejection(rc, err, path, who, why, whylen);
    ds_loader_npy.close(state);
    return rc == 0 ? 1 : fz_bad(why, whylen, "%s returned %d", who, rc);
}

/* The data of an accepted header: its size does not overflow and it is
 * the rest of the file. */
static int check_data(const npy_view *v, size_t len, uint64_t itemsize,
                      const char *who, char *why, size_t whylen)
{
    uint64_t need = itemsize;
    for (int i = 0; i < v->h.ndim; i++)
        if (__builtin_mul_overflow(need, v->h.shape[i], &need))
            return fz_bad(why, whylen, "%s accepted a shape whose byte size "
                       "overflows", who);
    if (need != len - v->data_offset)
        return fz_bad(why, whylen, "%s accepted %llu bytes of data after a "
                   "%llu-byte header in a %zu-byte file", who,
                   (unsigned long long)need,
                   (unsigned long long)v->data_offset, len);
    return 0;
}

static int check_images(const npy_view *v, const ds_probe *p, size_t len,
                        char *why, size_t whylen)
{
    const npy_header *h = &v->h;
    if (!v->ok)
        return fz_bad(why, whylen, "probe accepted as images a header the "
                   "parsers reject");
    int u1 = strcmp(h->descr, "|u1") == 0, f4 = strcmp(h->descr, "<f4") == 0;
    if ((!u1 && !f4) || (h->ndim != 3 && h->ndim != 4))
        return fz_bad(why, whylen, "probe accepted images '%s' of %d "
                   "dimensions", h->descr, h->ndim);
    if (p->dtype != (u1 ? DS_U8 : DS_F32) || p->n != h->shape[0] ||
        p->h != h->shape[1] || p->w != h->shape[2] ||
        p->c != (h->ndim == 4 ? h->shape[3] : 1))
        return fz_bad(why, whylen, "probe gives images %llu x %u x %u x %u "
                   "(dtype %d) for '%s' (%llu, %llu, %llu, ...)",
                   (unsigned long long)p->n, p->h, p->w, p->c, p->dtype,
                   h->descr, (unsigned long long)h->shape[0],
                   (unsigned long long)h->shape[1],
                   (unsigned long long)h->shape[2]);
    return check_data(v, len, u1 ? 1 : 4, "probe (images)", why, whylen);
}

static int check_labels(const npy_view *v, const ds_probe *p, size_t len,
                        char *why, size_t whylen)
{
    static const char *const ints[] = {"|u1", "|i1", "<u2", "<i2",
                                       "<u4", "<i4", "<u8", "<i8"};
    const npy_header *h = &v->h;
    if (!v->ok)
        return fz_bad(why, whylen, "probe accepted as labels a header the "
                   "parsers reject");
    int f4 = strcmp(h->descr, "<f4") == 0, integer = 0;
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        integer |= strcmp(h->descr, ints[i]) == 0;
    if ((!f4 && !integer) || h->ndim != (f4 ? 2 : 1))
        return fz_bad(why, whylen, "probe accepted labels '%s' of %d "
                   "dimensions", h->descr, h->ndim);
    if (p->n_labels != h->shape[0] ||
        p->label_width != (f4 ? h->shape[1] : 0) ||
        (f4 && p->label_width == 0))
        return fz_bad(why, whylen, "probe gives %llu labels of width %u for "
                   "'%s' (%llu, ...)", (unsigned long long)p->n_labels,
                   p->label_width, h->descr, (unsigned long long)h->shape[0]);
    return check_data(v, len, f4 ? 4 : (uint64_t)(h->descr[2] - '0'),
                      "probe (labels)", why, whylen);
}

static int check_on_disk(const npy_view *v, const npy_files *f, size_t len,
                         char *why, size_t whylen)
{
    ds_source src = {.format = DS_NPY, .images = f->file, .labels = f->labels};
    ds_probe p;
    int rc = probe(&src, f->file, &p, "probe (images)", why, whylen);
    if (rc == 1)
        rc = check_images(v, &p, len, why, whylen);
    if (rc < 0)
        return -1;
    src.images = f->images;
    src.labels = f->file;
    rc = probe(&src, f->file, &p, "probe (labels)", why, whylen);
    if (rc == 1)
        rc = check_labels(v, &p, len, why, whylen);
    return rc < 0 ? -1 : 0;
}

int fz_check_npy(const uint8_t *data, size_t len, char *why, size_t whylen)
{
    npy_view v;
    if (read_in_memory(data, len, &v, why, whylen) < 0)
        return -1;
    npy_files f;
    if (files_create(&f, data, len, why, whylen) < 0)
        return -1;
    int rc = check_on_disk(&v, &f, len, why, whylen);
    files_remove(&f);
    return rc;
}
