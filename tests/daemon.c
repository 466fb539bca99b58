/*
 * daemon.c — start the real mixupd on a small .npy dataset written by the
 * test, wait for it, stop it, and check what it served against batches
 * built here from the same bytes. Shared by the end-to-end tests.
 */
#include "daemon.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

uint8_t images[N * H * W * C];
int64_t labels64[N];
int32_t labels32[N];


/* A port nobody listens on now: the kernel's choice for port 0. */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void make_data(void)
{
    for (int i = 0; i < N * H * W * C; i++)
        images[i] = (uint8_t)((i * 131 + i / 7) % 251);
    for (int i = 0; i < N; i++) {
        labels64[i] = (i * 3) % K;
        labels32[i] = (int32_t)labels64[i];
    }
}

/* Is "key = ..." of section @sec in @extra (INI text)? endpoint never
 * counts: it is the repeatable key, and extra ones add endpoints. */
static int overridden(const char *extra, const char *sec, const char *line)
{
    size_t klen = strcspn(line, " =");
    if (!extra || klen == 0 || strncmp(line, "endpoint", klen) == 0)
        return 0;
    char cur[64] = "";
    for (const char *p = extra; *p;) {
        size_t n = strcspn(p, "\n");
        if (*p == '[')
            snprintf(cur, sizeof cur, "%.*s", (int)strcspn(p + 1, "]"), p + 1);
        else if (strcmp(cur, sec) == 0 && strncmp(p, line, klen) == 0 &&
                 (p[klen] == ' ' || p[klen] == '='))
            return 1;
        p += n + (p[n] == '\n');
    }
    return 0;
}

/* The base configuration, less the keys @extra sets again (the daemon
 * refuses a key given twice in one section), then @extra. */
void write_config(daemon_ctx *d, uint32_t workers, uint32_t slots,
                  const char *extra)
{
    char base[4096];
    snprintf(base, sizeof base,
             "[server]\nendpoint = %s\nendpoint = %s\nname = %s\n"
             "workers = %u\nring_slots = %u\nprefetch = %u\nlog_level = debug\n"
             "[dataset]\nformat = npy\nimages = %s/images.npy\n"
             "labels = %s/labels.npy\nclasses = %d\n"
             "[batch]\nsize = %d\nalpha = 0.4\nseed = 3\nshuffle = true\n",
             d->ipc, d->tcp, d->name, workers, slots, slots < 4 ? slots : 4,
             d->dir, d->dir, K, B);
    FILE *f = fopen(d->config, "w");
    cr_assert_not_null(f);
    char sec[64] = "";
    for (char *line = strtok(base, "\n"); line; line = strtok(NULL, "\n")) {
        if (*line == '[')
            snprintf(sec, sizeof sec, "%.*s", (int)strcspn(line + 1, "]"),
                     line + 1);
        else if (overridden(extra, sec, line))
            continue;
        fprintf(f, "%s\n", line);
    }
    fputs(extra ? extra : "", f);
    fclose(f);
}

void setup_daemon(daemon_ctx *d, const char *tag)
{
    make_data();
    d->dir = tu_tmpdir(tag);
    snprintf(d->name, sizeof d->name, "%s", tu_unique(tag));
    snprintf(d->ipc, sizeof d->ipc, "ipc://%s/mixupd.ipc", d->dir);
    snprintf(d->tcp, sizeof d->tcp, "tcp://127.0.0.1:%d", free_port());
    snprintf(d->config, sizeof d->config, "%s/mixupd.conf", d->dir);
    snprintf(d->log, sizeof d->log, "%s/mixupd.log", d->dir);
    uint64_t ishape[4] = {N, H, W, C}, lshape[1] = {N};
    free(tu_write_npy(d->dir, "images.npy", "|u1", ishape, 4, images, sizeof images));
    free(tu_write_npy(d->dir, "labels.npy", "<i8", lshape, 1, labels64, sizeof labels64));
}

mixup_client *connect_to(const char *ep, int timeout_ms)
{
    mixup_client *c;
    mixup_client_options o;
    mixup_client_options_init(&o);
    o.timeout_ms = timeout_ms;
    const char *eps[] = {ep};
    cr_assert_eq(mixup_client_connect(&c, eps, 1, &o), 0);
    return c;
}

/* Readiness: the daemon answers INFO once it has loaded the data and
 * bound its endpoints. Polled with short timeouts so that a daemon that
 * died at start-up fails the test at once instead of after a long wait. */
void wait_ready(daemon_ctx *d)
{
    mixup_client *c = NULL;
    mixup_client_options o;
    mixup_client_options_init(&o);
    o.timeout_ms = 200;
    const char *eps[] = {d->ipc};
    for (int attempt = 0; attempt < 150; attempt++) {
        mixup_info info;
        int rc = 1;
        /* Until the daemon binds, its socket file does not exist, which
         * libmixup reports at once (MIXUP_ECONNECT): try again. */
        if (!c && mixup_client_connect(&c, eps, 1, &o) < 0)
            usleep(200 * 1000);
        /* A daemon with a token answers too: MIXUP_EAUTH. */
        else if ((rc = mixup_client_info(c, &info)) == 0 || rc == MIXUP_EAUTH) {
            mixup_client_close(c);
            return;
        }
        int status;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            char *log = tu_read_file(d->log);
            cr_assert_fail("mixupd exited at start-up:\n%s", log ? log : "");
        }
    }
    mixup_client_close(c);
    cr_assert_fail("mixupd did not answer within 30 s");
}

