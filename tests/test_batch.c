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
