#!/bin/bash
# check_endpoints.sh — `mixupd --check` binds every endpoint to a
# throw-away socket: a port out of range, an ipc path in a missing
# directory and an address the host does not have are refused, naming
# file:line; the real start-up failure names file:line too.
. "$(dirname "$0")/lib.sh"
make_idx "$T" 40 4 4
n=0
for ep in "tcp://127.0.0.1:99999" "ipc://$T/missing/dir/x.ipc" \
          "tcp://192.0.2.1:5555"; do
    n=$((n + 1))
    write_conf "$T/c$n.conf" "chk$$n" "ipc://$T/ok$n.ipc" "$ep"
    # 192.0.2.1 is not loopback: protected mode would refuse it first.
    sed -i 's/^\[server\]$/&\nallow_unauthenticated_tcp = true/' "$T/c$n.conf"
    line=$(grep -n "^endpoint = $ep" "$T/c$n.conf" | cut -d: -f1)
    rc=0; "$MIXUPD_BIN" --config "$T/c$n.conf" --check > "$T/c$n.out" 2> "$T/c$n.log" || rc=$?
    [ "$rc" = 1 ] || fail "--check with $ep: exit $rc: $(cat "$T/c$n.log" "$T/c$n.out")"
    grep -qF "$T/c$n.conf:$line: cannot bind server.endpoint $ep" "$T/c$n.log" ||
        fail "--check with $ep: no file:line: $(cat "$T/c$n.log")"
    [ ! -e "$T/ok$n.ipc" ] || fail "--check left its ipc socket file"
    assert_nothing_left "chk$$n"
done
# A good configuration still passes.
write_conf "$T/good.conf" "chk$$good" "ipc://$T/good.ipc" "tcp://127.0.0.1:$(free_port)"
"$MIXUPD_BIN" --config "$T/good.conf" --check > "$T/good.out" 2> "$T/good.log" ||
    fail "good configuration refused: $(cat "$T/good.log")"
# The real start names the line too, and refuses before loading the
# dataset (a bind error should not wait for a long load).
rc=0; "$MIXUPD_BIN" --config "$T/c2.conf" 2> "$T/start.log" || rc=$?
[ "$rc" = 1 ] || fail "start with a missing ipc directory: exit $rc"
line=$(grep -n "^endpoint = ipc://$T/missing" "$T/c2.conf" | cut -d: -f1)
grep -qF "$T/c2.conf:$line: cannot bind server.endpoint" "$T/start.log" ||
    fail "start: no file:line: $(cat "$T/start.log")"
! grep -q "loading dataset" "$T/start.log" ||
    fail "start: the dataset was loaded before the bind error: $(cat "$T/start.log")"
assert_nothing_left "chk$$2"

# An endpoint more open than the others: --check (and the start) warn,
# naming both; with a token, or with ipc alone, no warning.
write_conf "$T/open.conf" "chk$$open" "ipc://$T/open.ipc" "tcp://127.0.0.1:$(free_port)"
"$MIXUPD_BIN" --config "$T/open.conf" --check > "$T/open.out" 2> "$T/open.log" ||
    fail "open configuration refused: $(cat "$T/open.log")"
grep -qF "admits every local user without a token, while ipc://$T/open.ipc" "$T/open.log" ||
    fail "no warning for a tcp endpoint beside a 0660 ipc socket: $(cat "$T/open.log")"
printf '%064x\n' 7 > "$T/token" && chmod 600 "$T/token"
sed -i "s|^\[server\]$|&\nauth_token_file = $T/token|" "$T/open.conf"
"$MIXUPD_BIN" --config "$T/open.conf" --check > "$T/tok.out" 2> "$T/tok.log" ||
    fail "token configuration refused: $(cat "$T/tok.log")"
! grep -q "admits" "$T/tok.log" || fail "warning despite a token: $(cat "$T/tok.log")"
write_conf "$T/ipc.conf" "chk$$ipc" "ipc://$T/a.ipc" "ipc://$T/b.ipc"
"$MIXUPD_BIN" --config "$T/ipc.conf" --check > "$T/ipc.out" 2> "$T/ipc.log" ||
    fail "ipc configuration refused: $(cat "$T/ipc.log")"
! grep -q "admits" "$T/ipc.log" || fail "warning for ipc alone: $(cat "$T/ipc.log")"
echo "ok: --check and start-up name file:line for unbindable endpoints, before loading; an endpoint more open than the others is warned about"
