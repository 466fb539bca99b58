/*
 * dataset_npy.c — NumPy .npy files (format versions 1.0, 2.0 and 3.0).
 *
 * The header is a Python dict literal written by numpy, but the file is
 * untrusted: it is parsed by hand with every length bounded and every
 * product overflow-checked, and nothing beyond the three keys numpy writes
 * ('descr', 'fortran_order', 'shape') is accepted.
 *
 * images: '|u1' or '<f4', shape (N, H, W) (C = 1) or (N, H, W, C).
 * labels: an integer dtype, shape (N,), converted to int32 (range-checked);
 *         or '<f4', shape (N, K): soft / one-hot rows.
 * The file size must be exactly header + product(shape) * itemsize.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset_internal.h"
#include "mixup_errors.h"

/* '<f4' data is read straight into the segment. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the .npy loader assumes a little-endian host");

/* ------------------------------------------------------------ header */

int npy_parse_preamble(const uint8_t *buf, size_t len, size_t *dict_off,
                       size_t *dict_len, const char *path, char *err,
                       size_t errlen)
{
    if (len < 8)
        return 1;
    if (memcmp(buf, "\x93NUMPY", 6) != 0) {
        snprintf(err, errlen, "%s: not a .npy file (magic \\x93NUMPY missing)",
                 path);
        return MIXUP_EDATASET;
    }
    if (buf[6] < 1 || buf[6] > 3 || buf[7] != 0) {
        snprintf(err, errlen, "%s: .npy format version %u.%u, expected 1.0, "
                 "2.0 or 3.0", path, buf[6], buf[7]);
        return MIXUP_EDATASET;
    }
    size_t off = buf[6] == 1 ? 10 : 12;
    if (len < off)
        return 1;
    uint32_t n = (uint32_t)buf[8] | (uint32_t)buf[9] << 8;
    if (off == 12)
        n |= (uint32_t)buf[10] << 16 | (uint32_t)buf[11] << 24;
    if (n == 0 || n > NPY_MAX_HEADER) {
        snprintf(err, errlen, "%s: .npy header length %u, expected 1 to %u",
                 path, n, NPY_MAX_HEADER);
        return MIXUP_EDATASET;
    }
    *dict_off = off;
    *dict_len = n;
    return 0;
}

typedef struct cursor {
    const char *s;
    size_t len, pos;
    const char *path;
    char *err;
    size_t errlen;
} cursor;

static void skip_ws(cursor *c)
{
    while (c->pos < c->len && strchr(" \t\r\n", c->s[c->pos]) && c->s[c->pos])
        c->pos++;
}

static int peek(const cursor *c)
{
    return c->pos < c->len ? (unsigned char)c->s[c->pos] : -1;
}

