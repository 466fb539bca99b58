#!/usr/bin/python3
"""numpy_generator.py -- the reference mixup generator, in numpy, timed.

    /usr/bin/python3 bench/numpy_generator.py --images DIR/images.npy \
        --labels DIR/labels.npy [--batch 128] [--alpha 0.2] [--seconds 3]

This is the Keras generator that DESIGN.md ("Mixup, exactly") takes as the
reference, with the same structure: every epoch shuffles the indexes; each
batch takes 2B ids from that order, X1 = X[ids[:B]], X2 = X[ids[B:]],
l = np.random.beta(alpha, alpha, B), X = X1 * l.reshape(B,1,1,1) +
X2 * (1 - l...), and y likewise from one-hot labels. An epoch has
floor(N / 2B) batches.

Two deliberate differences from the original, both to make the work the
same as mixupd's:

* The dataset stays uint8 [N,H,W,C] in memory (as mixupd keeps it in
  shared memory) and every batch converts its 2B samples to float32
  scaled to [0, 1] and then mixes them: uint8 -> float32 scaled -> mixed,
  which is what mixupd's workers do per batch (krn_mix_u8). The original
  generator is handed an already-float array and would skip the
  conversion, but then it holds the dataset as float (4x the memory).
* lambda is cast to float32 so that X and y come out float32 like
  mixupd's batches (the original multiplies by a float64 lambda and emits
  float64, which is twice the bytes and slower). --dtype float64 keeps
  the original's float64 arithmetic for comparison.

The one-hot label matrix is built once before timing: the reference is
handed labels already one-hot (keras.utils.to_categorical).

The consumer does nothing with a batch, as `mixupctl bench` does nothing
with it either. Prints samples/s, batches/s, MB/s (bytes of X and y) and
cpu us/batch (process CPU time over the timed loop, per batch).
Single-threaded, as the reference is (numpy's elementwise operations do
not use threads).
"""
import argparse
import sys
import time

import numpy as np


class MixupGenerator:
    """The reference generator (mixup-generator by yu4u), uint8 input."""

    def __init__(self, X_train, y_train, batch_size=128, alpha=0.2,
                 shuffle=True, dtype=np.float32):
        self.X_train = X_train            # uint8 [N, H, W, C]
        self.y_train = y_train            # one-hot float [N, K]
        self.batch_size = batch_size
        self.alpha = alpha
        self.shuffle = shuffle
        self.sample_num = len(X_train)
        self.dtype = dtype
        self.scale = dtype(1.0 / 255.0)

    def __call__(self):
        while True:
            indexes = self.__get_exploration_order()
            itr_num = int(len(indexes) // (self.batch_size * 2))
            for i in range(itr_num):
                batch_ids = indexes[i * self.batch_size * 2:
                                    (i + 1) * self.batch_size * 2]
                X, y = self.__data_generation(batch_ids)
                yield X, y

    def __get_exploration_order(self):
        indexes = np.arange(self.sample_num)
        if self.shuffle:
            np.random.shuffle(indexes)
        return indexes

    def __data_generation(self, batch_ids):
        B = self.batch_size
        l = np.random.beta(self.alpha, self.alpha, B).astype(self.dtype)
        X_l = l.reshape(B, 1, 1, 1)
        y_l = l.reshape(B, 1)
        # uint8 -> float scaled to [0, 1], per batch (as mixupd does) ...
        X1 = self.X_train[batch_ids[:B]].astype(self.dtype) * self.scale
        X2 = self.X_train[batch_ids[B:]].astype(self.dtype) * self.scale
        # ... then mixed, exactly as the reference writes it.
        X = X1 * X_l + X2 * (1 - X_l)
        y1 = self.y_train[batch_ids[:B]]
        y2 = self.y_train[batch_ids[B:]]
        y = y1 * y_l + y2 * (1 - y_l)
        return X, y


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", required=True, help="uint8 [N,H,W,C] .npy")
    ap.add_argument("--labels", required=True, help="integer [N] .npy")
    ap.add_argument("--classes", type=int, default=0,
                    help="K (default: max label + 1)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--alpha", type=float, default=0.2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", choices=("float32", "float64"),
                    default="float32")
    a = ap.parse_args(argv)

    X = np.load(a.images)
    labels = np.load(a.labels)
    if X.dtype != np.uint8:
        sys.exit("numpy_generator: %s: dtype %s, expected uint8"
                 % (a.images, X.dtype))
    if X.ndim == 3:
        X = X[..., None]
    if labels.ndim != 1 or len(labels) != len(X):
        sys.exit("numpy_generator: labels must be [N] with N = %d" % len(X))
    K = a.classes or int(labels.max()) + 1
    dtype = np.float32 if a.dtype == "float32" else np.float64
    Y = np.eye(K, dtype=dtype)[labels]          # to_categorical, untimed

    np.random.seed(a.seed)
    gen = MixupGenerator(X, Y, batch_size=a.batch, alpha=a.alpha,
                         dtype=dtype)()
    Xb, yb = next(gen)                          # warm-up, untimed
    nbytes = Xb.nbytes + yb.nbytes
    batches = 0
    c0 = time.process_time()
    t0 = t = time.perf_counter()
    while t - t0 < a.seconds:
        Xb, yb = next(gen)
        batches += 1
        t = time.perf_counter()
    el = t - t0
    cpu = time.process_time() - c0
    print("samples/s: %.1f" % (batches * a.batch / el))
    print("batches/s: %.1f" % (batches / el))
    print("MB/s: %.1f" % (batches * nbytes / el / 1e6))
    print("cpu us/batch: %.1f" % (cpu * 1e6 / max(batches, 1)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
