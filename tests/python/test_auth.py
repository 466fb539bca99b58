"""Access control from Python: Client(token_file=...) and
$MIXUPD_TOKEN_FILE against a daemon with server.auth_token_file."""
import os
import socket

import pytest

import mixupd
from conftest import B

TOKEN = "0123456789abcdef" * 4


def write_token(path, text):
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return str(path)


def test_token_file(own_daemon, tmp_path, monkeypatch):
    good = write_token(tmp_path / "token", TOKEN)
    bad = write_token(tmp_path / "other", TOKEN[::-1])
    d = own_daemon(server__auth_token_file=good)
    monkeypatch.delenv("MIXUPD_TOKEN_FILE", raising=False)
    with pytest.raises(mixupd.NotAuthorised, match="no token"):
        mixupd.Client(d.endpoint, connect_timeout=5)
    # Another token: the daemon cannot prove it has this one, so the
    # client stops before sending anything that depends on it.
    with pytest.raises(mixupd.NotAuthorised, match="could not prove it knows"):
        mixupd.Client(d.endpoint, connect_timeout=5, token_file=bad)
    with mixupd.Client(d.endpoint, token_file=good) as c:
        assert next(iter(c)).x.shape[0] == B
    monkeypatch.setenv("MIXUPD_TOKEN_FILE", good)
    assert mixupd.daemon_info(d.endpoint).batch_size == B
    with pytest.raises(mixupd.InvalidArgument, match="token file"):
        mixupd.Client(d.endpoint, token_file=str(tmp_path / "missing"))


def test_sequence_error_is_its_own_class():
    code = mixupd.errors.CODE["MIXUP_ESEQUENCE"]
    e = mixupd.errors.from_code(code, "stream skipped")
    assert isinstance(e, mixupd.SequenceError) and e.code == code


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="needs root: a socket file owned by another user")
def test_a_strangers_socket_is_refused_with_its_reason(tmp_path):
    d = tmp_path / "open"
    d.mkdir()
    os.chmod(d, 0o1777)
    path = str(d / "mixupd.ipc")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    os.chown(path, 65534, -1)
    with pytest.raises(mixupd.EndpointError,
                       match="the socket belongs to uid 65534"):
        mixupd.Client("ipc://" + path, connect_timeout=1)