/* Report what was expected and show (printably) what the header has. */
static int fail(cursor *c, const char *what)
{
    char near[24];
    size_t k = 0;
    for (size_t i = c->pos; i < c->len && k < sizeof near - 1; i++) {
        unsigned char ch = (unsigned char)c->s[i];
        near[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    near[k] = '\0';
    snprintf(c->err, c->errlen, "%s: .npy header: expected %s at offset %zu, "
             "found '%s'", c->path, what, c->pos, k ? near : "end of header");
    return MIXUP_EDATASET;
}

static int expect(cursor *c, char ch, const char *what)
{
    skip_ws(c);
    if (peek(c) != (unsigned char)ch)
        return fail(c, what);
    c->pos++;
    return 0;
}

/* A quoted string without escapes, at most @cap - 1 bytes, printable
 * ASCII only: keys and dtypes are, and the text goes into messages. */
static int parse_str(cursor *c, char *out, size_t cap, const char *what)
{
    skip_ws(c);
    int q = peek(c);
    if (q != '\'' && q != '"')
        return fail(c, what);
    size_t start = ++c->pos, n = 0;
    while (c->pos < c->len && c->s[c->pos] != q) {
        unsigned char ch = (unsigned char)c->s[c->pos];
        if (ch == '\\' || ch < 0x20 || ch > 0x7e || ++n >= cap) {
            c->pos = start - 1;
            return fail(c, what);
        }
        c->pos++;
    }
    if (c->pos >= c->len) {
        c->pos = start - 1;
        return fail(c, what);
    }
    memcpy(out, c->s + start, n);
    out[n] = '\0';
    c->pos++;
    return 0;
}

static int parse_bool(cursor *c, int *out)
{
    skip_ws(c);
    size_t left = c->len - c->pos;
    if (left >= 4 && memcmp(c->s + c->pos, "True", 4) == 0) {
        c->pos += 4;
        *out = 1;
    } else if (left >= 5 && memcmp(c->s + c->pos, "False", 5) == 0) {
        c->pos += 5;
        *out = 0;
    } else {
        return fail(c, "True or False for 'fortran_order'");
    }
    return 0;
}

/* A non-negative integer; Python 2 numpy wrote longs as "60000L". */
static int parse_dim(cursor *c, uint64_t *out)
{
    skip_ws(c);
    size_t start = c->pos;
    uint64_t v = 0;
    while (peek(c) >= '0' && peek(c) <= '9') {
        if (ds_mul(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(peek(c) - '0'), &v)) {
            c->pos = start;
            return fail(c, "a dimension below 2^64 in 'shape'");
        }
        c->pos++;
    }
    if (c->pos == start)
        return fail(c, "a non-negative integer in 'shape'");
    if (peek(c) == 'L')
        c->pos++;
    *out = v;
    return 0;
}

/* "()", "(5,)", "(5, 3)", "(5, 3,)". */
static int parse_shape(cursor *c, npy_header *h)
{
    int rc = expect(c, '(', "a tuple like (60000, 28, 28) for 'shape'");
    h->ndim = 0;
    for (skip_ws(c); rc == 0 && peek(c) != ')'; skip_ws(c)) {
        if (h->ndim == NPY_MAX_DIMS)
            return fail(c, "at most 8 dimensions in 'shape'");
        rc = parse_dim(c, &h->shape[h->ndim++]);
        skip_ws(c);
        if (rc == 0 && peek(c) != ')')
            rc = expect(c, ',', "',' or ')' in 'shape'");
    }
    return rc ? rc : expect(c, ')', "')' closing 'shape'");
}

enum { HAVE_DESCR = 1, HAVE_FORTRAN = 2, HAVE_SHAPE = 4 };

static int parse_entry(cursor *c, npy_header *h, unsigned *have)
{
    char key[16];
    int rc = parse_str(c, key, sizeof key,
                       "a key 'descr', 'fortran_order' or 'shape'");
    if (rc == 0)
        rc = expect(c, ':', "':' after a key");
    if (rc < 0)
        return rc;
    unsigned bit = strcmp(key, "descr") == 0           ? HAVE_DESCR
                   : strcmp(key, "fortran_order") == 0 ? HAVE_FORTRAN
                   : strcmp(key, "shape") == 0         ? HAVE_SHAPE
                                                       : 0;
    if (bit == 0 || (*have & bit)) {
        snprintf(c->err, c->errlen, "%s: .npy header: key '%s' %s", c->path,
                 key, bit ? "appears twice" :
                 "unknown, expected 'descr', 'fortran_order' or 'shape'");
        return MIXUP_EDATASET;
    }
    *have |= bit;
    if (bit == HAVE_DESCR)
        return parse_str(c, h->descr, sizeof h->descr,
                         "a dtype string like '<f4' for 'descr'");
    if (bit == HAVE_FORTRAN)
        return parse_bool(c, &h->fortran_order);
    return parse_shape(c, h);
}

int npy_parse_dict(const char *s, size_t len, npy_header *h,
                   const char *path, char *err, size_t errlen)
{
    cursor c = {s, len, 0, path, err, errlen};
    unsigned have = 0;
    int rc = expect(&c, '{', "'{' opening the header dict");
    for (skip_ws(&c); rc == 0 && peek(&c) != '}'; skip_ws(&c)) {
        rc = parse_entry(&c, h, &have);
        skip_ws(&c);
        if (rc == 0 && peek(&c) != '}')
            rc = expect(&c, ',', "',' or '}' after a value");
    }
    if (rc == 0)
        rc = expect(&c, '}', "'}' closing the header dict");
    skip_ws(&c);
    if (rc == 0 && c.pos != c.len)
        rc = fail(&c, "only spaces and a newline after the header dict");
    if (rc == 0 && have != (HAVE_DESCR | HAVE_FORTRAN | HAVE_SHAPE)) {
        snprintf(err, errlen, "%s: .npy header lacks %s", path,
                 !(have & HAVE_DESCR)     ? "'descr'"
                 : !(have & HAVE_FORTRAN) ? "'fortran_order'"
                                          : "'shape'");
        rc = MIXUP_EDATASET;
    }
    if (rc == 0 && h->fortran_order) {
        snprintf(err, errlen, "%s: fortran_order is True, expected False "
                 "(save a C-contiguous array)", path);
        rc = MIXUP_EDATASET;
    }
    return rc;
}

/* ------------------------------------------------------------ files */

typedef struct npy_file {
    const char *path;
    int fd;
    uint64_t file_size;
    npy_header h;
    uint64_t data_bytes;
} npy_file;

/* Integer label dtypes, converted to int32. */
typedef struct int_type {
    const char *descr;
    unsigned size;
    int is_signed;
} int_type;

static const int_type int_types[] = {
    {"|u1", 1, 0}, {"|i1", 1, 1}, {"<u2", 2, 0}, {"<i2", 2, 1},
    {"<u4", 4, 0}, {"<i4", 4, 1}, {"<u8", 8, 0}, {"<i8", 8, 1},
};

typedef struct npy_state {
    npy_file img, lab;
    const int_type *lab_int; /* NULL: '<f4' rows */
} npy_state;

static int pread_full(const npy_file *f, void *buf, uint64_t len,
                      uint64_t off, char *err, size_t errlen)
{
    uint64_t done = 0;
    while (done < len) {
        size_t want = len - done > DS_READ_STEP ? DS_READ_STEP : len - done;
        int rc = ds_check_stop(f->path, err, errlen);
        if (rc < 0)
            return rc;
        ssize_t r = pread(f->fd, (char *)buf + done, want, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: read: %s", f->path, strerror(errno));
            return MIXUP_EIO;
        }
        if (r == 0) {
            snprintf(err, errlen, "%s: truncated while reading: expected "
                     "%llu bytes at offset %llu, got %llu", f->path,
                     (unsigned long long)len, (unsigned long long)off,
                     (unsigned long long)done);
            return MIXUP_EIO;
        }
        done += (uint64_t)r;
    }
    return 0;
}

static int open_file(npy_file *f, const char *path, char *err, size_t errlen)
{
    f->path = path;
    f->fd = rf_open(path, &f->file_size, err, errlen);
    return f->fd < 0 ? f->fd : 0;
}

static int read_header(npy_file *f, char *err, size_t errlen)
{
    uint8_t pre[12];
    size_t off = 0, len = 0;
    size_t have = f->file_size < sizeof pre ? f->file_size : sizeof pre;
    int rc = pread_full(f, pre, have, 0, err, errlen);
    if (rc == 0)
        rc = npy_parse_preamble(pre, have, &off, &len, f->path, err, errlen);
    if (rc == 0 && off + len > f->file_size)
        rc = 1;
    if (rc == 1) {
        snprintf(err, errlen, "%s: truncated .npy header (file has %llu "
                 "bytes)", f->path, (unsigned long long)f->file_size);
        return MIXUP_EDATASET;
    }
    if (rc < 0)
        return rc;
    char *dict = malloc(len);
    if (!dict) {
        snprintf(err, errlen, "%s: no memory for the header", f->path);
        return MIXUP_ENOMEM;
    }
    rc = pread_full(f, dict, len, off, err, errlen);
    if (rc == 0)
        rc = npy_parse_dict(dict, len, &f->h, f->path, err, errlen);
    free(dict);
    f->h.data_offset = off + len;
    return rc;
}

static void format_shape(const npy_header *h, char *buf, size_t len)
{
    size_t k = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < h->ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%llu", i ? ", " : "",
                              (unsigned long long)h->shape[i]);
    if (k < len)
        snprintf(buf + k, len - k, h->ndim == 1 ? ",)" : ")");
}

/* Exactly header + product(shape) * itemsize bytes. */
static int check_size(npy_file *f, unsigned itemsize, char *err, size_t errlen)
{
    char shape[200];
    uint64_t need = itemsize;
    int bad = 0;
    for (int i = 0; i < f->h.ndim; i++)
        bad |= ds_mul(need, f->h.shape[i], &need);
    format_shape(&f->h, shape, sizeof shape);
    if (bad) {
        snprintf(err, errlen, "%s: shape %s of '%s' overflows 64 bits",
                 f->path, shape, f->h.descr);
        return MIXUP_EDATASET;
    }
    uint64_t have = f->file_size - f->h.data_offset;
    f->data_bytes = need;
    if (have == need)
        return 0;
    if (have < need)
        snprintf(err, errlen, "%s: truncated: expected %llu bytes of data "
                 "(shape %s, '%s'), file has %llu", f->path,
                 (unsigned long long)need, shape, f->h.descr,
                 (unsigned long long)have);
    else
        snprintf(err, errlen, "%s: %llu trailing bytes: expected %llu bytes "
                 "of data (shape %s, '%s'), file has %llu", f->path,
                 (unsigned long long)(have - need), (unsigned long long)need,
                 shape, f->h.descr, (unsigned long long)have);
    return MIXUP_EDATASET;
}

static int dim32(const npy_file *f, int i, uint32_t *out, char *err,
                 size_t errlen)
{
    if (f->h.shape[i] > UINT32_MAX) {
        snprintf(err, errlen, "%s: shape[%d] = %llu, expected below 2^32",
                 f->path, i, (unsigned long long)f->h.shape[i]);
        return MIXUP_EDATASET;
    }
    *out = (uint32_t)f->h.shape[i];
    return 0;
}

static int probe_images(npy_file *f, ds_probe *p, char *err, size_t errlen)
{
    int rc = read_header(f, err, errlen);
    if (rc < 0)
        return rc;
    if (strcmp(f->h.descr, "|u1") && strcmp(f->h.descr, "<f4")) {
        snprintf(err, errlen, "%s: descr '%s', expected '|u1' (uint8) or "
                 "'<f4' (little-endian float32) for images", f->path,
                 f->h.descr);
        return MIXUP_EDATASET;
    }
    p->dtype = f->h.descr[1] == 'u' ? DS_U8 : DS_F32;
    if (f->h.ndim != 3 && f->h.ndim != 4) {
        snprintf(err, errlen, "%s: shape has %d dimensions, expected "
                 "(N, H, W) or (N, H, W, C) for images", f->path, f->h.ndim);
        return MIXUP_EDATASET;
    }
    p->n = f->h.shape[0];
    p->c = 1;
    rc = dim32(f, 1, &p->h, err, errlen);
    if (rc == 0)
        rc = dim32(f, 2, &p->w, err, errlen);
    if (rc == 0 && f->h.ndim == 4)
        rc = dim32(f, 3, &p->c, err, errlen);
    return rc ? rc : check_size(f, ds_dtype_size(p->dtype), err, errlen);
}

static int probe_labels(npy_state *s, ds_probe *p, char *err, size_t errlen)
{
    npy_file *f = &s->lab;
    int rc = read_header(f, err, errlen);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < sizeof int_types / sizeof int_types[0]; i++)
        if (strcmp(f->h.descr, int_types[i].descr) == 0)
            s->lab_int = &int_types[i];
    int is_f4 = strcmp(f->h.descr, "<f4") == 0;
    if (!s->lab_int && !is_f4) {
        snprintf(err, errlen, "%s: descr '%s', expected an integer dtype "
                 "('|u1', '|i1', '<u2', '<i2', '<u4', '<i4', '<u8', '<i8') "
                 "or '<f4' for labels", f->path, f->h.descr);
        return MIXUP_EDATASET;
    }
    if (f->h.ndim != (is_f4 ? 2 : 1)) {
        snprintf(err, errlen, "%s: shape has %d dimensions, expected %s for "
                 "'%s' labels", f->path, f->h.ndim,
                 is_f4 ? "(N, K)" : "(N,)", f->h.descr);
        return MIXUP_EDATASET;
    }
    p->n_labels = f->h.shape[0];
    if (is_f4) {
        rc = dim32(f, 1, &p->label_width, err, errlen);
        if (rc == 0 && p->label_width == 0) {
            snprintf(err, errlen, "%s: shape (N, 0): label rows need at "
                     "least one column", f->path);
            rc = MIXUP_EDATASET;
        }
    }
    return rc ? rc : check_size(f, is_f4 ? 4 : s->lab_int->size, err, errlen);
}

