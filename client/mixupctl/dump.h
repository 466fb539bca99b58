/*
 * dump.h — write received batches as NumPy files, one row per sample
 * (mixupctl dump). Which files depend on what the batches carry:
 *
 *   always         x.npy, index1.npy, index2.npy (int64), lam.npy (float32),
 *                  position.npy (int64 [R,2]: epoch, batch index)
 *   labels mixed   y.npy (float32 [R,K])
 *   labels pairs   label1.npy, label2.npy (int32 [R])
 *   augmentation   mix_kind.npy, flip.npy (uint8), shift.npy (float32
 *                  [..,2]: dy, dx), crop.npy (uint32 [..,2]: y, x),
 *                  erase_box.npy (uint32 [..,4]: y, x, h, w),
 *                  erase_fill.npy (uint8), erase_value.npy (float32 [..,4]),
 *                  erase_seed.npy (uint64), cutmix_box.npy (uint32 [..,4]:
 *                  y0, y1, x0, x1) — with a second axis of 2 (one per source
 *                  image) when the daemon augments before mixing
 *
 * x.npy is float32 or float16 as the batch is; bfloat16 has no NumPy
 * dtype, so it is written as uint16 bit patterns ("<u2"): view them with
 * (x.astype(np.uint32) << 16).view(np.float32). NCHW batches give
 * [R,C,H,W], NHWC [R,H,W,C].
 */
#ifndef CTL_DUMP_H
#define CTL_DUMP_H

#include <stdint.h>

#include "mixup.h"
#include "npy_write.h"

enum { DUMP_MAX_FILES = 20 };

typedef struct dump_writer {
    npy_writer files[DUMP_MAX_FILES];
    int n;
    int pairs, augs; /* what the first batch carried */
} dump_writer;

/* Create the files for @rows samples shaped like @first.
 * Return 0, or -errno with @path set to the file that failed. */
int dump_open(dump_writer *d, const char *dir, const mixup_batch *first,
              uint64_t rows, char *path, size_t pathlen);

/* Append one batch. Return 0 or -1 (a write failed, or the batch is not
 * shaped like the first). */
int dump_append(dump_writer *d, const mixup_batch *b);

/* Close every file. Return 0, or -1 with @path set to an incomplete one. */
int dump_close(dump_writer *d, char *path, size_t pathlen);

#endif
