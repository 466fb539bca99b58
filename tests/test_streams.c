/*
 * test_streams.c — streams, jobs and scheduling in process (streams.h):
 * a real ring, worker pool and loop, with the sockets replaced by a
 * recorder. Checks the bytes each delivery carries against bat_build(),
 * the ring's invariants after every step, lending and releasing, the copy
 * budget, shared-job membership, scheduling decisions, and that serving
 * allocates nothing per batch.
 */
#include <criterion/criterion.h>
#include <nanomsg/nn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "batch.h"
#include "ring.h"
#include "streams.h"
#include "streams_internal.h"
#include "testutil.h"
#include "workers.h"

enum { N = 400, H = 5, W = 4, C = 3, K = 7, B = 10, PER_EPOCH = 20 };
enum { GOT_MAX = 256, CONTROLS = 512 };

static uint8_t images[N * H * W * C];
static int32_t labels[N];

typedef struct delivery {
    int lent;
    uint64_t request_id;
    mxp_batch_ref ref; /* lent */
    uint8_t *bytes;    /* copied: GOT bytes; lent: the slot */
    uint64_t epoch, k, stream_id, seq;
} delivery;

typedef struct harness {
    uv_loop_t loop;
    uv_timer_t tick;
    wrk_pool pool;
    ring ring;
    str_table *t;
    ds_dataset ds;
    bat_plan plan;
    delivery got[GOT_MAX];
    uint8_t *copies; /* GOT_MAX messages */
    int n_got;
    void *controls[CONTROLS];
    int next_control;
    uint64_t now;
} harness;

static harness h;

static void on_tick(uv_timer_t *t) { (void)t; }

static void record(uint64_t request_id, const uint8_t *msg, delivery *d)
{
    mxp_reply rep;
    char err[128];
    cr_assert_eq(mxp_reply_decode(msg, h.plan.layout.total, NULL, &rep, err,
                                  sizeof err), 0, "%s", err);
    cr_assert_eq(rep.hdr.request_id, d->lent ? 0 : request_id,
                 "a lent slot holds no request id");
    d->request_id = request_id;
    d->seq = rep.u.batch.seq;
    d->epoch = rep.u.batch.epoch;
    d->k = rep.u.batch.index;
    d->stream_id = rep.u.batch.stream_id;
}

static void cap_copy(void *ctx, void *control, uint64_t request_id,
                     const uint8_t *bytes, size_t size)
{
    (void)ctx;
    cr_assert_lt(h.n_got, GOT_MAX);
    cr_assert_eq(size, h.plan.layout.total);
    delivery *d = &h.got[h.n_got];
    d->lent = 0;
    d->bytes = h.copies + (size_t)h.n_got * size;
    memcpy(d->bytes, bytes, size);
    mxp_header hdr;
    char err[64];
    mxp_header_decode(bytes, size, NULL, &hdr, err, sizeof err);
    cr_assert_eq(hdr.request_id, 0u, "a slot never holds a request id");
    mxp_set_request_id(d->bytes, request_id);
    record(request_id, d->bytes, d);
    h.n_got++;
    nn_freemsg(control);
}

static void cap_ref(void *ctx, void *control, uint64_t request_id,
                    const mxp_batch_ref *ref)
{
    (void)ctx;
    cr_assert_lt(h.n_got, GOT_MAX);
    delivery *d = &h.got[h.n_got];
    d->lent = 1;
    d->ref = *ref;
    d->bytes = (uint8_t *)h.ring.seg.addr + ref->offset;
    cr_assert_eq(h.ring.slots[ref->slot].state, RING_LENT);
    cr_assert_eq(mxp_ring_gen_load(h.ring.seg.addr, ref->slot),
                 ref->generation);
    record(request_id, d->bytes, d);
    cr_assert_eq(d->epoch, ref->epoch);
    cr_assert_eq(d->k, ref->index);
    h.n_got++;
    nn_freemsg(control);
}

static void h_start(uint32_t slots, uint32_t prefetch, uint32_t max_held,
                    size_t copy_batches, uint32_t workers)
{
    memset(&h, 0, sizeof h);
    for (int i = 0; i < N * H * W * C; i++)
        images[i] = (uint8_t)(i * 13 + 5);
    for (int i = 0; i < N; i++)
        labels[i] = i % K;
    h.ds = (ds_dataset){.n = N, .h = H, .w = W, .c = C, .classes = K,
                        .dtype = DS_U8, .images = images, .labels = labels};
    char err[256];
    cr_assert_eq(bat_plan_init(&h.plan, &h.ds, B, 0.2, 1, err, sizeof err), 0);
    ring_config rc = {.instance = tu_unique("str"), .slots = slots,
                      .msg_size = h.plan.layout.total,
                      .scratch_size = h.plan.scratch_bytes, .mode = 0600};
    cr_assert_eq(ring_init(&h.ring, &rc, err, sizeof err), 0, "%s", err);
    cr_assert_eq(uv_loop_init(&h.loop), 0);
    uv_timer_init(&h.loop, &h.tick);
    uv_timer_start(&h.tick, on_tick, 20, 20);
    cr_assert_eq(wrk_pool_start(&h.pool, &h.loop, workers), 0);
    str_limits lim = {.max_streams = 16, .prefetch = prefetch,
                      .max_held = max_held,
                      .max_copy_bytes = copy_batches * h.plan.layout.total,
                      .idle_timeout_ms = 60000, .shared_lease_ms = 1000};
    str_io io = {.send_copy = cap_copy, .send_ref = cap_ref};
    cr_assert_eq(str_table_new(&h.t, &lim, &h.plan, &h.pool, &h.ring, &io), 0);
    h.copies = malloc(GOT_MAX * h.plan.layout.total);
    for (int i = 0; i < CONTROLS; i++)
        h.controls[i] = nn_allocmsg(8, 0);
    h.now = 1000;
}

