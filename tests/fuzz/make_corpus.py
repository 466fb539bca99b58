#!/usr/bin/env python3
"""Write the seed inputs of the fuzz corpus (tests/fuzz/corpus/).

    python3 tests/fuzz/make_corpus.py [corpus-dir]

Seeds are named seed-*; the other files of the corpus directories are
inputs the fuzzers found (libFuzzer names them by their SHA-1), kept after
a merge because they reach code the seeds do not. Re-running this script
rewrites the seeds and leaves those alone.

The wire format is described in proto/proto.h: a 24-byte little-endian
header (magic "MIXP", version, type, flags, request id, body length) and a
body. This script writes it with struct.pack, independently of proto.c:
the seeds are a second reading of the format. When the format changes,
update both and re-run.

Protocol version 3 (MXP_VERSION) is what this script writes: the HELLO
exchange, the 64-byte proof trailer (client nonce, daemon nonce,
HMAC-SHA256) instead of the token, a 16-byte nonce in OPEN and the
delivery count in a BATCH reply's bytes 56..63. The seeds of version 1
were kept, renamed seed-v1-*, and are no longer written: they are the
safety net of the version check, and tests/test_fuzz_corpus.c requires
every version-1 message of the corpus to be refused with MIXUP_EVERSION.
The seeds once written as version 2 are rewritten as version 3 under the
same names; "version-2" seeds stand for a version 2 peer. ring/ holds ring segments (the header at offset 0 of the
shared-memory ring, proto.h) for the ring target.

npy/ holds .npy files as numpy writes them (format 1.0, 2.0, 3.0: magic,
version, header length, a padded dict literal, the data) and broken ones;
json/ holds stats texts captured from mixupd and JSON edge cases.
"""
import os
import struct
import sys

MAGIC = b"MIXP"
VERSION = 3
HEADER = 24
PAGE = 4096
RING_MAGIC = b"MXRG"
ALIGN = 64
BATCH_FIXED = 64

INFO_REQ, OPEN_REQ, NEXT_REQ, CLOSE_REQ, STATS_REQ = 1, 2, 3, 4, 5
INFO_REP, OPEN_REP, BATCH_REP, CLOSE_REP, STATS_REP = 0x81, 0x82, 0x83, 0x84, 0x85
BATCH_REF_REP = 0x86
HELLO_REQ, HELLO_REP = 6, 0x87
NONCE, MAC = 16, 32
PROOF = 2 * NONCE + MAC  # the auth trailer: client nonce, daemon nonce, MAC
ERROR_REP = 0xFF


def header(mtype, rid, body_len, version=VERSION, flags=0, magic=MAGIC):
    return magic + struct.pack("<HHIQI", version, mtype, flags, rid, body_len)


def msg(mtype, rid, body=b"", **kw):
    return header(mtype, rid, len(body), **kw) + body


def open_body(mode=0, prefetch=0, seed=0, epoch=0, batch=0, rank=0, world=0,
              job=b"", job_len=None, stride=0, offset=0, pipeline=b"",
              pipeline_len=None, nonce=bytes(range(0x40, 0x50))):
    """OPEN: the fixed 64 bytes (job_len u16, pipeline_len u16, stride u16,
    offset u16, then the 16-byte nonce of v3), the job name, the pipeline
    name."""
    n = len(job) if job_len is None else job_len
    p = len(pipeline) if pipeline_len is None else pipeline_len
    return (struct.pack("<IIQQQIIHHHH", mode, prefetch, seed, epoch, batch,
                        rank, world, n, p, stride, offset) + nonce + job
            + pipeline)


def info_rep_tail(flags=1, pipeline=b"val", pipelines=b"main,val",
                  pipeline_len=None, pipelines_len=None,
                  digests=(0x0123456789ABCDEF, 0xFEDCBA9876543210)):
    """The INFO reply after v1's 48 bytes: flags u32, pipeline_len u16,
    pipelines_len u16, dataset and settings digests, the
    names."""
    return struct.pack("<IHHQQ", flags,
                       len(pipeline) if pipeline_len is None else pipeline_len,
                       len(pipelines) if pipelines_len is None
                       else pipelines_len, *digests) + pipeline + pipelines


def next_body(stream=1, flags=0, pairs=(), n=None):
    """NEXT v2: stream u64, flags u32, n_release u32, {slot, generation}."""
    body = struct.pack("<QII", stream, flags, len(pairs) if n is None else n)
    return body + b"".join(struct.pack("<II", s, g) for s, g in pairs)


def open_rep_body(name=b"/mixupd-1234-ring", token=bytes(range(16)),
                  ring_bytes=1 << 20, max_held=8, reserved=0, stream=7,
                  digests=(0x0123456789ABCDEF, 0xFEDCBA9876543210)):
    """OPEN reply v2: v1's 40 bytes, ring_name[64], token[16], ring_bytes,
    max_held, reserved, dataset and settings digests."""
    return (struct.pack("<QQQQQ", stream, 234, 29, 4, 117)
            + name.ljust(64, b"\0")[:64] + token
            + struct.pack("<QIIQQ", ring_bytes, max_held, reserved, *digests))


