"""Striping one stream over two daemons: Client(spread=True)
and `mixupctl --spread dump` give the bytes one daemon gives, for
independent and sharded streams, and report the daemons' digests."""
import pytest

import mixupd
from conftest import BPE, assert_same_bytes, mixupctl_dump, stack


@pytest.fixture(scope="module")
def two(request):
    from conftest import start_daemon
    ds = [start_daemon(server__workers=1), start_daemon(server__workers=1)]
    yield ds
    for d in ds:
        assert d.stop() == 0, d.log()
        d.cleanup()


@pytest.mark.parametrize("kw", [
    {"seed": 4},
    {"mode": "sharded", "job": "pj", "rank": 1, "world": 2},
])
def test_spread_gives_one_daemon_s_bytes(two, tmp_path, kw):
    n = BPE + 3  # across an epoch's end
    with mixupd.Client(two[0].endpoint, zero_copy=False, **kw) as c:
        want = [c.next() for _ in range(n)]
    with mixupd.Client([d.endpoint for d in two], spread=True,
                       zero_copy=False, **kw) as c:
        assert c.spread
        got = [c.next() for _ in range(n)]
        assert [b.position for b in got] == [b.position for b in want]
    assert_same_bytes(stack(got), stack(want))
    args = ["--endpoint", two[1].endpoint, "--spread"]
    if "seed" in kw:
        args += ["--seed", kw["seed"]]
    else:
        args += ["--mode", "sharded", "--job", "pj2", "--rank", "1",
                 "--world", "2"]
    dumped = mixupctl_dump(two[0].endpoint, n, tmp_path / "d", *args)
    assert_same_bytes(dumped, stack(want))


def test_digests_agree_and_shared_streams_are_refused(two):
    a, b = (mixupd.daemon_info(d.endpoint) for d in two)
    assert len(a.dataset_digest) == 16 and len(a.settings_digest) == 16
    assert (a.dataset_digest, a.settings_digest) == \
        (b.dataset_digest, b.settings_digest)
    with pytest.raises(mixupd.errors.ModeError, match="shared stream"):
        mixupd.Client([d.endpoint for d in two], spread=True, mode="shared",
                      job="s")
