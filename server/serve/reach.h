/*
 * reach.h — who each endpoint lets in without a token, so that one
 * endpoint does not open what the others close.
 *
 * An ipc:// socket admits whom its file permissions admit
 * (server.ipc_mode, ipc_group); a tcp:// endpoint has no such thing: on
 * 127.0.0.1 it admits every local user, elsewhere every host that reaches
 * it. A token (server.auth_token_file) holds on every endpoint alike.
 */
#ifndef SRV_REACH_H
#define SRV_REACH_H

#include <stddef.h>

#include "config.h"

typedef enum reach_level {
    REACH_GROUP = 0,   /* the socket file's owner and group */
    REACH_HOST = 1,    /* every local user */
    REACH_NETWORK = 2, /* every host that reaches the address */
} reach_level;

/* How far endpoint @i of @cfg admits clients without a token. */
reach_level reach_of(const cfg_config *cfg, int i);

/* Call @warn once per endpoint that admits more than the least open one
 * (none when a token is set: it holds everywhere), with a message naming
 * both endpoints, where they are set, and what to do. Return how many. */
int reach_warnings(const cfg_config *cfg,
                   void (*warn)(void *ctx, const char *msg), void *ctx);

#endif
