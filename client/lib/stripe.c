/*
 * stripe.c — one stream striped over several daemons (the spread option
 * of mixup_client_options; client_internal.h).
 *
 * Every daemon computes batch (seed, epoch, k) byte for byte alike, so D
 * daemons can share one stream without talking to each other: number the
 * stream's batches 0, 1, 2, ... from its start position (across epochs);
 * with the daemons up ordered as given, the j-th opens the stream with
 * stride D and offset j (proto.h) and serves positions j, j + D, ... Each
 * daemon is a member client of its own (socket, ring mapping, releases:
 * client.c and lend.c as for one daemon) with one NEXT in flight; the
 * daemon's prefetch follows its stride, so every pipeline stays full.
 * Batches that arrive early wait here (one per member) and mixup_next()
 * hands them out strictly in stream order.
 *
 * A plan is (base, the members up): position p >= base comes from member
 * (p - base) mod D. When a member is lost (its connection dropped, no
 * reply within the timeout, or it no longer knows the stream: restarted)
 * or one comes back, the plan is remade at base = the next position to
 * hand out: every member up reopens its stream there with the new stride
 * and its new offset, and batches that had arrived early are dropped (to
 * be fetched again). So nothing is skipped and nothing comes twice,
 * whatever the order of replies. A lost member is probed with an INFO
 * once it is connected again, and rejoins when its digests still match.
 *
 * Daemons must be interchangeable: each OPEN reply carries the daemon's
 * dataset and settings digests; a member whose digests differ from the
 * first member's is refused (MIXUP_EMISMATCH, naming both endpoints and
 * what differs). A shared stream cannot be striped: its batches go to the
 * members of a job first come first served, on one daemon.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_internal.h"
#include "proto.h"
#include "stripe.h"

#define STRIPE_MAX 16
#define STRIPE_POLL_MS 20      /* a wait looks at connections this often */
#define STRIPE_CONNECT_MS 2000 /* at open: how long daemons may take to
                                  connect before they count as down */
#define STRIPE_REJOIN_MS 200   /* a lost daemon is probed after this */

typedef struct member {
    mixup_client *c;
    char endpoint[256];
    int up;            /* in the plan, with a stream */
    int inflight;      /* a NEXT is out */
    uint64_t sent_ms;
    uint64_t want;     /* position of its next batch */
    mixup_batch *held; /* arrived early: position held_pos */
    uint64_t held_pos;
    int probing;       /* an INFO is out (a lost member) */
    uint64_t probe_ms, lost_ms;
    char why[512];     /* why it is out of the plan */
} member;

struct cl_stripe {
    member m[STRIPE_MAX];
    size_t n;
    int timeout_ms;
    mixup_stream_options opts;
    char job[MXP_JOB_MAX + 1], pipeline[MXP_PIPELINE_MAX + 1];
    uint64_t first;     /* flat index (epoch * per_epoch + i) of position 0 */
    uint64_t per_epoch; /* the stream's batches per epoch */
    uint32_t rank, world;
    uint64_t deliver;   /* the next position to hand out */
    uint64_t base;      /* the plan: position base + j + t D from plan[j] */
    uint32_t D;
    member *plan[STRIPE_MAX];
    int have_ref;       /* the digests every member must have */
    uint64_t ref_ds, ref_st;
    const member *ref;
    uint64_t gone_ms;   /* since when no member is up (D == 0) */
};

static void cl_stripe_free(cl_stripe *s);

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int cl_stripe_new(cl_stripe **out, const char *const *endpoints, size_t n,
                  const mixup_client_options *opts, char *err, size_t errlen)
{
    if (n > STRIPE_MAX) {
        snprintf(err, errlen, "spread over %zu endpoints: at most %d", n,
                 STRIPE_MAX);
        return MIXUP_EINVAL;
    }
    cl_stripe *s = calloc(1, sizeof *s);
    if (!s)
        return MIXUP_ENOMEM;
    mixup_client_options one = *opts;
    one.spread = 0;
    s->timeout_ms = opts->timeout_ms;
    for (size_t i = 0; i < n; i++, s->n++) {
        member *m = &s->m[i];
        snprintf(m->endpoint, sizeof m->endpoint, "%s", endpoints[i]);
        int rc = cl_client_connect(&m->c, &endpoints[i], 1, &one);
        if (rc < 0) {
            snprintf(err, errlen, "%s", mixup_client_error(NULL));
            cl_stripe_free(s);
            return rc;
        }
    }
    *out = s;
    return 0;
}

static void drop_held(member *m)
{
    mixup_batch_release(m->held);
    m->held = NULL;
}

static void cl_stripe_free(cl_stripe *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        drop_held(&s->m[i]);
        mixup_client_close(s->m[i].c);
    }
    free(s);
}

