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

/* The rings' slots by state (all pipelines) and how batches left: lent
 * in place or copied to a socket (with the copies' budget). */
static void describe_ring_json(srv_server *srv, const str_counters *c,
                               FILE *out)
{
    fprintf(out, "\"slots\": {");
    for (int st = 0; st < RING_N_STATES; st++) {
        uint32_t n = 0;
        for (int i = 0; i < srv->n_pipes; i++)
            n += ring_count(&srv->pipes[i].ring, (ring_state)st);
        fprintf(out, "%s\"%s\": %u", st ? ", " : "",
                ring_state_name((ring_state)st), n);
    }
    fprintf(out, "}, \"ring_segment\": \"%s\", \"slot_bytes\": %zu, "
            "\"shm_delivery\": \"%s\", \"max_held\": %u, "
            "\"transport\": {\"lent\": %llu, \"copied\": %llu}, "
            "\"copy_bytes\": {\"in_flight\": %zu, \"max\": %zu, "
            "\"waits\": %llu}, \"releases_refused\": %llu, ",
            srv->pipes[0].ring.seg.name, srv->pipes[0].ring.slot_size,
            srv->lend ? "auto" : "off", srv->lend ? srv->max_held : 0,
            (unsigned long long)c->batches_lent,
            (unsigned long long)c->batches_copied,
            srv_copy_bytes_in_flight(srv), srv->max_copy_bytes,
            (unsigned long long)c->copy_waits,
            (unsigned long long)c->releases_refused);
}

static void describe_dataset_json(const ds_dataset *ds, FILE *out)
{
    fprintf(out, "\"dataset\": {\"samples\": %llu, \"shape\": [%u, %u, %u], "
            "\"classes\": %u, \"dtype\": \"%s\", \"bytes\": %llu, "
            "\"segment\": \"%s\", \"digest\": \"%016llx\"",
            (unsigned long long)ds->n, ds->h, ds->w, ds->c, ds->classes,
            ds->dtype == DS_U8 ? "uint8" : "float32",
            (unsigned long long)ds->bytes, ds->seg.name,
            (unsigned long long)ds->digest);
    ds_describe_images_json(ds, out);
    ds_describe_mapped_json(ds, out);
    fputc('}', out);
}

/* Each pipeline: its dataset (the segment tells a shared one), epoch,
 * settings, ring and streams. */
static void describe_pipelines_json(srv_server *srv, FILE *out)
{
    fputs("\"pipelines\": [", out);
    for (int i = 0; i < srv->n_pipes; i++) {
        const srv_pipe *p = &srv->pipes[i];
        fprintf(out, "%s{\"name\": \"%s\", ", i ? ", " : "", p->name);
        describe_dataset_json(p->plan.ds, out);
        fprintf(out, ", \"batches_per_epoch\": %llu, \"streams_open\": %u, "
                "\"ring_segment\": \"%s\", \"ring_slots\": %u, "
                "\"slot_bytes\": %zu, \"settings_digest\": \"%016llx\", "
                "\"settings\": ",
                (unsigned long long)smp_batches_per_epoch(&p->plan.smp),
                str_count(p->streams), p->ring.seg.name, p->ring.n,
                p->ring.slot_size, (unsigned long long)p->settings_digest);
        bat_describe_json(&p->plan, out);
        fputs("}", out);
    }
    fputs("], ", out);
}

static void describe_streams_json(srv_server *srv, FILE *out)
{
    int first = 1;
    fputs("\"jobs\": [", out);
    for (int i = 0; i < srv->n_pipes; i++)
        str_describe_jobs_json(srv->pipes[i].streams, srv->pipes[i].name,
                               &first, out);
    fputs("], \"streams\": [", out);
    first = 1;
    for (int i = 0; i < srv->n_pipes; i++)
        str_describe_streams_json(srv->pipes[i].streams, srv->pipes[i].name,
                                  now_ms(srv), &first, out);
    fputs("]", out);
}

/* Epochs' orders, all pipelines: drawn by workers, shared, waited for. */
static void describe_orders_json(const srv_server *srv, FILE *out)
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
    fprintf(out, "\"orders\": {\"cached\": %u, \"computed\": %llu, "
            "\"shared\": %llu, \"waits\": %llu, \"evicted\": %llu}, ",
            ready, (unsigned long long)sum.computed,
            (unsigned long long)sum.hits, (unsigned long long)sum.waits,
            (unsigned long long)sum.evicted);
}

