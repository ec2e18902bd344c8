#!/usr/bin/env python3
"""Console benchmarks in Debian's chromium against a real vigil-server (no agent; events arrive
through /api/import, which goes through the same store commit and live fan-out as an agent's):

  live   the live view while 5,000 events/s are stored for 60 s: frames per second against the
         same page idle just before (baseline), frames longer than 50 ms, events shown vs sent
  tree   a process with 1,000 descendants: time to the rendered tree, against a 1-node tree
  scroll a 100,000-row hunt result scrolled end to end: frame rate against a 100-row result

Run from the repository root after ./scripts/build:  python3 bench/console/run_console_bench.py
"""
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import http.client
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
sys.path.insert(0, os.path.join(ROOT, "tests/e2e"))
os.environ.setdefault("VIGIL_BIN", os.path.join(ROOT, "build/bin"))
from vigil_e2e import BIN, Vigil, check  # noqa: E402

RATE = int(os.environ.get("RATE", "5000"))
SECONDS = int(os.environ.get("SECONDS", "60"))


def post(port, ctx, token, path, body):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=120)
    conn.request("POST", path, body=body, headers={"Authorization": "Bearer " + token,
                                                    "Content-Type": "application/x-ndjson"})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    if r.status != 200:
        raise RuntimeError(f"{path}: {r.status} {data[:300]}")
    return json.loads(data)


def process_event(ts, entity, parent, pid, name, cmd, host="bench-host"):
    return json.dumps({"@timestamp": ts, "event.category": "process", "event.type": "start",
                       "event.action": "exec", "event.dataset": "bench", "host.name": host, "host.id": host,
                       "process.entity_id": entity, "process.parent.entity_id": parent, "process.pid": pid,
                       "process.name": name, "process.executable": "/usr/bin/" + name,
                       "process.command_line": cmd, "user.name": "bench"})


with Vigil() as v:
    v.start_server()
    token = open(os.path.join(v.dir, "admin.token")).read().strip()
    ctx = ssl.create_default_context(cafile=os.path.join(v.dir, "pki/ca.crt"))
    password = uuid.uuid4().hex
    subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "user", "add", "bench", "--role", "admin"],
                   input=password + "\n", check=True, capture_output=True, text=True)
    now = time.time_ns()

    # tree: a root with 10 children, each with 99 children (1,000 descendants); and a lone process
    lines = [process_event(now, "tree-root", "tree-none", 1000, "root", "root --bench")]
    for c in range(10):
        lines.append(process_event(now + c + 1, f"tree-c{c}", "tree-root", 2000 + c, "child", f"child {c}"))
        for g in range(99):
            lines.append(process_event(now + 1000 + c * 100 + g, f"tree-c{c}-g{g}", f"tree-c{c}", 10000 + c * 100 + g,
                                       "grandchild", f"grandchild {c} {g} --with some arguments"))
    lines.append(process_event(now, "tree-lone", "tree-none", 999, "lone", "lone"))
    post(v.api_port, ctx, token, "/api/import", "\n".join(lines) + "\n")

    # scroll: 100,000 events of one host, and 100 of another
    for chunk in range(10):
        post(v.api_port, ctx, token, "/api/import", "\n".join(
            process_event(now + chunk * 10000 + i, f"big-{chunk}-{i}", "big-parent", 20000 + i, "big",
                          f"/usr/bin/big --item {chunk * 10000 + i}", host="big-host") for i in range(10000)) + "\n")
    post(v.api_port, ctx, token, "/api/import", "\n".join(
        process_event(now + i, f"small-{i}", "small-parent", 30000 + i, "small", f"small {i}", host="small-host")
        for i in range(100)) + "\n")

    # live: a feeder thread stores RATE events/s in 10 imports a second, started by the browser side
    feeding = threading.Event()
    stop = threading.Event()
    sent = [0]

    # Ten different request bodies, made before the run so the feeder costs little CPU.
    bodies = ["\n".join(json.dumps({"@timestamp": now + b * 100000 + i, "event.category": "network",
                                     "event.action": "connect", "event.dataset": "bench", "host.name": "live-host",
                                     "host.id": "live-host", "process.entity_id": f"live-{b}-{i}",
                                     "process.pid": 4000 + i, "process.name": "feeder", "source.ip": "10.0.0.1",
                                     "source.port": 40000 + i % 20000, "destination.ip": "10.0.0.2",
                                     "destination.port": 443, "network.transport": "tcp"})
                          for i in range(RATE // 10)) + "\n" for b in range(10)]

    def feeder():
        feeding.wait()
        start = time.monotonic()
        tick = 0
        while not stop.is_set():
            post(v.api_port, ctx, token, "/api/import", bodies[tick % 10])
            sent[0] += RATE // 10
            tick += 1
            delay = start + tick / 10 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        print(f"feeder: sent {sent[0]} events in {time.monotonic() - start:.1f} s", flush=True)

    threading.Thread(target=feeder, daemon=True).start()

    env = dict(os.environ, VIGIL_URL=f"https://127.0.0.1:{v.api_port}", BENCH_USER="bench", BENCH_PASS=password,
               RATE=str(RATE), SECONDS=str(SECONDS))
    node = subprocess.Popen(["node", os.path.join(ROOT, "bench/console/console_bench.mjs")], env=env,
                            stdout=subprocess.PIPE, text=True, cwd=os.path.join(ROOT, "web"))
    for line in node.stdout:
        print(line, end="", flush=True)
        if line.startswith("FEED START"):
            feeding.set()
        if line.startswith("FEED STOP"):
            stop.set()
    node.wait()
    stop.set()
    check(node.returncode == 0, "benchmark finished")
