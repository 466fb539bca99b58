/*
 * pack_format.c — see pack_format.h. Every count and offset read from a
 * header is untrusted: each product and sum is overflow-checked, and each
 * region is compared with the file's size before anyone uses it.
 */
#include "pack_format.h"

#include <stdio.h>
#include <string.h>

#include "mixup_errors.h"

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

uint64_t pk_array_bytes(const pk_header *h, uint64_t *label_off)
{
    uint64_t per, img, lab, off, total;
    uint32_t elem = h->dtype == 2 ? 4u : 1u;
    uint64_t width = h->soft_labels ? h->classes : 1;
    if (__builtin_mul_overflow((uint64_t)h->h, h->w, &per) ||
        __builtin_mul_overflow(per, (uint64_t)h->c * elem, &per) ||
        __builtin_mul_overflow(per, h->n, &img) ||
        __builtin_mul_overflow(width * 4, h->n, &lab) ||
        __builtin_add_overflow(img, 63, &off) ||
        __builtin_add_overflow(off / 64 * 64, lab, &total))
        return 0;
    if (label_off)
        *label_off = off / 64 * 64;
    return total;
}

void pk_encode_header(const pk_header *h, uint8_t *out)
{
    memset(out, 0, PK_HEADER_BYTES);
    memcpy(out, PK_MAGIC, 8);
    put32(out + 8, h->version);
    put32(out + 12, PK_HEADER_BYTES);
    put32(out + 16, (uint32_t)h->kind);
    put32(out + 20, h->soft_labels ? 1u : 0u);
    put64(out + 24, h->n);
    put32(out + 32, h->h);
    put32(out + 36, h->w);
    put32(out + 40, h->c);
    put32(out + 44, h->dtype);
    put32(out + 48, h->classes);
    put32(out + 52, h->n_class_names);
    put64(out + 56, h->digest);
    put64(out + 64, h->names_off);
    put64(out + 72, h->names_len);
    put64(out + 80, h->index_off);
    put64(out + 88, h->index_len);
    put64(out + 96, h->data_off);
    put64(out + 104, h->data_len);
    put32(out + 112, h->align);
    put32(out + 116, h->max_h);
    put32(out + 120, h->max_w);
    put32(out + 124, h->digest_kind);
}

/* @what [off, off + len) lies in [lo, file_size); *@next = its end. */
static int region(const char *what, uint64_t off, uint64_t len, uint64_t lo,
                  uint64_t file_size, uint64_t *next, char *err, size_t errlen)
{
    uint64_t end;
    if (off < lo) {
        snprintf(err, errlen, "%s section at byte %llu overlaps what comes "
                 "before it (ends at %llu)", what, (unsigned long long)off,
                 (unsigned long long)lo);
        return MIXUP_EDATASET;
    }
    if (__builtin_add_overflow(off, len, &end) || end > file_size) {
        snprintf(err, errlen, "%s section [%llu, +%llu) runs past the end of "
                 "the file (%llu bytes): truncated?", what,
                 (unsigned long long)off, (unsigned long long)len,
                 (unsigned long long)file_size);
        return MIXUP_EDATASET;
    }
    *next = end;
    return 0;
}

static int check_shape(const pk_header *h, char *err, size_t errlen)
{
    if (h->n == 0 || h->n > UINT32_MAX) {
        snprintf(err, errlen, "%llu samples, expected 1 .. %u",
                 (unsigned long long)h->n, UINT32_MAX);
        return MIXUP_EDATASET;
    }
    if (h->classes == 0 || h->classes > PK_MAX_CLASSES ||
        h->n_class_names > h->classes) {
        snprintf(err, errlen, "%u classes (%u named), expected 1 .. %u with "
                 "at most one name each", h->classes, h->n_class_names,
                 PK_MAX_CLASSES);
        return MIXUP_EDATASET;
    }
    if (h->kind == PK_ENCODED) {
        if (h->c != 1 && h->c != 3) {
            snprintf(err, errlen, "encoded images with %u channels, expected "
                     "1 or 3", h->c);
            return MIXUP_EDATASET;
        }
        if (h->align == 0 || (h->align & (h->align - 1)) ||
            h->align > PK_PAGE) {
            snprintf(err, errlen, "sample alignment %u, expected a power of "
                     "two <= %u", h->align, PK_PAGE);
            return MIXUP_EDATASET;
        }
        uint64_t want;
        if (__builtin_mul_overflow(h->n, (uint64_t)PK_ENTRY_BYTES, &want) ||
            h->index_len != want) {
            snprintf(err, errlen, "index of %llu bytes, expected %llu "
                     "entries of %u", (unsigned long long)h->index_len,
                     (unsigned long long)h->n, PK_ENTRY_BYTES);
            return MIXUP_EDATASET;
        }
        return 0;
    }
    if (h->h == 0 || h->w == 0 || h->c == 0 || (h->dtype != 1 && h->dtype != 2)) {
        snprintf(err, errlen, "array shape %ux%ux%u dtype %u, expected "
                 "non-zero sides and dtype 1 (uint8) or 2 (float32)",
                 h->h, h->w, h->c, h->dtype);
        return MIXUP_EDATASET;
    }
    uint64_t want = pk_array_bytes(h, NULL);
    if (want == 0 || h->data_len != want || h->index_len != 0) {
        snprintf(err, errlen, "array data of %llu bytes (index %llu), "
                 "expected %llu for %llu samples of %ux%ux%u",
                 (unsigned long long)h->data_len,
                 (unsigned long long)h->index_len, (unsigned long long)want,
                 (unsigned long long)h->n, h->h, h->w, h->c);
        return MIXUP_EDATASET;
    }
    return 0;
}

