/*
 * test_service.c — mixupd as a service: readiness through the systemd
 * notify socket, reload on SIGHUP (good and broken files), one daemon per
 * name, recovery after SIGKILL, and nothing left behind after SIGTERM.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "testutil.h"

/* Play systemd's side: a datagram socket the daemon notifies. */
static int notify_socket(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    cr_assert_lt(strlen(path), sizeof sa.sun_path, "socket path too long");
    memcpy(sa.sun_path, path, strlen(path) + 1);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0, "%s", strerror(errno));
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* Receive notifications until one contains @want; return it. */
static void await_notify(int fd, const char *want, char *got, size_t cap)
{
    for (int i = 0; i < 20; i++) {
        ssize_t n = recv(fd, got, cap - 1, 0);
        cr_assert_gt(n, 0, "no notification (%s)", strerror(errno));
        got[n] = 0;
        if (strstr(got, want))
            return;
    }
    cr_assert_fail("never received %s", want);
}

static int log_has(const daemon_ctx *d, const char *what)
{
    char *log = tu_read_file(d->log);
    int yes = log && strstr(log, what) != NULL;
    free(log);
    return yes;
}

/* A reload's effect is visible in the log: wait for its last line. */
static void await_log(const daemon_ctx *d, const char *what)
{
    for (int i = 0; i < 300 && !log_has(d, what); i++)
        usleep(20 * 1000);
    char *log = tu_read_file(d->log);
    cr_assert(log && strstr(log, what), "log lacks '%s':\n%s", what, log);
    free(log);
}

static void pull_one(const daemon_ctx *d, uint64_t seed)
{
    puller p = {.endpoint = d->ipc, .seed = seed, .batches = 2};
    pull(&p);
    check_pulled(&p);
}

Test(service, ready_notification_and_reload, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "notify");
    ref_init();
    write_config(&d, 1, 4, "[server]\nlog_level = info\n");
    /* write_config sets log_level = debug earlier in [server]; a later
     * key wins, so this daemon starts at info. */
    char sock[600], env[700], got[512];
    snprintf(sock, sizeof sock, "%s/notify.sock", d.dir);
    int fd = notify_socket(sock);
    snprintf(env, sizeof env, "NOTIFY_SOCKET=%s", sock);
    d.pid = tu_spawn_daemon_env(d.config, d.log, NULL, env);
    await_notify(fd, "READY=1", got, sizeof got);
    cr_assert(strstr(got, "STATUS=serving 300 samples"), "%s", got);
    pull_one(&d, 1);
    cr_assert(!log_has(&d, "debug: NEXT request"), "debug lines at info level");

    /* SIGHUP with log_level = debug and a restart-only change. */
    write_config(&d, 2, 4, "[server]\nlog_level = debug\n");
    kill(d.pid, SIGHUP);
    await_notify(fd, "READY=1", got, sizeof got);
    await_log(&d, "reloaded");
    cr_assert(log_has(&d, "reload: server.log_level: info -> debug"));
    cr_assert(log_has(&d, "reload: server.workers: 1 -> 2 needs a restart"));
    pull_one(&d, 2);
    cr_assert(log_has(&d, "debug: NEXT request"), "debug level not applied");

    /* A broken file: the daemon says why and keeps serving as before. */
    FILE *f = fopen(d.config, "w");
    fputs("[server]\nworkers = many\n", f);
    fclose(f);
    kill(d.pid, SIGHUP);
    await_notify(fd, "reload failed", got, sizeof got);
    await_log(&d, "keeping the running configuration");
    cr_assert(log_has(&d, "server.workers"));
    pull_one(&d, 3);
    stop_daemon(&d);
    close(fd);
    cleanup(&d);
}

Test(service, one_daemon_per_name_and_recovery_after_sigkill, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "kill");
    ref_init();
    start_daemon(&d, 1, 4);
    pull_one(&d, 1);

    /* A second daemon with the same name is refused. */
    char log2[600];
    snprintf(log2, sizeof log2, "%s/second.log", d.dir);
    int second = tu_spawn_daemon(d.config, log2);
    cr_assert_eq(tu_stop_daemon(second, 0), 1);
    char *text = tu_read_file(log2);
    char want[128];
    snprintf(want, sizeof want, "another mixupd named '%s' is running (pid %d)",
             d.name, d.pid);
    cr_assert(strstr(text, want), "%s", text);
    free(text);

    /* SIGKILL leaves its segment and socket file behind... */
    cr_assert_eq(tu_stop_daemon(d.pid, SIGKILL), 128 + SIGKILL);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "mixupd.%s.", d.name);
    cr_assert_geq(tu_count_shm(prefix), 1);
    struct stat st;
    cr_assert_eq(stat(d.ipc + 6, &st), 0, "the killed daemon's socket file");

    /* ...and the next start reclaims them (the dataset and the ring) and
     * serves. */
    d.pid = tu_spawn_daemon(d.config, d.log);
    wait_ready(&d);
    cr_assert(log_has(&d, "removed 2 shared-memory segment(s) left by a killed mixupd"));
    pull_one(&d, 2);
    stop_daemon(&d); /* asserts nothing left in /dev/shm or the ipc file */
    cleanup(&d);
}

