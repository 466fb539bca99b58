"""Client: one connection to mixupd (one or more daemons) and one stream.

Batches are zero-copy: libmixup hands over a mixup_batch whose arrays point
into the daemon's ring (a client on the daemon's host maps it read-only;
the slot is the client's until the batch is released) or into the
received nanomsg message (elsewhere); a _Message object owns that batch, and
every numpy array of it is made from a small view object exposing
``__array_interface__`` that holds a reference to the _Message. numpy keeps
the view object as the array's ``.base``, so the message lives exactly as
long as the Batch or any array (or any torch tensor made from one) refers
to it, and is released (mixup_batch_release) when the last one goes. There
is no way to free a batch while an array still points into it.
"""
from __future__ import annotations

import collections
import json as _json
import numbers
import operator
import os
import threading
from typing import Any, Iterator, Optional, Sequence, Tuple, Union

import numpy as np

from . import _lib
from .errors import CODE, from_code

Position = collections.namedtuple("Position", "epoch batch")
Position.__doc__ = """A stream position: batch ``batch`` of epoch ``epoch``.
Save ``client.position`` with a checkpoint; ``Client(start=saved)`` goes on
from there."""

Info = collections.namedtuple(
    "Info", "samples height width channels classes batch_size "
            "batches_per_epoch alpha shuffle protocol_version keep_last "
            "pipeline pipelines dataset_digest settings_digest")
Info.__doc__ = """What a pipeline of the daemon serves (mixup_pipeline_info):
keep_last is True for an evaluation pipeline (batch.drop_last = false: an
epoch is every sample once, its last batch partial), pipeline its name and
pipelines the names of all the daemon's pipelines; dataset_digest and
settings_digest (16 hex digits) agree between daemons that serve the same
batches (striping, failover)."""

MODES = {
    "independent": _lib.MODE_INDEPENDENT,
    "sharded": _lib.MODE_SHARDED,
    "shared": _lib.MODE_SHARED,
}
_DTYPES = {_lib.DTYPE_FLOAT32: "<f4"}

_EINTR = CODE["MIXUP_EINTR"]
_ESTATE = CODE["MIXUP_ESTATE"]
_EPROTO = CODE["MIXUP_EPROTO"]
_U32 = 2**32 - 1
_U64 = 2**64 - 1
_MS_MAX = 2**31 - 1
JOB_MAX = 64
PIPELINE_MAX = 32
# One default for libmixup, mixupctl and this package (mixup.h's
# MIXUP_DEFAULT_TIMEOUT_MS): how long a request waits for its reply.
DEFAULT_TIMEOUT = _lib.DEFAULT_TIMEOUT_MS / 1000

Endpoint = Union[str, bytes, Sequence[Union[str, bytes]], None]


# ------------------------------------------------------------------ batches

class _Message:
    """Owns one mixup_batch (and its message) until garbage collected."""

    __slots__ = ("_ptr", "__weakref__")
    _live = 0
    _live_lock = threading.Lock()

    def __init__(self, ptr):
        self._ptr = ptr
        with _Message._live_lock:
            _Message._live += 1

    def __del__(self, _release=_lib.lib.mixup_batch_release,
                _lock=_live_lock):
        ptr, self._ptr = self._ptr, None
        if ptr:
            _release(ptr)
            with _lock:
                _Message._live -= 1


class _View:
    """What numpy makes an array from: an address, a shape, an owner."""

    __slots__ = ("__array_interface__", "_owner")

    def __init__(self, owner, addr, shape, typestr, readonly):
        self._owner = owner
        self.__array_interface__ = {
            "version": 3, "shape": shape, "typestr": typestr,
            # A socket batch's message is ours alone (writable); a lent
            # one is the daemon's ring, mapped read-only: numpy refuses
            # writes instead of the process faulting.
            "data": (addr, readonly),
        }


def _array(owner, addr, shape, typestr, readonly=False):
    if not addr:
        raise from_code(_EPROTO, "the batch has no data for an array")
    return np.asarray(_View(owner, addr, shape, typestr, readonly))


def live_batches() -> int:
    """Number of received batches whose message is still held (by a Batch
    or by an array made from one). Drops as soon as the last reference to
    a batch goes."""
    return _Message._live


