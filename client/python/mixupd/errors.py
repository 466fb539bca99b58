"""Exceptions: one per failure a caller may want to catch on its own.

Every exception the daemon or libmixup causes is a MixupError carrying the
library's code (``.code``, negative), its symbolic name (``.name``, e.g.
"MIXUP_ETIMEDOUT") and the full message of mixup_client_error(), which
includes the daemon's own words when the daemon refused a request. The
codes and names come from libmixup's single error list (mixup.h), not from
a copy here; this module only says which Python class each name maps to,
and adds the matching built-in exception as a second base so that
``except TimeoutError`` or ``except ValueError`` work as expected.
"""
from . import _lib


class MixupError(Exception):
    """A failure reported by libmixup or by the daemon."""

    def __init__(self, code, message):
        self.code = code
        self.name = _lib.err_name(code)
        self.message = message or _lib.strerror(code)
        super().__init__(f"{self.message} [{self.name}]")


class DaemonTimeout(MixupError, TimeoutError):
    """No reply within the timeout: is mixupd running at that endpoint?"""


class EndpointError(MixupError, ConnectionError):
    """An endpoint nanomsg rejects (bad address or transport)."""


class VersionError(MixupError):
    """The daemon speaks another protocol version."""


class ProtocolError(MixupError):
    """A reply that does not decode, or a batch layout this client does not
    know."""


class StreamLost(MixupError, ConnectionError):
    """The daemon no longer knows the stream (restarted, or the stream sat
    idle past server.stream_timeout). Open a new Client with
    ``start=old.position`` to go on where it stopped."""


class InvalidArgument(MixupError, ValueError):
    """The daemon or the library refused an argument (the message says
    which)."""


class PositionError(MixupError, ValueError):
    """A start position outside the stream's batches."""


class ModeError(MixupError):
    """A stream mode the daemon does not serve, or an operation that does
    not apply to the stream's mode."""


class HeldLimit(MixupError):
    """The client holds as many batches read in place in the daemon's ring
    as the daemon lends one client (server.max_held). Drop references to
    old batches (their arrays and tensors), keep a batch beyond that with
    ``batch.keep()`` (a copy), or use ``zero_copy=False``."""

    def __init__(self, code, message):
        super().__init__(code, f"{message}; in Python: drop old batches "
                         f"(and arrays or tensors made from them), keep one "
                         f"with batch.keep() or np.array(...), or connect "
                         f"with zero_copy=False")


class Mismatch(MixupError):
    """Daemons that are not interchangeable: their dataset or settings
    digests differ (striping over them, or failing over to one); the
    message names the endpoints and what differs."""


class NotAuthorised(MixupError, PermissionError):
    """The daemon refused the request: it requires a token and this client
    proved none or another (token_file= or $MIXUPD_TOKEN_FILE), or the
    stream belongs to another client. Also raised by the client itself
    when the peer could not prove it knows the client's token (not the
    daemon the token belongs to), or has no token at all."""


class SequenceError(MixupError):
    """The stream skipped batches: the daemon delivered some of them to
    another client holding the stream's key. The batches received so far
    are intact; the position stays at the last one received."""


class StateError(MixupError):
    """An operation that is not valid now (no stream open, client closed)."""


_BY_NAME = {
    "MIXUP_ETIMEDOUT": DaemonTimeout,
    "MIXUP_ECONNECT": EndpointError,
    "MIXUP_EVERSION": VersionError,
    "MIXUP_EPROTO": ProtocolError,
    "MIXUP_ENOSTREAM": StreamLost,
    "MIXUP_EINVAL": InvalidArgument,
    "MIXUP_EPOSITION": PositionError,
    "MIXUP_EMODE": ModeError,
    "MIXUP_ESTATE": StateError,
    "MIXUP_EHELD": HeldLimit,
    "MIXUP_EMISMATCH": Mismatch,
    "MIXUP_EAUTH": NotAuthorised,
    "MIXUP_ESEQUENCE": SequenceError,
}

CODES = _lib.error_codes()           # {code: "MIXUP_E..."}
CODE = {name: code for code, name in CODES.items()}


def from_code(code, message=""):
    """The exception for a negative libmixup code."""
    cls = _BY_NAME.get(_lib.err_name(code), MixupError)
    return cls(code, message)
