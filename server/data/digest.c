/*
 * digest.c — XXH64 and the settings digest (digest.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"

#define P1 11400714785074694791ull
#define P2 14029467366897019727ull
#define P3 1609587929392839161ull
#define P4 9650029242287828579ull
#define P5 2870177450012600261ull

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t read64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8); /* little-endian hosts only (proto.h) */
    return v;
}

static uint32_t read32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t round64(uint64_t acc, uint64_t input)
{
    return rotl(acc + input * P2, 31) * P1;
}

static uint64_t merge(uint64_t acc, uint64_t val)
{
    return (acc ^ round64(0, val)) * P1 + P4;
}

void dg_init(dg_state *s)
{
    *s = (dg_state){.v = {P1 + P2, P2, 0, 0ull - P1}};
}

static void stripe(dg_state *s, const uint8_t *p)
{
    for (int i = 0; i < 4; i++)
        s->v[i] = round64(s->v[i], read64(p + 8 * i));
}

void dg_update(dg_state *s, const void *data, size_t len)
{
    const uint8_t *p = data;
    s->total += len;
    if (s->buf_len) {
        size_t take = 32 - s->buf_len < len ? 32 - s->buf_len : len;
        memcpy(s->buf + s->buf_len, p, take);
        s->buf_len += (uint32_t)take;
        p += take;
        len -= take;
        if (s->buf_len < 32)
            return;
        stripe(s, s->buf);
        s->buf_len = 0;
    }
    for (; len >= 32; p += 32, len -= 32)
        stripe(s, p);
    memcpy(s->buf, p, len);
    s->buf_len = (uint32_t)len;
}

uint64_t dg_final(const dg_state *s)
{
    uint64_t h;
    if (s->total >= 32) {
        h = rotl(s->v[0], 1) + rotl(s->v[1], 7) + rotl(s->v[2], 12) +
            rotl(s->v[3], 18);
        for (int i = 0; i < 4; i++)
            h = merge(h, s->v[i]);
    } else {
        h = s->v[2] + P5; /* v[2] is the seed until a stripe ran */
    }
    h += s->total;
    const uint8_t *p = s->buf;
    uint32_t n = s->buf_len;
    for (; n >= 8; p += 8, n -= 8)
        h = rotl(h ^ round64(0, read64(p)), 27) * P1 + P4;
    if (n >= 4) {
        h = rotl(h ^ (uint64_t)read32(p) * P1, 23) * P2 + P3;
        p += 4;
        n -= 4;
    }
    for (; n > 0; p++, n--)
        h = rotl(h ^ *p * P5, 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

uint64_t dg_hash(const void *data, size_t len)
{
    dg_state s;
    dg_init(&s);
    dg_update(&s, data, len);
    return dg_final(&s);
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
