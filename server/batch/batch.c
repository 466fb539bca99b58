/*
 * batch.c — see batch.h.
 */
#include "batch.h"


#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "kernels.h"
#include "log.h"
#include "mapped.h"
#include "resize.h"

#define ALIGN64(n) (((n) + 63) & ~(size_t)63)

/* ------------------------------------------------------------ the plan */

static int parse_floats(const char *s, float *out, uint32_t max,
                        uint32_t *n)
{
    *n = 0;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || *n == max)
            return -1;
        out[(*n)++] = (float)v;
        s = end;
        while (*s == ' ')
            s++;
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return 0;
}

static int plan_normalize(bat_plan *p, const cfg_config *cfg, uint32_t c,
                          char *err, size_t errlen)
{
    if (!cfg->normalize_mean[0] && !cfg->normalize_std[0])
        return 0;
    uint32_t nm, ns;
    if (parse_floats(cfg->normalize_mean, p->norm.mean, AUG_MAX_CHANNELS, &nm) ||
        parse_floats(cfg->normalize_std, p->norm.std, AUG_MAX_CHANNELS, &ns) ||
        nm != c || ns != c) {
        snprintf(err, errlen, "augment.normalize_mean = '%s' and "
                 "augment.normalize_std = '%s': expected %u comma-separated "
                 "numbers each (one per channel)", cfg->normalize_mean,
                 cfg->normalize_std, c);
        return MIXUP_ECONFIG;
    }
    p->norm_on = 1;
    return aug_normalize_check(&p->norm, c, err, errlen);
}

static void plan_augment(bat_plan *p, const cfg_config *cfg)
{
    static const aug_fill fills[4] = {AUG_FILL_NEAREST, AUG_FILL_CONSTANT,
                                      AUG_FILL_REFLECT, AUG_FILL_WRAP};
    /* torchvision's words: reflect = dcb|abcd, symmetric = dcba|abcd. */
    static const aug_fill crops[4] = {AUG_FILL_CONSTANT, AUG_FILL_MIRROR,
                                      AUG_FILL_NEAREST, AUG_FILL_REFLECT};
    static const aug_erase_fill erases[4] = {AUG_ERASE_CONSTANT,
                                             AUG_ERASE_CHANNEL,
                                             AUG_ERASE_UNIFORM,
                                             AUG_ERASE_NORMAL};
    p->before_mix = cfg->aug_order == 1;
    p->flip = (aug_flip_settings){cfg->flip_horizontal, cfg->flip_vertical};
    p->flip_on = cfg->flip_horizontal > 0 || cfg->flip_vertical > 0;
    p->shift = (aug_shift_settings){
        .height_range = cfg->height_shift_range,
        .width_range = cfg->width_shift_range,
        .fill = fills[cfg->fill_mode],
        .cval = (float)cfg->cval,
    };
    p->shift_on = cfg->height_shift_range > 0 || cfg->width_shift_range > 0;
    p->crop = (aug_crop_settings){cfg->crop_padding, crops[cfg->crop_mode],
                                  (float)cfg->crop_value};
    p->crop_on = cfg->crop_padding > 0;
    aug_erase_defaults(&p->erase);
    p->erase.p = cfg->erase_prob;
    p->erase.area_lo = cfg->erase_area_min;
    p->erase.area_hi = cfg->erase_area_max;
    p->erase.ratio = cfg->erase_ratio;
    p->erase.fill = erases[cfg->erase_fill];
    for (uint32_t k = 0; k < AUG_MAX_CHANNELS; k++)
        p->erase.value[k] = (float)cfg->erase_value;
    p->erase_on = cfg->erase_prob > 0;
}

static int check_augment(bat_plan *p, uint32_t c, char *err, size_t errlen)
{
    int rc = 0;
    if (p->flip_on)
        rc = aug_flip_check(&p->flip, err, errlen);
    if (!rc && p->shift_on)
        rc = aug_shift_check(&p->shift, err, errlen);
    if (!rc && p->crop_on)
        rc = aug_crop_check(&p->crop, err, errlen);
    if (!rc && p->erase_on)
        rc = aug_erase_check(&p->erase, c, err, errlen);
    if (!rc && p->smoothing > 0)
        rc = aug_smooth_check(p->smoothing, err, errlen);
    return rc;
}

/* Encoded images, per worker: [a decoded row | the rows filtered along x
 * (8-bit, out_w wide, at most the tallest image's rows) | the output
 * (8-bit) | x axis | y axis]. Bounded by the output size and the longest
 * side (never an image's area): the decoder hands over one row at a time
 * and the horizontal pass consumes it at once. */
typedef struct bat_image_scratch {
    uint8_t *row, *rows, *out;
    rsz_axis ax, ay;
} bat_image_scratch;

static uint32_t image_kx(const bat_plan *p)
{
    return rsz_ksize((double)p->ds->max_w + 1.0, p->w);
}

static uint32_t image_ky(const bat_plan *p)
{
    return rsz_ksize((double)p->ds->max_h + 1.0, p->h);
}