static void h_stop(void)
{
    str_drop_pending(h.t);
    wrk_pool_stop(&h.pool);
    str_table_free(h.t);
    cr_assert_eq(ring_check(&h.ring), 0);
    cr_assert_eq(ring_count(&h.ring, RING_FREE), h.ring.n,
                 "every slot comes back when the streams are gone");
    ring_destroy(&h.ring);
    uv_close((uv_handle_t *)&h.tick, NULL);
    uv_run(&h.loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&h.loop), 0);
    for (int i = h.next_control; i < CONTROLS; i++)
        nn_freemsg(h.controls[i]);
    free(h.copies);
}

/* An OPEN whose nonce is @nonce_of (0: none) in its first 8 bytes. */
static uint64_t h_open_nonce(uint32_t mode, uint64_t seed, const char *job,
                             uint32_t rank, uint32_t world,
                             uint64_t request_id, uint64_t nonce_of)
{
    mxp_open_req req = {.mode = mode, .seed = seed, .rank = rank,
                        .world = world, .job = job,
                        .job_len = (uint16_t)(job ? strlen(job) : 0)};
    memcpy(req.nonce, &nonce_of, sizeof nonce_of);
    mxp_open_rep rep;
    char err[256];
    cr_assert_eq(str_open(h.t, &req, request_id, h.now, &rep, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(ring_check(&h.ring), 0);
    return rep.stream_id;
}

/* An OPEN whose nonce follows from its request id (a retry repeats both). */
static uint64_t h_open(uint32_t mode, uint64_t seed, const char *job,
                       uint32_t rank, uint32_t world, uint64_t request_id)
{
    return h_open_nonce(mode, seed, job, rank, world, request_id,
                        request_id);
}

/* A NEXT with @flags releasing @n slots of deliveries @rel. */
static int h_next_rel(uint64_t sid, uint64_t request_id, uint32_t flags,
                      const int *rel, uint32_t n, char *err, size_t errlen)
{
    uint8_t buf[1024];
    uint32_t slots[16], gens[16];
    for (uint32_t i = 0; i < n; i++) {
        slots[i] = h.got[rel[i]].ref.slot;
        gens[i] = h.got[rel[i]].ref.generation;
    }
    int len = mxp_encode_next_req(buf, sizeof buf, request_id, sid, flags,
                                  slots, gens, n);
    cr_assert_gt(len, 0);
    mxp_request req;
    mxp_limits lim = {.max_message = sizeof buf};
    cr_assert_eq(mxp_request_decode(buf, (size_t)len, &lim, &req, err, errlen), 0);
    cr_assert_lt(h.next_control, CONTROLS);
    void *control = h.controls[h.next_control];
    int rc = str_next(h.t, &req.u.next, request_id, control, h.now, err, errlen);
    if (rc == 0)
        h.next_control++;
    cr_assert_eq(ring_check(&h.ring), 0);
    return rc;
}

static void h_next(uint64_t sid, uint64_t request_id, uint32_t flags)
{
    char err[256];
    cr_assert_eq(h_next_rel(sid, request_id, flags, NULL, 0, err, sizeof err),
                 0, "%s", err);
}

/* Run the loop until @n deliveries were recorded (10 s at most). */
static void h_wait(int n)
{
    uint64_t until = uv_now(&h.loop) + 10000;
    while (h.n_got < n) {
        cr_assert_lt(uv_now(&h.loop), until, "no delivery %d after 10 s", n);
        uv_run(&h.loop, UV_RUN_ONCE);
        cr_assert_eq(ring_check(&h.ring), 0);
    }
}

static int h_busy(void)
{
    return ring_count(&h.ring, RING_FILLING) > 0 || h.t->orders.computing > 0 ||
           ord_count(&h.t->orders, ORD_RELEASING) > 0;
}

/* Let the workers finish what they were given (orders are drawn, then
 * prefetch settles). */
static void h_settle(void)
{
    for (int i = 0; i < 400 && h_busy(); i++)
        uv_run(&h.loop, UV_RUN_ONCE);
    cr_assert(!h_busy());
}

/* The bytes of batch (epoch, k) for @seed as @sid asked with @request_id. */
static void check_bytes(const delivery *d, uint64_t seed, uint64_t sid)
{
    uint8_t *want = malloc(h.plan.layout.total);
    smp_order *order = smp_order_new(&h.plan.smp, seed, d->epoch);
    bat_build(&h.plan, order, d->k, sid, want);
    smp_order_unref(order);
    mxp_set_request_id(want, d->lent ? 0 : d->request_id);
    mxp_set_batch_seq(want, d->seq);
    cr_assert_eq(memcmp(want, d->bytes, h.plan.layout.total), 0,
                 "batch %llu:%llu differs from bat_build()",
                 (unsigned long long)d->epoch, (unsigned long long)d->k);
    free(want);
}

/* A striped stream: from (@epoch, @batch), every @stride-th
 * batch from @offset on. Returns the stream id; *@rep_out the reply. */
static uint64_t h_open_striped(uint32_t mode, uint32_t rank, uint32_t world,
                               uint64_t epoch, uint64_t batch, uint16_t stride,
                               uint16_t offset, uint64_t request_id,
                               mxp_open_rep *rep)
{
    mxp_open_req req = {.mode = mode, .seed = 11, .rank = rank,
                        .world = world, .job = mode ? "T" : NULL,
                        .job_len = mode ? 1 : 0, .start_epoch = epoch,
                        .start_batch = batch, .stride = stride,
                        .offset = offset};
    char err[256];
    cr_assert_eq(str_open(h.t, &req, request_id, h.now, rep, err, sizeof err),
                 0, "%s", err);
    return rep->stream_id;
}

/* ------------------------------------------------------------ delivery */

Test(streams, copies_in_order_with_the_reference_bytes)
{
    h_start(8, 4, 4, 4, 2);
    uint64_t sid = h_open(MIXUP_MODE_INDEPENDENT, 7, NULL, 0, 0, 1);
    for (int i = 0; i < PER_EPOCH + 3; i++) {
        h_next(sid, 100 + (uint64_t)i, 0);
        h_wait(i + 1);
        cr_assert_eq(h.got[i].lent, 0);
        cr_assert_eq(h.got[i].stream_id, sid);
        cr_assert_eq(h.got[i].epoch, (uint64_t)(i / PER_EPOCH));
        cr_assert_eq(h.got[i].k, (uint64_t)(i % PER_EPOCH));
        check_bytes(&h.got[i], 7, sid);
    }
    cr_assert_eq(str_get_counters(h.t)->batches_copied, PER_EPOCH + 3);
    cr_assert_eq(ring_count(&h.ring, RING_SENDING), 0,
                 "a copied slot is free once its bytes are copied");
    h_stop();
}

Test(streams, lent_slots_are_held_until_released)
{
    h_start(8, 2, 3, 4, 2);
    uint64_t sid = h_open(MIXUP_MODE_INDEPENDENT, 3, NULL, 0, 0, 1);
    for (int i = 0; i < 3; i++) {
        h_next(sid, 10 + (uint64_t)i, MXP_NEXT_REF);
        h_wait(i + 1);
        cr_assert_eq(h.got[i].lent, 1);
        check_bytes(&h.got[i], 3, sid);
    }
    cr_assert_eq(ring_count(&h.ring, RING_LENT), 3);
    /* A fourth while holding max_held = 3: a clear error, no deadlock. */
    char err[256];
    cr_assert_eq(h_next_rel(sid, 13, MXP_NEXT_REF, NULL, 0, err, sizeof err),
                 MIXUP_EHELD);
    cr_assert(strstr(err, "server.max_held"), "%s", err);
    /* Releasing one with the request makes room; the others stay put. */
    int rel[1] = {0};
    cr_assert_eq(h_next_rel(sid, 13, MXP_NEXT_REF, rel, 1, err, sizeof err), 0,
                 "%s", err);
    h_wait(4);
    check_bytes(&h.got[3], 3, sid);
    check_bytes(&h.got[1], 3, sid); /* still lent: untouched */
    check_bytes(&h.got[2], 3, sid);
    cr_assert_eq(ring_count(&h.ring, RING_LENT), 3);
    cr_assert_eq(mxp_ring_gen_load(h.ring.seg.addr, h.got[0].ref.slot) ==
                     h.got[0].ref.generation, 0,
                 "a released slot's generation no longer matches");
    h_stop();
}

/* A release of a slot the stream does not hold with that generation is
 * refused (the slot untouched, counted); the request and the other
 * releases go through: failing the request would lose them. */
Test(streams, stale_or_foreign_release_is_refused_and_the_rest_goes_on)
{
    h_start(8, 2, 3, 4, 2);
    uint64_t a = h_open(MIXUP_MODE_INDEPENDENT, 1, NULL, 0, 0, 1);
    uint64_t b = h_open(MIXUP_MODE_INDEPENDENT, 2, NULL, 0, 0, 2);
    h_next(a, 10, MXP_NEXT_REF);
    h_wait(1);
    h_next(b, 20, MXP_NEXT_REF);
    h_wait(2);
    char err[256];
    /* b names a's slot: refused, a's batch untouched, b served. */
    int rel_a[1] = {0};
    cr_assert_eq(h_next_rel(b, 21, MXP_NEXT_REF, rel_a, 1, err, sizeof err),
                 0, "%s", err);
    h_wait(3);
    cr_assert_eq(h.got[2].stream_id, b);
    cr_assert_eq(str_get_counters(h.t)->releases_refused, 1u);
    cr_assert_eq(mxp_ring_gen_load(h.ring.seg.addr, h.got[0].ref.slot),
                 h.got[0].ref.generation, "a's slot is still lent to a");
    /* a names its slot with a wrong generation, beside its good release
     * of nothing else: refused too, a served. */
    h.got[GOT_MAX - 1] = h.got[0];
    h.got[GOT_MAX - 1].ref.generation++;
    int rel_bad[1] = {GOT_MAX - 1};
    cr_assert_eq(h_next_rel(a, 11, MXP_NEXT_REF, rel_bad, 1, err, sizeof err),
                 0, "%s", err);
    h_wait(4);
    cr_assert_eq(str_get_counters(h.t)->releases_refused, 2u);
    check_bytes(&h.got[0], 1, a); /* still lent: untouched */
    check_bytes(&h.got[1], 2, b);
    /* a good release with a bad one: the good one is made. */
    int rel_mix[2] = {0, GOT_MAX - 1};
    cr_assert_eq(h_next_rel(a, 12, MXP_NEXT_REF, rel_mix, 2, err, sizeof err),
                 0, "%s", err);
    h_wait(5);
    cr_assert_neq(mxp_ring_gen_load(h.ring.seg.addr, h.got[0].ref.slot),
                  h.got[0].ref.generation, "a's first slot came back");
    h_stop();
}

/* A re-sent request whose answer was a loan gets the same reference: the
 * slot stays lent (it may have arrived: nothing is released on a guess). */
Test(streams, resent_request_gets_the_same_reference)
{
    h_start(8, 2, 2, 4, 1);
    uint64_t sid = h_open(MIXUP_MODE_INDEPENDENT, 5, NULL, 0, 0, 1);
    h_next(sid, 10, MXP_NEXT_REF);
    h_wait(1);
    h_next(sid, 10, MXP_NEXT_REF); /* the reply was lost: REQ re-sends */
    h_wait(2);
    cr_assert_eq(h.got[1].k, h.got[0].k, "the same batch again");
    cr_assert_eq(h.got[1].ref.slot, h.got[0].ref.slot);
    cr_assert_eq(h.got[1].ref.generation, h.got[0].ref.generation);
    cr_assert_eq(h.got[1].seq, 1u, "the same delivery count");
    cr_assert_eq(ring_count(&h.ring, RING_LENT), 1);
    check_bytes(&h.got[1], 5, sid);
    h_stop();
}

/* A re-sent request whose answer was a copy never takes back a slot lent
 * with an earlier answer: the client may hold it. */
Test(streams, resent_copy_request_leaves_earlier_loans_alone)
{
    h_start(3, 1, 4, 4, 1); /* 3 slots: at most 2 lent, then copies */
    uint64_t sid = h_open(MIXUP_MODE_INDEPENDENT, 6, NULL, 0, 0, 1);
    for (int i = 0; i < 3; i++) {
        h_next(sid, 10 + (uint64_t)i, MXP_NEXT_REF);
        h_wait(i + 1);
    }
    cr_assert_eq(h.got[0].lent, 1);
    cr_assert_eq(h.got[1].lent, 1);
    cr_assert_eq(h.got[2].lent, 0, "the ring keeps a slot unlent");
    h_next(sid, 12, MXP_NEXT_REF); /* the copy's reply was lost */
    h_wait(4);
    cr_assert_eq(h.got[3].k, h.got[2].k);
    cr_assert_eq(h.got[3].lent, 0);
    cr_assert_eq(h.got[3].seq, 3u, "a re-sent request: the same count");
    cr_assert_eq(ring_count(&h.ring, RING_LENT), 2);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(mxp_ring_gen_load(h.ring.seg.addr, h.got[i].ref.slot),
                     h.got[i].ref.generation, "loan %d taken back", i);
        check_bytes(&h.got[i], 6, sid);
    }
    h_stop();
}

Test(streams, close_returns_lent_slots)
{
    h_start(6, 2, 4, 4, 2);
    uint64_t sid = h_open(MIXUP_MODE_INDEPENDENT, 5, NULL, 0, 0, 1);
    for (int i = 0; i < 3; i++) {
        h_next(sid, 10 + (uint64_t)i, MXP_NEXT_REF);
        h_wait(i + 1);
    }
    h_settle();
    cr_assert_eq(ring_count(&h.ring, RING_LENT), 3);
    cr_assert_eq(str_close(h.t, sid), 0);
    h_settle();
    cr_assert_eq(ring_count(&h.ring, RING_FREE), 6);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mxp_ring_gen_load(h.ring.seg.addr, h.got[i].ref.slot), 0u);
    h_stop();
}

