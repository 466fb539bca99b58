/*
 * progress.h — a progress line on a terminal for mixupctl's long
 * operations (dump, bench).
 *
 * The line goes to stderr, is redrawn in place ("\r") at most ten times a
 * second, and is erased when the operation ends, so that what stays on
 * the screen is the command's own output. When stderr is not a terminal
 * (a pipe, a file, a CI log) nothing at all is written: scripts and logs
 * see only the results.
 */
#ifndef MIXUPCTL_PROGRESS_H
#define MIXUPCTL_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

/* Redraw no more often than this (seconds). */
#define PROGRESS_INTERVAL_S 0.1

typedef struct progress {
    FILE *out;          /* NULL: disabled (not a terminal) */
    const char *what;   /* "dump", "bench", ... */
    uint64_t total;     /* batches to do; 0 when the end is a duration */
    double seconds;     /* the duration, when the end is a time */
    double t0;          /* start, monotonic seconds */
    double last_draw;   /* when the line was last drawn (or started) */
    int width;          /* characters on screen; 0: nothing drawn */
} progress;

/**
 * progress_start() - begin a progress line.
 * @p: the line's state.
 * @what: a short name shown first; kept by pointer, must outlive @p.
 * @total: batches the operation will do, or 0 when it runs for @seconds.
 * @seconds: the duration of a timed operation (used when @total is 0).
 * The line is enabled only when stderr is a terminal.
 */
void progress_start(progress *p, const char *what, uint64_t total,
                    double seconds);

/**
 * progress_update() - report @done batches so far; redraws when the last
 * drawing (or the start) is older than PROGRESS_INTERVAL_S, so an
 * operation that ends sooner never draws at all. Cheap to call per batch.
 */
void progress_update(progress *p, uint64_t done);

/**
 * progress_end() - erase the line (if one was drawn). @p may be started
 * again afterwards.
 */
void progress_end(progress *p);

/** progress_now() - monotonic time in seconds. */
double progress_now(void);

#endif
