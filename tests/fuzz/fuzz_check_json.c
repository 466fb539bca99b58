/*
 * fuzz_check_json.c — see fuzz_check.h.
 *
 * The input goes to json_parse() as mixupctl hands it the daemon's stats
 * text: a C string, here in an exact-size buffer so that a read past its
 * NUL is caught.
 * - a rejection returns -1, leaves the value zeroed (and nothing
 *   allocated: LeakSanitizer sees the rest), and says why in a message
 *   that is non-empty, NUL-terminated in mixupctl's 128 bytes, printable,
 *   and names a byte inside the text;
 * - an accepted value is a well-formed tree: known types, no value deeper
 *   than FZ_JSON_MAX_DEPTH, numbers whose text strtod() reads whole to
 *   their value, object members json_get() finds (the first of equal keys);
 * - printed back as JSON by the small printer here, it parses again, and
 *   the second value prints to the same text.
 */
#include "fuzz_check.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define FZ_ERRSIZE 128 /* what mixupctl passes */
#define FZ_FILL 0xa5   /* pre-fill of err: no NUL, not printable */


static int check_rejection(int rc, const char *err, const jval *v,
                           const char *text, char *why, size_t whylen)
{
    static const jval zero;
    if (rc != -1)
        return fz_bad(why, whylen, "json_parse returned %d", rc);
    const char *nul = memchr(err, 0, FZ_ERRSIZE);
    if (!nul)
        return fz_bad(why, whylen, "error message not NUL-terminated");
    if (nul == err)
        return fz_bad(why, whylen, "empty error message");
    for (const char *p = err; p < nul; p++)
        if (*p < 0x20 || *p > 0x7e)
            return fz_bad(why, whylen, "error message byte %d is 0x%02x",
                       (int)(p - err), (unsigned char)*p);
    const char *at = strstr(err, " at byte ");
    if (!at || !isdigit((unsigned char)at[9]))
        return fz_bad(why, whylen, "error message names no byte: \"%s\"", err);
    unsigned long long pos = strtoull(at + 9, NULL, 10);
    if (pos > strlen(text))
        return fz_bad(why, whylen, "error message names byte %llu of a "
                   "%zu-byte text: \"%s\"", pos, strlen(text), err);
    if (memcmp(v, &zero, sizeof zero) != 0)
        return fz_bad(why, whylen, "a rejected text leaves the value set (%s)",
                   err);
    return 0;
}

/* ---------------------------------------------------------- the tree */

static int check_number(const jval *v, char *why, size_t whylen)
{
    if (!v->s)
        return fz_bad(why, whylen, "accepted a number without its text");
    const char *p = v->s + (v->s[0] == '-');
    if (!isdigit((unsigned char)*p))
        return fz_bad(why, whylen, "accepted number text \"%s\"", v->s);
    char *end;
    double d = strtod(v->s, &end);
    if (*end)
        return fz_bad(why, whylen, "number text \"%s\" is not a number whole",
                   v->s);
    if (memcmp(&d, &v->num, sizeof d) != 0)
        return fz_bad(why, whylen, "number \"%s\" has the value %.17g", v->s,
                   v->num);
    return 0;
}

static int check_tree(const jval *v, int depth, char *why, size_t whylen);

static int check_members(const jval *v, int depth, char *why, size_t whylen)
{
    int obj = v->t == J_OBJ;
    if (v->s || (v->n && !v->items) || (obj && v->n && !v->keys) ||
        (!obj && v->keys))
        return fz_bad(why, whylen, "accepted a malformed %s of %zu members",
                   obj ? "object" : "array", v->n);
    for (size_t i = 0; i < v->n; i++) {
        if (obj) {
            if (!v->keys[i])
                return fz_bad(why, whylen, "object member %zu has no key", i);
            size_t first = 0;
            while (strcmp(v->keys[first], v->keys[i]) != 0)
                first++;
            if (json_get(v, v->keys[i]) != &v->items[first])
                return fz_bad(why, whylen, "json_get(\"%s\") misses member %zu",
                           v->keys[i], first);
        }
        if (check_tree(&v->items[i], depth + 1, why, whylen) < 0)
            return -1;
    }
    return 0;
}

