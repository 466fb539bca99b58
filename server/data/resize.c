/*
 * resize.c — see resize.h.
 */
#include "resize.h"

#include <math.h>

static double filter_scale(double box_len, uint32_t n)
{
    double s = box_len / n;
    return s < 1.0 ? 1.0 : s;
}

uint32_t rsz_ksize(double box_len, uint32_t n)
{
    return (uint32_t)ceil(filter_scale(box_len, n)) * 2 + 1;
}

size_t rsz_axis_floats(uint32_t max_len, uint32_t n)
{
    return (size_t)rsz_ksize(max_len, n) * n;
}

static double triangle(double x)
{
    x = x < 0 ? -x : x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

void rsz_axis_init(rsz_axis *a, uint32_t in_len, double box0, double box_len,
                   uint32_t n)
{
    double scale = box_len / n, fs = filter_scale(box_len, n);
    double support = fs, ss = 1.0 / fs;
    a->n = n;
    a->ksize = rsz_ksize(box_len, n);
    for (uint32_t x = 0; x < n; x++) {
        double center = box0 + (x + 0.5) * scale;
        double lo = center - support + 0.5, hi = center + support + 0.5;
        int64_t xmin = lo < 0 ? 0 : (int64_t)lo;
        int64_t xmax = hi > in_len ? in_len : (int64_t)hi;
        if (xmax < xmin)
            xmax = xmin;
        if (xmax - xmin > a->ksize)
            xmax = xmin + a->ksize;
        float *k = a->w + (size_t)x * a->ksize;
        double ww = 0, tap[64 + 1];
        double *t = a->ksize <= 64 ? tap : NULL;
        uint32_t cnt = (uint32_t)(xmax - xmin);
        for (uint32_t i = 0; i < cnt; i++) {
            double v = triangle((i + xmin - center + 0.5) * ss);
            if (t)
                t[i] = v;
            else
                k[i] = (float)v;
            ww += v;
        }
        for (uint32_t i = 0; i < cnt; i++) {
            double v = t ? t[i] : k[i];
            k[i] = (float)(ww != 0.0 ? v / ww : v);
        }
        for (uint32_t i = cnt; i < a->ksize; i++)
            k[i] = 0.0f;
        a->first[x] = (uint32_t)xmin;
        a->count[x] = cnt;
    }
}

/* Rows [y0, y1) of the source, filtered along x into tmp (absolute rows).
 * Each channel's sum runs over the taps in order, whatever the channel
 * count: the RGB case only keeps the three sums in registers (the same
 * bytes as the general loop, about twice as fast). */
static void pass_rows(float *tmp, const uint8_t *src, size_t stride,
                      uint32_t y0, uint32_t y1, uint32_t c,
                      const rsz_axis *ax)
{
    for (uint32_t y = y0; y < y1; y++) {
        const uint8_t *row = src + y * stride;
        float *o = tmp + (size_t)y * ax->n * c;
        for (uint32_t x = 0; x < ax->n; x++) {
            const float *k = ax->w + (size_t)x * ax->ksize;
            const uint8_t *p = row + (size_t)ax->first[x] * c;
            uint32_t n = ax->count[x];
            if (c == 3) {
                float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f;
                for (uint32_t i = 0; i < n; i++) {
                    s0 += k[i] * (float)p[3 * i];
                    s1 += k[i] * (float)p[3 * i + 1];
                    s2 += k[i] * (float)p[3 * i + 2];
                }
                o[3 * x] = s0;
                o[3 * x + 1] = s1;
                o[3 * x + 2] = s2;
                continue;
            }
            for (uint32_t ch = 0; ch < c; ch++) {
                float s = 0.0f;
                for (uint32_t i = 0; i < n; i++)
                    s += k[i] * (float)p[i * c + ch];
                o[x * c + ch] = s;
            }
        }
    }
}

void rsz_resample_u8(float *out, const uint8_t *src, size_t src_stride,
                     uint32_t in_h, uint32_t c, const rsz_axis *ax,
                     const rsz_axis *ay, float mul, float *tmp)
{
    uint32_t y0 = ay->first[0];
    uint32_t y1 = ay->first[ay->n - 1] + ay->count[ay->n - 1];
    if (y1 > in_h)
        y1 = in_h;
    pass_rows(tmp, src, src_stride, y0, y1, c, ax);
    size_t row = (size_t)ax->n * c;
    for (uint32_t y = 0; y < ay->n; y++) {
        const float *k = ay->w + (size_t)y * ay->ksize;
        float *o = out + (size_t)y * row;
        for (size_t i = 0; i < row; i++)
            o[i] = 0.0f;
        for (uint32_t t = 0; t < ay->count[y]; t++) {
            const float *r = tmp + (size_t)(ay->first[y] + t) * row;
            float kt = k[t];
            for (size_t i = 0; i < row; i++)
                o[i] += kt * r[i];
        }
        for (size_t i = 0; i < row; i++)
            o[i] *= mul;
    }
}
