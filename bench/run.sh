#!/bin/bash
# run.sh — measure mixupd against its two peers, in one run.
#
#   bench/run.sh [BUILD_DIR]        (default: build, at the top of the tree)
#
# Environment: ROUNDS (3), SECONDS_EACH (3), SAMPLES (10000), BATCH (128),
# ALPHA (0.2), WORKERS (2), PYTHON (/usr/bin/python3), CEILING_ARGS (extra
# nn_ceiling options, e.g. "--sockbuf 4194304"; none by default, so that
# the ceiling uses nanomsg's defaults as mixupd does), MIXUPD_SETS (extra
# "section.key=value" settings for mixupd, blank-separated).
#
# What it does:
#   1. writes a CIFAR-shaped dataset (uint8 [N,32,32,3], int64 labels) as
#      .npy into a temporary directory (bench/make_data.py);
#   2. starts mixupd on it (npy, B, alpha, an ipc endpoint in the temporary
#      directory, a server.name of its own, WORKERS workers) and waits for
#      until `mixupctl info` answers (bench/lib.sh);
#   3. ROUNDS rounds, each measuring for SECONDS_EACH seconds
#        (a) nn_ceiling         bare nanomsg REQ/REP, replies of a batch's size
#        (b) mixupctl bench     one client against mixupd
#        (c) numpy_generator.py the reference Keras mixup generator
#      with the order rotated from round to round (a b c, b c a, c a b) so
#      that drift on a shared machine does not always hit the same one;
#   4. prints every round, the medians, and the ratios mixupd / ceiling and
#      mixupd / numpy, computed from the medians of this same run; also the
#      CPU time each spent per batch (ceiling: both processes; mixupd: the
#      daemon, every thread, plus mixupctl; numpy: the generator) and the
#      daemon's page faults per batch: on a shared machine samples/s swing
#      with the neighbours' load, CPU per batch much less;
#   5. stops mixupd with SIGTERM and removes the temporary directory.
#
# Absolute samples/s depend on the machine and its load: compare ratios.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh" "${1:-build}"
ceiling=$build/bench/nn_ceiling
need_binaries "$ceiling"
begin_run

machine_line
echo "settings: N $SAMPLES x 32x32x3 uint8, B $BATCH, alpha $ALPHA, workers $WORKERS, $ROUNDS rounds x ${SECONDS_EACH} s each${MIXUPD_SETS:+, mixupd: $MIXUPD_SETS}${CEILING_ARGS:+, nn_ceiling: $CEILING_ARGS}"

make_data
start_mixupd

hz=$(getconf CLK_TCK)

run_ceiling() {
    "$ceiling" --endpoint "ipc://$tmp/ceiling.ipc" --seconds "$SECONDS_EACH" \
        --batch "$BATCH" --shape 32x32x3 --classes 10 ${CEILING_ARGS:-}
}
# mixupctl bench, plus the CPU it cost per batch: the daemon's (from
# /proc, every thread, over the whole run) and mixupctl's (bash's time).
run_mixupd() {
    local b0 b1 u0 u1 out
    b0=$(sent) && u0=$(proc_usage "$daemon_pid") || return 1
    out=$( { TIMEFORMAT='%3U %3S'; time "$mixupctl" --endpoint "$endpoint" --seed "$1" \
        bench --seconds "$SECONDS_EACH" >"$tmp/mixupctl.out" 2>&1; } 2>&1 ) || { cat "$tmp/mixupctl.out"; return 1; }
    b1=$(sent) && u1=$(proc_usage "$daemon_pid") || return 1
    cat "$tmp/mixupctl.out"
    awk -v hz="$hz" -v s0="$b0" -v s1="$b1" -v u0="$u0" -v u1="$u1" -v t="$out" 'BEGIN {
        split(s0, x, " "); split(s1, y, " "); n = y[1] - x[1]
        split(u0, a, " "); split(u1, b, " "); split(t, c, " ")
        d = (b[1] - a[1]) / hz * 1e6 / n; cl = (c[1] + c[2]) * 1e6 / n
        printf "cpu us/batch: %.1f (daemon %.1f, client %.1f)\n", d + cl, d, cl
        printf "daemon page faults/batch: %.1f\n", (b[2] - a[2]) / n
        # bytes_sent also counts the few small replies (open, close, stats)
        printf "reply bytes: %.0f\n", (y[2] - x[2]) / n
    }'
}
run_numpy() {
    "$PYTHON" "$here/numpy_generator.py" --images "$tmp/data/images.npy" \
        --labels "$tmp/data/labels.npy" --classes 10 --batch "$BATCH" \
        --alpha "$ALPHA" --seconds "$SECONDS_EACH" --seed "$1"
}

