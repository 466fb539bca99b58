/*
 * json.c — see json.h.
 */
#include "json.h"

#include <stdio.h>
#include <string.h>

int ctl_json_parse(const char *text, json_object **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    json_tokener *tok = json_tokener_new_ex(CTL_JSON_MAX_DEPTH + 1);
    if (!tok) {
        snprintf(err, errlen, "out of memory at byte 0");
        return -1;
    }
    /* RFC 8259 as the daemon writes it: no trailing commas, single quotes,
     * leading zeros or exponents without digits (json-c takes them
     * otherwise). */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    size_t len = strlen(text);
    /* The NUL goes in too: it ends a number or literal at the end. */
    json_object *v = len < (size_t)0x7fffffff
                         ? json_tokener_parse_ex(tok, text, (int)len + 1)
                         : NULL;
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t at = json_tokener_get_parse_end(tok);
    if (at > len) /* stopped at the NUL */
        at = len;
    /* Only blanks may follow the value (JSON null parses to NULL). */
    if (e == json_tokener_success)
        at += strspn(text + at, " \t\r\n");
    int bad = 1;
    if (len >= (size_t)0x7fffffff)
        snprintf(err, errlen, "text of %zu bytes too long at byte 0", len);
    else if (e == json_tokener_continue)
        snprintf(err, errlen, "unexpected end of text at byte %zu", len);
    else if (e != json_tokener_success)
        snprintf(err, errlen, "%s at byte %zu", json_tokener_error_desc(e), at);
    else if (at < len)
        snprintf(err, errlen, "text after the value at byte %zu", at);
    else
        bad = 0;
    json_tokener_free(tok);
    if (bad) {
        json_object_put(v);
        return -1;
    }
    *out = v;
    return 0;
}

json_object *ctl_json_get(json_object *obj, const char *key)
{
    json_object *v = NULL;
    if (!json_object_is_type(obj, json_type_object) ||
        !json_object_object_get_ex(obj, key, &v))
        return NULL;
    return v;
}
