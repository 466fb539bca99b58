"""Several pipelines in one daemon, and the evaluation mode.

One daemon, started from a configuration file with [pipeline NAME]
sections and --set overrides: main trains on Fashion-MNIST's training set,
`val` serves the t10k files in order, unmixed, every sample once, and
`flip` is main with one augmentation more (the same files: loaded once).
"""
import gzip
import os
import subprocess

import numpy as np
import pytest

import mixupd
from conftest import ROOT
from conftest import mixupctl_stats as stats

FASHION = "/usr/share/datasets/fashion-mnist"
T10K_IMAGES = os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")
T10K_LABELS = os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz")

pytestmark = pytest.mark.skipif(not os.path.exists(T10K_IMAGES),
                                reason="dataset-fashion-mnist not installed")

CONFIG = f"""
[batch]
size = 64

[pipeline val]
dataset.images = {T10K_IMAGES}
dataset.labels = {T10K_LABELS}
batch.shuffle = false
batch.drop_last = false
batch.mix = none
batch.size = 128

[pipeline flip]
augment.flip_horizontal = 0.5
"""


def read_idx(path):
    """The IDX file's payload as numpy reads it, by hand: magic (dtype and
    rank), big-endian dimensions, then the bytes."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big")
            for i in range(rank)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * rank).reshape(dims)


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    conf = tmp_path_factory.mktemp("conf") / "pipelines.conf"
    conf.write_text(CONFIG)
    # --set after the file: main's alpha changes, and every pipeline that
    # does not give its own takes it.
    d = mixupd.Daemon({"batch.alpha": 0.3, "server.ring_slots": 8,
                       "pipeline.flip.batch.seed": 7}, config=conf)
    yield d
    status = d.stop()
    log = d.log()
    d.cleanup()
    assert status == 0, f"mixupd exit status {status}:\n{log}"




def test_info_lists_the_pipelines_and_each_describes_its_own(fashion):
    main = mixupd.daemon_info(fashion.endpoint)
    val = mixupd.daemon_info(fashion.endpoint, pipeline="val")
    assert main.pipelines == ("main", "val", "flip")
    assert (main.pipeline, val.pipeline) == ("main", "val")
    assert (main.samples, val.samples) == (60000, 10000)
    assert (main.batch_size, val.batch_size) == (64, 128)
    assert main.batches_per_epoch == 60000 // 128
    assert val.batches_per_epoch == 79  # ceil(10000 / 128)
    assert (main.keep_last, val.keep_last) == (False, True)
    assert (main.shuffle, val.shuffle) == (True, False)


def test_a_pipeline_inherits_what_it_does_not_set(fashion):
    p = {q["name"]: q for q in stats(fashion)["pipelines"]}
    main, val, flip = (p[n]["settings"] for n in ("main", "val", "flip"))
    assert main["alpha"] == 0.3           # --set over the file's default
    assert flip["alpha"] == 0.3           # inherited, after --set
    assert val["alpha"] == 0.3
    assert flip["batch_size"] == 64       # from the file's [batch]
    assert flip["flip"]["horizontal"] == 0.5 and main["flip"]["horizontal"] == 0
    assert (val["mix"], val["shuffle"], val["drop_last"]) == ("none", False,
                                                              False)
    assert (main["mix"], main["drop_last"]) == ("mixup", True)


def test_the_same_dataset_is_loaded_once(fashion):
    st = stats(fashion)
    seg = {q["name"]: q["dataset"]["segment"] for q in st["pipelines"]}
    assert seg["flip"] == seg["main"] != seg["val"]
    assert st["datasets_loaded"] == 2
    assert "pipeline flip: same dataset as pipeline main, loaded once" \
        in fashion.log()


def test_an_unknown_pipeline_is_refused_with_the_known_ones(fashion):
    for call in (lambda: mixupd.Client(fashion.endpoint, pipeline="test"),
                 lambda: mixupd.daemon_info(fashion.endpoint,
                                            pipeline="test")):
        with pytest.raises(mixupd.MixupError) as e:
            call()
        assert "unknown pipeline 'test'" in str(e.value)
        assert "main val flip" in str(e.value)
    with pytest.raises(ValueError):
        mixupd.Client(fashion.endpoint, pipeline="no.dots")


def test_an_evaluation_epoch_is_the_test_set_in_order(fashion):
    images = read_idx(T10K_IMAGES)
    labels = read_idx(T10K_LABELS)
    assert images.shape == (10000, 28, 28)
    xs, ys, sizes = [], [], []
    with mixupd.Client(fashion.endpoint, pipeline="val") as c:
        assert c.batches_per_epoch == 79
        for b in c:  # one epoch, then the iterator ends
            assert b.position.epoch == 0
            assert (b.index1 == b.index2).all() and (b.lam == 1).all()
            xs.append(np.array(b.x))
            ys.append(np.array(b.y))
            sizes.append(len(b.index1))
        assert c.position == (1, 0)
    assert sizes == [128] * 78 + [10000 - 78 * 128]
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    assert x.shape == (10000, 28, 28, 1)
    # Unmixed uint8 pixels scaled by 1/255 in float32: rounding back gives
    # exactly the file's bytes, in the file's order.
    assert np.array_equal(np.rint(x[..., 0] * 255).astype(np.uint8), images)
    assert np.array_equal(y, np.eye(10, dtype=np.float32)[labels])


def test_the_generator_and_mixupctl_take_a_pipeline(fashion, tmp_path):
    gen = mixupd.MixupGenerator(fashion.endpoint, pipeline="val")
    assert gen.steps_per_epoch == 79
    n = sum(len(x) for x, _ in gen())  # ends after one epoch
    assert n == 10000
    ctl = mixupd.find_binary("mixupctl")
    r = subprocess.run([ctl, "--endpoint", fashion.endpoint, "--pipeline",
                        "val", "info"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert "pipeline: val" in r.stdout and "samples: 10000" in r.stdout
    assert "pipelines: main val flip" in r.stdout
    r = subprocess.run([ctl, "--endpoint", fashion.endpoint, "--pipeline",
                        "val", "dump", "--batches", "2", "--out",
                        str(tmp_path)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    idx = np.load(tmp_path / "index1.npy")
    assert np.array_equal(idx.ravel(), np.arange(256))


def test_stats_and_jobs_agree_and_show_rates_at_once(fashion):
    ctl = mixupd.find_binary("mixupctl")
    with mixupd.Client(fashion.endpoint, pipeline="flip", seed=3) as c:
        for _ in range(5):
            c.next()
        st = stats(fashion)
        mine = [s for s in st["streams"] if s["pipeline"] == "flip"]
        assert len(mine) == 1 and mine[0]["batches_sent"] == 5
        assert mine[0]["batches_per_s"] > 0   # before any tick saw it
        jobs = subprocess.run([ctl, "--endpoint", fashion.endpoint, "jobs"],
                              capture_output=True, text=True, timeout=30)
        table = subprocess.run([ctl, "--endpoint", fashion.endpoint, "stats"],
                               capture_output=True, text=True, timeout=30)
    assert jobs.returncode == 0 and table.returncode == 0
    # jobs shows the tables of stats: the same row (up to the rate and the
    # batches prepared, which move between the two calls).
    rows = [[ln.split() for ln in out.splitlines() if mine[0]["id"] in ln]
            for out in (jobs.stdout, table.stdout)]
    assert len(rows[0]) == len(rows[1]) == 1
    assert rows[0][0][:11] == rows[1][0][:11]
    assert rows[0][0][1] == "flip" and rows[0][0][8] == "5"
    # Settings as people write them, enums by name, nested ones shown.
    assert "settings.alpha           0.3\n" in table.stdout
    assert "settings.dtype           float32\n" in table.stdout
    assert "settings.layout          NHWC\n" in table.stdout
    assert "settings.flip.horizontal 0.5\n" in table.stdout
    assert st["pipeline"]["alpha"] == 0.3 and st["pipeline"]["dtype"] == \
        "float32"
