/*
 * loadwatch.h — progress of a dataset load, for every format alike.
 *
 * Measured from outside the loaders: the bytes this process has read
 * (/proc/self/io, rchar: read(2), pread(2) and gzip's reads alike) since
 * the load began, against the size of the files named (a gzip'd file:
 * its compressed bytes, which are what is read). A thread reports it every
 * 200 ms on a terminal (one line, rewritten) and every second as STATUS=
 * to systemd (sd_notify: nothing outside systemd). A folder has no size
 * up front: its progress is the megabytes read.
 */
#ifndef SRV_LOADWATCH_H
#define SRV_LOADWATCH_H

#include <pthread.h>
#include <stdint.h>

typedef struct loadwatch {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running, stop;
    int tty;            /* draw the line on stderr */
    char what[160];     /* "pipeline main (/path/train.idx.gz)" */
    uint64_t total;     /* bytes to read; 0: unknown */
    uint64_t rchar0;    /* rchar when the load began */
} loadwatch;

/* Start watching the load of @images and @labels (either may be empty or
 * a folder) for @pipeline; @tty: draw a progress line on stderr. Sends a
 * first STATUS= at once. A watch that cannot start (no thread) is not an
 * error: the load goes on without progress. */
void lw_start(loadwatch *w, const char *pipeline, const char *images,
              const char *labels, int tty);

/* Stop and join the thread; on a terminal, the line is finished with the
 * final count. Safe on a watch that did not start. */
void lw_stop(loadwatch *w);

/* The progress text now, e.g. "12.0 / 47.0 MB (25%)". */
void lw_text(const loadwatch *w, char *buf, size_t len);

#endif
