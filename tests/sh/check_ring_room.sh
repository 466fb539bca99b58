#!/bin/bash
# check_ring_room.sh — `mixupd --check` refuses a ring that /dev/shm cannot
# hold (the real start would fail with "no room in /dev/shm for ring"),
# and reports the rings' size when they fit.
. "$(dirname "$0")/lib.sh"
B=32768
/usr/bin/python3 - "$T" $((2 * B)) <<'PY'
import struct, sys
d, n = sys.argv[1], int(sys.argv[2])
open(d + "/images.idx", "wb").write(struct.pack(">4I", 2051, n, 8, 8) + bytes(n * 64))
open(d + "/labels.idx", "wb").write(struct.pack(">2I", 2049, n) + bytes(i % 2 for i in range(n)))
PY
write_conf "$T/big.conf" "room$$" "ipc://$T/big.ipc"
# One batch: B float32 images of 8x8 plus labels and provenance, about
# 9 MB; 4096 slots of it need about 37 GB.
sed -i "s/^ring_slots = 2$/ring_slots = 4096/; s/^size = 4$/size = $B/" "$T/big.conf"
avail=$(df -B1 --output=avail /dev/shm | tail -n 1)
if [ "$avail" -gt 30000000000 ]; then
    echo "ok: skipped (/dev/shm has $avail bytes, more than a 4096-slot ring)"
    exit 0
fi
rc=0; "$MIXUPD_BIN" --config "$T/big.conf" --check > "$T/big.out" 2> "$T/big.log" || rc=$?
[ "$rc" = 1 ] || fail "--check passed a ring larger than /dev/shm: exit $rc: $(cat "$T/big.log" "$T/big.out")"
grep -qF "no room in /dev/shm for the ring: need " "$T/big.log" ||
    fail "--check: no ring-room message: $(cat "$T/big.log")"
grep -qF "lower server.ring_slots" "$T/big.log" || fail "no advice: $(cat "$T/big.log")"
assert_nothing_left "room$$"
# The same dataset with 2 slots fits, and --check says how much it takes.
sed -i "s/^ring_slots = 4096$/ring_slots = 2/" "$T/big.conf"
"$MIXUPD_BIN" --config "$T/big.conf" --check > "$T/ok.out" 2> "$T/ok.log" ||
    fail "2 slots refused: $(cat "$T/ok.log")"
grep -q "^rings: [0-9]* bytes of /dev/shm" "$T/ok.out" || fail "no rings line: $(cat "$T/ok.out")"
assert_nothing_left "room$$"
echo "ok: --check refuses a ring larger than the room left in /dev/shm"
