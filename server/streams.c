/*
 * streams.c — see streams.h.
 *
 * Layout of this file: producers (compute ahead into ring slots), jobs
 * (named groups of streams), delivery, scheduling, the public entry
 * points, and the descriptions for stats.
 */
#include "streams.h"

#include <nanomsg/nn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum { PROD_STREAM = 1, PROD_JOB = 2 };

/* Computes batches k = rank + i * world, i = 0 .. per_epoch - 1, of each
 * epoch from prod position (epoch, i) on, into a queue of ring slots. */
typedef struct str_producer {
    int kind;
    int active;
    uint64_t seed;
    uint32_t rank, world;
    uint64_t per_epoch;
    smp_order *order; /* order of prod_epoch, or NULL */
    uint64_t prod_epoch, prod_i;
    ring_slot **queue;
    uint32_t q_head, q_len, q_cap;
} str_producer;

struct str_job;

typedef struct str_stream {
    str_producer prod; /* independent and sharded streams only */
    uint64_t id;
    int open;
    uint32_t mode;
    struct str_job *job;
    int waiting; /* a request waits for its batch */
    uint64_t wait_req;
    void *control; /* its routing header (a nanomsg chunk) */
    int answered;  /* last_* are valid */
    uint64_t last_req, last_epoch, last_k;
    int need_redo; /* the waiting request gets (redo_epoch, redo_k) */
    uint64_t redo_epoch, redo_k;
    ring_slot *redo;
    int inflight; /* shared: last batch sent, not yet acknowledged */
    uint64_t inflight_epoch, inflight_k, sent_ms;
    struct str_stream *next_waiter;
    uint64_t last_active_ms;
    uint64_t sent, sent_at_tick;
    double rate; /* batches per second, smoothed */
} str_stream;

typedef struct str_pos {
    uint64_t epoch, k;
} str_pos;

typedef struct str_job {
    str_producer prod; /* shared jobs only */
    int in_use;
    char name[MXP_JOB_MAX + 1];
    uint32_t mode;
    uint64_t seed;
    uint32_t world;
    uint32_t members;
    str_stream *wait_head, *wait_tail; /* members waiting, in order */
    str_pos *redeliver;                /* lapsed batches, to hand again */
    uint32_t n_redeliver, cap_redeliver;
    uint64_t sent;
} str_job;

struct str_table {
    str_limits lim;
    const bat_plan *plan;
    wrk_pool *pool;
    ring *ring;
    str_send_fn send;
    void *send_ctx;
    str_stream *streams; /* lim.max_streams entries */
    str_job *jobs;       /* as many: a job has at least one member */
    uint32_t n_open;
    uint32_t stream_hi;  /* streams[] in use lie below this (scans stop */
    uint32_t job_hi;     /* there: the loop thread pays for what is open, */
                         /* not for server.max_streams) */
    uint32_t rr;         /* where the next round-robin pass starts */
    uint32_t generation; /* high half of stream ids */
    uint64_t batches_per_epoch;
    uint64_t now_ms;
    uint64_t last_tick_ms;
    str_counters ctr;
    struct {
        uint64_t request_id; /* 0: empty */
        mxp_open_rep rep;
    } recent_opens[64];      /* for retried OPENs, oldest overwritten */
    uint32_t next_recent;
};

static void schedule(str_table *t);
static void job_dispatch(str_table *t, str_job *job);
static void stream_try_deliver(str_table *t, str_stream *s);

#define CONTAINER(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* ------------------------------------------------------------ producers */

static int producer_init(str_producer *p, int kind, uint64_t seed,
                         uint32_t rank, uint32_t world, uint64_t per_epoch,
                         uint64_t epoch, uint64_t i, uint32_t cap)
{
    *p = (str_producer){.kind = kind, .seed = seed, .rank = rank,
                        .world = world, .per_epoch = per_epoch,
                        .prod_epoch = epoch, .prod_i = i, .q_cap = cap};
    p->queue = calloc(cap, sizeof *p->queue);
    if (!p->queue)
        return MIXUP_ENOMEM;
    p->active = 1;
    return 0;
}

static ring_slot *queue_at(const str_producer *p, uint32_t i)
{
    return p->queue[(p->q_head + i) % p->q_cap];
}

static ring_slot *queue_pop_ready(str_producer *p)
{
    if (p->q_len == 0 || queue_at(p, 0)->state != RING_READY)
        return NULL;
    ring_slot *slot = queue_at(p, 0);
    p->q_head = (p->q_head + 1) % p->q_cap;
    p->q_len--;
    return slot;
}

static void release_slot(str_table *t, ring_slot *slot)
{
    if (slot->state == RING_FILLING)
        slot->owner = NULL; /* slot_done() releases it */
    else
        ring_release(t->ring, slot);
}

