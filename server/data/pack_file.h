/*
 * pack_file.h — writing a loaded dataset as a pack file, and loading a
 * pack (format = pack) into shared memory or mapping it read-only. The
 * layout and its checks are pack_format.h's; this module does the I/O.
 */
#ifndef SRV_PACK_FILE_H
#define SRV_PACK_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"

/* Called as the data is written: @done of @total bytes. */
typedef void (*pk_progress_fn)(void *ctx, uint64_t done, uint64_t total);

typedef struct pk_write_opts {
    uint32_t align;        /* encoded samples: alignment; 0: a page */
    pk_progress_fn progress; /* or NULL */
    void *ctx;
} pk_write_opts;

/* Write @ds (any loaded dataset) as the pack @path. The file is written
 * under no name (O_TMPFILE; where the filesystem has none, a hidden
 * temporary name in the same folder) and given @path only once complete
 * and synced, so an interrupted pack (a signal: ds_stop_requested, an
 * error, a crash) leaves no file under @path. An existing @path is
 * replaced. Return 0, or MIXUP_EIO / MIXUP_ENOMEM / MIXUP_EINTR /
 * MIXUP_EDATASET with @err naming the file. */
int pk_write(const ds_dataset *ds, const char *path, const pk_write_opts *o,
             char *err, size_t errlen);

/* A progress line with an ETA on standard error (@ctx: the file's name),
 * redrawn at most ten times a second; for pk_write_opts.progress. */
void pk_progress_tty(void *ctx, uint64_t done, uint64_t total);

#endif
