/*
 * streams.c — see streams.h.
 */
#include "streams.h"

#include <nanomsg/nn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

typedef struct str_stream {
    uint64_t id;
    int open;
    uint64_t seed;
    smp_order *order;          /* order of prod_epoch, or NULL */
    uint64_t prod_epoch, prod_k; /* next batch to compute */
    ring_slot **queue;         /* computing or ready, in stream order */
    uint32_t q_head, q_len, q_cap;
    int waiting;               /* a request waits for its batch */
    uint64_t wait_req;
    void *control;             /* its routing header (nanomsg chunk) */
    int answered;              /* last_* are valid */
    uint64_t last_req, last_epoch, last_k;
    int need_redo;             /* the waiting request is a re-send */
    ring_slot *redo;           /* recomputing the last answered batch */
    uint64_t last_active_ms;
} str_stream;

struct str_table {
    str_limits lim;
    const bat_plan *plan;
    wrk_pool *pool;
    ring *ring;
    str_send_fn send;
    void *send_ctx;
    str_stream *streams; /* lim.max_streams entries */
    uint32_t n_open;
    uint32_t rr;         /* where the next scheduling pass starts */
    uint32_t generation; /* high half of stream ids */
    uint64_t batches_per_epoch;
    str_counters ctr;
};

static void schedule(str_table *t);

/* ------------------------------------------------------------ slot jobs */

static void run_slot(wrk_job *job)
{
    ring_slot *slot = (ring_slot *)job;
    bat_build(slot->plan, slot->order, slot->k, slot->stream_id, slot->msg);
}

static void deliver(str_table *t, str_stream *s, ring_slot *slot)
{
    mxp_set_request_id(slot->msg, s->wait_req);
    t->send(t->send_ctx, s->control, slot->msg, slot->size);
    slot->msg = NULL; /* nanomsg owns it now */
    s->control = NULL;
    s->waiting = 0;
    s->answered = 1;
    s->last_req = s->wait_req;
    s->last_epoch = slot->epoch;
    s->last_k = slot->k;
    t->ctr.batches_sent++;
    ring_release(t->ring, slot);
}

static void try_deliver(str_table *t, str_stream *s)
{
    if (!s->waiting || s->need_redo || s->redo || s->q_len == 0)
        return;
    ring_slot *slot = s->queue[s->q_head];
    if (slot->state != RING_READY)
        return;
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_len--;
    deliver(t, s, slot);
}

static void slot_done(wrk_job *job)
{
    ring_slot *slot = (ring_slot *)job;
    str_table *t = slot->ctx;
    slot->state = RING_READY;
    if (!job->cancelled)
        t->ctr.batches_computed++;
    str_stream *s = slot->owner;
    if (job->cancelled) { /* shutting down */
        if (!s)
            ring_release(t->ring, slot);
        return;
    }
    if (!s) { /* the stream went away while we computed */
        ring_release(t->ring, slot);
        schedule(t);
        return;
    }
    if (slot == s->redo) {
        s->redo = NULL;
        if (s->waiting)
            deliver(t, s, slot);
        else
            ring_release(t->ring, slot);
    } else {
        try_deliver(t, s);
    }
    schedule(t);
}

static void start_slot(str_table *t, str_stream *s, ring_slot *slot,
                       smp_order *order, uint64_t k)
{
    smp_order_ref(order);
    slot->order = order;
    slot->owner = s;
    slot->epoch = order->epoch;
    slot->k = k;
    slot->stream_id = s->id;
    slot->plan = t->plan;
    slot->ctx = t;
    slot->job.run = run_slot;
    slot->job.done = slot_done;
    wrk_submit(t->pool, &slot->job);
}

/* ------------------------------------------------------------ scheduling */

/* The order of the stream's next batch, moving to the next epoch when the
 * current one is exhausted. NULL when out of memory. */
static smp_order *production_order(str_table *t, str_stream *s)
{
    if (s->prod_k >= t->batches_per_epoch) {
        s->prod_epoch++;
        s->prod_k = 0;
        smp_order_unref(s->order);
        s->order = NULL;
    }
    if (!s->order)
        s->order = smp_order_new(&t->plan->smp, s->seed, s->prod_epoch);
    return s->order;
}

static int produce_one(str_table *t, str_stream *s)
{
    smp_order *order = production_order(t, s);
    if (!order)
        return 0;
    ring_slot *slot = ring_acquire(t->ring);
    if (!slot)
        return 0;
    s->queue[(s->q_head + s->q_len) % s->q_cap] = slot;
    s->q_len++;
    start_slot(t, s, slot, order, s->prod_k);
    s->prod_k++;
    return 1;
}

