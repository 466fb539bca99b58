/*
 * npy_write.h — write NumPy .npy files (format 1.0) incrementally: the
 * shape is declared up front and the data appended in pieces.
 */
#ifndef NPY_WRITE_H
#define NPY_WRITE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct npy_writer {
    FILE *f;
    uint64_t expected, written; /* data bytes */
    char path[1024];
} npy_writer;

/* @descr: "<f4", "<i8", ... ; @itemsize its size. Return 0 or -errno. */
int npy_writer_open(npy_writer *w, const char *path, const char *descr,
                    size_t itemsize, const uint64_t *shape, int ndim);
int npy_writer_append(npy_writer *w, const void *data, size_t bytes);
/* Return 0, or -EIO when fewer bytes than the shape needs were written. */
int npy_writer_close(npy_writer *w);

#endif
