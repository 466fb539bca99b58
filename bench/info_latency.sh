#!/bin/bash
# info_latency.sh — INFO latency at a large N while clients churn OPEN/CLOSE.
#
#   bench/info_latency.sh [BUILD_DIR]   (default: build, at the top of the tree)
#
# Environment: SAMPLES (10000000), SECONDS_EACH (10), CHURNERS (4),
# WORKERS (2), PYTHON (/usr/bin/python3), MIXUPD (a daemon binary to
# measure instead of BUILD_DIR's, e.g. an older build to compare).
#
# Writes a synthetic .npy dataset of SAMPLES tiny images (uint8 [N,2,2,1],
# int32 labels), starts mixupd on it, and runs bench/info_latency twice:
# CHURNERS clients opening and closing streams with a new seed each time
# (every OPEN needs a new epoch order: N indices to shuffle), then with
# one seed (the order is shared). Prints INFO p50/p99/max for each. When
# the loop thread drew each order itself, INFO took 359 ms at N = 10M.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
SAMPLES=${SAMPLES:-10000000}
SECONDS_EACH=${SECONDS_EACH:-10}
CHURNERS=${CHURNERS:-4}
WORKERS=${WORKERS:-2}
PYTHON=${PYTHON:-/usr/bin/python3}
mixupd=${MIXUPD:-$build/server/mixupd}
mixupctl=$build/client/mixupctl
probe=$build/bench/info_latency
tmp=$(mktemp -d /tmp/mixupd-info-latency.XXXXXX)
daemon_pid=
cleanup() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

"$PYTHON" - "$tmp" "$SAMPLES" <<'PY'
import sys, numpy as np
d, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
np.save(d + "/images.npy", rng.integers(0, 256, size=(n, 2, 2, 1), dtype=np.uint8))
np.save(d + "/labels.npy", rng.integers(0, 10, size=n, dtype=np.int32))
PY

endpoint=ipc://$tmp/mixupd.ipc
"$mixupd" --set "server.endpoint=$endpoint" --set "server.name=il$$" \
    --set "server.workers=$WORKERS" --set "server.summary_interval=0" \
    --set "server.log_level=warn" \
    --set "dataset.format=npy" --set "dataset.images=$tmp/images.npy" \
    --set "dataset.labels=$tmp/labels.npy" --set "batch.size=32" \
    >"$tmp/mixupd.log" 2>&1 &
daemon_pid=$!
# Ready when its socket appears and it answers INFO (loading takes time).
for _ in $(seq 1200); do
    [ -S "$tmp/mixupd.ipc" ] || ! kill -0 "$daemon_pid" 2>/dev/null && break
    sleep 0.1
done
if ! "$mixupctl" --endpoint "$endpoint" --timeout 120000 info >/dev/null; then
    cat "$tmp/mixupd.log"
    exit 1
fi
echo "machine: nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg); daemon $mixupd; workers $WORKERS"
"$probe" "$endpoint" "$SECONDS_EACH" 0 new
"$probe" "$endpoint" "$SECONDS_EACH" "$CHURNERS" new
"$probe" "$endpoint" "$SECONDS_EACH" "$CHURNERS" same
