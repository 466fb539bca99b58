#!/usr/bin/python3
"""Benchmark (not a test): JPEG decode + RandomResizedCrop(224) + flip +
mixup, B = 64, through mixupd vs torchvision ImageFolder + DataLoader with
the same number of workers (PIL), on a folder made from python3-sklearn's
two photographs resized to ImageNet-like sizes.

    MIXUPD_BUILD_ROOT=$PWD/build bench/images.py [--files 1000] [--batches 30]
                                                 [--small]

--small also measures a CIFAR-like folder (5000 PNGs of 32x32) served with
storage = decoded (decoded once at load) against torchvision ImageFolder +
ToTensor with the same flip and mixup collate.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.abspath(os.environ.get(
    "MIXUPD_BUILD_ROOT", os.path.join(ROOT, "build"))), "client", "python"))
SK = "/usr/lib/python3/dist-packages/sklearn/datasets/images"
SIZES = [(500, 375), (375, 500), (500, 333), (640, 480), (480, 640)]


def start_folder(root, classes):
    """The two photographs the files are cut from, and a folder per class
    under @root."""
    photos = [Image.open(os.path.join(SK, n)).convert("RGB")
              for n in ("china.jpg", "flower.jpg")]
    for c in range(classes):
        os.makedirs(os.path.join(root, f"c{c:02d}"), exist_ok=True)
    return photos


def make_folder(root, files, classes=10):
    photos = start_folder(root, classes)
    for i in range(files):
        p = photos[i % 2]
        w, h = SIZES[i % len(SIZES)]
        # a different crop of the photograph per file
        x0 = (i * 7) % (p.width // 4)
        y0 = (i * 5) % (p.height // 4)
        im = p.crop((x0, y0, x0 + p.width * 3 // 4, y0 + p.height * 3 // 4))
        im = im.resize((w, h), Image.BILINEAR)
        d = os.path.join(root, f"c{i % classes:02d}")
        if i % 50 == 7:
            im.convert("L").save(os.path.join(d, f"{i}.jpg"), quality=85)
        elif i % 50 == 13:
            im.save(os.path.join(d, f"{i}.png"))
        else:
            im.save(os.path.join(d, f"{i}.jpg"), quality=75 + i % 21)


def time_mixupd(settings, batches, B):
    """samples/s of a Client pulling `batches` batches (each summed, as a
    trainer reads it) from a daemon with these settings."""
    import mixupd
    with mixupd.Daemon(settings) as d:
        with mixupd.Client(d.endpoint, seed=1) as c:
            next(c)  # warm up
            t = time.perf_counter()
            for _ in range(batches):
                b = next(c)
                _ = np.asarray(b.x).sum()
            dt = time.perf_counter() - t
    return batches * B / dt


def time_loader(dl, batches):
    """samples/s of a DataLoader over `batches` batches (after one)."""
    it = iter(dl)
    next(it)
    t = time.perf_counter()
    n = 0
    for _ in range(batches):
        try:
            x = next(it)
        except StopIteration:
            it = iter(dl)
            x = next(it)
        n += (x[0] if isinstance(x, tuple) else x).shape[0]
    return n / (time.perf_counter() - t)


def run_mixupd(root, workers, batches, B):
    return time_mixupd(
        {"dataset.format": "folder", "dataset.images": root,
         "output.height": 224, "output.width": 224, "batch.size": B,
         "augment.random_resized_crop": "0.08, 1",
         "augment.flip_horizontal": 0.5, "server.workers": workers,
         "server.ring_slots": 8, "server.prefetch": 4}, batches, B)


def run_torchvision(root, workers, batches, B):
    import torch
    from torchvision import datasets, transforms
    tf = transforms.Compose([transforms.RandomResizedCrop(224),
                             transforms.RandomHorizontalFlip(),
                             transforms.ToTensor()])
    ds = datasets.ImageFolder(root, tf)

    def collate(items):
        x = torch.stack([a for a, _ in items])
        y = torch.nn.functional.one_hot(torch.tensor([b for _, b in items]),
                                        len(ds.classes)).float()
        h = len(items) // 2
        lam = torch.distributions.Beta(0.2, 0.2).sample((h, 1, 1, 1))
        x = lam * x[:h] + (1 - lam) * x[h:2 * h]
        y = lam[:, :, 0, 0] * y[:h] + (1 - lam[:, :, 0, 0]) * y[h:2 * h]
        return x.permute(0, 2, 3, 1).contiguous(), y

    dl = torch.utils.data.DataLoader(ds, batch_size=2 * B, shuffle=True,
                                     num_workers=workers, collate_fn=collate,
                                     drop_last=True, persistent_workers=True)
    return time_loader(dl, batches)


def make_small_folder(root, files, classes=10):
    """CIFAR-like: 32x32 PNG crops of the photographs."""
    photos = start_folder(root, classes)
    for i in range(files):
        p = photos[i % 2]
        x0, y0 = (i * 37) % (p.width - 64), (i * 23) % (p.height - 64)
        im = p.crop((x0, y0, x0 + 64, y0 + 64)).resize((32, 32),
                                                        Image.BILINEAR)
        im.save(os.path.join(root, f"c{i % classes:02d}", f"{i}.png"))


def run_mixupd_decoded(root, workers, batches, B):
    """storage = decoded: decoded once at load, then mixup + flip."""
    return time_mixupd(
        {"dataset.format": "folder", "dataset.images": root,
         "dataset.storage": "decoded", "batch.size": B,
         "augment.flip_horizontal": 0.5, "server.workers": workers,
         "server.ring_slots": 8, "server.prefetch": 4}, batches, B)


def run_torchvision_small(root, workers, batches, B):
    import torch
    from torchvision import datasets, transforms
    tf = transforms.Compose([transforms.RandomHorizontalFlip(),
                             transforms.ToTensor()])
    ds = datasets.ImageFolder(root, tf)

    def collate(items):
        x = torch.stack([a for a, _ in items])
        h = len(items) // 2
        lam = torch.distributions.Beta(0.2, 0.2).sample((h, 1, 1, 1))
        return (lam * x[:h] + (1 - lam) * x[h:2 * h]).permute(0, 2, 3, 1)

    dl = torch.utils.data.DataLoader(ds, batch_size=2 * B, shuffle=True,
                                     num_workers=workers, collate_fn=collate,
                                     drop_last=True, persistent_workers=True)
    return time_loader(dl, batches)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--small", action="store_true",
                    help="also 32x32 PNGs served with storage = decoded")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as root:
        make_folder(root, a.files)
        m = run_mixupd(root, a.workers, a.batches, a.batch)
        print(f"mixupd      {a.workers} workers: {m:8.1f} samples/s")
        t = run_torchvision(root, a.workers, a.batches, a.batch)
        print(f"torchvision {a.workers} workers: {t:8.1f} samples/s")
        print(f"ratio mixupd / torchvision: {m / t:.2f}")
    if a.small:
        with tempfile.TemporaryDirectory() as root:
            make_small_folder(root, 5000)
            m = run_mixupd_decoded(root, a.workers, 10 * a.batches, 128)
            print(f"32x32 PNG, decoded: mixupd {m:9.1f} samples/s")
            t = run_torchvision_small(root, a.workers, a.batches, 128)
            print(f"32x32 PNG: torchvision     {t:9.1f} samples/s")
            print(f"ratio mixupd / torchvision (32x32 decoded): {m / t:.2f}")


if __name__ == "__main__":
    sys.exit(main())
