/*
 * streams.h — streams of batches, jobs, and the scheduling of the ring.
 *
 * A stream is one client's sequence of batches. Three kinds (DESIGN.md):
 *
 *   independent  the stream's own seed; batches 0, 1, 2, ... of each epoch.
 *   sharded      rank r of W in a named job: the job's seed, batches
 *                r, r+W, r+2W, ... of each epoch, floor(batches/W) of them
 *                per epoch (the rest of the epoch is dropped, as
 *                DistributedSampler with drop_last).
 *   shared       a member of a named job whose batches go, each to exactly
 *                one member, first come first served.
 *
 * A producer computes batches ahead (up to `prefetch`) in ring slots: each
 * independent or sharded stream has its own; a shared job has one for all
 * its members. Since batch (seed, epoch, k) is a pure function, anything
 * can be recomputed instead of kept: a re-sent request gets its batch
 * again, a stalled producer's prepared batches can be taken back when the
 * ring is full and another stream waits with nothing prepared, and a
 * shared batch sent to a member that never acknowledged it (by asking for
 * the next one, or closing) within `shared_lease` goes to another member.
 *
 * A ready batch reaches its client in one of two ways: lent (the slot
 * itself, for a client that maps the ring: it reads the batch in place
 * and releases it with a later request; at most `max_held` at a time) or
 * copied into a reply on its socket. A copy is in flight until the
 * client's next request shows it arrived; copies in flight are bounded by
 * `max_copy_bytes` together, and a stream whose copy would pass the bound
 * waits. So the daemon's batch memory is the ring plus that bound,
 * whatever clients do.
 *
 * The modules behind this header: sched.c, jobs.c, streams.c,
 * streams_describe.c (streams_internal.h).
 *
 * Loop thread only.
 */
#ifndef SRV_STREAMS_H
#define SRV_STREAMS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "batch.h"
#include "orders.h"
#include "proto.h"
#include "ring.h"
#include "workers.h"

/* How a ready batch leaves. Both take ownership of @control (the
 * request's routing header). */
typedef struct str_io {
    /* Copy @size bytes of a slot into a reply to @request_id and send
     * it (the id goes into the copy: a slot never holds one). */
    void (*send_copy)(void *ctx, void *control, uint64_t request_id,
                      const uint8_t *bytes, size_t size);
    /* Send a reference to a lent slot. */
    void (*send_ref)(void *ctx, void *control, uint64_t request_id,
                     const mxp_batch_ref *ref);
    void *ctx;
} str_io;

typedef struct str_limits {
    uint32_t max_streams;
    uint32_t prefetch;
    uint32_t max_held;      /* slots one client may hold lent */
    size_t max_copy_bytes;  /* copies in flight, all clients together */
    uint64_t idle_timeout_ms;
    uint64_t shared_lease_ms;
    uint32_t id_tag;        /* in every stream id: which table it is in
                               (a daemon's pipeline), < 128 */
} str_limits;

/* A stream id: bit 63 zero, the table's tag in bits 56..62, a generation
 * in bits 32..55 (ids of another daemon instance should not match ours),
 * the stream's index + 1 in bits 0..31. */
#define STR_ID_TAG_SHIFT 56
#define STR_ID_GEN_MASK 0x00ffffffu

static inline uint32_t str_id_tag(uint64_t stream_id)
{
    return (uint32_t)(stream_id >> STR_ID_TAG_SHIFT) & 0x7fu;
}

typedef struct str_counters {
    uint64_t streams_opened, streams_closed, streams_expired;
    uint64_t batches_computed, batches_sent, batches_recomputed;
    uint64_t batches_lent, batches_copied; /* batches_sent by transport */
    uint64_t copy_waits;        /* a copy waited for the budget */
    uint64_t releases_refused;  /* of slots the stream did not hold */
    uint64_t slots_reclaimed;   /* taken back from a stalled producer */
    uint64_t shared_redelivered; /* lease lapsed: handed to another member */
} str_counters;

typedef struct str_table str_table;

