/*
 * stats_table.c — see stats_table.h.
 */
#include "stats_table.h"

#include <math.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int is_bytes_key(const char *k)
{
    size_t n = strlen(k);
    return !strcmp(k, "bytes") || !strncmp(k, "bytes_", 6) ||
           (n > 6 && !strcmp(k + n - 6, "_bytes"));
}

static void human_bytes(double v, char *out, size_t len)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(out, len, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
}

static void human_duration(double s, char *out, size_t len)
{
    unsigned long long t = s > 0 ? (unsigned long long)s : 0;
    if (t >= 86400)
        snprintf(out, len, "%llud %02lluh %02llum", t / 86400, t / 3600 % 24, t / 60 % 60);
    else if (t >= 3600)
        snprintf(out, len, "%lluh %02llum %02llus", t / 3600, t / 60 % 60, t % 60);
    else if (t >= 60)
        snprintf(out, len, "%llum %02llus", t / 60, t % 60);
    else
        snprintf(out, len, "%.1f s", s);
}

/* One value as a table cell: shapes as 28x28x1, positions as E:B ("-"
 * before the first batch), sizes in bytes with their unit. */
static void format_value(const char *key, const jval *v, char *out, size_t len)
{
    char tmp[64];
    switch (v->t) {
    case J_NULL: snprintf(out, len, "-"); return;
    case J_BOOL: snprintf(out, len, "%s", v->b ? "yes" : "no"); return;
    case J_STR: snprintf(out, len, "%s", *v->s ? v->s : "-"); return;
    case J_NUM:
        if (is_bytes_key(key) && v->num >= 1024) {
            human_bytes(v->num, tmp, sizeof tmp);
            snprintf(out, len, "%s (%s)", v->s, tmp);
        } else {
            snprintf(out, len, "%s", v->s);
        }
        return;
    case J_OBJ: snprintf(out, len, "{%zu}", v->n); return;
    case J_ARR: break;
    }
    const char *sep = !strcmp(key, "shape") ? "x" : !strcmp(key, "position") ? ":" : ",";
    if (!strcmp(key, "position") && v->n && v->items[0].t == J_NUM && v->items[0].num < 0) {
        snprintf(out, len, "-");
        return;
    }
    size_t at = 0;
    out[0] = 0;
    for (size_t i = 0; i < v->n && at < len; i++) {
        format_value("", &v->items[i], tmp, sizeof tmp);
        int n = snprintf(out + at, len - at, "%s%s", i ? sep : "", tmp);
        if (n < 0)
            break;
        at += (size_t)n;
    }
}

static int is_table(const jval *v)
{
    if (v->t != J_ARR)
        return 0;
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i].t != J_OBJ)
            return 0;
    return 1;
}

/* The members of @obj as "  key  value" lines, a nested object's as
 * "  key.member  value" (settings such as shift.fill are shown, not
 * counted). */
static void print_members(const char *prefix, const jval *obj)
{
    for (size_t i = 0; i < obj->n; i++) {
        char name[128], cell[512];
        snprintf(name, sizeof name, "%s%s", prefix, obj->keys[i]);
        if (obj->items[i].t == J_OBJ) {
            char inner[130];
            snprintf(inner, sizeof inner, "%s.", name);
            print_members(inner, &obj->items[i]);
            continue;
        }
        format_value(obj->keys[i], &obj->items[i], cell, sizeof cell);
        printf("  %-24s %s\n", name, cell);
    }
}

/* An object as a section: its name, then its members. */
static void print_section(const char *name, const jval *obj)
{
    printf("\n%s\n", name);
    print_members("", obj);
    const jval *slots = json_get(obj, "slots"), *held = json_get(obj, "held");
    if (!strncmp(name, "ring", 4) && slots && held && slots->t == J_NUM &&
        held->t == J_NUM && slots->num > 0)
        printf("  %-24s %.0f%%\n", "occupancy", 100.0 * held->num / slots->num);
}