static void producer_clear(str_table *t, str_producer *p)
{
    if (!p->active)
        return;
    for (uint32_t i = 0; i < p->q_len; i++)
        release_slot(t, queue_at(p, i));
    smp_order_unref(p->order);
    free(p->queue);
    *p = (str_producer){0};
}

static void run_slot(wrk_job *job)
{
    ring_slot *slot = (ring_slot *)job;
    bat_build_with(slot->plan, slot->order, slot->k, slot->stream_id,
                   slot->msg, slot->scratch);
}

static void slot_done(wrk_job *job);

static void start_slot(str_table *t, ring_slot *slot, void *owner,
                       ring_owner_kind kind, smp_order *order, uint64_t k,
                       uint64_t stream_id)
{
    smp_order_ref(order);
    slot->order = order;
    slot->owner = owner;
    slot->owner_kind = kind;
    slot->epoch = order->epoch;
    slot->k = k;
    slot->stream_id = stream_id;
    slot->plan = t->plan;
    slot->ctx = t;
    slot->job.run = run_slot;
    slot->job.done = slot_done;
    wrk_submit(t->pool, &slot->job);
}

/* The order of the producer's next batch, moving to the next epoch when
 * the current one is exhausted. NULL when out of memory. */
static smp_order *production_order(str_table *t, str_producer *p)
{
    if (p->prod_i >= p->per_epoch) {
        p->prod_epoch++;
        p->prod_i = 0;
        smp_order_unref(p->order);
        p->order = NULL;
    }
    if (!p->order)
        p->order = smp_order_new(&t->plan->smp, p->seed, p->prod_epoch);
    return p->order;
}

static uint64_t producer_stream_id(str_producer *p)
{
    return p->kind == PROD_STREAM ? CONTAINER(p, str_stream, prod)->id : 0;
}

static int produce_one(str_table *t, str_producer *p)
{
    smp_order *order = production_order(t, p);
    if (!order)
        return 0;
    ring_slot *slot = ring_acquire(t->ring);
    if (!slot)
        return 0;
    p->queue[(p->q_head + p->q_len) % p->q_cap] = slot;
    p->q_len++;
    start_slot(t, slot, p, RING_OWNER_QUEUE, order,
               p->rank + p->prod_i * p->world, producer_stream_id(p));
    p->prod_i++;
    return 1;
}

/* Does someone wait on this producer right now? */
static int producer_awaited(const str_producer *p)
{
    if (p->kind == PROD_JOB)
        return CONTAINER(p, str_job, prod)->wait_head != NULL;
    const str_stream *s = CONTAINER(p, str_stream, prod);
    return s->waiting && !s->need_redo && !s->redo;
}

/* Take back the last prepared batch of the longest queue other than
 * @needy's: the victim rewinds and computes that batch again later. */
static int reclaim_for(str_table *t, const void *needy);

/* ------------------------------------------------------------ delivery */

static void deliver(str_table *t, str_stream *s, ring_slot *slot)
{
    mxp_set_request_id(slot->msg, s->wait_req);
    mxp_set_batch_stream_id(slot->msg, s->id);
    t->send(t->send_ctx, s->control, slot->msg, slot->size);
    slot->msg = NULL; /* nanomsg owns it now */
    s->control = NULL;
    s->waiting = 0;
    s->answered = 1;
    s->last_req = s->wait_req;
    s->last_epoch = slot->epoch;
    s->last_k = slot->k;
    s->sent++;
    if (s->job)
        s->job->sent++;
    if (s->job && s->job->mode == MIXUP_MODE_SHARED) {
        s->inflight = 1;
        s->inflight_epoch = slot->epoch;
        s->inflight_k = slot->k;
        s->sent_ms = t->now_ms;
    }
    t->ctr.batches_sent++;
    ring_release(t->ring, slot);
}

static void stream_try_deliver(str_table *t, str_stream *s)
{
    if (!s->waiting || s->need_redo || s->redo)
        return;
    ring_slot *slot = queue_pop_ready(&s->prod);
    if (slot)
        deliver(t, s, slot);
}

static void waiter_remove(str_job *job, str_stream *s)
{
    str_stream **pp = &job->wait_head;
    str_stream *prev = NULL;
    while (*pp && *pp != s) {
        prev = *pp;
        pp = &(*pp)->next_waiter;
    }
    if (!*pp)
        return;
    *pp = s->next_waiter;
    if (job->wait_tail == s)
        job->wait_tail = prev;
    s->next_waiter = NULL;
}

static void waiter_push(str_job *job, str_stream *s)
{
    s->next_waiter = NULL;
    if (job->wait_tail)
        job->wait_tail->next_waiter = s;
    else
        job->wait_head = s;
    job->wait_tail = s;
}

