/*
 * dataset.h — a dataset loaded once, validated, into shared memory.
 *
 * Images are stored NHWC, uint8 or float32 as the source has them; labels
 * either as class indices (int32 [N], each in [0, classes)) or as float32
 * rows [N, classes] (one-hot or soft targets from a .npy file).
 * After ds_load() the segment is read-only and worker threads read it
 * without locks.
 *
 * Loaders: .npy (v1, v2, v3 headers), IDX (MNIST / Fashion-MNIST, raw or
 * gzip), CIFAR-10 binary batches (a list or glob of files). Each validates
 * header, dtype, shape, file size, label count and label range before the
 * data is used, and names the file and what was expected when it fails.
 */
#ifndef SRV_DATASET_H
#define SRV_DATASET_H

#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "jsonw.h"
#include "shm.h"

#define DS_MAX_CLASSES 65536u

typedef enum ds_format {
    DS_NPY = 1, DS_IDX = 2, DS_CIFAR = 3, DS_FOLDER = 4, DS_LIST = 5,
    DS_PACK = 6, DS_TAR = 7
} ds_format;
typedef enum ds_dtype { DS_U8 = 1, DS_F32 = 2 } ds_dtype;

/* Where to read from: a copy of the [dataset] configuration. */
typedef struct ds_source {
    ds_format format;
    const char *images; /* path; for CIFAR a list separated by ',' or
                           whitespace, each item possibly a glob */
    const char *labels; /* path; ignored (may be NULL) for CIFAR */
    uint32_t classes;   /* 0: infer (max label + 1, or the row width of
                           one-hot labels); else labels must be < classes */
    const char *segment; /* last part of the segment's name (no '.' or
                            '/'); NULL: "dataset" */
    /* folder, list (dataset_image.c) */
    const char *root;    /* list: paths relative to it; NULL/"": the list's
                            folder */
    int decoded;         /* 1: decode at load (storage = decoded) */
    uint32_t channels;   /* 1 or 3 */
    uint32_t height, width; /* decoded: resize to; 0: keep */
    uint64_t max_pixels;
    uint64_t max_decode_memory; /* a JPEG's coefficient buffer (progressive
                                   files); 0: no bound */
    int skip_bad;        /* on_bad_file = skip */
    int verify_full;     /* verify = full: decode every file at load */
    uint32_t load_threads; /* threads reading files at load (workers) */
    int mapped;          /* pack: map the file read-only (storage = mapped)
                            instead of copying it into shared memory */
} ds_source;

/* One file of an encoded dataset (in the segment, after the labels). */
typedef struct ds_file {
    uint64_t offset;     /* of its bytes in ds_dataset.packed */
    uint32_t length;
    uint32_t path;       /* offset of its NUL-terminated path in paths */
    uint16_t h, w;       /* at scale 1 */
    uint8_t kind;        /* img_kind */
    uint8_t cmyk, adobe;
    uint8_t reserved;
} ds_file;

/* What goes wrong while serving an encoded dataset (updated by workers). */
typedef struct ds_faults {
    uint64_t decode_errors;  /* atomic: samples served as zeros */
    uint64_t decode_warnings; /* atomic: served as the decoder left them */
    uint8_t *logged;         /* [n] atomic flags: path logged once */
} ds_faults;

typedef struct ds_dataset {
    uint64_t n;               /* samples */
    uint32_t h, w, c;         /* image shape; c = 1 for [N,H,W] sources */
    uint32_t classes;         /* K */
    ds_dtype dtype;           /* of images */
    int soft_labels;          /* 1: float32 [N,K] rows; 0: int32 [N] */
    const void *images;       /* n*h*w*c elements of dtype, NHWC */
    const int32_t *labels;    /* when !soft_labels */
    const float *label_rows;  /* when soft_labels */
    uint64_t bytes;           /* size of the segment */
    uint64_t digest;          /* of shape, dtype, classes and every byte
                                 of the segment (digest.h) */
    double digest_ms;         /* what computing it took */
    shm_segment seg;
    /* Image folders and lists (format folder or list). */
    int encoded;              /* 1: images are files decoded per sample;
                                 h = w = 0, c = channels, images NULL */
    const ds_file *files;     /* [n] when encoded */
    const uint8_t *packed;    /* the files' bytes when encoded */
    uint32_t max_h, max_w;    /* largest image, when encoded */
    char *class_names;        /* heap: n_class_names NUL-terminated names,
                                 in index order; NULL when the format has
                                 none (list) */
    uint32_t n_class_names;
    char *paths;              /* heap: the files' paths (files[i].path) */
    ds_faults *faults;        /* heap, when encoded */
    /* A pack served in place (storage = mapped): the file's read-only
     * mapping, which images / labels / packed point into; seg is unused. */
    void *map;
    size_t map_len;
    const char *origin;       /* "shared memory" or "mapped FILE" (static
                                 or owned by origin_buf) */
    char origin_buf[256];
    ds_file *heap_files;      /* packs: files and labels built from the
                                 index on the heap (freed by ds_unload) */
    int32_t *heap_labels;
    int digest_images;        /* 1: digest by ds_digest_images() */
} ds_dataset;

/* Load and validate @src into a new shared-memory segment named for
 * @instance. Return 0, or MIXUP_EDATASET / MIXUP_EIO / MIXUP_ENOSPC /
 * MIXUP_ENOMEM / MIXUP_ESYS with @err naming the file and what was
 * expected. On failure nothing is left in /dev/shm. */
/* Set (by a signal handler) to abandon a load in progress: the loaders
 * look at it between chunks, and ds_load() then fails with MIXUP_EINTR
 * having released everything. */
extern volatile sig_atomic_t ds_stop_requested;

int ds_load(ds_dataset *ds, const ds_source *src, const char *instance,
            char *err, size_t errlen);

/* Release the segment (unmap + unlink). Safe on a zeroed dataset. */
void ds_unload(ds_dataset *ds);

/* Bytes per image element (1 or 4). */
static inline uint32_t ds_dtype_size(ds_dtype t) { return t == DS_F32 ? 4u : 1u; }

/* Load a folder or list of JPEG/PNG files (dataset_image.c); as
 * ds_load(), which calls it. */
int ds_load_images(ds_dataset *ds, const ds_source *src, const char *instance,
                   char *err, size_t errlen);

/* For stats: adds "class_names": [...] to @obj when the format names its
 * classes, and for encoded datasets the storage and the decode fault
 * counts. */
void ds_describe_images_json(const ds_dataset *ds, json_object *obj);

/* For `mixupd --check`: what an image dataset holds, for people (files by
 * format, sizes, bytes, samples per class). Nothing for arrays. */
void ds_describe_images_text(const ds_dataset *ds, FILE *out);

/* The path of encoded sample @i. */
static inline const char *ds_path(const ds_dataset *ds, uint64_t i)
{
    return ds->paths + ds->files[i].path;
}

/* Parse "npy" / "idx" / "cifar" / "folder" / "list" / "pack" / "tar";
 * return it or 0. */
ds_format ds_format_parse(const char *name);
const char *ds_format_name(ds_format f);

#endif