declare -A rate=() cpu=() bytes=()
measure() { # NAME ROUND
    local out v c extra=
    if ! out=$("run_$1" "$2" 2>&1) || ! v=$(field samples/s <<<"$out"); then
        echo "run.sh: $1 failed in round $2:" >&2
        echo "$out" >&2
        [ "$1" = mixupd ] && tail -n 20 "$tmp/mixupd.log" >&2
        exit 1
    fi
    c=$(field "cpu us/batch" <<<"$out" || echo nan)
    bytes[$1]=$(field "reply bytes" <<<"$out" || echo 0)
    rate[$1]+="$v "
    cpu[$1]+="$c "
    if [ "$1" = mixupd ]; then
        extra="  $(grep -o '(daemon.*' <<<"$out"), faults/batch $(field "daemon page faults/batch" <<<"$out")"
    elif [ "$1" = ceiling ]; then
        extra="  $(grep -o '(client.*' <<<"$out")"
    fi
    printf '  round %d  %-8s samples/s %10s   cpu us/batch %8s%s\n' "$2" "$1" "$v" "$c" "$extra"
}

order=(ceiling mixupd numpy)
for ((r = 1; r <= ROUNDS; r++)); do
    for ((i = 0; i < 3; i++)); do
        measure "${order[(i + r - 1) % 3]}" "$r"
    done
done

# The ceiling is only a ceiling for replies of the same size.
awk -v c="${bytes[ceiling]}" -v m="${bytes[mixupd]}" 'BEGIN {
    d = c - m; if (d < 0) d = -d
    if (d > 64) printf "run.sh: WARNING: nn_ceiling replies carry %d bytes, mixupd'"'"'s about %d: the ceiling does not match mixupd'"'"'s batches\n", c, m
    else printf "reply size: %d bytes per batch (nn_ceiling), about %d (mixupd)\n", c, m
}'

echo "medians (B = $BATCH, 32x32x3 uint8 -> float32 NHWC):"
printf '  %-28s %12s %14s\n' "" "samples/s" "cpu us/batch"
for k in ceiling mixupd numpy; do
    declare "m_$k=$(median <<<"${rate[$k]}")" "c_$k=$(median <<<"${cpu[$k]}")"
done
printf '  %-28s %12s %14s\n' "nn_ceiling (bare nanomsg)" "$m_ceiling" "$c_ceiling" \
    "mixupd (mixupctl bench)" "$m_mixupd" "$c_mixupd" \
    "numpy generator" "$m_numpy" "$c_numpy"
awk -v c="$m_ceiling" -v m="$m_mixupd" -v n="$m_numpy" -v cc="$c_ceiling" -v cm="$c_mixupd" -v cn="$c_numpy" 'BEGIN {
    printf "ratio mixupd / ceiling: %.3f   (samples/s)\n", m / c
    printf "ratio mixupd / numpy:   %.3f   (samples/s)\n", m / n
    printf "cpu per batch, mixupd / ceiling: %.2f   (both sides; lower is better)\n", cm / cc
}'

stop_mixupd