Test(streams, expiry_returns_lent_slots)
{
    h_start(6, 2, 4, 4, 2);
    uint64_t sid = h_open(MIXUP_MODE_INDEPENDENT, 5, NULL, 0, 0, 1);
    h_next(sid, 10, MXP_NEXT_REF);
    h_wait(1);
    h_settle();
    str_tick(h.t, h.now + 59000);
    cr_assert_eq(ring_count(&h.ring, RING_LENT), 1, "not idle long enough");
    str_tick(h.t, h.now + 61000);
    cr_assert_eq(str_count(h.t), 0);
    h_settle();
    cr_assert_eq(ring_count(&h.ring, RING_FREE), 6);
    h_stop();
}

/* ------------------------------------------------------------ budget */

Test(streams, copy_budget_holds_a_stream_until_the_previous_copy_arrived)
{
    h_start(8, 2, 2, 1, 2); /* one batch in flight, all streams together */
    uint64_t a = h_open(MIXUP_MODE_INDEPENDENT, 1, NULL, 0, 0, 1);
    uint64_t b = h_open(MIXUP_MODE_INDEPENDENT, 2, NULL, 0, 0, 2);
    h_next(a, 10, 0);
    h_wait(1);
    h_next(b, 20, 0);
    h_settle();
    for (int i = 0; i < 20; i++)
        uv_run(&h.loop, UV_RUN_NOWAIT);
    cr_assert_eq(h.n_got, 1, "b waits: a's copy is not known to have arrived");
    cr_assert_eq(str_copy_bytes(h.t), h.plan.layout.total);
    /* a asks again: its copy arrived, b goes first (it waited). */
    h_next(a, 11, 0);
    h_wait(2);
    cr_assert_eq(h.got[1].stream_id, b);
    cr_assert_gt(str_get_counters(h.t)->copy_waits, 0);
    /* A lent delivery needs no budget. */
    h_next(a, 11, MXP_NEXT_REF); /* the same request, now by reference */
    h_wait(3);
    cr_assert_eq(h.got[2].stream_id, a);
    cr_assert_eq(h.got[2].lent, 1);
    h_stop();
}

