#!/usr/bin/env python3
"""connections.py — three figures of the daemon's connection handling, each
against a baseline measured in the same run (the machine may be shared:
compare the ratios, not the absolute numbers).

  /usr/bin/python3 bench/connections.py [BUILD_DIR]

burst    BURST (1000) TCP connects fired at once: the time until the last
         one completes, with server.listen_backlog = 100 (nanomsg's own
         backlog: the baseline) and with the default (4096).
churn    stream churn (open a stream, take 2 batches, close), CHURN_S
         seconds each: batches copied through the socket (the baseline)
         and read in place in the ring (zero copy).
share    16 zero-copy clients (mixupctl bench) on ring_slots = 16 and 64:
         batches_computed, slots_reclaimed (computed, then thrown away).
"""
import json, os, re, resource, select, socket, subprocess, sys, tempfile, time
import numpy as np

build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
sys.path.insert(0, os.path.join(build, "client", "python"))
import mixupd

BURST = int(os.environ.get("BURST", "1000"))
CHURN_S = float(os.environ.get("CHURN_S", "4"))
SHARE_S = float(os.environ.get("SHARE_S", "5"))
work = tempfile.mkdtemp(prefix="mixupd-conn.")
N, H, W, C, K, B = 4000, 16, 16, 3, 10, 16
np.save(f"{work}/x.npy", np.random.default_rng(1).integers(0, 255, (N, H, W, C), dtype=np.uint8))
np.save(f"{work}/y.npy", (np.arange(N) % K).astype(np.int64))
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    return p


def daemon(tag, extra):
    port = free_port()
    ipc, tcp = f"ipc://{work}/{tag}.ipc", f"tcp://127.0.0.1:{port}"
    conf = (f"[server]\nendpoint = {ipc}\nendpoint = {tcp}\nname = conn{tag}{os.getpid()}\n"
            f"workers = 2\n{extra}\n[dataset]\nformat = npy\nimages = {work}/x.npy\n"
            f"labels = {work}/y.npy\nclasses = {K}\n[batch]\nsize = {B}\nalpha = 0.4\n")
    open(f"{work}/{tag}.conf", "w").write(conf)
    d = subprocess.Popen([f"{build}/server/mixupd", "--config", f"{work}/{tag}.conf"],
                         stderr=open(f"{work}/{tag}.log", "w"))
    for _ in range(300):
        try:
            mixupd.daemon_info(ipc, timeout=0.2); break
        except mixupd.MixupError:
            time.sleep(0.1)
    return d, ipc, tcp, port


def stop(d):
    d.terminate(); d.wait(timeout=60)


def burst(port):
    socks, pending = [], {}
    t0 = time.perf_counter()
    for _ in range(BURST):
        s = socket.socket(); s.setblocking(False)
        s.connect_ex(("127.0.0.1", port)); socks.append(s); pending[s.fileno()] = s
    p = select.epoll()
    for fd in pending:
        p.register(fd, select.EPOLLOUT)
    issued = time.perf_counter() - t0
    last = 0.0
    while pending and time.perf_counter() - t0 < 30:
        for fd, _ in p.poll(1.0):
            if fd in pending:
                p.unregister(fd); del pending[fd]; last = time.perf_counter() - t0
    for s in socks:
        s.close()
    return last, len(pending), issued


def churn(ipc, zero_copy):
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < CHURN_S:
        c = mixupd.Client(ipc, seed=n, zero_copy=zero_copy)
        c.next(); c.next(); c.close(); n += 1
    return n / (time.perf_counter() - t0)


def stats(ipc):
    out = subprocess.run([f"{build}/client/mixupctl", "--endpoint", ipc, "stats", "--json"],
                         capture_output=True, text=True, timeout=30).stdout
    return json.loads(out)


rows = []
# -- burst: the baseline first, then the default, then the baseline again
times = {}
for tag, extra in [("b100", "listen_backlog = 100"), ("bdef", ""), ("b100b", "listen_backlog = 100")]:
    d, ipc, tcp, port = daemon(tag, extra)
    times[tag] = burst(port)
    stop(d)
base = max(times["b100"][0], times["b100b"][0])
rows.append(("burst: last of %d connects, backlog 100 (two runs)" % BURST,
             "%.3f s / %.3f s (%d / %d never connected; all issued after %.3f s)" % (
                 times["b100"][0], times["b100b"][0], times["b100"][1], times["b100b"][1],
                 times["b100"][2])))
rows.append(("burst: same, server.listen_backlog default (4096)",
             "%.3f s (%d never connected); ratio %.1fx faster" % (times["bdef"][0], times["bdef"][1],
                                                                 base / max(times["bdef"][0], 1e-6))))
# -- churn: socket vs zero copy, alternated
d, ipc, tcp, port = daemon("churn", "")
r = {"socket": [], "shm": []}
for _ in range(int(os.environ.get("CHURN_ROUNDS", "4"))):
    r["socket"].append(churn(ipc, False)); r["shm"].append(churn(ipc, True))
stop(d)
sock, shm = np.median(r["socket"]), np.median(r["shm"])
rows.append(("churn: streams/s, socket (baseline) / zero copy, medians",
             "%.0f / %.0f (zero copy %.2fx; rounds %s / %s)" % (
                 sock, shm, shm / sock, " ".join("%.0f" % x for x in r["socket"]),
                 " ".join("%.0f" % x for x in r["shm"]))))
# -- share: 16 zero-copy clients on 16 and 64 slots
for slots in (16, 64):
    d, ipc, tcp, port = daemon(f"share{slots}", f"ring_slots = {slots}")
    subprocess.run([f"{build}/client/mixupctl", "--endpoint", ipc, "bench", "--seconds", str(SHARE_S),
                    "--clients", "16"], capture_output=True, timeout=300)
    st = stats(ipc)
    stop(d)
    comp, recl = st["batches_computed"], st["slots_reclaimed"]
    rows.append((f"share: 16 zero-copy clients, {slots} slots: computed / reclaimed",
                 "%d / %d (%.2f %%)" % (comp, recl, 100.0 * recl / max(comp, 1))))
w = max(len(k) for k, _ in rows)
for k, v in rows:
    print(f"{k:<{w}}  {v}")
print(f"(work dir {work}; machine shared with other jobs)")
