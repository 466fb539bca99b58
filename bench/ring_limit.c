/*
 * ring_limit — the physical limit of mixupd's design on this machine.
 *
 *   ring_limit [--seconds S] [--batch B] [--shape HxWxC] [--classes K]
 *              [--slots N] [--samples N]
 *
 * One thread mixes batches exactly as mixupd's default pipeline does
 * (mixup of 2B uint8 samples into float32 NHWC with krn_mix_u8, one-hot
 * rows with krn_mix_onehot: the daemon's own kernels) into a ring of N
 * slots in a shared mapping (MAP_SHARED, as mixupd's ring); another
 * thread takes each ready slot and copies x and y out into a buffer of its
 * own, as a trainer copies a batch into its tensors (`mixupctl bench
 * --consume copy`), then frees the slot. No sockets, no protocol, no
 * scheduling: what is left is the arithmetic and the one copy a trainer
 * needs. Prints samples/s and batches/s like mixupctl bench.
 *
 * The sample order and lambdas come from a cheap generator here (mixupd
 * draws them from Philox and a Beta law): that makes this limit, if
 * anything, a little higher than what the real pipeline could reach.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "kernels.h"

typedef struct limit {
    uint32_t b, h, w, c, k, slots;
    uint64_t n;
    double seconds;
    size_t x_floats, slot_bytes;
    uint8_t *images;
    int32_t *labels;
    uint8_t *ring;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t produced, consumed; /* batches; slot = count % slots */
    int stop;
} limit;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t next_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static void mix_batch(limit *L, uint8_t *slot, uint64_t *rng)
{
    float *x = (float *)(void *)slot;
    float *y = x + L->x_floats;
    size_t per = (size_t)L->h * L->w * L->c;
    for (uint32_t j = 0; j < L->b; j++) {
        uint64_t i1 = next_rand(rng) % L->n, i2 = next_rand(rng) % L->n;
        float lam = (float)(next_rand(rng) % 1000) / 1000.0f;
        krn_mix_u8(x + j * per, L->images + i1 * per, L->images + i2 * per,
                   per, lam, 1.0f / 255.0f);
        krn_mix_onehot(y + (size_t)j * L->k, L->k, L->labels[i1],
                       L->labels[i2], lam);
    }
}

static void *producer(void *arg)
{
    limit *L = arg;
    uint64_t rng = 42;
    pthread_mutex_lock(&L->mu);
    while (!L->stop) {
        while (!L->stop && L->produced - L->consumed == L->slots)
            pthread_cond_wait(&L->cv, &L->mu);
        if (L->stop)
            break;
        uint8_t *slot = L->ring + (L->produced % L->slots) * L->slot_bytes;
        pthread_mutex_unlock(&L->mu);
        mix_batch(L, slot, &rng);
        pthread_mutex_lock(&L->mu);
        L->produced++;
        pthread_cond_broadcast(&L->cv);
    }
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

static int parse_args(int argc, char **argv, limit *L)
{
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--seconds"))
            L->seconds = strtod(v, NULL);
        else if (!strcmp(a, "--batch"))
            L->b = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--classes"))
            L->k = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--slots"))
            L->slots = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--samples"))
            L->n = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--shape")) {
            if (sscanf(v, "%ux%ux%u", &L->h, &L->w, &L->c) != 3)
                return -1;
        } else
            return -1;
    }
    if (argc % 2 == 0)
        return -1;
    return L->b && L->h && L->w && L->c && L->k && L->slots && L->n &&
                   L->seconds > 0
               ? 0
               : -1;
}

int main(int argc, char **argv)
{
    limit L = {.b = 128, .h = 32, .w = 32, .c = 3, .k = 10, .slots = 16,
               .n = 10000, .seconds = 3};
    if (parse_args(argc, argv, &L) < 0) {
        fprintf(stderr, "usage: ring_limit [--seconds S] [--batch B] "
                "[--shape HxWxC] [--classes K] [--slots N] [--samples N]\n");
        return 2;
    }
    size_t per = (size_t)L.h * L.w * L.c;
    L.x_floats = per * L.b;
    size_t bytes = (L.x_floats + (size_t)L.b * L.k) * 4;
    L.slot_bytes = (bytes + 4095) & ~(size_t)4095;
    L.images = malloc(per * L.n);
    L.labels = malloc(L.n * sizeof *L.labels);
    L.ring = mmap(NULL, L.slot_bytes * L.slots, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    uint8_t *mine = malloc(bytes);
    if (!L.images || !L.labels || L.ring == MAP_FAILED || !mine) {
        fprintf(stderr, "ring_limit: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < per * L.n; i++)
        L.images[i] = (uint8_t)(i * 2654435761u >> 24);
    for (uint64_t i = 0; i < L.n; i++)
        L.labels[i] = (int32_t)(i % L.k);
    memset(L.ring, 0, L.slot_bytes * L.slots);
    memset(mine, 0, bytes);
    pthread_mutex_init(&L.mu, NULL);
    pthread_cond_init(&L.cv, NULL);
    pthread_t t;
    if (pthread_create(&t, NULL, producer, &L) != 0) {
        fprintf(stderr, "ring_limit: cannot start the mixing thread\n");
        return 1;
    }
    uint64_t batches = 0, warm = 3, sum = 0;
    double t0 = 0, tn = 0;
    for (;;) {
        pthread_mutex_lock(&L.mu);
        while (L.produced == L.consumed)
            pthread_cond_wait(&L.cv, &L.mu);
        uint8_t *slot = L.ring + (L.consumed % L.slots) * L.slot_bytes;
        pthread_mutex_unlock(&L.mu);
        memcpy(mine, slot, bytes); /* the trainer's copy */
        sum += mine[bytes / 2];
        pthread_mutex_lock(&L.mu);
        L.consumed++;
        pthread_cond_broadcast(&L.cv);
        pthread_mutex_unlock(&L.mu);
        if (warm && --warm == 0)
            t0 = now_s();
        else if (!warm && ++batches % 8 == 0 && (tn = now_s()) - t0 >= L.seconds)
            break;
    }
    pthread_mutex_lock(&L.mu);
    L.stop = 1;
    pthread_cond_broadcast(&L.cv);
    pthread_mutex_unlock(&L.mu);
    pthread_join(t, NULL);
    double el = tn - t0;
    printf("samples/s: %.1f\n", (double)batches * L.b / el);
    printf("batches/s: %.1f\n", (double)batches / el);
    printf("MB/s: %.1f\n", (double)batches * (double)bytes / el / 1e6);
    printf("checksum: %llu\n", (unsigned long long)sum);
    return 0;
}
