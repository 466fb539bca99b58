/*
 * pack_format.h — the pack file's layout: pure encode / decode / checks,
 * no I/O and no allocation (pack_file.c does the reading and writing), so
 * the reader of an untrusted file can be fuzzed on its own.
 *
 * A pack is one file holding one dataset, little-endian throughout:
 *
 *   [0, 128)            header (pk_header)
 *   [names_off, +len)   strings, each NUL-terminated: the class names
 *                       (n_class_names of them, in index order), then the
 *                       source paths of encoded samples (for messages)
 *   [index_off, +len)   encoded images: one 32-byte entry per sample
 *                       (pk_entry: offset, length, label, h, w, kind,
 *                       path); arrays: none (fixed shape, so sample i is
 *                       at i * h*w*c*elem of the data)
 *   [data_off, +len)    page-aligned (4096). Encoded images: each file's
 *                       bytes at its entry's offset, every sample aligned
 *                       to `align` bytes, in index order, not overlapping.
 *                       Arrays: exactly the daemon's in-memory store,
 *                       [images NHWC | zeros to 64 | labels int32 [n] or
 *                       float32 [n, label_width]], so a mapped pack is
 *                       served in place.
 *
 * The header carries the dataset digest the daemon computes of the
 * source (digest.h), so a pack and its source are recognised as the same
 * data; `verify = full` recomputes it at load.
 */
#ifndef SRV_PACK_FORMAT_H
#define SRV_PACK_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define PK_MAGIC "MIXUPACK"
#define PK_VERSION 1u
#define PK_HEADER_BYTES 128u
#define PK_ENTRY_BYTES 32u
#define PK_PAGE 4096u
#define PK_MAX_CLASSES 65536u

typedef enum pk_kind { PK_ARRAY = 1, PK_ENCODED = 2 } pk_kind;

typedef struct pk_header {
    uint32_t version;
    pk_kind kind;
    uint32_t soft_labels;  /* arrays: labels are float32 rows [n, K] */
    uint64_t n;            /* samples, 1 .. UINT32_MAX */
    uint32_t h, w, c;      /* arrays: the shape; encoded: 0, 0, channels */
    uint32_t dtype;        /* 1 uint8, 2 float32 (ds_dtype) */
    uint32_t classes;      /* K */
    uint32_t n_class_names; /* 0: the source named none */
    uint64_t digest;       /* the dataset digest (digest.h) */
    uint64_t names_off, names_len;
    uint64_t index_off, index_len;
    uint64_t data_off, data_len;
    uint32_t align;        /* encoded: sample alignment, a power of two */
    uint32_t max_h, max_w; /* encoded: the largest image */
    uint32_t digest_kind;  /* which formula made the digest: 0 the array
                              store's, 1 an image set's (digest.h) */
} pk_header;

typedef struct pk_entry {
    uint64_t offset;       /* from data_off */
    uint32_t length;
    int32_t label;
    uint32_t path;         /* offset of its path in the names section */
    uint16_t h, w;
    uint8_t kind;          /* img_kind: 1 JPEG, 2 PNG */
    uint8_t cmyk, adobe;
} pk_entry;

/* Bytes of the array store [images | pad to 64 | labels] of @h, and
 * where its labels start; 0 with an overflow. */
uint64_t pk_array_bytes(const pk_header *h, uint64_t *label_off);

/* Write @h into @out[0..PK_HEADER_BYTES). */
void pk_encode_header(const pk_header *h, uint8_t *out);

/* Decode and check the header at @buf[0..len) of a file of @file_size
 * bytes: magic, version, kind, shape, sizes (overflow-checked), and every
 * section inside the file, in order, not overlapping, data page-aligned.
 * Return 0 or MIXUP_EDATASET with @err saying what is wrong (the caller
 * prefixes the file's name). */
int pk_decode_header(const uint8_t *buf, size_t len, uint64_t file_size,
                     pk_header *h, char *err, size_t errlen);

/* Check the names section @s[0..len): NUL-terminated strings, at least
 * @n_class_names of them. Return 0 or MIXUP_EDATASET. */
int pk_check_names(const uint8_t *s, uint64_t len, uint32_t n_class_names,
                   char *err, size_t errlen);

void pk_encode_entry(const pk_entry *e, uint8_t *out);
void pk_decode_entry(const uint8_t *in, pk_entry *e);

/* Check entry @i (decoded) of a pack with header @h: non-empty, inside the
 * data, aligned, after the end of the previous sample (*@end, updated:
 * samples in index order never overlap), label in [0, classes), path
 * inside the names section, kind JPEG or PNG, sides > 0. Return 0 or
 * MIXUP_EDATASET. */
int pk_check_entry(const pk_header *h, uint64_t i, const pk_entry *e,
                   uint64_t *end, char *err, size_t errlen);

/* The whole reader over a file in memory @f[0..size): header, names,
 * then every index entry. Return 0 with *@h filled, or MIXUP_EDATASET
 * with @err saying what is wrong. */
int pk_check_file(const uint8_t *f, uint64_t size, pk_header *h, char *err,
                  size_t errlen);

#endif
