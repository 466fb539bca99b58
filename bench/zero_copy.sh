#!/bin/bash
# zero_copy.sh — the ring's figures (zero copy), in one run.
#
#   bench/zero_copy.sh [BUILD_DIR]      (default: build, at the top of the tree)
#
# Environment: ROUNDS (3), SECONDS_EACH (3), SAMPLES (10000), BATCH (128),
# ALPHA (0.2), WORKERS (2), PYTHON (/usr/bin/python3), MIXUPD_SETS (extra
# "section.key=value" settings for mixupd, blank-separated).
#
# On a CIFAR-shaped dataset (uint8 [N,32,32,3] -> float32 NHWC, B = 128),
# every measurement consuming each batch as a trainer does (x and y
# copied into a buffer of the client's own):
#   limit    bench/ring_limit: one thread mixing with mixupd's kernels into
#            a ring of 16 shared slots, another copying each out — this
#            design's physical limit here
#   ceiling  bench/nn_ceiling: a bare nanomsg REQ/REP loop with replies of
#            a batch's size, the client copying x and y out
#   socket1  mixupd, one client, batches copied through the socket
#   shm1     mixupd, one client, batches read in place in the ring
#   socket4, shm4   the same with 4 clients
# ROUNDS rounds, the order rotated from round to round; then the medians,
# the ratios of the medians, and the CPU time per batch of the daemon (all
# threads, from /proc) and of the clients (mixupctl's own count).
# Absolute samples/s depend on the machine and its load: compare ratios.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh" "${1:-build}"
limit=$build/bench/ring_limit
ceiling=$build/bench/nn_ceiling
need_binaries "$ceiling" "$limit"
begin_run

machine_line
echo "settings: N $SAMPLES x 32x32x3 uint8, B $BATCH, alpha $ALPHA, workers $WORKERS, $ROUNDS rounds x ${SECONDS_EACH} s each, consume = copy${MIXUPD_SETS:+, mixupd: $MIXUPD_SETS}"
make_data
start_mixupd
hz=$(getconf CLK_TCK)

run_limit() {
    "$limit" --seconds "$SECONDS_EACH" --batch "$BATCH" --shape 32x32x3 \
        --classes 10 --slots 16 --samples "$SAMPLES"
}
run_ceiling() {
    "$ceiling" --endpoint "ipc://$tmp/ceiling.ipc" --seconds "$SECONDS_EACH" \
        --batch "$BATCH" --shape 32x32x3 --classes 10 --consume copy
}
# mixupctl bench over TRANSPORT with CLIENTS clients, and the daemon's
# CPU per batch over the same interval.
run_path() { # TRANSPORT CLIENTS
    local b0 b1 u0 u1 out
    b0=$(sent) && u0=$(proc_usage "$daemon_pid") || return 1
    out=$("$mixupctl" --endpoint "$endpoint" --transport "$1" bench \
        --seconds "$SECONDS_EACH" --clients "$2" --consume copy 2>&1) || { echo "$out"; return 1; }
    b1=$(sent) && u1=$(proc_usage "$daemon_pid") || return 1
    echo "$out"
    awk -v hz="$hz" -v s0="$b0" -v s1="$b1" -v u0="$u0" -v u1="$u1" 'BEGIN {
        split(s0, x, " "); split(s1, y, " "); n = y[1] - x[1]
        split(u0, a, " "); split(u1, b, " ")
        printf "daemon cpu us/batch: %.1f\n", (b[1] - a[1]) / hz * 1e6 / n
        printf "daemon page faults/batch: %.2f\n", (b[2] - a[2]) / n
    }'
}
run_socket1() { run_path socket 1; }
run_shm1() { run_path auto 1; }
run_socket4() { run_path socket 4; }
run_shm4() { run_path auto 4; }

names=(limit ceiling socket1 shm1 socket4 shm4)
declare -A rate=() dcpu=() ccpu=()
measure() { # NAME ROUND
    local out v extra=
    if ! out=$("run_$1" 2>&1) || ! v=$(field samples/s <<<"$out"); then
        echo "zero_copy.sh: $1 failed in round $2:" >&2
        echo "$out" >&2
        tail -n 20 "$tmp/mixupd.log" >&2
        exit 1
    fi
    rate[$1]+="$v "
    case $1 in
    socket* | shm*)
        local t d c
        t=$(field transport <<<"$out")
        d=$(field "daemon cpu us/batch" <<<"$out")
        c=$(field "client CPU ms/batch" <<<"$out")
        dcpu[$1]+="$d "
        ccpu[$1]+="$(awk -v c="$c" 'BEGIN { printf "%.1f", c * 1000 }') "
        extra="  transport $t, cpu us/batch: daemon $d, clients $(awk -v c="$c" 'BEGIN { printf "%.1f", c * 1000 }'), daemon faults/batch $(field "daemon page faults/batch" <<<"$out")"
        ;;
    ceiling) extra="  $(grep -o 'cpu us/batch.*' <<<"$out")" ;;
    esac
    printf '  round %d  %-8s samples/s %10s%s\n' "$2" "$1" "$v" "$extra"
}

for ((r = 1; r <= ROUNDS; r++)); do
    for ((i = 0; i < ${#names[@]}; i++)); do
        measure "${names[(i + r - 1) % ${#names[@]}]}" "$r"
    done
done

echo "medians (B = $BATCH, 32x32x3 uint8 -> float32 NHWC, every batch copied out by its client):"
declare -A m=()
for k in "${names[@]}"; do
    m[$k]=$(median <<<"${rate[$k]}")
    extra=
    if [ -n "${dcpu[$k]:-}" ]; then
        extra="   cpu us/batch: daemon $(median <<<"${dcpu[$k]}"), clients $(median <<<"${ccpu[$k]}")"
    fi
    printf '  %-8s samples/s %10s%s\n' "$k" "${m[$k]}" "$extra"
done
awk -v l="${m[limit]}" -v c="${m[ceiling]}" -v s1="${m[socket1]}" -v z1="${m[shm1]}" \
    -v s4="${m[socket4]}" -v z4="${m[shm4]}" 'BEGIN {
    printf "ratio zero-copy / limit:     %.2f   (aim >= 0.7)\n", z1 / l
    printf "ratio zero-copy / socket:    %.2f   (aim >= 2)\n", z1 / s1
    printf "ratio socket / ceiling:      %.2f   (aim >= 0.9)\n", s1 / c
    printf "4 clients: zero-copy / socket %.2f, zero-copy 4 / 1 %.2f\n", z4 / s4, z4 / z1
}'
stop_mixupd