/* Hand the job's batches to its waiting members, first come first served:
 * lapsed batches first (they are older), then the prepared queue. */
static void job_dispatch(str_table *t, str_job *job)
{
    while (job->wait_head) {
        str_stream *s = job->wait_head;
        if (job->n_redeliver > 0) {
            str_pos pos = job->redeliver[0];
            memmove(job->redeliver, job->redeliver + 1,
                    --job->n_redeliver * sizeof *job->redeliver);
            waiter_remove(job, s);
            s->need_redo = 1;
            s->redo_epoch = pos.epoch;
            s->redo_k = pos.k;
            continue;
        }
        ring_slot *slot = queue_pop_ready(&job->prod);
        if (!slot)
            return;
        waiter_remove(job, s);
        deliver(t, s, slot);
    }
}

static int job_lapse(str_job *job, uint64_t epoch, uint64_t k)
{
    if (job->n_redeliver == job->cap_redeliver) {
        uint32_t cap = job->cap_redeliver ? 2 * job->cap_redeliver : 8;
        str_pos *p = realloc(job->redeliver, cap * sizeof *p);
        if (!p)
            return MIXUP_ENOMEM;
        job->redeliver = p;
        job->cap_redeliver = cap;
    }
    job->redeliver[job->n_redeliver++] = (str_pos){epoch, k};
    return 0;
}

static void slot_done(wrk_job *job)
{
    ring_slot *slot = (ring_slot *)job;
    str_table *t = slot->ctx;
    slot->state = RING_READY;
    if (job->cancelled) { /* shutting down */
        if (!slot->owner)
            ring_release(t->ring, slot);
        return;
    }
    t->ctr.batches_computed++;
    if (!slot->owner) { /* its owner went away while we computed */
        ring_release(t->ring, slot);
    } else if (slot->owner_kind == RING_OWNER_REDO) {
        str_stream *s = slot->owner;
        s->redo = NULL;
        if (s->waiting)
            deliver(t, s, slot);
        else
            ring_release(t->ring, slot);
    } else {
        str_producer *p = slot->owner;
        if (p->kind == PROD_JOB)
            job_dispatch(t, CONTAINER(p, str_job, prod));
        else
            stream_try_deliver(t, CONTAINER(p, str_stream, prod));
    }
    schedule(t);
}

/* ------------------------------------------------------------ scheduling */

/* Producers are numbered 0 .. span-1: streams, then jobs, in use or not. */
static uint32_t producer_span(const str_table *t)
{
    return t->stream_hi + t->job_hi;
}

static str_producer *producer_at(str_table *t, uint32_t i)
{
    str_producer *p = i < t->stream_hi ? &t->streams[i].prod
                                       : &t->jobs[i - t->stream_hi].prod;
    return p->active ? p : NULL;
}

static int reclaim_for(str_table *t, const void *needy)
{
    str_producer *victim = NULL;
    for (uint32_t i = 0; i < producer_span(t); i++) {
        str_producer *p = producer_at(t, i);
        if (!p || p == needy || p->q_len == 0)
            continue;
        if (producer_awaited(p) && p->q_len < 2)
            continue;
        if (queue_at(p, p->q_len - 1)->state != RING_READY)
            continue;
        if (!victim || p->q_len > victim->q_len)
            victim = p;
    }
    if (!victim)
        return 0;
    ring_slot *slot = queue_at(victim, victim->q_len - 1);
    victim->q_len--;
    if (slot->epoch != victim->prod_epoch || !victim->order) {
        smp_order_unref(victim->order);
        victim->order = slot->order; /* the reference moves */
        slot->order = NULL;
    }
    victim->prod_epoch = slot->epoch;
    victim->prod_i = (slot->k - victim->rank) / victim->world;
    ring_release(t->ring, slot);
    t->ctr.slots_reclaimed++;
    return 1;
}

static int start_redo(str_table *t, str_stream *s)
{
    uint64_t seed = s->job ? s->job->seed : s->prod.seed;
    smp_order *order = smp_order_new(&t->plan->smp, seed, s->redo_epoch);
    if (!order)
        return 0;
    ring_slot *slot = ring_acquire(t->ring);
    if (slot) {
        s->need_redo = 0;
        s->redo = slot;
        start_slot(t, slot, s, RING_OWNER_REDO, order, s->redo_k, s->id);
        t->ctr.batches_recomputed++;
    }
    smp_order_unref(order);
    return slot != NULL;
}

/* First those whose request waits with nothing prepared (taking a
 * prepared batch back from a stalled producer if the ring is full). */