def ref_body(slot=1, gen=3, offset=2 * PAGE, size=4096, stream=7, epoch=0,
             index=5):
    return struct.pack("<IIQQQQQ", slot, gen, offset, size, stream, epoch, index)


def ring(n_slots=2, slot_size=PAGE, data_offset=PAGE, version=VERSION,
         magic=RING_MAGIC, reserved=0, tail=0, length=None, gens=None):
    """A ring segment: header, generation table, slots (zeros)."""
    head = (magic + struct.pack("<I", version) + bytes(range(0x40, 0x50))
            + struct.pack("<IIQQ", n_slots, reserved, slot_size, data_offset)
            + b"\0" * 16)
    words = gens if gens is not None else list(range(1, min(n_slots, 1024) + 1))
    table = b"".join(struct.pack("<I", g) for g in words)
    total = data_offset + n_slots * slot_size + tail if length is None else length
    seg = (head + table)[:total]
    return seg + b"\0" * (total - len(seg))


def align(v):
    return (v + ALIGN - 1) // ALIGN * ALIGN


def batch(rid, B, H, W, C, K, epoch=0, index=0, stream=1, dtype=1, layout=0,
          extra=0, seq=1):
    """A BATCH reply with recognisable array contents."""
    i1 = align(HEADER + BATCH_FIXED)
    i2 = align(i1 + 8 * B)
    lam = align(i2 + 8 * B)
    x = align(lam + 4 * B)
    y = align(x + 4 * B * H * W * C)
    total = y + 4 * B * K + extra
    buf = bytearray(total)
    buf[0:HEADER] = header(BATCH_REP, rid, total - HEADER)
    buf[HEADER:HEADER + 52] = struct.pack("<QQQIIIIIII", epoch, index, stream,
                                          B, H, W, C, K, dtype, layout)
    struct.pack_into("<Q", buf, HEADER + 56, seq)  # v3: delivery count
    for j in range(B):
        struct.pack_into("<q", buf, i1 + 8 * j, 2 * j)
        struct.pack_into("<q", buf, i2 + 8 * j, 2 * j + 1)
        struct.pack_into("<f", buf, lam + 4 * j, 0.25 + 0.5 * j / B)
    for k in range(B * H * W * C):
        struct.pack_into("<f", buf, x + 4 * k, k / 7.0)
    for k in range(B * K):
        struct.pack_into("<f", buf, y + 4 * k, 1.0 if k % K == 0 else 0.0)
    return bytes(buf)


