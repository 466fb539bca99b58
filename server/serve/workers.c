/*
 * workers.c — see workers.h.
 */
#include "workers.h"

#include <stdlib.h>
#include <time.h>

#include "mixup_errors.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void push(wrk_job **head, wrk_job **tail, wrk_job *job)
{
    job->next = NULL;
    if (*tail)
        (*tail)->next = job;
    else
        *head = job;
    *tail = job;
}

static void *worker_main(void *arg)
{
    wrk_thread *self = arg;
    wrk_pool *pool = self->pool;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!pool->todo_head && !pool->stopping)
            pthread_cond_wait(&pool->cv, &pool->mu);
        if (pool->stopping)
            break;
        wrk_job *job = pool->todo_head;
        pool->todo_head = job->next;
        if (!pool->todo_head)
            pool->todo_tail = NULL;
        pthread_mutex_unlock(&pool->mu);

        uint64_t t0 = now_ns();
        job->scratch = self->scratch;
        job->run(job);
        uint64_t t1 = now_ns();

        pthread_mutex_lock(&pool->mu);
        pool->jobs_run++;
        pool->busy_ns += t1 - t0;
        push(&pool->done_head, &pool->done_tail, job);
        uv_async_send(&pool->wake);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

/* Loop thread: take the whole done list at once, then call done()s with
 * no lock held (they may submit new jobs). */
static void drain_done(wrk_pool *pool)
{
    pthread_mutex_lock(&pool->mu);
    wrk_job *job = pool->done_head;
    pool->done_head = pool->done_tail = NULL;
    pthread_mutex_unlock(&pool->mu);
    while (job) {
        wrk_job *next = job->next;
        job->done(job);
        job = next;
    }
}

static void on_wake(uv_async_t *handle)
{
    drain_done(handle->data);
}

int wrk_pool_start(wrk_pool *pool, uv_loop_t *loop, uint32_t n)
{
    return wrk_pool_start_scratch(pool, loop, n, 0);
}

static void free_threads(wrk_pool *pool, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        free(pool->threads[i].scratch);
    free(pool->threads);
    pool->threads = NULL;
}

int wrk_pool_start_scratch(wrk_pool *pool, uv_loop_t *loop, uint32_t n,
                           size_t scratch)
{
    *pool = (wrk_pool){.loop = loop};
    pool->threads = calloc(n, sizeof *pool->threads);
    if (!pool->threads)
        return MIXUP_ENOMEM;
    pool->n_alloc = n;
    size_t room = (scratch + 63) & ~(size_t)63;
    pool->scratch_size = room;
    for (uint32_t i = 0; i < n; i++) {
        pool->threads[i].pool = pool;
        if (room && !(pool->threads[i].scratch = aligned_alloc(64, room))) {
            free_threads(pool, n);
            return MIXUP_ENOMEM;
        }
    }
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    if (uv_async_init(loop, &pool->wake, on_wake) < 0) {
        free_threads(pool, n);
        return MIXUP_ESYS;
    }
    pool->wake.data = pool;
    pool->started = 1;
    for (uint32_t i = 0; i < n; i++) {
        if (pthread_create(&pool->threads[i].tid, NULL, worker_main,
                           &pool->threads[i]) != 0) {
            wrk_pool_stop(pool);
            return MIXUP_ESYS;
        }
        pool->n_threads++;
    }
    return 0;
}

void wrk_submit(wrk_pool *pool, wrk_job *job)
{
    job->cancelled = 0;
    pthread_mutex_lock(&pool->mu);
    push(&pool->todo_head, &pool->todo_tail, job);
    pthread_cond_signal(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
}

void wrk_pool_counters(wrk_pool *pool, uint64_t *jobs_run, uint64_t *busy_ns)
{
    pthread_mutex_lock(&pool->mu);
    *jobs_run = pool->jobs_run;
    *busy_ns = pool->busy_ns;
    pthread_mutex_unlock(&pool->mu);
}

void wrk_pool_stop(wrk_pool *pool)
{
    if (!pool->started)
        return;
    pthread_mutex_lock(&pool->mu);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    for (uint32_t i = 0; i < pool->n_threads; i++)
        pthread_join(pool->threads[i].tid, NULL);
    free_threads(pool, pool->n_alloc);

    drain_done(pool);
    wrk_job *job = pool->todo_head;
    pool->todo_head = pool->todo_tail = NULL;
    while (job) {
        wrk_job *next = job->next;
        job->cancelled = 1;
        job->done(job);
        job = next;
    }
    uv_close((uv_handle_t *)&pool->wake, NULL);
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    pool->started = 0;
}
