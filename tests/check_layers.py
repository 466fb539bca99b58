#!/usr/bin/env python3
"""check_layers.py SOURCE_ROOT — every quoted #include in the tree stays
within the layers it may see, so a call that climbs back up is caught even
where an include path would let it through (a relative "../serve/x.h", a
header that two folders both have on their path).

  server/common  itself
  server/data    common, data
  server/batch   common, data, batch
  server/serve   every server stage
  server/main.c  everything in server/
  (each server folder also proto/ and the public mixup.h: the wire
  vocabulary and error codes every part shares)
  proto/         itself and the public wire headers beside mixup.h
  client/lib     itself, proto/
  client/mixupctl  itself, the public client header (mixup.h)

An include is resolved by name to the folder that holds that header; a
header no folder holds (a system or library header) is not checked. Then,
for the pairs of files that once called each other, the lower file may
not name a function the upper one defines.
Prints each violation as FILE:LINE and exits 1 if there is any.
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
STAGES = ["server/common", "server/data", "server/batch", "server/serve"]
WIRE = {"proto", "client/lib:public"}
ALLOWED = {
    "server/common": {"server/common"} | WIRE,
    "server/data": {"server/common", "server/data"} | WIRE,
    "server/batch": {"server/common", "server/data", "server/batch"} | WIRE,
    "server/serve": set(STAGES) | WIRE,
    "server": set(STAGES) | {"server"} | WIRE,
    "proto": {"proto", "client/lib:public"},
    "client/lib": {"client/lib", "proto"},
    "client/mixupctl": {"client/mixupctl", "client/lib:public"},
}
# The installed headers of client/lib that proto/ and mixupctl may use.
PUBLIC = {"mixup.h"}

where = {}  # header name -> folder
for folder in list(ALLOWED):
    d = os.path.join(root, folder)
    for name in os.listdir(d):
        if name.endswith(".h"):
            where.setdefault(name, set()).add(folder)

include = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
bad = 0
for folder, allowed in ALLOWED.items():
    d = os.path.join(root, folder)
    for name in sorted(os.listdir(d)):
        if not name.endswith((".c", ".h")):
            continue
        path = os.path.join(d, name)
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                m = include.match(line)
                if not m:
                    continue
                inc = m.group(1)
                target = os.path.normpath(os.path.join(folder, os.path.dirname(inc)))
                base = os.path.basename(inc)
                if os.path.dirname(inc):
                    homes = {target}
                else:
                    homes = where.get(base, set())
                if not homes:
                    continue
                ok = any(h in allowed or
                         (h == "client/lib" and base in PUBLIC and
                          "client/lib:public" in allowed)
                         for h in homes)
                if not ok:
                    bad += 1
                    print(f"{folder}/{name}:{n}: includes {inc} "
                          f"(from {', '.join(sorted(homes))}); "
                          f"{folder} may include only {', '.join(sorted(allowed))}")
# Within a folder, files that once called each other: the lower file of
# each pair must not name a function the upper one defines (the upper one
# registers a table or a callback instead).
ONE_WAY = [
    ("client/lib/client.c", "client/lib/stripe.c"),
    ("client/lib/client.c", "client/lib/connect.c"),
    ("client/lib/stripe.c", "client/lib/connect.c"),
    ("server/data/dataset.c", "server/data/dataset_image.c"),
    ("server/data/dataset.c", "server/data/dataset_load.c"),
    ("server/data/dataset_image.c", "server/data/dataset_load.c"),
    ("server/serve/sched.c", "server/serve/streams.c"),
]
defined = re.compile(r"^(?!static\b)[A-Za-z_][\w \*]*?\b(\w+)\(", re.M)
comment = re.compile(r"/\*.*?\*/", re.S)
for lower, upper in ONE_WAY:
    with open(os.path.join(root, upper), encoding="utf-8") as f:
        names = set(defined.findall(f.read())) - {"if", "for", "while", "return", "switch", "sizeof"}
    with open(os.path.join(root, lower), encoding="utf-8") as f:
        text = comment.sub("", f.read())
    for name in sorted(names):
        if re.search(r"\b%s\b" % re.escape(name), text):
            bad += 1
            print(f"{lower}: names {name}() of {upper}, a layer above it")
if bad:
    sys.exit(1)
print("layers: every include stays within its layer, and no file calls "
      "the layer above it by name")