static size_t image_scratch_bytes(const bat_plan *p)
{
    const ds_dataset *ds = p->ds;
    return ALIGN64(IMG_ROW_BYTES(ds->max_w)) +
           ALIGN64((size_t)p->w * p->c * ds->max_h) +
           ALIGN64((size_t)p->w * p->h * p->c) +
           ALIGN64(rsz_axis_bytes(p->w, image_kx(p))) +
           ALIGN64(rsz_axis_bytes(p->h, image_ky(p)));
}

static bat_image_scratch carve_image(const bat_plan *p, char *m)
{
    const ds_dataset *ds = p->ds;
    bat_image_scratch s;
    s.row = (uint8_t *)m;
    m += ALIGN64(IMG_ROW_BYTES(ds->max_w));
    s.rows = (uint8_t *)m;
    m += ALIGN64((size_t)p->w * p->c * ds->max_h);
    s.out = (uint8_t *)m;
    m += ALIGN64((size_t)p->w * p->h * p->c);
    rsz_axis_carve(&s.ax, m, p->w, image_kx(p));
    m += ALIGN64(rsz_axis_bytes(p->w, image_kx(p)));
    rsz_axis_carve(&s.ay, m, p->h, image_ky(p));
    return s;
}

/* Which [output] / geometry keys apply: those of encoded images (decoded
 * per batch) or none. One rule, checked before the load from the
 * configuration and after it from the dataset. */
static int check_output_keys(const cfg_config *cfg, int encoded,
                             const char *what, char *err, size_t errlen)
{
    if (!encoded) {
        if (cfg->out_height || cfg->out_width || cfg->rrc_scale[0] ||
            cfg->resize || cfg->center_crop) {
            snprintf(err, errlen, "output.height, output.width, "
                     "augment.random_resized_crop, resize and center_crop "
                     "apply to image folders and lists with dataset.storage "
                     "= encoded; this dataset is %s", what);
            return MIXUP_ECONFIG;
        }
        return 0;
    }
    if (!cfg->out_height || !cfg->out_width) {
        snprintf(err, errlen, "output.height and output.width are needed: "
                 "encoded images are cropped / resized to that size");
        return MIXUP_ECONFIG;
    }
    return 0;
}

int bat_check_config(const cfg_config *cfg, char *err, size_t errlen)
{
    /* A pack holds arrays or encoded images: its header says which, so
     * the rule is checked after the load (bat_plan_from_config). */
    if (!strcmp(cfg->format, "pack"))
        return 0;
    int tar = !strcmp(cfg->format, "tar"); /* always encoded */
    int images = tar || !strcmp(cfg->format, "folder") ||
                 !strcmp(cfg->format, "list");
    char what[96];
    if (images)
        snprintf(what, sizeof what, "decoded at load (dataset.storage = "
                 "decoded; dataset.height and width size it)");
    else
        snprintf(what, sizeof what, "arrays (dataset.format = %s)",
                 cfg->format);
    return check_output_keys(cfg, images && (tar || cfg->storage == 0), what,
                             err, errlen);
}

/* [output] height/width and the geometry, for an encoded dataset. */
static int plan_image(bat_plan *p, const cfg_config *cfg, char *err,
                      size_t errlen)
{
    geo_settings *g = &p->geo;
    char what[64];
    snprintf(what, sizeof what, "%ux%u arrays", p->ds->h, p->ds->w);
    int rc = check_output_keys(cfg, p->ds->encoded, what, err, errlen);
    if (rc < 0 || !p->ds->encoded)
        return rc;
    p->h = cfg->out_height;
    p->w = cfg->out_width;
    *g = (geo_settings){.out_h = p->h, .out_w = p->w,
                        .resize = cfg->resize,
                        .center_crop = cfg->center_crop,
                        .dct_scaling = cfg->dct_scaling};
    if (cfg->rrc_scale[0]) {
        g->rrc = 1;
        if (geo_parse_pair(cfg->rrc_scale, &g->scale_lo, &g->scale_hi) ||
            !(g->scale_lo > 0 && g->scale_lo <= g->scale_hi &&
              g->scale_hi <= 1)) {
            snprintf(err, errlen, "augment.random_resized_crop = '%s': "
                     "expected 'scale_min, scale_max' with 0 < min <= max "
                     "<= 1", cfg->rrc_scale);
            return MIXUP_ECONFIG;
        }
        if (geo_parse_pair(cfg->rrc_ratio, &g->ratio_lo, &g->ratio_hi) ||
            !(g->ratio_lo > 0 && g->ratio_lo <= g->ratio_hi)) {
            snprintf(err, errlen, "augment.rrc_ratio = '%s': expected "
                     "'min, max' with 0 < min <= max", cfg->rrc_ratio);
            return MIXUP_ECONFIG;
        }
        if (cfg->resize || cfg->center_crop) {
            snprintf(err, errlen, "augment.random_resized_crop and "
                     "augment.resize / center_crop exclude each other");
            return MIXUP_ECONFIG;
        }
    } else if (cfg->resize && (!cfg->center_crop || cfg->resize < p->h ||
                               cfg->resize < p->w)) {
        snprintf(err, errlen, "augment.resize = %u needs augment.center_crop "
                 "= true and resize >= output.height, output.width (%u, %u)",
                 cfg->resize, p->h, p->w);
        return MIXUP_ECONFIG;
    }
    return 0;
}

