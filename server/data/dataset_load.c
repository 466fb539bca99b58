/*
 * dataset_load.c — ds_load() (dataset.h): picks the loader for the
 * configured format. It sits on top of the store (dataset.c) and the
 * loaders (dataset_npy.c, dataset_idx.c, dataset_cifar.c,
 * dataset_image.c, dataset_tar.c, pack_file.c), which use the store and never call back up here.
 */
#include "dataset.h"

#include <stdio.h>
#include <string.h>

#include "dataset_internal.h"
#include "mixup_errors.h"

static const ds_loader *loader_for(ds_format f)
{
    switch (f) {
    case DS_NPY: return &ds_loader_npy;
    case DS_IDX: return &ds_loader_idx;
    case DS_CIFAR: return &ds_loader_cifar;
    case DS_FOLDER:
    case DS_LIST:
    case DS_PACK:
    case DS_TAR: return NULL;
    }
    return NULL;
}

int ds_load(ds_dataset *ds, const ds_source *src, const char *instance,
            char *err, size_t errlen)
{
    memset(ds, 0, sizeof *ds);
    if (src->format == DS_FOLDER || src->format == DS_LIST)
        return ds_load_images(ds, src, instance, err, errlen);
    if (src->format == DS_PACK)
        return ds_load_pack(ds, src, instance, err, errlen);
    if (src->format == DS_TAR)
        return ds_load_tar(ds, src, instance, err, errlen);
    const ds_loader *ld = loader_for(src->format);
    if (!ld) {
        snprintf(err, errlen, "dataset.format %d: expected npy, idx or cifar",
                 (int)src->format);
        return MIXUP_EINVAL;
    }
    if (!src->images || !*src->images ||
        (src->format != DS_CIFAR && (!src->labels || !*src->labels))) {
        snprintf(err, errlen, "dataset: format %s needs %s",
                 ds_format_name(src->format),
                 src->format == DS_CIFAR ? "images" : "images and labels");
        return MIXUP_EINVAL;
    }
    void *st = NULL;
    ds_probe p = {0};
    int rc = ld->probe(src, &st, &p, err, errlen);
    if (rc < 0)
        return rc;
    rc = ds_load_probed(ds, ld, st, &p, src, instance, err, errlen);
    ld->close(st);
    if (rc < 0)
        ds_unload(ds);
    return rc;
}
