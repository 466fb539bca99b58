/*
 * ring.h — the fixed pool of batch slots, sized at start-up.
 *
 * A slot holds one batch reply being computed or waiting for its request.
 * Its buffer is a nanomsg message (nn_allocmsg), so a ready batch leaves
 * with nn_sendmsg(NN_MSG) without a copy; the slot then takes a fresh
 * buffer the next time it is acquired. The pool bounds memory: nothing
 * grows with the number of requests, and a full ring is backpressure.
 * Loop thread only.
 */
#ifndef SRV_RING_H
#define SRV_RING_H

#include <stddef.h>
#include <stdint.h>

#include "sampler.h"
#include "workers.h"

typedef enum ring_state {
    RING_FREE = 0,
    RING_FILLING, /* a worker is writing it */
    RING_READY,   /* complete, waiting to be sent */
} ring_state;

/* Who waits for a slot's batch. */
typedef enum ring_owner_kind {
    RING_OWNER_QUEUE = 0, /* a producer's queue (owner: its producer) */
    RING_OWNER_REDO,      /* one stream's recomputation (owner: the stream) */
} ring_owner_kind;

typedef struct ring_slot {
    wrk_job job;               /* first: the job is the slot */
    ring_state state;
    void *owner;               /* NULL when its owner went away */
    ring_owner_kind owner_kind;
    smp_order *order;          /* the epoch's order (a reference) */
    uint64_t epoch, k;
    uint64_t stream_id;
    uint8_t *msg;              /* nn_allocmsg buffer, or NULL */
    void *scratch;             /* the worker's room while building it */
    size_t size;
    const void *plan;          /* bat_plan used by run() */
    void *ctx;                 /* the stream table, for done() */
    struct ring_slot *next_free;
} ring_slot;

typedef struct ring {
    ring_slot *slots;
    uint32_t n, n_free;
    size_t msg_size;
    ring_slot *free_list;
} ring;

/* @scratch_size: working memory each slot's batch needs (allocated here,
 * once: nothing is allocated while serving). Return 0 or MIXUP_ENOMEM. */
int ring_init(ring *r, uint32_t n, size_t msg_size, size_t scratch_size);

/* A free slot with a message buffer of msg_size bytes, or NULL when the
 * ring is full or nanomsg cannot allocate. */
ring_slot *ring_acquire(ring *r);

/* Give the slot back and drop its order reference. A buffer that was not
 * sent stays with the slot for the next batch; one that was sent must have
 * been set to NULL by the sender (nanomsg owns it then). */
void ring_release(ring *r, ring_slot *slot);

/* Free what is left; every slot must be FREE or READY (no worker running). */
void ring_destroy(ring *r);

#endif
