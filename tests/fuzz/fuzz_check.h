/*
 * fuzz_check.h — consistency checks of the parsers of untrusted bytes,
 * shared by the libFuzzer targets (fuzz_<name>.c) and by the Criterion
 * test that replays their corpus (tests/test_fuzz_corpus.c):
 *   fuzz_check.c       the wire decoders (proto/), targets request, reply,
 *                      ring (the ring segment's header);
 *   fuzz_check_npy.c   the daemon's .npy header parser, target npy;
 *   fuzz_check_json.c  mixupctl's stats reading (json-c) and tables, target json.
 *
 * A check does not stop at "no crash": what a parser accepts must print
 * back to input it accepts alike, and a rejection must come with a known
 * code and a readable message.
 */
#ifndef FZ_CHECK_H
#define FZ_CHECK_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

/* The daemon's request limit (server.max_request, default 4096). */
#define FZ_REQUEST_LIMIT 4096u

/* Write why a check failed into @why; return -1 (for `return fz_bad(...)`).
 * Shared by every check file; inline, so that each fuzz target links only
 * its own parser. */
static inline int fz_bad(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int fz_bad(char *why, size_t whylen, const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Run @data through mxp_request_decode() with FZ_REQUEST_LIMIT. Return 0
 * when the outcome is consistent; otherwise -1 with a description of what
 * went wrong in @why. */
int fz_check_request(const uint8_t *data, size_t len, char *why,
                     size_t whylen);

/* Run @data through mxp_reply_decode() as the client does (no limit). */
int fz_check_reply(const uint8_t *data, size_t len, char *why, size_t whylen);

/* Run @data, a whole ring segment, through mxp_ring_head_decode() as a
 * client does after mapping it. */
int fz_check_ring(const uint8_t *data, size_t len, char *why, size_t whylen);

/* Read @data as a .npy file: its header through npy_parse_preamble() and
 * npy_parse_dict() (server/data/dataset_npy.c) as the loader reads it, then the
 * whole file through the loader's probe, as images and as labels. */
int fz_check_npy(const uint8_t *data, size_t len, char *why, size_t whylen);

/* Read @data as a pack file through pk_check_file() (header, names,
 * index; server/data/pack_format.c), as the loader does before using it. */
int fz_check_pack(const uint8_t *data, size_t len, char *why, size_t whylen);

/* Read @data as a list file (dsi_parse_list) and as an image file
 * (img_jpeg_markers, img_probe, img_decode): no crash, entries sane. */
int fz_check_images(const uint8_t *data, size_t len, char *why,
                    size_t whylen);

/* Run @data (up to its first NUL, as mixupctl passes the daemon's text)
 * through ctl_json_parse() (client/mixupctl/json.c, json-c); print what it
 * accepts and parse that again, and draw the stats tables of it. */
int fz_check_json(const uint8_t *data, size_t len, char *why, size_t whylen);

#endif
