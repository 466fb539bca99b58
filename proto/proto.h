/*
 * proto.h — the mixupd wire format: pure encode/decode, no I/O.
 *
 * Every message is a 24-byte little-endian header followed by a body:
 *
 *   offset size field
 *   0      4    magic       "MIXP" (0x5058494d as a little-endian u32)
 *   4      2    version     MXP_VERSION
 *   6      2    type        enum mxp_type
 *   8      4    flags       MXP_FLAG_* (any other bit is rejected)
 *   12     8    request_id  chosen by the client, echoed in the reply
 *   20     4    body_len    bytes after the header; must match exactly
 *
 * A peer of another version gets MIXUP_EVERSION with a text naming both
 * versions and what to upgrade. Version 2 (the ring owns its memory)
 * added: release pairs and flags in NEXT, the ring's name, token
 * and size in the OPEN reply, the BATCH_REF reply (a slot of the ring
 * instead of the batch's bytes) and the ring segment's header; then
 * (several pipelines per daemon) a pipeline name in OPEN and
 * INFO requests and, in the INFO reply, flags, the pipeline's name and
 * the list of the daemon's pipelines; then (striping over several
 * daemons) a stride and an offset in OPEN, and the daemon's
 * dataset and settings digests in the INFO and OPEN replies.
 *
 * Version 3: the token never travels. A client proves it knows the
 * daemon's secret (server auth_token_file) through a challenge, and
 * checks the daemon knows it too before it sends anything that depends
 * on it; an OPEN carries a nonce that only its client knows (a retried
 * OPEN must repeat it to get the stream back); a batch carries its
 * stream's delivery count, so that a client notices batches taken by
 * someone else. A version 2 peer gets MIXUP_EVERSION: there is no
 * fallback that would send a token in the clear.
 *
 * Trailers: a header flag says that the body ends with a fixed-size
 * trailer, which any message may carry and which the decoders strip
 * before decoding the body of the message's type:
 *
 *   body of the type | stream key (16, MXP_FLAG_STREAM_KEY) | proof (64,
 *   MXP_FLAG_AUTH)
 *
 * The stream key, returned by OPEN, proves a NEXT or CLOSE comes from the
 * client that opened the stream. The proof (requests only) is the
 * client's nonce, the daemon's nonce from a HELLO exchange, and an
 * HMAC-SHA256 of every byte of the message before it (the header as
 * sent included) under the session key both sides derive from the token
 * and the two nonces (mxp_auth_*, below). hdr.body_len stays the whole
 * body as received; the decoded fields point at the trailers.
 *
 * The exchange, before the first request a client with a token sends:
 *
 *   client -> HELLO (body: client nonce, 16 random bytes)
 *   daemon -> HELLO reply (daemon nonce, 16 random bytes; daemon proof,
 *             HMAC-SHA256(token, "mixupd-3 daemon" | client nonce |
 *             daemon nonce))
 *
 * The client checks the daemon proof; only then does it send requests,
 * each signed with HMAC-SHA256(token, "mixupd-3 session" | client nonce
 * | daemon nonce) as key. A daemon without a token refuses HELLO
 * (MIXUP_EAUTH): a client given a token does not talk to a daemon that
 * cannot prove it has it. The daemon keeps no state per exchange (it
 * checks each request's proof from the nonces it carries), so nothing
 * before authentication costs it memory.
 *
 * Decoders check every length and count against the message size and the
 * caller's limits before anything is touched, and return a MIXUP_E* code
 * with a message that names the field. Nothing here allocates: decoded
 * structs point into the caller's buffer.
 *
 * Batch replies carry raw float32/int64 arrays in host order; mixupd
 * supports little-endian hosts only (checked at compile time).
 */
#ifndef MXP_PROTO_H
#define MXP_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "mixup_errors.h"
#include "mixup_wire.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "mixupd's wire format assumes a little-endian host"
#endif

