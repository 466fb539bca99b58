#!/bin/sh
# Run by `meson install` (not into a --destdir staging tree): refresh the
# dynamic loader's cache for the new libmixup when installing as root;
# otherwise say what is left to do.
if [ "$(id -u)" = 0 ] && command -v ldconfig >/dev/null 2>&1; then
    ldconfig
else
    echo "mixupd: run 'ldconfig' as root so that programs find libmixup in $1" >&2
fi
exit 0
