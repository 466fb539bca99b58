"""Image folders: a folder of JPEG and PNG files made from the
real photographs python3-sklearn ships, served with format = folder.

- the classes are the sorted subfolders, other files are skipped, class
  names are in stats;
- decoding + crop + antialiased bilinear resize against PIL (the same
  file, crop box from the provenance record, Image.resize BILINEAR):
  mean abs difference <= 1/255 and max <= 4/255 on the 0-255 scale;
- batches are byte-identical with 1 and 2 worker threads (the
  determinism contract), DCT scaling on;
- with storage = decoded the images are decoded once at load.
"""
import os

import numpy as np
import pytest

import mixupd
from conftest import mixupctl_stats as stats

PIL = pytest.importorskip("PIL.Image")
SK = "/usr/lib/python3/dist-packages/sklearn/datasets/images"
PHOTOS = [os.path.join(SK, n) for n in ("china.jpg", "flower.jpg")]
pytestmark = pytest.mark.skipif(not all(map(os.path.exists, PHOTOS)),
                                reason="python3-sklearn's photographs missing")


def make_folder(root):
    """Classes 'Dog' < 'bird' < 'cat' (byte order), mixed formats."""
    Image = PIL
    photos = [Image.open(p).convert("RGB") for p in PHOTOS]
    sizes = [(500, 375), (375, 500), (320, 240), (640, 427)]
    files = []
    for ci, cls in enumerate(["cat", "Dog", "bird"]):
        d = root / cls
        d.mkdir()
        for i in range(6):
            im = photos[(i + ci) % 2].resize(sizes[(i + ci) % 4],
                                             Image.BILINEAR)
            kind = (i + ci) % 6
            if kind == 0:
                name = f"a{i}.jpg"
                im.save(d / name, quality=90)
            elif kind == 1:
                name = f"b{i}.JPEG"
                im.save(d / name, quality=75, progressive=True)
            elif kind == 2:
                name = f"c{i}.png"
                im.save(d / name)
            elif kind == 3:
                name = f"d{i}.Png"
                im.convert("P", palette=Image.ADAPTIVE).save(d / name)
            elif kind == 4:
                name = f"e{i}.jpeg"
                im.convert("L").save(d / name, quality=85)
            else:
                name = f"f{i}.png"
                rgba = im.convert("RGBA")
                rgba.putalpha(128)
                rgba.save(d / name)
            files.append(cls)
        (d / "notes.txt").write_text("not an image\n")
    return root


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("imgs"))


def dataset_order(root):
    paths = []
    for cls in sorted(os.listdir(root)):
        d = os.path.join(root, cls)
        for f in sorted(os.listdir(d)):
            if f.lower().endswith((".jpg", ".jpeg", ".png")):
                paths.append(os.path.join(d, f))
    return paths


def settings(folder, **kw):
    s = {"dataset.format": "folder", "dataset.images": str(folder),
         "output.height": 64, "output.width": 80, "batch.size": 4,
         "server.ring_slots": 4, "server.prefetch": 2}
    s.update({k.replace("__", "."): v for k, v in kw.items()})
    return s


def batches(d, n, seed=3):
    out = []
    with mixupd.Client(d.endpoint, seed=seed) as c:
        for _ in range(n):
            b = next(c)
            out.append((np.array(b.x), np.array(b.index1),
                        np.array(b.index2), np.array(b.lam),
                        np.array(b.aug)))
    return out


def test_classes_sorted_and_named_in_stats(folder):
    with mixupd.Daemon(settings(folder)) as d:
        ds = stats(d)["pipelines"][0]["dataset"]
        assert ds["class_names"] == ["Dog", "bird", "cat"]
        assert ds["samples"] == 18
        assert ds["storage"] == "encoded"
        assert ds["decode_errors"] == 0
        log = d.log()
    assert "3 other files skipped" in log


def pil_crop(path, box, h, w):
    y, x, bh, bw = (int(v) for v in box)
    im = PIL.open(path).convert("RGB")
    im = im.crop((x, y, x + bw, y + bh)).resize((w, h), PIL.BILINEAR)
    return np.asarray(im, dtype=np.float64)


