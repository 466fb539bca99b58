/*
 * server_stats.c — the daemon's counters and settings as the STATS
 * reply's JSON (server_internal.h).
 */
#include <nanomsg/nn.h>
#include <stdio.h>

#include "dataset.h"
#include "log.h"
#include "mapped.h"
#include "mixup_errors.h"
#include "orders.h"
#include "jsonw.h"
#include "server_internal.h"

/* Fraction of the workers' time spent building batches since start. The
 * counters are the pool's, written under its lock by the workers. */
static double worker_busy(srv_server *srv, uint64_t busy)
{
    double up_ns = (double)(now_ms(srv) - srv->started_ms) * 1e6;
    if (up_ns <= 0 || srv->pool.n_threads == 0)
        return 0;
    return (double)busy / (up_ns * srv->pool.n_threads);
}

/* Distinct datasets the pipelines use (a shared one counts once). */
static unsigned datasets_loaded(const srv_server *srv)
{
    unsigned n = 0;
    for (int i = 0; i < srv->n_pipes; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++)
            seen |= srv->pipes[j].plan.ds == srv->pipes[i].plan.ds;
        n += !seen;
    }
    return n;
}

/* Counters of every pipeline's streams, summed. */
void srv_sum_counters(const srv_server *srv, str_counters *sum)
{
    *sum = (str_counters){0};
    for (int i = 0; i < srv->n_pipes; i++) {
        const str_counters *c = str_get_counters(srv->pipes[i].streams);
        sum->streams_opened += c->streams_opened;
        sum->streams_closed += c->streams_closed;
        sum->streams_expired += c->streams_expired;
        sum->batches_computed += c->batches_computed;
        sum->batches_sent += c->batches_sent;
        sum->batches_recomputed += c->batches_recomputed;
        sum->batches_lent += c->batches_lent;
        sum->batches_copied += c->batches_copied;
        sum->copy_waits += c->copy_waits;
        sum->releases_refused += c->releases_refused;
        sum->slots_reclaimed += c->slots_reclaimed;
        sum->shared_redelivered += c->shared_redelivered;
    }
}

size_t srv_copy_bytes_in_flight(const srv_server *srv)
{
    size_t sum = 0;
    for (int i = 0; i < srv->n_pipes; i++)
        sum += str_copy_bytes(srv->pipes[i].streams);
    return sum;
}

/* A digest as stats show it: 16 hex digits. */
static json_object *hex64(uint64_t v)
{
    char text[24];
    snprintf(text, sizeof text, "%016llx", (unsigned long long)v);
    return jw_str(text);
}

/* The rings' slots by state (all pipelines) and how batches left: lent
 * in place or copied to a socket (with the copies' budget). */
static void describe_ring_json(srv_server *srv, const str_counters *c,
                               json_object *o)
{
    json_object *slots = json_object_new_object();
    for (int st = 0; st < RING_N_STATES; st++) {
        uint32_t n = 0;
        for (int i = 0; i < srv->n_pipes; i++)
            n += ring_count(&srv->pipes[i].ring, (ring_state)st);
        jw_add(slots, ring_state_name((ring_state)st), jw_u64(n));
    }
    jw_add(o, "slots", slots);
    jw_add(o, "ring_segment", jw_str(srv->pipes[0].ring.seg.name));
    jw_add(o, "slot_bytes", jw_u64(srv->pipes[0].ring.slot_size));
    jw_add(o, "shm_delivery", jw_str(srv->lend ? "auto" : "off"));
    jw_add(o, "max_held", jw_u64(srv->lend ? srv->max_held : 0));
    json_object *transport = json_object_new_object();
    jw_add(transport, "lent", jw_u64(c->batches_lent));
    jw_add(transport, "copied", jw_u64(c->batches_copied));
    jw_add(o, "transport", transport);
    json_object *copy = json_object_new_object();
    jw_add(copy, "in_flight", jw_u64(srv_copy_bytes_in_flight(srv)));
    jw_add(copy, "max", jw_u64(srv->max_copy_bytes));
    jw_add(copy, "waits", jw_u64(c->copy_waits));
    jw_add(o, "copy_bytes", copy);
    jw_add(o, "releases_refused", jw_u64(c->releases_refused));
}

