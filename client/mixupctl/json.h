/*
 * json.h — the daemon's stats JSON read with json-c (mixupctl draws its
 * stats table from whatever keys are there, so a new counter or column
 * shows up without a change). The text is untrusted: nesting is bounded
 * and a rejection is a message naming the byte.
 */
#ifndef CTL_JSON_H
#define CTL_JSON_H

#include <json-c/json.h>
#include <stddef.h>

/* Deepest value accepted: the top value is at depth 0, values nest down
 * to depth 32 (33 levels of json-c's tokener). */
#define CTL_JSON_MAX_DEPTH 32

/* Parse @text (the whole of it, one value) into *@out, to be freed with
 * json_object_put() (NULL for the value null). Return 0, or -1 with
 * *@out NULL and @err saying why and at which byte. */
int ctl_json_parse(const char *text, json_object **out, char *err,
                   size_t errlen);

/* The member @key of @obj, or NULL (also when @obj is not an object). */
json_object *ctl_json_get(json_object *obj, const char *key);

#endif
