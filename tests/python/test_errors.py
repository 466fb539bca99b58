"""Bad input gives a clear Python exception, promptly; never a crash."""
import ctypes
import ctypes.util
import os
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import mixupd
from conftest import BPE, BUILD


@pytest.mark.parametrize("kwargs, exc, words", [
    ({"seed": "1"}, TypeError, "seed must be an integer"),
    ({"seed": 1.5}, TypeError, "seed must be an integer"),
    ({"seed": True}, TypeError, "seed must be an integer"),
    ({"seed": -1}, ValueError, "seed must be in 0 .."),
    ({"seed": 2**64}, ValueError, "seed must be in 0 .."),
    ({"mode": "sharding"}, ValueError, "mode must be one of"),
    ({"mode": 1}, ValueError, "mode must be one of"),
    ({"start": 3}, TypeError, "(epoch, batch) pair"),
    ({"start": (0,)}, TypeError, "(epoch, batch) pair"),
    ({"start": "0:1"}, TypeError, "(epoch, batch) pair"),
    ({"start": (0, -1)}, ValueError, "start batch must be in"),
    ({"start": (0.0, 1)}, TypeError, "start epoch must be an integer"),
    ({"timeout": 0}, ValueError, "timeout must be > 0"),
    ({"timeout": "5"}, TypeError, "timeout must be a number"),
    ({"timeout": 1e9}, ValueError, "use None to wait forever"),
    ({"timeout": float("inf")}, ValueError, "use None to wait forever"),
    ({"timeout": float("nan")}, ValueError, "timeout must be > 0"),
    ({"connect_timeout": -1}, ValueError, "connect_timeout must be > 0"),
    ({"prefetch": -1}, ValueError, "prefetch must be in"),
    ({"job": "j"}, ValueError, "independent stream takes none"),
    ({"mode": "shared"}, ValueError, "needs job="),
    ({"mode": "sharded", "job": "j"}, ValueError, "needs rank= and world="),
    ({"mode": "sharded", "job": "j", "rank": 2, "world": 2}, ValueError,
     "rank must be in 0 .. 1"),
    ({"mode": "sharded", "job": "j", "rank": 0, "world": 0}, ValueError,
     "world must be in 1 .."),
    ({"mode": "shared", "job": "a b"}, ValueError, "printable ASCII"),
    ({"mode": "shared", "job": "x" * 65}, ValueError, "1 to 64"),
    ({"mode": "shared", "job": 5}, TypeError, "job must be a string"),
    ({"rank": 0, "world": 1}, ValueError, "apply to sharded streams"),
])
def test_bad_arguments_are_refused_before_sending(kwargs, exc, words):
    # No daemon at this endpoint: a refusal must come before any request.
    t0 = time.monotonic()
    with pytest.raises(exc, match=words.replace("(", r"\(").replace(
            ")", r"\)").replace(".", r"\.")):
        mixupd.Client("ipc:///nonexistent/mixupd.ipc", **kwargs)
    assert time.monotonic() - t0 < 0.5


@pytest.mark.parametrize("endpoint, exc, words", [
    (42, TypeError, "endpoint must be a string"),
    ([], ValueError, "at least one address"),
    (["ipc:///x", None], TypeError, "endpoint must be a string"),
    ("localhost:5555", ValueError, "not a nanomsg address"),
    ("nonsense://x", mixupd.EndpointError, "rejects endpoint 'nonsense://x'"),
    ("tcp://no host:1", mixupd.EndpointError, "tcp://no host:1"),
])
def test_wrong_endpoints(endpoint, exc, words):
    with pytest.raises(exc, match=words):
        mixupd.Client(endpoint)


def test_endpoint_error_is_a_connection_error():
    with pytest.raises(ConnectionError) as e:
        mixupd.Client("nonsense://x")
    assert e.value.name == "MIXUP_ECONNECT" and e.value.code < 0


def test_a_daemon_that_is_down_is_a_prompt_timeout(tmp_path):
    t0 = time.monotonic()
    with pytest.raises(mixupd.DaemonTimeout) as e:
        mixupd.Client("tcp://127.0.0.1:1", connect_timeout=0.3)
    assert time.monotonic() - t0 < 2
    assert "no reply within 300 ms (is mixupd running?)" in str(e.value)
    assert isinstance(e.value, TimeoutError)
    # A missing ipc socket is said at once, whatever the timeout (the
    # default is libmixup's and mixupctl's 30 s: see test_day_one.py).
    t0 = time.monotonic()
    with pytest.raises(mixupd.EndpointError, match="no such socket file"):
        mixupd.Client(f"ipc://{tmp_path}/nobody.ipc")
    assert time.monotonic() - t0 < 2


def test_daemon_refusals_carry_its_message(daemon):
    with pytest.raises(mixupd.PositionError) as e:
        mixupd.Client(daemon.endpoint, start=(0, BPE))
    assert f"start batch {BPE} is past the end of an epoch" in str(e.value)
    assert e.value.name == "MIXUP_EPOSITION"
    assert isinstance(e.value, ValueError)
    with pytest.raises(mixupd.InvalidArgument, match="exceeds the"):
        mixupd.Client(daemon.endpoint, mode="sharded", job="big", rank=0,
                      world=BPE + 1)


