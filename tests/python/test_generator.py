"""MixupGenerator and MixupSequence: the seed generator's interface."""
import numpy as np
import pytest

import mixupd
from conftest import B, BPE, C, H, K, W, mixupctl_dump


def test_generator_first_batches_equal_the_c_clients(daemon, tmp_path):
    gen = mixupd.MixupGenerator(daemon.endpoint, batch_size=B, alpha=0.4,
                                seed=12)
    assert gen.steps_per_epoch == len(gen) == BPE
    g = gen()
    got = [next(g) for _ in range(5)]
    g.close()
    for X, y in got:     # exactly the seed generator's (X, y) shapes
        assert X.shape == (B, H, W, C) and y.shape == (B, K)
    want = mixupctl_dump(daemon.endpoint, 5, tmp_path / "d", "--seed", 12)
    assert np.concatenate([X for X, _ in got]).tobytes() == \
        want["x"].tobytes()
    assert np.concatenate([y for _, y in got]).tobytes() == \
        want["y"].tobytes()


def test_each_call_is_a_new_stream_from_the_start(daemon):
    gen = mixupd.MixupGenerator(daemon.endpoint, seed=2, start=(3, 0))
    a, b = gen(), gen()
    xa = [next(a)[0].copy() for _ in range(2)]
    xb = next(b)[0]
    assert xb.tobytes() == xa[0].tobytes()


def test_generator_checks_the_daemons_settings(daemon):
    with pytest.raises(ValueError, match="daemon serves batches of 8"):
        mixupd.MixupGenerator(daemon.endpoint, batch_size=32)
    with pytest.raises(ValueError, match="alpha=0.4"):
        mixupd.MixupGenerator(daemon.endpoint, alpha=0.2)


def test_sequence_gives_the_epochs_batches(daemon, tmp_path):
    want = mixupctl_dump(daemon.endpoint, BPE + 2, tmp_path / "d",
                         "--seed", 4)
    wx = want["x"].reshape(BPE + 2, B, H, W, C)
    with mixupd.MixupSequence(daemon.endpoint, seed=4) as seq:
        assert len(seq) == BPE
        for i in range(len(seq)):            # in order: streamed
            X, y = seq[i]
            assert X.tobytes() == wx[i].tobytes()
        X, _ = seq[5]                        # out of order: re-opened
        assert X.tobytes() == wx[5].tobytes()
        X, _ = seq[-1]
        assert X.tobytes() == wx[BPE - 1].tobytes()
        with pytest.raises(IndexError):
            seq[BPE]
        with pytest.raises(TypeError):
            seq[1.0]
        seq.on_epoch_end()
        assert seq.epoch == 1
        X, _ = seq[1]
        assert X.tobytes() == wx[BPE + 1].tobytes()
        assert sum(1 for _ in seq) == BPE    # the iteration protocol


def test_sequence_of_a_sharded_rank(daemon, tmp_path):
    want = mixupctl_dump(daemon.endpoint, 3, tmp_path / "d", "--seed", 4)
    wx = want["x"].reshape(3, B, H, W, C)
    with mixupd.MixupSequence(daemon.endpoint, seed=4, mode="sharded",
                              job="seq-shard", rank=1, world=2) as seq:
        assert len(seq) == BPE // 2
        X, _ = seq[0]                        # the job's batch 1
        assert X.tobytes() == wx[1].tobytes()
