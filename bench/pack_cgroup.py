#!/usr/bin/python3
"""Benchmark (not a test; root, cgroup v1 memory controller): throughput
from a mapped pack several times larger than the memory the daemon may
use, plain shuffle vs shuffle = blocks, against the same pack served with
the whole file in the page cache and no limit.

    MIXUPD_BUILD_ROOT=$PWD/build bench/pack_cgroup.py [--samples 40000]
        [--limit-mib 128] [--batches 150]

The dataset: uint8 [N, 64, 64, 3] (12 KiB a sample; 40000 samples =
469 MiB) packed with `mixupd --pack`. The daemon runs in a new memory
cgroup (/sys/fs/cgroup/memory/mixupd-bench-PID, memory.limit_in_bytes =
--limit-mib): the pack's pages it reads are charged to it, so only that
much of the file stays cached. Before each limited run the pack's pages
are dropped from the page cache (posix_fadvise DONTNEED on the file: no
other file is touched). Batch 64, 2 workers, 4 ring slots; throughput =
samples/s of one client over --batches batches after 5; with it the
daemon's read_bytes (/proc/PID/io). shuffle = blocks uses --block and
--window (default 256 x 4 samples: 12 MiB a run, so that the run being
served and the one read ahead fit the limit with the ring).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.abspath(os.environ.get("MIXUPD_BUILD_ROOT",
                                       os.path.join(ROOT, "build")))
sys.path.insert(0, os.path.join(BUILD, "client", "python"))
CG = "/sys/fs/cgroup/memory"


def drop_file_cache(path):
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)


def read_bytes(pid):
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            if line.startswith("read_bytes:"):
                return int(line.split()[1])
    return 0


def run(settings, batches, wrapper=None):
    import mixupd
    with mixupd.Daemon(settings, binary=wrapper) as d:
        with mixupd.Client(d.endpoint, seed=1) as c:
            for _ in range(5):
                next(c)
            r0 = read_bytes(d.process.pid)
            t = time.perf_counter()
            for _ in range(batches):
                b = next(c)
                _ = np.asarray(b.x)[0, 0, 0, 0]
            dt = time.perf_counter() - t
            r1 = read_bytes(d.process.pid)
    return batches * 64 / dt, (r1 - r0) / 2**20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=40000)
    ap.add_argument("--limit-mib", type=int, default=128)
    ap.add_argument("--batches", type=int, default=150)
    ap.add_argument("--block", type=int, default=256)
    ap.add_argument("--window", type=int, default=4)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="mixupd-bench-cg.", dir="/var/tmp")
    x = np.random.default_rng(0).integers(0, 256, (a.samples, 64, 64, 3),
                                           dtype=np.uint8)
    np.save(os.path.join(tmp, "x.npy"), x)
    np.save(os.path.join(tmp, "y.npy"), np.arange(a.samples) % 10)
    del x
    pack = os.path.join(tmp, "x.pack")
    subprocess.run([os.path.join(BUILD, "server", "mixupd"), "--pack", pack,
                    "--set", "dataset.format=npy",
                    "--set", f"dataset.images={tmp}/x.npy",
                    "--set", f"dataset.labels={tmp}/y.npy"],
                   check=True, stderr=subprocess.DEVNULL)
    for f in ("x.npy", "y.npy"):
        os.unlink(os.path.join(tmp, f))
    size = os.path.getsize(pack) / 2**20
    cg = os.path.join(CG, f"mixupd-bench-{os.getpid()}")
    os.mkdir(cg)
    with open(os.path.join(cg, "memory.limit_in_bytes"), "w") as f:
        f.write(str(a.limit_mib << 20))
    wrapper = os.path.join(tmp, "in-cgroup.sh")
    with open(wrapper, "w") as f:
        f.write(f"#!/bin/sh\necho $$ > {cg}/cgroup.procs\n"
                f"exec {BUILD}/server/mixupd \"$@\"\n")
    os.chmod(wrapper, 0o755)
    base = {"dataset.format": "pack", "dataset.images": pack,
            "dataset.storage": "mapped", "batch.size": 64,
            "server.workers": 2, "server.ring_slots": 4,
            "server.prefetch": 4, "server.summary_interval": 0}
    print(f"pack {size:.0f} MiB, memory limit {a.limit_mib} MiB "
          f"({size / a.limit_mib:.1f}x); blocks {a.block} x {a.window}")
    results = {}
    try:
        run(dict(base, **{"batch.shuffle": "true"}), 20)  # warm the cache
        results["in memory (shuffle, no limit, warm)"] = run(
            dict(base, **{"batch.shuffle": "true"}), a.batches)
        for name, sh in (("limited, shuffle = true", "true"),
                         ("limited, shuffle = blocks", "blocks")):
            drop_file_cache(pack)
            results[name] = run(dict(base, **{
                "batch.shuffle": sh, "batch.shuffle_block": a.block,
                "batch.shuffle_window": a.window}), a.batches, wrapper)
    finally:
        os.rmdir(cg) if os.path.isdir(cg) else None
        subprocess.run(["rm", "-rf", tmp])
    ref = results["in memory (shuffle, no limit, warm)"][0]
    print(f"{'mode':<36} {'samples/s':>10} {'vs memory':>10} "
          f"{'read MiB':>9}")
    for name, (sps, mib) in results.items():
        print(f"{name:<36} {sps:>10.0f} {sps / ref:>10.2f} {mib:>9.0f}")


if __name__ == "__main__":
    main()