static int plan_shape(bat_plan *p, char *err, size_t errlen)
{
    const ds_dataset *ds = p->ds;
    int augmenting = p->flip_on || p->shift_on || p->crop_on || p->erase_on;
    int cutmix = p->smp.mix == SMP_CUTMIX ||
                 (p->smp.cutmix_alpha > 0 && p->smp.mix != SMP_NONE);
    uint32_t flags = p->pairs ? MXP_BATCH_PAIRS : 0;
    if (augmenting || cutmix || ds->encoded)
        flags |= MXP_BATCH_AUG | (p->before_mix ? MXP_BATCH_AUG2 : 0);
    p->fast = !augmenting && !cutmix && !p->norm_on && !p->before_mix &&
              p->dtype == CVT_F32 && p->out_layout == CVT_NHWC &&
              !ds->encoded;
    p->shape = (mxp_batch_shape){
        .size = p->smp.batch_size, .height = p->h, .width = p->w,
        .channels = p->c, .classes = ds->classes, .dtype = p->dtype,
        .layout = p->out_layout, .flags = flags,
    };
    if (mxp_batch_layout_compute(&p->shape, &p->layout) < 0) {
        snprintf(err, errlen,
                 "a batch of %u samples of %ux%ux%u would not fit one "
                 "message (4 GiB at most)",
                 p->smp.batch_size, p->h, p->w, p->c);
        return MIXUP_ETOOBIG;
    }
    size_t per = (size_t)p->h * p->w * p->c;
    p->scratch_bytes = 3 * ALIGN64(per * 4) + 2 * ALIGN64(ds->classes * 4) +
                       ALIGN64(p->smp.batch_size * sizeof(smp_draw));
    if (ds->encoded)
        p->scratch_bytes += image_scratch_bytes(p);
    return 0;
}

static int plan_batch(bat_plan *p, const cfg_config *cfg, char *err,
                      size_t errlen)
{
    const ds_dataset *ds = p->ds;
    p->smp = (smp_settings){
        .n = ds->n, .batch_size = cfg->batch_size, .alpha = cfg->alpha,
        .shuffle = cfg->shuffle, .block = cfg->shuffle_block,
        .window = cfg->shuffle_window, .mix = (smp_mix)cfg->mix,
        .pairing = (smp_pairing)cfg->pairing,
        .cutmix_alpha = cfg->cutmix_alpha, .switch_prob = cfg->switch_prob,
        .skip_prob = 1.0 - cfg->mix_prob, .height = p->h, .width = p->w,
        .keep_last = !cfg->drop_last,
    };
    if (p->smp.keep_last && smp_samples_per_batch(&p->smp) != cfg->batch_size) {
        snprintf(err, errlen, "batch.drop_last = false needs batch.mix = "
                 "none or batch.pairing = within (disjoint pairs take 2B "
                 "samples, which a last partial batch cannot pair)");
        return MIXUP_ECONFIG;
    }
    if (smp_batches_per_epoch(&p->smp) == 0) {
        snprintf(err, errlen,
                 "batch.size = %u needs at least %llu samples per epoch, "
                 "the dataset has %llu",
                 cfg->batch_size,
                 (unsigned long long)smp_samples_per_batch(&p->smp),
                 (unsigned long long)ds->n);
        return MIXUP_ECONFIG;
    }
    p->smoothing = (float)cfg->label_smoothing;
    p->pairs = cfg->label_mode == 1;
    if (p->pairs && ds->soft_labels) {
        snprintf(err, errlen, "batch.labels = pairs needs class-index "
                 "labels; this dataset's labels are rows of %u values",
                 ds->classes);
        return MIXUP_ECONFIG;
    }
    return 0;
}

int bat_plan_from_config(bat_plan *plan, const ds_dataset *ds,
                         const cfg_config *cfg, char *err, size_t errlen)
{
    *plan = (bat_plan){.ds = ds, .h = ds->h, .w = ds->w, .c = ds->c};
    int rc = plan_image(plan, cfg, err, errlen);
    if (rc == 0)
        rc = plan_batch(plan, cfg, err, errlen);
    if (rc < 0)
        return rc;
    plan->scale = cfg->out_scale > 0         ? (float)cfg->out_scale
                  : ds->dtype == DS_U8 ? 1.0f / 255.0f
                                       : 1.0f;
    plan->dtype = (cvt_dtype)(cfg->out_dtype + 1);
    plan->out_layout = (cvt_layout)cfg->out_layout;
    plan_augment(plan, cfg);
    if ((rc = check_augment(plan, plan->c, err, errlen)) < 0 ||
        (rc = plan_normalize(plan, cfg, plan->c, err, errlen)) < 0)
        return rc;
    return plan_shape(plan, err, errlen);
}

int bat_plan_init(bat_plan *plan, const ds_dataset *ds, uint32_t batch_size,
                  double alpha, int shuffle, char *err, size_t errlen)
{
    cfg_config c; /* the seed's pipeline: every default */
    cfg_defaults(&c);
    c.batch_size = batch_size;
    c.alpha = alpha;
    c.shuffle = shuffle;
    return bat_plan_from_config(plan, ds, &c, err, errlen);
}

/* ------------------------------------------------------------ building */

