/*
 * client_internal.h — what client.c offers the library's other modules
 * (stripe.c, connect.c) beyond mixup.h: a client's stream opened striped, and NEXT
 * split into a send and a non-blocking receive so that one caller can
 * keep a request in flight on several clients (one per daemon) at once.
 * Not installed.
 */
#ifndef CL_CLIENT_INTERNAL_H
#define CL_CLIENT_INTERNAL_H

#include <stdint.h>

#include "mixup.h"

/* Open @c's stream taking every @stride-th batch from @offset of the
 * sequence @opts describes (stride 0 or 1: all of it). Then
 * cl_digests() holds the daemon's digests. As mixup_stream_open(). */
int cl_stream_open_striped(mixup_client *c, const mixup_stream_options *opts,
                           uint16_t stride, uint16_t offset);

/* The digests of the daemon's pipeline, from the last OPEN reply. */
void cl_digests(const mixup_client *c, uint64_t *dataset, uint64_t *settings);

/* The stream's epoch, from the last OPEN reply: batches of the dataset's
 * epoch and of this stream's share. */
void cl_stream_shape(const mixup_client *c, uint64_t *dataset,
                     uint64_t *stream);

/* Send a NEXT without waiting (its releases ride along). Return 0, or a
 * MIXUP_E* code with the client's error set: MIXUP_ETIMEDOUT when the
 * daemon is not connected. */
int cl_next_send(mixup_client *c);

/* The reply to that NEXT if it is there: 0 with *@out, 1 when it is not
 * yet, or a MIXUP_E* code (MIXUP_ENOSTREAM: the daemon does not know the
 * stream). */
int cl_next_recv(mixup_client *c, mixup_batch **out);

/* Send an INFO about @pipeline (NULL: main) without waiting;
 * cl_info_recv() as cl_next_recv(). */
int cl_info_send(mixup_client *c, const char *pipeline);
int cl_info_recv(mixup_client *c, mixup_info *info);

/* A descriptor that polls readable when a reply may be there. */
int cl_reply_fd(const mixup_client *c);

/* Connections the client's socket has up now (0: the daemon is gone). */
int cl_connected(const mixup_client *c);

/* Forget the stream without telling the daemon (it is gone): held
 * batches get private copies. */
void cl_stream_forget(mixup_client *c);

/* Set the position mixup_client_position() reports (striping delivers
 * batches a member client fetched). */
void cl_set_position(mixup_client *c, uint64_t epoch, uint64_t batch);

/* ---- layers over a client ----
 *
 * A layer above this client (striping: stripe.c) that takes its stream
 * over: while one is attached, mixup_stream_open(), mixup_next(),
 * mixup_stream_close() and mixup_client_set_timeout() of the client go to
 * it, and mixup_client_close() frees it. The client calls the layer only
 * through this table, never by name. */
typedef struct cl_layer_ops {
    int (*open)(void *layer, mixup_client *top,
                const mixup_stream_options *opts);
    int (*next)(void *layer, mixup_client *top, mixup_batch **out);
    int (*close)(void *layer, mixup_client *top);
    void (*set_timeout)(void *layer, int timeout_ms);
    void (*free)(void *layer);
} cl_layer_ops;

/* A client of its own over @endpoints, as mixup_client_connect() without
 * the spread option (mixup_client_error(NULL) says why it failed). */
int cl_client_connect(mixup_client **out, const char *const *endpoints,
                      size_t n_endpoints, const mixup_client_options *opts);
/* Hand @c's stream over to @layer (@ops): @c owns it from now on. */
void cl_client_attach(mixup_client *c, const cl_layer_ops *ops, void *layer);
/* Close @c, which failed to connect after all: its error text becomes
 * what mixup_client_error(NULL) says. */
void cl_client_discard(mixup_client *c);

/* Used by stripe.c to report through @top. */
int cl_set_error(mixup_client *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Adopt a member's stream shape as @top's (positions, resume). */
void cl_adopt_stream(mixup_client *top, const mixup_client *member,
                     const mixup_stream_options *opts);

#endif
