/*
 * server.c — see server.h.
 */
#include "server.h"

#include <errno.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "fdlimit.h"
#include "ipcperm.h"
#include "log.h"
#include "proto.h"
#include "ring.h"
#include "streams.h"
#include "workers.h"

/* nanomsg drops (silently) any message above its receive limit; ours is
 * checked by the decoder so that an oversized request gets an error reply.
 * Requests above this hard ceiling only lose their connection. */
#define SRV_NN_RCVMAX (1 << 20)
#define SRV_RECV_BURST 64 /* requests handled per wake-up before yielding */

struct srv_server {
    uv_loop_t *loop;
    int sock;
    uv_poll_t poll;
    int poll_started;
    uv_timer_t timer;
    int timer_started;
    char ipc_paths[CFG_MAX_ENDPOINTS][CFG_STR_MAX];
    int n_ipc;
    mxp_limits limits;
    uint64_t started_ms;
    uint64_t config_digest; /* FNV-1a of the effective configuration */
    uint64_t conn_accepted, conn_closed; /* as last logged */
    uint64_t errors_by_code[32]; /* error replies, index = -code */
    bat_plan plan;
    wrk_pool pool;
    ring ring;
    str_table *streams;
    srv_stats stats;
};

static uint64_t now_ms(srv_server *srv)
{
    return uv_now(srv->loop);
}

/* ------------------------------------------------------------ replies */

static void send_msg(srv_server *srv, void *control, void *msg, size_t size)
{
    struct nn_iovec iov = {.iov_base = &msg, .iov_len = NN_MSG};
    struct nn_msghdr hdr = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = &control,
        .msg_controllen = NN_MSG,
    };
    /* Raw REP never blocks: a reply to a peer that has gone is dropped by
     * nanomsg, so success here is not delivery (the client re-asks). */
    if (nn_sendmsg(srv->sock, &hdr, NN_DONTWAIT) < 0) {
        log_limited(LOG_KIND_REPLY_NOT_SENT, LOG_WARN_,
                    "reply of %zu bytes not sent: %s", size,
                    nn_strerror(nn_errno()));
        nn_freemsg(msg);
        nn_freemsg(control);
        return;
    }
    srv->stats.bytes_sent += size;
}

static void send_batch(void *ctx, void *control, uint8_t *msg, size_t size)
{
    srv_server *srv = ctx;
    srv->stats.batches_sent++;
    send_msg(srv, control, msg, size);
}

static void send_error(srv_server *srv, void *control, uint64_t request_id,
                       int code, const char *text)
{
    size_t size = mxp_error_rep_size(text);
    uint8_t *msg = nn_allocmsg(size, 0);
    if (!msg) {
        nn_freemsg(control);
        return;
    }
    mxp_encode_error_rep(msg, size, request_id, code, text);
    srv->stats.errors_sent++;
    if (code < 0 && -code < 32)
        srv->errors_by_code[-code]++;
    send_msg(srv, control, msg, size);
}

static void send_small(srv_server *srv, void *control, const uint8_t *buf,
                       int len)
{
    uint8_t *msg = nn_allocmsg((size_t)len, 0);
    if (!msg) {
        nn_freemsg(control);
        return;
    }
    memcpy(msg, buf, (size_t)len);
    send_msg(srv, control, msg, (size_t)len);
}

/* ------------------------------------------------------------ requests */

static void handle_info(srv_server *srv, void *control, uint64_t req_id)
{
    const ds_dataset *ds = srv->plan.ds;
    mxp_info_rep info = {
        .samples = ds->n,
        .batches_per_epoch = smp_batches_per_epoch(&srv->plan.smp),
        .height = ds->h,
        .width = ds->w,
        .channels = ds->c,
        .classes = ds->classes,
        .batch_size = srv->plan.smp.batch_size,
        .alpha = (float)srv->plan.smp.alpha,
        .shuffle = (uint32_t)srv->plan.smp.shuffle,
        .source_dtype = ds->dtype,
    };
    uint8_t buf[MXP_HEADER_SIZE + MXP_INFO_BODY];
    send_small(srv, control, buf,
               mxp_encode_info_rep(buf, sizeof buf, req_id, &info));
}

