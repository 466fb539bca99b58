/*
 * loadwatch.c — see loadwatch.h.
 */
#include "loadwatch.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>

static uint64_t read_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f)
        return 0;
    char line[128];
    unsigned long long v = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "rchar: %llu", &v) == 1)
            break;
    fclose(f);
    return v;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    return path && *path && stat(path, &st) == 0 && S_ISREG(st.st_mode)
               ? (uint64_t)st.st_size
               : 0;
}

void lw_text(const loadwatch *w, char *buf, size_t len)
{
    uint64_t now = read_bytes();
    double mb = (double)(now > w->rchar0 ? now - w->rchar0 : 0) / 1e6;
    if (w->total) {
        double total = (double)w->total / 1e6;
        if (mb > total)
            mb = total;
        snprintf(buf, len, "%.1f / %.1f MB (%.0f%%)", mb, total,
                 100.0 * mb / total);
    } else {
        snprintf(buf, len, "%.1f MB read", mb);
    }
}

static void report(loadwatch *w, int status, int line)
{
    char text[96];
    lw_text(w, text, sizeof text);
    if (status)
        sd_notifyf(0, "STATUS=loading %s: %s", w->what, text);
    if (line && w->tty)
        fprintf(stderr, "\rloading %s: %s   ", w->what, text);
}

static void *watch(void *arg)
{
    loadwatch *w = arg;
    pthread_mutex_lock(&w->mu);
    for (unsigned tick = 1; !w->stop; tick++) {
        struct timespec at;
        clock_gettime(CLOCK_REALTIME, &at);
        at.tv_nsec += 200 * 1000 * 1000;
        if (at.tv_nsec >= 1000000000) {
            at.tv_sec++;
            at.tv_nsec -= 1000000000;
        }
        int rc = 0;
        while (!w->stop && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&w->cv, &w->mu, &at);
        if (!w->stop)
            report(w, tick % 5 == 0, 1);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

void lw_start(loadwatch *w, const char *pipeline, const char *images,
              const char *labels, int tty)
{
    memset(w, 0, sizeof *w);
    snprintf(w->what, sizeof w->what, "pipeline %s (%s)", pipeline, images);
    w->tty = tty;
    w->total = file_size(images) + file_size(labels);
    w->rchar0 = read_bytes();
    report(w, 1, 1);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->running = pthread_create(&w->thread, NULL, watch, w) == 0;
}

void lw_stop(loadwatch *w)
{
    if (w->running) {
        pthread_mutex_lock(&w->mu);
        w->stop = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->thread, NULL);
        w->running = 0;
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    } else if (!w->what[0]) {
        return; /* never started */
    }
    report(w, 0, 1);
    if (w->tty)
        fputc('\n', stderr);
}
