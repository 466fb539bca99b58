/*
 * daemon.h — the real daemon for end-to-end tests (see daemon.c).
 */
#ifndef TEST_DAEMON_H
#define TEST_DAEMON_H

#include <stdint.h>

#include "batch.h"
#include "mixup.h"

/* The test dataset: N images of HxWxC uint8, K classes, batch size B. */
enum { N = 300, H = 8, W = 8, C = 3, K = 5, B = 8, BPE = N / (2 * B) };

extern uint8_t images[N * H * W * C];
extern int64_t labels64[N];
extern int32_t labels32[N];
extern ds_dataset ref_ds;
extern bat_plan ref_plan;

typedef struct daemon_ctx {
    char *dir;
    char name[64];
    char ipc[256];
    char tcp[64];
    char config[512];
    char log[512];
    int pid;
} daemon_ctx;

/* A private directory with images.npy / labels.npy, names and endpoints. */
void setup_daemon(daemon_ctx *d, const char *tag);
/* Write the configuration; @extra is appended (INI lines) or NULL. */
void write_config(daemon_ctx *d, uint32_t workers, uint32_t slots,
                  const char *extra);
/* Start with a fresh configuration and wait until it answers. */
void start_daemon(daemon_ctx *d, uint32_t workers, uint32_t slots);
/* Wait until the daemon answers INFO (fails the test if it died). */
void wait_ready(daemon_ctx *d);
/* SIGTERM, then check: exit 0, clean log, nothing left in /dev/shm. */
void stop_daemon(daemon_ctx *d);
void cleanup(daemon_ctx *d);
void assert_clean_log(const char *log);

mixup_client *connect_to(const char *ep, int timeout_ms);

/* The reference pipeline (alpha 0.4, batch B) on the same bytes. */
void ref_init(void);
void check_against_reference(const mixup_batch *b, uint64_t seed,
                             uint64_t epoch, uint64_t k);

/* A client pulling batches (in a thread, or called directly). */
typedef struct puller {
    const char *endpoint;
    uint64_t seed, start_epoch, start_batch;
    int batches;
    int failures;
    char error[512];
    mixup_batch *got[64];
} puller;

void *pull(void *arg);
/* Check every pulled batch against the reference, in stream order; frees. */
void check_pulled(puller *p);

#endif
