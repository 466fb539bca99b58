/*
 * cmd_preview.c — mixupctl preview: batches drawn as a grid of images
 * (preview.c) and a legend of what each tile mixes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mixup.h"
#include "mixupctl.h"
#include "preview.h"

/* ---- preview ---- */

typedef struct preview_args {
    const char *out;
    uint64_t batches;
    uint64_t scale, cols;
    const char *names;
} preview_args;

static int parse_preview(int argc, char **argv, preview_args *a)
{
    *a = (preview_args){.batches = 1, .names = "auto"};
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        uint64_t *num = !strcmp(opt, "--batches") ? &a->batches
                      : !strcmp(opt, "--scale")   ? &a->scale
                      : !strcmp(opt, "--cols")    ? &a->cols : NULL;
        if (!num && strcmp(opt, "--out") && strcmp(opt, "--names")) {
            fprintf(stderr, "mixupctl: preview: unknown argument '%s'\n", opt);
            return -1;
        }
        if (!opt_value("preview", argc, argv, &i))
            return -1;
        i--; /* taken again below */
        if (!strcmp(opt, "--out")) {
            a->out = argv[++i];
        } else if (!strcmp(opt, "--names")) {
            a->names = argv[++i];
        } else if (parse_u64(argv[++i], num) || *num < 1) {
            fprintf(stderr, "mixupctl: preview %s wants a count >= 1, "
                    "got '%s'\n", opt, argv[i]);
            return -1;
        }
    }
    if (!a->out) {
        fprintf(stderr, "mixupctl: preview needs --out FILE.png\n");
        return -1;
    }
    const struct { const char *opt; uint64_t v, max; } lim[] = {
        {"--batches", a->batches, PREVIEW_MAX_BATCHES},
        {"--scale", a->scale, PREVIEW_MAX_SCALE},
        {"--cols", a->cols, 65536},
    };
    for (size_t i = 0; i < sizeof lim / sizeof lim[0]; i++)
        if (lim[i].v > lim[i].max) {
            fprintf(stderr, "mixupctl: preview %s %" PRIu64 ": expected 1 .. %"
                    PRIu64 "\n", lim[i].opt, lim[i].v, lim[i].max);
            return -1;
        }
    return 0;
}

/* "Sneaker 0.873": a class and its weight in the label row. With alpha
 * well below 1 most weights are within a hair of 0 or 1: shown as such
 * rather than in scientific notation. */
static void label_text(uint32_t cls, float weight, const char *const *names,
                       char *out, size_t len)
{
    char w[16];
    if (weight > 0 && weight < 0.0005f)
        snprintf(w, sizeof w, "<0.001");
    else
        snprintf(w, sizeof w, "%.3f", (double)weight);
    if (names)
        snprintf(out, len, "%s %s", names[cls], w);
    else
        snprintf(out, len, "class %u %s", cls, w);
}

/* One line per tile: where it is, lambda, the two samples, and the two
 * heaviest entries of its label row. */
static void print_legend(const preview_grid *g, mixup_batch **got,
                         uint64_t nb, const char *const *names)
{
    printf("%4s %4s %4s %7s %9s %9s  %s\n", "tile", "row", "col", "lambda",
           "index1", "index2", "labels (weight)");
    uint32_t t = 0;
    for (uint64_t i = 0; i < nb; i++) {
        const mixup_batch *b = got[i];
        printf("# batch %" PRIu64 ":%" PRIu64 ", tiles %u .. %u\n", b->epoch,
               b->index, t, t + b->size - 1);
        for (uint32_t j = 0; j < b->size; j++, t++) {
            uint32_t top[2];
            float w[2];
            preview_top2(b->y + (size_t)j * b->classes, b->classes, top, w);
            char l1[64], l2[64] = "";
            label_text(top[0], w[0], names, l1, sizeof l1);
            if (top[1] != UINT32_MAX && w[1] > 0)
                label_text(top[1], w[1], names, l2, sizeof l2);
            printf("%4u %4u %4u %7.4f %9" PRId64 " %9" PRId64 "  %s%s%s\n",
                   t, t / g->cols, t % g->cols, (double)b->lam[j],
                   b->index1[j], b->index2[j], l1, l2[0] ? " + " : "", l2);
        }
    }
}

