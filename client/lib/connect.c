/*
 * connect.c — mixup_client_connect(): the facade over the single-daemon
 * client (client.c) and the striping layer (stripe.c). With the spread
 * option and several endpoints, the client's stream is handed over to a
 * stripe of member clients; the client and the stripe below never call
 * up here, and the client reaches the stripe only through its layer table.
 */
#include "client_internal.h"
#include "mixup.h"
#include "proto.h"
#include "stripe.h"

MIXUP_API int mixup_client_connect(mixup_client **out,
                                   const char *const *endpoints,
                                   size_t n_endpoints,
                                   const mixup_client_options *opts)
{
    int rc = cl_client_connect(out, endpoints, n_endpoints, opts);
    if (rc < 0 || !opts || !opts->spread || n_endpoints <= 1)
        return rc;
    cl_stripe *s;
    char err[MXP_ERRMSG_MAX + 256];
    rc = cl_stripe_new(&s, endpoints, n_endpoints, opts, err, sizeof err);
    if (rc < 0) {
        cl_set_error(*out, rc, "%s", err);
        cl_client_discard(*out);
        *out = NULL;
        return rc;
    }
    cl_client_attach(*out, &cl_stripe_ops, s);
    return 0;
}
