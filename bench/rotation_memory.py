#!/usr/bin/env python3
"""Memory under rotation: 100 files written at 20,000 lines/s in all, each
rename-rotated at random (about 9 rotations a second in all, three rotated
files kept per file), while the agent ships to an external broker that keeps
no records (go run ./bench/broker). Prints the agent's RSS and the heap
after each GC (GODEBUG=gctrace=1) every 10 s.

    go build -o /tmp/logship ./cmd/logship
    go run ./bench/broker -port 19312 &
    python3 bench/rotation_memory.py /tmp/logship 600
"""
import os, time, subprocess, sys, re, random
base = "/tmp/logship-rotation-memory"
logs = base + "/logs"
os.system(f"rm -rf {logs} {base}/data; mkdir -p {logs}")
port = 19312
cfg = f"""
inputs:
  - paths: ["{logs}/*.log"]
    rotated_files: ["{logs}/*.log.*"]
    close_inactive: 5s
    scan_frequency: 1s
registry: {{path: "{base}/data/registry.json", flush_interval: 1s}}
output: {{kafka: {{hosts: ["127.0.0.1:{port}"], topic: logs, codec: raw}}}}
logging: {{level: warn, metrics: {{period: 30s}}}}
"""
open(base + "/agent.yml", "w").write(cfg)
env = dict(os.environ, GODEBUG="gctrace=1")
p = subprocess.Popen([sys.argv[1], "-c", base + "/agent.yml"], stderr=open(base + "/agent.err", "w"), env=env)
time.sleep(2)
dur = float(sys.argv[2]) if len(sys.argv) > 2 else 240
start = time.time(); rot = {}; seq = 0; rotations = 0; last = 0
line = "x" * 180
while time.time() - start < dur:
    for f in range(100):
        path = f"{logs}/f{f}.log"
        with open(path, "a") as fh:
            for _ in range(20):
                fh.write(f"{f} {seq} {line}\n"); seq += 1
        if random.random() < 0.01:
            n = rot.get(f, 0) + 1; rot[f] = n
            os.rename(path, f"{path}.{n}")
            if n > 3:
                try: os.remove(f"{path}.{n-3}")
                except FileNotFoundError: pass
            rotations += 1
    time.sleep(0.1)
    if time.time() - last >= 10:
        last = time.time()
        rss = int(re.search(r"VmRSS:\s+(\d+)", open(f"/proc/{p.pid}/status").read()).group(1)) // 1024
        gcs = [l for l in open(base + "/agent.err") if l.startswith("gc ")]
        heap = gcs[-1].split("MB")[0].split()[-1] if gcs else "?"
        print(f"t={int(time.time()-start)}s rss={rss}MiB heap_after_gc={heap} rotations={rotations} lines={seq}", flush=True)
p.terminate(); p.wait()