# struct mixup_aug of mixup.h, field for field (96 bytes).
AUG_DTYPE = np.dtype([
    ("mix_kind", "u1"), ("flip", "u1"), ("erase_fill", "u1"),
    ("src_scale", "u1"),
    ("shift_dy", "<f4"), ("shift_dx", "<f4"),
    ("crop_y", "<u4"), ("crop_x", "<u4"),
    ("erase_y", "<u4"), ("erase_x", "<u4"), ("erase_h", "<u4"),
    ("erase_w", "<u4"),
    ("erase_value", "<f4", (4,)), ("reserved1", "<u4"),
    ("erase_noise_seed", "<u8"),
    ("cutmix_y0", "<u4"), ("cutmix_y1", "<u4"), ("cutmix_x0", "<u4"),
    ("cutmix_x1", "<u4"),
    ("src_box", "<u2", (2, 4)),
])
assert AUG_DTYPE.itemsize == _lib.AUG_SIZE

# dtype code: (name, numpy typestr of x, the mixup_batch field holding x).
# bfloat16 has no numpy type: x holds its bit patterns as uint16
# (mixupd.torch turns them into a torch.bfloat16 tensor without a copy).
_X_TYPES = {
    _lib.DTYPE_FLOAT32: ("float32", "<f4", "x"),
    _lib.DTYPE_FLOAT16: ("float16", "<f2", "x_half"),
    _lib.DTYPE_BFLOAT16: ("bfloat16", "<u2", "x_half"),
}
_LAYOUTS = {_lib.LAYOUT_NHWC: "NHWC", _lib.LAYOUT_NCHW: "NCHW"}


class Batch:
    """One received batch. Row j of every per-sample array describes
    sample j: x[j] = lam[j] * D[index1[j]] + (1 - lam[j]) * D[index2[j]]
    (then augmented, or augmented before mixing, as the daemon is set up).

    x: [B, H, W, C] (layout "NHWC") or [B, C, H, W] ("NCHW"), of dtype
       "float32", "float16" or "bfloat16" (uint16 bit patterns);
    y: float32 [B, K] mixed one-hot rows, or None with labels = pairs,
       where label1, label2 (int32 [B]) are the two samples' classes;
    index1, index2: int64 [B]; lam: float32 [B];
    aug: the drawn augmentation parameters, an AUG_DTYPE array [B, n]
       (n = 1, or 2 when augmented before mixing), or None;
    epoch, index: the batch's position (also ``position``).

    The arrays are views (no copy) on the daemon's ring slot (``lent``:
    read-only; the slot goes back to the daemon when the last array and
    the Batch are gone) or on the received message (writable), valid for
    as long as they are referenced, whatever happens to the client. The
    daemon lets a client hold server.max_held lent batches at once: keep
    more with ``batch.keep()`` (copies it) or ``np.array(batch.x)``.
    """

    __slots__ = ("x", "y", "index1", "index2", "lam", "label1", "label2",
                 "aug", "epoch", "index", "dtype", "layout", "lent",
                 "_message")

    def __init__(self, ptr):
        msg = _Message(ptr)   # owns the batch from here on, even on error
        self._message = msg
        self._views(ptr)

    def _views(self, ptr):
        msg = self._message
        b = ptr.contents
        self.lent = bool(_lib.lib.mixup_batch_lent(ptr))
        ro = self.lent
        self.epoch = int(b.epoch)
        self.index = int(b.index)
        xt = _X_TYPES.get(b.dtype)
        self.layout = _LAYOUTS.get(b.layout)
        if xt is None or self.layout is None:
            raise from_code(_EPROTO, f"batch {self.epoch}:{self.index} has "
                            f"dtype {b.dtype}, layout {b.layout}, which "
                            f"this client does not know")
        self.dtype = xt[0]
        n, h, w, c = b.size, b.height, b.width, b.channels
        shape = (n, h, w, c) if self.layout == "NHWC" else (n, c, h, w)
        self.x = _array(msg, getattr(b, xt[2]), shape, xt[1], ro)
        self.y = _array(msg, b.y, (n, b.classes), "<f4", ro) if b.y else None
        self.label1 = self.label2 = None
        if b.label1 or b.label2:
            self.label1 = _array(msg, b.label1, (n,), "<i4", ro)
            self.label2 = _array(msg, b.label2, (n,), "<i4", ro)
        elif self.y is None:
            raise from_code(_EPROTO, f"batch {self.epoch}:{self.index} has "
                            f"neither mixed labels nor label pairs")
        self.index1 = _array(msg, b.index1, (n,), "<i8", ro)
        self.index2 = _array(msg, b.index2, (n,), "<i8", ro)
        self.lam = _array(msg, b.lam, (n,), "<f4", ro)
        per = b.aug_per_sample
        self.aug = None
        if b.aug and per:
            raw = _array(msg, b.aug, (n * per * _lib.AUG_SIZE,), "|u1")
            self.aug = raw.view(AUG_DTYPE).reshape(n, per)

    @property
    def position(self) -> Position:
        return Position(self.epoch, self.index)

    def keep(self) -> "Batch":
        """Make the batch independent of the daemon's ring: a lent batch is
        copied into memory of its own (writable) and its slot goes back
        with the next request. This Batch's arrays are made anew; arrays
        taken from it before still read the slot. Returns self."""
        ptr = self._message._ptr
        if self.lent:
            rc = _lib.lib.mixup_batch_keep(ptr)
            if rc < 0:
                raise from_code(rc, "cannot copy the batch out of the ring")
            self._views(ptr)
        return self

    def valid(self) -> bool:
        """True while the arrays still hold the bytes they were received
        with: a lent slot is only reused after its release, or once its
        stream expired on the daemon (server.stream_timeout)."""
        return _lib.lib.mixup_batch_check(self._message._ptr) == 0

    @property
    def size(self):
        return self.lam.shape[0]

    @property
    def labels(self):
        """What a loss needs: y, or (label1, label2, lam) with label
        pairs (loss = lam * CE(label1) + (1 - lam) * CE(label2))."""
        if self.y is not None:
            return self.y
        return self.label1, self.label2, self.lam

    def __repr__(self):
        return (f"<mixupd.Batch {self.epoch}:{self.index} {self.dtype} "
                f"{self.layout} x{self.x.shape}>")