#define MXP_MAGIC 0x5058494du
#define MXP_VERSION 3u
#define MXP_HEADER_SIZE 24u
#define MXP_JOB_MAX 64u        /* bytes in a job name */
#define MXP_PIPELINE_MAX 32u   /* = MIXUP_PIPELINE_MAX: bytes in a pipeline
                                  name ("" is main) */
#define MXP_PIPELINE_LIST_MAX 511u /* bytes of the INFO reply's list: one
                                      less than MIXUP_PIPELINE_LIST_MAX */
#define MXP_ERRMSG_MAX 1024u   /* bytes of text in an error reply */
#define MXP_ALIGN 64u          /* batch arrays start on this boundary */

/* Header flags: trailers at the end of the body (see above). */
#define MXP_FLAG_AUTH 1u       /* the last MXP_AUTH_TRAILER bytes: the
                                  request's proof (requests only) */
#define MXP_FLAG_STREAM_KEY 2u /* MXP_STREAM_KEY_SIZE bytes before the proof
                                  (or last): the stream's key */
#define MXP_FLAGS_KNOWN 3u
#define MXP_TOKEN_SIZE 32u
#define MXP_STREAM_KEY_SIZE 16u
#define MXP_NONCE_SIZE 16u  /* HELLO nonces, OPEN nonce */
#define MXP_MAC_SIZE 32u    /* HMAC-SHA256 */
#define MXP_AUTH_TRAILER (2u * MXP_NONCE_SIZE + MXP_MAC_SIZE) /* client
                               nonce, daemon nonce, MAC */
#define MXP_HELLO_REP_BODY (MXP_NONCE_SIZE + MXP_MAC_SIZE)

enum mxp_type {
    MXP_INFO_REQ = 1,
    MXP_OPEN_REQ = 2,
    MXP_NEXT_REQ = 3,
    MXP_CLOSE_REQ = 4,
    MXP_STATS_REQ = 5,
    MXP_HELLO_REQ = 6,        /* v3: the client's nonce */
    MXP_INFO_REP = 0x81,
    MXP_OPEN_REP = 0x82,
    MXP_BATCH_REP = 0x83,
    MXP_CLOSE_REP = 0x84,
    MXP_STATS_REP = 0x85,
    MXP_BATCH_REF_REP = 0x86, /* v2: the batch is in a slot of the ring */
    MXP_HELLO_REP = 0x87,     /* v3: the daemon's nonce and proof */
    MXP_ERROR_REP = 0xff,
};

typedef struct mxp_header {
    uint32_t magic;
    uint16_t version;
    uint16_t type;
    uint32_t flags;
    uint64_t request_id;
    uint32_t body_len;
} mxp_header;

/* Limits a decoder enforces on top of the format's own. */
typedef struct mxp_limits {
    uint32_t max_message; /* whole message, header included */
} mxp_limits;

/* ---- requests (client → daemon) ---- */

#define MXP_OPEN_FIXED 64u /* body bytes of an OPEN request before the job name */

/* OPEN body: mode u32, prefetch u32, seed u64, start_epoch u64,
 * start_batch u64, rank u32, world u32, job_len u16, pipeline_len u16,
 * stride u16, offset u16, nonce (16 bytes); then the job name, then the
 * pipeline name (A-Z a-z 0-9 _ -; empty: main).
 *
 * The nonce (v3) identifies the OPEN: random, chosen by the client,
 * repeated when it retries that OPEN (after a timeout, a signal, or REQ
 * re-sending), and known to nobody else. The daemon answers an OPEN whose
 * nonce is that of a stream still open with that stream (its id and
 * key) instead of opening another; request ids, which other clients may
 * see, play no part in it. All zero: no retry is recognised.
 *
 * Striping: the stream takes batches offset, offset + stride,
 * offset + 2 stride, ... of the sequence it would have had from its start
 * position (counted across epochs). Stride 0 and 1 both mean every batch;
 * offset < max(stride, 1). A shared stream cannot be striped (the daemon
 * refuses it: its batches go first come first served). */
