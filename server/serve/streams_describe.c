/*
 * streams_describe.c — jobs and streams for stats (streams.h).
 */
#include <stdio.h>

#include "jsonw.h"
#include "streams_internal.h"

static uint32_t stream_prepared(const str_stream *s)
{
    return s->prod.active ? s->prod.q_len : 0;
}

static uint64_t stream_seed(const str_stream *s)
{
    return s->job ? s->job->seed : s->prod.seed;
}

/* See streams.h: never zero right after traffic. */
static double stream_rate(const str_table *t, const str_stream *s,
                          uint64_t now_ms)
{
    if (s->rate > 0 || s->sent == s->sent_at_tick)
        return s->rate;
    uint64_t since = s->opened_ms > t->last_tick_ms ? s->opened_ms
                                                     : t->last_tick_ms;
    uint64_t ms = now_ms > since ? now_ms - since : 1;
    return (double)(s->sent - s->sent_at_tick) * 1000.0 / (double)ms;
}

/* Stream ids go to stats as they are: ids are not secrets (yet). */
void str_describe_jobs_json(const str_table *t, const char *pipeline,
                            json_object *jobs)
{
    for (uint32_t i = 0; i < t->jobs.hi; i++) {
        const str_job *j = &t->jobs.jobs[i];
        if (!j->in_use)
            continue;
        json_object *o = json_object_new_object();
        jw_add(o, "name", jw_str(j->name));
        jw_add(o, "pipeline", jw_str(pipeline));
        jw_add(o, "mode", jw_str(job_mode_name(j->mode)));
        jw_add(o, "seed", jw_u64(j->seed));
        jw_add(o, "world", jw_u64(j->world));
        jw_add(o, "members", jw_u64(j->members));
        jw_add(o, "batches_sent", jw_u64(j->sent));
        jw_add(o, "prepared", jw_u64(j->prod.q_len));
        jw_add(o, "lapsed", jw_u64(j->n_lapsed));
        json_object_array_add(jobs, o);
    }
}

void str_describe_streams_json(const str_table *t, const char *pipeline,
                               uint64_t now_ms, json_object *streams)
{
    for (uint32_t i = 0; i < t->stream_hi; i++) {
        const str_stream *s = &t->streams[i];
        if (!s->open)
            continue;
        char id[24];
        snprintf(id, sizeof id, "%llx", (unsigned long long)s->id);
        json_object *o = json_object_new_object();
        jw_add(o, "id", jw_str(id));
        jw_add(o, "pipeline", jw_str(pipeline));
        jw_add(o, "mode", jw_str(job_mode_name(s->mode)));
        jw_add(o, "job", jw_str(s->job ? s->job->name : ""));
        jw_add(o, "rank", jw_u64(s->prod.rank));
        jw_add(o, "world", jw_u64(s->prod.world));
        jw_add(o, "seed", jw_u64(stream_seed(s)));
        json_object *pos = json_object_new_array();
        json_object_array_add(pos, json_object_new_int64(
                                       s->answered ? (int64_t)s->last_epoch : -1));
        json_object_array_add(pos, json_object_new_int64(
                                       s->answered ? (int64_t)s->last_k : -1));
        jw_add(o, "position", pos);
        jw_add(o, "batches_sent", jw_u64(s->sent));
        jw_add(o, "batches_lent", jw_u64(s->sent_lent));
        jw_add(o, "held", jw_u64(s->n_held));
        jw_add(o, "batches_per_s", jw_num("%.2f", stream_rate(t, s, now_ms)));
        jw_add(o, "prepared", jw_u64(stream_prepared(s)));
        jw_add(o, "waiting", jw_bool(s->waiting));
        json_object_array_add(streams, o);
    }
}

static void describe_jobs_text(const str_table *t, const char *pipeline,
                               FILE *out)
{
    fprintf(out, "%-16s %-16s %-8s %20s %6s %8s %10s %9s %8s\n", "JOB",
            "PIPELINE", "MODE", "SEED", "WORLD", "MEMBERS", "SENT",
            "PREPARED", "LAPSED");
    for (uint32_t i = 0; i < t->jobs.hi; i++) {
        const str_job *j = &t->jobs.jobs[i];
        if (!j->in_use)
            continue;
        fprintf(out, "%-16s %-16s %-8s %20llu %6u %8u %10llu %9u %8u\n",
                j->name, pipeline, job_mode_name(j->mode), (unsigned long long)j->seed,
                j->mode == MIXUP_MODE_SHARDED ? j->world : 0, j->members,
                (unsigned long long)j->sent, j->prod.q_len, j->n_lapsed);
    }
    fputc('\n', out);
}

void str_describe_text(const str_table *t, const char *pipeline,
                       uint64_t now_ms, FILE *out)
{
    describe_jobs_text(t, pipeline, out);
    fprintf(out, "%-18s %-16s %-11s %-16s %9s %20s %10s %9s %8s %5s\n",
            "STREAM", "PIPELINE", "MODE", "JOB", "RANK", "SEED", "POSITION",
            "SENT", "BATCH/S", "HELD");
    for (uint32_t i = 0; i < t->stream_hi; i++) {
        const str_stream *s = &t->streams[i];
        if (!s->open)
            continue;
        char pos[48] = "-", rank[24] = "-";
        if (s->answered)
            snprintf(pos, sizeof pos, "%llu:%llu",
                     (unsigned long long)s->last_epoch,
                     (unsigned long long)s->last_k);
        if (s->mode == MIXUP_MODE_SHARDED)
            snprintf(rank, sizeof rank, "%u/%u", s->prod.rank, s->prod.world);
        fprintf(out, "%-18llx %-16s %-11s %-16s %9s %20llu %10s %9llu %8.2f "
                "%5u\n", (unsigned long long)s->id, pipeline,
                job_mode_name(s->mode),
                s->job ? s->job->name : "-", rank,
                (unsigned long long)stream_seed(s), pos,
                (unsigned long long)s->sent, stream_rate(t, s, now_ms),
                s->n_held);
    }
}
