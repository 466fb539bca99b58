/*
 * proto_batch.c — the BATCH message's layout (sections at MXP_ALIGN
 * boundaries), its head, and the provenance records it carries (proto.h).
 */
#include "proto.h"

#include <string.h>

#include "proto_internal.h"

static size_t align_up(size_t v)
{
    return (v + MXP_ALIGN - 1) & ~(size_t)(MXP_ALIGN - 1);
}


static size_t dtype_size(uint32_t dtype)
{
    return dtype == MIXUP_FLOAT32 ? 4 : 2;
}

/* Place a section of @bytes at the next boundary; 0 bytes: absent. */
static size_t section(uint64_t *off, uint64_t bytes)
{
    if (bytes == 0)
        return 0;
    size_t at = align_up((size_t)*off);
    *off = at + bytes;
    return at;
}

int mxp_batch_layout_compute(const mxp_batch_shape *s, mxp_batch_layout *out)
{
    if (!s->size || !s->height || !s->width || !s->channels || !s->classes)
        return MIXUP_EINVAL;
    /* Every factor is below 2^32, so products of two fit in 64 bits; the
     * pixel count needs a check before the final multiplications. */
    uint64_t pixels = (uint64_t)s->height * s->width;
    if (pixels > UINT32_MAX)
        return MIXUP_ETOOBIG;
    uint64_t per_sample = pixels * s->channels;
    if (per_sample > UINT32_MAX)
        return MIXUP_ETOOBIG;
    uint64_t B = s->size;
    uint64_t x_bytes = per_sample * B * dtype_size(s->dtype);
    uint64_t y_bytes = (s->flags & MXP_BATCH_PAIRS) ? 0 : (uint64_t)s->classes * B * 4;
    uint64_t pair_bytes = (s->flags & MXP_BATCH_PAIRS) ? B * 4 : 0;
    uint64_t aug_count = !(s->flags & MXP_BATCH_AUG) ? 0
                         : (s->flags & MXP_BATCH_AUG2) ? 2 * B : B;
    if (x_bytes > UINT32_MAX || y_bytes > UINT32_MAX)
        return MIXUP_ETOOBIG;
    uint64_t off = MXP_HEADER_SIZE + MXP_BATCH_FIXED;
    out->index1 = section(&off, B * 8);
    out->index2 = section(&off, B * 8);
    out->lam = section(&off, B * 4);
    out->label1 = section(&off, pair_bytes);
    out->label2 = section(&off, pair_bytes);
    out->aug = section(&off, aug_count * MXP_AUG_RECORD);
    out->x = section(&off, x_bytes);
    out->y = section(&off, y_bytes);
    if (off > UINT32_MAX)
        return MIXUP_ETOOBIG;
    out->x_bytes = (size_t)x_bytes;
    out->aug_count = (size_t)aug_count;
    out->total = (size_t)off;
    return 0;
}

static void zero_gap(uint8_t *buf, size_t from, size_t to)
{
    if (to > from)
        memset(buf + from, 0, to - from);
}

void mxp_encode_batch_head(uint8_t *buf, uint64_t request_id,
                           uint64_t stream_id, uint64_t epoch, uint64_t index,
                           const mxp_batch_shape *s,
                           const mxp_batch_layout *layout)
{
    uint32_t body = (uint32_t)(layout->total - MXP_HEADER_SIZE);
    mxp_header_encode(buf, MXP_BATCH_REP, request_id, body);
    uint8_t *b = buf + MXP_HEADER_SIZE;
    memset(b, 0, layout->index1 - MXP_HEADER_SIZE);
    put_u64(b, epoch);
    put_u64(b + 8, index);
    put_u64(b + 16, stream_id);
    put_u32(b + 24, s->size);
    put_u32(b + 28, s->height);
    put_u32(b + 32, s->width);
    put_u32(b + 36, s->channels);
    put_u32(b + 40, s->classes);
    put_u32(b + 44, s->dtype);
    put_u32(b + 48, s->layout);
    put_u32(b + 52, s->flags);
    /* Padding between sections is zeroed so a batch's bytes are fully
     * determined (byte-for-byte comparisons, no leaked heap contents). */
    size_t B = s->size;
    const size_t starts[8] = {layout->index1, layout->index2, layout->lam,
                              layout->label1, layout->label2, layout->aug,
                              layout->x, layout->y};
    const size_t sizes[8] = {B * 8, B * 8, B * 4, B * 4, B * 4,
                             layout->aug_count * MXP_AUG_RECORD,
                             layout->x_bytes, (size_t)s->classes * B * 4};
    size_t end = layout->index1;
    for (int i = 0; i < 8; i++) {
        if (!starts[i])
            continue;
        zero_gap(buf, end, starts[i]);
        end = starts[i] + sizes[i];
    }
    zero_gap(buf, end, layout->total);
}

/* ------------------------------------------------ provenance records */

void mxp_aug_encode(uint8_t out[MXP_AUG_RECORD], const mxp_aug *a)
{
    memset(out, 0, MXP_AUG_RECORD);
    out[0] = a->mix_kind;
    out[1] = a->flip;
    out[2] = a->erase_fill;
    put_f32(out + 4, a->shift_dy);
    put_f32(out + 8, a->shift_dx);
    put_u32(out + 12, a->crop_y);
    put_u32(out + 16, a->crop_x);
    put_u32(out + 20, a->erase_y);
    put_u32(out + 24, a->erase_x);
    put_u32(out + 28, a->erase_h);
    put_u32(out + 32, a->erase_w);
    for (int i = 0; i < 4; i++)
        put_f32(out + 36 + 4 * i, a->erase_value[i]);
    put_u64(out + 56, a->erase_noise_seed);
    put_u32(out + 64, a->cutmix_y0);
    put_u32(out + 68, a->cutmix_y1);
    put_u32(out + 72, a->cutmix_x0);
    put_u32(out + 76, a->cutmix_x1);
    out[3] = a->src_scale;
    for (int i = 0; i < 8; i++) {
        uint16_t v = a->src_box[i / 4][i % 4];
        out[80 + 2 * i] = (uint8_t)v;
        out[81 + 2 * i] = (uint8_t)(v >> 8);
    }
}

void mxp_aug_decode(const uint8_t in[MXP_AUG_RECORD], mxp_aug *a)
{
    memset(a, 0, sizeof *a);
    a->mix_kind = in[0];
    a->flip = in[1];
    a->erase_fill = in[2];
    a->shift_dy = get_f32(in + 4);
    a->shift_dx = get_f32(in + 8);
    a->crop_y = get_u32(in + 12);
    a->crop_x = get_u32(in + 16);
    a->erase_y = get_u32(in + 20);
    a->erase_x = get_u32(in + 24);
    a->erase_h = get_u32(in + 28);
    a->erase_w = get_u32(in + 32);
    for (int i = 0; i < 4; i++)
        a->erase_value[i] = get_f32(in + 36 + 4 * i);
    a->erase_noise_seed = get_u64(in + 56);
    a->cutmix_y0 = get_u32(in + 64);
    a->cutmix_y1 = get_u32(in + 68);
    a->cutmix_x0 = get_u32(in + 72);
    a->cutmix_x1 = get_u32(in + 76);
    a->src_scale = in[3];
    for (int i = 0; i < 8; i++)
        a->src_box[i / 4][i % 4] =
            (uint16_t)(in[80 + 2 * i] | (uint16_t)in[81 + 2 * i] << 8);
}
