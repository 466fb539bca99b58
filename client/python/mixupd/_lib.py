"""ctypes bindings for libmixup (client/lib/mixup.h).

Only this module knows the C declarations. The structures below mirror
mixup.h field for field; keep them in step with it.

The library is looked for, in order, at:
  1. $MIXUPD_LIBRARY (a path to libmixup.so*);
  2. the path meson wrote into mixupd/_config.py (the build tree's library
     when imported from the build tree, the installed one after
     `meson install`), and the installed one relative to this package
     (a copy installed with DESTDIR, or a moved prefix);
  3. the system's search path (ctypes.util.find_library("mixup")).
"""
import ctypes
import ctypes.util
import os

c_int = ctypes.c_int
c_u32 = ctypes.c_uint32
c_u64 = ctypes.c_uint64
c_char_p = ctypes.c_char_p


class Info(ctypes.Structure):
    _fields_ = [
        ("samples", c_u64),
        ("height", c_u32),
        ("width", c_u32),
        ("channels", c_u32),
        ("classes", c_u32),
        ("batch_size", c_u32),
        ("batches_per_epoch", c_u64),
        ("alpha", ctypes.c_float),
        ("shuffle", c_u32),
        ("protocol_version", c_u32),
        ("keep_last", c_u32),
        ("pipeline", ctypes.c_char * 33),     # MIXUP_PIPELINE_MAX + 1
        ("pipelines", ctypes.c_char * 512),   # MIXUP_PIPELINE_LIST_MAX
        ("dataset_digest", c_u64),
        ("settings_digest", c_u64),
    ]


class ClientOptions(ctypes.Structure):
    _fields_ = [("timeout_ms", c_int), ("transport", c_int), ("spread", c_int),
                ("token_file", c_char_p)]


class StreamOptions(ctypes.Structure):
    _fields_ = [
        ("mode", c_int),
        ("seed", c_u64),
        ("start_epoch", c_u64),
        ("start_batch", c_u64),
        ("job", c_char_p),
        ("rank", c_u32),
        ("world", c_u32),
        ("prefetch", c_u32),
        ("pipeline", c_char_p),
    ]


class Batch(ctypes.Structure):
    _fields_ = [
        ("epoch", c_u64),
        ("index", c_u64),
        ("size", c_u32),
        ("height", c_u32),
        ("width", c_u32),
        ("channels", c_u32),
        ("classes", c_u32),
        ("dtype", c_int),
        ("layout", c_int),
        ("x", ctypes.c_void_p),
        ("y", ctypes.c_void_p),
        ("index1", ctypes.c_void_p),
        ("index2", ctypes.c_void_p),
        ("lam", ctypes.c_void_p),
        ("x_half", ctypes.c_void_p),
        ("label1", ctypes.c_void_p),
        ("label2", ctypes.c_void_p),
        ("aug", ctypes.c_void_p),
        ("aug_per_sample", c_u32),
        ("message_", ctypes.c_void_p),
        ("message_size_", ctypes.c_size_t),
    ]


BatchP = ctypes.POINTER(Batch)
ClientP = ctypes.c_void_p  # opaque mixup_client *

# mixup.h enums
MODE_INDEPENDENT, MODE_SHARDED, MODE_SHARED = 0, 1, 2
DTYPE_FLOAT32, DTYPE_FLOAT16, DTYPE_BFLOAT16 = 1, 2, 3
LAYOUT_NHWC, LAYOUT_NCHW = 0, 1
MIX_NONE, MIX_MIXUP, MIX_CUTMIX = 0, 1, 2
TRANSPORT_AUTO, TRANSPORT_SOCKET = 0, 1
# MIXUP_DEFAULT_TIMEOUT_MS of mixup.h: every request's default wait, as in
# libmixup and mixupctl (a test compares them).
DEFAULT_TIMEOUT_MS = 30000
# MIXUP_CONNECT_TIMEOUT_MS: the wait for the first replies (a daemon that is
# not there: a wrong port, a stale socket file).
CONNECT_TIMEOUT_MS = 5000

# struct mixup_aug (96 bytes, little-endian, as on the wire), as a numpy
# structured dtype: batch.aug is an array of these.
AUG_SIZE = 96

