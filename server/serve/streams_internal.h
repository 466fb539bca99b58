/*
 * streams_internal.h — the state shared by the modules behind streams.h:
 *
 *   sched.c             producers (batches computed ahead into ring
 *                       slots), what each slot is computed for, and who
 *                       gets the next free slot; it tells the streams of
 *                       a ready slot through str_table.slot_ready
 *   jobs.c              named jobs: membership, waiting members, lapsed
 *                       shared batches
 *   streams.c           streams: open, next, close, time; delivery of a
 *                       ready slot (lent in place, or copied)
 *   streams_describe.c  jobs and streams for stats
 *
 * Not to be included outside these files. Loop thread only.
 */
#ifndef SRV_STREAMS_INTERNAL_H
#define SRV_STREAMS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "orders.h"
#include "streams.h"

enum { PROD_STREAM = 1, PROD_JOB = 2 };

/* Computes batches k = rank + i * world, i = 0 .. per_epoch - 1, of each
 * epoch from position (prod_epoch, prod_i) on, into a queue of slots;
 * every stride-th of them (a striped stream: i advances by stride,
 * carrying into the next epochs). */
typedef struct str_producer {
    int kind;
    int active;
    uint64_t seed;
    uint32_t rank, world;
    uint32_t stride; /* >= 1 */
    uint64_t per_epoch;
    smp_order *order; /* order of prod_epoch, or NULL */
    uint64_t prod_epoch, prod_i;
    ring_slot **queue;
    uint32_t q_head, q_len, q_cap;
} str_producer;

/* Who waits for a slot's batch. */
typedef enum sch_owner_kind {
    SCH_OWNER_QUEUE = 0, /* a producer's queue (owner: its producer) */
    SCH_OWNER_REDO,      /* one stream's recomputation (owner: the stream) */
} sch_owner_kind;

/* What a ring slot is being computed for: one per slot, same index. */
typedef struct sch_work {
    wrk_job job; /* first: the worker pool's handle on it */
    ring_slot *slot;
    void *owner; /* NULL when its owner went away */
    sch_owner_kind owner_kind;
    smp_order *order; /* the epoch's order (a reference) */
    uint64_t epoch, k;
    uint64_t stream_id;
    struct str_table *table;
} sch_work;

typedef struct str_pos {
    uint64_t epoch, k;
} str_pos;

struct str_job;

typedef struct str_stream {
    str_producer prod; /* independent and sharded streams only */
    uint64_t id;
    uint8_t key[MXP_STREAM_KEY_SIZE]; /* the opener's secret: NEXT and CLOSE
                                         must carry it; never in stats */
    int open;
    uint32_t mode;
    uint8_t open_nonce[MXP_NONCE_SIZE]; /* the OPEN's: a retry repeating
                              it gets open_rep (and the key); all zero:
                              none */
    mxp_open_rep open_rep; /* (kept as long as the stream: no bound of N
                              recent OPENs that a retry can outlive) */
    uint64_t seq;          /* batches delivered (mxp_batch_rep.seq) */
    struct str_job *job;
    int waiting; /* a request waits for its batch */
    uint64_t wait_req;
    void *control; /* its routing header (a nanomsg chunk) */
    int want_ref;  /* the waiting request takes a reference to a slot */
    int answered;  /* last_* are valid */
    uint64_t last_req, last_epoch, last_k;
    int need_redo; /* the waiting request gets (redo_epoch, redo_k) */
    uint64_t redo_epoch, redo_k;
    int redo_lapsed; /* that position is a lapsed shared batch */
    ring_slot *redo;
    ring_slot *redo_ready; /* recomputed, not yet delivered */
    int inflight; /* shared: last batch sent, not yet acknowledged */
    uint64_t inflight_epoch, inflight_k, sent_ms;
    size_t copy_bytes; /* the last batch copied to its socket, until the
                          client's next request shows it arrived */
    int copy_blocked;  /* its batch waits for the copy budget */
    ring_slot **held; /* lent to the client: max_held entries */
    uint32_t n_held;
    ring_slot *last_lent;   /* the last answer, when it was a loan */
    uint32_t last_lent_gen; /* its generation */
    struct str_stream *next_waiter;
    uint64_t last_active_ms, opened_ms;
    uint64_t sent, sent_at_tick, sent_lent;
    double rate; /* batches per second, smoothed */
} str_stream;

typedef struct str_job {
    str_producer prod; /* shared jobs only */
    int in_use;
    char name[MXP_JOB_MAX + 1];
    uint32_t mode;
    uint64_t seed;
    uint32_t world;
    uint32_t members;
    str_stream *wait_head, *wait_tail; /* members waiting, in order */
    str_pos *lapsed;                   /* lapsed batches, to hand again */
    uint32_t n_lapsed, cap_lapsed;
    uint64_t sent;
} str_job;

