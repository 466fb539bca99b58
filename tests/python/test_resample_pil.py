"""The resampler against Pillow, byte for byte.

tests/resample_helper runs server/data/resize.c on random images; Pillow
runs the same crop / resize; the bytes must be equal, for every kernel
this CPU has (portable, AVX2, AVX-512), so the kernels are also equal to
each other. Three forms, as the daemon uses them:

- RandomResizedCrop: img.crop(box).resize(size, BILINEAR) (torchvision's
  F.resized_crop on PIL images);
- Resize + CenterCrop: img.resize((rw, rh), BILINEAR).crop(centre);
- the DCT-scaled crop: img.crop(region).resize(size, BILINEAR, box=fbox)
  with a fractional box.

Sizes cover up- and down-scaling, 1-pixel boxes and outputs, widths where
the vector kernels' reads end at the buffer's end, grayscale and RGB.
"""
import os
import random
import subprocess

import numpy as np
import pytest

from conftest import BUILD

PIL = pytest.importorskip("PIL.Image")
HELPER = os.path.join(BUILD, "tests", "resample_helper")
KERNELS = ["portable", "avx2", "avx512"]


def f32(v):
    return float(np.float32(v))


def run(kernel, cases):
    """cases: (img, axis_x, axis_y), axis = (off, len, in0, in1, tot, o0,
    n). Returns the helper's outputs, or None if the CPU lacks the
    kernel."""
    data = bytearray()
    for img, ax, ay in cases:
        h, w, c = img.shape
        line = [kernel, h, w, c]
        for a in (ax, ay):
            off, ln, i0, i1, tot, o0, n = a
            line += [off, ln, float(np.float32(i0)).hex(),
                     float(np.float32(i1)).hex(), tot, o0, n]
        data += (" ".join(map(str, line)) + "\n").encode()
        data += img.tobytes()
    p = subprocess.run([HELPER], input=bytes(data), capture_output=True)
    if p.returncode == 2:
        return None
    assert p.returncode == 0, p.stderr
    outs, pos = [], 0
    for img, ax, ay in cases:
        c = img.shape[2]
        n = ax[6] * ay[6] * c
        outs.append(np.frombuffer(p.stdout[pos:pos + n], np.uint8)
                    .reshape(ay[6], ax[6], c))
        pos += n
    assert pos == len(p.stdout)
    return outs


def pil_image(img):
    return PIL.fromarray(img[:, :, 0] if img.shape[2] == 1 else img,
                         "L" if img.shape[2] == 1 else "RGB")


def as_hwc(im, c):
    a = np.asarray(im)
    return a.reshape(a.shape[0], a.shape[1], c)


def random_image(rng, h, w, c):
    """Smooth gradients plus noise: rounding matters on every pixel."""
    y, x = np.mgrid[0:h, 0:w]
    base = (x * 7 + y * 3)[:, :, None] + np.arange(c) * 50
    noise = rng.integers(0, 256, (h, w, c))
    return ((base + noise) % 256).astype(np.uint8)


def crop_cases(seed, n):
    rng = np.random.default_rng(seed)
    pyr = random.Random(seed)
    cases, refs = [], []
    for i in range(n):
        c = 1 if i % 3 == 0 else 3
        h, w = pyr.randint(1, 90), pyr.randint(1, 90)
        img = random_image(rng, h, w, c)
        bw, bh = pyr.randint(1, w), pyr.randint(1, h)
        bx, by = pyr.randint(0, w - bw), pyr.randint(0, h - bh)
        kind = i % 4
        ow = 1 if kind == 3 else pyr.randint(1, 70)
        oh = pyr.randint(1, 70) if kind != 2 else 1
        ref = pil_image(img).crop((bx, by, bx + bw, by + bh)).resize(
            (ow, oh), PIL.BILINEAR)
        cases.append((img, (bx, bw, 0.0, bw, ow, 0, ow),
                      (by, bh, 0.0, bh, oh, 0, oh)))
        refs.append(as_hwc(ref, c))
    return cases, refs


