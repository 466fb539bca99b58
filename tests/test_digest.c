/*
 * test_digest.c — the daemon's digests (digest.h): XXH64 against its
 * published values, in one piece or fed in parts; the settings digest
 * follows what shapes batches and ignores how they are served.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "config.h"
#include "digest.h"

Test(digest, xxh64_matches_the_reference_values)
{
    cr_assert_eq(dg_hash("", 0), 0xEF46DB3751D8E999ull);
    cr_assert_eq(dg_hash("a", 1), 0xD24EC4F1A98C6E5Bull);
    cr_assert_eq(dg_hash("abc", 3), 0x44BC2CF5AD770999ull);
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
