/*
 * fdlimit.h — the daemon's descriptor budget.
 *
 * Every client connection costs nanomsg one descriptor, and nanomsg
 * neither bounds connections nor closes idle ones. So: the soft
 * RLIMIT_NOFILE is raised to the hard limit at start, and the 1 s timer
 * warns (rate-limited) when open descriptors come near the limit. At the
 * limit, connections are closed at accept (conncap.h; README.md,
 * "Connections").
 */
#ifndef SRV_FDLIMIT_H
#define SRV_FDLIMIT_H

#include <stdint.h>

/* Raise the soft limit to the hard one; log both. */
void fdl_raise(void);

/* Descriptors open now (/proc/self/fd), or -1. */
int fdl_count(void);

/* The soft limit now. */
uint64_t fdl_limit(void);

/* Called once a second with the number of client connections: warn when
 * open descriptors reach 80 % of what connections may use (the limit less
 * the daemon's reserve, conncap.h), at most once a minute while it lasts,
 * and say when they are back below. /proc/self/fd is read only when the
 * last count less the connections, plus the connections now, comes
 * within 20 % of that level. */
void fdl_check(uint64_t now_ms, uint64_t connections);

#endif