/* ------------------------------------------------------------ jobs */

Test(jobs, shared_batches_go_each_to_one_member)
{
    h_start(8, 3, 2, 8, 2);
    uint64_t m[3];
    for (int i = 0; i < 3; i++)
        m[i] = h_open(MIXUP_MODE_SHARED, 9, "J", 0, 0, 1 + (uint64_t)i);
    int seen[PER_EPOCH] = {0};
    for (int i = 0; i < PER_EPOCH; i++) {
        h_next(m[i % 3], 100 + (uint64_t)i, 0);
        h_wait(i + 1);
        cr_assert_eq(h.got[i].stream_id, m[i % 3]);
        cr_assert_eq(h.got[i].epoch, 0u);
        seen[h.got[i].k]++;
        check_bytes(&h.got[i], 9, m[i % 3]);
    }
    for (int k = 0; k < PER_EPOCH; k++)
        cr_assert_eq(seen[k], 1, "batch %d delivered %d times", k, seen[k]);
    h_stop();
}

Test(jobs, membership_checks_settings_and_ends_with_the_last_member)
{
    h_start(8, 2, 2, 8, 1);
    uint64_t a = h_open(MIXUP_MODE_SHARDED, 4, "S", 0, 2, 1);
    mxp_open_req bad = {.mode = MIXUP_MODE_SHARDED, .seed = 4, .rank = 1,
                        .world = 3, .job = "S", .job_len = 1};
    mxp_open_rep rep;
    char err[256];
    cr_assert_eq(str_open(h.t, &bad, 2, h.now, &rep, err, sizeof err),
                 MIXUP_EINVAL);
    cr_assert(strstr(err, "world size 2"), "%s", err);
    bad.world = 2;
    bad.mode = MIXUP_MODE_SHARED;
    cr_assert_eq(str_open(h.t, &bad, 3, h.now, &rep, err, sizeof err),
                 MIXUP_EINVAL);
    cr_assert(strstr(err, "is sharded"), "%s", err);
    uint64_t b = h_open(MIXUP_MODE_SHARDED, 4, "S", 1, 2, 4);
    cr_assert_eq(h.t->jobs.jobs[0].members, 2);
    cr_assert_eq(str_close(h.t, a), 0);
    cr_assert_eq(h.t->jobs.jobs[0].members, 1);
    cr_assert_eq(str_close(h.t, b), 0);
    cr_assert_eq(h.t->jobs.hi, 0, "the job ended with its last member");
    /* The name is free again, with other settings. */
    h_open(MIXUP_MODE_SHARED, 5, "S", 0, 0, 5);
    h_stop();
}

