/*
 * jsonw.c — see jsonw.h.
 */
#include "jsonw.h"

json_object *jw_u64(uint64_t v)
{
    return json_object_new_uint64(v);
}

json_object *jw_num(const char *fmt, double v)
{
    char text[64];
    snprintf(text, sizeof text, fmt, v);
    return json_object_new_double_s(v, text);
}

json_object *jw_str(const char *s)
{
    return json_object_new_string(s ? s : "");
}

json_object *jw_bool(int b)
{
    return json_object_new_boolean(b != 0);
}

void jw_add(json_object *obj, const char *key, json_object *val)
{
    if (!obj || json_object_object_add(obj, key, val) < 0)
        json_object_put(val); /* out of memory: the stats lack it */
}

/* A scalar as json-c writes it ('/' left as it is). */
static void write_scalar(json_object *v, FILE *out)
{
    fputs(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                JSON_C_TO_STRING_NOSLASHESCAPE),
          out);
}

void jw_write(json_object *v, FILE *out)
{
    switch (json_object_get_type(v)) {
    case json_type_object: {
        const char *sep = "";
        fputc('{', out);
        json_object_object_foreach(v, key, member) {
            json_object *k = json_object_new_string(key);
            fputs(sep, out);
            write_scalar(k, out);
            json_object_put(k);
            fputs(": ", out);
            jw_write(member, out);
            sep = ", ";
        }
        fputc('}', out);
        break;
    }
    case json_type_array: {
        size_t n = json_object_array_length(v);
        fputc('[', out);
        for (size_t i = 0; i < n; i++) {
            fputs(i ? ", " : "", out);
            jw_write(json_object_array_get_idx(v, i), out);
        }
        fputc(']', out);
        break;
    }
    default:
        write_scalar(v, out);
    }
}
