"""The wrappers (MixupDataset, MixupGenerator, MixupSequence) as a user of
the original Keras generator or of torch meets them: every Client option
goes through, Keras's threads, the seed generator's own call, tensors a
training loop can reshape, checkpoints and the wait statistics."""
import os
import queue
import threading

import numpy as np
import pytest

import mixupd
from conftest import ALPHA, B, BPE, C, H, K, N, W, make_data

torch = pytest.importorskip("torch")
import mixupd.torch as mt               # noqa: E402

TOKEN = "fedcba9876543210" * 4


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    """A daemon that wants a token, and the file holding it."""
    from conftest import start_daemon
    path = tmp_path_factory.mktemp("token") / "token"
    path.write_text(TOKEN + "\n")
    os.chmod(path, 0o600)
    d = start_daemon(server__auth_token_file=str(path))
    yield d, str(path)
    d.stop()
    d.cleanup()


def reference(endpoint, seed, n, **kw):
    with mixupd.Client(endpoint, seed=seed, zero_copy=False, **kw) as c:
        return [c.next() for _ in range(n)]


# ---------------------------------------------------------- client options

def test_every_wrapper_takes_token_file(locked, monkeypatch):
    d, token = locked
    monkeypatch.delenv("MIXUPD_TOKEN_FILE", raising=False)
    want = reference(d.endpoint, 4, 2, token_file=token)
    ds = mt.MixupDataset(d.endpoint, seed=4, token_file=token,
                         channels_first=None, connect_timeout=5)
    assert len(ds) == BPE                 # asked with the token too
    x, _ = next(iter(ds))
    assert x.numpy().tobytes() == want[0].x.tobytes()
    ds.close()
    gen = mixupd.MixupGenerator(d.endpoint, seed=4, token_file=token,
                                connect_timeout=5)
    assert gen.steps_per_epoch == BPE
    assert next(gen())[0].tobytes() == want[0].x.tobytes()
    with mixupd.MixupSequence(d.endpoint, seed=4, token_file=token) as seq:
        assert seq[1][0].tobytes() == want[1].x.tobytes()
    # Without it, each says why.
    for make in (lambda: len(mt.MixupDataset(d.endpoint, connect_timeout=5)),
                 lambda: mixupd.MixupGenerator(d.endpoint, connect_timeout=5),
                 lambda: mixupd.MixupSequence(d.endpoint, connect_timeout=5)):
        with pytest.raises(mixupd.NotAuthorised):
            make()


def test_every_wrapper_takes_the_transport_options(daemon):
    ds = mt.MixupDataset(daemon.endpoint, seed=3, zero_copy=False,
                         spread=False)
    next(iter(ds))
    assert ds._client.transport == "socket"
    ds.close()
    with mixupd.MixupSequence(daemon.endpoint, zero_copy=False) as seq:
        assert seq._client.transport == "socket"
    with pytest.raises(TypeError, match="zero_copy must be True or False"):
        mt.MixupDataset(daemon.endpoint, zero_copy="yes")
    with pytest.raises(TypeError, match="token_file must be a path"):
        mixupd.MixupGenerator(daemon.endpoint, token_file=3)


# ---------------------------------------------------------- Keras threads

def test_sequence_from_four_threads(daemon):
    """Keras with workers=4 (threads): indices handed out in order from a
    queue, asked concurrently, over two epochs."""
    with mixupd.Client(daemon.endpoint, seed=6, zero_copy=False) as c:
        want = [[c.next().x.tobytes() for _ in range(BPE)] for _ in range(2)]
    seq = mixupd.MixupSequence(daemon.endpoint, seed=6)
    for epoch in range(2):
        todo = queue.Queue()
        for i in range(len(seq)):
            todo.put(i)
        got, errors = {}, []

        def work():
            while True:
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    got[i] = seq[i][0].tobytes()
                except Exception as e:     # reported below
                    errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert [got[i] for i in range(BPE)] == want[epoch]
        seq.on_epoch_end()
    seq.close()


# ---------------------------------------------------------- the seed's call

