/*
 * digest.h — the daemon's two digests: what a client compares
 * before it stripes a stream over several daemons or fails over between
 * them. Two daemons serve the same bytes for every (seed, epoch, batch)
 * exactly when both digests agree (the determinism contract).
 *
 *   dataset   the loaded store: shape, dtype, class count, and every
 *             byte of the images and labels in shared memory
 *   settings  every option that shapes a pipeline's batches: the
 *             effective configuration without [server] (sockets,
 *             threads, ring: how batches are served, not what they hold)
 *             and without the dataset's file names (the dataset digest
 *             covers their content, which may live at other paths on
 *             another node)
 *
 * The hash is XXH64 (seed 0) from libxxhash: 64 bits are plenty to tell
 * configurations apart, and it runs at memory speed, so digesting the
 * dataset right after it is read costs a few milliseconds per hundred
 * megabytes (it is measured in the load's log line). Its values are part
 * of what daemons compare, so tests/test_digest.c pins them.
 */
#ifndef SRV_DIGEST_H
#define SRV_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>

#include "config.h"

typedef struct dg_state {
    XXH64_state_t x;
} dg_state;

void dg_init(dg_state *s);
void dg_update(dg_state *s, const void *data, size_t len);
uint64_t dg_final(const dg_state *s);

/* XXH64 of @len bytes, seed 0. */
uint64_t dg_hash(const void *data, size_t len);

/* The digest of the whole configuration (stats: config_digest, to see a
 * reload took). */
uint64_t dg_config(const cfg_config *cfg);

/* The settings digest of a pipeline's effective configuration. */
uint64_t dg_settings(const cfg_config *cfg);

#endif
