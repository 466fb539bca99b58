/*
 * auth.c — see auth.h.
 */
#include "auth.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "regfile.h"

#define AUTH_FILE_MAX 256 /* bytes read from a token file */

static int load_token(const char *path, uint8_t out[MXP_TOKEN_SIZE],
                      char *err, size_t errlen)
{
    char why[512];
    uint64_t size;
    int fd = rf_open(path, &size, why, sizeof why);
    if (fd < 0) {
        snprintf(err, errlen, "server.auth_token_file: %s", why);
        return MIXUP_ECONFIG;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || (st.st_mode & 077)) {
        snprintf(err, errlen, "server.auth_token_file %s has mode %04o: group "
                 "or others may read or write it; a secret must not be "
                 "shared that way (chmod 600 %s)", path,
                 (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return MIXUP_ECONFIG;
    }
    char text[AUTH_FILE_MAX];
    ssize_t n = read(fd, text, sizeof text);
    close(fd);
    if (n < 0 || (uint64_t)n != size) {
        snprintf(err, errlen, "server.auth_token_file %s: %s", path,
                 n < 0 ? "cannot read it" : "larger than a token");
        return MIXUP_ECONFIG;
    }
    if (mxp_token_parse(text, (size_t)n, out, why, sizeof why) < 0) {
        snprintf(err, errlen, "server.auth_token_file %s: %s", path, why);
        return MIXUP_ECONFIG;
    }
    return 0;
}

int auth_endpoint_exposed(const char *ep)
{
    const char *host;
    if (!strncmp(ep, "tcp://", 6))
        host = ep + 6;
    else if (!strncmp(ep, "ws://", 5))
        host = ep + 5;
    else
        return 0;
    const char *semi = strchr(host, ';'); /* tcp://interface;host:port */
    if (semi)
        host = semi + 1;
    return !(strncmp(host, "127.", 4) == 0 || strncmp(host, "[::1]:", 6) == 0 ||
             strncmp(host, "localhost:", 10) == 0);
}

int auth_prepare(auth_state *a, const cfg_config *cfg, char *err,
                 size_t errlen)
{
    memset(a, 0, sizeof *a);
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium cannot start (sodium_init)");
        return MIXUP_ESYS;
    }
    if (cfg->auth_token_file[0]) {
        int rc = load_token(cfg->auth_token_file, a->token, err, errlen);
        if (rc < 0)
            return rc;
        a->required = 1;
        return 0;
    }
    if (cfg->allow_unauthenticated_tcp)
        return 0;
    for (int i = 0; i < cfg->n_endpoints; i++)
        if (auth_endpoint_exposed(cfg->endpoints[i])) {
            snprintf(err, errlen, "server.endpoint %s accepts connections "
                     "from other hosts and no server.auth_token_file is "
                     "set: anyone who reaches it could read the dataset. "
                     "Set a token, bind to 127.0.0.1, or set "
                     "server.allow_unauthenticated_tcp = true if that is "
                     "meant", cfg->endpoints[i]);
            return MIXUP_ECONFIG;
        }
    return 0;
}

int auth_accepts(const auth_state *a, const uint8_t *buf, size_t len,
                 const mxp_request *req, const char **why)
{
    if (!a->required)
        return 1;
    if (!req->auth) {
        *why = "no token";
        return 0;
    }
    if (!mxp_auth_check(buf, len, req, a->token)) {
        *why = "wrong token";
        return 0;
    }
    return 1;
}

int auth_hello(const auth_state *a, const uint8_t *client_nonce,
               uint8_t nonce[MXP_NONCE_SIZE], uint8_t proof[MXP_MAC_SIZE],
               char *err, size_t errlen)
{
    if (!a->required) {
        snprintf(err, errlen, "this daemon has no token (server."
                 "auth_token_file is not set), so it cannot prove it is the "
                 "daemon your token belongs to: connect without a token, "
                 "or give the daemon its token");
        return MIXUP_EAUTH;
    }
    if (getrandom(nonce, MXP_NONCE_SIZE, GRND_NONBLOCK) != MXP_NONCE_SIZE) {
        snprintf(err, errlen, "no random bytes for a nonce yet (getrandom)");
        return MIXUP_ESYS;
    }
    mxp_auth_daemon_proof(a->token, client_nonce, nonce, proof);
    return 0;
}
