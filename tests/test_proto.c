/*
 * test_proto.c — the wire format: byte layout of the header, round trips
 * of every message type, and rejection of every malformed field with the
 * right code and a message that names the field.
 *
 * Messages are built with the encoders and then damaged byte by byte, so
 * each rejection test changes exactly one thing in a valid message.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "mixup.h"
#include "proto.h"

/* mixup_aug as version 1 put it on the wire (a host struct); the public
 * mixup_aug keeps this layout, the wire record is now written by
 * mxp_aug_encode(). */
typedef struct mixup_aug_v1_layout_ {
    uint8_t mix_kind, flip, erase_fill, reserved0;
    float shift_dy, shift_dx;
    uint32_t crop_y, crop_x;
    uint32_t erase_y, erase_x, erase_h, erase_w;
    float erase_value[4];
    uint32_t reserved1;
    uint64_t erase_noise_seed;
    uint32_t cutmix_y0, cutmix_y1, cutmix_x0, cutmix_x1;
    uint32_t reserved2[4];
} mixup_aug_v1_layout_;

static const mxp_limits LIM = {.max_message = 4096};

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A NEXT without flags or releases: 40 bytes. */
static int next0(uint8_t *buf, size_t cap, uint64_t id, uint64_t stream_id)
{
    return mxp_encode_next_req(buf, cap, id, stream_id, 0, NULL, NULL, 0);
}

/* Decode @buf as a request; expect @code and @needle in the message. */
static void req_fails(const uint8_t *buf, size_t len, const mxp_limits *lim,
                      int code, const char *needle)
{
    mxp_request req;
    char err[256];
    memset(err, 0x5a, sizeof err);
    int rc = mxp_request_decode(buf, len, lim, &req, err, sizeof err);
    cr_assert(memchr(err, 0, sizeof err), "error message not terminated");
    cr_assert_eq(rc, code, "request of %zu bytes: rc %d, want %d (%s)", len,
                 rc, code, err);
    cr_assert(strstr(err, needle), "error \"%s\" does not mention \"%s\"", err,
              needle);
}

static void rep_fails(const uint8_t *buf, size_t len, const mxp_limits *lim,
                      int code, const char *needle)
{
    mxp_reply rep;
    char err[256];
    memset(err, 0x5a, sizeof err);
    int rc = mxp_reply_decode(buf, len, lim, &rep, err, sizeof err);
    cr_assert(memchr(err, 0, sizeof err), "error message not terminated");
    cr_assert_eq(rc, code, "reply of %zu bytes: rc %d, want %d (%s)", len, rc,
                 code, err);
    cr_assert(strstr(err, needle), "error \"%s\" does not mention \"%s\"", err,
              needle);
}

static void req_ok(const uint8_t *buf, size_t len, mxp_request *req)
{
    char err[256] = "";
    int rc = mxp_request_decode(buf, len, &LIM, req, err, sizeof err);
    cr_assert_eq(rc, 0, "request rejected: %d %s", rc, err);
}

static void rep_ok(const uint8_t *buf, size_t len, mxp_reply *rep)
{
    char err[256] = "";
    int rc = mxp_reply_decode(buf, len, NULL, rep, err, sizeof err);
    cr_assert_eq(rc, 0, "reply rejected: %d %s", rc, err);
}

static void check_header(const mxp_header *h, uint16_t type, uint64_t id,
                         uint32_t body_len)
{
    cr_assert_eq(h->magic, MXP_MAGIC);
    cr_assert_eq(h->version, MXP_VERSION);
    cr_assert_eq(h->type, type);
    cr_assert_eq(h->flags, 0u);
    cr_assert_eq(h->request_id, id);
    cr_assert_eq(h->body_len, body_len);
}

static uint32_t float_bits(float f)
{
    uint32_t v;
    memcpy(&v, &f, sizeof v);
    return v;
}

/* ------------------------------------------------------------ header */

Test(proto, header_bytes_are_little_endian)
{
    static const uint8_t want[48] = {
        'M',  'I',  'X',  'P',                          /* magic */
        0x03, 0x00,                                     /* version 3 */
        0x03, 0x00,                                     /* NEXT */
        0x00, 0x00, 0x00, 0x00,                         /* flags */
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* request id */
        0x18, 0x00, 0x00, 0x00,                         /* body_len */
        0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, /* stream id */
        0x01, 0x00, 0x00, 0x00,                         /* NEXT flags */
        0x01, 0x00, 0x00, 0x00,                         /* n_release */
        0x04, 0x03, 0x02, 0x01,                         /* slot */
        0xfe, 0xff, 0xff, 0xff,                         /* generation */
    };
    uint8_t buf[56];
    memset(buf, 0xee, sizeof buf);
    const uint32_t slot = 0x01020304u, gen = 0xfffffffeu;
    int n = mxp_encode_next_req(buf, sizeof buf, 0x0102030405060708ull,
                                0x1122334455667788ull, MXP_NEXT_REF, &slot,
                                &gen, 1);
    cr_assert_eq(n, 48);
    for (size_t i = 0; i < sizeof want; i++)
        cr_assert_eq(buf[i], want[i], "byte %zu: 0x%02x, want 0x%02x", i,
                     buf[i], want[i]);
    cr_assert_eq(buf[48], 0xee, "wrote past the message");

    mxp_header_encode(buf, MXP_ERROR_REP, 0, 0x01020304u);
    cr_assert_eq(buf[6], 0xff);
    cr_assert_eq(buf[7], 0x00);
    cr_assert_eq(buf[20], 0x04);
    cr_assert_eq(buf[21], 0x03);
    cr_assert_eq(buf[22], 0x02);
    cr_assert_eq(buf[23], 0x01);
    cr_assert_eq(MXP_HEADER_SIZE, 24u);
}

Test(proto, header_decode_reads_every_field)
{
    uint8_t buf[40];
    next0(buf, sizeof buf, 0xfedcba9876543210ull, 5);
    mxp_header h;
    char err[128] = "";
    cr_assert_eq(mxp_header_decode(buf, 40, &LIM, &h, err, sizeof err), 0, "%s",
                 err);
    check_header(&h, MXP_NEXT_REQ, 0xfedcba9876543210ull, 16);
}

Test(proto, set_request_id_patches_in_place)
{
    uint8_t buf[32];
    mxp_encode_close_req(buf, sizeof buf, 1, 77);
    mxp_set_request_id(buf, 0x8000000000000001ull);
    mxp_request req;
    req_ok(buf, 32, &req);
    check_header(&req.hdr, MXP_CLOSE_REQ, 0x8000000000000001ull, 8);
    cr_assert_eq(req.u.stream_id, 77u);
}

Test(proto, type_names)
{
    cr_assert_str_eq(mxp_type_name(MXP_INFO_REQ), "INFO");
    cr_assert_str_eq(mxp_type_name(MXP_OPEN_REQ), "OPEN");
    cr_assert_str_eq(mxp_type_name(MXP_NEXT_REQ), "NEXT");
    cr_assert_str_eq(mxp_type_name(MXP_CLOSE_REQ), "CLOSE");
    cr_assert_str_eq(mxp_type_name(MXP_BATCH_REP), "BATCH reply");
    cr_assert_str_eq(mxp_type_name(MXP_ERROR_REP), "ERROR reply");
    cr_assert_str_eq(mxp_type_name(0x1234), "unknown");
}

/* ------------------------------------------------- request round trips */

Test(proto, info_request_round_trip)
{
    uint8_t buf[MXP_HEADER_SIZE];
    cr_assert_eq(mxp_encode_info_req(buf, sizeof buf, 42, NULL), 24);
    mxp_request req;
    req_ok(buf, sizeof buf, &req);
    check_header(&req.hdr, MXP_INFO_REQ, 42, 0);
}

static const mxp_open_req OPEN_FULL = {
    .mode = MIXUP_MODE_SHARDED,
    .seed = 0x0123456789abcdefull,
    .start_epoch = 0xfffffffffffffffeull,
    .start_batch = 117,
    .rank = 3,
    .world = 8,
    .prefetch = 0xdeadbeefu,
    .stride = 0xfffe,
    .offset = 0xfffd,
    .nonce = {0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xaf},
};

static void check_open(const mxp_open_req *got, const mxp_open_req *want)
{
    cr_assert_eq(got->mode, want->mode);
    cr_assert_eq(got->seed, want->seed);
    cr_assert_eq(got->start_epoch, want->start_epoch);
    cr_assert_eq(got->start_batch, want->start_batch);
    cr_assert_eq(got->rank, want->rank);
    cr_assert_eq(got->world, want->world);
    cr_assert_eq(got->prefetch, want->prefetch);
    cr_assert_eq(got->job_len, want->job_len);
    cr_assert_eq(got->stride, want->stride);
    cr_assert_eq(got->offset, want->offset);
    cr_assert_eq(memcmp(got->nonce, want->nonce, MXP_NONCE_SIZE), 0);
}

Test(proto, open_request_round_trip_without_job)
{
    uint8_t buf[128];
    int n = mxp_encode_open_req(buf, sizeof buf, 7, &OPEN_FULL);
    cr_assert_eq(n, (int)(MXP_HEADER_SIZE + MXP_OPEN_FIXED));
    mxp_request req;
    req_ok(buf, (size_t)n, &req);
    check_header(&req.hdr, MXP_OPEN_REQ, 7, MXP_OPEN_FIXED);
    check_open(&req.u.open, &OPEN_FULL);
    cr_assert_eq(req.u.open.job_len, 0);
    cr_assert_eq(buf[MXP_HEADER_SIZE + 48], 0xa0, "the nonce at body byte 48");
    cr_assert_eq(buf[MXP_HEADER_SIZE + 63], 0xaf);
}

Test(proto, open_request_round_trip_with_job)
{
    static const char job[] = "resnet50-imagenet/run_7~a";
    mxp_open_req o = OPEN_FULL;
    o.mode = MIXUP_MODE_SHARED;
    o.job = job;
    o.job_len = (uint16_t)strlen(job);
    uint8_t buf[256];
    int n = mxp_encode_open_req(buf, sizeof buf, 8, &o);
    cr_assert_eq(n, (int)(MXP_HEADER_SIZE + MXP_OPEN_FIXED + strlen(job)));
    mxp_request req;
    req_ok(buf, (size_t)n, &req);
    check_header(&req.hdr, MXP_OPEN_REQ, 8, MXP_OPEN_FIXED + o.job_len);
    check_open(&req.u.open, &o);
    cr_assert_eq((const void *)req.u.open.job,
                 (const void *)(buf + MXP_HEADER_SIZE + MXP_OPEN_FIXED),
                 "job must point into the message");
    cr_assert_eq(memcmp(req.u.open.job, job, o.job_len), 0);

    /* The longest name: 64 bytes, every printable character class but
     * quotes and backslashes (names appear in JSON stats). */
    char longest[MXP_JOB_MAX];
    for (unsigned i = 0; i < MXP_JOB_MAX; i++) {
        longest[i] = (char)(0x21 + (i * 7) % 94);
        if (longest[i] == '"' || longest[i] == '\\')
            longest[i] = '_';
    }
    o.job = longest;
    o.job_len = MXP_JOB_MAX;
    n = mxp_encode_open_req(buf, sizeof buf, 9, &o);
    cr_assert_eq(n, (int)(MXP_HEADER_SIZE + MXP_OPEN_FIXED + MXP_JOB_MAX));
    req_ok(buf, (size_t)n, &req);
    cr_assert_eq(req.u.open.job_len, MXP_JOB_MAX);
    cr_assert_eq(memcmp(req.u.open.job, longest, MXP_JOB_MAX), 0);
}

Test(proto, next_and_close_request_round_trip)
{
    uint8_t buf[40];
    mxp_request req;
    cr_assert_eq(next0(buf, sizeof buf, 1, 0xa5a5a5a5a5a5a5a5ull), 40);
    req_ok(buf, 40, &req);
    check_header(&req.hdr, MXP_NEXT_REQ, 1, 16);
    cr_assert_eq(req.u.next.stream_id, 0xa5a5a5a5a5a5a5a5ull);
    cr_assert_eq(req.u.next.flags, 0u);
    cr_assert_eq(req.u.next.n_release, 0u);

    cr_assert_eq(mxp_encode_close_req(buf, sizeof buf, UINT64_MAX, 0), 32);
    req_ok(buf, 32, &req);
    check_header(&req.hdr, MXP_CLOSE_REQ, UINT64_MAX, 8);
    cr_assert_eq(req.u.stream_id, 0u);
}

Test(proto, stats_request_round_trip)
{
    uint8_t buf[MXP_HEADER_SIZE + 4];
    mxp_request req;
    for (uint32_t f = MXP_STATS_JSON; f <= MXP_STATS_TEXT; f++) {
        cr_assert_eq(mxp_encode_stats_req(buf, sizeof buf, 10 + f, f), 28);
        req_ok(buf, sizeof buf, &req);
        check_header(&req.hdr, MXP_STATS_REQ, 10 + f, 4);
        cr_assert_eq(req.u.stats_format, f);
    }
}