typedef struct mxp_open_req {
    uint32_t mode; /* mixup_mode */
    uint64_t seed;
    uint64_t start_epoch;
    uint64_t start_batch;
    uint32_t rank;
    uint32_t world;
    uint32_t prefetch; /* 0: the daemon's default */
    uint16_t job_len;
    const char *job; /* not NUL-terminated; job_len bytes */
    uint16_t pipeline_len; /* <= MXP_PIPELINE_MAX; 0: main */
    const char *pipeline;  /* not NUL-terminated */
    uint16_t stride;       /* 0, 1: every batch */
    uint16_t offset;       /* < max(stride, 1) */
    uint8_t nonce[MXP_NONCE_SIZE];
} mxp_open_req;

/* INFO body: the pipeline's name (0 .. MXP_PIPELINE_MAX bytes, the same
 * characters as in OPEN; empty: main). */
typedef struct mxp_info_req {
    uint16_t pipeline_len;
    const char *pipeline; /* not NUL-terminated; points into the message */
} mxp_info_req;

/* NEXT body (v2): stream_id u64, flags u32, n_release u32, then
 * n_release pairs {slot u32, generation u32}: the ring slots of earlier
 * BATCH_REF replies the client is done with. */
#define MXP_NEXT_FIXED 16u
#define MXP_NEXT_REF 1u          /* this client maps the ring: answer with a
                                    BATCH_REF when possible */
#define MXP_NEXT_FLAGS_KNOWN 1u
#define MXP_RELEASE_MAX 1024u    /* release pairs in one NEXT */

typedef struct mxp_next_req {
    uint64_t stream_id;
    uint32_t flags;      /* MXP_NEXT_* */
    uint32_t n_release;  /* <= MXP_RELEASE_MAX */
    const uint8_t *release; /* n_release pairs, read with
                               mxp_next_release_at(); points into the
                               message */
} mxp_next_req;

typedef struct mxp_request {
    mxp_header hdr;
    const uint8_t *auth;       /* MXP_AUTH_TRAILER bytes (MXP_FLAG_AUTH), or
                                  NULL; points into the message */
    const uint8_t *stream_key; /* MXP_STREAM_KEY_SIZE bytes, or NULL */
    union {
        mxp_info_req info;
        mxp_open_req open;
        mxp_next_req next;  /* NEXT */
        uint64_t stream_id; /* CLOSE */
        uint32_t stats_format; /* STATS: enum mxp_stats_format */
        const uint8_t *hello_nonce; /* HELLO: MXP_NONCE_SIZE bytes */
    } u;
} mxp_request;

/* ---- replies (daemon → client) ---- */

/* INFO reply body: v1's 48 bytes (samples .. source_dtype), then flags
 * u32, pipeline_len u16, pipelines_len u16, dataset_digest u64,
 * settings_digest u64, the pipeline's name, and the names of every
 * pipeline of the daemon separated by ',' (main first).
 *
 * Digests: two daemons serve the same batches exactly when
 * both agree. The dataset digest covers the loaded samples and labels
 * (their bytes and shape), the settings digest every option that shapes
 * a pipeline's batches. Both are opaque 64-bit values, compared only for
 * equality. */
#define MXP_INFO_BODY 72u /* fixed part */
#define MXP_INFO_BODY_MAX (MXP_INFO_BODY + MXP_PIPELINE_MAX + MXP_PIPELINE_LIST_MAX)
#define MXP_INFO_KEEP_LAST 1u /* batch.drop_last = false: an epoch ends
                                 with a partial batch, every sample once */
#define MXP_INFO_FLAGS_KNOWN 1u
#define MXP_OPEN_REP_BODY 152u /* v1's 40 bytes, the ring, the digests */
#define MXP_RING_NAME_MAX 64u  /* bytes of the ring's name, NUL-padded */
#define MXP_RING_TOKEN 16u
#define MXP_STATS_MAX (64u << 20) /* bytes of text in a stats reply */

/* Formats of a STATS request. */
enum mxp_stats_format { MXP_STATS_JSON = 0, MXP_STATS_TEXT = 1 };
#define MXP_BATCH_FIXED 64u /* body bytes of a batch reply before its arrays */