static void cl_stripe_set_timeout(cl_stripe *s, int timeout_ms)
{
    s->timeout_ms = timeout_ms;
    for (size_t i = 0; i < s->n; i++)
        mixup_client_set_timeout(s->m[i].c, timeout_ms);
}

/* ------------------------------------------------------------ positions */

/* The (epoch, batch) of stream position @pos. */
static void position_at(const cl_stripe *s, uint64_t pos, uint64_t *epoch,
                        uint64_t *batch)
{
    uint64_t f = s->first + pos;
    *epoch = f / s->per_epoch;
    *batch = s->rank + f % s->per_epoch * s->world;
}

/* Learn the stream's shape from the first member opened at the caller's
 * start position (the daemon checked it). */
static void learn_shape(cl_stripe *s, const mixup_client *c)
{
    uint64_t dataset;
    cl_stream_shape(c, &dataset, &s->per_epoch);
    int sharded = s->opts.mode == MIXUP_MODE_SHARDED;
    s->rank = sharded ? s->opts.rank : 0;
    s->world = sharded ? s->opts.world : 1;
    uint64_t k = s->opts.start_batch, i = k;
    if (sharded)
        i = k <= s->rank ? 0 : (k - s->rank + s->world - 1) / s->world;
    s->first = s->opts.start_epoch * s->per_epoch + i;
}

/* ------------------------------------------------------------ the plan */

static int refusal(int rc)
{
    return rc != MIXUP_ETIMEDOUT && rc != MIXUP_EINTR && rc != MIXUP_ESYS &&
           rc != MIXUP_ENOSTREAM && rc != MIXUP_ECONNECT;
}

static int digest_check(cl_stripe *s, mixup_client *top, const member *m,
                        uint64_t ds, uint64_t st)
{
    if (!s->have_ref) {
        s->have_ref = 1;
        s->ref_ds = ds;
        s->ref_st = st;
        s->ref = m;
        return 0;
    }
    if (ds == s->ref_ds && st == s->ref_st)
        return 0;
    return cl_set_error(top, MIXUP_EMISMATCH,
                        "daemons '%s' and '%s' are not interchangeable: %s "
                        "digest %016" PRIx64 " vs %016" PRIx64 " (%s); "
                        "refusing to stripe over them",
                        s->ref->endpoint, m->endpoint,
                        ds != s->ref_ds ? "dataset" : "settings",
                        ds != s->ref_ds ? s->ref_ds : s->ref_st,
                        ds != s->ref_ds ? ds : st,
                        ds != s->ref_ds ? "they loaded different data"
                                        : "their batch, augment or output "
                                          "settings differ");
}

/* Open member @m's stream at the plan's base with offset @j. */
static int open_member(cl_stripe *s, mixup_client *top, member *m,
                       uint32_t j)
{
    mixup_stream_options o = s->opts;
    if (s->per_epoch)
        position_at(s, s->base, &o.start_epoch, &o.start_batch);
    int rc = cl_stream_open_striped(m->c, &o, (uint16_t)s->D, (uint16_t)j);
    if (rc < 0) {
        snprintf(m->why, sizeof m->why, "%s", mixup_client_error(m->c));
        return refusal(rc) ? cl_set_error(top, rc, "daemon '%s': %s",
                                          m->endpoint, m->why)
                           : rc;
    }
    uint64_t ds, st;
    cl_digests(m->c, &ds, &st);
    if ((rc = digest_check(s, top, m, ds, st)) < 0)
        return rc;
    if (!s->per_epoch)
        learn_shape(s, m->c);
    m->want = s->base + j;
    m->inflight = 0;
    return 0;
}

static void lose(member *m, const char *why)
{
    if (why)
        snprintf(m->why, sizeof m->why, "%s", why);
    drop_held(m);
    cl_stream_forget(m->c);
    m->up = 0;
    m->inflight = 0;
    m->probing = 0;
    m->lost_ms = now_ms();
}

static void close_all(cl_stripe *s)
{
    for (size_t i = 0; i < s->n; i++) {
        member *m = &s->m[i];
        drop_held(m);
        if (m->up)
            mixup_stream_close(m->c);
        m->inflight = 0;
    }
}

/* Remake the plan at the next position to hand out, over the members up.
 * A member that cannot open is lost and the plan made again without it. */
static int replan(cl_stripe *s, mixup_client *top)
{
    for (;;) {
        close_all(s);
        s->D = 0;
        for (size_t i = 0; i < s->n; i++)
            if (s->m[i].up)
                s->plan[s->D++] = &s->m[i];
        s->base = s->deliver;
        if (s->D == 0) {
            s->gone_ms = now_ms();
            return 0;
        }
        int again = 0;
        for (uint32_t j = 0; j < s->D && !again; j++) {
            int rc = open_member(s, top, s->plan[j], j);
            if (rc < 0 && refusal(rc))
                return rc;
            if (rc < 0) {
                lose(s->plan[j], NULL);
                again = 1;
            }
        }
        if (!again)
            return 0;
    }
}

