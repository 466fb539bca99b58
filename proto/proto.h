/*
 * proto.h — the mixupd wire format: pure encode/decode, no I/O.
 *
 * Every message is a 24-byte little-endian header followed by a body:
 *
 *   offset size field
 *   0      4    magic       "MIXP" (0x5058494d as a little-endian u32)
 *   4      2    version     MXP_VERSION
 *   6      2    type        enum mxp_type
 *   8      4    flags       0 in version 1 (any other bit is rejected)
 *   12     8    request_id  chosen by the client, echoed in the reply
 *   20     4    body_len    bytes after the header; must match exactly
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

#include "mixup.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "mixupd's wire format assumes a little-endian host"
#endif

#define MXP_MAGIC 0x5058494du
#define MXP_VERSION 1u
#define MXP_HEADER_SIZE 24u
#define MXP_JOB_MAX 64u        /* bytes in a job name */
#define MXP_ERRMSG_MAX 1024u   /* bytes of text in an error reply */
#define MXP_ALIGN 64u          /* batch arrays start on this boundary */

enum mxp_type {
    MXP_INFO_REQ = 1,
    MXP_OPEN_REQ = 2,
    MXP_NEXT_REQ = 3,
    MXP_CLOSE_REQ = 4,
    MXP_STATS_REQ = 5,
    MXP_INFO_REP = 0x81,
    MXP_OPEN_REP = 0x82,
    MXP_BATCH_REP = 0x83,
    MXP_CLOSE_REP = 0x84,
    MXP_STATS_REP = 0x85,
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

#define MXP_OPEN_FIXED 48u /* body bytes of an OPEN request before the job name */

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
} mxp_open_req;

typedef struct mxp_request {
    mxp_header hdr;
    union {
        mxp_open_req open;
        uint64_t stream_id; /* NEXT, CLOSE */
        uint32_t stats_format; /* STATS: enum mxp_stats_format */
    } u;
} mxp_request;

/* ---- replies (daemon → client) ---- */

#define MXP_INFO_BODY 48u
#define MXP_OPEN_REP_BODY 40u
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
} mxp_info_rep;

typedef struct mxp_open_rep {
    uint64_t stream_id;
    uint64_t batches_per_epoch; /* of the dataset's epoch */
    uint64_t stream_per_epoch;  /* of them, this stream's (sharded: /W) */
    uint64_t start_epoch;
    uint64_t start_batch;
} mxp_open_rep;

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
#define MXP_BATCH_AUG 2u   /* aug records (mixup_aug, 96 bytes) */
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
    mxp_batch_shape shape;
    mxp_batch_layout layout;
} mxp_batch_rep;

typedef struct mxp_reply {
    mxp_header hdr;
    union {
        mxp_info_rep info;
        mxp_open_rep open;
        mxp_error_rep error;
        mxp_batch_rep batch;
        mxp_stats_rep stats;
    } u;
} mxp_reply;

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
int mxp_encode_info_req(uint8_t *buf, size_t cap, uint64_t request_id);
int mxp_encode_open_req(uint8_t *buf, size_t cap, uint64_t request_id,
                        const mxp_open_req *open);
int mxp_encode_next_req(uint8_t *buf, size_t cap, uint64_t request_id,
                        uint64_t stream_id);
int mxp_encode_close_req(uint8_t *buf, size_t cap, uint64_t request_id,
                         uint64_t stream_id);
int mxp_encode_stats_req(uint8_t *buf, size_t cap, uint64_t request_id,
                         uint32_t format);

/* Reply encoders, same convention. */
int mxp_encode_info_rep(uint8_t *buf, size_t cap, uint64_t request_id,
                        const mxp_info_rep *info);
int mxp_encode_open_rep(uint8_t *buf, size_t cap, uint64_t request_id,
                        const mxp_open_rep *open);
int mxp_encode_close_rep(uint8_t *buf, size_t cap, uint64_t request_id);
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

/* Patch the request id of an encoded message (a prepared batch is
 * written before the request that will take it arrives). */
void mxp_set_request_id(uint8_t *buf, uint64_t request_id);

/* Patch the stream id of an encoded batch reply (a shared job's batches
 * are prepared before it is known which member takes them). */
void mxp_set_batch_stream_id(uint8_t *buf, uint64_t stream_id);

/* Name of a message type for logs; "unknown" otherwise. */
const char *mxp_type_name(uint16_t type);

#endif /* MXP_PROTO_H */
