/*
 * fuzz_check.c — see fuzz_check.h.
 *
 * What "consistent" means here:
 * - a rejected message gets MIXUP_EPROTO, EVERSION or ETOOBIG, a message
 *   that is non-empty, NUL-terminated inside the caller's buffer and plain
 *   printable ASCII (it goes to logs and back to the peer), and — when the
 *   header could be read — the request id, so the error reply names it;
 * - an accepted message re-encodes, through the matching mxp_encode_*, to
 *   exactly the input bytes (the decoder accepts nothing the encoder would
 *   not write), and the encoder refuses a buffer one byte too small;
 * - an accepted batch reply's arrays are aligned, in order, disjoint and
 *   inside the message; re-encoding its head leaves the arrays alone;
 * - an accepted NEXT's release pairs fill its body exactly, an accepted
 *   OPEN reply's ring name is a NUL-terminated "" or "/name", an accepted
 *   BATCH_REF points at a page-aligned extent that does not wrap;
 * - an accepted ring header describes slots that lie inside the segment
 *   (recomputed here without the decoder's arithmetic), and re-encodes to
 *   the same 64 bytes.
 *
 * Two things the decoders accept that the encoders cannot reproduce, and
 * which are therefore compared field by field instead of byte by byte: an
 * ERROR reply whose text holds a NUL byte (the encoder takes a C string),
 * and a BATCH reply's padding bytes (the client ignores them).
 */
#include "fuzz_check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define FZ_ERRSIZE 256 /* what the daemon and the client pass */
#define FZ_FILL 0xa5   /* pre-fill of err: no NUL, not printable */


static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* The error text of a rejection: non-empty, terminated, printable. */
static int check_error_text(int rc, const char *err, char *why, size_t whylen)
{
    const char *nul = memchr(err, 0, FZ_ERRSIZE);
    if (!nul)
        return fz_bad(why, whylen, "error message (code %d) not NUL-terminated",
                   rc);
    if (nul == err)
        return fz_bad(why, whylen, "empty error message for code %d", rc);
    for (const char *p = err; p < nul; p++)
        if (*p < 0x20 || *p > 0x7e)
            return fz_bad(why, whylen, "error message byte %d is 0x%02x: \"%s\"",
                       (int)(p - err), (unsigned char)*p, err);
    return 0;
}

static int check_rejection(int rc, const char *err, const mxp_header *hdr,
                           const uint8_t *data, size_t len, char *why,
                           size_t whylen)
{
    if (rc != MIXUP_EPROTO && rc != MIXUP_EVERSION && rc != MIXUP_ETOOBIG)
        return fz_bad(why, whylen, "decoder returned %d, not EPROTO/EVERSION/"
                   "ETOOBIG", rc);
    if (check_error_text(rc, err, why, whylen) < 0)
        return -1;
    if (len >= MXP_HEADER_SIZE && hdr->request_id != le64(data + 12))
        return fz_bad(why, whylen, "request id not kept on rejection (%s)", err);
    return 0;
}

/* Header facts every accepted message shares. */
static int check_header(const mxp_header *h, size_t len, char *why,
                        size_t whylen)
{
    if (h->magic != MXP_MAGIC || h->version != MXP_VERSION ||
        (h->flags & ~MXP_FLAGS_KNOWN))
        return fz_bad(why, whylen, "accepted magic 0x%08x version %u flags 0x%x",
                   h->magic, h->version, h->flags);
    if (len < MXP_HEADER_SIZE || h->body_len != len - MXP_HEADER_SIZE)
        return fz_bad(why, whylen, "accepted body_len %u in a %zu-byte message",
                   h->body_len, len);
    return 0;
}

/* @n is what the encoder returned into a buffer of exactly @len bytes,
 * @short_rc what it returned into one of @len - 1 bytes. */
