"""Drop-ins for the Keras mixup generator this project comes from.

The seed's generator is used as

    training_generator = MixupGenerator(x_train, y_train, batch_size=32,
                                        alpha=0.2)()
    model.fit(training_generator, steps_per_epoch=..., epochs=...)

With mixupd the data, the batch size and alpha live in the daemon
(mixupd.conf), so the one line that changes is

    training_generator = mixupd.MixupGenerator("ipc:///tmp/mixupd.ipc",
                                               batch_size=32, alpha=0.2)()

batch_size and alpha are optional there: when given, they are checked
against what the daemon serves, so a script that expects another
configuration fails at once with a message saying which setting differs
instead of training on something else.
"""
import math
import operator
import threading

from .client import Client, Position, check_position


def _check_daemon(info, batch_size, alpha):
    if batch_size is not None and batch_size != info.batch_size:
        raise ValueError(f"batch_size={batch_size}, but the daemon serves "
                         f"batches of {info.batch_size} (batch.size in its "
                         f"configuration)")
    if alpha is not None and not math.isclose(alpha, info.alpha,
                                              rel_tol=1e-6, abs_tol=1e-7):
        raise ValueError(f"alpha={alpha}, but the daemon mixes with alpha="
                         f"{info.alpha:g} (batch.alpha in its configuration)")


_ORIGINAL = ("x_train", "y_train", "batch_size", "alpha", "shuffle",
             "datagen")


def _is_array(value):
    return hasattr(value, "shape") and hasattr(value, "__len__")


def _check_original(info, x_train, y_train, shuffle, datagen):
    """The seed generator's own arguments, against what the daemon does:
    accepted when they describe it, else a ValueError saying which setting
    of the daemon's configuration differs."""
    if datagen is not None:
        raise ValueError(
            f"datagen={type(datagen).__name__}: a Keras ImageDataGenerator "
            f"runs in the training process, on the data it holds; with "
            f"mixupd the daemon augments. Drop datagen= and set the "
            f"daemon's [augment] keys (flip_horizontal, shift, crop, erase, "
            f"...) in mixupd.conf")
    if shuffle is not None and bool(shuffle) != info.shuffle:
        raise ValueError(f"shuffle={shuffle}, but the daemon "
                         f"{'shuffles' if info.shuffle else 'does not shuffle'}"
                         f" (batch.shuffle in its configuration)")
    if x_train is not None:
        shape = tuple(x_train.shape[1:])
        want = (info.height, info.width, info.channels)
        if len(x_train) != info.samples or shape not in (want, want[:2]):
            raise ValueError(
                f"x_train of shape {tuple(x_train.shape)}, but the daemon "
                f"serves {info.samples} samples of {want[0]}x{want[1]}x"
                f"{want[2]} (dataset.images in its configuration): the data "
                f"is the daemon's, loaded once for every trainer")
    if y_train is not None:
        rows = len(y_train)
        cols = y_train.shape[1] if len(y_train.shape) > 1 else None
        if rows != info.samples or cols not in (None, 1, info.classes):
            raise ValueError(
                f"y_train of shape {tuple(y_train.shape)}, but the daemon "
                f"serves {info.samples} samples of {info.classes} classes "
                f"(dataset.labels, dataset.classes in its configuration)")