def centre_cases(seed, n):
    rng = np.random.default_rng(seed)
    pyr = random.Random(seed)
    cases, refs = [], []
    for i in range(n):
        c = 1 if i % 2 else 3
        h, w = pyr.randint(8, 120), pyr.randint(8, 120)
        img = random_image(rng, h, w, c)
        rw, rh = pyr.randint(4, 150), pyr.randint(4, 150)
        ow, oh = pyr.randint(1, rw), pyr.randint(1, rh)
        left, top = int(round((rw - ow) / 2.0)), int(round((rh - oh) / 2.0))
        ref = pil_image(img).resize((rw, rh), PIL.BILINEAR).crop(
            (left, top, left + ow, top + oh))
        cases.append((img, (0, w, 0.0, w, rw, left, ow),
                      (0, h, 0.0, h, rh, top, oh)))
        refs.append(as_hwc(ref, c))
    return cases, refs


def box_cases(seed, n):
    rng = np.random.default_rng(seed)
    pyr = random.Random(seed)
    cases, refs = [], []
    for i in range(n):
        c = 1 if i % 2 else 3
        h, w = pyr.randint(2, 80), pyr.randint(2, 80)
        img = random_image(rng, h, w, c)
        x0, y0 = pyr.randint(0, w - 1), pyr.randint(0, h - 1)
        x1, y1 = pyr.randint(x0 + 1, w), pyr.randint(y0 + 1, h)
        a = f32(pyr.uniform(0, 0.9))
        b = f32(pyr.uniform(0, 0.9))
        cb = f32(pyr.uniform(a + 0.05, x1 - x0))
        d = f32(pyr.uniform(b + 0.05, y1 - y0))
        ow, oh = pyr.randint(1, 40), pyr.randint(1, 40)
        ref = pil_image(img).crop((x0, y0, x1, y1)).resize(
            (ow, oh), PIL.BILINEAR, box=(a, b, cb, d))
        cases.append((img, (x0, x1 - x0, a, cb, ow, 0, ow),
                      (y0, y1 - y0, b, d, oh, 0, oh)))
        refs.append(as_hwc(ref, c))
    return cases, refs


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("make", [crop_cases, centre_cases, box_cases])
def test_equals_pillow(kernel, make):
    cases, refs = make(7 + KERNELS.index(kernel), 300)
    outs = run(kernel, cases)
    if outs is None:
        pytest.skip(f"this CPU has no {kernel}")
    for i, (got, want) in enumerate(zip(outs, refs)):
        assert got.shape == want.shape
        assert np.array_equal(got, want), (
            f"case {i}: {cases[i][1]} {cases[i][2]} c={want.shape[2]}: "
            f"{int((got != want).sum())} bytes differ, max "
            f"{int(np.abs(got.astype(int) - want).max())}")


def test_large_downscale_equals_pillow_on_every_kernel():
    """A photo-sized crop shrunk 10x (20+ taps per output), and a wide row
    of exactly 32 / 64 output bytes: the vector loops' full width."""
    rng = np.random.default_rng(3)
    cases, refs = [], []
    for (h, w, c, ow, oh) in [(600, 700, 3, 64, 60), (300, 2000, 1, 64, 7),
                              (50, 50, 3, 32, 32), (40, 90, 1, 64, 3)]:
        img = random_image(rng, h, w, c)
        ref = pil_image(img).resize((ow, oh), PIL.BILINEAR)
        cases.append((img, (0, w, 0.0, w, ow, 0, ow),
                      (0, h, 0.0, h, oh, 0, oh)))
        refs.append(as_hwc(ref, c))
    for kernel in KERNELS:
        outs = run(kernel, cases)
        if outs is None:
            continue
        for got, want in zip(outs, refs):
            assert np.array_equal(got, want), kernel