/* A lapsed shared batch must not be lost by a member that leaves: A
 * takes (0,0) and never acknowledges; after the lease it is
 * handed to B, which asks and then closes before receiving it; C must
 * still get (0,0). */
Test(jobs, lapsed_batch_is_not_lost_when_its_new_taker_closes)
{
    h_start(4, 2, 2, 8, 1);
    uint64_t a = h_open(MIXUP_MODE_SHARED, 1, "L", 0, 0, 1);
    uint64_t b = h_open(MIXUP_MODE_SHARED, 1, "L", 0, 0, 2);
    uint64_t c = h_open(MIXUP_MODE_SHARED, 1, "L", 0, 0, 3);
    h_next(a, 10, 0);
    h_wait(1);
    cr_assert_eq(h.got[0].k, 0u);
    h_settle();
    h_next(b, 20, 0);
    h_wait(2); /* b gets (0,1) */
    cr_assert_eq(h.got[1].k, 1u);
    str_tick(h.t, h.now + 2000); /* a's and b's leases lapse */
    h.now += 2000;
    h_next(b, 21, 0); /* b is handed the lapsed (0,0) ... */
    cr_assert_eq(str_close(h.t, b), 0); /* ... and leaves before it arrives */
    h_settle();
    int first = h.n_got;
    h_next(c, 30, 0);
    h_wait(first + 1);
    cr_assert_eq(h.got[first].stream_id, c);
    cr_assert_eq(h.got[first].epoch, 0u);
    cr_assert_eq(h.got[first].k, 0u, "c gets the batch a never acknowledged");
    check_bytes(&h.got[first], 1, c);
    (void)a;
    h_stop();
}

/* ------------------------------------------------------------ scheduling */

static str_producer mk(uint32_t len, uint32_t cap)
{
    return (str_producer){.active = 1, .q_len = len, .q_cap = cap};
}

Test(sched, fill_goes_to_the_fewest_prepared_round_robin_on_ties)
{
    str_producer p[4] = {mk(2, 4), mk(1, 4), mk(1, 4), mk(4, 4)};
    str_producer *ps[4] = {&p[0], &p[1], &p[2], &p[3]};
    cr_assert_eq(sch_pick_fill(ps, 4, 0), 1);
    cr_assert_eq(sch_pick_fill(ps, 4, 2), 2, "ties: the first from rr on");
    p[1].q_len = p[2].q_len = 2;
    cr_assert_eq(sch_pick_fill(ps, 4, 3), 0, "a full queue is skipped");
    ps[0] = ps[1] = ps[2] = NULL;
    cr_assert_eq(sch_pick_fill(ps, 4, 0), -1, "only full or unused ones");
}

