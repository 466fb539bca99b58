/*
 * fdlimit.c — see fdlimit.h.
 */
#include "fdlimit.h"

#include <dirent.h>
#include <sys/resource.h>

#include "log.h"

#define FDL_WARN_PERCENT 80
#define FDL_WARN_EVERY_MS 60000

static int near; /* warned, and not yet back below */
/* Kept open from the start: at the limit, opendir() would fail exactly
 * when the count matters. */
static DIR *fd_dir;
static uint64_t last_warn_ms;

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

void fdl_check(uint64_t now_ms)
{
    uint64_t limit = fdl_limit();
    int open = fdl_count();
    if (open < 0 || limit == 0 || limit == (uint64_t)RLIM_INFINITY)
        return;
    int high = (uint64_t)open * 100 >= limit * FDL_WARN_PERCENT;
    if (high && (!near || now_ms - last_warn_ms >= FDL_WARN_EVERY_MS)) {
        log_warn("descriptors: %d of %llu open; at the limit no new client "
                 "can connect (nanomsg retries accepting) while connected "
                 "ones are still served", open, (unsigned long long)limit);
        near = 1;
        last_warn_ms = now_ms;
    } else if (!high && near &&
               (uint64_t)open * 100 < limit * (FDL_WARN_PERCENT - 10)) {
        log_info("descriptors: %d of %llu open, below the warning level "
                 "again", open, (unsigned long long)limit);
        near = 0;
    }
}
