/*
 * batch.h — build one batch reply, in place, from the dataset.
 *
 * bat_build() is the whole pipeline for one batch — sampler draws, then
 * the kernels — writing a complete BATCH reply message (proto.h) into a
 * caller's buffer. It is a pure function of (dataset, plan, order, k), so
 * any worker may run it and the bytes never depend on which one did.
 */
#ifndef SRV_BATCH_H
#define SRV_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "proto.h"
#include "sampler.h"

typedef struct bat_plan {
    const ds_dataset *ds;
    smp_settings smp;
    float scale;              /* applied to uint8 pixels: 1/255 */
    mxp_batch_shape shape;
    mxp_batch_layout layout;  /* layout.total = bytes of one reply */
} bat_plan;

/* Derive the plan for batches of @batch_size from @ds.
 * Return 0, or MIXUP_ECONFIG when the dataset holds fewer than 2B samples
 * (no batch at all) or MIXUP_ETOOBIG when one reply would exceed 4 GiB;
 * @err says which. */
int bat_plan_init(bat_plan *plan, const ds_dataset *ds, uint32_t batch_size,
                  double alpha, int shuffle, char *err, size_t errlen);

/* Write batch @k of @order's epoch as a BATCH reply into @msg
 * (plan->layout.total bytes). The request id is 0 until the reply is
 * sent (mxp_set_request_id). */
void bat_build(const bat_plan *plan, const smp_order *order, uint64_t k,
               uint64_t stream_id, uint8_t *msg);

#endif
