"""A lossless round trip: Fashion-MNIST's t10k images written as
PNG files listed in IDX order (examples/fashion_mnist_png.py) and served
with format = list, storage = decoded give batches byte-identical to
serving the IDX files themselves."""
import importlib.util
import os

import pytest

import mixupd
from conftest import mixupctl_dump

IDX = "/usr/share/datasets/fashion-mnist"
pytest.importorskip("PIL.Image")
pytestmark = pytest.mark.skipif(
    not os.path.exists(os.path.join(IDX, "t10k-images-idx3-ubyte.gz")),
    reason="dataset-fashion-mnist is not installed")
HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "fashion_mnist_png",
    os.path.join(HERE, "..", "..", "examples", "fashion_mnist_png.py"))
fmp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fmp)

COMMON = {"batch.size": 64, "batch.alpha": 0.4, "server.workers": 2,
          "augment.flip_horizontal": 0.5, "dataset.classes": 10}


def test_png_list_serves_the_idx_bytes(tmp_path):
    n = fmp.write(str(tmp_path / "png"), "t10k")
    assert n == 10000
    idx = dict(COMMON, **{
        "dataset.format": "idx",
        "dataset.images": os.path.join(IDX, "t10k-images-idx3-ubyte.gz"),
        "dataset.labels": os.path.join(IDX, "t10k-labels-idx1-ubyte.gz")})
    png = dict(COMMON, **{
        "dataset.format": "list",
        "dataset.images": str(tmp_path / "png" / "list.txt"),
        "dataset.storage": "decoded", "dataset.channels": 1})
    got = {}
    for name, s in (("idx", idx), ("png", png)):
        with mixupd.Daemon(s) as d:
            got[name] = mixupctl_dump(d.endpoint, 6, tmp_path / name,
                                      "--seed", 5, "--start", "1:70")
    assert sorted(got["idx"]) == sorted(got["png"])
    assert {"x", "y", "index1", "index2", "lam", "flip"} <= set(got["idx"])
    for k in got["idx"]:
        a, b = got["idx"][k], got["png"][k]
        assert a.dtype == b.dtype and a.shape == b.shape, k
        assert a.tobytes() == b.tobytes(), f"{k} differs"
