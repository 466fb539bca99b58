/*
 * test_shm.c — shared-memory segments: create / seal / destroy, names,
 * failures leaving nothing behind, reclaiming segments of dead pids.
 */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mixup.h"
#include "shm.h"
#include "testutil.h"

static char inst[96];
static char prefix[128];

static void setup(void)
{
    snprintf(inst, sizeof inst, "%s", tu_unique("shm"));
    snprintf(prefix, sizeof prefix, "mixupd.%s.", inst);
}

TestSuite(shm, .init = setup);

Test(shm, create_seal_destroy)
{
    shm_segment seg;
    char err[256] = "";
    int rc = shm_segment_create(&seg, inst, "data", 10000, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    char want[128];
    snprintf(want, sizeof want, "/mixupd.%s.%d.data", inst, (int)getpid());
    cr_assert_str_eq(seg.name, want);
    cr_assert_eq(seg.size, 10000);
    cr_assert_not_null(seg.addr);
    cr_assert_eq(tu_count_shm(prefix), 1);
    memset(seg.addr, 0xab, seg.size);
    cr_assert_eq(shm_segment_seal(&seg, err, sizeof err), 0, "%s", err);
    cr_assert_eq(((unsigned char *)seg.addr)[9999], 0xab);

    /* Another process sees the same bytes through the name. */
    int fd = shm_open(seg.name, O_RDONLY, 0);
    cr_assert(fd >= 0);
    unsigned char b = 0;
    cr_assert_eq(pread(fd, &b, 1, 5000), 1);
    cr_assert_eq(b, 0xab);
    close(fd);

    shm_segment_destroy(&seg);
    cr_assert_eq(tu_count_shm(prefix), 0);
    cr_assert_null(seg.addr);
    shm_segment_destroy(&seg); /* twice is harmless */
    shm_segment zero = {0};
    shm_segment_destroy(&zero);
}

/* The permissions of the mapping at @addr, as /proc/self/maps shows them
 * ("r--s"): checking them does not need a crash, which ASan would take
 * for a bug. */
static void map_perms(const void *addr, char perms[5])
{
    FILE *f = fopen("/proc/self/maps", "r");
    cr_assert_not_null(f);
    char line[512];
    perms[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char p[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 &&
            lo == (unsigned long)addr) {
            memcpy(perms, p, 5);
            break;
        }
    }
    fclose(f);
}

Test(shm, sealed_is_read_only)
{
    shm_segment seg;
    char err[256] = "", perms[5];
    cr_assert_eq(shm_segment_create(&seg, inst, "ro", 8192, err, sizeof err),
                 0, "%s", err);
    map_perms(seg.addr, perms);
    cr_assert_str_eq(perms, "rw-s");
    cr_assert_eq(shm_segment_seal(&seg, err, sizeof err), 0, "%s", err);
    map_perms(seg.addr, perms);
    cr_assert_str_eq(perms, "r--s");
    shm_segment_destroy(&seg);
    cr_assert_eq(tu_count_shm(prefix), 0);
    cr_assert_eq(shm_segment_seal(&seg, err, sizeof err), MIXUP_EINVAL);
}

Test(shm, exists_fails_and_keeps_the_first)
{
    shm_segment a, b;
    char err[256] = "";
    cr_assert_eq(shm_segment_create(&a, inst, "dup", 4096, err, sizeof err),
                 0, "%s", err);
    int rc = shm_segment_create(&b, inst, "dup", 4096, err, sizeof err);
    cr_assert_eq(rc, MIXUP_ESYS);
    cr_assert(strstr(err, "shm_open") && strstr(err, inst), "%s", err);
    cr_assert_null(b.addr);
    cr_assert_eq(tu_count_shm(prefix), 1);
    shm_segment_destroy(&b); /* zeroed by the failure: unlinks nothing */
    cr_assert_eq(tu_count_shm(prefix), 1);
    shm_segment_destroy(&a);
    cr_assert_eq(tu_count_shm(prefix), 0);
}

Test(shm, bad_arguments)
{
    shm_segment seg;
    char err[256] = "";
    cr_assert_eq(shm_segment_create(&seg, "a.b", "x", 4096, err, sizeof err),
                 MIXUP_EINVAL);
    cr_assert(strstr(err, "a.b"), "%s", err);
    cr_assert_eq(shm_segment_create(&seg, "a/b", "x", 4096, err, sizeof err),
                 MIXUP_EINVAL);
    cr_assert_eq(shm_segment_create(&seg, "", "x", 4096, err, sizeof err),
                 MIXUP_EINVAL);
    cr_assert_eq(shm_segment_create(&seg, inst, "x", 0, err, sizeof err),
                 MIXUP_EINVAL);
    cr_assert(strstr(err, "size"), "%s", err);
    char longname[200];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cr_assert_eq(shm_segment_create(&seg, inst, longname, 4096, err,
                                    sizeof err), MIXUP_EINVAL);
    cr_assert(strstr(err, "longer"), "%s", err);
    cr_assert_eq(tu_count_shm(prefix), 0);
    cr_assert_eq(tu_count_shm("mixupd.a"), 0);
}

static pid_t dead_pid(void)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        _exit(0);
    cr_assert_eq(waitpid(pid, NULL, 0), pid);
    return pid;
}

