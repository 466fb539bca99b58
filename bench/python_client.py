#!/usr/bin/python3
"""Samples per second a Python training loop receives, in one run:

  seed   the seed project's numpy generator (Keras MixupGenerator: index
         2B samples of the in-memory float32 training set, draw lambda,
         mix) iterated in this process;
  python mixupd's Python client (mixupd.Client) iterated in this process;
  C      mixupd's C client on the same daemon (mixupctl bench).

CIFAR-10 shape (32x32x3, 10 classes), B = 128, alpha = 0.2, on synthetic
uint8 images (the numbers do not depend on the pixel values). The daemon
is started here (mixupd.Daemon) with --workers worker threads.

    bench/python_client.py [--seconds S] [--rounds R] [--samples N]
                           [--workers W] [--build DIR] [--json]

The three are measured in turn, R rounds of S seconds each, and the
medians are reported: interleaving keeps a change in the machine's load
(other processes) from favouring one of them.

Exit status 0; the ratios are printed, not judged (the targets are in the
README: python >= 10 x seed, python within 10 % of C).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=2.0,
                   help="seconds per measurement and round (default 2)")
    p.add_argument("--rounds", type=int, default=3,
                   help="rounds of the three measurements (default 3)")
    p.add_argument("--samples", type=int, default=10000,
                   help="samples in the synthetic dataset (default 10000)")
    p.add_argument("--workers", type=int,
                   default=max(1, (os.cpu_count() or 2) - 1),
                   help="daemon worker threads (default: the cores but one, "
                        "which the receiving process needs)")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--alpha", type=float, default=0.2)
    p.add_argument("--build", default=os.environ.get(
        "MIXUPD_BUILD_ROOT", os.path.join(ROOT, "build")),
        help="meson build directory (default: build/)")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object instead of a table")
    return p.parse_args()


def seed_generator(x_train, y_train, batch_size, alpha):
    """The seed's MixupGenerator()(), algorithm for algorithm: a new
    permutation each epoch, 2B indices per batch, lambda ~ Beta(alpha,
    alpha) per sample (float64, as numpy draws it, so X comes out
    float64 exactly as in the seed)."""
    n = len(x_train)
    while True:
        order = np.random.permutation(n)
        for i in range(n // (2 * batch_size)):
            ids = order[i * 2 * batch_size:(i + 1) * 2 * batch_size]
            lam = np.random.beta(alpha, alpha, batch_size)
            x_l = lam.reshape(batch_size, 1, 1, 1)
            y_l = lam.reshape(batch_size, 1)
            x1, x2 = x_train[ids[:batch_size]], x_train[ids[batch_size:]]
            y1, y2 = y_train[ids[:batch_size]], y_train[ids[batch_size:]]
            yield x1 * x_l + x2 * (1 - x_l), y1 * y_l + y2 * (1 - y_l)


def rate(batches, seconds):
    """Samples/s over `seconds` of a Python loop over `batches` (after one
    warm-up batch)."""
    next(batches)
    n, t0 = 0, time.perf_counter()
    while True:
        x, _ = next(batches)
        n += x.shape[0]
        t = time.perf_counter() - t0
        if t >= seconds:
            return n / t


def main():
    a = parse_args()
    sys.path.insert(0, os.path.join(a.build, "client", "python"))
    import mixupd

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (a.samples, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, a.samples, dtype=np.int64)

    # The seed's preprocessing: float32 in [0, 1], one-hot labels.
    x_train = images.astype(np.float32) / 255
    y_train = np.eye(10, dtype=np.float32)[labels]
    seed = seed_generator(x_train, y_train, a.batch, a.alpha)
    runs = {"seed": [], "python": [], "C": []}
    settings = {"batch.size": a.batch, "batch.alpha": a.alpha,
                "dataset.classes": 10, "server.workers": a.workers,
                "server.log_level": "warn"}
    ctl = mixupd.find_binary("mixupctl")
    with mixupd.Daemon.from_arrays(images, labels, settings) as d, \
            mixupd.Client(d.endpoint, seed=1) as c:
        python = ((b.x, b.y) for b in c)
        for r in range(a.rounds):
            runs["seed"].append(rate(seed, a.seconds))
            runs["python"].append(rate(python, a.seconds))
            out = subprocess.run(
                [ctl, "--endpoint", d.endpoint, "--seed", str(2 + r),
                 "bench", "--seconds", str(a.seconds)],
                check=True, capture_output=True, text=True).stdout
            runs["C"].append(float(out.split("samples/s:")[1].split()[0]))
    results = {k: float(np.median(v)) for k, v in runs.items()}
    results["runs"] = runs
    results["python_over_seed"] = results["python"] / results["seed"]
    results["python_over_C"] = results["python"] / results["C"]
    results.update(batch=a.batch, shape=[32, 32, 3], samples=a.samples,
                   workers=a.workers, seconds=a.seconds, rounds=a.rounds,
                   cores=os.cpu_count())
    if a.json:
        print(json.dumps(results))
        return
    print(f"CIFAR shape 32x32x3, B={a.batch}, alpha={a.alpha}, "
          f"{a.samples} samples, {a.workers} daemon workers, "
          f"{os.cpu_count()} cores; median of {a.rounds} rounds of "
          f"{a.seconds:g} s each")
    print(f"  seed numpy generator : {results['seed']:12.0f} samples/s")
    print(f"  mixupd, Python client: {results['python']:12.0f} samples/s"
          f"  ({results['python_over_seed']:.1f} x seed)")
    print(f"  mixupd, C client     : {results['C']:12.0f} samples/s"
          f"  (Python = {100 * results['python_over_C']:.0f} % of C)")


if __name__ == "__main__":
    main()