def requests():
    job = b"resnet50-imagenet/run-7"
    return {
        # valid, one of each type
        "info": msg(INFO_REQ, 1),
        "open-default": msg(OPEN_REQ, 2, open_body()),
        "open-resume": msg(OPEN_REQ, 3, open_body(seed=0xDEADBEEF, epoch=4,
                                                  batch=117, prefetch=8)),
        "open-striped": msg(OPEN_REQ, 4, open_body(mode=1, rank=1, world=2,
                                                   job=b"s", stride=3,
                                                   offset=2)),
        "open-sharded-job": msg(OPEN_REQ, 4, open_body(mode=1, rank=3, world=8,
                                                       job=job)),
        "open-shared-job64": msg(OPEN_REQ, 5, open_body(mode=2, job=b"j" * 64)),
        "next": msg(NEXT_REQ, 6, next_body()),
        "next-ref": msg(NEXT_REQ, 6, next_body(flags=1)),
        "next-release-1": msg(NEXT_REQ, 6, next_body(1, 1, [(3, 7)])),
        "next-release-3": msg(NEXT_REQ, 6, next_body(1, 0, [(0, 1), (1, 2),
                                                         (2**32 - 1, 2**32 - 1)])),
        "next-release-max": msg(NEXT_REQ, 6, next_body(
            1, 1, [(i, i * 7) for i in range(1024)])),
        "close": msg(CLOSE_REQ, 7, struct.pack("<Q", 1)),
        "next-max-ids": msg(NEXT_REQ, 2**64 - 1, next_body(2**64 - 1)),
        "stats-json": msg(STATS_REQ, 8, struct.pack("<I", 0)),
        "stats-text": msg(STATS_REQ, 9, struct.pack("<I", 1)),
        # invalid headers
        "empty": b"",
        "truncated-header": msg(INFO_REQ, 8)[:13],
        "header-23": msg(INFO_REQ, 8)[:23],
        "bad-magic": msg(INFO_REQ, 9, magic=b"MIXQ"),
        "version-1": msg(INFO_REQ, 10, version=1),
        "version-2": msg(INFO_REQ, 10, version=2),
        "version-4": msg(INFO_REQ, 10, version=4),
        "version-2-token": msg(INFO_REQ, 10, b"T" * 32, version=2, flags=1),
        "version-0": msg(NEXT_REQ, 10, next_body(), version=0),
        "flags": msg(INFO_REQ, 11, flags=1),
        "flags-4": msg(INFO_REQ, 11, flags=4),
        # trailers: stream key (flag 2, 16 bytes), then the proof (flag
        # 1, 64 bytes: client nonce, daemon nonce, MAC), at the end of any
        # request's body
        "info-token": msg(INFO_REQ, 25, b"C" * 16 + b"D" * 16 + b"M" * 32,
                          flags=1),
        "next-key-token": msg(NEXT_REQ, 26, next_body(5) + b"K" * 16 +
                              b"C" * 16 + b"D" * 16 + b"M" * 32, flags=3),
        "close-key": msg(CLOSE_REQ, 27, struct.pack("<Q", 5) + b"K" * 16,
                         flags=2),
        "open-token": msg(OPEN_REQ, 28, open_body(job=b"j") + b"P" * PROOF,
                          flags=1),
        "close-key-short": msg(CLOSE_REQ, 29, struct.pack("<Q", 5), flags=2),
        "stats-token-short": msg(STATS_REQ, 29, struct.pack("<I", 0) +
                                 b"T" * 60, flags=1),
        "stats-v2-token": msg(STATS_REQ, 29, struct.pack("<I", 0) + b"T" * 32,
                              flags=1),
        # the exchange: HELLO carries the client's nonce, nothing else
        "hello": msg(HELLO_REQ, 31, bytes(range(16))),
        "hello-short": msg(HELLO_REQ, 31, bytes(range(15))),
        "hello-long": msg(HELLO_REQ, 31, bytes(range(17))),
        "hello-signed": msg(HELLO_REQ, 31, bytes(range(16)) + b"P" * PROOF,
                            flags=1),
        "body-len-long": header(NEXT_REQ, 12, 17) + next_body(),
        "body-len-short": header(NEXT_REQ, 12, 15) + next_body(),
        "too-big": msg(NEXT_REQ, 13, b"\0" * (4096 - HEADER + 1)),
        "unknown-type": msg(0x7, 14),
        "reply-as-request": msg(INFO_REP, 15, b"\0" * 48),
        "error-as-request": msg(ERROR_REP, 15, struct.pack("<iI", -5, 0)),
        # invalid bodies
        "info-with-body": msg(INFO_REQ, 16, b"\0" * 8),
        "info-pipeline": msg(INFO_REQ, 16, b"val_2-x"),
        "open-pipeline": msg(OPEN_REQ, 16, open_body(mode=2, job=job,
                                                     pipeline=b"val")),
        "next-short": msg(NEXT_REQ, 17, b"\0" * 4),
        "next-v1-body": msg(NEXT_REQ, 17, struct.pack("<Q", 1)),
        "next-flags-2": msg(NEXT_REQ, 17, next_body(flags=2)),
        "next-flags-high": msg(NEXT_REQ, 17, next_body(flags=0x80000001)),
        "next-release-past-end": msg(NEXT_REQ, 17, next_body(n=2, pairs=[(1, 1)])
                                     [:16] + struct.pack("<II", 1, 1)),
        "next-release-short": msg(NEXT_REQ, 17, next_body(pairs=[(1, 1)])[:-1]),
        "next-release-extra": msg(NEXT_REQ, 17, next_body(n=0, pairs=[(1, 1)])),
        "next-release-1025": msg(NEXT_REQ, 17, next_body(
            pairs=[(i, 0) for i in range(1025)])),
        "next-release-huge": msg(NEXT_REQ, 17, next_body(n=2**32 - 1)),
        "close-long": msg(CLOSE_REQ, 18, b"\0" * 16),
        "open-short": msg(OPEN_REQ, 19, open_body()[:63]),
        "open-v2-body": msg(OPEN_REQ, 19, open_body()[:48]),
        "open-pipeline-len-past-body": msg(OPEN_REQ, 20,
                                           open_body(pipeline_len=1)),
        "open-offset-past-stride": msg(OPEN_REQ, 21,
                                       open_body(stride=2, offset=2)),
        "open-offset-no-stride": msg(OPEN_REQ, 21, open_body(offset=1)),
        "open-pipeline-bad-byte": msg(OPEN_REQ, 21,
                                      open_body(job=b"j", pipeline=b"v.l")),
        "open-pipeline-33": msg(OPEN_REQ, 21, open_body(pipeline=b"p" * 33)),
        "info-pipeline-33": msg(INFO_REQ, 21, b"p" * 33),
        "open-mode-3": msg(OPEN_REQ, 22, open_body(mode=3)),
        "open-long-job": msg(OPEN_REQ, 23, open_body(mode=1, job=b"j" * 65)),
        "open-job-len-over": msg(OPEN_REQ, 24, open_body(job=b"abc", job_len=4)),
        "open-job-len-under": msg(OPEN_REQ, 25, open_body(job=b"abc", job_len=2)),
        "open-job-space": msg(OPEN_REQ, 26, open_body(job=b"my job")),
        "open-job-high": msg(OPEN_REQ, 27, open_body(job=b"caf\xc3\xa9")),
        "open-job-ctrl": msg(OPEN_REQ, 28, open_body(job=b"a\x7fb")),
        "stats-format-2": msg(STATS_REQ, 29, struct.pack("<I", 2)),
        "stats-long": msg(STATS_REQ, 30, struct.pack("<II", 0, 0)),
    }


