/*
 * test_hostile.c — the daemon against hostile peers: a flood of framed
 * garbage must not flood the log (rate-limited per kind, with summaries
 * and counters in stats) while a normal client keeps being served.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "testutil.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A TCP connection that speaks the SP handshake as a REQ peer, so that
 * the daemon's REP socket takes what follows as framed messages. */
static int sp_connect(const char *tcp_endpoint)
{
    int port = atoi(strrchr(tcp_endpoint, ':') + 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    static const uint8_t hello[8] = {0, 'S', 'P', 0, 0, 48, 0, 0}; /* REQ */
    cr_assert_eq(write(fd, hello, 8), 8);
    uint8_t peer[8];
    cr_assert_eq(recv(fd, peer, 8, MSG_WAITALL), 8, "no SP handshake");
    return fd;
}

typedef struct flood {
    const char *endpoint;
    double seconds;
    long frames;
} flood;

/* Frames: 8-byte big-endian length, a request id with the top bit set
 * (the REQ backtrace), then bytes that are no request. Replies are never
 * read, so they pile up too. */
static void *flood_main(void *arg)
{
    flood *f = arg;
    int fd = sp_connect(f->endpoint);
    uint8_t frame[8 + 4 + 40];
    memset(frame, 0, sizeof frame);
    frame[7] = 44;
    frame[8] = 0x80;
    for (int i = 12; i < (int)sizeof frame; i++)
        frame[i] = (uint8_t)(i * 7);
    double end = now_s() + f->seconds;
    while (now_s() < end) {
        frame[11] = (uint8_t)f->frames;
        if (send(fd, frame, sizeof frame, MSG_NOSIGNAL) != (ssize_t)sizeof frame)
            break;
        f->frames++;
    }
    close(fd);
    return NULL;
}

static int count_lines(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p++)
        n++;
    return n;
}

Test(hostile, garbage_flood_is_rate_limited, .timeout = 120)
{
    daemon_ctx d;
    setup_daemon(&d, "flood");
    ref_init();
    write_config(&d, 2, 8, "[server]\nlog_level = info\n");
    d.pid = tu_spawn_daemon(d.config, d.log);
    wait_ready(&d);

    flood f = {.endpoint = d.tcp, .seconds = 3.0};
    pthread_t t;
    pthread_create(&t, NULL, flood_main, &f);
    /* A normal client is served meanwhile, byte for byte. */
    puller p = {.endpoint = d.ipc, .seed = 5, .batches = 8};
    pull(&p);
    check_pulled(&p);
    pthread_join(t, NULL);
    cr_assert_gt(f.frames, 1000, "the flood sent only %ld frames", f.frames);

    mixup_client *c = connect_to(d.ipc, 5000);
    char *json = NULL;
    cr_assert_eq(mixup_client_stats(c, 1, &json), 0);
    cr_assert(strstr(json, "\"log\": {\"bad_request\": {\"events\": "), "%s",
              json);
    long events = atol(strstr(json, "\"bad_request\": {\"events\": ") + 27);
    cr_assert_gt(events, 100, "%s", json);
    free(json);
    mixup_client_close(c);

    stop_daemon(&d);
    char *log = tu_read_file(d.log);
    int bad = count_lines(log, "bad request");
    int more = count_lines(log, "more like this (bad_request)");
    int lines = count_lines(log, "\n");
    /* 10 a second and one summary per second, for about 4 s. */
    cr_assert_leq(bad, 10 * 6, "%d bad-request lines for %ld frames", bad,
                  f.frames);
    cr_assert_geq(more, 1, "no summary line");
    cr_assert_leq(lines, 200, "%d log lines for %ld frames", lines, f.frames);
    fprintf(stderr, "flood: %ld frames in %.0f s, %d log lines, %ld bad "
            "requests counted\n", f.frames, f.seconds, lines, events);
    free(log);
    cleanup(&d);
}
