"""The service's configuration and command line: which file mixupd reads
(only the one it is given), the Python Daemon helpers (never a file they
were not given, not even through $MIXUPD_CONFIG), and what info/preview
say about an image pipeline and an unmixed one."""
import os
import re
import subprocess

import numpy as np
import pytest

import mixupd
from conftest import BUILD, make_data

MIXUPD = os.path.join(BUILD, "server", "mixupd")
MIXUPCTL = os.path.join(BUILD, "client", "mixupctl")


def env_without_config(**extra):
    env = {k: v for k, v in os.environ.items() if k != "MIXUPD_CONFIG"}
    env.update(extra)
    return env


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          **kw)


def installed_config_path():
    """Where meson installs the example configuration for this build."""
    r = run(["meson", "introspect", BUILD, "--installed"])
    assert r.returncode == 0, r.stderr
    found = re.findall(r'"([^"]*/mixupd/mixupd\.conf)"', r.stdout)
    assert found, r.stdout
    return found[0]


def test_mixupd_has_no_compiled_in_config_path():
    # The installed example would otherwise be every daemon's default.
    path = installed_config_path().encode()
    with open(MIXUPD, "rb") as f:
        assert path not in f.read()
    out = run([MIXUPD, "--help"]).stdout
    assert "--no-config" in out
    assert "/etc/mixupd" not in out


def test_bare_mixupd_runs_on_built_in_defaults_a_user_can_bind(tmp_path):
    bare = run([MIXUPD, "--print-config"], env=env_without_config(),
               cwd=tmp_path)
    none = run([MIXUPD, "--no-config", "--print-config"],
               env=env_without_config(MIXUPD_CONFIG=str(tmp_path / "x")),
               cwd=tmp_path)
    null = run([MIXUPD, "--print-config"],
               env=env_without_config(MIXUPD_CONFIG="/dev/null"),
               cwd=tmp_path)
    assert bare.returncode == none.returncode == null.returncode == 0, \
        bare.stderr + none.stderr + null.stderr
    assert bare.stdout == none.stdout == null.stdout
    # A place an ordinary user may bind, not the service's /run/mixupd.
    eps = re.findall(r"^endpoint = (.*)$", bare.stdout, re.M)
    assert eps == ["ipc:///tmp/mixupd.ipc"]
    assert "[pipeline" not in bare.stdout


def test_mixupd_config_sources_and_their_log_line(tmp_path):
    conf = tmp_path / "m.conf"
    conf.write_text("[server]\nring_slots = 2\n")
    r = run([MIXUPD, "--print-config"],
            env=env_without_config(MIXUPD_CONFIG=str(conf)))
    assert r.returncode == 0, r.stderr
    assert re.search(r"^ring_slots = 2$", r.stdout, re.M)
    for env, args, want in (
            (str(conf), [], f"configuration: {conf} ($MIXUPD_CONFIG)"),
            ("/dev/null", [], "configuration: /dev/null ($MIXUPD_CONFIG)"),
            (str(conf), ["--no-config"],
             "configuration: built-in defaults (--no-config)"),
            (None, [], "configuration: built-in defaults (no --config and "
                       "no $MIXUPD_CONFIG)")):
        e = env_without_config() if env is None else \
            env_without_config(MIXUPD_CONFIG=env)
        r = run([MIXUPD, "--check", *args], env=e)
        assert r.returncode == 0, r.stderr
        assert want in r.stderr
    r = run([MIXUPD, "--config", str(conf), "--no-config", "--check"])
    assert r.returncode == 1
    assert "--config and --no-config exclude each other" in r.stderr
    # A file named but missing is an error, not the defaults.
    r = run([MIXUPD, "--check"],
            env=env_without_config(MIXUPD_CONFIG=str(tmp_path / "no.conf")))
    assert r.returncode == 1 and "no.conf" in r.stderr


def test_daemon_helpers_ignore_MIXUPD_CONFIG(tmp_path, monkeypatch):
    # A configuration that would break the daemon if it were read.
    bad = tmp_path / "system.conf"
    bad.write_text("[pipeline val]\ndataset.images = /nonexistent.npy\n"
                   "[server]\nendpoint = ipc:///nonexistent/dir/x.ipc\n")
    monkeypatch.setenv("MIXUPD_CONFIG", str(bad))
    images, labels = make_data()
    with mixupd.Daemon.from_arrays(images, labels, {"batch.size": 8}) as d:
        assert "--no-config" in d.argv
        assert "built-in defaults (--no-config)" in d.log()
        with mixupd.Client(d.endpoint) as c:
            assert next(c).x.shape[0] == 8
    # A config given explicitly is still read.
    good = tmp_path / "given.conf"
    good.write_text("[batch]\nsize = 4\n")
    with mixupd.Daemon.from_arrays(images, labels, config=good) as d:
        assert f"configuration: {good} (--config)" in d.log()
        with mixupd.Client(d.endpoint) as c:
            assert next(c).x.shape[0] == 4