# ------------------------------------------------------------------ checks

def _int(value, name, lo, hi):
    try:
        if isinstance(value, bool):
            raise TypeError
        value = operator.index(value)  # int, numpy integers; not float
    except TypeError:
        raise TypeError(f"{name} must be an integer, got "
                        f"{type(value).__name__} {value!r}") from None
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in {lo} .. {hi}, got {value}")
    return value


def _timeout_ms(value, name):
    if value is None:
        return -1
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number of seconds or None "
                        f"(wait forever), got {type(value).__name__} "
                        f"{value!r}")
    if not value > 0:
        raise ValueError(f"{name} must be > 0 seconds (or None to wait "
                         f"forever), got {value!r}")
    if value > _MS_MAX / 1000:   # inf included
        raise ValueError(f"{name} of {value} s is beyond the "
                         f"{_MS_MAX // 1000} s libmixup accepts; use None "
                         f"to wait forever")
    return max(int(round(float(value) * 1000)), 1)


def check_position(start: Optional[Tuple[int, int]],
                   name: str = "start") -> Position:
    """A (epoch, batch) pair of non-negative integers, as a Position."""
    if start is None:
        return Position(0, 0)
    if isinstance(start, (str, bytes)) or not hasattr(start, "__len__") \
            or len(start) != 2:
        raise TypeError(f"{name} must be an (epoch, batch) pair such as "
                        f"client.position, got {start!r}")
    return Position(_int(start[0], f"{name} epoch", 0, _U64),
                    _int(start[1], f"{name} batch", 0, _U64))


def _endpoints(endpoint):
    if endpoint is None:
        endpoint = _lib.default_endpoint()
    eps = [endpoint] if isinstance(endpoint, (str, bytes)) else endpoint
    try:
        eps = list(eps)
    except TypeError:
        raise TypeError(f"endpoint must be a string such as "
                        f"'ipc:///tmp/mixupd.ipc' or a list of them, got "
                        f"{type(endpoint).__name__} {endpoint!r}") from None
    if not eps:
        raise ValueError("endpoint: give at least one address")
    out = []
    for e in eps:
        if isinstance(e, bytes):
            e = e.decode()
        if not isinstance(e, str):
            raise TypeError(f"endpoint must be a string, got "
                            f"{type(e).__name__} {e!r}")
        if "://" not in e or "\0" in e:
            raise ValueError(f"endpoint {e!r} is not a nanomsg address "
                             f"(ipc:///path or tcp://host:port)")
        out.append(e.encode())
    return out


