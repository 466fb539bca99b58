/*
 * jobs.c — named jobs (streams_internal.h).
 *
 * A job groups the streams of one training run: sharded ranks (each its
 * own producer, the job only checks they agree) or shared members (one
 * producer for all; each batch to the first member asking). A shared
 * batch whose member neither acknowledged it nor closed within the lease
 * is "lapsed": it goes to the next member asking, before newer batches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "streams_internal.h"

int job_table_init(job_table *jt, uint32_t cap)
{
    *jt = (job_table){.cap = cap};
    jt->jobs = calloc(cap, sizeof *jt->jobs);
    return jt->jobs ? 0 : MIXUP_ENOMEM;
}

void job_table_free(job_table *jt)
{
    for (uint32_t i = 0; i < jt->cap; i++)
        free(jt->jobs[i].lapsed);
    free(jt->jobs);
    *jt = (job_table){0};
}

str_job *job_find(job_table *jt, const char *name, size_t len)
{
    for (uint32_t i = 0; i < jt->hi; i++) {
        str_job *j = &jt->jobs[i];
        if (j->in_use && strlen(j->name) == len && !memcmp(j->name, name, len))
            return j;
    }
    return NULL;
}

const char *job_mode_name(uint32_t mode)
{
    return mode == MIXUP_MODE_SHARDED  ? "sharded"
           : mode == MIXUP_MODE_SHARED ? "shared"
                                       : "independent";
}

int job_check(const str_job *j, const mxp_open_req *req, char *err,
              size_t errlen)
{
    if (j->mode != req->mode)
        snprintf(err, errlen, "job '%s' is %s, this stream asked for %s",
                 j->name, job_mode_name(j->mode), job_mode_name(req->mode));
    else if (j->seed != req->seed)
        snprintf(err, errlen, "job '%s' has seed %llu, this stream asked "
                 "for %llu", j->name, (unsigned long long)j->seed,
                 (unsigned long long)req->seed);
    else if (j->mode == MIXUP_MODE_SHARDED && j->world != req->world)
        snprintf(err, errlen, "job '%s' has world size %u, this stream "
                 "asked for %u", j->name, j->world, req->world);
    else
        return 0;
    return MIXUP_EINVAL;
}

str_job *job_create(job_table *jt, const mxp_open_req *req)
{
    uint32_t i = 0;
    while (i < jt->cap && jt->jobs[i].in_use)
        i++;
    if (i == jt->cap)
        return NULL;
    str_job *j = &jt->jobs[i];
    *j = (str_job){.in_use = 1, .mode = req->mode, .seed = req->seed,
                   .world = req->world};
    memcpy(j->name, req->job, req->job_len);
    j->name[req->job_len] = 0;
    if (i + 1 > jt->hi)
        jt->hi = i + 1;
    log_debug("job '%s' created: %s, seed %llu", j->name,
              job_mode_name(j->mode), (unsigned long long)j->seed);
    return j;
}

uint32_t job_leave(str_job *j)
{
    return --j->members;
}

void job_end(job_table *jt, str_job *j)
{
    log_debug("job '%s' ended: %llu batches served", j->name,
              (unsigned long long)j->sent);
    free(j->lapsed);
    *j = (str_job){0};
    while (jt->hi > 0 && !jt->jobs[jt->hi - 1].in_use)
        jt->hi--;
}

void job_wait_push(str_job *j, str_stream *s)
{
    s->next_waiter = NULL;
    if (j->wait_tail)
        j->wait_tail->next_waiter = s;
    else
        j->wait_head = s;
    j->wait_tail = s;
}

void job_wait_remove(str_job *j, str_stream *s)
{
    str_stream **pp = &j->wait_head;
    str_stream *prev = NULL;
    while (*pp && *pp != s) {
        prev = *pp;
        pp = &(*pp)->next_waiter;
    }
    if (!*pp)
        return;
    *pp = s->next_waiter;
    if (j->wait_tail == s)
        j->wait_tail = prev;
    s->next_waiter = NULL;
}

int job_lapse(str_job *j, str_pos pos, int first)
{
    if (j->n_lapsed == j->cap_lapsed) {
        uint32_t cap = j->cap_lapsed ? 2 * j->cap_lapsed : 8;
        str_pos *p = realloc(j->lapsed, cap * sizeof *p);
        if (!p)
            return MIXUP_ENOMEM;
        j->lapsed = p;
        j->cap_lapsed = cap;
    }
    if (first) {
        memmove(j->lapsed + 1, j->lapsed, j->n_lapsed * sizeof *j->lapsed);
        j->lapsed[0] = pos;
    } else {
        j->lapsed[j->n_lapsed] = pos;
    }
    j->n_lapsed++;
    return 0;
}

int job_take_lapsed(str_job *j, str_pos *pos)
{
    if (j->n_lapsed == 0)
        return 0;
    *pos = j->lapsed[0];
    memmove(j->lapsed, j->lapsed + 1, --j->n_lapsed * sizeof *j->lapsed);
    return 1;
}
