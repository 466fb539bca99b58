/*
 * shm.c — see shm.h.
 *
 * Instance names may not contain '/' (it would not be one shm name) nor
 * '.': with a dot, instance "a" scanning for "mixupd.a.<pid>." could take
 * a segment of instance "a.5" for one of its own and unlink it.
 */
#include "shm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mixup_errors.h"

#define SHM_PREFIX "mixupd."

static int name_ok(const char *s)
{
    return s && *s && !strchr(s, '/') && !strchr(s, '.');
}

static int make_name(shm_segment *seg, const char *instance,
                     const char *what, char *err, size_t errlen)
{
    if (!name_ok(instance) || !name_ok(what)) {
        snprintf(err, errlen,
                 "shared memory name parts '%s' and '%s' must be non-empty "
                 "and contain no '/' or '.'",
                 instance ? instance : "(null)", what ? what : "(null)");
        return MIXUP_EINVAL;
    }
    int len = snprintf(seg->name, sizeof seg->name, "/" SHM_PREFIX "%s.%ld.%s",
                       instance, (long)getpid(), what);
    if (len < 0 || (size_t)len >= sizeof seg->name) {
        snprintf(err, errlen,
                 "shared memory name longer than %zu characters for "
                 "instance '%s', '%s'",
                 sizeof seg->name - 1, instance, what);
        seg->name[0] = '\0';
        return MIXUP_EINVAL;
    }
    return 0;
}

/* posix_fallocate returns the error number instead of setting errno. */
static int reserve(int fd, const shm_segment *seg, const char *what,
                   char *err, size_t errlen)
{
    int e;
    do
        e = posix_fallocate(fd, 0, (off_t)seg->size);
    while (e == EINTR);
    if (e == 0)
        return 0;
    if (e == ENOSPC || e == EFBIG) {
        snprintf(err, errlen, "no room in /dev/shm for %s: need %zu bytes (%s)",
                 what, seg->size, strerror(e));
        return MIXUP_ENOSPC;
    }
    snprintf(err, errlen, "%s: posix_fallocate of %zu bytes: %s", seg->name,
             seg->size, strerror(e));
    return MIXUP_ESYS;
}

static int map_fd(int fd, shm_segment *seg, char *err, size_t errlen)
{
    void *p = mmap(NULL, seg->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "%s: mmap of %zu bytes: %s", seg->name,
                 seg->size, strerror(errno));
        return MIXUP_ESYS;
    }
    seg->addr = p;
    return 0;
}

/* Set once at start-up, before any thread runs. */
static unsigned access_mode = 0600;
static gid_t access_gid = (gid_t)-1;

void shm_set_access(unsigned mode, gid_t gid)
{
    access_mode = mode & 0777;
    access_gid = gid;
}

int shm_segment_create(shm_segment *seg, const char *instance,
                       const char *what, size_t size, char *err,
                       size_t errlen)
{
    return shm_segment_create_mode(seg, instance, what, size, access_mode,
                                   err, errlen);
}

/* Group first, on the descriptor (no path to follow or swap): a mode that
 * opens the segment to the group is set only once the group is the one
 * configured, never the daemon's primary group in between. */
static int set_access(int fd, const shm_segment *seg, unsigned mode,
                      char *err, size_t errlen)
{
    if (access_gid != (gid_t)-1 && fchown(fd, (uid_t)-1, access_gid) < 0) {
        snprintf(err, errlen, "%s: cannot give it to group %u "
                 "(server.ipc_group; the daemon must be a member): %s",
                 seg->name, (unsigned)access_gid, strerror(errno));
        return MIXUP_ESYS;
    }
    if ((mode & 0777) != 0600 && fchmod(fd, mode & 0777) < 0) {
        snprintf(err, errlen, "%s: chmod %03o: %s", seg->name, mode & 0777,
                 strerror(errno));
        return MIXUP_ESYS;
    }
    return 0;
}