static int check_tree(const jval *v, int depth, char *why, size_t whylen)
{
    if (depth > FZ_JSON_MAX_DEPTH)
        return fz_bad(why, whylen, "accepted a value at depth %d", depth);
    if (v->t != J_OBJ && json_get(v, "") != NULL)
        return fz_bad(why, whylen, "json_get finds a member in a non-object");
    if (v->t != J_ARR && v->t != J_OBJ && (v->n || v->items || v->keys))
        return fz_bad(why, whylen, "a value of type %d has members", (int)v->t);
    switch (v->t) {
    case J_NULL:
    case J_BOOL:
        if (v->s || (v->t == J_NULL && v->b) || (v->b != 0 && v->b != 1))
            return fz_bad(why, whylen, "accepted a literal of type %d, b = %d",
                       (int)v->t, v->b);
        return 0;
    case J_NUM:
        return check_number(v, why, whylen);
    case J_STR:
        return v->s ? 0 : fz_bad(why, whylen, "accepted a string without text");
    case J_ARR:
    case J_OBJ:
        return check_members(v, depth, why, whylen);
    default:
        return fz_bad(why, whylen, "accepted a value of type %d", (int)v->t);
    }
}

/* ------------------------------------------------------- the printer */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Quotes and backslashes escaped, control characters as \u00XX, the other
 * bytes (UTF-8 or not) as they are: json_parse() keeps them so. */
static void print_string(sbuf *b, const char *s)
{
    put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            put(b, esc, 2);
        } else if (ch < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            put(b, esc, 6);
        } else {
            put(b, s, 1);
        }
    }
    put(b, "\"", 1);
}

/* Compact JSON; numbers as they were written. */
static void print_value(sbuf *b, const jval *v)
{
    switch (v->t) {
    case J_NULL: put(b, "null", 4); break;
    case J_BOOL: put(b, v->b ? "true" : "false", v->b ? 4 : 5); break;
    case J_NUM: put(b, v->s, strlen(v->s)); break;
    case J_STR: print_string(b, v->s); break;
    case J_ARR:
    case J_OBJ:
        put(b, v->t == J_ARR ? "[" : "{", 1);
        for (size_t i = 0; i < v->n; i++) {
            if (i)
                put(b, ",", 1);
            if (v->t == J_OBJ) {
                print_string(b, v->keys[i]);
                put(b, ":", 1);
            }
            print_value(b, &v->items[i]);
        }
        put(b, v->t == J_ARR ? "]" : "}", 1);
        break;
    }
}

static int check_round_trip(const jval *v, char *why, size_t whylen)
{
    sbuf one = {0}, two = {0};
    print_value(&one, v);
    jval again;
    char err[FZ_ERRSIZE];
    int rc = 0;
    if (one.oom)
        rc = fz_bad(why, whylen, "out of memory");
    else if (json_parse(one.p, &again, err, sizeof err) != 0)
        rc = fz_bad(why, whylen, "printed back, \"%.200s\" is rejected: %s",
                 one.p, err);
    else {
        print_value(&two, &again);
        if (two.oom)
            rc = fz_bad(why, whylen, "out of memory");
        else if (strcmp(one.p, two.p) != 0)
            rc = fz_bad(why, whylen, "printed back, \"%.200s\" parses to "
                     "\"%.200s\"", one.p, two.p);
        json_free(&again);
    }
    free(one.p);
    free(two.p);
    return rc;
}

int fz_check_json(const uint8_t *data, size_t len, char *why, size_t whylen)
{
    char *text = malloc(len + 1);
    if (!text)
        return fz_bad(why, whylen, "out of memory");
    memcpy(text, data, len);
    text[len] = '\0';
    jval v;
    char err[FZ_ERRSIZE];
    memset(err, FZ_FILL, sizeof err);
    int rc = json_parse(text, &v, err, sizeof err);
    if (rc != 0) {
        rc = check_rejection(rc, err, &v, text, why, whylen);
    } else {
        rc = check_tree(&v, 0, why, whylen);
        if (rc == 0)
            rc = check_round_trip(&v, why, whylen);
        json_free(&v);
    }
    free(text);
    return rc;
}
