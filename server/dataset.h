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

#include "shm.h"

#define DS_MAX_CLASSES 65536u

typedef enum ds_format { DS_NPY = 1, DS_IDX = 2, DS_CIFAR = 3 } ds_format;
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
} ds_source;

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

/* Parse "npy" / "idx" / "cifar"; return the format or 0. */
ds_format ds_format_parse(const char *name);
const char *ds_format_name(ds_format f);

#endif
