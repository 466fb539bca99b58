/*
 * auth.h — access control: the daemon's token and the rule that keeps
 * a daemon without one off the network.
 *
 * server.auth_token_file names a file holding the secret (64 hex digits;
 * the path, never the secret, may appear on a command line). The file
 * must be a regular file that neither group nor others may read or write:
 * a secret anyone can read protects nothing. When a token is set, the
 * daemon answers a client's HELLO with a nonce and its own proof, and
 * every other request must carry a proof made with the token
 * (MXP_FLAG_AUTH, proto.h): the token itself never travels, so a client
 * that reached an impostor has given it nothing to replay or to guess
 * from.
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

/* Whether the request @req (decoded from @buf, @len bytes) is acceptable;
 * @why is set to "no token" (no proof) or "wrong token" (a proof not
 * made with this daemon's token) when not. */
int auth_accepts(const auth_state *a, const uint8_t *buf, size_t len,
                 const mxp_request *req, const char **why);

/* The HELLO reply to @client_nonce: a fresh nonce and the daemon's proof.
 * Return 0, MIXUP_EAUTH when this daemon has no token (it cannot prove
 * one), or MIXUP_ESYS (no random bytes), with @err. */
int auth_hello(const auth_state *a, const uint8_t *client_nonce,
               uint8_t nonce[MXP_NONCE_SIZE], uint8_t proof[MXP_MAC_SIZE],
               char *err, size_t errlen);

/* Whether @endpoint reaches beyond this host: tcp:// or ws:// on an
 * address that is not loopback (127.0.0.0/8, ::1, localhost). */
int auth_endpoint_exposed(const char *endpoint);

#endif