/* Scratch: three images, two label rows, the sampler's draws. */
typedef struct bat_scratch {
    float *img[3];
    float *row1, *row2;
    smp_draw *draws;
    bat_image_scratch im; /* encoded datasets */
} bat_scratch;

static bat_scratch carve(const bat_plan *p, void *mem)
{
    const ds_dataset *ds = p->ds;
    size_t per = ALIGN64((size_t)p->h * p->w * p->c * 4);
    size_t row = ALIGN64(ds->classes * 4);
    char *m = mem;
    bat_scratch s = {
        .img = {(float *)(void *)m, (float *)(void *)(m + per),
                (float *)(void *)(m + 2 * per)},
        .row1 = (float *)(void *)(m + 3 * per),
        .row2 = (float *)(void *)(m + 3 * per + row),
        .draws = (smp_draw *)(void *)(m + 3 * per + 2 * row),
    };
    if (p->ds->encoded)
        s.im = carve_image(p, m + 3 * per + 2 * row +
                                  ALIGN64(p->smp.batch_size *
                                          sizeof(smp_draw)));
    return s;
}

static void load_array(const bat_plan *p, int64_t index, float *dst)
{
    const ds_dataset *ds = p->ds;
    size_t per = (size_t)p->h * p->w * p->c;
    if (ds->dtype == DS_U8) {
        cvt_u8_to_f32(dst, (const uint8_t *)ds->images + index * per, per,
                      p->scale);
    } else {
        const float *src = (const float *)ds->images + index * per;
        for (size_t i = 0; i < per; i++)
            dst[i] = p->scale * src[i];
    }
}

/* A file that does not decode: counted, its path logged once. */
static void note_fault(const ds_dataset *ds, int64_t index, int rc,
                       const char *why)
{
    ds_faults *f = ds->faults;
    __atomic_fetch_add(rc < 0 ? &f->decode_errors : &f->decode_warnings, 1,
                       __ATOMIC_RELAXED);
    if (!__atomic_exchange_n(&f->logged[index], 1, __ATOMIC_RELAXED))
        log_warn("%s: %s (served %s; logged once per file)",
                 ds_path(ds, index), why,
                 rc < 0 ? "as zeros" : "as decoded");
}

/* One decoded row, filtered along x at once. */
typedef struct row_sink {
    const rsz_axis *ax;
    uint8_t *rows;
    size_t width;     /* bytes of a filtered row */
    uint32_t y_first; /* the first row decoded */
    uint32_t c;
} row_sink;

static void on_row(void *ctx, uint32_t y, const uint8_t *px, size_t avail)
{
    row_sink *s = ctx;
    rsz_h_row(s->rows + (size_t)(y - s->y_first) * s->width, px, avail, s->c,
              s->ax);
}

/* One axis of the resampling, in the image decoded at 1/denom: the source
 * pixels [off, off + len) with Pillow's box [in0, in1) resized onto
 * total pixels, of which outputs [o0, o0 + n) are kept. */
typedef struct axis_plan {
    uint32_t off, len, total, o0;
    float in0, in1;
} axis_plan;

/* RandomResizedCrop: torchvision's F.resized_crop on a PIL image is
 * img.crop(box).resize(size, BILINEAR), so the taps stop at the box's
 * edges. With DCT scaling (1/d) the box is fractional: the image decoded
 * at 1/d, cropped to the pixels the box touches, resized with the box
 * (in that crop's coordinates) as Pillow's float box. */
static axis_plan rrc_axis(uint32_t box0, uint32_t box_len, double b0,
                          double blen, uint32_t clip0, uint32_t clip_len,
                          uint32_t denom, uint32_t scaled, uint32_t out)
{
    if (denom == 1)
        return (axis_plan){.off = box0, .len = box_len, .total = out,
                           .in0 = 0.0f, .in1 = (float)box_len};
    double d = denom;
    uint32_t lo = (uint32_t)(clip0 / d);
    uint32_t hi = (uint32_t)ceil((clip0 + clip_len) / d);
    hi = hi > scaled ? scaled : hi;
    return (axis_plan){.off = lo, .len = hi - lo, .total = out,
                       .in0 = (float)(b0 / d - lo),
                       .in1 = (float)((b0 + blen) / d - lo)};
}

/* Decode encoded sample @index, crop / resize it to h x w into @dst;
 * its geometry goes to @rec's src_box[@src] and src_scale. Only the rows
 * and columns the taps read are decoded, one row at a time, each filtered
 * along x as it comes; then the columns (Pillow's two passes). */
