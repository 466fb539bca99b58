/*
 * sched.c — producers and the scheduling of ring slots (streams_internal.h).
 *
 * A producer computes its stream's (or shared job's) next batches ahead,
 * up to its prefetch depth, each into a ring slot. Free slots go first to
 * those whose request waits with nothing prepared, then to the producer
 * with the fewest prepared: when the ring is smaller than everyone's
 * prefetch together, each holds an equal share. A waiting request with a
 * full ring takes back the last prepared slot of the longest queue (that
 * batch is computed again later: batches are pure functions).
 */
#include <stdlib.h>

#include "streams_internal.h"

int sch_producer_init(str_producer *p, int kind, uint64_t seed,
                      uint32_t rank, uint32_t world, uint64_t per_epoch,
                      uint64_t epoch, uint64_t i, uint32_t cap)
{
    *p = (str_producer){.kind = kind, .seed = seed, .rank = rank,
                        .world = world, .stride = 1, .per_epoch = per_epoch,
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

ring_slot *sch_queue_peek_ready(const str_producer *p)
{
    if (!p->active || p->q_len == 0 || queue_at(p, 0)->state != RING_READY)
        return NULL;
    return queue_at(p, 0);
}

void sch_queue_pop(str_producer *p)
{
    p->q_head = (p->q_head + 1) % p->q_cap;
    p->q_len--;
}

void sch_release_slot(str_table *t, ring_slot *slot)
{
    sch_work *w = sch_work_of(t, slot);
    if (slot->state == RING_FILLING) {
        w->owner = NULL; /* slot_done() releases it */
        return;
    }
    smp_order_unref(w->order);
    w->order = NULL;
    w->owner = NULL;
    ring_release(t->ring, slot);
}

void sch_producer_clear(str_table *t, str_producer *p)
{
    if (!p->active)
        return;
    for (uint32_t i = 0; i < p->q_len; i++)
        sch_release_slot(t, queue_at(p, i));
    smp_order_unref(p->order);
    free(p->queue);
    *p = (str_producer){0};
}

/* ------------------------------------------------------------ workers */

static void run_slot(wrk_job *job)
{
    sch_work *w = (sch_work *)job;
    bat_build_with(w->table->plan, w->order, w->k, w->stream_id,
                   w->slot->data, w->slot->scratch);
}

static void slot_done(wrk_job *job)
{
    sch_work *w = (sch_work *)job;
    str_table *t = w->table;
    ring_filled(t->ring, w->slot);
    if (job->cancelled) { /* shutting down */
        if (!w->owner)
            sch_release_slot(t, w->slot);
        return;
    }
    t->ctr.batches_computed++;
    if (!w->owner)
        sch_release_slot(t, w->slot); /* its owner went away meanwhile */
    else
        t->slot_ready(t, w);
    sch_schedule(t);
}

static void start_slot(str_table *t, ring_slot *slot, void *owner,
                       sch_owner_kind kind, smp_order *order, uint64_t k,
                       uint64_t stream_id)
{
    sch_work *w = sch_work_of(t, slot);
    smp_order_ref(order);
    *w = (sch_work){
        .job = {.run = run_slot, .done = slot_done},
        .slot = slot,
        .owner = owner,
        .owner_kind = kind,
        .order = order,
        .epoch = order->epoch,
        .k = k,
        .stream_id = stream_id,
        .table = t,
    };
    wrk_submit(t->pool, &w->job);
}

/* ------------------------------------------------------------ producing */

/* The order of the producer's next batch, moving to a later epoch when
 * the current one is exhausted (a stride longer than an epoch skips
 * epochs). NULL while it is being drawn (the cache calls sch_schedule
 * when it is) or when memory is short. */
static smp_order *production_order(str_table *t, str_producer *p)
{
    if (p->prod_i >= p->per_epoch) {
        p->prod_epoch += p->prod_i / p->per_epoch;
        p->prod_i %= p->per_epoch;
        smp_order_unref(p->order);
        p->order = NULL;
    }
    if (!p->order)
        p->order = ord_get(&t->orders, p->seed, p->prod_epoch);
    return p->order;
}

static uint64_t producer_stream_id(str_producer *p)
{
    return p->kind == PROD_STREAM ? STR_CONTAINER(p, str_stream, prod)->id : 0;
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
    start_slot(t, slot, p, SCH_OWNER_QUEUE, order,
               p->rank + p->prod_i * p->world, producer_stream_id(p));
    p->prod_i += p->stride;
    return 1;
}

/* The order a stream's recomputation needs, with a reference, or NULL
 * while it is drawn. */
static smp_order *redo_order(str_table *t, str_stream *s)
{
    uint64_t seed = s->job ? s->job->seed : s->prod.seed;
    return ord_get(&t->orders, seed, s->redo_epoch);
}

static int start_redo_with(str_table *t, str_stream *s, smp_order *order)
{
    ring_slot *slot = ring_acquire(t->ring);
    if (slot) {
        s->need_redo = 0;
        s->redo = slot;
        start_slot(t, slot, s, SCH_OWNER_REDO, order, s->redo_k, s->id);
        t->ctr.batches_recomputed++;
    }
    smp_order_unref(order);
    return slot != NULL;
}

void sch_orders_ready(void *ctx)
{
    sch_schedule(ctx);
}

/* ------------------------------------------------------------ decisions */

int sch_pick_fill(str_producer *const *prods, uint32_t n, uint32_t rr)
{
    int best = -1;
    for (uint32_t step = 0; step < n; step++) {
        uint32_t at = (rr + step) % n;
        const str_producer *p = prods[at];
        if (p && p->q_len < p->q_cap &&
            (best < 0 || p->q_len < prods[best]->q_len))
            best = (int)at;
    }
    return best;
}

int sch_pick_victim(str_producer *const *prods, const int *awaited,
                    uint32_t n, const str_producer *needy)
{
    int victim = -1;
    for (uint32_t i = 0; i < n; i++) {
        const str_producer *p = prods[i];
        if (!p || p == needy || p->q_len == 0)
            continue;
        if (awaited[i] && p->q_len < 2)
            continue;
        if (queue_at(p, p->q_len - 1)->state != RING_READY)
            continue;
        if (victim < 0 || p->q_len > prods[victim]->q_len)
            victim = (int)i;
    }
    return victim;
}

/* ------------------------------------------------------------ schedule */

/* Producers are numbered 0 .. span-1: streams, then jobs, in use or not. */
static uint32_t producer_span(const str_table *t)
{
    return t->stream_hi + t->jobs.hi;
}

static str_producer *producer_at(str_table *t, uint32_t i)
{
    str_producer *p = i < t->stream_hi ? &t->streams[i].prod
                                       : &t->jobs.jobs[i - t->stream_hi].prod;
    return p->active ? p : NULL;
}

/* Does someone wait on this producer right now? */
static int producer_awaited(const str_producer *p)
{
    if (p->kind == PROD_JOB)
        return STR_CONTAINER(p, str_job, prod)->wait_head != NULL;
    const str_stream *s = STR_CONTAINER(p, str_stream, prod);
    return s->waiting && !s->copy_blocked && !s->need_redo && !s->redo &&
           !s->redo_ready;
}

/* The scans below visit every producer in use: the loop thread's work per
 * decision follows what is open, not server.max_streams. */
static int reclaim_for(str_table *t, const str_producer *needy)
{
    uint32_t n = producer_span(t);
    str_producer **prods = t->prods;
    int *awaited = t->awaited;
    for (uint32_t i = 0; i < n; i++) {
        prods[i] = producer_at(t, i);
        awaited[i] = prods[i] && producer_awaited(prods[i]);
    }
    int v = sch_pick_victim(prods, awaited, n, needy);
    if (v < 0)
        return 0;
    str_producer *victim = prods[v];
    ring_slot *slot = queue_at(victim, victim->q_len - 1);
    sch_work *w = sch_work_of(t, slot);
    victim->q_len--;
    if (w->epoch != victim->prod_epoch || !victim->order) {
        smp_order_unref(victim->order);
        victim->order = w->order; /* the reference moves */
        w->order = NULL;
    }
    victim->prod_epoch = w->epoch;
    victim->prod_i = (w->k - victim->rank) / victim->world;
    sch_release_slot(t, slot);
    t->ctr.slots_reclaimed++;
    return 1;
}

static int have_free_slot(str_table *t, const str_producer *needy)
{
    return ring_count(t->ring, RING_FREE) > 0 || reclaim_for(t, needy);
}

static void schedule_starving(str_table *t)
{
    for (uint32_t i = 0; i < t->stream_hi; i++) {
        str_stream *s = &t->streams[i];
        if (!s->open || !s->waiting || s->redo || s->redo_ready ||
            s->copy_blocked) /* it waits for budget, not for a slot */
            continue;
        if (s->need_redo) {
            smp_order *order = redo_order(t, s);
            if (!order)
                continue; /* being drawn: it waits for that, not a slot */
            if (!have_free_slot(t, NULL)) {
                smp_order_unref(order);
                return;
            }
            start_redo_with(t, s, order);
        } else if (s->prod.active && s->prod.q_len == 0) {
            if (!production_order(t, &s->prod))
                continue;
            if (!have_free_slot(t, &s->prod))
                return;
            produce_one(t, &s->prod);
        }
    }
    for (uint32_t i = 0; i < t->jobs.hi; i++) {
        str_job *job = &t->jobs.jobs[i];
        if (!job->prod.active || !job->wait_head || job->prod.q_len > 0)
            continue;
        if (!production_order(t, &job->prod))
            continue;
        if (!have_free_slot(t, &job->prod))
            return;
        produce_one(t, &job->prod);
    }
}

void sch_schedule(str_table *t)
{
    schedule_starving(t);
    uint32_t n = producer_span(t);
    if (n == 0)
        return;
    str_producer **prods = t->prods;
    for (uint32_t i = 0; i < n; i++)
        prods[i] = producer_at(t, i);
    while (ring_count(t->ring, RING_FREE) > 0) {
        int best = sch_pick_fill(prods, n, t->rr);
        if (best < 0)
            return;
        if (!production_order(t, prods[best])) {
            prods[best] = NULL; /* its order is being drawn: others go on */
            continue;
        }
        if (!produce_one(t, prods[best]))
            return;
        t->rr = ((uint32_t)best + 1) % n;
    }
}
