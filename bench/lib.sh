# lib.sh — what bench/run.sh and bench/zero_copy.sh share:
#
#   . "$here/lib.sh" BUILD_DIR
#
# Sets $build (absolute), the settings from the environment with their
# defaults, $mixupd and $mixupctl; the caller sets $tmp before using the
# functions, which define $endpoint and $daemon_pid.

build=$1
case $build in
/*) ;;
*) if [ -d "$build" ]; then build=$(cd "$build" && pwd); else build=$(cd "$here/.." && pwd)/$build; fi ;;
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

# Exit 2 unless mixupd, mixupctl and the given programs are built.
need_binaries() {
    local f
    for f in "$mixupd" "$mixupctl" "$@"; do
        if [ ! -x "$f" ]; then
            echo "$(basename "$0"): $f is missing: build the tree first (meson compile -C $build)" >&2
            exit 2
        fi
    done
}

# A temporary directory ($tmp) removed at exit, with the daemon.
begin_run() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/mixupd-bench.XXXXXX")
    daemon_pid=
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

# A CIFAR-shaped dataset (uint8 [N,32,32,3], int64 labels) as .npy.
make_data() {
    "$PYTHON" "$here/make_data.py" "$tmp/data" --samples "$SAMPLES" >/dev/null
}

# Start mixupd on it (extra "section.key=value" settings in $MIXUPD_SETS)
# and wait until it answers INFO (60 s at most: loading takes time); a
# daemon that exits meanwhile (bad settings) is not waited for.
start_mixupd() {
    endpoint=ipc://$tmp/mixupd.ipc
    "$mixupd" \
        --set "server.endpoint=$endpoint" \
        --set "server.name=bench$$" \
        --set "server.workers=$WORKERS" \
        --set "server.summary_interval=0" \
        --set "dataset.format=npy" \
        --set "dataset.images=$tmp/data/images.npy" \
        --set "dataset.labels=$tmp/data/labels.npy" \
        --set "batch.size=$BATCH" \
        --set "batch.alpha=$ALPHA" \
        ${MIXUPD_SETS:+$(printf -- '--set %s ' $MIXUPD_SETS)} \
        >"$tmp/mixupd.log" 2>&1 &
    daemon_pid=$!
    # Its socket appears once the data is loaded (libmixup says at once
    # that it is missing): ask again until it answers, or it exits.
    local t
    for ((t = 0; t < 600; t++)); do
        if "$mixupctl" --endpoint "$endpoint" --timeout 2000 info >"$tmp/info" 2>&1; then
            return 0
        fi
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "$0: mixupd did not become ready:" >&2
    cat "$tmp/info" "$tmp/mixupd.log" >&2
    exit 1
}

# SIGTERM, and a clean exit.
stop_mixupd() {
    kill -TERM "$daemon_pid"
    if ! wait "$daemon_pid"; then
        echo "$0: mixupd exited with an error on SIGTERM:" >&2
        tail -n 20 "$tmp/mixupd.log" >&2
        daemon_pid=
        exit 1
    fi
    daemon_pid=
}

# Kill what is left and remove the temporary directory (an EXIT trap).
cleanup() {
    local status=$?
    if [ -n "${daemon_pid:-}" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
    exit $status
}

# A figure of a peer's output: `field NAME` prints the number after "NAME:".
field() { awk -v k="$1:" '$1 == k || index($0, k) == 1 { sub("^" k " *", ""); print $1; found = 1; exit } END { if (!found) exit 1 }'; }

# utime+stime ticks and minor faults of a process (every thread).
proc_usage() { awk '{ sub(/^.*\) /, ""); print $12 + $13, $8 }' "/proc/$1/stat"; }

# "batches_sent bytes_sent" of the daemon.
sent() {
    local j
    j=$("$mixupctl" --endpoint "$endpoint" stats --json) || return 1
    echo "$(grep -o '"batches_sent": [0-9]*' <<<"$j" | head -n 1 | grep -o '[0-9]*$') $(grep -o '"bytes_sent": [0-9]*' <<<"$j" | head -n 1 | grep -o '[0-9]*$')"
}

# The median of the numbers on stdin.
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

machine_line() {
    echo "machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "tree: $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$here/.." diff --quiet 2>/dev/null || echo ' (modified)'), build $build"
}
