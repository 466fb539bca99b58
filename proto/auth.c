/*
 * auth.c — the proofs of the version 3 exchange (proto.h): HMAC-SHA256
 * from libsodium, pure functions of their arguments. Each HMAC names its
 * purpose first ("mixupd-3 daemon", "mixupd-3 session"), so that a value
 * one side computes can never be replayed as the other's.
 */
#include <sodium.h>
#include <string.h>

#include "proto.h"

_Static_assert(crypto_auth_hmacsha256_BYTES == MXP_MAC_SIZE, "HMAC size");

static void proof(const char *purpose, const uint8_t token[MXP_TOKEN_SIZE],
                  const uint8_t cn[MXP_NONCE_SIZE],
                  const uint8_t dn[MXP_NONCE_SIZE], uint8_t out[MXP_MAC_SIZE])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, token, MXP_TOKEN_SIZE);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)purpose,
                                  strlen(purpose) + 1);
    crypto_auth_hmacsha256_update(&st, cn, MXP_NONCE_SIZE);
    crypto_auth_hmacsha256_update(&st, dn, MXP_NONCE_SIZE);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

void mxp_auth_daemon_proof(const uint8_t token[MXP_TOKEN_SIZE],
                           const uint8_t client_nonce[MXP_NONCE_SIZE],
                           const uint8_t daemon_nonce[MXP_NONCE_SIZE],
                           uint8_t out[MXP_MAC_SIZE])
{
    proof("mixupd-3 daemon", token, client_nonce, daemon_nonce, out);
}

void mxp_auth_session_key(const uint8_t token[MXP_TOKEN_SIZE],
                          const uint8_t client_nonce[MXP_NONCE_SIZE],
                          const uint8_t daemon_nonce[MXP_NONCE_SIZE],
                          uint8_t out[MXP_MAC_SIZE])
{
    proof("mixupd-3 session", token, client_nonce, daemon_nonce, out);
}

int mxp_auth_append(uint8_t *buf, size_t cap, size_t len,
                    const uint8_t client_nonce[MXP_NONCE_SIZE],
                    const uint8_t daemon_nonce[MXP_NONCE_SIZE],
                    const uint8_t key[MXP_MAC_SIZE])
{
    uint8_t trailer[MXP_AUTH_TRAILER] = {0};
    memcpy(trailer, client_nonce, MXP_NONCE_SIZE);
    memcpy(trailer + MXP_NONCE_SIZE, daemon_nonce, MXP_NONCE_SIZE);
    int n = mxp_append_trailer(buf, cap, len, MXP_FLAG_AUTH, trailer);
    if (n < 0)
        return n;
    /* The MAC covers the header as sent (its flags and body_len count
     * the trailer), the body, the stream key and both nonces. */
    crypto_auth_hmacsha256(buf + n - MXP_MAC_SIZE, buf,
                           (size_t)n - MXP_MAC_SIZE, key);
    return n;
}

int mxp_auth_check(const uint8_t *buf, size_t len, const mxp_request *req,
                   const uint8_t token[MXP_TOKEN_SIZE])
{
    if (!req->auth || len < MXP_HEADER_SIZE + MXP_AUTH_TRAILER ||
        req->auth != buf + len - MXP_AUTH_TRAILER)
        return 0;
    uint8_t key[MXP_MAC_SIZE];
    mxp_auth_session_key(token, req->auth, req->auth + MXP_NONCE_SIZE, key);
    int ok = crypto_auth_hmacsha256_verify(buf + len - MXP_MAC_SIZE, buf,
                                           len - MXP_MAC_SIZE, key) == 0;
    sodium_memzero(key, sizeof key);
    return ok;
}

int mxp_mac_equal(const uint8_t a[MXP_MAC_SIZE], const uint8_t b[MXP_MAC_SIZE])
{
    return crypto_verify_32(a, b) == 0;
}
