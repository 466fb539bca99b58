/*
 * json.h — a small JSON reader, enough for the daemon's stats (mixupctl
 * draws its stats table from whatever keys are there, so a new counter or
 * column shows up without a change). Untrusted input: depth and sizes are
 * bounded, every error is a message, nothing is left allocated.
 */
#ifndef CTL_JSON_H
#define CTL_JSON_H

#include <stddef.h>

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
    jtype t;
    int b;             /* J_BOOL */
    double num;        /* J_NUM */
    char *s;           /* J_STR: the text; J_NUM: as written */
    size_t n;          /* J_ARR, J_OBJ: members */
    struct jval *items;
    char **keys;       /* J_OBJ */
} jval;


/* Parse @text into @out. Return 0, or -1 with @err saying where and why. */
int json_parse(const char *text, jval *out, char *err, size_t errlen);

/* The member @key of an object, or NULL. */
const jval *json_get(const jval *obj, const char *key);

/* Free what json_parse() allocated under @v. */
void json_free(jval *v);

#endif
