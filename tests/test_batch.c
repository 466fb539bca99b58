/*
 * test_batch.c — a whole batch built in place, checked value by value
 * against a reference computed here from the batch's own provenance.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"

enum { N = 50, H = 3, W = 2, C = 2, K = 4 };

static uint8_t images_u8[N * H * W * C];
static float images_f32[N * H * W * C];
static int32_t labels[N];
static float rows[N * K];

static ds_dataset make_ds(int f32, int soft)
{
    for (int i = 0; i < N * H * W * C; i++) {
        images_u8[i] = (uint8_t)((i * 37 + 11) % 256);
        images_f32[i] = (float)i * 0.01f - 3.0f;
    }
    for (int i = 0; i < N; i++) {
        labels[i] = i % K;
        for (int c = 0; c < K; c++)
            rows[i * K + c] = c == i % K ? 0.7f : 0.1f;
    }
    ds_dataset ds = {
        .n = N, .h = H, .w = W, .c = C, .classes = K,
        .dtype = f32 ? DS_F32 : DS_U8,
        .soft_labels = soft,
        .images = f32 ? (const void *)images_f32 : (const void *)images_u8,
        .labels = labels,
        .label_rows = rows,
    };
    return ds;
}

static uint8_t *build(const bat_plan *plan, uint64_t seed, uint64_t epoch,
                      uint64_t k, mxp_reply *rep)
{
    smp_order *o = smp_order_new(&plan->smp, seed, epoch);
    uint8_t *msg = malloc(plan->layout.total);
    memset(msg, 0xAA, plan->layout.total);
    bat_build(plan, o, k, 99, msg);
    char err[256];
    int rc = mxp_reply_decode(msg, plan->layout.total, NULL, rep, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(rep->hdr.type, MXP_BATCH_REP);
    /* Provenance matches the epoch order. */
    const int64_t *i1 = (const void *)(msg + plan->layout.index1);
    const int64_t *i2 = (const void *)(msg + plan->layout.index2);
    uint32_t B = plan->smp.batch_size;
    for (uint32_t j = 0; j < B; j++) {
        cr_assert_eq((uint32_t)i1[j], o->index[2 * B * k + j]);
        cr_assert_eq((uint32_t)i2[j], o->index[2 * B * k + B + j]);
    }
    smp_order_unref(o);
    return msg;
}

static void check_values(const ds_dataset *ds, const bat_plan *plan,
                         const uint8_t *msg)
{
    const mxp_batch_layout *L = &plan->layout;
    const int64_t *i1 = (const void *)(msg + L->index1);
    const int64_t *i2 = (const void *)(msg + L->index2);
    const float *lam = (const void *)(msg + L->lam);
    const float *x = (const void *)(msg + L->x);
    const float *y = (const void *)(msg + L->y);
    size_t per = H * W * C;
    for (uint32_t j = 0; j < plan->smp.batch_size; j++) {
        double l = lam[j];
        for (size_t p = 0; p < per; p++) {
            double a, b;
            if (ds->dtype == DS_U8) {
                a = images_u8[i1[j] * per + p] / 255.0;
                b = images_u8[i2[j] * per + p] / 255.0;
            } else {
                a = images_f32[i1[j] * per + p];
                b = images_f32[i2[j] * per + p];
            }
            double ref = l * a + (1 - l) * b;
            cr_assert(fabs(x[j * per + p] - ref) <= 1e-6 * (1 + fabs(ref)),
                      "sample %u px %zu: %.9g vs %.9g", j, p, x[j * per + p], ref);
        }
        double sum = 0;
        for (int c = 0; c < K; c++) {
            double y1, y2;
            if (ds->soft_labels) {
                y1 = rows[i1[j] * K + c];
                y2 = rows[i2[j] * K + c];
            } else {
                y1 = labels[i1[j]] == c;
                y2 = labels[i2[j]] == c;
            }
            double ref = l * y1 + (1 - l) * y2;
            cr_assert(fabs(y[j * K + c] - ref) < 1e-6);
            sum += y[j * K + c];
        }
        cr_assert(fabs(sum - 1.0) < 1e-5);
    }
}

