/*
 * config_print.c — the configuration as text: mixupd --print-config
 * (a file that loads back to the same values) and --help.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

/* Doubles use the shortest text that reads back to the same bits. */
void format_value(const cfg_option *o, const cfg_config *cfg, int i,
                         char *buf, size_t n)
{
    const void *f = field_of(o, cfg);
    switch (o->type) {
    case CFG_UINT32: fmt(buf, n, "%u", *(const uint32_t *)f); break;
    case CFG_UINT64:
        fmt(buf, n, "%llu", (unsigned long long)*(const uint64_t *)f);
        break;
    case CFG_DOUBLE: {
        double d = *(const double *)f;
        for (int prec = 1; prec <= 17; prec++) {
            fmt(buf, n, "%.*g", prec, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        break;
    }
    case CFG_BOOL: {
        int v = *(const int *)f;
        fmt(buf, n, "%s", v >= 2 ? o->values[v - 2] : v ? "true" : "false");
        break;
    }
    case CFG_ENUM:
        if (o->size)
            fmt(buf, n, "%s", (const char *)f);
        else
            fmt(buf, n, "%s", o->values[*(const int *)f]);
        break;
    case CFG_STRING: fmt(buf, n, "%s", (const char *)f); break;
    case CFG_STRING_LIST:
        fmt(buf, n, "%s", (const char *)f + o->size * (size_t)i);
        break;
    }
}

int n_values_of(const cfg_option *o, const cfg_config *cfg)
{
    return o->type == CFG_STRING_LIST ? cfg->n_endpoints : 1;
}

void cfg_print(const cfg_config *cfg, FILE *out)
{
    const char *section = NULL;
    fprintf(out, "; mixupd configuration (mixupd --print-config)\n");
    for (size_t k = 0; k < N_OPTIONS; k++) {
        const cfg_option *o = &options[k];
        if (!section || strcmp(section, o->section)) {
            section = o->section;
            fprintf(out, "\n[%s]\n", section);
        }
        for (int i = 0; i < n_values_of(o, cfg); i++) {
            char buf[CFG_STR_MAX];
            format_value(o, cfg, i, buf, sizeof buf);
            fprintf(out, "%s = %s\n", o->key, buf);
        }
    }
    for (int i = 0; i < cfg->n_pipelines; i++) {
        const cfg_pipeline *p = &cfg->pipelines[i];
        fprintf(out, "\n[pipeline %s]\n", p->name);
        for (const char *at = p->sets; *at;) {
            const char *end = strchr(at, '\n');
            const char *eq = memchr(at, '=', (size_t)(end - at));
            fprintf(out, "%.*s = %.*s\n", (int)(eq - at), at,
                    (int)(end - eq - 1), eq + 1);
            at = end + 1;
        }
    }
}

void cfg_print_help(FILE *out)
{
    fprintf(out, "Configuration options (INI file [section] key = value, or "
                 "--set section.key=value):\n");
    for (size_t k = 0; k < N_OPTIONS; k++) {
        const cfg_option *o = &options[k];
        char range[128];
        range_text(o, range, sizeof range);
        fprintf(out, "\n  %s.%s = %s\n", o->section, o->key,
                *o->def ? o->def : "''");
        fprintf(out, "      %s; %s; %s\n", type_name(o->type), range,
                o->runtime ? "changes on reload" : "needs a restart");
        fprintf(out, "      %s\n", o->help);
    }
    fprintf(out, "\nPipelines: the sections above form the pipeline 'main'. "
                 "A section\n[pipeline NAME] (at most %d, NAME 1 .. %d of "
                 "A-Z a-z 0-9 _ -) declares\nanother one: keys written as "
                 "--set takes them (dataset.images = ...,\nbatch.mix = none), "
                 "every other key taking main's value; on the command\n"
                 "line: --set pipeline.NAME.batch.size=64. Clients choose one "
                 "when they open a\nstream.\n", CFG_MAX_PIPELINES,
            CFG_PIPELINE_NAME_MAX);
}
