/*
 * fuzz_pack.c — libFuzzer target for the pack reader
 * (pk_check_file: header, names, index; server/data/pack_format.c):
 * a pack file is untrusted input. Checks in fuzz_check_pack.c.
 *
 *   fuzz_pack -max_total_time=120 tests/fuzz/corpus/pack
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    if (fz_check_pack(data, size, why, sizeof why) < 0) {
        fprintf(stderr, "fuzz_pack: %s\n", why);
        abort();
    }
    return 0;
}
