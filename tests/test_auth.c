/*
 * test_auth.c — access control (server/serve/auth.c): the daemon's
 * token on every request, the token file's mode, protected mode for tcp
 * endpoints beyond loopback.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nanomsg/nn.h>
#include <nanomsg/reqrep.h>

#include "auth.h"
#include "daemon.h"
#include "ipcperm.h"
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
        /* Another token: the daemon's proof does not match it, and the
         * client stops before sending a request (the daemon's refusal of
         * a wrong proof: the_daemon_checks_every_proof). */
        cr_assert_eq(connect_with(&c, eps[e], bad), 0);
        cr_assert_eq(mixup_client_info(c, &info), MIXUP_EAUTH);
        cr_assert(strstr(mixup_client_error(c), "could not prove it knows"),
                  "%s", mixup_client_error(c));
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
    cr_assert(strstr(log, "request refused: no token"), "%s", log);
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

/* ------------------------------------------------- proofs, not tokens */

/* The token's 32 bytes and its hex text (either case): neither may ever
 * appear in what a client sends. */
static int holds_token(const uint8_t *buf, size_t len, const char *hex_text)
{
    uint8_t tok[MXP_TOKEN_SIZE];
    char why[128];
    cr_assert_eq(mxp_token_parse(hex_text, strlen(hex_text), tok, why,
                                 sizeof why), 0);
    for (size_t i = 0; i + MXP_TOKEN_SIZE <= len; i++)
        if (memcmp(buf + i, tok, MXP_TOKEN_SIZE) == 0)
            return 1;
    for (size_t i = 0; i + 64 <= len; i++)
        if (strncasecmp((const char *)buf + i, hex_text, 64) == 0)
            return 1;
    return 0;
}

/* A fake daemon: a plain REP socket that records every byte it receives
 * and answers a HELLO with a made-up proof (it has no token), anything
 * else with an error. */
typedef struct fake_daemon {
    int sock;
    uint8_t got[1 << 16];
    size_t got_len;
    int n_msgs, n_hello;
    uint16_t types[64];
    volatile int stop;
    pthread_t th;
} fake_daemon;

static void *fake_serve(void *arg)
{
    fake_daemon *f = arg;
    while (!f->stop) {
        void *buf = NULL;
        int n = nn_recv(f->sock, &buf, NN_MSG, 0);
        if (n < 0)
            continue; /* the receive timeout: look at stop again */
        if (f->got_len + (size_t)n <= sizeof f->got) {
            memcpy(f->got + f->got_len, buf, (size_t)n);
            f->got_len += (size_t)n;
        }
        mxp_header h;
        char err[128];
        int ok = mxp_header_decode(buf, (size_t)n, NULL, &h, err, sizeof err);
        if (f->n_msgs < 64)
            f->types[f->n_msgs] = h.type;
        f->n_msgs++;
        uint8_t rep[256];
        int len;
        if (ok == 0 && h.type == MXP_HELLO_REQ) {
            uint8_t nonce[MXP_NONCE_SIZE] = {9}, proof[MXP_MAC_SIZE] = {7};
            f->n_hello++;
            len = mxp_encode_hello_rep(rep, sizeof rep, h.request_id, nonce,
                                       proof);
        } else {
            len = mxp_encode_error_rep(rep, sizeof rep, h.request_id,
                                       MIXUP_EINVAL, "fake");
        }
        nn_freemsg(buf);
        nn_send(f->sock, rep, (size_t)len, 0);
    }
    return NULL;
}

static void fake_start(fake_daemon *f, const char *ep)
{
    memset(f, 0, sizeof *f);
    f->sock = nn_socket(AF_SP, NN_REP);
    cr_assert_geq(f->sock, 0);
    int ms = 100;
    nn_setsockopt(f->sock, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof ms);
    cr_assert_geq(nn_bind(f->sock, ep), 0, "bind %s: %s", ep,
                  nn_strerror(nn_errno()));
    /* The socket goes to the thread; this one touches it again only
     * after the join. */
    cr_assert_eq(pthread_create(&f->th, NULL, fake_serve, f), 0);
}

static void fake_stop(fake_daemon *f)
{
    f->stop = 1;
    pthread_join(f->th, NULL);
    nn_close(f->sock);
}

/* Nothing the client library sends to whoever listens at its endpoint
 * reveals the token: the fake daemon gets a HELLO (a random nonce), fails
 * the client's check with a clear error, and never sees a request that
 * depends on the token. */
