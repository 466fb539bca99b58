#!/bin/bash
# Set everything up and run every test: the Criterion suite in a normal
# build, then again under AddressSanitizer + UndefinedBehaviorSanitizer.
# Ends with one line "tests: N passed, M failed".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tests/deps.sh

setup() { # dir, extra meson options...
    local dir=$1; shift
    if [ -d "$dir" ]; then
        meson setup --reconfigure "$dir" "$@" >/dev/null
    else
        meson setup "$dir" "$@" >/dev/null
    fi
    meson compile -C "$dir"
}

status=0
setup build
meson test -C build --print-errorlogs --num-processes 2 || status=1
# The Python client (pytest, the package from the build tree).
MIXUPD_BUILD_ROOT="$root/build" /usr/bin/python3 -m pytest tests/python -q \
    -p no:cacheprovider 2>&1 | tee build/meson-logs/pytest.txt || status=1
setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    meson test -C build-asan --print-errorlogs --num-processes 2 || status=1

# Every fuzz target compiles (clang, libFuzzer, sanitizers) and replays its
# committed corpus, so none can rot unseen. Only the fuzz targets and what
# they link are built: the list comes from the build's own introspection,
# so a new target is picked up without editing this file.
if [ -d build-fuzz ]; then
    meson setup --reconfigure build-fuzz >/dev/null
else
    CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
        -Db_lundef=false >/dev/null
fi
fuzz_targets=$(meson introspect build-fuzz --targets | /usr/bin/python3 -c '
import json, sys
print(" ".join(t["name"] for t in json.load(sys.stdin)
               if t["name"].startswith("fuzz_") and t["type"] == "executable"))')
[ -n "$fuzz_targets" ] || { echo "FAIL: no fuzz target configured"; status=1; }
meson compile -C build-fuzz $fuzz_targets || status=1
meson test -C build-fuzz --no-rebuild --suite fuzz --print-errorlogs 2>&1 |
    tee build-fuzz/meson-logs/fuzz.txt || status=1

# One closing line over all runs, from Criterion's own "Synthesis" lines,
# the shell tests' "ok:" / "FAIL:" lines and pytest's last line ("N failed, M passed in S s").
{ cat build/meson-logs/testlog.txt build-asan/meson-logs/testlog.txt
  tail -n 1 build/meson-logs/pytest.txt | sed 's/^/pytest: /'
  # "1/6 mixupd:fuzz / fuzz_npy_corpus OK 1.2s": one test each
  sed -n 's/^ *[0-9]*\/[0-9]* .*fuzz_.*_corpus  *OK .*/ok: fuzz corpus/p; s/^ *[0-9]*\/[0-9]* .*fuzz_.*_corpus  *\(FAIL\|TIMEOUT\).*/FAIL: fuzz corpus/p' \
      build-fuzz/meson-logs/fuzz.txt; } |
    awk -v st="$status" '/Synthesis: Tested:/ {
            for (i = 1; i <= NF; i++) {
                if ($i == "Passing:") p += $(i + 1)
                if ($i == "Failing:") f += $(i + 1)
                if ($i == "Crashing:") f += $(i + 1)
            }
         }
         /^ok: / { p++ }        # the shell tests (tests/sh/)
         /^FAIL: / { f++ }
         /^pytest: / {
            for (i = 2; i <= NF; i++) {
                if ($i ~ /^passed/) p += $(i - 1)
                if ($i ~ /^(failed|error)/) f += $(i - 1)
            }
         }
         END {
            # A build step or a test outside Criterion, the shell tests,
            # pytest and the corpora (layers, installed_headers) failed.
            if (st != 0 && f == 0) f = 1
            printf "tests: %d passed, %d failed\n", p, f
         }'
exit $status
