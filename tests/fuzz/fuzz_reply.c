/*
 * fuzz_reply.c — libFuzzer target for the client's reply decoder
 * (mxp_reply_decode without a limit, as libmixup calls it: replies are
 * untrusted input to the training process). Checks in fuzz_check.c.
 *
 *   fuzz_reply -max_total_time=120 tests/fuzz/corpus/reply
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    if (fz_check_reply(data, size, why, sizeof why) < 0) {
        fprintf(stderr, "fuzz_reply: %s\n", why);
        abort();
    }
    return 0;
}
