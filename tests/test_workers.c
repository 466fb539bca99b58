/*
 * test_workers.c — the pool runs every job once, calls done() on the loop
 * thread, and the bytes it produces do not depend on the thread count.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "batch.h"
#include "workers.h"

enum { N = 400, H = 5, W = 4, C = 3, K = 7, B = 10, JOBS = 40 };

static uint8_t images[N * H * W * C];
static int32_t labels[N];

typedef struct test_job {
    wrk_job job;
    const bat_plan *plan;
    smp_order *order;
    uint64_t k;
    uint8_t *msg;
    pthread_t ran_on;
    int *remaining;
    wrk_pool *pool;
    uv_loop_t *loop;
} test_job;

static pthread_t loop_thread;

static void run(wrk_job *j)
{
    test_job *t = (test_job *)j;
    t->ran_on = pthread_self();
    bat_build(t->plan, t->order, t->k, 1, t->msg);
}

static void done(wrk_job *j)
{
    test_job *t = (test_job *)j;
    cr_assert(pthread_equal(pthread_self(), loop_thread), "done() off the loop thread");
    cr_assert(!pthread_equal(t->ran_on, loop_thread), "run() on the loop thread");
    if (--*t->remaining == 0)
        wrk_pool_stop(t->pool); /* closes the async handle: the loop ends */
}

static uint8_t *run_pool(uint32_t threads, const bat_plan *plan)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    loop_thread = pthread_self();
    wrk_pool pool;
    cr_assert_eq(wrk_pool_start(&pool, &loop, threads), 0);
    uint8_t *out = calloc(JOBS, plan->layout.total);
    test_job jobs[JOBS];
    int remaining = JOBS;
    smp_order *orders[2] = {smp_order_new(&plan->smp, 11, 0),
                            smp_order_new(&plan->smp, 11, 1)};
    for (int i = 0; i < JOBS; i++) {
        jobs[i] = (test_job){
            .job = {.run = run, .done = done},
            .plan = plan,
            .order = orders[i / 20],
            .k = (uint64_t)(i % 20),
            .msg = out + (size_t)i * plan->layout.total,
            .remaining = &remaining,
            .pool = &pool,
        };
        wrk_submit(&pool, &jobs[i].job);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(remaining, 0);
    cr_assert_eq(pool.jobs_run, (uint64_t)JOBS);
    cr_assert_eq(uv_loop_close(&loop), 0);
    smp_order_unref(orders[0]);
    smp_order_unref(orders[1]);
    return out;
}

Test(workers, bytes_do_not_depend_on_thread_count)
{
    for (int i = 0; i < N * H * W * C; i++)
        images[i] = (uint8_t)(i * 13 + 5);
    for (int i = 0; i < N; i++)
        labels[i] = i % K;
    ds_dataset ds = {.n = N, .h = H, .w = W, .c = C, .classes = K,
                     .dtype = DS_U8, .images = images, .labels = labels};
    bat_plan plan;
    char err[256];
    cr_assert_eq(bat_plan_init(&plan, &ds, B, 0.2, 1, err, sizeof err), 0);
    cr_assert_eq(smp_batches_per_epoch(&plan.smp), 20u);
    uint8_t *one = run_pool(1, &plan);
    uint8_t *two = run_pool(2, &plan);
    uint8_t *eight = run_pool(8, &plan);
    size_t bytes = JOBS * plan.layout.total;
    cr_assert_eq(memcmp(one, two, bytes), 0);
    cr_assert_eq(memcmp(one, eight, bytes), 0);
    free(one);
    free(two);
    free(eight);
}

static void never_run(wrk_job *j) { (void)j; }
static int cancelled_seen;
static void count_cancel(wrk_job *j) { cancelled_seen += j->cancelled; }

Test(workers, stop_cancels_jobs_never_run)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    wrk_pool pool;
    cr_assert_eq(wrk_pool_start(&pool, &loop, 1), 0);
    /* Hold the pool's lock so that no worker can take a job, then stop:
     * the workers see `stopping` first. */
    pthread_mutex_lock(&pool.mu);
    pool.stopping = 1;
    pthread_mutex_unlock(&pool.mu);
    wrk_job jobs[3] = {{.run = never_run, .done = count_cancel},
                       {.run = never_run, .done = count_cancel},
                       {.run = never_run, .done = count_cancel}};
    for (int i = 0; i < 3; i++)
        wrk_submit(&pool, &jobs[i]);
    wrk_pool_stop(&pool);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(cancelled_seen, 3);
    cr_assert_eq(uv_loop_close(&loop), 0);
}

/* Scratch belongs to the thread: every job a thread runs gets that
 * thread's scratch (64-byte aligned, writable), and threads never share
 * one. */
typedef struct scratch_job {
    wrk_job job;
    pthread_t ran_on;
    void *scratch;
    int *remaining;
    wrk_pool *pool;
} scratch_job;

static void scratch_run(wrk_job *j)
{
    scratch_job *t = (scratch_job *)j;
    t->ran_on = pthread_self();
    t->scratch = j->scratch;
    memset(j->scratch, 0xa5, 1000); /* the whole scratch is ours */
}

static void scratch_done(wrk_job *j)
{
    scratch_job *t = (scratch_job *)j;
    if (--*t->remaining == 0)
        wrk_pool_stop(t->pool);
}

Test(workers, scratch_is_per_thread)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    wrk_pool pool;
    cr_assert_eq(wrk_pool_start_scratch(&pool, &loop, 3, 1000), 0);
    cr_assert_eq(pool.scratch_size, 1024u);
    enum { J = 60 };
    scratch_job jobs[J];
    int remaining = J;
    for (int i = 0; i < J; i++) {
        jobs[i] = (scratch_job){.job = {.run = scratch_run,
                                        .done = scratch_done},
                                .remaining = &remaining, .pool = &pool};
        wrk_submit(&pool, &jobs[i].job);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(remaining, 0);
    for (int i = 0; i < J; i++) {
        cr_assert(jobs[i].scratch && ((uintptr_t)jobs[i].scratch & 63) == 0);
        for (int k = 0; k < J; k++)
            cr_assert_eq(pthread_equal(jobs[i].ran_on, jobs[k].ran_on) != 0,
                         jobs[i].scratch == jobs[k].scratch,
                         "jobs %d and %d: same thread iff same scratch", i,
                         k);
    }
    cr_assert_eq(uv_loop_close(&loop), 0);
}
