"""Start and stop a mixupd process: for tests, examples and notebooks.

    with mixupd.Daemon({"dataset.format": "idx", ...}) as d:
        client = mixupd.Client(d.endpoint)

The daemon binary is $MIXUPD_BIN, else the one meson built next to this
package (mixupd/_config.py), else `mixupd` on PATH or in /usr/sbin. Each
Daemon gets its own directory (the ipc endpoint, the log), its own
server.name (so that several run side by side), and its own session, so
that Ctrl-C in the terminal reaches the Python program only and the
program stops the daemon in order.
"""
from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Any, Dict, Optional

import numpy as np

from .client import daemon_info
from .errors import MixupError

_counter = itertools.count()


def _configured(name):
    try:
        from . import _config
        return getattr(_config, name, None)
    except ImportError:
        return None


def find_binary(name="mixupd"):
    """Path of the mixupd (or mixupctl) executable."""
    env = os.environ.get(name.upper() + "_BIN")
    if env:
        return env
    built = _configured(name.upper())
    if built and os.access(built, os.X_OK):
        return built
    found = shutil.which(name) or shutil.which(name, path="/usr/local/sbin:"
                                                "/usr/sbin:/sbin")
    if found:
        return found
    raise FileNotFoundError(f"cannot find {name}: set ${name.upper()}_BIN, "
                            f"build mixupd with meson, or install it")


class Daemon:
    """Daemon(settings=None, config=None, workdir=None, binary=None,
    ready_timeout=60)

    settings: {"section.key": value} passed as --set options (after the
    config file, if any). Without config the daemon starts from the
    built-in defaults (--no-config): $MIXUPD_CONFIG is not passed on. server.endpoint defaults to an ipc socket in
    workdir; server.name to a unique name. Starts at once and returns when
    the daemon answers; raises RuntimeError with the daemon's log if it
    exits or does not answer within ready_timeout seconds.
    """

    def __init__(self, settings=None, config=None, workdir=None,
                 binary=None, ready_timeout=60.0):
        self.settings = dict(settings or {})
        self._own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="mixupd-py-")
        self.settings.setdefault("server.endpoint",
                                 f"ipc://{self.workdir}/mixupd.ipc")
        self.settings.setdefault("server.name",
                                 f"py{os.getpid()}_{next(_counter)}")
        self.endpoint = self.settings["server.endpoint"]
        self.log_path = os.path.join(self.workdir, "mixupd.log")
        argv = [binary or find_binary("mixupd")]
        # Only the configuration given here: never $MIXUPD_CONFIG (meant
        # for a hand-started daemon) nor any system file.
        argv += ["--config", str(config)] if config else ["--no-config"]
        for k, v in self.settings.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            argv += ["--set", f"{k}={v}"]
        self.argv = argv
        self._log = open(self.log_path, "wb")
        env = dict(os.environ)
        env.pop("MIXUPD_CONFIG", None)
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                        stderr=self._log, env=env,
                                        start_new_session=True)
        try:
            self._wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise

    @classmethod
    def from_arrays(cls, images: Any, labels: Any,
                    settings: Optional[Dict[str, Any]] = None,
                    **kwargs: Any) -> "Daemon":
        """A daemon serving numpy arrays, for scripts and notebooks.

        images: uint8 or float32 [N, H, W] or [N, H, W, C] (float64 is
            converted to float32, with a ValueError if a value does not
            fit; other dtypes are refused, saying which to convert to);
        labels: integer class numbers [N];
        settings, **kwargs: as for Daemon (e.g. {"batch.size": 64}).

        The arrays are written as .npy files into the daemon's directory
        (the daemon reads and copies them into shared memory), removed
        with it by cleanup() or the with block; if the daemon does not
        start, they are removed before the error is raised.
        """
        images = np.asarray(images)
        if images.dtype == np.float64:
            with np.errstate(over="ignore"):
                f32 = images.astype(np.float32)
            if not np.isfinite(f32).all() and np.isfinite(images).all():
                raise ValueError("images: float64 values beyond float32's "
                                 "range; scale them first")
            images = f32
        elif images.dtype not in (np.uint8, np.float32):
            raise ValueError(f"images must be uint8 or float32 (float64 is "
                             f"converted), got {images.dtype}: convert with "
                             f"images.astype(np.float32)")
        labels = np.asarray(labels)
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integer class numbers, got "
                             f"{labels.dtype}")
        own = kwargs.get("workdir") is None
        workdir = kwargs.pop("workdir", None) or \
            tempfile.mkdtemp(prefix="mixupd-py-")
        try:
            np.save(os.path.join(workdir, "images.npy"), images)
            np.save(os.path.join(workdir, "labels.npy"), labels)
            s = {"dataset.format": "npy",
                 "dataset.images": os.path.join(workdir, "images.npy"),
                 "dataset.labels": os.path.join(workdir, "labels.npy")}
            s.update(settings or {})
            d = cls(s, workdir=workdir, **kwargs)
        except BaseException:
            if own:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                for f in ("images.npy", "labels.npy", "mixupd.log"):
                    try:
                        os.unlink(os.path.join(workdir, f))
                    except FileNotFoundError:
                        pass
            raise
        d._own_dir = own
        return d

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"mixupd exited with status "
                                   f"{self.process.returncode} at start-up:"
                                   f"\n{self.log()}")
            try:
                self.info = daemon_info(
                    self.endpoint, timeout=0.2,
                    token_file=self.settings.get("server.auth_token_file")
                    or None)
                return
            except MixupError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"mixupd did not answer within "
                                       f"{timeout} s:\n{self.log()}") \
                        from None

    def log(self):
        """The daemon's log so far."""
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stop the daemon (SIGTERM, then SIGKILL after timeout seconds);
        return its exit status. Stopping twice is harmless."""
        p = self.process
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._log.close()
        return p.returncode

    def cleanup(self):
        """Stop and remove the daemon's directory (if this object made it)."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