static void handle_open(srv_server *srv, void *control, const mxp_request *req)
{
    char err[256];
    mxp_open_rep rep;
    int rc = str_open(srv->streams, &req->u.open, req->hdr.request_id,
                      now_ms(srv), &rep, err,
                      sizeof err);
    if (rc < 0) {
        log_limited(LOG_KIND_OPEN_REFUSED, LOG_INFO_, "OPEN refused: %s",
                    err);
        send_error(srv, control, req->hdr.request_id, rc, err);
        return;
    }
    log_debug("stream %llx opened: seed %llu, start %llu:%llu",
             (unsigned long long)rep.stream_id,
             (unsigned long long)req->u.open.seed,
             (unsigned long long)rep.start_epoch,
             (unsigned long long)rep.start_batch);
    uint8_t buf[MXP_HEADER_SIZE + MXP_OPEN_REP_BODY];
    send_small(srv, control, buf,
               mxp_encode_open_rep(buf, sizeof buf, req->hdr.request_id, &rep));
}

static void handle_next(srv_server *srv, void *control, const mxp_request *req)
{
    char err[256];
    int rc = str_next(srv->streams, req->u.stream_id, req->hdr.request_id,
                      control, now_ms(srv), err, sizeof err);
    if (rc < 0)
        send_error(srv, control, req->hdr.request_id, rc, err);
}

static void handle_close(srv_server *srv, void *control, const mxp_request *req)
{
    int rc = str_close(srv->streams, req->u.stream_id);
    if (rc < 0) {
        char err[128];
        snprintf(err, sizeof err, "stream %llx is not open",
                 (unsigned long long)req->u.stream_id);
        send_error(srv, control, req->hdr.request_id, rc, err);
        return;
    }
    log_debug("stream %llx closed by its client",
             (unsigned long long)req->u.stream_id);
    uint8_t buf[MXP_HEADER_SIZE];
    send_small(srv, control, buf,
               mxp_encode_close_rep(buf, sizeof buf, req->hdr.request_id));
}

/* Fraction of the workers' time spent building batches since start. The
 * counters are the pool's, written under its lock by the workers. */
static double worker_busy(srv_server *srv, uint64_t busy)
{
    double up_ns = (double)(now_ms(srv) - srv->started_ms) * 1e6;
    if (up_ns <= 0 || srv->pool.n_threads == 0)
        return 0;
    return (double)busy / (up_ns * srv->pool.n_threads);
}

static uint64_t digest_config(const cfg_config *cfg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return 0;
    cfg_print(cfg, f);
    fclose(f);
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)text[i]) * 1099511628211ull;
    free(text);
    return h;
}

static void describe_json(srv_server *srv, FILE *out)
{
    const ds_dataset *ds = srv->plan.ds;
    const str_counters *c = str_get_counters(srv->streams);
    srv_stats st;
    srv_get_stats(srv, &st);
    uint64_t jobs_run, busy_ns;
    wrk_pool_counters(&srv->pool, &jobs_run, &busy_ns);
    fprintf(out, "{\"uptime_s\": %.1f, \"dataset\": {\"samples\": %llu, "
            "\"shape\": [%u, %u, %u], \"classes\": %u, \"bytes\": %llu}, "
            "\"batch_size\": %u, \"batches_per_epoch\": %llu, "
            "\"ring\": {\"slots\": %u, \"held\": %u}, "
            "\"requests\": %llu, \"bad_requests\": %llu, "
            "\"errors_sent\": %llu, \"batches_sent\": %llu, "
            "\"bytes_sent\": %llu, \"batches_computed\": %llu, "
            "\"batches_recomputed\": %llu, \"slots_reclaimed\": %llu, "
            "\"shared_redelivered\": %llu, \"streams_open\": %u, "
            "\"streams_opened\": %llu, \"streams_expired\": %llu, ",
            (double)(now_ms(srv) - srv->started_ms) / 1000.0,
            (unsigned long long)ds->n, ds->h, ds->w, ds->c, ds->classes,
            (unsigned long long)ds->bytes, srv->plan.smp.batch_size,
            (unsigned long long)smp_batches_per_epoch(&srv->plan.smp),
            st.ring_slots, st.ring_slots - st.ring_free,
            (unsigned long long)st.requests,
            (unsigned long long)st.bad_requests,
            (unsigned long long)st.errors_sent,
            (unsigned long long)st.batches_sent,
            (unsigned long long)st.bytes_sent,
            (unsigned long long)c->batches_computed,
            (unsigned long long)c->batches_recomputed,
            (unsigned long long)c->slots_reclaimed,
            (unsigned long long)c->shared_redelivered, st.streams_open,
            (unsigned long long)c->streams_opened,
            (unsigned long long)c->streams_expired);
    bat_describe_json(&srv->plan, out);
    fputs(", ", out);
    fprintf(out, "\"connections\": {\"open\": %llu, \"accepted\": %llu, "
            "\"closed\": %llu}, ",
            (unsigned long long)nn_get_statistic(srv->sock, NN_STAT_CURRENT_CONNECTIONS),
            (unsigned long long)nn_get_statistic(srv->sock, NN_STAT_ACCEPTED_CONNECTIONS),
            (unsigned long long)(nn_get_statistic(srv->sock, NN_STAT_DROPPED_CONNECTIONS) +
                                 nn_get_statistic(srv->sock, NN_STAT_BROKEN_CONNECTIONS)));
    fprintf(out, "\"config_digest\": \"%016llx\", \"workers\": {\"threads\": %u, "
            "\"jobs_run\": %llu, \"busy\": %.3f}, \"errors\": {",
            (unsigned long long)srv->config_digest, srv->pool.n_threads,
            (unsigned long long)jobs_run, worker_busy(srv, busy_ns));
    int first = 1;
    for (int i = 1; i < 32; i++)
        if (srv->errors_by_code[i]) {
            fprintf(out, "%s\"%s\": %llu", first ? "" : ", ",
                    mixup_err_name(-i),
                    (unsigned long long)srv->errors_by_code[i]);
            first = 0;
        }
    fputs("}, \"log\": ", out);
    log_describe_json(out);
    fputs(", ", out);
    str_describe_json(srv->streams, out);
    fputs("}\n", out);
}