int pk_decode_header(const uint8_t *buf, size_t len, uint64_t file_size,
                     pk_header *h, char *err, size_t errlen)
{
    memset(h, 0, sizeof *h);
    if (len < PK_HEADER_BYTES || file_size < PK_HEADER_BYTES) {
        snprintf(err, errlen, "%llu bytes, shorter than a pack header (%u): "
                 "truncated?", (unsigned long long)file_size, PK_HEADER_BYTES);
        return MIXUP_EDATASET;
    }
    if (memcmp(buf, PK_MAGIC, 8) != 0) {
        snprintf(err, errlen, "not a pack (wrong magic bytes, expected "
                 "\"" PK_MAGIC "\")");
        return MIXUP_EDATASET;
    }
    h->version = get32(buf + 8);
    if (h->version != PK_VERSION || get32(buf + 12) != PK_HEADER_BYTES) {
        snprintf(err, errlen, "pack version %u (header %u bytes), this "
                 "daemon reads version %u (%u bytes)", h->version,
                 get32(buf + 12), PK_VERSION, PK_HEADER_BYTES);
        return MIXUP_EDATASET;
    }
    uint32_t kind = get32(buf + 16), flags = get32(buf + 20);
    if ((kind != PK_ARRAY && kind != PK_ENCODED) || flags > 1 ||
        (kind == PK_ENCODED && flags)) {
        snprintf(err, errlen, "sample kind %u flags %u, expected 1 (arrays) "
                 "or 2 (encoded images)", kind, flags);
        return MIXUP_EDATASET;
    }
    h->kind = (pk_kind)kind;
    h->soft_labels = flags;
    h->n = get64(buf + 24);
    h->h = get32(buf + 32);
    h->w = get32(buf + 36);
    h->c = get32(buf + 40);
    h->dtype = get32(buf + 44);
    h->classes = get32(buf + 48);
    h->n_class_names = get32(buf + 52);
    h->digest = get64(buf + 56);
    h->names_off = get64(buf + 64);
    h->names_len = get64(buf + 72);
    h->index_off = get64(buf + 80);
    h->index_len = get64(buf + 88);
    h->data_off = get64(buf + 96);
    h->data_len = get64(buf + 104);
    h->align = get32(buf + 112);
    h->max_h = get32(buf + 116);
    h->max_w = get32(buf + 120);
    h->digest_kind = get32(buf + 124);
    if (h->digest_kind > 1) {
        snprintf(err, errlen, "digest kind %u, expected 0 or 1",
                 h->digest_kind);
        return MIXUP_EDATASET;
    }
    int rc = check_shape(h, err, errlen);
    uint64_t at = PK_HEADER_BYTES;
    if (rc == 0)
        rc = region("names", h->names_off, h->names_len, at, file_size, &at,
                    err, errlen);
    if (rc == 0)
        rc = region("index", h->index_off, h->index_len, at, file_size, &at,
                    err, errlen);
    if (rc == 0)
        rc = region("data", h->data_off, h->data_len, at, file_size, &at, err,
                    errlen);
    if (rc == 0 && h->data_off % PK_PAGE) {
        snprintf(err, errlen, "data section at byte %llu, expected a "
                 "multiple of %u", (unsigned long long)h->data_off, PK_PAGE);
        rc = MIXUP_EDATASET;
    }
    return rc;
}

