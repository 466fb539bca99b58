/*
 * proto_ring.c — the header of the shared ring segment and the check of a
 * BATCH_REF against it (proto.h).
 */
#include "proto.h"

#include "proto_internal.h"

size_t mxp_ring_head_size(uint32_t n_slots)
{
    size_t n = MXP_RING_GENS + 4u * (size_t)n_slots;
    return (n + MXP_RING_PAGE - 1) & ~(size_t)(MXP_RING_PAGE - 1);
}

/* The geometry rules shared by the encoder and the decoder; @len is the
 * segment's size (SIZE_MAX: unknown). */
static int check_ring_geometry(const mxp_ring_head *h, size_t len, char *err,
                               size_t errlen)
{
    size_t head = mxp_ring_head_size(h->n_slots);
    if (h->n_slots == 0)
        return fail(MIXUP_EPROTO, err, errlen, "ring n_slots is 0");
    if (h->slot_size == 0 || h->slot_size % MXP_RING_PAGE)
        return fail(MIXUP_EPROTO, err, errlen,
                    "ring slot_size %llu is not a nonzero multiple of %u",
                    (unsigned long long)h->slot_size, MXP_RING_PAGE);
    if (h->data_offset < head || h->data_offset % MXP_RING_PAGE)
        return fail(MIXUP_EPROTO, err, errlen,
                    "ring data_offset %llu: expected a multiple of %u, at "
                    "least %zu (the header of %u slots)",
                    (unsigned long long)h->data_offset, MXP_RING_PAGE, head,
                    h->n_slots);
    uint64_t slots, end;
    if (__builtin_mul_overflow((uint64_t)h->n_slots, h->slot_size, &slots) ||
        __builtin_add_overflow(slots, h->data_offset, &end) || end > len)
        return fail(MIXUP_EPROTO, err, errlen,
                    "ring of %u slots of %llu bytes from %llu does not fit "
                    "the %zu-byte segment", h->n_slots,
                    (unsigned long long)h->slot_size,
                    (unsigned long long)h->data_offset, len);
    return 0;
}

int mxp_ring_head_encode(uint8_t *buf, size_t cap, const mxp_ring_head *h)
{
    if (cap < MXP_RING_FIXED || check_ring_geometry(h, SIZE_MAX, NULL, 0) < 0)
        return MIXUP_EINVAL;
    memset(buf, 0, MXP_RING_FIXED);
    put_u32(buf, MXP_RING_MAGIC);
    put_u32(buf + 4, MXP_VERSION);
    memcpy(buf + 8, h->token, MXP_RING_TOKEN);
    put_u32(buf + 24, h->n_slots);
    put_u64(buf + 32, h->slot_size);
    put_u64(buf + 40, h->data_offset);
    return MXP_RING_FIXED;
}

int mxp_ring_head_decode(const uint8_t *buf, size_t len, mxp_ring_head *out,
                         char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (len < MXP_RING_FIXED)
        return fail(MIXUP_EPROTO, err, errlen,
                    "ring segment of %zu bytes is shorter than its %u-byte "
                    "header", len, MXP_RING_FIXED);
    uint32_t magic = get_u32(buf), version = get_u32(buf + 4);
    if (magic != MXP_RING_MAGIC)
        return fail(MIXUP_EPROTO, err, errlen,
                    "ring magic 0x%08x (expected 0x%08x, \"MXRG\")", magic,
                    MXP_RING_MAGIC);
    if (version != MXP_VERSION)
        return fail(MIXUP_EVERSION, err, errlen,
                    "ring written by mixupd protocol %u, this build speaks "
                    "%u: upgrade the client library or the daemon", version,
                    MXP_VERSION);
    memcpy(out->token, buf + 8, MXP_RING_TOKEN);
    out->n_slots = get_u32(buf + 24);
    out->slot_size = get_u64(buf + 32);
    out->data_offset = get_u64(buf + 40);
    if (get_u32(buf + 28) || get_u64(buf + 48) || get_u64(buf + 56))
        return fail(MIXUP_EPROTO, err, errlen,
                    "ring header reserved bytes (28..31, 48..63) must be zero");
    return check_ring_geometry(out, len, err, errlen);
}

int mxp_batch_ref_check(const mxp_batch_ref *r, const mxp_ring_head *h,
                        char *err, size_t errlen)
{
    if (r->slot >= h->n_slots)
        return fail(MIXUP_EPROTO, err, errlen,
                    "BATCH_REF slot %u of a ring of %u slots", r->slot,
                    h->n_slots);
    if (r->offset != h->data_offset + (uint64_t)r->slot * h->slot_size ||
        r->size > h->slot_size)
        return fail(MIXUP_EPROTO, err, errlen,
                    "BATCH_REF of slot %u at %llu, %llu bytes: the slot starts "
                    "at %llu and holds %llu bytes", r->slot,
                    (unsigned long long)r->offset, (unsigned long long)r->size,
                    (unsigned long long)(h->data_offset +
                                         (uint64_t)r->slot * h->slot_size),
                    (unsigned long long)h->slot_size);
    return 0;
}