Test(sched, a_full_ring_is_shared_fairly)
{
    /* 4 streams of prefetch 4 on a ring of 8: the first one opened takes
     * what is free, but as batches are taken, each freed slot goes to the
     * stream with the fewest prepared, until each holds 2. */
    h_start(8, 4, 2, 8, 1);
    uint64_t s[4];
    for (int i = 0; i < 4; i++)
        s[i] = h_open(MIXUP_MODE_INDEPENDENT, (uint64_t)i, NULL, 0, 0,
                      1 + (uint64_t)i);
    int n = 0;
    for (int round = 0; round < 4; round++)
        for (int i = 0; i < 4; i++) {
            h_next(s[i], 100 + (uint64_t)n, 0);
            h_wait(++n);
            h_settle();
        }
    for (int i = 0; i < 4; i++) {
        uint32_t held = h.t->streams[(s[i] & 0xffffffffu) - 1].prod.q_len;
        cr_assert_eq(held, 2u, "stream %d holds %u (%u %u %u %u, free %u)", i, held, h.t->streams[0].prod.q_len, h.t->streams[1].prod.q_len, h.t->streams[2].prod.q_len, h.t->streams[3].prod.q_len, ring_count(&h.ring, RING_FREE));
    }
    h_stop();
}

Test(sched, a_waiting_stream_takes_a_slot_back_from_a_stalled_one)
{
    h_start(4, 4, 2, 8, 1);
    uint64_t a = h_open(MIXUP_MODE_INDEPENDENT, 1, NULL, 0, 0, 1);
    h_settle();
    cr_assert_eq(ring_count(&h.ring, RING_READY), 4, "a prepared the ring");
    uint64_t b = h_open(MIXUP_MODE_INDEPENDENT, 2, NULL, 0, 0, 2);
    h_next(b, 20, 0);
    h_wait(1);
    cr_assert_eq(h.got[0].stream_id, b);
    check_bytes(&h.got[0], 2, b);
    cr_assert_gt(str_get_counters(h.t)->slots_reclaimed, 0);
    /* a's reclaimed batch is computed again, the same bytes, in order. */
    for (int i = 0; i < 6; i++) {
        h_next(a, 10 + (uint64_t)i, 0);
        h_wait(2 + i);
        cr_assert_eq(h.got[1 + i].k, (uint64_t)i);
        check_bytes(&h.got[1 + i], 1, a);
    }
    h_stop();
}

/* Stride 3, offset 2 from (0, 15): the sequence 15, 16, ... of epoch 0
 * then 0, 1, ... of epoch 1 gives its 2nd, 5th, 8th ... batches:
 * (0,17) (1,0) (1,3) ...; the bytes are the unstriped stream's. */
Test(streams, striped_stream_takes_every_stride_th_batch_across_epochs)
{
    h_start(8, 3, 2, 8, 2);
    mxp_open_rep rep;
    uint64_t sid = h_open_striped(MIXUP_MODE_INDEPENDENT, 0, 1, 0, 15, 3, 2,
                                  1, &rep);
    cr_assert_eq(rep.start_epoch, 0u);
    cr_assert_eq(rep.start_batch, 17u, "the reply names the first batch");
    for (int i = 0; i < 10; i++) {
        uint64_t flat = 15 + 2 + 3 * (uint64_t)i;
        h_next(sid, 100 + (uint64_t)i, 0);
        h_wait(i + 1);
        cr_assert_eq(h.got[i].epoch, flat / PER_EPOCH);
        cr_assert_eq(h.got[i].k, flat % PER_EPOCH);
        check_bytes(&h.got[i], 11, sid);
    }
    h_stop();
}

/* Rank 1 of 4 has 5 batches an epoch (1, 5, 9, 13, 17); striped by 2 at
 * offset 1 it gets 5, 13, then epoch 1's 1, 9, 17, then 5 ... */
Test(streams, striped_sharded_stream_strides_over_its_rank_s_batches)
{
    h_start(8, 2, 2, 8, 2);
    mxp_open_rep rep;
    uint64_t sid = h_open_striped(MIXUP_MODE_SHARDED, 1, 4, 0, 0, 2, 1, 1,
                                  &rep);
    static const uint64_t want[][2] = {{0, 5}, {0, 13}, {1, 1}, {1, 9},
                                       {1, 17}, {2, 5}};
    for (int i = 0; i < 6; i++) {
        h_next(sid, 100 + (uint64_t)i, 0);
        h_wait(i + 1);
        cr_assert_eq(h.got[i].epoch, want[i][0], "delivery %d", i);
        cr_assert_eq(h.got[i].k, want[i][1], "delivery %d", i);
        check_bytes(&h.got[i], 11, sid);
    }
    h_stop();
}

Test(streams, a_shared_stream_cannot_be_striped)
{
    h_start(8, 2, 2, 8, 1);
    mxp_open_req req = {.mode = MIXUP_MODE_SHARED, .seed = 1, .job = "J",
                        .job_len = 1, .stride = 2, .offset = 1};
    mxp_open_rep rep;
    char err[256];
    cr_assert_eq(str_open(h.t, &req, 1, h.now, &rep, err, sizeof err),
                 MIXUP_EMODE);
    cr_assert(strstr(err, "shared stream cannot be striped"), "%s", err);
    cr_assert_eq(str_count(h.t), 0);
    h_stop();
}

/* ------------------------------------------------------------ allocation */

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZER_ALLOCATOR 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_ALLOCATOR 1
#endif

