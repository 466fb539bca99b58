/*
 * dataset_image_describe.c — what an image dataset holds, for the stats
 * JSON and for `mixupd --check` (dataset.h).
 */
#include <stdio.h>
#include <string.h>

#include "dataset.h"
#include "image.h"
#include "jsonw.h"

void ds_describe_images_json(const ds_dataset *ds, json_object *obj)
{
    if (ds->class_names) {
        json_object *names = json_object_new_array();
        const char *c = ds->class_names;
        for (uint32_t i = 0; i < ds->n_class_names; i++, c += strlen(c) + 1)
            json_object_array_add(names, jw_str(c));
        jw_add(obj, "class_names", names);
    }
    if (ds->encoded) {
        jw_add(obj, "storage", jw_str("encoded"));
        jw_add(obj, "decode_errors",
               jw_u64(__atomic_load_n(&ds->faults->decode_errors,
                                      __ATOMIC_RELAXED)));
        jw_add(obj, "decode_warnings",
               jw_u64(__atomic_load_n(&ds->faults->decode_warnings,
                                      __ATOMIC_RELAXED)));
    }
}

void ds_describe_images_text(const ds_dataset *ds, FILE *out)
{
    if (!ds->encoded && !ds->class_names)
        return;
    if (ds->encoded) {
        uint64_t jpeg = 0, png = 0, cmyk = 0, bytes = 0;
        uint32_t min_h = UINT32_MAX, min_w = UINT32_MAX, max_h = 0, max_w = 0;
        for (uint64_t i = 0; i < ds->n; i++) {
            const ds_file *f = &ds->files[i];
            jpeg += f->kind == IMG_JPEG;
            png += f->kind == IMG_PNG;
            cmyk += f->cmyk;
            bytes += f->length;
            min_h = f->h < min_h ? f->h : min_h;
            min_w = f->w < min_w ? f->w : min_w;
            max_h = f->h > max_h ? f->h : max_h;
            max_w = f->w > max_w ? f->w : max_w;
        }
        fprintf(out, "  %llu files: %llu JPEG (%llu CMYK), %llu PNG; "
                "%llu bytes packed; sizes %ux%u to %ux%u (h x w)\n",
                (unsigned long long)ds->n, (unsigned long long)jpeg,
                (unsigned long long)cmyk, (unsigned long long)png,
                (unsigned long long)bytes, ds->n ? min_h : 0,
                ds->n ? min_w : 0, max_h, max_w);
    } else {
        fprintf(out, "  %llu images decoded at load, %ux%ux%u\n",
                (unsigned long long)ds->n, ds->h, ds->w, ds->c);
    }
    if (!ds->class_names || !ds->labels)
        return;
    fprintf(out, "  %u classes, samples per class:", ds->n_class_names);
    const char *c = ds->class_names;
    for (uint32_t k = 0; k < ds->n_class_names; k++, c += strlen(c) + 1) {
        if (k == 20) {
            fprintf(out, " ... (%u more)", ds->n_class_names - 20);
            break;
        }
        uint64_t count = 0;
        for (uint64_t i = 0; i < ds->n; i++)
            count += ds->labels[i] == (int32_t)k;
        fprintf(out, "%s %s %llu", k ? "," : "", c,
                (unsigned long long)count);
    }
    fputc('\n', out);
}
