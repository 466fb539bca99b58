/*
 * stats_table.c — see stats_table.h.
 */
#include "stats_table.h"

#include <ctype.h>
#include <math.h>
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

static int is_number(json_object *v)
{
    return json_object_is_type(v, json_type_int) ||
           json_object_is_type(v, json_type_double);
}

/* A number as the daemon wrote it (json-c keeps a double's text). */
static const char *number_text(json_object *v)
{
    return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

/* One value as a table cell: shapes as 28x28x1, positions as E:B ("-"
 * before the first batch), sizes in bytes with their unit. */
static void format_value(const char *key, json_object *v, char *out,
                         size_t len)
{
    char tmp[64];
    switch (json_object_get_type(v)) {
    case json_type_null: snprintf(out, len, "-"); return;
    case json_type_boolean:
        snprintf(out, len, "%s", json_object_get_boolean(v) ? "yes" : "no");
        return;
    case json_type_string: {
        const char *s = json_object_get_string(v);
        snprintf(out, len, "%s", *s ? s : "-");
        return;
    }
    case json_type_int:
    case json_type_double:
        if (is_bytes_key(key) && json_object_get_double(v) >= 1024) {
            human_bytes(json_object_get_double(v), tmp, sizeof tmp);
            snprintf(out, len, "%s (%s)", number_text(v), tmp);
        } else {
            snprintf(out, len, "%s", number_text(v));
        }
        return;
    case json_type_object:
        snprintf(out, len, "{%d}", json_object_object_length(v));
        return;
    case json_type_array: break;
    }
    size_t n = json_object_array_length(v);
    const char *sep = !strcmp(key, "shape") ? "x" : !strcmp(key, "position") ? ":" : ",";
    json_object *first = n ? json_object_array_get_idx(v, 0) : NULL;
    if (!strcmp(key, "position") && is_number(first) &&
        json_object_get_double(first) < 0) {
        snprintf(out, len, "-");
        return;
    }
    size_t at = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && at < len; i++) {
        format_value("", json_object_array_get_idx(v, i), tmp, sizeof tmp);
        int w = snprintf(out + at, len - at, "%s%s", i ? sep : "", tmp);
        if (w < 0)
            break;
        at += (size_t)w;
    }
}

static int is_table(json_object *v)
{
    if (!json_object_is_type(v, json_type_array))
        return 0;
    size_t n = json_object_array_length(v);
    for (size_t i = 0; i < n; i++)
        if (!json_object_is_type(json_object_array_get_idx(v, i),
                                 json_type_object))
            return 0;
    return 1;
}

/* The members of @obj as "  key  value" lines, a nested object's as
 * "  key.member  value" (settings such as shift.fill are shown, not
 * counted). */
static void print_members(FILE *out, const char *prefix, json_object *obj)
{
    json_object_object_foreach(obj, key, val) {
        char name[128], cell[512];
        snprintf(name, sizeof name, "%s%s", prefix, key);
        if (json_object_is_type(val, json_type_object)) {
            char inner[130];
            snprintf(inner, sizeof inner, "%s.", name);
            print_members(out, inner, val);
            continue;
        }
        format_value(key, val, cell, sizeof cell);
        fprintf(out, "  %-24s %s\n", name, cell);
    }
}

/* An object as a section: its name, then its members. */
static void print_section(FILE *out, const char *name, json_object *obj)
{
    fprintf(out, "\n%s\n", name);
    print_members(out, "", obj);
    json_object *slots = ctl_json_get(obj, "slots");
    json_object *held = ctl_json_get(obj, "held");
    if (!strcmp(name, "ring") && is_number(slots) && is_number(held) &&
        json_object_get_double(slots) > 0)
        fprintf(out, "  %-24s %.0f%%\n", "occupancy",
                100.0 * json_object_get_double(held) /
                    json_object_get_double(slots));
}

/* An array of objects as a table: a column per key seen in any row. */
static void print_table(FILE *out, const char *name, json_object *rows)
{
    size_t n = json_object_array_length(rows);
    fprintf(out, "\n%s: %zu\n", name, n);
    if (!n)
        return;
    const char *cols[64];
    size_t ncols = 0, width[64];
    for (size_t r = 0; r < n; r++) {
        json_object_object_foreach(json_object_array_get_idx(rows, r), key,
                                   val) {
            (void)val;
            size_t c = 0;
            while (c < ncols && strcmp(cols[c], key))
                c++;
            if (c == ncols && ncols < 64)
                cols[ncols++] = key;
        }
    }
    char cell[256];
    for (size_t c = 0; c < ncols; c++) {
        width[c] = strlen(cols[c]);
        for (size_t r = 0; r < n; r++) {
            json_object *v = ctl_json_get(json_object_array_get_idx(rows, r),
                                          cols[c]);
            format_value(cols[c], v, cell, sizeof cell);
            if (strlen(cell) > width[c])
                width[c] = strlen(cell);
        }
    }
    fprintf(out, " ");
    for (size_t c = 0; c < ncols; c++) {
        fprintf(out, " ");
        for (const char *p = cols[c]; *p; p++)
            fputc(toupper((unsigned char)*p), out);
        fprintf(out, "%*s", (int)(width[c] - strlen(cols[c])), "");
    }
    fprintf(out, "\n");
    for (size_t r = 0; r < n; r++) {
        fprintf(out, " ");
        for (size_t c = 0; c < ncols; c++) {
            json_object *v = ctl_json_get(json_object_array_get_idx(rows, r),
                                          cols[c]);
            format_value(cols[c], v, cell, sizeof cell);
            if (is_number(v))
                fprintf(out, " %*s", (int)width[c], cell);
            else
                fprintf(out, " %-*s", c + 1 < ncols ? (int)width[c] : 0, cell);
        }
        fprintf(out, "\n");
    }
}

void stats_print_table(FILE *out, json_object *st)
{
    if (!json_object_is_type(st, json_type_object))
        return;
    json_object *up = ctl_json_get(st, "uptime_s");
    if (is_number(up)) {
        char d[64];
        human_duration(json_object_get_double(up), d, sizeof d);
        fprintf(out, "%-26s %s\n", "uptime", d);
    }
    json_object_object_foreach(st, key, val)
        if (json_object_is_type(val, json_type_object))
            print_section(out, key, val);
    fprintf(out, "\ncounters\n");
    json_object_object_foreach(st, k2, v) {
        if (json_object_is_type(v, json_type_object) || is_table(v) ||
            !strcmp(k2, "uptime_s"))
            continue;
        char cell[512];
        format_value(k2, v, cell, sizeof cell);
        fprintf(out, "  %-24s %s\n", k2, cell);
    }
    json_object *pipes = ctl_json_get(st, "pipelines");
    size_t np = is_table(pipes) ? json_object_array_length(pipes) : 0;
    for (size_t i = 0; i < np; i++) {
        json_object *p = json_object_array_get_idx(pipes, i);
        json_object *name = ctl_json_get(p, "name");
        char title[96];
        snprintf(title, sizeof title, "pipeline %s",
                 json_object_is_type(name, json_type_string)
                     ? json_object_get_string(name) : "?");
        print_section(out, title, p);
    }
    stats_print_jobs(out, st);
}

void stats_print_jobs(FILE *out, json_object *st)
{
    if (!json_object_is_type(st, json_type_object))
        return;
    json_object_object_foreach(st, key, val)
        if (json_object_is_type(val, json_type_array) && is_table(val) &&
            strcmp(key, "pipelines"))
            print_table(out, key, val);
}
