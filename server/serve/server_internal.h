/*
 * server_internal.h — the server's state, shared by server.c (socket,
 * requests, lifecycle) and server_stats.c (the stats JSON). Loop thread
 * only; not to be included elsewhere.
 */
#ifndef SRV_SERVER_INTERNAL_H
#define SRV_SERVER_INTERNAL_H

#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "auth.h"
#include "batch.h"
#include "config.h"
#include "jsonw.h"
#include "proto.h"
#include "ring.h"
#include "server.h"
#include "streams.h"
#include "workers.h"

/* One named pipeline: its dataset (maybe shared with another pipeline),
 * the plan of its batches, its ring and its streams. */
typedef struct srv_pipe {
    char name[CFG_PIPELINE_NAME_MAX + 1];
    uint64_t settings_digest; /* digest.h */
    bat_plan plan;
    ring ring;
    str_table *streams;
} srv_pipe;

struct srv_server {
    uv_loop_t *loop;
    auth_state auth;
    int sock;
    uv_poll_t poll;
    int poll_started;
    uv_timer_t timer;
    int timer_started;
    char ipc_paths[CFG_MAX_ENDPOINTS][CFG_STR_MAX];
    int n_ipc;
    mxp_limits limits;
    uint64_t started_ms;
    uint64_t config_digest; /* of the effective configuration (dg_config) */
    uint64_t conn_accepted, conn_closed; /* as last logged */
    uint64_t errors_by_code[32]; /* error replies, index = -code */
    int lend;             /* server.shm_delivery = auto */
    uint32_t max_held;
    size_t max_copy_bytes;
    uint64_t copied_at_trim; /* batches_copied when the heap was trimmed */
    size_t in_flight_at_trim; /* copy bytes in flight at the last tick */
    wrk_pool pool;
    srv_pipe pipes[SRV_MAX_PIPELINES]; /* [0] is main */
    int n_pipes;
    srv_stats stats;
};

static inline uint64_t now_ms(srv_server *srv)
{
    return uv_now(srv->loop);
}

/* Counters of every pipeline's streams, summed (server_stats.c). */
void srv_sum_counters(const srv_server *srv, str_counters *sum);
/* Bytes of batch copies sent and not yet known to have arrived, all
 * pipelines (server_stats.c). */
size_t srv_copy_bytes_in_flight(const srv_server *srv);

/* The STATS reply's JSON: the daemon, its main pipeline at the top level,
 * then every pipeline, job and stream (server_stats.c; jsonw.h). NULL
 * when out of memory. */
json_object *srv_describe_json(srv_server *srv);

#endif