/* Members connected within STRIPE_CONNECT_MS count as up at open. */
static void wait_connected(cl_stripe *s)
{
    uint64_t until = now_ms() + STRIPE_CONNECT_MS;
    for (;;) {
        size_t n = 0;
        for (size_t i = 0; i < s->n; i++)
            n += (size_t)cl_connected(s->m[i].c);
        if (n == s->n || now_ms() >= until)
            break;
        poll(NULL, 0, 5);
    }
    for (size_t i = 0; i < s->n; i++) {
        member *m = &s->m[i];
        m->up = cl_connected(m->c);
        m->probing = 0;
        m->lost_ms = now_ms();
        if (!m->up)
            snprintf(m->why, sizeof m->why, "not connected");
    }
}

static int cl_stripe_open(cl_stripe *s, mixup_client *top,
                   const mixup_stream_options *opts)
{
    mixup_stream_options defaults;
    if (!opts) {
        mixup_stream_options_init(&defaults);
        opts = &defaults;
    }
    if (opts->mode == MIXUP_MODE_SHARED)
        return cl_set_error(top, MIXUP_EMODE,
                            "a shared stream cannot be spread over daemons: "
                            "its job's batches go first come first served "
                            "on one daemon (use sharded or independent "
                            "streams, or connect without spread)");
    s->opts = *opts;
    snprintf(s->job, sizeof s->job, "%s", opts->job ? opts->job : "");
    snprintf(s->pipeline, sizeof s->pipeline, "%s",
             opts->pipeline ? opts->pipeline : "");
    s->opts.job = opts->job ? s->job : NULL;
    s->opts.pipeline = opts->pipeline ? s->pipeline : NULL;
    s->per_epoch = 0;
    s->have_ref = 0;
    s->deliver = 0;
    wait_connected(s);
    int rc = replan(s, top);
    if (rc == 0 && s->D == 0)
        rc = cl_set_error(top, MIXUP_ETIMEDOUT, "none of the %zu daemons is "
                          "connected (the first: '%s')", s->n,
                          s->m[0].endpoint);
    if (rc < 0) {
        close_all(s);
        for (size_t i = 0; i < s->n; i++)
            s->m[i].up = 0;
        return rc;
    }
    cl_adopt_stream(top, s->plan[0]->c, &s->opts);
    return 0;
}

static int cl_stripe_close(cl_stripe *s, mixup_client *top)
{
    close_all(s);
    for (size_t i = 0; i < s->n; i++)
        s->m[i].up = 0;
    s->D = 0;
    cl_stream_forget(top);
    return 0;
}

/* ------------------------------------------------------------ serving */

/* Keep a NEXT in flight on every member up with nothing waiting. */
static int fill(cl_stripe *s)
{
    int lost = 0;
    for (uint32_t j = 0; j < s->D; j++) {
        member *m = s->plan[j];
        if (!m->up || m->inflight || m->held)
            continue;
        if (cl_next_send(m->c) < 0) {
            lose(m, mixup_client_error(m->c));
            lost = 1;
            continue;
        }
        m->inflight = 1;
        m->sent_ms = now_ms();
    }
    return lost;
}

/* Take the replies that are there; lose members that are gone. Return
 * 1 when one was lost, or the code of a refusal that is the trainer's to
 * handle (MIXUP_EHELD: it holds too many lent batches of that daemon). */
static int collect(cl_stripe *s, mixup_client *top)
{
    int lost = 0;
    uint64_t now = now_ms();
    for (uint32_t j = 0; j < s->D; j++) {
        member *m = s->plan[j];
        if (!m->up || !m->inflight)
            continue;
        mixup_batch *b = NULL;
        int rc = cl_next_recv(m->c, &b);
        char why[sizeof m->why];
        if (rc == 0) {
            m->held = b;
            m->held_pos = m->want;
            m->want += s->D;
            m->inflight = 0;
            continue;
        }
        if (rc < 0 && refusal(rc)) {
            m->inflight = 0; /* asked again at the next call */
            return cl_set_error(top, rc, "daemon '%s': %s", m->endpoint,
                                mixup_client_error(m->c));
        }
        if (rc < 0)
            snprintf(why, sizeof why, "%s", mixup_client_error(m->c));
        else if (!cl_connected(m->c))
            snprintf(why, sizeof why, "connection lost");
        else if (s->timeout_ms >= 0 && now - m->sent_ms > (uint64_t)s->timeout_ms)
            snprintf(why, sizeof why, "no reply within %d ms", s->timeout_ms);
        else
            continue;
        lose(m, why);
        lost = 1;
    }
    return lost;
}

