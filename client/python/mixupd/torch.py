"""mixupd.torch: batches as torch tensors, for PyTorch training loops.

    ds = mixupd.torch.MixupDataset("ipc:///tmp/mixupd.ipc", seed=1)
    for epoch in range(10):
        for x, y in ds:            # one epoch of batches, already batched
            ...

The tensors share memory with the received message (torch.from_numpy of
the zero-copy arrays): no copy is made on the Python side when the
daemon's [output] layout is the one asked for (channels_first). They are
writable: in-place operations are fine, also on batches read in place in
the daemon's ring (mapped copy-on-write).

Iterate the dataset directly (or through DataLoader(ds, batch_size=None,
num_workers=0)): the daemon is already the worker pool, so DataLoader
worker processes add nothing but a copy of every batch into shared
memory. They work all the same (forked or spawned, with clients open in
the main process): each worker opens its own stream and closes it when
its iteration ends. Several workers would each open the same stream and
deliver every batch several times; the dataset refuses that
(mode="shared" is the exception: there each batch of the job goes to
exactly one worker, every batch of an epoch exactly once).

Epochs: each iteration yields the rest of the current epoch of the stream
and the next one goes on with the next epoch, so a run resumed with
start=(epoch, batch) finishes that epoch first. set_epoch(e) chooses the
epoch the next iteration yields, as DistributedSampler.set_epoch does.
The epoch lives in a shared-memory value, so a DataLoader worker process
(num_workers=1, which iterates a fresh copy of the dataset each epoch)
advances it for the parent: epochs go on the same with num_workers 0 and 1.

x is channels-first ([B, C, H, W], what nn.Conv2d wants) unless
channels_first=False or None (the daemon's layout), contiguous (a copy
when the daemon sends the other layout). A DataLoader that would
batch the batches again (batch_size not None, its default is 1) is refused:
use DataLoader(ds, batch_size=None).
"""
from __future__ import annotations

import multiprocessing
import multiprocessing.util
import os
import sys
import time
from typing import Any, Iterator, Optional, Tuple

import numpy as np
import torch
import torch.utils.data

from .client import Client, Position, check_position

__all__ = ["MixupDataset", "distributed_rank_world", "tensors"]


def _shared(array):
    # A lent batch's arrays are the daemon's ring mapped copy-on-write: the
    # tensor shares that memory (no copy) and may be modified in place.
    # Only on a host where the ring cannot be mapped so are they read-only:
    # torch, which has no read-only tensors, warns about those (once), and
    # a write would fault, so they are copied.
    if array.flags.writeable:
        return torch.from_numpy(array)
    return torch.from_numpy(array.copy())


def tensors(batch, channels_first=None):
    """(x, y) torch tensors of a mixupd.Batch, sharing its memory (no
    copy) and writable: in-place operations (x.sub_(m)) are fine, also on
    a zero-copy batch read in the daemon's ring (written pages become this
    process's own; the daemon's bytes do not change).

    x keeps the batch's dtype (float32, float16, or bfloat16 made from the
    bit patterns without a copy) and is contiguous in the layout asked
    for. channels_first: None keeps the daemon's layout; True gives
    [B, C, H, W], False [B, H, W, C]: when the daemon sends the other
    layout, that is a copy (set the daemon's [output] layout to the one
    the model wants to keep zero copy). y is the float32 [B, K] tensor of
    mixed one-hot rows or, with the daemon's labels = pairs, (label1,
    label2, lam) with the labels as int64 (a copy of B integers, the type
    cross_entropy wants)."""
    if batch.dtype == "bfloat16":
        x = _shared(batch.x.view(np.int16)).view(torch.bfloat16)
    else:
        x = _shared(batch.x)
    nchw = batch.layout == "NCHW"
    if channels_first is not None and bool(channels_first) != nchw:
        x = x.permute(0, 3, 1, 2) if channels_first else x.permute(0, 2, 3, 1)
        # x.view(B, -1) and friends need the layout in memory too.
        x = x.contiguous()
    if batch.y is not None:
        return x, _shared(batch.y)
    return x, (_shared(batch.label1).long(),
               _shared(batch.label2).long(),
               _shared(batch.lam))


