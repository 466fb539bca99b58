#!/bin/bash
# valgrind_lifecycle.sh — the daemon's start and stop paths under valgrind:
# a normal start + SIGTERM, a start on an endpoint that is taken (the
# workers have started when the bind fails), and a start with a bad
# dataset. Any valgrind error (invalid read/write, uninitialised use,
# definite leak) fails the test. Skipped for sanitizer builds, which
# valgrind cannot run.
. "$(dirname "$0")/lib.sh"
command -v valgrind >/dev/null || fail "valgrind is not installed (tests/deps.sh)"
if grep -qaE "__(a|t)san_init" "$MIXUPD_BIN"; then
    echo "sanitizer build: skipped"; exit 77
fi
VG="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
make_idx "$T" 40 4 4
name=vg$$
port=$(free_port)
write_conf "$T/a.conf" "${name}a" "tcp://127.0.0.1:$port" "ipc://$T/a.ipc"
write_conf "$T/b.conf" "${name}b" "tcp://127.0.0.1:$port"
write_conf "$T/c.conf" "${name}c" "ipc://$T/c.ipc"
head -c 100 "$T/images.idx" > "$T/short.idx"
sed -i "s|images = .*|images = $T/short.idx|" "$T/c.conf"

# A: a normal start.
$VG "$MIXUPD_BIN" --config "$T/a.conf" 2> "$T/a.log" &
a=$!; PIDS="$a"
wait_for "$T/a.log" "ready:" 60

# B: the same TCP port, taken by A.
rc=0; $VG "$MIXUPD_BIN" --config "$T/b.conf" 2> "$T/b.log" || rc=$?
[ "$rc" = 1 ] || fail "taken endpoint: exit $rc, expected 1: $(cat "$T/b.log")"
grep -q "cannot bind server.endpoint tcp://127.0.0.1:$port" "$T/b.log" ||
    fail "taken endpoint: no bind error: $(cat "$T/b.log")"
assert_nothing_left "${name}b"

# C: a truncated image file.
rc=0; $VG "$MIXUPD_BIN" --config "$T/c.conf" 2> "$T/c.log" || rc=$?
[ "$rc" = 1 ] || fail "bad dataset: exit $rc, expected 1: $(cat "$T/c.log")"
grep -q "short.idx" "$T/c.log" || fail "bad dataset: no message: $(cat "$T/c.log")"
assert_nothing_left "${name}c"

# A stops on SIGTERM.
kill -TERM "$a"
wait_exit "$a" 60
[ "$RC" = 0 ] || fail "SIGTERM: exit $RC, expected 0: $(cat "$T/a.log")"
assert_nothing_left "${name}a"
[ ! -e "$T/a.ipc" ] || fail "ipc socket file left behind"
echo "ok: normal start + SIGTERM, taken endpoint, bad dataset"
