/*
 * server.h — the daemon's sockets and request handling, on the loop thread.
 *
 * One raw REP nanomsg socket is bound to every configured endpoint; its
 * NN_RCVFD joins the libuv loop through a uv_poll (readable only: the
 * descriptor is level-triggered and never read). A raw socket lets a
 * request wait for its batch while others are answered: each request's
 * routing header is kept and handed back with the reply.
 *
 * A request that does not decode, or that names an unknown stream, gets
 * an ERROR reply (code + text) to its sender only; the daemon carries on.
 */
#ifndef SRV_SERVER_H
#define SRV_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "dataset.h"

typedef struct srv_server srv_server;

#define SRV_MAX_PIPELINES (1 + CFG_MAX_PIPELINES)

/* A pipeline to serve: its name, its effective configuration ([dataset],
 * [batch], [augment], [output]: cfg_pipeline_resolve()) and its dataset,
 * loaded by the caller (several pipelines may share one). */
typedef struct srv_pipeline_def {
    const char *name;
    const cfg_config *cfg;
    const ds_dataset *ds;
} srv_pipeline_def;

typedef struct srv_stats {
    uint64_t requests;
    uint64_t bad_requests;   /* error replies for malformed requests */
    uint64_t auth_refused;   /* requests without the daemon's token */
    uint64_t errors_sent;    /* every error reply */
    uint64_t bytes_sent;
    uint64_t batches_sent;
    uint32_t streams_open;
    uint32_t ring_free, ring_slots;
} srv_stats;

/* Bind the endpoints, start the workers and the timers on @loop, and
 * serve the @n pipelines of @defs (@defs[0] is main; each has its own
 * ring, segment named "ring" for main and "ring-NAME" for the others,
 * and its own streams; the workers are shared). [server] options come
 * from @cfg. Return 0, or a MIXUP_E* code with @err (an endpoint that
 * cannot be bound is named). On failure nothing stays open. */
int srv_start(srv_server **out, uv_loop_t *loop, const cfg_config *cfg,
              const srv_pipeline_def *defs, int n, char *err, size_t errlen);

/* Stop serving: close sockets (and remove ipc socket files we created),
 * stop and join workers, free everything. Call it outside uv_run(): it
 * runs the loop once itself so that its handles finish closing. */
void srv_stop(srv_server *srv);

/* Drain: stop taking requests (requests already waiting still get their
 * batches). */
void srv_begin_drain(srv_server *srv);

/* Requests waiting for their batch. */
uint32_t srv_waiting(const srv_server *srv);

/* Apply options that may change while running (timeouts, max_request). */
void srv_apply_runtime(srv_server *srv, const cfg_config *cfg);

void srv_get_stats(const srv_server *srv, srv_stats *out);

#endif
