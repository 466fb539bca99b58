/*
 * server.c — see server.h: the socket, requests and replies, start and
 * stop. The stats JSON is written by server_stats.c.
 */
#include "server.h"

#include <errno.h>
#include <malloc.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "batch.h"
#include "fdlimit.h"
#include "digest.h"
#include "ipcperm.h"
#include "log.h"
#include "proto.h"
#include "ring.h"
#include "server_internal.h"
#include "streams.h"
#include "workers.h"

/* nanomsg drops (silently) any message above its receive limit; ours is
 * checked by the decoder so that an oversized request gets an error reply.
 * Requests above this hard ceiling only lose their connection. */
#define SRV_NN_RCVMAX (1 << 20)
#define SRV_RECV_BURST 64 /* requests handled per wake-up before yielding */

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

static void send_small(srv_server *srv, void *control, const uint8_t *buf,
                       int len);

/* The socket path: the slot's bytes go into a message of nanomsg's own
 * (the slot is free again at once); the copy counts against
 * server.max_copy_bytes until the client's next request (streams.c). */
static void send_copy(void *ctx, void *control, uint64_t request_id,
                      const uint8_t *bytes, size_t size)
{
    srv_server *srv = ctx;
    uint8_t *msg = nn_allocmsg(size, 0);
    if (!msg) {
        log_warn("no memory for a reply of %zu bytes", size);
        nn_freemsg(control);
        return;
    }
    memcpy(msg, bytes, size);
    mxp_set_request_id(msg, request_id);
    srv->stats.batches_sent++;
    send_msg(srv, control, msg, size);
}