def replies():
    info = struct.pack("<QQIIIIIfII", 60000, 234, 28, 28, 1, 10, 128, 0.2,
                       1, 1) + info_rep_tail(flags=0, pipeline=b"main",
                                             pipelines=b"main,val")
    v1 = info[:48]
    text = b"OPEN mode 3 unknown (0 independent, 1 sharded, 2 shared)"
    return {
        # valid, one of each type
        "info": msg(INFO_REP, 1, info),
        "info-val": msg(INFO_REP, 1, v1 + info_rep_tail()),
        "info-v1-body": msg(INFO_REP, 1, v1),
        "info-unknown-flag": msg(INFO_REP, 1, v1 + info_rep_tail(flags=2)),
        "info-list-past-body": msg(INFO_REP, 1,
                                   v1 + info_rep_tail(pipelines_len=9)),
        "info-list-bad-byte": msg(INFO_REP, 1,
                                  v1 + info_rep_tail(pipelines=b"main val")),
        "info-nan-alpha": msg(INFO_REP, 1, info[:36] + b"\x01\x00\xc0\x7f"
                              + info[40:]),
        "open": msg(OPEN_REP, 2, open_rep_body()),
        "open-no-ring": msg(OPEN_REP, 2, open_rep_body(name=b"", token=b"\0" * 16,
                                                       ring_bytes=0, max_held=0)),
        "open-name-63": msg(OPEN_REP, 2, open_rep_body(name=b"/" + b"r" * 62)),
        "batch-ref": msg(BATCH_REF_REP, 2, ref_body()),
        "batch-ref-max": msg(BATCH_REF_REP, 2, ref_body(2**32 - 1, 2**32 - 1,
                                                        2**64 - 2**32, 2**32 - 1,
                                                        2**64 - 1, 2**64 - 1,
                                                        2**64 - 1)),
        "close": msg(CLOSE_REP, 3),
        "stats-json": msg(STATS_REP, 3, b'{"requests": 12, "bad_requests": 1}\n'),
        "stats-empty": msg(STATS_REP, 3),
        "error": msg(ERROR_REP, 4, struct.pack("<iI", -5, len(text)) + text),
        "error-empty": msg(ERROR_REP, 4, struct.pack("<iI", -18, 0)),
        "error-1024": msg(ERROR_REP, 4, struct.pack("<iI", -5, 1024) + b"e" * 1024),
        "error-nul": msg(ERROR_REP, 4, struct.pack("<iI", -5, 3) + b"a\0b"),
        "batch-1x1x1x1": batch(5, 1, 1, 1, 1, 1),
        "batch-3x2x2x3": batch(6, 3, 2, 2, 3, 4, epoch=2, index=9),
        "batch-2x5x3x1": batch(7, 2, 5, 3, 1, 10),
        "batch-seq-max": batch(7, 1, 1, 1, 1, 2, seq=2**64 - 1),
        "hello": msg(HELLO_REP, 31, bytes(range(16)) + bytes(range(32, 64))),
        "hello-short": msg(HELLO_REP, 31, bytes(range(47))),
        "hello-flags": msg(HELLO_REP, 31, bytes(range(48)) + b"K" * 16,
                           flags=2),
        # invalid
        "empty": b"",
        "truncated-header": msg(CLOSE_REP, 8)[:20],
        "bad-magic": msg(CLOSE_REP, 9, magic=b"PXIM"),
        "version-1": msg(CLOSE_REP, 10, version=1),
        "version-2": msg(CLOSE_REP, 10, version=2),
        "version-4": msg(CLOSE_REP, 10, version=4),
        "flags": msg(CLOSE_REP, 11, flags=0x80000000),
        "open-key": msg(OPEN_REP, 16, open_rep_body() + b"K" * 16, flags=2),
        "close-token": msg(CLOSE_REP, 16, b"P" * PROOF, flags=1),
        "close-key-short": msg(CLOSE_REP, 16, b"K" * 8, flags=2),
        "body-len-long": header(OPEN_REP, 12, 41) + b"\0" * 40,
        "request-as-reply": msg(NEXT_REQ, 13, next_body()),
        "info-short": msg(INFO_REP, 14, info[:44]),
        "open-long": msg(OPEN_REP, 15, b"\0" * 144),
        "open-short": msg(OPEN_REP, 15, b"\0" * 128),
        "open-v1-body": msg(OPEN_REP, 15, b"\0" * 40),
        "open-name-64": msg(OPEN_REP, 15, open_rep_body(name=b"/" + b"r" * 63)),
        "open-name-no-slash": msg(OPEN_REP, 15, open_rep_body(name=b"ring")),
        "open-name-two-slashes": msg(OPEN_REP, 15, open_rep_body(name=b"/a/b")),
        "open-name-space": msg(OPEN_REP, 15, open_rep_body(name=b"/a b")),
        "open-name-high": msg(OPEN_REP, 15, open_rep_body(name=b"/caf\xc3\xa9")),
        "open-name-ctrl": msg(OPEN_REP, 15, open_rep_body(name=b"/a\x1bb")),
        "open-name-nul-inside": msg(OPEN_REP, 15, open_rep_body(name=b"/a\0b")),
        "open-name-slash-only": msg(OPEN_REP, 2, open_rep_body(name=b"/")),
        "open-reserved": msg(OPEN_REP, 15, open_rep_body(reserved=1)),
        "batch-ref-short": msg(BATCH_REF_REP, 15, ref_body()[:-1]),
        "batch-ref-long": msg(BATCH_REF_REP, 15, ref_body() + b"\0"),
        "batch-ref-offset-0": msg(BATCH_REF_REP, 15, ref_body(offset=0)),
        "batch-ref-unaligned": msg(BATCH_REF_REP, 15, ref_body(offset=PAGE + 64)),
        "batch-ref-size-small": msg(BATCH_REF_REP, 15, ref_body(size=87)),
        "batch-ref-size-4g": msg(BATCH_REF_REP, 15, ref_body(size=2**32)),
        "batch-ref-wraps": msg(BATCH_REF_REP, 15, ref_body(offset=2**64 - PAGE,
                                                           size=2 * PAGE)),
        "close-with-body": msg(CLOSE_REP, 16, b"\0"),
        "error-short": msg(ERROR_REP, 17, b"\xfb\xff\xff\xff"),
        "error-positive": msg(ERROR_REP, 18, struct.pack("<iI", 5, 2) + b"no"),
        "error-zero": msg(ERROR_REP, 18, struct.pack("<iI", 0, 0)),
        "error-len-over": msg(ERROR_REP, 19, struct.pack("<iI", -5, 3) + b"no"),
        "error-1025": msg(ERROR_REP, 20, struct.pack("<iI", -5, 1025) + b"e" * 1025),
        "batch-zero-size": batch(21, 1, 1, 1, 1, 1)[:HEADER + 24]
        + struct.pack("<I", 0) + batch(21, 1, 1, 1, 1, 1)[HEADER + 28:],
        "batch-overflow": batch(22, 1, 1, 1, 1, 1)[:HEADER + 28]
        + struct.pack("<II", 0x10000, 0x10000) + batch(22, 1, 1, 1, 1, 1)[HEADER + 36:],
        "batch-dtype-4": batch(23, 1, 1, 1, 1, 1, dtype=4),
        "batch-layout-1": batch(24, 1, 1, 1, 1, 1, layout=1),
        "batch-trailing": batch(25, 1, 1, 1, 1, 1, extra=1),
        "batch-truncated": batch(26, 2, 2, 2, 1, 2)[:-4],
        "batch-short-fixed": msg(BATCH_REP, 27, b"\0" * 63),
    }


