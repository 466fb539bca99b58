/*
 * dataset_internal.h — the interface between the dataset store
 * (dataset.c) and the format loaders (dataset_npy.c, dataset_idx.c,
 * dataset_cifar.c). Not installed, not used outside server/dataset*.c
 * (and the tests / fuzz targets).
 *
 * A load runs in three steps so that nothing is read twice and nothing is
 * allocated before the sizes are known and checked:
 *   1. probe: the loader opens its files and reads only their headers;
 *   2. the store creates one segment [images | labels] from the probe;
 *   3. read: the loader reads the data straight into the segment.
 * Then the store validates labels and seals the segment.
 */
#ifndef SRV_DATASET_INTERNAL_H
#define SRV_DATASET_INTERNAL_H

#include <glob.h>
#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "regfile.h"

/* What the headers say. */
typedef struct ds_probe {
    uint64_t n;            /* images */
    uint64_t n_labels;     /* labels; the store requires n_labels == n */
    uint32_t h, w, c;
    ds_dtype dtype;
    uint32_t label_width;  /* 0: class indices, int32 [N]; K: float32 [N,K] */
    uint32_t classes;      /* class bound the format implies when the
                              configuration gives none (CIFAR-10: 10);
                              0: infer from the labels */
    const char *images_name; /* for messages; owned by the loader */
    const char *labels_name;
} ds_probe;

/* Where the data goes: regions of the segment, sized from the probe. */
typedef struct ds_dest {
    void *images;   /* n*h*w*c elements of dtype, NHWC */
    int32_t *labels; /* [n] when label_width == 0, else NULL */
    float *rows;    /* [n, label_width] when label_width > 0, else NULL */
} ds_dest;

typedef struct ds_loader {
    /* Open the files, read the headers, fill @p. On success *@state is the
     * loader's own (freed by close); on failure the loader has released
     * everything itself. */
    int (*probe)(const ds_source *src, void **state, ds_probe *p, char *err,
                 size_t errlen);
    /* Read every image and label into @d (converting as needed), then
     * require the end of each file. */
    int (*read)(void *state, const ds_dest *d, char *err, size_t errlen);
    /* Name the file and position of sample @i's label, for messages. */
    void (*where)(void *state, uint64_t i, char *buf, size_t len);
    void (*close)(void *state);
} ds_loader;

extern const ds_loader ds_loader_npy;
extern const ds_loader ds_loader_idx;
extern const ds_loader ds_loader_cifar;

/* Steps 2-4 once the loader has probed: create, read, validate, seal
 * (dataset.c). On failure the caller unloads @ds. */
int ds_load_probed(ds_dataset *ds, const ds_loader *ld, void *st,
                   const ds_probe *p, const ds_source *src,
                   const char *instance, char *err, size_t errlen);

/* ---- the .npy header, exposed for tests and the fuzz target ---- */

#define NPY_MAX_DIMS 8
#define NPY_MAX_HEADER 65536u /* bytes of the header dict we accept */

typedef struct npy_header {
    char descr[8];                /* e.g. "<f4" */
    int fortran_order;
    int ndim;
    uint64_t shape[NPY_MAX_DIMS];
    uint64_t data_offset;         /* preamble + dict: where data starts */
} npy_header;

/* Parse the preamble (magic, version, header length) of @buf[0..len):
 * on success *@dict_len is the dict's length and *@dict_off its offset.
 * Return 0, 1 when more bytes are needed (len < 12), or MIXUP_EDATASET. */
int npy_parse_preamble(const uint8_t *buf, size_t len, size_t *dict_off,
                       size_t *dict_len, const char *path, char *err,
                       size_t errlen);

/* Parse the header dict text @s[0..len) (untrusted, not NUL-terminated).
 * Return 0 or MIXUP_EDATASET with @err naming @path and the field. */
int npy_parse_dict(const char *s, size_t len, npy_header *h,
                   const char *path, char *err, size_t errlen);

/* ---- helpers shared by the loaders ---- */

/* The digest of an array store (n, shape, dtype, label form, classes,
 * then ds->bytes from ds->images) and of an image set (dataset_image.c). */
uint64_t ds_digest_arrays(const ds_dataset *ds);

/* glob(3) of a dataset.images pattern into @g, sorted (so the sample order
 * is deterministic); GLOB_NOMAGIC: a plain path comes back as is, and a
 * missing one is then reported by whoever opens it. A pattern matching
 * nothing is MIXUP_EDATASET, naming it. The caller globfree()s @g after a
 * success. */
int ds_glob(const char *pat, glob_t *g, char *err, size_t errlen);

/* The segment of an encoded image dataset (folders, lists, tar shards):
 * [labels | file table | the files' bytes], each part 64-byte aligned.
 * ds_encoded_create() makes it for @n files of @bytes bytes in all and
 * points @L into it; ds_encoded_finish() describes the filled store in
 * @ds (@n files kept, @classes classes). */
typedef struct ds_encoded_layout {
    int32_t *labels;
    ds_file *files;
    uint8_t *packed;
    uint64_t total;
} ds_encoded_layout;

int ds_encoded_create(ds_dataset *ds, const ds_source *src,
                      const char *instance, uint64_t n, uint64_t bytes,
                      ds_encoded_layout *L, char *err, size_t errlen);
void ds_encoded_finish(ds_dataset *ds, const ds_source *src,
                       const ds_encoded_layout *L, uint64_t n);
uint64_t ds_digest_images(const ds_dataset *ds);

/* format = pack (pack_file.c); as ds_load(), which calls it. */
int ds_load_pack(ds_dataset *ds, const ds_source *src, const char *instance,
                 char *err, size_t errlen);

/* format = tar (dataset_tar.c); as ds_load(), which calls it. */
int ds_load_tar(ds_dataset *ds, const ds_source *src, const char *instance,
                char *err, size_t errlen);

/* a * b with overflow check; 0 on success, -1 on overflow. */
static inline int ds_mul(uint64_t a, uint64_t b, uint64_t *out)
{
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

/* MIXUP_EINTR with @err if a stop was requested (ds_stop_requested). */
int ds_check_stop(const char *path, char *err, size_t errlen);

/* Bytes loaders read between two ds_check_stop() calls. */
#define DS_READ_STEP (8u << 20)

/* The 64 KiB buffer loaders use to convert data in chunks. */
#define DS_CHUNK (64u * 1024u)

#endif
