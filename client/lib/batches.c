/*
 * batches.c — a BATCH reply as a mixup_batch (batches.h), and the batch's
 * public lifetime: release, keep, lent, check (mixup.h). A batch lent
 * from the ring is lend.c's; one in a socket message is the message's.
 */
#include <nanomsg/nn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batches.h"
#include "client_internal.h"
#include "lend.h"
#include "mixup.h"
#include "proto.h"

/* nanomsg hands over a reply with its 4-byte REQ header trimmed off the
 * front, so the message is 4 mod 8 aligned: float arrays can be used in
 * place, int64 arrays cannot. An array that is not aligned to its element
 * size is copied into the batch's own allocation (for the index arrays
 * that is 16 bytes per sample; x and y stay in the message). */
static const void *place(const uint8_t *src, size_t bytes, size_t align,
                         uint8_t **spare)
{
    if (((uintptr_t)src & (align - 1)) == 0)
        return src;
    uint8_t *dst = *spare;
    memcpy(dst, src, bytes);
    *spare += (bytes + 15) & ~(size_t)15;
    return dst;
}

/* The public ABI (the Python package mirrors it) keeps the wire's size. */
_Static_assert(sizeof(mixup_aug) == MXP_AUG_RECORD, "mixup_aug is 96 bytes");

/* The provenance records, decoded from their wire form into the public
 * struct (B or 2B records of 96 bytes: a small copy). */
static const mixup_aug *decode_augs(const uint8_t *src, size_t n,
                                    uint8_t **spare)
{
    mixup_aug *dst = (mixup_aug *)(void *)*spare;
    for (size_t i = 0; i < n; i++) {
        mxp_aug a;
        mxp_aug_decode(src + i * MXP_AUG_RECORD, &a);
        dst[i] = (mixup_aug){
            .mix_kind = a.mix_kind,
            .flip = a.flip,
            .erase_fill = a.erase_fill,
            .shift_dy = a.shift_dy,
            .shift_dx = a.shift_dx,
            .crop_y = a.crop_y,
            .crop_x = a.crop_x,
            .erase_y = a.erase_y,
            .erase_x = a.erase_x,
            .erase_h = a.erase_h,
            .erase_w = a.erase_w,
            .erase_value = {a.erase_value[0], a.erase_value[1],
                            a.erase_value[2], a.erase_value[3]},
            .erase_noise_seed = a.erase_noise_seed,
            .cutmix_y0 = a.cutmix_y0,
            .cutmix_y1 = a.cutmix_y1,
            .cutmix_x0 = a.cutmix_x0,
            .cutmix_x1 = a.cutmix_x1,
            .src_scale = a.src_scale,
        };
        memcpy(dst[i].src_box, a.src_box, sizeof a.src_box);
    }
    *spare += (n * sizeof *dst + 15) & ~(size_t)15;
    return dst;
}

int cl_make_batch(mixup_client *c, void *msg, const mxp_reply *rep,
                  mixup_batch **out)
{
    const mxp_batch_rep *b = &rep->u.batch;
    const mxp_batch_layout *L = &b->layout;
    const uint8_t *base = msg;
    size_t B = b->shape.size;
    size_t x_bytes = L->x_bytes;
    size_t y_bytes = L->y ? B * b->shape.classes * 4 : 0;
    size_t aug_bytes = L->aug_count * sizeof(mixup_aug);
    /* Room for the worst case: every array copied. */
    size_t head = (sizeof(cl_batch) + 15) & ~(size_t)15;
    size_t spare_bytes = 16 * 9 + B * 28 + aug_bytes;
    if (((uintptr_t)base & 3u) != 0)
        spare_bytes += x_bytes + y_bytes;
    uint8_t *mem = malloc(head + spare_bytes);
    if (!mem)
        return cl_set_error(c, MIXUP_ENOMEM, "out of memory for a batch");
    memset(mem, 0, head); /* the cl_batch around the public part */
    mixup_batch *batch = (mixup_batch *)(void *)mem;
    uint8_t *spare = mem + head;
    *batch = (mixup_batch){
        .epoch = b->epoch,
        .index = b->index,
        .size = b->shape.size,
        .height = b->shape.height,
        .width = b->shape.width,
        .channels = b->shape.channels,
        .classes = b->shape.classes,
        .dtype = (mixup_dtype)b->shape.dtype,
        .layout = (mixup_layout)b->shape.layout,
        .index1 = place(base + L->index1, B * 8, 8, &spare),
        .index2 = place(base + L->index2, B * 8, 8, &spare),
        .lam = place(base + L->lam, B * 4, 4, &spare),
        .x = b->shape.dtype == MIXUP_FLOAT32
                 ? place(base + L->x, x_bytes, 4, &spare)
                 : NULL,
        .x_half = b->shape.dtype != MIXUP_FLOAT32
                      ? place(base + L->x, x_bytes, 2, &spare)
                      : NULL,
        .y = L->y ? place(base + L->y, y_bytes, 4, &spare) : NULL,
        .label1 = L->label1 ? place(base + L->label1, B * 4, 4, &spare) : NULL,
        .label2 = L->label2 ? place(base + L->label2, B * 4, 4, &spare) : NULL,
        .aug = L->aug ? decode_augs(base + L->aug, L->aug_count, &spare) : NULL,
        .aug_per_sample = (uint32_t)(L->aug_count / B),
        .message_ = msg,
        .message_size_ = L->total,
    };
    ((cl_batch *)(void *)batch)->seq = b->seq;
    *out = batch;
    return 0;
}

MIXUP_API void mixup_batch_release(mixup_batch *batch)
{
    if (!batch)
        return;
    cl_batch *b = (cl_batch *)(void *)batch;
    if (b->ring) {
        cl_ring_release(b);
        free(b->own);
    } else {
        nn_freemsg(batch->message_);
    }
    free(b);
}

MIXUP_API int mixup_batch_keep(mixup_batch *batch)
{
    if (!batch)
        return MIXUP_EINVAL;
    cl_batch *b = (cl_batch *)(void *)batch;
    return b->ring ? cl_ring_keep(b) : 0;
}

MIXUP_API int mixup_batch_lent(const mixup_batch *batch)
{
    const cl_batch *b = (const cl_batch *)(const void *)batch;
    return b && b->ring && !b->own ? 1 : 0;
}

MIXUP_API int mixup_batch_check(const mixup_batch *batch)
{
    if (!batch)
        return MIXUP_EINVAL;
    return cl_batch_check((const cl_batch *)(const void *)batch);
}