def rings():
    return {
        # valid
        "two-slots": ring(),
        "one-slot-big": ring(n_slots=1, slot_size=3 * PAGE),
        "gap-after-head": ring(n_slots=3, data_offset=3 * PAGE),
        "tail": ring(tail=100),
        # invalid
        "empty": b"",
        "short-header": ring()[:63],
        "bad-magic": ring(magic=b"MXRH"),
        "version-1": ring(version=1),
        "version-3": ring(version=3),
        "reserved": ring(reserved=1),
        "reserved-tail": ring()[:48] + b"\1" + ring()[49:],
        "slots-0": ring(n_slots=0, length=2 * PAGE),
        "slot-size-0": ring(slot_size=0, length=2 * PAGE),
        "slot-size-unaligned": ring(slot_size=PAGE + 1),
        "data-offset-0": ring(data_offset=0, length=3 * PAGE),
        "data-offset-unaligned": ring(data_offset=PAGE + 64),
        "data-offset-in-table": ring(n_slots=1009, data_offset=PAGE, length=2 * PAGE),
        "truncated-slot": ring()[:-1],
        "slots-overflow": ring(n_slots=2**32 - 1, slot_size=2**52, length=2 * PAGE),
        "offset-overflow": ring(n_slots=1, slot_size=PAGE, data_offset=2**64 - PAGE,
                                length=2 * PAGE),
        "sum-overflow": ring(n_slots=2, slot_size=2**63, data_offset=PAGE,
                             length=2 * PAGE),
    }


# ------------------------------------------------------------------ npy

NPY_MAGIC = b"\x93NUMPY"


def npy_shape(dims):
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def npy_dict(descr, dims, fortran=False):
    return "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (
        descr, fortran, dims if isinstance(dims, str) else npy_shape(dims))


def npy_header(text, version=1, align=64, pad=True):
    """Preamble and dict, padded as numpy pads it (spaces, then '\n')."""
    d = text.encode("latin-1") if isinstance(text, str) else text
    pre = 10 if version == 1 else 12
    if pad:
        total = pre + len(d) + 1
        d += b" " * ((-total) % align) + b"\n"
    size = struct.pack("<H" if version == 1 else "<I", len(d))
    return NPY_MAGIC + bytes([version, 0]) + size + d


def npy_data(descr, dims):
    n = int(descr[2:])
    for d in dims:
        n *= d
    return bytes((7 * i + 1) & 0xFF for i in range(n))


def npy_file(descr, dims, version=1, **kw):
    return npy_header(npy_dict(descr, dims), version, **kw) + npy_data(descr, dims)


def npy_text(text, version=1, **kw):
    """A header of the dict @text and no data."""
    return npy_header(text, version, **kw)


