/*
 * fuzz_images.c — libFuzzer target for the list-file parser and the image
 * header / decode path of format = folder | list (fuzz_check_images.c).
 *
 *   fuzz_images -max_total_time=120 tests/fuzz/corpus/images
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[512];
    if (fz_check_images(data, size, why, sizeof why) < 0) {
        fprintf(stderr, "fuzz_images: %s\n", why);
        abort();
    }
    return 0;
}
