/*
 * orders.h — epochs' orders, computed by the worker pool and shared.
 *
 * An epoch's order is a permutation of N indices: O(N) to draw (359 ms at
 * N = 10M) and N x 4 bytes to keep. The loop thread never draws one: a
 * producer asks the cache for (seed, epoch) and either gets the order at
 * once (with a reference) or NULL, and the cache queues the draw as a
 * worker job; when the job is done, the cache calls its @ready callback on
 * the loop thread and the producer asks again. Every stream and shard of
 * the same seed shares one order.
 *
 * Bounds, whatever clients do (a client looping OPEN/CLOSE with new seeds,
 * say): at most ORD_MAX_COMPUTING draws in flight per cache (the rest of
 * the askers wait, so the pool keeps computing batches); at most
 * ORD_IDLE_KEEP orders that nobody uses kept for reuse (past that, a new
 * draw goes into the memory of the least recently used one: in steady
 * churn nothing is allocated or unmapped, since unmapping N x 4 bytes
 * holds the process's mmap lock for milliseconds and stalls the loop
 * thread's page faults); entries in all, cap (sized from the producers and
 * ring slots that may hold an order). Orders freed beyond those kept (once
 * a second, ord_trim) are freed on a worker too.
 *
 * Loop thread only, but for the jobs' run().
 */
#ifndef SRV_ORDERS_H
#define SRV_ORDERS_H

#include <stdint.h>

#include "sampler.h"
#include "workers.h"

enum { ORD_MAX_COMPUTING = 2, ORD_IDLE_KEEP = 4 };

typedef enum ord_state {
    ORD_FREE = 0,
    ORD_COMPUTING, /* a worker draws it */
    ORD_READY,
    ORD_RELEASING, /* a worker frees it */
} ord_state;

typedef struct ord_cache ord_cache;

typedef struct ord_entry {
    wrk_job job; /* first: the pool's handle */
    ord_cache *cache;
    ord_state state;
    uint64_t seed, epoch;
    smp_order *order;  /* READY: holds the cache's reference */
    uint64_t last_use; /* the cache's clock when last handed out */
    int32_t next;      /* in its hash chain, or in the free list */
} ord_entry;

typedef struct ord_counters {
    uint64_t computed;   /* draws finished */
    uint64_t hits;       /* orders handed out without a draw */
    uint64_t waits;      /* asks answered "not yet" */
    uint64_t evicted;    /* unused orders freed */
} ord_counters;

struct ord_cache {
    const smp_settings *st;
    wrk_pool *pool;
    void (*ready)(void *ctx); /* an order was drawn (or failed) */
    void *ctx;
    ord_entry *e;
    uint32_t cap;
    int32_t *bucket;  /* hash chains of COMPUTING and READY entries */
    uint32_t n_buckets; /* a power of two */
    int32_t free_head;
    uint32_t computing;
    uint64_t clock;
    ord_counters ctr;
};

/* A cache of @cap entries. 0 or MIXUP_ENOMEM. */
int ord_cache_init(ord_cache *c, uint32_t cap, const smp_settings *st,
                   wrk_pool *pool, void (*ready)(void *ctx), void *ctx);

/* Free every order. The pool must be stopped (no job in flight) and every
 * reference handed out given back. */
void ord_cache_free(ord_cache *c);

/* The order of (@seed, @epoch) with a reference for the caller
 * (smp_order_unref it), or NULL: not drawn yet (a draw is queued if the
 * bounds allow; @ready is called when one is done) or out of memory. */
smp_order *ord_get(ord_cache *c, uint64_t seed, uint64_t epoch);

/* Free unused orders beyond ORD_IDLE_KEEP (once a second). */
void ord_trim(ord_cache *c);

/* Orders ready, draws in flight, entries in use (for stats and tests). */
uint32_t ord_count(const ord_cache *c, ord_state state);

#endif