static void schedule_starving(str_table *t)
{
    for (uint32_t i = 0; i < t->stream_hi; i++) {
        str_stream *s = &t->streams[i];
        if (!s->open || !s->waiting || s->redo)
            continue;
        if (s->need_redo) {
            if (t->ring->n_free == 0 && !reclaim_for(t, NULL))
                return;
            start_redo(t, s);
        } else if (s->prod.active && s->prod.q_len == 0) {
            if (t->ring->n_free == 0 && !reclaim_for(t, &s->prod))
                return;
            produce_one(t, &s->prod);
        }
    }
    for (uint32_t i = 0; i < t->job_hi; i++) {
        str_job *job = &t->jobs[i];
        if (!job->prod.active || !job->wait_head || job->prod.q_len > 0)
            continue;
        if (t->ring->n_free == 0 && !reclaim_for(t, &job->prod))
            return;
        produce_one(t, &job->prod);
    }
}

/* Then each free slot to the producer with the fewest batches prepared
 * (below its prefetch depth), ties broken round-robin: when the ring is
 * smaller than the streams' prefetch together, everyone holds an equal
 * share instead of the first ones in the rotation filling up. */
static void schedule(str_table *t)
{
    schedule_starving(t);
    uint32_t n = producer_span(t);
    while (n > 0 && t->ring->n_free > 0) {
        str_producer *best = NULL;
        uint32_t best_at = 0;
        for (uint32_t step = 0; step < n; step++) {
            uint32_t at = (t->rr + step) % n;
            str_producer *p = producer_at(t, at);
            if (p && p->q_len < p->q_cap && (!best || p->q_len < best->q_len)) {
                best = p;
                best_at = at;
            }
        }
        if (!best || !produce_one(t, best))
            return;
        t->rr = (best_at + 1) % n;
    }
}

/* ------------------------------------------------------------ jobs */

static str_job *job_find(str_table *t, const char *name, size_t len)
{
    for (uint32_t i = 0; i < t->job_hi; i++) {
        str_job *j = &t->jobs[i];
        if (j->in_use && strlen(j->name) == len && !memcmp(j->name, name, len))
            return j;
    }
    return NULL;
}

static const char *mode_name(uint32_t mode)
{
    return mode == MIXUP_MODE_SHARDED  ? "sharded"
           : mode == MIXUP_MODE_SHARED ? "shared"
                                       : "independent";
}

/* An existing job accepts a stream only with the same settings. */
static int job_check(const str_job *j, const mxp_open_req *req, char *err,
                     size_t errlen)
{
    if (j->mode != req->mode)
        snprintf(err, errlen, "job '%s' is %s, this stream asked for %s",
                 j->name, mode_name(j->mode), mode_name(req->mode));
    else if (j->seed != req->seed)
        snprintf(err, errlen, "job '%s' has seed %llu, this stream asked "
                 "for %llu", j->name, (unsigned long long)j->seed,
                 (unsigned long long)req->seed);
    else if (j->mode == MIXUP_MODE_SHARDED && j->world != req->world)
        snprintf(err, errlen, "job '%s' has world size %u, this stream "
                 "asked for %u", j->name, j->world, req->world);
    else
        return 0;
    return MIXUP_EINVAL;
}

static str_job *job_create(str_table *t, const mxp_open_req *req)
{
    uint32_t i = 0;
    while (t->jobs[i].in_use)
        i++;
    str_job *j = &t->jobs[i];
    *j = (str_job){.in_use = 1, .mode = req->mode, .seed = req->seed,
                   .world = req->world};
    memcpy(j->name, req->job, req->job_len);
    j->name[req->job_len] = 0;
    if (req->mode == MIXUP_MODE_SHARED &&
        producer_init(&j->prod, PROD_JOB, req->seed, 0, 1,
                      t->batches_per_epoch, req->start_epoch,
                      req->start_batch, t->lim.prefetch) < 0) {
        j->in_use = 0;
        return NULL;
    }
    if (i + 1 > t->job_hi)
        t->job_hi = i + 1;
    log_info("job '%s' created: %s, seed %llu%s", j->name,
             mode_name(j->mode), (unsigned long long)j->seed,
             j->mode == MIXUP_MODE_SHARDED ? ", sharded" : "");
    return j;
}

static void job_leave(str_table *t, str_job *j)
{
    if (--j->members > 0)
        return;
    producer_clear(t, &j->prod);
    free(j->redeliver);
    log_info("job '%s' ended: %llu batches served", j->name,
             (unsigned long long)j->sent);
    *j = (str_job){0};
    while (t->job_hi > 0 && !t->jobs[t->job_hi - 1].in_use)
        t->job_hi--;
}

/* ------------------------------------------------------------ table */