Test(proto, request_encoders_refuse_small_buffers_and_bad_arguments)
{
    uint8_t buf[256];
    mxp_open_req o = OPEN_FULL;
    cr_assert_eq(mxp_encode_info_req(buf, 23, 1, NULL), MIXUP_EINVAL);
    cr_assert_eq(next0(buf, 39, 1, 1), MIXUP_EINVAL);
    cr_assert_eq(mxp_encode_close_req(buf, 31, 1, 1), MIXUP_EINVAL);
    cr_assert_eq(mxp_encode_stats_req(buf, 27, 1, 0), MIXUP_EINVAL);
    cr_assert_eq(mxp_encode_stats_req(buf, sizeof buf, 1, 2), MIXUP_EINVAL);
    cr_assert_eq(mxp_encode_open_req(buf, 87, 1, &o), MIXUP_EINVAL);
    o.job = "abc";
    o.job_len = 3;
    cr_assert_eq(mxp_encode_open_req(buf, 90, 1, &o), MIXUP_EINVAL);
    cr_assert_eq(mxp_encode_open_req(buf, 91, 1, &o), 91);
    o.job = NULL;
    cr_assert_eq(mxp_encode_open_req(buf, sizeof buf, 1, &o), MIXUP_EINVAL);
    char big[MXP_JOB_MAX + 1];
    memset(big, 'j', sizeof big);
    o.job = big;
    o.job_len = MXP_JOB_MAX + 1;
    cr_assert_eq(mxp_encode_open_req(buf, sizeof buf, 1, &o), MIXUP_EINVAL);
}

/* --------------------------------------------------- reply round trips */

Test(proto, info_reply_round_trip)
{
    const mxp_info_rep info = {
        .samples = 60000,
        .batches_per_epoch = 234,
        .height = 28,
        .width = 29,
        .channels = 3,
        .classes = 10,
        .batch_size = 128,
        .alpha = 0.2f,
        .shuffle = 1,
        .source_dtype = 2,
        .dataset_digest = 0x8877665544332211ull,
        .settings_digest = 0x0102030405060708ull,
    };
    uint8_t buf[MXP_HEADER_SIZE + MXP_INFO_BODY];
    cr_assert_eq(mxp_encode_info_rep(buf, sizeof buf, 3, &info),
                 (int)sizeof buf);
    mxp_reply rep;
    rep_ok(buf, sizeof buf, &rep);
    check_header(&rep.hdr, MXP_INFO_REP, 3, MXP_INFO_BODY);
    const mxp_info_rep *i = &rep.u.info;
    cr_assert_eq(i->samples, 60000u);
    cr_assert_eq(i->batches_per_epoch, 234u);
    cr_assert_eq(i->height, 28u);
    cr_assert_eq(i->width, 29u);
    cr_assert_eq(i->channels, 3u);
    cr_assert_eq(i->classes, 10u);
    cr_assert_eq(i->batch_size, 128u);
    cr_assert_eq(float_bits(i->alpha), float_bits(0.2f));
    cr_assert_eq(i->shuffle, 1u);
    cr_assert_eq(i->source_dtype, 2u);
    cr_assert_eq(i->dataset_digest, 0x8877665544332211ull);
    cr_assert_eq(i->settings_digest, 0x0102030405060708ull);
}

Test(proto, open_reply_round_trip)
{
    const mxp_open_rep o = {
        .stream_id = 0x1122334455667788ull,
        .batches_per_epoch = 234,
        .stream_per_epoch = 29,
        .start_epoch = 4,
        .start_batch = UINT64_MAX,
        .dataset_digest = 0xa1a2a3a4a5a6a7a8ull,
        .settings_digest = UINT64_MAX,
    };
    uint8_t buf[MXP_HEADER_SIZE + MXP_OPEN_REP_BODY];
    cr_assert_eq(mxp_encode_open_rep(buf, sizeof buf, 4, &o), (int)sizeof buf);
    mxp_reply rep;
    rep_ok(buf, sizeof buf, &rep);
    check_header(&rep.hdr, MXP_OPEN_REP, 4, MXP_OPEN_REP_BODY);
    cr_assert_eq(rep.u.open.stream_id, o.stream_id);
    cr_assert_eq(rep.u.open.batches_per_epoch, o.batches_per_epoch);
    cr_assert_eq(rep.u.open.stream_per_epoch, o.stream_per_epoch);
    cr_assert_eq(rep.u.open.start_epoch, o.start_epoch);
    cr_assert_eq(rep.u.open.start_batch, o.start_batch);
    cr_assert_eq(rep.u.open.dataset_digest, o.dataset_digest);
    cr_assert_eq(rep.u.open.settings_digest, o.settings_digest);
}

Test(proto, close_reply_round_trip)
{
    uint8_t buf[MXP_HEADER_SIZE];
    cr_assert_eq(mxp_encode_close_rep(buf, sizeof buf, 5), 24);
    mxp_reply rep;
    rep_ok(buf, sizeof buf, &rep);
    check_header(&rep.hdr, MXP_CLOSE_REP, 5, 0);
}

Test(proto, error_reply_round_trip)
{
    static const char msg[] = "no stream 12 (restarted daemon?)";
    uint8_t buf[128];
    size_t size = mxp_error_rep_size(msg);
    cr_assert_eq(size, MXP_HEADER_SIZE + 8 + strlen(msg));
    cr_assert_eq(mxp_encode_error_rep(buf, sizeof buf, 6, MIXUP_ENOSTREAM, msg),
                 (int)size);
    mxp_reply rep;
    rep_ok(buf, size, &rep);
    check_header(&rep.hdr, MXP_ERROR_REP, 6, (uint32_t)(8 + strlen(msg)));
    cr_assert_eq(rep.u.error.code, MIXUP_ENOSTREAM);
    cr_assert_eq(rep.u.error.msg_len, strlen(msg));
    cr_assert_eq(memcmp(rep.u.error.msg, msg, strlen(msg)), 0);

    /* Without a message. */
    cr_assert_eq(mxp_encode_error_rep(buf, sizeof buf, 7, INT32_MIN, NULL), 32);
    rep_ok(buf, 32, &rep);
    cr_assert_eq(rep.u.error.code, INT32_MIN);
    cr_assert_eq(rep.u.error.msg_len, 0u);
}

Test(proto, stats_reply_round_trip)
{
    static const char text[] = "{\"requests\": 12, \"bad_requests\": 1}\n";
    uint8_t buf[128];
    size_t len = strlen(text);
    cr_assert_eq(mxp_encode_stats_rep(buf, sizeof buf, 9, text, (uint32_t)len),
                 (int)(MXP_HEADER_SIZE + len));
    mxp_reply rep;
    rep_ok(buf, MXP_HEADER_SIZE + len, &rep);
    check_header(&rep.hdr, MXP_STATS_REP, 9, (uint32_t)len);
    cr_assert_eq(rep.u.stats.len, len);
    cr_assert_eq(memcmp(rep.u.stats.text, text, len), 0);
    cr_assert_eq(mxp_encode_stats_rep(buf, sizeof buf, 9, NULL, 0), 24);
    rep_ok(buf, 24, &rep);
    cr_assert_eq(rep.u.stats.len, 0u);
}

Test(proto, reply_encoders_refuse_small_buffers_and_bad_arguments)
{
    uint8_t buf[256];
    const mxp_info_rep info = {.samples = 1};
    const mxp_open_rep open = {.stream_id = 1};
    cr_assert_eq(mxp_encode_info_rep(buf, 71, 1, &info), MIXUP_EINVAL);
    cr_assert_eq(mxp_encode_open_rep(buf, MXP_HEADER_SIZE + MXP_OPEN_REP_BODY - 1,
                                     1, &open),
                 MIXUP_EINVAL);
    cr_assert_eq(mxp_encode_close_rep(buf, 23, 1), MIXUP_EINVAL);
    cr_assert_eq(mxp_encode_error_rep(buf, 34, 1, -1, "abc"), MIXUP_EINVAL);
    cr_assert_eq(mxp_encode_error_rep(buf, sizeof buf, 1, 0, "abc"),
                 MIXUP_EINVAL);
    cr_assert_eq(mxp_encode_error_rep(buf, sizeof buf, 1, 5, "abc"),
                 MIXUP_EINVAL);
    cr_assert_eq(mxp_encode_stats_rep(buf, 26, 1, "abc", 3), MIXUP_EINVAL);
    cr_assert_eq(mxp_encode_stats_rep(buf, sizeof buf, 1, "abc",
                                      MXP_STATS_MAX + 1),
                 MIXUP_EINVAL);
}

/* A batch reply of @s in a malloc'd buffer; arrays filled with a pattern. */
static uint8_t *make_batch(const mxp_batch_shape *s, mxp_batch_layout *l,
                           uint64_t id)
{
    cr_assert_eq(mxp_batch_layout_compute(s, l), 0);
    uint8_t *buf = malloc(l->total);
    cr_assert(buf);
    memset(buf, 0x3c, l->total);
    mxp_encode_batch_head(buf, id, 11, 2, 9, s, l);
    return buf;
}

static const mxp_batch_shape SHAPE = {
    .size = 3, .height = 5, .width = 7, .channels = 3, .classes = 10,
    .dtype = MIXUP_FLOAT32, .layout = MIXUP_NHWC,
};

Test(proto, batch_reply_round_trip)
{
    mxp_batch_layout l;
    uint8_t *buf = make_batch(&SHAPE, &l, 12);
    int64_t i1[3] = {5, 6, 7}, i2[3] = {100, 200, -1};
    float lam[3] = {1.0f, 0.5f, 0.25f};
    memcpy(buf + l.index1, i1, sizeof i1);
    memcpy(buf + l.index2, i2, sizeof i2);
    memcpy(buf + l.lam, lam, sizeof lam);

    mxp_reply rep;
    rep_ok(buf, l.total, &rep);
    check_header(&rep.hdr, MXP_BATCH_REP, 12,
                 (uint32_t)(l.total - MXP_HEADER_SIZE));
    const mxp_batch_rep *b = &rep.u.batch;
    cr_assert_eq(b->epoch, 2u);
    cr_assert_eq(b->index, 9u);
    cr_assert_eq(b->stream_id, 11u);
    cr_assert_eq(b->shape.size, 3u);
    cr_assert_eq(b->shape.height, 5u);
    cr_assert_eq(b->shape.width, 7u);
    cr_assert_eq(b->shape.channels, 3u);
    cr_assert_eq(b->shape.classes, 10u);
    cr_assert_eq(b->shape.dtype, (uint32_t)MIXUP_FLOAT32);
    cr_assert_eq(b->shape.layout, (uint32_t)MIXUP_NHWC);
    cr_assert_eq(b->layout.index1, l.index1);
    cr_assert_eq(b->layout.index2, l.index2);
    cr_assert_eq(b->layout.lam, l.lam);
    cr_assert_eq(b->layout.x, l.x);
    cr_assert_eq(b->layout.y, l.y);
    cr_assert_eq(b->layout.total, l.total);
    for (int j = 0; j < 3; j++) {
        int64_t a, c;
        float f;
        memcpy(&a, buf + b->layout.index1 + 8 * j, 8);
        memcpy(&c, buf + b->layout.index2 + 8 * j, 8);
        memcpy(&f, buf + b->layout.lam + 4 * j, 4);
        cr_assert_eq(a, i1[j]);
        cr_assert_eq(c, i2[j]);
        cr_assert_eq(float_bits(f), float_bits(lam[j]));
    }

    /* A prepared batch gets the id of the request that takes it. */
    mxp_set_request_id(buf, 99);
    rep_ok(buf, l.total, &rep);
    cr_assert_eq(rep.hdr.request_id, 99u);
    free(buf);
}

Test(proto, batch_layout_is_aligned_ordered_and_tight)
{
    static const uint32_t shapes[][5] = {
        {1, 1, 1, 1, 1},     {3, 5, 7, 3, 10},   {128, 28, 28, 1, 10},
        {7, 32, 32, 3, 100}, {8, 1, 1, 1, 16},   {1, 224, 224, 3, 1000},
        {65, 3, 3, 1, 3},    {2, 1, 1, 3, 1},
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const mxp_batch_shape s = {shapes[k][0], shapes[k][1], shapes[k][2],
                                   shapes[k][3], shapes[k][4], MIXUP_FLOAT32,
                                   MIXUP_NHWC, 0};
        mxp_batch_layout l;
        cr_assert_eq(mxp_batch_layout_compute(&s, &l), 0, "shape %zu", k);
        size_t B = s.size, x_bytes = B * s.height * s.width * s.channels * 4;
        const size_t off[5] = {l.index1, l.index2, l.lam, l.x, l.y};
        for (int i = 0; i < 5; i++)
            cr_assert_eq(off[i] % MXP_ALIGN, 0u, "shape %zu array %d at %zu", k,
                         i, off[i]);
        cr_assert_geq(l.index1, (size_t)(MXP_HEADER_SIZE + MXP_BATCH_FIXED));
        /* Each array starts at the first aligned offset after the last. */
        cr_assert_eq(l.index1, 128u);
        cr_assert_eq(l.index2, (l.index1 + 8 * B + 63) / 64 * 64, "shape %zu", k);
        cr_assert_eq(l.lam, (l.index2 + 8 * B + 63) / 64 * 64, "shape %zu", k);
        cr_assert_eq(l.x, (l.lam + 4 * B + 63) / 64 * 64, "shape %zu", k);
        cr_assert_eq(l.y, (l.x + x_bytes + 63) / 64 * 64, "shape %zu", k);
        cr_assert_eq(l.total, l.y + B * s.classes * 4, "shape %zu", k);
    }
}