static int check_same(const uint8_t *data, size_t len, const uint8_t *out,
                      int n, int short_rc, const char *what, char *why,
                      size_t whylen)
{
    if (n < 0)
        return fz_bad(why, whylen, "%s: re-encoding failed (%d)", what, n);
    if ((size_t)n != len)
        return fz_bad(why, whylen, "%s: re-encoded to %d bytes, input has %zu",
                   what, n, len);
    for (size_t i = 0; i < len; i++)
        if (out[i] != data[i])
            return fz_bad(why, whylen,
                       "%s: re-encoded byte %zu is 0x%02x, input has 0x%02x",
                       what, i, out[i], data[i]);
    if (short_rc != MIXUP_EINVAL)
        return fz_bad(why, whylen, "%s: encoder returned %d for a buffer one "
                   "byte short", what, short_rc);
    return 0;
}

/* ------------------------------------------------------------ trailers */

/* A message with trailers is the same message without them, plus them:
 * check where the decoder found them, strip them into a copy, check the
 * copy with @check, and rebuild @data from the copy with
 * mxp_append_trailer(). */
static int check_trailers(const uint8_t *data, size_t len,
                          const mxp_header *h, const uint8_t *auth,
                          const uint8_t *key,
                          int (*check)(const uint8_t *, size_t, char *, size_t),
                          char *why, size_t whylen)
{
    size_t tail = 0;
    if (h->flags & MXP_FLAG_AUTH) {
        tail += MXP_AUTH_TRAILER;
        if (auth != data + len - tail)
            return fz_bad(why, whylen, "proof not at the end of the body");
    } else if (auth) {
        return fz_bad(why, whylen, "proof found without MXP_FLAG_AUTH");
    }
    if (h->flags & MXP_FLAG_STREAM_KEY) {
        tail += MXP_STREAM_KEY_SIZE;
        if (key != data + len - tail)
            return fz_bad(why, whylen, "stream key not before the proof");
    } else if (key) {
        return fz_bad(why, whylen, "stream key found without its flag");
    }
    uint8_t *copy = malloc(len);
    if (!copy)
        return fz_bad(why, whylen, "out of memory");
    size_t n = len - tail;
    memcpy(copy, data, n);
    for (int i = 8; i < 12; i++)
        copy[i] = 0;
    uint32_t body = (uint32_t)(n - MXP_HEADER_SIZE);
    for (int i = 0; i < 4; i++)
        copy[20 + i] = (uint8_t)(body >> (8 * i));
    int rc = check(copy, n, why, whylen);
    int m = (int)n;
    if (rc == 0 && key)
        m = mxp_append_trailer(copy, len, (size_t)m, MXP_FLAG_STREAM_KEY, key);
    if (rc == 0 && auth && m > 0)
        m = mxp_append_trailer(copy, len, (size_t)m, MXP_FLAG_AUTH, auth);
    if (rc == 0 && (m != (int)len || memcmp(copy, data, len) != 0))
        rc = fz_bad(why, whylen, "trailers re-appended do not give the input");
    /* A proof is checked over the bytes as received: one whose MAC the
     * message does not match is refused whatever the token (no crash, no
     * read past the message). A fuzzed MAC matching is not expected. */
    static const uint8_t tok[MXP_TOKEN_SIZE];
    if (rc == 0 && auth) {
        mxp_request req;
        char err[FZ_ERRSIZE];
        if (mxp_request_decode(data, len, NULL, &req, err, sizeof err) == 0 &&
            mxp_auth_check(data, len, &req, tok))
            rc = fz_bad(why, whylen, "a fuzzed proof passed for a zero token");
    }
    free(copy);
    return rc;
}

/* ------------------------------------------------------------ requests */

static int encode_next(const mxp_next_req *n, uint64_t id, uint8_t *out,
                       size_t cap)
{
    uint32_t slots[MXP_RELEASE_MAX], gens[MXP_RELEASE_MAX];
    uint32_t count = n->n_release <= MXP_RELEASE_MAX ? n->n_release : 0;
    for (uint32_t i = 0; i < count; i++)
        mxp_next_release_at(n, i, &slots[i], &gens[i]);
    return mxp_encode_next_req(out, cap, id, n->stream_id, n->flags, slots,
                               gens, count);
}

