#!/bin/bash
# compare_dumps.sh — are the batches byte for byte the same as those of
# another revision? Builds REV (mixupd and mixupctl only) in a temporary
# git worktree, then for every dataset format (npy uint8 and float32,
# idx, cifar, an image folder encoded and decoded, a list) and every mode
# (mixup, per-batch lambda, cutmix, no mix, augmentations) serves the same
# dataset with REV's daemon and with the build at hand, dumps the same
# batches with each side's mixupctl dump, and compares the files with cmp.
# It also compares the dataset and settings digests that `mixupctl info`
# prints. Not part of `meson test` (it builds a second tree).
#
#   bench/compare_dumps.sh [REV [BUILD_DIR]]
#
# REV defaults to the last commit before the tree was laid out by stage
# ("Remove dead code: cl_ring_held ..."); BUILD_DIR to ./build (built).
# Prints one line per case and "dumps: N identical, M different"; exits 1
# when any case differs or fails.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
rev=${1:-$(git -C "$root" log --format=%H -1 --grep='^Remove dead code: cl_ring_held' 2>/dev/null)}
rev=${rev:-67a6d16}
build=${2:-$root/build}
build=$(cd "$build" && pwd) || exit 2
PYTHON=${PYTHON:-/usr/bin/python3}
BATCHES=${BATCHES:-3}

new_d=$build/server/mixupd
new_c=$build/client/mixupctl
for f in "$new_d" "$new_c"; do
    [ -x "$f" ] || { echo "$f is missing: build first (meson compile -C $build)" >&2; exit 2; }
done

T=$(mktemp -d "${TMPDIR:-/tmp}/mixupd-cmp.XXXXXX")
daemon=
cleanup() {
    [ -n "$daemon" ] && kill -KILL "$daemon" 2>/dev/null
    git -C "$root" worktree remove --force "$T/old" >/dev/null 2>&1
    rm -rf "$T"
}
trap cleanup EXIT

echo "building $(git -C "$root" log --oneline -1 "$rev") in $T/old"
git -C "$root" worktree add --detach "$T/old" "$rev" >/dev/null 2>&1 ||
    { echo "git worktree add $rev failed" >&2; exit 2; }
(cd "$T/old" && meson setup build -Dtests=disabled >"$T/old-setup.log" 2>&1 &&
    meson compile -C build mixupd mixupctl >"$T/old-build.log" 2>&1) ||
    { echo "building $rev failed: see the log" >&2; tail -20 "$T/old-build.log" "$T/old-setup.log" >&2; exit 2; }
old_d=$T/old/build/server/mixupd
old_c=$T/old/build/client/mixupctl

# The datasets, written once: both daemons read the same files.
mkdir -p "$T/data"
"$PYTHON" - "$T/data" <<'EOF' || exit 2
import gzip, os, struct, sys
import numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(7)
n, h, w = 48, 8, 8
np.save(f"{d}/u8.npy", rng.integers(0, 256, (n, h, w, 3), dtype=np.uint8))
np.save(f"{d}/f32.npy", rng.random((n, h, w, 1), dtype=np.float32))
np.save(f"{d}/labels.npy", (np.arange(n) % 5).astype(np.int64))
img = rng.integers(0, 256, (n, h, w), dtype=np.uint8)
with gzip.open(f"{d}/images.idx.gz", "wb") as f:
    f.write(struct.pack(">IIII", 2051, n, h, w) + img.tobytes())
with open(f"{d}/labels.idx", "wb") as f:
    f.write(struct.pack(">II", 2049, n) + bytes(i % 4 for i in range(n)))
with open(f"{d}/cifar.bin", "wb") as f:
    for i in range(n):
        f.write(bytes([i % 10]) + rng.integers(0, 256, 3072, dtype=np.uint8).tobytes())
lines = []
for c, cls in enumerate(["cat", "dog", "eel"]):
    os.makedirs(f"{d}/folder/{cls}")
    for i in range(8):
        hh, ww = 12 + (i * 5) % 9, 10 + (i * 3) % 11
        a = rng.integers(0, 256, (hh, ww, 3), dtype=np.uint8)
        name = f"{cls}/{i:02d}." + ("jpg" if i % 2 else "png")
        Image.fromarray(a).save(f"{d}/folder/{name}", quality=90)
        lines.append(f"folder/{name} {c}")
