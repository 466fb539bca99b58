/*
 * client.c — libmixup: the C client library (mixup.h).
 *
 * One client is one nanomsg REQ socket (connected to one or more daemons)
 * and at most one stream. REQ keeps one request in flight and re-sends it
 * when a connection drops; our request ids make a re-sent request the same
 * request for the daemon, and a retry after a timeout or a signal reuses
 * the id so that no batch is skipped.
 *
 * With the spread option the client stripes its stream over its
 * endpoints instead: stripe.c, one member client (socket, ring) per
 * daemon, attached by connect.c as a layer (c->layer) that the stream
 * calls below hand over to.
 */
#include <errno.h>
#include <fcntl.h>
#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>
#include <pwd.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <libgen.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batches.h"
#include "client_internal.h"
#include "lend.h"
#include "mixup.h"
#include "proto.h"

#define CLIENT_DEFAULT_TIMEOUT_MS MIXUP_DEFAULT_TIMEOUT_MS
#define CLIENT_CLOSE_TIMEOUT_MS 1000

struct mixup_client {
    int sock;
    int timeout_ms;
    uint64_t next_request_id;
    int has_stream;
    uint64_t stream_id;
    uint64_t batches_per_epoch; /* of the dataset's epoch */
    uint64_t stream_per_epoch;  /* this stream's share */
    mixup_mode mode;
    uint32_t rank, world;
    int has_position;
    uint64_t pos_epoch, pos_batch;
    int retry_next;           /* the last NEXT got no reply: reuse its id */
    uint64_t retry_request_id;
    int retry_open;           /* the last OPEN got no reply: reuse its id */
    uint64_t retry_open_id;   /* ... if the same OPEN is asked again */
    uint8_t last_open[MXP_HEADER_SIZE + MXP_OPEN_FIXED + MXP_JOB_MAX +
                      MXP_PIPELINE_MAX];
    int last_open_len;
    uint8_t open_nonce[MXP_NONCE_SIZE]; /* of the last OPEN: its retry
                                            repeats it (proto.h) */
    uint64_t seq;               /* deliveries seen on this stream */
    mixup_stream_options opts; /* as opened, to reopen after a failover */
    char job[MXP_JOB_MAX + 1];
    char pipeline[MXP_PIPELINE_MAX + 1];
    uint64_t reopens;
    int reopen_pending;         /* a reopen timed out: the next call retries */
    char **eps;                 /* the endpoints, in the current order */
    size_t n_eps;
    mixup_transport transport;  /* asked for at connect */
    cl_ring *ring;              /* mapped: batches are lent, not copied */
    char no_ring[256];          /* why not, when the daemon offered it */
    uint8_t next_req[MXP_HEADER_SIZE + MXP_NEXT_FIXED + 8 * MXP_RELEASE_MAX];
    int next_len;               /* the NEXT in flight, resent as it was */
    uint64_t async_id;          /* the request cl_*_send() sent */
    uint16_t open_stride, open_offset; /* of the next OPEN (striping) */
    uint64_t dataset_digest, settings_digest; /* of the last OPEN reply */
    const cl_layer_ops *layer_ops; /* spread: the stream is striped */
    void *layer;
    int has_token;              /* requests carry a proof of the token */
    uint8_t token[MXP_TOKEN_SIZE];
    int has_session;            /* the daemon proved it has the token */
    uint8_t nonce[MXP_NONCE_SIZE], daemon_nonce[MXP_NONCE_SIZE];
    uint8_t session_key[MXP_MAC_SIZE];
    int has_key;                /* NEXT and CLOSE carry the stream's key */
    uint8_t stream_key[MXP_STREAM_KEY_SIZE];
    char err[MXP_ERRMSG_MAX + 256];
};

/* The message of this thread's last failed mixup_client_connect(): the
 * client it would have filled in is gone. */
static __thread char connect_error[MXP_ERRMSG_MAX + 256];

/* The client's error text (client_internal.h: stripe.c reports through
 * it too); set_error is its name in this file. */
int cl_set_error(mixup_client *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return code;
}

#define set_error cl_set_error

MIXUP_API void mixup_client_options_init(mixup_client_options *opts)
{
    *opts = (mixup_client_options){.timeout_ms = CLIENT_DEFAULT_TIMEOUT_MS,
                                   .transport = MIXUP_TRANSPORT_AUTO,
                                   .token_file = NULL};
}

MIXUP_API void mixup_stream_options_init(mixup_stream_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->mode = MIXUP_MODE_INDEPENDENT;
}

static int apply_timeout(int sock, int timeout_ms)
{
    if (nn_setsockopt(sock, NN_SOL_SOCKET, NN_RCVTIMEO, &timeout_ms,
                      sizeof timeout_ms) < 0 ||
        nn_setsockopt(sock, NN_SOL_SOCKET, NN_SNDTIMEO, &timeout_ms,
                      sizeof timeout_ms) < 0)
        return MIXUP_EINVAL;
    return 0;
}

MIXUP_API int mixup_client_set_timeout(mixup_client *c, int timeout_ms)
{
    if (!c || timeout_ms < -1)
        return MIXUP_EINVAL;
    int rc = apply_timeout(c->sock, timeout_ms);
    if (rc == 0)
        c->timeout_ms = timeout_ms;
    if (rc == 0 && c->layer)
        c->layer_ops->set_timeout(c->layer, timeout_ms);
    return rc;
}

static int open_socket(mixup_client *c, const char *const *eps, size_t n)
{
    c->sock = nn_socket(AF_SP, NN_REQ);
    if (c->sock < 0)
        return set_error(c, MIXUP_ESYS, "cannot create a nanomsg socket: %s",
                         nn_strerror(nn_errno()));
    /* Batches are far above nanomsg's 1 MiB default, which would drop the
     * connection (and make REQ re-send forever). */
    int unlimited = -1;
    nn_setsockopt(c->sock, NN_SOL_SOCKET, NN_RCVMAXSIZE, &unlimited,
                  sizeof unlimited);
    if (apply_timeout(c->sock, c->timeout_ms) < 0)
        return set_error(c, MIXUP_EINVAL, "timeout %d ms rejected",
                         c->timeout_ms);
    for (size_t i = 0; i < n; i++) {
        if (!eps[i])
            return set_error(c, MIXUP_EINVAL, "endpoint %zu is NULL", i);
        /* Requests go to the first endpoint that works, in the order given,
         * rather than round-robin: a stream lives on one daemon. */
        int prio = i < 15 ? (int)i + 1 : 16;
        nn_setsockopt(c->sock, NN_SOL_SOCKET, NN_SNDPRIO, &prio, sizeof prio);
        if (nn_connect(c->sock, eps[i]) < 0)
            return set_error(c, MIXUP_ECONNECT, "endpoint '%s': %s", eps[i],
                             nn_strerror(nn_errno()));
    }
    return 0;
}

