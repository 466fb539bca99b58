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

from .client import (DEFAULT_TIMEOUT, Client, Position, check_position,
                     daemon_info)


def _check_daemon(info, batch_size, alpha):
    if batch_size is not None and batch_size != info.batch_size:
        raise ValueError(f"batch_size={batch_size}, but the daemon serves "
                         f"batches of {info.batch_size} (batch.size in its "
                         f"configuration)")
    if alpha is not None and not math.isclose(alpha, info.alpha,
                                              rel_tol=1e-6, abs_tol=1e-7):
        raise ValueError(f"alpha={alpha}, but the daemon mixes with alpha="
                         f"{info.alpha:g} (batch.alpha in its configuration)")


class MixupGenerator:
    """MixupGenerator(endpoint, batch_size=None, alpha=None, **client_args)

    Calling it returns a generator that yields (X, y) forever (for an
    evaluation pipeline, pipeline="val" with batch.drop_last = false: one
    epoch, every sample once, then it ends): X float32
    [B, H, W, C], y float32 [B, K], the shapes the seed's generator yields
    (with the daemon's default output settings; with labels = pairs, y is
    (label1, label2, lam), see Batch.labels).
    Each call opens its own stream (a Client with **client_args: seed,
    start, mode, job, rank, world, timeout, ...), closed when the generator
    is closed or collected. ``steps_per_epoch`` is the stream's batches per
    epoch.

    Keras queues what a generator yields (max_queue_size, 10 by default),
    more than the daemon lends one client (server.max_held): a batch read
    in place in the daemon's ring is copied out (Batch.keep(), one copy in
    this process; the socket path makes two) before it is yielded, and its
    slot goes back at once. X and y are writable.
    """

    def __init__(self, endpoint, batch_size=None, alpha=None, **client_args):
        self.endpoint = endpoint
        self.client_args = client_args
        a = Client._check_args(endpoint, **client_args)
        # Asked without opening a stream (which would join a job).
        self.info = daemon_info(
            endpoint, client_args.get("connect_timeout", DEFAULT_TIMEOUT),
            client_args.get("pipeline"))
        _check_daemon(self.info, batch_size, alpha)
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

    epoch: the epoch seq[i] reads; client_args as for Client (seed, mode,
    job, rank, world, timeout, ...). In sharded mode, seq[i] is the rank's
    i-th batch (rank + i * world).
    """

    def __init__(self, endpoint, batch_size=None, alpha=None, epoch=0,
                 **client_args):
        if "start" in client_args:
            raise TypeError("MixupSequence takes epoch=, not start=")
        self._epoch = check_position((epoch, 0), "epoch")[0]
        self._client = Client(endpoint, start=(self._epoch, 0),
                              **client_args)
        self.info = self._client.info
        _check_daemon(self.info, batch_size, alpha)
        self._rank = self._client.rank or 0
        self._world = self._client.world or 1
        self._next_i = 0  # the index the open stream returns next

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
        if i != self._next_i:
            self._client.seek(Position(self._epoch,
                                       self._rank + i * self._world))
        b = self._client.next().keep()  # Keras queues them: see MixupGenerator
        self._next_i = i + 1
        return b.x, b.labels

    def on_epoch_end(self):
        self._epoch += 1
        if self._next_i != len(self):  # not read to the end: reposition
            self._client.seek(Position(self._epoch, self._rank))
        self._next_i = 0

    def close(self):
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
