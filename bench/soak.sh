#!/bin/bash
# soak.sh — the daemon under faults and hostile peers at once.
# Not part of the CI suite: minutes, not seconds.
#
#   bench/soak.sh [BUILD_DIR] [SECONDS_OF_ATTACK] [BATCHES_PER_CLIENT]
#
# One daemon (with a token) on a synthetic npy dataset; beside it:
#   - 16 independent clients (tests/client_helper), a quarter SIGKILLed
#     mid-stream; every survivor must see its positions consecutively;
#   - a shared job of 4 members, one paused holding a batch and SIGKILLed:
#     the job's epoch 0 must reach the others exactly once;
#   - framed-garbage floods and idle SP connections (raw tcp peers, as in
#     tests/test_hostile.c), and peers without the token;
#   - a normal client whose NEXT latency is measured during the attack;
#   - the daemon's RSS sampled throughout.
# Prints a table and exits 1 when a batch was lost or duplicated.
set -u
BUILD=${1:-build}
ATTACK=${2:-20}
PER=${3:-2000}
exec /usr/bin/python3 - "$BUILD" "$ATTACK" "$PER" <<'PY'
import os, signal, socket, struct, subprocess, sys, tempfile, threading, time
import numpy as np

build, attack_s, per = os.path.abspath(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
sys.path.insert(0, os.path.join(build, "client", "python"))
import mixupd

work = tempfile.mkdtemp(prefix="mixupd-soak.")
N, H, W, C, K, B = 4000, 16, 16, 3, 10, 16
rng = np.random.default_rng(1)
np.save(f"{work}/x.npy", rng.integers(0, 255, (N, H, W, C), dtype=np.uint8))
np.save(f"{work}/y.npy", (np.arange(N) % K).astype(np.int64))
token = f"{work}/token"
with open(token, "w") as f:
    f.write(os.urandom(32).hex() + "\n")
os.chmod(token, 0o600)
os.environ["MIXUPD_TOKEN_FILE"] = token
port = socket.socket(); port.bind(("127.0.0.1", 0)); tcp_port = port.getsockname()[1]; port.close()
ipc = f"ipc://{work}/mixupd.ipc"
tcp = f"tcp://127.0.0.1:{tcp_port}"
log_path = f"{work}/mixupd.log"
conf = f"""[server]
endpoint = {ipc}
endpoint = {tcp}
name = soak{os.getpid()}
workers = 2
ring_slots = 32
prefetch = 2
shared_lease = 2
auth_token_file = {token}
[dataset]
format = npy
images = {work}/x.npy
labels = {work}/y.npy
classes = {K}
[batch]
size = {B}
alpha = 0.4
"""
open(f"{work}/mixupd.conf", "w").write(conf)
daemon = subprocess.Popen([f"{build}/server/mixupd", "--config", f"{work}/mixupd.conf"],
                          stderr=open(log_path, "w"))
for _ in range(300):
    try:
        mixupd.daemon_info(ipc, timeout=0.2); break
    except mixupd.MixupError:
        time.sleep(0.1)
BPE = N // (2 * B)

def rss_kb():
    for line in open(f"/proc/{daemon.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
rss = [rss_kb()]
helper = f"{build}/tests/client_helper"

def spawn(mode, job, seed, batches, then):
    return subprocess.Popen([helper, ipc, mode, job, str(seed), str(batches), then],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

# -- attackers -----------------------------------------------------------
stop = threading.Event()
frames = [0]

def sp_connect():
    s = socket.create_connection(("127.0.0.1", tcp_port))
    s.sendall(b"\0SP\0\0\x30\0\0")
    s.recv(8)
    return s

def garbage():
    s = sp_connect(); s.setblocking(False)
    junk = os.urandom(40)
    while not stop.is_set():
        body = struct.pack(">I", 0x80000000 | (frames[0] & 0x7fffffff)) + junk
        try:
            s.send(struct.pack(">Q", len(body)) + body); frames[0] += 1
        except BlockingIOError:
            time.sleep(0.001)
        except OSError:
            try: s = sp_connect(); s.setblocking(False)
            except OSError: time.sleep(0.05)
    s.close()

def no_token():
    while not stop.is_set():
        try:
            c = subprocess.run([f"{build}/client/mixupctl", "--endpoint", tcp, "--token-file",
                                "/dev/null", "info"], capture_output=True, timeout=10)
        except Exception:
            pass
        # without any token: a raw INFO request with flags 0
        try:
            s = sp_connect()
            req = b"MIXP" + struct.pack("<HHIQI", 2, 1, 0, 1, 0)
            body = struct.pack(">I", 0x80000001) + req
            s.sendall(struct.pack(">Q", len(body)) + body); time.sleep(0.01); s.close()
        except OSError:
            pass

idle = []

# -- clients -------------------------------------------------------------
t0 = time.time()
indep = [spawn("independent", "-", 100 + i, per, "close") for i in range(16)]
killed = set(range(0, 16, 4))
# The victim takes 5 batches, keeps the 5th unacknowledged and is killed;
# after the lease (2 s) the job's other members must get that batch.
victim = spawn("shared", "soakjob", 7, 5, "pause")
vlines = [victim.stdout.readline() for _ in range(5)]
victim.send_signal(signal.SIGKILL)
time.sleep(3.5)
shared = [spawn("shared", "soakjob", 7, 0, "close") for _ in range(3)]
log_before = sum(1 for _ in open(log_path))
threads = [threading.Thread(target=garbage) for _ in range(2)] + [threading.Thread(target=no_token)]
for t in threads: t.start()
for _ in range(200):
    try: idle.append(sp_connect())
    except OSError: break
attack_start = time.time()
lat = []
normal = mixupd.Client(tcp, seed=999, zero_copy=False)
time.sleep(0.5)
for i in killed:
    indep[i].send_signal(signal.SIGKILL)
while time.time() - attack_start < attack_s:
    a = time.perf_counter(); normal.next(); lat.append((time.perf_counter() - a) * 1e3)
    if len(lat) % 50 == 0:
        rss.append(rss_kb())
    time.sleep(0.005)
attack_time = time.time() - attack_start
log_attack = sum(1 for _ in open(log_path)) - log_before
stop.set()
for t in threads: t.join()
for s in idle: s.close()
normal.close()

# -- checks --------------------------------------------------------------
lost = dups = 0
got_batches = len(lat)
for i, p in enumerate(indep):
    out = p.communicate(timeout=600)[0].split("\n")
    pos = [tuple(map(int, l.split()[:2])) for l in out if l]
    got_batches += len(pos)
    if i in killed:
        continue
    want = [(k // BPE, k % BPE) for k in range(per)]
    if pos != want:
        s = set(pos)
        lost += sum(1 for w in want if w not in s)
        dups += len(pos) - len(s)
victim.wait(timeout=60)
vout = vlines
vpos = [tuple(map(int, l.split()[:2])) for l in vout if l][:-1]  # last: unacknowledged
spos = list(vpos)
for p in shared:
    out = p.communicate(timeout=600)[0].split("\n")
    spos += [tuple(map(int, l.split()[:2])) for l in out if l]
got_batches += len(spos)
e0 = [k for e, k in spos if e == 0]
lost += sum(1 for k in range(BPE) if k not in set(e0))
dups += len(e0) - len(set(e0))
rss.append(rss_kb())
daemon.send_signal(signal.SIGTERM)
status = daemon.wait(timeout=60)
lat.sort()
pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
rows = [
    ("batches received (all clients)", f"{got_batches}"),
    ("batches lost", f"{lost}"),
    ("duplicates", f"{dups}"),
    ("clients SIGKILLed (independent + shared)", f"{len(killed)} + 1"),
    ("garbage frames sent", f"{frames[0]} ({frames[0] / attack_time:.0f}/s)"),
    ("idle SP connections held", f"{len(idle)}"),
    ("log lines/s under attack", f"{log_attack / attack_time:.1f}"),
    ("RSS start / max / end (MB)", f"{rss[0] / 1024:.1f} / {max(rss) / 1024:.1f} / {rss[-1] / 1024:.1f}"),
    ("RSS growth (MB)", f"{(rss[-1] - rss[0]) / 1024:+.1f}"),
    ("normal client NEXT p50 / p99 / max (ms)", f"{pct(.5):.2f} / {pct(.99):.2f} / {lat[-1]:.2f}"),
    ("daemon exit status", f"{status}"),
]
w = max(len(r[0]) for r in rows)
for k, v in rows:
    print(f"{k:<{w}}  {v}")
print(f"(work dir {work})")
sys.exit(1 if lost or dups or status != 0 else 0)
PY
