/*
 * log.c — see log.h. Lines look like
 *   2026-11-29T05:12:03.123Z mixupd[1234] info: message
 * and are written with one fprintf so that lines from worker threads do not
 * interleave.
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

void log_write(int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

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
