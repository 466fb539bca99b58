/*
 * fdlimit.c — see fdlimit.h.
 */
#include "fdlimit.h"

#include <dirent.h>
#include <sys/resource.h>

#include "conncap.h"
#include "log.h"

#define FDL_WARN_PERCENT 80
#define FDL_WARN_EVERY_MS 60000

static int near; /* warned, and not yet back below */
/* Kept open from the start: at the limit, opendir() would fail exactly
 * when the count matters. */
static DIR *fd_dir;
static uint64_t last_warn_ms;
/* Descriptors that are not client connections, as last counted: with the
 * connections nanomsg counts, an estimate that spares reading all of
 * /proc/self/fd every second while far from the limit. */
static int base_fds = -1;

void fdl_raise(void)
{
    if (!fd_dir)
        fd_dir = opendir("/proc/self/fd");
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    rlim_t soft = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            rl.rlim_cur = soft;
    }
    log_info("descriptors: soft limit %llu (was %llu), hard limit %llu",
             (unsigned long long)rl.rlim_cur, (unsigned long long)soft,
             (unsigned long long)rl.rlim_max);
}

uint64_t fdl_limit(void)
{
    struct rlimit rl;
    return getrlimit(RLIMIT_NOFILE, &rl) < 0 ? 0 : (uint64_t)rl.rlim_cur;
}

int fdl_count(void)
{
    if (!fd_dir)
        return -1;
    rewinddir(fd_dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(fd_dir)))
        if (e->d_name[0] != '.')
            n++;
    return n;
}

void fdl_check(uint64_t now_ms, uint64_t connections)
{
    uint64_t limit = fdl_limit();
    if (limit == 0 || limit == (uint64_t)RLIM_INFINITY)
        return;
    /* Connections may use the limit less the daemon's reserve. */
    uint64_t usable = limit > 2 * CONN_FD_RESERVE ? limit - CONN_FD_RESERVE
                                                  : limit;
    uint64_t quiet = usable * (FDL_WARN_PERCENT - 20) / 100;
    if (!near && base_fds >= 0 && (uint64_t)base_fds + connections < quiet)
        return; /* far below: no need to count */
    int open = fdl_count();
    if (open < 0)
        return;
    base_fds = (uint64_t)open > connections ? open - (int)connections : 0;
    int high = (uint64_t)open * 100 >= usable * FDL_WARN_PERCENT;
    if (high && (!near || now_ms - last_warn_ms >= FDL_WARN_EVERY_MS)) {
        log_warn("descriptors: %d of %llu open; near the limit new "
                 "connections are closed at accept (their clients retry) "
                 "while connected ones are still served", open,
                 (unsigned long long)limit);
        near = 1;
        last_warn_ms = now_ms;
    } else if (!high && near &&
               (uint64_t)open * 100 < usable * (FDL_WARN_PERCENT - 10)) {
        log_info("descriptors: %d of %llu open, below the warning level "
                 "again", open, (unsigned long long)limit);
        near = 0;
    }
}