def test_random_resized_crop_matches_pil(folder):
    paths = dataset_order(folder)
    s = settings(folder, batch__mix="none", batch__shuffle="false",
                 batch__drop_last="false",
                 augment__random_resized_crop="0.08, 1",
                 augment__dct_scaling="false")
    diffs = []
    with mixupd.Daemon(s) as d:
        for x, i1, _, _, aug in batches(d, 4):
            for j in range(len(i1)):
                rec = aug[j, 0]
                assert rec["src_scale"] == 0
                ref = pil_crop(paths[i1[j]], rec["src_box"][0], 64, 80)
                got = x[j].astype(np.float64) * 255.0
                diffs.append((np.abs(got - ref).mean(),
                              np.abs(got - ref).max(), paths[i1[j]]))
    worst_mean = max(m for m, _, _ in diffs)
    worst_max = max(m for _, m, _ in diffs)
    assert worst_mean <= 1.0, diffs
    assert worst_max <= 4.0, diffs


def test_resize_and_center_crop_match_pil(folder):
    paths = dataset_order(folder)
    s = settings(folder, batch__mix="none", batch__shuffle="false",
                 augment__resize=96, augment__center_crop="true",
                 augment__dct_scaling="false")
    with mixupd.Daemon(s) as d:
        for x, i1, _, _, _ in batches(d, 2):
            for j in range(len(i1)):
                im = PIL.open(paths[i1[j]]).convert("RGB")
                w, h = im.size
                if w <= h:
                    size = (96, int(96 * h / w))
                else:
                    size = (int(96 * w / h), 96)
                im = im.resize(size, PIL.BILINEAR)
                top = int(round((size[1] - 64) / 2.0))
                left = int(round((size[0] - 80) / 2.0))
                ref = np.asarray(im.crop((left, top, left + 80, top + 64)),
                                 dtype=np.float64)
                got = x[j].astype(np.float64) * 255.0
                assert np.abs(got - ref).mean() <= 1.0
                assert np.abs(got - ref).max() <= 4.0


def test_batches_do_not_depend_on_worker_count(folder):
    got = []
    for workers in (1, 2):
        s = settings(folder, server__workers=workers,
                     augment__random_resized_crop="0.08, 1",
                     augment__flip_horizontal=0.5)
        with mixupd.Daemon(s) as d:
            got.append(batches(d, 6, seed=11))
    used_scale = False
    for a, b in zip(*got):
        for u, v in zip(a, b):
            assert u.tobytes() == v.tobytes()
        used_scale |= bool((a[4]["src_scale"] != 0).any())
    assert used_scale, "no sample was decoded with DCT scaling"


def test_gray_output_and_decoded_storage(folder):
    s = settings(folder, dataset__storage="decoded", dataset__height=24,
                 dataset__width=32, dataset__channels=1,
                 output__height=0, output__width=0)
    with mixupd.Daemon(s) as d:
        ds = stats(d)["pipelines"][0]["dataset"]
        assert ds["shape"] == [24, 32, 1]
        assert ds["samples"] == 18
        x = batches(d, 1)[0][0]
        assert x.shape == (4, 24, 32, 1)


def test_jpeg_decoding_equals_pil(tmp_path):
    """Decoding at scale 1 is PIL's (libjpeg-turbo, ISLOW IDCT, fancy
    upsampling): served decoded, unmixed and unshuffled, every pixel of
    every image equals Image.open(...).convert("RGB") exactly."""
    Image = PIL
    photos = [Image.open(p).convert("RGB") for p in PHOTOS]
    paths = []
    d = tmp_path / "jpegs" / "only"
    d.mkdir(parents=True)
    for i in range(8):
        im = photos[i % 2].resize((96, 64), Image.BILINEAR)
        p = d / f"{i}.jpg"
        if i % 4 == 1:
            im.save(p, quality=80, progressive=True)
        elif i % 4 == 2:
            im.convert("L").save(p, quality=90)
        elif i % 4 == 3:
            im.save(p, quality=95, subsampling=0)   # 4:4:4
        else:
            im.save(p, quality=75)                  # 4:2:0
        paths.append(p)
    s = {"dataset.format": "folder", "dataset.images": str(tmp_path / "jpegs"),
         "dataset.storage": "decoded", "batch.size": 4, "batch.mix": "none",
         "batch.pairing": "within", "batch.shuffle": "false",
         "server.ring_slots": 4,
         "server.prefetch": 2}
    with mixupd.Daemon(s) as dmn:
        with mixupd.Client(dmn.endpoint, seed=1) as c:
            seen = set()
            for _ in range(2):
                b = next(c)
                assert b.x.shape == (4, 64, 96, 3)
                for j in range(4):
                    assert b.lam[j] == 1.0
                    want = np.asarray(Image.open(paths[b.index1[j]])
                                      .convert("RGB"))
                    got = np.rint(b.x[j] * 255).astype(np.uint8)
                    assert np.array_equal(got, want), \
                        f"{paths[b.index1[j]].name} differs from PIL"
                    seen.add(int(b.index1[j]))
    assert seen == set(range(8))