static void npy_close(void *state)
{
    npy_state *s = state;
    if (!s)
        return;
    if (s->img.fd >= 0)
        close(s->img.fd);
    if (s->lab.fd >= 0)
        close(s->lab.fd);
    free(s);
}

static int npy_probe(const ds_source *src, void **state, ds_probe *p,
                     char *err, size_t errlen)
{
    npy_state *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "%s: no memory", src->images);
        return MIXUP_ENOMEM;
    }
    s->img.fd = s->lab.fd = -1;
    p->images_name = src->images;
    p->labels_name = src->labels;
    int rc = open_file(&s->img, src->images, err, errlen);
    if (rc == 0)
        rc = probe_images(&s->img, p, err, errlen);
    if (rc == 0)
        rc = open_file(&s->lab, src->labels, err, errlen);
    if (rc == 0)
        rc = probe_labels(s, p, err, errlen);
    if (rc < 0) {
        npy_close(s);
        return rc;
    }
    *state = s;
    return 0;
}

/* ------------------------------------------------------------ data */

static uint64_t raw_uint(const uint8_t *b, unsigned size)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static int64_t decode_int(const uint8_t *b, const int_type *t)
{
    uint64_t v = raw_uint(b, t->size);
    if (t->is_signed && t->size < 8 && (v >> (8 * t->size - 1)) & 1)
        v |= ~0ull << (8 * t->size); /* sign-extend */
    if (!t->is_signed && v > INT64_MAX)
        return INT64_MAX; /* out of int32 range all the same */
    return (int64_t)v;
}

