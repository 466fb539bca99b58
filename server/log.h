/*
 * log.h — leveled logging, one line per event, to stderr (journald keeps
 * it). The level is checked before anything is formatted.
 */
#ifndef SRV_LOG_H
#define SRV_LOG_H

#include <stddef.h>

enum { LOG_ERR_ = 0, LOG_WARN_ = 1, LOG_INFO_ = 2, LOG_DEBUG_ = 3 };

extern int log_level_current;

void log_set_level(int level);

/* Send log lines to @path (appended), or to stderr when @path is empty.
 * Called again, it reopens (logrotate). Return 0 or MIXUP_EIO with @err;
 * on failure the previous destination stays. */
int log_open(const char *path, char *err, size_t errlen);
void log_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define LOG_AT(level, ...)                                                   \
    do {                                                                     \
        if ((level) <= log_level_current)                                    \
            log_write((level), __VA_ARGS__);                                 \
    } while (0)
#define log_error(...) LOG_AT(LOG_ERR_, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_WARN_, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_INFO_, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_DEBUG_, __VA_ARGS__)

#endif
