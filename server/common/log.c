/*
 * log.c — see log.h. Lines look like
 *   2026-11-29T05:12:03.123Z mixupd[1234] info: message
 * and are written with one fprintf so that lines from worker threads do not
 * interleave. Rate limits use whole seconds of CLOCK_MONOTONIC: a kind's
 * window is the second its first line of the window fell in.
 */
#include "log.h"

#include "mixup_errors.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_level_current = LOG_INFO_;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* Workers may log while the loop thread reopens the file. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file; /* NULL: stderr */

int log_open(const char *path, char *err, size_t errlen)
{
    FILE *f = NULL;
    if (path && *path) {
        /* 0640, not the umask's choice: a service may run with umask 0. */
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        f = fd < 0 ? NULL : fdopen(fd, "a");
        if (!f && fd >= 0)
            close(fd);
        if (!f) {
            snprintf(err, errlen, "server.log_file %s: %s", path,
                     strerror(errno));
            return MIXUP_EIO;
        }
        setvbuf(f, NULL, _IOLBF, 0);
    }
    pthread_mutex_lock(&log_mu);
    FILE *old = log_file;
    log_file = f;
    pthread_mutex_unlock(&log_mu);
    if (old)
        fclose(old);
    return 0;
}

void log_set_level(int level)
{
    if (level < LOG_ERR_)
        level = LOG_ERR_;
    if (level > LOG_DEBUG_)
        level = LOG_DEBUG_;
    log_level_current = level;
}

static void write_line(int level, const char *msg)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    pthread_mutex_lock(&log_mu);
    fprintf(log_file ? log_file : stderr, "%s.%03dZ mixupd[%d] %s: %s\n",
            stamp, (int)(tv.tv_usec / 1000), (int)getpid(), level_names[level],
            msg);
    pthread_mutex_unlock(&log_mu);
}

static void vwrite_line(int level, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    write_line(level, msg);
}

void log_write(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vwrite_line(level, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------ rate limits */

static const char *const kind_names[LOG_KIND_COUNT] = {
    "bad_request", "open_refused", "reply_not_sent", "recv_failed",
    "lease_lapsed", "stream_expired", "auth_refused"};

typedef struct kind_state {
    int64_t window;       /* monotonic second of the current window */
    uint32_t logged;      /* lines written in it */
    uint64_t held;        /* events not written in it */
    int held_level;
    uint64_t events, suppressed; /* since start */
} kind_state;

static pthread_mutex_t rate_mu = PTHREAD_MUTEX_INITIALIZER;
static kind_state kinds[LOG_KIND_COUNT];

static int64_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

/* Under rate_mu: close @k's window if it is over; return the number of
 * events held in it (the caller writes the summary outside the lock). */
static uint64_t roll(kind_state *k, int64_t now, int *level)
{
    if (k->window == now)
        return 0;
    uint64_t held = k->held;
    *level = k->held_level;
    k->window = now;
    k->logged = 0;
    k->held = 0;
    return held;
}

static void summary(log_kind kind, int level, uint64_t held)
{
    if (held && level <= log_level_current) {
        char msg[160];
        snprintf(msg, sizeof msg, "%llu more like this (%s) in the last "
                 "second", (unsigned long long)held, kind_names[kind]);
        write_line(level, msg);
    }
}

void log_limited(log_kind kind, int level, const char *fmt, ...)
{
    if (kind < 0 || kind >= LOG_KIND_COUNT)
        return;
    int64_t now = now_s();
    int old_level = level;
    pthread_mutex_lock(&rate_mu);
    kind_state *k = &kinds[kind];
    uint64_t held = roll(k, now, &old_level);
    k->events++;
    int write = k->logged < LOG_RATE_PER_KIND;
    if (write) {
        k->logged++;
    } else {
        k->held++;
        k->held_level = level;
        k->suppressed++;
    }
    pthread_mutex_unlock(&rate_mu);
    summary(kind, old_level, held);
    if (!write || level > log_level_current)
        return;
    va_list ap;
    va_start(ap, fmt);
    vwrite_line(level, fmt, ap);
    va_end(ap);
}

void log_rate_tick(void)
{
    int64_t now = now_s();
    for (int i = 0; i < LOG_KIND_COUNT; i++) {
        int level = LOG_WARN_;
        pthread_mutex_lock(&rate_mu);
        uint64_t held = kinds[i].window ? roll(&kinds[i], now, &level) : 0;
        pthread_mutex_unlock(&rate_mu);
        summary((log_kind)i, level, held);
    }
}

const char *log_kind_name(log_kind kind)
{
    return kind >= 0 && kind < LOG_KIND_COUNT ? kind_names[kind] : "unknown";
}

void log_kind_counts(log_kind kind, uint64_t *events, uint64_t *suppressed)
{
    *events = *suppressed = 0;
    if (kind < 0 || kind >= LOG_KIND_COUNT)
        return;
    pthread_mutex_lock(&rate_mu);
    *events = kinds[kind].events;
    *suppressed = kinds[kind].suppressed;
    pthread_mutex_unlock(&rate_mu);
}

json_object *log_describe_json(void)
{
    json_object *all = json_object_new_object();
    for (int i = 0; i < LOG_KIND_COUNT && all; i++) {
        uint64_t ev, sup;
        log_kind_counts((log_kind)i, &ev, &sup);
        json_object *kind = json_object_new_object();
        jw_add(kind, "events", jw_u64(ev));
        jw_add(kind, "suppressed", jw_u64(sup));
        jw_add(all, kind_names[i], kind);
    }
    return all;
}
