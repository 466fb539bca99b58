/*
 * defaults.c — the defaults every client shares (mixup.h): libmixup,
 * mixupctl and the Python package (through ctypes) call this, so that a
 * client given no endpoint connects to the same daemon whichever it is.
 */
#include <stdlib.h>
#include <sys/stat.h>

#include "mixup.h"

MIXUP_API const char *mixup_default_endpoint(void)
{
    const char *env = getenv("MIXUPD_ENDPOINT");
    if (env && *env)
        return env;
    struct stat st;
    const char *service = MIXUP_SERVICE_ENDPOINT;
    if (stat(service + 6, &st) == 0 && S_ISSOCK(st.st_mode))
        return service;
    return MIXUP_DEFAULT_ENDPOINT;
}
