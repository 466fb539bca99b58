/*
 * dataset_tar.h — the WebDataset naming rules of format = tar, exposed
 * for the tests (dataset_tar.c has the loader; libarchive reads the
 * archives themselves).
 */
#ifndef SRV_DATASET_TAR_H
#define SRV_DATASET_TAR_H

#include <stddef.h>
#include <stdint.h>

/* Split an entry's @path as WebDataset does: the key is the path up to
 * the first '.' of its file name, the extension what follows. Return 0
 * with *@key_len and *@ext, or -1 when the file name has no extension or
 * starts with '.'. */
int dst_split_name(const char *path, size_t *key_len, const char **ext);

/* A .cls entry's text @text[0..len): a decimal integer >= 0 (at most
 * INT32_MAX), blanks around it ignored. Return 0 with *@label, or -1. */
int dst_parse_cls(const char *text, size_t len, int32_t *label);

#endif
