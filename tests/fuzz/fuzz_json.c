/*
 * fuzz_json.c — libFuzzer target for mixupctl's stats reading (json-c)
 * and its tables: the stats text comes from the daemon, up to 64 MiB of
 * it. Checks in
 * fuzz_check_json.c.
 *
 *   fuzz_json -max_total_time=120 tests/fuzz/corpus/json
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    if (fz_check_json(data, size, why, sizeof why) < 0) {
        fprintf(stderr, "fuzz_json: %s\n", why);
        abort();
    }
    return 0;
}
