/*
 * proto.c — encode/decode of the mixupd wire format (see proto.h): the
 * header, trailers, requests and replies. The batch message's layout and
 * provenance records are in proto_batch.c, the ring header in
 * proto_ring.c.
 *
 * Fields are read and written byte by byte in little-endian order, so the
 * code has no alignment or aliasing assumptions about the buffer.
 */
#include "proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto_internal.h"

const char *mxp_type_name(uint16_t type)
{
    switch (type) {
    case MXP_INFO_REQ: return "INFO";
    case MXP_OPEN_REQ: return "OPEN";
    case MXP_NEXT_REQ: return "NEXT";
    case MXP_CLOSE_REQ: return "CLOSE";
    case MXP_STATS_REQ: return "STATS";
    case MXP_HELLO_REQ: return "HELLO";
    case MXP_INFO_REP: return "INFO reply";
    case MXP_OPEN_REP: return "OPEN reply";
    case MXP_BATCH_REP: return "BATCH reply";
    case MXP_CLOSE_REP: return "CLOSE reply";
    case MXP_STATS_REP: return "STATS reply";
    case MXP_BATCH_REF_REP: return "BATCH_REF reply";
    case MXP_HELLO_REP: return "HELLO reply";
    case MXP_ERROR_REP: return "ERROR reply";
    default: return "unknown";
    }
}

void mxp_header_encode(uint8_t *buf, uint16_t type, uint64_t request_id,
                       uint32_t body_len)
{
    put_u32(buf, MXP_MAGIC);
    put_u16(buf + 4, MXP_VERSION);
    put_u16(buf + 6, type);
    put_u32(buf + 8, 0);
    put_u64(buf + 12, request_id);
    put_u32(buf + 20, body_len);
}

size_t mxp_message_size(const uint8_t *buf)
{
    return MXP_HEADER_SIZE + (size_t)get_u32(buf + 20);
}

void mxp_set_request_id(uint8_t *buf, uint64_t request_id)
{
    put_u64(buf + 12, request_id);
}

void mxp_set_batch_stream_id(uint8_t *buf, uint64_t stream_id)
{
    put_u64(buf + MXP_HEADER_SIZE + 16, stream_id);
}

void mxp_set_batch_seq(uint8_t *buf, uint64_t seq)
{
    put_u64(buf + MXP_HEADER_SIZE + 56, seq);
}

int mxp_header_decode(const uint8_t *buf, size_t len, const mxp_limits *lim,
                      mxp_header *hdr, char *err, size_t errlen)
{
    memset(hdr, 0, sizeof *hdr);
    if (len < MXP_HEADER_SIZE)
        return fail(MIXUP_EPROTO, err, errlen,
                    "message of %zu bytes is shorter than the %u-byte header",
                    len, MXP_HEADER_SIZE);
    hdr->magic = get_u32(buf);
    hdr->version = get_u16(buf + 4);
    hdr->type = get_u16(buf + 6);
    hdr->flags = get_u32(buf + 8);
    hdr->request_id = get_u64(buf + 12);
    hdr->body_len = get_u32(buf + 20);
    if (hdr->magic != MXP_MAGIC)
        return fail(MIXUP_EPROTO, err, errlen,
                    "bad magic 0x%08x (expected 0x%08x, \"MIXP\")", hdr->magic,
                    MXP_MAGIC);
    if (hdr->version != MXP_VERSION)
        return fail(MIXUP_EVERSION, err, errlen,
                    "peer speaks mixupd protocol %u, this build speaks %u: "
                    "upgrade the client library or the daemon",
                    hdr->version, MXP_VERSION);
    if (hdr->flags & ~MXP_FLAGS_KNOWN)
        return fail(MIXUP_EPROTO, err, errlen,
                    "header flags 0x%08x set (version %u defines 0x%x)",
                    hdr->flags, MXP_VERSION, MXP_FLAGS_KNOWN);
    if (lim && lim->max_message && len > lim->max_message)
        return fail(MIXUP_ETOOBIG, err, errlen,
                    "message of %zu bytes exceeds the limit of %u bytes", len,
                    lim->max_message);
    if ((size_t)hdr->body_len != len - MXP_HEADER_SIZE)
        return fail(MIXUP_EPROTO, err, errlen,
                    "header body_len %u but %zu body bytes received",
                    hdr->body_len, len - MXP_HEADER_SIZE);
    return 0;
}

/* Strip the trailers the header's flags announce: @core gets the header
 * with the body_len of the message's own body. */
