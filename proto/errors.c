/*
 * errors.c — texts and names of the MIXUP_E* codes (mixup_errors.h), generated
 * from the one list in MIXUP_ERRNO_MAP. Here, in proto/, because the
 * daemon and the client library both need them; exported from libmixup.
 */
#define MIXUP_BUILDING_LIBRARY 1
#include <stddef.h>

#include "mixup_errors.h"

static const struct {
    int code;
    const char *name;
    const char *text;
} error_table[] = {
#define MIXUP_ERR_ROW_(name, num, text) {-(num), "MIXUP_" #name, text},
    MIXUP_ERRNO_MAP(MIXUP_ERR_ROW_)
#undef MIXUP_ERR_ROW_
};

MIXUP_API const char *mixup_strerror(int code)
{
    if (code == 0)
        return "success";
    for (size_t i = 0; i < sizeof error_table / sizeof error_table[0]; i++)
        if (error_table[i].code == code)
            return error_table[i].text;
    return "unknown error";
}

MIXUP_API const char *mixup_err_name(int code)
{
    if (code == 0)
        return "MIXUP_OK";
    for (size_t i = 0; i < sizeof error_table / sizeof error_table[0]; i++)
        if (error_table[i].code == code)
            return error_table[i].name;
    return "MIXUP_UNKNOWN";
}

