/*
 * dataset_image_scan.h — the files of an image dataset and their labels,
 * found before anything is read (dataset_image_scan.c); the loader
 * (dataset_image.c) then reads, checks and stores them.
 */
#ifndef SRV_DATASET_IMAGE_SCAN_H
#define SRV_DATASET_IMAGE_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "image.h"

typedef struct entry {
    size_t path;     /* offset in the names buffer */
    int32_t label;
    uint64_t size;   /* bytes of the file */
    img_info info;
    int bad;
} entry;

typedef struct scan {
    entry *e;
    size_t n, cap;
    char *names;     /* paths, NUL-terminated */
    size_t names_len, names_cap;
    char *classes;   /* class names, NUL-terminated, in index order */
    size_t classes_len;
    uint32_t n_classes;
    uint64_t skipped; /* not images (folder), bad files */
} scan;

/* Every class folder of @dir and its images, classes sorted by name and
 * numbered from 0, files sorted by name. 0, or a MIXUP_E* code with @err
 * naming the folder. */
int dsi_scan_folder(scan *s, const char *dir, char *err, size_t errlen);
/* The entries of the list file src->images, relative paths taken from
 * src->root (or the list's folder). 0, or a MIXUP_E* code with @err. */
int dsi_scan_list(scan *s, const ds_source *src, char *err, size_t errlen);
void dsi_scan_free(scan *s);

/* Read @size bytes from @fd into @dst (retrying short reads). 0, or -1
 * with errno set (0 at an early end). */
int dsi_read_fd(int fd, uint8_t *dst, uint64_t size);

#endif
