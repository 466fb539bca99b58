/*
 * fuzz_npy.c — libFuzzer target for the daemon's .npy header parser
 * (npy_parse_preamble, npy_parse_dict) and the loader's probe over it:
 * a dataset file is untrusted input. Checks in fuzz_check_npy.c.
 *
 *   fuzz_npy -max_total_time=120 tests/fuzz/corpus/npy
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    if (fz_check_npy(data, size, why, sizeof why) < 0) {
        fprintf(stderr, "fuzz_npy: %s\n", why);
        abort();
    }
    return 0;
}