int str_table_new(str_table **out, const str_limits *lim,
                  const bat_plan *plan, wrk_pool *pool, ring *ring,
                  str_send_fn send, void *send_ctx)
{
    str_table *t = calloc(1, sizeof *t);
    if (!t)
        return MIXUP_ENOMEM;
    t->streams = calloc(lim->max_streams, sizeof *t->streams);
    t->jobs = calloc(lim->max_streams, sizeof *t->jobs);
    if (!t->streams || !t->jobs) {
        free(t->streams);
        free(t->jobs);
        free(t);
        return MIXUP_ENOMEM;
    }
    t->lim = *lim;
    t->plan = plan;
    t->pool = pool;
    t->ring = ring;
    t->send = send;
    t->send_ctx = send_ctx;
    t->batches_per_epoch = smp_batches_per_epoch(&plan->smp);
    /* Ids from another daemon instance should not match ours. */
    t->generation = (uint32_t)(time(NULL) ^ ((uint64_t)getpid() << 16)) &
                    0x7fffffffu;
    *out = t;
    return 0;
}

static str_stream *lookup(str_table *t, uint64_t id)
{
    uint64_t idx = id & 0xffffffffu;
    if (idx == 0 || idx > t->lim.max_streams)
        return NULL;
    str_stream *s = &t->streams[idx - 1];
    return s->open && s->id == id ? s : NULL;
}

/* @lapse: the client did not say goodbye, so a shared batch it has not
 * acknowledged goes to another member. */
static void close_stream(str_table *t, str_stream *s, int lapse)
{
    producer_clear(t, &s->prod);
    if (s->redo)
        release_slot(t, s->redo);
    if (s->control)
        nn_freemsg(s->control);
    str_job *job = s->job;
    if (job) {
        waiter_remove(job, s);
        if (s->inflight && lapse && job->members > 1 &&
            job_lapse(job, s->inflight_epoch, s->inflight_k) == 0)
            t->ctr.shared_redelivered++;
        job_leave(t, job);
    }
    *s = (str_stream){0};
    t->n_open--;
    t->ctr.streams_closed++;
    while (t->stream_hi > 0 && !t->streams[t->stream_hi - 1].open)
        t->stream_hi--;
    if (job && job->in_use)
        job_dispatch(t, job);
}

void str_table_free(str_table *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->lim.max_streams; i++)
        if (t->streams[i].open)
            close_stream(t, &t->streams[i], 0);
    free(t->streams);
    free(t->jobs);
    free(t);
}

/* ------------------------------------------------------------ open */

