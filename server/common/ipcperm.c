/*
 * ipcperm.c — see ipcperm.h.
 */
#include "ipcperm.h"

#include <errno.h>
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
    /* Group first: a mode that opens the file to the group is applied
     * only once the group is the right one. */
    if (*group && chown(path, (uid_t)-1, gid) < 0) {
        snprintf(err, errlen, "server.ipc_group = %s: cannot give %s to the "
                 "group: %s", group, path, strerror(errno));
        return MIXUP_ESYS;
    }
    if (chmod(path, m) < 0) {
        snprintf(err, errlen, "server.ipc_mode = %s: chmod %s: %s", mode,
                 path, strerror(errno));
        return MIXUP_ESYS;
    }
    return 0;
}