class MixupGenerator:
    """MixupGenerator(endpoint=None, batch_size=None, alpha=None,
    shuffle=None, datagen=None, **client_args), or the seed generator's
    own call MixupGenerator(x_train, y_train, batch_size=32, alpha=0.2,
    shuffle=True, datagen=None, endpoint=None, **client_args)

    Calling it returns a generator that yields (X, y) forever (for an
    evaluation pipeline, pipeline="val" with batch.drop_last = false: one
    epoch, every sample once, then it ends): X float32
    [B, H, W, C], y float32 [B, K], the shapes the seed's generator yields
    (with the daemon's default output settings; with labels = pairs, y is
    (label1, label2, lam), see Batch.labels).
    Each call opens its own stream (a Client with **client_args: seed,
    start, mode, job, rank, world, timeout, token_file, ...), closed when
    the generator is closed or collected. ``steps_per_epoch`` is the
    stream's batches per epoch.

    The data, the batch size, alpha and shuffling are the daemon's: what
    is given is checked against what it serves, and a difference is a
    ValueError naming the configuration key (with the seed's call, its
    defaults batch_size=32, alpha=0.2, shuffle=True are what the script
    expects, so they are checked too; x_train and y_train must have the
    daemon's sample count and shapes). datagen= (a Keras
    ImageDataGenerator) cannot run in a daemon and is refused, naming the
    daemon's augmentation keys instead.

    Keras queues what a generator yields (max_queue_size, 10 by default),
    more than the daemon lends one client (server.max_held): a batch read
    in place in the daemon's ring is copied out (Batch.keep(), one copy in
    this process; the socket path makes two) before it is yielded, and its
    slot goes back at once. X and y are writable.
    """

    def __init__(self, *args, **kwargs):
        if args and _is_array(args[0]):
            if len(args) > len(_ORIGINAL):
                raise TypeError(f"MixupGenerator(x_train, y_train, "
                                f"batch_size, alpha, shuffle, datagen) takes "
                                f"at most 6 positional arguments, got "
                                f"{len(args)}")
            orig = dict(zip(_ORIGINAL, args))
            for name in _ORIGINAL[len(args):]:
                if name in kwargs:
                    orig[name] = kwargs.pop(name)
            defaults = {"y_train": None, "batch_size": 32, "alpha": 0.2,
                        "shuffle": True, "datagen": None}
            orig = {**defaults, **orig}
            endpoint = kwargs.pop("endpoint", None)
        else:
            names = ("endpoint", "batch_size", "alpha", "shuffle", "datagen")
            if len(args) > len(names):
                raise TypeError(f"MixupGenerator(endpoint, batch_size, "
                                f"alpha, shuffle, datagen) takes at most 5 "
                                f"positional arguments, got {len(args)}")
            orig = dict(zip(names, args))
            for name in names[len(args):]:
                orig[name] = kwargs.pop(name, None)
            endpoint = orig.pop("endpoint")
            orig["x_train"] = orig["y_train"] = None
        self.endpoint = endpoint
        self.client_args = client_args = kwargs
        a = Client._check_args(endpoint, **client_args)
        # Asked without opening a stream (which would join a job).
        self.info = Client._info(endpoint, client_args)
        _check_daemon(self.info, orig["batch_size"], orig["alpha"])
        _check_original(self.info, orig["x_train"], orig["y_train"],
                        orig["shuffle"], orig["datagen"])
        self.steps_per_epoch = self.info.batches_per_epoch // (a["world"]
                                                               or 1)
        self.batch_size = self.info.batch_size
        self.alpha = self.info.alpha

    def __call__(self):
        # The client is opened here, at the call, so that the stream starts
        # where client_args say even when the generator is made long before
        # it is used; the generator body only runs at the first next().
        client = Client(self.endpoint, **self.client_args)
        return self._generate(client)

    @staticmethod
    def _generate(client):
        with client:
            # Forever, but one epoch for an evaluation pipeline (Client).
            for b in client:
                b.keep()
                yield b.x, b.labels

    def __len__(self):
        return self.steps_per_epoch


class MixupSequence:
    """A Sequence-style view of one epoch at a time (keras.utils.Sequence
    protocol): ``len(seq)`` batches per epoch, ``seq[i]`` the (X, y) of
    batch i of the current epoch, ``on_epoch_end()`` moves to the next
    epoch. Batches asked for in order (0, 1, 2, ...) stream from the daemon
    with its prefetching; any other index re-opens the stream at that
    batch, which is correct but slower (do not let the framework shuffle
    the Sequence: the daemon already does). For Keras, combine it with the
    framework's base class:

        class Seq(mixupd.MixupSequence, keras.utils.Sequence): pass
        model.fit(Seq(endpoint), epochs=10)

    Safe to call from several threads at once (Keras with workers > 1,
    use_multiprocessing=False): calls take turns on the one stream, and an
    index a little ahead of the stream (asked by another thread before the
    ones in between) reads those in between into a small buffer (at most
    LOOKAHEAD batches, copies) instead of re-opening the stream.

    epoch: the epoch seq[i] reads; client_args as for Client (seed, mode,
    job, rank, world, timeout, token_file, ...). In sharded mode, seq[i] is
    the rank's i-th batch (rank + i * world).
    """

    LOOKAHEAD = 16

    def __init__(self, endpoint=None, batch_size=None, alpha=None, epoch=0,
                 **client_args):
        if "start" in client_args:
            raise TypeError("MixupSequence takes epoch=, not start=")
        self._lock = threading.Lock()
        self._epoch = check_position((epoch, 0), "epoch")[0]
        self._client = Client(endpoint, start=(self._epoch, 0),
                              **client_args)
        self.info = self._client.info
        try:
            _check_daemon(self.info, batch_size, alpha)
        except BaseException:
            self._client.close()
            raise
        self._rank = self._client.rank or 0
        self._world = self._client.world or 1
        self._next_i = 0  # the index the open stream returns next
        self._ahead = {}  # index -> (X, y) read on the way to a later one

    @property
    def epoch(self):
        return self._epoch

    def __len__(self):
        return self._client.batches_per_epoch

    def __getitem__(self, i):
        n = len(self)
        try:
            i = operator.index(i)
        except TypeError:
            raise TypeError(f"a Sequence index is an integer, got "
                            f"{type(i).__name__}") from None
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"batch {i} of an epoch of {n} batches")
        with self._lock:
            got = self._ahead.pop(i, None)
            if got is not None:
                return got
            if not self._next_i <= i <= self._next_i + self.LOOKAHEAD:
                self._client.seek(Position(self._epoch,
                                           self._rank + i * self._world))
                self._next_i = i
            while True:
                # Keras queues them: copied out, see MixupGenerator.
                b = self._client.next().keep()
                k, self._next_i = self._next_i, self._next_i + 1
                if k == i:
                    return b.x, b.labels
                self._ahead[k] = (b.x, b.labels)

    def on_epoch_end(self):
        with self._lock:
            self._epoch += 1
            self._ahead.clear()
            if self._next_i != len(self):  # not read to the end
                self._client.seek(Position(self._epoch, self._rank))
            self._next_i = 0

    def close(self):
        with self._lock:
            self._ahead.clear()
            self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