void start_daemon(daemon_ctx *d, uint32_t workers, uint32_t slots)
{
    write_config(d, workers, slots, NULL);
    d->pid = tu_spawn_daemon(d->config, d->log);
    wait_ready(d);
}

/* Under ASan/UBSan the daemon reports to its log: any report fails. */
void assert_clean_log(const char *log)
{
    cr_assert_not_null(log);
    cr_assert(!strstr(log, "Sanitizer") && !strstr(log, "runtime error"),
              "sanitizer report in the daemon's log:\n%s", log);
}

void stop_daemon(daemon_ctx *d)
{
    int status = tu_stop_daemon(d->pid, SIGTERM);
    char *log = tu_read_file(d->log);
    cr_assert_eq(status, 0, "mixupd exit status %d; log:\n%s", status, log);
    assert_clean_log(log);
    free(log);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "mixupd.%s.", d->name);
    cr_assert_eq(tu_count_shm(prefix), 0, "shared memory left behind");
    struct stat st;
    cr_assert_eq(stat(d->ipc + 6, &st), -1, "ipc socket file left behind");
}

void cleanup(daemon_ctx *d)
{
    tu_rmtree(d->dir);
    free(d->dir);
}

/* The reference: the same pipeline, run here on the same bytes. */
ds_dataset ref_ds;
bat_plan ref_plan;

void ref_init(void)
{
    ref_ds = (ds_dataset){
        .n = N, .h = H, .w = W, .c = C, .classes = K, .dtype = DS_U8,
        .images = images, .labels = labels32,
    };
    char err[256];
    cr_assert_eq(bat_plan_init(&ref_plan, &ref_ds, B, 0.4, 1, err, sizeof err), 0);
}

void check_against_reference(const mixup_batch *b, uint64_t seed,
                                     uint64_t epoch, uint64_t k)
{
    cr_assert_eq(b->epoch, epoch);
    cr_assert_eq(b->index, k);
    cr_assert_eq(b->size, (uint32_t)B);
    cr_assert_eq(b->height, (uint32_t)H);
    cr_assert_eq(b->channels, (uint32_t)C);
    cr_assert_eq(b->classes, (uint32_t)K);
    smp_order *o = smp_order_new(&ref_plan.smp, seed, epoch);
    uint8_t *msg = malloc(ref_plan.layout.total);
    bat_build(&ref_plan, o, k, 0, msg);
    const mxp_batch_layout *L = &ref_plan.layout;
    cr_assert_eq(memcmp(b->index1, msg + L->index1, B * 8), 0, "index1 differs");
    cr_assert_eq(memcmp(b->index2, msg + L->index2, B * 8), 0, "index2 differs");
    cr_assert_eq(memcmp(b->lam, msg + L->lam, B * 4), 0, "lambda differs");
    cr_assert_eq(memcmp(b->x, msg + L->x, (size_t)B * H * W * C * 4), 0, "x differs");
    cr_assert_eq(memcmp(b->y, msg + L->y, (size_t)B * K * 4), 0, "y differs");
    free(msg);
    smp_order_unref(o);
}


void *pull(void *arg)
{
    puller *p = arg;
    mixup_client *c;
    const char *eps[] = {p->endpoint};
    mixup_client_options o = {.timeout_ms = 20000};
    if (mixup_client_connect(&c, eps, 1, &o) < 0) {
        p->failures++;
        return NULL;
    }
    mixup_stream_options so;
    mixup_stream_options_init(&so);
    so.seed = p->seed;
    so.start_epoch = p->start_epoch;
    so.start_batch = p->start_batch;
    if (mixup_stream_open(c, &so) < 0) {
        snprintf(p->error, sizeof p->error, "%s", mixup_client_error(c));
        p->failures++;
    }
    /* Kept for checking after the fact: more than server.max_held. */
    for (int i = 0; i < p->batches && !p->failures; i++)
        if (mixup_next(c, &p->got[i]) < 0 || mixup_batch_keep(p->got[i]) < 0) {
            snprintf(p->error, sizeof p->error, "%s", mixup_client_error(c));
            p->failures++;
        }
    mixup_client_close(c);
    return NULL;
}

void check_pulled(puller *p)
{
    cr_assert_eq(p->failures, 0, "client on %s: %s", p->endpoint, p->error);
    uint64_t e = p->start_epoch, k = p->start_batch;
    for (int i = 0; i < p->batches; i++) {
        check_against_reference(p->got[i], p->seed, e, k);
        mixup_batch_release(p->got[i]);
        if (++k == BPE) {
            k = 0;
            e++;
        }
    }
}