static json_object *describe_dataset_json(const ds_dataset *ds)
{
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    jw_add(o, "samples", jw_u64(ds->n));
    json_object *shape = json_object_new_array();
    json_object_array_add(shape, jw_u64(ds->h));
    json_object_array_add(shape, jw_u64(ds->w));
    json_object_array_add(shape, jw_u64(ds->c));
    jw_add(o, "shape", shape);
    jw_add(o, "classes", jw_u64(ds->classes));
    jw_add(o, "dtype", jw_str(ds->dtype == DS_U8 ? "uint8" : "float32"));
    jw_add(o, "bytes", jw_u64(ds->bytes));
    jw_add(o, "segment", jw_str(ds->seg.name));
    jw_add(o, "digest", hex64(ds->digest));
    ds_describe_images_json(ds, o);
    ds_describe_mapped_json(ds, o);
    return o;
}

/* Each pipeline: its dataset (the segment tells a shared one), epoch,
 * settings, ring and streams. */
static json_object *describe_pipelines_json(srv_server *srv)
{
    json_object *all = json_object_new_array();
    for (int i = 0; i < srv->n_pipes && all; i++) {
        const srv_pipe *p = &srv->pipes[i];
        json_object *o = json_object_new_object();
        jw_add(o, "name", jw_str(p->name));
        jw_add(o, "dataset", describe_dataset_json(p->plan.ds));
        jw_add(o, "batches_per_epoch",
               jw_u64(smp_batches_per_epoch(&p->plan.smp)));
        jw_add(o, "streams_open", jw_u64(str_count(p->streams)));
        jw_add(o, "ring_segment", jw_str(p->ring.seg.name));
        jw_add(o, "ring_slots", jw_u64(p->ring.n));
        jw_add(o, "slot_bytes", jw_u64(p->ring.slot_size));
        jw_add(o, "settings_digest", hex64(p->settings_digest));
        jw_add(o, "settings", bat_describe_json(&p->plan));
        json_object_array_add(all, o);
    }
    return all;
}

static void describe_streams_json(srv_server *srv, json_object *o)
{
    json_object *jobs = json_object_new_array();
    for (int i = 0; i < srv->n_pipes && jobs; i++)
        str_describe_jobs_json(srv->pipes[i].streams, srv->pipes[i].name,
                               jobs);
    jw_add(o, "jobs", jobs);
    json_object *streams = json_object_new_array();
    for (int i = 0; i < srv->n_pipes && streams; i++)
        str_describe_streams_json(srv->pipes[i].streams, srv->pipes[i].name,
                                  now_ms(srv), streams);
    jw_add(o, "streams", streams);
}

/* Epochs' orders, all pipelines: drawn by workers, shared, waited for. */
static json_object *describe_orders_json(const srv_server *srv)
{
    ord_counters sum = {0};
    uint32_t ready = 0;
    for (int i = 0; i < srv->n_pipes; i++) {
        const ord_counters *c = str_get_order_counters(srv->pipes[i].streams);
        sum.computed += c->computed;
        sum.hits += c->hits;
        sum.waits += c->waits;
        sum.evicted += c->evicted;
        ready += str_orders_ready(srv->pipes[i].streams);
    }
    json_object *o = json_object_new_object();
    jw_add(o, "cached", jw_u64(ready));
    jw_add(o, "computed", jw_u64(sum.computed));
    jw_add(o, "shared", jw_u64(sum.hits));
    jw_add(o, "waits", jw_u64(sum.waits));
    jw_add(o, "evicted", jw_u64(sum.evicted));
    return o;
}

static json_object *describe_connections_json(srv_server *srv)
{
    json_object *o = json_object_new_object();
    jw_add(o, "open", jw_u64(nn_get_statistic(srv->sock,
                                              NN_STAT_CURRENT_CONNECTIONS)));
    jw_add(o, "accepted", jw_u64(nn_get_statistic(srv->sock,
                                                  NN_STAT_ACCEPTED_CONNECTIONS)));
    jw_add(o, "closed",
           jw_u64(nn_get_statistic(srv->sock, NN_STAT_DROPPED_CONNECTIONS) +
                  nn_get_statistic(srv->sock, NN_STAT_BROKEN_CONNECTIONS)));
    return o;
}

