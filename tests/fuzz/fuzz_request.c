/*
 * fuzz_request.c — libFuzzer target for the daemon's request decoder
 * (mxp_request_decode with the daemon's default 4096-byte limit).
 * The checks live in fuzz_check.c, shared with tests/test_fuzz_corpus.c.
 *
 *   fuzz_request -max_total_time=120 tests/fuzz/corpus/request
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    if (fz_check_request(data, size, why, sizeof why) < 0) {
        fprintf(stderr, "fuzz_request: %s\n", why);
        abort();
    }
    return 0;
}
