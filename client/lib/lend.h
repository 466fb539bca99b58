/*
 * lend.h — zero copy in libmixup: a daemon's ring mapped read-only, and
 * the batches lent from it (internal to the library).
 *
 * A client on the daemon's host maps the ring segment the OPEN reply
 * names (PROT_READ: a client can never write it) and checks that it is
 * that segment (its header's token). A BATCH_REF reply then names a slot
 * whose bytes are a complete batch reply, read in place. The slot stays
 * the client's until it is released: mixup_batch_release() queues the
 * release (from any thread) and the next NEXT request carries it.
 *
 * When the stream ends while batches are still held (stream or client
 * closed, stream reopened elsewhere), each slot is replaced, at the same
 * address, by a private copy of its bytes first (cl_ring_detach_all): the
 * daemon frees those slots, and a batch must not change under its reader
 * nor move (numpy arrays point into it). That mapping is then retired:
 * the next stream maps the ring again.
 *
 * The mapping is reference-counted: the client holds one reference, each
 * lent batch another, so a batch outlives its client.
 */
#ifndef CL_LEND_H
#define CL_LEND_H

#include <pthread.h>
#include <stdint.h>

#include "mixup.h"
#include "proto.h"

typedef struct cl_ring cl_ring;

/* What a mixup_batch * points to. */
typedef struct cl_batch {
    mixup_batch pub;   /* first: the public view */
    cl_ring *ring;     /* lent from this mapping (a reference), or NULL */
    uint32_t slot, generation;
    int detached;      /* copied into @own: nothing to release */
    void *own;         /* that copy */
    uint64_t seq;      /* the stream's delivery count (mxp_batch_rep) */
    struct cl_batch *prev, *next; /* the ring's held batches */
} cl_batch;

/* Map the ring an OPEN reply names and check its header and token.
 * Return 0, or MIXUP_ECONNECT (cannot open or map it: another host, or
 * no permission), MIXUP_EPROTO (not the segment the daemon meant) with
 * @err saying why. */
int cl_ring_map(cl_ring **out, const mxp_open_rep *rep, char *err,
                size_t errlen);

/* Is @r the ring this OPEN reply names? */
int cl_ring_is(const cl_ring *r, const mxp_open_rep *rep);

/* Drop a reference (the client's). The mapping goes with the last one. */
void cl_ring_unref(cl_ring *r);

/* Check a reference and locate its message. Return 0 with @msg, or
 * MIXUP_EPROTO / MIXUP_ESTALE (the slot's generation does not match)
 * with @err. */
int cl_ring_locate(cl_ring *r, const mxp_batch_ref *ref, const uint8_t **msg,
                   char *err, size_t errlen);

/* Record @b (built over a located message) as held: it takes a reference
 * on the ring. */
void cl_ring_hold(cl_ring *r, cl_batch *b, const mxp_batch_ref *ref);

/* The slot of a reference that could not be turned into a batch: give it
 * back with the next request. */
void cl_ring_give_back(cl_ring *r, uint32_t slot, uint32_t generation);

/* Release a held batch (any thread): queue its slot for the next request,
 * drop its reference. Frees nothing of @b itself. */
void cl_ring_release(cl_batch *b);

/* Move the queued releases (at most @max) into @slots/@gens; return how
 * many. They leave the queue: the request carrying them is sent again as
 * it was after a timeout, and the daemon ignores a release it already
 * made (or of a slot not lent to the stream), so none is lost or doubled. */
uint32_t cl_ring_take_releases(cl_ring *r, uint32_t *slots, uint32_t *gens,
                               uint32_t max);

/* The stream ends: give every held batch a private copy of its slot at
 * the same address, forget queued releases (the daemon takes the slots
 * back itself) and retire the mapping. Return 0 or MIXUP_ENOMEM (a batch
 * that could not be copied is marked stale). */
int cl_ring_detach_all(cl_ring *r);

/* Copy held @b into its own memory and queue its slot's release (the
 * stream goes on). Return 0 or MIXUP_ENOMEM (then still held). */
int cl_ring_keep(cl_batch *b);

/* 0 if @b's bytes are still those it was lent with (or it is not lent),
 * MIXUP_ESTALE if the daemon reused its slot. */
int cl_batch_check(const cl_batch *b);

#endif