int pk_check_names(const uint8_t *s, uint64_t len, uint32_t n_class_names,
                   char *err, size_t errlen)
{
    if (len == 0 && n_class_names == 0)
        return 0;
    if (len == 0 || s[len - 1] != 0) {
        snprintf(err, errlen, "names section of %llu bytes does not end "
                 "with a NUL", (unsigned long long)len);
        return MIXUP_EDATASET;
    }
    uint64_t found = 0;
    for (uint64_t i = 0; i < len && found < n_class_names; i++)
        found += s[i] == 0;
    if (found < n_class_names) {
        snprintf(err, errlen, "names section holds %llu names, expected %u "
                 "class names", (unsigned long long)found, n_class_names);
        return MIXUP_EDATASET;
    }
    return 0;
}

void pk_encode_entry(const pk_entry *e, uint8_t *out)
{
    memset(out, 0, PK_ENTRY_BYTES);
    put64(out, e->offset);
    put32(out + 8, e->length);
    put32(out + 12, (uint32_t)e->label);
    put32(out + 16, e->path);
    out[20] = (uint8_t)e->h;
    out[21] = (uint8_t)(e->h >> 8);
    out[22] = (uint8_t)e->w;
    out[23] = (uint8_t)(e->w >> 8);
    out[24] = e->kind;
    out[25] = e->cmyk;
    out[26] = e->adobe;
    /* [27, 32) reserved, zero */
}

void pk_decode_entry(const uint8_t *in, pk_entry *e)
{
    e->offset = get64(in);
    e->length = get32(in + 8);
    e->label = (int32_t)get32(in + 12);
    e->path = get32(in + 16);
    e->h = (uint16_t)(in[20] | in[21] << 8);
    e->w = (uint16_t)(in[22] | in[23] << 8);
    e->kind = in[24];
    e->cmyk = in[25];
    e->adobe = in[26];
}

int pk_check_entry(const pk_header *h, uint64_t i, const pk_entry *e,
                   uint64_t *end, char *err, size_t errlen)
{
    uint64_t stop;
    if (e->length == 0 ||
        __builtin_add_overflow(e->offset, (uint64_t)e->length, &stop) ||
        stop > h->data_len) {
        snprintf(err, errlen, "sample %llu: [%llu, +%u) is empty or outside "
                 "the data section (%llu bytes)", (unsigned long long)i,
                 (unsigned long long)e->offset, e->length,
                 (unsigned long long)h->data_len);
        return MIXUP_EDATASET;
    }
    if (e->offset < *end) {
        snprintf(err, errlen, "sample %llu at %llu overlaps the sample before "
                 "it (which ends at %llu)", (unsigned long long)i,
                 (unsigned long long)e->offset, (unsigned long long)*end);
        return MIXUP_EDATASET;
    }
    if (e->offset % h->align) {
        snprintf(err, errlen, "sample %llu at %llu, expected a multiple of "
                 "%u", (unsigned long long)i, (unsigned long long)e->offset,
                 h->align);
        return MIXUP_EDATASET;
    }
    if (e->label < 0 || (uint32_t)e->label >= h->classes) {
        snprintf(err, errlen, "sample %llu: label %d, expected 0 <= label < "
                 "%u", (unsigned long long)i, e->label, h->classes);
        return MIXUP_EDATASET;
    }
    if (e->path >= h->names_len || (e->kind != 1 && e->kind != 2) ||
        e->h == 0 || e->w == 0 || e->cmyk > 1 || e->adobe > 1) {
        snprintf(err, errlen, "sample %llu: path at %u (names: %llu bytes), "
                 "kind %u, %ux%u: expected a path inside the names, kind 1 "
                 "(JPEG) or 2 (PNG) and sides > 0", (unsigned long long)i,
                 e->path, (unsigned long long)h->names_len, e->kind, e->w,
                 e->h);
        return MIXUP_EDATASET;
    }
    *end = stop;
    return 0;
}

int pk_check_file(const uint8_t *f, uint64_t size, pk_header *h, char *err,
                  size_t errlen)
{
    int rc = pk_decode_header(f, (size_t)(size < PK_HEADER_BYTES ? size
                                                             : PK_HEADER_BYTES),
                              size, h, err, errlen);
    if (rc == 0)
        rc = pk_check_names(f + h->names_off, h->names_len, h->n_class_names,
                            err, errlen);
    uint64_t end = 0;
    for (uint64_t i = 0; rc == 0 && h->kind == PK_ENCODED && i < h->n; i++) {
        pk_entry e;
        pk_decode_entry(f + h->index_off + i * PK_ENTRY_BYTES, &e);
        rc = pk_check_entry(h, i, &e, &end, err, errlen);
    }
    return rc;
}
