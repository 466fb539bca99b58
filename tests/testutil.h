/*
 * testutil.h — helpers shared by the Criterion tests.
 */
#ifndef TESTUTIL_H
#define TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* A fresh private directory for one test (under $TMPDIR or /tmp);
 * returns a malloc'd path. */
char *tu_tmpdir(const char *tag);

/* Write @len bytes to @dir/@name; return the malloc'd full path. */
char *tu_write_file(const char *dir, const char *name, const void *data,
                    size_t len);

/* CLOCK_MONOTONIC in milliseconds: deadlines of waits in tests. */
int64_t tu_now_ms(void);

/* Remove a directory tree (best effort). */
void tu_rmtree(const char *dir);

/* Count entries of /dev/shm whose name starts with @prefix. */
int tu_count_shm(const char *prefix);

/* A unique short name for shm instances / ipc paths in this process. */
const char *tu_unique(const char *tag);

#endif

/* Write a .npy file (format 1.0) with @descr ("|u1", "<i8", "<f4") and
 * @shape; @data holds the elements. Return the malloc'd path. */
char *tu_write_npy(const char *dir, const char *name, const char *descr,
                   const uint64_t *shape, int ndim, const void *data,
                   size_t bytes);

/* Start $MIXUPD_BIN --config @config with stderr to @log; return the pid. */
int tu_spawn_daemon(const char *config, const char *log);
/* The same with one extra argument (e.g. "--check"), or NULL. */
int tu_spawn_daemon_args(const char *config, const char *log, const char *extra);

/* Send @sig and wait; return the exit status (or 128 + signal). */
int tu_stop_daemon(int pid, int sig);

/* Read a whole file into a malloc'd NUL-terminated string. */
char *tu_read_file(const char *path);

/* tu_spawn_daemon_args with one more environment variable ("K=V"). */
int tu_spawn_daemon_env(const char *config, const char *log,
                        const char *extra_arg, const char *env_kv);
