/*
 * log.h — leveled logging, one line per event, to stderr (journald keeps
 * it). The level is checked before anything is formatted.
 */
#ifndef SRV_LOG_H
#define SRV_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "jsonw.h"

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

/* ---- lines that clients can trigger: rate-limited per kind ----
 *
 * A peer that reaches an endpoint decides how often these happen, so each
 * kind logs at most LOG_RATE_PER_KIND lines per second; the rest are
 * counted, and one line "N more like this (kind) in the last second"
 * follows when the second is over (at the next line of that kind or at
 * log_rate_tick(), whichever comes first). Every event is counted,
 * logged or not, for stats. */
typedef enum log_kind {
    LOG_KIND_BAD_REQUEST,    /* a request that does not decode */
    LOG_KIND_OPEN_REFUSED,   /* OPEN refused (limits, bad options) */
    LOG_KIND_REPLY_NOT_SENT, /* nanomsg refused a reply */
    LOG_KIND_RECV_FAILED,    /* nn_recvmsg failed */
    LOG_KIND_LEASE_LAPSED,   /* a shared batch not acknowledged in time */
    LOG_KIND_STREAM_EXPIRED, /* a stream idle past server.stream_timeout */
    LOG_KIND_AUTH_REFUSED,   /* a request without the daemon's token, or a
                                stream's key */
    LOG_KIND_COUNT
} log_kind;

#define LOG_RATE_PER_KIND 10

/* Log (at @level) unless this kind is over its rate; count it anyway. */
void log_limited(log_kind kind, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write the summary line of every kind whose second is over (call it
 * once a second; any thread). */
void log_rate_tick(void);

/* Name of @kind in stats and messages ("bad_request", ...). */
const char *log_kind_name(log_kind kind);

/* Events of @kind since start, and how many of them were not logged. */
void log_kind_counts(log_kind kind, uint64_t *events, uint64_t *suppressed);

/* {"bad_request": {"events": N, "suppressed": M}, ...} for stats JSON
 * (jsonw.h); NULL when out of memory. */
json_object *log_describe_json(void);

#endif
