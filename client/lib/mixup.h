/*
 * mixup.h — the mixupd client library (libmixup).
 *
 * A training process connects to one or more mixupd daemons, opens a
 * stream and pulls batches of mixup-mixed samples:
 *
 *     mixup_client *c;
 *     const char *ep[] = { "ipc:///tmp/mixupd.ipc" };
 *     int rc = mixup_client_connect(&c, ep, 1, NULL);
 *     if (rc < 0) die(mixup_strerror(rc));
 *     rc = mixup_stream_open(c, NULL);          // defaults: seed 0, (0, 0)
 *     for (;;) {
 *         mixup_batch *b;
 *         if ((rc = mixup_next(c, &b)) < 0) die(mixup_client_error(c));
 *         train_step(b->x, b->y, b->size);       // float32 NHWC, float32 [B,K]
 *         mixup_batch_release(b);
 *     }
 *     mixup_client_close(c);
 *
 * Every function that can fail returns a negative MIXUP_E* code and 0 (or
 * a count) on success; mixup_strerror() turns a code into text, and
 * mixup_client_error() gives the full message of the client's last
 * failure, including the daemon's own words when the daemon refused.
 *
 * Zero copy: on the daemon's host, a client maps the daemon's ring of
 * batch slots read-only and batches are read in place: mixup_next()
 * receives a small reference, and the batch's arrays point into the
 * slot, which stays the client's until mixup_batch_release() (the release
 * travels with the next request). A client holds at most the daemon's
 * server.max_held batches at once: one more is MIXUP_EHELD. Elsewhere (or
 * with MIXUP_TRANSPORT_SOCKET, or a daemon with server.shm_delivery =
 * off) the bytes come through the socket; both give the same bytes.
 *
 * Throughput on the socket path: batches are large messages that nanomsg
 * allocates and mixup_batch_release() frees. With several receiving
 * threads, glibc
 * returns that memory to the kernel after every batch and page-faults it
 * back for the next (measured: half the throughput with two clients in
 * one process). A process that receives batches in several threads should
 * keep its heap: mallopt(M_MMAP_MAX, 0); mallopt(M_TRIM_THRESHOLD, 1 << 30)
 * (or MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=1073741824 in the
 * environment). The library does not change the process's allocator.
 *
 * A mixup_client is used from one thread at a time; a batch may be
 * released from any thread. Batches stay valid after further mixup_next()
 * calls and after mixup_client_close(), until mixup_batch_release(): a
 * lent batch still held when its stream ends (mixup_stream_close(),
 * mixup_client_close(), a stream reopened on another daemon) gets a
 * private copy of its bytes at the same address first, so its pointers
 * and anything made from them stay valid.
 *
 * The bytes of batch (epoch, index) are a pure function of the daemon's
 * dataset and pipeline settings and of the stream's seed; see DESIGN.md.
 */
#ifndef MIXUP_H
#define MIXUP_H

#include <stddef.h>
#include <stdint.h>

#include "mixup_api.h"
#include "mixup_errors.h" /* MIXUP_E* codes, mixup_strerror() */
#include "mixup_wire.h"   /* dtype, layout, mix kind, stream mode */