static void load_image(const bat_plan *p, const smp_order *o, uint64_t k,
                       uint32_t sample, int src, int64_t index, float *dst,
                       bat_image_scratch *im, mxp_aug *rec)
{
    const ds_dataset *ds = p->ds;
    const ds_file *f = &ds->files[index];
    img_info info = {.kind = (img_kind)f->kind, .h = f->h, .w = f->w,
                     .cmyk = f->cmyk, .adobe = f->adobe};
    geo_plan g;
    geo_plan_sample(&g, &p->geo, o->seed, o->epoch, k, sample, f->h, f->w,
                    f->kind == IMG_JPEG);
    rec->src_box[src][0] = (uint16_t)g.y;
    rec->src_box[src][1] = (uint16_t)g.x;
    rec->src_box[src][2] = (uint16_t)g.h;
    rec->src_box[src][3] = (uint16_t)g.w;
    rec->src_scale |= (uint8_t)(__builtin_ctz(g.denom) << (4 * src));
    uint32_t sh, sw;
    img_scaled_size(&info, g.denom, &sh, &sw);
    axis_plan px, py;
    if (p->geo.rrc) {
        px = rrc_axis(g.x, g.w, g.bx, g.bw, g.clip_x, g.clip_w, g.denom, sw,
                      p->w);
        py = rrc_axis(g.y, g.h, g.by, g.bh, g.clip_y, g.clip_h, g.denom, sh,
                      p->h);
    } else {
        /* Resize + CenterCrop: the whole (scaled) image resized, the
         * centre's outputs computed. */
        uint32_t rh, rw, top, left;
        geo_resize_dims(&p->geo, sh, sw, &rh, &rw, &top, &left);
        px = (axis_plan){.len = sw, .total = rw, .o0 = left,
                         .in1 = (float)sw};
        py = (axis_plan){.len = sh, .total = rh, .o0 = top,
                         .in1 = (float)sh};
    }
    char why[256];
    size_t per = (size_t)p->h * p->w * p->c;
    row_sink sink = {.ax = &im->ax, .rows = im->rows,
                     .width = (size_t)p->w * p->c, .c = p->c};
    int rc;
    if (rsz_axis_init(&im->ax, px.len, px.in0, px.in1, px.total, px.o0) < 0 ||
        rsz_axis_init(&im->ay, py.len, py.in0, py.in1, py.total, py.o0) < 0) {
        snprintf(why, sizeof why, "resampling %ux%u to %ux%u: more taps "
                 "than the scratch holds", px.len, py.len, p->w, p->h);
        rc = MIXUP_EDATASET;
    } else {
        /* The columns the taps read; the x axis made relative to them. */
        uint32_t cx0 = im->ax.first[0];
        uint32_t cx1 = im->ax.first[p->w - 1] + im->ax.count[p->w - 1];
        for (uint32_t x = 0; x < p->w; x++)
            im->ax.first[x] -= cx0;
        uint32_t ry0 = im->ay.first[0];
        uint32_t ry1 = ry0 + rsz_rows_needed(&im->ay);
        sink.y_first = py.off + ry0;
        rc = img_decode_region(ds->packed + f->offset, f->length, &info,
                               g.denom, p->c, py.off + ry0, py.off + ry1,
                               px.off + cx0, px.off + cx1, im->row, on_row,
                               &sink, why, sizeof why);
    }
    if (rc != 0)
        note_fault(ds, index, rc, why);
    if (rc < 0) {
        memset(dst, 0, per * sizeof *dst);
        return;
    }
    for (uint32_t y = 0; y < p->h; y++)
        rsz_v_row(im->out + y * sink.width, im->rows, sink.width,
                  sink.width, &im->ay, y);
    cvt_u8_to_f32(dst, im->out, per, p->scale);
}

/* Source @src (0: index1, 1: index2) of sample @j into @dst. */
static void load(const bat_plan *p, const smp_order *o, uint64_t k,
                 uint32_t j, int src, int64_t index, float *dst,
                 bat_scratch *s, mxp_aug *rec)
{
    if (!p->ds->encoded) {
        load_array(p, index, dst);
        return;
    }
    load_image(p, o, k, src ? p->smp.batch_size + j : j, src, index, dst,
               &s->im, rec);
}

/* Crop, shift, flip, erase @img (with @tmp as room), drawing from the
 * streams of (seed, epoch, k, @sample); record what was drawn. */
static void augment(const bat_plan *p, const smp_order *o, uint64_t k,
                    uint32_t sample, float *img, float *tmp, mxp_aug *rec)
{
    uint32_t h = p->h, w = p->w, c = p->c;
    size_t bytes = (size_t)h * w * c * 4;
    prng_stream s;
    if (p->crop_on) {
        aug_crop_params cp;
        prng_stream_init(&s, o->seed, PRNG_CROP, o->epoch, k, sample);
        aug_crop_draw(&s, &p->crop, &cp);
        aug_crop_apply(tmp, img, h, w, c, &p->crop, &cp);
        memcpy(img, tmp, bytes);
        rec->crop_y = cp.y;
        rec->crop_x = cp.x;
    }
    if (p->shift_on) {
        aug_shift_params sp;
        prng_stream_init(&s, o->seed, PRNG_SHIFT, o->epoch, k, sample);
        aug_shift_draw(&s, &p->shift, h, w, &sp);
        aug_shift_apply(tmp, img, h, w, c, &p->shift, &sp);
        memcpy(img, tmp, bytes);
        rec->shift_dy = sp.dy;
        rec->shift_dx = sp.dx;
    }
    if (p->flip_on) {
        aug_flip_params fp;
        prng_stream_init(&s, o->seed, PRNG_FLIP, o->epoch, k, sample);
        aug_flip_draw(&s, &p->flip, &fp);
        aug_flip_apply(img, h, w, c, &fp);
        rec->flip = (uint8_t)(fp.horizontal | (fp.vertical << 1));
    }
    if (p->erase_on) {
        aug_erase_params ep;
        prng_stream_init(&s, o->seed, PRNG_ERASE, o->epoch, k, sample);
        aug_erase_draw(&s, &p->erase, h, w, c, &ep);
        aug_erase_apply(img, h, w, c, &p->erase, &ep);
        rec->erase_fill = ep.fill;
        rec->erase_y = ep.y;
        rec->erase_x = ep.x;
        rec->erase_h = ep.h;
        rec->erase_w = ep.w;
        memcpy(rec->erase_value, ep.value, sizeof rec->erase_value);
        rec->erase_noise_seed = ep.noise_seed;
    }
}

