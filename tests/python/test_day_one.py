"""A user's first day: the installed package imports, the unit
and the configuration agree, one default endpoint and timeout everywhere,
Daemon.from_arrays converts and leaves nothing behind."""
import glob
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import mixupd
import mixupd._lib
from conftest import BUILD, ROOT, B, make_data

PY = "/usr/bin/python3"
MIXUPD = os.path.join(BUILD, "server", "mixupd")
MIXUPCTL = os.path.join(BUILD, "client", "mixupctl")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "MIXUPD_LIBRARY", "MIXUPD_BIN",
                        "MIXUPCTL_BIN", "MIXUPD_ENDPOINT", "MIXUPD_CONFIG")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def destdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("destdir")
    subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild",
                    "--destdir", str(d)], check=True,
                   stdout=subprocess.DEVNULL)
    return d


def test_meson_install_puts_the_package_where_python3_finds_it(destdir):
    ver = "%d.%d" % sys.version_info[:2]
    site = f"/usr/local/lib/python{ver}/dist-packages"
    # Debian's python3 looks there for the /usr/local prefix ...
    out = subprocess.run([PY, "-c", "import sys; print(sys.path)"],
                         env=clean_env(), capture_output=True, text=True)
    assert site in out.stdout
    pkg = os.path.join(str(destdir) + site, "mixupd")
    assert os.path.exists(os.path.join(pkg, "__init__.py"))
    assert os.path.exists(os.path.join(pkg, "py.typed"))
    # ... and imports the staged copy as it would the installed one, the
    # package finding the staged libmixup through what meson recorded.
    code = ("import mixupd, mixupd._lib as l; print(mixupd.__file__); "
            "print(l.path); print(mixupd.DEFAULT_TIMEOUT)")
    r = subprocess.run([PY, "-c", code], capture_output=True, text=True,
                       env=clean_env(PYTHONPATH=str(destdir) + site),
                       cwd="/")
    assert r.returncode == 0, r.stderr
    file_, lib, timeout = r.stdout.split()
    assert file_.startswith(str(destdir) + site)
    assert os.path.realpath(lib).startswith(str(destdir) + "/usr/local/lib/")
    assert float(timeout) == 30.0


def test_unit_and_config_agree(destdir):
    unit = open(os.path.join(
        destdir, "usr/local/lib/systemd/system/mixupd.service")).read()
    assert "ExecStart=/usr/local/sbin/mixupd --config " \
           "/usr/local/etc/mixupd/mixupd.conf\n" in unit
    assert os.access(os.path.join(destdir, "usr/local/sbin/mixupd"), os.X_OK)
    conf = os.path.join(destdir, "usr/local/etc/mixupd/mixupd.conf")
    text = open(conf).read()
    assert re.search(r"^endpoint = ipc:///run/mixupd/mixupd\.ipc$", text,
                     re.M)
    assert "\nRuntimeDirectory=mixupd\n" in unit
    assert "@" + "CONFIG@" not in unit and "@" + "MIXUPD@" not in unit
    # mixupd's own default is that file too.
    out = subprocess.run([MIXUPD, "--help"], capture_output=True,
                         text=True).stdout
    assert "/usr/local/etc/mixupd/mixupd.conf" in out


def test_prefix_usr_uses_etc_and_the_system_site(tmp_path):
    b = tmp_path / "b"
    subprocess.run(["meson", "setup", "--prefix=/usr", str(b), ROOT],
                   check=True, stdout=subprocess.DEVNULL)
    unit = (b / "mixupd.service").read_text()
    assert "ExecStart=/usr/sbin/mixupd --config /etc/mixupd/mixupd.conf\n" \
        in unit
    r = subprocess.run(["meson", "introspect", str(b), "--installed"],
                       capture_output=True, text=True, check=True)
    assert "/usr/lib/python3/dist-packages/mixupd/__init__.py" in r.stdout
    assert "/etc/mixupd/mixupd.conf" in r.stdout


def test_mixupd_says_which_config_it_read_or_that_there_is_none(tmp_path):
    conf = tmp_path / "m.conf"
    conf.write_text("[server]\nring_slots = 2\n")   # prefetch follows
    for env, want in ((str(conf), f"configuration: {conf}"),
                      (str(tmp_path / "none.conf"),
                       f"configuration: built-in defaults (no --config "
                       f"given, and {tmp_path}/none.conf does not exist)")):
        r = subprocess.run([MIXUPD, "--check"], capture_output=True,
                           text=True, env=clean_env(MIXUPD_CONFIG=env),
                           timeout=120)
        assert r.returncode == 0, r.stderr
        assert want in r.stderr


def test_one_default_timeout_everywhere():
    header = open(os.path.join(ROOT, "client", "lib", "mixup.h")).read()
    ms = int(re.search(r"#define MIXUP_DEFAULT_TIMEOUT_MS (\d+)",
                       header).group(1))
    assert mixupd._lib.DEFAULT_TIMEOUT_MS == ms
    assert mixupd.DEFAULT_TIMEOUT == ms / 1000
    import inspect
    sig = inspect.signature(mixupd.Client)
    assert sig.parameters["timeout"].default == ms / 1000
    assert sig.parameters["connect_timeout"].default == ms / 1000
    out = subprocess.run([MIXUPCTL, "help"], capture_output=True,
                         text=True).stdout
    assert f"--timeout MS     per request, default {ms}" in out


def test_client_without_endpoint_uses_mixupctl_default(daemon, monkeypatch):
    monkeypatch.setenv("MIXUPD_ENDPOINT", daemon.endpoint)
    assert mixupd.default_endpoint() == daemon.endpoint
    with mixupd.Client() as c:
        assert c.endpoints == [daemon.endpoint]
        assert c.next().x.shape[0] == B
    monkeypatch.delenv("MIXUPD_ENDPOINT")
    want = ("ipc:///run/mixupd/mixupd.ipc"
            if os.path.exists("/run/mixupd/mixupd.ipc")
            else "ipc:///tmp/mixupd.ipc")
    assert mixupd.default_endpoint() == want
    out = subprocess.run([MIXUPCTL, "help"], capture_output=True, text=True,
                         env=clean_env()).stdout
    assert f"(now: {want})" in out


def test_missing_ipc_socket_is_reported_at_once(tmp_path):
    path = tmp_path / "nobody.ipc"
    with pytest.raises(mixupd.EndpointError) as e:
        mixupd.Client(f"ipc://{path}", connect_timeout=60)
    assert str(path) in str(e.value) and "no such socket file" in str(e.value)


def test_from_arrays_converts_float64_and_leaves_nothing(monkeypatch,
                                                        tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    images, labels = make_data()
    x64 = images.astype(np.float64) / 255
    with mixupd.Daemon.from_arrays(x64, labels, {"batch.size": B,
                                                 "batch.alpha": 0}) as d:
        stored = np.load(os.path.join(d.workdir, "images.npy"))
        assert stored.dtype == np.float32
        with mixupd.Client(d.endpoint, seed=1) as c:
            b = c.next()
            j = b.index1[0]
            assert np.allclose(b.x[0], x64[j], atol=1e-6)
    assert os.listdir(tmp_path) == []
    with pytest.raises(ValueError, match="astype"):
        mixupd.Daemon.from_arrays(images.astype(np.int16), labels)
    # A daemon that fails to start: its error, and no copies left.
    with pytest.raises(RuntimeError, match="batch.size"):
        mixupd.Daemon.from_arrays(images, labels, {"batch.size": 100000})
    assert os.listdir(tmp_path) == []
    assert not glob.glob(str(tmp_path / "*"))
