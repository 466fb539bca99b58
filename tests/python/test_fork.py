"""Clients across fork(): DataLoader workers (the default start method,
fork) while the parent process has a client open, streams that workers
leave behind, and batches written in place.

nanomsg runs its sockets on threads that a forked child does not have:
before libmixup closed its sockets around fork(), a worker's own client
waited forever when the parent had one open.
"""
import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import mixupd                           # noqa: E402
import mixupd.torch as mt               # noqa: E402
from conftest import B, BPE, N, mixupctl_stats, start_daemon  # noqa: E402

VAL_BATCHES = -(-N // B)     # every sample once, the last batch partial
EPOCHS = 3
# A regression shows as an error, not as a test that never ends.
QUICK = {"timeout": 20, "connect_timeout": 20}


@pytest.fixture(scope="module")
def daemon():
    d = start_daemon(**{"pipeline.val.batch.drop_last": "false",
                        "pipeline.val.batch.mix": "none",
                        "pipeline.val.batch.shuffle": "false"})
    yield d
    status = d.stop()
    log = d.log()
    d.cleanup()
    assert status == 0, f"mixupd exit status {status}:\n{log}"


def reference_epochs(endpoint, seed, epochs):
    """[set of x bytes of epoch e]: independent stream @seed through the
    socket (a shared or 1-rank sharded job with that seed is the same)."""
    with mixupd.Client(endpoint, seed=seed, zero_copy=False) as c:
        return [{c.next().x.tobytes() for _ in range(BPE)}
                for _ in range(epochs)]


def streams_open(d):
    return mixupctl_stats(d)["streams_open"]


@pytest.mark.parametrize("mode,workers", [("independent", 1), ("sharded", 1),
                                          ("shared", 1), ("shared", 2)])
def test_dataloader_workers_with_a_client_open_in_the_parent(daemon, mode,
                                                             workers):
    """The README's pattern: a training DataLoader with workers, and the
    validation pipeline iterated in the main process, whose client stays
    open while the next epoch's workers are forked."""
    seed = 40 + workers
    job = None if mode == "independent" else f"fork-{mode}-{workers}"
    extra = {"rank": 0, "world": 1} if mode == "sharded" else {}
    ds = mt.MixupDataset(daemon.endpoint, mode=mode, job=job, seed=seed,
                         channels_first=None, **extra, **QUICK)
    train = torch.utils.data.DataLoader(ds, batch_size=None,
                                        num_workers=workers, timeout=60)
    val = mt.MixupDataset(daemon.endpoint, pipeline="val", **QUICK)
    want = reference_epochs(daemon.endpoint, seed, EPOCHS)
    for epoch in range(EPOCHS):
        got = [x.numpy().tobytes() for x, _ in train]
        # Each batch of the epoch exactly once: none lost to an exiting
        # worker, none twice.
        assert len(got) == BPE, f"epoch {epoch}"
        assert set(got) == want[epoch], f"epoch {epoch}"
        assert sum(1 for _ in val) == VAL_BATCHES
        assert val._client is not None and not val._client.closed
    val.close()
    # Workers closed their streams when they were done: nothing holds
    # ring slots or a job until stream_timeout.
    assert streams_open(daemon) == 0


@pytest.mark.parametrize("mode", ["independent", "sharded"])
def test_two_workers_of_one_stream_are_refused_at_once(daemon, mode):
    extra = {"job": "two", "rank": 0, "world": 1} if mode == "sharded" \
        else {}
    ds = mt.MixupDataset(daemon.endpoint, mode=mode, seed=5, **extra,
                         **QUICK)
    val = mt.MixupDataset(daemon.endpoint, pipeline="val", **QUICK)
    assert sum(1 for _ in val) == VAL_BATCHES
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2,
                                         timeout=60)
    with pytest.raises(RuntimeError, match="delivered 2 times"):
        for _ in loader:
            pass
    val.close()


def test_a_worker_that_leaves_early_closes_its_stream(daemon):
    ds = mt.MixupDataset(daemon.endpoint, seed=7, **QUICK)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=1,
                                         timeout=60)
    it = iter(loader)
    next(it)
    next(it)
    del it     # the loader shuts its worker down mid-epoch
    assert streams_open(daemon) == 0


def test_an_inherited_client_refuses_and_a_new_one_works(daemon):
    c = mixupd.Client(daemon.endpoint, seed=9, **QUICK)
    first = c.next().position
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            try:
                c.next()
                code = 2          # the parent's stream, used here
            except mixupd.StateError as e:
                code = 3 if "create a Client in this process" in str(e) \
                    else 4
            if code == 3:
                c.close()         # frees it, says nothing to the daemon
                with mixupd.Client(daemon.endpoint, seed=9, **QUICK) as own:
                    code = 0 if own.next().position == (0, 0) else 5
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's stream goes on where it was.
    assert first == (0, 0)
    assert c.next().position == (0, 1)
    c.close()


# ---------------------------------------------------------------- in place

def test_lent_batches_are_written_in_place_without_harm(daemon):
    """x.sub_() on a zero-copy batch: the process does not fault, the
    write stays in this process (another client of the same stream reads
    the daemon's bytes), and the slot's next batches read the ring again
    (the written pages are dropped when the slot goes back)."""
    n = 40      # more batches than ring slots: slots are reused
    with mixupd.Client(daemon.endpoint, seed=11, zero_copy=False) as ref:
        want = [ref.next().x.tobytes() for _ in range(n)]
    a = mixupd.Client(daemon.endpoint, seed=11)
    b = mixupd.Client(daemon.endpoint, seed=11)
    assert a.transport == "shm" and b.transport == "shm"
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # no read-only tensor warning
        for i in range(n):
            batch = a.next()
            assert batch.lent and batch.writable
            assert batch.x.tobytes() == want[i], f"batch {i}"
            x, y = mt.tensors(batch)
            x.sub_(0.5)
            y.mul_(0)
            assert batch.x.tobytes() == \
                (np.frombuffer(want[i], "<f4") - np.float32(0.5)).tobytes()
            other = b.next()
            assert other.x.tobytes() == want[i], f"batch {i} of the other"
            del batch, x, y, other
    a.close()
    b.close()


def test_dataset_tensors_can_be_modified(daemon):
    ds = mt.MixupDataset(daemon.endpoint, seed=12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for i, (x, y) in enumerate(ds):
            x.sub_(0.5).mul_(2.0)
            y.clamp_(0, 1)
            if i == 20:
                break
    ds.close()