static int strip_trailers(const uint8_t *buf, const mxp_header *hdr,
                          mxp_header *core, const uint8_t **auth,
                          const uint8_t **stream_key, char *err,
                          size_t errlen)
{
    *core = *hdr;
    if (hdr->flags & MXP_FLAG_AUTH) {
        if (core->body_len < MXP_AUTH_TRAILER)
            return fail(MIXUP_EPROTO, err, errlen,
                        "%s body of %u bytes cannot hold the %u-byte proof "
                        "its flags announce", mxp_type_name(hdr->type),
                        hdr->body_len, MXP_AUTH_TRAILER);
        core->body_len -= MXP_AUTH_TRAILER;
        if (auth)
            *auth = buf + MXP_HEADER_SIZE + core->body_len;
    }
    if (hdr->flags & MXP_FLAG_STREAM_KEY) {
        if (core->body_len < MXP_STREAM_KEY_SIZE)
            return fail(MIXUP_EPROTO, err, errlen,
                        "%s body of %u bytes cannot hold the %u-byte stream "
                        "key its flags announce", mxp_type_name(hdr->type),
                        hdr->body_len, MXP_STREAM_KEY_SIZE);
        core->body_len -= MXP_STREAM_KEY_SIZE;
        *stream_key = buf + MXP_HEADER_SIZE + core->body_len;
    }
    return 0;
}

int mxp_append_trailer(uint8_t *buf, size_t cap, size_t len, uint32_t flag,
                       const uint8_t *bytes)
{
    if (len < MXP_HEADER_SIZE || len != mxp_message_size(buf))
        return MIXUP_EINVAL;
    uint32_t flags = get_u32(buf + 8);
    size_t n = flag == MXP_FLAG_AUTH         ? MXP_AUTH_TRAILER
               : flag == MXP_FLAG_STREAM_KEY ? MXP_STREAM_KEY_SIZE
                                             : 0;
    if (!n || (flags & flag) ||
        (flag == MXP_FLAG_STREAM_KEY && (flags & MXP_FLAG_AUTH)) ||
        cap < len || cap - len < n || len - MXP_HEADER_SIZE + n > UINT32_MAX)
        return MIXUP_EINVAL;
    memcpy(buf + len, bytes, n);
    put_u32(buf + 8, flags | flag);
    put_u32(buf + 20, (uint32_t)(len - MXP_HEADER_SIZE + n));
    return (int)(len + n);
}

int mxp_secret_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    volatile uint8_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (uint8_t)(a[i] ^ b[i]);
    return diff == 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int mxp_token_parse(const char *text, size_t len,
                    uint8_t out[MXP_TOKEN_SIZE], char *err, size_t errlen)
{
    size_t digits = 0;
    while (digits < len && hex_value(text[digits]) >= 0)
        digits++;
    size_t rest = digits;
    while (rest < len && (text[rest] == ' ' || text[rest] == '\t' ||
                          text[rest] == '\n' || text[rest] == '\r'))
        rest++;
    if (digits != 2 * MXP_TOKEN_SIZE || rest != len)
        return fail(MIXUP_EINVAL, err, errlen,
                    "expected %u hex digits and nothing else, found %zu "
                    "digits%s (make one with: openssl rand -hex %u)",
                    2 * MXP_TOKEN_SIZE, digits,
                    rest != len ? " then other bytes" : "", MXP_TOKEN_SIZE);
    for (size_t i = 0; i < MXP_TOKEN_SIZE; i++)
        out[i] = (uint8_t)(hex_value(text[2 * i]) << 4 |
                           hex_value(text[2 * i + 1]));
    return 0;
}

/* A version mismatch seen by the daemon (@from_client) or by a client:
 * say which side to upgrade. */
static int version_error(const mxp_header *hdr, int from_client, char *err,
                         size_t errlen)
{
    int peer_older = hdr->version < MXP_VERSION;
    const char *what = (peer_older == from_client) ? "the client library"
                                                   : "the daemon";
    return fail(MIXUP_EVERSION, err, errlen,
                "peer speaks mixupd protocol %u, this build speaks %u: "
                "upgrade %s", hdr->version, MXP_VERSION, what);
}

static int want_body(const mxp_header *hdr, uint32_t expected, char *err,
                     size_t errlen)
{
    if (hdr->body_len != expected)
        return fail(MIXUP_EPROTO, err, errlen,
                    "%s body of %u bytes (expected %u)",
                    mxp_type_name(hdr->type), hdr->body_len, expected);
    return 0;
}

static int decode_next(const uint8_t *b, const mxp_header *hdr,
                       mxp_next_req *n, char *err, size_t errlen)
{
    if (hdr->body_len < MXP_NEXT_FIXED)
        return fail(MIXUP_EPROTO, err, errlen,
                    "NEXT body of %u bytes is shorter than its %u fixed bytes",
                    hdr->body_len, MXP_NEXT_FIXED);
    n->stream_id = get_u64(b);
    n->flags = get_u32(b + 8);
    n->n_release = get_u32(b + 12);
    if (n->flags & ~MXP_NEXT_FLAGS_KNOWN)
        return fail(MIXUP_EPROTO, err, errlen,
                    "NEXT flags 0x%x not understood (known: 0x%x)", n->flags,
                    MXP_NEXT_FLAGS_KNOWN);
    if (n->n_release > MXP_RELEASE_MAX)
        return fail(MIXUP_EPROTO, err, errlen,
                    "NEXT releases %u slots (at most %u)", n->n_release,
                    MXP_RELEASE_MAX);
    if (hdr->body_len != MXP_NEXT_FIXED + 8u * n->n_release)
        return fail(MIXUP_EPROTO, err, errlen,
                    "NEXT body of %u bytes but n_release %u needs %u",
                    hdr->body_len, n->n_release,
                    MXP_NEXT_FIXED + 8u * n->n_release);
    n->release = b + MXP_NEXT_FIXED;
    return 0;
}

