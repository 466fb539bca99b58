/*
 * fuzz_check_json.c — see fuzz_check.h.
 *
 * mixupctl reads the daemon's stats with json-c (ctl_json_parse) and draws
 * its tables from whatever it finds (stats_table.c). The input goes there
 * as mixupctl hands it the daemon's text: a C string, here in an
 * exact-size buffer so that a read past its NUL is caught.
 * - a rejection returns -1, leaves no value (and nothing allocated:
 *   LeakSanitizer sees the rest), and says why in a message that is
 *   non-empty, NUL-terminated in mixupctl's 128 bytes, printable, and
 *   names a byte inside the text;
 * - an accepted value is no deeper than CTL_JSON_MAX_DEPTH, and
 *   ctl_json_get() finds every member an object lists (a null as NULL);
 * - printed back by json-c, it parses again to the same text;
 * - the stats and jobs tables draw it, whatever its shape, without a
 *   crash or an overrun (into a memory stream).
 */
#include "fuzz_check.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "stats_table.h"

#define FZ_ERRSIZE 128 /* what mixupctl passes */
#define FZ_FILL 0xa5   /* pre-fill of err: no NUL, not printable */

static int check_rejection(int rc, const char *err, json_object *v,
                           const char *text, char *why, size_t whylen)
{
    if (rc != -1)
        return fz_bad(why, whylen, "ctl_json_parse returned %d", rc);
    if (v)
        return fz_bad(why, whylen, "a rejected text leaves a value");
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
    return 0;
}

static int check_tree(json_object *v, int depth, char *why, size_t whylen)
{
    if (depth > CTL_JSON_MAX_DEPTH)
        return fz_bad(why, whylen, "accepted a value at depth %d", depth);
    if (!json_object_is_type(v, json_type_object) && ctl_json_get(v, ""))
        return fz_bad(why, whylen, "ctl_json_get finds a member in a "
                      "non-object");
    if (json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n; i++)
            if (check_tree(json_object_array_get_idx(v, i), depth + 1, why,
                           whylen) < 0)
                return -1;
    } else if (json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, key, member) {
            if (ctl_json_get(v, key) != member) /* null is NULL in json-c */
                return fz_bad(why, whylen, "ctl_json_get(\"%s\") misses it",
                              key);
            if (check_tree(member, depth + 1, why, whylen) < 0)
                return -1;
        }
    }
    return 0;
}

static int check_round_trip(json_object *v, char *why, size_t whylen)
{
    const char *once = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
    if (!once)
        return fz_bad(why, whylen, "json-c could not print the value");
    char err[FZ_ERRSIZE];
    json_object *again;
    if (ctl_json_parse(once, &again, err, sizeof err) < 0)
        return fz_bad(why, whylen, "printed back, it does not parse (%s): %s",
                      err, once);
    const char *twice = json_object_to_json_string_ext(again,
                                                       JSON_C_TO_STRING_PLAIN);
    int same = twice && !strcmp(once, twice);
    json_object_put(again);
    return same ? 0 : fz_bad(why, whylen, "printed twice, two texts: %s",
                             once);
}

static int check_tables(json_object *v, char *why, size_t whylen)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return fz_bad(why, whylen, "out of memory");
    stats_print_table(f, v);
    stats_print_jobs(f, v);
    fclose(f);
    free(out);
    return 0;
}

int fz_check_json(const uint8_t *data, size_t len, char *why, size_t whylen)
{
    char *text = malloc(len + 1);
    if (!text)
        return fz_bad(why, whylen, "out of memory");
    memcpy(text, data, len);
    text[len] = '\0';
    json_object *v = NULL;
    char err[FZ_ERRSIZE];
    memset(err, FZ_FILL, sizeof err);
    int rc = ctl_json_parse(text, &v, err, sizeof err);
    if (rc != 0) {
        rc = check_rejection(rc, err, v, text, why, whylen);
    } else {
        rc = check_tree(v, 0, why, whylen);
        if (rc == 0)
            rc = check_round_trip(v, why, whylen);
        if (rc == 0)
            rc = check_tables(v, why, whylen);
        json_object_put(v);
    }
    free(text);
    return rc;
}
