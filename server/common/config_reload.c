/*
 * config_reload.c — what a reload changes: options that may change at run
 * time are applied, the others are kept and named (config.h: cfg_reload,
 * cfg_check_reload).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "config_internal.h"
#include "mixup_errors.h"

static int pipelines_differ(const cfg_config *a, const cfg_config *b)
{
    if (a->n_pipelines != b->n_pipelines)
        return 1;
    for (int i = 0; i < a->n_pipelines; i++)
        if (strcmp(a->pipelines[i].name, b->pipelines[i].name) ||
            strcmp(a->pipelines[i].sets, b->pipelines[i].sets))
            return 1;
    return 0;
}

/* Compare option @o in @a and @b; on a difference leave the first
 * differing values in @va / @vb and return 1. */
static int option_differs(const cfg_option *o, const cfg_config *a,
                          const cfg_config *b, char *va, char *vb, size_t n)
{
    int na = n_values_of(o, a), nb = n_values_of(o, b);
    for (int i = 0; i < na || i < nb; i++) {
        if (i < na)
            format_value(o, a, i, va, n);
        else
            fmt(va, n, "(none)");
        if (i < nb)
            format_value(o, b, i, vb, n);
        else
            fmt(vb, n, "(none)");
        if (strcmp(va, vb))
            return 1;
    }
    return 0;
}

static size_t field_size(const cfg_option *o)
{
    switch (o->type) {
    case CFG_UINT32: return sizeof(uint32_t);
    case CFG_UINT64: return sizeof(uint64_t);
    case CFG_DOUBLE: return sizeof(double);
    case CFG_BOOL: return sizeof(int);
    case CFG_ENUM: return o->size ? o->size : sizeof(int);
    case CFG_STRING: return o->size;
    default: return 0; /* lists never change at run time */
    }
}

int cfg_reload(cfg_config *cur, const cfg_config *next,
               void (*note)(void *ctx, int applied, const char *msg),
               void *ctx)
{
    int left = 0;
    for (size_t k = 0; k < N_OPTIONS; k++) {
        const cfg_option *o = &options[k];
        char a[CFG_STR_MAX], b[CFG_STR_MAX], sa[64], sb[64], msg[256];
        if (!option_differs(o, cur, next, a, b, sizeof a))
            continue;
        int applied = o->runtime && field_size(o) > 0;
        snprintf(msg, sizeof msg, "%s.%s: %s -> %s%s", o->section, o->key,
                 shown(a, sa), shown(b, sb),
                 applied ? "" : " needs a restart (kept the running value)");
        if (applied)
            memcpy((char *)cur + o->offset, (const char *)next + o->offset,
                   field_size(o));
        else
            left++;
        note(ctx, applied, msg);
    }
    if (pipelines_differ(cur, next)) {
        note(ctx, 0, "[pipeline ...] sections changed: needs a restart "
             "(kept the running pipelines)");
        left++;
    }
    return left;
}

int cfg_check_reload(const cfg_config *cur, const cfg_config *next, char *err,
                     size_t errlen)
{
    for (size_t k = 0; k < N_OPTIONS; k++) {
        const cfg_option *o = &options[k];
        char a[CFG_STR_MAX], b[CFG_STR_MAX], sa[64], sb[64];
        if (o->runtime || !option_differs(o, cur, next, a, b, sizeof a))
            continue;
        fmt(err, errlen, "%s.%s changed (%s -> %s) and needs a restart",
            o->section, o->key, shown(a, sa), shown(b, sb));
        return MIXUP_ECONFIG;
    }
    if (pipelines_differ(cur, next)) {
        fmt(err, errlen, "[pipeline ...] sections changed and need a restart");
        return MIXUP_ECONFIG;
    }
    return 0;
}