Test(service, sigterm_stops_within_a_second, .timeout = 60)
{
    daemon_ctx d;
    setup_daemon(&d, "term");
    ref_init();
    start_daemon(&d, 2, 8);
    mixup_client *c = connect_to(d.ipc, 20000);
    cr_assert_eq(mixup_stream_open(c, NULL), 0);
    mixup_batch *b;
    cr_assert_eq(mixup_next(c, &b), 0);
    mixup_batch_release(b);
    struct timeval t0, t1;
    gettimeofday(&t0, NULL);
    stop_daemon(&d);
    gettimeofday(&t1, NULL);
    double el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_usec - t0.tv_usec) * 1e-6;
    cr_assert(el < 1.0, "shutdown took %.2f s", el);
    /* The client sees an error, not a hang. */
    mixup_client_set_timeout(c, 300);
    cr_assert_lt(mixup_next(c, &b), 0);
    mixup_client_close(c);
    cleanup(&d);
}

/* A second daemon on the same host: each clash names the
 * setting to change, and the log says which configuration file was read. */
Test(service, second_daemon_clashes_name_the_setting, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "clash");
    ref_init();
    start_daemon(&d, 1, 4);
    char want[700];
    snprintf(want, sizeof want, "configuration: %s", d.config);
    cr_assert(log_has(&d, want), "log lacks '%s'", want);

    /* Same name: server.name. */
    char log2[600], *text;
    snprintf(log2, sizeof log2, "%s/second.log", d.dir);
    cr_assert_eq(tu_stop_daemon(tu_spawn_daemon(d.config, log2), 0), 1);
    text = tu_read_file(log2);
    cr_assert(strstr(text, "give this one another server.name"), "%s", text);
    free(text);

    /* Another name, the same endpoint: server.endpoint. */
    daemon_ctx e = d;
    snprintf(e.name, sizeof e.name, "%s", tu_unique("clash2"));
    snprintf(e.config, sizeof e.config, "%s/second.conf", d.dir);
    write_config(&e, 1, 2, NULL);
    int status = tu_stop_daemon(tu_spawn_daemon(e.config, log2), 0);
    text = tu_read_file(log2);
    cr_assert_eq(status, 1, "status %d:\n%s", status, text);
    snprintf(want, sizeof want, "cannot bind server.endpoint %s: Address "
             "already in use (another daemon listens there: give this one "
             "its own server.endpoint)", d.ipc);
    cr_assert(strstr(text, want), "%s", text);
    free(text);
    snprintf(want, sizeof want, "mixupd.%s.", e.name);
    cr_assert_eq(tu_count_shm(want), 0, "the refused daemon left its segment");

    pull_one(&d, 1); /* the first one is unharmed */
    stop_daemon(&d);
    cleanup(&d);
}

/* The ipc socket file gets server.ipc_mode (default 0660) and
 * server.ipc_group whatever the umask (here 0, as UMask=0000 gave). */
static void check_ipc_mode(const char *extra, mode_t want, gid_t gid)
{
    daemon_ctx d;
    setup_daemon(&d, "ipcmode");
    write_config(&d, 1, 4, extra);
    mode_t old = umask(0);
    d.pid = tu_spawn_daemon(d.config, d.log);
    umask(old);
    wait_ready(&d);
    struct stat st;
    cr_assert_eq(stat(d.ipc + 6, &st), 0);
    cr_assert_eq(st.st_mode & 07777, want, "mode %o, expected %o",
                 (unsigned)(st.st_mode & 07777), (unsigned)want);
    cr_assert_eq(st.st_gid, gid);
    stop_daemon(&d);
    cleanup(&d);
}

Test(service, ipc_socket_mode_default, .timeout = 60)
{
    check_ipc_mode(NULL, 0660, getegid());
}

Test(service, ipc_socket_mode_and_group, .timeout = 60)
{
    struct group *g = getgrgid(getegid());
    cr_assert_not_null(g);
    char extra[256];
    snprintf(extra, sizeof extra, "[server]\nipc_mode = 0604\nipc_group = %s\n",
             g->gr_name);
    check_ipc_mode(extra, 0604, g->gr_gid);
}