static void run_case(int f32, int soft, double alpha)
{
    ds_dataset ds = make_ds(f32, soft);
    bat_plan plan;
    char err[256];
    cr_assert_eq(bat_plan_init(&plan, &ds, 6, alpha, 1, err, sizeof err), 0);
    cr_assert_eq(smp_batches_per_epoch(&plan.smp), 4u);
    for (uint64_t k = 0; k < 4; k++) {
        mxp_reply rep;
        uint8_t *msg = build(&plan, 1234, 2, k, &rep);
        cr_assert_eq(rep.u.batch.epoch, 2u);
        cr_assert_eq(rep.u.batch.index, k);
        cr_assert_eq(rep.u.batch.shape.size, 6u);
        cr_assert_eq(rep.u.batch.shape.classes, (uint32_t)K);
        check_values(&ds, &plan, msg);
        if (alpha == 0) {
            const float *lam = (const void *)(msg + plan.layout.lam);
            for (int j = 0; j < 6; j++)
                cr_assert_eq(lam[j], 1.0f);
        }
        free(msg);
    }
}

Test(batch, u8_onehot) { run_case(0, 0, 0.2); }
Test(batch, u8_onehot_alpha_1) { run_case(0, 0, 1.0); }
Test(batch, f32_soft_labels) { run_case(1, 1, 0.4); }
Test(batch, alpha_zero_copies_first_sample) { run_case(0, 0, 0.0); }

Test(batch, bytes_are_a_pure_function)
{
    ds_dataset ds = make_ds(0, 0);
    bat_plan plan;
    char err[256];
    cr_assert_eq(bat_plan_init(&plan, &ds, 6, 0.2, 1, err, sizeof err), 0);
    mxp_reply r1, r2;
    uint8_t *a = build(&plan, 5, 1, 3, &r1);
    uint8_t *b = build(&plan, 5, 1, 3, &r2);
    cr_assert_eq(memcmp(a, b, plan.layout.total), 0);
    uint8_t *c = build(&plan, 6, 1, 3, &r2);
    cr_assert_neq(memcmp(a + plan.layout.lam, c + plan.layout.lam, 24), 0);
    free(a);
    free(b);
    free(c);
}

Test(batch, too_small_dataset_is_a_config_error)
{
    ds_dataset ds = make_ds(0, 0);
    bat_plan plan;
    char err[256];
    cr_assert_eq(bat_plan_init(&plan, &ds, 26, 0.2, 1, err, sizeof err),
                 MIXUP_ECONFIG);
    cr_assert(strstr(err, "batch.size = 26"), "%s", err);
}

/* ---- the full pipeline: rebuilt from provenance alone ---- */

#include "augment.h"
#include "config.h"
#include "convert.h"

enum { PN = 60, PH = 6, PW = 5, PC = 3, PK = 4, PB = 7 };
static uint8_t pimg[PN * PH * PW * PC];
static int32_t plab[PN];

static ds_dataset pipeline_ds(void)
{
    for (int i = 0; i < PN * PH * PW * PC; i++)
        pimg[i] = (uint8_t)((i * 53 + 7) % 256);
    for (int i = 0; i < PN; i++)
        plab[i] = (i * 7) % PK;
    return (ds_dataset){.n = PN, .h = PH, .w = PW, .c = PC, .classes = PK,
                        .dtype = DS_U8, .images = pimg, .labels = plab};
}

static void everything_on(cfg_config *cfg, int before_mix)
{
    cfg_defaults(cfg);
    cfg->batch_size = PB;
    cfg->alpha = 0.4;
    cfg->cutmix_alpha = 1.0; /* switch between mixup and CutMix */
    cfg->label_smoothing = 0.1;
    cfg->aug_order = before_mix;
    cfg->flip_horizontal = 0.5;
    cfg->flip_vertical = 0.5;
    cfg->width_shift_range = 0.3; /* sub-pixel shifts */
    cfg->height_shift_range = 0.3;
    cfg->fill_mode = 2;           /* reflect */
    cfg->crop_padding = 2;
    cfg->crop_mode = 1;           /* reflect */
    cfg->erase_prob = 0.7;
    cfg->erase_fill = 2;          /* per-pixel uniform noise */
    snprintf(cfg->normalize_mean, sizeof cfg->normalize_mean, "0.5,0.4,0.3");
    snprintf(cfg->normalize_std, sizeof cfg->normalize_std, "0.2,0.25,0.3");
}

static uint8_t *build_k(const bat_plan *plan, uint64_t k, mxp_reply *rep)
{
    smp_order *o = smp_order_new(&plan->smp, 5, 1);
    uint8_t *msg = malloc(plan->layout.total);
    bat_build(plan, o, k, 3, msg);
    char err[256];
    cr_assert_eq(mxp_reply_decode(msg, plan->layout.total, NULL, rep, err, sizeof err), 0, "%s", err);
    smp_order_unref(o);
    return msg;
}

