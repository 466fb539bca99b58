/*
 * streams.c — streams and the delivery of their batches (streams.h).
 */
#include <nanomsg/nn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "streams_internal.h"

static int bad(int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bad(int code, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

/* ------------------------------------------------------------ delivery */

/* A copy's budget comes back when the client's next request shows that
 * the copy arrived (or when the stream ends). */
static void copy_arrived(str_table *t, str_stream *s)
{
    t->copy_bytes -= s->copy_bytes;
    s->copy_bytes = 0;
}

enum { BY_NONE = -1, BY_COPY = 0, BY_LOAN = 1 };

/* How @s's waiting request can take a batch now. A loan needs the
 * client to hold fewer than max_held and the ring to keep at least one
 * slot that is not lent: otherwise clients that hold slots while they ask
 * for more could take the whole ring and wait on each other forever. Then
 * the batch is copied instead (the client reads the same bytes). */
static int delivery_mode(const str_table *t, const str_stream *s)
{
    if (s->want_ref && s->n_held < t->lim.max_held &&
        ring_count(t->ring, RING_LENT) + 1 < t->ring->n)
        return BY_LOAN;
    if (t->copy_bytes + t->ring->msg_size <= t->lim.max_copy_bytes)
        return BY_COPY;
    return BY_NONE;
}

/* @s waits for the copy budget: its prepared slots may be taken back
 * for others meanwhile (sched.c), instead of sitting unusable. */
static void note_blocked(str_table *t, str_stream *s)
{
    t->copy_blocked = 1;
    if (!s->copy_blocked)
        t->ctr.copy_waits++;
    s->copy_blocked = 1;
}

/* A reference to lent @slot (batch epoch:k) answers @s's request. */
static void send_ref(str_table *t, str_stream *s, const ring_slot *slot,
                     uint64_t epoch, uint64_t k)
{
    mxp_batch_ref ref = {
        .slot = slot->index,
        .generation = slot->generation,
        .offset = (uint64_t)(slot->data - (uint8_t *)t->ring->seg.addr),
        .size = mxp_message_size(slot->data),
        .stream_id = s->id,
        .epoch = epoch,
        .index = k,
    };
    t->io.send_ref(t->io.ctx, s->control, s->wait_req, &ref);
    s->control = NULL;
}

/* The slot's batch goes to @s's waiting request: lent or copied. */
static void deliver(str_table *t, str_stream *s, ring_slot *slot, int mode)
{
    sch_work *w = sch_work_of(t, slot);
    uint64_t epoch = w->epoch, k = w->k;
    smp_order_unref(w->order);
    *w = (sch_work){0};
    size_t size = mxp_message_size(slot->data);
    /* The slot holds no request id: every client that maps the ring can
     * read it (the reply's own header carries the id). A re-sent request
     * gets its batch again under the same delivery count; any other
     * delivery is the stream's next, so a client sees a batch taken by
     * someone else as a gap. */
    if (!(s->answered && s->wait_req == s->last_req))
        s->seq++;
    mxp_set_request_id(slot->data, 0);
    mxp_set_batch_stream_id(slot->data, s->id);
    mxp_set_batch_seq(slot->data, s->seq);
    if (mode == BY_LOAN) {
        ring_lend(t->ring, slot);
        s->held[s->n_held++] = slot;
        s->last_lent = slot;
        s->last_lent_gen = slot->generation;
        send_ref(t, s, slot, epoch, k);
        s->sent_lent++;
        t->ctr.batches_lent++;
    } else {
        s->last_lent = NULL; /* the last answer was a copy */
        ring_send(t->ring, slot);
        t->io.send_copy(t->io.ctx, s->control, s->wait_req, slot->data,
                        size);
        ring_release(t->ring, slot);
        s->copy_bytes = size;
        t->copy_bytes += size;
        t->ctr.batches_copied++;
    }
    s->control = NULL;
    s->waiting = 0;
    s->copy_blocked = 0;
    s->answered = 1;
    s->last_req = s->wait_req;
    s->last_epoch = epoch;
    s->last_k = k;
    s->sent++;
    if (s->job)
        s->job->sent++;
    if (s->job && s->job->mode == MIXUP_MODE_SHARED) {
        s->inflight = 1;
        s->inflight_epoch = epoch;
        s->inflight_k = k;
        s->sent_ms = t->now_ms;
    }
    t->ctr.batches_sent++;
}

static int is_shared(const str_stream *s)
{
    return s->job && s->job->mode == MIXUP_MODE_SHARED;
}

/* Deliver what @s waits for if it is ready and may leave now. */
static void stream_try_deliver(str_table *t, str_stream *s)
{
    if (!s->waiting)
        return;
    ring_slot *slot = s->redo_ready;
    if (!slot && (s->need_redo || s->redo || is_shared(s)))
        return;
    if (!slot && !(slot = sch_queue_peek_ready(&s->prod)))
        return;
    int mode = delivery_mode(t, s);
    if (mode == BY_NONE) {
        note_blocked(t, s);
        return;
    }
    if (slot == s->redo_ready) {
        s->redo_ready = NULL;
        s->redo_lapsed = 0;
    } else {
        sch_queue_pop(&s->prod);
    }
    deliver(t, s, slot, mode);
}

/* Hand the job's batches to its waiting members, first come first served:
 * lapsed batches first (they are older), then the prepared queue. A
 * member that cannot take a batch now (its copy budget) is passed over. */
void str_job_dispatch(str_table *t, str_job *job)
{
    str_stream *s = job->wait_head;
    while (s) {
        str_stream *next = s->next_waiter;
        str_pos pos;
        if (job_take_lapsed(job, &pos)) {
            job_wait_remove(job, s);
            s->need_redo = 1;
            s->redo_lapsed = 1;
            s->redo_epoch = pos.epoch;
            s->redo_k = pos.k;
        } else {
            ring_slot *slot = sch_queue_peek_ready(&job->prod);
            if (!slot)
                return;
            int mode = delivery_mode(t, s);
            if (mode != BY_NONE) {
                sch_queue_pop(&job->prod);
                job_wait_remove(job, s);
                deliver(t, s, slot, mode);
            } else {
                note_blocked(t, s);
            }
        }
        s = next;
    }
}

/* Copy budget came back: serve those who waited for it. */
static void retry_blocked(str_table *t)
{
    if (!t->copy_blocked)
        return;
    t->copy_blocked = 0;
    for (uint32_t i = 0; i < t->stream_hi; i++)
        if (t->streams[i].open)
            stream_try_deliver(t, &t->streams[i]);
    for (uint32_t i = 0; i < t->jobs.hi; i++)
        if (t->jobs.jobs[i].in_use && t->jobs.jobs[i].wait_head)
            str_job_dispatch(t, &t->jobs.jobs[i]);
}

/* A slot's batch is ready (a worker finished it): the scheduler's
 * slot_ready callback. */
static void str_slot_ready(str_table *t, sch_work *w)
{
    if (w->owner_kind == SCH_OWNER_REDO) {
        str_stream *s = w->owner;
        s->redo = NULL;
        if (s->waiting) {
            s->redo_ready = w->slot;
            stream_try_deliver(t, s);
        } else {
            sch_release_slot(t, w->slot);
        }
        return;
    }
    str_producer *p = w->owner;
    if (p->kind == PROD_JOB)
        str_job_dispatch(t, STR_CONTAINER(p, str_job, prod));
    else
        stream_try_deliver(t, STR_CONTAINER(p, str_stream, prod));
}

/* ------------------------------------------------------------ table */

int str_table_new(str_table **out, const str_limits *lim,
                  const bat_plan *plan, wrk_pool *pool, ring *ring,
                  const str_io *io)
{
    str_table *t = calloc(1, sizeof *t);
    if (!t)
        return MIXUP_ENOMEM;
    t->streams = calloc(lim->max_streams, sizeof *t->streams);
    t->work = calloc(ring->n, sizeof *t->work);
    t->prods = calloc(2 * (size_t)lim->max_streams, sizeof *t->prods);
    t->awaited = calloc(2 * (size_t)lim->max_streams, sizeof *t->awaited);
    /* Orders are held by producers (streams and jobs), by slots being
     * filled or ready, and by draws in flight; a few unused ones are kept. */
    uint32_t orders = 2 * lim->max_streams + ring->n + ORD_IDLE_KEEP +
                      ORD_MAX_COMPUTING;
    if (!t->streams || !t->work || !t->prods || !t->awaited ||
        job_table_init(&t->jobs, lim->max_streams) < 0 ||
        ord_cache_init(&t->orders, orders, &plan->smp, pool,
                       sch_orders_ready, t) < 0) {
        str_table_free(t);
        return MIXUP_ENOMEM;
    }
    t->lim = *lim;
    t->plan = plan;
    t->pool = pool;
    t->ring = ring;
    t->io = *io;
    t->slot_ready = str_slot_ready;
    t->batches_per_epoch = smp_batches_per_epoch(&plan->smp);
    /* Ids from another daemon instance should not match ours. */
    t->generation = (uint32_t)(time(NULL) ^ ((uint64_t)getpid() << 16)) &
                    STR_ID_GEN_MASK;
    *out = t;
    return 0;
}

static str_stream *lookup(str_table *t, uint64_t id)
{
    uint64_t idx = id & 0xffffffffu;
    if (str_id_tag(id) != t->lim.id_tag)
        return NULL;
    if (idx == 0 || idx > t->lim.max_streams)
        return NULL;
    str_stream *s = &t->streams[idx - 1];
    return s->open && s->id == id ? s : NULL;
}

int str_stream_key(str_table *t, uint64_t stream_id,
                   uint8_t out[MXP_STREAM_KEY_SIZE])
{
    str_stream *s = lookup(t, stream_id);
    if (!s)
        return MIXUP_ENOSTREAM;
    memcpy(out, s->key, MXP_STREAM_KEY_SIZE);
    return 0;
}

int str_check_key(str_table *t, uint64_t stream_id, const uint8_t *key)
{
    str_stream *s = lookup(t, stream_id);
    if (!s)
        return MIXUP_ENOSTREAM;
    return key && mxp_secret_equal(key, s->key, MXP_STREAM_KEY_SIZE)
               ? 0
               : MIXUP_EAUTH;
}

static void release_held(str_table *t, str_stream *s)
{
    for (uint32_t i = 0; i < s->n_held; i++)
        ring_release(t->ring, s->held[i]);
    s->n_held = 0;
}

/* A lapsed shared batch handed to @s but not delivered yet goes back to
 * the job, first in line: it must reach some member. */
static void return_lapsed(str_stream *s)
{
    if (!s->redo_lapsed || !s->job)
        return;
    if (s->need_redo || s->redo || s->redo_ready)
        job_lapse(s->job, (str_pos){s->redo_epoch, s->redo_k}, 1);
    s->redo_lapsed = 0;
}

/* @lapse: the client did not say goodbye, so a shared batch it has not
 * acknowledged goes to another member. */
static void close_stream(str_table *t, str_stream *s, int lapse)
{
    sch_producer_clear(t, &s->prod);
    return_lapsed(s);
    if (s->redo)
        sch_release_slot(t, s->redo);
    if (s->redo_ready)
        sch_release_slot(t, s->redo_ready);
    release_held(t, s);
    free(s->held);
    if (lapse && s->copy_bytes) {
        /* Gone without a word: its last copy may sit unread in its
         * connection (nanomsg keeps it until the peer reads it or the
         * connection closes). It stays charged until str_set_connections
         * shows connections closed. */
        t->orphans++;
        s->copy_bytes = 0;
    }
    copy_arrived(t, s);
    if (s->control)
        nn_freemsg(s->control);
    str_job *job = s->job;
    if (job) {
        job_wait_remove(job, s);
        if (s->inflight && lapse && job->members > 1 &&
            job_lapse(job, (str_pos){s->inflight_epoch, s->inflight_k}, 0) == 0)
            t->ctr.shared_redelivered++;
        if (job_leave(job) == 0) {
            sch_producer_clear(t, &job->prod);
            job_end(&t->jobs, job);
            job = NULL;
        }
    }
    *s = (str_stream){0};
    t->n_open--;
    t->ctr.streams_closed++;
    while (t->stream_hi > 0 && !t->streams[t->stream_hi - 1].open)
        t->stream_hi--;
    if (job)
        str_job_dispatch(t, job);
    retry_blocked(t);
}

void str_table_free(str_table *t)
{
    if (!t)
        return;
    if (t->streams)
        for (uint32_t i = 0; i < t->lim.max_streams; i++)
            if (t->streams[i].open)
                close_stream(t, &t->streams[i], 0);
    job_table_free(&t->jobs);
    ord_cache_free(&t->orders);
    free(t->streams);
    free(t->work);
    free(t->prods);
    free(t->awaited);
    free(t);
}

/* ------------------------------------------------------------ open */

/* Batches a sharded rank gets per epoch, or an error. */
static int check_shard(str_table *t, const mxp_open_req *req,
                       uint64_t *per_epoch, char *err, size_t errlen)
{
    if (req->world == 0)
        return bad(MIXUP_EINVAL, err, errlen,
                   "world size 0: a sharded stream needs world >= 1");
    if (req->rank >= req->world)
        return bad(MIXUP_EINVAL, err, errlen,
                   "rank %u is not below world size %u", req->rank,
                   req->world);
    *per_epoch = t->batches_per_epoch / req->world;
    if (*per_epoch == 0)
        return bad(MIXUP_EINVAL, err, errlen,
                   "world size %u exceeds the %llu batches of an epoch",
                   req->world, (unsigned long long)t->batches_per_epoch);
    return 0;
}

/* A sharded stream starts at its rank's first batch at or after
 * start_batch (so 0 is the start of the epoch for every rank, and a saved
 * position is taken as it is). Return the local index i. */
static int shard_start(str_table *t, const mxp_open_req *req,
                       uint64_t per_epoch, uint64_t *i, char *err,
                       size_t errlen)
{
    uint64_t k = req->start_batch;
    *i = k <= req->rank ? 0 : (k - req->rank + req->world - 1) / req->world;
    if (k >= t->batches_per_epoch || *i >= per_epoch)
        return bad(MIXUP_EPOSITION, err, errlen,
                   "start batch %llu is past rank %u's last batch of an "
                   "epoch (%llu: rank + i * world, i < %llu)",
                   (unsigned long long)k, req->rank,
                   (unsigned long long)(req->rank + (per_epoch - 1) * req->world),
                   (unsigned long long)per_epoch);
    return 0;
}

static int check_open(str_table *t, const mxp_open_req *req,
                      uint64_t *per_epoch, char *err, size_t errlen)
{
    if (req->start_epoch > UINT32_MAX)
        return bad(MIXUP_EPOSITION, err, errlen,
                   "start epoch %llu is beyond the last (%u)",
                   (unsigned long long)req->start_epoch, UINT32_MAX);
    if (t->n_open >= t->lim.max_streams)
        return bad(MIXUP_ELIMIT, err, errlen,
                   "%u streams are open, the limit (server.max_streams)",
                   t->lim.max_streams);
    if (req->mode != MIXUP_MODE_INDEPENDENT && req->job_len == 0)
        return bad(MIXUP_EINVAL, err, errlen, "a %s stream needs a job name",
                   job_mode_name(req->mode));
    if (req->mode == MIXUP_MODE_INDEPENDENT && req->job_len != 0)
        return bad(MIXUP_EINVAL, err, errlen,
                   "an independent stream takes no job name (got '%.*s')",
                   (int)req->job_len, req->job);
    if (req->mode == MIXUP_MODE_SHARED && req->stride > 1)
        return bad(MIXUP_EMODE, err, errlen,
                   "a shared stream cannot be striped (stride %u): a shared "
                   "job's batches go to its members first come first "
                   "served, on one daemon; stripe independent or sharded "
                   "streams", req->stride);
    if (req->mode == MIXUP_MODE_SHARDED)
        return check_shard(t, req, per_epoch, err, errlen);
    *per_epoch = t->batches_per_epoch;
    if (req->start_batch >= t->batches_per_epoch)
        return bad(MIXUP_EPOSITION, err, errlen,
                   "start batch %llu is past the end of an epoch "
                   "(%llu batches: 0 .. %llu)",
                   (unsigned long long)req->start_batch,
                   (unsigned long long)t->batches_per_epoch,
                   (unsigned long long)t->batches_per_epoch - 1);
    return 0;
}

static int join_job(str_table *t, str_stream *s, const mxp_open_req *req,
                    char *err, size_t errlen)
{
    str_job *job = job_find(&t->jobs, req->job, req->job_len);
    if (job) {
        int rc = job_check(job, req, err, errlen);
        if (rc < 0)
            return rc;
    } else if (!(job = job_create(&t->jobs, req)) ||
               (req->mode == MIXUP_MODE_SHARED &&
                sch_producer_init(&job->prod, PROD_JOB, req->seed, 0, 1,
                                  t->batches_per_epoch, req->start_epoch,
                                  req->start_batch, t->lim.prefetch) < 0)) {
        if (job)
            job_end(&t->jobs, job);
        return bad(MIXUP_ENOMEM, err, errlen, "out of memory for a job");
    }
    job->members++;
    s->job = job;
    return 0;
}

static void leave_job(str_table *t, str_stream *s)
{
    if (s->job && job_leave(s->job) == 0) {
        sch_producer_clear(t, &s->job->prod);
        job_end(&t->jobs, s->job);
    }
    s->job = NULL;
}

/* The reply already given to this OPEN, if its stream is still open: a
 * retry (after a timeout or a signal, or REQ re-sending) never opens a
 * second stream, however many OPENs came between. Once the stream is
 * closed its client has its reply and retries no more; once it expired,
 * a retry opens a stream that the waiting client will use.
 *
 * A retry is known by the OPEN's nonce, which only its client has seen:
 * request ids are no secret (other clients may come to know them), and a
 * retry answers with the stream's key. */
static int recent_open(str_table *t, const uint8_t nonce[MXP_NONCE_SIZE],
                       mxp_open_rep *rep)
{
    static const uint8_t none[MXP_NONCE_SIZE];
    if (mxp_secret_equal(nonce, none, MXP_NONCE_SIZE))
        return 0;
    for (uint32_t i = 0; i < t->stream_hi; i++)
        if (t->streams[i].open &&
            mxp_secret_equal(t->streams[i].open_nonce, nonce,
                             MXP_NONCE_SIZE)) {
            *rep = t->streams[i].open_rep;
            return 1;
        }
    return 0;
}

static int stream_init(str_table *t, str_stream *s, const mxp_open_req *req,
                       uint64_t per_epoch, uint64_t first_i)
{
    uint32_t cap = req->prefetch && req->prefetch < t->lim.prefetch
                       ? req->prefetch
                       : t->lim.prefetch;
    uint32_t rank = req->mode == MIXUP_MODE_SHARDED ? req->rank : 0;
    uint32_t world = req->mode == MIXUP_MODE_SHARDED ? req->world : 1;
    if (t->lim.max_held &&
        !(s->held = calloc(t->lim.max_held, sizeof *s->held)))
        return MIXUP_ENOMEM;
    if (req->mode != MIXUP_MODE_SHARED &&
        sch_producer_init(&s->prod, PROD_STREAM, req->seed, rank, world,
                          per_epoch, req->start_epoch, first_i, cap) < 0) {
        free(s->held);
        s->held = NULL;
        return MIXUP_ENOMEM;
    }
    if (req->mode != MIXUP_MODE_SHARED && req->stride > 1) {
        /* Striped: from the offset-th batch of the sequence on (the
         * producer carries it into later epochs), every stride-th. */
        s->prod.stride = req->stride;
        s->prod.prod_i += req->offset;
        s->prod.prod_epoch += s->prod.prod_i / per_epoch;
        s->prod.prod_i %= per_epoch;
    }
    return 0;
}

int str_open(str_table *t, const mxp_open_req *req, uint64_t request_id,
             uint64_t now_ms, mxp_open_rep *rep, char *err, size_t errlen)
{
    t->now_ms = now_ms;
    (void)request_id;
    if (recent_open(t, req->nonce, rep))
        return 0;
    uint64_t per_epoch = 0;
    int rc = check_open(t, req, &per_epoch, err, errlen);
    if (rc < 0)
        return rc;
    uint8_t key[MXP_STREAM_KEY_SIZE];
    if (getrandom(key, sizeof key, GRND_NONBLOCK) != (ssize_t)sizeof key)
        return bad(MIXUP_ESYS, err, errlen, "no random bytes for the "
                   "stream's key yet (getrandom)");
    uint32_t idx = 0;
    while (t->streams[idx].open)
        idx++;
    str_stream *s = &t->streams[idx];
    *s = (str_stream){.mode = req->mode, .last_active_ms = now_ms,
                      .opened_ms = now_ms};
    if (t->last_tick_ms == 0) /* rates count from the first stream on */
        t->last_tick_ms = now_ms;
    uint64_t first_i = req->start_batch;
    if (req->mode == MIXUP_MODE_SHARDED &&
        (rc = shard_start(t, req, per_epoch, &first_i, err, errlen)) < 0)
        return rc;
    if (req->mode != MIXUP_MODE_INDEPENDENT &&
        (rc = join_job(t, s, req, err, errlen)) < 0)
        return rc;
    if (stream_init(t, s, req, per_epoch, first_i) < 0) {
        leave_job(t, s);
        *s = (str_stream){0};
        return bad(MIXUP_ENOMEM, err, errlen, "out of memory for a stream");
    }
    s->open = 1;
    memcpy(s->key, key, sizeof key);
    if (idx + 1 > t->stream_hi)
        t->stream_hi = idx + 1;
    s->id = ((uint64_t)t->lim.id_tag << STR_ID_TAG_SHIFT) |
            ((uint64_t)t->generation++ << 32) | (idx + 1);
    t->generation &= STR_ID_GEN_MASK;
    t->n_open++;
    t->ctr.streams_opened++;
    /* The position of the stream's first batch (a striped stream's is
     * past its offset). */
    *rep = (mxp_open_rep){
        .stream_id = s->id,
        .batches_per_epoch = t->batches_per_epoch,
        .stream_per_epoch = per_epoch,
        .start_epoch = req->mode == MIXUP_MODE_SHARED ? req->start_epoch
                                                      : s->prod.prod_epoch,
        .start_batch = req->mode == MIXUP_MODE_SHARED
                           ? req->start_batch
                           : s->prod.rank + s->prod.prod_i * s->prod.world,
    };
    memcpy(s->open_nonce, req->nonce, MXP_NONCE_SIZE);
    s->open_rep = *rep;
    sch_schedule(t);
    return 0;
}

/* ------------------------------------------------------------ requests */

static int held_at(const str_stream *s, uint32_t index, uint32_t generation)
{
    for (uint32_t i = 0; i < s->n_held; i++)
        if (s->held[i]->index == index && s->held[i]->generation == generation)
            return (int)i;
    return -1;
}

/* Releases of slots this stream holds lent. One it does not hold with
 * that generation (a release the daemon already applied, of a request
 * whose reply was lost; or a client's mistake) is refused: that slot is
 * not touched, the others are released, and the request is served —
 * failing it would lose the good releases with it. Counted in stats. */
static void apply_releases(str_table *t, str_stream *s, const mxp_next_req *req)
{
    for (uint32_t i = 0; i < req->n_release; i++) {
        uint32_t index, gen;
        mxp_next_release_at(req, i, &index, &gen);
        int at = held_at(s, index, gen);
        if (at < 0) {
            t->ctr.releases_refused++;
            log_debug("stream %llx released slot %u generation %u, which it "
                      "does not hold (slot %s): ignored",
                      (unsigned long long)s->id, index, gen,
                      index < t->ring->n
                          ? ring_state_name(t->ring->slots[index].state)
                          : "out of range");
            continue;
        }
        ring_release(t->ring, s->held[at]);
        s->held[at] = s->held[--s->n_held];
    }
    if (s->last_lent && held_at(s, s->last_lent->index, s->last_lent_gen) < 0)
        s->last_lent = NULL;
}

int str_next(str_table *t, const mxp_next_req *req, uint64_t request_id,
             void *control, uint64_t now_ms, char *err, size_t errlen)
{
    t->now_ms = now_ms;
    str_stream *s = lookup(t, req->stream_id);
    if (!s)
        return bad(MIXUP_ENOSTREAM, err, errlen,
                   "stream %llx is not open here (closed, expired after "
                   "server.stream_timeout, or opened on another daemon)",
                   (unsigned long long)req->stream_id);
    apply_releases(t, s, req);
    s->last_active_ms = now_ms;
    copy_arrived(t, s);
    retry_blocked(t); /* those who waited for the budget go first */
    if (!s->waiting && s->answered && request_id == s->last_req &&
        s->last_lent) {
        /* A re-sent request answered by a loan: the same reference again
         * (its reply was lost; or it arrived late and REQ keeps one). The
         * slot stays lent: nothing is released on a guess. */
        s->control = control;
        s->wait_req = request_id;
        send_ref(t, s, s->last_lent, s->last_epoch, s->last_k);
        return 0;
    }
    int want_ref = (req->flags & MXP_NEXT_REF) && t->lim.max_held > 0;
    if (want_ref && s->n_held >= t->lim.max_held) {
        retry_blocked(t);
        return bad(MIXUP_EHELD, err, errlen,
                   "stream %llx holds %u batches, the limit "
                   "(server.max_held): release one before asking for more",
                   (unsigned long long)s->id, s->n_held);
    }
    s->want_ref = want_ref;
    if (s->waiting) {
        /* The same request again, through another connection: answer on
         * the newest route. */
        nn_freemsg(s->control);
        s->control = control;
        s->wait_req = request_id;
        retry_blocked(t);
        return 0;
    }
    s->waiting = 1;
    s->wait_req = request_id;
    s->control = control;
    if (s->answered && request_id == s->last_req) {
        s->need_redo = 1; /* a re-sent request: the same batch again */
        s->redo_epoch = s->last_epoch;
        s->redo_k = s->last_k;
    } else {
        s->inflight = 0; /* asking for the next acknowledges the last */
    }
    if (!s->need_redo && is_shared(s)) {
        job_wait_push(s->job, s);
        str_job_dispatch(t, s->job);
    } else {
        stream_try_deliver(t, s);
    }
    retry_blocked(t);
    sch_schedule(t); /* the slot it took (or released) is free again */
    return 0;
}

int str_close(str_table *t, uint64_t stream_id)
{
    str_stream *s = lookup(t, stream_id);
    if (!s)
        return MIXUP_ENOSTREAM;
    close_stream(t, s, 0);
    sch_schedule(t);
    return 0;
}

/* ------------------------------------------------------------ time */

static void lapse_leases(str_table *t, uint64_t now_ms)
{
    for (uint32_t i = 0; i < t->stream_hi; i++) {
        str_stream *s = &t->streams[i];
        if (!s->open || !s->inflight ||
            now_ms - s->sent_ms < t->lim.shared_lease_ms)
            continue;
        if (job_lapse(s->job, (str_pos){s->inflight_epoch, s->inflight_k},
                      0) < 0)
            continue;
        log_limited(LOG_KIND_LEASE_LAPSED, LOG_WARN_,
                    "stream %llx did not acknowledge batch %llu:%llu of "
                    "job '%s' within %llu ms: handed to another member",
                    (unsigned long long)s->id,
                    (unsigned long long)s->inflight_epoch,
                    (unsigned long long)s->inflight_k, s->job->name,
                    (unsigned long long)t->lim.shared_lease_ms);
        s->inflight = 0;
        t->ctr.shared_redelivered++;
        str_job_dispatch(t, s->job);
    }
}

static void expire_idle(str_table *t, uint64_t now_ms)
{
    for (uint32_t i = 0; i < t->stream_hi; i++) {
        str_stream *s = &t->streams[i];
        if (!s->open || s->waiting ||
            now_ms - s->last_active_ms < t->lim.idle_timeout_ms)
            continue;
        log_limited(LOG_KIND_STREAM_EXPIRED, LOG_INFO_,
                    "stream %llx idle for %llu s: closed%s",
                    (unsigned long long)s->id,
                    (unsigned long long)((now_ms - s->last_active_ms) / 1000),
                    s->n_held ? ", its lent slots taken back" : "");
        close_stream(t, s, 1);
        t->ctr.streams_expired++;
    }
}

static void update_rates(str_table *t, uint64_t now_ms)
{
    if (t->last_tick_ms == 0) { /* no stream yet */
        t->last_tick_ms = now_ms;
        return;
    }
    uint64_t from = t->last_tick_ms;
    t->last_tick_ms = now_ms;
    for (uint32_t i = 0; i < t->stream_hi; i++) {
        str_stream *s = &t->streams[i];
        if (!s->open)
            continue;
        /* A stream opened since the last tick counts from its opening. */
        uint64_t since = s->opened_ms > from ? s->opened_ms : from;
        if (now_ms <= since)
            continue;
        double r = (double)(s->sent - s->sent_at_tick) * 1000.0 /
                   (double)(now_ms - since);
        s->rate = s->rate == 0 ? r : 0.5 * s->rate + 0.5 * r;
        s->sent_at_tick = s->sent;
    }
}

void str_tick(str_table *t, uint64_t now_ms)
{
    t->now_ms = now_ms;
    lapse_leases(t, now_ms);
    expire_idle(t, now_ms);
    update_rates(t, now_ms);
    ord_trim(&t->orders);
    sch_schedule(t); /* also those that found the order cache full */
}

void str_drop_pending(str_table *t)
{
    for (uint32_t i = 0; i < t->stream_hi; i++) {
        str_stream *s = &t->streams[i];
        if (s->open && s->waiting) {
            if (s->job)
                job_wait_remove(s->job, s);
            nn_freemsg(s->control);
            s->control = NULL;
            s->waiting = 0;
        }
    }
}

void str_set_timeouts(str_table *t, uint64_t idle_ms, uint64_t lease_ms)
{
    t->lim.idle_timeout_ms = idle_ms;
    t->lim.shared_lease_ms = lease_ms;
}

uint32_t str_count(const str_table *t)
{
    return t->n_open;
}

uint32_t str_waiting(const str_table *t)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->stream_hi; i++)
        n += t->streams[i].open && t->streams[i].waiting;
    return n;
}

void str_set_connections(str_table *t, uint64_t open)
{
    if (t->orphans <= open)
        return;
    /* nanomsg holds at most one reply per connection: with fewer
     * connections than orphaned copies, the excess is gone. */
    t->copy_bytes -= (size_t)(t->orphans - open) * t->ring->msg_size;
    t->orphans = (uint32_t)open;
    retry_blocked(t);
}

size_t str_copy_bytes(const str_table *t)
{
    return t->copy_bytes;
}

const str_counters *str_get_counters(const str_table *t)
{
    return &t->ctr;
}

const ord_counters *str_get_order_counters(const str_table *t)
{
    return &t->orders.ctr;
}

uint32_t str_orders_ready(const str_table *t)
{
    return ord_count(&t->orders, ORD_READY);
}