#if !defined(SANITIZER_ALLOCATOR)
/* Count the allocations made on the loop thread (this one) and on the
 * workers while `counting`: glibc's own allocator under ours. (ASan and
 * TSan replace the allocator themselves: not counted there.) */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static volatile int counting;
static _Atomic unsigned long allocations;
static pthread_t counted[8];
static int n_counted;

static void count_one(void)
{
    if (!counting)
        return;
    pthread_t me = pthread_self();
    for (int i = 0; i < n_counted; i++)
        if (pthread_equal(me, counted[i])) {
            allocations++;
            return;
        }
}

void *malloc(size_t n) { count_one(); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { count_one(); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { count_one(); return __libc_realloc(p, n); }
void *aligned_alloc(size_t a, size_t n) { count_one(); return __libc_memalign(a, n); }

Test(streams, nothing_is_allocated_per_batch_while_serving)
{
    h_start(8, 2, 4, 4, 2);
    uint64_t lent = h_open(MIXUP_MODE_INDEPENDENT, 1, NULL, 0, 0, 1);
    uint64_t copied = h_open(MIXUP_MODE_INDEPENDENT, 2, NULL, 0, 0, 2);
    /* Warm-up: the epoch's orders, the first slots. */
    uint64_t id = 100;
    int n = 0;
    for (int i = 0; i < 3; i++) {
        h_next(copied, id++, 0);
        h_wait(++n);
        int rel[1] = {n - 2};
        char err[256];
        cr_assert_eq(h_next_rel(lent, id++, MXP_NEXT_REF, rel, i > 0, err,
                                sizeof err), 0, "%s", err);
        h_wait(++n);
    }
    h_settle();
    n_counted = 0;
    counted[n_counted++] = pthread_self();
    for (uint32_t i = 0; i < h.pool.n_threads; i++)
        counted[n_counted++] = h.pool.threads[i];
    allocations = 0;
    counting = 1;
    int failures = 0;
    /* Ten more batches each, within epoch 0 (20 batches; prefetch 2). */
    for (int i = 0; i < 10; i++) {
        char err[256];
        int rel[1] = {n - 1};
        failures += h_next_rel(copied, id++, 0, NULL, 0, err, sizeof err) != 0;
        while (h.n_got < n + 1)
            uv_run(&h.loop, UV_RUN_ONCE);
        n++;
        rel[0] = n - 2; /* the lent stream's last batch */
        failures += h_next_rel(lent, id++, MXP_NEXT_REF, rel, 1, err,
                               sizeof err) != 0;
        while (h.n_got < n + 1)
            uv_run(&h.loop, UV_RUN_ONCE);
        n++;
    }
    counting = 0;
    cr_assert_eq(failures, 0);
    cr_assert_eq(h.got[n - 1].lent, 1);
    cr_assert_eq(h.got[n - 2].lent, 0);
    cr_assert_eq(h.got[n - 1].k, 12u, "still epoch 0: %llu:%llu",
                 (unsigned long long)h.got[n - 1].epoch,
                 (unsigned long long)h.got[n - 1].k);
    cr_assert_eq(allocations, 0ul, "%lu allocations while serving 20 batches",
                 (unsigned long)allocations);
    h_stop();
}
#endif

/* ------------------------------------------------------------ orders */

Test(orders, open_and_next_leave_the_draw_to_the_workers)
{
    h_start(8, 2, 2, 8, 1);
    uint64_t sid = h_open(MIXUP_MODE_INDEPENDENT, 3, NULL, 0, 0, 1);
    h_next(sid, 10, 0);
    /* No loop run yet: the loop thread has drawn nothing, computed
     * nothing; the stream waits for its order, then for its batch. */
    cr_assert_eq(h.t->orders.ctr.computed, 0);
    cr_assert_eq(h.t->orders.computing, 1);
    cr_assert_eq(ring_count(&h.ring, RING_FREE), h.ring.n);
    h_wait(1);
    check_bytes(&h.got[0], 3, sid);
    cr_assert_eq(h.t->orders.ctr.computed, 1);
    h_stop();
}

Test(orders, ranks_and_streams_of_one_seed_share_one_order)
{
    h_start(16, 2, 2, 16, 2);
    uint64_t sid[6];
    for (uint32_t r = 0; r < 4; r++)
        sid[r] = h_open(MIXUP_MODE_SHARDED, 9, "S", r, 4, 1 + r);
    sid[4] = h_open(MIXUP_MODE_INDEPENDENT, 9, NULL, 0, 0, 5);
    sid[5] = h_open(MIXUP_MODE_SHARED, 9, "Q", 0, 0, 6);
    for (int i = 0; i < 6; i++) {
        h_next(sid[i], 100 + (uint64_t)i, 0);
        h_wait(i + 1);
        check_bytes(&h.got[i], 9, sid[i]);
    }
    h_settle();
    cr_assert_eq(h.t->orders.ctr.computed, 1,
                 "one draw of (9, 0) for six streams, %llu made",
                 (unsigned long long)h.t->orders.ctr.computed);
    cr_assert_eq(ord_count(&h.t->orders, ORD_READY), 1);
    h_stop();
}

Test(orders, an_evicted_order_is_drawn_again_when_asked)
{
    h_start(8, 2, 2, 8, 1);
    uint64_t sid = h_open(MIXUP_MODE_INDEPENDENT, 4, NULL, 0, 0, 1);
    for (int i = 0; i < PER_EPOCH + 1; i++) {
        h_next(sid, 10 + (uint64_t)i, 0);
        h_wait(i + 1);
    }
    /* Epoch 0's order is unused now; churn evicts it. */
    for (uint64_t s = 0; s < ORD_IDLE_KEEP + 2; s++) {
        uint64_t o = h_open(MIXUP_MODE_INDEPENDENT, 50 + s, NULL, 0, 0, 100 + s);
        h_settle();
        cr_assert_eq(str_close(h.t, o), 0);
    }
    str_tick(h.t, h.now + 1);
    h_settle();
    /* The first batch of epoch 1 again (its reply was lost): fine. Then a
     * client resuming epoch 0 gets its order drawn again. */
    h_next(sid, 10 + PER_EPOCH, 0);
    h_wait(PER_EPOCH + 2);
    cr_assert_eq(h.got[PER_EPOCH + 1].epoch, 1u);
    check_bytes(&h.got[PER_EPOCH + 1], 4, sid);
    uint64_t computed = h.t->orders.ctr.computed;
    mxp_open_req req = {.mode = MIXUP_MODE_INDEPENDENT, .seed = 4,
                        .start_epoch = 0, .start_batch = 3};
    mxp_open_rep rep;
    char err[256];
    cr_assert_eq(str_open(h.t, &req, 999, h.now, &rep, err, sizeof err), 0);
    h_next(rep.stream_id, 1000, 0);
    h_wait(PER_EPOCH + 3);
    cr_assert_eq(h.got[PER_EPOCH + 2].k, 3u);
    check_bytes(&h.got[PER_EPOCH + 2], 4, rep.stream_id);
    cr_assert_eq(h.t->orders.ctr.computed, computed + 1);
    h_stop();
}

/* ------------------------------------------------------------ retries */

Test(streams, a_retried_open_gets_its_stream_after_any_number_of_opens)
{
    h_start(8, 2, 2, 8, 1);
    uint64_t first = h_open(MIXUP_MODE_INDEPENDENT, 3, NULL, 0, 0, 777);
    /* More OPENs than any fixed memory of recent ones (64 before), each
     * closed again, and a few kept open. */
    for (uint64_t i = 0; i < 200; i++) {
        uint64_t o = h_open(MIXUP_MODE_INDEPENDENT, 10 + i, NULL, 0, 0,
                            1000 + i);
        if (i % 50 != 0)
            cr_assert_eq(str_close(h.t, o), 0);
    }
    uint32_t open = str_count(h.t);
    cr_assert_eq(h_open(MIXUP_MODE_INDEPENDENT, 3, NULL, 0, 0, 777), first,
                 "the retry gets the stream its first copy opened");
    cr_assert_eq(str_count(h.t), open, "no second (ghost) stream");
    /* A closed stream's OPEN id means nothing any more. */
    cr_assert_eq(str_close(h.t, first), 0);
    cr_assert_neq(h_open(MIXUP_MODE_INDEPENDENT, 3, NULL, 0, 0, 777), first);
    h_stop();
}

/* A retry is known by the OPEN's nonce, never by its request id, which
 * other clients may come to know: the same id with another nonce (or
 * none) opens a stream of its own and learns nothing of the first. */
Test(streams, an_open_replayed_without_its_nonce_gets_a_stream_of_its_own)
{
    h_start(8, 2, 2, 8, 1);
    uint64_t first = h_open_nonce(MIXUP_MODE_INDEPENDENT, 3, NULL, 0, 0, 777,
                                  0x1234);
    uint8_t key[MXP_STREAM_KEY_SIZE], other[MXP_STREAM_KEY_SIZE];
    cr_assert_eq(str_stream_key(h.t, first, key), 0);
    uint64_t replay = h_open_nonce(MIXUP_MODE_INDEPENDENT, 3, NULL, 0, 0,
                                   777, 0x9999);
    cr_assert_neq(replay, first);
    cr_assert_eq(str_stream_key(h.t, replay, other), 0);
    cr_assert_neq(memcmp(key, other, sizeof key), 0);
    uint64_t none = h_open_nonce(MIXUP_MODE_INDEPENDENT, 3, NULL, 0, 0, 777, 0);
    uint64_t none2 = h_open_nonce(MIXUP_MODE_INDEPENDENT, 3, NULL, 0, 0, 777, 0);
    cr_assert(none != first && none2 != none, "no nonce: never a retry");
    cr_assert_eq(str_count(h.t), 4u);
    /* The nonce alone (whatever the id) is the retry. */
    cr_assert_eq(h_open_nonce(MIXUP_MODE_INDEPENDENT, 3, NULL, 0, 0, 5,
                              0x1234), first);
    h_stop();
}

/* Every delivery to a stream is numbered from 1: a client sees batches
 * someone else took as a gap. */
Test(streams, deliveries_are_numbered_per_stream)
{
    h_start(8, 2, 2, 8, 1);
    uint64_t a = h_open(MIXUP_MODE_INDEPENDENT, 3, NULL, 0, 0, 1);
    uint64_t b = h_open(MIXUP_MODE_INDEPENDENT, 4, NULL, 0, 0, 2);
    for (int i = 0; i < 3; i++) {
        h_next(a, 10 + (uint64_t)i, 0);
        h_wait(2 * i + 1);
        h_next(b, 20 + (uint64_t)i, i == 1 ? MXP_NEXT_REF : 0);
        h_wait(2 * i + 2);
    }
    for (int i = 0; i < 6; i++)
        cr_assert_eq(h.got[i].seq, (uint64_t)(i / 2 + 1), "delivery %d", i);
    check_bytes(&h.got[2], 3, a);
    h_stop();
}
