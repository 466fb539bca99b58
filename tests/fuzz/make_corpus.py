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
"""
import os
import struct
import sys

MAGIC = b"MIXP"
VERSION = 1
HEADER = 24
ALIGN = 64
BATCH_FIXED = 64

INFO_REQ, OPEN_REQ, NEXT_REQ, CLOSE_REQ, STATS_REQ = 1, 2, 3, 4, 5
INFO_REP, OPEN_REP, BATCH_REP, CLOSE_REP, STATS_REP = 0x81, 0x82, 0x83, 0x84, 0x85
ERROR_REP = 0xFF


def header(mtype, rid, body_len, version=VERSION, flags=0, magic=MAGIC):
    return magic + struct.pack("<HHIQI", version, mtype, flags, rid, body_len)


def msg(mtype, rid, body=b"", **kw):
    return header(mtype, rid, len(body), **kw) + body


def open_body(mode=0, prefetch=0, seed=0, epoch=0, batch=0, rank=0, world=0,
              job=b"", job_len=None, reserved=(0, 0)):
    n = len(job) if job_len is None else job_len
    return struct.pack("<IIQQQIIHHI", mode, prefetch, seed, epoch, batch, rank,
                       world, n, reserved[0], reserved[1]) + job


def align(v):
    return (v + ALIGN - 1) // ALIGN * ALIGN


def batch(rid, B, H, W, C, K, epoch=0, index=0, stream=1, dtype=1, layout=0,
          extra=0):
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
        "open-sharded-job": msg(OPEN_REQ, 4, open_body(mode=1, rank=3, world=8,
                                                       job=job)),
        "open-shared-job64": msg(OPEN_REQ, 5, open_body(mode=2, job=b"j" * 64)),
        "next": msg(NEXT_REQ, 6, struct.pack("<Q", 1)),
        "close": msg(CLOSE_REQ, 7, struct.pack("<Q", 1)),
        "next-max-ids": msg(NEXT_REQ, 2**64 - 1, struct.pack("<Q", 2**64 - 1)),
        "stats-json": msg(STATS_REQ, 8, struct.pack("<I", 0)),
        "stats-text": msg(STATS_REQ, 9, struct.pack("<I", 1)),
        # invalid headers
        "empty": b"",
        "truncated-header": msg(INFO_REQ, 8)[:13],
        "header-23": msg(INFO_REQ, 8)[:23],
        "bad-magic": msg(INFO_REQ, 9, magic=b"MIXQ"),
        "version-2": msg(INFO_REQ, 10, version=2),
        "version-0": msg(NEXT_REQ, 10, struct.pack("<Q", 1), version=0),
        "flags": msg(INFO_REQ, 11, flags=1),
        "body-len-long": header(NEXT_REQ, 12, 9) + struct.pack("<Q", 1),
        "body-len-short": header(NEXT_REQ, 12, 7) + struct.pack("<Q", 1),
        "too-big": msg(NEXT_REQ, 13, b"\0" * (4096 - HEADER + 1)),
        "unknown-type": msg(0x7, 14),
        "reply-as-request": msg(INFO_REP, 15, b"\0" * 48),
        "error-as-request": msg(ERROR_REP, 15, struct.pack("<iI", -5, 0)),
        # invalid bodies
        "info-with-body": msg(INFO_REQ, 16, b"\0" * 8),
        "next-short": msg(NEXT_REQ, 17, b"\0" * 4),
        "close-long": msg(CLOSE_REQ, 18, b"\0" * 16),
        "open-short": msg(OPEN_REQ, 19, open_body()[:47]),
        "open-reserved16": msg(OPEN_REQ, 20, open_body(reserved=(1, 0))),
        "open-reserved32": msg(OPEN_REQ, 21, open_body(reserved=(0, 1 << 24))),
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
                       1, 1)
    text = b"OPEN mode 3 unknown (0 independent, 1 sharded, 2 shared)"
    return {
        # valid, one of each type
        "info": msg(INFO_REP, 1, info),
        "info-nan-alpha": msg(INFO_REP, 1, info[:36] + b"\x01\x00\xc0\x7f"
                              + info[40:]),
        "open": msg(OPEN_REP, 2, struct.pack("<QQQQQ", 7, 234, 29, 4, 117)),
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
        # invalid
        "empty": b"",
        "truncated-header": msg(CLOSE_REP, 8)[:20],
        "bad-magic": msg(CLOSE_REP, 9, magic=b"PXIM"),
        "version-2": msg(CLOSE_REP, 10, version=2),
        "flags": msg(CLOSE_REP, 11, flags=0x80000000),
        "body-len-long": header(OPEN_REP, 12, 41) + b"\0" * 40,
        "request-as-reply": msg(NEXT_REQ, 13, struct.pack("<Q", 1)),
        "info-short": msg(INFO_REP, 14, info[:44]),
        "open-long": msg(OPEN_REP, 15, b"\0" * 48),
        "open-short": msg(OPEN_REP, 15, b"\0" * 32),
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


if __name__ == "__main__":
    main()