static void free_endpoints(mixup_client *c)
{
    for (size_t i = 0; c->eps && i < c->n_eps; i++)
        free(c->eps[i]);
    free(c->eps);
    c->eps = NULL;
}

/* Failing over on a timeout rebuilds the socket: keep the list. */
static int keep_endpoints(mixup_client *c, const char *const *eps, size_t n)
{
    if (!(c->eps = calloc(n, sizeof *c->eps)))
        return set_error(c, MIXUP_ENOMEM, "out of memory");
    c->n_eps = n;
    for (size_t i = 0; i < n; i++)
        if (!(c->eps[i] = strdup(eps[i])))
            return set_error(c, MIXUP_ENOMEM, "out of memory");
    return 0;
}

/* A daemon that stops answering but keeps its connection (stopped,
 * overloaded, a host that hangs) is never left by nanomsg, which only
 * re-sends when a connection drops: move the endpoint that did not answer
 * (the first of the current order, the one nanomsg prefers) to the end
 * and connect again. The next requests go to the next daemon. */
static int fail_over(mixup_client *c)
{
    char *first = c->eps[0];
    memmove(c->eps, c->eps + 1, (c->n_eps - 1) * sizeof *c->eps);
    c->eps[c->n_eps - 1] = first;
    nn_close(c->sock);
    c->sock = -1;
    int rc = open_socket(c, (const char *const *)c->eps, c->n_eps);
    if (rc < 0)
        return rc;
    c->retry_next = 0;  /* those requests were the other daemon's */
    c->retry_open = 0;
    c->has_session = 0; /* the next daemon proves itself again */
    c->reopen_pending = 1;
    return 0;
}

/* Whether a socket file owned by @uid is the daemon's for this client:
 * its own, root's, or that of the user $MIXUPD_DAEMON_USER names (a name
 * or a number). */
static int trusted_owner(uid_t uid)
{
    if (uid == getuid() || uid == geteuid() || uid == 0)
        return 1;
    const char *who = getenv("MIXUPD_DAEMON_USER");
    if (!who || !*who)
        return 0;
    char buf[4096];
    struct passwd pw, *res = NULL;
    if (getpwnam_r(who, &pw, buf, sizeof buf, &res) == 0 && res)
        return pw.pw_uid == uid;
    char *end;
    unsigned long v = strtoul(who, &end, 10);
    return !*end && v == (unsigned long)uid;
}

/* The directory of socket @path, if nobody but its owner may create files
 * in it and that owner is root or the socket's @owner (as systemd's
 * RuntimeDirectory for a service's DynamicUser): then only the daemon (or
 * root) put the socket there, whoever runs it. 1 if so, with @dir. */
static int private_dir(const char *path, uid_t owner, char *dir, size_t cap,
                       struct stat *st)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(dir, cap, "%s", dirname(copy));
    return stat(dir, st) == 0 && S_ISDIR(st->st_mode) &&
           !(st->st_mode & (S_IWGRP | S_IWOTH)) &&
           (st->st_uid == 0 || st->st_uid == owner);
}

/* A socket file that someone else may have created (a fallback path in
 * /tmp while the daemon is down) is not connected to: whoever listens
 * there would answer in the daemon's name. */
static int check_ipc_owner(mixup_client *c, const char *ep,
                           const struct stat *st)
{
    char dir[4096];
    struct stat dst;
    if (trusted_owner(st->st_uid) ||
        private_dir(ep + 6, st->st_uid, dir, sizeof dir, &dst))
        return 0;
    return set_error(c, MIXUP_ECONNECT, "endpoint '%s': the socket belongs "
                     "to uid %u, not to you, root or $MIXUPD_DAEMON_USER, "
                     "and its directory %s (mode %04o, owner uid %u) lets "
                     "others create files there: anyone could be listening "
                     "in mixupd's place. Give the daemon an endpoint in a "
                     "directory of its own (as the service's /run/mixupd), "
                     "or set MIXUPD_DAEMON_USER to the user that runs it",
                     ep, (unsigned)st->st_uid, dir,
                     (unsigned)(dst.st_mode & 07777), (unsigned)dst.st_uid);
}

/* nanomsg connects in the background and retries forever, so a socket
 * file that is missing or not ours to open would only show as a timeout
 * later. With one endpoint say so now; with several, the others are the
 * point (failover): a missing one is not an error. Every socket file
 * there is must be the daemon's (check_ipc_owner). */
static int check_ipc_endpoint(mixup_client *c, const char *const *eps,
                              size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!eps[i] || strncmp(eps[i], "ipc://", 6) != 0)
            continue;
        const char *path = eps[i] + 6;
        struct stat st;
        const char *why = NULL;
        if (stat(path, &st) < 0 ||
            (S_ISSOCK(st.st_mode) && access(path, W_OK) < 0))
            why = errno == ENOENT ? "no such socket file (is mixupd "
                                    "running, and listening there?)"
                : errno == EACCES ? "permission denied (connecting needs "
                                    "write permission on the socket and "
                                    "search permission on its directories: "
                                    "see the daemon's server.ipc_mode and "
                                    "ipc_group)"
                                  : strerror(errno);
        else if (!S_ISSOCK(st.st_mode))
            why = "it is not a socket";
        else if (check_ipc_owner(c, eps[i], &st) < 0)
            return MIXUP_ECONNECT;
        if (why && n == 1)
            return set_error(c, MIXUP_ECONNECT, "endpoint '%s': cannot open "
                             "%s: %s", eps[i], path, why);
    }
    return 0;
}

/* The daemon's token, from @opts->token_file or else $MIXUPD_TOKEN_FILE
 * (none when both are unset or empty). */