def _job(job, mode):
    if mode == "independent":
        if job is not None:
            raise ValueError("job= names a sharded or shared job; an "
                             "independent stream takes none")
        return None
    if job is None:
        raise ValueError(f"a {mode} stream needs job= (a name every "
                         f"trainer of the job gives)")
    if not isinstance(job, str):
        raise TypeError(f"job must be a string, got {type(job).__name__}")
    raw = job.encode("utf-8")
    if not 1 <= len(raw) <= JOB_MAX or \
            not all(0x20 < c < 0x7f for c in raw):
        raise ValueError(f"job {job!r} must be 1 to {JOB_MAX} printable "
                         f"ASCII characters without spaces")
    return raw


# ------------------------------------------------------------------ client

def _token_file(token_file):
    """The path libmixup takes (None: $MIXUPD_TOKEN_FILE, else none)."""
    if token_file is None:
        return None
    if not isinstance(token_file, (str, bytes, os.PathLike)):
        raise TypeError(f"token_file must be a path, got "
                        f"{type(token_file).__name__}")
    return os.fsencode(token_file)


def _connect(eps, timeout_ms, zero_copy=True, spread=False, token_file=None):
    opts = _lib.ClientOptions()
    _lib.lib.mixup_client_options_init(opts)
    opts.timeout_ms = timeout_ms
    opts.spread = 1 if spread else 0
    opts.token_file = token_file  # read by connect, not kept
    opts.transport = _lib.TRANSPORT_AUTO if zero_copy else _lib.TRANSPORT_SOCKET
    arr = (_lib.c_char_p * len(eps))(*eps)
    ptr = _lib.ClientP()
    rc = _lib.lib.mixup_client_connect(ptr, arr, len(eps), opts)
    if rc < 0:
        # The client is gone; libmixup keeps connect's message, which
        # names a missing or forbidden ipc socket and why.
        msg = (_lib.lib.mixup_client_error(None) or b"").decode(
            errors="replace")
        if (": cannot open " in msg or msg.startswith("token file ")
                or ": the socket belongs to uid " in msg):
            raise from_code(rc, msg)
        names = ", ".join(repr(e.decode()) for e in eps)
        raise from_code(rc, f"nanomsg rejects endpoint {names} "
                        f"({_lib.strerror(rc)}); expected ipc:///path or "
                        f"tcp://host:port")
    return ptr


def _pipeline(pipeline):
    """The pipeline name as libmixup takes it (None: main)."""
    if pipeline is None:
        return None
    if not isinstance(pipeline, str):
        raise TypeError(f"pipeline must be a string, got "
                        f"{type(pipeline).__name__}")
    raw = pipeline.encode("ascii", errors="replace")
    if not 1 <= len(raw) <= PIPELINE_MAX or not all(
            c.isalnum() or c in "_-" for c in pipeline) or not pipeline.isascii():
        raise ValueError(f"pipeline {pipeline!r} must be 1 to {PIPELINE_MAX} "
                         f"characters of A-Z a-z 0-9 _ -")
    return raw


def daemon_info(endpoint: Endpoint = None,
                timeout: Optional[float] = DEFAULT_TIMEOUT,
                pipeline: Optional[str] = None,
                token_file=None) -> Info:
    """What the daemon at endpoint serves in pipeline (None: main), an
    Info, without opening a stream. token_file: as Client's."""
    name = _pipeline(pipeline)
    ptr = _connect(_endpoints(endpoint), _timeout_ms(timeout, "timeout"),
                   token_file=_token_file(token_file))
    try:
        i = _lib.Info()
        while True:
            rc = _lib.lib.mixup_pipeline_info(ptr, name, i)
            if rc != _EINTR:
                break
        if rc < 0:
            msg = _lib.lib.mixup_client_error(ptr)
            raise from_code(rc, msg.decode(errors="replace") if msg else "")
        return _info(i)
    finally:
        _lib.lib.mixup_client_close(ptr)