static int bad(int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(int code, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

/* Batches a sharded rank gets per epoch, or an error. */
static int check_shard(str_table *t, const mxp_open_req *req,
                       uint64_t *per_epoch, char *err, size_t errlen)
{
    if (req->world == 0)
        return bad(MIXUP_EINVAL, err, errlen,
                   "world size 0: a sharded stream needs world >= 1");
    if (req->rank >= req->world)
        return bad(MIXUP_EINVAL, err, errlen,
                   "rank %u is not below world size %u", req->rank,
                   req->world);
    *per_epoch = t->batches_per_epoch / req->world;
    if (*per_epoch == 0)
        return bad(MIXUP_EINVAL, err, errlen,
                   "world size %u exceeds the %llu batches of an epoch",
                   req->world, (unsigned long long)t->batches_per_epoch);
    return 0;
}

/* A sharded stream starts at its rank's first batch at or after
 * start_batch (so 0 is the start of the epoch for every rank, and a saved
 * position is taken as it is). Return the local index i. */
static int shard_start(str_table *t, const mxp_open_req *req,
                       uint64_t per_epoch, uint64_t *i, char *err,
                       size_t errlen)
{
    uint64_t k = req->start_batch;
    *i = k <= req->rank ? 0 : (k - req->rank + req->world - 1) / req->world;
    if (k >= t->batches_per_epoch || *i >= per_epoch)
        return bad(MIXUP_EPOSITION, err, errlen,
                   "start batch %llu is past rank %u's last batch of an "
                   "epoch (%llu: rank + i * world, i < %llu)",
                   (unsigned long long)k, req->rank,
                   (unsigned long long)(req->rank + (per_epoch - 1) * req->world),
                   (unsigned long long)per_epoch);
    return 0;
}

static int check_open(str_table *t, const mxp_open_req *req,
                      uint64_t *per_epoch, char *err, size_t errlen)
{
    if (req->start_epoch > UINT32_MAX)
        return bad(MIXUP_EPOSITION, err, errlen,
                   "start epoch %llu is beyond the last (%u)",
                   (unsigned long long)req->start_epoch, UINT32_MAX);
    if (t->n_open >= t->lim.max_streams)
        return bad(MIXUP_ELIMIT, err, errlen,
                   "%u streams are open, the limit (server.max_streams)",
                   t->lim.max_streams);
    if (req->mode != MIXUP_MODE_INDEPENDENT && req->job_len == 0)
        return bad(MIXUP_EINVAL, err, errlen, "a %s stream needs a job name",
                   mode_name(req->mode));
    if (req->mode == MIXUP_MODE_INDEPENDENT && req->job_len != 0)
        return bad(MIXUP_EINVAL, err, errlen,
                   "an independent stream takes no job name (got '%.*s')",
                   (int)req->job_len, req->job);
    if (req->mode == MIXUP_MODE_SHARDED)
        return check_shard(t, req, per_epoch, err, errlen);
    *per_epoch = t->batches_per_epoch;
    if (req->start_batch >= t->batches_per_epoch)
        return bad(MIXUP_EPOSITION, err, errlen,
                   "start batch %llu is past the end of an epoch "
                   "(%llu batches: 0 .. %llu)",
                   (unsigned long long)req->start_batch,
                   (unsigned long long)t->batches_per_epoch,
                   (unsigned long long)t->batches_per_epoch - 1);
    return 0;
}

static int join_job(str_table *t, str_stream *s, const mxp_open_req *req,
                    char *err, size_t errlen)
{
    str_job *job = job_find(t, req->job, req->job_len);
    if (job) {
        int rc = job_check(job, req, err, errlen);
        if (rc < 0)
            return rc;
    } else if (!(job = job_create(t, req))) {
        snprintf(err, errlen, "out of memory for a job");
        return MIXUP_ENOMEM;
    }
    job->members++;
    s->job = job;
    return 0;
}

static str_stream *lookup(str_table *t, uint64_t id);

/* The reply already given to this OPEN, if its stream is still open. */
static int recent_open(str_table *t, uint64_t request_id, mxp_open_rep *rep)
{
    for (uint32_t i = 0; request_id && i < 64; i++)
        if (t->recent_opens[i].request_id == request_id &&
            lookup(t, t->recent_opens[i].rep.stream_id)) {
            *rep = t->recent_opens[i].rep;
            return 1;
        }
    return 0;
}

int str_open(str_table *t, const mxp_open_req *req, uint64_t request_id,
             uint64_t now_ms, mxp_open_rep *rep, char *err, size_t errlen)
{
    t->now_ms = now_ms;
    if (recent_open(t, request_id, rep))
        return 0;
    uint64_t per_epoch = 0;
    int rc = check_open(t, req, &per_epoch, err, errlen);
    if (rc < 0)
        return rc;
    uint32_t idx = 0;
    while (t->streams[idx].open)
        idx++;
    str_stream *s = &t->streams[idx];
    *s = (str_stream){.mode = req->mode, .last_active_ms = now_ms};
    uint64_t first_i = req->start_batch;
    if (req->mode == MIXUP_MODE_SHARDED &&
        (rc = shard_start(t, req, per_epoch, &first_i, err, errlen)) < 0)
        return rc;
    if (req->mode != MIXUP_MODE_INDEPENDENT &&
        (rc = join_job(t, s, req, err, errlen)) < 0)
        return rc;
    uint32_t cap = req->prefetch && req->prefetch < t->lim.prefetch
                       ? req->prefetch
                       : t->lim.prefetch;
    uint32_t rank = req->mode == MIXUP_MODE_SHARDED ? req->rank : 0;
    uint32_t world = req->mode == MIXUP_MODE_SHARDED ? req->world : 1;
    if (req->mode != MIXUP_MODE_SHARED &&
        producer_init(&s->prod, PROD_STREAM, req->seed, rank, world,
                      per_epoch, req->start_epoch, first_i, cap) < 0) {
        if (s->job)
            job_leave(t, s->job);
        *s = (str_stream){0};
        snprintf(err, errlen, "out of memory for a stream");
        return MIXUP_ENOMEM;
    }
    s->open = 1;
    if (idx + 1 > t->stream_hi)
        t->stream_hi = idx + 1;
    s->id = ((uint64_t)t->generation++ << 32) | (idx + 1);
    t->generation &= 0x7fffffffu;
    t->n_open++;
    t->ctr.streams_opened++;
    *rep = (mxp_open_rep){
        .stream_id = s->id,
        .batches_per_epoch = t->batches_per_epoch,
        .stream_per_epoch = per_epoch,
        .start_epoch = req->start_epoch,
        .start_batch = req->mode == MIXUP_MODE_SHARDED
                           ? rank + first_i * world
                           : req->start_batch,
    };
    t->recent_opens[t->next_recent].request_id = request_id;
    t->recent_opens[t->next_recent].rep = *rep;
    t->next_recent = (t->next_recent + 1) % 64;
    schedule(t);
    return 0;
}

/* ------------------------------------------------------------ requests */

int str_next(str_table *t, uint64_t stream_id, uint64_t request_id,
             void *control, uint64_t now_ms, char *err, size_t errlen)
{
    t->now_ms = now_ms;
    str_stream *s = lookup(t, stream_id);
    if (!s) {
        snprintf(err, errlen,
                 "stream %llx is not open here (closed, expired after "
                 "server.stream_timeout, or opened on another daemon)",
                 (unsigned long long)stream_id);
        return MIXUP_ENOSTREAM;
    }
    s->last_active_ms = now_ms;
    if (s->waiting) {
        /* The same request again, through another connection: answer on
         * the newest route. */
        nn_freemsg(s->control);
        s->control = control;
        s->wait_req = request_id;
        return 0;
    }
    s->waiting = 1;
    s->wait_req = request_id;
    s->control = control;
    if (s->answered && request_id == s->last_req) {
        s->need_redo = 1; /* a re-sent request: the same batch again */
        s->redo_epoch = s->last_epoch;
        s->redo_k = s->last_k;
    } else {
        s->inflight = 0; /* asking for the next acknowledges the last */
    }
    if (!s->need_redo && s->job && s->job->mode == MIXUP_MODE_SHARED) {
        waiter_push(s->job, s);
        job_dispatch(t, s->job);
    } else {
        stream_try_deliver(t, s);
    }
    if (s->waiting)
        schedule(t);
    return 0;
}

int str_close(str_table *t, uint64_t stream_id)
{
    str_stream *s = lookup(t, stream_id);
    if (!s)
        return MIXUP_ENOSTREAM;
    close_stream(t, s, 0);
    schedule(t);
    return 0;
}

/* ------------------------------------------------------------ time */

static void lapse_leases(str_table *t, uint64_t now_ms)
{
    for (uint32_t i = 0; i < t->lim.max_streams; i++) {
        str_stream *s = &t->streams[i];
        if (!s->open || !s->inflight || now_ms - s->sent_ms < t->lim.shared_lease_ms)
            continue;
        if (job_lapse(s->job, s->inflight_epoch, s->inflight_k) < 0)
            continue;
        log_warn("stream %llx did not acknowledge batch %llu:%llu of job "
                 "'%s' within %llu ms: handed to another member",
                 (unsigned long long)s->id,
                 (unsigned long long)s->inflight_epoch,
                 (unsigned long long)s->inflight_k, s->job->name,
                 (unsigned long long)t->lim.shared_lease_ms);
        s->inflight = 0;
        t->ctr.shared_redelivered++;
        job_dispatch(t, s->job);
    }
}

static void expire_idle(str_table *t, uint64_t now_ms)
{
    for (uint32_t i = 0; i < t->lim.max_streams; i++) {
        str_stream *s = &t->streams[i];
        if (!s->open || s->waiting ||
            now_ms - s->last_active_ms < t->lim.idle_timeout_ms)
            continue;
        log_info("stream %llx idle for %llu s: closed",
                 (unsigned long long)s->id,
                 (unsigned long long)((now_ms - s->last_active_ms) / 1000));
        close_stream(t, s, 1);
        t->ctr.streams_expired++;
    }
}

static void update_rates(str_table *t, uint64_t now_ms)
{
    if (t->last_tick_ms == 0) { /* the first tick only starts the clock */
        t->last_tick_ms = now_ms;
        for (uint32_t i = 0; i < t->lim.max_streams; i++)
            t->streams[i].sent_at_tick = t->streams[i].sent;
        return;
    }
    double dt = (double)(now_ms - t->last_tick_ms) / 1000.0;
    t->last_tick_ms = now_ms;
    if (dt <= 0)
        return;
    for (uint32_t i = 0; i < t->lim.max_streams; i++) {
        str_stream *s = &t->streams[i];
        if (!s->open)
            continue;
        double r = (double)(s->sent - s->sent_at_tick) / dt;
        s->rate = s->rate == 0 ? r : 0.5 * s->rate + 0.5 * r;
        s->sent_at_tick = s->sent;
    }
}

void str_tick(str_table *t, uint64_t now_ms)
{
    t->now_ms = now_ms;
    lapse_leases(t, now_ms);
    expire_idle(t, now_ms);
    update_rates(t, now_ms);
    schedule(t);
}

void str_drop_pending(str_table *t)
{
    for (uint32_t i = 0; i < t->lim.max_streams; i++) {
        str_stream *s = &t->streams[i];
        if (s->open && s->waiting) {
            if (s->job)
                waiter_remove(s->job, s);
            nn_freemsg(s->control);
            s->control = NULL;
            s->waiting = 0;
        }
    }
}

void str_set_timeouts(str_table *t, uint64_t idle_ms, uint64_t lease_ms)
{
    t->lim.idle_timeout_ms = idle_ms;
    t->lim.shared_lease_ms = lease_ms;
}

uint32_t str_count(const str_table *t)
{
    return t->n_open;
}

uint32_t str_waiting(const str_table *t)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->lim.max_streams; i++)
        n += t->streams[i].open && t->streams[i].waiting;
    return n;
}

