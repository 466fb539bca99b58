/*
 * stats_table.h — the daemon's stats (JSON) as a human table: uptime, one
 * section per object (dataset, ring, workers, errors), the counters, one
 * table per list (jobs, streams).
 */
#ifndef CTL_STATS_TABLE_H
#define CTL_STATS_TABLE_H

#include <stdio.h>

#include "json.h"

/* Print @st (a parsed stats object; any other JSON prints what it can)
 * on @out: sections (nested objects flattened as key.member), counters,
 * one section per pipeline, then the jobs and streams tables. */
void stats_print_table(FILE *out, json_object *st);

/* Only the jobs and streams tables of @st: what `mixupctl jobs` shows,
 * from the same JSON as `stats`, so that the two always agree. */
void stats_print_jobs(FILE *out, json_object *st);

#endif