typedef struct job_table {
    str_job *jobs; /* cap entries */
    uint32_t cap;
    uint32_t hi;   /* jobs[] in use lie below this */
} job_table;

struct str_table {
    str_limits lim;
    const bat_plan *plan;
    wrk_pool *pool;
    ring *ring;
    str_io io;
    sch_work *work;      /* one per ring slot */
    str_stream *streams; /* lim.max_streams entries */
    job_table jobs;
    uint32_t n_open;
    uint32_t stream_hi;  /* streams[] in use lie below this (scans stop */
                         /* there: the loop thread pays for what is open, */
                         /* not for server.max_streams) */
    uint32_t rr;         /* where the next round-robin pass starts */
    str_producer **prods; /* scheduling scratch: 2 * max_streams */
    int *awaited;
    uint32_t generation; /* high half of stream ids */
    uint64_t batches_per_epoch;
    uint64_t now_ms;
    uint64_t last_tick_ms;
    size_t copy_bytes;   /* the streams' copy_bytes, and orphans' */
    uint32_t orphans;    /* copies of expired streams, maybe unread */
    uint32_t copy_blocked; /* streams waiting for copy budget */
    str_counters ctr;
    ord_cache orders;    /* epochs' orders, drawn by workers, shared */
    /* Called by the scheduler when a slot's batch is ready for its owner.
     * streams.c sets it: the scheduler lies below the streams and never
     * calls them by name. */
    void (*slot_ready)(struct str_table *t, sch_work *w);
};

#define STR_CONTAINER(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* ---- sched.c ---- */

int sch_producer_init(str_producer *p, int kind, uint64_t seed,
                      uint32_t rank, uint32_t world, uint64_t per_epoch,
                      uint64_t epoch, uint64_t i, uint32_t cap);
/* Give back every slot of the queue and the order. */
void sch_producer_clear(str_table *t, str_producer *p);
/* The first queued slot if it is READY (not taken off the queue). */
ring_slot *sch_queue_peek_ready(const str_producer *p);
void sch_queue_pop(str_producer *p);
/* Release a slot of ours: a FILLING one is released when its worker is
 * done with it. */
void sch_release_slot(str_table *t, ring_slot *slot);
/* The order cache's callback: an order was drawn, producers waiting for
 * it go on. @ctx is the table. */
void sch_orders_ready(void *ctx);
/* Hand free slots out: first to those waiting with nothing prepared
 * (taking back a prepared slot of a stalled producer if the ring is full),
 * then to the producer with the fewest prepared. */
void sch_schedule(str_table *t);
/* The work record of a slot. */
static inline sch_work *sch_work_of(str_table *t, const ring_slot *slot)
{
    return &t->work[slot->index];
}

/* Pure decisions, over producers 0 .. n-1 (NULL: not in use). */
/* The producer that gets the next free slot: the fewest prepared among
 * those below their depth, ties broken from @rr on. -1 if none. */
int sch_pick_fill(str_producer *const *prods, uint32_t n, uint32_t rr);
/* The producer whose last prepared batch is taken back for @needy: the
 * longest queue whose last slot is READY, keeping one for a producer that
 * someone waits on. -1 if none. */
int sch_pick_victim(str_producer *const *prods, const int *awaited,
                    uint32_t n, const str_producer *needy);

/* ---- jobs.c ---- */

int job_table_init(job_table *jt, uint32_t cap);
void job_table_free(job_table *jt);
str_job *job_find(job_table *jt, const char *name, size_t len);
/* An existing job accepts a stream only with the same settings. */
int job_check(const str_job *j, const mxp_open_req *req, char *err,
              size_t errlen);
/* A new job, without members; NULL if the table is full. */
str_job *job_create(job_table *jt, const mxp_open_req *req);
/* Drop a member. Return the members left; at 0 the caller clears the
 * producer and calls job_end(). */
uint32_t job_leave(str_job *j);
void job_end(job_table *jt, str_job *j);
void job_wait_push(str_job *j, str_stream *s);
void job_wait_remove(str_job *j, str_stream *s);
/* Remember a lapsed batch (at the back, or at the front when @first: it
 * was already handed out once). 0 or MIXUP_ENOMEM. */
int job_lapse(str_job *j, str_pos pos, int first);
/* Take the oldest lapsed batch. 0 if there is none. */
int job_take_lapsed(str_job *j, str_pos *pos);
const char *job_mode_name(uint32_t mode);

/* ---- streams.c ---- */

/* Hand ready batches of a shared job to its waiting members. */
void str_job_dispatch(str_table *t, str_job *job);

#endif