def _info(i):
    # alpha travels as a float32: shown with the digits a float32 has.
    return Info(int(i.samples), i.height, i.width, i.channels, i.classes,
                i.batch_size, int(i.batches_per_epoch),
                float(f"{i.alpha:.7g}"), bool(i.shuffle), i.protocol_version,
                bool(i.keep_last), i.pipeline.decode(),
                tuple(i.pipelines.decode().split(",")),
                f"{i.dataset_digest:016x}", f"{i.settings_digest:016x}")


class Client:
    """A connection to mixupd and one stream of batches.

    Client(endpoint=None, mode="independent", seed=0, job=None, rank=None,
           world=None, start=None, prefetch=0, timeout=30.0,
           connect_timeout=30.0, pipeline=None, zero_copy=True,
           token_file=None)

    endpoint: None for mixupctl's default ($MIXUPD_ENDPOINT, else the
        service's ipc:///run/mixupd/mixupd.ipc when it exists, else
        ipc:///tmp/mixupd.ipc); "ipc:///path" or "tcp://host:port", or a
        list of them, as
        libmixup takes them: requests go to the first daemon that is up,
        and an independent or sharded stream moves to the next one (or to
        a restarted daemon) at its position, with the same bytes.
    mode: "independent" (the stream's own seed), "sharded" (rank r of
        world W gets batches r, r+W, ... of the job's epochs: needs job,
        rank, world) or "shared" (each batch of the job goes to one of the
        clients that ask: needs job).
    seed: the stream's seed (independent), the job's seed (sharded).
    start: (epoch, batch) of the first batch, e.g. a saved client.position.
    prefetch: batches the daemon prepares ahead for this stream; 0 is the
        daemon's server.prefetch.
    timeout: seconds to wait for a batch (None: forever).
    connect_timeout: seconds to wait for the first replies (the daemon's
        description, opening the stream). Both default to libmixup's and
        mixupctl's 30 s (DEFAULT_TIMEOUT); a missing ipc socket file is
        reported at once whatever the timeout.
    zero_copy: True (default) reads batches in place in the daemon's ring
        when the daemon runs on this host and lets this user map it (see
        ``transport``); False always copies them through the socket.

    spread: with several endpoints, False (default) uses one daemon at a
        time and fails over to the next; True stripes the stream over all
        of them: batch k comes from daemon k mod D (of those up), each
        daemon's pipeline kept full, batches in stream order with the
        bytes one daemon gives; a daemon that dies is replaced by the
        others and used again when it comes back. The daemons' dataset and
        settings digests must agree (else MixupError MIXUP_EMISMATCH
        naming both); shared streams cannot be spread.

    pipeline: the daemon's pipeline to draw from, a [pipeline NAME] of its
        configuration (e.g. "val"); None is main. A name the daemon does
        not serve raises InvalidArgument listing those it serves.
    token_file: a file holding the daemon's token (its
        server.auth_token_file); None: $MIXUPD_TOKEN_FILE when set. A
        daemon with a token refuses requests without it (NotAuthorised).
        The token itself is never sent: the daemon proves it knows it
        first, and a peer that cannot raises NotAuthorised.

    Raises TypeError/ValueError for bad arguments before anything is sent,
    and MixupError subclasses (DaemonTimeout, EndpointError, ...) carrying
    the daemon's message. Iterating a Client yields batches forever, but
    for an evaluation pipeline (info.keep_last: batch.drop_last = false),
    where iterating yields the rest of the current epoch, every sample
    once, and ends (shared streams: forever, their epoch is the job's).
    A Client is safe to share between threads (calls take turns) but not
    across fork(): create one in each process.
    """

    def __init__(self, endpoint: Endpoint = None, mode: str = "independent",
                 seed: int = 0, job: Optional[str] = None,
                 rank: Optional[int] = None, world: Optional[int] = None,
                 start: Optional[Tuple[int, int]] = None, prefetch: int = 0,
                 timeout: Optional[float] = DEFAULT_TIMEOUT,
                 connect_timeout: Optional[float] = DEFAULT_TIMEOUT,
                 pipeline: Optional[str] = None,
                 zero_copy: bool = True, spread: bool = False,
                 token_file=None) -> None:
        self._ptr = None
        self._lock = threading.Lock()
        self._pid = os.getpid()
        a = self._check_args(endpoint, mode, seed, job, rank, world, start,
                             prefetch, timeout, connect_timeout, pipeline)
        self.mode, self.seed, self.rank, self.world = \
            mode, a["seed"], a["rank"], a["world"]
        self.endpoints = [e.decode() for e in a["endpoints"]]
        self._start = a["start"]
        self._timeout_ms = a["timeout_ms"]
        self._connect_ms = a["connect_ms"]
        if not isinstance(zero_copy, bool):
            raise TypeError(f"zero_copy must be True or False, got "
                            f"{type(zero_copy).__name__} {zero_copy!r}")
        if not isinstance(spread, bool):
            raise TypeError(f"spread must be True or False, got "
                            f"{type(spread).__name__} {spread!r}")
        self.spread = spread
        self._ptr = _connect(a["endpoints"], self._connect_ms, zero_copy,
                             spread, _token_file(token_file))
        self._job = a["job"]  # kept alive: _opts.job points into it
        self._opts = _lib.StreamOptions()
        _lib.lib.mixup_stream_options_init(self._opts)
        self._opts.mode = MODES[mode]
        self._opts.seed = a["seed"]
        self._opts.job = self._job
        self._opts.rank = a["rank"] or 0
        self._opts.world = a["world"] or 0
        self._opts.prefetch = a["prefetch"]
        self._pipeline = a["pipeline"]  # kept alive: _opts.pipeline too
        self._opts.pipeline = self._pipeline
        self.pipeline = pipeline or "main"
        try:
            self.info = self._query_info()
            self._open(self._start)
            self._call(_lib.lib.mixup_client_set_timeout, self._timeout_ms)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _check_args(endpoint=None, mode="independent", seed=0, job=None,
                    rank=None, world=None, start=None, prefetch=0,
                    timeout=DEFAULT_TIMEOUT, connect_timeout=DEFAULT_TIMEOUT,
                    pipeline=None):
        """Every argument checked and normalised, before anything is sent:
        TypeError for a wrong type, ValueError for a wrong value."""
        if not isinstance(mode, str) or mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got "
                             f"{mode!r}")
        a = {"endpoints": _endpoints(endpoint),
             "seed": _int(seed, "seed", 0, _U64),
             "job": _job(job, mode), "pipeline": _pipeline(pipeline)}
        if mode == "sharded":
            if rank is None or world is None:
                raise ValueError("a sharded stream needs rank= and world=")
            a["world"] = _int(world, "world", 1, _U32)
            a["rank"] = _int(rank, "rank", 0, a["world"] - 1)
        elif rank is not None or world is not None:
            raise ValueError(f"rank= and world= apply to sharded streams, "
                             f"not to a {mode} one")
        else:
            a["rank"] = a["world"] = None
        a["start"] = check_position(start)
        a["prefetch"] = _int(prefetch, "prefetch", 0, _U32)
        a["timeout_ms"] = _timeout_ms(timeout, "timeout")
        a["connect_ms"] = _timeout_ms(connect_timeout, "connect_timeout")
        return a

    # -------------------------------------------------------------- plumbing

    def _handle(self):
        if self._ptr is None:
            raise from_code(_ESTATE, "the client is closed")
        if os.getpid() != self._pid:
            raise from_code(_ESTATE, f"this Client was created in process "
                            f"{self._pid}; a client does not survive fork(): "
                            f"create one in each process")
        return self._ptr

    def _fail(self, rc):
        msg = _lib.lib.mixup_client_error(self._ptr)
        return from_code(rc, msg.decode(errors="replace") if msg else "")

    def _call(self, fn, *args):
        """Call fn(client, *args) under the lock; a signal that interrupts
        the wait gives Python the chance to run its handler (Ctrl-C raises
        KeyboardInterrupt here), then the call is made again. (libmixup
        asks again for the same batch after MIXUP_EINTR; an interrupted
        stream open asks for a new stream, and the daemon expires the first
        one if it had opened it.)"""
        while True:
            with self._lock:
                rc = fn(self._handle(), *args)
                if rc >= 0:
                    return rc
                if rc != _EINTR:
                    raise self._fail(rc)
            # Between two bytecodes: pending signal handlers run now.

    def _query_info(self):
        i = _lib.Info()
        self._call(_lib.lib.mixup_pipeline_info, self._pipeline, i)
        return _info(i)

    def _open(self, start):
        self._opts.start_epoch, self._opts.start_batch = start
        self._call(_lib.lib.mixup_stream_open, self._opts)
        self._start = start
        self._has_batch = False
        total, mine = _lib.c_u64(), _lib.c_u64()
        self._call(_lib.lib.mixup_stream_epoch, total, mine)
        self._per_epoch = int(mine.value)

    # -------------------------------------------------------------- batches

    def next(self) -> Batch:
        """Receive the stream's next batch (a Batch)."""
        out = _lib.BatchP()
        self._call(_lib.lib.mixup_next, out)
        self._has_batch = True
        return Batch(out)

    __next__ = next

    def __iter__(self) -> Iterator[Batch]:
        if self.info.keep_last and self.mode != "shared":
            return self._rest_of_epoch()
        return self

    def _rest_of_epoch(self) -> Iterator[Batch]:
        """An evaluation pipeline's epoch, from where the stream is, once."""
        epoch = self.position.epoch
        while self.position.epoch == epoch:
            yield self.next()

    @property
    def transport(self) -> str:
        """"shm" (batches read in place in the daemon's ring) or "socket"
        (copied); ``transport_note`` says why not "shm" when zero_copy was
        asked for."""
        with self._lock:
            return _lib.lib.mixup_client_transport(self._handle()).decode()

    @property
    def transport_note(self) -> str:
        with self._lock:
            note = _lib.lib.mixup_client_transport_note(self._handle())
        return note.decode(errors="replace") if note else ""

    @property
    def batches_per_epoch(self) -> int:
        """Batches this stream gets per epoch (sharded: its share)."""
        return self._per_epoch

    @property
    def position(self):
        """Position of the next batch this stream will return: save it with
        a checkpoint and pass it as start= to go on exactly from there.
        Shared streams raise ModeError (their position is the job's)."""
        if self.mode == "shared":
            # Said here: mixup_client_resume_position() returns
            # MIXUP_EMODE without a message of its own.
            raise from_code(CODE["MIXUP_EMODE"], "a shared stream has no "
                            "position of its own: its position is the "
                            "job's, and a client that joins again goes on "
                            "where the job is")
        if not self._has_batch:
            return self._start
        e, b = _lib.c_u64(), _lib.c_u64()
        self._call(_lib.lib.mixup_client_resume_position, e, b)
        return Position(int(e.value), int(b.value))

    @property
    def last_position(self) -> Optional[Position]:
        """Position of the batch next() returned last, or None."""
        if not self._has_batch:
            return None
        e, b = _lib.c_u64(), _lib.c_u64()
        self._call(_lib.lib.mixup_client_position, e, b)
        return Position(int(e.value), int(b.value))

    def seek(self, start: Tuple[int, int]) -> None:
        """Close the stream and open it again at start=(epoch, batch)."""
        start = check_position(start)
        self._call(_lib.lib.mixup_client_set_timeout, self._connect_ms)
        try:
            with self._lock:
                _lib.lib.mixup_stream_close(self._handle())  # best effort
            self._open(start)
        finally:
            if self._ptr is not None:
                self._call(_lib.lib.mixup_client_set_timeout,
                           self._timeout_ms)

    def stats(self, json: bool = True) -> Any:
        """The daemon's statistics: a dict (json=True) or a text table."""
        text = _lib.ctypes.c_void_p()
        self._call(_lib.lib.mixup_client_stats, 1 if json else 0, text)
        try:
            s = _lib.ctypes.string_at(text.value).decode(errors="replace")
        finally:
            _lib.free(text)
        return _json.loads(s) if json else s

    # -------------------------------------------------------------- lifetime

    def close(self) -> None:
        """Close the stream and the connection. Batches already received
        stay valid. Closing twice is harmless."""
        with self._lock:
            ptr, self._ptr = self._ptr, None
            if ptr and os.getpid() == self._pid:
                _lib.lib.mixup_client_close(ptr)

    @property
    def closed(self):
        return self._ptr is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_ptr", None) is not None:
            self.close()

    def __repr__(self):
        state = "closed" if self._ptr is None else self.mode
        return f"<mixupd.Client {','.join(self.endpoints)} {state}>"