/* Probe lost members that are connected again; 1 when one may rejoin. */
static int probe(cl_stripe *s)
{
    int back = 0;
    uint64_t now = now_ms();
    for (size_t i = 0; i < s->n; i++) {
        member *m = &s->m[i];
        if (m->up)
            continue;
        if (!m->probing) {
            if (now - m->lost_ms < STRIPE_REJOIN_MS || !cl_connected(m->c))
                continue;
            m->probing = cl_info_send(m->c, s->opts.pipeline) == 0;
            m->probe_ms = now;
            m->lost_ms = now;
            continue;
        }
        mixup_info info;
        int rc = cl_info_recv(m->c, &info);
        if (rc == 1 && (s->timeout_ms < 0 ||
                        now - m->probe_ms <= (uint64_t)s->timeout_ms))
            continue;
        m->probing = 0;
        m->lost_ms = now;
        if (rc != 0)
            continue;
        if (info.dataset_digest != s->ref_ds ||
            info.settings_digest != s->ref_st) {
            snprintf(m->why, sizeof m->why, "back, but its digests "
                     "(%016" PRIx64 ", %016" PRIx64 ") differ from '%s''s",
                     info.dataset_digest, info.settings_digest,
                     s->ref->endpoint);
            continue;
        }
        m->up = 1;
        back = 1;
    }
    return back;
}

static void wait_replies(cl_stripe *s)
{
    struct pollfd fds[STRIPE_MAX];
    nfds_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        member *m = &s->m[i];
        if ((m->up && m->inflight) || m->probing)
            fds[n++] = (struct pollfd){.fd = cl_reply_fd(m->c),
                                       .events = POLLIN};
    }
    poll(fds, n, STRIPE_POLL_MS);
}

static int all_gone(cl_stripe *s, mixup_client *top)
{
    char list[2048];
    size_t at = 0;
    for (size_t i = 0; i < s->n && at < sizeof list; i++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s'%s': %s",
                               i ? "; " : "", s->m[i].endpoint,
                               s->m[i].why);
    return cl_set_error(top, MIXUP_ETIMEDOUT, "every daemon of the stripe "
                        "is gone for %d ms (%s)", s->timeout_ms, list);
}

/* The batch at the next position, if it is there: check and hand it out. */
static int deliver(cl_stripe *s, mixup_client *top, mixup_batch **out)
{
    member *m = s->plan[(s->deliver - s->base) % s->D];
    if (!m->held || m->held_pos != s->deliver)
        return 1;
    uint64_t e, k;
    position_at(s, s->deliver, &e, &k);
    mixup_batch *b = m->held;
    m->held = NULL;
    if (b->epoch != e || b->index != k) {
        mixup_batch_release(b);
        return cl_set_error(top, MIXUP_EPROTO, "daemon '%s' sent batch "
                            "%" PRIu64 ":%" PRIu64 " for position %" PRIu64
                            " (expected %" PRIu64 ":%" PRIu64 ")",
                            m->endpoint, b->epoch, b->index, s->deliver, e,
                            k);
    }
    s->deliver++;
    cl_set_position(top, e, k);
    *out = b;
    fill(s); /* its next request goes out before the trainer runs */
    return 0;
}

static int cl_stripe_next(cl_stripe *s, mixup_client *top, mixup_batch **out)
{
    for (;;) {
        int changed = fill(s);
        if (!changed && s->D > 0) {
            int rc = deliver(s, top, out);
            if (rc <= 0)
                return rc;
            wait_replies(s);
            if ((changed = collect(s, top)) < 0)
                return changed;
        } else if (s->D == 0) {
            if (s->timeout_ms >= 0 &&
                now_ms() - s->gone_ms > (uint64_t)s->timeout_ms)
                return all_gone(s, top);
            wait_replies(s);
        }
        changed |= probe(s);
        if (changed) {
            int rc = replan(s, top);
            if (rc < 0)
                return rc;
        }
    }
}

/* ------------------------------------------------------------ the layer */

static int layer_open(void *s, mixup_client *top,
                      const mixup_stream_options *opts)
{
    return cl_stripe_open(s, top, opts);
}

static int layer_next(void *s, mixup_client *top, mixup_batch **out)
{
    return cl_stripe_next(s, top, out);
}

static int layer_close(void *s, mixup_client *top)
{
    return cl_stripe_close(s, top);
}

static void layer_set_timeout(void *s, int timeout_ms)
{
    cl_stripe_set_timeout(s, timeout_ms);
}

static void layer_free(void *s)
{
    cl_stripe_free(s);
}

const cl_layer_ops cl_stripe_ops = {
    .open = layer_open,
    .next = layer_next,
    .close = layer_close,
    .set_timeout = layer_set_timeout,
    .free = layer_free,
};
