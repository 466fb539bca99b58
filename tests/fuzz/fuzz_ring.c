/*
 * fuzz_ring.c — libFuzzer target for the ring segment's header decoder
 * (mxp_ring_head_decode, as a client runs it on a segment it mapped: the
 * daemon's bytes are untrusted input to the training process). Checks in
 * fuzz_check.c. Segments are at least two pages: give -max_len.
 *
 *   fuzz_ring -max_len=65536 -max_total_time=120 tests/fuzz/corpus/ring
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    if (fz_check_ring(data, size, why, sizeof why) < 0) {
        fprintf(stderr, "fuzz_ring: %s\n", why);
        abort();
    }
    return 0;
}