uint32_t str_slots_held(const str_table *t)
{
    return t->ring->n - t->ring->n_free;
}

const str_counters *str_get_counters(const str_table *t)
{
    return &t->ctr;
}

/* ------------------------------------------------------------ describe */

static uint32_t stream_prepared(const str_stream *s)
{
    return s->prod.active ? s->prod.q_len : 0;
}

void str_describe_json(const str_table *t, FILE *out)
{
    fprintf(out, "\"jobs\": [");
    int first = 1;
    for (uint32_t i = 0; i < t->lim.max_streams; i++) {
        const str_job *j = &t->jobs[i];
        if (!j->in_use)
            continue;
        fprintf(out, "%s{\"name\": \"%s\", \"mode\": \"%s\", \"seed\": %llu, "
                "\"world\": %u, \"members\": %u, \"batches_sent\": %llu, "
                "\"prepared\": %u, \"waiting\": %u}",
                first ? "" : ", ", j->name, mode_name(j->mode),
                (unsigned long long)j->seed, j->world, j->members,
                (unsigned long long)j->sent, j->prod.q_len, j->n_redeliver);
        first = 0;
    }
    fprintf(out, "], \"streams\": [");
    first = 1;
    for (uint32_t i = 0; i < t->lim.max_streams; i++) {
        const str_stream *s = &t->streams[i];
        if (!s->open)
            continue;
        fprintf(out, "%s{\"id\": \"%llx\", \"mode\": \"%s\", \"job\": \"%s\", "
                "\"rank\": %u, \"world\": %u, \"seed\": %llu, "
                "\"position\": [%lld, %lld], \"batches_sent\": %llu, "
                "\"batches_per_s\": %.2f, \"prepared\": %u, \"waiting\": %s}",
                first ? "" : ", ", (unsigned long long)s->id,
                mode_name(s->mode), s->job ? s->job->name : "", s->prod.rank,
                s->prod.world, (unsigned long long)(s->job ? s->job->seed : s->prod.seed),
                s->answered ? (long long)s->last_epoch : -1,
                s->answered ? (long long)s->last_k : -1,
                (unsigned long long)s->sent, s->rate, stream_prepared(s),
                s->waiting ? "true" : "false");
        first = 0;
    }
    fprintf(out, "]");
}