def npys():
    ok = npy_file("|u1", (2, 3, 4))
    seeds = {
        # valid images, every version, both dtypes, 3 and 4 dimensions
        "v1-u1-images-nhw": ok,
        "v1-u1-images-nhwc": npy_file("|u1", (2, 2, 2, 3)),
        "v2-f4-images-nhwc": npy_file("<f4", (2, 2, 1, 3), version=2),
        "v3-f4-images-nhw": npy_file("<f4", (1, 4, 4), version=3),
        "v2-u1-images-none": npy_file("|u1", (0, 28, 28, 1), version=2),
        # valid labels: class indices of every integer dtype, float rows
        "v1-i8-labels": npy_file("<i8", (5,)),
        "v2-u1-labels": npy_file("|u1", (3,), version=2),
        "v3-f4-label-rows": npy_file("<f4", (3, 4), version=3),
        "v1-f4-label-rows-k0": npy_file("<f4", (3, 0)),
        # what mixupctl dump writes: lam [B], position [B, 2]
        "v1-f4-1d": npy_file("<f4", (4,)),
        "v1-i8-2d": npy_file("<i8", (4, 2)),
        # header only: the first bytes of a large file
        "mixupctl-x-head": npy_text(npy_dict("<f4", (64, 28, 28, 1))),
        "mnist-head": npy_text(npy_dict("|u1", (60000, 28, 28))),
        "py2-long-head": npy_text(npy_dict("|u1", "(60000L, 28L, 28L)")),
        "py2-long": npy_text(npy_dict("|u1", "(2L, 1L, 1L)")) + b"\1\2",
        "scalar": npy_file("|u1", ()),
        "shape-trailing-comma": npy_text(npy_dict("|u1", "(2, 1, 1,)")) + b"ab",
        "unpadded": npy_file("|u1", (1, 1, 2), pad=False),
        "align-16": npy_file("|u1", (1, 2, 1), align=16),
        "fortran-order": npy_header(npy_dict("|u1", (2, 2, 2), True)) + b"\0" * 8,
        # truncated
        "truncated-magic": ok[:5],
        "truncated-v1-preamble": ok[:9],
        "truncated-v2-preamble": npy_file("|u1", (1, 1, 1), version=2)[:11],
        "truncated-dict": ok[:40],
        "truncated-data": ok[:-1],
        "trailing-byte": ok + b"\0",
        "empty": b"",
        # bad preambles
        "bad-magic": b"\x93NUMPZ" + ok[6:],
        "bad-magic-ascii": b"xNUMPY" + ok[6:],
        "version-0": ok[:6] + b"\0\0" + ok[8:],
        "version-4": ok[:6] + b"\4\0" + ok[8:],
        "version-1.1": ok[:6] + b"\1\1" + ok[8:],
        "version-2.1": npy_file("|u1", (1, 1, 1), version=2)[:7] + b"\1"
        + npy_file("|u1", (1, 1, 1), version=2)[8:],
        "header-len-0": ok[:8] + b"\0\0" + ok[10:],
        "header-len-65537": NPY_MAGIC + b"\2\0" + struct.pack("<I", 65537) + ok[10:],
        "header-len-65536-short": NPY_MAGIC + b"\3\0" + struct.pack("<I", 65536) + ok[10:],
        # huge shapes
        "dim-2^64-1": npy_text(npy_dict("|u1", (2**64 - 1, 1, 1))),
        "dim-2^64": npy_text(npy_dict("|u1", (2**64, 1, 1))),
        "dims-product-overflow": npy_text(npy_dict("<f4", (2**32, 2**32, 1))),
        "dims-product-overflow-f4": npy_text(npy_dict("<f4", (2**31, 2**31, 2))),
        "dim-h-2^32": npy_text(npy_dict("|u1", (1, 2**32, 1))),
        "dims-2^32-1": npy_text(npy_dict("|u1", (2**32 - 1,) * 4)),
        "label-width-2^32": npy_text(npy_dict("<f4", (1, 2**32))),
        "dims-8": npy_file("|u1", (2, 1, 1, 1, 1, 1, 1, 1)),
        "dims-9": npy_text(npy_dict("|u1", (1,) * 9)),
        # spacing numpy does not write, but a parser of Python literals takes
        "no-spaces": npy_text("{'descr':'|u1','fortran_order':False,'shape':(1,1,1)}") + b"z",
        "tabs-cr-lf": npy_text("{\t'descr' :\t'|u1' ,\r\n 'fortran_order' : False ,"
                               "\n'shape' : ( 1 , 2 , 1 ) ,\r\n}") + b"zz",
        "double-quotes": npy_text('{"descr": "<f4", "fortran_order": False, '
                                  '"shape": (1, 1, 1), }') + b"\0" * 4,
        "keys-reordered": npy_text("{'shape': (2,), 'fortran_order': False, "
                                   "'descr': '<i4'}") + b"\0" * 8,
        "leading-spaces": npy_text("   {'descr': '|u1', 'fortran_order': False, "
                                   "'shape': (1, 1, 1), }", pad=False) + b"\0",
        # bad dicts
        "key-unknown": npy_text("{'descr': '|u1', 'fortran_order': False, "
                                "'shape': (1,), 'dtype': 1}"),
        "key-twice": npy_text("{'descr': '|u1', 'descr': '|u1', "
                              "'fortran_order': False, 'shape': (1,)}"),
        "key-missing-shape": npy_text("{'descr': '|u1', 'fortran_order': False}"),
        "key-missing-descr": npy_text("{'fortran_order': False, 'shape': (1,)}"),
        "key-long": npy_text("{'fortran_order_and_more': False}"),
        "key-control-char": npy_text(b"{'de\x1b[2Jscr': '|u1'}"),
        "key-cr": npy_text(b"{'descr\r': '|u1'}"),
        "key-utf8": npy_text("{'d\u00e9scr': '|u1'}".encode("utf-8"), version=3),
        "dict-empty": npy_text("{}"),
        "dict-none": npy_text(""),
        "descr-long": npy_text(npy_dict("<f444444", (1,))),
        "descr-7": npy_text(npy_dict("<f44444", (1,))),
        "descr-empty": npy_text(npy_dict("", (1,))),
        "descr-backslash": npy_text(npy_dict("<f\\4", (1,))),
        "descr-nul": npy_text(npy_dict("<f\0", (1,))),
        "descr-high-byte": npy_text(npy_dict("<\xe94", (1,))),
        "descr-big-endian": npy_file(">f4", (1, 1, 1)),
        "descr-f8": npy_file("<f8", (1, 1, 1)),
        "descr-u2-images": npy_file("<u2", (1, 1, 1)),
        "descr-structured": npy_text("{'descr': [('a', '<f4')], "
                                     "'fortran_order': False, 'shape': (1,), }"),
        "descr-unquoted": npy_text("{'descr': <f4, 'fortran_order': False, "
                                   "'shape': (1,), }"),
        "descr-unterminated": npy_text("{'descr': '<f4, 'fortran_order': False}"),
        "fortran-lowercase": npy_text(npy_dict("|u1", (1,)).replace("False", "false")),
        "fortran-int": npy_text(npy_dict("|u1", (1,)).replace("False", "0")),
        "shape-list": npy_text(npy_dict("|u1", "[2, 3]")),
        "shape-negative": npy_text(npy_dict("|u1", "(-1, 2)")),
        "shape-space": npy_text(npy_dict("|u1", "( )")),
        "shape-nested": npy_text(npy_dict("|u1", "((2,), 3)")),
        "shape-no-comma": npy_text(npy_dict("|u1", "(2 3)")),
        "shape-double-comma": npy_text(npy_dict("|u1", "(2,,)")),
        "shape-unclosed": npy_text("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3"),
        "text-after-dict": npy_text(npy_dict("|u1", (1,)) + " x"),
        "dict-unclosed": npy_text("{'descr': '|u1', 'fortran_order': False, "
                                  "'shape': (1,), ", pad=False),
        "nul-in-dict": npy_text(npy_dict("|u1", (1,)).replace(", 'shape'", "\0 'shape'")),
    }
    return seeds