/* An array of objects as a table: a column per key seen in any row. */
static void print_table(const char *name, const jval *rows)
{
    printf("\n%s: %zu\n", name, rows->n);
    if (!rows->n)
        return;
    const char *cols[64];
    size_t ncols = 0, width[64];
    for (size_t r = 0; r < rows->n; r++)
        for (size_t k = 0; k < rows->items[r].n && ncols < 64; k++) {
            size_t c = 0;
            while (c < ncols && strcmp(cols[c], rows->items[r].keys[k]))
                c++;
            if (c == ncols)
                cols[ncols++] = rows->items[r].keys[k];
        }
    char cell[256];
    for (size_t c = 0; c < ncols; c++) {
        width[c] = strlen(cols[c]);
        for (size_t r = 0; r < rows->n; r++) {
            const jval *v = json_get(&rows->items[r], cols[c]);
            format_value(cols[c], v ? v : &(jval){.t = J_NULL}, cell, sizeof cell);
            if (strlen(cell) > width[c])
                width[c] = strlen(cell);
        }
    }
    printf(" ");
    for (size_t c = 0; c < ncols; c++) {
        printf(" ");
        for (const char *p = cols[c]; *p; p++)
            putchar(toupper((unsigned char)*p));
        printf("%*s", (int)(width[c] - strlen(cols[c])), "");
    }
    printf("\n");
    for (size_t r = 0; r < rows->n; r++) {
        printf(" ");
        for (size_t c = 0; c < ncols; c++) {
            const jval *v = json_get(&rows->items[r], cols[c]);
            format_value(cols[c], v ? v : &(jval){.t = J_NULL}, cell, sizeof cell);
            int right = v && v->t == J_NUM;
            if (right)
                printf(" %*s", (int)width[c], cell);
            else
                printf(" %-*s", c + 1 < ncols ? (int)width[c] : 0, cell);
        }
        printf("\n");
    }
}

/* With a "pipelines" table, the top level's copies of pipeline main's
 * description (kept in the JSON for older readers) would print main
 * twice: its "pipeline main" section has them. */
static int main_only(const char *key)
{
    static const char *const keys[] = {
        "dataset", "pipeline", "batch_size", "batches_per_epoch",
        "ring_segment", "slot_bytes", "dataset_digest", "settings_digest",
    };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        if (!strcmp(key, keys[i]))
            return 1;
    return 0;
}

void stats_print_table(const jval *st)
{
    const jval *up = json_get(st, "uptime_s");
    if (up && up->t == J_NUM) {
        char d[64];
        human_duration(up->num, d, sizeof d);
        printf("%-26s %s\n", "uptime", d);
    }
    const jval *pipes = json_get(st, "pipelines");
    int per_pipe = pipes && is_table(pipes) && pipes->n > 0;
    for (size_t i = 0; i < st->n; i++) {
        if (st->items[i].t != J_OBJ || (per_pipe && main_only(st->keys[i])))
            continue;
        char title[96];
        /* The daemon's ring slots are every pipeline's together. */
        if (per_pipe && pipes->n > 1 && !strcmp(st->keys[i], "ring"))
            snprintf(title, sizeof title, "ring (%zu pipelines together)",
                     pipes->n);
        else
            snprintf(title, sizeof title, "%s", st->keys[i]);
        print_section(title, &st->items[i]);
    }
    printf("\ncounters\n");
    for (size_t i = 0; i < st->n; i++) {
        const jval *v = &st->items[i];
        if (v->t == J_OBJ || is_table(v) || !strcmp(st->keys[i], "uptime_s") ||
            (per_pipe && main_only(st->keys[i])))
            continue;
        char cell[512];
        format_value(st->keys[i], v, cell, sizeof cell);
        printf("  %-24s %s\n", st->keys[i], cell);
    }
    for (size_t i = 0; per_pipe && i < pipes->n; i++) {
        const jval *name = json_get(&pipes->items[i], "name");
        char title[96];
        snprintf(title, sizeof title, "pipeline %s",
                 name && name->t == J_STR ? name->s : "?");
        print_section(title, &pipes->items[i]);
    }
    stats_print_jobs(st);
}

void stats_print_jobs(const jval *st)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->items[i].t == J_ARR && is_table(&st->items[i]) &&
            strcmp(st->keys[i], "pipelines"))
            print_table(st->keys[i], &st->items[i]);
}

/* stats: the table, or (--json) the daemon's JSON as it came, checked:
 * JSON that does not parse is still printed, but the exit status says so.
 * jobs: the daemon's own text table of jobs and streams (--json: as
 * stats --json). */
