"""mixupd: the Python client of the mixupd data-loading daemon.

    import mixupd
    with mixupd.Client("ipc:///tmp/mixupd.ipc", seed=1) as c:
        b = c.next()            # b.x float32 [B,H,W,C], b.y float32 [B,K]
        ...                     # b.index1, b.index2, b.lam, b.position

    gen = mixupd.MixupGenerator("ipc:///tmp/mixupd.ipc")()   # Keras-style
    ds = mixupd.torch.MixupDataset("ipc:///tmp/mixupd.ipc")  # PyTorch

The package is ctypes over libmixup (the C client library): see the
README, "Python client". mixupd.torch is imported on demand (it needs
torch).
"""
from ._lib import default_endpoint, path as library_path
from .client import (AUG_DTYPE, DEFAULT_TIMEOUT, Batch, Client, Info, MODES,
                     Position, daemon_info, live_batches)
from .daemon import Daemon, find_binary
from .errors import (DaemonTimeout, EndpointError, HeldLimit,
                     InvalidArgument, Mismatch, MixupError, ModeError,
                     NotAuthorised, PositionError, ProtocolError,
                     SequenceError, StateError, StreamLost, VersionError)
from .generator import MixupGenerator, MixupSequence

__version__ = "0.1.0"

__all__ = [
    "AUG_DTYPE", "Batch", "Client", "Info", "MODES", "Position", "daemon_info",
    "live_batches", "Daemon", "find_binary", "MixupError", "DaemonTimeout",
    "EndpointError", "InvalidArgument", "ModeError", "NotAuthorised",
    "PositionError",
    "ProtocolError", "StateError", "StreamLost", "VersionError",
    "HeldLimit", "Mismatch", "SequenceError",
    "MixupGenerator", "MixupSequence", "library_path", "default_endpoint",
    "DEFAULT_TIMEOUT",
]


def __getattr__(name):
    # `mixupd.torch` without an explicit `import mixupd.torch`.
    if name == "torch":
        import importlib
        return importlib.import_module(".torch", __name__)
    raise AttributeError(f"module 'mixupd' has no attribute {name!r}")