typedef struct mxp_info_rep {
    uint64_t samples;
    uint64_t batches_per_epoch;
    uint32_t height, width, channels, classes;
    uint32_t batch_size;
    float alpha;
    uint32_t shuffle;
    uint32_t source_dtype; /* 1 uint8, 2 float32 */
    uint32_t flags;        /* MXP_INFO_* */
    uint16_t pipeline_len, pipelines_len;
    uint64_t dataset_digest, settings_digest;
    const char *pipeline;  /* not NUL-terminated */
    const char *pipelines; /* not NUL-terminated */
} mxp_info_rep;

typedef struct mxp_open_rep {
    uint64_t stream_id;
    uint64_t batches_per_epoch; /* of the dataset's epoch */
    uint64_t stream_per_epoch;  /* of them, this stream's (sharded: /W) */
    uint64_t start_epoch;
    uint64_t start_batch;
    /* v2, zero copy. A POSIX shm name ("/" then at most 62 printable ASCII
     * bytes, no other '/', no spaces), NUL-padded; "" when the daemon does
     * not offer the ring to this client. Always NUL-terminated. */
    char ring_name[MXP_RING_NAME_MAX];
    uint8_t ring_token[MXP_RING_TOKEN]; /* random, identifies the segment:
                                           compare with its header's */
    uint64_t ring_bytes; /* size of the segment */
    uint32_t max_held;   /* BATCH_REF slots a stream may hold unreleased */
    /* then 4 reserved bytes on the wire, zero */
    uint64_t dataset_digest, settings_digest; /* as in INFO, of the
                                                 stream's pipeline */
} mxp_open_rep;

/* BATCH_REF reply body (v2): slot u32, generation u32, offset u64, size
 * u64, stream_id u64, epoch u64, index u64. The slot holds a complete
 * BATCH reply message (the bytes the socket path would send) of @size
 * bytes at @offset in the ring segment; decode it in place with
 * mxp_reply_decode() once mxp_batch_ref_check() accepts the reference and
 * the slot's generation word still reads @generation. */
#define MXP_BATCH_REF_BODY 48u

typedef struct mxp_batch_ref {
    uint32_t slot;
    uint32_t generation;
    uint64_t offset; /* from the start of the segment; page-aligned */
    uint64_t size;   /* of the message in the slot */
    uint64_t stream_id;
    uint64_t epoch;
    uint64_t index;
} mxp_batch_ref;

typedef struct mxp_stats_rep {
    uint32_t len;
    const char *text; /* not NUL-terminated */
} mxp_stats_rep;

typedef struct mxp_error_rep {
    int32_t code;
    uint32_t msg_len;
    const char *msg; /* not NUL-terminated */
} mxp_error_rep;

/* Optional sections of a batch reply (mxp_batch_shape.flags). */
#define MXP_BATCH_PAIRS 1u /* label1, label2 int32 [B] instead of y */
#define MXP_BATCH_AUG 2u   /* aug records (mxp_aug, 96 bytes) */
#define MXP_BATCH_AUG2 4u  /* two aug records per sample (before_mix) */
#define MXP_BATCH_FLAGS_KNOWN 7u
#define MXP_AUG_RECORD 96u

/* Shape of a batch reply; the array offsets follow from it. */
typedef struct mxp_batch_shape {
    uint32_t size; /* B */
    uint32_t height, width, channels, classes;
    uint32_t dtype;  /* mixup_dtype */
    uint32_t layout; /* mixup_layout */
    uint32_t flags;  /* MXP_BATCH_* */
} mxp_batch_shape;

/* Offsets from the start of the message (header included); an absent
 * section has offset 0. Order: index1, index2, lam, label1, label2, aug,
 * x, y; each section starts on a 64-byte boundary. */
typedef struct mxp_batch_layout {
    size_t index1, index2, lam, label1, label2, aug, x, y;
    size_t x_bytes, aug_count;
    size_t total; /* message size */
} mxp_batch_layout;

