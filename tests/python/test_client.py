"""mixupd.Client: the bytes, zero copy and lifetimes, positions, resume."""
import gc
import weakref

import numpy as np
import pytest

import mixupd
from conftest import (B, BPE, C, H, K, W, assert_same_bytes, mixupctl_dump,
                      stack)


def take(client, n):
    return [client.next() for _ in range(n)]


def skip(client, n):
    """Read n batches without keeping them (a client holds at most
    server.max_held batches read in place)."""
    for _ in range(n):
        client.next()


def test_info_describes_the_daemon(daemon):
    with mixupd.Client(daemon.endpoint) as c:
        i = c.info
        assert (i.height, i.width, i.channels, i.classes) == (H, W, C, K)
        assert i.batch_size == B and i.batches_per_epoch == BPE
        assert i.alpha == pytest.approx(0.4)
        assert c.batches_per_epoch == BPE
    assert mixupd.daemon_info(daemon.endpoint) == i


def test_batches_equal_mixupctl_dump_byte_for_byte(daemon, tmp_path):
    with mixupd.Client(daemon.endpoint, seed=7) as c:
        got = take(c, 6)
    b = got[0]
    assert b.x.shape == (B, H, W, C) and b.x.dtype == np.float32
    assert b.y.shape == (B, K) and b.y.dtype == np.float32
    assert b.index1.dtype == b.index2.dtype == np.int64
    assert b.lam.shape == (B,) and b.lam.dtype == np.float32
    want = mixupctl_dump(daemon.endpoint, 6, tmp_path / "d", "--seed", 7)
    assert_same_bytes(stack(got), want)


def test_start_position_crosses_epochs_like_mixupctl(daemon, tmp_path):
    start = (1, BPE - 2)
    with mixupd.Client(daemon.endpoint, seed=11, start=start) as c:
        assert c.position == start and c.last_position is None
        got = take(c, 4)
        assert [b.position for b in got] == [
            (1, BPE - 2), (1, BPE - 1), (2, 0), (2, 1)]
        assert c.last_position == (2, 1) and c.position == (2, 2)
    want = mixupctl_dump(daemon.endpoint, 4, tmp_path / "d", "--seed", 11,
                         "--start", f"{start[0]}:{start[1]}")
    assert_same_bytes(stack(got), want)


@pytest.mark.parametrize("zero_copy", [True, False])
def test_arrays_are_views_on_the_message(daemon, zero_copy):
    with mixupd.Client(daemon.endpoint, seed=1, zero_copy=zero_copy) as c:
        assert c.transport == ("shm" if zero_copy else "socket"), \
            c.transport_note
        b = c.next()
    assert b.lent == zero_copy
    for a in (b.x, b.y, b.index1, b.index2, b.lam):
        assert not a.flags.owndata and a.base is not None
        # The daemon's ring is mapped copy-on-write: writable too.
        assert a.flags.writeable
    assert b.writable
    # x and y lie in one message: no copy was made of either.
    assert b.x.base._owner is b._message is b.y.base._owner
    b.x[0, 0, 0, 0] = 1.0             # the stream was closed: a private
    assert b.x[0, 0, 0, 0] == 1.0     # copy in the slot's place, writable
    if zero_copy:
        b.keep()                      # a copy of its own, writable
        assert not b.lent and b.x.flags.writeable and b.valid()


def test_arrays_stay_valid_after_more_batches_and_close(daemon):
    gc.collect()
    base = mixupd.live_batches()
    c = mixupd.Client(daemon.endpoint, seed=3)
    first = c.next()
    x, y, lam, i1 = first.x, first.y, first.lam, first.index1
    saved = [a.copy() for a in (x, y, lam, i1)]
    msg = weakref.ref(first._message)
    del first
    skip(c, 3 * BPE)          # many more batches, over epoch boundaries
    c.close()
    gc.collect()
    assert msg() is not None  # x, y, ... still refer to it
    assert [a.tobytes() for a in (x, y, lam, i1)] == \
        [s.tobytes() for s in saved]
    assert mixupd.live_batches() == base + 1
    del x, y, i1
    assert msg() is not None  # lam alone keeps the message
    del lam
    assert msg() is None      # freed with the last reference
    assert mixupd.live_batches() == base


