/*
 * progress.c — see progress.h.
 *
 * The line is padded with spaces to cover the previous one instead of
 * using terminal escape codes, so that it also looks right on a "dumb"
 * terminal (an editor's shell buffer, a serial console).
 */
#include "progress.h"

#include <inttypes.h>
#include <time.h>
#include <unistd.h>

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_start(progress *p, const char *what, uint64_t total,
                    double seconds)
{
    *p = (progress){
        .out = isatty(STDERR_FILENO) ? stderr : NULL,
        .what = what,
        .total = total,
        .seconds = seconds,
        .t0 = progress_now(),
    };
    p->last_draw = p->t0;
}

static void draw(progress *p, uint64_t done, double now)
{
    double el = now - p->t0;
    double rate = el > 0 ? (double)done / el : 0;
    char line[160];
    int n;
    if (p->total) {
        double left = rate > 0 ? (double)(p->total - done) / rate : 0;
        n = snprintf(line, sizeof line,
                     "%s: %" PRIu64 "/%" PRIu64 " batches (%d%%), %.1f batches/s,"
                     " %.1f s left",
                     p->what, done, p->total,
                     (int)(100.0 * (double)done / (double)p->total), rate, left);
    } else {
        n = snprintf(line, sizeof line,
                     "%s: %.1f/%.1f s, %" PRIu64 " batches, %.1f batches/s",
                     p->what, el < p->seconds ? el : p->seconds, p->seconds,
                     done, rate);
    }
    if (n < 0)
        return;
    if (n >= (int)sizeof line)
        n = (int)sizeof line - 1;
    /* Pad over what the previous line left on the screen. */
    fprintf(p->out, "\r%s%*s", line, p->width > n ? p->width - n : 0, "");
    fflush(p->out);
    p->width = n;
    p->last_draw = now;
}

void progress_update(progress *p, uint64_t done)
{
    if (!p->out)
        return;
    double now = progress_now();
    if (now - p->last_draw < PROGRESS_INTERVAL_S)
        return;
    draw(p, done, now);
}

void progress_end(progress *p)
{
    if (p->out && p->width > 0) {
        fprintf(p->out, "\r%*s\r", p->width, "");
        fflush(p->out);
    }
    p->width = 0;
    p->last_draw = progress_now();
}
