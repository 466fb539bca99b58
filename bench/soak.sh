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
# Then, each with a daemon of its own:
#   - zero copy at length: ZC_BATCHES (1 000 000) batches over the ring, 4
#     clients, positions checked consecutive, RSS sampled every second;
#   - the daemon SIGKILLed under 4 zero-copy clients: none may die of a
#     signal (SIGBUS), and a daemon of the same name starts again at once;
#   - /dev/shm filled while serving (a 128 MB tmpfs over /dev/shm in a
#     mount namespace of its own: needs root and unshare; skipped without):
#     the clients go on, byte positions intact, and a second daemon is
#     refused with "no room in /dev/shm".
# Prints a table and exits 1 when a batch was lost or duplicated, or a
# client died of a signal.
set -u
BUILD=${1:-build}
ATTACK=${2:-20}
PER=${3:-2000}
exec /usr/bin/python3 - "$BUILD" "$ATTACK" "$PER" "$0" <<'PY'
import os, re, signal, socket, struct, subprocess, sys, tempfile, threading, time
import numpy as np

build, attack_s, per = os.path.abspath(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
script = os.path.abspath(sys.argv[4])
ZC_BATCHES = int(os.environ.get("ZC_BATCHES", "1000000"))
phase = os.environ.get("SOAK_PHASE", "all")
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

def start_daemon(name, path):
    """A daemon of its own (no attackers), ipc only; returns (Popen, ipc, log)."""
    ep = f"ipc://{work}/{name}.ipc"
    conf = (f"[server]\nendpoint = {ep}\nname = {name}\nworkers = 2\n"
            f"ring_slots = 32\nprefetch = 2\nauth_token_file = {token}\n"
            f"[dataset]\nformat = npy\nimages = {work}/x.npy\n"
            f"labels = {work}/y.npy\nclasses = {K}\n[batch]\nsize = {B}\nalpha = 0.4\n")
    open(f"{work}/{name}.conf", "w").write(conf)
    logp = f"{work}/{name}.log"
    d = subprocess.Popen([f"{build}/server/mixupd", "--config", f"{work}/{name}.conf"],
                         stderr=open(logp, "a"))
    for _ in range(300):
        if d.poll() is not None:
            return d, ep, logp
        try:
            mixupd.daemon_info(ep, timeout=0.2); break
        except mixupd.MixupError:
            time.sleep(0.1)
    return d, ep, logp

def rss_of(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return 0

def lent_count(ep):
    out = subprocess.run([f"{build}/client/mixupctl", "--endpoint", ep, "stats", "--json"],
                         capture_output=True, text=True, timeout=30).stdout
    m = re.search(r'"lent": (\d+)', out[out.find('"transport"'):])
    return int(m.group(1)) if m else -1

def consume(p, bpe, want, out):
    """Read a client_helper's lines as they come; check consecutive positions."""
    n = bad = 0
    for line in p.stdout:
        e, k = map(int, line.split()[:2])
        if (e, k) != (n // bpe, n % bpe):
            bad += 1
        n += 1
    out.append((n, bad))

def shm_full_phase():
    """Inside a mount namespace with a 128 MB tmpfs on /dev/shm."""
    d, ep, logp = start_daemon(f"soakfull{os.getpid()}", work)
    bpe = N // (2 * B)
    helper = f"{build}/tests/client_helper"
    cl = [subprocess.Popen([helper, ep, "independent", "-", str(300 + i), "20000", "close"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
          for i in range(4)]
    res = []
    ts = [threading.Thread(target=consume, args=(p, bpe, 20000, res)) for p in cl]
    for t in ts: t.start()
    time.sleep(1.0)
    filled = 0
    with open("/dev/shm/soak-filler", "wb") as f:
        chunk = b"\1" * (1 << 20)
        try:
            while True:
                f.write(chunk); f.flush(); filled += len(chunk)
        except OSError:
            pass
    second = subprocess.run([f"{build}/server/mixupd", "--config", f"{work}/{os.path.basename(logp)[:-4]}.conf",
                             "--set", f"server.name=soakfull2{os.getpid()}", "--set",
                             f"server.endpoint=ipc://{work}/full2.ipc"],
                            capture_output=True, text=True, timeout=120)
    for t in ts: t.join()
    codes = [p.wait() for p in cl]
    os.unlink("/dev/shm/soak-filler")
    d.send_signal(signal.SIGTERM); st = d.wait(timeout=60)
    refused = "no room in /dev/shm" in second.stderr and second.returncode == 1
    why = [l for l in second.stderr.splitlines() if "error" in l][-1:] or ["-"]
    why = why[0].split("error: ")[-1][:160]
    print(f"SHMFULL filled={filled} batches={sum(n for n, _ in res)} bad={sum(b for _, b in res)} "
          f"codes={codes} second_rc={second.returncode} refused={int(refused)} exit={st} "
          f"second daemon: {why}")
    sys.exit(0)

if phase == "shmfull":
    shm_full_phase()
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
# -- zero copy at length --------------------------------------------------
zc = {}
d2, ep2, _ = start_daemon(f"soakzc{os.getpid()}", work)
rss2 = [rss_of(d2.pid)]
per_client = ZC_BATCHES // 4
zc_t0 = time.time()
zcl = [subprocess.Popen([helper, ep2, "independent", "-", str(200 + i), str(per_client), "close"],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
       for i in range(4)]
zres = []
zts = [threading.Thread(target=consume, args=(p, BPE, per_client, zres)) for p in zcl]
for t in zts: t.start()
while any(t.is_alive() for t in zts):
    time.sleep(1.0); rss2.append(rss_of(d2.pid))
zc_s = time.time() - zc_t0
zc_codes = [p.wait() for p in zcl]
zc["batches"] = sum(n for n, _ in zres)
zc["bad"] = sum(b for _, b in zres) + sum(per_client - n for n, _ in zres)
zc["lent"] = lent_count(ep2)
zc["rss"] = rss2
d2.send_signal(signal.SIGTERM); d2.wait(timeout=60)

# -- the daemon SIGKILLed under zero-copy clients ----------------------------
kname = f"soakkill{os.getpid()}"
d3, ep3, klog = start_daemon(kname, work)
kcl = [subprocess.Popen([helper, ep3, "independent", "-", str(400 + i), str(10**9), "close"],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
       for i in range(4)]
for p in kcl:
    p.stdout.readline()
d3.send_signal(signal.SIGKILL); d3.wait()
kill_codes = []
for p in kcl:
    try:
        p.communicate(timeout=90); kill_codes.append(p.returncode)
    except subprocess.TimeoutExpired:
        p.kill(); p.wait(); kill_codes.append("hung")
t_restart = time.time()
d4, ep4, _ = start_daemon(kname, work)
restarted = d4.poll() is None
restart_s = time.time() - t_restart
one = subprocess.run([helper, ep4, "independent", "-", "1", "3", "close"], capture_output=True,
                     text=True, timeout=120) if restarted else None
if restarted:
    d4.send_signal(signal.SIGTERM); d4.wait(timeout=60)

# -- /dev/shm filled while serving -------------------------------------------
shmfull = "skipped (needs root and unshare)"
shm_bad = False
if os.geteuid() == 0 and subprocess.run(["which", "unshare"], capture_output=True).returncode == 0:
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        f"mount -t tmpfs -o size=128m tmpfs /dev/shm && SOAK_PHASE=shmfull exec bash {script} {build}"],
                       capture_output=True, text=True, timeout=900)
    m = re.search(r"SHMFULL (.*)", r.stdout)
    shmfull = m.group(1) if m else f"failed: {r.stdout[-300:]} {r.stderr[-300:]}"
    shm_bad = not m or " bad=0 " not in m.group(0) or "codes=[0, 0, 0, 0]" not in m.group(0) \
        or "refused=1" not in m.group(0)

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
    ("zero copy: batches / out of order or missing", f"{zc['batches']} / {zc['bad']} in {zc_s:.0f} s ({zc['batches'] / zc_s:.0f}/s)"),
    ("zero copy: batches lent (daemon's count)", f"{zc['lent']}"),
    ("zero copy: RSS start / max / end (MB), samples", f"{zc['rss'][0] / 1024:.1f} / {max(zc['rss']) / 1024:.1f} / {zc['rss'][-1] / 1024:.1f}, {len(zc['rss'])}"),
    ("zero copy: client exit codes", f"{zc_codes}"),
    ("daemon SIGKILLed: zero-copy clients' exit codes", f"{kill_codes} (1: error reported; negative: killed by a signal)"),
    ("restart of the same name: up / in (s) / 3 batches", f"{restarted} / {restart_s:.2f} / {(one.stdout.count(chr(10)) if one else 0)}"),
    ("/dev/shm filled while serving", shmfull),
]
w = max(len(r[0]) for r in rows)
for k, v in rows:
    print(f"{k:<{w}}  {v}")
print(f"(work dir {work})")
sig_dead = any(isinstance(c, int) and c < 0 for c in kill_codes) or "hung" in kill_codes
sys.exit(1 if lost or dups or status != 0 or zc["bad"] or sig_dead or not restarted or shm_bad else 0)
PY
