#!/bin/bash
# ThreadSanitizer over the daemon's threads: builds mixupd with clang and
# -fsanitize=thread (build-tsan/), serves two pipelines in turn — an array
# dataset (Fashion-MNIST) and an image folder of JPEGs (baseline and
# progressive) and PNGs with RandomResizedCrop, each on 2 workers — pulls
# batches over the ring and over the socket with the normal build's
# mixupctl, stops it with SIGTERM, and fails on any TSan report.
#
# Not part of `meson test`: Criterion 2.4.1's runner crashes at start under
# TSan, so the daemon is checked from outside, as a user runs it. Run it
# when threads change:  tests/tsan_daemon.sh   (after tests/run-all.sh or
# `meson setup build && meson compile -C build`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
[ -x build/client/mixupctl ] || { echo "build/ first (meson compile -C build)"; exit 1; }
if [ ! -d build-tsan ]; then
    CC=clang meson setup build-tsan -Db_sanitize=thread -Db_lundef=false \
        -Dbuildtype=debug -Dtests=disabled >/dev/null
fi
meson compile -C build-tsan server/mixupd >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 - "$work" <<'PY'
import os, random, sys
from PIL import Image
from sklearn.datasets import load_sample_images
d, photos = sys.argv[1], load_sample_images().images
rng = random.Random(1)
for c in range(2):
    os.makedirs(f"{d}/img/c{c}")
    for i in range(40):
        a = Image.fromarray(photos[(i + c) % 2])
        w, h = rng.randint(200, 420), rng.randint(200, 420)
        x, y = rng.randint(0, a.width - w), rng.randint(0, a.height - h)
        im = a.crop((x, y, x + w, y + h))
        if i % 10 == 0:
            im.save(f"{d}/img/c{c}/{i}.png")
        else:
            im.save(f"{d}/img/c{c}/{i}.jpg", quality=90, progressive=i % 3 == 0)
PY

run() { # name, extra --set options...
    local name=$1; shift
    local ep="ipc://$work/$name.ipc"
    TSAN_OPTIONS="halt_on_error=0 log_path=$work/tsan.$name" \
        build-tsan/server/mixupd --no-config --set "server.endpoint=$ep" \
        --set "server.name=tsan$$$name" --set server.ipc_group= \
        --set server.workers=2 "$@" 2>"$work/$name.log" &
    local pid=$! ctl="build/client/mixupctl --endpoint $ep"
    for ((t = 0; t < 600; t++)); do
        $ctl info >/dev/null 2>&1 && break
        kill -0 $pid 2>/dev/null || { cat "$work/$name.log"; exit 1; }
        sleep 0.2
    done
    $ctl bench --seconds 3 | grep samples/s | sed "s/^/$name ring:   /"
    $ctl --transport socket bench --seconds 3 | grep samples/s |
        sed "s/^/$name socket: /"
    kill -TERM $pid
    wait $pid
}
run arrays
run images --set dataset.format=folder --set "dataset.images=$work/img" \
    --set dataset.channels=3 --set output.height=96 --set output.width=96 \
    --set batch.size=16 --set "augment.random_resized_crop=0.08, 1" \
    --set augment.flip_horizontal=0.5

if ls "$work"/tsan.* >/dev/null 2>&1; then
    cat "$work"/tsan.*
    echo "FAIL: ThreadSanitizer reports (above)"
    exit 1
fi
echo "ok: no ThreadSanitizer report (arrays and an image folder, ring and socket)"
