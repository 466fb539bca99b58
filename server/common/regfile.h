/*
 * regfile.h — opening the files a configuration names (the INI file, the
 * dataset files) for reading, refusing anything but a regular file: a
 * FIFO with no writer would block open(2) forever, a device never ends.
 */
#ifndef SRV_REGFILE_H
#define SRV_REGFILE_H

#include <stddef.h>
#include <stdint.h>

/* Open @path read-only (blocking, close-on-exec) if it is a regular file.
 * Return the descriptor with *@size, or MIXUP_EIO with @err naming the
 * path and what it is ("not a regular file (a FIFO)"). */
int rf_open(const char *path, uint64_t *size, char *err, size_t errlen);

/* Copy @len bytes of @s into @buf (@cap bytes) with control bytes, '\\'
 * and non-ASCII escaped as \\xNN, so that text read from a file cannot
 * forge log lines or send terminal sequences. Returns @buf. */
/* What a file of mode @m (st_mode) is, for messages: "a FIFO",
 * "a directory", "a device", "a socket" (anything but a regular file). */
const char *rf_kind(unsigned m);

const char *rf_escape(const char *s, size_t len, char *buf, size_t cap);

#endif