static int redo_one(str_table *t, str_stream *s)
{
    smp_order *order = s->order;
    int temporary = 0;
    if (!order || order->epoch != s->last_epoch) {
        order = smp_order_new(&t->plan->smp, s->seed, s->last_epoch);
        if (!order)
            return 0;
        temporary = 1;
    }
    ring_slot *slot = ring_acquire(t->ring);
    if (slot) {
        s->need_redo = 0;
        s->redo = slot;
        start_slot(t, s, slot, order, s->last_k);
        t->ctr.batches_recomputed++;
    }
    if (temporary)
        smp_order_unref(order);
    return slot != NULL;
}

/* Take back the last prepared batch of the longest queue other than
 * @needy's, so that a waiting stream is not starved by stalled ones. The
 * victim rewinds its production position: it will compute the same batch
 * again when its turn comes. */
static int reclaim_for(str_table *t, const str_stream *needy)
{
    str_stream *victim = NULL;
    for (uint32_t i = 0; i < t->lim.max_streams; i++) {
        str_stream *u = &t->streams[i];
        if (!u->open || u == needy || u->q_len == 0)
            continue;
        if (u->waiting && u->q_len < 2)
            continue;
        ring_slot *tail = u->queue[(u->q_head + u->q_len - 1) % u->q_cap];
        if (tail->state != RING_READY)
            continue;
        if (!victim || u->q_len > victim->q_len)
            victim = u;
    }
    if (!victim)
        return 0;
    uint32_t tail_at = (victim->q_head + victim->q_len - 1) % victim->q_cap;
    ring_slot *slot = victim->queue[tail_at];
    victim->q_len--;
    if (slot->epoch != victim->prod_epoch || !victim->order) {
        smp_order_unref(victim->order);
        victim->order = slot->order; /* the reference moves */
        slot->order = NULL;
    }
    victim->prod_epoch = slot->epoch;
    victim->prod_k = slot->k;
    ring_release(t->ring, slot);
    t->ctr.slots_reclaimed++;
    return 1;
}

static int starving(const str_stream *s)
{
    return s->open && s->waiting &&
           (s->need_redo || (s->q_len == 0 && !s->redo));
}

/* Give free slots to streams: first those whose request waits with
 * nothing prepared, then round-robin to anyone below its prefetch. */
static void schedule(str_table *t)
{
    uint32_t n = t->lim.max_streams;
    for (uint32_t i = 0; i < n; i++) {
        str_stream *s = &t->streams[i];
        if (!starving(s))
            continue;
        if (t->ring->n_free == 0 && !reclaim_for(t, s))
            break;
        if (s->need_redo)
            redo_one(t, s);
        else
            produce_one(t, s);
    }
    int progress = 1;
    while (progress && t->ring->n_free > 0) {
        progress = 0;
        for (uint32_t step = 0; step < n && t->ring->n_free > 0; step++) {
            str_stream *s = &t->streams[(t->rr + step) % n];
            if (s->open && s->q_len < s->q_cap && produce_one(t, s))
                progress = 1;
        }
        t->rr = (t->rr + 1) % n;
    }
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
    if (!t->streams) {
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
    uint64_t idx = (id & 0xffffffffu);
    if (idx == 0 || idx > t->lim.max_streams)
        return NULL;
    str_stream *s = &t->streams[idx - 1];
    return s->open && s->id == id ? s : NULL;
}

static void release_queue_slot(str_table *t, ring_slot *slot)
{
    if (slot->state == RING_FILLING)
        slot->owner = NULL; /* slot_done() releases it */
    else
        ring_release(t->ring, slot);
}

static void close_stream(str_table *t, str_stream *s)
{
    for (uint32_t i = 0; i < s->q_len; i++)
        release_queue_slot(t, s->queue[(s->q_head + i) % s->q_cap]);
    if (s->redo)
        release_queue_slot(t, s->redo);
    if (s->control)
        nn_freemsg(s->control);
    smp_order_unref(s->order);
    free(s->queue);
    *s = (str_stream){0};
    t->n_open--;
    t->ctr.streams_closed++;
}

void str_table_free(str_table *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->lim.max_streams; i++)
        if (t->streams[i].open)
            close_stream(t, &t->streams[i]);
    free(t->streams);
    free(t);
}

static int fail(int code, char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return code;
}

