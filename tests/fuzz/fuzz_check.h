/*
 * fuzz_check.h — consistency checks of the wire decoders, shared by the
 * libFuzzer targets (fuzz_request.c, fuzz_reply.c) and by the Criterion
 * test that replays their corpus (tests/test_fuzz_corpus.c).
 *
 * A check does not stop at "no crash": an accepted message must encode
 * back to the same bytes, and a rejected one must come with a known code
 * and a readable message.
 */
#ifndef FZ_CHECK_H
#define FZ_CHECK_H

#include <stddef.h>
#include <stdint.h>

/* The daemon's request limit (server.max_request, default 4096). */
#define FZ_REQUEST_LIMIT 4096u

/* Run @data through mxp_request_decode() with FZ_REQUEST_LIMIT. Return 0
 * when the outcome is consistent; otherwise -1 with a description of what
 * went wrong in @why. */
int fz_check_request(const uint8_t *data, size_t len, char *why,
                     size_t whylen);

/* Run @data through mxp_reply_decode() as the client does (no limit). */
int fz_check_reply(const uint8_t *data, size_t len, char *why, size_t whylen);

#endif