#ifdef __cplusplus
extern "C" {
#endif

#define MIXUP_VERSION_MAJOR 0
#define MIXUP_VERSION_MINOR 1
#define MIXUP_VERSION_PATCH 0

/* ------------------------------------------------------------------ types */

/**
 * What was drawn for one sample (the provenance of its augmentation). On
 * the wire each is a 96-byte little-endian record with explicit offsets
 * (proto/proto.h, mxp_aug); libmixup decodes the records into this struct,
 * whose layout on a little-endian host is the record's. With the daemon's
 * [augment] order = before_mix there are two per sample (one per source
 * image, the first holding the CutMix box); else one. Fields of an
 * augmentation that is off are zero.
 */
typedef struct mixup_aug {
    uint8_t mix_kind;      /* mixup_mix_kind */
    uint8_t flip;          /* bit 0: left-right, bit 1: up-down */
    uint8_t erase_fill;    /* 0 not erased, 1 constant, 2 per channel,
                              3 per-pixel uniform, 4 per-pixel normal */
    uint8_t src_scale;     /* image folders: JPEG decode scale, log2 of its
                              denominator: index1 bits 0-3, index2 4-7 */
    float shift_dy, shift_dx;   /* pixels: out[r][c] = in(r + dy, c + dx) */
    uint32_t crop_y, crop_x;    /* top-left of the crop in the padded image */
    uint32_t erase_y, erase_x, erase_h, erase_w;
    float erase_value[4];       /* fill per channel (constant, channel) */
    uint32_t reserved1;
    uint64_t erase_noise_seed;  /* per-pixel fills: Philox key of the noise */
    uint32_t cutmix_y0, cutmix_y1, cutmix_x0, cutmix_x1; /* [y0,y1) x [x0,x1) */
    uint16_t src_box[2][4];     /* image folders: crop box y, x, h, w in
                                   the source image of index1, index2 */
} mixup_aug;

/** What the daemon serves: returned by mixup_client_info(). */
typedef struct mixup_info {
    uint64_t samples;           /* N, samples in the dataset */
    uint32_t height, width, channels;
    uint32_t classes;           /* K, width of a label row */
    uint32_t batch_size;        /* B */
    uint64_t batches_per_epoch; /* floor(N / 2B) */
    float alpha;                /* Beta(alpha, alpha); 0 = no mixing */
    uint32_t shuffle;           /* 1 when each epoch is permuted */
    uint32_t protocol_version;
    uint32_t keep_last;         /* 1: batch.drop_last = false, an epoch
                                   serves every sample once, its last
                                   batch partial (evaluation); then
                                   batches_per_epoch is ceil(N / B) */
    char pipeline[MIXUP_PIPELINE_MAX + 1]; /* the pipeline described */
    char pipelines[MIXUP_PIPELINE_LIST_MAX]; /* the daemon's pipelines,
                                                 ','-separated, main first */
    uint64_t dataset_digest;  /* of the loaded samples and labels */
    uint64_t settings_digest; /* of the options that shape this pipeline's
                                 batches: two daemons serve the same bytes
                                 when both digests agree */
} mixup_info;

/**
 * Defaults shared by libmixup, mixupctl and the Python package.
 * MIXUP_DEFAULT_TIMEOUT_MS: how long a request waits for its reply (the
 * daemon's description, a stream's opening, a batch) unless told
 * otherwise. mixup_default_endpoint() says where a client connects when
 * it is given no endpoint.
 */
#define MIXUP_DEFAULT_TIMEOUT_MS 30000
#define MIXUP_DEFAULT_ENDPOINT "ipc:///tmp/mixupd.ipc"           /* mixupd's own */
#define MIXUP_SERVICE_ENDPOINT "ipc:///run/mixupd/mixupd.ipc"    /* the unit's */

/** How batches travel (mixup_client_options.transport). */
typedef enum mixup_transport {
    MIXUP_TRANSPORT_AUTO = 0,   /* in place when the daemon's ring can be
                                   mapped (same host), else the socket */
    MIXUP_TRANSPORT_SOCKET = 1, /* always copied through the socket */
} mixup_transport;

/** Options of mixup_client_connect(). Start from mixup_client_options_init(). */
typedef struct mixup_client_options {
    int timeout_ms; /* per request: send and receive; -1 waits forever */
    mixup_transport transport;
    int spread;     /* 1: stripe each stream over all the endpoints (each
                       daemon computes every D-th batch, see
                       mixup_client_connect()); 0: fail over only */
    const char *token_file; /* the daemon's token (server.auth_token_file:
                               64 hex digits); NULL: $MIXUPD_TOKEN_FILE
                               when set, else none */
} mixup_client_options;

/** Options of mixup_stream_open(). Start from mixup_stream_options_init(). */
typedef struct mixup_stream_options {
    mixup_mode mode;
    uint64_t seed;        /* the stream's seed (independent mode) */
    uint64_t start_epoch; /* resume position: first batch returned is */
    uint64_t start_batch; /* (start_epoch, start_batch) */
    const char *job;      /* sharded/shared: the job's name (printable
                             ASCII without spaces, quotes or backslashes,
                             at most 64 bytes); NULL otherwise */
    uint32_t rank;        /* sharded: this trainer's rank, < world */
    uint32_t world;       /* sharded: number of trainers */
    uint32_t prefetch;    /* batches prepared ahead; 0: daemon default */
    const char *pipeline; /* the daemon's pipeline to draw from (a
                             [pipeline NAME] of its configuration);
                             NULL or "": main */
} mixup_stream_options;

/**
 * A received batch, valid until mixup_batch_release(). x, y, lam and the
 * index arrays point into the daemon's ring slot (zero copy) or into the
 * received message (socket; there index1 and index2 may be small aligned
 * copies: nanomsg delivers messages 4-byte aligned). aug is always a
 * decoded copy. Row j of every per-sample array
 * describes sample j: x[j] = lam[j]*D[index1[j]] + (1-lam[j])*D[index2[j]].
 */
typedef struct mixup_batch {
    uint64_t epoch;        /* position of this batch in the stream */
    uint64_t index;        /* batch index within the epoch */
    uint32_t size;         /* B, samples in this batch */
    uint32_t height, width, channels;
    uint32_t classes;      /* K */
    mixup_dtype dtype;     /* of x */
    mixup_layout layout;   /* of x */
    const float *x;        /* [B, H, W, C] (NCHW: [B, C, H, W]) when dtype
                              is MIXUP_FLOAT32, else NULL */
    const float *y;        /* [B, K], mixed one-hot rows; NULL with
                              labels = pairs */
    const int64_t *index1; /* [B] dataset index of the first sample */
    const int64_t *index2; /* [B] dataset index of the partner */
    const float *lam;      /* [B] lambda (CutMix: corrected to the box);
                              1 means index1 alone */
    const uint16_t *x_half; /* x as float16 or bfloat16 bit patterns when
                               dtype says so, else NULL */
    const int32_t *label1;  /* [B] with labels = pairs, else NULL */
    const int32_t *label2;  /* [B] with labels = pairs, else NULL */
    const mixup_aug *aug;   /* [B * aug_per_sample], or NULL */
    uint32_t aug_per_sample; /* 0, 1, or 2 (augmented before mixing) */
    void *message_;        /* private: the batch's message (read only) */
    size_t message_size_;  /* private */
} mixup_batch;

typedef struct mixup_client mixup_client;

/* ------------------------------------------------------------------ calls */

/**
 * mixup_client_options_init() - fill @opts with defaults (timeout
 * MIXUP_DEFAULT_TIMEOUT_MS, 30 s).
 */
MIXUP_API void mixup_client_options_init(mixup_client_options *opts);

/**
 * mixup_default_endpoint() - where to connect when no endpoint is given:
 * $MIXUPD_ENDPOINT when set and not empty; else MIXUP_SERVICE_ENDPOINT
 * when that socket exists (mixupd running as the systemd service); else
 * MIXUP_DEFAULT_ENDPOINT (mixupd run without a configuration).
 * Return: a string that stays valid until the environment changes.
 */
MIXUP_API const char *mixup_default_endpoint(void);

/**
 * mixup_stream_options_init() - fill @opts with defaults: independent
 * mode, seed 0, start at (0, 0).
 */
MIXUP_API void mixup_stream_options_init(mixup_stream_options *opts);

/**
 * mixup_client_connect() - create a client connected to daemons.
 * @out: receives the client.
 * @endpoints: nanomsg addresses ("ipc:///path", "tcp://host:port"). With
 *             several, requests go to the first one that is up, in the
 *             order given (NN_SNDPRIO), and move to the next when it dies
 *             or a NEXT gets no reply within the timeout (a daemon stopped
 *             or hung keeps its connection); the stream is reopened there
 *             at its position (mixup_next()), since every daemon computes
 *             the same bytes.
 *             With @opts->spread, the client instead stripes its stream
 *             over all of them: with D daemons up, batch k of the stream
 *             comes from the (k mod D)-th, each with one request in
 *             flight (a socket per daemon, each its own ring mapping),
 *             and mixup_next() returns the batches in stream order, the
 *             same bytes as one daemon's. A daemon that dies or stops
 *             answering (no reply within the timeout) is dropped and its
 *             batches are asked of the others; one that comes back is
 *             used again. The daemons' dataset and settings digests must
 *             agree: mixup_stream_open() fails with MIXUP_EMISMATCH,
 *             naming both endpoints and what differs, when they do not.
 *             Shared streams cannot be striped (MIXUP_EMODE).
 * @n_endpoints: number of @endpoints, at least 1 (at most 16 with spread).
 * @opts: NULL for defaults.
 * Connecting is asynchronous: a daemon that is not there shows up as
 * MIXUP_ETIMEDOUT at the first request, not here, except that a single
 * ipc:// endpoint whose socket file does not exist or may not be opened
 * (permissions) is MIXUP_ECONNECT at once, the message naming the path
 * and the reason (mixup_client_error(NULL)). Every ipc socket file there
 * is must be the daemon's: owned by this user, root or the user
 * $MIXUPD_DAEMON_USER names, or else in a directory only its owner (root
 * or the socket's owner) may write; otherwise MIXUP_ECONNECT (someone
 * else could be listening in mixupd's place).
 *
 * With a token, the first request is preceded by a HELLO exchange: the
 * daemon proves it knows the token before anything that depends on it
 * is sent, and the token itself is never sent (README, "Access
 * control"). A peer that cannot prove it makes that request fail with
 * MIXUP_EAUTH.
 * Return: 0, MIXUP_EINVAL (bad argument), MIXUP_ECONNECT (an address
 * nanomsg rejects, a missing, forbidden or stranger's ipc socket),
 * MIXUP_ENOMEM.
 */
MIXUP_API int mixup_client_connect(mixup_client **out,
                                   const char *const *endpoints,
                                   size_t n_endpoints,
                                   const mixup_client_options *opts);

/**
 * mixup_client_info() - ask the daemon what it serves.
 * Return: 0, MIXUP_ETIMEDOUT, MIXUP_EVERSION, MIXUP_EPROTO, or the
 * daemon's error code.
 */
MIXUP_API int mixup_client_info(mixup_client *client, mixup_info *info);

/**
 * mixup_pipeline_info() - mixup_client_info() of the daemon's pipeline
 * @pipeline (NULL or "": main).
 * Return: as mixup_client_info(); MIXUP_EINVAL for a name the daemon does
 * not serve (the message, mixup_client_error(), lists those it serves).
 */
MIXUP_API int mixup_pipeline_info(mixup_client *client, const char *pipeline,
                                  mixup_info *info);

/**
 * mixup_stream_open() - open the client's stream (one per client).
 * @opts: NULL for defaults.
 * A shared stream joins its job where the job is (its start applies when
 * it creates the job).
 * Return: 0; MIXUP_ESTATE if a stream is already open; MIXUP_EINVAL for a
 * bad rank/world/job name or settings that conflict with the job's (the
 * message says which); MIXUP_EPOSITION for a start position outside the
 * stream's batches; MIXUP_ELIMIT when the daemon has too many streams;
 * MIXUP_ETIMEDOUT.
 */
MIXUP_API int mixup_stream_open(mixup_client *client,
                                const mixup_stream_options *opts);

/**
 * mixup_next() - receive the stream's next batch.
 * @out: receives a batch to release with mixup_batch_release().
 * Blocks until the batch arrives or the timeout passes.
 * Return: 0; MIXUP_ESTATE without an open stream; MIXUP_ETIMEDOUT;
 * MIXUP_EINTR when a signal interrupted the wait (call again to go on:
 * the same batch is asked for); MIXUP_EPROTO for a reply that does not
 * decode; MIXUP_ENOSTREAM if the daemon no longer knows the stream
 * (restarted, or the stream sat idle past its timeout) and the stream
 * could not be reopened; MIXUP_ESEQUENCE when the daemon's delivery count
 * shows that batches of the stream went to another client holding its
 * key (that batch is dropped, the position stays at the last batch
 * returned; calling again goes on).
 *
 * A daemon that does not know the stream — it was restarted, or the
 * request went to another daemon of the endpoint list — gets the stream
 * opened again at the next position, transparently, for independent and
 * sharded streams: their bytes are a pure function of the position, so
 * the batches are those the stream would have produced. A shared stream's
 * position belongs to its job: MIXUP_ENOSTREAM. The daemon that takes
 * over must have the same dataset and settings digests as the stream's
 * (mixup_info): otherwise MIXUP_EMISMATCH, naming it and what differs,
 * and the stream is closed rather than continued with other bytes.
 *
 * With several endpoints, a NEXT that times out moves the client to the
 * next daemon (the one that did not answer goes last) and the stream is
 * reopened there within the same call, so one call may take up to three
 * timeouts. A reopen that times out or is interrupted returns
 * MIXUP_ETIMEDOUT or MIXUP_EINTR and stays pending: calling again retries
 * it, at the same position, never MIXUP_ESTATE.
 */
MIXUP_API int mixup_next(mixup_client *client, mixup_batch **out);

/**
 * mixup_batch_release() - free a batch and its message, or give its ring
 * slot back (with the client's next request). Any thread. NULL is a no-op.
 */
MIXUP_API void mixup_batch_release(mixup_batch *batch);

/**
 * mixup_batch_keep() - make a batch independent of the daemon's ring: a
 * lent batch is copied into memory of its own (its array pointers move:
 * read them from the struct again) and its slot goes back with the next
 * request. For a program that keeps more batches than server.max_held;
 * a batch that came through the socket is left as it is.
 * Return: 0, MIXUP_ENOMEM (the batch stays lent), MIXUP_EINVAL for NULL.
 */
MIXUP_API int mixup_batch_keep(mixup_batch *batch);

/**
 * mixup_batch_lent() - was the batch lent from the daemon's ring (and not
 * kept since)? Its memory is then read-only (a write is a segmentation
 * fault), also after its stream ended.
 * Return: 1 if so, 0 if its bytes are the library's (socket, kept) or NULL.
 */
MIXUP_API int mixup_batch_lent(const mixup_batch *batch);

/**
 * mixup_batch_check() - are a batch's bytes still those it was received
 * with? A lent batch's slot is only reused after its release, or after
 * its stream expired on the daemon (server.stream_timeout) — then this
 * says so instead of the arrays silently changing.
 * Return: 0; MIXUP_ESTALE when the slot was reused; MIXUP_EINVAL for NULL.
 */
MIXUP_API int mixup_batch_check(const mixup_batch *batch);

/**
 * mixup_client_transport() - how the current stream's batches arrive:
 * "shm" (read in place in the daemon's ring) or "socket" (copied).
 * Return: a static string.
 */
MIXUP_API const char *mixup_client_transport(const mixup_client *client);

/**
 * mixup_client_transport_note() - why the stream uses the socket although
 * the transport is MIXUP_TRANSPORT_AUTO (e.g. "cannot open the daemon's
 * ring /mixupd...: Permission denied"); "" otherwise.
 */
MIXUP_API const char *mixup_client_transport_note(const mixup_client *client);

/**
 * mixup_client_position() - where the stream is.
 * @epoch, @batch: receive the position of the batch mixup_next() returned
 * last; before the first batch, the position just before the start.
 * Save it with a checkpoint and resume with start = (epoch, batch + 1).
 * Return: 0, or MIXUP_ESTATE when no batch was returned yet.
 */
MIXUP_API int mixup_client_position(const mixup_client *client,
                                    uint64_t *epoch, uint64_t *batch);

/**
 * mixup_client_resume_position() - where a resumed stream should start to
 * continue exactly after the batch mixup_next() returned last: the batch
 * after it in this stream's order (sharded: rank + i*world, crossing into
 * the next epoch after the last one of the rank's share). Save it with a
 * checkpoint and pass it as start_epoch/start_batch.
 * Return: 0; MIXUP_ESTATE when no batch was returned yet; MIXUP_EMODE for
 * a shared stream (its position belongs to the job, not to the client).
 */
MIXUP_API int mixup_client_resume_position(const mixup_client *client,
                                           uint64_t *epoch, uint64_t *batch);

/**
 * mixup_stream_epoch() - batches in an epoch.
 * @dataset: receives floor(N / 2B), the batches of the whole epoch.
 * @stream: receives how many of them this stream gets per epoch
 *          (sharded: floor(dataset / world); else = dataset).
 * Either pointer may be NULL. Return: 0, MIXUP_ESTATE without a stream.
 */
MIXUP_API int mixup_stream_epoch(const mixup_client *client,
                                 uint64_t *dataset, uint64_t *stream);

/**
 * mixup_client_stats() - the daemon's statistics: counters, ring, jobs and
 * streams with their positions and rates.
 * @json: 1 for a JSON object, 0 for a human table of jobs and streams.
 * @text: receives a NUL-terminated string to free() by the caller.
 * Return: 0, MIXUP_ENOMEM, MIXUP_ETIMEDOUT, or the daemon's error code.
 */
MIXUP_API int mixup_client_stats(mixup_client *client, int json, char **text);

/**
 * mixup_stream_close() - close the stream on the daemon, freeing what it
 * prepared ahead. The client may open another stream afterwards.
 * Return: 0, MIXUP_ESTATE without a stream, MIXUP_ETIMEDOUT.
 */
MIXUP_API int mixup_stream_close(mixup_client *client);

/**
 * mixup_client_close() - close the stream (best effort) and the
 * connection, and free the client. Received batches stay valid.
 * NULL is a no-op.
 */
MIXUP_API void mixup_client_close(mixup_client *client);

/**
 * mixup_version() - the library's version as MAJOR * 10000 + MINOR * 100 +
 * PATCH, for bindings that check what they were written against.
 */
MIXUP_API int mixup_version(void);

/**
 * mixup_batch_struct_size() - sizeof(mixup_batch) in this library, for
 * bindings that mirror the struct (ctypes) and must detect a change.
 */
MIXUP_API size_t mixup_batch_struct_size(void);

/**
 * mixup_client_error() - the message of the client's last failure, naming
 * what was wrong (with the daemon's text for refusals); "" if none.
 * Valid until the next call on @client. With @client NULL: the message of
 * this thread's last failed mixup_client_connect() (e.g. the endpoint
 * nanomsg rejected, and why).
 */
MIXUP_API const char *mixup_client_error(const mixup_client *client);

/**
 * mixup_client_set_timeout() - change the per-request timeout.
 * @timeout_ms: milliseconds, or -1 to wait forever.
 * Return: 0, MIXUP_EINVAL.
 */
MIXUP_API int mixup_client_set_timeout(mixup_client *client, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* MIXUP_H */
