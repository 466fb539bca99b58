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
#include <sys/statvfs.h>
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

int shm_room(uint64_t *avail)
{
    struct statvfs st;
    if (statvfs("/dev/shm", &st) < 0)
        return MIXUP_ESYS;
    *avail = (uint64_t)st.f_bavail * st.f_frsize;
    return 0;
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

/* EPERM means the pid runs under another user: alive, not ours to judge.
 * A zombie is dead too: its segments are nobody's any more. */
static int pid_dead(pid_t pid)
{
    if (kill(pid, 0) < 0)
        return errno == ESRCH;
    char path[64], st[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    const char *close_paren = NULL;
    if (fgets(st, sizeof st, f))
        close_paren = strrchr(st, ')');
    fclose(f);
    return close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z';
}

int shm_reclaim_stale(const char *instance, int locked)
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
        if (pid <= 0 || (!locked && !pid_dead(pid)))
            continue;
        snprintf(path, sizeof path, "/%s", e->d_name);
        if (shm_unlink(path) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

/* The pid the lock file holds, as digits only (a file written by anyone
 * else must not put a newline or escapes into our log line). */
static void read_owner(int fd, char *out, size_t cap)
{
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    size_t k = 0;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9' &&
                        k + 1 < cap; i++)
        out[k++] = buf[i];
    out[k] = '\0';
    if (k == 0 || (n > 0 && (size_t)n != k))
        snprintf(out, cap, "unknown");
}

/* Open the lock object, creating it with O_EXCL when it is not there; one
 * that exists must be ours (our uid, mode 0600): /dev/shm is writable by
 * everyone, and a lock file another user made and holds would otherwise
 * pass for a running daemon. */
static int open_lock(shm_lock *lock, const char *instance, char *err,
                     size_t errlen)
{
    int fd = shm_open(lock->name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC,
                      0600);
    if (fd < 0 && errno == EEXIST)
        fd = shm_open(lock->name, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "/dev/shm%s: %s", lock->name, strerror(errno));
        return MIXUP_ESYS;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_uid != geteuid() ||
        (st.st_mode & 0077) != 0) {
        snprintf(err, errlen, "/dev/shm%s, the lock of mixupd '%s', belongs "
                 "to uid %ld (mode %03o), not to this daemon's uid %ld: "
                 "another user made it; remove it (as root) or give this "
                 "daemon another server.name", lock->name, instance,
                 (long)st.st_uid, (unsigned)(st.st_mode & 0777),
                 (long)geteuid());
        close(fd);
        return MIXUP_ESTATE;
    }
    return fd;
}

/* Did a stopping daemon unlink the object between our open and our lock?
 * Then we hold a lock on a file nobody else will see: try again. */
static int still_named(int fd, const char *name)
{
    char path[200];
    struct stat a, b;
    snprintf(path, sizeof path, "/dev/shm%s", name);
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
           a.st_ino == b.st_ino;
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
    int fd = -1;
    for (int tries = 0; fd < 0; tries++) {
        fd = open_lock(lock, instance, err, errlen);
        if (fd < 0)
            return fd;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            char pid[24];
            read_owner(fd, pid, sizeof pid);
            snprintf(err, errlen, "another mixupd named '%s' is running "
                     "(pid %s); give this one another server.name (--set "
                     "server.name=NAME) and its own server.endpoint",
                     instance, pid);
            close(fd);
            return MIXUP_ESTATE;
        }
        if (!still_named(fd, lock->name)) {
            close(fd);
            fd = -1;
            if (tries >= 100) {
                snprintf(err, errlen, "/dev/shm%s keeps being removed while "
                         "we lock it", lock->name);
                return MIXUP_ESTATE;
            }
        }
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        int e = errno;
        snprintf(err, errlen, "/dev/shm%s: cannot record our pid: %s%s",
                 lock->name, strerror(e),
                 e == ENOSPC ? " (no room in /dev/shm)" : "");
        shm_unlink(lock->name); /* ours: we hold its lock */
        close(fd);
        return e == ENOSPC ? MIXUP_ENOSPC : MIXUP_ESYS;
    }
    lock->fd = fd;
    return 0;
}

/* Unlinked while still locked: a daemon starting now either opened the
 * old file (and sees, once it has the lock, that it is no longer named)
 * or creates a new one. */
void shm_unlock_instance(shm_lock *lock)
{
    if (lock->fd < 0)
        return;
    shm_unlink(lock->name);
    close(lock->fd);
    lock->fd = -1;
}
