/*
 * jsonw.h — the daemon's JSON (stats, describe, log counters), built as
 * json-c values: json-c escapes strings and writes numbers, and every
 * 64-bit unsigned counter or seed stays exact (json-c keeps uint64; a
 * double keeps the text it was given, so a rate reads as it always did).
 * jw_write() prints a value in the daemon's one style, `{"key": value,
 * "k2": [1, 2]}`, which tests and scripts read.
 */
#ifndef SRV_JSONW_H
#define SRV_JSONW_H

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>

/* An unsigned integer, exact to 2^64 - 1. */
json_object *jw_u64(uint64_t v);
/* A number written as printf(@fmt, @v) writes it (e.g. "%.2f"). */
json_object *jw_num(const char *fmt, double v);
/* A string (NULL: ""), a boolean. */
json_object *jw_str(const char *s);
json_object *jw_bool(int b);
/* Add member @key (copied) to object @obj; the object owns @val. */
void jw_add(json_object *obj, const char *key, json_object *val);

/* Write @v (NULL: null) to @out. */
void jw_write(json_object *v, FILE *out);

#endif