/* The encoder takes a C string: a decoded name is not one. */
static int encode_info(const mxp_info_req *i, uint64_t id, uint8_t *out,
                       size_t cap)
{
    char name[MXP_PIPELINE_MAX + 1];
    size_t len = i->pipeline_len <= MXP_PIPELINE_MAX ? i->pipeline_len : 0;
    memcpy(name, i->pipeline, len);
    name[len] = 0;
    return mxp_encode_info_req(out, cap, id, name);
}

static int encode_request(const mxp_request *req, uint8_t *out, size_t cap)
{
    uint64_t id = req->hdr.request_id;
    switch (req->hdr.type) {
    case MXP_INFO_REQ: return encode_info(&req->u.info, id, out, cap);
    case MXP_OPEN_REQ: return mxp_encode_open_req(out, cap, id, &req->u.open);
    case MXP_NEXT_REQ: return encode_next(&req->u.next, id, out, cap);
    case MXP_CLOSE_REQ:
        return mxp_encode_close_req(out, cap, id, req->u.stream_id);
    case MXP_STATS_REQ:
        return mxp_encode_stats_req(out, cap, id, req->u.stats_format);
    case MXP_HELLO_REQ:
        return mxp_encode_hello_req(out, cap, id, req->u.hello_nonce);
    default: return MIXUP_EINTERNAL;
    }
}

/* A pipeline name the decoder accepted: A-Z a-z 0-9 _ - only. */
static int check_name_bytes(const char *what, const char *name, size_t len,
                            char *why, size_t whylen)
{
    for (size_t i = 0; i < len; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                    "0123456789_-", name[i]) || !name[i])
            return fz_bad(why, whylen, "accepted %s byte 0x%02x", what,
                          (unsigned char)name[i]);
    return 0;
}

static int check_open(const mxp_open_req *o, const uint8_t *data, size_t len,
                      char *why, size_t whylen)
{
    if (o->mode > MIXUP_MODE_SHARED)
        return fz_bad(why, whylen, "accepted OPEN mode %u", o->mode);
    if (o->job_len > MXP_JOB_MAX)
        return fz_bad(why, whylen, "accepted OPEN job_len %u", o->job_len);
    if (o->pipeline_len > MXP_PIPELINE_MAX)
        return fz_bad(why, whylen, "accepted OPEN pipeline_len %u",
                      o->pipeline_len);
    if (o->offset >= (o->stride ? o->stride : 1))
        return fz_bad(why, whylen, "accepted OPEN offset %u with stride %u",
                      o->offset, o->stride);
    const uint8_t *job = data + MXP_HEADER_SIZE + MXP_OPEN_FIXED;
    if ((const uint8_t *)o->job != job ||
        (const uint8_t *)o->pipeline != job + o->job_len ||
        (size_t)o->job_len + o->pipeline_len != len - (size_t)(job - data))
        return fz_bad(why, whylen, "OPEN job and pipeline names do not span "
                      "the body's tail");
    for (unsigned i = 0; i < o->job_len; i++)
        if (job[i] < 0x21 || job[i] > 0x7e)
            return fz_bad(why, whylen, "accepted OPEN job byte 0x%02x", job[i]);
    return check_name_bytes("OPEN pipeline", o->pipeline, o->pipeline_len,
                            why, whylen);
}

static int check_next(const mxp_next_req *n, const uint8_t *data, size_t len,
                      char *why, size_t whylen)
{
    if (n->flags & ~MXP_NEXT_FLAGS_KNOWN)
        return fz_bad(why, whylen, "accepted NEXT flags 0x%x", n->flags);
    if (n->n_release > MXP_RELEASE_MAX)
        return fz_bad(why, whylen, "accepted NEXT n_release %u", n->n_release);
    if (n->release != data + MXP_HEADER_SIZE + MXP_NEXT_FIXED ||
        len != MXP_HEADER_SIZE + MXP_NEXT_FIXED + 8 * (size_t)n->n_release ||
        mxp_next_req_size(n->n_release) != len)
        return fz_bad(why, whylen, "NEXT release pairs (%u) do not fill the "
                   "%zu-byte message", n->n_release, len);
    return 0;
}

