/*
 * mapped.h — a dataset served from a file mapping (storage = mapped):
 * read-ahead along the epoch's order, and what the page cache holds, so
 * that a user sees when the disk is the limit.
 */
#ifndef SRV_MAPPED_H
#define SRV_MAPPED_H

#include <stdint.h>
#include <stdio.h>

#include "dataset.h"
#include "jsonw.h"

/* Ask the kernel to start reading samples @idx[0..count) of a mapped
 * dataset (madvise MADV_WILLNEED: asynchronous, the caller does not wait
 * for the disk). Nothing for a dataset in shared memory. Thread-safe. */
void ds_willneed(const ds_dataset *ds, const uint32_t *idx, uint64_t count);

/* The same for the consecutive samples [@first, @first + @count): one
 * contiguous range of the file, read in large requests. */
void ds_willneed_range(const ds_dataset *ds, uint64_t first, uint64_t count);

/* Page-cache residency of a mapped dataset: of @samples pages spread
 * evenly over the data (mincore), how many are resident. */
double ds_resident_fraction(const ds_dataset *ds, uint32_t samples);

/* Stats of a mapped dataset, member "mapped" of @obj: resident fraction
 * (mincore over 1024 pages), the process's bytes read from storage
 * (/proc/self/io read_bytes) and their rate since the previous call.
 * Loop thread only (the rate's previous sample is kept here). Nothing
 * for a dataset in shared memory. */
void ds_describe_mapped_json(const ds_dataset *ds, json_object *obj);

/* The process's bytes read from storage so far (/proc/self/io
 * read_bytes), or -1 where the kernel does not say. */
int64_t ds_read_bytes(void);

#endif