static void record_box(mxp_aug *rec, const smp_draw *d)
{
    rec->mix_kind = d->kind;
    if (d->kind == SMP_KIND_CUTMIX) {
        rec->cutmix_y0 = d->box.y0;
        rec->cutmix_y1 = d->box.y1;
        rec->cutmix_x0 = d->box.x0;
        rec->cutmix_x1 = d->box.x1;
    }
}

/* Mix two loaded images: the result is one of @a, @out. */
static float *mix(const bat_plan *p, const smp_draw *d, float *a, float *b,
                  float *out)
{
    size_t per = (size_t)p->h * p->w * p->c;
    if (d->kind == SMP_KIND_MIXUP) {
        krn_mix_f32(out, a, b, per, d->lam);
        return out;
    }
    if (d->kind == SMP_KIND_CUTMIX)
        aug_cutmix_apply(a, b, p->h, p->w, p->c, &d->box);
    return a;
}

/* One sample of the general path; returns the finished float image.
 * @rec: NULL, or the sample's records (two when augmenting before mix). */
static float *sample_image(const bat_plan *p, const smp_order *o, uint64_t k,
                           uint32_t j, const smp_draw *d, bat_scratch *s,
                           mxp_aug *rec)
{
    const ds_dataset *ds = p->ds;
    size_t per = (size_t)p->h * p->w * p->c;
    float *a = s->img[0], *b = s->img[1], *t = s->img[2];
    load(p, o, k, j, 0, d->index1, a, s, rec);
    if (p->before_mix) {
        mxp_aug *r1 = rec ? &rec[0] : NULL, *r2 = rec ? &rec[1] : NULL;
        if (rec)
            augment(p, o, k, j, a, t, r1);
        if (d->kind != SMP_KIND_NONE) {
            load(p, o, k, j, 1, d->index2, b, s, rec);
            if (rec)
                augment(p, o, k, p->smp.batch_size + j, b, t, r2); /* B */
        }
        if (r1)
            record_box(r1, d);
        return d->kind == SMP_KIND_NONE ? a : mix(p, d, a, b, t);
    }
    float *r = a;
    if (d->kind == SMP_KIND_MIXUP && ds->dtype == DS_U8 && !ds->encoded) {
        krn_mix_u8(t, (const uint8_t *)ds->images + d->index1 * per,
                   (const uint8_t *)ds->images + d->index2 * per, per, d->lam,
                   p->scale);
        r = t;
    } else if (d->kind != SMP_KIND_NONE) {
        load(p, o, k, j, 1, d->index2, b, s, rec);
        r = mix(p, d, a, b, t);
    }
    if (rec) {
        record_box(rec, d);
        augment(p, o, k, j, r, r == a ? b : a, rec);
    }
    return r;
}

static void build_images(const bat_plan *p, const smp_order *o, uint64_t k,
                         uint8_t *msg, bat_scratch *s)
{
    const mxp_batch_layout *L = &p->layout;
    size_t per = (size_t)p->h * p->w * p->c;
    size_t out_bytes = per * cvt_dtype_size(p->dtype);
    size_t per_sample = L->aug ? L->aug_count / p->shape.size : 0;
    for (uint32_t j = 0; j < p->shape.size; j++) {
        mxp_aug rec[2] = {{0}, {0}};
        float *img = sample_image(p, o, k, j, &s->draws[j], s,
                                  per_sample ? rec : NULL);
        if (per_sample == 2) { /* both records carry the image geometry */
            rec[1].src_scale = rec[0].src_scale;
            memcpy(rec[1].src_box, rec[0].src_box, sizeof rec[0].src_box);
        }
        for (size_t r = 0; r < per_sample; r++)
            mxp_aug_encode(msg + L->aug + (j * per_sample + r) * MXP_AUG_RECORD,
                           &rec[r]);
        if (p->norm_on)
            aug_normalize_apply(img, (size_t)p->h * p->w, p->c, &p->norm);
        cvt_image(msg + L->x + j * out_bytes, img, p->h, p->w, p->c,
                  p->dtype, p->out_layout);
    }
}

/* The seed's pipeline: mix straight into the reply. */
static void build_images_fast(const bat_plan *p, uint8_t *msg,
                              const smp_draw *d)
{
    const ds_dataset *ds = p->ds;
    size_t per = (size_t)p->h * p->w * p->c;
    float *x = (float *)(void *)(msg + p->layout.x);
    for (uint32_t j = 0; j < p->shape.size; j++) {
        if (ds->dtype == DS_U8) {
            const uint8_t *img = ds->images;
            krn_mix_u8(x + j * per, img + d[j].index1 * per,
                       img + d[j].index2 * per, per, d[j].lam, p->scale);
        } else {
            const float *img = ds->images;
            krn_mix_f32(x + j * per, img + d[j].index1 * per,
                        img + d[j].index2 * per, per, d[j].lam);
        }
    }
}

