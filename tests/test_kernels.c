/*
 * test_kernels.c — the mixing arithmetic against references computed here.
 */
#include <criterion/criterion.h>
#include <math.h>

#include "kernels.h"

Test(kernels, mix_u8_matches_double_reference)
{
    uint8_t a[300], b[300];
    float out[300];
    for (int i = 0; i < 300; i++) {
        a[i] = (uint8_t)(i * 7);
        b[i] = (uint8_t)(255 - i);
    }
    const float lams[] = {0.0f, 0.25f, 0.3141f, 0.5f, 0.999f, 1.0f};
    for (size_t l = 0; l < sizeof lams / sizeof lams[0]; l++) {
        krn_mix_u8(out, a, b, 300, lams[l], 1.0f / 255.0f);
        for (int i = 0; i < 300; i++) {
            double ref = lams[l] * (a[i] / 255.0) + (1.0 - lams[l]) * (b[i] / 255.0);
            cr_assert(fabs(out[i] - ref) < 3e-7, "lam %g i %d: %.9g vs %.9g",
                      lams[l], i, out[i], ref);
            cr_assert(out[i] >= 0.0f && out[i] <= 1.0000001f);
        }
    }
}

Test(kernels, mix_u8_exact_at_the_ends)
{
    uint8_t a[256], b[256];
    float out[256];
    for (int i = 0; i < 256; i++) {
        a[i] = (uint8_t)i;
        b[i] = (uint8_t)(255 - i);
    }
    const float s = 1.0f / 255.0f;
    krn_mix_u8(out, a, b, 256, 1.0f, s);
    for (int i = 0; i < 256; i++)
        cr_assert_eq(out[i], s * (float)a[i]);
    krn_mix_u8(out, a, b, 256, 0.0f, s);
    for (int i = 0; i < 256; i++)
        cr_assert_eq(out[i], s * (float)b[i]);
    cr_assert_eq(out[0], 1.0f); /* 255 * (1/255) rounds to exactly 1 */
}

Test(kernels, mix_f32)
{
    float a[5] = {1, -2, 3.5f, 0, 100}, b[5] = {0, 2, -3.5f, 1, 50}, out[5];
    krn_mix_f32(out, a, b, 5, 0.75f);
    for (int i = 0; i < 5; i++)
        cr_assert(fabs(out[i] - (0.75 * a[i] + 0.25 * b[i])) < 1e-6);
    cr_assert_eq(out[0], 0.75f);
    cr_assert_eq(out[4], 87.5f);
}

Test(kernels, onehot_rows)
{
    float row[4];
    krn_mix_onehot(row, 4, 1, 3, 0.75f);
    cr_assert_eq(row[0], 0.0f);
    cr_assert_eq(row[1], 0.75f);
    cr_assert_eq(row[2], 0.0f);
    cr_assert_eq(row[3], 0.25f);
    krn_mix_onehot(row, 4, 2, 2, 0.3f);
    cr_assert(fabs(row[2] - 1.0f) < 1e-7);
    cr_assert_eq(row[0] + row[1] + row[3], 0.0f);
}

Test(kernels, soft_rows)
{
    float y1[3] = {0.5f, 0.5f, 0}, y2[3] = {0, 0, 1}, row[3];
    krn_mix_rows(row, y1, y2, 3, 0.5f);
    cr_assert_eq(row[0], 0.25f);
    cr_assert_eq(row[1], 0.25f);
    cr_assert_eq(row[2], 0.5f);
}