int fz_check_request(const uint8_t *data, size_t len, char *why, size_t whylen)
{
    const mxp_limits lim = {.max_message = FZ_REQUEST_LIMIT};
    mxp_request req;
    char err[FZ_ERRSIZE];
    memset(err, FZ_FILL, sizeof err);
    int rc = mxp_request_decode(data, len, &lim, &req, err, sizeof err);
    if (rc < 0)
        return check_rejection(rc, err, &req.hdr, data, len, why, whylen);
    if (rc > 0)
        return fz_bad(why, whylen, "request decoder returned %d", rc);
    if (len > FZ_REQUEST_LIMIT)
        return fz_bad(why, whylen, "accepted %zu bytes over the limit", len);
    if (check_header(&req.hdr, len, why, whylen) < 0)
        return -1;
    if (req.hdr.flags)
        return check_trailers(data, len, &req.hdr, req.auth, req.stream_key,
                              fz_check_request, why, whylen);
    if (req.hdr.type == MXP_OPEN_REQ &&
        check_open(&req.u.open, data, len, why, whylen) < 0)
        return -1;
    if (req.hdr.type == MXP_NEXT_REQ &&
        check_next(&req.u.next, data, len, why, whylen) < 0)
        return -1;
    if (req.hdr.type == MXP_INFO_REQ &&
        (req.u.info.pipeline_len != len - MXP_HEADER_SIZE ||
         check_name_bytes("INFO pipeline", req.u.info.pipeline,
                          req.u.info.pipeline_len, why, whylen) < 0))
        return fz_bad(why, whylen, "INFO pipeline name (%u bytes) is not "
                      "the %zu-byte body", req.u.info.pipeline_len,
                      len - MXP_HEADER_SIZE);
    if (req.hdr.type == MXP_STATS_REQ && req.u.stats_format > MXP_STATS_TEXT)
        return fz_bad(why, whylen, "accepted STATS format %u",
                   req.u.stats_format);
    /* Exactly @len bytes, so AddressSanitizer sees an encoder overrun. */
    uint8_t *out = malloc(len);
    if (!out)
        return fz_bad(why, whylen, "out of memory");
    int short_rc = encode_request(&req, out, len - 1);
    int n = encode_request(&req, out, len);
    if (n == MIXUP_EINTERNAL)
        rc = fz_bad(why, whylen, "accepted type 0x%x as a request", req.hdr.type);
    else
        rc = check_same(data, len, out, n, short_rc,
                        mxp_type_name(req.hdr.type), why, whylen);
    free(out);
    return rc;
}

/* ------------------------------------------------------------- replies */

static int mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    return !__builtin_mul_overflow(a, b, out);
}

/* The sections of a batch reply, in wire order: offset and size (offset
 * 0: absent). Sizes are recomputed here from the shape, independently of
 * mxp_batch_layout_compute. Return the count, or -1 on overflow. */
