/*
 * conncap.c — see conncap.h.
 */
#include "conncap.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct tracked {
    int fd;
    dev_t dev;
    ino_t ino;
} tracked;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int active;
static uint32_t cap, n_open;
static int fd_ceiling; /* a descriptor at or above it is refused */
static int spare = -1;  /* closed to take one peer off the backlog at EMFILE */
static tracked *open_fds;
static uint64_t refused_cap, refused_fds;
static uint32_t listen_backlog; /* 0: as asked */

typedef int (*accept4_fn)(int, struct sockaddr *, socklen_t *, int);

static int real_accept4(int s, struct sockaddr *sa, socklen_t *len, int flags)
{
    static accept4_fn next;
    if (!next)
        next = (accept4_fn)dlsym(RTLD_NEXT, "accept4");
    if (!next) {
        errno = ENOSYS;
        return -1;
    }
    return next(s, sa, len, flags);
}

uint32_t conn_cap_start(uint32_t max_connections, uint32_t backlog)
{
    struct rlimit rl;
    int limit = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
                        rl.rlim_cur < (rlim_t)1 << 30
                    ? (int)rl.rlim_cur
                    : 1 << 30;
    pthread_mutex_lock(&mu);
    free(open_fds);
    open_fds = calloc(max_connections ? max_connections : 1, sizeof *open_fds);
    cap = open_fds ? max_connections : 0;
    n_open = 0;
    fd_ceiling = limit > CONN_FD_RESERVE ? limit - CONN_FD_RESERVE : 0;
    if (spare < 0)
        spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    active = 1;
    listen_backlog = backlog;
    uint32_t eff = (uint32_t)fd_ceiling < cap ? (uint32_t)fd_ceiling : cap;
    pthread_mutex_unlock(&mu);
    return eff;
}

void conn_cap_stop(void)
{
    pthread_mutex_lock(&mu);
    active = 0;
    listen_backlog = 0;
    free(open_fds);
    open_fds = NULL;
    n_open = cap = 0;
    if (spare >= 0)
        close(spare);
    spare = -1;
    pthread_mutex_unlock(&mu);
}

void conn_cap_get(conn_cap_stats *out)
{
    pthread_mutex_lock(&mu);
    *out = (conn_cap_stats){.refused_cap = refused_cap,
                            .refused_fds = refused_fds,
                            .open = n_open,
                            .cap = cap};
    pthread_mutex_unlock(&mu);
}

/* Forget accepted descriptors that were closed since (mu held). A number
 * reused by anything else is another file: its inode tells. */
static void prune(void)
{
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n_open; i++) {
        struct stat st;
        if (fstat(open_fds[i].fd, &st) == 0 && S_ISSOCK(st.st_mode) &&
            st.st_dev == open_fds[i].dev && st.st_ino == open_fds[i].ino)
            open_fds[kept++] = open_fds[i];
    }
    n_open = kept;
}

/* Take one peer off the backlog with the spare descriptor (mu held). */
static void shed_one(int s)
{
    if (spare < 0)
        return;
    close(spare);
    int fd = real_accept4(s, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0)
        close(fd);
    spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Refuse. ECONNABORTED (a peer that left before it was accepted) is the
 * one error nanomsg's accept takes calmly on both its paths: it waits for
 * the listening socket to be readable again (EAGAIN from its
 * asynchronous path would trip an assertion). */
static int refuse(int fd, uint64_t *counter)
{
    if (fd >= 0)
        close(fd);
    (*counter)++;
    errno = ECONNABORTED;
    return -1;
}

static int admit(int s, int fd)
{
    if (fd < 0) {
        int e = errno;
        if (e == EMFILE || e == ENFILE) {
            shed_one(s);
            return refuse(-1, &refused_fds);
        }
        errno = e;
        return -1;
    }
    if (fd >= fd_ceiling)
        return refuse(fd, &refused_fds);
    if (n_open >= cap)
        prune();
    if (n_open >= cap)
        return refuse(fd, &refused_cap);
    struct stat st;
    if (fstat(fd, &st) == 0)
        open_fds[n_open++] = (tracked){fd, st.st_dev, st.st_ino};
    return fd;
}

/* The executable's definitions take the place of libc's for nanomsg. */
__attribute__((visibility("default"))) int accept4(int s, struct sockaddr *sa,
                                                   socklen_t *len, int flags)
{
    int fd = real_accept4(s, sa, len, flags);
    int e = errno;
    pthread_mutex_lock(&mu);
    if (active) {
        errno = e;
        fd = admit(s, fd);
        e = errno;
    }
    pthread_mutex_unlock(&mu);
    errno = e;
    return fd;
}

__attribute__((visibility("default"))) int accept(int s, struct sockaddr *sa,
                                                  socklen_t *len)
{
    return accept4(s, sa, len, 0);
}

typedef int (*listen_fn)(int, int);

__attribute__((visibility("default"))) int listen(int s, int backlog)
{
    static listen_fn next;
    if (!next)
        next = (listen_fn)dlsym(RTLD_NEXT, "listen");
    if (!next) {
        errno = ENOSYS;
        return -1;
    }
    pthread_mutex_lock(&mu);
    uint32_t want = listen_backlog;
    pthread_mutex_unlock(&mu);
    if (want > 0 && want <= INT32_MAX)
        backlog = (int)want;
    return next(s, backlog);
}
