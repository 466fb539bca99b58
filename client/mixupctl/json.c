/*
 * json.c — see json.h.
 */
#include "json.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 32

typedef struct jparser {
    const char *p, *start;
    const char *why;
} jparser;

void json_free(jval *v)
{
    for (size_t i = 0; i < v->n; i++) {
        json_free(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->s);
    memset(v, 0, sizeof *v);
}

static void json_ws(jparser *j)
{
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
        j->p++;
}

static int json_err(jparser *j, const char *why)
{
    if (!j->why)
        j->why = why;
    return -1;
}

static void utf8_put(char *out, size_t *len, unsigned cp)
{
    if (cp < 0x80) {
        out[(*len)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*len)++] = (char)(0xc0 | (cp >> 6));
        out[(*len)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[(*len)++] = (char)(0xe0 | (cp >> 12));
        out[(*len)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*len)++] = (char)(0x80 | (cp & 0x3f));
    }
}

/* Bytes from @p to the closing quote or the end: no escape lengthens the
 * text, so the string fits in as many. Sized per string, not from the
 * rest of the text: that was quadratic in time and memory. */
static size_t json_span(const char *p)
{
    size_t n = 0;
    while (p[n] && p[n] != '"')
        n += p[n] == '\\' && p[n + 1] ? 2 : 1;
    return n;
}

/* Four hex digits (stops at the NUL, which is not one); -1 otherwise.
 * Not sscanf: glibc's measures the whole rest of the text at each call. */
static int json_hex4(const char *p, unsigned *cp)
{
    *cp = 0;
    for (int i = 0; i < 4; i++) {
        int ch = (unsigned char)p[i];
        if (!isxdigit(ch))
            return -1;
        *cp = *cp << 4 | (unsigned)(isdigit(ch) ? ch - '0' : tolower(ch) - 'a' + 10);
    }
    return 0;
}

/* A string; the escapes come out as UTF-8 (surrogate halves as they are:
 * the text is only displayed). */
static int json_string(jparser *j, char **out)
{
    const char *p = ++j->p; /* after '"' */
    char *s = malloc(json_span(p) + 1);
    size_t len = 0;
    if (!s)
        return json_err(j, "out of memory");
    for (;;) {
        unsigned char ch = (unsigned char)*p++;
        if (ch == '"')
            break;
        if (ch < 0x20) {
            free(s);
            j->p = p - 1;
            return json_err(j, ch ? "control character in a string"
                                  : "unterminated string");
        }
        if (ch != '\\') {
            s[len++] = (char)ch;
            continue;
        }
        const char *esc = "\"\\/bfnrt", *val = "\"\\/\b\f\n\r\t";
        const char *e = *p ? strchr(esc, *p) : NULL;
        unsigned cp = 0;
        if (e) {
            s[len++] = val[e - esc];
            p++;
        } else if (*p == 'u' && json_hex4(p + 1, &cp) == 0) {
            utf8_put(s, &len, cp);
            p += 5;
        } else {
            free(s);
            j->p = p;
            return json_err(j, "bad escape in a string");
        }
    }
    s[len] = 0;
    *out = s;
    j->p = p;
    return 0;
}

static int json_value(jparser *j, jval *v, int depth);

/* Members of an array (@close ']') or object ('}'), keys for objects. */
static int json_members(jparser *j, jval *v, char close, int depth)
{
    size_t cap = 0;
    j->p++;
    json_ws(j);
    if (*j->p == close) {
        j->p++;
        return 0;
    }
    for (;;) {
        if (v->n == cap) {
            cap = cap ? 2 * cap : 8;
            jval *items = realloc(v->items, cap * sizeof *items);
            char **keys = v->t == J_OBJ ? realloc(v->keys, cap * sizeof *keys) : NULL;
            if (items)
                v->items = items;
            if (keys)
                v->keys = keys;
            if (!items || (v->t == J_OBJ && !keys))
                return json_err(j, "out of memory");
        }
        json_ws(j);
        if (v->t == J_OBJ) {
            if (*j->p != '"')
                return json_err(j, "expected a key");
            if (json_string(j, &v->keys[v->n]) < 0)
                return -1;
            json_ws(j);
            if (*j->p++ != ':') {
                free(v->keys[v->n]);
                j->p--;
                return json_err(j, "expected ':'");
            }
        }
        memset(&v->items[v->n], 0, sizeof v->items[0]);
        v->n++;
        if (json_value(j, &v->items[v->n - 1], depth + 1) < 0)
            return -1;
        json_ws(j);
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p++ == close)
            return 0;
        j->p--;
        return json_err(j, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int json_number(jparser *j, jval *v)
{
    const char *p = j->p;
    if (*p == '-')
        p++;
    if (!isdigit((unsigned char)*p))
        return json_err(j, "expected a value");
    char *end;
    v->num = strtod(j->p, &end);
    v->t = J_NUM;
    v->s = strndup(j->p, (size_t)(end - j->p));
    j->p = end;
    return v->s ? 0 : json_err(j, "out of memory");
}

static int json_value(jparser *j, jval *v, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return json_err(j, "nested too deeply");
    json_ws(j);
    static const struct { const char *word; jtype t; int b; } lit[] = {
        {"null", J_NULL, 0}, {"true", J_BOOL, 1}, {"false", J_BOOL, 0},
    };
    for (size_t i = 0; i < 3; i++)
        if (!strncmp(j->p, lit[i].word, strlen(lit[i].word))) {
            v->t = lit[i].t;
            v->b = lit[i].b;
            j->p += strlen(lit[i].word);
            return 0;
        }
    switch (*j->p) {
    case '{': v->t = J_OBJ; return json_members(j, v, '}', depth);
    case '[': v->t = J_ARR; return json_members(j, v, ']', depth);
    case '"': v->t = J_STR; return json_string(j, &v->s);
    default: return json_number(j, v);
    }
}

/* Parse @text, all of it. On failure, @err says where and why. */
int json_parse(const char *text, jval *out, char *err, size_t errlen)
{
    jparser j = {.p = text, .start = text};
    memset(out, 0, sizeof *out);
    int rc = json_value(&j, out, 0);
    if (rc == 0) {
        json_ws(&j);
        if (*j.p)
            rc = json_err(&j, "text after the value");
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s at byte %zu", j.why, (size_t)(j.p - j.start));
        json_free(out);
    }
    return rc;
}

const jval *json_get(const jval *obj, const char *key)
{
    if (!obj || obj->t != J_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key))
            return &obj->items[i];
    return NULL;
}

