/*
 * ring.h — the batch ring: every byte of every batch lives here.
 *
 * A fixed set of slots in one shared-memory segment, sized at start-up
 * (server.ring_slots slots of one batch reply each, page-aligned). Local
 * clients map the segment read-only and read batches in place; remote ones
 * get a copy through their socket. Nothing is allocated per batch.
 *
 * Each slot has one lifecycle, and every transition is a function here:
 *
 *     FREE --acquire--> FILLING --filled--> READY --lend--> LENT ----+
 *       ^                                     |                      |
 *       |                                     +--send--> SENDING ----+
 *       +---------------------release (from READY, LENT, SENDING)----+
 *
 *   FILLING  a worker writes the slot (the only time anyone writes it)
 *   READY    complete, waiting for a request
 *   LENT     a local client reads it in place until it releases it
 *   SENDING  its bytes are being copied into a remote client's reply
 *
 * The generation of a slot changes at every acquire, and is published in
 * the segment's generation table when the slot is lent: a client compares
 * it with the one of its reference, so a reference that outlived its
 * batch is an error, never other bytes. Which stream a slot is for is not
 * the ring's business (streams.h). Loop thread only, but for the bytes of
 * a FILLING slot, which belong to the worker filling it.
 *
 * Invariant (ring_check): the counts per state sum to the ring size and
 * the free list holds exactly the FREE slots.
 */
#ifndef SRV_RING_H
#define SRV_RING_H

#include <stddef.h>
#include <stdint.h>

#include "shm.h"

typedef enum ring_state {
    RING_FREE = 0,
    RING_FILLING,
    RING_READY,
    RING_LENT,
    RING_SENDING,
    RING_N_STATES
} ring_state;

typedef struct ring_slot {
    uint8_t *data;       /* the slot's bytes in the segment */
    uint32_t index;
    uint32_t generation; /* changes at every acquire; never 0 */
    ring_state state;
    uint32_t next_free;  /* free list: index + 1 of the next, 0 ends */
} ring_slot;

typedef struct ring_config {
    const char *instance; /* server.name: the segment's name says whose */
    const char *what;     /* last part of the name; NULL: "ring" */
    uint32_t slots;
    size_t msg_size;      /* bytes of one batch reply */
    unsigned mode;        /* of the segment (0600: this user only) */
} ring_config;

typedef struct ring {
    shm_segment seg;
    ring_slot *slots;
    uint32_t n;
    size_t msg_size, slot_size, data_offset;
    uint32_t free_head;  /* index + 1, 0 when full */
    uint32_t count[RING_N_STATES];
    uint8_t token[16];   /* random: tells this segment from any other */
    int probe_fd_plus1;  /* the segment opened again, for ring_slot_read_by
                          * (+1: a zeroed ring holds no descriptor) */
} ring;

/* Does some process hold a read lock on @s's bytes in the segment? A
 * zero-copy client takes one (an open file description lock, which the
 * kernel drops when the client dies) while it holds the slot's batch, so
 * a slot of a stream that expired goes back only once its reader is done
 * with it or gone. */
int ring_slot_read_by_someone(const ring *r, const ring_slot *s);

/* Bytes of the segment of @slots slots of @msg_size-byte batches, or 0
 * if that overflows. */
size_t ring_segment_bytes(uint32_t slots, size_t msg_size);

/* Create the segment (space reserved: a full /dev/shm is an error here,
 * MIXUP_ENOSPC) and the slots. Return 0 or a MIXUP_E* code with @err. On
 * failure nothing is left behind. */
int ring_init(ring *r, const ring_config *cfg, char *err, size_t errlen);

/* FREE -> FILLING, with a new generation. NULL when no slot is free (a
 * full ring is backpressure, not an error). */
ring_slot *ring_acquire(ring *r);

/* FILLING -> READY. */
void ring_filled(ring *r, ring_slot *s);

/* READY -> LENT: publishes the generation for the client to check. */
void ring_lend(ring *r, ring_slot *s);

/* READY -> SENDING. */
void ring_send(ring *r, ring_slot *s);

/* READY, LENT or SENDING -> FREE. A FILLING slot cannot be released: its
 * worker still writes it (streams.c releases it when the worker is done). */
void ring_release(ring *r, ring_slot *s);

/* The slot @index if it is LENT with @generation, else NULL: what a
 * client's release names must be exactly what it was lent. */
ring_slot *ring_lent_slot(ring *r, uint32_t index, uint32_t generation);

static inline uint32_t ring_count(const ring *r, ring_state st)
{
    return r->count[st];
}

/* Check the invariants. Return 0, or -1 (tests). */
int ring_check(const ring *r);

/* Name of a state, for stats. */
const char *ring_state_name(ring_state st);

/* Unmap and unlink the segment, free the slots. No worker may be running. */
void ring_destroy(ring *r);

#endif
