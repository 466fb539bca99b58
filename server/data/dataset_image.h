/*
 * dataset_image.h — the list-file parser of format = list, exposed for the
 * tests and the fuzz target (dataset_image.c has the loader itself).
 */
#ifndef SRV_DATASET_IMAGE_H
#define SRV_DATASET_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Called for each entry: @path (not NUL-terminated, @plen > 0 bytes, no
 * NUL or line break in it), its @label >= 0, its 1-based @line. Return 0
 * to go on, < 0 to stop (that code is returned). */
typedef int (*dsi_entry_fn)(void *ctx, const char *path, size_t plen,
                            int32_t label, unsigned line);

/* Parse @text[0..len) (untrusted): one `path label` per line, the label
 * the last blank-separated word (a path may hold blanks), blanks around
 * both ignored; blank lines and lines whose first non-blank is '#' are
 * skipped; \r\n ends lines too. Return 0, the callback's code, or
 * MIXUP_EDATASET with @err naming @name:line and what was expected. */
int dsi_parse_list(const char *text, size_t len, const char *name,
                   dsi_entry_fn fn, void *ctx, char *err, size_t errlen);

/* For tests: called, when set, after the files are listed and sized and
 * before any is read, where a live filesystem may change them (a file
 * replaced by a larger image of the same size, by a FIFO). Not for use
 * outside tests. */
extern void (*dsi_after_sizing)(void *arg);
extern void *dsi_after_sizing_arg;

/* 1 if @name ends in .jpg, .jpeg or .png, in any letter case. */
int dsi_image_name(const char *name);

#endif
