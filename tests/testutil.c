/*
 * testutil.c — see testutil.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>

char *tu_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    char *path = NULL;
    if (asprintf(&path, "%s/mixupd-test-%s-XXXXXX", base, tag) < 0)
        abort();
    if (!mkdtemp(path))
        abort();
    return path;
}

char *tu_write_file(const char *dir, const char *name, const void *data,
                    size_t len)
{
    char *path = NULL;
    if (asprintf(&path, "%s/%s", dir, name) < 0)
        abort();
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (len && fwrite(data, 1, len, f) != len)
        abort();
    fclose(f);
    return path;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tu_rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int tu_count_shm(const char *prefix)
{
    DIR *d = opendir("/dev/shm");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    size_t plen = strlen(prefix);
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, plen) == 0)
            n++;
    closedir(d);
    return n;
}

const char *tu_unique(const char *tag)
{
    static __thread char buf[96];
    static __thread unsigned counter, salt;
    /* The pid alone can come back (many short test processes), and a
     * test that failed may have left a segment under that name. */
    if (!salt) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        salt = ((unsigned)ts.tv_nsec ^ (unsigned)ts.tv_sec) % 0xfffu + 1;
    }
    snprintf(buf, sizeof buf, "t%s%d%03x_%u", tag, (int)getpid(), salt,
             counter++);
    return buf;
}

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <fcntl.h>

extern char **environ;

char *tu_write_npy(const char *dir, const char *name, const char *descr,
                   const uint64_t *shape, int ndim, const void *data,
                   size_t bytes)
{
    char dict[256];
    int n = snprintf(dict, sizeof dict,
                     "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     descr);
    for (int i = 0; i < ndim; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%llu,%s",
                      (unsigned long long)shape[i], i + 1 < ndim ? " " : "");
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    size_t total = 10 + (size_t)n + 1, padded = (total + 63) / 64 * 64;
    size_t size = padded + bytes;
    unsigned char *buf = malloc(size);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)((padded - 10) & 0xff);
    buf[9] = (unsigned char)((padded - 10) >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', padded - 11 - (size_t)n);
    buf[padded - 1] = '\n';
    if (bytes)
        memcpy(buf + padded, data, bytes);
    char *path = tu_write_file(dir, name, buf, size);
    free(buf);
    return path;
}

int tu_spawn_daemon(const char *config, const char *log)
{
    return tu_spawn_daemon_args(config, log, NULL);
}

int tu_spawn_daemon_args(const char *config, const char *log, const char *extra)
{
    return tu_spawn_daemon_env(config, log, extra, NULL);
}

int tu_spawn_daemon_env(const char *config, const char *log,
                        const char *extra, const char *env_kv)
{
    const char *bin = getenv("MIXUPD_BIN");
    if (!bin)
        bin = "./server/mixupd";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    char *argv[] = {(char *)bin, "--config", (char *)config, (char *)extra, NULL};
    char *envp[512];
    int n = 0;
    for (char **e = environ; *e && n < 510; e++)
        envp[n++] = *e;
    if (env_kv)
        envp[n++] = (char *)env_kv;
    envp[n] = NULL;
    pid_t pid;
    int rc = posix_spawn(&pid, bin, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        abort();
    return (int)pid;
}

int tu_stop_daemon(int pid, int sig)
{
    if (sig)
        kill(pid, sig);
    int status;
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

char *tu_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = 0;
    fclose(f);
    return s;
}

int64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