static void handle_stats(srv_server *srv, void *control, const mxp_request *req)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) {
        send_error(srv, control, req->hdr.request_id, MIXUP_ENOMEM,
                   "out of memory for stats");
        return;
    }
    if (req->u.stats_format == MXP_STATS_JSON)
        describe_json(srv, out);
    else
        str_describe_text(srv->streams, out);
    fclose(out);
    if (len > MXP_STATS_MAX) { /* cut JSON would not parse: refuse */
        free(text);
        send_error(srv, control, req->hdr.request_id, MIXUP_ETOOBIG,
                   "stats longer than the protocol's 64 MiB");
        return;
    }
    size_t size = MXP_HEADER_SIZE + len;
    uint8_t *msg = nn_allocmsg(size, 0);
    if (msg) {
        mxp_encode_stats_rep(msg, size, req->hdr.request_id, text,
                             (uint32_t)len);
        send_msg(srv, control, msg, size);
    } else {
        nn_freemsg(control);
    }
    free(text);
}

/* Takes ownership of @control and frees @body. */
static void handle_request(srv_server *srv, void *control, uint8_t *body,
                           size_t len)
{
    char err[256];
    mxp_request req;
    srv->stats.requests++;
    int rc = mxp_request_decode(body, len, &srv->limits, &req, err, sizeof err);
    if (rc < 0) {
        srv->stats.bad_requests++;
        log_limited(LOG_KIND_BAD_REQUEST, LOG_WARN_,
                    "bad request (%zu bytes): %s", len, err);
        send_error(srv, control, req.hdr.request_id, rc, err);
        nn_freemsg(body);
        return;
    }
    log_debug("%s request %llu (%zu bytes)", mxp_type_name(req.hdr.type),
              (unsigned long long)req.hdr.request_id, len);
    switch (req.hdr.type) {
    case MXP_INFO_REQ: handle_info(srv, control, req.hdr.request_id); break;
    case MXP_OPEN_REQ: handle_open(srv, control, &req); break;
    case MXP_NEXT_REQ: handle_next(srv, control, &req); break;
    case MXP_CLOSE_REQ: handle_close(srv, control, &req); break;
    case MXP_STATS_REQ: handle_stats(srv, control, &req); break;
    }
    nn_freemsg(body); /* after: a decoded job name points into it */
}

static void on_readable(uv_poll_t *handle, int status, int events)
{
    srv_server *srv = handle->data;
    (void)events;
    if (status < 0) {
        log_error("poll on the socket failed: %s", uv_strerror(status));
        return;
    }
    for (int i = 0; i < SRV_RECV_BURST; i++) {
        void *body = NULL, *control = NULL;
        struct nn_iovec iov = {.iov_base = &body, .iov_len = NN_MSG};
        struct nn_msghdr hdr = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = &control,
            .msg_controllen = NN_MSG,
        };
        int n = nn_recvmsg(srv->sock, &hdr, NN_DONTWAIT);
        if (n < 0) {
            int e = nn_errno();
            if (e != EAGAIN && e != EINTR)
                log_limited(LOG_KIND_RECV_FAILED, LOG_WARN_,
                            "receive failed: %s", nn_strerror(e));
            return;
        }
        handle_request(srv, control, body, (size_t)n);
    }
}

