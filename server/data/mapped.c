/*
 * mapped.c — see mapped.h.
 */
#include "mapped.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* The byte range of sample @i in the mapping. */
static void sample_range(const ds_dataset *ds, uint32_t i, const uint8_t **p,
                         uint64_t *len)
{
    if (ds->encoded) {
        *p = ds->packed + ds->files[i].offset;
        *len = ds->files[i].length;
        return;
    }
    uint64_t per = (uint64_t)ds->h * ds->w * ds->c * ds_dtype_size(ds->dtype);
    *p = (const uint8_t *)ds->images + (uint64_t)i * per;
    *len = per;
}

void ds_willneed(const ds_dataset *ds, const uint32_t *idx, uint64_t count)
{
    if (!ds->map)
        return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = 0, hi = 0; /* the run being gathered */
    for (uint64_t j = 0; j <= count; j++) {
        uintptr_t a = 0, b = 0;
        if (j < count && idx[j] < ds->n) {
            const uint8_t *p;
            uint64_t len;
            sample_range(ds, idx[j], &p, &len);
            a = (uintptr_t)p & ~(page - 1);
            b = ((uintptr_t)p + len + page - 1) & ~(page - 1);
            if (hi && a <= hi && b >= lo) { /* touches the run: merge */
                lo = a < lo ? a : lo;
                hi = b > hi ? b : hi;
                continue;
            }
        }
        if (hi)
            madvise((void *)lo, hi - lo, MADV_WILLNEED);
        lo = a;
        hi = b;
    }
}

void ds_willneed_range(const ds_dataset *ds, uint64_t first, uint64_t count)
{
    if (!ds->map || first >= ds->n || count == 0)
        return;
    uint64_t last = first + count - 1 < ds->n ? first + count - 1 : ds->n - 1;
    const uint8_t *a, *b;
    uint64_t la, lb;
    sample_range(ds, (uint32_t)first, &a, &la);
    sample_range(ds, (uint32_t)last, &b, &lb);
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)a & ~(page - 1);
    uintptr_t hi = ((uintptr_t)b + lb + page - 1) & ~(page - 1);
    madvise((void *)lo, hi - lo, MADV_WILLNEED);
}

double ds_resident_fraction(const ds_dataset *ds, uint32_t samples)
{
    if (!ds->map || !samples)
        return 1.0;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (ds->map_len + page - 1) / page;
    uint32_t in = 0, seen = 0;
    for (uint32_t s = 0; s < samples && s < pages; s++) {
        size_t pg = (size_t)((double)s * (double)pages / samples);
        unsigned char v = 0;
        if (mincore((uint8_t *)ds->map + pg * page, page, &v) == 0) {
            in += v & 1;
            seen++;
        }
    }
    return seen ? (double)in / seen : 1.0;
}

int64_t ds_read_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f)
        return -1;
    char line[128];
    int64_t v = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "read_bytes:", 11)) {
            v = strtoll(line + 11, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

void ds_describe_mapped_json(const ds_dataset *ds, json_object *obj)
{
    static int64_t last_bytes = -1;
    static struct timespec last;
    if (!ds->map)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t bytes = ds_read_bytes();
    double dt = (double)(now.tv_sec - last.tv_sec) +
                (double)(now.tv_nsec - last.tv_nsec) / 1e9;
    double rate = last_bytes >= 0 && bytes >= last_bytes && dt > 0
                      ? (double)(bytes - last_bytes) / dt : 0;
    last_bytes = bytes;
    last = now;
    json_object *m = json_object_new_object();
    jw_add(m, "file", jw_str(ds->origin && !strncmp(ds->origin, "mapped ", 7)
                             ? ds->origin + 7 : ds->origin));
    jw_add(m, "resident", jw_num("%.3f", ds_resident_fraction(ds, 1024)));
    jw_add(m, "read_bytes", jw_u64(bytes > 0 ? (uint64_t)bytes : 0));
    jw_add(m, "read_bytes_per_s", jw_num("%.0f", rate));
    jw_add(obj, "mapped", m);
}
