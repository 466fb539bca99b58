/*
 * ipcperm.c — see ipcperm.h.
 */
#include "ipcperm.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mixup.h"

int ipc_parse_mode(const char *mode, mode_t *out)
{
    size_t len = strlen(mode);
    if (len < 3 || len > 4 || strspn(mode, "01234567") != len)
        return -1;
    unsigned long v = strtoul(mode, NULL, 8);
    if (v > 0777)
        return -1;
    *out = (mode_t)v;
    return 0;
}

int ipc_group_id(const char *group, gid_t *out, char *err, size_t errlen)
{
    char buf[16384];
    struct group gr, *res = NULL;
    int rc = getgrnam_r(group, &gr, buf, sizeof buf, &res);
    if (res) {
        *out = gr.gr_gid;
        return 0;
    }
    char *end;
    unsigned long v = strtoul(group, &end, 10);
    if (*group && !*end && v < (unsigned long)(gid_t)-1) {
        *out = (gid_t)v;
        return 0;
    }
    snprintf(err, errlen, "server.ipc_group = %s: no such group%s%s", group,
             rc ? ": " : "", rc ? strerror(rc) : "");
    return -1;
}

mode_t ipc_bind_begin(void)
{
    return umask(0177);
}

void ipc_bind_end(mode_t old)
{
    umask(old);
}

/* chmod of the file @fd (an O_PATH descriptor) itself: fchmod() refuses
 * O_PATH descriptors and Linux has no fchmodat(AT_SYMLINK_NOFOLLOW), but
 * /proc/self/fd/N names the very inode the descriptor holds, never what a
 * path now points to. */
static int chmod_fd(int fd, mode_t m)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return chmod(proc, m);
}

int ipc_apply(const char *path, const char *mode, const char *group,
              char *err, size_t errlen)
{
    mode_t m;
    gid_t gid;
    if (ipc_parse_mode(mode, &m) < 0) {
        snprintf(err, errlen, "server.ipc_mode = %s: expected an octal mode "
                 "such as 0660", mode);
        return MIXUP_ECONFIG;
    }
    if (*group && ipc_group_id(group, &gid, err, errlen) < 0)
        return MIXUP_ECONFIG;
    /* The socket file as it is, never what a link planted in its place
     * points to: chown and chmod by path follow symbolic links, and would
     * hand that file to the group or open it to everyone. */
    int fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "server.ipc_mode = %s: cannot open the socket "
                 "file %s: %s", mode, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return MIXUP_ESYS;
    }
    if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid()) {
        snprintf(err, errlen, "server.ipc_mode = %s: %s is %s, not the "
                 "socket mixupd just bound: its permissions are left alone "
                 "(something replaced it; check who can write its "
                 "directory)", mode, path,
                 S_ISLNK(st.st_mode)    ? "a symbolic link"
                 : !S_ISSOCK(st.st_mode) ? "not a socket"
                                         : "owned by another user");
        close(fd);
        return MIXUP_ESYS;
    }
    int rc = 0;
    /* Group first: a mode that opens the file to the group is applied
     * only once the group is the right one. */
    if (*group && fchownat(fd, "", (uid_t)-1, gid, AT_EMPTY_PATH) < 0) {
        snprintf(err, errlen, "server.ipc_group = %s: cannot give %s to the "
                 "group: %s", group, path, strerror(errno));
        rc = MIXUP_ESYS;
    } else if (chmod_fd(fd, m) < 0) {
        snprintf(err, errlen, "server.ipc_mode = %s: chmod %s: %s", mode,
                 path, strerror(errno));
        rc = MIXUP_ESYS;
    }
    close(fd);
    return rc;
}