/* The zero-copy path: a reference to the lent slot. */
static void send_ref(void *ctx, void *control, uint64_t request_id,
                     const mxp_batch_ref *ref)
{
    srv_server *srv = ctx;
    uint8_t buf[MXP_HEADER_SIZE + MXP_BATCH_REF_BODY];
    int len = mxp_encode_batch_ref_rep(buf, sizeof buf, request_id, ref);
    srv->stats.batches_sent++;
    send_small(srv, control, buf, len);
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

/* The pipeline a request names ("" is main), or NULL with @err listing
 * the known ones. */
static srv_pipe *find_pipe(srv_server *srv, const char *name, size_t len,
                           char *err, size_t errlen)
{
    if (len == 0)
        return &srv->pipes[0];
    for (int i = 0; i < srv->n_pipes; i++)
        if (strlen(srv->pipes[i].name) == len &&
            !memcmp(srv->pipes[i].name, name, len))
            return &srv->pipes[i];
    size_t at = (size_t)snprintf(err, errlen, "unknown pipeline '%.*s' "
                                 "(this daemon serves:", (int)len, name);
    for (int i = 0; i < srv->n_pipes && at < errlen; i++)
        at += (size_t)snprintf(err + at, errlen - at, " %s",
                               srv->pipes[i].name);
    if (at < errlen)
        snprintf(err + at, errlen - at, ")");
    return NULL;
}

/* The pipeline whose table a stream id belongs to (str_id_tag). */
static srv_pipe *pipe_of_stream(srv_server *srv, uint64_t stream_id)
{
    uint32_t tag = str_id_tag(stream_id);
    return tag < (uint32_t)srv->n_pipes ? &srv->pipes[tag] : &srv->pipes[0];
}

/* The pipelines' names, comma-separated (INFO). */
static size_t pipeline_list(const srv_server *srv, char *buf, size_t cap)
{
    size_t at = 0;
    for (int i = 0; i < srv->n_pipes && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%s", i ? "," : "",
                               srv->pipes[i].name);
    return at < cap ? at : cap - 1;
}

static void handle_info(srv_server *srv, void *control, const mxp_request *req)
{
    char err[512], list[MXP_PIPELINE_LIST_MAX];
    srv_pipe *p = find_pipe(srv, req->u.info.pipeline,
                            req->u.info.pipeline_len, err, sizeof err);
    if (!p) {
        send_error(srv, control, req->hdr.request_id, MIXUP_EINVAL, err);
        return;
    }
    const ds_dataset *ds = p->plan.ds;
    mxp_info_rep info = {
        .samples = ds->n,
        .batches_per_epoch = smp_batches_per_epoch(&p->plan.smp),
        .height = ds->h,
        .width = ds->w,
        .channels = ds->c,
        .classes = ds->classes,
        .batch_size = p->plan.smp.batch_size,
        .alpha = (float)p->plan.smp.alpha,
        .shuffle = (uint32_t)p->plan.smp.shuffle,
        .source_dtype = ds->dtype,
        .flags = p->plan.smp.keep_last ? MXP_INFO_KEEP_LAST : 0,
        .pipeline = p->name,
        .pipeline_len = (uint16_t)strlen(p->name),
        .pipelines = list,
        .pipelines_len = (uint16_t)pipeline_list(srv, list, sizeof list),
        .dataset_digest = ds->digest,
        .settings_digest = p->settings_digest,
    };
    uint8_t buf[MXP_HEADER_SIZE + MXP_INFO_BODY_MAX];
    send_small(srv, control, buf,
               mxp_encode_info_rep(buf, sizeof buf, req->hdr.request_id,
                                   &info));
}

static void handle_open(srv_server *srv, void *control, const mxp_request *req)
{
    char err[512];
    mxp_open_rep rep;
    srv_pipe *p = find_pipe(srv, req->u.open.pipeline,
                            req->u.open.pipeline_len, err, sizeof err);
    int rc = p ? str_open(p->streams, &req->u.open, req->hdr.request_id,
                          now_ms(srv), &rep, err, sizeof err)
               : MIXUP_EINVAL;
    if (rc < 0) {
        log_limited(LOG_KIND_OPEN_REFUSED, LOG_INFO_, "OPEN refused: %s",
                    err);
        send_error(srv, control, req->hdr.request_id, rc, err);
        return;
    }
    size_t name_len = strlen(p->ring.seg.name);
    if (srv->lend && name_len < sizeof rep.ring_name) {
        memcpy(rep.ring_name, p->ring.seg.name, name_len + 1);
        memcpy(rep.ring_token, p->ring.token, sizeof rep.ring_token);
        rep.ring_bytes = p->ring.seg.size;
        rep.max_held = srv->max_held;
    }
    rep.dataset_digest = p->plan.ds->digest;
    rep.settings_digest = p->settings_digest;
    log_debug("stream %llx opened in pipeline %s: seed %llu, start %llu:%llu",
             (unsigned long long)rep.stream_id, p->name,
             (unsigned long long)req->u.open.seed,
             (unsigned long long)rep.start_epoch,
             (unsigned long long)rep.start_batch);
    uint8_t buf[MXP_HEADER_SIZE + MXP_OPEN_REP_BODY + MXP_STREAM_KEY_SIZE];
    uint8_t key[MXP_STREAM_KEY_SIZE];
    int n = mxp_encode_open_rep(buf, sizeof buf, req->hdr.request_id, &rep);
    if (n > 0 && str_stream_key(p->streams, rep.stream_id, key) == 0)
        n = mxp_append_trailer(buf, sizeof buf, (size_t)n,
                               MXP_FLAG_STREAM_KEY, key);
    send_small(srv, control, buf, n);
}

/* NEXT and CLOSE act on a stream only with its key: a stream id (shown in
 * stats) alone does not let another client consume or close it. */
static int refuse_foreign(srv_server *srv, void *control,
                          const mxp_request *req, str_table *streams,
                          uint64_t stream_id)
{
    if (str_check_key(streams, stream_id, req->stream_key) != MIXUP_EAUTH)
        return 0; /* the key, or no such stream (the handler says so) */
    srv->stats.auth_refused++;
    log_limited(LOG_KIND_AUTH_REFUSED, LOG_WARN_,
                "%s of stream %llx refused: %s stream key",
                mxp_type_name(req->hdr.type), (unsigned long long)stream_id,
                req->stream_key ? "wrong" : "no");
    char err[160];
    snprintf(err, sizeof err, "stream %llx belongs to the client that "
             "opened it (%s stream key)", (unsigned long long)stream_id,
             req->stream_key ? "wrong" : "no");
    send_error(srv, control, req->hdr.request_id, MIXUP_EAUTH, err);
    return 1;
}

static void handle_next(srv_server *srv, void *control, const mxp_request *req)
{
    char err[256];
    srv_pipe *p = pipe_of_stream(srv, req->u.next.stream_id);
    if (refuse_foreign(srv, control, req, p->streams, req->u.next.stream_id))
        return;
    int rc = str_next(p->streams, &req->u.next, req->hdr.request_id,
                      control, now_ms(srv), err, sizeof err);
    if (rc < 0)
        send_error(srv, control, req->hdr.request_id, rc, err);
}

static void handle_close(srv_server *srv, void *control, const mxp_request *req)
{
    str_table *streams = pipe_of_stream(srv, req->u.stream_id)->streams;
    if (refuse_foreign(srv, control, req, streams, req->u.stream_id))
        return;
    int rc = str_close(streams, req->u.stream_id);
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
    if (req->u.stats_format == MXP_STATS_JSON) {
        json_object *stats = srv_describe_json(srv);
        if (!stats) {
            fclose(out);
            free(text);
            send_error(srv, control, req->hdr.request_id, MIXUP_ENOMEM,
                       "out of memory for stats");
            return;
        }
        jw_write(stats, out);
        fputc('\n', out);
        json_object_put(stats);
    } else
        for (int i = 0; i < srv->n_pipes; i++) {
            fprintf(out, "pipeline %s: dataset digest %016llx, settings "
                    "digest %016llx\n", srv->pipes[i].name,
                    (unsigned long long)srv->pipes[i].plan.ds->digest,
                    (unsigned long long)srv->pipes[i].settings_digest);
            str_describe_text(srv->pipes[i].streams, srv->pipes[i].name,
                              now_ms(srv), out);
        }
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

/* The first step of a client with a token: the daemon proves it has the
 * token too (auth.h). Costs nothing to keep: the reply is all there is. */
static void handle_hello(srv_server *srv, void *control, const mxp_request *req)
{
    char err[256];
    uint8_t nonce[MXP_NONCE_SIZE], proof[MXP_MAC_SIZE];
    int rc = auth_hello(&srv->auth, req->u.hello_nonce, nonce, proof, err,
                        sizeof err);
    if (rc < 0) {
        send_error(srv, control, req->hdr.request_id, rc, err);
        return;
    }
    uint8_t buf[MXP_HEADER_SIZE + MXP_HELLO_REP_BODY];
    send_small(srv, control, buf,
               mxp_encode_hello_rep(buf, sizeof buf, req->hdr.request_id,
                                    nonce, proof));
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
    if (req.hdr.type == MXP_HELLO_REQ) {
        handle_hello(srv, control, &req);
        nn_freemsg(body);
        return;
    }
    const char *why;
    if (!auth_accepts(&srv->auth, body, len, &req, &why)) {
        srv->stats.auth_refused++;
        log_limited(LOG_KIND_AUTH_REFUSED, LOG_WARN_,
                    "%s request refused: %s", mxp_type_name(req.hdr.type),
                    why);
        snprintf(err, sizeof err, "%s: this daemon requires proof of the "
                 "token of its server.auth_token_file (client: token_file "
                 "option, $MIXUPD_TOKEN_FILE or --token-file)", why);
        send_error(srv, control, req.hdr.request_id, MIXUP_EAUTH, err);
        nn_freemsg(body);
        return;
    }
    log_debug("%s request %llu (%zu bytes)", mxp_type_name(req.hdr.type),
              (unsigned long long)req.hdr.request_id, len);
    switch (req.hdr.type) {
    case MXP_INFO_REQ: handle_info(srv, control, &req); break;
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

/* The heap keeps freed batch copies for the next ones (main.c): no page
 * faults per batch. Once a second, if copies were made, give back what is
 * free, so that memory of clients that went away (nanomsg frees their
 * replies) returns to the system; it costs one batch's page faults a
 * second. */
static void trim_heap(srv_server *srv)
{
    str_counters c;
    srv_sum_counters(srv, &c);
    uint64_t copied = c.batches_copied;
    size_t in_flight = srv_copy_bytes_in_flight(srv);
    /* Copies were made, or some left (their clients asked again, or went
     * and their streams expired): what is free now goes back. */
    if (copied != srv->copied_at_trim || in_flight < srv->in_flight_at_trim) {
        malloc_trim(0);
        srv->copied_at_trim = copied;
    }
    srv->in_flight_at_trim = in_flight;
}

static void on_timer(uv_timer_t *timer)
{
    srv_server *srv = timer->data;
    log_connections(srv);
    log_rate_tick();
    fdl_check(now_ms(srv));
    uint64_t open = nn_get_statistic(srv->sock, NN_STAT_CURRENT_CONNECTIONS);
    for (int i = 0; i < srv->n_pipes; i++) {
        str_tick(srv->pipes[i].streams, now_ms(srv));
        str_set_connections(srv->pipes[i].streams, open);
    }
    trim_heap(srv);
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
    size_t largest = 0;
    for (int i = 0; i < srv->n_pipes; i++)
        if (srv->pipes[i].plan.layout.total > largest)
            largest = srv->pipes[i].plan.layout.total;
    int sndbuf = largest < (4u << 20) ? (int)largest : 4 << 20;
    nn_setsockopt(srv->sock, NN_SOL_SOCKET, NN_SNDBUF, &sndbuf, sizeof sndbuf);
    for (int i = 0; i < cfg->n_endpoints; i++) {
        const char *ep = cfg->endpoints[i];
        mode_t umask_was = ipc_bind_begin();
        int bound = nn_bind(srv->sock, ep);
        ipc_bind_end(umask_was);
        if (bound < 0) {
            int e = nn_errno();
            snprintf(err, errlen, "cannot bind server.endpoint %s: %s%s", ep,
                     nn_strerror(e), e == EADDRINUSE
                         ? " (another daemon listens there: give this one "
                           "its own server.endpoint)"
                         : "");
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

/* Pipeline @i: its plan, its ring (segment "ring", or "ring-NAME"
 * beside main's) and its streams. */
static int start_pipe(srv_server *srv, int i, const cfg_config *cfg,
                      const srv_pipeline_def *def, char *err, size_t errlen)
{
    srv_pipe *p = &srv->pipes[i];
    char why[512], what[32];
    snprintf(p->name, sizeof p->name, "%s", def->name);
    p->settings_digest = dg_settings(def->cfg);
    int rc = bat_plan_from_config(&p->plan, def->ds, def->cfg, why,
                                  sizeof why);
    if (rc < 0) {
        if (i)
            snprintf(err, errlen, "pipeline '%s': %s", p->name, why);
        else
            snprintf(err, errlen, "%s", why);
        return rc;
    }
    size_t batch_bytes = p->plan.layout.total;
    if (cfg->max_copy_bytes < batch_bytes) {
        snprintf(err, errlen, "server.max_copy_bytes = %llu is below one "
                 "batch of pipeline '%s' (%zu bytes with its settings)",
                 (unsigned long long)cfg->max_copy_bytes, p->name,
                 batch_bytes);
        return MIXUP_ECONFIG;
    }
    snprintf(what, sizeof what, i ? "ring-%s" : "ring", p->name);
    ring_config rc_cfg = {
        .instance = cfg->name,
        .what = what,
        .slots = cfg->ring_slots,
        .msg_size = batch_bytes,
        .scratch_size = p->plan.scratch_bytes,
        .mode = (unsigned)strtoul(cfg->shm_mode, NULL, 8),
    };
    if ((rc = ring_init(&p->ring, &rc_cfg, err, errlen)) < 0)
        return rc;
    str_limits lim = {
        .max_streams = cfg->max_streams,
        .prefetch = cfg->prefetch,
        .max_held = srv->lend ? srv->max_held : 0,
        .max_copy_bytes = cfg->max_copy_bytes,
        .idle_timeout_ms = (uint64_t)cfg->stream_timeout * 1000,
        .shared_lease_ms = (uint64_t)cfg->shared_lease * 1000,
        .id_tag = (uint32_t)i,
    };
    str_io io = {.send_copy = send_copy, .send_ref = send_ref, .ctx = srv};
    rc = str_table_new(&p->streams, &lim, &p->plan, &srv->pool, &p->ring,
                       &io);
    if (rc < 0) {
        snprintf(err, errlen, "out of memory for %u streams", cfg->max_streams);
        return rc;
    }
    log_info("pipeline %s: ring of %u slots of %zu bytes in %s (mode %s), "
             "%llu batches per epoch", p->name, p->ring.n, p->ring.slot_size,
             p->ring.seg.name, cfg->shm_mode,
             (unsigned long long)smp_batches_per_epoch(&p->plan.smp));
    return 0;
}

static int start_compute(srv_server *srv, const cfg_config *cfg,
                         const srv_pipeline_def *defs, int n, char *err,
                         size_t errlen)
{
    srv->lend = cfg->shm_delivery == 0;
    srv->max_held = cfg->max_held;
    srv->max_copy_bytes = cfg->max_copy_bytes;
    for (int i = 0; i < n; i++) {
        int rc = start_pipe(srv, i, cfg, &defs[i], err, errlen);
        srv->n_pipes = i + 1; /* srv_stop frees what was made */
        if (rc < 0)
            return rc;
    }
    int rc = wrk_pool_start(&srv->pool, srv->loop, cfg->workers);
    if (rc < 0) {
        snprintf(err, errlen, "cannot start %u worker threads", cfg->workers);
        return rc;
    }
    log_info("batches %s", srv->lend ? "lent to local clients"
                                     : "copied to every client");
    return 0;
}

int srv_start(srv_server **out, uv_loop_t *loop, const cfg_config *cfg,
              const srv_pipeline_def *defs, int n, char *err, size_t errlen)
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
    srv->config_digest = dg_config(cfg);
    int rc = auth_prepare(&srv->auth, cfg, err, errlen);
    if (rc == 0)
        rc = n >= 1 && n <= SRV_MAX_PIPELINES
                 ? start_compute(srv, cfg, defs, n, err, errlen)
                 : MIXUP_EINVAL;
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
    for (int i = 0; i < srv->n_pipes; i++)
        if (srv->pipes[i].streams)
            str_drop_pending(srv->pipes[i].streams);
    /* The pool closes its async handle: one more handle to finish. */
    int closing = srv->poll_started || srv->timer_started ||
                  srv->pool.started;
    wrk_pool_stop(&srv->pool);
    for (int i = 0; i < srv->n_pipes; i++) {
        str_table_free(srv->pipes[i].streams);
        ring_destroy(&srv->pipes[i].ring);
    }
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
    uint32_t n = 0;
    for (int i = 0; i < srv->n_pipes; i++)
        n += str_waiting(srv->pipes[i].streams);
    return n;
}

void srv_apply_runtime(srv_server *srv, const cfg_config *cfg)
{
    srv->limits.max_message = cfg->max_request;
    for (int i = 0; i < srv->n_pipes; i++)
        str_set_timeouts(srv->pipes[i].streams,
                         (uint64_t)cfg->stream_timeout * 1000,
                         (uint64_t)cfg->shared_lease * 1000);
}

void srv_get_stats(const srv_server *srv, srv_stats *out)
{
    *out = srv->stats;
    out->streams_open = 0;
    out->ring_free = out->ring_slots = 0;
    for (int i = 0; i < srv->n_pipes; i++) {
        out->streams_open += str_count(srv->pipes[i].streams);
        out->ring_free += ring_count(&srv->pipes[i].ring, RING_FREE);
        out->ring_slots += srv->pipes[i].ring.n;
    }
}
