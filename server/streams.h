/*
 * streams.h — streams of batches and the scheduling of the ring.
 *
 * A stream is a client's position in a sequence of batches: (seed, epoch,
 * batch). It prepares up to `prefetch` batches ahead of its requests in
 * ring slots, answers its NEXT requests in order, and gives its slots back
 * when it closes or sits idle past its timeout.
 *
 * Requests are answered exactly once per request id: a re-sent request
 * (nanomsg's REQ re-sends when a connection drops, or the client retries
 * after a timeout) gets the same batch again, recomputed if it was already
 * sent — the determinism contract makes that free of state.
 *
 * When the ring is full and a stream with a waiting request has nothing
 * prepared, a prepared batch at the end of the longest other queue is
 * taken back (its stream recomputes it later): a stalled client cannot
 * starve the others.
 *
 * Loop thread only.
 */
#ifndef SRV_STREAMS_H
#define SRV_STREAMS_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "proto.h"
#include "ring.h"
#include "workers.h"

/* Sends a ready batch as the reply to a request: takes ownership of
 * @control (the routing header) and of @msg. */
typedef void (*str_send_fn)(void *ctx, void *control, uint8_t *msg,
                            size_t size);

typedef struct str_limits {
    uint32_t max_streams;
    uint32_t prefetch;
    uint64_t idle_timeout_ms;
} str_limits;

typedef struct str_counters {
    uint64_t streams_opened, streams_closed, streams_expired;
    uint64_t batches_computed, batches_sent, batches_recomputed;
    uint64_t slots_reclaimed; /* taken back from a stalled queue */
} str_counters;

typedef struct str_table str_table;

/* Return 0 or MIXUP_ENOMEM. */
int str_table_new(str_table **out, const str_limits *lim,
                  const bat_plan *plan, wrk_pool *pool, ring *ring,
                  str_send_fn send, void *send_ctx);

/* Close every stream and free the table. Workers must be stopped first. */
void str_table_free(str_table *t);

/* Open a stream. Return 0 with @rep filled, or MIXUP_EMODE, EPOSITION,
 * ELIMIT, ENOMEM with @err. */
int str_open(str_table *t, const mxp_open_req *req, uint64_t now_ms,
             mxp_open_rep *rep, char *err, size_t errlen);

/* A NEXT request. On 0 the stream owns @control and will answer through
 * the send function (now, or when the batch is ready). Else MIXUP_ENOSTREAM
 * with @err, and @control stays the caller's. */
int str_next(str_table *t, uint64_t stream_id, uint64_t request_id,
             void *control, uint64_t now_ms, char *err, size_t errlen);

/* Close a stream. Return 0 or MIXUP_ENOSTREAM. */
int str_close(str_table *t, uint64_t stream_id);

/* Close streams idle longer than the timeout with no request waiting. */
void str_expire_idle(str_table *t, uint64_t now_ms);

/* Drop every waiting request (shutdown). */
void str_drop_pending(str_table *t);

/* Change limits that may change at run time (idle timeout). */
void str_set_idle_timeout(str_table *t, uint64_t ms);

uint32_t str_count(const str_table *t);
const str_counters *str_get_counters(const str_table *t);

#endif
