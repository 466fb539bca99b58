#!/bin/bash
# scaling.sh — two more measurements, each a ratio within one run:
#
#   1. the full CIFAR recipe (mixup + pad-crop 4 + horizontal flip +
#      per-channel normalisation, float32 NCHW) against plain mixup, two
#      daemons on the same data, measured in alternation (the aim: the
#      recipe should cost no more than 2x);
#   2. 1, 2, 4 and 8 clients (independent streams) on one daemon: total
#      samples/s, and the slowest client's share of the fair share
#      (the aim: the total should not fall, nobody below 80%).
#
#   bench/scaling.sh [BUILD_DIR]     environment: ROUNDS (3), SECONDS_EACH (3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${1:-$top/build}
ROUNDS=${ROUNDS:-3}
SECONDS_EACH=${SECONDS_EACH:-3}
PYTHON=${PYTHON:-/usr/bin/python3}
mixupd=$build/server/mixupd
ctl=$build/client/mixupctl
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mixupd-scaling.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

"$PYTHON" "$here/make_data.py" "$tmp/data" --samples 10000 >/dev/null
start() { # NAME extra --set options...
    local name=$1; shift
    "$mixupd" --set "server.endpoint=ipc://$tmp/$name.ipc" --set "server.name=scl$$$name" \
        --set server.summary_interval=0 --set dataset.format=npy \
        --set "dataset.images=$tmp/data/images.npy" --set "dataset.labels=$tmp/data/labels.npy" \
        --set batch.size=128 --set batch.alpha=0.2 "$@" 2>"$tmp/$name.log" &
    pids+=($!)
    # The socket appears once the data is loaded: ask until it answers.
    local t
    for ((t = 0; t < 600; t++)); do
        "$ctl" --endpoint "ipc://$tmp/$name.ipc" --timeout 2000 info >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "scaling.sh: mixupd $name did not become ready" >&2
    exit 1
}
rate() { awk '$1 == "samples/s:" { print $2 }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "machine: nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%F %T UTC')"
start plain
start recipe --set augment.crop_padding=4 --set augment.flip_horizontal=0.5 \
    --set "augment.normalize_mean=0.4914,0.4822,0.4465" \
    --set "augment.normalize_std=0.2470,0.2435,0.2616" --set output.layout=NCHW
: >"$tmp/plain.r"; : >"$tmp/recipe.r"
for ((r = 1; r <= ROUNDS; r++)); do
    for d in plain recipe; do
        "$ctl" --endpoint "ipc://$tmp/$d.ipc" bench --seconds "$SECONDS_EACH" | rate >>"$tmp/$d.r"
    done
done
p=$(median <"$tmp/plain.r"); q=$(median <"$tmp/recipe.r")
echo "plain mixup (float32 NHWC):              samples/s $p"
echo "CIFAR recipe (crop+flip+norm, NCHW):     samples/s $q"
awk -v p="$p" -v q="$q" 'BEGIN { printf "cost of the recipe: %.2fx plain mixup (target <= 2)\n", p / q }'

kill -TERM "${pids[1]}"; wait "${pids[1]}" || true; unset 'pids[1]'
echo "clients on one daemon (independent streams, B 128, 32x32x3):"
for k in 1 2 4 8; do
    out=$("$ctl" --endpoint "ipc://$tmp/plain.ipc" bench --seconds "$SECONDS_EACH" --clients "$k")
    total=$(rate <<<"$out")
    awk -v k="$k" -v t="$total" '
        /^client [0-9]+ samples\/s:/ { v = $4; if (min == "" || v < min) min = v }
        END { if (k == 1) min = t
              printf "  %d client(s): total samples/s %10.1f   slowest %10.1f = %.0f%% of the fair share\n",
                     k, t, min, 100 * min * k / t }' <<<"$out"
done

# 3. isolation: one client that stops reading (it holds its prefetched
#    batches) next to one that reads, against the reader alone (the aim:
#    at least half).
helper=$build/tests/client_helper
if [ -x "$helper" ]; then
    alone=$("$ctl" --endpoint "ipc://$tmp/plain.ipc" --seed 50 bench --seconds "$SECONDS_EACH" | rate)
    "$helper" "ipc://$tmp/plain.ipc" independent - 51 1 pause >/dev/null &
    stalled=$!
    pids+=($stalled)
    "$ctl" --endpoint "ipc://$tmp/plain.ipc" --timeout 20000 jobs >/dev/null
    with=$("$ctl" --endpoint "ipc://$tmp/plain.ipc" --seed 50 bench --seconds "$SECONDS_EACH" | rate)
    kill -KILL "$stalled"; wait "$stalled" 2>/dev/null || true
    awk -v a="$alone" -v w="$with" 'BEGIN {
        printf "a reader alone: samples/s %.1f; next to a stalled client: %.1f (%.0f%%, target >= 50%%)\n", a, w, 100 * w / a }'
fi
