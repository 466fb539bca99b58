/*
 * test_client.c — libmixup's own checks, before any daemon answers: an
 * ipc:// socket that is missing or forbidden is reported at once, naming
 * the path and the reason, and the shared defaults.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mixup.h"
#include "testutil.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A bound (not listening) unix socket at @path, with @mode. */
static void make_socket(const char *path, mode_t mode)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0, "%s",
                 strerror(errno));
    close(fd);
    cr_assert_eq(chmod(path, mode), 0);
}

/* mixup_client_connect() on one endpoint: its code, its message in @msg. */
static int try_connect(const char *ep, char *msg, size_t len)
{
    mixup_client *c = NULL;
    const char *eps[] = {ep};
    int rc = mixup_client_connect(&c, eps, 1, NULL);
    snprintf(msg, len, "%s", rc < 0 ? mixup_client_error(NULL) : "");
    mixup_client_close(c);
    return rc;
}

Test(client, missing_ipc_socket_is_reported_at_once)
{
    char *dir = tu_tmpdir("client-missing");
    char ep[600], msg[1024];
    snprintf(ep, sizeof ep, "ipc://%s/nobody.ipc", dir);
    double t0 = now();
    cr_assert_eq(try_connect(ep, msg, sizeof msg), MIXUP_ECONNECT);
    cr_assert_lt(now() - t0, 1.0, "not at once");
    cr_assert(strstr(msg, ep + 6), "the path is not named: %s", msg);
    cr_assert(strstr(msg, "no such socket file"), "%s", msg);

    /* A file that is not a socket. */
    free(tu_write_file(dir, "plain.ipc", "x", 1));
    snprintf(ep, sizeof ep, "ipc://%s/plain.ipc", dir);
    cr_assert_eq(try_connect(ep, msg, sizeof msg), MIXUP_ECONNECT);
    cr_assert(strstr(msg, "not a socket"), "%s", msg);

    /* A socket that exists is left to nanomsg, as is a list of endpoints
     * (failover: the others are the point). */
    snprintf(ep, sizeof ep, "ipc://%s/there.ipc", dir);
    make_socket(ep + 6, 0666);
    cr_assert_eq(try_connect(ep, msg, sizeof msg), 0, "%s", msg);
    mixup_client *c = NULL;
    char missing[600];
    snprintf(missing, sizeof missing, "ipc://%s/nobody.ipc", dir);
    const char *eps[] = {missing, ep};
    cr_assert_eq(mixup_client_connect(&c, eps, 2, NULL), 0);
    mixup_client_close(c);
    tu_rmtree(dir);
    free(dir);
}

/* Permission denied on the socket and on its directory. Root may open
 * anything: the check then runs in a child that became "nobody". */
Test(client, forbidden_ipc_socket_is_reported_at_once)
{
    char *dir = tu_tmpdir("client-perm");
    cr_assert_eq(chmod(dir, 0755), 0);
    char ep[600], inner[600], ep2[700];
    snprintf(ep, sizeof ep, "ipc://%s/closed.ipc", dir);
    make_socket(ep + 6, 0600);
    snprintf(inner, sizeof inner, "%s/private", dir);
    cr_assert_eq(mkdir(inner, 0700), 0);
    snprintf(ep2, sizeof ep2, "ipc://%s/s.ipc", inner);
    make_socket(ep2 + 6, 0666);
    struct passwd *nobody = getpwnam("nobody");
    if (geteuid() == 0)
        cr_assert_not_null(nobody);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(nobody->pw_gid) < 0 ||
                               setuid(nobody->pw_uid) < 0))
            _exit(3);
        char out[2200], m1[1024], m2[1024];
        int r1 = try_connect(ep, m1, sizeof m1);
        int r2 = try_connect(ep2, m2, sizeof m2);
        int n = snprintf(out, sizeof out, "%d\n%s\n%d\n%s\n", r1, m1, r2, m2);
        if (write(fds[1], out, (size_t)n) != n)
            _exit(4);
        _exit(0);
    }
    close(fds[1]);
    char got[2200] = "";
    size_t have = 0;
    ssize_t n;
    while ((n = read(fds[0], got + have, sizeof got - 1 - have)) > 0)
        have += (size_t)n;
    close(fds[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d", status);
    char want[2200];
    snprintf(want, sizeof want, "%d\nendpoint '%s': cannot open %s: "
             "permission denied", MIXUP_ECONNECT, ep, ep + 6);
    cr_assert(strstr(got, want), "%s", got);
    snprintf(want, sizeof want, "%d\nendpoint '%s': cannot open %s: "
             "permission denied", MIXUP_ECONNECT, ep2, ep2 + 6);
    cr_assert(strstr(got, want), "%s", got);
    tu_rmtree(dir);
    free(dir);
}

Test(client, default_endpoint_and_timeout)
{
    mixup_client_options o;
    mixup_client_options_init(&o);
    cr_assert_eq(o.timeout_ms, MIXUP_DEFAULT_TIMEOUT_MS);
    setenv("MIXUPD_ENDPOINT", "tcp://127.0.0.1:7", 1);
    cr_assert_str_eq(mixup_default_endpoint(), "tcp://127.0.0.1:7");
    setenv("MIXUPD_ENDPOINT", "", 1);
    struct stat st;
    int service = stat("/run/mixupd/mixupd.ipc", &st) == 0;
    cr_assert_str_eq(mixup_default_endpoint(),
                     service ? MIXUP_SERVICE_ENDPOINT : MIXUP_DEFAULT_ENDPOINT);
    unsetenv("MIXUPD_ENDPOINT");
}
