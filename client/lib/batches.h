/*
 * batches.h — a BATCH reply decoded into a mixup_batch (batches.c).
 * Internal to the library.
 */
#ifndef CL_BATCHES_H
#define CL_BATCHES_H

#include "mixup.h"
#include "proto.h"

/* The batch of reply @rep in @msg (a nanomsg message, or a ring slot's
 * bytes), its message_ pointing at @msg: arrays aligned for their type
 * are used in place, the others copied into the batch's own allocation.
 * 0, or MIXUP_ENOMEM with @c's error set. */
int cl_make_batch(mixup_client *c, void *msg, const mxp_reply *rep,
                  mixup_batch **out);

#endif
