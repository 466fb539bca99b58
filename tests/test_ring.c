/*
 * test_ring.c — the ring's lifecycle (ring.h): states and their counts,
 * generations, the segment's header and mode, and what a full ring does.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "proto.h"
#include "ring.h"
#include "testutil.h"

static void make(ring *r, uint32_t slots, size_t msg, unsigned mode)
{
    char err[256];
    ring_config cfg = {.instance = tu_unique("ring"), .slots = slots,
                       .msg_size = msg, .mode = mode};
    cr_assert_eq(ring_init(r, &cfg, err, sizeof err), 0, "%s", err);
}

Test(ring, lifecycle_keeps_the_counts_and_the_free_list)
{
    ring r;
    make(&r, 4, 5000, 0600);
    cr_assert_eq(ring_check(&r), 0);
    cr_assert_eq(ring_count(&r, RING_FREE), 4);
    ring_slot *s[4];
    for (int i = 0; i < 4; i++) {
        s[i] = ring_acquire(&r);
        cr_assert_not_null(s[i]);
        cr_assert_eq(ring_check(&r), 0);
    }
    cr_assert_null(ring_acquire(&r), "a full ring gives nothing");
    cr_assert_eq(ring_count(&r, RING_FILLING), 4);
    for (int i = 0; i < 4; i++)
        ring_filled(&r, s[i]);
    ring_lend(&r, s[0]);
    ring_send(&r, s[1]);
    cr_assert_eq(ring_count(&r, RING_READY), 2);
    cr_assert_eq(ring_count(&r, RING_LENT), 1);
    cr_assert_eq(ring_count(&r, RING_SENDING), 1);
    cr_assert_eq(ring_check(&r), 0);
    ring_release(&r, s[0]);
    ring_release(&r, s[1]);
    ring_release(&r, s[2]);
    cr_assert_eq(ring_count(&r, RING_FREE), 3);
    cr_assert_eq(ring_check(&r), 0);
    /* Transitions from the wrong state change nothing. */
    ring_release(&r, s[0]);
    ring_lend(&r, s[0]);
    ring_send(&r, s[0]);
    cr_assert_eq(ring_count(&r, RING_FREE), 3);
    cr_assert_eq(ring_check(&r), 0);
    ring_destroy(&r);
}

Test(ring, slots_are_page_aligned_in_one_segment_with_a_header)
{
    ring r;
    make(&r, 3, 5000, 0600);
    cr_assert_eq(r.slot_size, 8192u);
    const uint8_t *base = r.seg.addr;
    mxp_ring_head head;
    char err[128];
    cr_assert_eq(mxp_ring_head_decode(base, r.seg.size, &head, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(head.n_slots, 3u);
    cr_assert_eq(head.slot_size, 8192u);
    cr_assert_eq(memcmp(head.token, r.token, 16), 0);
    for (uint32_t i = 0; i < 3; i++) {
        cr_assert_eq(r.slots[i].data, base + head.data_offset + i * 8192u);
        cr_assert_eq((uintptr_t)r.slots[i].data % 4096, 0u);
    }
    cr_assert_eq(r.seg.size, head.data_offset + 3 * 8192u);
    ring_destroy(&r);
}

Test(ring, generations_change_and_a_stale_one_is_refused)
{
    ring r;
    make(&r, 1, 100, 0600);
    ring_slot *s = ring_acquire(&r);
    uint32_t g1 = s->generation;
    cr_assert_neq(g1, 0u);
    ring_filled(&r, s);
    cr_assert_eq(mxp_ring_gen_load(r.seg.addr, 0), 0u, "published when lent");
    ring_lend(&r, s);
    cr_assert_eq(mxp_ring_gen_load(r.seg.addr, 0), g1);
    cr_assert_eq(ring_lent_slot(&r, 0, g1), s);
    cr_assert_null(ring_lent_slot(&r, 0, g1 + 1));
    cr_assert_null(ring_lent_slot(&r, 1, g1), "out of range");
    ring_release(&r, s);
    cr_assert_eq(mxp_ring_gen_load(r.seg.addr, 0), 0u,
                 "a released slot fails every reader's check");
    cr_assert_null(ring_lent_slot(&r, 0, g1), "released: no longer lent");
    s = ring_acquire(&r);
    cr_assert_neq(s->generation, g1);
    ring_filled(&r, s);
    ring_lend(&r, s);
    cr_assert_null(ring_lent_slot(&r, 0, g1), "the old reference is stale");
    ring_destroy(&r);
}

Test(ring, segment_mode_and_removal)
{
    ring r;
    make(&r, 2, 100, 0640);
    char path[256];
    snprintf(path, sizeof path, "/dev/shm%s", r.seg.name);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0640u, "mode %o", st.st_mode & 0777);
    ring_destroy(&r);
    cr_assert_eq(stat(path, &st), -1, "removed on destroy");
    make(&r, 2, 100, 0600);
    snprintf(path, sizeof path, "/dev/shm%s", r.seg.name);
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600u);
    ring_destroy(&r);
}

Test(ring, bad_geometry_is_an_error_and_leaves_nothing)
{
    ring r;
    char err[256];
    ring_config cfg = {.instance = tu_unique("ring"), .slots = 0,
                       .msg_size = 100, .mode = 0600};
    cr_assert_eq(ring_init(&r, &cfg, err, sizeof err), MIXUP_EINVAL);
    cfg.slots = 4;
    cfg.msg_size = SIZE_MAX / 2;
    cr_assert_eq(ring_init(&r, &cfg, err, sizeof err), MIXUP_ETOOBIG);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "mixupd.%s.", cfg.instance);
    cr_assert_eq(tu_count_shm(prefix), 0);
}
