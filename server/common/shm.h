/*
 * shm.h — POSIX shared-memory segments owned by this daemon.
 *
 * Names are "/mixupd.<instance>.<pid>.<what>" so that a segment says whose
 * it is; a daemon killed with SIGKILL leaves its segments behind, and
 * shm_reclaim_stale() removes those whose pid no longer runs.
 * Space is reserved with posix_fallocate: a full /dev/shm is an error at
 * start-up (MIXUP_ENOSPC), not a SIGBUS later.
 */
#ifndef SRV_SHM_H
#define SRV_SHM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct shm_segment {
    char name[128]; /* as given to shm_open, with the leading '/' */
    void *addr;     /* NULL when not mapped */
    size_t size;
} shm_segment;

/* Who may map the segments created from now on: shm_segment_create()
 * gives them @mode (0600 or 0640), and every segment goes to group @gid
 * ((gid_t)-1: the daemon's own), so that a 0640 ring is readable by the
 * configured group and not by whatever the daemon's primary group is.
 * Called once at start-up (server.shm_mode, server.ipc_group). */
void shm_set_access(unsigned mode, gid_t gid);

/* Create, size and map a new segment read-write. Fails if it exists.
 * Return 0 or MIXUP_ENOSPC / MIXUP_ESYS / MIXUP_EINVAL with @err set; on
 * failure nothing is left in /dev/shm. */
int shm_segment_create(shm_segment *seg, const char *instance,
                       const char *what, size_t size, char *err,
                       size_t errlen);

/* The same with the segment's file mode (the umask does not apply; the
 * group is shm_set_access()'s):
 * 0600 for this user only, 0640 to let a group map it read-only. */
int shm_segment_create_mode(shm_segment *seg, const char *instance,
                            const char *what, size_t size, unsigned mode,
                            char *err, size_t errlen);

/* Make the mapping read-only (after loading). */
int shm_segment_seal(shm_segment *seg, char *err, size_t errlen);

/* Unmap and unlink. Safe on a zeroed or already destroyed segment. */
void shm_segment_destroy(shm_segment *seg);

/* Bytes /dev/shm can still take (what an unprivileged user may use), for
 * --check. Return 0 or MIXUP_ESYS. */
int shm_room(uint64_t *avail);

/* One daemon per instance name. */
typedef struct shm_lock {
    char name[128];
    int fd;
} shm_lock;

/* Take the instance's lock. Return 0, or MIXUP_ESTATE with @err naming
 * the running daemon's pid (or the user who made a lock file that is not
 * ours), or MIXUP_ESYS / MIXUP_EINVAL. */
int shm_lock_instance(shm_lock *lock, const char *instance, char *err,
                      size_t errlen);
/* Remove the lock object and release it. Safe when not held. */
void shm_unlock_instance(shm_lock *lock);

/* Unlink segments "/mixupd.<instance>.<pid>.*" left by a daemon that is
 * gone. With @locked (the caller holds the instance's lock, so no other
 * daemon of that name runs) every such segment is stale whatever its pid:
 * a restart may get the old pid again (PID 1 in a container). Without it,
 * only segments whose pid is dead (or a zombie) go. Return the number
 * removed (>= 0). */
int shm_reclaim_stale(const char *instance, int locked);

#endif