static void target_row(const bat_plan *p, int64_t index, float *row)
{
    const ds_dataset *ds = p->ds;
    if (ds->soft_labels) {
        memcpy(row, ds->label_rows + (size_t)index * ds->classes,
               ds->classes * 4);
        if (p->smoothing > 0)
            aug_smooth_row(row, ds->classes, p->smoothing);
    } else {
        aug_smooth_onehot(row, ds->classes, ds->labels[index], p->smoothing);
    }
}

static void build_labels(const bat_plan *p, uint8_t *msg, bat_scratch *s)
{
    const ds_dataset *ds = p->ds;
    const mxp_batch_layout *L = &p->layout;
    for (uint32_t j = 0; j < p->shape.size; j++) {
        const smp_draw *d = &s->draws[j];
        if (p->pairs) {
            ((int32_t *)(void *)(msg + L->label1))[j] = ds->labels[d->index1];
            ((int32_t *)(void *)(msg + L->label2))[j] = ds->labels[d->index2];
            continue;
        }
        float *row = (float *)(void *)(msg + L->y) + (size_t)j * ds->classes;
        if (!ds->soft_labels && p->smoothing == 0) {
            krn_mix_onehot(row, ds->classes, ds->labels[d->index1],
                           ds->labels[d->index2], d->lam);
            continue;
        }
        target_row(p, d->index1, s->row1);
        target_row(p, d->index2, s->row2);
        krn_mix_rows(row, s->row1, s->row2, ds->classes, d->lam);
    }
}

/* Batches ahead whose samples a mapped dataset starts reading. */
#define BAT_READAHEAD 2
/* Widest window whose blocks are read ahead whole (beyond it, sample by
 * sample: finding a run's distinct blocks is a scan per block). */
#define BAT_BLOCK_WINDOW_MAX 256

/* shuffle = blocks: when batch @k is the first to reach run r of the
 * order, ask for every block of run r + 1 (at k = 0, of run 0 too), each
 * a contiguous range of the file: large sequential reads instead of one
 * small read per sample. */
static void read_ahead_blocks(const bat_plan *plan, const smp_order *order,
                              uint64_t k)
{
    const smp_settings *st = &plan->smp;
    uint64_t per = smp_samples_per_batch(st);
    uint64_t run = (uint64_t)st->block * st->window;
    uint64_t p = k * per, r = p / run;
    if (k != 0 && (p - per) / run == r)
        return;
    uint32_t seen[BAT_BLOCK_WINDOW_MAX];
    for (uint64_t q = k == 0 ? r : r + 1; q <= r + 1; q++) {
        uint32_t n_seen = 0;
        uint64_t lo = q * run, hi = lo + run < order->n ? lo + run : order->n;
        for (uint64_t i = lo; i < hi; i++) {
            uint32_t b = order->index[i] / st->block, j = 0;
            while (j < n_seen && seen[j] != b)
                j++;
            if (j < n_seen || n_seen == BAT_BLOCK_WINDOW_MAX)
                continue;
            seen[n_seen++] = b;
            ds_willneed_range(plan->ds, (uint64_t)b * st->block, st->block);
        }
    }
}

/* Mapped datasets: ask for the samples of batch k + BAT_READAHEAD (and,
 * at the start of an epoch, of the batches before it) while this one is
 * built, so that the disk works ahead of the workers. Only a hint: the
 * bytes of a batch never depend on it. */
static void read_ahead(const bat_plan *plan, const smp_order *order,
                       uint64_t k)
{
    if (!plan->ds->map)
        return;
    if (plan->smp.shuffle == SMP_SHUFFLE_BLOCKS &&
        plan->smp.window <= BAT_BLOCK_WINDOW_MAX) {
        read_ahead_blocks(plan, order, k);
        return;
    }
    uint64_t per = smp_samples_per_batch(&plan->smp);
    uint64_t from = k == 0 ? 0 : k + BAT_READAHEAD;
    uint64_t to = k + BAT_READAHEAD + 1;
    uint64_t lo = from * per, hi = to * per;
    hi = hi < order->n ? hi : order->n;
    if (lo < hi)
        ds_willneed(plan->ds, order->index + lo, hi - lo);
}

void bat_build_with(const bat_plan *plan, const smp_order *order, uint64_t k,
                    uint64_t stream_id, uint8_t *msg, void *scratch)
{
    read_ahead(plan, order, k);
    uint32_t len = smp_batch_len(&plan->smp, k);
    bat_plan part;
    if (len < plan->shape.size) {
        /* The last batch of an evaluation epoch: its real size, in the
         * front of a slot sized for B; the sampler keeps counting in B. */
        part = *plan;
        part.shape.size = len;
        mxp_batch_layout_compute(&part.shape, &part.layout);
        plan = &part;
    }
    const mxp_batch_layout *L = &plan->layout;
    mxp_encode_batch_head(msg, 0, stream_id, order->epoch, k, &plan->shape,
                          L);
    bat_scratch s = carve(plan, scratch);
    smp_batch_plan(&plan->smp, order, k, s.draws);
    int64_t *index1 = (int64_t *)(void *)(msg + L->index1);
    int64_t *index2 = (int64_t *)(void *)(msg + L->index2);
    float *lam = (float *)(void *)(msg + L->lam);
    for (uint32_t j = 0; j < plan->shape.size; j++) {
        index1[j] = s.draws[j].index1;
        index2[j] = s.draws[j].index2;
        lam[j] = s.draws[j].lam;
    }
    if (plan->fast)
        build_images_fast(plan, msg, s.draws);
    else
        build_images(plan, order, k, msg, &s);
    build_labels(plan, msg, &s);
}

