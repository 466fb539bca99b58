#!/bin/bash
# The main job: install, build, start mixupd on Fashion-MNIST, pull batches
# with mixupctl (a few saved as .npy files, then a throughput run), print
# the figures, stop the daemon. Its files (socket, log, batches, picture)
# live in build/demo/, and nothing is left in /tmp.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
echo "== dependencies"
tests/deps.sh
echo "== building (meson + ninja)"
[ -d build ] || meson setup build | tail -n 3
meson compile -C build |
    awk '/^\[[0-9]+\/[0-9]+\]/ && ++n % 10 == 1 { print "   " $0 } END { print "   built" }'

out="$root/build/demo"
rm -rf "$out"
mkdir -p "$out"
endpoint="ipc://$out/mixupd.ipc"
build/server/mixupd --config conf/mixupd.conf --set "server.endpoint=$endpoint" \
    --set server.ipc_group= --set server.shm_mode=0600 \
    --set server.name=demo 2>"$out/mixupd.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT

ctl="build/client/mixupctl --endpoint $endpoint --timeout 60000"
# Its socket appears once the dataset is loaded; until then mixupctl says
# at once that it is missing: ask again, as long as mixupd runs.
for ((t = 0; t < 600; t++)); do
    $ctl info >"$out/info.txt" 2>&1 && break
    kill -0 $pid 2>/dev/null || { cat "$out/info.txt" "$out/mixupd.log" >&2; exit 1; }
    sleep 0.1
done
echo "== mixupd on Fashion-MNIST"
$ctl info
echo "== 4 batches saved as NumPy files"
$ctl --seed 1 dump --batches 4 --out "$out/batches"
/usr/bin/python3 - "$out/batches" <<'PY'
import sys, numpy as np
d = sys.argv[1]
x, y, lam = np.load(d + "/x.npy"), np.load(d + "/y.npy"), np.load(d + "/lam.npy")
i1, i2 = np.load(d + "/index1.npy"), np.load(d + "/index2.npy")
print(f"x {x.shape} {x.dtype} in [{x.min():.3f}, {x.max():.3f}], y {y.shape}")
print(f"lambda: mean {lam.mean():.3f}, min {lam.min():.3f}, max {lam.max():.3f}")
# Fashion-MNIST's classes, as `mixupctl preview` names them.
names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
         "Shirt", "Sneaker", "Bag", "Ankle boot"]
for j in range(3):
    top = [int(c) for c in np.argsort(y[j])[::-1][:2] if y[j][c] > 0]
    labels = " + ".join(f"{names[c]} {y[j][c]:.3f}" for c in top)
    print(f"sample {j}: {lam[j]:.3f} x #{i1[j]} + {1-lam[j]:.3f} x #{i2[j]}"
          f" -> {labels}")
PY
echo "== a batch as a picture: $out/grid.png"
$ctl --seed 1 preview --out "$out/grid.png" | sed -n 1,8p
echo "== throughput (3 s each, one client copying every batch out)"
echo "-- read in place in mixupd's ring (zero copy):"
$ctl --seed 2 bench --seconds 3
echo "-- copied through the socket:"
$ctl --seed 2 --transport socket bench --seconds 3
kill -TERM $pid
wait $pid
trap - EXIT
echo "== mixupd stopped; log: $out/mixupd.log"

# The same images as a folder of PNG files (one subfolder per class, as
# torchvision's ImageFolder wants), decoded by mixupd's workers per batch.
echo "== an image folder: 2000 of the test images written as PNG files"
/usr/bin/python3 examples/fashion_mnist_png.py "$out/png" --limit 2000
build/server/mixupd --set "server.endpoint=ipc://$out/png.ipc" \
    --set server.name=demopng --set dataset.format=folder \
    --set "dataset.images=$out/png" --set dataset.channels=1 \
    --set output.height=28 --set output.width=28 \
    --set batch.size=64 --set augment.flip_horizontal=0.5 \
    2>"$out/mixupd-png.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
ctl="build/client/mixupctl --endpoint ipc://$out/png.ipc"
for ((t = 0; t < 600; t++)); do
    $ctl info >/dev/null 2>&1 && break
    kill -0 $pid 2>/dev/null || { cat "$out/mixupd-png.log" >&2; exit 1; }
    sleep 0.1
done
grep -o "dataset $out/png: .*" "$out/mixupd-png.log" | sed 's/^/   /'
$ctl bench --seconds 2 | grep -E "transport|samples/s"
kill -TERM $pid
wait $pid
trap - EXIT
