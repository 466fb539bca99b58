#!/usr/bin/python3
"""Write Fashion-MNIST (Debian's dataset-fashion-mnist) out as PNG files,
to serve it as an image dataset:

    examples/fashion_mnist_png.py OUT [--split train|t10k] [--limit N]

OUT/list.txt lists the files in the IDX order (`[dataset] format = list`,
one "path label" a line) and OUT/<class name>/ holds them, so the same
files also make an ImageFolder (`format = folder`, classes sorted by name).
Served with `format = list`, `storage = decoded`, `channels = 1`, the
batches are byte-identical to serving the IDX files (a test checks it).
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

IDX = "/usr/share/datasets/fashion-mnist"
NAMES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
         "Shirt", "Sneaker", "Bag", "Ankle_boot"]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big")
            for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write(out, split="t10k", limit=None):
    images = read_idx(os.path.join(IDX, f"{split}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(IDX, f"{split}-labels-idx1-ubyte.gz"))
    n = len(labels) if limit is None else min(limit, len(labels))
    for name in NAMES:
        os.makedirs(os.path.join(out, name), exist_ok=True)
    lines = []
    for i in range(n):
        rel = os.path.join(NAMES[labels[i]], f"{i:05d}.png")
        Image.fromarray(images[i], mode="L").save(os.path.join(out, rel))
        lines.append(f"{rel} {labels[i]}\n")
    with open(os.path.join(out, "list.txt"), "w") as f:
        f.writelines(lines)
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--split", default="t10k", choices=["train", "t10k"])
    ap.add_argument("--limit", type=int)
    a = ap.parse_args()
    n = write(a.out, a.split, a.limit)
    print(f"wrote {n} PNG files and {os.path.join(a.out, 'list.txt')}")


if __name__ == "__main__":
    main()