typedef struct mxp_batch_rep {
    uint64_t epoch;
    uint64_t index;
    uint64_t stream_id;
    uint64_t seq; /* v3: the how-manieth batch delivered to the stream
                     (from 1; a re-sent request gets its batch again with
                     the same number). 0 in a batch not yet delivered. */
    mxp_batch_shape shape;
    mxp_batch_layout layout;
} mxp_batch_rep;

/* HELLO reply (v3): pointers into the message. */
typedef struct mxp_hello_rep {
    const uint8_t *nonce; /* MXP_NONCE_SIZE bytes: the daemon's */
    const uint8_t *proof; /* MXP_MAC_SIZE bytes */
} mxp_hello_rep;

typedef struct mxp_reply {
    mxp_header hdr;
    const uint8_t *stream_key; /* an OPEN reply's (MXP_FLAG_STREAM_KEY), or
                                  NULL; points into the message */
    union {
        mxp_info_rep info;
        mxp_open_rep open;
        mxp_error_rep error;
        mxp_batch_rep batch;
        mxp_stats_rep stats;
        mxp_batch_ref ref;
        mxp_hello_rep hello;
    } u;
} mxp_reply;

/* ---- provenance records (the aug section of a batch reply) ---- */

/* One sample's augmentation record, as the host sees it (the public
 * mixup_aug of mixup.h has the same fields). On the wire it is 96 bytes,
 * every field little-endian at a fixed offset, written by
 * mxp_aug_encode() and read by mxp_aug_decode(), never by copying a host
 * struct:
 *
 *   offset size field              offset size field
 *   0      1    mix_kind           36     16   erase_value[4] f32
 *   1      1    flip               52     4    reserved1 (0)
 *   2      1    erase_fill         56     8    erase_noise_seed
 *   3      1    src_scale          64     4    cutmix_y0
 *   4      4    shift_dy f32       68     4    cutmix_y1
 *   8      4    shift_dx f32       72     4    cutmix_x0
 *   12     4    crop_y             76     4    cutmix_x1
 *   16     4    crop_x             80     16   src_box[2][4] u16
 *   20     4    erase_y
 *   24     4    erase_x
 *   28     4    erase_h
 *   32     4    erase_w
 *
 * src_box and src_scale (encoded image datasets; zero otherwise): the crop
 * box y, x, h, w in the source image of index1 ([0]) and index2 ([1]),
 * and the JPEG decode scale, log2 of its denominator, of index1 in bits
 * 0-3 and of index2 in bits 4-7. They were reserved fields (zero) before:
 * the record keeps its size and offsets. Reserved fields are written as
 * zero and ignored when read. */
typedef struct mxp_aug {
    uint8_t mix_kind;   /* mixup_mix_kind */
    uint8_t flip;       /* bit 0: left-right, bit 1: up-down */
    uint8_t erase_fill; /* 0 not erased, 1 constant, 2 per channel,
                           3 per-pixel uniform, 4 per-pixel normal */
    float shift_dy, shift_dx;
    uint32_t crop_y, crop_x;
    uint32_t erase_y, erase_x, erase_h, erase_w;
    float erase_value[4];
    uint64_t erase_noise_seed;
    uint32_t cutmix_y0, cutmix_y1, cutmix_x0, cutmix_x1;
    uint8_t src_scale;
    uint16_t src_box[2][4];
} mxp_aug;

void mxp_aug_encode(uint8_t out[MXP_AUG_RECORD], const mxp_aug *a);
void mxp_aug_decode(const uint8_t in[MXP_AUG_RECORD], mxp_aug *a);

