/*
 * digest.c — XXH64 (libxxhash) and the settings digest (digest.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"

void dg_init(dg_state *s)
{
    XXH64_reset(&s->x, 0);
}

void dg_update(dg_state *s, const void *data, size_t len)
{
    XXH64_update(&s->x, data, len);
}

uint64_t dg_final(const dg_state *s)
{
    return XXH64_digest(&s->x);
}

uint64_t dg_hash(const void *data, size_t len)
{
    return XXH64(data, len, 0);
}

/* Lines of cfg_print() that shape batches: every section but [server]
 * and the [pipeline NAME] sections (each pipeline has its own digest,
 * of its resolved configuration); of [dataset] only the class count. */
static int shapes_batches(const char *section, const char *line)
{
    if (strcmp(section, "[server]") == 0 ||
        strncmp(section, "[pipeline", 9) == 0)
        return 0;
    if (strcmp(section, "[dataset]") == 0)
        return strncmp(line, "classes", 7) == 0;
    return line[0] != ';' && line[0] != '\0';
}

/* The configuration as `mixupd --print-config` shows it; NULL when out of
 * memory. */
static char *config_text(const cfg_config *cfg, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f)
        return NULL;
    cfg_print(cfg, f);
    fclose(f);
    return text;
}

uint64_t dg_config(const cfg_config *cfg)
{
    size_t len = 0;
    char *text = config_text(cfg, &len);
    uint64_t h = text ? dg_hash(text, len) : 0;
    free(text);
    return h;
}

uint64_t dg_settings(const cfg_config *cfg)
{
    size_t len = 0;
    char *text = config_text(cfg, &len);
    if (!text)
        return 0;
    dg_state s;
    dg_init(&s);
    char section[64] = "";
    for (char *line = text, *end; line && *line; line = end) {
        end = strchr(line, '\n');
        if (end)
            *end++ = '\0';
        if (line[0] == '[')
            snprintf(section, sizeof section, "%s", line);
        else if (shapes_batches(section, line))
            dg_update(&s, line, strlen(line) + 1); /* with its NUL */
    }
    free(text);
    return dg_final(&s);
}