Test(auth, a_fake_daemon_never_receives_the_token)
{
    daemon_ctx d;
    setup_daemon(&d, "auth_fake"); /* a directory and free endpoints only */
    char *good = token_file(&d, "token", TOKEN_A, 0600);
    const char *eps[] = {d.ipc, d.tcp};
    for (int e = 0; e < 2; e++) {
        fake_daemon f;
        fake_start(&f, eps[e]);
        mixup_client *c;
        cr_assert_eq(connect_with(&c, eps[e], good), 0);
        mixup_info info;
        cr_assert_eq(mixup_client_info(c, &info), MIXUP_EAUTH);
        cr_assert(strstr(mixup_client_error(c), "could not prove it knows "
                         "this client's token"), "%s", mixup_client_error(c));
        mixup_stream_options so;
        mixup_stream_options_init(&so);
        cr_assert_eq(mixup_stream_open(c, &so), MIXUP_EAUTH);
        char *text = NULL;
        cr_assert_eq(mixup_client_stats(c, 1, &text), MIXUP_EAUTH);
        mixup_client_close(c);
        fake_stop(&f);
        cr_assert_eq(f.n_msgs, 3, "one HELLO per request: %d", f.n_msgs);
        cr_assert_eq(f.n_hello, f.n_msgs, "only HELLOs reach the fake");
        cr_assert_eq(f.got_len, 3u * (MXP_HEADER_SIZE + MXP_NONCE_SIZE));
        cr_assert(!holds_token(f.got, f.got_len, TOKEN_A));
    }
    free(good);
    cleanup(&d);
}