/* ------------------------------------------------------------ lifecycle */

/* nanomsg tells a server socket neither who connects nor when, but it
 * counts connections: log the changes once a second. */
static void log_connections(srv_server *srv)
{
    uint64_t acc = nn_get_statistic(srv->sock, NN_STAT_ACCEPTED_CONNECTIONS);
    uint64_t closed =
        nn_get_statistic(srv->sock, NN_STAT_DROPPED_CONNECTIONS) +
        nn_get_statistic(srv->sock, NN_STAT_BROKEN_CONNECTIONS);
    uint64_t open = nn_get_statistic(srv->sock, NN_STAT_CURRENT_CONNECTIONS);
    if (acc > srv->conn_accepted)
        log_info("%llu client connection(s) accepted, %llu open",
                 (unsigned long long)(acc - srv->conn_accepted),
                 (unsigned long long)open);
    if (closed > srv->conn_closed)
        log_info("%llu client connection(s) closed, %llu open",
                 (unsigned long long)(closed - srv->conn_closed),
                 (unsigned long long)open);
    srv->conn_accepted = acc;
    srv->conn_closed = closed;
}

static void on_timer(uv_timer_t *timer)
{
    srv_server *srv = timer->data;
    log_connections(srv);
    log_rate_tick();
    fdl_check(now_ms(srv));
    str_tick(srv->streams, now_ms(srv));
}

static int open_socket(srv_server *srv, const cfg_config *cfg, char *err,
                       size_t errlen)
{
    srv->sock = nn_socket(AF_SP_RAW, NN_REP);
    if (srv->sock < 0) {
        snprintf(err, errlen, "cannot create a nanomsg socket: %s",
                 nn_strerror(nn_errno()));
        return MIXUP_ESYS;
    }
    int rcvmax = SRV_NN_RCVMAX;
    nn_setsockopt(srv->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &rcvmax,
                  sizeof rcvmax);
    /* nanomsg's 128 KiB send buffer cuts a batch into many writes and
     * context switches; ask for one batch (the kernel caps it). */
    int sndbuf = srv->plan.layout.total < (4u << 20)
                     ? (int)srv->plan.layout.total
                     : 4 << 20;
    nn_setsockopt(srv->sock, NN_SOL_SOCKET, NN_SNDBUF, &sndbuf, sizeof sndbuf);
    for (int i = 0; i < cfg->n_endpoints; i++) {
        const char *ep = cfg->endpoints[i];
        mode_t umask_was = ipc_bind_begin();
        int bound = nn_bind(srv->sock, ep);
        ipc_bind_end(umask_was);
        if (bound < 0) {
            snprintf(err, errlen, "cannot bind server.endpoint %s: %s", ep,
                     nn_strerror(nn_errno()));
            return MIXUP_ECONNECT;
        }
        if (strncmp(ep, "ipc://", 6) == 0) {
            snprintf(srv->ipc_paths[srv->n_ipc++], CFG_STR_MAX, "%s", ep + 6);
            int rc = ipc_apply(ep + 6, cfg->ipc_mode, cfg->ipc_group, err,
                               errlen);
            if (rc < 0)
                return rc;
        }
        log_info("listening on %s", ep);
    }
    return 0;
}

static int start_poll(srv_server *srv, char *err, size_t errlen)
{
    int fd;
    size_t sz = sizeof fd;
    if (nn_getsockopt(srv->sock, NN_SOL_SOCKET, NN_RCVFD, &fd, &sz) < 0) {
        snprintf(err, errlen, "NN_RCVFD: %s", nn_strerror(nn_errno()));
        return MIXUP_ESYS;
    }
    if (uv_poll_init(srv->loop, &srv->poll, fd) < 0) {
        snprintf(err, errlen, "cannot poll the socket's descriptor");
        return MIXUP_ESYS;
    }
    srv->poll.data = srv;
    srv->poll_started = 1;
    uv_poll_start(&srv->poll, UV_READABLE, on_readable);
    uv_timer_init(srv->loop, &srv->timer);
    srv->timer.data = srv;
    srv->timer_started = 1;
    uv_timer_start(&srv->timer, on_timer, 1000, 1000);
    return 0;
}