static void describe_jobs_text(const str_table *t, FILE *out)
{
    fprintf(out, "%-16s %-8s %20s %6s %8s %10s %9s %8s\n", "JOB", "MODE",
            "SEED", "WORLD", "MEMBERS", "SENT", "PREPARED", "LAPSED");
    for (uint32_t i = 0; i < t->lim.max_streams; i++) {
        const str_job *j = &t->jobs[i];
        if (!j->in_use)
            continue;
        fprintf(out, "%-16s %-8s %20llu %6u %8u %10llu %9u %8u\n", j->name,
                mode_name(j->mode), (unsigned long long)j->seed,
                j->mode == MIXUP_MODE_SHARDED ? j->world : 0, j->members,
                (unsigned long long)j->sent, j->prod.q_len, j->n_redeliver);
    }
    fputc('\n', out);
}

void str_describe_text(const str_table *t, FILE *out)
{
    describe_jobs_text(t, out);
    fprintf(out, "%-18s %-11s %-16s %9s %20s %10s %9s %8s\n", "STREAM", "MODE",
            "JOB", "RANK", "SEED", "POSITION", "SENT", "BATCH/S");
    for (uint32_t i = 0; i < t->lim.max_streams; i++) {
        const str_stream *s = &t->streams[i];
        if (!s->open)
            continue;
        char pos[48] = "-", rank[24] = "-";
        if (s->answered)
            snprintf(pos, sizeof pos, "%llu:%llu",
                     (unsigned long long)s->last_epoch,
                     (unsigned long long)s->last_k);
        if (s->mode == MIXUP_MODE_SHARDED)
            snprintf(rank, sizeof rank, "%u/%u", s->prod.rank, s->prod.world);
        fprintf(out, "%-18llx %-11s %-16s %9s %20llu %10s %9llu %8.1f\n",
                (unsigned long long)s->id, mode_name(s->mode),
                s->job ? s->job->name : "-", rank,
                (unsigned long long)(s->job ? s->job->seed : s->prod.seed), pos,
                (unsigned long long)s->sent, s->rate);
    }
}
