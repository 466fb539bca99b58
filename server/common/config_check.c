/*
 * config_check.c — checks across keys (config.h: cfg_validate) and where
 * a value came from (file and line, --set, or the default), for messages.
 */
#include "config.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "mixup_errors.h"

static const char *where_line(const cfg_config *cfg, int line, char *buf,
                              size_t n)
{
    if (line > 0)
        fmt(buf, n, "%s:%d", cfg->origin_file, line);
    else
        fmt(buf, n, "%s", line < 0 ? "--set" : "default");
    return buf;
}

const char *cfg_where(const cfg_config *cfg, const char *section,
                      const char *key, char *buf, size_t n)
{
    const cfg_option *o = find_option(section, key);
    return where_line(cfg, o ? cfg->origin_line[o - options] : 0, buf, n);
}

const char *cfg_endpoint_where(const cfg_config *cfg, int i, char *buf,
                               size_t n)
{
    return where_line(cfg, i >= 0 && i < cfg->n_endpoints
                               ? cfg->endpoint_line[i] : 0, buf, n);
}

void cfg_annotate(const cfg_config *cfg, char *msg, size_t cap)
{
    size_t used = strlen(msg);
    const char *open = " (";
    for (size_t i = 0; i < N_OPTIONS && used < cap; i++) {
        char name[64], at[CFG_STR_MAX + 16];
        snprintf(name, sizeof name, "%s.%s", options[i].section,
                 options[i].key);
        const char *hit = strstr(msg, name);
        size_t len = strlen(name);
        if (!hit || hit >= msg + used || isalnum((unsigned char)hit[len]) ||
            hit[len] == '_')
            continue;
        cfg_where(cfg, options[i].section, options[i].key, at, sizeof at);
        for (int e = 0; options[i].type == CFG_STRING_LIST &&
                        e < cfg->n_endpoints; e++)
            if (strstr(hit, cfg->endpoints[e]))
                cfg_endpoint_where(cfg, e, at, sizeof at);
        used += (size_t)snprintf(msg + used, cap - used, "%s%s: %s", open,
                                 name, at);
        open = ", ";
    }
    if (*open == ',' && used + 1 < cap)
        snprintf(msg + used, cap - used, ")");
}

/* "section.key = value (FILE:LINE)" for cross-key messages. */
#define AT(i, sec, key) cfg_where(cfg, sec, key, w[i], sizeof w[i])

/* Comma-separated numbers; return how many, or -1 if one is not finite
 * or (positive) not > 0. */
static int count_numbers(const char *s, int positive)
{
    int n = 0;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || !isfinite(v) || (positive && !(v > 0)))
            return -1;
        n++;
        s = end + strspn(end, " ");
        if (*s == ',')
            s++;
        else if (*s)
            return -1;
    }
    return n;
}

static int validate_augment(const cfg_config *cfg, char *err, size_t errlen)
{
    char w[2][CFG_STR_MAX + 16];
    if (cfg->erase_prob > 0 && !(cfg->erase_area_min > 0 &&
                                 cfg->erase_area_min <= cfg->erase_area_max)) {
        fmt(err, errlen, "augment.erase_area_min = %g (%s) and "
            "augment.erase_area_max = %g (%s): expected 0 < min <= max "
            "while augment.erase_prob > 0", cfg->erase_area_min,
            AT(0, "augment", "erase_area_min"), cfg->erase_area_max,
            AT(1, "augment", "erase_area_max"));
        return MIXUP_ECONFIG;
    }
    if (!cfg->normalize_mean[0] && !cfg->normalize_std[0])
        return 0;
    int nm = count_numbers(cfg->normalize_mean, 0);
    int ns = count_numbers(cfg->normalize_std, 1);
    if (nm < 1 || ns < 1 || nm != ns) {
        char mb[64], sb[64];
        fmt(err, errlen, "augment.normalize_mean = %s (%s) and "
            "augment.normalize_std = %s (%s): expected as many numbers in "
            "each, comma-separated, every std > 0",
            shown(cfg->normalize_mean, mb), AT(0, "augment", "normalize_mean"),
            shown(cfg->normalize_std, sb), AT(1, "augment", "normalize_std"));
        return MIXUP_ECONFIG;
    }
    return 0;
}

int cfg_validate(const cfg_config *cfg, char *err, size_t errlen)
{
    char w[2][CFG_STR_MAX + 16];
    if (cfg->n_endpoints < 1) {
        fmt(err, errlen, "server.endpoint: at least one endpoint is needed");
        return MIXUP_ECONFIG;
    }
    if (cfg->prefetch > cfg->ring_slots) {
        fmt(err, errlen, "server.prefetch = %u (%s) exceeds "
            "server.ring_slots = %u (%s)", cfg->prefetch,
            AT(0, "server", "prefetch"), cfg->ring_slots,
            AT(1, "server", "ring_slots"));
        return MIXUP_ECONFIG;
    }
    if (validate_augment(cfg, err, errlen) < 0)
        return MIXUP_ECONFIG;
    if (!cfg->images[0]) {
        fmt(err, errlen, "dataset.images is empty (a file path is needed)");
        return MIXUP_ECONFIG;
    }
    if (cfg->channels == 2) {
        fmt(err, errlen, "dataset.channels = 2: expected 1 or 3");
        return MIXUP_ECONFIG;
    }
    int pack = strcmp(cfg->format, "pack") == 0;
    if ((pack && cfg->storage == 1) || (!pack && cfg->storage >= 2)) {
        static const char *const storage[] = {"encoded", "decoded", "shm",
                                              "mapped"};
        fmt(err, errlen, "dataset.storage = %s does not apply to "
            "dataset.format = %s (folder, list: encoded or decoded; pack: "
            "shm or mapped)", storage[cfg->storage], cfg->format);
        return MIXUP_ECONFIG;
    }
    if (!cfg->labels[0] && (strcmp(cfg->format, "npy") == 0 ||
                            strcmp(cfg->format, "idx") == 0)) {
        fmt(err, errlen, "dataset.labels is empty (needed for "
            "dataset.format = npy or idx)");
        return MIXUP_ECONFIG;
    }
    if (cfg->n_pipelines == 0)
        return 0;
    cfg_config *p = malloc(sizeof *p);
    if (!p) {
        fmt(err, errlen, "out of memory");
        return MIXUP_ENOMEM;
    }
    int rc = 0;
    for (int i = 0; i < cfg->n_pipelines && rc == 0; i++) {
        char why[512];
        rc = cfg_pipeline_resolve(cfg, i, p, err, errlen);
        if (rc == 0 && (rc = cfg_validate(p, why, sizeof why)) < 0)
            fmt(err, errlen, "pipeline '%s': %s", cfg->pipelines[i].name, why);
    }
    free(p);
    return rc;
}
