#!/bin/bash
# run.sh — measure mixupd against its two peers, in one run.
#
#   bench/run.sh [BUILD_DIR]        (default: build, at the top of the tree)
#
# Environment: ROUNDS (3), SECONDS_EACH (3), SAMPLES (10000), BATCH (128),
# ALPHA (0.2), WORKERS (2), PYTHON (/usr/bin/python3).
#
# What it does:
#   1. writes a CIFAR-shaped dataset (uint8 [N,32,32,3], int64 labels) as
#      .npy into a temporary directory (bench/make_data.py);
#   2. starts mixupd on it (npy, B, alpha, an ipc endpoint in the temporary
#      directory, a server.name of its own, WORKERS workers) and waits for
#      it with `mixupctl --timeout 60000 info`;
#   3. ROUNDS rounds, each measuring for SECONDS_EACH seconds
#        (a) nn_ceiling         bare nanomsg REQ/REP, replies of a batch's size
#        (b) mixupctl bench     one client against mixupd
#        (c) numpy_generator.py the reference Keras mixup generator
#      with the order rotated from round to round (a b c, b c a, c a b) so
#      that drift on a shared machine does not always hit the same one;
#   4. prints every round, the medians, and the ratios mixupd / ceiling and
#      mixupd / numpy, computed from the medians of this same run;
#   5. stops mixupd with SIGTERM and removes the temporary directory.
#
# Absolute samples/s depend on the machine and its load: compare ratios.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=${1:-build}
case $build in
/*) ;;
*) if [ -d "$build" ]; then build=$(cd "$build" && pwd); else build=$top/$build; fi ;;
esac

ROUNDS=${ROUNDS:-3}
SECONDS_EACH=${SECONDS_EACH:-3}
SAMPLES=${SAMPLES:-10000}
BATCH=${BATCH:-128}
ALPHA=${ALPHA:-0.2}
WORKERS=${WORKERS:-2}
PYTHON=${PYTHON:-/usr/bin/python3}

mixupd=$build/server/mixupd
mixupctl=$build/client/mixupctl
ceiling=$build/bench/nn_ceiling
for f in "$mixupd" "$mixupctl" "$ceiling"; do
    if [ ! -x "$f" ]; then
        echo "run.sh: $f is missing: build the tree first (meson compile -C $build)" >&2
        exit 2
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mixupd-bench.XXXXXX")
daemon_pid=
cleanup() {
    status=$?
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "tree: $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$top" diff --quiet 2>/dev/null || echo ' (modified)'), build $build"
echo "settings: N $SAMPLES x 32x32x3 uint8, B $BATCH, alpha $ALPHA, workers $WORKERS, $ROUNDS rounds x ${SECONDS_EACH} s each"

"$PYTHON" "$here/make_data.py" "$tmp/data" --samples "$SAMPLES" >/dev/null

endpoint=ipc://$tmp/mixupd.ipc
name=bench$$
"$mixupd" \
    --set "server.endpoint=$endpoint" \
    --set "server.name=$name" \
    --set "server.workers=$WORKERS" \
    --set "server.summary_interval=0" \
    --set "dataset.format=npy" \
    --set "dataset.images=$tmp/data/images.npy" \
    --set "dataset.labels=$tmp/data/labels.npy" \
    --set "batch.size=$BATCH" \
    --set "batch.alpha=$ALPHA" \
    >"$tmp/mixupd.log" 2>&1 &
daemon_pid=$!

if ! "$mixupctl" --endpoint "$endpoint" --timeout 60000 info >"$tmp/info" 2>&1; then
    echo "run.sh: mixupd did not become ready:" >&2
    cat "$tmp/info" "$tmp/mixupd.log" >&2
    exit 1
fi

# The samples/s figure of a peer's output.
samples_per_s() { awk '/^samples\/s:/ { print $2; found = 1 } END { if (!found) exit 1 }'; }

run_ceiling() {
    "$ceiling" --endpoint "ipc://$tmp/ceiling.ipc" --seconds "$SECONDS_EACH" \
        --batch "$BATCH" --shape 32x32x3 --classes 10
}
run_mixupd() {
    "$mixupctl" --endpoint "$endpoint" --seed "$1" bench --seconds "$SECONDS_EACH"
}
run_numpy() {
    "$PYTHON" "$here/numpy_generator.py" --images "$tmp/data/images.npy" \
        --labels "$tmp/data/labels.npy" --classes 10 --batch "$BATCH" \
        --alpha "$ALPHA" --seconds "$SECONDS_EACH" --seed "$1"
}

declare -A results=([ceiling]="" [mixupd]="" [numpy]="")
measure() { # NAME ROUND
    local out v
    if ! out=$("run_$1" "$2" 2>&1) || ! v=$(samples_per_s <<<"$out"); then
        echo "run.sh: $1 failed in round $2:" >&2
        echo "$out" >&2
        [ "$1" = mixupd ] && tail -n 20 "$tmp/mixupd.log" >&2
        exit 1
    fi
    results[$1]+="$v "
    printf '  round %d  %-8s samples/s: %s\n' "$2" "$1" "$v"
}

order=(ceiling mixupd numpy)
for ((r = 1; r <= ROUNDS; r++)); do
    for ((i = 0; i < 3; i++)); do
        measure "${order[(i + r - 1) % 3]}" "$r"
    done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
c=$(median <<<"${results[ceiling]}")
m=$(median <<<"${results[mixupd]}")
n=$(median <<<"${results[numpy]}")
echo "median samples/s (B = $BATCH, 32x32x3 -> float32):"
printf '  %-30s %12s\n' "nn_ceiling (bare nanomsg)" "$c" "mixupd (mixupctl bench)" "$m" "numpy generator" "$n"
awk -v c="$c" -v m="$m" -v n="$n" 'BEGIN {
    printf "ratio mixupd / ceiling: %.3f\n", m / c
    printf "ratio mixupd / numpy:   %.3f\n", m / n
}'

kill -TERM "$daemon_pid"
if ! wait "$daemon_pid"; then
    echo "run.sh: mixupd exited with an error on SIGTERM:" >&2
    tail -n 20 "$tmp/mixupd.log" >&2
    daemon_pid=
    exit 1
fi
daemon_pid=