/* mixupctl, through the library: the same. */
Test(auth, mixupctl_gives_a_fake_daemon_nothing)
{
    daemon_ctx d;
    setup_daemon(&d, "auth_fakectl");
    char *good = token_file(&d, "token", TOKEN_A, 0600);
    fake_daemon f;
    fake_start(&f, d.ipc);
    const char *bin = getenv("MIXUPCTL_BIN");
    char errpath[600];
    snprintf(errpath, sizeof errpath, "%s/ctl.err", d.dir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, errpath,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    char *argv[] = {(char *)(bin ? bin : "./client/mixupctl"), "--endpoint",
                    d.ipc, "--token-file", good, "info", NULL};
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, argv[0], &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    fake_stop(&f);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    char *err = tu_read_file(errpath);
    cr_assert(strstr(err, "could not prove it knows this client's token"),
              "%s", err);
    free(err);
    cr_assert_geq(f.n_msgs, 1);
    cr_assert_eq(f.n_hello, f.n_msgs, "only HELLOs reach the fake");
    cr_assert(!holds_token(f.got, f.got_len, TOKEN_A));
    free(good);
    cleanup(&d);
}

/* One request signed with @token's session key after a HELLO to @ep:
 * the daemon's answer (type, or error code). */
static int signed_request(const char *ep, const char *token_hex,
                          uint8_t *req, int len, int tamper, mxp_reply *rep,
                          void **out)
{
    uint8_t tok[MXP_TOKEN_SIZE], cn[MXP_NONCE_SIZE] = {1, 2, 3};
    char why[128];
    cr_assert_eq(mxp_token_parse(token_hex, strlen(token_hex), tok, why,
                                 sizeof why), 0);
    uint8_t hello[MXP_HEADER_SIZE + MXP_NONCE_SIZE];
    int n = mxp_encode_hello_req(hello, sizeof hello, 1, cn);
    void *buf;
    cr_assert_eq(raw(ep, hello, (size_t)n, rep, &buf), MXP_HELLO_REP);
    uint8_t dn[MXP_NONCE_SIZE], key[MXP_MAC_SIZE];
    memcpy(dn, rep->u.hello.nonce, sizeof dn);
    nn_freemsg(buf);
    mxp_auth_session_key(tok, cn, dn, key);
    n = mxp_auth_append(req, 512, (size_t)len, cn, dn, key);
    cr_assert_gt(n, 0);
    if (tamper)
        req[MXP_HEADER_SIZE] ^= 1;
    return raw(ep, req, (size_t)n, rep, out);
}

/* The daemon's side: a request signed with another token, or altered
 * after signing, is refused; so is a version 2 client, which would send
 * its token in the clear; a daemon without a token refuses HELLO and the
 * client says so. */
Test(auth, the_daemon_checks_every_proof)
{
    daemon_ctx d;
    char *good;
    start_with_token(&d, "auth_proof", &good);
    uint8_t req[512];
    mxp_reply rep;
    void *buf;
    int len = mxp_encode_stats_req(req, sizeof req, 5, MXP_STATS_JSON);
    cr_assert_eq(signed_request(d.tcp, TOKEN_A, req, len, 0, &rep, &buf),
                 MXP_STATS_REP);
    nn_freemsg(buf);
    len = mxp_encode_stats_req(req, sizeof req, 6, MXP_STATS_JSON);
    cr_assert_eq(signed_request(d.tcp, TOKEN_B, req, len, 0, &rep, &buf),
                 MIXUP_EAUTH);
    cr_assert(strstr(rep.u.error.msg, "wrong token"));
    nn_freemsg(buf);
    len = mxp_encode_stats_req(req, sizeof req, 7, MXP_STATS_TEXT);
    cr_assert_eq(signed_request(d.ipc, TOKEN_A, req, len, 1, &rep, &buf),
                 MIXUP_EAUTH);
    nn_freemsg(buf);
    /* Version 2: the token itself as a trailer. Refused by version. */
    len = mxp_encode_stats_req(req, sizeof req, 8, MXP_STATS_JSON);
    req[4] = 2;
    memset(req + len, 0x11, MXP_TOKEN_SIZE);
    req[8] = MXP_FLAG_AUTH;
    req[20] = (uint8_t)(req[20] + MXP_TOKEN_SIZE);
    cr_assert_eq(raw(d.ipc, req, (size_t)len + MXP_TOKEN_SIZE, &rep, &buf),
                 MIXUP_EVERSION);
    cr_assert(strstr(rep.u.error.msg, "protocol 2, this build speaks 3: "
                     "upgrade the client library"), "%.*s",
              (int)rep.u.error.msg_len, rep.u.error.msg);
    nn_freemsg(buf);
    stop_daemon(&d);
    char *log = tu_read_file(d.log);
    cr_assert(strstr(log, "request refused: wrong token"), "%s", log);
    free(log);
    free(good);
    cleanup(&d);
    /* A daemon without a token cannot prove one: the client stops. */
    setup_daemon(&d, "auth_notok");
    start_daemon(&d, 1, 8);
    good = token_file(&d, "token", TOKEN_A, 0600);
    mixup_client *c;
    cr_assert_eq(connect_with(&c, d.ipc, good), 0);
    mixup_info info;
    cr_assert_eq(mixup_client_info(c, &info), MIXUP_EAUTH);
    cr_assert(strstr(mixup_client_error(c), "has no token"), "%s",
              mixup_client_error(c));
    mixup_client_close(c);
    stop_daemon(&d);
    free(good);
    cleanup(&d);
}

/* ------------------------------------------------- stream keys */

/* Whether the 8 bytes of @v appear anywhere in @len bytes at @p. */
static int holds_u64(const uint8_t *p, size_t len, uint64_t v)
{
    for (size_t i = 0; i + 8 <= len; i++)
        if (memcmp(p + i, &v, 8) == 0)
            return 1;
    return 0;
}

/* A second client that maps the ring finds no request id in it, and an
 * OPEN replayed with the victim's request id and body but without its
 * nonce opens a stream of its own: it never gets the victim's key. */
Test(auth, a_replayed_open_does_not_give_the_key, .timeout = 60)
{
    daemon_ctx d;
    setup_daemon(&d, "auth_replay");
    start_daemon(&d, 1, 8);
    const uint64_t open_id = 0x0a0b0c0d0e0f1011ull, next_id = 0x1213141516171819ull;
    mxp_open_req o = {.mode = MIXUP_MODE_INDEPENDENT, .seed = 1};
    for (unsigned i = 0; i < MXP_NONCE_SIZE; i++)
        o.nonce[i] = (uint8_t)(0xc0 + i);
    uint8_t req[256];
    int len = mxp_encode_open_req(req, sizeof req, open_id, &o);
    mxp_reply rep;
    void *buf;
    cr_assert_eq(raw(d.ipc, req, (size_t)len, &rep, &buf), MXP_OPEN_REP);
    uint64_t sid = rep.u.open.stream_id;
    uint8_t key[MXP_STREAM_KEY_SIZE];
    memcpy(key, rep.stream_key, sizeof key);
    mxp_open_rep orep = rep.u.open;
    nn_freemsg(buf);
    cr_assert_neq(orep.ring_name[0], 0, "the ring is offered");
    len = mxp_encode_next_req(req, sizeof req, next_id, sid, MXP_NEXT_REF,
                              NULL, NULL, 0);
    len = mxp_append_trailer(req, sizeof req, (size_t)len,
                             MXP_FLAG_STREAM_KEY, key);
    cr_assert_eq(raw(d.ipc, req, (size_t)len, &rep, &buf), MXP_BATCH_REF_REP);
    mxp_batch_ref ref = rep.u.ref;
    nn_freemsg(buf);
    /* The attacker maps the ring, as any local client may. */
    int fd = shm_open(orep.ring_name, O_RDONLY, 0);
    cr_assert_geq(fd, 0);
    uint8_t *seg = mmap(NULL, orep.ring_bytes, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    cr_assert_neq(seg, MAP_FAILED);
    mxp_header h;
    char err[128];
    cr_assert_eq(mxp_header_decode(seg + ref.offset, ref.size, NULL, &h, err,
                                   sizeof err), 0, "%s", err);
    cr_assert_eq(h.request_id, 0u, "the lent slot holds no request id");
    cr_assert(!holds_u64(seg, orep.ring_bytes, open_id) &&
              !holds_u64(seg, orep.ring_bytes, next_id),
              "a request id in the ring");
    munmap(seg, orep.ring_bytes);
    /* Replays: the same id and body with no nonce, with another one. */
    for (int k = 0; k < 2; k++) {
        memset(o.nonce, k ? 0x77 : 0, sizeof o.nonce);
        len = mxp_encode_open_req(req, sizeof req, open_id, &o);
        cr_assert_eq(raw(d.tcp, req, (size_t)len, &rep, &buf), MXP_OPEN_REP);
        cr_assert_neq(rep.u.open.stream_id, sid);
        cr_assert_neq(memcmp(rep.stream_key, key, sizeof key), 0);
        nn_freemsg(buf);
    }
    /* The victim's own retry (its nonce) gets its stream back; its
     * stream went on untouched: batch 1, the second delivery. */
    for (unsigned i = 0; i < MXP_NONCE_SIZE; i++)
        o.nonce[i] = (uint8_t)(0xc0 + i);
    len = mxp_encode_open_req(req, sizeof req, 99, &o);
    cr_assert_eq(raw(d.ipc, req, (size_t)len, &rep, &buf), MXP_OPEN_REP);
    cr_assert_eq(rep.u.open.stream_id, sid);
    cr_assert_eq(memcmp(rep.stream_key, key, sizeof key), 0);
    nn_freemsg(buf);
    len = mxp_encode_next_req(req, sizeof req, next_id + 1, sid, 0, NULL,
                              NULL, 0);
    len = mxp_append_trailer(req, sizeof req, (size_t)len,
                             MXP_FLAG_STREAM_KEY, key);
    cr_assert_eq(raw(d.tcp, req, (size_t)len, &rep, &buf), MXP_BATCH_REP);
    cr_assert_eq(rep.u.batch.index, 1u);
    cr_assert_eq(rep.u.batch.seq, 2u);
    cr_assert_eq(rep.hdr.request_id, next_id + 1, "a copy carries its id");
    nn_freemsg(buf);
    stop_daemon(&d);
    cleanup(&d);
}

/* A proxy between a client and the daemon that learns what passes
 * (as someone who obtained the stream's key would know it). */
typedef struct spy {
    int front, back;
    volatile int stop;
    uint64_t stream_id;
    uint8_t key[MXP_STREAM_KEY_SIZE];
    volatile int has_key;
    pthread_t th;
} spy;

static void *spy_serve(void *arg)
{
    spy *s = arg;
    while (!s->stop) {
        void *in = NULL, *out = NULL;
        int n = nn_recv(s->front, &in, NN_MSG, 0);
        if (n < 0)
            continue;
        nn_send(s->back, in, (size_t)n, 0);
        nn_freemsg(in);
        int m = nn_recv(s->back, &out, NN_MSG, 0);
        if (m < 0)
            continue;
        mxp_reply rep;
        char err[128];
        if (mxp_reply_decode(out, (size_t)m, NULL, &rep, err, sizeof err) == 0 &&
            rep.hdr.type == MXP_OPEN_REP && rep.stream_key) {
            s->stream_id = rep.u.open.stream_id;
            memcpy(s->key, rep.stream_key, sizeof s->key);
            s->has_key = 1;
        }
        nn_send(s->front, out, (size_t)m, 0);
        nn_freemsg(out);
    }
    return NULL;
}

/* A client whose stream someone else (with its key) consumed in between
 * gets MIXUP_ESEQUENCE instead of a silent gap, keeps its position, and
 * can go on: on the zero-copy path and on the socket path. */
Test(auth, a_stream_consumed_behind_its_back_reports_a_gap, .timeout = 60)
{
    daemon_ctx d;
    setup_daemon(&d, "auth_gap");
    start_daemon(&d, 1, 8);
    const char *backs[] = {d.ipc, d.tcp};
    for (int t = 0; t < 2; t++) {
        spy s = {0};
        char front[600];
        snprintf(front, sizeof front, "ipc://%s/spy%d.ipc", d.dir, t);
        s.front = nn_socket(AF_SP, NN_REP);
        s.back = nn_socket(AF_SP, NN_REQ);
        int ms = 100, big = -1;
        nn_setsockopt(s.front, NN_SOL_SOCKET, NN_RCVTIMEO, &ms, sizeof ms);
        nn_setsockopt(s.back, NN_SOL_SOCKET, NN_RCVMAXSIZE, &big, sizeof big);
        cr_assert_geq(nn_bind(s.front, front), 0);
        cr_assert_geq(nn_connect(s.back, backs[t]), 0);
        cr_assert_eq(pthread_create(&s.th, NULL, spy_serve, &s), 0);
        mixup_client_options co;
        mixup_client_options_init(&co);
        co.timeout_ms = 10000;
        co.transport = t ? MIXUP_TRANSPORT_SOCKET : MIXUP_TRANSPORT_AUTO;
        const char *eps[] = {front};
        mixup_client *c;
        cr_assert_eq(mixup_client_connect(&c, eps, 1, &co), 0);
        mixup_stream_options so;
        mixup_stream_options_init(&so);
        so.seed = 5;
        cr_assert_eq(mixup_stream_open(c, &so), 0, "%s", mixup_client_error(c));
        cr_assert_str_eq(mixup_client_transport(c), t ? "socket" : "shm");
        mixup_batch *b;
        for (int k = 0; k < 2; k++) {
            cr_assert_eq(mixup_next(c, &b), 0, "%s", mixup_client_error(c));
            cr_assert_eq(b->index, (uint64_t)k);
            mixup_batch_release(b);
        }
        cr_assert(s.has_key);
        /* Three batches taken with the key, behind the client's back. */
        for (int k = 0; k < 3; k++) {
            uint8_t req[128];
            mxp_reply rep;
            void *buf;
            int len = mxp_encode_next_req(req, sizeof req, 500 + (uint64_t)k,
                                          s.stream_id, 0, NULL, NULL, 0);
            len = mxp_append_trailer(req, sizeof req, (size_t)len,
                                     MXP_FLAG_STREAM_KEY, s.key);
            cr_assert_eq(raw(backs[t], req, (size_t)len, &rep, &buf),
                         MXP_BATCH_REP);
            cr_assert_eq(rep.u.batch.index, 2u + (uint64_t)k);
            nn_freemsg(buf);
        }
        cr_assert_eq(mixup_next(c, &b), MIXUP_ESEQUENCE);
        cr_assert_null(b);
        cr_assert(strstr(mixup_client_error(c), "its delivery 6, this client "
                         "had 2: batches in between went to another client"),
                  "%s", mixup_client_error(c));
        uint64_t e, k;
        cr_assert_eq(mixup_client_position(c, &e, &k), 0);
        cr_assert_eq(k, 1u, "the position is the last batch received");
        cr_assert_eq(mixup_next(c, &b), 0, "%s", mixup_client_error(c));
        cr_assert_eq(b->index, 6u);
        mixup_batch_release(b);
        mixup_client_close(c);
        s.stop = 1;
        pthread_join(s.th, NULL);
        nn_close(s.front);
        nn_close(s.back);
    }
    stop_daemon(&d);
    cleanup(&d);
}

/* ------------------------------------------------- ipc socket files */

/* A unix socket file at @path (what nanomsg's ipc:// binds), owned by
 * @uid, in a directory of mode @dir_mode. */
static void plant_socket(const char *dir, mode_t dir_mode, const char *path,
                         uid_t uid)
{
    cr_assert_eq(chmod(dir, dir_mode), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0, "%s",
                 strerror(errno));
    close(fd);
    cr_assert_eq(chown(path, uid, (gid_t)-1), 0, "%s", strerror(errno));
}

/* A socket file someone else made in a directory anyone may write (the
 * /tmp fallback while the daemon is down) is refused before connecting;
 * the same owner is fine in a directory only it may write (as the
 * service's /run/mixupd), or when $MIXUPD_DAEMON_USER names it. */
Test(auth, a_socket_file_of_a_stranger_is_not_connected_to)
{
    if (geteuid() != 0)
        cr_skip_test("needs root: a socket file owned by another user");
    const uid_t stranger = 65534;
    char *dir = tu_tmpdir("auth_owner");
    char path[600], ep[620];
    snprintf(path, sizeof path, "%s/mixupd.ipc", dir);
    snprintf(ep, sizeof ep, "ipc://%s", path);
    plant_socket(dir, 01777, path, stranger);
    unsetenv("MIXUPD_DAEMON_USER");
    mixup_client_options o;
    mixup_client_options_init(&o);
    const char *eps[] = {ep};
    mixup_client *c = NULL;
    cr_assert_eq(mixup_client_connect(&c, eps, 1, &o), MIXUP_ECONNECT);
    const char *msg = mixup_client_error(NULL);
    cr_assert(strstr(msg, "belongs to uid 65534, not to you, root or "
                     "$MIXUPD_DAEMON_USER") && strstr(msg, "mode 1777") &&
              strstr(msg, "anyone could be listening"), "%s", msg);
    /* Also when it is one of several endpoints. */
    const char *two[] = {"tcp://127.0.0.1:1", ep};
    cr_assert_eq(mixup_client_connect(&c, two, 2, &o), MIXUP_ECONNECT);
    /* The user that runs the daemon, named. */
    setenv("MIXUPD_DAEMON_USER", "65534", 1);
    cr_assert_eq(mixup_client_connect(&c, eps, 1, &o), 0,
                 "%s", mixup_client_error(NULL));
    mixup_client_close(c);
    unsetenv("MIXUPD_DAEMON_USER");
    /* A directory only root (its owner) may write: the daemon's own. */
    cr_assert_eq(chmod(dir, 0755), 0);
    cr_assert_eq(mixup_client_connect(&c, eps, 1, &o), 0,
                 "%s", mixup_client_error(NULL));
    mixup_client_close(c);
    /* ... but not one its group may write. */
    cr_assert_eq(chmod(dir, 0775), 0);
    cr_assert_eq(mixup_client_connect(&c, eps, 1, &o), MIXUP_ECONNECT);
    tu_rmtree(dir);
    free(dir);
}

/* server.ipc_mode and ipc_group are applied to the socket file itself: a
 * symbolic link planted where the socket was is refused, and the file it
 * points to keeps its mode and group. */
Test(auth, ipc_permissions_never_follow_a_planted_link)
{
    char *dir = tu_tmpdir("auth_link");
    char *victim = tu_write_file(dir, "victim", "secret", 6);
    cr_assert_eq(chmod(victim, 0600), 0);
    char link[600], sock[600], err[512];
    snprintf(link, sizeof link, "%s/mixupd.ipc", dir);
    cr_assert_eq(symlink(victim, link), 0);
    cr_assert_eq(ipc_apply(link, "0666", "", err, sizeof err), MIXUP_ESYS);
    cr_assert(strstr(err, "is a symbolic link, not the socket mixupd just "
                     "bound"), "%s", err);
    cr_assert_eq(ipc_apply(link, "0660", "0", err, sizeof err), MIXUP_ESYS);
    struct stat st;
    cr_assert_eq(stat(victim, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0600u, "the link's target was changed");
    /* A regular file in its place: refused too. */
    unlink(link);
    free(tu_write_file(dir, "mixupd.ipc", "x", 1));
    cr_assert_eq(ipc_apply(link, "0666", "", err, sizeof err), MIXUP_ESYS);
    cr_assert(strstr(err, "not a socket"), "%s", err);
    /* The socket itself: mode and group applied. */
    snprintf(sock, sizeof sock, "%s/real.ipc", dir);
    plant_socket(dir, 0700, sock, geteuid());
    cr_assert_eq(ipc_apply(sock, "0660", "0", err, sizeof err), 0, "%s", err);
    cr_assert_eq(lstat(sock, &st), 0);
    cr_assert_eq(st.st_mode & 07777, 0660u);
    cr_assert_eq(st.st_gid, 0u);
    free(victim);
    tu_rmtree(dir);
    free(dir);
}