static void make_by_hand(const char *name)
{
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    cr_assert(fd >= 0, "%s", name);
    cr_assert_eq(ftruncate(fd, 4096), 0);
    close(fd);
}

Test(shm, reclaim_stale)
{
    char dead[160], live[160], odd[160], other[160];
    pid_t pid = dead_pid();
    snprintf(dead, sizeof dead, "/mixupd.%s.%d.dataset", inst, (int)pid);
    snprintf(live, sizeof live, "/mixupd.%s.%d.dataset", inst, (int)getpid());
    snprintf(odd, sizeof odd, "/mixupd.%s.notapid.dataset", inst);
    snprintf(other, sizeof other, "/mixupd.%sX.%d.dataset", inst, (int)pid);
    make_by_hand(dead);
    make_by_hand(live);
    make_by_hand(odd);
    make_by_hand(other);
    cr_assert_eq(tu_count_shm(prefix), 3);

    cr_assert_eq(shm_reclaim_stale(inst, 0), 1);
    cr_assert_eq(tu_count_shm(prefix), 2);
    cr_assert_lt(shm_open(dead, O_RDONLY, 0), 0);
    cr_assert_eq(shm_reclaim_stale(inst, 0), 0);

    /* Another instance's segment was not touched. */
    char other_prefix[160];
    snprintf(other_prefix, sizeof other_prefix, "mixupd.%sX.", inst);
    cr_assert_eq(tu_count_shm(other_prefix), 1);
    shm_unlink(live);
    shm_unlink(odd);
    shm_unlink(other);
    cr_assert_eq(tu_count_shm(prefix), 0);
    cr_assert_eq(shm_reclaim_stale("bad.name", 0), 0);
}

/* A full /dev/shm cannot be provoked without filling it for everyone. */
Test(shm, enospc)
{
    cr_skip_test("ENOSPC needs a full /dev/shm; not provoked in tests");
}

/* A daemon killed before it could clean up: its segment outlives it. */
Test(shm, reclaim_after_crash)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        shm_segment seg;
        char err[256];
        _exit(shm_segment_create(&seg, inst, "dataset", 4096, err,
                                 sizeof err) == 0 ? 0 : 1);
    }
    int status = -1;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(tu_count_shm(prefix), 1);
    cr_assert_eq(shm_reclaim_stale(inst, 0), 1);
    cr_assert_eq(tu_count_shm(prefix), 0);
}

/* Once the instance lock is held, no other daemon of that name runs: a
 * segment named with our own pid (a restart that got the old pid back, as
 * PID 1 in a container) is stale too. Without the lock it is not. */
