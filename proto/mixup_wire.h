/*
 * mixup_wire.h — the enums that travel on the wire (batch replies, OPEN
 * requests), shared by the protocol, the daemon and the client library.
 * Included by mixup.h. Values never change once released.
 */
#ifndef MIXUP_WIRE_H
#define MIXUP_WIRE_H

/** Bytes of a pipeline's name, and of the list of a daemon's pipelines
 * (mixup_info), the terminating NUL included in the latter. */
#define MIXUP_PIPELINE_MAX 32
#define MIXUP_PIPELINE_LIST_MAX 512

/** Element type of a batch's images. */
typedef enum mixup_dtype {
    MIXUP_FLOAT32 = 1,
    MIXUP_FLOAT16 = 2,  /* IEEE half, round to nearest even */
    MIXUP_BFLOAT16 = 3, /* the top 16 bits of float32, round to nearest even */
} mixup_dtype;

/** Memory layout of a batch's images. */
typedef enum mixup_layout {
    MIXUP_NHWC = 0,
    MIXUP_NCHW = 1,
} mixup_layout;

/** How a sample was mixed (mixup_aug.mix_kind). */
typedef enum mixup_mix_kind {
    MIXUP_KIND_NONE = 0,   /* lam = 1: the first sample alone */
    MIXUP_KIND_MIXUP = 1,  /* lam * x1 + (1 - lam) * x2 */
    MIXUP_KIND_CUTMIX = 2, /* x1 with the cutmix box pasted from x2 */
} mixup_mix_kind;

/** How a stream relates to other clients (DESIGN.md, "Data flow"). */
typedef enum mixup_mode {
    MIXUP_MODE_INDEPENDENT = 0, /* the stream's own seed, nobody else's */
    MIXUP_MODE_SHARDED = 1,     /* rank r of W: batches r, r+W, ... of the
                                   job's epochs */
    MIXUP_MODE_SHARED = 2,      /* each batch of the job to one client */
} mixup_mode;

#endif /* MIXUP_WIRE_H */
