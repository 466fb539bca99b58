/*
 * geometry.c — see geometry.h.
 */
#include "geometry.h"

#include <math.h>
#include <stdlib.h>

int geo_parse_pair(const char *s, double *lo, double *hi)
{
    char *end;
    *lo = strtod(s, &end);
    if (end == s)
        return -1;
    while (*end == ' ')
        end++;
    if (*end != ',')
        return -1;
    s = end + 1;
    *hi = strtod(s, &end);
    if (end == s)
        return -1;
    while (*end == ' ')
        end++;
    return *end ? -1 : 0;
}

void geo_rrc_box(prng_stream *s, const geo_settings *g, uint32_t h,
                 uint32_t w, uint32_t box[4])
{
    double area = (double)h * w;
    double llo = log(g->ratio_lo), lhi = log(g->ratio_hi);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * (g->scale_lo +
                                (g->scale_hi - g->scale_lo) * prng_uniform(s));
        double ar = exp(llo + (lhi - llo) * prng_uniform(s));
        double cw = nearbyint(sqrt(target * ar));
        double ch = nearbyint(sqrt(target / ar));
        if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
            box[2] = (uint32_t)ch;
            box[3] = (uint32_t)cw;
            box[0] = prng_below(s, h - box[2] + 1);
            box[1] = prng_below(s, w - box[3] + 1);
            return;
        }
    }
    double in_ratio = (double)w / h;
    uint32_t cw = w, ch = h;
    if (in_ratio < g->ratio_lo)
        ch = (uint32_t)nearbyint(cw / g->ratio_lo);
    else if (in_ratio > g->ratio_hi)
        cw = (uint32_t)nearbyint(ch * g->ratio_hi);
    ch = ch < 1 ? 1 : ch > h ? h : ch;
    cw = cw < 1 ? 1 : cw > w ? w : cw;
    box[0] = (h - ch) / 2;
    box[1] = (w - cw) / 2;
    box[2] = ch;
    box[3] = cw;
}

void geo_resize_dims(const geo_settings *g, uint32_t h, uint32_t w,
                     uint32_t *rh_out, uint32_t *rw_out, uint32_t *top_out,
                     uint32_t *left_out)
{
    uint32_t rh = g->out_h, rw = g->out_w;
    if (g->resize) {
        if (w <= h) {
            rw = g->resize;
            rh = (uint32_t)((double)g->resize * h / w);
        } else {
            rh = g->resize;
            rw = (uint32_t)((double)g->resize * w / h);
        }
    }
    double top = 0, left = 0;
    if (g->center_crop || g->resize) {
        top = nearbyint(((double)rh - g->out_h) / 2.0);
        left = nearbyint(((double)rw - g->out_w) / 2.0);
    }
    *rh_out = rh;
    *rw_out = rw;
    *top_out = (uint32_t)top;
    *left_out = (uint32_t)left;
}

/* torchvision Resize(int) then CenterCrop(out): one box in the source. */
static void plan_resize(geo_plan *p, const geo_settings *g, uint32_t h,
                        uint32_t w)
{
    uint32_t rh, rw, top_i, left_i;
    geo_resize_dims(g, h, w, &rh, &rw, &top_i, &left_i);
    double top = top_i, left = left_i;
    double sy = (double)h / rh, sx = (double)w / rw;
    p->by = top * sy;
    p->bx = left * sx;
    p->bh = g->out_h * sy;
    p->bw = g->out_w * sx;
    p->clip_y = p->clip_x = 0;
    p->clip_h = h;
    p->clip_w = w;
    /* The provenance box: the source pixels the output covers. */
    double y0 = floor(p->by < 0 ? 0 : p->by), x0 = floor(p->bx < 0 ? 0 : p->bx);
    double y1 = ceil(p->by + p->bh), x1 = ceil(p->bx + p->bw);
    p->y = (uint32_t)y0;
    p->x = (uint32_t)x0;
    p->h = (uint32_t)((y1 > h ? h : y1) - y0);
    p->w = (uint32_t)((x1 > w ? w : x1) - x0);
}

void geo_plan_sample(geo_plan *p, const geo_settings *g, uint64_t seed,
                     uint64_t epoch, uint64_t k, uint32_t sample, uint32_t h,
                     uint32_t w, int jpeg)
{
    if (g->rrc) {
        prng_stream s;
        uint32_t box[4];
        prng_stream_init(&s, seed, PRNG_RRC, epoch, k, sample);
        geo_rrc_box(&s, g, h, w, box);
        p->y = p->clip_y = box[0];
        p->x = p->clip_x = box[1];
        p->h = p->clip_h = box[2];
        p->w = p->clip_w = box[3];
        p->by = box[0];
        p->bx = box[1];
        p->bh = box[2];
        p->bw = box[3];
    } else {
        plan_resize(p, g, h, w);
    }
    p->denom = 1;
    if (!jpeg || !g->dct_scaling)
        return;
    for (uint32_t d = 8; d >= 2; d /= 2)
        if (p->bw >= (double)d * g->out_w && p->bh >= (double)d * g->out_h) {
            p->denom = d;
            break;
        }
}
