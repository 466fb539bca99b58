/*
 * test_auth.c — access control (server/serve/auth.c): the daemon's
 * token on every request, the token file's mode, protected mode for tcp
 * endpoints beyond loopback.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "auth.h"
#include "daemon.h"
#include "mixup.h"
#include "proto.h"
#include "testutil.h"

#define TOKEN_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
#define TOKEN_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n"

static char *token_file(daemon_ctx *d, const char *name, const char *text,
                        mode_t mode)
{
    char *path = tu_write_file(d->dir, name, text, strlen(text));
    cr_assert_eq(chmod(path, mode), 0);
    return path;
}

/* A daemon that exits by itself: its status, within 30 s. */
static int wait_exit(int pid)
{
    for (int i = 0; i < 600; i++) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        usleep(50 * 1000);
    }
    kill(pid, SIGKILL);
    cr_assert_fail("mixupd still running after 30 s");
    return -1;
}

static int connect_with(mixup_client **c, const char *ep, const char *file)
{
    mixup_client_options o;
    mixup_client_options_init(&o);
    o.timeout_ms = 5000;
    o.token_file = file;
    const char *eps[] = {ep};
    return mixup_client_connect(c, eps, 1, &o);
}

static void start_with_token(daemon_ctx *d, const char *tag, char **file)
{
    setup_daemon(d, tag);
    *file = token_file(d, "token", TOKEN_A, 0600);
    char extra[1024];
    snprintf(extra, sizeof extra, "[server]\nauth_token_file = %s\n", *file);
    write_config(d, 1, 8, extra);
    d->pid = tu_spawn_daemon(d->config, d->log);
    wait_ready(d);
}

Test(auth, every_request_needs_the_token)
{
    ref_init();
    daemon_ctx d;
    char *good;
    start_with_token(&d, "auth_tok", &good);
    char *bad = token_file(&d, "other", TOKEN_B, 0600);
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    mixup_info info;
    const char *eps[] = {d.ipc, d.tcp};
    for (int e = 0; e < 2; e++) {
        mixup_client *c;
        /* No token, then a wrong one: refused, whatever the request. */
        cr_assert_eq(connect_with(&c, eps[e], NULL), 0);
        cr_assert_eq(mixup_client_info(c, &info), MIXUP_EAUTH);
        cr_assert(strstr(mixup_client_error(c), "no token"), "%s",
                  mixup_client_error(c));
        cr_assert_eq(mixup_stream_open(c, &so), MIXUP_EAUTH);
        char *text = NULL;
        cr_assert_eq(mixup_client_stats(c, 1, &text), MIXUP_EAUTH);
        mixup_client_close(c);
        cr_assert_eq(connect_with(&c, eps[e], bad), 0);
        cr_assert_eq(mixup_client_info(c, &info), MIXUP_EAUTH);
        cr_assert(strstr(mixup_client_error(c), "wrong token"), "%s",
                  mixup_client_error(c));
        cr_assert_eq(mixup_stream_open(c, &so), MIXUP_EAUTH);
        mixup_client_close(c);
        /* The right one: served. */
        cr_assert_eq(connect_with(&c, eps[e], good), 0);
        cr_assert_eq(mixup_client_info(c, &info), 0, "%s",
                     mixup_client_error(c));
        cr_assert_eq(mixup_stream_open(c, &so), 0, "%s", mixup_client_error(c));
        mixup_batch *b;
        cr_assert_eq(mixup_next(c, &b), 0, "%s", mixup_client_error(c));
        check_against_reference(b, 0, 0, 0);
        mixup_batch_release(b);
        cr_assert_eq(mixup_client_stats(c, 1, &text), 0);
        cr_assert(strstr(text, "\"auth_refused\": ") &&
                  !strstr(text, "\"auth_refused\": 0,"), "%s", text);
        free(text);
        cr_assert_eq(mixup_stream_close(c), 0);
        mixup_client_close(c);
    }
    /* $MIXUPD_TOKEN_FILE when the option is NULL. */
    setenv("MIXUPD_TOKEN_FILE", good, 1);
    mixup_client *c;
    cr_assert_eq(connect_with(&c, d.ipc, NULL), 0);
    cr_assert_eq(mixup_client_info(c, &info), 0, "%s", mixup_client_error(c));
    mixup_client_close(c);
    unsetenv("MIXUPD_TOKEN_FILE");
    /* A token file that is not one: refused at connect, naming it. */
    char *junk = token_file(&d, "junk", "secret\n", 0600);
    cr_assert_eq(connect_with(&c, d.ipc, junk), MIXUP_EINVAL);
    stop_daemon(&d);
    char *log = tu_read_file(d.log);
    cr_assert(strstr(log, "request refused: no token") &&
              strstr(log, "request refused: wrong token"), "%s", log);
    free(log);
    free(good);
    free(bad);
    free(junk);
    cleanup(&d);
}