static int preview_draw(const preview_grid *g, mixup_batch **got, uint64_t nb,
                        const char *path)
{
    const float **tiles = calloc(g->tiles, sizeof *tiles);
    if (!tiles) {
        fprintf(stderr, "mixupctl: preview: out of memory\n");
        return 1;
    }
    uint32_t t = 0;
    for (uint64_t i = 0; i < nb; i++) {
        size_t px = (size_t)got[i]->height * got[i]->width * got[i]->channels;
        for (uint32_t j = 0; j < got[i]->size && t < g->tiles; j++)
            tiles[t++] = got[i]->x + j * px;
    }
    uint64_t clipped = 0;
    uint8_t *img = preview_render(g, tiles, &clipped);
    free(tiles);
    char err[1200];
    int rc = img ? preview_write_png(path, g, img, err, sizeof err) : -ENOMEM;
    free(img);
    if (rc < 0) {
        fprintf(stderr, "mixupctl: preview: %s\n", img ? err : "out of memory");
        return 1;
    }
    if (clipped)
        fprintf(stderr, "mixupctl: preview: %" PRIu64 " values outside [0, 1] "
                "were clipped (the images are not scaled to [0, 1])\n", clipped);
    return 0;
}

/* Everything that can be refused is checked from INFO before a stream is
 * opened, so a refused preview takes no batches from anybody. */
int cmd_preview(ctl *c, int argc, char **argv)
{
    preview_args a;
    if (parse_preview(argc, argv, &a) < 0)
        return 2;
    mixup_info info;
    if (connect_and_info(c, &info))
        return 1;
    preview_grid g;
    char err[512];
    const char *const *names;
    uint64_t tiles = a.batches * info.batch_size;
    if (tiles > UINT32_MAX)
        tiles = UINT32_MAX;
    if (preview_grid_init(&g, (uint32_t)tiles, info.height, info.width,
                          info.channels, (uint32_t)a.scale, (uint32_t)a.cols,
                          err, sizeof err) < 0 ||
        preview_class_names(a.names, info.height, info.width, info.channels,
                            info.classes, &names, err, sizeof err) < 0) {
        fprintf(stderr, "mixupctl: preview: %s\n", err);
        return 1;
    }
    int rc = mixup_stream_open(c->client, &c->stream);
    if (rc < 0)
        return fail(c, rc, "open stream");
    mixup_batch *got[PREVIEW_MAX_BATCHES] = {0};
    int status = 0;
    for (uint64_t i = 0; i < a.batches && !status; i++)
        if ((rc = mixup_next(c->client, &got[i])) < 0)
            status = fail(c, rc, "next batch");
    if (!status && (!got[0]->x || got[0]->layout != MIXUP_NHWC || !got[0]->y)) {
        fprintf(stderr, "mixupctl: preview needs float32 NHWC images and "
                "mixed labels (the daemon's [output] dtype = float32, layout "
                "= NHWC, [batch] labels = mixed)\n");
        status = 1;
    }
    if (!status)
        status = preview_draw(&g, got, a.batches, a.out);
    if (!status) {
        printf("wrote %s: %u tiles of %ux%ux%u at scale %u, %u columns x %u "
               "rows, %ux%u pixels\n", a.out, g.tiles, g.tile_h, g.tile_w,
               g.channels, g.scale, g.cols, g.rows, g.width, g.height);
        print_legend(&g, got, a.batches, names);
    }
    for (uint64_t i = 0; i < a.batches; i++)
        mixup_batch_release(got[i]);
    return status;
}