static int batch_sections(const mxp_batch_rep *r, size_t at[8], uint64_t sz[8])
{
    const mxp_batch_shape *s = &r->shape;
    const mxp_batch_layout *l = &r->layout;
    uint64_t B = s->size, x_bytes, y_bytes;
    uint64_t elem = s->dtype == MIXUP_FLOAT32 ? 4 : 2;
    if (!mul_ok(B, s->height, &x_bytes) || !mul_ok(x_bytes, s->width, &x_bytes) ||
        !mul_ok(x_bytes, s->channels, &x_bytes) || !mul_ok(x_bytes, elem, &x_bytes) ||
        !mul_ok(B, s->classes, &y_bytes) || !mul_ok(y_bytes, 4, &y_bytes))
        return -1;
    int pairs = (s->flags & MXP_BATCH_PAIRS) != 0;
    uint64_t augs = !(s->flags & MXP_BATCH_AUG) ? 0
                    : (s->flags & MXP_BATCH_AUG2) ? 2 * B : B;
    const size_t offs[8] = {l->index1, l->index2, l->lam, l->label1,
                            l->label2, l->aug, l->x, l->y};
    const uint64_t sizes[8] = {8 * B, 8 * B, 4 * B, pairs ? 4 * B : 0,
                               pairs ? 4 * B : 0, augs * MXP_AUG_RECORD,
                               x_bytes, pairs ? 0 : y_bytes};
    int n = 0;
    for (int i = 0; i < 8; i++) {
        if (sizes[i] == 0 && offs[i] == 0)
            continue;
        at[n] = offs[i];
        sz[n] = sizes[i];
        n++;
    }
    return n;
}

/* Sections in order, on MXP_ALIGN, disjoint, inside a @len-byte message. */
static int check_batch_layout(const mxp_batch_rep *r, size_t len, char *why,
                              size_t whylen)
{
    const mxp_batch_shape *s = &r->shape;
    const mxp_batch_layout *l = &r->layout;
    if (!s->size || !s->height || !s->width || !s->channels || !s->classes)
        return fz_bad(why, whylen, "accepted a BATCH with a zero dimension");
    if (s->dtype < MIXUP_FLOAT32 || s->dtype > MIXUP_BFLOAT16 ||
        s->layout > MIXUP_NCHW || (s->flags & ~MXP_BATCH_FLAGS_KNOWN))
        return fz_bad(why, whylen, "accepted BATCH dtype %u layout %u flags %u",
                   s->dtype, s->layout, s->flags);
    size_t at[8];
    uint64_t sz[8];
    int n = batch_sections(r, at, sz);
    if (n < 0)
        return fz_bad(why, whylen, "accepted a BATCH whose size overflows");
    uint64_t end = MXP_HEADER_SIZE + MXP_BATCH_FIXED;
    for (int i = 0; i < n; i++) {
        if (at[i] % MXP_ALIGN || at[i] < end || sz[i] == 0)
            return fz_bad(why, whylen, "BATCH section %d at %zu (size %llu) "
                       "misplaced for B=%u", i, at[i],
                       (unsigned long long)sz[i], s->size);
        end = at[i] + sz[i];
    }
    if (l->total != end || l->total != len)
        return fz_bad(why, whylen, "BATCH layout total %zu, sections end at "
                   "%llu, message of %zu bytes", l->total,
                   (unsigned long long)end, len);
    return 0;
}

/* Re-encode the head over a copy: the header and fields come back as
 * they were, the arrays untouched, and the copy still decodes alike. */
static int check_batch_head(const mxp_batch_rep *r, const mxp_header *h,
                            const uint8_t *data, size_t len, char *why,
                            size_t whylen)
{
    uint8_t *copy = malloc(len);
    if (!copy)
        return fz_bad(why, whylen, "out of memory");
    memcpy(copy, data, len);
    mxp_encode_batch_head(copy, h->request_id, r->stream_id, r->epoch,
                          r->index, &r->shape, &r->layout);
    mxp_set_batch_seq(copy, r->seq);
    size_t at[8];
    uint64_t sz[8];
    int n = batch_sections(r, at, sz);
    /* Padding is zeroed by the encoder and may differ; nothing else. */
    int rc = 0;
    for (size_t i = 0; i < MXP_HEADER_SIZE + MXP_BATCH_FIXED && rc == 0; i++)
        if (copy[i] != data[i])
            rc = fz_bad(why, whylen, "BATCH head re-encoding changed byte %zu", i);
    for (int k = 0; k < n && rc == 0; k++)
        for (size_t i = at[k]; i < at[k] + sz[k]; i++)
            if (copy[i] != data[i]) {
                rc = fz_bad(why, whylen, "BATCH head re-encoding changed byte "
                         "%zu (0x%02x -> 0x%02x)", i, data[i], copy[i]);
                break;
            }
    if (rc == 0) {
        mxp_reply again;
        char err[FZ_ERRSIZE];
        int rc2 = mxp_reply_decode(copy, len, NULL, &again, err, sizeof err);
        if (rc2 != 0 || again.hdr.type != MXP_BATCH_REP ||
            again.u.batch.epoch != r->epoch || again.u.batch.index != r->index ||
            again.u.batch.stream_id != r->stream_id ||
            memcmp(&again.u.batch.shape, &r->shape, sizeof r->shape) ||
            memcmp(&again.u.batch.layout, &r->layout, sizeof r->layout))
            rc = fz_bad(why, whylen, "re-encoded BATCH head decodes differently");
    }
    free(copy);
    return rc;
}