/* The counters of every pipeline, at the top level. */
static void describe_counters_json(srv_server *srv, const str_counters *c,
                                   json_object *o)
{
    const srv_pipe *m = &srv->pipes[0];
    srv_stats st;
    srv_get_stats(srv, &st);
    jw_add(o, "batch_size", jw_u64(m->plan.smp.batch_size));
    jw_add(o, "batches_per_epoch",
           jw_u64(smp_batches_per_epoch(&m->plan.smp)));
    json_object *ring = json_object_new_object();
    jw_add(ring, "slots", jw_u64(st.ring_slots));
    jw_add(ring, "held", jw_u64(st.ring_slots - st.ring_free));
    jw_add(o, "ring", ring);
    jw_add(o, "requests", jw_u64(st.requests));
    jw_add(o, "bad_requests", jw_u64(st.bad_requests));
    jw_add(o, "auth_refused", jw_u64(st.auth_refused));
    jw_add(o, "errors_sent", jw_u64(st.errors_sent));
    jw_add(o, "batches_sent", jw_u64(st.batches_sent));
    jw_add(o, "bytes_sent", jw_u64(st.bytes_sent));
    jw_add(o, "batches_computed", jw_u64(c->batches_computed));
    jw_add(o, "batches_recomputed", jw_u64(c->batches_recomputed));
    jw_add(o, "slots_reclaimed", jw_u64(c->slots_reclaimed));
    jw_add(o, "shared_redelivered", jw_u64(c->shared_redelivered));
    jw_add(o, "streams_open", jw_u64(st.streams_open));
    jw_add(o, "streams_opened", jw_u64(c->streams_opened));
    jw_add(o, "streams_expired", jw_u64(c->streams_expired));
    jw_add(o, "datasets_loaded", jw_u64(datasets_loaded(srv)));
}

/* The top level describes the daemon and its main pipeline (dataset,
 * batch_size, pipeline); counters are of all pipelines together. */
json_object *srv_describe_json(srv_server *srv)
{
    const srv_pipe *m = &srv->pipes[0];
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    str_counters c;
    srv_sum_counters(srv, &c);
    uint64_t jobs_run, busy_ns;
    wrk_pool_counters(&srv->pool, &jobs_run, &busy_ns);
    jw_add(o, "uptime_s", jw_num("%.1f", (double)(now_ms(srv) -
                                                  srv->started_ms) / 1000.0));
    jw_add(o, "dataset", describe_dataset_json(m->plan.ds));
    describe_counters_json(srv, &c, o);
    jw_add(o, "pipeline", bat_describe_json(&m->plan));
    describe_ring_json(srv, &c, o);
    jw_add(o, "orders", describe_orders_json(srv));
    jw_add(o, "connections", describe_connections_json(srv));
    jw_add(o, "config_digest", hex64(srv->config_digest));
    jw_add(o, "dataset_digest", hex64(m->plan.ds->digest));
    jw_add(o, "settings_digest", hex64(m->settings_digest));
    json_object *workers = json_object_new_object();
    jw_add(workers, "threads", jw_u64(srv->pool.n_threads));
    /* decode / resample scratch, one per thread (never per ring slot) */
    jw_add(workers, "scratch_bytes",
           jw_u64((uint64_t)srv->pool.scratch_size * srv->pool.n_threads));
    jw_add(workers, "jobs_run", jw_u64(jobs_run));
    jw_add(workers, "busy", jw_num("%.3f", worker_busy(srv, busy_ns)));
    jw_add(o, "workers", workers);
    json_object *errors = json_object_new_object();
    for (int i = 1; i < 32; i++)
        if (srv->errors_by_code[i])
            jw_add(errors, mixup_err_name(-i), jw_u64(srv->errors_by_code[i]));
    jw_add(o, "errors", errors);
    jw_add(o, "log", log_describe_json());
    jw_add(o, "pipelines", describe_pipelines_json(srv));
    describe_streams_json(srv, o);
    return o;
}