static void load_ref(int64_t i, float s, float *dst)
{
    for (int p = 0; p < PH * PW * PC; p++)
        dst[p] = s * (float)pimg[i * PH * PW * PC + p];
}

/* Apply what a record says, with nothing drawn. */
static void replay_aug(const bat_plan *plan, const mxp_aug *r, float *img)
{
    float tmp[PH * PW * PC];
    aug_crop_params cp = {r->crop_y, r->crop_x};
    aug_crop_apply(tmp, img, PH, PW, PC, &plan->crop, &cp);
    memcpy(img, tmp, sizeof tmp);
    aug_shift_params sp = {r->shift_dy, r->shift_dx};
    aug_shift_apply(tmp, img, PH, PW, PC, &plan->shift, &sp);
    memcpy(img, tmp, sizeof tmp);
    aug_flip_params fp = {r->flip & 1, (r->flip >> 1) & 1};
    aug_flip_apply(img, PH, PW, PC, &fp);
    aug_erase_params ep = {.y = r->erase_y, .x = r->erase_x, .h = r->erase_h,
                           .w = r->erase_w, .fill = r->erase_fill,
                           .noise_seed = r->erase_noise_seed};
    memcpy(ep.value, r->erase_value, sizeof ep.value);
    aug_erase_apply(img, PH, PW, PC, &plan->erase, &ep);
}

static void replay_mix(const mxp_aug *r, float lam, float *a, const float *b,
                       float *out)
{
    if (r->mix_kind == MIXUP_KIND_MIXUP) {
        for (int p = 0; p < PH * PW * PC; p++)
            out[p] = lam * a[p] + (1.0f - lam) * b[p];
    } else {
        if (r->mix_kind == MIXUP_KIND_CUTMIX)
            for (uint32_t y = r->cutmix_y0; y < r->cutmix_y1; y++)
                for (uint32_t x = r->cutmix_x0; x < r->cutmix_x1; x++)
                    for (int c = 0; c < PC; c++)
                        a[(y * PW + x) * PC + c] = b[(y * PW + x) * PC + c];
        memcpy(out, a, sizeof(float) * PH * PW * PC);
    }
}

