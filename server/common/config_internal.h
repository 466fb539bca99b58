/*
 * config_internal.h — the option table (config.c) and the helpers that
 * the modules behind config.h share: config.c (the table, defaults, the
 * file, --set, pipelines), config_check.c (cross-key checks and where a
 * value came from), config_print.c (--print-config, --help),
 * config_reload.c (what a reload changes). Not to be included elsewhere.
 *
 * These files call the helpers by short names (fmt, shown, ...): the
 * macros below map them to the cfg_ names the library exports.
 */
#ifndef SRV_CONFIG_INTERNAL_H
#define SRV_CONFIG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef enum cfg_type {
    CFG_UINT32,
    CFG_UINT64,
    CFG_DOUBLE,
    CFG_BOOL,        /* stored as int 0/1 */
    CFG_STRING,      /* char[size] */
    CFG_ENUM,        /* int index, or the name in char[size] if size > 0 */
    CFG_STRING_LIST, /* the endpoints: char[CFG_MAX_ENDPOINTS][size] */
} cfg_type;

typedef struct cfg_option {
    const char *section;
    const char *key;
    cfg_type type;
    size_t offset;              /* of the field in cfg_config */
    size_t size;                /* STRING, ENUM by name, list element */
    const char *def;            /* parsed like a value from the file */
    uint64_t min, max;          /* integers; string length (max 0: fit) */
    double dmin, dmax;          /* DOUBLE */
    const char *const *values;  /* ENUM names, index = stored value */
    int n_values;
    int (*check)(const char *v); /* STRING, STRING_LIST: extra syntax */
    const char *expect;         /* what check() accepts, for messages */
    int runtime;                /* may change on reload */
    const char *help;
} cfg_option;

#define options cfg_options
#define n_options cfg_n_options
#define N_OPTIONS cfg_n_options
#define field_of cfg_field_of
#define fmt cfg_fmt
#define shown cfg_shown
#define range_text cfg_range_text
#define type_name cfg_type_name
#define find_option cfg_find_option
#define format_value cfg_format_value
#define n_values_of cfg_n_values_of

/* The table: one row per option, in the order --print-config writes. */
extern const cfg_option options[];
extern const size_t n_options;

/* Where option @o lives in @cfg. */
void *field_of(const cfg_option *o, const cfg_config *cfg);
/* snprintf into @buf (nothing when @buf is NULL or @n is 0). */
void fmt(char *buf, size_t n, const char *f, ...)
    __attribute__((format(printf, 3, 4)));
/* A value as messages show it: '' when empty, control bytes escaped,
 * shortened when long. */
const char *shown(const char *v, char buf[64]);
/* What a value must look like, for messages and --help. */
void range_text(const cfg_option *o, char *buf, size_t n);
const char *type_name(cfg_type t);
const cfg_option *find_option(const char *section, const char *key);
/* Value @i of option @o (i > 0 only for the list) as the file spells it
 * (config_print.c). */
void format_value(const cfg_option *o, const cfg_config *cfg, int i,
                  char *buf, size_t n);
/* How many values @o has in @cfg (the endpoint list: several). */
int n_values_of(const cfg_option *o, const cfg_config *cfg);

#endif