Test(shm, reclaim_under_the_lock_whatever_the_pid)
{
    char same[160];
    snprintf(same, sizeof same, "/mixupd.%s.%d.ring", inst, (int)getpid());
    make_by_hand(same);
    cr_assert_eq(shm_reclaim_stale(inst, 0), 0);
    cr_assert_eq(tu_count_shm(prefix), 1);
    cr_assert_eq(shm_reclaim_stale(inst, 1), 1);
    cr_assert_eq(tu_count_shm(prefix), 0);
}

/* A killed daemon whose parent has not reaped it yet (a zombie) still
 * answers kill(pid, 0); its segments are stale all the same. */
Test(shm, reclaim_segments_of_a_zombie)
{
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        _exit(0);
    char path[64], st[256] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    for (;;) { /* until it has exited (not reaped: a zombie) */
        FILE *f = fopen(path, "r");
        cr_assert_not_null(f);
        cr_assert_not_null(fgets(st, sizeof st, f));
        fclose(f);
        if (strstr(st, ") Z "))
            break;
        sched_yield();
    }
    char name[160];
    snprintf(name, sizeof name, "/mixupd.%s.%d.dataset", inst, (int)pid);
    make_by_hand(name);
    cr_assert_eq(kill(pid, 0), 0, "a zombie still answers kill(pid, 0)");
    cr_assert_eq(shm_reclaim_stale(inst, 0), 1);
    cr_assert_eq(tu_count_shm(prefix), 0);
    cr_assert_eq(waitpid(pid, NULL, 0), pid);
}

static int lock_path(char *path, size_t cap)
{
    return snprintf(path, cap, "/mixupd.%s.lock", inst);
}

/* Another user creates (and holds) the lock object first: the daemon
 * says so and whose it is, instead of taking it for a running mixupd. */
Test(shm, lock_file_of_another_user_is_refused)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to make a file of another uid");
    char name[160], err[512] = "";
    lock_path(name, sizeof name);
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(fchown(fd, 65534, 65534), 0);
    cr_assert_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    shm_lock lock;
    cr_assert_eq(shm_lock_instance(&lock, inst, err, sizeof err),
                 MIXUP_ESTATE);
    cr_assert(strstr(err, "belongs to uid 65534"), "%s", err);
    cr_assert(strstr(err, "another user made it"), "%s", err);
    cr_assert_eq(lock.fd, -1);
    close(fd);
    shm_unlink(name);
}

/* A held lock whose file holds a newline: the message stays one line. */
Test(shm, lock_owner_with_a_newline_stays_one_line)
{
    char name[160], err[512] = "";
    lock_path(name, sizeof name);
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "12\nmixupd: forged line", 22), 22);
    cr_assert_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
    shm_lock lock;
    cr_assert_eq(shm_lock_instance(&lock, inst, err, sizeof err),
                 MIXUP_ESTATE);
    cr_assert(strstr(err, "is running (pid unknown)"), "%s", err);
    cr_assert_null(strchr(err, '\n'), "%s", err);
    close(fd);
    shm_unlink(name);
}

/* The lock is created O_EXCL, recorded with our pid, and a second taker
 * is refused with that pid; after unlock the name is gone and free. */
Test(shm, lock_once_per_name)
{
    char err[512] = "", want[64];
    shm_lock a, b;
    cr_assert_eq(shm_lock_instance(&a, inst, err, sizeof err), 0, "%s", err);
    cr_assert_eq(shm_lock_instance(&b, inst, err, sizeof err), MIXUP_ESTATE);
    snprintf(want, sizeof want, "(pid %d)", (int)getpid());
    cr_assert(strstr(err, want), "%s", err);
    shm_unlock_instance(&a);
    cr_assert_eq(shm_lock_instance(&b, inst, err, sizeof err), 0, "%s", err);
    shm_unlock_instance(&b);
    char name[160];
    lock_path(name, sizeof name);
    cr_assert_lt(shm_open(name, O_RDONLY, 0), 0);
}
