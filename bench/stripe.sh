#!/bin/bash
# stripe.sh — one client striping over 1 and 2 daemons, a
# benchmark, not a test. The pipeline is CPU-heavy: the CIFAR recipe
# (pad-crop 4, horizontal flip, normalisation) with random erasing, NCHW
# float16. Each daemon has one worker and is pinned to its own core
# (taskset); the client runs unpinned. Prints samples/s for 1 and 2
# daemons (median of ROUNDS) and their ratio (aim: 1.7x).
#
#   bench/stripe.sh [BUILD_DIR]     environment: ROUNDS (3), SECONDS_EACH (4)
#
# On a 2-core machine the client has no core of its own: it copies (tcp)
# or maps (ipc) every batch on one of the daemons' cores, so the ratio is
# the daemons' compute share, below 2 by what the client and the system
# take; other engineers' load on the shared cores shows in the figures.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${1:-$top/build}
ROUNDS=${ROUNDS:-3}
SECONDS_EACH=${SECONDS_EACH:-4}
PYTHON=${PYTHON:-/usr/bin/python3}
mixupd=$build/server/mixupd
ctl=$build/client/mixupctl
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mixupd-stripe.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
ncpu=$(nproc)

"$PYTHON" "$here/make_data.py" "$tmp/data" --samples 10000 >/dev/null
start() { # NAME CORE
    local name=$1 core=$2
    taskset -c "$core" "$mixupd" --set "server.endpoint=ipc://$tmp/$name.ipc" \
        --set "server.name=str$$$name" --set server.workers=1 \
        --set server.summary_interval=0 --set dataset.format=npy \
        --set "dataset.images=$tmp/data/images.npy" --set "dataset.labels=$tmp/data/labels.npy" \
        --set batch.size=128 --set batch.alpha=0.2 \
        --set augment.crop_padding=4 --set augment.flip_horizontal=0.5 \
        --set "augment.normalize_mean=0.4914,0.4822,0.4465" \
        --set "augment.normalize_std=0.2470,0.2435,0.2616" \
        --set augment.erase_prob=0.5 --set output.dtype=float16 \
        --set output.layout=NCHW 2>"$tmp/$name.log" &
    pids+=($!)
    local t
    for ((t = 0; t < 600; t++)); do
        "$ctl" --endpoint "ipc://$tmp/$name.ipc" --timeout 2000 info >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "stripe.sh: mixupd $name did not become ready" >&2
    exit 1
}
rate() { awk '$1 == "samples/s:" { print $2 }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "machine: nproc $ncpu, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%F %T UTC')"
start d0 0
start d1 $((1 % ncpu))
"$ctl" --endpoint "ipc://$tmp/d0.ipc" info | grep digest
: >"$tmp/one.r"; : >"$tmp/two.r"
for ((r = 1; r <= ROUNDS; r++)); do
    "$ctl" --endpoint "ipc://$tmp/d0.ipc" bench --seconds "$SECONDS_EACH" | rate >>"$tmp/one.r"
    "$ctl" --endpoint "ipc://$tmp/d0.ipc" --endpoint "ipc://$tmp/d1.ipc" --spread \
        bench --seconds "$SECONDS_EACH" | rate >>"$tmp/two.r"
done
one=$(median <"$tmp/one.r")
two=$(median <"$tmp/two.r")
echo "rounds: one daemon $(paste -sd' ' "$tmp/one.r"); two $(paste -sd' ' "$tmp/two.r")"
printf '1 daemon : %s samples/s\n2 daemons: %s samples/s (striped)\nratio    : %.2fx (aim 1.7x)\n' \
    "$one" "$two" "$(echo "$two / $one" | bc -l)"
