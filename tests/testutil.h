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

/* Remove a directory tree (best effort). */
void tu_rmtree(const char *dir);

/* Count entries of /dev/shm whose name starts with @prefix. */
int tu_count_shm(const char *prefix);

/* A unique short name for shm instances / ipc paths in this process. */
const char *tu_unique(const char *tag);

#endif
