#!/usr/bin/python3
"""Benchmark (not a test): JPEG decode + RandomResizedCrop(224) + flip +
mixup, B = 64, through mixupd vs torchvision ImageFolder + DataLoader with
the same number of workers (PIL), on a folder made from python3-sklearn's
two photographs resized to ImageNet-like sizes, and the bare decoder limit
(bench/decode_limit: libjpeg-turbo / libpng decoding every file whole on
the same number of threads, nothing else), all in one run; then the same
on a folder of PNGs only. With --perf, the daemon's CPU per image split
into decode / resample / mix+augment+convert / other (perf record on the
daemon during a second mixupd run; needs perf).

    MIXUPD_BUILD_ROOT=$PWD/build bench/images.py [--files 1000] [--batches 30]
                                                 [--png-files 300] [--perf]
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


def make_folder(root, files, classes=10, png_only=False):
    """ImageNet-sized files: JPEGs with 2 % gray and 2 % PNG, or (with
    @png_only) the same crops all as PNG."""
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
        if png_only:
            im.save(os.path.join(d, f"{i}.png"))
        elif i % 50 == 7:
            im.convert("L").save(os.path.join(d, f"{i}.jpg"), quality=85)
        elif i % 50 == 13:
            im.save(os.path.join(d, f"{i}.png"))
        else:
            im.save(os.path.join(d, f"{i}.jpg"), quality=75 + i % 21)


def _cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_mixupd(settings, batches, B, perf=None):
    """samples/s of a Client pulling `batches` batches (each summed, as a
    trainer reads it) from a daemon with these settings. With @perf (a
    file name), the daemon is recorded with perf meanwhile and the result
    is (samples/s, daemon CPU seconds)."""
    import mixupd
    import signal
    import subprocess
    with mixupd.Daemon(settings) as d:
        with mixupd.Client(d.endpoint, seed=1) as c:
            next(c)  # warm up
            rec = None
            if perf:
                rec = subprocess.Popen(
                    ["perf", "record", "-q", "-g", "-F", "999", "-o", perf, "-p",
                     str(d.process.pid)], stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
                time.sleep(0.5)
            cpu0 = _cpu_seconds(d.process.pid)
            t = time.perf_counter()
            for _ in range(batches):
                b = next(c)
                _ = np.asarray(b.x).sum()
            dt = time.perf_counter() - t
            cpu = _cpu_seconds(d.process.pid) - cpu0
            if rec:
                rec.send_signal(signal.SIGINT)
                rec.wait()
            pid = d.process.pid
    return (batches * B / dt, cpu, pid) if perf else batches * B / dt


# Where the daemon's time goes, by shared object and symbol.
def _category(dso, sym):
    if any(k in dso for k in ("libjpeg", "libturbojpeg", "libpng", "libz")):
        return "decode"
    if sym.startswith(("rsz_", "h_avx2", "v_avx2", "v_avx512", "h_portable",
                       "v_portable", "h_pixel", "v_span", "on_row")):
        return "resample"
    if sym.startswith(("cmyk_to_rgb", "img_rgb_to_gray", "png_", "jpeg_",
                       "region_jpeg", "jpeg")):
        return "decode"
    if sym.startswith(("krn_", "aug_", "cvt_", "mix", "build_", "augment")):
        return "mix/augment/convert"
    if sym.startswith(("__memmove", "__memcpy")):
        return "copy into the slot"  # cvt_image's memcpy (float NHWC)
    if "kernel" in dso:
        return "kernel (mostly first-touch page faults of the ring)"
    return "other"


def perf_split(perf, pid):
    """Percent of the daemon's samples by category; the loop thread (the
    process's first thread: copying batches into replies) apart."""
    import subprocess
    out = subprocess.run(["perf", "report", "-i", perf, "--stdio",
                          "--no-children", "-g", "none", "--sort",
                          "pid,dso,sym"],
                         capture_output=True, text=True).stdout
    split = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 5 or not parts[0].endswith("%"):
            continue
        pct = float(parts[0][:-1])
        tid = parts[1].split(":")[0]
        dso, sym = parts[2], parts[4]
        cat = ("delivery (loop thread)" if tid == str(pid)
               else _category(dso, sym))
        split[cat] = split.get(cat, 0.0) + pct
    return split


def decode_limit(root, threads, seconds=3.0):
    """(images/s, CPU us per image) of bench/decode_limit on the folder."""
    import subprocess
    exe = os.path.join(os.path.abspath(os.environ.get(
        "MIXUPD_BUILD_ROOT", os.path.join(ROOT, "build"))), "bench",
        "decode_limit")
    out = subprocess.run([exe, root, str(threads), str(seconds)],
                         capture_output=True, text=True, check=True).stdout
    return (float(out.split("images/s")[1]),
            float(out.split("cpu_us_per_image")[1].split()[0]))


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


def run_mixupd(root, workers, batches, B, perf=None):
    return time_mixupd(
        {"dataset.format": "folder", "dataset.images": root,
         "output.height": 224, "output.width": 224, "batch.size": B,
         "augment.random_resized_crop": "0.08, 1",
         "augment.flip_horizontal": 0.5, "server.workers": workers,
         "server.ring_slots": 8, "server.prefetch": 4}, batches, B, perf)


def compare(label, root, a):
    """One folder: decoder limit, mixupd, torchvision, same run."""
    lim, lim_cpu = decode_limit(root, a.workers)
    print(f"[{label}] decoder limit {a.workers} threads: {lim:8.1f} images/s"
          f" (each mixup sample decodes 2 images: {lim / 2:.1f} samples/s);"
          f" {lim_cpu:.0f} us CPU per whole decode")
    m = run_mixupd(root, a.workers, a.batches, a.batch)
    print(f"[{label}] mixupd      {a.workers} workers: {m:8.1f} samples/s"
          f" = {2 * m:.1f} images/s")
    t = run_torchvision(root, a.workers, a.batches, a.batch)
    print(f"[{label}] torchvision {a.workers} workers: {t:8.1f} samples/s")
    print(f"[{label}] ratio mixupd / torchvision: {m / t:.2f}; "
          f"mixupd images/s / decoder limit: {2 * m / lim:.2f}")
    if a.perf:
        perf = os.path.join(os.path.dirname(root), f"perf-{label}.data")
        m2, cpu, pid = run_mixupd(root, a.workers, a.batches, a.batch, perf)
        split = perf_split(perf, pid)
        per_image = cpu / (2 * a.batches * a.batch) * 1e6
        print(f"[{label}] daemon CPU per image / whole-decode CPU per image: "
              f"{per_image / lim_cpu:.2f}")
        print(f"[{label}] daemon CPU {per_image:.0f} us per decoded image "
              f"({m2:.1f} samples/s in the recorded run); split: " +
              ", ".join(f"{k} {v:.1f}% ({per_image * v / 100:.0f} us)"
                        for k, v in sorted(split.items(),
                                           key=lambda kv: -kv[1])))


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
    ap.add_argument("--png-files", type=int, default=300)
    ap.add_argument("--perf", action="store_true",
                    help="split the daemon's CPU with perf record")
    ap.add_argument("--small", action="store_true",
                    help="also 32x32 PNGs served with storage = decoded")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "imagenet-like")
        make_folder(root, a.files)
        compare("imagenet-like", root, a)
        if a.png_files:
            proot = os.path.join(tmp, "png")
            make_folder(proot, a.png_files, png_only=True)
            compare("png-only", proot, a)
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