void bat_build(const bat_plan *plan, const smp_order *order, uint64_t k,
               uint64_t stream_id, uint8_t *msg)
{
    void *scratch = aligned_alloc(64, plan->scratch_bytes);
    if (!scratch)
        abort();
    bat_build_with(plan, order, k, stream_id, msg, scratch);
    free(scratch);
}

/* A number as people write it: the shortest text that reads back to the
 * same double (or, for a float setting, the same float): 0.2, not
 * 0.20000000000000001. */
static const char *num(char buf[32], double v, int is_float)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (is_float ? (float)back == (float)v : back == v)
            break;
    }
    return buf;
}

/* Names of the fills as the settings spell them, by aug_fill value. */
static const char *shift_fill_name(aug_fill f)
{
    static const char *const n[5] = {"constant", "nearest", "reflect", "wrap",
                                     "mirror"};
    return n[f];
}

static const char *crop_fill_name(aug_fill f)
{
    static const char *const n[5] = {"constant", "edge", "symmetric", "wrap",
                                     "reflect"};
    return n[f];
}

/* A setting as num() writes it. */
static json_object *setting(double v, int is_float)
{
    char buf[32];
    return json_object_new_double_s(v, num(buf, v, is_float));
}

json_object *bat_describe_json(const bat_plan *p)
{
    static const char *const mixes[4] = {"mixup", "mixup_batch", "cutmix", "none"};
    static const char *const dtypes[4] = {"", "float32", "float16", "bfloat16"};
    static const char *const erases[5] = {"none", "constant", "channel",
                                          "uniform", "normal"};
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    jw_add(o, "batch_size", jw_u64(p->smp.batch_size));
    jw_add(o, "alpha", setting(p->smp.alpha, 0));
    if (p->smp.shuffle == SMP_SHUFFLE_BLOCKS) {
        jw_add(o, "shuffle", jw_str("blocks"));
        jw_add(o, "shuffle_block", jw_u64(p->smp.block));
        jw_add(o, "shuffle_window", jw_u64(p->smp.window));
    } else {
        jw_add(o, "shuffle", jw_bool(p->smp.shuffle));
    }
    jw_add(o, "drop_last", jw_bool(!p->smp.keep_last));
    jw_add(o, "mix", jw_str(mixes[p->smp.mix]));
    jw_add(o, "pairing", jw_str(p->smp.pairing ? "within" : "disjoint"));
    jw_add(o, "cutmix_alpha", setting(p->smp.cutmix_alpha, 0));
    jw_add(o, "switch_prob", setting(p->smp.switch_prob, 0));
    jw_add(o, "mix_prob", setting(1.0 - p->smp.skip_prob, 0));
    jw_add(o, "label_smoothing", setting(p->smoothing, 1));
    jw_add(o, "labels", jw_str(p->pairs ? "pairs" : "mixed"));
    jw_add(o, "order", jw_str(p->before_mix ? "before_mix" : "after_mix"));
    jw_add(o, "scale", setting(p->scale, 1));
    jw_add(o, "dtype", jw_str(dtypes[p->dtype]));
    jw_add(o, "layout", jw_str(p->out_layout == CVT_NCHW ? "NCHW" : "NHWC"));
    json_object *flip = json_object_new_object();
    jw_add(flip, "horizontal", setting(p->flip_on ? p->flip.p_horizontal : 0, 0));
    jw_add(flip, "vertical", setting(p->flip_on ? p->flip.p_vertical : 0, 0));
    jw_add(o, "flip", flip);
    json_object *shift = json_object_new_object();
    jw_add(shift, "height", setting(p->shift.height_range, 0));
    jw_add(shift, "width", setting(p->shift.width_range, 0));
    jw_add(shift, "fill", jw_str(shift_fill_name(p->shift.fill)));
    jw_add(shift, "cval", setting(p->shift.cval, 1));
    jw_add(o, "shift", shift);
    json_object *crop = json_object_new_object();
    jw_add(crop, "pad", jw_u64(p->crop.pad));
    jw_add(crop, "fill", jw_str(crop_fill_name(p->crop.fill)));
    jw_add(crop, "value", setting(p->crop.value, 1));
    jw_add(o, "crop", crop);
    json_object *erase = json_object_new_object();
    jw_add(erase, "p", setting(p->erase_on ? p->erase.p : 0, 0));
    jw_add(erase, "fill", jw_str(erases[p->erase_on ? p->erase.fill : 0]));
    jw_add(o, "erase", erase);
    jw_add(o, "normalize", jw_bool(p->norm_on));
    return o;
}