static int check_error_rep(const mxp_error_rep *e, const mxp_header *h,
                           const uint8_t *data, size_t len, char *why,
                           size_t whylen)
{
    if (e->code >= 0)
        return fz_bad(why, whylen, "accepted ERROR code %d", e->code);
    if (e->msg_len > MXP_ERRMSG_MAX || e->msg_len != h->body_len - 8 ||
        (const uint8_t *)e->msg != data + MXP_HEADER_SIZE + 8)
        return fz_bad(why, whylen, "ERROR text of %u bytes misplaced", e->msg_len);
    char text[MXP_ERRMSG_MAX + 1];
    memcpy(text, e->msg, e->msg_len);
    text[e->msg_len] = 0;
    if (strlen(text) != e->msg_len)
        return 0; /* a NUL inside: the encoder cannot write it */
    if (mxp_error_rep_size(text) != len)
        return fz_bad(why, whylen, "mxp_error_rep_size %zu for a %zu-byte reply",
                   mxp_error_rep_size(text), len);
    uint8_t *out = malloc(len);
    if (!out)
        return fz_bad(why, whylen, "out of memory");
    int short_rc = mxp_encode_error_rep(out, len - 1, h->request_id, e->code,
                                        text);
    int n = mxp_encode_error_rep(out, len, h->request_id, e->code, text);
    int rc = check_same(data, len, out, n, short_rc, "ERROR reply", why,
                        whylen);
    free(out);
    return rc;
}

/* What an accepted OPEN reply's ring and a BATCH_REF promise. */
static int check_ring_fields(const mxp_reply *rep, char *why, size_t whylen)
{
    if (rep->hdr.type == MXP_OPEN_REP) {
        const char *name = rep->u.open.ring_name;
        size_t n = strnlen(name, MXP_RING_NAME_MAX);
        if (n == MXP_RING_NAME_MAX)
            return fz_bad(why, whylen, "accepted a ring name without a NUL");
        if (n && (name[0] != '/' || strchr(name + 1, '/')))
            return fz_bad(why, whylen, "accepted ring name \"%s\"", name);
        for (size_t i = 0; i < n; i++)
            if (name[i] < 0x21 || name[i] > 0x7e)
                return fz_bad(why, whylen, "accepted ring name byte 0x%02x",
                              (unsigned char)name[i]);
    }
    if (rep->hdr.type == MXP_BATCH_REF_REP) {
        const mxp_batch_ref *r = &rep->u.ref;
        if (r->offset == 0 || r->offset % MXP_RING_PAGE ||
            r->size < MXP_HEADER_SIZE + MXP_BATCH_FIXED || r->size > UINT32_MAX ||
            r->offset + r->size < r->offset)
            return fz_bad(why, whylen, "accepted BATCH_REF at %llu of %llu bytes",
                          (unsigned long long)r->offset,
                          (unsigned long long)r->size);
    }
    return 0;
}