static int check_open(str_table *t, const mxp_open_req *req, char *err,
                      size_t errlen)
{
    if (req->mode != MIXUP_MODE_INDEPENDENT)
        return fail(MIXUP_EMODE, err, errlen,
                    req->mode == MIXUP_MODE_SHARDED
                        ? "mode sharded is not served by this daemon yet "
                          "(only independent)"
                        : "mode shared is not served by this daemon yet "
                          "(only independent)");
    if (req->start_epoch > UINT32_MAX) {
        snprintf(err, errlen, "start epoch %llu is beyond the last (%u)",
                 (unsigned long long)req->start_epoch, UINT32_MAX);
        return MIXUP_EPOSITION;
    }
    if (req->start_batch >= t->batches_per_epoch) {
        snprintf(err, errlen,
                 "start batch %llu is past the end of an epoch "
                 "(%llu batches: 0 .. %llu)",
                 (unsigned long long)req->start_batch,
                 (unsigned long long)t->batches_per_epoch,
                 (unsigned long long)t->batches_per_epoch - 1);
        return MIXUP_EPOSITION;
    }
    if (t->n_open >= t->lim.max_streams) {
        snprintf(err, errlen, "%u streams are open, the limit "
                 "(server.max_streams)", t->lim.max_streams);
        return MIXUP_ELIMIT;
    }
    return 0;
}

int str_open(str_table *t, const mxp_open_req *req, uint64_t now_ms,
             mxp_open_rep *rep, char *err, size_t errlen)
{
    int rc = check_open(t, req, err, errlen);
    if (rc < 0)
        return rc;
    uint32_t idx = 0;
    while (t->streams[idx].open)
        idx++;
    str_stream *s = &t->streams[idx];
    uint32_t cap = req->prefetch && req->prefetch < t->lim.prefetch
                       ? req->prefetch
                       : t->lim.prefetch;
    s->queue = calloc(cap, sizeof *s->queue);
    if (!s->queue)
        return fail(MIXUP_ENOMEM, err, errlen, "out of memory for a stream");
    s->q_cap = cap;
    s->open = 1;
    s->id = ((uint64_t)t->generation++ << 32) | (idx + 1);
    t->generation &= 0x7fffffffu;
    s->seed = req->seed;
    s->prod_epoch = req->start_epoch;
    s->prod_k = req->start_batch;
    s->last_active_ms = now_ms;
    t->n_open++;
    t->ctr.streams_opened++;
    *rep = (mxp_open_rep){
        .stream_id = s->id,
        .batches_per_epoch = t->batches_per_epoch,
        .start_epoch = req->start_epoch,
        .start_batch = req->start_batch,
    };
    schedule(t);
    return 0;
}

int str_next(str_table *t, uint64_t stream_id, uint64_t request_id,
             void *control, uint64_t now_ms, char *err, size_t errlen)
{
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
        /* The same request again (a re-send through another connection):
         * answer on the newest route. */
        nn_freemsg(s->control);
        s->control = control;
        s->wait_req = request_id;
        return 0;
    }
    s->waiting = 1;
    s->wait_req = request_id;
    s->control = control;
    if (s->answered && request_id == s->last_req)
        s->need_redo = 1;
    try_deliver(t, s);
    if (s->waiting)
        schedule(t);
    return 0;
}

int str_close(str_table *t, uint64_t stream_id)
{
    str_stream *s = lookup(t, stream_id);
    if (!s)
        return MIXUP_ENOSTREAM;
    close_stream(t, s);
    schedule(t);
    return 0;
}

void str_expire_idle(str_table *t, uint64_t now_ms)
{
    int closed = 0;
    for (uint32_t i = 0; i < t->lim.max_streams; i++) {
        str_stream *s = &t->streams[i];
        if (!s->open || s->waiting)
            continue;
        if (now_ms - s->last_active_ms < t->lim.idle_timeout_ms)
            continue;
        log_info("stream %llx idle for %llu s: closed",
                 (unsigned long long)s->id,
                 (unsigned long long)((now_ms - s->last_active_ms) / 1000));
        close_stream(t, s);
        t->ctr.streams_expired++;
        closed = 1;
    }
    if (closed)
        schedule(t);
}

void str_drop_pending(str_table *t)
{
    for (uint32_t i = 0; i < t->lim.max_streams; i++) {
        str_stream *s = &t->streams[i];
        if (s->open && s->waiting) {
            nn_freemsg(s->control);
            s->control = NULL;
            s->waiting = 0;
        }
    }
}

void str_set_idle_timeout(str_table *t, uint64_t ms)
{
    t->lim.idle_timeout_ms = ms;
}

uint32_t str_count(const str_table *t)
{
    return t->n_open;
}

const str_counters *str_get_counters(const str_table *t)
{
    return &t->ctr;
}