def _tv_rrc(rng, h, w, scale, ratio):
    """torchvision's RandomResizedCrop.get_params, with numpy's RNG."""
    area = h * w
    lr = np.log(ratio)
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        ar = np.exp(rng.uniform(lr[0], lr[1]))
        cw = int(round(np.sqrt(target * ar)))
        ch = int(round(np.sqrt(target / ar)))
        if 0 < cw <= w and 0 < ch <= h:
            return ch, cw, False
    in_ratio = w / h
    if in_ratio < min(ratio):
        cw, ch = w, int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        ch, cw = h, int(round(h * max(ratio)))
    else:
        cw, ch = w, h
    return ch, cw, True


def _ks(a, b):
    """Two-sample Kolmogorov-Smirnov statistic."""
    a, b = np.sort(a), np.sort(b)
    v = np.concatenate([a, b])
    return np.max(np.abs(np.searchsorted(a, v, "right") / len(a) -
                         np.searchsorted(b, v, "right") / len(b)))


@pytest.mark.parametrize("size, scale, ratio", [
    ((150, 200), (0.08, 1.0), (3 / 4, 4 / 3)),   # ImageNet's defaults
    ((100, 100), (0.6, 1.0), (1.5, 3.0)),        # many fall back
])
def test_random_resized_crop_boxes_follow_torchvision(tmp_path, size, scale,
                                                      ratio):
    """The boxes' area fractions and aspects are distributed as
    torchvision draws them (two-sample KS at the 0.1% level against its
    algorithm run here with numpy's generator), and the central fallback
    comes as often (within 4 standard deviations)."""
    Image = PIL
    h, w = size
    d = tmp_path / "rrc" / "only"
    d.mkdir(parents=True)
    photo = Image.open(PHOTOS[0]).convert("RGB").resize((w, h))
    photo.save(d / "0.png")
    for i in range(1, 100):  # a batch of distinct samples (the same bytes)
        os.link(d / "0.png", d / f"{i}.png")
    s = {"dataset.format": "folder", "dataset.images": str(tmp_path / "rrc"),
         "batch.size": 100, "batch.mix": "none", "batch.pairing": "within",
         "augment.random_resized_crop": f"{scale[0]}, {scale[1]}",
         "augment.rrc_ratio": f"{ratio[0]}, {ratio[1]}",
         "output.height": 8, "output.width": 8, "server.ring_slots": 4,
         "server.prefetch": 2}
    boxes = []
    with mixupd.Daemon(s) as dmn:
        with mixupd.Client(dmn.endpoint, seed=11) as c:
            for _ in range(25):  # 2500 samples
                b = next(c)
                boxes.append(np.array(b.aug["src_box"][:, 0, 0, :]))
    boxes = np.concatenate(boxes).astype(np.float64)  # y, x, h, w
    assert np.all(boxes[:, 0] + boxes[:, 2] <= h)
    assert np.all(boxes[:, 1] + boxes[:, 3] <= w)
    rng = np.random.default_rng(5)
    ref = np.array([_tv_rrc(rng, h, w, scale, ratio) for _ in range(20000)],
                   dtype=np.float64)
    frac = boxes[:, 2] * boxes[:, 3] / (h * w)
    aspect = np.log(boxes[:, 3] / boxes[:, 2])
    ref_frac = ref[:, 0] * ref[:, 1] / (h * w)
    ref_aspect = np.log(ref[:, 1] / ref[:, 0])
    n, m = len(frac), len(ref)
    crit = 1.949 * np.sqrt((n + m) / (n * m))   # alpha = 0.001
    assert _ks(frac, ref_frac) < crit, "area fractions"
    assert _ks(aspect, ref_aspect) < crit, "aspect ratios"
    # The fallback is the central box of the clamped aspect.
    fb_h, fb_w, _ = _tv_rrc(np.random.default_rng(0), h, w, (9, 9), ratio)
    fell = np.mean((boxes[:, 2] == fb_h) & (boxes[:, 3] == fb_w) &
                   (boxes[:, 0] == (h - fb_h) // 2) &
                   (boxes[:, 1] == (w - fb_w) // 2))
    p = np.mean(ref[:, 2])
    assert abs(fell - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1e-9, (fell, p)


def test_folder_order_is_torchvision_image_folders(tmp_path):
    """Classes and samples in torchvision ImageFolder's order, nested
    folders included (sorted(os.walk(class folder)), files sorted): each
    image a solid grey of its own, served unmixed and unshuffled."""
    datasets = pytest.importorskip("torchvision.datasets")
    Image = PIL
    root = tmp_path / "tree"
    layout = ["cat/z.png", "cat/a.png", "cat/sub/b.png", "cat/sub b/c.png",
              "cat/sub/deeper/d.png", "cat/a_dir/e.PNG", "Dog/x.png",
              "Dog/inner/y.png"]
    grey = {}
    for i, rel in enumerate(layout):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (8, 8), color=10 + 20 * i).save(p)
        grey[str(p)] = 10 + 20 * i
    ref = datasets.ImageFolder(str(root))
    want = [(grey[path], label) for path, label in ref.samples]
    s = {"dataset.format": "folder", "dataset.images": str(root),
         "dataset.storage": "decoded", "dataset.channels": 1,
         "batch.size": len(layout), "batch.mix": "none",
         "batch.pairing": "within", "batch.shuffle": "false",
         "server.ring_slots": 2, "server.prefetch": 1}
    with mixupd.Daemon(s) as d:
        with mixupd.Client(d.endpoint, seed=1) as c:
            b = next(c)
    got = [(int(np.rint(b.x[j, 0, 0, 0] * 255)), int(np.argmax(b.y[j])))
           for j in np.argsort(b.index1)]
    assert got == want


def test_check_describes_a_folder(folder, tmp_path):
    """`mixupd --check` on a folder says what it found: files by format,
    sizes, bytes, samples per class."""
    import subprocess
    argv = [mixupd.find_binary("mixupd"), "--check",
            "--set", f"server.endpoint=ipc://{tmp_path}/c.ipc",
            "--set", "server.name=chk" + str(os.getpid())]
    for k, v in settings(folder).items():
        if k.startswith(("dataset.", "output.", "augment.", "batch.")):
            argv += ["--set", f"{k}={v}"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "pipeline main: 18 samples of" in out, out
    assert "18 files: 9 JPEG (0 CMYK), 9 PNG;" in out, out
    assert "sizes 240x320 to 500x640 (h x w)" in out, out
    assert "3 classes, samples per class: Dog 6, bird 6, cat 6" in out, out
    assert "configuration and dataset are valid" in out


def test_dataset_digest_follows_the_images_not_their_paths(folder, tmp_path):
    """Two daemons on copies of a folder under other roots are
    interchangeable (same dataset digest); one changed file is not."""
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    digests = []
    for root in (folder, copy):
        with mixupd.Daemon(settings(root)) as d:
            digests.append(mixupd.daemon_info(d.endpoint).dataset_digest)
    assert digests[0] == digests[1] != 0
    victim = sorted((copy / "cat").iterdir())[0]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 1        # still decodes: one coefficient off
    victim.write_bytes(bytes(data))
    with mixupd.Daemon(settings(copy, dataset__on_bad_file="skip")) as d:
        assert mixupd.daemon_info(d.endpoint).dataset_digest != digests[0]


def test_verify_full_decodes_every_file_at_load(folder, tmp_path):
    """A JPEG damaged inside its image data passes the header check, and
    verify = full finds it: an error naming the file, or with
    on_bad_file = skip one sample fewer."""
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    victim = next(p for p in sorted((copy / "cat").iterdir())
                  if p.suffix.lower() in (".jpg", ".jpeg"))
    data = bytearray(victim.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 64] = b"\xff\xd0" * 32   # restart markers where data was
    victim.write_bytes(bytes(data))
    with mixupd.Daemon(settings(copy)) as d:     # verify = header (default)
        assert mixupd.daemon_info(d.endpoint).samples == 18
    with pytest.raises(RuntimeError, match=victim.name):
        with mixupd.Daemon(settings(copy, dataset__verify="full")):
            pass
    with mixupd.Daemon(settings(copy, dataset__verify="full",
                                dataset__on_bad_file="skip")) as d:
        assert mixupd.daemon_info(d.endpoint).samples == 17


def test_mixed_batches_rebuilt_from_the_files_and_their_provenance(folder):
    """Whole mixup batches (random-resized-crop, flip, shuffled) rebuilt
    from the files alone with PIL, using each sample's provenance (the two
    source images, their crop boxes, lambda, the flip): within the
    resampler's tolerance of PIL's."""
    paths = dataset_order(folder)
    s = settings(folder, augment__random_resized_crop="0.08, 1",
                 augment__flip_horizontal=0.5, augment__dct_scaling="false")
    worst_mean = worst_max = 0.0
    flipped = mixed = 0
    with mixupd.Daemon(s) as d:
        for x, i1, i2, lam, aug in batches(d, 4, seed=21):
            for j in range(len(i1)):
                rec = aug[j, 0]
                a = pil_crop(paths[i1[j]], rec["src_box"][0], 64, 80)
                b = pil_crop(paths[i2[j]], rec["src_box"][1], 64, 80)
                ref = np.float64(lam[j]) * a + (1.0 - np.float64(lam[j])) * b
                if rec["flip"] & 1:
                    ref = ref[:, ::-1]
                    flipped += 1
                mixed += 0.05 < lam[j] < 0.95
                diff = np.abs(x[j].astype(np.float64) * 255.0 - ref)
                worst_mean = max(worst_mean, diff.mean())
                worst_max = max(worst_max, diff.max())
    assert flipped > 0 and mixed > 0, (flipped, mixed)
    assert worst_mean <= 1.0, worst_mean
    assert worst_max <= 4.0, worst_max


def test_parallel_loading_packs_the_same_bytes(folder, tmp_path):
    """Files are read by as many threads as workers, then judged and packed
    in file order: 1 and 2 threads give the same dataset (digest), with a
    bad file skipped in the middle."""
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    victim = sorted((copy / "bird").iterdir())[2]
    victim.write_bytes(victim.read_bytes()[:40])   # truncated: bad
    got = []
    for workers in (1, 2):
        s = settings(copy, dataset__on_bad_file="skip",
                     server__workers=workers)
        with mixupd.Daemon(s) as d:
            info = mixupd.daemon_info(d.endpoint)
            got.append((info.samples, info.dataset_digest,
                        batches(d, 2, seed=4)))
    assert got[0][0] == got[1][0] == 17
    assert got[0][1] == got[1][1]
    for u, v in zip(got[0][2], got[1][2]):
        for a, b in zip(u, v):
            assert a.tobytes() == b.tobytes()


def test_mixupctl_info_names_the_classes(folder):
    import subprocess
    with mixupd.Daemon(settings(folder)) as d:
        r = subprocess.run([mixupd.find_binary("mixupctl"), "--endpoint",
                            d.endpoint, "info"], capture_output=True,
                           text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "class_names: Dog, bird, cat\n" in r.stdout, r.stdout


def test_a_missing_path_in_a_list_and_a_1x1_image(tmp_path):
    """A list naming a file that is not there: an error naming it (or,
    on_bad_file = skip, one sample fewer); a 1x1 image is served, scaled
    up to the output size."""
    Image = PIL
    d = tmp_path / "l"
    d.mkdir()
    for i in range(4):
        Image.new("RGB", (1, 1) if i == 0 else (20, 10),
                  color=(200, 100, 50) if i == 0 else (40 * i, 0, 0)
                  ).save(d / f"{i}.png")
    (d / "list.txt").write_text("0.png 0\n1.png 1\n# a comment\n\n"
                                "gone.png 1\n2.png 0\n3.png 1\n")
    s = {"dataset.format": "list", "dataset.images": str(d / "list.txt"),
         "output.height": 8, "output.width": 8, "batch.size": 2,
         "batch.mix": "none", "batch.pairing": "within",
         "batch.shuffle": "false", "server.ring_slots": 2,
         "server.prefetch": 1}
    with pytest.raises(RuntimeError, match="gone.png"):
        with mixupd.Daemon(s):
            pass
    s["dataset.on_bad_file"] = "skip"
    with mixupd.Daemon(s) as dmn:
        assert mixupd.daemon_info(dmn.endpoint).samples == 4
        with mixupd.Client(dmn.endpoint, seed=1) as c:
            b = next(c)
    j = list(b.index1).index(0)               # the 1x1 image, everywhere
    assert np.allclose(b.x[j] * 255, [200, 100, 50], atol=0.01)
    assert b.x.shape == (2, 8, 8, 3)
