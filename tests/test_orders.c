/*
 * test_orders.c — the order cache (orders.h): orders drawn by the worker
 * pool, never by the asker; one order per (seed, epoch) however many ask;
 * draws in flight and unused orders bounded.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <uv.h>

#include "orders.h"
#include "workers.h"

typedef struct harness {
    uv_loop_t loop;
    wrk_pool pool;
    ord_cache c;
    smp_settings st;
    int ready_calls;
    uint32_t max_computing;
} harness;

static harness h;

static void on_ready(void *ctx)
{
    (void)ctx;
    h.ready_calls++;
}

static void h_start(uint64_t n)
{
    memset(&h, 0, sizeof h);
    h.st = (smp_settings){.n = n, .batch_size = 4, .alpha = 0.2,
                          .shuffle = 1};
    cr_assert_eq(uv_loop_init(&h.loop), 0);
    cr_assert_eq(wrk_pool_start(&h.pool, &h.loop, 2), 0);
    cr_assert_eq(ord_cache_init(&h.c, 32, &h.st, &h.pool, on_ready, NULL), 0);
}

static void h_stop(void)
{
    wrk_pool_stop(&h.pool);
    ord_cache_free(&h.c);
    uv_run(&h.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&h.loop), 0);
}

/* Ask until the order is there (10 s at most), running the loop between
 * asks; note the most draws seen in flight. */
static smp_order *h_get(uint64_t seed, uint64_t epoch)
{
    uint64_t until = uv_now(&h.loop) + 10000;
    smp_order *o;
    while (!(o = ord_get(&h.c, seed, epoch))) {
        if (h.c.computing > h.max_computing)
            h.max_computing = h.c.computing;
        cr_assert_lt(uv_now(&h.loop), until, "order %llu:%llu never came",
                     (unsigned long long)seed, (unsigned long long)epoch);
        uv_run(&h.loop, UV_RUN_ONCE);
    }
    return o;
}

static void check_order(const smp_order *o, uint64_t seed, uint64_t epoch)
{
    uint32_t *want = malloc(h.st.n * sizeof *want);
    smp_permutation(want, h.st.n, seed, epoch, 1);
    cr_assert_eq(o->n, h.st.n);
    cr_assert_eq(memcmp(want, o->index, h.st.n * sizeof *want), 0);
    free(want);
}

Test(orders, drawn_by_a_worker_not_by_the_asker)
{
    h_start(100000);
    cr_assert_null(ord_get(&h.c, 7, 3), "the first ask only queues a draw");
    cr_assert_eq(h.c.computing, 1);
    cr_assert_null(ord_get(&h.c, 7, 3), "asking again queues nothing more");
    cr_assert_eq(h.c.computing, 1);
    smp_order *o = h_get(7, 3);
    cr_assert_geq(h.ready_calls, 1, "the cache says when a draw is done");
    check_order(o, 7, 3);
    cr_assert_eq(h.c.ctr.computed, 1);
    smp_order_unref(o);
    h_stop();
}

Test(orders, one_order_per_seed_and_epoch)
{
    h_start(10000);
    smp_order *a = h_get(5, 0);
    smp_order *b = h_get(5, 0);
    smp_order *c = h_get(5, 1);
    cr_assert_eq(a, b, "the same (seed, epoch): the same order");
    cr_assert_neq(a, c);
    cr_assert_eq(a->refs, 3, "two askers and the cache");
    cr_assert_eq(h.c.ctr.computed, 2);
    check_order(c, 5, 1);
    smp_order_unref(a);
    smp_order_unref(b);
    smp_order_unref(c);
    h_stop();
}

Test(orders, draws_in_flight_and_unused_orders_are_bounded)
{
    h_start(200000);
    /* Twenty askers with twenty seeds at once (a client churning OPENs). */
    for (uint64_t s = 0; s < 20; s++) {
        ord_get(&h.c, 100 + s, 0);
        cr_assert_leq(h.c.computing, ORD_MAX_COMPUTING);
    }
    for (uint64_t s = 0; s < 20; s++) {
        smp_order *o = h_get(100 + s, 0);
        cr_assert_leq(h.c.computing, ORD_MAX_COMPUTING);
        smp_order_unref(o); /* the asker went away */
    }
    cr_assert_leq(h.max_computing, ORD_MAX_COMPUTING);
    cr_assert_eq(h.c.ctr.computed, 20);
    ord_trim(&h.c);
    for (int i = 0; i < 100 && ord_count(&h.c, ORD_RELEASING); i++)
        uv_run(&h.loop, UV_RUN_ONCE);
    cr_assert_leq(ord_count(&h.c, ORD_READY), ORD_IDLE_KEEP,
                  "%u unused orders kept", ord_count(&h.c, ORD_READY));
    cr_assert_geq(h.c.ctr.evicted, 20 - ORD_IDLE_KEEP);
    /* The most recently used stay and are handed out without a draw. */
    smp_order *o = ord_get(&h.c, 119, 0);
    cr_assert_not_null(o);
    smp_order_unref(o);
    cr_assert_eq(h.c.ctr.computed, 20);
    h_stop();
}

Test(orders, an_order_in_use_is_never_evicted)
{
    h_start(1000);
    smp_order *kept = h_get(1, 0);
    for (uint64_t s = 2; s < 12; s++)
        smp_order_unref(h_get(s, 0));
    ord_trim(&h.c);
    smp_order *again = ord_get(&h.c, 1, 0);
    cr_assert_eq(again, kept);
    check_order(kept, 1, 0);
    smp_order_unref(again);
    smp_order_unref(kept);
    h_stop();
}
