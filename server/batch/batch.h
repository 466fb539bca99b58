/*
 * batch.h — build one batch reply, in place, from the dataset.
 *
 * bat_build() is the whole pipeline for one batch — sampler draws, mixing,
 * augmentation, normalisation, output conversion, labels — writing a
 * complete BATCH reply message (proto.h) into a caller's buffer. It is a
 * pure function of (dataset, plan, order, k), so any worker may run it and
 * the bytes never depend on which one did.
 *
 * Per sample, in this order:
 *   order = after_mix (default):  mix (mixup lerp, CutMix paste, or the
 *                                 first sample alone), then augment
 *   order = before_mix:           augment each source, then mix
 *   augment = pad-and-crop, shift (Keras), flip, random erasing, each
 *             drawing from its own Philox stream of (seed, epoch, k, s),
 *             s = j for the sample (before_mix: j and B + j for the two
 *             sources); then normalisation (always last); then conversion
 *             to the output dtype and layout.
 * Encoded image datasets (format = folder | list, storage = encoded):
 * each source image is decoded and cropped / resized to the output size
 * first (geometry.h; the crop of index1 draws from PRNG_RRC stream j, of
 * index2 from stream B + j), then everything above applies; the crop boxes
 * and decode scales go in each of the sample's records (src_box,
 * src_scale). A file that fails to decode is served as zeros (one that
 * decodes with warnings as the decoder left it), counted in ds->faults and
 * its path logged once: a worker never stops on a bad file.
 * Every drawn parameter is recorded in the reply (mxp_aug records, proto.h), so a
 * batch can be rebuilt from the dataset and its provenance alone.
 */
#ifndef SRV_BATCH_H
#define SRV_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "augment.h"
#include "config.h"
#include "convert.h"
#include "dataset.h"
#include "geometry.h"
#include "jsonw.h"
#include "proto.h"
#include "sampler.h"

typedef struct bat_plan {
    const ds_dataset *ds;
    uint32_t h, w, c;         /* one sample: the dataset's images, or for an
                                 encoded dataset [output] height x width */
    geo_settings geo;         /* encoded: crop / resize to h x w */
    smp_settings smp;
    float scale;              /* applied to source pixels: 1/255 for uint8 */
    int before_mix;           /* augment the sources, then mix */
    int flip_on, shift_on, crop_on, erase_on, norm_on;
    aug_flip_settings flip;
    aug_shift_settings shift;
    aug_crop_settings crop;
    aug_erase_settings erase;
    aug_normalize_settings norm;
    float smoothing;          /* label smoothing epsilon */
    int pairs;                /* labels = pairs: label1/label2, no y */
    cvt_dtype dtype;
    cvt_layout out_layout;
    int fast;                 /* the seed's pipeline: mix straight into x */
    mxp_batch_shape shape;
    mxp_batch_layout layout;  /* layout.total = bytes of one reply */
    size_t scratch_bytes;     /* what bat_build_with() needs */
} bat_plan;

/* The seed's pipeline: mixup with Beta(alpha, alpha), nothing else.
 * Return 0, or MIXUP_ECONFIG when the dataset holds fewer samples than one
 * batch takes, or MIXUP_ETOOBIG when one reply would exceed 4 GiB; @err
 * says which. */
int bat_plan_init(bat_plan *plan, const ds_dataset *ds, uint32_t batch_size,
                  double alpha, int shuffle, char *err, size_t errlen);

/* The pipeline the configuration describes ([batch], [augment],
 * [output]). Return 0 or MIXUP_ECONFIG / MIXUP_ETOOBIG with @err naming
 * the key and what was expected. */
int bat_plan_from_config(bat_plan *plan, const ds_dataset *ds,
                         const cfg_config *cfg, char *err, size_t errlen);

/* Write batch @k of @order's epoch as a BATCH reply into @msg
 * (plan->layout.total bytes), using @scratch (plan->scratch_bytes,
 * 64-byte aligned). The request id is 0 until the reply is sent. */
void bat_build_with(const bat_plan *plan, const smp_order *order, uint64_t k,
                    uint64_t stream_id, uint8_t *msg, void *scratch);

/* The same, allocating the scratch (tests). Aborts if memory runs out. */
void bat_build(const bat_plan *plan, const smp_order *order, uint64_t k,
               uint64_t stream_id, uint8_t *msg);

/* Describe the pipeline (everything needed, besides the dataset and the
 * records, to rebuild a batch) as a JSON object (jsonw.h), for stats;
 * NULL when out of memory. */
json_object *bat_describe_json(const bat_plan *plan);

#endif