/* A token file group or others may read or write: refused at start and
 * by --check, naming the file and its mode. */
Test(auth, token_file_mode_refused)
{
    daemon_ctx d;
    setup_daemon(&d, "auth_mode");
    const mode_t modes[] = {0640, 0604, 0620, 0644};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        char *file = token_file(&d, "token", TOKEN_A, modes[i]);
        char extra[1024], want[1200];
        snprintf(extra, sizeof extra, "[server]\nauth_token_file = %s\n", file);
        write_config(&d, 1, 8, extra);
        snprintf(want, sizeof want, "server.auth_token_file %s has mode %04o",
                 file, (unsigned)modes[i]);
        for (int check = 0; check < 2; check++) {
            int pid = tu_spawn_daemon_args(d.config, d.log,
                                           check ? "--check" : NULL);
            cr_assert_eq(wait_exit(pid), 1);
            char *log = tu_read_file(d.log);
            cr_assert(strstr(log, want), "no \"%s\" in:\n%s", want, log);
            free(log);
        }
        free(file);
    }
    cleanup(&d);
}

/* Protected mode: tcp on 0.0.0.0 without a token does not start, and
 * says which setting allows it; with that setting, it starts. */
Test(auth, protected_mode)
{
    daemon_ctx d;
    setup_daemon(&d, "auth_prot");
    char extra[1024];
    int port = atoi(strrchr(d.tcp, ':') + 1);
    snprintf(extra, sizeof extra, "[server]\nendpoint = tcp://0.0.0.0:%d\n",
             port + 1 < 65536 ? port + 1 : port - 1);
    write_config(&d, 1, 8, extra);
    for (int check = 0; check < 2; check++) {
        int pid = tu_spawn_daemon_args(d.config, d.log, check ? "--check" : NULL);
        cr_assert_eq(wait_exit(pid), 1);
        char *log = tu_read_file(d.log);
        cr_assert(strstr(log, "tcp://0.0.0.0:") &&
                  strstr(log, "server.allow_unauthenticated_tcp = true"),
                  "%s", log);
        free(log);
    }
    strcat(extra, "allow_unauthenticated_tcp = true\n");
    write_config(&d, 1, 8, extra);
    d.pid = tu_spawn_daemon(d.config, d.log);
    wait_ready(&d);
    stop_daemon(&d);
    cleanup(&d);
}

Test(auth, which_endpoints_are_exposed)
{
    cr_assert(auth_endpoint_exposed("tcp://0.0.0.0:5555"));
    cr_assert(auth_endpoint_exposed("tcp://*:5555"));
    cr_assert(auth_endpoint_exposed("tcp://10.1.2.3:5555"));
    cr_assert(auth_endpoint_exposed("tcp://eth0;10.1.2.3:5555"));
    cr_assert(auth_endpoint_exposed("ws://0.0.0.0:5555"));
    cr_assert(!auth_endpoint_exposed("tcp://127.0.0.1:5555"));
    cr_assert(!auth_endpoint_exposed("tcp://127.8.0.1:5555"));
    cr_assert(!auth_endpoint_exposed("tcp://localhost:5555"));
    cr_assert(!auth_endpoint_exposed("tcp://[::1]:5555"));
    cr_assert(!auth_endpoint_exposed("ipc:///tmp/x.ipc"));
    cr_assert(!auth_endpoint_exposed("inproc://x"));
}

/* One raw request on its own REQ socket (a client of its own): the
 * reply's type or error code; *@out keeps the reply (nn_freemsg). */
