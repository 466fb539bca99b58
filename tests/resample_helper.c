/*
 * resample_helper — the resampler on images from stdin, for
 * tests/python/test_resample_pil.py (which compares it with Pillow).
 *
 * Each case on stdin: one text line
 *   KERNEL H W C  OFFX LENX IN0X IN1X TOTX O0X NX  OFFY LENY IN0Y IN1Y TOTY O0Y NY
 * then H*W*C bytes of pixels. Per axis: the source pixels [OFF, OFF+LEN)
 * resized with Pillow's box [IN0, IN1) (floats, "%a" or decimal) onto TOT
 * pixels, outputs [O0, O0+N) kept. KERNEL: portable, avx2, avx512. On
 * stdout: NY*NX*C bytes, or nothing and exit 2 when the CPU cannot run
 * the kernel. Source rows are copied to exactly their length so that a
 * vector kernel's reads near the end of the buffer are exercised.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resize.h"

int main(void)
{
    char kname[32];
    unsigned h, w, c, offx, lenx, totx, o0x, nx, offy, leny, toty, o0y, ny;
    float in0x, in1x, in0y, in1y;
    while (scanf("%31s %u %u %u %u %u %a %a %u %u %u %u %u %a %a %u %u %u",
                 kname, &h, &w, &c, &offx, &lenx, &in0x, &in1x, &totx, &o0x,
                 &nx, &offy, &leny, &in0y, &in1y, &toty, &o0y, &ny) == 18) {
        if (getchar() != '\n')
            return 1;
        rsz_kernel k = strcmp(kname, "avx2") == 0     ? RSZ_AVX2
                       : strcmp(kname, "avx512") == 0 ? RSZ_AVX512
                                                      : RSZ_PORTABLE;
        size_t n = (size_t)h * w * c;
        uint8_t *img = malloc(n ? n : 1);
        if (!img || fread(img, 1, n, stdin) != n)
            return 1;
        if (rsz_use(k) < 0)
            return 2;
        /* The region alone, packed: the last row ends the buffer. */
        size_t rw = (size_t)lenx * c;
        uint8_t *reg = malloc((size_t)leny * rw + 1);
        for (unsigned y = 0; y < leny; y++)
            memcpy(reg + y * rw, img + ((size_t)(offy + y) * w + offx) * c,
                   rw);
        rsz_axis ax, ay;
        uint32_t kx = rsz_ksize((double)(in1x - in0x) + 1.0, totx);
        uint32_t ky = rsz_ksize((double)(in1y - in0y) + 1.0, toty);
        void *mx = malloc(rsz_axis_bytes(nx, kx));
        void *my = malloc(rsz_axis_bytes(ny, ky));
        rsz_axis_carve(&ax, mx, nx, kx);
        rsz_axis_carve(&ay, my, ny, ky);
        if (rsz_axis_init(&ax, lenx, in0x, in1x, totx, o0x) < 0 ||
            rsz_axis_init(&ay, leny, in0y, in1y, toty, o0y) < 0)
            return 3;
        uint8_t *tmp = malloc((size_t)nx * c * (leny + 1));
        uint8_t *out = malloc((size_t)nx * ny * c);
        rsz_resample(out, reg, rw, leny, c, &ax, &ay, tmp);
        fwrite(out, 1, (size_t)nx * ny * c, stdout);
        fflush(stdout);
        free(img);
        free(reg);
        free(mx);
        free(my);
        free(tmp);
        free(out);
    }
    return 0;
}
