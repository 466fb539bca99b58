#!/usr/bin/python3
"""make_data.py -- write a CIFAR-shaped dataset as .npy files.

    /usr/bin/python3 bench/make_data.py DIR [--samples N] [--seed S]

DIR/images.npy  uint8 [N, 32, 32, 3], uniform random pixels
DIR/labels.npy  int64 [N], uniform in 0 .. 9

The content does not matter to the benchmark (the work per batch does not
depend on pixel values); the shape and dtypes are those of CIFAR-10.
"""
import argparse
import os
import sys

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.samples < 1 or a.classes < 1:
        sys.exit("make_data: --samples and --classes must be >= 1")
    os.makedirs(a.dir, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    images = rng.integers(0, 256, size=(a.samples, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, a.classes, size=a.samples, dtype=np.int64)
    np.save(os.path.join(a.dir, "images.npy"), images)
    np.save(os.path.join(a.dir, "labels.npy"), labels)
    print("wrote %d samples to %s" % (a.samples, a.dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