/* ---- the ring segment's header (v2, zero copy) ----
 *
 * At offset 0 of the shared-memory segment that holds the ring's slots,
 * written by the daemon, checked by a client that maps it:
 *
 *   offset size field
 *   0      4    magic        "MXRG" (0x4752584d as a little-endian u32)
 *   4      4    version      MXP_VERSION
 *   8      16   token        = the OPEN reply's ring_token
 *   24     4    n_slots      >= 1
 *   28     4    reserved     0
 *   32     8    slot_size    bytes per slot, a nonzero multiple of 4096
 *   40     8    data_offset  where slot 0 starts; page-aligned, at or past
 *                            mxp_ring_head_size(n_slots)
 *   48     16   reserved     0
 *   64     4*n  generations  one u32 per slot (MXP_RING_GENS)
 *
 * Slot i's message starts at data_offset + i * slot_size. The daemon
 * publishes a slot's generation word when it lends the slot and clears it
 * (atomic stores, release) when the slot comes back, before any reuse. A
 * client checks it (acquire) before reading a lent slot, and, to know a
 * copy it made was not overwritten meanwhile, loads it again after an
 * acquire fence that follows the copy (a seqlock's reader). */
#define MXP_RING_MAGIC 0x4752584du
#define MXP_RING_FIXED 64u
#define MXP_RING_GENS 64u
#define MXP_RING_PAGE 4096u

typedef struct mxp_ring_head {
    uint8_t token[MXP_RING_TOKEN];
    uint32_t n_slots;
    uint64_t slot_size;
    uint64_t data_offset;
} mxp_ring_head;

/* Bytes of the header and generation table for @n_slots: 64 + 4 n rounded
 * up to a page. */
size_t mxp_ring_head_size(uint32_t n_slots);

/* Write the 64 fixed bytes (magic, version MXP_VERSION, fields, zero
 * reserved; not the generation table) into @buf of @cap bytes. Return
 * MXP_RING_FIXED, or MIXUP_EINVAL when @cap is short or the geometry
 * breaks a rule mxp_ring_head_decode() checks (the segment's length
 * aside). */
int mxp_ring_head_encode(uint8_t *buf, size_t cap, const mxp_ring_head *h);

/* Read and check the header of a mapped segment of @len bytes: magic,
 * version (MIXUP_EVERSION), reserved bytes, the geometry, and that every
 * slot lies inside @len (without overflow). Return 0 or MIXUP_EPROTO /
 * MIXUP_EVERSION with a message in @err. */
int mxp_ring_head_decode(const uint8_t *buf, size_t len, mxp_ring_head *out,
                         char *err, size_t errlen);

/* Check a BATCH_REF against the ring it names: slot < n_slots, offset is
 * the slot's start, and size fits in a slot. Return 0 or MIXUP_EPROTO. */
int mxp_batch_ref_check(const mxp_batch_ref *ref, const mxp_ring_head *h,
                        char *err, size_t errlen);

/* Generation word of @slot in a mapped segment (@slot < n_slots, checked
 * by the caller). */
