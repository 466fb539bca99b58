/*
 * auth.h — access control: the daemon's token and the rule
 * that keeps a daemon without one off the network.
 *
 * server.auth_token_file names a file holding the secret (64 hex digits;
 * the path, never the secret, may appear on a command line). The file
 * must be a regular file that neither group nor others may read or write:
 * a secret anyone can read protects nothing. When a token is set, every
 * request must carry it (MXP_FLAG_AUTH, proto.h), compared in constant
 * time.
 *
 * Protected mode, as Redis has it: a tcp (or ws) endpoint on an address
 * other than loopback, without a token, refuses to start unless
 * server.allow_unauthenticated_tcp = true says it is meant.
 */
#ifndef SRV_AUTH_H
#define SRV_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "proto.h"

typedef struct auth_state {
    int required; /* a token is set: requests must carry it */
    uint8_t token[MXP_TOKEN_SIZE];
} auth_state;

/* Read the token file (if any) into @a and apply protected mode to the
 * endpoints of @cfg. Return 0, or MIXUP_ECONFIG with @err naming the
 * setting, the file or endpoint, and what to do. */
int auth_prepare(auth_state *a, const cfg_config *cfg, char *err,
                 size_t errlen);

/* Whether the request's @token (NULL: none) is acceptable; @why is set to
 * "no token" or "wrong token" when not. */
int auth_accepts(const auth_state *a, const uint8_t *token, const char **why);

/* Whether @endpoint reaches beyond this host: tcp:// or ws:// on an
 * address that is not loopback (127.0.0.0/8, ::1, localhost). */
int auth_endpoint_exposed(const char *endpoint);

#endif
