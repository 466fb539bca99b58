"""The daemon's output options: float16/bfloat16, NCHW, label pairs and
augmentation provenance, equal to what mixupctl dump writes."""
import numpy as np
import pytest

import mixupd
from conftest import B, C, H, W, mixupctl_dump

AUG_FILES = ["mix_kind", "flip", "shift", "crop", "erase_box", "erase_fill",
             "erase_value", "erase_seed", "cutmix_box"]


def aug_as_dumped(aug):
    """The dump's per-field arrays, from the batch's AUG_DTYPE records."""
    a = aug if aug.shape[1] == 2 else aug[:, 0]
    return {
        "mix_kind": a["mix_kind"], "flip": a["flip"],
        "shift": np.stack([a["shift_dy"], a["shift_dx"]], -1),
        "crop": np.stack([a["crop_y"], a["crop_x"]], -1),
        "erase_box": np.stack([a["erase_y"], a["erase_x"], a["erase_h"],
                               a["erase_w"]], -1),
        "erase_fill": a["erase_fill"], "erase_value": a["erase_value"],
        "erase_seed": a["erase_noise_seed"],
        "cutmix_box": np.stack([a["cutmix_y0"], a["cutmix_y1"],
                                a["cutmix_x0"], a["cutmix_x1"]], -1),
    }


def load(dirname, names):
    return {n: np.load(dirname / (n + ".npy")) for n in names}


def same(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("settings, dtype, layout, pairs, per", [
    ({"output.dtype": "float16", "output.layout": "NCHW",
      "batch.labels": "pairs", "augment.order": "before_mix",
      "augment.flip_horizontal": 0.5, "augment.erase_prob": 0.5},
     "float16", "NCHW", True, 2),
    ({"output.dtype": "bfloat16", "augment.flip_horizontal": 0.5,
      "augment.width_shift_range": 2, "batch.mix": "cutmix",
      "batch.cutmix_alpha": 1.0},
     "bfloat16", "NHWC", False, 1),
])
def test_every_field_equals_mixupctl_dump(own_daemon, tmp_path, settings,
                                          dtype, layout, pairs, per):
    d = own_daemon(**{k.replace(".", "__"): v for k, v in settings.items()})
    with mixupd.Client(d.endpoint, seed=17) as c:
        got = [c.next() for _ in range(3)]
    b = got[0]
    assert (b.dtype, b.layout) == (dtype, layout)
    assert b.x.shape == ((B, H, W, C) if layout == "NHWC" else (B, C, H, W))
    assert b.x.dtype == {"float16": np.float16, "bfloat16": np.uint16}[dtype]
    assert (b.y is None) == pairs and (b.label1 is not None) == pairs
    assert b.aug.shape == (B, per) and b.aug.dtype == mixupd.AUG_DTYPE
    out = tmp_path / "d"
    want = mixupctl_dump(d.endpoint, 3, out, "--seed", 17)
    same(np.concatenate([g.x for g in got]), np.load(out / "x.npy"))
    for name in ("index1", "index2", "lam"):
        same(np.concatenate([getattr(g, name) for g in got]), want[name])
    if pairs:
        extra = load(out, ["label1", "label2"])
        for name in extra:
            same(np.concatenate([getattr(g, name) for g in got]),
                 extra[name])
        assert b.labels[2] is b.lam
    else:
        same(np.concatenate([g.y for g in got]), want["y"])
    dumped = load(out, AUG_FILES)
    ours = [aug_as_dumped(g.aug) for g in got]
    for name in AUG_FILES:
        same(np.concatenate([o[name] for o in ours]), dumped[name])
    assert b.aug["flip"].any() or got[1].aug["flip"].any()


def test_torch_tensors_of_each_dtype(own_daemon):
    torch = pytest.importorskip("torch")
    import mixupd.torch as mt
    for dtype, tdtype in (("float16", torch.float16),
                          ("bfloat16", torch.bfloat16)):
        d = own_daemon(output__dtype=dtype, output__layout="NCHW",
                       batch__labels="pairs")
        with mixupd.Client(d.endpoint, seed=3) as c:
            b = c.next()
        x, (l1, l2, lam) = mt.tensors(b)
        assert x.dtype == tdtype and tuple(x.shape) == (B, C, H, W)
        assert x.view(torch.int16).numpy().tobytes() == b.x.tobytes()
        assert x.data_ptr() == b.x.ctypes.data          # no copy
        assert l1.dtype == torch.int64 and (l1.numpy() == b.label1).all()
        x2, _ = mt.tensors(b, channels_first=False)
        assert tuple(x2.shape) == (B, H, W, C)
        assert x2.is_contiguous()        # the other layout: a copy in it
        assert torch.equal(x2, x.permute(0, 2, 3, 1))
        if dtype == "bfloat16":   # the top half of the float32 value
            f = x.float().numpy()
            assert np.all(np.abs(f) <= 1.0001)
        d.cleanup()