def test_daemon_stopped_then_restarted(own_daemon):
    d = own_daemon()
    c = mixupd.Client(d.endpoint, seed=8, timeout=0.5)
    c.next()
    saved = c.position
    d.stop()
    t0 = time.monotonic()
    with pytest.raises(mixupd.DaemonTimeout, match="no reply within 500 ms"):
        c.next()
    assert time.monotonic() - t0 < 2
    # A new daemon on the same endpoint does not know the stream: libmixup
    # opens it again there at its position, and the stream goes on with
    # the bytes it would have had.
    d2 = own_daemon(server__endpoint=d.endpoint)
    b = None
    for _ in range(40):      # nanomsg reconnects within ~100 ms
        try:
            b = c.next()
            break
        except mixupd.DaemonTimeout:
            continue
    assert b is not None
    c.close()
    with mixupd.Client(d2.endpoint, seed=8) as ref:
        ref.next()
        want = ref.next()
    assert b.position == saved == want.position
    assert b.x.tobytes() == want.x.tobytes()
    # A saved position resumes on it too, with the same bytes.
    with mixupd.Client(d2.endpoint, seed=8, start=saved) as r:
        assert r.next().x.tobytes() == want.x.tobytes()


# ---- a fake daemon: a nanomsg REP socket answering with chosen bytes

def _nanomsg():
    nn = ctypes.CDLL(ctypes.util.find_library("nanomsg"))
    nn.nn_recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                           ctypes.c_int]
    nn.nn_send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t,
                           ctypes.c_int]
    nn.nn_bind.argtypes = [ctypes.c_int, ctypes.c_char_p]
    nn.nn_setsockopt.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                 ctypes.c_void_p, ctypes.c_size_t]
    return nn


def fake_daemon(endpoint, reply_for):
    """Answer each request with reply_for(request_id); stop after 2 s of
    silence."""
    nn = _nanomsg()
    AF_SP, NN_REP, NN_SOL_SOCKET, NN_RCVTIMEO = 1, 49, 0, 5
    s = nn.nn_socket(AF_SP, NN_REP)
    t = ctypes.c_int(2000)
    nn.nn_setsockopt(s, NN_SOL_SOCKET, NN_RCVTIMEO, ctypes.byref(t), 4)
    assert nn.nn_bind(s, endpoint.encode()) >= 0

    def serve():
        buf = ctypes.create_string_buffer(4096)
        while True:
            n = nn.nn_recv(s, buf, 4096, 0)
            if n < 0:
                break
            req_id = struct.unpack_from("<Q", buf.raw, 12)[0]
            reply = reply_for(req_id)
            nn.nn_send(s, reply, len(reply), 0)
        nn.nn_close(s)
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    return th


def header(version, type_, req_id, body=b""):
    return struct.pack("<IHHIQI", 0x5058494D, version, type_, 0, req_id,
                       len(body)) + body


def test_protocol_version_mismatch(tmp_path):
    ep = f"ipc://{tmp_path}/fake.ipc"
    th = fake_daemon(ep, lambda rid: header(99, 0x81, rid))
    with pytest.raises(mixupd.VersionError,
                       match="peer speaks mixupd protocol 99, this build speaks 3: "
                       "upgrade the client library"):
        mixupd.Client(ep, connect_timeout=2)
    th.join()


def test_garbage_reply_is_a_protocol_error(tmp_path):
    ep = f"ipc://{tmp_path}/fake.ipc"
    th = fake_daemon(ep, lambda rid: b"hello, I am not mixupd at all!!!")
    with pytest.raises(mixupd.ProtocolError, match="magic"):
        mixupd.Client(ep, connect_timeout=2)
    th.join()


# ---- Ctrl-C

CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[1])
    import mixupd
    c = mixupd.Client(sys.argv[2], seed=1, timeout=60)
    c.next()
    print("ready", flush=True)
    sys.stdin.readline()           # the daemon is frozen now
    print("waiting", flush=True)
    try:
        c.next()
        print("got a batch", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        sys.exit(3)
""")


def test_ctrl_c_interrupts_a_wait_for_a_batch(own_daemon):
    d = own_daemon()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, os.path.join(BUILD, "client", "python"),
         d.endpoint], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        os.kill(d.process.pid, signal.SIGSTOP)   # no more batches
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "waiting"
        time.sleep(0.5)
        t0 = time.monotonic()
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=5) == 3
        assert time.monotonic() - t0 < 2
        assert child.stdout.read().strip() == "interrupted"
    finally:
        os.kill(d.process.pid, signal.SIGCONT)
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdin.close()
        child.stdout.close()


def test_interrupted_wait_goes_on_with_the_same_batch(own_daemon):
    """A signal whose handler does not raise: the wait goes on and the
    batch is the one asked for (no batch skipped)."""
    d = own_daemon()
    got = []
    with mixupd.Client(d.endpoint, seed=6, timeout=10) as c:
        c.next()
        old = signal.signal(signal.SIGUSR1, lambda *a: got.append("signal"))
        try:
            os.kill(d.process.pid, signal.SIGSTOP)
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGUSR1)).start()
            threading.Timer(0.6, os.kill,
                            (d.process.pid, signal.SIGCONT)).start()
            b = c.next()
        finally:
            os.kill(d.process.pid, signal.SIGCONT)
            signal.signal(signal.SIGUSR1, old)
    assert got == ["signal"]
    assert b.position == (0, 1)


def test_a_client_does_not_survive_fork(daemon):
    c = mixupd.Client(daemon.endpoint)
    pid = os.fork()
    if pid == 0:
        try:
            c.next()
            os._exit(1)
        except mixupd.StateError as e:
            os._exit(0 if "does not survive fork" in str(e) else 2)
        except BaseException:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert c.next().position == (0, 0)  # the parent's client still works
    c.close()