PIL = pytest.importorskip("PIL.Image")


def make_png_folder(root):
    root.mkdir()
    for ci, cls in enumerate(["a", "b"]):
        (root / cls).mkdir()
        for i in range(6):
            h, w = 20 + 3 * i, 30 + 5 * ci
            px = (np.arange(h * w * 3).reshape(h, w, 3) * (7 + i + ci)) % 256
            PIL.fromarray(px.astype(np.uint8)).save(root / cls / f"{i}.png")
    return root


def test_info_preview_and_log_of_an_image_pipeline(tmp_path):
    folder = make_png_folder(tmp_path / "imgs")
    s = {"dataset.format": "folder", "dataset.images": str(folder),
         "output.height": 12, "output.width": 16, "batch.size": 2,
         "server.ring_slots": 4, "server.prefetch": 2}
    with mixupd.Daemon(s) as d:
        r = run([MIXUPCTL, "--endpoint", d.endpoint, "info"])
        assert r.returncode == 0, r.stderr
        assert "\nshape: 12x16x3\n" in r.stdout, r.stdout
        png = tmp_path / "p.png"
        r = run([MIXUPCTL, "--endpoint", d.endpoint, "preview", "--out",
                 str(png)])
        assert r.returncode == 0, r.stderr
        assert "2 tiles of 12x16x3" in r.stdout, r.stdout
        with PIL.open(png) as im:
            assert im.size[0] >= 16 and im.size[1] >= 12
        log = d.log()
    assert "0x0x3" not in log
    assert "batches of 2x12x16x3" in log
    assert "3-channel images of their own sizes" in log


def test_info_of_an_unmixed_pipeline_shows_no_mixing(own_daemon):
    d = own_daemon(**{"pipeline.val.batch.mix": "none",
                      "pipeline.val.batch.shuffle": "false"})
    r = run([MIXUPCTL, "--endpoint", d.endpoint, "--pipeline", "val",
             "info"])
    assert r.returncode == 0, r.stderr
    assert "\nalpha: 0\n" in r.stdout and "\nshuffle: 0\n" in r.stdout, \
        r.stdout
    r = run([MIXUPCTL, "--endpoint", d.endpoint, "info"])
    assert "\nalpha: 0.4\n" in r.stdout and "\nshuffle: 1\n" in r.stdout, \
        r.stdout


def test_cross_key_conflicts_are_refused_before_the_load(tmp_path):
    folder = make_png_folder(tmp_path / "imgs")
    images, labels = make_data()
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "y.npy", labels)
    base = [MIXUPD, "--no-config", "--set",
            f"server.endpoint=ipc://{tmp_path}/c.ipc", "--set",
            "output.height=8", "--set", "output.width=8"]
    for sets, want in (
            ([f"dataset.format=folder", f"dataset.images={folder}",
              "dataset.storage=decoded"], "dataset.storage = decoded"),
            ([f"dataset.format=npy", f"dataset.images={tmp_path}/x.npy",
              f"dataset.labels={tmp_path}/y.npy"],
             "arrays (dataset.format = npy)")):
        argv = base + [a for s in sets for a in ("--set", s)]
        for check in ([], ["--check"]):
            r = run(argv + check, env=env_without_config())
            assert r.returncode == 1, r.stderr
            assert "apply to image folders and lists" in r.stderr
            assert want in r.stderr and "output.height: --set" in r.stderr, \
                r.stderr
            assert "loading dataset" not in r.stderr, r.stderr


@pytest.fixture(scope="module")
def destdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("destdir")
    subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild",
                    "--destdir", str(d)], check=True,
                   stdout=subprocess.DEVNULL)
    return d


def test_installed_service_runs_as_its_group_and_holds_one_rule(destdir):
    prefix = os.path.join(str(destdir), "usr/local")
    sysusers = open(os.path.join(prefix, "lib/sysusers.d/mixupd.conf")).read()
    assert re.search(r"^u mixupd - ", sysusers, re.M)
    unit = open(os.path.join(prefix,
                             "lib/systemd/system/mixupd.service")).read()
    assert "\nUser=mixupd\n" in unit and "\nGroup=mixupd\n" in unit
    assert "\nDynamicUser=" not in unit
    conf = os.path.join(prefix, "etc/mixupd/mixupd.conf")
    r = run([MIXUPD, "--config", conf, "--print-config"],
            env=env_without_config())
    assert r.returncode == 0, r.stderr
    eff = r.stdout
    assert re.search(r"^ipc_group = mixupd$", eff, re.M)
    assert re.search(r"^shm_mode = 0640$", eff, re.M)
    assert re.search(r"^ipc_mode = 0660$", eff, re.M)
    # Every endpoint under the socket's permissions, or a token for all.
    eps = re.findall(r"^endpoint = (.*)$", eff, re.M)
    token = re.search(r"^auth_token_file = (.+)$", eff, re.M)
    assert eps == ["ipc:///run/mixupd/mixupd.ipc"] or token, eps