int shm_segment_create_mode(shm_segment *seg, const char *instance,
                            const char *what, size_t size, unsigned mode,
                            char *err, size_t errlen)
{
    memset(seg, 0, sizeof *seg);
    if (size == 0 || size > (size_t)INT64_MAX) {
        snprintf(err, errlen, "shared memory for %s: size %zu out of range",
                 what ? what : "(null)", size);
        return MIXUP_EINVAL;
    }
    int rc = make_name(seg, instance, what, err, errlen);
    if (rc < 0)
        return rc;
    seg->size = size;
    int fd = shm_open(seg->name, O_CREAT | O_EXCL | O_RDWR, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: shm_open: %s", seg->name, strerror(errno));
        memset(seg, 0, sizeof *seg);
        return MIXUP_ESYS;
    }
    rc = set_access(fd, seg, mode, err, errlen);
    if (rc == 0)
        rc = reserve(fd, seg, what, err, errlen);
    if (rc == 0)
        rc = map_fd(fd, seg, err, errlen);
    close(fd); /* the mapping keeps the segment */
    if (rc < 0) {
        shm_unlink(seg->name);
        memset(seg, 0, sizeof *seg);
    }
    return rc;
}

int shm_segment_seal(shm_segment *seg, char *err, size_t errlen)
{
    if (!seg->addr) {
        snprintf(err, errlen, "shared memory segment not mapped");
        return MIXUP_EINVAL;
    }
    if (mprotect(seg->addr, seg->size, PROT_READ) < 0) {
        snprintf(err, errlen, "%s: mprotect read-only: %s", seg->name,
                 strerror(errno));
        return MIXUP_ESYS;
    }
    return 0;
}

void shm_segment_destroy(shm_segment *seg)
{
    if (seg->addr)
        munmap(seg->addr, seg->size);
    if (seg->name[0])
        shm_unlink(seg->name);
    memset(seg, 0, sizeof *seg);
}

/* "<pid>.<rest>" after the instance prefix: the pid, or 0 if malformed. */
static pid_t parse_pid(const char *s)
{
    long pid = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        pid = pid * 10 + (*p - '0');
        if (pid > INT32_MAX)
            return 0;
    }
    if (p == s || *p != '.')
        return 0;
    return (pid_t)pid;
}

/* EPERM means the pid runs under another user: alive, not ours to judge. */
static int pid_dead(pid_t pid)
{
    return kill(pid, 0) < 0 && errno == ESRCH;
}

int shm_reclaim_stale(const char *instance)
{
    char prefix[128], path[300];
    if (!name_ok(instance))
        return 0;
    int plen = snprintf(prefix, sizeof prefix, SHM_PREFIX "%s.", instance);
    if (plen < 0 || (size_t)plen >= sizeof prefix)
        return 0;
    DIR *d = opendir("/dev/shm");
    if (!d)
        return 0;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, (size_t)plen) != 0)
            continue;
        pid_t pid = parse_pid(e->d_name + plen);
        if (pid <= 0 || !pid_dead(pid))
            continue;
        snprintf(path, sizeof path, "/%s", e->d_name);
        if (shm_unlink(path) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

/* The lock is a small shm object "/mixupd.<instance>.lock" holding the
 * owner's pid, locked with flock: the kernel drops the lock when the
 * owner dies, so a killed daemon never blocks the next one. */
int shm_lock_instance(shm_lock *lock, const char *instance, char *err,
                      size_t errlen)
{
    lock->fd = -1;
    if (!name_ok(instance)) {
        snprintf(err, errlen, "instance name '%s' must be non-empty and "
                 "contain no '/' or '.'", instance ? instance : "(null)");
        return MIXUP_EINVAL;
    }
    snprintf(lock->name, sizeof lock->name, "/" SHM_PREFIX "%s.lock", instance);
    int fd = shm_open(lock->name, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", lock->name, strerror(errno));
        return MIXUP_ESYS;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char buf[32] = {0};
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        snprintf(err, errlen, "another mixupd named '%s' is running (pid %s); "
                 "give this one another server.name (--set "
                 "server.name=NAME) and its own server.endpoint", instance,
                 n > 0 ? buf : "unknown");
        close(fd);
        return MIXUP_ESTATE;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        snprintf(err, errlen, "%s: cannot record our pid", lock->name);
        close(fd);
        return MIXUP_ESYS;
    }
    lock->fd = fd;
    return 0;
}

void shm_unlock_instance(shm_lock *lock)
{
    if (lock->fd < 0)
        return;
    shm_unlink(lock->name);
    close(lock->fd);
    lock->fd = -1;
}
