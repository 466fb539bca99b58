/*
 * orders.c — see orders.h.
 *
 * Lookups go through a hash of (seed, epoch) and a free list, so asking
 * costs the same with 10 entries or 2,000; only trimming (when a draw
 * starts, and once a second) scans the entries.
 */
#include "orders.h"

#include <stdlib.h>

#include "mixup_errors.h"

static uint32_t hash(const ord_cache *c, uint64_t seed, uint64_t epoch)
{
    uint64_t h = (seed ^ (epoch * 0x9e3779b97f4a7c15ull)) *
                 0xbf58476d1ce4e5b9ull;
    return (uint32_t)(h >> 32) & (c->n_buckets - 1);
}

static void chain_insert(ord_cache *c, ord_entry *e)
{
    uint32_t b = hash(c, e->seed, e->epoch);
    e->next = c->bucket[b];
    c->bucket[b] = (int32_t)(e - c->e);
}

static void chain_remove(ord_cache *c, ord_entry *e)
{
    int32_t *at = &c->bucket[hash(c, e->seed, e->epoch)];
    while (*at >= 0 && &c->e[*at] != e)
        at = &c->e[*at].next;
    if (*at >= 0)
        *at = e->next;
}

static ord_entry *find(ord_cache *c, uint64_t seed, uint64_t epoch)
{
    for (int32_t i = c->bucket[hash(c, seed, epoch)]; i >= 0; i = c->e[i].next)
        if (c->e[i].seed == seed && c->e[i].epoch == epoch)
            return &c->e[i];
    return NULL;
}

static void make_free(ord_cache *c, ord_entry *e)
{
    e->state = ORD_FREE;
    e->order = NULL;
    e->next = c->free_head;
    c->free_head = (int32_t)(e - c->e);
}

static void run_entry(wrk_job *job)
{
    ord_entry *e = (ord_entry *)job;
    smp_order *o = e->order;
    if (e->state == ORD_RELEASING) {
        smp_order_unref(o);
        e->order = NULL;
    } else if (o) { /* an unused order's memory, drawn over */
        o->seed = e->seed;
        o->epoch = e->epoch;
        smp_order_fill(o->index, e->cache->st, e->seed, e->epoch);
    } else {
        e->order = smp_order_new(e->cache->st, e->seed, e->epoch);
    }
}

static void entry_done(wrk_job *job)
{
    ord_entry *e = (ord_entry *)job;
    ord_cache *c = e->cache;
    if (e->state == ORD_COMPUTING) {
        c->computing--;
        if (e->order && !job->cancelled) {
            e->state = ORD_READY;
            c->ctr.computed++;
        } else { /* cancelled (maybe an old order's memory), no memory */
            smp_order_unref(e->order);
            chain_remove(c, e);
            make_free(c, e);
        }
    } else {
        if (job->cancelled) /* shutting down: free it here */
            smp_order_unref(e->order);
        make_free(c, e);
    }
    if (!job->cancelled && c->ready)
        c->ready(c->ctx);
}

static void submit(ord_cache *c, ord_entry *e, ord_state state)
{
    e->state = state;
    e->job = (wrk_job){.run = run_entry, .done = entry_done};
    wrk_submit(c->pool, &e->job);
}

int ord_cache_init(ord_cache *c, uint32_t cap, const smp_settings *st,
                   wrk_pool *pool, void (*ready)(void *ctx), void *ctx)
{
    *c = (ord_cache){.st = st, .pool = pool, .ready = ready, .ctx = ctx,
                     .cap = cap, .free_head = -1, .n_buckets = 16};
    while (c->n_buckets < 2 * cap)
        c->n_buckets *= 2;
    c->e = calloc(cap, sizeof *c->e);
    c->bucket = malloc(c->n_buckets * sizeof *c->bucket);
    if (!c->e || !c->bucket) {
        ord_cache_free(c);
        return MIXUP_ENOMEM;
    }
    for (uint32_t i = 0; i < c->n_buckets; i++)
        c->bucket[i] = -1;
    for (uint32_t i = cap; i-- > 0;) {
        c->e[i].cache = c;
        make_free(c, &c->e[i]);
    }
    return 0;
}

void ord_cache_free(ord_cache *c)
{
    for (uint32_t i = 0; c->e && i < c->cap; i++)
        if (c->e[i].order)
            smp_order_unref(c->e[i].order);
    free(c->e);
    free(c->bucket);
    c->e = NULL;
    c->bucket = NULL;
}

static int idle(const ord_entry *e)
{
    return e->state == ORD_READY && e->order->refs == 1;
}

/* The least recently used of the orders nobody uses, and how many
 * there are. */
static ord_entry *least_used_idle(ord_cache *c, uint32_t *n_idle)
{
    ord_entry *lru = NULL;
    *n_idle = 0;
    for (uint32_t i = 0; i < c->cap; i++) {
        ord_entry *e = &c->e[i];
        if (!idle(e))
            continue;
        (*n_idle)++;
        if (!lru || e->last_use < lru->last_use)
            lru = e;
    }
    return lru;
}

/* An entry for a new draw: an unused order's (its memory is drawn over:
 * no allocation, no munmap that would stall the loop thread's page
 * faults) when ORD_IDLE_KEEP are kept or no entry is free, else a free
 * one. NULL if neither. */
static ord_entry *entry_for_draw(ord_cache *c)
{
    uint32_t n_idle;
    ord_entry *lru = least_used_idle(c, &n_idle);
    if (lru && (n_idle >= ORD_IDLE_KEEP || c->free_head < 0)) {
        c->ctr.evicted++;
        chain_remove(c, lru);
        return lru;
    }
    if (c->free_head < 0)
        return NULL;
    ord_entry *e = &c->e[c->free_head];
    c->free_head = e->next;
    e->order = NULL;
    return e;
}

smp_order *ord_get(ord_cache *c, uint64_t seed, uint64_t epoch)
{
    ord_entry *e = find(c, seed, epoch);
    if (e && e->state == ORD_READY) {
        smp_order_ref(e->order);
        e->last_use = ++c->clock;
        c->ctr.hits++;
        return e->order;
    }
    c->ctr.waits++;
    if (e || c->computing >= ORD_MAX_COMPUTING)
        return NULL; /* being drawn, or wait for a draw to finish */
    if (!(e = entry_for_draw(c)))
        return NULL; /* full: an entry comes free when a job is done */
    e->seed = seed;
    e->epoch = epoch;
    e->last_use = ++c->clock;
    chain_insert(c, e);
    c->computing++;
    submit(c, e, ORD_COMPUTING);
    return NULL;
}

/* Free unused orders beyond ORD_IDLE_KEEP, least recently used first. */
void ord_trim(ord_cache *c)
{
    uint32_t n_idle;
    ord_entry *lru;
    while ((lru = least_used_idle(c, &n_idle)) && n_idle > ORD_IDLE_KEEP) {
        c->ctr.evicted++;
        chain_remove(c, lru);
        submit(c, lru, ORD_RELEASING);
    }
}

uint32_t ord_count(const ord_cache *c, ord_state state)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->cap; i++)
        n += c->e[i].state == state;
    return n;
}