/* Return 0 or MIXUP_ENOMEM. */
int str_table_new(str_table **out, const str_limits *lim,
                  const bat_plan *plan, wrk_pool *pool, ring *ring,
                  const str_io *io);

/* Close every stream and free the table. Workers must be stopped first. */
void str_table_free(str_table *t);

/* Open a stream. An OPEN whose @request_id was seen recently (a client
 * retrying after a timeout or a signal) gets the stream it opened, not a
 * second one. Return 0 with @rep filled, or MIXUP_EINVAL (bad rank,
 * world, job name, or settings that conflict with the job's), EPOSITION,
 * ELIMIT, ENOMEM with @err saying which and why. */
int str_open(str_table *t, const mxp_open_req *req, uint64_t request_id,
             uint64_t now_ms, mxp_open_rep *rep, char *err, size_t errlen);

/* A NEXT request: first the slots it releases (one not lent to this
 * stream with that generation is refused and counted, the others
 * released), then its batch. A re-sent request whose answer was a loan
 * gets the same reference again. On 0 the stream owns @control and will
 * answer through the io functions (now, or when the batch is ready).
 * Else, with @err: MIXUP_ENOSTREAM (nothing changed); MIXUP_EHELD when the
 * request asks for a reference while the stream holds max_held slots
 * (its releases were made). @control stays the caller's then. */
int str_next(str_table *t, const mxp_next_req *req, uint64_t request_id,
             void *control, uint64_t now_ms, char *err, size_t errlen);

/* The key of an open stream, returned with its OPEN reply (a retried
 * OPEN gets the same). Return 0 or MIXUP_ENOSTREAM. */
int str_stream_key(str_table *t, uint64_t stream_id,
                   uint8_t out[MXP_STREAM_KEY_SIZE]);
/* Whether @key (MXP_STREAM_KEY_SIZE bytes, or NULL) is the stream's,
 * compared in constant time. Return 0, MIXUP_ENOSTREAM or MIXUP_EAUTH. */
int str_check_key(str_table *t, uint64_t stream_id, const uint8_t *key);
/* Close a stream (its lent slots come back). Return 0 or MIXUP_ENOSTREAM. */
int str_close(str_table *t, uint64_t stream_id);

/* Once a second: close streams idle past the timeout, re-queue shared
 * batches whose lease lapsed, update rates. */
void str_tick(str_table *t, uint64_t now_ms);

/* Drop every waiting request (shutdown). */
void str_drop_pending(str_table *t);

/* Change limits that may change at run time. */
void str_set_timeouts(str_table *t, uint64_t idle_ms, uint64_t lease_ms);

uint32_t str_count(const str_table *t);
/* Streams with a request waiting for its batch. */
uint32_t str_waiting(const str_table *t);
/* The daemon's open connections (once a second): copies of expired
 * streams stay charged while their connection may still hold them. */
void str_set_connections(str_table *t, uint64_t open);

/* Bytes of copies in flight (bounded by max_copy_bytes). */
size_t str_copy_bytes(const str_table *t);
const str_counters *str_get_counters(const str_table *t);
/* The epochs' orders: drawn (by workers), handed out shared, waited for,
 * evicted. */
const ord_counters *str_get_order_counters(const str_table *t);
/* Orders drawn and kept (in use or cached). */
uint32_t str_orders_ready(const str_table *t);

/* Describe jobs, and streams (positions, batches sent, rates), as JSON
 * objects appended to the array @jobs or @streams (jsonw.h), each naming
 * @pipeline, or as a human table. A stream's rate is
 * smoothed over the ticks; until a tick has seen its traffic, it is its
 * batches since the last tick (or its opening) over the time to @now_ms,
 * so traffic never shows as a zero rate. */
void str_describe_jobs_json(const str_table *t, const char *pipeline,
                            json_object *jobs);
void str_describe_streams_json(const str_table *t, const char *pipeline,
                               uint64_t now_ms, json_object *streams);
void str_describe_text(const str_table *t, const char *pipeline,
                       uint64_t now_ms, FILE *out);

#endif