/* Re-encode the fixed-size replies and STATS into exactly @len bytes. */
static int check_simple_rep(const mxp_reply *rep, const uint8_t *data,
                            size_t len, char *why, size_t whylen)
{
    const mxp_header *h = &rep->hdr;
    if (check_ring_fields(rep, why, whylen) < 0)
        return -1;
    if (h->type == MXP_INFO_REP) {
        const mxp_info_rep *i = &rep->u.info;
        const uint8_t *names = data + MXP_HEADER_SIZE + MXP_INFO_BODY;
        if ((i->flags & ~MXP_INFO_FLAGS_KNOWN) ||
            i->pipeline_len > MXP_PIPELINE_MAX ||
            i->pipelines_len > MXP_PIPELINE_LIST_MAX ||
            (const uint8_t *)i->pipeline != names ||
            (const uint8_t *)i->pipelines != names + i->pipeline_len ||
            MXP_INFO_BODY + (size_t)i->pipeline_len + i->pipelines_len !=
                h->body_len)
            return fz_bad(why, whylen, "INFO reply flags 0x%x or names (%u, "
                          "%u bytes) misplaced", i->flags, i->pipeline_len,
                          i->pipelines_len);
        if (check_name_bytes("INFO reply pipeline", i->pipeline,
                             i->pipeline_len, why, whylen) < 0)
            return -1;
        for (unsigned k = 0; k < i->pipelines_len; k++)
            if (i->pipelines[k] != ',' &&
                check_name_bytes("INFO reply list", i->pipelines + k, 1, why,
                                 whylen) < 0)
                return -1;
    }
    if (h->type == MXP_STATS_REP &&
        (rep->u.stats.len != h->body_len || rep->u.stats.len > MXP_STATS_MAX ||
         (const uint8_t *)rep->u.stats.text != data + MXP_HEADER_SIZE))
        return fz_bad(why, whylen, "STATS text of %u bytes misplaced",
                   rep->u.stats.len);
    uint8_t *out = malloc(len);
    if (!out)
        return fz_bad(why, whylen, "out of memory");
    int n = 0, short_rc = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t cap = pass ? len : len - 1;
        int r;
        switch (h->type) {
        case MXP_INFO_REP:
            r = mxp_encode_info_rep(out, cap, h->request_id, &rep->u.info);
            break;
        case MXP_OPEN_REP:
            r = mxp_encode_open_rep(out, cap, h->request_id, &rep->u.open);
            break;
        case MXP_CLOSE_REP:
            r = mxp_encode_close_rep(out, cap, h->request_id);
            break;
        case MXP_BATCH_REF_REP:
            r = mxp_encode_batch_ref_rep(out, cap, h->request_id, &rep->u.ref);
            break;
        case MXP_HELLO_REP:
            r = mxp_encode_hello_rep(out, cap, h->request_id,
                                     rep->u.hello.nonce, rep->u.hello.proof);
            break;
        default: /* MXP_STATS_REP */
            r = mxp_encode_stats_rep(out, cap, h->request_id,
                                     rep->u.stats.text, rep->u.stats.len);
            break;
        }
        if (pass)
            n = r;
        else
            short_rc = r;
    }
    int rc = check_same(data, len, out, n, short_rc, mxp_type_name(h->type),
                        why, whylen);
    free(out);
    return rc;
}

