/*
 * workers.h — the worker pool and its one hand-off with the loop thread.
 *
 * The loop thread submits jobs; worker threads run them with no lock held
 * and push them onto a done list, then wake the loop with uv_async_send.
 * Several wake-ups may merge into one callback, which therefore drains the
 * whole list and calls each job's done() on the loop thread. This file is
 * the only place where the two sides meet.
 */
#ifndef SRV_WORKERS_H
#define SRV_WORKERS_H

#include <pthread.h>
#include <stdint.h>
#include <uv.h>

typedef struct wrk_job wrk_job;
struct wrk_job {
    wrk_job *next;
    void (*run)(wrk_job *job);  /* on a worker thread */
    void (*done)(wrk_job *job); /* on the loop thread */
    int cancelled;              /* set when the pool stopped before run() */
    void *scratch;              /* during run(): the worker's own memory */
};

/* A worker thread and its scratch: working memory belongs to the worker
 * (one per thread, sized once at start), never to what it fills. */
typedef struct wrk_thread {
    struct wrk_pool *pool;
    pthread_t tid;
    void *scratch;
} wrk_thread;

typedef struct wrk_pool {
    uv_loop_t *loop;
    uv_async_t wake;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    wrk_job *todo_head, *todo_tail;
    wrk_job *done_head, *done_tail;
    wrk_thread *threads;
    uint32_t n_threads;   /* running */
    uint32_t n_alloc;     /* threads[] entries */
    size_t scratch_size;  /* per thread */
    int stopping;
    int started;
    /* Statistics, under mu. */
    uint64_t jobs_run;
    uint64_t busy_ns;
} wrk_pool;

/* Start @n threads. Return 0 or MIXUP_ESYS / MIXUP_ENOMEM. */
int wrk_pool_start(wrk_pool *pool, uv_loop_t *loop, uint32_t n);

/* The same, each thread with @scratch bytes of its own (64-byte aligned),
 * handed to every job it runs as job->scratch. */
int wrk_pool_start_scratch(wrk_pool *pool, uv_loop_t *loop, uint32_t n,
                           size_t scratch);

/* Queue @job (loop thread only). */
void wrk_submit(wrk_pool *pool, wrk_job *job);

/* The statistics, read under the pool's lock (any thread). */
void wrk_pool_counters(wrk_pool *pool, uint64_t *jobs_run, uint64_t *busy_ns);

/* Stop: threads finish the job they run and exit; they are joined; jobs
 * never run get cancelled = 1; every job's done() is called, then the
 * async handle is closed (the loop must run once more to finish closing). */
void wrk_pool_stop(wrk_pool *pool);

#endif