def test_installed_mixupctl_finds_libmixup_without_ldconfig(destdir):
    libdir = subprocess.run(
        ["meson", "introspect", BUILD, "--buildoptions"],
        capture_output=True, text=True, check=True).stdout
    import json
    opts = {o["name"]: o["value"] for o in json.loads(libdir)}
    want = os.path.join(opts["prefix"], opts["libdir"])
    ctl = os.path.join(str(destdir), "usr/local/bin/mixupctl")
    r = run(["readelf", "-d", ctl])
    assert r.returncode == 0, r.stderr
    m = re.search(r"\((?:RUNPATH|RPATH)\).*\[(.*)\]", r.stdout)
    assert m and want in m.group(1).split(":"), r.stdout


def test_stats_table_shows_each_pipeline_once(own_daemon):
    d = own_daemon(**{"pipeline.val.batch.mix": "none"})
    r = run([MIXUPCTL, "--endpoint", d.endpoint, "stats"])
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.count("\npipeline main\n") == 1, out
    assert out.count("\npipeline val\n") == 1, out
    # main's description is not printed a second time at the top level.
    assert "\ndataset\n" not in out and "\npipeline\n" not in out, out
    assert out.count("dataset.samples") == 2, out
    # The daemon-wide ring is said to be both pipelines' slots; each
    # pipeline shows its own server.ring_slots.
    assert re.search(r"\nring \(2 pipelines together\)\n  slots +32\n", out), out
    assert len(re.findall(r"\n  ring_slots +16\n", out)) == 2, out


def test_load_progress_on_a_terminal_and_to_systemd(tmp_path):
    import pty
    import select
    import signal
    import socket
    import time
    images, labels = make_data()
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "y.npy", labels)
    notify = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(notify))
    master, slave = pty.openpty()
    argv = [MIXUPD, "--no-config"] + [a for s in (
        "dataset.format=npy", f"dataset.images={tmp_path}/x.npy",
        f"dataset.labels={tmp_path}/y.npy",
        f"server.endpoint=ipc://{tmp_path}/d.ipc",
        f"server.name=lw{os.getpid()}", "batch.size=8")
        for a in ("--set", s)]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=slave,
                         env=env_without_config(NOTIFY_SOCKET=str(notify)))
    os.close(slave)
    msgs, tty = [], b""
    try:
        deadline = time.monotonic() + 60
        while not any(m.startswith("READY=1") for m in msgs):
            assert time.monotonic() < deadline, (msgs, tty)
            r, _, _ = select.select([sock, master], [], [], 1.0)
            if sock in r:
                msgs.append(sock.recv(4096).decode())
            if master in r:
                tty += os.read(master, 65536)
        # What the terminal got up to READY (the log lines included).
        while select.select([master], [], [], 0.2)[0]:
            try:
                tty += os.read(master, 65536)
            except OSError:
                break
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(30)
        os.close(master)
        sock.close()
    ready = next(i for i, m in enumerate(msgs) if m.startswith("READY=1"))
    loading = [m for m in msgs[:ready] if m.startswith("STATUS=loading "
                                                       "pipeline main (")]
    assert loading and f"{tmp_path}/x.npy" in loading[0], msgs
    text = tty.decode(errors="replace")
    assert re.search(r"\rloading pipeline main \(.*x\.npy\): [\d.]+ / "
                     r"[\d.]+ MB \(100%\)", text), text


def test_an_image_pack_serves_with_its_output_size(tmp_path):
    """The [output] keys are checked before the load from the format; a
    pack's kind (arrays or encoded images) is known only from its header,
    so a packed image folder started by the real daemon with an output
    size serves the folder's batches, byte for byte, shm and mapped."""
    folder = make_png_folder(tmp_path / "imgs")
    pack = tmp_path / "imgs.pack"
    common = {"output.height": 12, "output.width": 16, "batch.size": 2,
              "server.ring_slots": 4, "server.prefetch": 2}
    argv = [MIXUPD, "--no-config", "--set", "dataset.format=folder",
            "--set", f"dataset.images={folder}", "--pack", str(pack)]
    r = run(argv, env=env_without_config())
    assert r.returncode == 0, r.stderr
    ref = dict(common, **{"dataset.format": "folder",
                          "dataset.images": str(folder)})

    def batches(settings):
        with mixupd.Daemon(settings) as d:
            with mixupd.Client(d.endpoint, seed=3) as c:
                out = []
                for _ in range(4):
                    b = next(c)
                    out.append((np.array(b.x).tobytes(),
                                np.array(b.y).tobytes()))
                return out

    want = batches(ref)
    for storage in ("shm", "mapped"):
        got = batches(dict(common, **{"dataset.format": "pack",
                                      "dataset.images": str(pack),
                                      "dataset.storage": storage}))
        assert got == want, storage