static int load_token(mixup_client *c, const mixup_client_options *opts)
{
    const char *path = opts && opts->token_file ? opts->token_file
                                                : getenv("MIXUPD_TOKEN_FILE");
    if (!path || !*path)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return set_error(c, MIXUP_EINVAL, "token file %s: %s", path,
                         strerror(errno));
    struct stat st;
    char text[256];
    ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
                    ? read(fd, text, sizeof text)
                    : -2;
    close(fd);
    if (n < 0)
        return set_error(c, MIXUP_EINVAL, "token file %s: %s", path,
                         n == -2 ? "not a regular file" : strerror(errno));
    char why[256];
    if (mxp_token_parse(text, (size_t)n, c->token, why, sizeof why) < 0)
        return set_error(c, MIXUP_EINVAL, "token file %s: %s", path, why);
    c->has_token = 1;
    return 0;
}

/* Request ids start at a random point: the daemon recognises a retried
 * OPEN by its id, so ids of different clients should not meet. */
static uint64_t first_request_id(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, GRND_NONBLOCK) != sizeof id)
        id = (uint64_t)time(NULL) * 6364136223846793005ull ^
             (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)&id;
    return (id >> 2) + 1; /* far from wrapping, never 0 */
}

int cl_client_connect(mixup_client **out, const char *const *endpoints,
                      size_t n_endpoints, const mixup_client_options *opts)
{
    if (!out || !endpoints || n_endpoints == 0)
        return MIXUP_EINVAL;
    *out = NULL;
    if (opts && (opts->timeout_ms < -1 ||
                 (unsigned)opts->transport > MIXUP_TRANSPORT_SOCKET))
        return MIXUP_EINVAL;
    mixup_client *c = calloc(1, sizeof *c);
    if (!c)
        return MIXUP_ENOMEM;
    c->timeout_ms = opts ? opts->timeout_ms : CLIENT_DEFAULT_TIMEOUT_MS;
    c->transport = opts ? opts->transport : MIXUP_TRANSPORT_AUTO;
    c->next_request_id = first_request_id();
    c->sock = -1;
    int rc = sodium_init() < 0
                 ? set_error(c, MIXUP_ESYS, "libsodium cannot start")
                 : load_token(c, opts);
    if (rc == 0)
        rc = check_ipc_endpoint(c, endpoints, n_endpoints);
    if (rc == 0)
        rc = open_socket(c, endpoints, n_endpoints);
    if (rc == 0)
        rc = keep_endpoints(c, endpoints, n_endpoints);
    if (rc < 0) {
        memcpy(connect_error, c->err, sizeof connect_error);
        if (c->sock >= 0)
            nn_close(c->sock);
        free_endpoints(c);
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void cl_client_attach(mixup_client *c, const cl_layer_ops *ops, void *layer)
{
    c->layer_ops = ops;
    c->layer = layer;
}

void cl_client_discard(mixup_client *c)
{
    memcpy(connect_error, c->err, sizeof connect_error);
    mixup_client_close(c);
}

static int nn_failure(mixup_client *c, const char *what)
{
    int e = nn_errno();
    if (e == ETIMEDOUT)
        return set_error(c, MIXUP_ETIMEDOUT,
                         "%s: no reply within %d ms (is mixupd running?)",
                         what, c->timeout_ms);
    if (e == EINTR)
        return set_error(c, MIXUP_EINTR, "%s: interrupted by a signal", what);
    return set_error(c, MIXUP_ESYS, "%s: %s", what, nn_strerror(e));
}

/* Send @req with the trailers this client owes (proto.h): the stream's
 * key on NEXT and CLOSE, then the proof that it knows the token (signed
 * with the session's key: the token itself never leaves). Every request
 * but HELLO leaves through here, after ensure_session(). Return as
 * nn_send (@flags: nn_send's). */
static int send_request(mixup_client *c, const uint8_t *req, size_t len,
                        int flags)
{
    uint16_t type = (uint16_t)(req[6] | req[7] << 8);
    int key = c->has_key && (type == MXP_NEXT_REQ || type == MXP_CLOSE_REQ);
    if (!key && !c->has_token)
        return nn_send(c->sock, req, len, flags);
    size_t size = len + (key ? MXP_STREAM_KEY_SIZE : 0) +
                  (c->has_token ? MXP_AUTH_TRAILER : 0);
    uint8_t *msg = nn_allocmsg(size, 0);
    if (!msg)
        return -1;
    memcpy(msg, req, len);
    int n = (int)len;
    if (key)
        n = mxp_append_trailer(msg, size, (size_t)n, MXP_FLAG_STREAM_KEY,
                               c->stream_key);
    if (n >= 0 && c->has_token)
        n = mxp_auth_append(msg, size, (size_t)n, c->nonce, c->daemon_nonce,
                            c->session_key);
    void *p = msg;
    if (n != (int)size || nn_send(c->sock, &p, NN_MSG, flags) < 0) {
        nn_freemsg(msg);
        return -1;
    }
    return n;
}

/* The reply to @request_id (@what). On 0, *@msg is the reply (free with
 * nn_freemsg) and @rep is decoded; an ERROR reply becomes its code. With
 * NN_DONTWAIT in @flags, 1 when no reply is there yet. */
static int recv_reply(mixup_client *c, const char *what, uint64_t request_id,
                      int flags, void **msg, mxp_reply *rep)
{
    for (;;) {
        void *buf = NULL;
        int n = nn_recv(c->sock, &buf, NN_MSG, flags);
        if (n < 0 && (flags & NN_DONTWAIT) && nn_errno() == EAGAIN)
            return 1;
        if (n < 0)
            return nn_failure(c, what);
        char err[256];
        int rc = mxp_reply_decode(buf, (size_t)n, NULL, rep, err, sizeof err);
        if (rc == 0 && rep->hdr.request_id != request_id) {
            nn_freemsg(buf); /* a late reply to an abandoned request */
            continue;
        }
        if (rc < 0) {
            nn_freemsg(buf);
            return set_error(c, rc, "reply to %s: %s", what, err);
        }
        if (rep->hdr.type == MXP_ERROR_REP) {
            rc = rep->u.error.code;
            set_error(c, rc, "mixupd refused %s: %.*s (%s)", what,
                      (int)rep->u.error.msg_len, rep->u.error.msg,
                      mixup_err_name(rc));
            nn_freemsg(buf);
            return rc;
        }
        *msg = buf;
        return 0;
    }
}

static int expect_type(mixup_client *c, void *msg, const mxp_reply *rep,
                       uint16_t type);

/* The endpoints, for messages: REQ does not say which one answered. */
static const char *endpoint_list(const mixup_client *c, char *buf,
                                 size_t cap)
{
    buf[0] = 0;
    for (size_t i = 0, at = 0; i < c->n_eps && at < cap; i++) {
        int n = snprintf(buf + at, cap - at, "%s%s", i ? ", " : "",
                         c->eps[i]);
        at += n > 0 ? (size_t)n : 0;
    }
    return buf;
}

/* A client with a token first has the daemon prove it knows the token
 * too (HELLO, proto.h); until then nothing that depends on the token
 * leaves. The proof is over this client's fresh nonce, so an answer
 * recorded elsewhere does not pass. */
static int ensure_session(mixup_client *c)
{
    if (!c->has_token || c->has_session)
        return 0;
    if (getrandom(c->nonce, sizeof c->nonce, 0) != (ssize_t)sizeof c->nonce)
        return set_error(c, MIXUP_ESYS, "no random bytes for a nonce");
    uint8_t req[MXP_HEADER_SIZE + MXP_NONCE_SIZE];
    uint64_t id = c->next_request_id++;
    int len = mxp_encode_hello_req(req, sizeof req, id, c->nonce);
    if (nn_send(c->sock, req, (size_t)len, 0) < 0)
        return nn_failure(c, "HELLO");
    void *msg;
    mxp_reply rep;
    int rc = recv_reply(c, "HELLO", id, 0, &msg, &rep);
    if (rc < 0 || (rc = expect_type(c, msg, &rep, MXP_HELLO_REP)) < 0)
        return rc;
    uint8_t want[MXP_MAC_SIZE];
    mxp_auth_daemon_proof(c->token, c->nonce, rep.u.hello.nonce, want);
    int ok = mxp_mac_equal(want, rep.u.hello.proof);
    if (ok) {
        memcpy(c->daemon_nonce, rep.u.hello.nonce, MXP_NONCE_SIZE);
        mxp_auth_session_key(c->token, c->nonce, c->daemon_nonce,
                             c->session_key);
        c->has_session = 1;
    }
    nn_freemsg(msg);
    char eps[512];
    if (!ok)
        return set_error(c, MIXUP_EAUTH, "the peer at %s could not prove it "
                         "knows this client's token: it is not the daemon "
                         "the token belongs to (someone else listening "
                         "there, or a daemon with another token). Nothing "
                         "that depends on the token was sent",
                         endpoint_list(c, eps, sizeof eps));
    return 0;
}

/* Send @req and wait for its reply, as recv_reply(). */
static int roundtrip(mixup_client *c, const uint8_t *req, size_t len,
                     uint64_t request_id, void **msg, mxp_reply *rep)
{
    const char *what = mxp_type_name(req[6]);
    int rc = ensure_session(c);
    if (rc < 0)
        return rc;
    if (send_request(c, req, len, 0) < 0)
        return nn_failure(c, what);
    return recv_reply(c, what, request_id, 0, msg, rep);
}

/* Send @req if the socket can take it now (a HELLO first waits for its
 * reply). */
static int send_now(mixup_client *c, const uint8_t *req, size_t len)
{
    int rc = ensure_session(c);
    if (rc < 0)
        return rc;
    if (send_request(c, req, len, NN_DONTWAIT) >= 0)
        return 0;
    if (nn_errno() == EAGAIN)
        return set_error(c, MIXUP_ETIMEDOUT, "%s: the daemon is not "
                         "connected", mxp_type_name(req[6]));
    return nn_failure(c, mxp_type_name(req[6]));
}

static int expect_type(mixup_client *c, void *msg, const mxp_reply *rep,
                       uint16_t type)
{
    if (rep->hdr.type == type)
        return 0;
    nn_freemsg(msg);
    return set_error(c, MIXUP_EPROTO, "expected a %s, got a %s",
                     mxp_type_name(type), mxp_type_name(rep->hdr.type));
}

/* An INFO reply into the public struct; frees @msg. */
static void fill_info(mixup_info *info, void *msg, const mxp_reply *rep)
{
    const mxp_info_rep *i = &rep->u.info;
    *info = (mixup_info){
        .samples = i->samples,
        .height = i->height,
        .width = i->width,
        .channels = i->channels,
        .classes = i->classes,
        .batch_size = i->batch_size,
        .batches_per_epoch = i->batches_per_epoch,
        .alpha = i->alpha,
        .shuffle = i->shuffle,
        .protocol_version = rep->hdr.version,
        .keep_last = (i->flags & MXP_INFO_KEEP_LAST) != 0,
        .dataset_digest = i->dataset_digest,
        .settings_digest = i->settings_digest,
    };
    snprintf(info->pipeline, sizeof info->pipeline, "%.*s",
             (int)i->pipeline_len, i->pipeline);
    snprintf(info->pipelines, sizeof info->pipelines, "%.*s",
             (int)i->pipelines_len, i->pipelines);
    nn_freemsg(msg);
}

MIXUP_API int mixup_client_info(mixup_client *c, mixup_info *info)
{
    return mixup_pipeline_info(c, NULL, info);
}

MIXUP_API int mixup_pipeline_info(mixup_client *c, const char *pipeline,
                                  mixup_info *info)
{
    if (!c || !info)
        return MIXUP_EINVAL;
    uint8_t req[MXP_HEADER_SIZE + MXP_PIPELINE_MAX];
    uint64_t id = c->next_request_id++;
    int len = mxp_encode_info_req(req, sizeof req, id, pipeline);
    if (len < 0)
        return set_error(c, MIXUP_EINVAL, "pipeline name '%s' is not 1 .. %u "
                         "of A-Z a-z 0-9 _ -", pipeline, MXP_PIPELINE_MAX);
    void *msg;
    mxp_reply rep;
    int rc = roundtrip(c, req, (size_t)len, id, &msg, &rep);
    if (rc < 0 || (rc = expect_type(c, msg, &rep, MXP_INFO_REP)) < 0)
        return rc;
    fill_info(info, msg, &rep);
    return 0;
}

int cl_info_send(mixup_client *c, const char *pipeline)
{
    uint8_t req[MXP_HEADER_SIZE + MXP_PIPELINE_MAX];
    c->async_id = c->next_request_id++;
    int len = mxp_encode_info_req(req, sizeof req, c->async_id, pipeline);
    if (len < 0)
        return set_error(c, MIXUP_EINVAL, "pipeline name out of range");
    return send_now(c, req, (size_t)len);
}

int cl_info_recv(mixup_client *c, mixup_info *info)
{
    void *msg;
    mxp_reply rep;
    int rc = recv_reply(c, "INFO", c->async_id, NN_DONTWAIT, &msg, &rep);
    if (rc != 0 || (rc = expect_type(c, msg, &rep, MXP_INFO_REP)) < 0)
        return rc;
    fill_info(info, msg, &rep);
    return 0;
}

/* Zero copy when the daemon offers its ring, the client did not ask for
 * the socket, and the ring can be mapped here (same host, permission). */
static void use_ring(mixup_client *c, const mxp_open_rep *rep)
{
    c->no_ring[0] = 0;
    if (c->ring && cl_ring_is(c->ring, rep))
        return;
    cl_ring_unref(c->ring);
    c->ring = NULL;
    if (!rep->ring_name[0])
        snprintf(c->no_ring, sizeof c->no_ring,
                 "the daemon does not lend batches (server.shm_delivery = off)");
    else if (c->transport == MIXUP_TRANSPORT_SOCKET)
        snprintf(c->no_ring, sizeof c->no_ring, "the socket was asked for");
    else
        cl_ring_map(&c->ring, rep, c->no_ring, sizeof c->no_ring);
}

MIXUP_API int mixup_stream_open(mixup_client *c,
                                const mixup_stream_options *opts)
{
    if (!c)
        return MIXUP_EINVAL;
    if (c->has_stream)
        return set_error(c, MIXUP_ESTATE, "a stream is already open");
    if (c->layer)
        return c->layer_ops->open(c->layer, c, opts);
    mixup_stream_options defaults;
    if (!opts) {
        mixup_stream_options_init(&defaults);
        opts = &defaults;
    }
    size_t job_len = opts->job ? strlen(opts->job) : 0;
    if (job_len > MXP_JOB_MAX)
        return set_error(c, MIXUP_EINVAL, "job name of %zu bytes (at most %u)",
                         job_len, MXP_JOB_MAX);
    for (size_t i = 0; i < job_len; i++)
        if (opts->job[i] < 0x21 || opts->job[i] > 0x7e ||
            opts->job[i] == '"' || opts->job[i] == '\\')
            return set_error(c, MIXUP_EINVAL, "job name byte %zu is not "
                             "printable ASCII without spaces, quotes or "
                             "backslashes", i);
    if ((unsigned)opts->mode > MIXUP_MODE_SHARED)
        return set_error(c, MIXUP_EINVAL, "stream mode %d unknown", (int)opts->mode);
    mxp_open_req o = {
        .mode = (uint32_t)opts->mode,
        .seed = opts->seed,
        .start_epoch = opts->start_epoch,
        .start_batch = opts->start_batch,
        .rank = opts->rank,
        .world = opts->world,
        .prefetch = opts->prefetch,
        .job_len = (uint16_t)job_len,
        .job = opts->job,
        .pipeline_len = (uint16_t)(opts->pipeline ? strlen(opts->pipeline) : 0),
        .pipeline = opts->pipeline,
        .stride = c->open_stride,
        .offset = c->open_offset,
    };
    if (o.pipeline_len > MXP_PIPELINE_MAX)
        return set_error(c, MIXUP_EINVAL, "pipeline name of %u bytes (at "
                         "most %u)", o.pipeline_len, MXP_PIPELINE_MAX);
    uint8_t req[MXP_HEADER_SIZE + MXP_OPEN_FIXED + MXP_JOB_MAX +
                MXP_PIPELINE_MAX];
    /* A retry after a timeout or a signal repeats the OPEN's nonce (and
     * id), so that the daemon answers with the stream it may have opened
     * already; only this client knows the nonce. */
    uint64_t id = c->retry_open ? c->retry_open_id : c->next_request_id++;
    if (c->retry_open)
        memcpy(o.nonce, c->open_nonce, MXP_NONCE_SIZE);
    else if (getrandom(o.nonce, MXP_NONCE_SIZE, 0) != MXP_NONCE_SIZE)
        return set_error(c, MIXUP_ESYS, "no random bytes for a nonce");
    int len = mxp_encode_open_req(req, sizeof req, id, &o);
    if (len < 0)
        return set_error(c, MIXUP_EINVAL, "stream options out of range");
    if (c->retry_open && (len != c->last_open_len || memcmp(req, c->last_open, (size_t)len))) {
        /* another OPEN than the one retried */
        id = c->next_request_id++;
        if (getrandom(o.nonce, MXP_NONCE_SIZE, 0) != MXP_NONCE_SIZE)
            return set_error(c, MIXUP_ESYS, "no random bytes for a nonce");
        len = mxp_encode_open_req(req, sizeof req, id, &o);
    }
    memcpy(c->open_nonce, o.nonce, MXP_NONCE_SIZE);
    memcpy(c->last_open, req, (size_t)len);
    c->last_open_len = len;
    void *msg;
    mxp_reply rep;
    int rc = roundtrip(c, req, (size_t)len, id, &msg, &rep);
    c->retry_open = rc == MIXUP_ETIMEDOUT || rc == MIXUP_EINTR;
    c->retry_open_id = id;
    if (rc < 0 || (rc = expect_type(c, msg, &rep, MXP_OPEN_REP)) < 0)
        return rc;
    c->has_stream = 1;
    c->opts = *opts;
    if (opts->job) {
        memmove(c->job, opts->job, job_len + 1); /* may be c->job itself */
        c->opts.job = c->job;
    }
    if (opts->pipeline) {
        memmove(c->pipeline, opts->pipeline, o.pipeline_len + 1u);
        c->opts.pipeline = c->pipeline;
    }
    c->stream_id = rep.u.open.stream_id;
    c->has_key = rep.stream_key != NULL;
    if (rep.stream_key)
        memcpy(c->stream_key, rep.stream_key, MXP_STREAM_KEY_SIZE);
    c->batches_per_epoch = rep.u.open.batches_per_epoch;
    c->stream_per_epoch = rep.u.open.stream_per_epoch;
    c->mode = opts->mode;
    c->rank = opts->mode == MIXUP_MODE_SHARDED ? opts->rank : 0;
    c->world = opts->mode == MIXUP_MODE_SHARDED ? opts->world : 1;
    c->has_position = 0;
    c->retry_next = 0;
    c->seq = 0;
    c->dataset_digest = rep.u.open.dataset_digest;
    c->settings_digest = rep.u.open.settings_digest;
    use_ring(c, &rep.u.open);
    nn_freemsg(msg);
    return 0;
}

int cl_stream_open_striped(mixup_client *c, const mixup_stream_options *opts,
                           uint16_t stride, uint16_t offset)
{
    c->open_stride = stride;
    c->open_offset = offset;
    int rc = mixup_stream_open(c, opts);
    c->open_stride = c->open_offset = 0;
    return rc;
}

void cl_digests(const mixup_client *c, uint64_t *dataset, uint64_t *settings)
{
    *dataset = c->dataset_digest;
    *settings = c->settings_digest;
}

void cl_stream_shape(const mixup_client *c, uint64_t *dataset,
                     uint64_t *stream)
{
    *dataset = c->batches_per_epoch;
    *stream = c->stream_per_epoch;
}

void cl_adopt_stream(mixup_client *top, const mixup_client *member,
                     const mixup_stream_options *opts)
{
    top->has_stream = 1;
    top->batches_per_epoch = member->batches_per_epoch;
    top->stream_per_epoch = member->stream_per_epoch;
    top->mode = opts->mode;
    top->rank = member->rank;
    top->world = member->world;
    top->has_position = 0;
}

void cl_set_position(mixup_client *c, uint64_t epoch, uint64_t batch)
{
    c->has_position = 1;
    c->pos_epoch = epoch;
    c->pos_batch = batch;
}

int cl_reply_fd(const mixup_client *c)
{
    int fd = -1;
    size_t sz = sizeof fd;
    nn_getsockopt(c->sock, NN_SOL_SOCKET, NN_RCVFD, &fd, &sz);
    return fd;
}

int cl_connected(const mixup_client *c)
{
    return nn_get_statistic(c->sock, NN_STAT_CURRENT_CONNECTIONS) > 0;
}

void cl_stream_forget(mixup_client *c)
{
    c->has_stream = 0;
    c->retry_next = 0;
    if (c->ring)
        cl_ring_detach_all(c->ring);
}

static int next_once(mixup_client *c, mixup_batch **out);
static int next_finish(mixup_client *c, void *msg, mxp_reply *rep,
                       mixup_batch **out);

/* Another daemon can take the stream over: there is one, and the stream
 * is a pure function of its position (a shared stream's is its job's). */
static int can_fail_over(const mixup_client *c)
{
    return c->n_eps > 1 && c->opts.mode != MIXUP_MODE_SHARED;
}

/* The daemon does not know the stream: it restarted, or requests went to
 * another daemon of the endpoint list. Independent and sharded streams
 * are pure functions of their position, so open the same stream there at
 * the next position and go on; a shared stream's position is its job's. */
/* Failover reached a daemon whose batches would not be the stream's: its
 * dataset or settings differ. Close the stream there and say so, rather
 * than go on with other bytes. */
static int refuse_other_daemon(mixup_client *c, uint64_t dataset,
                               uint64_t settings)
{
    char what[160];
    snprintf(what, sizeof what, "%s%s%s",
             c->dataset_digest != dataset ? "its dataset" : "",
             c->dataset_digest != dataset && c->settings_digest != settings
                 ? " and "
                 : "",
             c->settings_digest != settings ? "its settings" : "");
    uint64_t d2 = c->dataset_digest, s2 = c->settings_digest;
    /* REQ does not say which endpoint answered: name them all. */
    char eps[512] = "";
    for (size_t i = 0, at = 0; i < c->n_eps && at < sizeof eps; i++) {
        int n = snprintf(eps + at, sizeof eps - at, "%s%s", i ? ", " : "",
                         c->eps[i]);
        at += n > 0 ? (size_t)n : 0;
    }
    mixup_stream_close(c); /* best effort; the stream is over either way */
    c->has_stream = 0;
    c->reopen_pending = 0;
    return set_error(c, MIXUP_EMISMATCH,
                     "failover refused: the daemon that took over (one of "
                     "%s) differs in %s "
                     "(dataset digest %016llx, settings digest %016llx; the "
                     "stream's daemon had %016llx, %016llx): its batches "
                     "would not be this stream's", eps, what,
                     (unsigned long long)d2, (unsigned long long)s2,
                     (unsigned long long)dataset,
                     (unsigned long long)settings);
}

static int reopen(mixup_client *c)
{
    if (c->opts.mode == MIXUP_MODE_SHARED)
        return MIXUP_ENOSTREAM;
    mixup_stream_options o = c->opts;
    int had = c->has_position;
    uint64_t e = c->pos_epoch, k = c->pos_batch;
    if (had && mixup_client_resume_position(c, &o.start_epoch, &o.start_batch) < 0)
        return MIXUP_ENOSTREAM;
    if (c->ring) /* the old stream's slots are not ours anymore */
        cl_ring_detach_all(c->ring);
    uint64_t dataset = c->dataset_digest, settings = c->settings_digest;
    c->has_stream = 0;
    int rc = mixup_stream_open(c, &o);
    c->has_stream = 1; /* the old id until the new one is known */
    if (rc < 0) {
        /* A timed-out or interrupted reopen is tried again by the next
         * call (the same OPEN id: the daemon may have opened it already). */
        c->reopen_pending = rc == MIXUP_ETIMEDOUT || rc == MIXUP_EINTR;
        return rc;
    }
    if (c->dataset_digest != dataset || c->settings_digest != settings)
        return refuse_other_daemon(c, dataset, settings);
    c->reopen_pending = 0;
    c->has_position = had;
    c->pos_epoch = e;
    c->pos_batch = k;
    c->reopens++;
    return 0;
}

MIXUP_API int mixup_next(mixup_client *c, mixup_batch **out)
{
    if (!c || !out)
        return MIXUP_EINVAL;
    *out = NULL;
    if (!c->has_stream)
        return set_error(c, MIXUP_ESTATE, "no stream is open");
    if (c->layer)
        return c->layer_ops->next(c->layer, c, out);
    int rc = c->reopen_pending ? reopen(c) : 0;
    if (rc == 0)
        rc = next_once(c, out);
    if (rc == MIXUP_ETIMEDOUT && can_fail_over(c)) {
        /* Once per call: the next daemon gets the stream at its position
         * (a timeout again is returned, and the call may be repeated). */
        if ((rc = fail_over(c)) < 0 || (rc = reopen(c)) < 0)
            return rc;
        return next_once(c, out);
    }
    if (rc != MIXUP_ENOSTREAM || c->reopen_pending)
        return rc;
    char lost[sizeof c->err];
    memcpy(lost, c->err, sizeof lost);
    if ((rc = reopen(c)) < 0) {
        if (c->reopen_pending || rc == MIXUP_EMISMATCH)
            return rc; /* retryable, or refused with its own words */
        memcpy(c->err, lost, sizeof lost);
        return MIXUP_ENOSTREAM;
    }
    return next_once(c, out);
}

/* One NEXT request and its reply. */
/* A NEXT carrying the releases queued since the last one; a retry sends
 * the same bytes again (the daemon knows the request id and skips the
 * releases it already made). */
static void encode_next(mixup_client *c, uint64_t id)
{
    uint32_t slots[MXP_RELEASE_MAX], gens[MXP_RELEASE_MAX];
    uint32_t n = c->ring ? cl_ring_take_releases(c->ring, slots, gens,
                                                 MXP_RELEASE_MAX)
                         : 0;
    c->next_len = mxp_encode_next_req(c->next_req, sizeof c->next_req, id,
                                      c->stream_id,
                                      c->ring ? MXP_NEXT_REF : 0, slots, gens,
                                      n);
}

/* A batch lent in the daemon's ring: its arrays are read in place. */
static int make_lent_batch(mixup_client *c, const mxp_reply *ref_rep,
                           mixup_batch **out)
{
    const mxp_batch_ref *ref = &ref_rep->u.ref;
    char err[256];
    const uint8_t *slot = NULL;
    mxp_reply rep;
    int rc = c->ring ? cl_ring_locate(c->ring, ref, &slot, err, sizeof err)
                     : MIXUP_EPROTO;
    if (!c->ring)
        snprintf(err, sizeof err, "a reference to the ring, which this "
                 "client has not mapped");
    if (rc == 0 &&
        (rc = mxp_reply_decode(slot, ref->size, NULL, &rep, err, sizeof err)) == 0 &&
        (rep.hdr.type != MXP_BATCH_REP || rep.u.batch.stream_id != ref->stream_id ||
         rep.u.batch.epoch != ref->epoch || rep.u.batch.index != ref->index)) {
        snprintf(err, sizeof err, "slot %u does not hold batch %llu:%llu of "
                 "stream %llx", ref->slot, (unsigned long long)ref->epoch,
                 (unsigned long long)ref->index,
                 (unsigned long long)ref->stream_id);
        rc = MIXUP_EPROTO;
    }
    if (rc == 0)
        rc = cl_make_batch(c, (void *)slot, &rep, out);
    if (rc < 0) {
        if (c->ring && rc != MIXUP_ESTALE)
            cl_ring_give_back(c->ring, ref->slot, ref->generation);
        return rc == MIXUP_ENOMEM ? rc
                                  : set_error(c, rc, "batch reference: %s", err);
    }
    cl_ring_hold(c->ring, (cl_batch *)(void *)*out, ref);
    return 0;
}

/* One NEXT request and its reply. */
static int next_once(mixup_client *c, mixup_batch **out)
{
    uint64_t id = c->retry_next ? c->retry_request_id : c->next_request_id++;
    if (!c->retry_next)
        encode_next(c, id);
    void *msg;
    mxp_reply rep;
    int rc = roundtrip(c, c->next_req, (size_t)c->next_len, id, &msg, &rep);
    if (rc == MIXUP_ETIMEDOUT || rc == MIXUP_EINTR) {
        c->retry_next = 1;
        c->retry_request_id = id;
        return rc;
    }
    c->retry_next = 0;
    if (rc < 0)
        return rc;
    return next_finish(c, msg, &rep, out);
}

int cl_next_send(mixup_client *c)
{
    c->async_id = c->next_request_id++;
    encode_next(c, c->async_id);
    return send_now(c, c->next_req, (size_t)c->next_len);
}

int cl_next_recv(mixup_client *c, mixup_batch **out)
{
    void *msg;
    mxp_reply rep;
    int rc = recv_reply(c, "NEXT", c->async_id, NN_DONTWAIT, &msg, &rep);
    return rc != 0 ? rc : next_finish(c, msg, &rep, out);
}

/* Every batch the daemon delivers to the stream is numbered (proto.h):
 * one that is not the next number means batches went to someone else who
 * holds the stream's key, and this client's sequence has a hole. Say so
 * rather than go on silently (the position is left where it was). */
static int check_seq(mixup_client *c, const mixup_batch *b)
{
    const cl_batch *cb = (const cl_batch *)(const void *)b;
    uint64_t seq = cb->seq;
    if (seq == c->seq + 1) {
        c->seq = seq;
        return 0;
    }
    int rc = set_error(c, MIXUP_ESEQUENCE, "stream %llx: the daemon sent "
                       "its delivery %llu, this client had %llu: %s",
                       (unsigned long long)c->stream_id,
                       (unsigned long long)seq, (unsigned long long)c->seq,
                       seq > c->seq ? "batches in between went to another "
                                      "client holding the stream's key"
                                    : "a delivery out of order");
    c->seq = seq > c->seq ? seq : c->seq;
    return rc;
}

/* A NEXT's reply (@msg, decoded in @rep) into a batch. */
static int next_finish(mixup_client *c, void *msg, mxp_reply *rep_in,
                       mixup_batch **out)
{
    mxp_reply rep = *rep_in;
    int rc;
    uint64_t stream_id = rep.hdr.type == MXP_BATCH_REF_REP
                             ? rep.u.ref.stream_id
                             : rep.u.batch.stream_id;
    if (rep.hdr.type != MXP_BATCH_REF_REP &&
        (rc = expect_type(c, msg, &rep, MXP_BATCH_REP)) < 0)
        return rc;
    if (stream_id != c->stream_id) {
        nn_freemsg(msg);
        return set_error(c, MIXUP_EPROTO, "batch of stream %llx, expected %llx",
                         (unsigned long long)stream_id,
                         (unsigned long long)c->stream_id);
    }
    /* A lent batch's count is read from its slot below (make_lent_batch
     * checks the slot holds the batch the reference names). */
    if (rep.hdr.type == MXP_BATCH_REF_REP) {
        rc = make_lent_batch(c, &rep, out);
        nn_freemsg(msg);
    } else if ((rc = cl_make_batch(c, msg, &rep, out)) < 0) {
        nn_freemsg(msg);
    }
    if (rc < 0)
        return rc;
    if ((rc = check_seq(c, *out)) < 0) {
        mixup_batch_release(*out);
        *out = NULL;
        return rc;
    }
    c->has_position = 1;
    c->pos_epoch = (*out)->epoch;
    c->pos_batch = (*out)->index;
    return 0;
}

MIXUP_API const char *mixup_client_transport(const mixup_client *c)
{
    return c && c->ring ? "shm" : "socket";
}

MIXUP_API const char *mixup_client_transport_note(const mixup_client *c)
{
    return c ? c->no_ring : "";
}

MIXUP_API int mixup_client_position(const mixup_client *c, uint64_t *epoch,
                                    uint64_t *batch)
{
    if (!c || !epoch || !batch)
        return MIXUP_EINVAL;
    if (!c->has_position)
        return set_error((mixup_client *)c, MIXUP_ESTATE,
                         "no batch was returned yet");
    *epoch = c->pos_epoch;
    *batch = c->pos_batch;
    return 0;
}

MIXUP_API int mixup_client_resume_position(const mixup_client *c,
                                           uint64_t *epoch, uint64_t *batch)
{
    if (!c || !epoch || !batch)
        return MIXUP_EINVAL;
    /* The error text is the client's scratch, not part of its state. */
    mixup_client *w = (mixup_client *)c;
    if (!c->has_position)
        return set_error(w, MIXUP_ESTATE, "no batch was returned yet");
    if (c->mode == MIXUP_MODE_SHARED)
        return set_error(w, MIXUP_EMODE, "a shared stream's position is "
                         "its job's, not the client's");
    uint64_t next = c->pos_batch + c->world;
    if (next >= c->stream_per_epoch * c->world) {
        *epoch = c->pos_epoch + 1;
        *batch = c->rank;
    } else {
        *epoch = c->pos_epoch;
        *batch = next;
    }
    return 0;
}

MIXUP_API int mixup_stream_epoch(const mixup_client *c, uint64_t *dataset,
                                 uint64_t *stream)
{
    if (!c)
        return MIXUP_EINVAL;
    if (!c->has_stream)
        return set_error((mixup_client *)c, MIXUP_ESTATE, "no stream is open");
    if (dataset)
        *dataset = c->batches_per_epoch;
    if (stream)
        *stream = c->stream_per_epoch;
    return 0;
}

MIXUP_API int mixup_client_stats(mixup_client *c, int json, char **text)
{
    if (!c || !text)
        return MIXUP_EINVAL;
    *text = NULL;
    uint8_t req[MXP_HEADER_SIZE + 4];
    uint64_t id = c->next_request_id++;
    int len = mxp_encode_stats_req(req, sizeof req, id,
                                   json ? MXP_STATS_JSON : MXP_STATS_TEXT);
    void *msg;
    mxp_reply rep;
    int rc = roundtrip(c, req, (size_t)len, id, &msg, &rep);
    if (rc < 0 || (rc = expect_type(c, msg, &rep, MXP_STATS_REP)) < 0)
        return rc;
    *text = malloc(rep.u.stats.len + 1);
    if (*text) {
        memcpy(*text, rep.u.stats.text, rep.u.stats.len);
        (*text)[rep.u.stats.len] = 0;
    }
    nn_freemsg(msg);
    return *text ? 0 : set_error(c, MIXUP_ENOMEM, "out of memory for stats");
}

MIXUP_API int mixup_stream_close(mixup_client *c)
{
    if (!c)
        return MIXUP_EINVAL;
    if (!c->has_stream)
        return set_error(c, MIXUP_ESTATE, "no stream is open");
    if (c->layer)
        return c->layer_ops->close(c->layer, c);
    uint8_t req[MXP_HEADER_SIZE + 8];
    uint64_t id = c->next_request_id++;
    int len = mxp_encode_close_req(req, sizeof req, id, c->stream_id);
    c->has_stream = 0;
    c->reopen_pending = 0;
    c->retry_next = 0;
    if (c->ring) /* held batches keep their bytes: copies of their own */
        cl_ring_detach_all(c->ring);
    void *msg;
    mxp_reply rep;
    int rc = roundtrip(c, req, (size_t)len, id, &msg, &rep);
    if (rc < 0 || (rc = expect_type(c, msg, &rep, MXP_CLOSE_REP)) < 0)
        return rc;
    nn_freemsg(msg);
    return 0;
}

MIXUP_API void mixup_client_close(mixup_client *c)
{
    if (!c)
        return;
    if (c->has_stream) {
        int t = c->timeout_ms < 0 || c->timeout_ms > CLIENT_CLOSE_TIMEOUT_MS
                    ? CLIENT_CLOSE_TIMEOUT_MS
                    : c->timeout_ms;
        apply_timeout(c->sock, t);
        mixup_stream_close(c); /* best effort: the daemon expires it anyway */
    }
    if (c->layer)
        c->layer_ops->free(c->layer);
    cl_ring_unref(c->ring);
    if (c->sock >= 0)
        nn_close(c->sock);
    free_endpoints(c);
    free(c);
}

MIXUP_API int mixup_version(void)
{
    return MIXUP_VERSION_MAJOR * 10000 + MIXUP_VERSION_MINOR * 100 +
           MIXUP_VERSION_PATCH;
}

MIXUP_API size_t mixup_batch_struct_size(void)
{
    return sizeof(mixup_batch);
}

MIXUP_API const char *mixup_client_error(const mixup_client *c)
{
    return c ? c->err : connect_error;
}