static int all_bytes(const uint8_t *p, size_t from, size_t to, uint8_t v)
{
    for (size_t i = from; i < to; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

Test(proto, batch_head_zeroes_padding_and_leaves_arrays)
{
    static const mxp_batch_shape shapes[] = {
        {3, 5, 7, 3, 10, MIXUP_FLOAT32, MIXUP_NHWC, 0},
        {1, 1, 1, 1, 1, MIXUP_FLOAT32, MIXUP_NHWC, 0},
        {5, 1, 3, 1, 3, MIXUP_FLOAT32, MIXUP_NHWC, 0},
    };
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        const mxp_batch_shape *s = &shapes[k];
        mxp_batch_layout l;
        cr_assert_eq(mxp_batch_layout_compute(s, &l), 0);
        uint8_t *buf = malloc(l.total);
        cr_assert(buf);
        memset(buf, 0xaa, l.total);
        mxp_encode_batch_head(buf, 1, 2, 3, 4, s, &l);
        size_t B = s->size;
        size_t x_end = l.x + B * s->height * s->width * s->channels * 4;
        /* Reserved bytes of the fixed part, then padding up to index1. */
        cr_assert(all_bytes(buf, MXP_HEADER_SIZE + 52, l.index1, 0),
                  "shape %zu: fixed part not zeroed", k);
        cr_assert(all_bytes(buf, l.index1 + 8 * B, l.index2, 0), "shape %zu", k);
        cr_assert(all_bytes(buf, l.index2 + 8 * B, l.lam, 0), "shape %zu", k);
        cr_assert(all_bytes(buf, l.lam + 4 * B, l.x, 0), "shape %zu", k);
        cr_assert(all_bytes(buf, x_end, l.y, 0), "shape %zu", k);
        /* The arrays belong to the worker that fills them. */
        cr_assert(all_bytes(buf, l.index1, l.index1 + 8 * B, 0xaa));
        cr_assert(all_bytes(buf, l.index2, l.index2 + 8 * B, 0xaa));
        cr_assert(all_bytes(buf, l.lam, l.lam + 4 * B, 0xaa));
        cr_assert(all_bytes(buf, l.x, x_end, 0xaa));
        cr_assert(all_bytes(buf, l.y, l.total, 0xaa));
        mxp_reply rep;
        rep_ok(buf, l.total, &rep);
        cr_assert_eq(rep.u.batch.epoch, 3u);
        cr_assert_eq(rep.u.batch.index, 4u);
        cr_assert_eq(rep.u.batch.stream_id, 2u);
        free(buf);
    }
}

Test(proto, error_rep_size_truncates_to_the_maximum)
{
    cr_assert_eq(mxp_error_rep_size(NULL), MXP_HEADER_SIZE + 8u);
    cr_assert_eq(mxp_error_rep_size(""), MXP_HEADER_SIZE + 8u);
    cr_assert_eq(mxp_error_rep_size("abc"), MXP_HEADER_SIZE + 8u + 3);
    char *msg = malloc(5001);
    cr_assert(msg);
    memset(msg, 'e', 5000);
    msg[5000] = 0;
    msg[MXP_ERRMSG_MAX - 1] = 'Z'; /* the last byte that fits */
    size_t full = MXP_HEADER_SIZE + 8u + MXP_ERRMSG_MAX;
    cr_assert_eq(mxp_error_rep_size(msg), full);
    msg[MXP_ERRMSG_MAX] = 0;
    cr_assert_eq(mxp_error_rep_size(msg), full);
    msg[MXP_ERRMSG_MAX - 1] = 0;
    cr_assert_eq(mxp_error_rep_size(msg), full - 1);
    msg[MXP_ERRMSG_MAX - 1] = 'Z';
    msg[MXP_ERRMSG_MAX] = 'e';

    uint8_t *buf = malloc(full);
    cr_assert(buf);
    cr_assert_eq(mxp_encode_error_rep(buf, full, 1, MIXUP_EPROTO, msg),
                 (int)full);
    mxp_reply rep;
    rep_ok(buf, full, &rep);
    cr_assert_eq(rep.u.error.msg_len, MXP_ERRMSG_MAX);
    cr_assert_eq(rep.u.error.msg[MXP_ERRMSG_MAX - 1], 'Z');
    cr_assert_eq(memcmp(rep.u.error.msg, msg, MXP_ERRMSG_MAX), 0);
    free(buf);
    free(msg);
}

/* ------------------------------------------------- header rejections */

Test(proto, rejects_messages_shorter_than_the_header)
{
    uint8_t buf[24];
    mxp_encode_info_req(buf, sizeof buf, 1, NULL);
    const size_t lens[] = {0, 1, 12, 23};
    for (size_t k = 0; k < 4; k++) {
        req_fails(buf, lens[k], &LIM, MIXUP_EPROTO, "header");
        rep_fails(buf, lens[k], NULL, MIXUP_EPROTO, "header");
    }
    req_fails(buf, 23, &LIM, MIXUP_EPROTO, "23 bytes");
}

Test(proto, rejects_bad_magic)
{
    for (int i = 0; i < 4; i++) {
        uint8_t buf[40];
        next0(buf, sizeof buf, 1, 1);
        buf[i] ^= 0x20; /* "mIXP", "MiXP", ... */
        req_fails(buf, 40, &LIM, MIXUP_EPROTO, "magic");
        rep_fails(buf, 40, NULL, MIXUP_EPROTO, "magic");
    }
}

Test(proto, rejects_other_versions_naming_both)
{
    static const struct {
        uint16_t v;
        const char *said;
    } cases[] = {{1, "protocol 1,"}, {2, "protocol 2,"}, {4, "protocol 4,"},
                 {0, "protocol 0,"},
                 {0xffff, "protocol 65535,"}, {0x0100, "protocol 256,"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        uint8_t buf[40];
        next0(buf, sizeof buf, 0x77, 1);
        put16(buf + 4, cases[k].v);
        req_fails(buf, 40, &LIM, MIXUP_EVERSION, cases[k].said);
        req_fails(buf, 40, &LIM, MIXUP_EVERSION, "this build speaks 3");
        rep_fails(buf, 40, NULL, MIXUP_EVERSION, cases[k].said);
        mxp_request req;
        char err[128];
        mxp_request_decode(buf, 40, &LIM, &req, err, sizeof err);
        cr_assert_eq(req.hdr.version, cases[k].v);
        cr_assert_eq(req.hdr.request_id, 0x77u, "id kept for the error reply");
    }
}

Test(proto, rejects_any_unknown_flag)
{
    for (int bit = 0; bit < 32; bit++) {
        if ((1u << bit) & MXP_FLAGS_KNOWN)
            continue;
        uint8_t buf[24];
        mxp_encode_info_req(buf, sizeof buf, 1, NULL);
        put32(buf + 8, 1u << bit);
        req_fails(buf, 24, &LIM, MIXUP_EPROTO, "flags");
        mxp_encode_close_rep(buf, sizeof buf, 1);
        put32(buf + 8, 1u << bit);
        rep_fails(buf, 24, NULL, MIXUP_EPROTO, "flags");
    }
}

/* A CLOSE with a stream key and a proof: both stripped, the body decoded
 * as if they were not there. */
Test(proto, trailers_are_stripped_from_requests)
{
    uint8_t buf[MXP_HEADER_SIZE + 8 + MXP_STREAM_KEY_SIZE + MXP_AUTH_TRAILER];
    uint8_t key[MXP_STREAM_KEY_SIZE], proof[MXP_AUTH_TRAILER];
    memset(key, 0xab, sizeof key);
    memset(proof, 0xcd, sizeof proof);
    int n = mxp_encode_close_req(buf, sizeof buf, 5, 0x1234);
    n = mxp_append_trailer(buf, sizeof buf, (size_t)n, MXP_FLAG_STREAM_KEY, key);
    cr_assert_eq(n, MXP_HEADER_SIZE + 8 + MXP_STREAM_KEY_SIZE);
    n = mxp_append_trailer(buf, sizeof buf, (size_t)n, MXP_FLAG_AUTH, proof);
    cr_assert_eq(n, (int)sizeof buf);
    mxp_request req;
    char err[256];
    cr_assert_eq(mxp_request_decode(buf, sizeof buf, &LIM, &req, err,
                                    sizeof err), 0, "%s", err);
    cr_assert_eq(req.hdr.flags, MXP_FLAG_AUTH | MXP_FLAG_STREAM_KEY);
    cr_assert_eq(req.u.stream_id, 0x1234u);
    cr_assert(req.auth == buf + sizeof buf - MXP_AUTH_TRAILER);
    cr_assert(req.stream_key == buf + MXP_HEADER_SIZE + 8);
    /* Without trailers, no pointers. */
    n = mxp_encode_close_req(buf, sizeof buf, 5, 0x1234);
    cr_assert_eq(mxp_request_decode(buf, (size_t)n, &LIM, &req, err,
                                    sizeof err), 0);
    cr_assert_null(req.auth);
    cr_assert_null(req.stream_key);
}

Test(proto, trailers_refused_when_misplaced_or_short)
{
    uint8_t buf[256], tok[MXP_AUTH_TRAILER] = {1};
    int n = mxp_encode_info_req(buf, sizeof buf, 1, NULL);
    n = mxp_append_trailer(buf, sizeof buf, (size_t)n, MXP_FLAG_AUTH, tok);
    cr_assert_eq(n, MXP_HEADER_SIZE + MXP_AUTH_TRAILER);
    /* a key after the proof, the same flag twice, no room */
    cr_assert_eq(mxp_append_trailer(buf, sizeof buf, (size_t)n,
                                    MXP_FLAG_STREAM_KEY, tok), MIXUP_EINVAL);
    cr_assert_eq(mxp_append_trailer(buf, sizeof buf, (size_t)n, MXP_FLAG_AUTH,
                                    tok), MIXUP_EINVAL);
    n = mxp_encode_info_req(buf, sizeof buf, 1, NULL);
    cr_assert_eq(mxp_append_trailer(buf, (size_t)n + MXP_AUTH_TRAILER - 1,
                                    (size_t)n, MXP_FLAG_AUTH, tok),
                 MIXUP_EINVAL);
    /* A flag whose trailer the body cannot hold. */
    n = mxp_encode_stats_req(buf, sizeof buf, 1, 0);
    put32(buf + 8, MXP_FLAG_AUTH);
    req_fails(buf, (size_t)n, &LIM, MIXUP_EPROTO, "proof");
    put32(buf + 8, MXP_FLAG_STREAM_KEY);
    req_fails(buf, (size_t)n, &LIM, MIXUP_EPROTO, "stream key");
    /* A key eaten from the body leaves a body of the wrong size. */
    n = mxp_encode_close_req(buf, sizeof buf, 1, 9);
    put32(buf + 8, MXP_FLAG_STREAM_KEY);
    req_fails(buf, (size_t)n, &LIM, MIXUP_EPROTO, "stream key");
    /* Replies never carry a proof; an OPEN reply may carry a key. */
    n = mxp_encode_close_rep(buf, sizeof buf, 1);
    n = mxp_append_trailer(buf, sizeof buf, (size_t)n, MXP_FLAG_AUTH, tok);
    rep_fails(buf, (size_t)n, NULL, MIXUP_EPROTO, "proof");
    n = mxp_encode_close_rep(buf, sizeof buf, 1);
    n = mxp_append_trailer(buf, sizeof buf, (size_t)n, MXP_FLAG_STREAM_KEY, tok);
    mxp_reply rep;
    char err[256];
    cr_assert_eq(mxp_reply_decode(buf, (size_t)n, NULL, &rep, err, sizeof err),
                 0, "%s", err);
    cr_assert(rep.stream_key == buf + MXP_HEADER_SIZE);
}

/* HELLO and its reply round-trip; flags, a short or long body refused. */
Test(proto, hello_round_trip_and_refusals)
{
    uint8_t buf[128], nonce[MXP_NONCE_SIZE], proof[MXP_MAC_SIZE];
    for (unsigned i = 0; i < sizeof nonce; i++)
        nonce[i] = (uint8_t)(0x10 + i);
    for (unsigned i = 0; i < sizeof proof; i++)
        proof[i] = (uint8_t)(0x80 + i);
    int n = mxp_encode_hello_req(buf, sizeof buf, 9, nonce);
    cr_assert_eq(n, (int)(MXP_HEADER_SIZE + MXP_NONCE_SIZE));
    mxp_request req;
    char err[256];
    cr_assert_eq(mxp_request_decode(buf, (size_t)n, &LIM, &req, err,
                                    sizeof err), 0, "%s", err);
    cr_assert_eq(req.hdr.type, MXP_HELLO_REQ);
    cr_assert(req.u.hello_nonce == buf + MXP_HEADER_SIZE);
    cr_assert_eq(mxp_encode_hello_req(buf, (size_t)n - 1, 9, nonce),
                 MIXUP_EINVAL);
    put32(buf + 20, MXP_NONCE_SIZE - 1);
    req_fails(buf, (size_t)n - 1, &LIM, MIXUP_EPROTO, "HELLO body");
    /* A HELLO signed with a proof makes no sense: refused. */
    n = mxp_encode_hello_req(buf, sizeof buf, 9, nonce);
    uint8_t t[MXP_AUTH_TRAILER] = {0};
    n = mxp_append_trailer(buf, sizeof buf, (size_t)n, MXP_FLAG_AUTH, t);
    req_fails(buf, (size_t)n, &LIM, MIXUP_EPROTO, "HELLO with header flags");
    n = mxp_encode_hello_rep(buf, sizeof buf, 9, nonce, proof);
    cr_assert_eq(n, (int)(MXP_HEADER_SIZE + MXP_HELLO_REP_BODY));
    mxp_reply rep;
    cr_assert_eq(mxp_reply_decode(buf, (size_t)n, NULL, &rep, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(rep.hdr.type, MXP_HELLO_REP);
    cr_assert_eq(memcmp(rep.u.hello.nonce, nonce, sizeof nonce), 0);
    cr_assert_eq(memcmp(rep.u.hello.proof, proof, sizeof proof), 0);
    put32(buf + 20, MXP_HELLO_REP_BODY + 1);
    rep_fails(buf, (size_t)n + 1, NULL, MIXUP_EPROTO, "HELLO reply body");
}

/* HMAC-SHA256 pinned against an independent computation (Python's hmac
 * module, RFC 2104), so that the daemon and every client agree:
 *   hmac.new(bytes(range(32)), b"mixupd-3 daemon\0" + b"\x11" * 16
 *            + b"\x22" * 16, hashlib.sha256).hexdigest()
 * and the same with "mixupd-3 session". */
#define DAEMON_PROOF_HEX \
    "f47f7b0ebd081b5cf7af84778161a975140e3f1f38ccb44599be5660bb2d5438"
#define SESSION_KEY_HEX \
    "f28ef3ced90eb205952d4a5fad1cdd0e039efc396d13756b58dce47945403fad"
Test(proto, proofs_are_hmac_sha256_pinned)
{
    uint8_t token[MXP_TOKEN_SIZE], cn[MXP_NONCE_SIZE], dn[MXP_NONCE_SIZE];
    for (unsigned i = 0; i < MXP_TOKEN_SIZE; i++)
        token[i] = (uint8_t)i;
    memset(cn, 0x11, sizeof cn);
    memset(dn, 0x22, sizeof dn);
    uint8_t p[MXP_MAC_SIZE], k[MXP_MAC_SIZE];
    mxp_auth_daemon_proof(token, cn, dn, p);
    mxp_auth_session_key(token, cn, dn, k);
    char hex[2 * MXP_MAC_SIZE + 1];
    for (unsigned i = 0; i < MXP_MAC_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", p[i]);
    cr_assert_str_eq(hex, DAEMON_PROOF_HEX);
    for (unsigned i = 0; i < MXP_MAC_SIZE; i++)
        snprintf(hex + 2 * i, 3, "%02x", k[i]);
    cr_assert_str_eq(hex, SESSION_KEY_HEX);
    cr_assert_eq(mxp_mac_equal(p, k), 0);
    cr_assert_eq(mxp_mac_equal(p, p), 1);
}

/* A signed request passes mxp_auth_check() with its token only, and not
 * once any byte before the MAC changed. */
Test(proto, signed_requests_check_with_the_token_only)
{
    uint8_t token[MXP_TOKEN_SIZE] = {7}, other[MXP_TOKEN_SIZE] = {8};
    uint8_t cn[MXP_NONCE_SIZE] = {1}, dn[MXP_NONCE_SIZE] = {2};
    uint8_t key[MXP_MAC_SIZE], kk[MXP_STREAM_KEY_SIZE] = {3};
    mxp_auth_session_key(token, cn, dn, key);
    uint8_t buf[256];
    int n = mxp_encode_close_req(buf, sizeof buf, 77, 0x55);
    n = mxp_append_trailer(buf, sizeof buf, (size_t)n, MXP_FLAG_STREAM_KEY, kk);
    n = mxp_auth_append(buf, sizeof buf, (size_t)n, cn, dn, key);
    cr_assert_eq(n, (int)(MXP_HEADER_SIZE + 8 + MXP_STREAM_KEY_SIZE +
                          MXP_AUTH_TRAILER));
    mxp_request req;
    char err[256];
    cr_assert_eq(mxp_request_decode(buf, (size_t)n, &LIM, &req, err,
                                    sizeof err), 0, "%s", err);
    cr_assert_eq(mxp_auth_check(buf, (size_t)n, &req, token), 1);
    cr_assert_eq(mxp_auth_check(buf, (size_t)n, &req, other), 0);
    /* No byte of the message carries the token. */
    for (int i = 0; i + (int)MXP_TOKEN_SIZE <= n; i++)
        cr_assert_neq(memcmp(buf + i, token, MXP_TOKEN_SIZE), 0);
    for (int i = 0; i < n - (int)MXP_MAC_SIZE; i++) {
        buf[i] ^= 0x40;
        mxp_request r2;
        if (mxp_request_decode(buf, (size_t)n, &LIM, &r2, err, sizeof err) == 0)
            cr_assert_eq(mxp_auth_check(buf, (size_t)n, &r2, token), 0,
                         "byte %d changed and still accepted", i);
        buf[i] ^= 0x40;
    }
    /* Unsigned: refused. */
    n = mxp_encode_close_req(buf, sizeof buf, 77, 0x55);
    cr_assert_eq(mxp_request_decode(buf, (size_t)n, &LIM, &req, err,
                                    sizeof err), 0);
    cr_assert_eq(mxp_auth_check(buf, (size_t)n, &req, token), 0);
}

Test(proto, secrets_compare_and_tokens_parse)
{
    uint8_t a[16] = {1, 2, 3}, b[16] = {1, 2, 3};
    cr_assert(mxp_secret_equal(a, b, 16));
    b[15] = 1;
    cr_assert(!mxp_secret_equal(a, b, 16));
    char text[80];
    for (int i = 0; i < 64; i++)
        text[i] = "0123456789abcdef"[i % 16];
    memcpy(text + 64, "\n", 2);
    uint8_t tok[MXP_TOKEN_SIZE];
    char err[256];
    cr_assert_eq(mxp_token_parse(text, 65, tok, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tok[0], 0x01);
    cr_assert_eq(tok[7], 0xef);
    cr_assert_eq(mxp_token_parse(text, 63, tok, err, sizeof err), MIXUP_EINVAL);
    cr_assert(strstr(err, "64 hex digits"), "%s", err);
    text[64] = 'x';
    cr_assert_eq(mxp_token_parse(text, 65, tok, err, sizeof err), MIXUP_EINVAL);
    cr_assert(strstr(err, "other bytes"), "%s", err);
}

Test(proto, rejects_body_len_that_does_not_match)
{
    uint8_t buf[48];
    memset(buf, 0, sizeof buf);
    next0(buf, sizeof buf, 1, 1);
    /* The header claims more than arrived, then less. */
    put32(buf + 20, 17);
    req_fails(buf, 40, &LIM, MIXUP_EPROTO, "body_len");
    put32(buf + 20, 15);
    req_fails(buf, 40, &LIM, MIXUP_EPROTO, "body_len");
    put32(buf + 20, UINT32_MAX);
    req_fails(buf, 40, &LIM, MIXUP_EPROTO, "body_len");
    rep_fails(buf, 40, NULL, MIXUP_EPROTO, "body_len");
    /* The same message received with a byte more or fewer. */
    put32(buf + 20, 16);
    req_fails(buf, 41, &LIM, MIXUP_EPROTO, "body_len");
    req_fails(buf, 39, &LIM, MIXUP_EPROTO, "body_len");
    req_fails(buf, 24, &LIM, MIXUP_EPROTO, "body_len");
}

Test(proto, rejects_messages_over_the_limit)
{
    uint8_t *buf = calloc(1, 8192);
    cr_assert(buf);
    /* A well-formed header over a 4097-byte message. */
    mxp_header_encode(buf, MXP_NEXT_REQ, 5, 4097 - MXP_HEADER_SIZE);
    req_fails(buf, 4097, &LIM, MIXUP_ETOOBIG, "limit");
    req_fails(buf, 4097, &LIM, MIXUP_ETOOBIG, "4096");
    const mxp_limits small = {.max_message = 100};
    mxp_header_encode(buf, MXP_ERROR_REP, 5, 101 - MXP_HEADER_SIZE);
    rep_fails(buf, 101, &small, MIXUP_ETOOBIG, "limit");
    /* At the limit, or without one, the size is not what is wrong. */
    mxp_header_encode(buf, MXP_NEXT_REQ, 5, 4096 - MXP_HEADER_SIZE);
    req_fails(buf, 4096, &LIM, MIXUP_EPROTO, "NEXT body");
    mxp_header_encode(buf, MXP_NEXT_REQ, 5, 8000 - MXP_HEADER_SIZE);
    const mxp_limits none = {.max_message = 0};
    req_fails(buf, 8000, &none, MIXUP_EPROTO, "NEXT body");
    req_fails(buf, 8000, NULL, MIXUP_EPROTO, "NEXT body");
    free(buf);
}

Test(proto, rejects_unknown_types)
{
    static const uint16_t types[] = {0, 0x7f, 0x80, 0xfe, 0x100, 0xffff};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        uint8_t buf[24];
        mxp_header_encode(buf, types[k], 1, 0);
        req_fails(buf, 24, &LIM, MIXUP_EPROTO, "not a request");
        rep_fails(buf, 24, NULL, MIXUP_EPROTO, "not a reply");
    }
}

Test(proto, rejects_replies_sent_as_requests_and_back)
{
    uint8_t buf[128];
    memset(buf, 0, sizeof buf);
    static const uint16_t replies[] = {MXP_INFO_REP, MXP_OPEN_REP,
                                       MXP_BATCH_REP, MXP_CLOSE_REP,
                                       MXP_STATS_REP, MXP_ERROR_REP};
    for (size_t k = 0; k < sizeof replies / sizeof replies[0]; k++) {
        mxp_header_encode(buf, replies[k], 1, 8);
        req_fails(buf, 32, &LIM, MIXUP_EPROTO, "not a request");
    }
    /* A valid ERROR reply is still not a request. */
    int n = mxp_encode_error_rep(buf, sizeof buf, 1, MIXUP_EPROTO, "x");
    req_fails(buf, (size_t)n, &LIM, MIXUP_EPROTO, "type 0xff");
    /* And valid requests are not replies. */
    n = next0(buf, sizeof buf, 1, 1);
    rep_fails(buf, (size_t)n, NULL, MIXUP_EPROTO, "not a reply");
    n = mxp_encode_open_req(buf, sizeof buf, 1, &OPEN_FULL);
    rep_fails(buf, (size_t)n, NULL, MIXUP_EPROTO, "not a reply");
    n = mxp_encode_info_req(buf, sizeof buf, 1, NULL);
    rep_fails(buf, (size_t)n, NULL, MIXUP_EPROTO, "not a reply");
}

Test(proto, decoders_work_without_an_error_buffer)
{
    uint8_t buf[24];
    mxp_encode_info_req(buf, sizeof buf, 1, NULL);
    put16(buf + 4, 9);
    mxp_request req;
    mxp_reply rep;
    cr_assert_eq(mxp_request_decode(buf, 24, &LIM, &req, NULL, 0),
                 MIXUP_EVERSION);
    cr_assert_eq(mxp_reply_decode(buf, 24, NULL, &rep, NULL, 0), MIXUP_EVERSION);
    char small[8];
    memset(small, 0x5a, sizeof small);
    cr_assert_eq(mxp_request_decode(buf, 24, &LIM, &req, small, sizeof small),
                 MIXUP_EVERSION);
    cr_assert_eq(small[7], 0, "a short error buffer is still terminated");
}

/* ---------------------------------------------- request body rejections */

static void sized_req_fails(uint16_t type, uint32_t body, const char *needle)
{
    uint8_t buf[MXP_HEADER_SIZE + 64];
    memset(buf, 0, sizeof buf);
    mxp_header_encode(buf, type, 1, body);
    req_fails(buf, MXP_HEADER_SIZE + body, &LIM, MIXUP_EPROTO, needle);
}

Test(proto, rejects_wrong_request_body_sizes)
{
    /* An INFO body is a pipeline name: zero bytes are not one. */
    sized_req_fails(MXP_INFO_REQ, 1, "INFO pipeline name byte 0");
    sized_req_fails(MXP_INFO_REQ, 33, "INFO pipeline name of 33 bytes");
    const uint32_t bad8[] = {0, 4, 7, 9, 16};
    for (size_t k = 0; k < 5; k++)
        sized_req_fails(MXP_CLOSE_REQ, bad8[k], "CLOSE body");
    const uint32_t bad16[] = {0, 4, 8, 15};
    for (size_t k = 0; k < 4; k++)
        sized_req_fails(MXP_NEXT_REQ, bad16[k], "shorter than its 16 fixed");
    sized_req_fails(MXP_NEXT_REQ, 17, "n_release 0 needs 16");
    sized_req_fails(MXP_NEXT_REQ, 24, "n_release 0 needs 16");
    sized_req_fails(MXP_STATS_REQ, 0, "STATS body");
    sized_req_fails(MXP_STATS_REQ, 3, "STATS body");
    sized_req_fails(MXP_STATS_REQ, 8, "STATS body");
    sized_req_fails(MXP_OPEN_REQ, 0, "fixed");
    sized_req_fails(MXP_OPEN_REQ, 47, "OPEN body of 47");
}

/* A valid OPEN request with @job into @buf; returns its size. */
static size_t open_msg(uint8_t *buf, size_t cap, const char *job)
{
    mxp_open_req o = OPEN_FULL;
    o.job = job;
    o.job_len = job ? (uint16_t)strlen(job) : 0;
    int n = mxp_encode_open_req(buf, cap, 1, &o);
    cr_assert_gt(n, 0);
    return (size_t)n;
}

#define OPEN_BODY(buf) ((buf) + MXP_HEADER_SIZE)

/* Bytes 44..47 are the stride and offset (striping): an offset must lie
 * below the stride, and below 1 without striping. */
Test(proto, rejects_open_offset_past_stride)
{
    static const uint16_t bad[][2] = {{0, 1}, {1, 1}, {2, 2}, {3, 0xffff}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t buf[128];
        size_t n = open_msg(buf, sizeof buf, "job");
        uint8_t *b = OPEN_BODY(buf);
        b[44] = (uint8_t)bad[i][0];
        b[45] = (uint8_t)(bad[i][0] >> 8);
        b[46] = (uint8_t)bad[i][1];
        b[47] = (uint8_t)(bad[i][1] >> 8);
        req_fails(buf, n, &LIM, MIXUP_EPROTO, "offset");
        mxp_open_req o = OPEN_FULL;
        o.stride = bad[i][0];
        o.offset = bad[i][1];
        cr_assert_eq(mxp_encode_open_req(buf, sizeof buf, 1, &o), MIXUP_EINVAL);
    }
}

Test(proto, open_request_stride_round_trip)
{
    mxp_open_req o = OPEN_FULL;
    o.stride = 2;
    o.offset = 1;
    uint8_t buf[128];
    int n = mxp_encode_open_req(buf, sizeof buf, 9, &o);
    cr_assert_gt(n, 0);
    mxp_request req;
    req_ok(buf, (size_t)n, &req);
    cr_assert_eq(req.u.open.stride, 2);
    cr_assert_eq(req.u.open.offset, 1);
}

/* Bytes 42..43 are the pipeline name's length (v2). */
Test(proto, open_request_round_trip_with_pipeline)
{
    mxp_open_req o = OPEN_FULL;
    o.job = "j1";
    o.job_len = 2;
    o.pipeline = "val_2-x";
    o.pipeline_len = 7;
    uint8_t buf[256];
    int n = mxp_encode_open_req(buf, sizeof buf, 9, &o);
    cr_assert_eq(n, (int)(MXP_HEADER_SIZE + MXP_OPEN_FIXED + 2 + 7));
    mxp_request req;
    req_ok(buf, (size_t)n, &req);
    check_open(&req.u.open, &o);
    cr_assert_eq(req.u.open.pipeline_len, 7);
    cr_assert(!memcmp(req.u.open.job, "j1", 2));
    cr_assert(!memcmp(req.u.open.pipeline, "val_2-x", 7));
    /* The length must match the body, and the name be A-Z a-z 0-9 _ -. */
    OPEN_BODY(buf)[42] = 8;
    req_fails(buf, (size_t)n, &LIM, MIXUP_EPROTO, "pipeline_len 8");
    OPEN_BODY(buf)[42] = 7;
    OPEN_BODY(buf)[MXP_OPEN_FIXED + 2 + 3] = '.';
    req_fails(buf, (size_t)n, &LIM, MIXUP_EPROTO, "pipeline name byte 3");
    o.pipeline = "a.b";
    o.pipeline_len = 3;
    cr_assert_eq(mxp_encode_open_req(buf, sizeof buf, 9, &o), MIXUP_EINVAL);
    o.pipeline_len = MXP_PIPELINE_MAX + 1;
    cr_assert_eq(mxp_encode_open_req(buf, sizeof buf, 9, &o), MIXUP_EINVAL);
}

Test(proto, info_request_names_a_pipeline)
{
    uint8_t buf[MXP_HEADER_SIZE + MXP_PIPELINE_MAX];
    int n = mxp_encode_info_req(buf, sizeof buf, 5, "val");
    cr_assert_eq(n, (int)MXP_HEADER_SIZE + 3);
    mxp_request req;
    req_ok(buf, (size_t)n, &req);
    cr_assert_eq(req.u.info.pipeline_len, 3);
    cr_assert(!memcmp(req.u.info.pipeline, "val", 3));
    cr_assert_eq(mxp_encode_info_req(buf, sizeof buf, 5, "v al"), MIXUP_EINVAL);
    cr_assert_eq(mxp_encode_info_req(buf, MXP_HEADER_SIZE + 2, 5, "val"),
                 MIXUP_EINVAL);
}

Test(proto, info_reply_carries_flags_and_pipelines)
{
    mxp_info_rep info = {
        .samples = 10000, .batches_per_epoch = 79, .batch_size = 128,
        .flags = MXP_INFO_KEEP_LAST,
        .pipeline = "val", .pipeline_len = 3,
        .pipelines = "main,val,aug2", .pipelines_len = 13,
    };
    uint8_t buf[MXP_HEADER_SIZE + MXP_INFO_BODY_MAX];
    int n = mxp_encode_info_rep(buf, sizeof buf, 4, &info);
    cr_assert_eq(n, (int)(MXP_HEADER_SIZE + MXP_INFO_BODY + 16));
    mxp_reply rep;
    rep_ok(buf, (size_t)n, &rep);
    const mxp_info_rep *i = &rep.u.info;
    cr_assert_eq(i->flags, MXP_INFO_KEEP_LAST);
    cr_assert_eq(i->pipeline_len, 3);
    cr_assert_eq(i->pipelines_len, 13);
    cr_assert(!memcmp(i->pipeline, "val", 3));
    cr_assert(!memcmp(i->pipelines, "main,val,aug2", 13));
    uint8_t *b = buf + MXP_HEADER_SIZE;
    b[48] = 2; /* an unknown flag */
    rep_fails(buf, (size_t)n, NULL, MIXUP_EPROTO, "flags");
    b[48] = 1;
    b[54] = 14; /* the list would run past the body */
    rep_fails(buf, (size_t)n, NULL, MIXUP_EPROTO, "names need");
    b[54] = 13;
    b[MXP_INFO_BODY + 3 + 4] = ' ';
    rep_fails(buf, (size_t)n, NULL, MIXUP_EPROTO, "list byte 4");
    /* v1's 48-byte body is too short now. */
    uint8_t old[MXP_HEADER_SIZE + 48] = {0};
    mxp_header_encode(old, MXP_INFO_REP, 1, 48);
    rep_fails(old, sizeof old, NULL, MIXUP_EPROTO, "shorter");
}

Test(proto, rejects_unknown_open_mode)
{
    static const uint32_t modes[] = {3, 4, 0x100, UINT32_MAX};
    for (size_t k = 0; k < 4; k++) {
        uint8_t buf[128];
        size_t n = open_msg(buf, sizeof buf, NULL);
        put32(OPEN_BODY(buf), modes[k]);
        req_fails(buf, n, &LIM, MIXUP_EPROTO, "mode");
    }
    /* Every defined mode decodes (serving it is the daemon's business). */
    for (uint32_t m = 0; m <= MIXUP_MODE_SHARED; m++) {
        uint8_t buf[128];
        size_t n = open_msg(buf, sizeof buf, NULL);
        put32(OPEN_BODY(buf), m);
        mxp_request req;
        req_ok(buf, n, &req);
        cr_assert_eq(req.u.open.mode, m);
    }
}

Test(proto, rejects_job_names_over_64_bytes)
{
    uint8_t buf[MXP_HEADER_SIZE + MXP_OPEN_FIXED + 0x10000];
    size_t n = open_msg(buf, sizeof buf, NULL);
    memset(buf + n, 'j', 0xffff);
    /* 65 bytes, consistent with the body. */
    put16(OPEN_BODY(buf) + 40, 65);
    put32(buf + 20, MXP_OPEN_FIXED + 65);
    req_fails(buf, n + 65, &LIM, MIXUP_EPROTO, "job name of 65 bytes");
    req_fails(buf, n + 65, &LIM, MIXUP_EPROTO, "at most 64");
    /* The largest job_len the field holds, without a limit. */
    put16(OPEN_BODY(buf) + 40, 0xffff);
    put32(buf + 20, MXP_OPEN_FIXED + 0xffff);
    req_fails(buf, n + 0xffff, NULL, MIXUP_EPROTO, "job name of 65535");
}

Test(proto, rejects_job_len_that_does_not_match_the_body)
{
    uint8_t buf[128];
    size_t n = open_msg(buf, sizeof buf, "abcd");
    put16(OPEN_BODY(buf) + 40, 5);
    req_fails(buf, n, &LIM, MIXUP_EPROTO, "job_len 5");
    put16(OPEN_BODY(buf) + 40, 3);
    req_fails(buf, n, &LIM, MIXUP_EPROTO, "job_len 3");
    put16(OPEN_BODY(buf) + 40, 0);
    req_fails(buf, n, &LIM, MIXUP_EPROTO, "job_len 0");
    /* A name announced but not sent. */
    n = open_msg(buf, sizeof buf, NULL);
    put16(OPEN_BODY(buf) + 40, 1);
    req_fails(buf, n, &LIM, MIXUP_EPROTO, "job_len 1");
}

Test(proto, rejects_non_printable_job_bytes)
{
    static const uint8_t bad[] = {0x00, 0x01, 0x09, 0x0a, 0x1f, 0x20,
                                  0x22, 0x5c, 0x7f, 0x80, 0xc3, 0xff};
    for (size_t k = 0; k < sizeof bad; k++) {
        uint8_t buf[128];
        size_t n = open_msg(buf, sizeof buf, "ab-de");
        OPEN_BODY(buf)[MXP_OPEN_FIXED + 2] = bad[k];
        req_fails(buf, n, &LIM, MIXUP_EPROTO, "job name byte 2");
        req_fails(buf, n, &LIM, MIXUP_EPROTO, "printable");
    }
    /* The first and last printable characters pass. */
    uint8_t buf[128];
    size_t n = open_msg(buf, sizeof buf, "!~");
    mxp_request req;
    req_ok(buf, n, &req);
}

Test(proto, rejects_unknown_stats_format)
{
    uint8_t buf[28];
    mxp_encode_stats_req(buf, sizeof buf, 1, MXP_STATS_JSON);
    put32(buf + MXP_HEADER_SIZE, 2);
    req_fails(buf, 28, &LIM, MIXUP_EPROTO, "format 2");
    put32(buf + MXP_HEADER_SIZE, UINT32_MAX);
    req_fails(buf, 28, &LIM, MIXUP_EPROTO, "format");
}

/* ------------------------------------------------ reply body rejections */

static void sized_rep_fails(uint16_t type, uint32_t body, const char *needle)
{
    uint8_t buf[MXP_HEADER_SIZE + 256];
    memset(buf, 0, sizeof buf);
    mxp_header_encode(buf, type, 1, body);
    rep_fails(buf, MXP_HEADER_SIZE + body, NULL, MIXUP_EPROTO, needle);
}

Test(proto, rejects_wrong_reply_body_sizes)
{
    sized_rep_fails(MXP_INFO_REP, MXP_INFO_BODY - 1, "INFO reply body");
    sized_rep_fails(MXP_INFO_REP, MXP_INFO_BODY + 1, "INFO reply body");
    sized_rep_fails(MXP_INFO_REP, 0, "INFO reply body");
    sized_rep_fails(MXP_OPEN_REP, MXP_OPEN_REP_BODY - 8, "OPEN reply body");
    sized_rep_fails(MXP_OPEN_REP, MXP_OPEN_REP_BODY + 8, "OPEN reply body");
    sized_rep_fails(MXP_CLOSE_REP, 1, "CLOSE reply body");
    sized_rep_fails(MXP_BATCH_REP, 0, "BATCH body");
    sized_rep_fails(MXP_BATCH_REP, MXP_BATCH_FIXED - 1, "fixed");
}

Test(proto, rejects_error_replies_with_a_non_negative_code)
{
    static const int32_t codes[] = {0, 5, INT32_MAX};
    for (size_t k = 0; k < 3; k++) {
        uint8_t buf[64];
        int n = mxp_encode_error_rep(buf, sizeof buf, 1, MIXUP_EPROTO, "oops");
        put32(buf + MXP_HEADER_SIZE, (uint32_t)codes[k]);
        rep_fails(buf, (size_t)n, NULL, MIXUP_EPROTO, "not negative");
        rep_fails(buf, (size_t)n, NULL, MIXUP_EPROTO, "ERROR code");
    }
}

Test(proto, rejects_error_replies_with_a_bad_length)
{
    const uint32_t short_bodies[] = {0, 4, 7};
    for (size_t k = 0; k < 3; k++)
        sized_rep_fails(MXP_ERROR_REP, short_bodies[k], "ERROR body");

    uint8_t buf[64];
    int n = mxp_encode_error_rep(buf, sizeof buf, 1, MIXUP_EPROTO, "oops");
    const uint32_t lens[] = {3, 5, 0, MXP_ERRMSG_MAX + 1, UINT32_MAX};
    for (size_t k = 0; k < 5; k++) {
        put32(buf + MXP_HEADER_SIZE + 4, lens[k]);
        rep_fails(buf, (size_t)n, NULL, MIXUP_EPROTO, "message length");
    }
    /* A body that matches a msg_len over the maximum. */
    size_t big = MXP_HEADER_SIZE + 8 + MXP_ERRMSG_MAX + 1;
    uint8_t *b = malloc(big);
    cr_assert(b);
    memset(b, 'e', big);
    mxp_header_encode(b, MXP_ERROR_REP, 1, (uint32_t)(big - MXP_HEADER_SIZE));
    put32(b + MXP_HEADER_SIZE, (uint32_t)MIXUP_EPROTO);
    put32(b + MXP_HEADER_SIZE + 4, MXP_ERRMSG_MAX + 1);
    rep_fails(b, big, NULL, MIXUP_EPROTO, "message length 1025");
    free(b);
}

Test(proto, rejects_oversized_stats_reply)
{
    size_t len = MXP_HEADER_SIZE + MXP_STATS_MAX + 1;
    uint8_t *buf = calloc(1, len);
    cr_assert(buf);
    mxp_header_encode(buf, MXP_STATS_REP, 1, MXP_STATS_MAX + 1);
    rep_fails(buf, len, NULL, MIXUP_EPROTO, "STATS reply of");
    mxp_header_encode(buf, MXP_STATS_REP, 1, MXP_STATS_MAX);
    mxp_reply rep;
    rep_ok(buf, len - 1, &rep);
    cr_assert_eq(rep.u.stats.len, MXP_STATS_MAX);
    free(buf);
}

/* Offsets of the shape fields in a batch message. */
#define BATCH_SIZE_AT (MXP_HEADER_SIZE + 24)
#define BATCH_DTYPE_AT (MXP_HEADER_SIZE + 44)
#define BATCH_LAYOUT_AT (MXP_HEADER_SIZE + 48)

Test(proto, rejects_batch_with_a_zero_dimension)
{
    for (int d = 0; d < 5; d++) {
        mxp_batch_shape s = SHAPE;
        uint32_t *dims[5] = {&s.size, &s.height, &s.width, &s.channels,
                             &s.classes};
        *dims[d] = 0;
        mxp_batch_layout l;
        cr_assert_eq(mxp_batch_layout_compute(&s, &l), MIXUP_EINVAL, "dim %d", d);

        uint8_t *buf = make_batch(&SHAPE, &l, 1);
        put32(buf + BATCH_SIZE_AT + 4 * d, 0);
        rep_fails(buf, l.total, NULL, MIXUP_EPROTO, "shape");
        free(buf);
    }
}

Test(proto, rejects_batch_dims_whose_product_overflows)
{
    static const struct {
        uint32_t B, H, W, C, K;
    } huge[] = {
        {1, 0x10000, 0x10000, 1, 1},          /* H*W = 2^32 */
        {1, 0x8000, 0x8000, 8, 1},            /* H*W*C = 2^33 */
        {1, 1u << 31, 1u << 31, 4, 1},        /* H*W*C wraps to 0 in 64 bits */
        {0x10000, 0x100, 0x100, 4, 1},        /* x: 2^36 bytes */
        {1u << 20, 1, 1, 1, 1u << 12},        /* y: 2^34 bytes */
        {1u << 31, 1u << 31, 1, 1, 1u << 31}, /* x and y wrap to 0 in 64 bits */
        {1, 1, 1, 0x3fffffff, 1},             /* x fits, the message does not */
        {UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX},
    };
    for (size_t k = 0; k < sizeof huge / sizeof huge[0]; k++) {
        const mxp_batch_shape s = {huge[k].B, huge[k].H, huge[k].W, huge[k].C,
                                   huge[k].K, MIXUP_FLOAT32, MIXUP_NHWC, 0};
        mxp_batch_layout l;
        cr_assert_eq(mxp_batch_layout_compute(&s, &l), MIXUP_ETOOBIG,
                     "shape %zu", k);
        /* The same shape announced in a small message. */
        mxp_batch_layout small;
        uint8_t *buf = make_batch(&SHAPE, &small, 1);
        put32(buf + BATCH_SIZE_AT, s.size);
        put32(buf + BATCH_SIZE_AT + 4, s.height);
        put32(buf + BATCH_SIZE_AT + 8, s.width);
        put32(buf + BATCH_SIZE_AT + 12, s.channels);
        put32(buf + BATCH_SIZE_AT + 16, s.classes);
        rep_fails(buf, small.total, NULL, MIXUP_EPROTO, "shape");
        free(buf);
    }
}

Test(proto, rejects_batch_body_that_does_not_fit_its_shape)
{
    mxp_batch_layout l;
    uint8_t *buf = make_batch(&SHAPE, &l, 1);
    const long deltas[] = {-1, 1, -4, 64, -(long)(l.total - l.y)};
    for (size_t k = 0; k < sizeof deltas / sizeof deltas[0]; k++) {
        size_t len = (size_t)((long)l.total + deltas[k]);
        uint8_t *b = calloc(1, len);
        cr_assert(b);
        memcpy(b, buf, len < l.total ? len : l.total);
        put32(b + 20, (uint32_t)(len - MXP_HEADER_SIZE));
        rep_fails(b, len, NULL, MIXUP_EPROTO, "shape needs");
        free(b);
    }
    /* A smaller shape in the same message. */
    put32(buf + BATCH_SIZE_AT, 2);
    rep_fails(buf, l.total, NULL, MIXUP_EPROTO, "shape needs");
    free(buf);
}

Test(proto, rejects_batch_dtype_and_layout_it_does_not_know)
{
    mxp_batch_layout l;
    uint8_t *buf = make_batch(&SHAPE, &l, 1);
    put32(buf + BATCH_DTYPE_AT, 0);
    rep_fails(buf, l.total, NULL, MIXUP_EPROTO, "dtype 0");
    put32(buf + BATCH_DTYPE_AT, 4);
    rep_fails(buf, l.total, NULL, MIXUP_EPROTO, "dtype 4");
    put32(buf + BATCH_DTYPE_AT, MIXUP_FLOAT32);
    put32(buf + BATCH_LAYOUT_AT, 2);
    rep_fails(buf, l.total, NULL, MIXUP_EPROTO, "layout 2");
    put32(buf + BATCH_LAYOUT_AT, MIXUP_NHWC);
    put32(buf + BATCH_DTYPE_AT + 8, 8); /* flags: an unknown section */
    rep_fails(buf, l.total, NULL, MIXUP_EPROTO, "flags");
    put32(buf + BATCH_DTYPE_AT + 8, MXP_BATCH_AUG2); /* AUG2 without AUG */
    rep_fails(buf, l.total, NULL, MIXUP_EPROTO, "flags");
    put32(buf + BATCH_DTYPE_AT + 8, 0);
    /* v3: bytes 56..63 (reserved before) are the delivery count. */
    put32(buf + BATCH_DTYPE_AT + 12, 7);
    put32(buf + BATCH_DTYPE_AT + 16, 1);
    mxp_reply rep;
    char err[128];
    cr_assert_eq(mxp_reply_decode(buf, l.total, NULL, &rep, err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(rep.u.batch.seq, (1ull << 32) | 7u);
    mxp_set_batch_seq(buf, 9);
    cr_assert_eq(mxp_reply_decode(buf, l.total, NULL, &rep, err, sizeof err), 0);
    cr_assert_eq(rep.u.batch.seq, 9u);
    free(buf);
}

Test(proto, batch_reply_respects_the_limit)
{
    mxp_batch_layout l;
    uint8_t *buf = make_batch(&SHAPE, &l, 1);
    const mxp_limits lim = {.max_message = (uint32_t)l.total - 1};
    rep_fails(buf, l.total, &lim, MIXUP_ETOOBIG, "limit");
    const mxp_limits exact = {.max_message = (uint32_t)l.total};
    mxp_reply rep;
    char err[128];
    cr_assert_eq(mxp_reply_decode(buf, l.total, &exact, &rep, err, sizeof err),
                 0, "%s", err);
    free(buf);
}

/* ------------------------------------------------------- version 2 */

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

Test(proto_v2, version_mismatch_says_what_to_upgrade_both_ways)
{
    uint8_t buf[40];
    next0(buf, sizeof buf, 1, 1);
    put16(buf + 4, 1); /* an old client asks this daemon */
    req_fails(buf, 40, &LIM, MIXUP_EVERSION,
              "peer speaks mixupd protocol 1, this build speaks 3: upgrade "
              "the client library");
    put16(buf + 4, 2); /* a version 2 client: it would send its token */
    req_fails(buf, 40, &LIM, MIXUP_EVERSION,
              "peer speaks mixupd protocol 2, this build speaks 3: upgrade "
              "the client library");
    put16(buf + 4, 4); /* a newer client */
    req_fails(buf, 40, &LIM, MIXUP_EVERSION, "protocol 4, this build speaks 3: "
                                             "upgrade the daemon");
    mxp_encode_close_rep(buf, sizeof buf, 1);
    put16(buf + 4, 1); /* an old daemon answers this client */
    rep_fails(buf, 24, NULL, MIXUP_EVERSION,
              "peer speaks mixupd protocol 1, this build speaks 3: upgrade "
              "the daemon");
    put16(buf + 4, 2); /* a version 2 daemon */
    rep_fails(buf, 24, NULL, MIXUP_EVERSION,
              "peer speaks mixupd protocol 2, this build speaks 3: upgrade "
              "the daemon");
    put16(buf + 4, 4);
    rep_fails(buf, 24, NULL, MIXUP_EVERSION, "upgrade the client library");
    mxp_header h;
    char err[160];
    cr_assert_eq(mxp_header_decode(buf, 24, NULL, &h, err, sizeof err),
                 MIXUP_EVERSION);
    cr_assert(strstr(err, "upgrade the client library or the daemon"), "%s", err);
}

Test(proto_v2, new_error_codes_are_appended)
{
    cr_assert_eq(MIXUP_ESYS, -19);
    cr_assert_eq(MIXUP_ESTALE, -20);
    cr_assert_eq(MIXUP_EHELD, -21);
    cr_assert_eq(MIXUP_EAUTH, -22);
    cr_assert_str_eq(mixup_strerror(MIXUP_ESTALE),
                     "stale batch reference: the slot was reused");
    cr_assert_str_eq(mixup_strerror(MIXUP_EHELD),
                     "too many batches held: release some");
    cr_assert_str_eq(mixup_strerror(MIXUP_EAUTH), "not authorised");
    cr_assert_str_eq(mixup_err_name(MIXUP_EAUTH), "MIXUP_EAUTH");
    cr_assert_str_eq(mxp_type_name(MXP_BATCH_REF_REP), "BATCH_REF reply");
}

Test(proto_v2, next_request_round_trip_with_releases)
{
    enum { N = MXP_RELEASE_MAX };
    static uint32_t slots[N], gens[N];
    for (uint32_t i = 0; i < N; i++) {
        slots[i] = i * 2654435761u;
        gens[i] = ~i;
    }
    const uint32_t counts[] = {0, 1, 3, N};
    size_t cap = mxp_next_req_size(N);
    uint8_t *buf = malloc(cap);
    cr_assert(buf);
    cr_assert_eq(cap, (size_t)(MXP_HEADER_SIZE + 16 + 8 * N));
    for (size_t k = 0; k < 4; k++) {
        uint32_t n = counts[k];
        int len = mxp_encode_next_req(buf, cap, 9, 0x1234, MXP_NEXT_REF, slots,
                                      gens, n);
        cr_assert_eq(len, (int)mxp_next_req_size(n));
        /* A full list (8 KiB) is over the 4096 bytes of LIM. */
        const mxp_limits lim = {.max_message = (uint32_t)cap};
        mxp_request req;
        char err[256] = "";
        cr_assert_eq(mxp_request_decode(buf, (size_t)len, &lim, &req, err,
                                        sizeof err), 0, "%s", err);
        check_header(&req.hdr, MXP_NEXT_REQ, 9, 16 + 8 * n);
        cr_assert_eq(req.u.next.stream_id, 0x1234u);
        cr_assert_eq(req.u.next.flags, MXP_NEXT_REF);
        cr_assert_eq(req.u.next.n_release, n);
        cr_assert_eq(req.u.next.release, buf + MXP_HEADER_SIZE + 16);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t s, g;
            mxp_next_release_at(&req.u.next, i, &s, &g);
            cr_assert_eq(s, slots[i]);
            cr_assert_eq(g, gens[i]);
        }
        /* One byte short of the buffer it needs. */
        cr_assert_eq(mxp_encode_next_req(buf, (size_t)len - 1, 9, 1, 0, slots,
                                         gens, n),
                     MIXUP_EINVAL);
    }
    free(buf);
}

Test(proto_v2, next_encoder_refuses_bad_arguments)
{
    uint8_t buf[64];
    uint32_t s = 1, g = 1;
    cr_assert_eq(mxp_encode_next_req(buf, sizeof buf, 1, 1, 2, NULL, NULL, 0),
                 MIXUP_EINVAL);
    cr_assert_eq(mxp_encode_next_req(buf, sizeof buf, 1, 1, 0, NULL, &g, 1),
                 MIXUP_EINVAL);
    cr_assert_eq(mxp_encode_next_req(buf, sizeof buf, 1, 1, 0, &s, NULL, 1),
                 MIXUP_EINVAL);
    cr_assert_eq(mxp_encode_next_req(buf, SIZE_MAX, 1, 1, 0, &s, &g,
                                     MXP_RELEASE_MAX + 1),
                 MIXUP_EINVAL);
}

Test(proto_v2, next_decoder_rejects_bad_flags_and_counts)
{
    uint8_t buf[MXP_HEADER_SIZE + 16 + 16];
    uint32_t s[2] = {1, 2}, g[2] = {3, 4};
    int n = mxp_encode_next_req(buf, sizeof buf, 1, 1, 0, s, g, 2);
    cr_assert_eq(n, (int)sizeof buf);
    for (int bit = 1; bit < 32; bit++) {
        put32(buf + MXP_HEADER_SIZE + 8, 1u << bit);
        req_fails(buf, sizeof buf, &LIM, MIXUP_EPROTO, "NEXT flags");
    }
    put32(buf + MXP_HEADER_SIZE + 8, MXP_NEXT_REF);
    /* n_release past the end, short of it, past the max, huge. */
    put32(buf + MXP_HEADER_SIZE + 12, 3);
    req_fails(buf, sizeof buf, &LIM, MIXUP_EPROTO, "n_release 3 needs 40");
    put32(buf + MXP_HEADER_SIZE + 12, 1);
    req_fails(buf, sizeof buf, &LIM, MIXUP_EPROTO, "n_release 1 needs 24");
    put32(buf + MXP_HEADER_SIZE + 12, MXP_RELEASE_MAX + 1);
    req_fails(buf, sizeof buf, &LIM, MIXUP_EPROTO, "at most 1024");
    put32(buf + MXP_HEADER_SIZE + 12, UINT32_MAX);
    req_fails(buf, sizeof buf, &LIM, MIXUP_EPROTO, "at most 1024");
    /* A pair cut in half: the body no longer matches the count. */
    put32(buf + MXP_HEADER_SIZE + 12, 2);
    put32(buf + 20, 16 + 12);
    req_fails(buf, sizeof buf - 4, &LIM, MIXUP_EPROTO, "n_release 2 needs 32");
    /* A v1 NEXT body (the stream id alone). */
    put32(buf + 20, 8);
    req_fails(buf, MXP_HEADER_SIZE + 8, &LIM, MIXUP_EPROTO, "16 fixed bytes");
}

static mxp_open_rep open_v2(const char *name)
{
    mxp_open_rep o = {
        .stream_id = 0x1122334455667788ull,
        .batches_per_epoch = 234,
        .stream_per_epoch = 29,
        .start_epoch = 4,
        .start_batch = UINT64_MAX,
        .ring_bytes = 0x0102030405060708ull,
        .max_held = 0xa0b0c0d0u,
    };
    strncpy(o.ring_name, name, sizeof o.ring_name - 1);
    for (int i = 0; i < 16; i++)
        o.ring_token[i] = (uint8_t)(0xf0 + i);
    return o;
}

Test(proto_v2, open_reply_round_trip_with_ring)
{
    char longest[MXP_RING_NAME_MAX];
    memset(longest, 'r', sizeof longest - 1);
    longest[0] = '/';
    longest[sizeof longest - 1] = 0; /* 63 bytes and the NUL */
    const char *names[] = {"/mixupd-4242-ring", "", "/", longest};
    for (size_t k = 0; k < 4; k++) {
        mxp_open_rep o = open_v2(names[k]);
        uint8_t buf[MXP_HEADER_SIZE + MXP_OPEN_REP_BODY];
        cr_assert_eq(MXP_OPEN_REP_BODY, 152u);
        cr_assert_eq(mxp_encode_open_rep(buf, sizeof buf, 4, &o), (int)sizeof buf);
        mxp_reply rep;
        rep_ok(buf, sizeof buf, &rep);
        check_header(&rep.hdr, MXP_OPEN_REP, 4, MXP_OPEN_REP_BODY);
        cr_assert_eq(rep.u.open.stream_id, o.stream_id);
        cr_assert_eq(rep.u.open.start_batch, o.start_batch);
        cr_assert_str_eq(rep.u.open.ring_name, names[k]);
        for (int i = 0; i < 16; i++)
            cr_assert_eq(rep.u.open.ring_token[i], o.ring_token[i]);
        cr_assert_eq(rep.u.open.ring_bytes, o.ring_bytes);
        cr_assert_eq(rep.u.open.max_held, o.max_held);
        /* Fixed offsets: name at 40, token at 104, size at 120. */
        cr_assert_eq(buf[MXP_HEADER_SIZE + 40], names[k][0]);
        cr_assert_eq(buf[MXP_HEADER_SIZE + 104], 0xf0);
        cr_assert_eq(buf[MXP_HEADER_SIZE + 120], 0x08);
        cr_assert_eq(buf[MXP_HEADER_SIZE + 128], 0xd0);
    }
}

Test(proto_v2, open_reply_rejects_bad_ring_names_and_reserved)
{
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {{"ring", 4},  {"/a/b", 4},  {"/a b", 4},  {"/a\x1b", 3},
               {"/caf\xc3\xa9", 6}, {"/a\0b", 4}, {"\0/", 2}, {"/\x7f", 2}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        mxp_open_rep o = open_v2("");
        uint8_t buf[MXP_HEADER_SIZE + MXP_OPEN_REP_BODY];
        cr_assert_eq(mxp_encode_open_rep(buf, sizeof buf, 4, &o), (int)sizeof buf);
        memcpy(buf + MXP_HEADER_SIZE + 40, bad[k].bytes, bad[k].len);
        rep_fails(buf, sizeof buf, NULL, MIXUP_EPROTO, "ring_name");
        memcpy(o.ring_name, bad[k].bytes, bad[k].len);
        cr_assert_eq(mxp_encode_open_rep(buf, sizeof buf, 4, &o), MIXUP_EINVAL,
                     "encoder took bad name %zu", k);
    }
    /* 64 bytes without a NUL. */
    mxp_open_rep o = open_v2("");
    uint8_t buf[MXP_HEADER_SIZE + MXP_OPEN_REP_BODY];
    mxp_encode_open_rep(buf, sizeof buf, 4, &o);
    buf[MXP_HEADER_SIZE + 40] = '/';
    memset(buf + MXP_HEADER_SIZE + 41, 'r', 63);
    rep_fails(buf, sizeof buf, NULL, MIXUP_EPROTO, "ring_name byte 63");
    mxp_encode_open_rep(buf, sizeof buf, 4, &o);
    buf[MXP_HEADER_SIZE + 135] = 1;
    rep_fails(buf, sizeof buf, NULL, MIXUP_EPROTO, "reserved bytes 132..135");
    /* A version-1 body. */
    mxp_header_encode(buf, MXP_OPEN_REP, 4, 40);
    rep_fails(buf, MXP_HEADER_SIZE + 40, NULL, MIXUP_EPROTO, "expected 152");
}

static const mxp_batch_ref REF = {
    .slot = 7,
    .generation = 0xfffffff0u,
    .offset = 9 * 4096,
    .size = 123456,
    .stream_id = 0x8877665544332211ull,
    .epoch = 3,
    .index = UINT64_MAX,
};

Test(proto_v2, batch_ref_round_trip)
{
    uint8_t buf[MXP_HEADER_SIZE + MXP_BATCH_REF_BODY + 1];
    cr_assert_eq(MXP_BATCH_REF_BODY, 48u);
    int n = mxp_encode_batch_ref_rep(buf, sizeof buf, 5, &REF);
    cr_assert_eq(n, (int)(MXP_HEADER_SIZE + MXP_BATCH_REF_BODY));
    mxp_reply rep;
    rep_ok(buf, (size_t)n, &rep);
    check_header(&rep.hdr, MXP_BATCH_REF_REP, 5, MXP_BATCH_REF_BODY);
    cr_assert_eq(rep.u.ref.slot, REF.slot);
    cr_assert_eq(rep.u.ref.generation, REF.generation);
    cr_assert_eq(rep.u.ref.offset, REF.offset);
    cr_assert_eq(rep.u.ref.size, REF.size);
    cr_assert_eq(rep.u.ref.stream_id, REF.stream_id);
    cr_assert_eq(rep.u.ref.epoch, REF.epoch);
    cr_assert_eq(rep.u.ref.index, REF.index);
    cr_assert_eq(mxp_encode_batch_ref_rep(buf, (size_t)n - 1, 5, &REF),
                 MIXUP_EINVAL);
    /* Not a request. */
    req_fails(buf, (size_t)n, &LIM, MIXUP_EPROTO, "not a request");
}

Test(proto_v2, batch_ref_rejects_bad_sizes_and_extents)
{
    sized_rep_fails(MXP_BATCH_REF_REP, MXP_BATCH_REF_BODY - 1, "BATCH_REF reply body");
    sized_rep_fails(MXP_BATCH_REF_REP, MXP_BATCH_REF_BODY + 1, "BATCH_REF reply body");
    sized_rep_fails(MXP_BATCH_REF_REP, 0, "expected 48");
    static const struct {
        uint64_t offset, size;
        const char *said;
    } bad[] = {{0, 4096, "offset 0"},
               {4096 + 64, 4096, "page-aligned"},
               {4096, 87, "size 87"},
               {4096, (uint64_t)UINT32_MAX + 1, "size 4294967296"},
               {UINT64_MAX - 4095, 8192, "out of range"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        uint8_t buf[MXP_HEADER_SIZE + MXP_BATCH_REF_BODY];
        mxp_encode_batch_ref_rep(buf, sizeof buf, 5, &REF);
        put64(buf + MXP_HEADER_SIZE + 8, bad[k].offset);
        put64(buf + MXP_HEADER_SIZE + 16, bad[k].size);
        rep_fails(buf, sizeof buf, NULL, MIXUP_EPROTO, bad[k].said);
        mxp_batch_ref r = REF;
        r.offset = bad[k].offset;
        r.size = bad[k].size;
        cr_assert_eq(mxp_encode_batch_ref_rep(buf, sizeof buf, 5, &r), MIXUP_EINVAL);
    }
}

/* ------------------------------------------------------ aug records */

/* The image crop boxes and decode scales live in what were reserved
 * bytes: offset 3 and 80..95, little-endian u16. */
Test(proto_v2, aug_record_source_boxes)
{
    mxp_aug a = {.mix_kind = 1, .cutmix_x1 = 7, .src_scale = 0x31,
                 .src_box = {{1, 2, 300, 65535}, {0x1234, 5, 6, 7}}};
    uint8_t rec[MXP_AUG_RECORD];
    mxp_aug_encode(rec, &a);
    cr_assert_eq(rec[3], 0x31);
    cr_assert_eq(rec[80], 1);
    cr_assert_eq(rec[84], 300 & 0xff);
    cr_assert_eq(rec[85], 300 >> 8);
    cr_assert_eq(rec[86], 0xff);
    cr_assert_eq(rec[87], 0xff);
    cr_assert_eq(rec[88], 0x34);
    cr_assert_eq(rec[89], 0x12);
    cr_assert_eq(rec[76], 7);
    mxp_aug b;
    mxp_aug_decode(rec, &b);
    cr_assert_eq(b.src_scale, 0x31);
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < 4; i++)
            cr_assert_eq(b.src_box[s][i], a.src_box[s][i]);
    cr_assert_eq(b.cutmix_x1, 7u);
}

/* The record's old host layout (mixup_aug as it went on the wire in
 * version 1): the encoder must write the same bytes. */
Test(proto_v2, aug_record_bytes_are_the_old_struct_layout)
{
    cr_assert_eq(sizeof(mixup_aug_v1_layout_), 96u);
    mxp_aug a = {
        .mix_kind = 2, .flip = 3, .erase_fill = 4,
        .shift_dy = -1.5f, .shift_dx = 2.25f,
        .crop_y = 0x01020304u, .crop_x = 5,
        .erase_y = 6, .erase_x = 7, .erase_h = 8, .erase_w = 0xfffffff9u,
        .erase_value = {0.5f, -0.25f, 1e-30f, 3.0f},
        .erase_noise_seed = 0x0123456789abcdefull,
        .cutmix_y0 = 10, .cutmix_y1 = 11, .cutmix_x0 = 12, .cutmix_x1 = 13,
    };
    mixup_aug_v1_layout_ old;
    memset(&old, 0, sizeof old);
    old.mix_kind = a.mix_kind;
    old.flip = a.flip;
    old.erase_fill = a.erase_fill;
    old.shift_dy = a.shift_dy;
    old.shift_dx = a.shift_dx;
    old.crop_y = a.crop_y;
    old.crop_x = a.crop_x;
    old.erase_y = a.erase_y;
    old.erase_x = a.erase_x;
    old.erase_h = a.erase_h;
    old.erase_w = a.erase_w;
    memcpy(old.erase_value, a.erase_value, sizeof old.erase_value);
    old.erase_noise_seed = a.erase_noise_seed;
    old.cutmix_y0 = a.cutmix_y0;
    old.cutmix_y1 = a.cutmix_y1;
    old.cutmix_x0 = a.cutmix_x0;
    old.cutmix_x1 = a.cutmix_x1;
    uint8_t rec[MXP_AUG_RECORD + 1];
    memset(rec, 0xee, sizeof rec);
    mxp_aug_encode(rec, &a);
    const uint8_t *want = (const uint8_t *)&old;
    for (size_t i = 0; i < MXP_AUG_RECORD; i++)
        cr_assert_eq(rec[i], want[i], "byte %zu: 0x%02x, old layout 0x%02x", i,
                     rec[i], want[i]);
    cr_assert_eq(rec[MXP_AUG_RECORD], 0xee, "wrote past the record");
    /* And back; the bytes that were reserved (now the image crop boxes)
     * do not disturb the other fields. */
    memset(rec + 80, 0xff, 16);
    rec[3] = 0xff;
    mxp_aug b;
    mxp_aug_decode(rec, &b);
    cr_assert_eq(b.mix_kind, a.mix_kind);
    cr_assert_eq(b.flip, a.flip);
    cr_assert_eq(b.erase_fill, a.erase_fill);
    cr_assert_eq(float_bits(b.shift_dy), float_bits(a.shift_dy));
    cr_assert_eq(float_bits(b.shift_dx), float_bits(a.shift_dx));
    cr_assert_eq(b.crop_y, a.crop_y);
    cr_assert_eq(b.crop_x, a.crop_x);
    cr_assert_eq(b.erase_y, a.erase_y);
    cr_assert_eq(b.erase_x, a.erase_x);
    cr_assert_eq(b.erase_h, a.erase_h);
    cr_assert_eq(b.erase_w, a.erase_w);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(float_bits(b.erase_value[i]), float_bits(a.erase_value[i]));
    cr_assert_eq(b.erase_noise_seed, a.erase_noise_seed);
    cr_assert_eq(b.cutmix_y0, a.cutmix_y0);
    cr_assert_eq(b.cutmix_y1, a.cutmix_y1);
    cr_assert_eq(b.cutmix_x0, a.cutmix_x0);
    cr_assert_eq(b.cutmix_x1, a.cutmix_x1);
}

/* ------------------------------------------------------ ring header */

static mxp_ring_head ring_head(uint32_t n, uint64_t slot_size)
{
    mxp_ring_head h = {.n_slots = n, .slot_size = slot_size,
                       .data_offset = mxp_ring_head_size(n)};
    for (int i = 0; i < 16; i++)
        h.token[i] = (uint8_t)(i * 17);
    return h;
}

/* A segment of @len bytes (zeroed) with @h's header at offset 0. */
static uint8_t *segment(const mxp_ring_head *h, size_t len)
{
    uint8_t *seg = calloc(1, len);
    cr_assert(seg);
    cr_assert_eq(mxp_ring_head_encode(seg, len, h), (int)MXP_RING_FIXED);
    return seg;
}

static void ring_fails(const uint8_t *seg, size_t len, int code,
                       const char *needle)
{
    mxp_ring_head h;
    char err[256];
    memset(err, 0x5a, sizeof err);
    int rc = mxp_ring_head_decode(seg, len, &h, err, sizeof err);
    cr_assert(memchr(err, 0, sizeof err), "error message not terminated");
    cr_assert_eq(rc, code, "rc %d, want %d (%s)", rc, code, err);
    cr_assert(strstr(err, needle), "error \"%s\" does not mention \"%s\"", err,
              needle);
}

Test(proto_v2, ring_head_size_rounds_to_pages)
{
    cr_assert_eq(mxp_ring_head_size(0), 4096u);
    cr_assert_eq(mxp_ring_head_size(1), 4096u);
    cr_assert_eq(mxp_ring_head_size(1008), 4096u); /* 64 + 4032 */
    cr_assert_eq(mxp_ring_head_size(1009), 8192u);
    cr_assert_eq(mxp_ring_head_size(UINT32_MAX),
                 ((64 + 4 * (size_t)UINT32_MAX) + 4095) / 4096 * 4096);
}

Test(proto_v2, ring_head_round_trip_and_layout)
{
    mxp_ring_head h = ring_head(3, 2 * 4096);
    size_t len = h.data_offset + 3 * h.slot_size;
    uint8_t *seg = segment(&h, len);
    cr_assert_eq(seg[0], 'M');
    cr_assert_eq(seg[1], 'X');
    cr_assert_eq(seg[2], 'R');
    cr_assert_eq(seg[3], 'G');
    cr_assert_eq(seg[4], MXP_VERSION);
    cr_assert_eq(seg[8 + 15], 15 * 17);
    cr_assert_eq(seg[24], 3);
    cr_assert_eq(seg[33], 0x20); /* slot_size 8192 */
    cr_assert_eq(seg[41], 0x10); /* data_offset 4096 */
    mxp_ring_head got;
    char err[256] = "";
    cr_assert_eq(mxp_ring_head_decode(seg, len, &got, err, sizeof err), 0, "%s",
                 err);
    cr_assert_eq(got.n_slots, 3u);
    cr_assert_eq(got.slot_size, 8192u);
    cr_assert_eq(got.data_offset, 4096u);
    for (int i = 0; i < 16; i++)
        cr_assert_eq(got.token[i], h.token[i]);
    /* The generation words, at 64 + 4 i, little-endian. */
    mxp_ring_gen_store(seg, 2, 0x01020304u);
    cr_assert_eq(seg[MXP_RING_GENS + 8], 0x04);
    cr_assert_eq(seg[MXP_RING_GENS + 11], 0x01);
    cr_assert_eq(mxp_ring_gen_load(seg, 2), 0x01020304u);
    cr_assert_eq(mxp_ring_gen_load(seg, 0), 0u);
    /* References to its slots. */
    mxp_batch_ref r = {.slot = 2, .offset = 4096 + 2 * 8192, .size = 8192};
    cr_assert_eq(mxp_batch_ref_check(&r, &got, err, sizeof err), 0, "%s", err);
    r.size = 8193;
    cr_assert_eq(mxp_batch_ref_check(&r, &got, err, sizeof err), MIXUP_EPROTO);
    r.size = 100;
    r.offset += 4096;
    cr_assert_eq(mxp_batch_ref_check(&r, &got, err, sizeof err), MIXUP_EPROTO);
    cr_assert(strstr(err, "starts at 20480"), "%s", err);
    r.slot = 3;
    r.offset = 4096 + 3 * 8192;
    cr_assert_eq(mxp_batch_ref_check(&r, &got, err, sizeof err), MIXUP_EPROTO);
    cr_assert(strstr(err, "slot 3 of a ring of 3"), "%s", err);
    /* One byte short of the last slot. */
    ring_fails(seg, len - 1, MIXUP_EPROTO, "does not fit");
    ring_fails(seg, 63, MIXUP_EPROTO, "shorter than its 64-byte header");
    free(seg);
}

Test(proto_v2, ring_head_rejects_bad_fields)
{
    mxp_ring_head h = ring_head(2, 4096);
    size_t len = 3 * 4096;
    uint8_t *seg = segment(&h, len);
    seg[3] = 'H';
    ring_fails(seg, len, MIXUP_EPROTO, "magic");
    seg[3] = 'G';
    put32(seg + 4, 1);
    ring_fails(seg, len, MIXUP_EVERSION, "ring written by mixupd protocol 1, "
                                         "this build speaks 3");
    put32(seg + 4, MXP_VERSION);
    put32(seg + 28, 1);
    ring_fails(seg, len, MIXUP_EPROTO, "reserved");
    put32(seg + 28, 0);
    seg[63] = 1;
    ring_fails(seg, len, MIXUP_EPROTO, "reserved");
    seg[63] = 0;
    put32(seg + 24, 0);
    ring_fails(seg, len, MIXUP_EPROTO, "n_slots is 0");
    put32(seg + 24, 2);
    put64(seg + 32, 0);
    ring_fails(seg, len, MIXUP_EPROTO, "slot_size 0");
    put64(seg + 32, 4097);
    ring_fails(seg, len, MIXUP_EPROTO, "slot_size 4097");
    put64(seg + 32, 4096);
    put64(seg + 40, 0);
    ring_fails(seg, len, MIXUP_EPROTO, "data_offset 0");
    put64(seg + 40, 4096 + 64);
    ring_fails(seg, len, MIXUP_EPROTO, "data_offset 4160");
    /* The generation table of 1009 slots runs into the second page. */
    put64(seg + 40, 4096);
    put32(seg + 24, 1009);
    ring_fails(seg, len, MIXUP_EPROTO, "at least 8192");
    put32(seg + 24, 2);
    mxp_ring_head got;
    cr_assert_eq(mxp_ring_head_decode(seg, len, &got, NULL, 0), 0);
    free(seg);
}

Test(proto_v2, ring_head_rejects_overflowing_geometry)
{
    uint8_t seg[2 * 4096];
    mxp_ring_head h = ring_head(1, 4096);
    memset(seg, 0, sizeof seg);
    cr_assert_eq(mxp_ring_head_encode(seg, sizeof seg, &h), 64);
    mxp_ring_head got;
    cr_assert_eq(mxp_ring_head_decode(seg, sizeof seg, &got, NULL, 0), 0);
    /* n_slots * slot_size wraps; data_offset + slots wraps. */
    put32(seg + 24, UINT32_MAX);
    put64(seg + 32, 1ull << 52);
    put64(seg + 40, mxp_ring_head_size(UINT32_MAX));
    ring_fails(seg, sizeof seg, MIXUP_EPROTO, "does not fit");
    put32(seg + 24, 2);
    put64(seg + 32, 1ull << 63);
    put64(seg + 40, 4096);
    ring_fails(seg, sizeof seg, MIXUP_EPROTO, "does not fit");
    put32(seg + 24, 1);
    put64(seg + 32, 4096);
    put64(seg + 40, UINT64_MAX - 4095);
    ring_fails(seg, sizeof seg, MIXUP_EPROTO, "does not fit");
    /* The encoder refuses what the decoder would, and a short buffer. */
    h.slot_size = 100;
    cr_assert_eq(mxp_ring_head_encode(seg, sizeof seg, &h), MIXUP_EINVAL);
    h = ring_head(1, 4096);
    h.data_offset = 0;
    cr_assert_eq(mxp_ring_head_encode(seg, sizeof seg, &h), MIXUP_EINVAL);
    h = ring_head(2, 1ull << 63);
    cr_assert_eq(mxp_ring_head_encode(seg, sizeof seg, &h), MIXUP_EINVAL);
    h = ring_head(1, 4096);
    cr_assert_eq(mxp_ring_head_encode(seg, 63, &h), MIXUP_EINVAL);
}