def distributed_rank_world():
    """(rank, world size) from torch.distributed when it is initialised,
    else from the RANK and WORLD_SIZE environment variables (torchrun sets
    them), else (0, 1)."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    try:
        rank = int(os.environ.get("RANK", "0"))
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise ValueError(f"RANK={os.environ.get('RANK')!r} and WORLD_SIZE="
                         f"{os.environ.get('WORLD_SIZE')!r} must be integers"
                         ) from None
    return rank, world


def _rebatching_loader() -> bool:
    """Whether the DataLoader calling iter() on the dataset would collate
    several of our batches into one (batch_size not None: its fetcher has
    auto_collation). torch does not tell a dataset
    about its loader: the caller's frame is looked at, and any other
    caller (or another torch version) is let through."""
    try:
        from torch.utils.data._utils.fetch import _IterableDatasetFetcher
        frame = sys._getframe(2)
    except (ImportError, ValueError):
        return False
    fetcher = frame.f_locals.get("self")
    return isinstance(fetcher, _IterableDatasetFetcher) and \
        bool(getattr(fetcher, "auto_collation", False))


class MixupDataset(torch.utils.data.IterableDataset):
    """MixupDataset(endpoint=None, job=None, mode=None, seed=0, rank=None,
    world=None, start=None, channels_first=True, **client_args)

    Yields (x, y) tensors as tensors() makes them: with the daemon's
    default output, x float32 [B, C, H, W] (the view convolutions want;
    channels_first=False gives [B, H, W, C], None the daemon's layout) and
    y float32 [B, K]. endpoint None is mixupctl's default.

    mode: None picks "sharded" when job is given, else "independent".
    In sharded mode rank and world default to distributed_rank_world(), so
    in a torch.distributed run every rank gets its own shard of the job's
    epochs: batches rank, rank + world, ... (the DistributedSampler
    contract). client_args go to mixupd.Client (timeout, prefetch,
    pipeline, ...): pipeline="val" draws from the daemon's evaluation
    pipeline, one epoch (every sample once) per iteration.
    """

    def __init__(self, endpoint: Any = None, job: Optional[str] = None,
                 mode: Optional[str] = None, seed: int = 0,
                 rank: Optional[int] = None, world: Optional[int] = None,
                 start: Optional[Tuple[int, int]] = None,
                 channels_first: Optional[bool] = True,
                 **client_args: Any) -> None:
        super().__init__()
        auto_rank, auto_world = distributed_rank_world() \
            if mode in (None, "sharded") else (0, 1)
        if mode is None:
            if job is None and auto_world > 1:
                raise ValueError(
                    f"this is rank {auto_rank} of {auto_world}: give "
                    f"job='name' (the same on every rank) so that the ranks "
                    f"share the job's epochs, each its own shard; or "
                    f"mode='independent' with a different seed per rank")
            mode = "sharded" if job is not None else "independent"
        if mode == "sharded":
            rank = auto_rank if rank is None else rank
            world = auto_world if world is None else world
        self.endpoint = endpoint
        self.channels_first = None if channels_first is None \
            else bool(channels_first)
        self._start = check_position(start)
        self._args = dict(client_args, mode=mode, seed=seed, job=job,
                          rank=rank, world=world)
        # Check every argument now, in the process that makes the dataset,
        # without opening a stream (that happens where it is iterated).
        Client._check_args(endpoint, **self._args)
        self.mode, self.rank, self.world = mode, rank, world
        # Shared with DataLoader worker processes (inherited when they
        # start), so that the epoch a worker finished counts here too.
        self._shared_epoch = multiprocessing.RawValue("Q", self._start.epoch)
        self._client = None
        self._pending = None  # shared mode: first batch of the next epoch
        self._bpe = None      # the daemon's batches per epoch, once asked
        self._iter_from = None  # batch the running iteration started at
        self.reset_stats()

    # ----------------------------------------------------------- protocol

    def __len__(self):
        """Batches the next iteration yields (during one: that one
        yields): one epoch of this stream (sharded: the rank's share), or
        what is left of it when the stream resumes mid-epoch
        (start=(epoch, batch), or a restored state_dict)."""
        if self._bpe is None:
            self._bpe = Client._info(self.endpoint, self._args) \
                .batches_per_epoch
        per = self._bpe // self.world if self.mode == "sharded" \
            else self._bpe
        if self.mode == "shared":
            return per   # the job's epoch: where it is, is the job's
        batch = self._iter_from if self._iter_from is not None \
            else self._next_batch()
        first = self.rank if self.mode == "sharded" else 0
        step = self.world if self.mode == "sharded" else 1
        done = max(-(-(batch - first) // step), 0)   # shard positions < batch
        return max(per - done, 0)

    def _next_batch(self) -> int:
        """Batch (in the epoch) the next iteration starts from."""
        c = self._client
        if c is not None and not c.closed and c._pid == os.getpid() and \
                c.position.epoch == self._epoch:
            return c.position.batch
        if self._epoch == self._start.epoch:
            return self._start.batch
        return self.rank if self.mode == "sharded" else 0

    @property
    def _epoch(self) -> int:
        return int(self._shared_epoch.value)

    @_epoch.setter
    def _epoch(self, epoch: int) -> None:
        self._shared_epoch.value = epoch

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iteration yields (from its first batch).
        A shared stream goes where its job is and ignores it."""
        self._epoch = check_position((epoch, 0), "epoch").epoch

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def position(self):
        """Where the stream goes on: save with a checkpoint, pass as
        start= to resume (not for shared streams: their position is the
        job's)."""
        if self._client is None or self._client.closed:
            return Position(self._epoch, self._start.batch
                            if self._epoch == self._start.epoch else 0)
        return self._client.position

    def __getstate__(self):
        # A client never crosses a process boundary (spawned workers).
        state = self.__dict__.copy()
        state["_client"] = None
        state["_pending"] = None
        return state

    def _refuse_duplicating_workers(self):
        info = torch.utils.data.get_worker_info()
        if info is None or info.num_workers <= 1 or self.mode == "shared":
            return
        raise RuntimeError(
            f"mixupd.torch.MixupDataset in a DataLoader with num_workers="
            f"{info.num_workers}: each worker process would open the same "
            f"{self.mode} stream and every batch would be delivered "
            f"{info.num_workers} times. mixupd already prepares batches in "
            f"its own worker threads: use DataLoader(dataset, batch_size="
            f"None, num_workers=0) or iterate the dataset directly; to "
            f"spread one job's batches over several consumers, use "
            f"mode='shared' with a job name (each batch then goes to "
            f"exactly one of them).")

    def _ensure_client(self):
        c = self._client
        if c is not None and (c.closed or c._pid != os.getpid()):
            if not c.closed:
                c.close()   # the parent's, made before a fork: freed only
            c = self._client = None
            self._pending = None
        if c is None:
            start = self._start if self._epoch == self._start.epoch \
                else Position(self._epoch, 0)
            c = self._client = Client(self.endpoint, start=start,
                                      **self._args)
            if torch.utils.data.get_worker_info() is not None:
                # A DataLoader worker ends with os._exit(): no finalizer
                # runs but multiprocessing's own. The stream must be closed
                # (its held ring slots given back, a shared job left) even
                # when the loop is left early and the worker is shut down.
                multiprocessing.util.Finalize(c, c.close, exitpriority=10)
        return c

    def _tensors(self, b):
        return tensors(b, self.channels_first)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, Any]]:
        if _rebatching_loader():
            raise RuntimeError(
                "mixupd.torch.MixupDataset yields whole batches, and this "
                "DataLoader's batch_size (not None; 1 by default) would "
                "stack them into batches of batches: use DataLoader("
                "dataset, batch_size=None) (the batch size is the daemon's "
                "batch.size)")
        return self._iterate()

    def _iterate(self):
        # A generator: nothing happens (no connection is made) until the
        # first batch is asked for, in the process that asks.
        self._refuse_duplicating_workers()
        in_worker = torch.utils.data.get_worker_info() is not None
        c = self._ensure_client()
        try:
            if self.mode == "shared":
                yield from self._iter_shared(c)
                return
            first = self.rank if self.mode == "sharded" else 0
            step = self.world if self.mode == "sharded" else 1
            last = first + (c.batches_per_epoch - 1) * step
            if c.position.epoch != self._epoch:   # set_epoch() moved us
                c.seek(Position(self._epoch, first))
            self._iter_from = c.position.batch
            yield from self._iter_epoch(c, last)
        finally:
            self._iter_from = None
            if in_worker:
                # A worker's iteration is its last (a new worker, or a
                # persistent one, opens a new stream at the epoch the
                # shared value says). Closed now, before the loader learns
                # that this worker is done: its ring slots go back, and a
                # shared job ends when its last worker leaves, so the batch
                # each worker took from the next epoch (to see that the
                # epoch was over) is served again to the next epoch's
                # workers, which start the job anew there.
                self.close()

    def _next(self, c):
        """c.next(), timed: the time the training loop waits for data."""
        t0 = time.perf_counter()
        if self._clock is None:
            self._clock = t0
        b = c.next()
        self._waited += time.perf_counter() - t0
        self._batches += 1
        return b

    def _iter_epoch(self, c, last):
        while True:
            b = self._next(c)
            yield self._tensors(b)
            if b.index >= last:
                self._epoch = b.epoch + 1
                return

    def _iter_shared(self, c):
        b, self._pending = self._pending, None
        epoch = None
        while True:
            if b is None:
                b = self._next(c)
            if epoch is None:
                epoch = b.epoch
            elif b.epoch != epoch:
                self._pending = b  # it opens the next iteration
                self._epoch = b.epoch
                return
            yield self._tensors(b)
            b = None

    # ----------------------------------------------------------- checkpoints

    def state_dict(self) -> dict:
        """Where the dataset goes on, for a checkpoint (torchdata's
        StatefulDataLoader convention; also torch.save-able as is):
        the position of the next batch the process iterating it reads.
        A shared stream saves its epoch only (its position is the job's).
        With DataLoader workers the position lives in the worker: use
        torchdata's StatefulDataLoader (it asks each worker) or iterate
        the dataset in the main process."""
        state = {"version": 1, "mode": self.mode, "seed": self._args["seed"],
                 "job": self._args["job"], "rank": self.rank,
                 "world": self.world, "pipeline": self._args.get("pipeline")}
        if self.mode == "shared":
            state["epoch"], state["batch"] = self._epoch, None
        else:
            pos = self.position
            state["epoch"], state["batch"] = int(pos.epoch), int(pos.batch)
        return state

    def load_state_dict(self, state: dict) -> None:
        """Go on from a state_dict(): the next iteration yields from the
        saved position (len() is what is left of that epoch). A state of
        another stream (mode, seed, job, rank, world, pipeline) is refused:
        its position would mean other batches."""
        if not isinstance(state, dict) or state.get("version") != 1:
            raise ValueError(f"not a mixupd.torch.MixupDataset state_dict "
                             f"(version 1): {state!r}")
        mine = self.state_dict()
        for key in ("mode", "seed", "job", "rank", "world", "pipeline"):
            if state.get(key) != mine[key]:
                raise ValueError(f"the state_dict was saved from a stream "
                                 f"with {key}={state.get(key)!r}, this one "
                                 f"has {key}={mine[key]!r}")
        epoch = check_position((state["epoch"], 0), "state epoch").epoch
        self.close()
        if self.mode == "shared":
            self._start = Position(epoch, 0)
        else:
            self._start = check_position((epoch, state["batch"]), "state")
        self._epoch = epoch

    # ----------------------------------------------------------- statistics

    def stats(self) -> dict:
        """How much of the training loop's time went to waiting for data,
        measured in the process that iterates the dataset (num_workers=0;
        in a DataLoader worker it measures the worker): batches yielded,
        seconds waited inside the client's next(), seconds since the first
        batch was asked for, and wait_fraction = waited / elapsed (near 0:
        the daemon keeps up; near 1: training waits on the input
        pipeline). reset_stats() starts again."""
        elapsed = time.perf_counter() - self._clock \
            if self._clock is not None else 0.0
        return {"batches": self._batches, "waited_s": self._waited,
                "elapsed_s": elapsed,
                "wait_fraction": self._waited / elapsed if elapsed > 0
                else 0.0}

    def reset_stats(self) -> None:
        self._clock, self._waited, self._batches = None, 0.0, 0

    def close(self):
        """Close the stream (a new iteration opens another)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._pending = None
