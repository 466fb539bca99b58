"""Fixtures for the Python client's tests.

The package is imported from the build tree: $MIXUPD_BUILD_ROOT (meson's
build directory; tests/run-all.sh sets it), else <repo>/build. Daemons are
started with mixupd.Daemon on a small synthetic dataset, each with its own
directory, ipc endpoint and instance name.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("MIXUPD_BUILD_ROOT",
                                       os.path.join(ROOT, "build")))
sys.path.insert(0, os.path.join(BUILD, "client", "python"))

import mixupd  # noqa: E402

assert mixupd.__file__.startswith(BUILD), \
    f"imported {mixupd.__file__}, not the build tree's package in {BUILD}"

# The dataset: N samples of H x W x C bytes, K classes, batches of B.
N, H, W, C, K, B = 300, 8, 8, 3, 5, 8
BPE = N // (2 * B)
ALPHA = 0.4


def make_data():
    i = np.arange(N * H * W * C, dtype=np.int64)
    images = ((i * 131 + i // 7) % 251).astype(np.uint8).reshape(N, H, W, C)
    labels = (np.arange(N, dtype=np.int64) * 3) % K
    return images, labels


def start_daemon(**settings):
    images, labels = make_data()
    s = {"batch.size": B, "batch.alpha": ALPHA, "dataset.classes": K,
         "server.workers": 2, "server.ring_slots": 16, "server.prefetch": 4,
         # Tests keep up to 6 zero-copy batches to compare them.
         "server.max_held": 8}
    s.update({k.replace("__", "."): v for k, v in settings.items()})
    return mixupd.Daemon.from_arrays(images, labels, s)


@pytest.fixture(scope="session")
def daemon():
    d = start_daemon()
    yield d
    status = d.stop()
    log = d.log()
    d.cleanup()
    assert status == 0, f"mixupd exit status {status}:\n{log}"


@pytest.fixture
def own_daemon():
    """A daemon for one test (to stop, freeze or restart)."""
    made = []

    def make(**settings):
        d = start_daemon(**settings)
        made.append(d)
        return d
    yield make
    for d in made:
        d.cleanup()


def mixupctl_dump(endpoint, batches, outdir, *args):
    """Run `mixupctl dump` and load the arrays it wrote: {name: ndarray}
    (x, index1, index2, lam, position, then y or label1 and label2, and
    the augmentation fields when the daemon augments)."""
    argv = [mixupd.find_binary("mixupctl"), "--endpoint", endpoint,
            "--timeout", "20000", *map(str, args), "dump",
            "--batches", str(batches), "--out", str(outdir)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"{argv}: {r.stderr}"
    return {f[:-4]: np.load(os.path.join(outdir, f))
            for f in os.listdir(outdir) if f.endswith(".npy")}


def stack(batches):
    """The Python side's batches laid out as mixupctl dump writes them."""
    return {
        "x": np.concatenate([b.x for b in batches]),
        "y": np.concatenate([b.y for b in batches]),
        "index1": np.concatenate([b.index1 for b in batches]),
        "index2": np.concatenate([b.index2 for b in batches]),
        "lam": np.concatenate([b.lam for b in batches]),
        "position": np.concatenate([np.tile(np.array(b.position, "<i8"),
                                            (b.size, 1)) for b in batches]),
    }


def assert_same_bytes(got, want):
    for name in want:
        assert got[name].dtype == want[name].dtype, name
        assert got[name].shape == want[name].shape, name
        assert got[name].tobytes() == want[name].tobytes(), \
            f"{name} differs from mixupctl's"


def mixupctl_stats(d):
    """`mixupctl stats --json` of daemon @d, parsed."""
    import json
    import subprocess
    argv = [mixupd.find_binary("mixupctl"), "--endpoint", d.endpoint,
            "stats", "--json"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)
