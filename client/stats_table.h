/*
 * stats_table.h — the daemon's stats (JSON) as a human table: uptime, one
 * section per object (dataset, ring, workers, errors), the counters, one
 * table per list (jobs, streams).
 */
#ifndef CTL_STATS_TABLE_H
#define CTL_STATS_TABLE_H

#include "json.h"

/* Print @st (a parsed stats object) on stdout. */
void stats_print_table(const jval *st);

#endif
