/*
 * ipcperm.h — the mode and group of the daemon's ipc socket files
 * (server.ipc_mode, server.ipc_group), whatever the umask.
 *
 * The socket file is created under a umask of 0177 (owner only), then
 * given its configured mode and group: at no moment can more users
 * connect than the configuration allows.
 */
#ifndef SRV_IPCPERM_H
#define SRV_IPCPERM_H

#include <stddef.h>
#include <sys/types.h>

/* Parse @mode ("0660": 3 or 4 octal digits, at most 0777). Return 0 and
 * *@out, or -1. */
int ipc_parse_mode(const char *mode, mode_t *out);

/* The group id of @group (a name, or a number), or -1 with @err. */
int ipc_group_id(const char *group, gid_t *out, char *err, size_t errlen);

/* Around bind: ipc_bind_begin() returns the umask to give back to
 * ipc_bind_end(). */
mode_t ipc_bind_begin(void);
void ipc_bind_end(mode_t old);

/* Give the socket file @path mode @mode and, if @group is not empty, that
 * group, through a descriptor of the file itself: a symbolic link (or
 * anything but a socket of this user) found at @path is refused, never
 * followed. Return 0 or MIXUP_ESYS with @err naming the path and
 * setting. */
int ipc_apply(const char *path, const char *mode, const char *group,
              char *err, size_t errlen);

#endif