def test_dropped_batches_are_freed_at_once(daemon):
    base = mixupd.live_batches()
    with mixupd.Client(daemon.endpoint, seed=2) as c:
        for _ in range(50):
            b = c.next()
            assert mixupd.live_batches() <= base + 2
        del b
    assert mixupd.live_batches() == base


def test_resume_from_a_saved_position(daemon):
    with mixupd.Client(daemon.endpoint, seed=5) as c:
        skip(c, BPE - 3)
        saved = c.position            # what a checkpoint stores
        assert saved == (0, BPE - 3)
        ahead = take(c, 6)            # crosses into epoch 1
    with mixupd.Client(daemon.endpoint, seed=5, start=saved) as r:
        resumed = take(r, 6)
    assert [b.position for b in resumed] == [b.position for b in ahead]
    for a, b in zip(ahead, resumed):
        assert a.x.tobytes() == b.x.tobytes()
        assert a.lam.tobytes() == b.lam.tobytes()


def test_seek_and_iteration(daemon):
    with mixupd.Client(daemon.endpoint, seed=9) as c:
        it = iter(c)
        first = [next(it) for _ in range(3)]
        c.seek((0, 1))
        assert c.position == (0, 1)
        again = c.next()
        assert again.position == (0, 1)
        assert again.x.tobytes() == first[1].x.tobytes()


def test_repr_and_closed_state(daemon):
    c = mixupd.Client(daemon.endpoint)
    assert "independent" in repr(c)
    c.close()
    c.close()
    assert c.closed and "closed" in repr(c)
    with pytest.raises(mixupd.StateError, match="closed"):
        c.next()


def test_stats_are_the_daemons(daemon):
    with mixupd.Client(daemon.endpoint, seed=4) as c:
        c.next()
        s = c.stats()
        assert s["batches_per_epoch"] == BPE
        assert any(st["seed"] == 4 for st in s["streams"])
        assert isinstance(c.stats(json=False), str)


def test_sharded_and_shared_streams(daemon):
    with mixupd.Client(daemon.endpoint, seed=13) as ref:
        want = [ref.next() for _ in range(6)]
    with mixupd.Client(daemon.endpoint, mode="sharded", job="c-shard",
                       seed=13, rank=1, world=2) as c:
        assert c.batches_per_epoch == BPE // 2
        b = [c.next() for _ in range(2)]
        assert [x.position for x in b] == [(0, 1), (0, 3)]
        assert b[1].x.tobytes() == want[3].x.tobytes()
        assert c.position == (0, 5)
    a = mixupd.Client(daemon.endpoint, mode="shared", job="c-shared", seed=13)
    z = mixupd.Client(daemon.endpoint, mode="shared", job="c-shared", seed=13)
    got = [a.next(), z.next(), a.next(), z.next()]
    assert sorted(g.index for g in got) == [0, 1, 2, 3]
    with pytest.raises(mixupd.ModeError, match="position is the job's"):
        a.position
    a.close()
    z.close()


def _held(client, seed):
    """Slots the daemon has lent to the (only) stream with this seed."""
    rows = [s for s in client.stats()["streams"] if s["seed"] == seed]
    assert len(rows) == 1, rows
    return rows[0]["held"]


def test_a_lent_slot_is_held_until_the_last_view_goes(daemon):
    seed = 4242
    with mixupd.Client(daemon.endpoint, seed=seed) as c:
        assert c.transport == "shm", c.transport_note
        b = c.next()
        x = b.x                       # a view on the slot
        want = x.tobytes()
        del b
        c.next()                      # dropped at once: its release queued
        # Releases ride on the next NEXT; x still holds the first slot.
        assert _held(c, seed) == 2
        skip(c, 3)
        assert _held(c, seed) == 2    # x's slot, and the last one asked
        assert x.tobytes() == want    # untouched while referenced
        del x
        gc.collect()
        c.next()                      # carries the first slot's release
        assert _held(c, seed) == 1
