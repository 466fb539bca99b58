/*
 * reach.c — see reach.h.
 */
#include "reach.h"

#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "ipcperm.h"

reach_level reach_of(const cfg_config *cfg, int i)
{
    const char *ep = cfg->endpoints[i];
    if (!strncmp(ep, "ipc://", 6)) {
        mode_t m = 0;
        /* Connecting needs write permission on the socket file. */
        return ipc_parse_mode(cfg->ipc_mode, &m) == 0 && (m & 0002)
                   ? REACH_HOST
                   : REACH_GROUP;
    }
    return auth_endpoint_exposed(ep) ? REACH_NETWORK : REACH_HOST;
}

static const char *const reach_text[] = {
    "only the socket file's owner and group",
    "every local user",
    "every host that reaches it",
};

int reach_warnings(const cfg_config *cfg,
                   void (*warn)(void *ctx, const char *msg), void *ctx)
{
    if (cfg->auth_token_file[0] || cfg->n_endpoints < 2)
        return 0;
    int least = 0;
    for (int i = 1; i < cfg->n_endpoints; i++)
        if (reach_of(cfg, i) < reach_of(cfg, least))
            least = i;
    reach_level low = reach_of(cfg, least);
    int n = 0;
    for (int i = 0; i < cfg->n_endpoints; i++) {
        reach_level r = reach_of(cfg, i);
        if (r == low)
            continue;
        char msg[6 * CFG_STR_MAX], at[2][CFG_STR_MAX + 16], how[64] = "";
        if (!strncmp(cfg->endpoints[least], "ipc://", 6))
            snprintf(how, sizeof how, " (ipc_mode %s)", cfg->ipc_mode);
        snprintf(msg, sizeof msg,
                 "server.endpoint %s (%s) admits %s without a token, while "
                 "%s (%s) admits %s%s: the closed endpoint protects "
                 "nothing. Set server.auth_token_file (a token holds on "
                 "every endpoint), or remove %s",
                 cfg->endpoints[i],
                 cfg_endpoint_where(cfg, i, at[0], sizeof at[0]),
                 reach_text[r], cfg->endpoints[least],
                 cfg_endpoint_where(cfg, least, at[1], sizeof at[1]),
                 reach_text[low], how, cfg->endpoints[i]);
        warn(ctx, msg);
        n++;
    }
    return n;
}
