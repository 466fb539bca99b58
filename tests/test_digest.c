/*
 * test_digest.c — the daemon's digests (digest.h): XXH64 against its
 * published values, in one piece or fed in parts; the settings digest
 * follows what shapes batches and ignores how they are served.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "dataset.h"
#include "digest.h"
#include "testutil.h"

Test(digest, xxh64_matches_the_reference_values)
{
    cr_assert_eq(dg_hash("", 0), 0xEF46DB3751D8E999ull);
    cr_assert_eq(dg_hash("a", 1), 0xD24EC4F1A98C6E5Bull);
    cr_assert_eq(dg_hash("abc", 3), 0x44BC2CF5AD770999ull);
}

/* Bytes that are not all alike: a xorshift stream from @seed. */
static void fill(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)(x >> 32);
    }
}

/* The digests clients compare across daemons (and across versions of the
 * daemon, which may serve side by side during an upgrade) must not move
 * when the hash's implementation changes: these values were computed by
 * the hand-written XXH64 the daemon used before libxxhash, over every
 * length class of the algorithm (under 4, 8 and 32 bytes, one and
 * several 32-byte stripes, a tail of each size, a long input). */
Test(digest, xxh64_values_are_pinned)
{
    static const struct {
        size_t len;
        uint64_t want;
    } pins[] = {
        {1, 0xb50c2974c97c6663ull},
        {3, 0x3d134528ea614554ull},
        {4, 0xdbcdf4f000009046ull},
        {7, 0x96349dbd1be0919aull},
        {8, 0xa6e910fc0360f935ull},
        {15, 0xb86c4e3a1d8f2276ull},
        {31, 0x3f14b54c0ef2773aull},
        {32, 0xe48dae740176fd82ull},
        {33, 0x6c4ce80297800e46ull},
        {63, 0xcdcf42c6c54f70beull},
        {64, 0xa1e3e55045147c9dull},
        {100, 0x48e7eb1624f84f3aull},
        {1000, 0x9e2a3d6dd5fa3ed5ull},
        {1 << 20, 0x8a73fdbfe5c734c9ull},
    };
    uint8_t *data = malloc(1 << 20);
    cr_assert_not_null(data);
    fill(data, 1 << 20, 0x9E3779B97F4A7C15ull);
    for (size_t i = 0; i < sizeof pins / sizeof pins[0]; i++)
        cr_expect_eq(dg_hash(data, pins[i].len), pins[i].want,
                     "length %zu: %016llx", pins[i].len,
                     (unsigned long long)dg_hash(data, pins[i].len));
    free(data);
}

/* The dataset digest of a small .npy dataset: shape, dtype, label form
 * and class count, then every byte of the segment. */
Test(digest, dataset_digest_is_pinned)
{
    char *dir = tu_tmpdir("digest");
    uint8_t images[12 * 5 * 4 * 3];
    fill(images, sizeof images, 42);
    int64_t labels[12];
    for (int i = 0; i < 12; i++)
        labels[i] = i % 3;
    uint64_t ishape[] = {12, 5, 4, 3}, lshape[] = {12};
    char *ip = tu_write_npy(dir, "x.npy", "|u1", ishape, 4, images,
                            sizeof images);
    char *lp = tu_write_npy(dir, "y.npy", "<i8", lshape, 1, labels,
                            sizeof labels);
    ds_source src = {.format = DS_NPY, .images = ip, .labels = lp};
    ds_dataset ds;
    char err[512];
    int rc = ds_load(&ds, &src, tu_unique("digest"), err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    uint64_t got = ds.digest;
    ds_unload(&ds);
    tu_rmtree(dir);
    free(ip);
    free(lp);
    free(dir);
    cr_expect_eq(got, 0x12bc15d4c606d263ull, "%016llx", (unsigned long long)got);
}

Test(digest, parts_give_the_digest_of_the_whole)
{
    uint8_t data[1000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 131 + 7);
    uint64_t whole = dg_hash(data, sizeof data);
    static const size_t cuts[] = {1, 3, 31, 32, 33, 64, 100, 999};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        dg_state s;
        dg_init(&s);
        for (size_t at = 0; at < sizeof data; at += cuts[c]) {
            size_t n = sizeof data - at < cuts[c] ? sizeof data - at : cuts[c];
            dg_update(&s, data + at, n);
        }
        cr_assert_eq(dg_final(&s), whole, "parts of %zu bytes", cuts[c]);
    }
    data[500] ^= 1;
    cr_assert_neq(dg_hash(data, sizeof data), whole);
}

static uint64_t settings_with(const char *assignment)
{
    cfg_config cfg;
    cfg_defaults(&cfg);
    char err[256];
    if (assignment)
        cr_assert_eq(cfg_set(&cfg, assignment, err, sizeof err), 0, "%s", err);
    return dg_settings(&cfg);
}

Test(digest, settings_digest_follows_what_shapes_batches)
{
    uint64_t base = settings_with(NULL);
    cr_assert_eq(settings_with(NULL), base);
    static const char *const serving[] = {
        "server.workers=1", "server.ring_slots=64", "server.prefetch=2",
        "server.name=other", "dataset.images=/elsewhere/x.gz",
        "dataset.labels=/elsewhere/y.gz", "dataset.format=npy",
    };
    for (size_t i = 0; i < sizeof serving / sizeof serving[0]; i++)
        cr_assert_eq(settings_with(serving[i]), base, "%s changed it",
                     serving[i]);
    static const char *const shaping[] = {
        "batch.size=33", "batch.alpha=0.3", "augment.erase_prob=0.5",
        "output.dtype=float16", "output.layout=NCHW", "dataset.classes=12",
        "batch.mix=cutmix",
    };
    for (size_t i = 0; i < sizeof shaping / sizeof shaping[0]; i++)
        cr_assert_neq(settings_with(shaping[i]), base, "%s did not change it",
                      shaping[i]);
}
