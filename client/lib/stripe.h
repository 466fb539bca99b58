/*
 * stripe.h — one stream striped over several daemons (stripe.c), a layer
 * over one member client per daemon (client_internal.h). connect.c
 * attaches it to the client the user holds. Not installed.
 */
#ifndef CL_STRIPE_H
#define CL_STRIPE_H

#include <stddef.h>

#include "client_internal.h"

typedef struct cl_stripe cl_stripe;

/* A client striping over @n endpoints (one socket each). */
int cl_stripe_new(cl_stripe **out, const char *const *endpoints, size_t n,
                  const mixup_client_options *opts, char *err, size_t errlen);

/* The layer table (cl_client_attach) of a cl_stripe: as
 * mixup_stream_open(), mixup_next(), mixup_stream_close() of the top
 * client, whose error text and position they set. */
extern const cl_layer_ops cl_stripe_ops;

#endif