int fz_check_reply(const uint8_t *data, size_t len, char *why, size_t whylen)
{
    mxp_reply rep;
    char err[FZ_ERRSIZE];
    memset(err, FZ_FILL, sizeof err);
    int rc = mxp_reply_decode(data, len, NULL, &rep, err, sizeof err);
    if (rc < 0)
        return check_rejection(rc, err, &rep.hdr, data, len, why, whylen);
    if (rc > 0)
        return fz_bad(why, whylen, "reply decoder returned %d", rc);
    const mxp_header *h = &rep.hdr;
    if (check_header(h, len, why, whylen) < 0)
        return -1;
    if (h->flags & MXP_FLAG_AUTH)
        return fz_bad(why, whylen, "accepted a reply with a proof");
    if (h->flags)
        return check_trailers(data, len, h, NULL, rep.stream_key,
                              fz_check_reply, why, whylen);
    switch (h->type) {
    case MXP_INFO_REP:
    case MXP_OPEN_REP:
    case MXP_CLOSE_REP:
    case MXP_STATS_REP:
    case MXP_BATCH_REF_REP:
    case MXP_HELLO_REP:
        return check_simple_rep(&rep, data, len, why, whylen);
    case MXP_ERROR_REP:
        return check_error_rep(&rep.u.error, h, data, len, why, whylen);
    case MXP_BATCH_REP:
        if (check_batch_layout(&rep.u.batch, len, why, whylen) < 0)
            return -1;
        return check_batch_head(&rep.u.batch, h, data, len, why, whylen);
    default:
        return fz_bad(why, whylen, "accepted type 0x%x as a reply", h->type);
    }
}

/* ------------------------------------------------------- ring header */

/* The slots of an accepted header, recomputed: every generation word and
 * every slot inside the segment, and references to them accepted. */
static int check_ring_geometry(const mxp_ring_head *h, const uint8_t *data,
                               size_t len, char *why, size_t whylen)
{
    unsigned __int128 end = (unsigned __int128)h->n_slots * h->slot_size +
                            h->data_offset;
    uint64_t gens_end = MXP_RING_GENS + 4 * (uint64_t)h->n_slots;
    if (h->n_slots == 0 || h->slot_size == 0 || h->slot_size % MXP_RING_PAGE ||
        h->data_offset % MXP_RING_PAGE || h->data_offset < gens_end ||
        mxp_ring_head_size(h->n_slots) > h->data_offset || end > len)
        return fz_bad(why, whylen, "accepted a ring of %u slots of %llu bytes "
                      "from %llu in %zu bytes", h->n_slots,
                      (unsigned long long)h->slot_size,
                      (unsigned long long)h->data_offset, len);
    /* The last generation word is readable (AddressSanitizer watches). */
    volatile uint32_t g = mxp_ring_gen_load(data, h->n_slots - 1);
    (void)g;
    mxp_batch_ref ref = {.slot = h->n_slots - 1, .size = h->slot_size,
                         .offset = h->data_offset +
                                   (uint64_t)(h->n_slots - 1) * h->slot_size};
    if (mxp_batch_ref_check(&ref, h, NULL, 0) != 0)
        return fz_bad(why, whylen, "the last slot's own reference is refused");
    ref.slot = h->n_slots;
    ref.offset += h->slot_size;
    if (h->n_slots < UINT32_MAX && mxp_batch_ref_check(&ref, h, NULL, 0) == 0)
        return fz_bad(why, whylen, "a reference past the last slot accepted");
    return 0;
}

int fz_check_ring(const uint8_t *data, size_t len, char *why, size_t whylen)
{
    mxp_ring_head h;
    char err[FZ_ERRSIZE];
    memset(err, FZ_FILL, sizeof err);
    int rc = mxp_ring_head_decode(data, len, &h, err, sizeof err);
    if (rc < 0) {
        if (rc != MIXUP_EPROTO && rc != MIXUP_EVERSION)
            return fz_bad(why, whylen, "ring decoder returned %d", rc);
        return check_error_text(rc, err, why, whylen);
    }
    if (rc > 0)
        return fz_bad(why, whylen, "ring decoder returned %d", rc);
    if (check_ring_geometry(&h, data, len, why, whylen) < 0)
        return -1;
    uint8_t out[MXP_RING_FIXED];
    int short_rc = mxp_ring_head_encode(out, MXP_RING_FIXED - 1, &h);
    int n = mxp_ring_head_encode(out, MXP_RING_FIXED, &h);
    return check_same(data, MXP_RING_FIXED, out, n, short_rc, "ring header",
                      why, whylen);
}