_SIGNATURES = {
    # name: (restype, argtypes)
    "mixup_strerror": (c_char_p, [c_int]),
    "mixup_err_name": (c_char_p, [c_int]),
    "mixup_client_options_init": (None, [ctypes.POINTER(ClientOptions)]),
    "mixup_stream_options_init": (None, [ctypes.POINTER(StreamOptions)]),
    "mixup_client_connect": (c_int, [ctypes.POINTER(ClientP),
                                     ctypes.POINTER(c_char_p), ctypes.c_size_t,
                                     ctypes.POINTER(ClientOptions)]),
    "mixup_client_info": (c_int, [ClientP, ctypes.POINTER(Info)]),
    "mixup_pipeline_info": (c_int, [ClientP, c_char_p, ctypes.POINTER(Info)]),
    "mixup_stream_open": (c_int, [ClientP, ctypes.POINTER(StreamOptions)]),
    "mixup_next": (c_int, [ClientP, ctypes.POINTER(BatchP)]),
    "mixup_batch_release": (None, [BatchP]),
    "mixup_batch_keep": (c_int, [BatchP]),
    "mixup_batch_check": (c_int, [BatchP]),
    "mixup_batch_lent": (c_int, [BatchP]),
    "mixup_batch_writable": (c_int, [BatchP]),
    "mixup_client_transport": (c_char_p, [ClientP]),
    "mixup_client_transport_note": (c_char_p, [ClientP]),
    "mixup_client_position": (c_int, [ClientP, ctypes.POINTER(c_u64),
                                      ctypes.POINTER(c_u64)]),
    "mixup_client_resume_position": (c_int, [ClientP, ctypes.POINTER(c_u64),
                                             ctypes.POINTER(c_u64)]),
    "mixup_stream_epoch": (c_int, [ClientP, ctypes.POINTER(c_u64),
                                   ctypes.POINTER(c_u64)]),
    "mixup_client_stats": (c_int, [ClientP, c_int,
                                   ctypes.POINTER(ctypes.c_void_p)]),
    "mixup_stream_close": (c_int, [ClientP]),
    "mixup_client_close": (None, [ClientP]),
    "mixup_client_error": (c_char_p, [ClientP]),
    "mixup_client_set_timeout": (c_int, [ClientP, c_int]),
    "mixup_default_endpoint": (c_char_p, []),
}


def _candidates():
    env = os.environ.get("MIXUPD_LIBRARY")
    if env:
        return [("$MIXUPD_LIBRARY", env)]
    found = []
    try:
        from . import _config
        found.append(("mixupd/_config.py", _config.LIBRARY))
        rel = getattr(_config, "LIBRARY_RELATIVE", "")
        if rel:
            here = os.path.dirname(os.path.abspath(__file__))
            found.append(("mixupd/_config.py, relative to the package",
                          os.path.normpath(os.path.join(here, rel))))
    except ImportError:
        pass
    name = ctypes.util.find_library("mixup")
    if name:
        found.append(("the system search path", name))
    return found


def _check_layout(lib, path):
    """The structures here mirror mixup.h: refuse a library whose
    mixup_batch is another size than the one this package was written for
    (reading it would return garbage, not raise)."""
    size = getattr(lib, "mixup_batch_struct_size", None)
    if size is None:
        return  # a library older than the check: nothing to compare
    size.restype = ctypes.c_size_t
    size.argtypes = []
    if size() != ctypes.sizeof(Batch):
        raise ImportError(
            f"mixupd: {path} has a mixup_batch of {size()} bytes, this "
            f"package expects {ctypes.sizeof(Batch)}: the package and "
            "libmixup come from different versions")


def _load():
    tried = []
    for origin, path in _candidates():
        if os.path.isabs(path) and not os.path.exists(path):
            tried.append(f"{path} (from {origin}): no such file")
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path} (from {origin}): {e}")
            continue
        for name, (res, args) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype = res
            fn.argtypes = args
        _check_layout(lib, path)
        return lib, path
    detail = "; ".join(tried) if tried else "no candidate found"
    raise ImportError(
        "mixupd: cannot load libmixup (" + detail + "). Set MIXUPD_LIBRARY "
        "to the path of libmixup.so, build mixupd with meson and import from "
        "the build tree (build/client/python), or run `meson install`.")


lib, path = _load()
# free() for the text mixup_client_stats() hands over.
_libc = ctypes.CDLL(None)
free = _libc.free
free.restype = None
free.argtypes = [ctypes.c_void_p]


def default_endpoint() -> str:
    """Where a client given no endpoint connects, as mixupctl does:
    $MIXUPD_ENDPOINT, else the service's socket when it exists, else
    mixupd's own default (libmixup's mixup_default_endpoint())."""
    return lib.mixup_default_endpoint().decode()


def err_name(code):
    return lib.mixup_err_name(code).decode()


def strerror(code):
    return lib.mixup_strerror(code).decode()


def error_codes():
    """{code: name} for every code the library knows (from its one list)."""
    codes = {}
    for num in range(1, 256):
        name = err_name(-num)
        if name == "MIXUP_UNKNOWN":
            break
        codes[-num] = name
    return codes