with open(f"{d}/list.txt", "w") as f:
    f.write("\n".join(reversed(lines)) + "\n")
EOF

# dataset_<name>: the [dataset] lines (and what the format needs).
D=$T/data
dataset_npy_u8="format = npy
images = $D/u8.npy
labels = $D/labels.npy"
dataset_npy_f32="format = npy
images = $D/f32.npy
labels = $D/labels.npy"
dataset_idx="format = idx
images = $D/images.idx.gz
labels = $D/labels.idx"
dataset_cifar="format = cifar
images = $D/cifar.bin"
dataset_folder="format = folder
images = $D/folder
[output]
height = 16
width = 16"
dataset_folder_decoded="format = folder
images = $D/folder
storage = decoded
height = 16
width = 16"
dataset_list="format = list
images = $D/list.txt
[augment]
random_resized_crop = 0.3, 1
[output]
height = 12
width = 12"

# mode_<name>: the [batch] and [augment] lines.
mode_mixup="[batch]
alpha = 0.4"
mode_batch_lambda="[batch]
alpha = 0.4
mix = mixup_batch"
mode_cutmix="[batch]
mix = cutmix
cutmix_alpha = 1"
mode_none="[batch]
mix = none
labels = pairs"
mode_augment="[batch]
alpha = 0.2
label_smoothing = 0.1
[augment]
flip_horizontal = 0.5
width_shift_range = 0.2
height_shift_range = 0.1
crop_padding = 2
erase_prob = 0.5
erase_fill = normal"

# serve BIN CONF LOG: start a daemon, wait until it answers (CTL pings).
serve() {
    "$1" --config "$2" >"$3" 2>&1 &
    daemon=$!
    local end=$(( $(date +%s) + 60 ))
    until "$4" --endpoint "$5" --timeout 200 ping >/dev/null 2>&1; do
        if ! kill -0 "$daemon" 2>/dev/null || [ "$(date +%s)" -ge "$end" ]; then
            echo "daemon did not start: $(tail -3 "$3")" >&2; return 1
        fi
        sleep 0.1
    done
}
stop() {
    kill -TERM "$daemon" 2>/dev/null
    wait "$daemon" 2>/dev/null
    daemon=
}

same=0 differ=0 n=0
for ds in npy_u8 npy_f32 idx cifar folder folder_decoded list; do
    for mode in mixup batch_lambda cutmix none augment; do
        n=$((n + 1))
        dsv=dataset_$ds modev=mode_$mode
        for side in old new; do
            if [ $side = old ]; then d=$old_d c=$old_c; else d=$new_d c=$new_c; fi
            conf=$T/$ds.$mode.$side.conf
            ep=ipc://$T/s$n.$side.ipc
            { echo "[server]"; echo "name = cmp$$s$n$side"; echo "workers = 2"
              echo "endpoint = $ep"; echo "ring_slots = 4"; echo "prefetch = 2"
              echo "[batch]"; echo "size = 4"; echo "seed = 11"
              echo "[dataset]"; echo "${!dsv}"; echo "${!modev}"; } > "$conf"
            out=$T/out.$ds.$mode.$side
            if serve "$d" "$conf" "$out.log" "$c" "$ep"; then
                "$c" --endpoint "$ep" --seed 5 --start 1:0 dump --batches "$BATCHES" \
                    --out "$out" >"$out.dump" 2>&1 || echo "dump failed: $(cat "$out.dump")" >&2
                "$c" --endpoint "$ep" info 2>&1 | grep -i digest > "$out.info"
            fi
            stop
        done
        a=$T/out.$ds.$mode.old b=$T/out.$ds.$mode.new
        if [ -d "$a" ] && [ -d "$b" ] && [ -n "$(ls "$a")" ] &&
           diff -r "$a" "$b" >/dev/null && cmp -s "$a.info" "$b.info"; then
            same=$((same + 1))
            echo "same:    $ds / $mode ($(ls "$a" | wc -l) files, $(cat "$a"/*.npy | wc -c) bytes)"
        else
            differ=$((differ + 1))
            echo "DIFFERS: $ds / $mode: $(diff -rq "$a" "$b" 2>&1 | head -3 | tr '\n' ' ') $(diff "$a.info" "$b.info" 2>&1 | head -2 | tr '\n' ' ')"
        fi
    done
done
echo "dumps: $same identical, $differ different (revision $rev against $build)"
[ "$differ" = 0 ]