static inline uint32_t mxp_ring_gen_load(const uint8_t *segment, uint32_t slot)
{
    const uint32_t *w =
        (const uint32_t *)(const void *)(segment + MXP_RING_GENS + 4u * (size_t)slot);
    return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static inline void mxp_ring_gen_store(uint8_t *segment, uint32_t slot,
                                      uint32_t generation)
{
    uint32_t *w = (uint32_t *)(void *)(segment + MXP_RING_GENS + 4u * (size_t)slot);
    __atomic_store_n(w, generation, __ATOMIC_RELEASE);
}

/* ---- functions ---- */

/* Write a header for a message of @type with @body_len body bytes. */
void mxp_header_encode(uint8_t *buf, uint16_t type, uint64_t request_id,
                       uint32_t body_len);

/* Decode and check a header against the message length. On failure the
 * header fields that could be read are still filled in (request_id so the
 * error reply can name the request). */
int mxp_header_decode(const uint8_t *buf, size_t len, const mxp_limits *lim,
                      mxp_header *hdr, char *err, size_t errlen);

/* Decode a request. Return 0 or MIXUP_EPROTO / EVERSION / ETOOBIG with a
 * message in @err naming the field. */
int mxp_request_decode(const uint8_t *buf, size_t len, const mxp_limits *lim,
                       mxp_request *req, char *err, size_t errlen);

/* Decode a reply; batch arrays are located but not copied. */
int mxp_reply_decode(const uint8_t *buf, size_t len, const mxp_limits *lim,
                     mxp_reply *rep, char *err, size_t errlen);

/* Request encoders: write into @buf (capacity @cap) and return the size,
 * or MIXUP_EINVAL if it does not fit or an argument is out of range. */
/* @pipeline: NULL or "" for main. */
int mxp_encode_info_req(uint8_t *buf, size_t cap, uint64_t request_id,
                        const char *pipeline);
int mxp_encode_open_req(uint8_t *buf, size_t cap, uint64_t request_id,
                        const mxp_open_req *open);
/* NEXT with @flags (MXP_NEXT_*) and @n_release (<= MXP_RELEASE_MAX) slots
 * released, slots[i] at generations[i] (both NULL when @n_release is 0). */
int mxp_encode_next_req(uint8_t *buf, size_t cap, uint64_t request_id,
                        uint64_t stream_id, uint32_t flags,
                        const uint32_t *slots, const uint32_t *generations,
                        uint32_t n_release);
/* Size of a NEXT request releasing @n_release slots. */
size_t mxp_next_req_size(uint32_t n_release);
/* Release pair @i (< next->n_release) of a decoded NEXT. */
void mxp_next_release_at(const mxp_next_req *next, uint32_t i, uint32_t *slot,
                         uint32_t *generation);
int mxp_encode_close_req(uint8_t *buf, size_t cap, uint64_t request_id,
                         uint64_t stream_id);
int mxp_encode_stats_req(uint8_t *buf, size_t cap, uint64_t request_id,
                         uint32_t format);
int mxp_encode_hello_req(uint8_t *buf, size_t cap, uint64_t request_id,
                         const uint8_t nonce[MXP_NONCE_SIZE]);

/* Reply encoders, same convention. */
int mxp_encode_info_rep(uint8_t *buf, size_t cap, uint64_t request_id,
                        const mxp_info_rep *info);
/* MIXUP_EINVAL also when open->ring_name is not a valid ring name. */
int mxp_encode_open_rep(uint8_t *buf, size_t cap, uint64_t request_id,
                        const mxp_open_rep *open);
int mxp_encode_batch_ref_rep(uint8_t *buf, size_t cap, uint64_t request_id,
                             const mxp_batch_ref *ref);
int mxp_encode_close_rep(uint8_t *buf, size_t cap, uint64_t request_id);
int mxp_encode_hello_rep(uint8_t *buf, size_t cap, uint64_t request_id,
                         const uint8_t nonce[MXP_NONCE_SIZE],
                         const uint8_t proof[MXP_MAC_SIZE]);
/* A stats reply carrying @len bytes of @text (at most MXP_STATS_MAX). */
int mxp_encode_stats_rep(uint8_t *buf, size_t cap, uint64_t request_id,
                         const char *text, uint32_t len);
int mxp_encode_error_rep(uint8_t *buf, size_t cap, uint64_t request_id,
                         int32_t code, const char *msg);
/* Size of an error reply carrying @msg (truncated to MXP_ERRMSG_MAX). */
size_t mxp_error_rep_size(const char *msg);

/* Compute where a batch's arrays go. Return 0, or MIXUP_ETOOBIG when the
 * message would exceed 4 GiB or a dimension is zero (MIXUP_EINVAL). */
int mxp_batch_layout_compute(const mxp_batch_shape *shape,
                             mxp_batch_layout *out);

/* Write a batch reply's header and fixed part into @buf, whose size must
 * be @layout->total; the caller (a worker) fills the arrays in place. */
void mxp_encode_batch_head(uint8_t *buf, uint64_t request_id,
                           uint64_t stream_id, uint64_t epoch, uint64_t index,
                           const mxp_batch_shape *shape,
                           const mxp_batch_layout *layout);

/* Size of an encoded message (header and body) from its header: a
 * prepared batch may be shorter than its slot (the last, partial batch of
 * an evaluation epoch). */
size_t mxp_message_size(const uint8_t *buf);

/* Patch the request id of an encoded message (a prepared batch is
 * written before the request that will take it arrives). */
void mxp_set_request_id(uint8_t *buf, uint64_t request_id);

/* Patch the stream id of an encoded batch reply (a shared job's batches
 * are prepared before it is known which member takes them). */
void mxp_set_batch_stream_id(uint8_t *buf, uint64_t stream_id);

/* Patch the delivery count (mxp_batch_rep.seq) of an encoded batch reply. */
void mxp_set_batch_seq(uint8_t *buf, uint64_t seq);

/* Append a trailer to the encoded message of @len bytes in @buf (capacity
 * @cap): @flag is MXP_FLAG_STREAM_KEY (@bytes: MXP_STREAM_KEY_SIZE) or
 * MXP_FLAG_AUTH (MXP_AUTH_TRAILER; mxp_auth_append() fills in its MAC);
 * the header's flags and body_len follow.
 * Return the new size, or MIXUP_EINVAL when it does not fit, @flag is
 * unknown or already set, or a stream key would follow the token. */
int mxp_append_trailer(uint8_t *buf, size_t cap, size_t len, uint32_t flag,
                       const uint8_t *bytes);

/* Compare two secrets of @n bytes in time that does not depend on where
 * they differ. Return 1 when equal. */
int mxp_secret_equal(const uint8_t *a, const uint8_t *b, size_t n);

/* A token file's text (@len bytes): exactly 2 * MXP_TOKEN_SIZE hex digits,
 * then optional whitespace. Return 0 with @out, or MIXUP_EINVAL with
 * @err saying what was found (never the secret itself). */
int mxp_token_parse(const char *text, size_t len,
                    uint8_t out[MXP_TOKEN_SIZE], char *err, size_t errlen);

/* ---- proofs (auth.c; HMAC-SHA256 from libsodium) ----
 *
 * Pure functions of their arguments, shared by the daemon and the client
 * so that both compute the same bytes. */

/* The daemon's proof in a HELLO reply. */
void mxp_auth_daemon_proof(const uint8_t token[MXP_TOKEN_SIZE],
                           const uint8_t client_nonce[MXP_NONCE_SIZE],
                           const uint8_t daemon_nonce[MXP_NONCE_SIZE],
                           uint8_t out[MXP_MAC_SIZE]);

/* The key a client signs its requests with after that exchange. */
void mxp_auth_session_key(const uint8_t token[MXP_TOKEN_SIZE],
                          const uint8_t client_nonce[MXP_NONCE_SIZE],
                          const uint8_t daemon_nonce[MXP_NONCE_SIZE],
                          uint8_t out[MXP_MAC_SIZE]);

/* Append the proof trailer (the two nonces, then the HMAC under @key of
 * every byte before the MAC) to the encoded message of @len bytes in
 * @buf (capacity @cap). Return the new size or MIXUP_EINVAL (as
 * mxp_append_trailer). */
int mxp_auth_append(uint8_t *buf, size_t cap, size_t len,
                    const uint8_t client_nonce[MXP_NONCE_SIZE],
                    const uint8_t daemon_nonce[MXP_NONCE_SIZE],
                    const uint8_t key[MXP_MAC_SIZE]);

/* Whether the decoded request @req (from @buf, @len bytes) carries a
 * proof made with @token. 1: yes; 0: no proof, or not with this token. */
int mxp_auth_check(const uint8_t *buf, size_t len, const mxp_request *req,
                   const uint8_t token[MXP_TOKEN_SIZE]);

/* Compare two MACs in constant time. Return 1 when equal. */
int mxp_mac_equal(const uint8_t a[MXP_MAC_SIZE], const uint8_t b[MXP_MAC_SIZE]);

/* Name of a message type for logs; "unknown" otherwise. */
const char *mxp_type_name(uint16_t type);

#endif /* MXP_PROTO_H */