def test_generator_takes_the_seed_generators_call(daemon):
    images, labels = make_data()
    onehot = np.eye(K, dtype=np.float32)[labels]
    ep = {"endpoint": daemon.endpoint}
    # MixupGenerator(x_train, y_train, batch_size, alpha)(), positionally
    gen = mixupd.MixupGenerator(images, onehot, B, ALPHA, **ep)
    x, y = next(gen())
    assert x.shape == (B, H, W, C) and y.shape == (B, K)
    mixupd.MixupGenerator(images, onehot, batch_size=B, alpha=ALPHA,
                          shuffle=True, datagen=None, **ep)
    mixupd.MixupGenerator(images, labels, B, ALPHA, True, None, **ep)
    # The original's defaults (batch_size=32, alpha=0.2) are what such a
    # script expects: checked like any other value.
    with pytest.raises(ValueError, match=f"batch_size=32, but the daemon "
                                         f"serves batches of {B}"):
        mixupd.MixupGenerator(images, onehot, **ep)
    with pytest.raises(ValueError, match="shuffle=False, but the daemon "
                                         "shuffles"):
        mixupd.MixupGenerator(images, onehot, B, ALPHA, False, **ep)
    with pytest.raises(ValueError, match=r"datagen=object: .*\[augment\]"):
        mixupd.MixupGenerator(images, onehot, B, ALPHA, datagen=object(),
                              **ep)
    with pytest.raises(ValueError, match=f"x_train of shape "
                                         f"\\({N - 1}, {H}, {W}, {C}\\)"):
        mixupd.MixupGenerator(images[1:], onehot[1:], B, ALPHA, **ep)
    with pytest.raises(ValueError, match=f"{K} classes"):
        mixupd.MixupGenerator(images, onehot[:, :2], B, ALPHA, **ep)


# ---------------------------------------------------------- torch tensors

@pytest.mark.parametrize("channels_first", [True, False, None])
def test_tensors_are_contiguous_in_the_layout_asked_for(daemon,
                                                        channels_first):
    want = reference(daemon.endpoint, 8, 1)[0].x   # NHWC, the daemon's
    if channels_first:
        want = want.transpose(0, 3, 1, 2)
    ds = mt.MixupDataset(daemon.endpoint, seed=8,
                         channels_first=channels_first)
    x, _ = next(iter(ds))
    assert x.is_contiguous() and tuple(x.shape) == want.shape
    flat = x.view(B, -1)
    assert flat.numpy().tobytes() == np.ascontiguousarray(want).tobytes()
    ds.close()


def test_state_dict_round_trip_through_a_checkpoint(daemon, tmp_path):
    ds = mt.MixupDataset(daemon.endpoint, seed=13, channels_first=None)
    it = iter(ds)
    for _ in range(5):
        next(it)
    path = tmp_path / "ckpt.pt"
    torch.save({"loader": ds.state_dict()}, path)
    rest = [x.numpy().tobytes() for x, _ in it]      # the rest of epoch 0
    after = [x.numpy().tobytes() for x, _ in ds][:3]  # epoch 1 starts
    ds.close()

    again = mt.MixupDataset(daemon.endpoint, seed=13, channels_first=None)
    again.load_state_dict(torch.load(path)["loader"])
    assert len(again) == BPE - 5 == len(rest)
    assert [x.numpy().tobytes() for x, _ in again] == rest
    assert len(again) == BPE
    assert [x.numpy().tobytes() for x, _ in again][:3] == after
    again.close()

    other = mt.MixupDataset(daemon.endpoint, seed=14)
    with pytest.raises(ValueError, match="seed=13, this one has seed=14"):
        other.load_state_dict(torch.load(path)["loader"])


def test_stats_say_how_long_the_loop_waited(daemon):
    ds = mt.MixupDataset(daemon.endpoint, seed=15)
    assert ds.stats()["batches"] == 0
    n = sum(1 for _ in ds)
    s = ds.stats()
    assert s["batches"] == n == BPE
    assert 0 < s["waited_s"] <= s["elapsed_s"]
    assert s["wait_fraction"] == pytest.approx(s["waited_s"] / s["elapsed_s"])
    ds.reset_stats()
    assert ds.stats() == {"batches": 0, "waited_s": 0.0, "elapsed_s": 0.0,
                          "wait_fraction": 0.0}
    ds.close()
