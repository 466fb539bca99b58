#!/bin/bash
# signals_during_load.sh — signals from the first instruction: SIGTERM
# and SIGINT while the dataset loads abandon the load, exit 0 and leave
# nothing in /dev/shm (segment or lock); SIGHUP while loading is ignored
# with a log line and the daemon goes on to serve. The dataset is a
# gzip'd IDX of 768 MB (1 MB on disk): decompressing it takes about a
# second, and each signal is sent once the log says loading started.
. "$(dirname "$0")/lib.sh"
n=1000000 h=28 w=28
{ printf "$(be32 2051)$(be32 $n)$(be32 $h)$(be32 $w)"
  head -c $(( n * h * w )) /dev/zero; } | gzip -1 > "$T/images.idx.gz"
{ printf "$(be32 2049)$(be32 $n)"; head -c $n /dev/zero; } | gzip -1 > "$T/labels.idx.gz"

start() { # tag
    write_conf "$T/$1.conf" "sig$$$1" "ipc://$T/$1.ipc"
    sed -i "s|images.idx|images.idx.gz|; s|labels.idx|labels.idx.gz|" "$T/$1.conf"
    "$MIXUPD_BIN" --config "$T/$1.conf" 2> "$T/$1.log" &
    pid=$!; PIDS="$PIDS $pid"
    wait_for "$T/$1.log" "loading dataset" 30
}

for sig in TERM INT; do
    start "$sig"
    kill -"$sig" "$pid"
    wait_exit "$pid" 30
    [ "$RC" = 0 ] || fail "SIG$sig during load: exit $RC: $(cat "$T/$sig.log")"
    grep -q "while loading the dataset: stopping" "$T/$sig.log" ||
        fail "SIG$sig: not stopped during the load: $(cat "$T/$sig.log")"
    assert_nothing_left "sig$$$sig"
done

start HUP
kill -HUP "$pid"
wait_for "$T/HUP.log" "ready:" 60
grep -q "SIGHUP while loading the dataset: ignored" "$T/HUP.log" ||
    fail "SIGHUP: no log line: $(cat "$T/HUP.log")"
kill -TERM "$pid"
wait_exit "$pid" 30
[ "$RC" = 0 ] || fail "SIGTERM after SIGHUP: exit $RC: $(cat "$T/HUP.log")"
assert_nothing_left "sig$$HUP"
echo "ok: SIGTERM, SIGINT during load stop cleanly; SIGHUP is ignored"