static int read_int_labels(npy_state *s, int32_t *out, char *err,
                           size_t errlen)
{
    const npy_file *f = &s->lab;
    uint8_t *buf = malloc(DS_CHUNK);
    if (!buf) {
        snprintf(err, errlen, "%s: no memory", f->path);
        return MIXUP_ENOMEM;
    }
    unsigned sz = s->lab_int->size;
    uint64_t n = f->h.shape[0], per = DS_CHUNK / sz;
    int rc = 0;
    for (uint64_t i = 0; i < n && rc == 0; i += per) {
        uint64_t k = n - i < per ? n - i : per;
        rc = pread_full(f, buf, k * sz, f->h.data_offset + i * sz, err,
                        errlen);
        for (uint64_t j = 0; j < k && rc == 0; j++) {
            int64_t v = decode_int(buf + j * sz, s->lab_int);
            if (v < INT32_MIN || v > INT32_MAX) {
                /* The value as the file has it (decode_int saturates
                 * unsigned values above INT64_MAX). */
                char text[32];
                if (s->lab_int->is_signed)
                    snprintf(text, sizeof text, "%lld", (long long)v);
                else
                    snprintf(text, sizeof text, "%llu",
                             (unsigned long long)raw_uint(buf + j * sz, sz));
                snprintf(err, errlen, "%s sample %llu: label %s does not "
                         "fit a 32-bit class index", f->path,
                         (unsigned long long)(i + j), text);
                rc = MIXUP_EDATASET;
            }
            out[i + j] = (int32_t)v;
        }
    }
    free(buf);
    return rc;
}

static int npy_read(void *state, const ds_dest *d, char *err, size_t errlen)
{
    npy_state *s = state;
    int rc = pread_full(&s->img, d->images, s->img.data_bytes,
                        s->img.h.data_offset, err, errlen);
    if (rc < 0)
        return rc;
    if (s->lab_int)
        return read_int_labels(s, d->labels, err, errlen);
    return pread_full(&s->lab, d->rows, s->lab.data_bytes,
                      s->lab.h.data_offset, err, errlen);
}

static void npy_where(void *state, uint64_t i, char *buf, size_t len)
{
    npy_state *s = state;
    snprintf(buf, len, "%s sample %llu", s->lab.path, (unsigned long long)i);
}

const ds_loader ds_loader_npy = {npy_probe, npy_read, npy_where, npy_close};
