# lib.sh — helpers for the shell-driven tests (sourced). Every wait has a
# deadline; nothing sleeps and hopes.
set -u
: "${MIXUPD_BIN:?run through meson test}"
T=$(mktemp -d "${TMPDIR:-/tmp}/mixupd-sh.XXXXXX")
PIDS=""
cleanup() {
    for p in $PIDS; do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# A free TCP port on 127.0.0.1 (the kernel's choice).
free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_for FILE TEXT SECONDS: until FILE contains TEXT; fail at the deadline.
wait_for() {
    local end=$(( $(date +%s) + $3 ))
    until grep -qF -- "$2" "$1" 2>/dev/null; do
        [ "$(date +%s)" -lt "$end" ] || fail "no '$2' in $1 after $3 s: $(cat "$1" 2>/dev/null)"
        sleep 0.05
    done
}

# wait_exit PID SECONDS: sets RC to the exit status of a child of this
# shell (not in $(...): a subshell cannot wait for its parent's child).
wait_exit() {
    local end=$(( $(date +%s) + $2 ))
    while kill -0 "$1" 2>/dev/null; do
        if [ "$(date +%s)" -ge "$end" ]; then
            kill -KILL "$1" 2>/dev/null; fail "pid $1 still running after $2 s"
        fi
        sleep 0.05
    done
    RC=0
    wait "$1" || RC=$?
}

# be32 N: four big-endian bytes, as printf escapes.
be32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(( ($1 >> 24) & 255 )) \
    $(( ($1 >> 16) & 255 )) $(( ($1 >> 8) & 255 )) $(( $1 & 255 )); }

# make_idx DIR N H W: raw IDX images (bytes i % 251) and labels (i % 2).
make_idx() {
    local dir=$1 n=$2 h=$3 w=$4
    { printf "$(be32 2051)$(be32 "$n")$(be32 "$h")$(be32 "$w")"
      head -c $(( n * h * w )) /dev/zero | tr '\0' '\7'; } > "$dir/images.idx"
    { printf "$(be32 2049)$(be32 "$n")"
      for ((i = 0; i < n; i++)); do printf '\\x%02x' $(( i % 2 )); done | xargs -0 printf; } > "$dir/labels.idx"
}

# write_conf FILE NAME ENDPOINT... (dataset in the file's directory)
write_conf() {
    local f=$1 name=$2; shift 2
    local dir; dir=$(dirname "$f")
    { echo "[server]"; echo "name = $name"; echo "workers = 1"
      echo "ring_slots = 2"; echo "prefetch = 1"
      for ep in "$@"; do echo "endpoint = $ep"; done
      echo "[dataset]"; echo "format = idx"
      echo "images = $dir/images.idx"; echo "labels = $dir/labels.idx"
      echo "[batch]"; echo "size = 4"; } > "$f"
}

# No /dev/shm segment and no lock of instance NAME left.
assert_nothing_left() {
    if ls /dev/shm 2>/dev/null | grep -q "^mixupd\.$1\."; then
        fail "shared memory of '$1' left behind: $(ls /dev/shm | grep "^mixupd\.$1\.")"
    fi
}