static int raw(const char *ep, const uint8_t *req, size_t len, mxp_reply *rep,
               void **out)
{
    int s = nn_socket(AF_SP, NN_REQ);
    int ms = 5000;
    nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof ms);
    cr_assert_geq(nn_connect(s, ep), 0);
    cr_assert_eq(nn_send(s, req, len, 0), (int)len);
    void *buf = NULL;
    int n = nn_recv(s, &buf, NN_MSG, 0);
    cr_assert_gt(n, 0, "no reply: %s", nn_strerror(nn_errno()));
    nn_close(s);
    char err[256];
    cr_assert_eq(mxp_reply_decode(buf, (size_t)n, NULL, rep, err, sizeof err),
                 0, "%s", err);
    *out = buf;
    return rep->hdr.type == MXP_ERROR_REP ? rep->u.error.code : rep->hdr.type;
}

static int next_or_close(const char *ep, uint16_t type, uint64_t id,
                         uint64_t sid, const uint8_t *key, mxp_reply *rep,
                         void **out)
{
    uint8_t req[128];
    int len = type == MXP_NEXT_REQ
                  ? mxp_encode_next_req(req, sizeof req, id, sid, 0, NULL,
                                        NULL, 0)
                  : mxp_encode_close_req(req, sizeof req, id, sid);
    if (key)
        len = mxp_append_trailer(req, sizeof req, (size_t)len,
                                 MXP_FLAG_STREAM_KEY, key);
    cr_assert_gt(len, 0);
    return raw(ep, req, (size_t)len, rep, out);
}

/* A stream is used and closed only by the client that opened it: another
 * client naming its id, without the key or with a wrong one, is refused
 * and changes nothing. */
Test(auth, a_stream_belongs_to_its_opener)
{
    daemon_ctx d;
    setup_daemon(&d, "auth_key");
    start_daemon(&d, 1, 8);
    uint8_t req[256], key[MXP_STREAM_KEY_SIZE], wrong[MXP_STREAM_KEY_SIZE];
    mxp_open_req o = {.mode = MIXUP_MODE_INDEPENDENT, .seed = 1};
    int len = mxp_encode_open_req(req, sizeof req, 1, &o);
    mxp_reply rep;
    void *buf;
    cr_assert_eq(raw(d.tcp, req, (size_t)len, &rep, &buf), MXP_OPEN_REP);
    uint64_t sid = rep.u.open.stream_id;
    cr_assert_not_null(rep.stream_key, "OPEN returns the stream's key");
    memcpy(key, rep.stream_key, sizeof key);
    memcpy(wrong, key, sizeof wrong);
    wrong[15] ^= 1;
    nn_freemsg(buf);
    const uint8_t *tries[] = {NULL, wrong};
    for (int i = 0; i < 2; i++) {
        uint16_t types[] = {MXP_NEXT_REQ, MXP_CLOSE_REQ};
        for (int t = 0; t < 2; t++) {
            int rc = next_or_close(d.ipc, types[t], 10 + 2 * i + t, sid,
                                   tries[i], &rep, &buf);
            cr_assert_eq(rc, MIXUP_EAUTH, "%s with %s key: %d",
                         types[t] == MXP_NEXT_REQ ? "NEXT" : "CLOSE",
                         i ? "a wrong" : "no", rc);
            nn_freemsg(buf);
        }
    }
    /* Nothing changed: the opener gets batch 0, then closes. */
    cr_assert_eq(next_or_close(d.tcp, MXP_NEXT_REQ, 20, sid, key, &rep, &buf),
                 MXP_BATCH_REP);
    cr_assert_eq(rep.u.batch.index, 0u);
    nn_freemsg(buf);
    cr_assert_eq(next_or_close(d.tcp, MXP_CLOSE_REQ, 21, sid, key, &rep, &buf),
                 MXP_CLOSE_REP);
    nn_freemsg(buf);
    /* The stats never show a key. */
    mixup_client *c = connect_to(d.ipc, 5000);
    char *text = NULL, hex[2 * MXP_STREAM_KEY_SIZE + 1];
    for (unsigned i = 0; i < MXP_STREAM_KEY_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    cr_assert_eq(mixup_client_stats(c, 1, &text), 0);
    cr_assert_null(strstr(text, hex));
    free(text);
    mixup_client_close(c);
    stop_daemon(&d);
    char *log = tu_read_file(d.log);
    cr_assert(strstr(log, "refused: no stream key") &&
              strstr(log, "refused: wrong stream key"), "%s", log);
    free(log);
    cleanup(&d);
}