static int start_compute(srv_server *srv, const cfg_config *cfg,
                         const ds_dataset *ds, char *err, size_t errlen)
{
    int rc = bat_plan_from_config(&srv->plan, ds, cfg, err, errlen);
    if (rc < 0)
        return rc;
    if ((rc = ring_init(&srv->ring, cfg->ring_slots, srv->plan.layout.total,
                        srv->plan.scratch_bytes)) < 0) {
        snprintf(err, errlen, "out of memory for %u ring slots", cfg->ring_slots);
        return rc;
    }
    str_limits lim = {
        .max_streams = cfg->max_streams,
        .prefetch = cfg->prefetch,
        .idle_timeout_ms = (uint64_t)cfg->stream_timeout * 1000,
        .shared_lease_ms = (uint64_t)cfg->shared_lease * 1000,
    };
    rc = str_table_new(&srv->streams, &lim, &srv->plan, &srv->pool,
                       &srv->ring, send_batch, srv);
    if (rc < 0) {
        snprintf(err, errlen, "out of memory for %u streams", cfg->max_streams);
        return rc;
    }
    if ((rc = wrk_pool_start(&srv->pool, srv->loop, cfg->workers)) < 0) {
        snprintf(err, errlen, "cannot start %u worker threads", cfg->workers);
        return rc;
    }
    return 0;
}

int srv_start(srv_server **out, uv_loop_t *loop, const cfg_config *cfg,
              const ds_dataset *ds, char *err, size_t errlen)
{
    srv_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "out of memory");
        return MIXUP_ENOMEM;
    }
    srv->loop = loop;
    srv->sock = -1;
    srv->limits.max_message = cfg->max_request;
    srv->started_ms = uv_now(loop);
    srv->config_digest = digest_config(cfg);
    int rc = start_compute(srv, cfg, ds, err, errlen);
    if (rc == 0)
        rc = open_socket(srv, cfg, err, errlen);
    if (rc == 0)
        rc = start_poll(srv, err, errlen);
    if (rc < 0) {
        srv_stop(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

void srv_stop(srv_server *srv)
{
    if (!srv)
        return;
    /* Order: stop taking requests, drop waiting ones, stop compute, free
     * slots, close the socket, remove our ipc files. */
    if (srv->poll_started)
        uv_close((uv_handle_t *)&srv->poll, NULL);
    if (srv->timer_started)
        uv_close((uv_handle_t *)&srv->timer, NULL);
    if (srv->streams)
        str_drop_pending(srv->streams);
    /* The pool closes its async handle: one more handle to finish. */
    int closing = srv->poll_started || srv->timer_started ||
                  srv->pool.started;
    wrk_pool_stop(&srv->pool);
    str_table_free(srv->streams);
    if (srv->ring.slots)
        ring_destroy(&srv->ring);
    if (srv->sock >= 0)
        nn_close(srv->sock);
    for (int i = 0; i < srv->n_ipc; i++)
        if (unlink(srv->ipc_paths[i]) < 0 && errno != ENOENT)
            log_warn("cannot remove %s: %s", srv->ipc_paths[i],
                     strerror(errno));
    /* The closed handles (the pool's async one too, even when start-up
     * failed before the socket was polled) stay on the loop's lists,
     * inside srv, until the loop has run their close callbacks. */
    if (closing)
        uv_run(srv->loop, UV_RUN_NOWAIT);
    free(srv);
}

void srv_begin_drain(srv_server *srv)
{
    if (srv->poll_started)
        uv_poll_stop(&srv->poll);
}

uint32_t srv_waiting(const srv_server *srv)
{
    return str_waiting(srv->streams);
}

void srv_apply_runtime(srv_server *srv, const cfg_config *cfg)
{
    srv->limits.max_message = cfg->max_request;
    str_set_timeouts(srv->streams, (uint64_t)cfg->stream_timeout * 1000,
                     (uint64_t)cfg->shared_lease * 1000);
}

void srv_get_stats(const srv_server *srv, srv_stats *out)
{
    *out = srv->stats;
    out->streams_open = str_count(srv->streams);
    out->ring_free = srv->ring.n_free;
    out->ring_slots = srv->ring.n;
}
