#!/bin/sh
# Install what mixupd needs to build, test and demo (Debian 12).
# Runs apt-get as root (directly, or through sudo when not root).
set -eu
PKGS="build-essential meson ninja-build pkg-config libuv1-dev libnanomsg-dev
libcriterion-dev zlib1g-dev libinih-dev libpng-dev libturbojpeg0-dev libjpeg62-turbo-dev libsystemd-dev libsodium-dev clang libclang-rt-14-dev
libarchive-dev
python3 python3-numpy python3-torch python3-pytest dataset-fashion-mnist
valgrind python3-pil python3-sklearn python3-torchvision libxxhash-dev libjson-c-dev
librandom123-dev"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "deps: installing$missing"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q $missing
fi