static void check_rebuilt(int before_mix)
{
    ds_dataset ds = pipeline_ds();
    cfg_config cfg;
    everything_on(&cfg, before_mix);
    bat_plan plan;
    char err[256];
    cr_assert_eq(bat_plan_from_config(&plan, &ds, &cfg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(plan.layout.aug_count, (size_t)PB * (before_mix ? 2 : 1));
    const float s = 1.0f / 255.0f;
    int kinds[3] = {0}, flips = 0, erased = 0, shifted = 0;
    for (uint64_t k = 0; k < 4; k++) {
        mxp_reply rep;
        uint8_t *msg = build_k(&plan, k, &rep);
        const mxp_batch_layout *L = &plan.layout;
        /* The records as a client reads them: decoded from the wire. */
        mxp_aug rec[2 * PB];
        for (size_t i = 0; i < L->aug_count; i++)
            mxp_aug_decode(msg + L->aug + i * MXP_AUG_RECORD, &rec[i]);
        const int64_t *i1 = (const void *)(msg + L->index1);
        const int64_t *i2 = (const void *)(msg + L->index2);
        const float *lam = (const void *)(msg + L->lam);
        const float *x = (const void *)(msg + L->x);
        for (int j = 0; j < PB; j++) {
            float a[PH * PW * PC], b[PH * PW * PC], out[PH * PW * PC];
            const mxp_aug *r = before_mix ? &rec[2 * j] : &rec[j];
            load_ref(i1[j], s, a);
            load_ref(i2[j], s, b);
            if (before_mix) {
                replay_aug(&plan, &rec[2 * j], a);
                if (r->mix_kind != MIXUP_KIND_NONE)
                    replay_aug(&plan, &rec[2 * j + 1], b);
                replay_mix(r, lam[j], a, b, out);
            } else {
                replay_mix(r, lam[j], a, b, out);
                replay_aug(&plan, r, out);
            }
            aug_normalize_apply(out, PH * PW, PC, &plan.norm);
            cr_assert_eq(memcmp(out, x + j * PH * PW * PC, sizeof out), 0,
                         "batch %llu sample %d (kind %u) differs from its "
                         "provenance", (unsigned long long)k, j, r->mix_kind);
            kinds[r->mix_kind]++;
            flips += r->flip != 0;
            erased += r->erase_fill != 0;
            shifted += r->shift_dy != 0 || r->shift_dx != 0;
        }
        free(msg);
    }
    /* The check covered every kind of draw. */
    cr_assert(kinds[MIXUP_KIND_MIXUP] > 0 && kinds[MIXUP_KIND_CUTMIX] > 0);
    cr_assert(flips > 0 && erased > 0 && shifted > 0);
}

Test(pipeline, after_mix_batches_rebuild_from_provenance) { check_rebuilt(0); }
Test(pipeline, before_mix_batches_rebuild_from_provenance) { check_rebuilt(1); }

Test(pipeline, smoothed_labels_sum_to_one)
{
    ds_dataset ds = pipeline_ds();
    cfg_config cfg;
    everything_on(&cfg, 0);
    bat_plan plan;
    char err[256];
    cr_assert_eq(bat_plan_from_config(&plan, &ds, &cfg, err, sizeof err), 0, "%s", err);
    mxp_reply rep;
    uint8_t *msg = build_k(&plan, 2, &rep);
    const float *y = (const void *)(msg + plan.layout.y);
    const float *lam = (const void *)(msg + plan.layout.lam);
    const int64_t *i1 = (const void *)(msg + plan.layout.index1);
    const int64_t *i2 = (const void *)(msg + plan.layout.index2);
    for (int j = 0; j < PB; j++) {
        double sum = 0;
        for (int c = 0; c < PK; c++) {
            double t1 = 0.9 * (plab[i1[j]] == c) + 0.1 / PK;
            double t2 = 0.9 * (plab[i2[j]] == c) + 0.1 / PK;
            double ref = lam[j] * t1 + (1 - lam[j]) * t2;
            cr_assert(fabs(y[j * PK + c] - ref) < 1e-6);
            cr_assert_geq(y[j * PK + c], 0.1f / PK - 1e-7f);
            sum += y[j * PK + c];
        }
        cr_assert(fabs(sum - 1.0) < 1e-6, "row %d sums to %.9g", j, sum);
    }
    free(msg);
}

Test(pipeline, pairs_match_mixed_loss_algebra)
{
    ds_dataset ds = pipeline_ds();
    cfg_config cfg;
    cfg_defaults(&cfg);
    cfg.batch_size = PB;
    cfg.alpha = 1.0;
    bat_plan mixed, pairs;
    char err[256];
    cr_assert_eq(bat_plan_from_config(&mixed, &ds, &cfg, err, sizeof err), 0);
    cfg.label_mode = 1;
    cr_assert_eq(bat_plan_from_config(&pairs, &ds, &cfg, err, sizeof err), 0);
    cr_assert_eq(pairs.layout.y, 0u);
    cr_assert_lt(pairs.layout.total, mixed.layout.total);
    mxp_reply r1, r2;
    uint8_t *m = build_k(&mixed, 1, &r1), *p = build_k(&pairs, 1, &r2);
    const float *y = (const void *)(m + mixed.layout.y);
    const float *lam = (const void *)(p + pairs.layout.lam);
    const int32_t *l1 = (const void *)(p + pairs.layout.label1);
    const int32_t *l2 = (const void *)(p + pairs.layout.label2);
    cr_assert_eq(memcmp(m + mixed.layout.x, p + pairs.layout.x, mixed.layout.x_bytes), 0);
    for (int j = 0; j < PB; j++) {
        double logp[PK];
        for (int c = 0; c < PK; c++)
            logp[c] = -0.3 * (c + 1) - 0.1 * j; /* any log-probabilities */
        double ce_mixed = 0;
        for (int c = 0; c < PK; c++)
            ce_mixed -= y[j * PK + c] * logp[c];
        double ce_pairs = -(lam[j] * logp[l1[j]] + (1 - lam[j]) * logp[l2[j]]);
        cr_assert(fabs(ce_mixed - ce_pairs) < 1e-5, "sample %d: %.9g vs %.9g", j,
                  ce_mixed, ce_pairs);
    }
    free(m);
    free(p);
}

Test(pipeline, nchw_and_half_precision_are_conversions_of_float32)
{
    ds_dataset ds = pipeline_ds();
    cfg_config cfg;
    everything_on(&cfg, 0);
    bat_plan f32, nchw, f16, bf16;
    char err[256];
    cr_assert_eq(bat_plan_from_config(&f32, &ds, &cfg, err, sizeof err), 0);
    cfg.out_layout = 1;
    cr_assert_eq(bat_plan_from_config(&nchw, &ds, &cfg, err, sizeof err), 0);
    cfg.out_layout = 0;
    cfg.out_dtype = 1;
    cr_assert_eq(bat_plan_from_config(&f16, &ds, &cfg, err, sizeof err), 0);
    cfg.out_dtype = 2;
    cr_assert_eq(bat_plan_from_config(&bf16, &ds, &cfg, err, sizeof err), 0);
    mxp_reply r;
    uint8_t *a = build_k(&f32, 3, &r), *b = build_k(&nchw, 3, &r);
    uint8_t *c = build_k(&f16, 3, &r), *d = build_k(&bf16, 3, &r);
    cr_assert_eq(r.u.batch.shape.dtype, MIXUP_BFLOAT16);
    const float *x = (const void *)(a + f32.layout.x);
    const float *xt = (const void *)(b + nchw.layout.x);
    const uint16_t *h = (const void *)(c + f16.layout.x);
    const uint16_t *bh = (const void *)(d + bf16.layout.x);
    for (int j = 0; j < PB; j++)
        for (int y = 0; y < PH; y++)
            for (int xx = 0; xx < PW; xx++)
                for (int ch = 0; ch < PC; ch++) {
                    size_t nhwc = ((size_t)(j * PH + y) * PW + xx) * PC + ch;
                    size_t chw = ((size_t)(j * PC + ch) * PH + y) * PW + xx;
                    cr_assert_eq(xt[chw], x[nhwc]);
                    cr_assert_eq(h[nhwc], cvt_f16_from_f32(x[nhwc]));
                    cr_assert_eq(bh[nhwc], cvt_bf16_from_f32(x[nhwc]));
                }
    free(a);
    free(b);
    free(c);
    free(d);
}

Test(pipeline, bad_settings_name_the_key)
{
    ds_dataset ds = pipeline_ds();
    cfg_config cfg;
    cfg_defaults(&cfg);
    cfg.batch_size = PB;
    snprintf(cfg.normalize_mean, sizeof cfg.normalize_mean, "0.5,0.5");
    snprintf(cfg.normalize_std, sizeof cfg.normalize_std, "0.2,0.2,0.2");
    bat_plan plan;
    char err[256];
    cr_assert_eq(bat_plan_from_config(&plan, &ds, &cfg, err, sizeof err), MIXUP_ECONFIG);
    cr_assert(strstr(err, "augment.normalize_mean"), "%s", err);
    cr_assert(strstr(err, "3 comma-separated"), "%s", err);
}

/* batch.drop_last = false: the last batch of 60 = 8 x 7 + 4 samples is a
 * complete reply of 4, smaller than the plan's (the slot's) size; it
 * needs B samples per batch, so disjoint pairs are refused. */
Test(batch, keep_last_builds_the_partial_last_batch)
{
    ds_dataset ds = pipeline_ds();
    static cfg_config cfg;
    cfg_defaults(&cfg);
    cfg.batch_size = PB;
    cfg.drop_last = 0;
    bat_plan plan;
    char err[256] = "";
    cr_assert_eq(bat_plan_from_config(&plan, &ds, &cfg, err, sizeof err),
                 MIXUP_ECONFIG);
    cr_assert(strstr(err, "batch.drop_last = false needs batch.mix = none"),
              "%s", err);
    cfg.mix = 3; /* none */
    cfg.shuffle = 0;
    cr_assert_eq(bat_plan_from_config(&plan, &ds, &cfg, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(smp_batches_per_epoch(&plan.smp), 9u);
    smp_order *o = smp_order_new(&plan.smp, 5, 0);
    uint8_t *msg = calloc(1, plan.layout.total);
    bat_build(&plan, o, 8, 1, msg);
    size_t size = mxp_message_size(msg);
    cr_assert(size < plan.layout.total);
    mxp_reply rep;
    cr_assert_eq(mxp_reply_decode(msg, size, NULL, &rep, err, sizeof err), 0,
                 "%s", err);
    cr_assert_eq(rep.u.batch.shape.size, 4u);
    const int64_t *i1 = (const void *)(msg + rep.u.batch.layout.index1);
    const float *y = (const void *)(msg + rep.u.batch.layout.y);
    for (int j = 0; j < 4; j++) {
        cr_assert_eq(i1[j], 56 + j);
        cr_assert_eq(y[j * PK + plab[56 + j]], 1.0f);
    }
    free(msg);
    smp_order_unref(o);
}