void mxp_next_release_at(const mxp_next_req *n, uint32_t i, uint32_t *slot,
                         uint32_t *generation)
{
    *slot = get_u32(n->release + 8u * (size_t)i);
    *generation = get_u32(n->release + 8u * (size_t)i + 4);
}

static int pipeline_char_ok(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

/* A pipeline name of a request or reply: @len bytes at @name. */
static int check_pipeline(const char *what, const char *name, size_t len,
                          char *err, size_t errlen)
{
    if (len > MXP_PIPELINE_MAX)
        return fail(MIXUP_EPROTO, err, errlen,
                    "%s pipeline name of %zu bytes (at most %u)", what, len,
                    MXP_PIPELINE_MAX);
    for (size_t i = 0; i < len; i++)
        if (!pipeline_char_ok(name[i]))
            return fail(MIXUP_EPROTO, err, errlen,
                        "%s pipeline name byte %zu is not one of A-Z a-z "
                        "0-9 _ -", what, i);
    return 0;
}

static int decode_open(const uint8_t *b, const mxp_header *hdr,
                       mxp_open_req *o, char *err, size_t errlen)
{
    if (hdr->body_len < MXP_OPEN_FIXED)
        return fail(MIXUP_EPROTO, err, errlen,
                    "OPEN body of %u bytes is shorter than its %u fixed bytes",
                    hdr->body_len, MXP_OPEN_FIXED);
    o->mode = get_u32(b);
    o->prefetch = get_u32(b + 4);
    o->seed = get_u64(b + 8);
    o->start_epoch = get_u64(b + 16);
    o->start_batch = get_u64(b + 24);
    o->rank = get_u32(b + 32);
    o->world = get_u32(b + 36);
    o->job_len = get_u16(b + 40);
    o->pipeline_len = get_u16(b + 42);
    o->stride = get_u16(b + 44);
    o->offset = get_u16(b + 46);
    memcpy(o->nonce, b + 48, MXP_NONCE_SIZE);
    if (o->offset >= (o->stride ? o->stride : 1))
        return fail(MIXUP_EPROTO, err, errlen,
                    "OPEN offset %u with stride %u (expected offset < "
                    "stride, or 0 without striping)", o->offset, o->stride);
    if (o->mode > MIXUP_MODE_SHARED)
        return fail(MIXUP_EPROTO, err, errlen,
                    "OPEN mode %u unknown (0 independent, 1 sharded, 2 shared)",
                    o->mode);
    if (o->job_len > MXP_JOB_MAX)
        return fail(MIXUP_EPROTO, err, errlen,
                    "OPEN job name of %u bytes (at most %u)", o->job_len,
                    MXP_JOB_MAX);
    if (o->pipeline_len > MXP_PIPELINE_MAX)
        return fail(MIXUP_EPROTO, err, errlen,
                    "OPEN pipeline name of %u bytes (at most %u)",
                    o->pipeline_len, MXP_PIPELINE_MAX);
    uint32_t need = MXP_OPEN_FIXED + (uint32_t)o->job_len + o->pipeline_len;
    if (hdr->body_len != need)
        return fail(MIXUP_EPROTO, err, errlen,
                    "OPEN body of %u bytes but job_len %u and pipeline_len "
                    "%u need %u", hdr->body_len, o->job_len, o->pipeline_len,
                    need);
    o->job = (const char *)b + MXP_OPEN_FIXED;
    o->pipeline = o->job + o->job_len;
    int rc = check_pipeline("OPEN", o->pipeline, o->pipeline_len, err, errlen);
    if (rc < 0)
        return rc;
    /* No quotes or backslashes either: names appear in JSON stats. */
    for (uint16_t i = 0; i < o->job_len; i++)
        if (o->job[i] < 0x21 || o->job[i] > 0x7e || o->job[i] == '"' ||
            o->job[i] == '\\')
            return fail(MIXUP_EPROTO, err, errlen,
                        "OPEN job name byte %u is not printable ASCII "
                        "(no spaces, quotes or backslashes)", i);
    return 0;
}

int mxp_request_decode(const uint8_t *buf, size_t len, const mxp_limits *lim,
                       mxp_request *req, char *err, size_t errlen)
{
    memset(req, 0, sizeof *req);
    int rc = mxp_header_decode(buf, len, lim, &req->hdr, err, errlen);
    if (rc == MIXUP_EVERSION)
        return version_error(&req->hdr, 1, err, errlen);
    if (rc < 0)
        return rc;
    mxp_header core;
    if ((rc = strip_trailers(buf, &req->hdr, &core, &req->auth,
                             &req->stream_key, err, errlen)) < 0)
        return rc;
    const uint8_t *b = buf + MXP_HEADER_SIZE;
    switch (req->hdr.type) {
    case MXP_INFO_REQ:
        req->u.info.pipeline_len = (uint16_t)(core.body_len <= MXP_PIPELINE_MAX
                                                  ? core.body_len
                                                  : 0);
        req->u.info.pipeline = (const char *)b;
        return check_pipeline("INFO", (const char *)b, core.body_len,
                              err, errlen);
    case MXP_OPEN_REQ:
        return decode_open(b, &core, &req->u.open, err, errlen);
    case MXP_NEXT_REQ:
        return decode_next(b, &core, &req->u.next, err, errlen);
    case MXP_CLOSE_REQ:
        if ((rc = want_body(&core, 8, err, errlen)) < 0)
            return rc;
        req->u.stream_id = get_u64(b);
        return 0;
    case MXP_HELLO_REQ:
        if ((rc = want_body(&core, MXP_NONCE_SIZE, err, errlen)) < 0)
            return rc;
        if (req->hdr.flags)
            return fail(MIXUP_EPROTO, err, errlen,
                        "HELLO with header flags 0x%x (it carries none)",
                        req->hdr.flags);
        req->u.hello_nonce = b;
        return 0;
    case MXP_STATS_REQ:
        if ((rc = want_body(&core, 4, err, errlen)) < 0)
            return rc;
        req->u.stats_format = get_u32(b);
        if (req->u.stats_format > MXP_STATS_TEXT)
            return fail(MIXUP_EPROTO, err, errlen,
                        "STATS format %u unknown (0 json, 1 text)",
                        req->u.stats_format);
        return 0;
    default:
        return fail(MIXUP_EPROTO, err, errlen,
                    "message type 0x%x is not a request", req->hdr.type);
    }
}

static int decode_batch(const uint8_t *b, const mxp_header *hdr,
                        mxp_batch_rep *r, char *err, size_t errlen)
{
    if (hdr->body_len < MXP_BATCH_FIXED)
        return fail(MIXUP_EPROTO, err, errlen,
                    "BATCH body of %u bytes is shorter than its %u fixed bytes",
                    hdr->body_len, MXP_BATCH_FIXED);
    r->epoch = get_u64(b);
    r->index = get_u64(b + 8);
    r->stream_id = get_u64(b + 16);
    r->shape.size = get_u32(b + 24);
    r->shape.height = get_u32(b + 28);
    r->shape.width = get_u32(b + 32);
    r->shape.channels = get_u32(b + 36);
    r->shape.classes = get_u32(b + 40);
    r->shape.dtype = get_u32(b + 44);
    r->shape.layout = get_u32(b + 48);
    r->shape.flags = get_u32(b + 52);
    if (r->shape.dtype < MIXUP_FLOAT32 || r->shape.dtype > MIXUP_BFLOAT16 ||
        r->shape.layout > MIXUP_NCHW)
        return fail(MIXUP_EPROTO, err, errlen,
                    "BATCH dtype %u / layout %u not understood",
                    r->shape.dtype, r->shape.layout);
    if ((r->shape.flags & ~MXP_BATCH_FLAGS_KNOWN) ||
        ((r->shape.flags & MXP_BATCH_AUG2) && !(r->shape.flags & MXP_BATCH_AUG)))
        return fail(MIXUP_EPROTO, err, errlen,
                    "BATCH section flags 0x%x not understood", r->shape.flags);
    r->seq = get_u64(b + 56); /* v3; reserved (zero) before */
    int rc = mxp_batch_layout_compute(&r->shape, &r->layout);
    if (rc < 0)
        return fail(MIXUP_EPROTO, err, errlen,
                    "BATCH shape %ux%ux%ux%u, %u classes is not valid",
                    r->shape.size, r->shape.height, r->shape.width,
                    r->shape.channels, r->shape.classes);
    if (r->layout.total != (size_t)MXP_HEADER_SIZE + hdr->body_len)
        return fail(MIXUP_EPROTO, err, errlen,
                    "BATCH of %u body bytes but its shape needs %zu",
                    hdr->body_len, r->layout.total - MXP_HEADER_SIZE);
    return 0;
}

/* A ring name: "" or '/' then printable ASCII without '/' or spaces,
 * NUL-padded to MXP_RING_NAME_MAX with at least one NUL. Return the
 * offending byte's index, or -1 when the name is good. */
static int bad_ring_name(const uint8_t *name)
{
    size_t n = 0;
    while (n < MXP_RING_NAME_MAX && name[n])
        n++;
    if (n == MXP_RING_NAME_MAX)
        return (int)n - 1; /* no NUL */
    for (size_t i = n; i < MXP_RING_NAME_MAX; i++)
        if (name[i])
            return (int)i;
    if (n && name[0] != '/')
        return 0;
    for (size_t i = 1; i < n; i++)
        if (name[i] < 0x21 || name[i] > 0x7e || name[i] == '/')
            return (int)i;
    return -1;
}

static int decode_open_rep(const uint8_t *b, mxp_open_rep *o, char *err,
                           size_t errlen)
{
    o->stream_id = get_u64(b);
    o->batches_per_epoch = get_u64(b + 8);
    o->stream_per_epoch = get_u64(b + 16);
    o->start_epoch = get_u64(b + 24);
    o->start_batch = get_u64(b + 32);
    int bad = bad_ring_name(b + 40);
    if (bad >= 0)
        return fail(MIXUP_EPROTO, err, errlen,
                    "OPEN reply ring_name byte %d is 0x%02x (expected \"\" or "
                    "\"/name\": printable ASCII, no other '/', NUL-padded)",
                    bad, b[40 + bad]);
    memcpy(o->ring_name, b + 40, MXP_RING_NAME_MAX);
    memcpy(o->ring_token, b + 104, MXP_RING_TOKEN);
    o->ring_bytes = get_u64(b + 120);
    o->max_held = get_u32(b + 128);
    if (get_u32(b + 132))
        return fail(MIXUP_EPROTO, err, errlen,
                    "OPEN reply reserved bytes 132..135 must be zero");
    o->dataset_digest = get_u64(b + 136);
    o->settings_digest = get_u64(b + 144);
    return 0;
}

/* Where a BATCH_REF may point, the ring aside: a page-aligned message
 * past the ring's first page, at least a batch reply's fixed part, below
 * 4 GiB, not wrapping around. */
static int check_ref_extent(const mxp_batch_ref *r, char *err, size_t errlen)
{
    if (r->offset == 0 || r->offset % MXP_RING_PAGE)
        return fail(MIXUP_EPROTO, err, errlen,
                    "BATCH_REF offset %llu is not a page-aligned slot start",
                    (unsigned long long)r->offset);
    if (r->size < MXP_HEADER_SIZE + MXP_BATCH_FIXED || r->size > UINT32_MAX ||
        r->offset > UINT64_MAX - r->size)
        return fail(MIXUP_EPROTO, err, errlen,
                    "BATCH_REF size %llu out of range (%u to %u bytes)",
                    (unsigned long long)r->size,
                    MXP_HEADER_SIZE + MXP_BATCH_FIXED, UINT32_MAX);
    return 0;
}

static int decode_batch_ref(const uint8_t *b, mxp_batch_ref *r, char *err,
                            size_t errlen)
{
    r->slot = get_u32(b);
    r->generation = get_u32(b + 4);
    r->offset = get_u64(b + 8);
    r->size = get_u64(b + 16);
    r->stream_id = get_u64(b + 24);
    r->epoch = get_u64(b + 32);
    r->index = get_u64(b + 40);
    return check_ref_extent(r, err, errlen);
}

/* The INFO reply's flags and names (after v1's 48 bytes). */
static int decode_info_tail(const uint8_t *b, const mxp_header *hdr,
                            mxp_info_rep *i, char *err, size_t errlen)
{
    i->flags = get_u32(b + 48);
    i->pipeline_len = get_u16(b + 52);
    i->pipelines_len = get_u16(b + 54);
    i->dataset_digest = get_u64(b + 56);
    i->settings_digest = get_u64(b + 64);
    if (i->flags & ~MXP_INFO_FLAGS_KNOWN)
        return fail(MIXUP_EPROTO, err, errlen,
                    "INFO reply flags 0x%x not understood (known: 0x%x)",
                    i->flags, MXP_INFO_FLAGS_KNOWN);
    if (i->pipelines_len > MXP_PIPELINE_LIST_MAX)
        return fail(MIXUP_EPROTO, err, errlen,
                    "INFO reply pipeline list of %u bytes (at most %u)",
                    i->pipelines_len, MXP_PIPELINE_LIST_MAX);
    uint32_t need = MXP_INFO_BODY + (uint32_t)i->pipeline_len + i->pipelines_len;
    if (hdr->body_len != need)
        return fail(MIXUP_EPROTO, err, errlen,
                    "INFO reply body of %u bytes but its names need %u",
                    hdr->body_len, need);
    i->pipeline = (const char *)b + MXP_INFO_BODY;
    i->pipelines = i->pipeline + i->pipeline_len;
    int rc = check_pipeline("INFO reply", i->pipeline, i->pipeline_len, err,
                            errlen);
    for (uint16_t k = 0; rc == 0 && k < i->pipelines_len; k++)
        if (!pipeline_char_ok(i->pipelines[k]) && i->pipelines[k] != ',')
            rc = fail(MIXUP_EPROTO, err, errlen,
                      "INFO reply pipeline list byte %u is not a name's or "
                      "','", k);
    return rc;
}

int mxp_reply_decode(const uint8_t *buf, size_t len, const mxp_limits *lim,
                     mxp_reply *rep, char *err, size_t errlen)
{
    memset(rep, 0, sizeof *rep);
    int rc = mxp_header_decode(buf, len, lim, &rep->hdr, err, errlen);
    if (rc == MIXUP_EVERSION)
        return version_error(&rep->hdr, 0, err, errlen);
    if (rc < 0)
        return rc;
    if (rep->hdr.flags & MXP_FLAG_AUTH)
        return fail(MIXUP_EPROTO, err, errlen,
                    "%s carries a proof (header flags 0x%x): only requests "
                    "do", mxp_type_name(rep->hdr.type), rep->hdr.flags);
    mxp_header core;
    if ((rc = strip_trailers(buf, &rep->hdr, &core, NULL, &rep->stream_key,
                             err, errlen)) < 0)
        return rc;
    const uint8_t *b = buf + MXP_HEADER_SIZE;
    switch (rep->hdr.type) {
    case MXP_INFO_REP: {
        if (core.body_len < MXP_INFO_BODY)
            return fail(MIXUP_EPROTO, err, errlen,
                        "INFO reply body of %u bytes is shorter than its %u "
                        "fixed bytes", core.body_len, MXP_INFO_BODY);
        mxp_info_rep *i = &rep->u.info;
        i->samples = get_u64(b);
        i->batches_per_epoch = get_u64(b + 8);
        i->height = get_u32(b + 16);
        i->width = get_u32(b + 20);
        i->channels = get_u32(b + 24);
        i->classes = get_u32(b + 28);
        i->batch_size = get_u32(b + 32);
        i->alpha = get_f32(b + 36);
        i->shuffle = get_u32(b + 40);
        i->source_dtype = get_u32(b + 44);
        return decode_info_tail(b, &core, i, err, errlen);
    }
    case MXP_OPEN_REP:
        if ((rc = want_body(&core, MXP_OPEN_REP_BODY, err, errlen)) < 0)
            return rc;
        return decode_open_rep(b, &rep->u.open, err, errlen);
    case MXP_BATCH_REF_REP:
        if ((rc = want_body(&core, MXP_BATCH_REF_BODY, err, errlen)) < 0)
            return rc;
        return decode_batch_ref(b, &rep->u.ref, err, errlen);
    case MXP_STATS_REP:
        if (core.body_len > MXP_STATS_MAX)
            return fail(MIXUP_EPROTO, err, errlen,
                        "STATS reply of %u bytes (at most %u)",
                        core.body_len, MXP_STATS_MAX);
        rep->u.stats.len = core.body_len;
        rep->u.stats.text = (const char *)b;
        return 0;
    case MXP_CLOSE_REP:
        return want_body(&core, 0, err, errlen);
    case MXP_HELLO_REP:
        if ((rc = want_body(&core, MXP_HELLO_REP_BODY, err, errlen)) < 0)
            return rc;
        if (rep->hdr.flags)
            return fail(MIXUP_EPROTO, err, errlen,
                        "HELLO reply with header flags 0x%x (it carries "
                        "none)", rep->hdr.flags);
        rep->u.hello.nonce = b;
        rep->u.hello.proof = b + MXP_NONCE_SIZE;
        return 0;
    case MXP_ERROR_REP:
        if (core.body_len < 8)
            return fail(MIXUP_EPROTO, err, errlen,
                        "ERROR body of %u bytes (at least 8)",
                        core.body_len);
        rep->u.error.code = (int32_t)get_u32(b);
        rep->u.error.msg_len = get_u32(b + 4);
        if (rep->u.error.msg_len > MXP_ERRMSG_MAX ||
            rep->u.error.msg_len != core.body_len - 8)
            return fail(MIXUP_EPROTO, err, errlen,
                        "ERROR message length %u does not fit its body of %u",
                        rep->u.error.msg_len, core.body_len);
        if (rep->u.error.code >= 0)
            return fail(MIXUP_EPROTO, err, errlen,
                        "ERROR code %d is not negative", rep->u.error.code);
        rep->u.error.msg = (const char *)b + 8;
        return 0;
    case MXP_BATCH_REP:
        return decode_batch(b, &core, &rep->u.batch, err, errlen);
    default:
        return fail(MIXUP_EPROTO, err, errlen,
                    "message type 0x%x is not a reply", rep->hdr.type);
    }
}

int mxp_encode_info_req(uint8_t *buf, size_t cap, uint64_t request_id,
                        const char *pipeline)
{
    size_t len = pipeline ? strlen(pipeline) : 0;
    if (cap < MXP_HEADER_SIZE + len ||
        check_pipeline("INFO", pipeline, len, NULL, 0) < 0)
        return MIXUP_EINVAL;
    mxp_header_encode(buf, MXP_INFO_REQ, request_id, (uint32_t)len);
    if (len)
        memcpy(buf + MXP_HEADER_SIZE, pipeline, len);
    return (int)(MXP_HEADER_SIZE + len);
}

int mxp_encode_open_req(uint8_t *buf, size_t cap, uint64_t request_id,
                        const mxp_open_req *o)
{
    size_t body = MXP_OPEN_FIXED + (size_t)o->job_len + o->pipeline_len;
    if (o->job_len > MXP_JOB_MAX || (o->job_len && !o->job) ||
        o->offset >= (o->stride ? o->stride : 1) ||
        (o->pipeline_len && !o->pipeline) || cap < MXP_HEADER_SIZE + body ||
        check_pipeline("OPEN", o->pipeline, o->pipeline_len, NULL, 0) < 0)
        return MIXUP_EINVAL;
    mxp_header_encode(buf, MXP_OPEN_REQ, request_id, (uint32_t)body);
    uint8_t *b = buf + MXP_HEADER_SIZE;
    put_u32(b, o->mode);
    put_u32(b + 4, o->prefetch);
    put_u64(b + 8, o->seed);
    put_u64(b + 16, o->start_epoch);
    put_u64(b + 24, o->start_batch);
    put_u32(b + 32, o->rank);
    put_u32(b + 36, o->world);
    put_u16(b + 40, o->job_len);
    put_u16(b + 42, o->pipeline_len);
    put_u16(b + 44, o->stride);
    put_u16(b + 46, o->offset);
    memcpy(b + 48, o->nonce, MXP_NONCE_SIZE);
    if (o->job_len)
        memcpy(b + MXP_OPEN_FIXED, o->job, o->job_len);
    if (o->pipeline_len)
        memcpy(b + MXP_OPEN_FIXED + o->job_len, o->pipeline, o->pipeline_len);
    return (int)(MXP_HEADER_SIZE + body);
}


int mxp_encode_stats_req(uint8_t *buf, size_t cap, uint64_t request_id,
                         uint32_t format)
{
    if (cap < MXP_HEADER_SIZE + 4 || format > MXP_STATS_TEXT)
        return MIXUP_EINVAL;
    mxp_header_encode(buf, MXP_STATS_REQ, request_id, 4);
    put_u32(buf + MXP_HEADER_SIZE, format);
    return MXP_HEADER_SIZE + 4;
}

int mxp_encode_hello_req(uint8_t *buf, size_t cap, uint64_t request_id,
                         const uint8_t nonce[MXP_NONCE_SIZE])
{
    if (cap < MXP_HEADER_SIZE + MXP_NONCE_SIZE)
        return MIXUP_EINVAL;
    mxp_header_encode(buf, MXP_HELLO_REQ, request_id, MXP_NONCE_SIZE);
    memcpy(buf + MXP_HEADER_SIZE, nonce, MXP_NONCE_SIZE);
    return MXP_HEADER_SIZE + MXP_NONCE_SIZE;
}

int mxp_encode_hello_rep(uint8_t *buf, size_t cap, uint64_t request_id,
                         const uint8_t nonce[MXP_NONCE_SIZE],
                         const uint8_t proof[MXP_MAC_SIZE])
{
    if (cap < MXP_HEADER_SIZE + MXP_HELLO_REP_BODY)
        return MIXUP_EINVAL;
    mxp_header_encode(buf, MXP_HELLO_REP, request_id, MXP_HELLO_REP_BODY);
    memcpy(buf + MXP_HEADER_SIZE, nonce, MXP_NONCE_SIZE);
    memcpy(buf + MXP_HEADER_SIZE + MXP_NONCE_SIZE, proof, MXP_MAC_SIZE);
    return MXP_HEADER_SIZE + MXP_HELLO_REP_BODY;
}

size_t mxp_next_req_size(uint32_t n_release)
{
    return MXP_HEADER_SIZE + MXP_NEXT_FIXED + 8u * (size_t)n_release;
}

int mxp_encode_next_req(uint8_t *buf, size_t cap, uint64_t request_id,
                        uint64_t stream_id, uint32_t flags,
                        const uint32_t *slots, const uint32_t *generations,
                        uint32_t n_release)
{
    size_t total = mxp_next_req_size(n_release);
    if (n_release > MXP_RELEASE_MAX || (flags & ~MXP_NEXT_FLAGS_KNOWN) ||
        (n_release && (!slots || !generations)) || cap < total)
        return MIXUP_EINVAL;
    mxp_header_encode(buf, MXP_NEXT_REQ, request_id,
                      (uint32_t)(total - MXP_HEADER_SIZE));
    uint8_t *b = buf + MXP_HEADER_SIZE;
    put_u64(b, stream_id);
    put_u32(b + 8, flags);
    put_u32(b + 12, n_release);
    for (uint32_t i = 0; i < n_release; i++) {
        put_u32(b + MXP_NEXT_FIXED + 8u * i, slots[i]);
        put_u32(b + MXP_NEXT_FIXED + 8u * i + 4, generations[i]);
    }
    return (int)total;
}

int mxp_encode_close_req(uint8_t *buf, size_t cap, uint64_t request_id,
                         uint64_t stream_id)
{
    if (cap < MXP_HEADER_SIZE + 8)
        return MIXUP_EINVAL;
    mxp_header_encode(buf, MXP_CLOSE_REQ, request_id, 8);
    put_u64(buf + MXP_HEADER_SIZE, stream_id);
    return MXP_HEADER_SIZE + 8;
}

int mxp_encode_info_rep(uint8_t *buf, size_t cap, uint64_t request_id,
                        const mxp_info_rep *i)
{
    size_t body = MXP_INFO_BODY + (size_t)i->pipeline_len + i->pipelines_len;
    if (cap < MXP_HEADER_SIZE + body || (i->flags & ~MXP_INFO_FLAGS_KNOWN) ||
        i->pipelines_len > MXP_PIPELINE_LIST_MAX ||
        (i->pipeline_len && !i->pipeline) ||
        (i->pipelines_len && !i->pipelines) ||
        check_pipeline("INFO", i->pipeline, i->pipeline_len, NULL, 0) < 0)
        return MIXUP_EINVAL;
    mxp_header_encode(buf, MXP_INFO_REP, request_id, (uint32_t)body);
    uint8_t *b = buf + MXP_HEADER_SIZE;
    put_u64(b, i->samples);
    put_u64(b + 8, i->batches_per_epoch);
    put_u32(b + 16, i->height);
    put_u32(b + 20, i->width);
    put_u32(b + 24, i->channels);
    put_u32(b + 28, i->classes);
    put_u32(b + 32, i->batch_size);
    put_f32(b + 36, i->alpha);
    put_u32(b + 40, i->shuffle);
    put_u32(b + 44, i->source_dtype);
    put_u32(b + 48, i->flags);
    put_u16(b + 52, i->pipeline_len);
    put_u16(b + 54, i->pipelines_len);
    put_u64(b + 56, i->dataset_digest);
    put_u64(b + 64, i->settings_digest);
    if (i->pipeline_len)
        memcpy(b + MXP_INFO_BODY, i->pipeline, i->pipeline_len);
    if (i->pipelines_len)
        memcpy(b + MXP_INFO_BODY + i->pipeline_len, i->pipelines,
               i->pipelines_len);
    return (int)(MXP_HEADER_SIZE + body);
}

int mxp_encode_open_rep(uint8_t *buf, size_t cap, uint64_t request_id,
                        const mxp_open_rep *o)
{
    if (cap < MXP_HEADER_SIZE + MXP_OPEN_REP_BODY ||
        bad_ring_name((const uint8_t *)o->ring_name) >= 0)
        return MIXUP_EINVAL;
    mxp_header_encode(buf, MXP_OPEN_REP, request_id, MXP_OPEN_REP_BODY);
    uint8_t *b = buf + MXP_HEADER_SIZE;
    put_u64(b, o->stream_id);
    put_u64(b + 8, o->batches_per_epoch);
    put_u64(b + 16, o->stream_per_epoch);
    put_u64(b + 24, o->start_epoch);
    put_u64(b + 32, o->start_batch);
    memcpy(b + 40, o->ring_name, MXP_RING_NAME_MAX);
    memcpy(b + 104, o->ring_token, MXP_RING_TOKEN);
    put_u64(b + 120, o->ring_bytes);
    put_u32(b + 128, o->max_held);
    put_u32(b + 132, 0);
    put_u64(b + 136, o->dataset_digest);
    put_u64(b + 144, o->settings_digest);
    return MXP_HEADER_SIZE + MXP_OPEN_REP_BODY;
}

int mxp_encode_batch_ref_rep(uint8_t *buf, size_t cap, uint64_t request_id,
                             const mxp_batch_ref *r)
{
    if (cap < MXP_HEADER_SIZE + MXP_BATCH_REF_BODY ||
        check_ref_extent(r, NULL, 0) < 0)
        return MIXUP_EINVAL;
    mxp_header_encode(buf, MXP_BATCH_REF_REP, request_id, MXP_BATCH_REF_BODY);
    uint8_t *b = buf + MXP_HEADER_SIZE;
    put_u32(b, r->slot);
    put_u32(b + 4, r->generation);
    put_u64(b + 8, r->offset);
    put_u64(b + 16, r->size);
    put_u64(b + 24, r->stream_id);
    put_u64(b + 32, r->epoch);
    put_u64(b + 40, r->index);
    return MXP_HEADER_SIZE + MXP_BATCH_REF_BODY;
}

int mxp_encode_stats_rep(uint8_t *buf, size_t cap, uint64_t request_id,
                         const char *text, uint32_t len)
{
    if (len > MXP_STATS_MAX || cap < MXP_HEADER_SIZE + (size_t)len)
        return MIXUP_EINVAL;
    mxp_header_encode(buf, MXP_STATS_REP, request_id, len);
    if (len)
        memcpy(buf + MXP_HEADER_SIZE, text, len);
    return (int)(MXP_HEADER_SIZE + len);
}

int mxp_encode_close_rep(uint8_t *buf, size_t cap, uint64_t request_id)
{
    if (cap < MXP_HEADER_SIZE)
        return MIXUP_EINVAL;
    mxp_header_encode(buf, MXP_CLOSE_REP, request_id, 0);
    return MXP_HEADER_SIZE;
}

size_t mxp_error_rep_size(const char *msg)
{
    size_t n = msg ? strlen(msg) : 0;
    if (n > MXP_ERRMSG_MAX)
        n = MXP_ERRMSG_MAX;
    return MXP_HEADER_SIZE + 8 + n;
}

int mxp_encode_error_rep(uint8_t *buf, size_t cap, uint64_t request_id,
                         int32_t code, const char *msg)
{
    size_t total = mxp_error_rep_size(msg);
    if (cap < total || code >= 0)
        return MIXUP_EINVAL;
    uint32_t n = (uint32_t)(total - MXP_HEADER_SIZE - 8);
    mxp_header_encode(buf, MXP_ERROR_REP, request_id, 8 + n);
    put_u32(buf + MXP_HEADER_SIZE, (uint32_t)code);
    put_u32(buf + MXP_HEADER_SIZE + 4, n);
    if (n)
        memcpy(buf + MXP_HEADER_SIZE + 8, msg, n);
    return (int)total;
}
