#!/bin/bash
# group_access.sh — the service's access group, as the installed unit runs
# it: a non-root daemon whose primary group is its own and whose
# supplementary group is server.ipc_group. The ipc socket, the ring and the
# dataset segment go to that group (not to the daemon's primary group); a
# client in the group connects and reads batches in place from the ring; a
# client outside it is refused on the socket and cannot open the ring; a
# member of the daemon's primary group only cannot either.
# Numeric ids (no /etc/passwd or /etc/group entries are made or needed):
# setpriv switches to them. Needs root to switch: skipped otherwise.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] && command -v setpriv >/dev/null ||
    { echo "skip: needs root and setpriv"; exit 77; }
DUID=54320 GRP=54321 MEMBER=54322 OTHER=54323
CTL=${MIXUPCTL_BIN:?run through meson test}
chmod 755 "$T"
make_idx "$T" 40 4 4
chmod 644 "$T"/*.idx
mkdir "$T/run" && chown "$DUID" "$T/run"
name="grp$$"
write_conf "$T/c.conf" "$name" "ipc://$T/run/d.ipc"
sed -i "s/^\[server\]$/&\nipc_group = $GRP\nshm_mode = 0640/" "$T/c.conf"
chmod 644 "$T/c.conf"

setpriv --reuid "$DUID" --regid "$DUID" --groups "$GRP" \
    "$MIXUPD_BIN" --config "$T/c.conf" 2> "$T/d.log" &
D=$!; PIDS="$D"
wait_for "$T/d.log" "ready:" 20
pid=$(sed -n 's/.*mixupd\[\([0-9]*\)\].*/\1/p' "$T/d.log" | head -1)
[ "$pid" = "$D" ] || fail "daemon pid $pid, started $D"

# Owner and group of what a client touches.
perm() { stat -c '%u:%g %a' "$1"; }
[ "$(perm "$T/run/d.ipc")" = "$DUID:$GRP 660" ] ||
    fail "ipc socket: $(perm "$T/run/d.ipc")"
for seg in ring dataset; do
    f=/dev/shm/mixupd.$name.$D.$seg
    [ "$(perm "$f")" = "$DUID:$GRP 640" ] || fail "$seg segment: $(perm "$f")"
done

# A member connects and maps the ring: batches read in place.
as() { local u=$1; shift; setpriv --reuid "$u" --regid "$u" "$@"; }
as "$MEMBER" --groups "$GRP" "$CTL" --endpoint "ipc://$T/run/d.ipc" \
    --timeout 5000 bench --seconds 0.3 > "$T/member.out" 2> "$T/member.err" ||
    fail "member refused: $(cat "$T/member.err")"
grep -qx "transport: shm" "$T/member.out" ||
    fail "member did not read the ring in place: $(cat "$T/member.out" "$T/member.err")"
as "$MEMBER" --groups "$GRP" head -c 1 "/dev/shm/mixupd.$name.$D.ring" > /dev/null ||
    fail "member cannot read the ring"

# Not a member: refused on the socket, at once, and the ring is closed.
rc=0
as "$OTHER" --clear-groups "$CTL" --endpoint "ipc://$T/run/d.ipc" \
    --timeout 5000 info > "$T/other.out" 2> "$T/other.err" || rc=$?
[ "$rc" = 1 ] || fail "non-member: exit $rc: $(cat "$T/other.out" "$T/other.err")"
grep -qi "permission denied" "$T/other.err" ||
    fail "non-member: no permission message: $(cat "$T/other.err")"
as "$OTHER" --clear-groups head -c 1 "/dev/shm/mixupd.$name.$D.ring" \
    > /dev/null 2>&1 && fail "a non-member read the ring"
# A member of the daemon's primary group only: the group the ring used to get.
as "$OTHER" --groups "$DUID" head -c 1 "/dev/shm/mixupd.$name.$D.ring" \
    > /dev/null 2>&1 && fail "a member of the daemon's primary group read the ring"

kill -TERM "$D"
wait_exit "$D" 10
[ "$RC" = 0 ] || fail "daemon exit $RC: $(cat "$T/d.log")"
PIDS=""
assert_nothing_left "$name"
echo "ok: socket, ring and dataset belong to ipc_group; member maps the ring, others are refused"
