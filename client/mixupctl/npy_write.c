/*
 * npy_write.c — see npy_write.h. Header: magic, version 1.0, u16 length,
 * a Python dict literal padded with spaces to a multiple of 64 bytes and
 * ended by '\n', as numpy writes it.
 */
#include "npy_write.h"

#include <errno.h>
#include <string.h>

int npy_writer_open(npy_writer *w, const char *path, const char *descr,
                    size_t itemsize, const uint64_t *shape, int ndim)
{
    char dict[256];
    int n = snprintf(dict, sizeof dict,
                     "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     descr);
    uint64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%llu%s",
                      (unsigned long long)shape[i],
                      ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
        count *= shape[i];
    }
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    size_t total = 10 + (size_t)n + 1;
    size_t padded = (total + 63) / 64 * 64;
    uint8_t head[512];
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    uint16_t hlen = (uint16_t)(padded - 10);
    head[8] = (uint8_t)hlen;
    head[9] = (uint8_t)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)n);
    memset(head + 10 + n, ' ', padded - 10 - (size_t)n - 1);
    head[padded - 1] = '\n';

    snprintf(w->path, sizeof w->path, "%s", path);
    w->f = fopen(path, "wb");
    if (!w->f)
        return -errno;
    if (fwrite(head, 1, padded, w->f) != padded) {
        fclose(w->f);
        w->f = NULL;
        return -EIO;
    }
    w->expected = count * itemsize;
    w->written = 0;
    return 0;
}

int npy_writer_append(npy_writer *w, const void *data, size_t bytes)
{
    if (w->written + bytes > w->expected)
        return -EINVAL;
    if (bytes && fwrite(data, 1, bytes, w->f) != bytes)
        return -EIO;
    w->written += bytes;
    return 0;
}

int npy_writer_close(npy_writer *w)
{
    if (!w->f)
        return 0;
    int bad = ferror(w->f);
    if (fclose(w->f) != 0)
        bad = 1;
    w->f = NULL;
    if (bad || w->written != w->expected)
        return -EIO;
    return 0;
}