/* The top level describes the daemon and its main pipeline (dataset,
 * batch_size, pipeline); counters are of all pipelines together. */
void srv_describe_json(srv_server *srv, FILE *out)
{
    const srv_pipe *m = &srv->pipes[0];
    str_counters c;
    srv_sum_counters(srv, &c);
    srv_stats st;
    srv_get_stats(srv, &st);
    uint64_t jobs_run, busy_ns;
    wrk_pool_counters(&srv->pool, &jobs_run, &busy_ns);
    fprintf(out, "{\"uptime_s\": %.1f, ",
            (double)(now_ms(srv) - srv->started_ms) / 1000.0);
    describe_dataset_json(m->plan.ds, out);
    fprintf(out, ", \"batch_size\": %u, \"batches_per_epoch\": %llu, "
            "\"ring\": {\"slots\": %u, \"held\": %u}, "
            "\"requests\": %llu, \"bad_requests\": %llu, "
            "\"auth_refused\": %llu, "
            "\"errors_sent\": %llu, \"batches_sent\": %llu, "
            "\"bytes_sent\": %llu, \"batches_computed\": %llu, "
            "\"batches_recomputed\": %llu, \"slots_reclaimed\": %llu, "
            "\"shared_redelivered\": %llu, \"streams_open\": %u, "
            "\"streams_opened\": %llu, \"streams_expired\": %llu, "
            "\"datasets_loaded\": %u, ",
            m->plan.smp.batch_size,
            (unsigned long long)smp_batches_per_epoch(&m->plan.smp),
            st.ring_slots, st.ring_slots - st.ring_free,
            (unsigned long long)st.requests,
            (unsigned long long)st.bad_requests,
            (unsigned long long)st.auth_refused,
            (unsigned long long)st.errors_sent,
            (unsigned long long)st.batches_sent,
            (unsigned long long)st.bytes_sent,
            (unsigned long long)c.batches_computed,
            (unsigned long long)c.batches_recomputed,
            (unsigned long long)c.slots_reclaimed,
            (unsigned long long)c.shared_redelivered, st.streams_open,
            (unsigned long long)c.streams_opened,
            (unsigned long long)c.streams_expired, datasets_loaded(srv));
    fputs("\"pipeline\": ", out);
    bat_describe_json(&m->plan, out);
    fputs(", ", out);
    describe_ring_json(srv, &c, out);
    describe_orders_json(srv, out);
    fprintf(out, "\"connections\": {\"open\": %llu, \"accepted\": %llu, "
            "\"closed\": %llu}, ",
            (unsigned long long)nn_get_statistic(srv->sock, NN_STAT_CURRENT_CONNECTIONS),
            (unsigned long long)nn_get_statistic(srv->sock, NN_STAT_ACCEPTED_CONNECTIONS),
            (unsigned long long)(nn_get_statistic(srv->sock, NN_STAT_DROPPED_CONNECTIONS) +
                                 nn_get_statistic(srv->sock, NN_STAT_BROKEN_CONNECTIONS)));
    fprintf(out, "\"config_digest\": \"%016llx\", \"dataset_digest\": "
            "\"%016llx\", \"settings_digest\": \"%016llx\", "
            "\"workers\": {\"threads\": %u, "
            "\"jobs_run\": %llu, \"busy\": %.3f}, \"errors\": {",
            (unsigned long long)srv->config_digest,
            (unsigned long long)m->plan.ds->digest,
            (unsigned long long)m->settings_digest, srv->pool.n_threads,
            (unsigned long long)jobs_run, worker_busy(srv, busy_ns));
    int first = 1;
    for (int i = 1; i < 32; i++)
        if (srv->errors_by_code[i]) {
            fprintf(out, "%s\"%s\": %llu", first ? "" : ", ",
                    mixup_err_name(-i),
                    (unsigned long long)srv->errors_by_code[i]);
            first = 0;
        }
    fputs("}, \"log\": ", out);
    log_describe_json(out);
    fputs(", ", out);
    describe_pipelines_json(srv, out);
    describe_streams_json(srv, out);
    fputs("}\n", out);
}