# ----------------------------------------------------------------- json

# `mixupctl stats --json` from mixupd serving MNIST, idle, then with two
# clients of a sharded job (mixupd 0.1.0).
STATS_IDLE = (
    '{"uptime_s": 1.8, "dataset": {"samples": 60000, "shape": [28, 28, 1], '
    '"classes": 10, "bytes": 47280000}, "batch_size": 32, "batches_per_epoch": 937, '
    '"ring": {"slots": 16, "held": 0}, "requests": 1, "bad_requests": 0, '
    '"errors_sent": 0, "batches_sent": 0, "bytes_sent": 0, "batches_computed": 0, '
    '"batches_recomputed": 0, "slots_reclaimed": 0, "shared_redelivered": 0, '
    '"streams_open": 0, "streams_opened": 0, "streams_expired": 0, "pipeline": '
    '{"batch_size": 32, "alpha": 0.20000000000000001, "mix": "mixup", "pairing": '
    '"disjoint", "cutmix_alpha": 0, "switch_prob": 0.5, "mix_prob": 1, '
    '"label_smoothing": 0, "labels": "mixed", "order": "after_mix", "scale": '
    '0.00392156886, "dtype": 1, "layout": 0, "flip": [0, 0], "shift": {"height": 0, '
    '"width": 0, "fill": 1, "cval": 0}, "crop": {"pad": 0, "fill": 0, "value": 0}, '
    '"erase": {"p": 0, "fill": 1}, "normalize": false}, "config_digest": '
    '"a3a30045ae7f3be2", "workers": {"threads": 2, "jobs_run": 0, "busy": 0.000}, '
    '"errors": {}, "jobs": [], "streams": []}\n')

