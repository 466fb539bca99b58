#!/bin/bash
# auth_cost.sh — the cost of proving the token: INFO and NEXT round trips
# against a daemon without a token (baseline) and the same daemon with
# one (every request signed with HMAC-SHA256 and checked), in one run,
# alternating REPEATS times; prints each run and the ratios of the means.
#
#   bench/auth_cost.sh [BUILD_DIR]   (default: build, at the top of the tree)
#
# Environment: ROUNDS (20000 requests of each kind per run), REPEATS (3),
# PYTHON (/usr/bin/python3).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
ROUNDS=${ROUNDS:-20000}
REPEATS=${REPEATS:-3}
PYTHON=${PYTHON:-/usr/bin/python3}
mixupd=$build/server/mixupd
mixupctl=$build/client/mixupctl
probe=$build/bench/auth_cost
tmp=$(mktemp -d /tmp/mixupd-auth-cost.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$tmp"
}
trap cleanup EXIT

"$PYTHON" - "$tmp" <<'PY'
import sys, numpy as np
d = sys.argv[1]
rng = np.random.default_rng(0)
np.save(d + "/images.npy", rng.integers(0, 256, size=(4096, 2, 2, 1), dtype=np.uint8))
np.save(d + "/labels.npy", rng.integers(0, 10, size=4096, dtype=np.int32))
PY
"$PYTHON" -c "import secrets; print(secrets.token_hex(32))" > "$tmp/token"
chmod 600 "$tmp/token"

start() { # name, extra --set
    "$mixupd" --set "server.endpoint=ipc://$tmp/$1.ipc" --set "server.name=ac$1$$" \
        --set "server.workers=1" --set "server.summary_interval=0" \
        --set "server.log_level=warn" --set "dataset.format=npy" \
        --set "dataset.images=$tmp/images.npy" \
        --set "dataset.labels=$tmp/labels.npy" --set "batch.size=8" \
        "${@:2}" >"$tmp/$1.log" 2>&1 &
    pids+=($!)
}
start open
start token --set "server.auth_token_file=$tmp/token"
for n in open token; do
    for _ in $(seq 600); do [ -S "$tmp/$n.ipc" ] && break; sleep 0.1; done
done
MIXUPD_TOKEN_FILE= "$mixupctl" --endpoint "ipc://$tmp/open.ipc" info >/dev/null
MIXUPD_TOKEN_FILE=$tmp/token "$mixupctl" --endpoint "ipc://$tmp/token.ipc" info >/dev/null
echo "machine: nproc $(nproc), load $(cut -d' ' -f1-3 /proc/loadavg) (shared)"
: > "$tmp/results"
for r in $(seq "$REPEATS"); do
    a=$(MIXUPD_TOKEN_FILE= "$probe" "ipc://$tmp/open.ipc" "$ROUNDS")
    b=$(MIXUPD_TOKEN_FILE=$tmp/token "$probe" "ipc://$tmp/token.ipc" "$ROUNDS")
    echo "run $r: no token: $a | token: $b"
    echo "$a $b" >> "$tmp/results"
done
awk '{i0+=$2; n0+=$4; i1+=$6; n1+=$8} END {
    printf "mean no token: INFO %.2f us, NEXT %.2f us\n", i0/NR, n0/NR;
    printf "mean token:    INFO %.2f us, NEXT %.2f us\n", i1/NR, n1/NR;
    printf "ratio token/no token: INFO %.3f, NEXT %.3f\n", i1/i0, n1/n0 }' "$tmp/results"
