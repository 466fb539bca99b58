/*
 * dump.c — see dump.h.
 */
#include "dump.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct spec {
    const char *name, *descr;
    size_t item;
    uint64_t shape[5];
    int nd;
} spec;

static int add(dump_writer *d, const char *dir, const spec *s, char *path,
               size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", dir, s->name);
    int rc = npy_writer_open(&d->files[d->n], path, s->descr, s->item,
                             s->shape, s->nd);
    if (rc == 0)
        d->n++;
    return rc;
}

static const char *x_descr(const mixup_batch *b)
{
    return b->dtype == MIXUP_FLOAT32 ? "<f4"
           : b->dtype == MIXUP_FLOAT16 ? "<f2"
                                       : "<u2";
}

/* Augmentation files: [R] or [R, 2] (two sources), then the field's own
 * trailing size. */
static int add_aug(dump_writer *d, const char *dir, uint64_t rows, char *path,
                   size_t pathlen)
{
    static const struct { const char *name, *descr; size_t item; uint64_t last; } f[] = {
        {"mix_kind.npy", "|u1", 1, 0},   {"flip.npy", "|u1", 1, 0},
        {"shift.npy", "<f4", 4, 2},      {"crop.npy", "<u4", 4, 2},
        {"erase_box.npy", "<u4", 4, 4},  {"erase_fill.npy", "|u1", 1, 0},
        {"erase_value.npy", "<f4", 4, 4}, {"erase_seed.npy", "<u8", 8, 0},
        {"cutmix_box.npy", "<u4", 4, 4},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        spec s = {f[i].name, f[i].descr, f[i].item, {rows}, 1};
        if (d->augs == 2)
            s.shape[s.nd++] = 2;
        if (f[i].last)
            s.shape[s.nd++] = f[i].last;
        int rc = add(d, dir, &s, path, pathlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int dump_open(dump_writer *d, const char *dir, const mixup_batch *b,
              uint64_t rows, char *path, size_t pathlen)
{
    *d = (dump_writer){.pairs = b->label1 != NULL, .augs = (int)b->aug_per_sample};
    spec x = {"x.npy", x_descr(b), b->dtype == MIXUP_FLOAT32 ? 4 : 2,
              {rows, b->height, b->width, b->channels}, 4};
    if (b->layout == MIXUP_NCHW) {
        x.shape[1] = b->channels;
        x.shape[2] = b->height;
        x.shape[3] = b->width;
    }
    const spec fixed[] = {
        x,
        {"index1.npy", "<i8", 8, {rows}, 1},
        {"index2.npy", "<i8", 8, {rows}, 1},
        {"lam.npy", "<f4", 4, {rows}, 1},
        {"position.npy", "<i8", 8, {rows, 2}, 2},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] && rc == 0; i++)
        rc = add(d, dir, &fixed[i], path, pathlen);
    if (rc == 0 && !d->pairs) {
        spec y = {"y.npy", "<f4", 4, {rows, b->classes}, 2};
        rc = add(d, dir, &y, path, pathlen);
    }
    if (rc == 0 && d->pairs) {
        spec l1 = {"label1.npy", "<i4", 4, {rows}, 1};
        spec l2 = {"label2.npy", "<i4", 4, {rows}, 1};
        rc = add(d, dir, &l1, path, pathlen);
        if (rc == 0)
            rc = add(d, dir, &l2, path, pathlen);
    }
    if (rc == 0 && d->augs)
        rc = add_aug(d, dir, rows, path, pathlen);
    return rc;
}

static int put(npy_writer *w, const void *data, size_t bytes)
{
    return npy_writer_append(w, data, bytes) < 0;
}

static int append_aug(dump_writer *d, int at, const mixup_batch *b)
{
    int bad = 0;
    size_t n = (size_t)b->size * b->aug_per_sample;
    for (size_t r = 0; r < n; r++) {
        const mixup_aug *a = &b->aug[r];
        float shift[2] = {a->shift_dy, a->shift_dx};
        uint32_t crop[2] = {a->crop_y, a->crop_x};
        uint32_t box[4] = {a->erase_y, a->erase_x, a->erase_h, a->erase_w};
        uint32_t cut[4] = {a->cutmix_y0, a->cutmix_y1, a->cutmix_x0,
                           a->cutmix_x1};
        bad |= put(&d->files[at + 0], &a->mix_kind, 1);
        bad |= put(&d->files[at + 1], &a->flip, 1);
        bad |= put(&d->files[at + 2], shift, sizeof shift);
        bad |= put(&d->files[at + 3], crop, sizeof crop);
        bad |= put(&d->files[at + 4], box, sizeof box);
        bad |= put(&d->files[at + 5], &a->erase_fill, 1);
        bad |= put(&d->files[at + 6], a->erase_value, sizeof a->erase_value);
        bad |= put(&d->files[at + 7], &a->erase_noise_seed, 8);
        bad |= put(&d->files[at + 8], cut, sizeof cut);
    }
    return bad;
}

int dump_append(dump_writer *d, const mixup_batch *b)
{
    if ((b->label1 != NULL) != d->pairs || (int)b->aug_per_sample != d->augs)
        return -1;
    size_t B = b->size;
    size_t px = (size_t)b->height * b->width * b->channels;
    const void *x = b->x ? (const void *)b->x : (const void *)b->x_half;
    int bad = put(&d->files[0], x, B * px * (b->x ? 4 : 2));
    bad |= put(&d->files[1], b->index1, B * 8);
    bad |= put(&d->files[2], b->index2, B * 8);
    bad |= put(&d->files[3], b->lam, B * 4);
    for (size_t j = 0; j < B; j++) {
        int64_t pos[2] = {(int64_t)b->epoch, (int64_t)b->index};
        bad |= put(&d->files[4], pos, sizeof pos);
    }
    int at = 5;
    if (!d->pairs) {
        bad |= put(&d->files[at++], b->y, B * b->classes * 4);
    } else {
        bad |= put(&d->files[at++], b->label1, B * 4);
        bad |= put(&d->files[at++], b->label2, B * 4);
    }
    if (d->augs)
        bad |= append_aug(d, at, b);
    return bad ? -1 : 0;
}

int dump_close(dump_writer *d, char *path, size_t pathlen)
{
    int status = 0;
    for (int i = 0; i < d->n; i++)
        if (npy_writer_close(&d->files[i]) < 0 && status == 0) {
            snprintf(path, pathlen, "%s", d->files[i].path);
            status = -1;
        }
    d->n = 0;
    return status;
}
