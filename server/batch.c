/*
 * batch.c — see batch.h.
 */
#include "batch.h"

#include <stdio.h>

#include "kernels.h"

int bat_plan_init(bat_plan *plan, const ds_dataset *ds, uint32_t batch_size,
                  double alpha, int shuffle, char *err, size_t errlen)
{
    plan->ds = ds;
    plan->smp.n = ds->n;
    plan->smp.batch_size = batch_size;
    plan->smp.alpha = alpha;
    plan->smp.shuffle = shuffle;
    plan->scale = ds->dtype == DS_U8 ? 1.0f / 255.0f : 1.0f;
    if (smp_batches_per_epoch(&plan->smp) == 0) {
        snprintf(err, errlen,
                 "batch.size = %u needs at least %llu samples per epoch "
                 "(2 x batch size), the dataset has %llu",
                 batch_size, 2ull * batch_size, (unsigned long long)ds->n);
        return MIXUP_ECONFIG;
    }
    plan->shape = (mxp_batch_shape){
        .size = batch_size,
        .height = ds->h,
        .width = ds->w,
        .channels = ds->c,
        .classes = ds->classes,
        .dtype = MIXUP_FLOAT32,
        .layout = MIXUP_NHWC,
    };
    int rc = mxp_batch_layout_compute(&plan->shape, &plan->layout);
    if (rc < 0) {
        snprintf(err, errlen,
                 "a batch of %u samples of %ux%ux%u would not fit one "
                 "message (4 GiB at most)",
                 batch_size, ds->h, ds->w, ds->c);
        return MIXUP_ETOOBIG;
    }
    return 0;
}

static void mix_labels(const ds_dataset *ds, float *row, int64_t i1,
                       int64_t i2, float lam)
{
    if (ds->soft_labels)
        krn_mix_rows(row, ds->label_rows + (size_t)i1 * ds->classes,
                     ds->label_rows + (size_t)i2 * ds->classes, ds->classes,
                     lam);
    else
        krn_mix_onehot(row, ds->classes, ds->labels[i1], ds->labels[i2], lam);
}

void bat_build(const bat_plan *plan, const smp_order *order, uint64_t k,
               uint64_t stream_id, uint8_t *msg)
{
    const mxp_batch_layout *L = &plan->layout;
    const ds_dataset *ds = plan->ds;
    mxp_encode_batch_head(msg, 0, stream_id, order->epoch, k, &plan->shape,
                          L);
    int64_t *index1 = (int64_t *)(void *)(msg + L->index1);
    int64_t *index2 = (int64_t *)(void *)(msg + L->index2);
    float *lam = (float *)(void *)(msg + L->lam);
    float *x = (float *)(void *)(msg + L->x);
    float *y = (float *)(void *)(msg + L->y);
    smp_batch_draws(&plan->smp, order, k, index1, index2, lam);

    size_t per = (size_t)ds->h * ds->w * ds->c;
    for (uint32_t j = 0; j < plan->shape.size; j++) {
        float *out = x + j * per;
        if (ds->dtype == DS_U8) {
            const uint8_t *img = ds->images;
            krn_mix_u8(out, img + index1[j] * per, img + index2[j] * per, per,
                       lam[j], plan->scale);
        } else {
            const float *img = ds->images;
            krn_mix_f32(out, img + index1[j] * per, img + index2[j] * per, per,
                        lam[j]);
        }
        mix_labels(ds, y + (size_t)j * ds->classes, index1[j], index2[j],
                   lam[j]);
    }
}
