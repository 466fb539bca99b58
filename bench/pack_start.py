#!/usr/bin/python3
"""Benchmark (not a test): time from start to first batch for the same
image set served three ways, and what the daemon's memory holds:

  folder       format = folder (every file opened, probed, copied to shm)
  pack-shm     format = pack, storage = shm (the pack copied to shm)
  pack-mapped  format = pack, storage = mapped (served from the page cache)

    MIXUPD_BUILD_ROOT=$PWD/build bench/pack_start.py [--files 20000]
                                                     [--rounds 3]

The image set: --files JPEGs (crops of python3-sklearn's two photographs,
64..96 px a side), packed once with `mixupd --pack`. Every mode runs once
first (the page cache is then warm for all of them), then --rounds times;
the median is reported with its ratio to the folder's. Start to first
batch = spawning mixupd until a client holds its first batch (output
32x32, batch 64, 2 workers). Memory: the daemon's RssAnon + RssShmem
(its own) and RssFile (page-cache pages it maps) after the first batch.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(os.environ.get("MIXUPD_BUILD_ROOT",
                                       os.path.join(ROOT, "build")))
sys.path.insert(0, os.path.join(BUILD, "client", "python"))
SK = "/usr/lib/python3/dist-packages/sklearn/datasets/images"


def make_folder(root, files, classes=10):
    photos = [Image.open(os.path.join(SK, n)).convert("RGB")
              for n in ("china.jpg", "flower.jpg")]
    for c in range(classes):
        os.makedirs(os.path.join(root, f"c{c:02d}"), exist_ok=True)
    for i in range(files):
        p = photos[i % 2]
        side = 64 + (i * 13) % 33
        x0, y0 = (i * 37) % (p.width - 200), (i * 23) % (p.height - 200)
        im = p.crop((x0, y0, x0 + 200, y0 + 150)).resize((side, side * 3 // 4))
        im.save(os.path.join(root, f"c{i % classes:02d}", f"{i}.jpg"),
                quality=80)


def memory(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("RssAnon", "RssFile", "RssShmem"):
                out[k] = int(v.split()[0]) // 1024  # MiB
    return out


def first_batch(settings):
    import mixupd
    t = time.perf_counter()
    with mixupd.Daemon(settings) as d:
        with mixupd.Client(d.endpoint, seed=1) as c:
            next(c)
            dt = time.perf_counter() - t
            mem = memory(d.process.pid)
    return dt, mem


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="mixupd-bench-pack.")
    root = os.path.join(tmp, "imgs")
    t = time.perf_counter()
    make_folder(root, a.files)
    print(f"made {a.files} JPEGs in {time.perf_counter() - t:.1f} s")
    pack = os.path.join(tmp, "imgs.pack")
    common = {"dataset.format": "folder", "dataset.images": root,
              "server.summary_interval": 0}
    argv = [os.path.join(BUILD, "server", "mixupd"), "--pack", pack]
    for k, v in common.items():
        argv += ["--set", f"{k}={v}"]
    t = time.perf_counter()
    subprocess.run(argv, check=True, stderr=subprocess.DEVNULL)
    print(f"packed in {time.perf_counter() - t:.2f} s: "
          f"{os.path.getsize(pack) / 2**20:.1f} MiB")
    serve = {"output.height": 32, "output.width": 32, "batch.size": 64,
             "server.workers": 2, "server.summary_interval": 0}
    modes = {
        "folder": {"dataset.format": "folder", "dataset.images": root},
        "pack-shm": {"dataset.format": "pack", "dataset.images": pack,
                     "dataset.storage": "shm"},
        "pack-mapped": {"dataset.format": "pack", "dataset.images": pack,
                        "dataset.storage": "mapped"},
    }
    for s in modes.values():
        s.update(serve)
        first_batch(s)  # warm the page cache and the binary
    times, mems = {}, {}
    for _ in range(a.rounds):
        for name, s in modes.items():
            dt, mem = first_batch(s)
            times.setdefault(name, []).append(dt)
            mems[name] = mem
    base = statistics.median(times["folder"])
    print(f"{'mode':<12} {'first batch (median s)':>24} {'vs folder':>10} "
          f"{'anon+shm MiB':>13} {'file MiB':>9}")
    for name in modes:
        m = statistics.median(times[name])
        mem = mems[name]
        print(f"{name:<12} {m:>24.3f} {base / m:>9.1f}x "
              f"{mem['RssAnon'] + mem['RssShmem']:>13} {mem['RssFile']:>9}")
    subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
