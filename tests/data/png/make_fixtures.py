#!/usr/bin/python3
"""Write the PNG fixtures of test_images.c (png_matches_pil) and what
Pillow makes of them: NAME.png, NAME.rgb = Image.convert("RGB") and
NAME.l = Image.convert("L") as raw bytes (torchvision's default loader
is convert("RGB")). The PNGs are written here by hand (zlib + struct),
so every colour type, bit depth, tRNS and Adam7 interlacing is covered,
not only what Pillow's encoder writes.

    /usr/bin/python3 tests/data/png/make_fixtures.py tests/data/png

16-bit gray is not here: Pillow opens it as mode I and clips it to
0..255 where mixupd takes the high byte (README, test_images.c).
"""
import io
import os
import struct
import sys
import zlib

from PIL import Image

W, H = 11, 7


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + \
        struct.pack(">I", zlib.crc32(body) & 0xffffffff)


def pack_row(samples, depth):
    """Samples (ints) of one row, packed at @depth bits, MSB first."""
    if depth == 8:
        return bytes(samples)
    if depth == 16:
        return b"".join(struct.pack(">H", s) for s in samples)
    out, acc, bits = bytearray(), 0, 0
    for s in samples:
        acc = acc << depth | s
        bits += depth
        if bits == 8:
            out.append(acc)
            acc, bits = 0, 0
    if bits:
        out.append(acc << (8 - bits))
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
         (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def raw_data(px, ch, depth, interlace):
    """px[y][x] = tuple of @ch samples; the filtered (type 0) stream."""
    out = bytearray()
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for x0, y0, dx, dy in passes:
        xs = range(x0, W, dx)
        if not len(xs):
            continue
        for y in range(y0, H, dy):
            samples = [s for x in xs for s in px[y][x]]
            out += b"\0" + pack_row(samples, depth)
    return bytes(out)


def png(px, ch, depth, ctype, interlace=0, plte=None, trns=None):
    ihdr = struct.pack(">IIBBBBB", W, H, depth, ctype, 0, 0, interlace)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if plte:
        out += chunk(b"PLTE", bytes(v for rgb in plte for v in rgb))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(raw_data(px, ch, depth, interlace)))
    return out + chunk(b"IEND", b"")


def grid(fn):
    return [[fn(x, y) for x in range(W)] for y in range(H)]


def cases():
    m = lambda d: (1 << d) - 1
    pal = [((i * 53) & 255, (i * 101 + 7) & 255, (255 - i * 29) & 255)
           for i in range(16)]
    # A palette shorter than the bit depth allows, alpha for some entries.
    yield "p8_trns", png(grid(lambda x, y: ((x * 3 + y) % 16,)), 1, 8, 3,
                         plte=pal, trns=bytes([0, 128, 255, 7]))
    yield "p4_trns_adam7", png(grid(lambda x, y: ((x + 2 * y) % 16,)), 1, 4,
                               3, 1, plte=pal, trns=bytes([9, 0, 200]))
    yield "p2_trns", png(grid(lambda x, y: ((x + y) % 4,)), 1, 2, 3,
                         plte=pal[:4], trns=bytes([0]))
    yield "p1", png(grid(lambda x, y: ((x ^ y) & 1,)), 1, 1, 3, plte=pal[:2])
    # Indices past the end of the palette: PIL reads them as gray (i, i, i).
    yield "p8_short_palette", png(grid(lambda x, y: ((x * 29 + y) % 256,)),
                                  1, 8, 3, plte=pal[:3], trns=bytes([5, 6]))
    yield "p2_short_palette", png(grid(lambda x, y: ((x + y) % 4,)), 1, 2, 3,
                                  plte=pal[:2])
    yield "p8_all_transparent", png(grid(lambda x, y: ((x * y) % 5,)), 1, 8,
                                    3, plte=pal[:5], trns=bytes(5))
    for d in (1, 2, 4, 8):
        yield "l%d_trns" % d, png(grid(lambda x, y: ((x * 7 + y * 3) & m(d),)),
                                  1, d, 0, trns=struct.pack(">H", 1 & m(d)))
    yield "l8_adam7", png(grid(lambda x, y: ((x * 23 + y * 31) & 255,)), 1, 8,
                          0, 1)
    yield "la8", png(grid(lambda x, y: ((x * 23 + y) & 255, (x * y * 9) & 255)),
                     2, 8, 4)
    yield "la16", png(grid(lambda x, y: ((x * 5923 + y * 77) & 0xffff,
                                         (x * 1000) & 0xffff)), 2, 16, 4)
    yield "rgb8_trns", png(grid(lambda x, y: (x * 20, y * 30, (x + y) * 9)), 3,
                           8, 2, trns=struct.pack(">HHH", 20, 30, 27))
    yield "rgb16_trns", png(grid(lambda x, y: (x * 5000, y * 9000 + 255,
                                               (x * y * 811) & 0xffff)),
                            3, 16, 2, trns=struct.pack(">HHH", 0, 255, 0))
    yield "rgba8", png(grid(lambda x, y: (x * 20, 255 - y * 30, x * y,
                                          (x * 40 + y) & 255)), 4, 8, 6)
    yield "rgba8_adam7", png(grid(lambda x, y: (y * 20, x * 21, 99,
                                                (x * y * 5) & 255)), 4, 8, 6, 1)
    yield "rgba16", png(grid(lambda x, y: (x * 6000, y * 9000 + 128,
                                           (x * y * 999) & 0xffff,
                                           y * 1000)), 4, 16, 6)


def main(out):
    for name, data in cases():
        im = Image.open(io.BytesIO(data))
        im.load()
        with open(os.path.join(out, name + ".png"), "wb") as f:
            f.write(data)
        for mode, ext in (("RGB", ".rgb"), ("L", ".l")):
            with open(os.path.join(out, name + ext), "wb") as f:
                f.write(im.convert(mode).tobytes())
        print(name, im.mode, im.info)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(__file__))