STATS_BUSY = (
    '{"uptime_s": 11.4, "dataset": {"samples": 60000, "shape": [28, 28, 1], '
    '"classes": 10, "bytes": 47280000}, "batch_size": 32, "batches_per_epoch": 937, '
    '"ring": {"slots": 16, "held": 3}, "requests": 31963, "bad_requests": 0, '
    '"errors_sent": 0, "batches_sent": 31957, "bytes_sent": 3272398037, '
    '"batches_computed": 31962, "batches_recomputed": 0, "slots_reclaimed": 0, '
    '"shared_redelivered": 0, "streams_open": 2, "streams_opened": 3, '
    '"streams_expired": 0, "pipeline": {"batch_size": 32, "alpha": '
    '0.20000000000000001, "mix": "mixup", "pairing": "disjoint", "cutmix_alpha": 0, '
    '"switch_prob": 0.5, "mix_prob": 1, "label_smoothing": 0, "labels": "mixed", '
    '"order": "after_mix", "scale": 0.00392156886, "dtype": 1, "layout": 0, '
    '"flip": [0, 0], "shift": {"height": 0, "width": 0, "fill": 1, "cval": 0}, '
    '"crop": {"pad": 0, "fill": 0, "value": 0}, "erase": {"p": 0, "fill": 1}, '
    '"normalize": false}, "config_digest": "a3a30045ae7f3be2", "workers": '
    '{"threads": 2, "jobs_run": 31962, "busy": 0.032}, "errors": {}, "jobs": '
    '[{"name": "shard-job", "mode": "sharded", "seed": 0, "world": 2, "members": 2, '
    '"batches_sent": 31955, "prepared": 0, "waiting": 0}], "streams": [{"id": '
    '"1670c4e700000001", "mode": "sharded", "job": "shard-job", "rank": 1, '
    '"world": 2, "seed": 0, "position": [34, 131], "batches_sent": 15978, '
    '"batches_per_s": 6505.00, "prepared": 1, "waiting": false}, {"id": '
    '"1670c4e800000002", "mode": "sharded", "job": "shard-job", "rank": 1, '
    '"world": 2, "seed": 0, "position": [34, 129], "batches_sent": 15977, '
    '"batches_per_s": 6505.50, "prepared": 2, "waiting": false}]}\n')


def jsons():
    seeds = {
        "stats-idle": STATS_IDLE,
        "stats-busy": STATS_BUSY,
        "stats-errors": '{"errors": {"EPROTO": 3, "ENOSTREAM": 1}, "jobs": [], '
                        '"streams": [{"id": "x", "waiting": true}]}',
        # literals and numbers
        "null": "null", "true": " true ", "false": "false\n",
        "zero": "0", "minus-zero": "-0", "fraction": "1.5e-3", "exponent": "1E+10",
        "big-int": "-12345678901234567890123",
        "overflow": "[1e999, -1e999, 1e-999]",
        "numbers": "[0,-2.5,3e2,0.1,1e-7,4294967296,18446744073709551615]",
        "hex": "0x1F", "leading-zero": "012", "dot-end": "1.",
        "minus": "-", "plus": "+1", "exp-end": "1e",
        "exp-sign-end": "[1e+]", "infinity": "-Infinity",
        # strings
        "escapes": '"\\" \\\\ \\/ \\b \\f \\n \\r \\t"',
        "unicode": '["\\u00e9", "\\u4e2d", "\\ud83d\\ude00", "\\uFFFF", "\\u0041"]',
        "unicode-nul": '{"a\\u0000b": "c\\u0000d"}',
        "lone-surrogate": '"\\udc00"',
        "raw-utf8": '{"caf\u00e9": "\u4e2d\u6587"}',
        "bad-escape": '"\\x41"', "short-unicode": '"\\u12"',
        "bad-unicode": '"\\u12g4"', "escape-at-end": '"\\',
        "unterminated": '"abc', "raw-control": '"a\x01b"', "raw-tab": '"a\tb"',
        # containers
        "empty-array": "[]", "empty-object": "{}", "empty-nested": '[[], {}, [{}]]',
        "object-nested": '{"a": {"b": {"c": [1, {"d": null}]}}}',
        "duplicate-keys": '{"a": 1, "b": 2, "a": 3}',
        "whitespace": ' \t\r\n[ 1 ,\n\t2 ] \r\n',
        "trailing-comma": "[1, 2,]", "trailing-comma-object": '{"a": 1,}',
        "missing-colon": '{"a" 1}', "number-key": "{1: 2}", "missing-comma": "[true false]",
        "trailing-text": "[1] x", "unclosed": '{"a": [1, 2',
        "empty": "", "nul-prefix": "nul", "literal-suffix": "truex",
        "embedded-nul": "[1]\0garbage",
        # depth: mixupctl accepts 32 levels of nesting (CTL_JSON_MAX_DEPTH)
        "depth-32": "[" * 33 + "]" * 33,
        "depth-32-object": '{"a":' * 32 + "1" + "}" * 32,
        "depth-33": "[" * 33 + "1" + "]" * 33,
        "depth-34": "[" * 34 + "]" * 34,
        "depth-1000": "[" * 1000,
    }
    return {k: v.encode("utf-8") if isinstance(v, str) else v
            for k, v in seeds.items()}


def fix_body_len(name, data):
    """Seeds built by slicing keep a consistent body_len where meant to."""
    if name in ("batch-truncated",):
        return data[:20] + struct.pack("<I", len(data) - HEADER) + data[24:]
    return data


def write(dirpath, seeds):
    os.makedirs(dirpath, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(dirpath, "seed-" + name), "wb") as f:
            f.write(fix_body_len(name, data))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    write(os.path.join(root, "request"), requests())
    write(os.path.join(root, "reply"), replies())
    write(os.path.join(root, "ring"), rings())
    write(os.path.join(root, "npy"), npys())
    write(os.path.join(root, "json"), jsons())


if __name__ == "__main__":
    main()
