"""Action-to-enforcement latency of response actions, on loopback (server, agent and CLI on one
machine), N repetitions each, p50/p90/p99/max.

  block-hash: the agent runs on this host (--sensor none). Each repetition makes a unique binary
              (a copy of /bin/true with random bytes appended), then times from the start of
              `vigil action block-hash SHA --no-wait` until an execve of that binary fails with
              EPERM (polled back to back); then unblocks it (not timed).
  isolate:    the agent runs in a network namespace (tests/e2e/vigil_netns.py) and reaches the
              server over a veth. Times from the start of `vigil action isolate --no-wait` until a
              probe in the namespace, connecting to a peer namespace every 2 ms, sees its first
              failure; then releases (not timed).

The time includes starting the CLI process, the API call, the queue, the command channel, the
agent's executor (fanotify setup, or nft) and the detection delay of the probe.

usage: python3 bench/response/action_latency.py [--reps 30]    (root; run from the repository root)"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import hashlib

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../tests/e2e"))
os.environ.setdefault("VIGIL_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin"))
from vigil_e2e import BIN, Vigil, wait_for  # noqa: E402
import vigil_netns as ns  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--reps", type=int, default=30)
args = ap.parse_args()


def stats(name, xs):
    v = sorted(xs)
    p = lambda q: v[min(len(v) - 1, int(len(v) * q / 100))]
    print(f"{name:>10}: n={len(v)}  p50 {p(50)*1000:7.1f} ms  p90 {p(90)*1000:7.1f} ms  "
          f"p99 {p(99)*1000:7.1f} ms  max {v[-1]*1000:7.1f} ms")


def cli(v, *a, wait=True):
    cmd = [f"{BIN}/vigil", "--data-dir", v.dir, "action", *a]
    if not wait:
        cmd.append("--no-wait")
    return subprocess.run(cmd, capture_output=True, text=True, check=True)


def bench_block_hash():
    work = tempfile.mkdtemp(prefix="vigil-bench-act-")
    out = []
    with Vigil() as v:
        v.start_server()
        state = os.path.join(v.dir, "agent")
        v.enroll(state)
        v.start_agent(state, "--sensor", "none")
        wait_for(lambda: any(h["online"] for h in v.hosts()), 20, "the agent")
        agent = v.hosts()[0]["agent.id"]
        for i in range(args.reps):
            exe = os.path.join(work, f"tool{i}")
            shutil.copy("/bin/true", exe)
            with open(exe, "ab") as f:
                f.write(uuid.uuid4().bytes * 4)
            os.chmod(exe, 0o755)
            sha = hashlib.sha256(open(exe, "rb").read()).hexdigest()
            subprocess.run([exe], check=True)
            t0 = time.monotonic()
            cli(v, "block-hash", sha, "--hosts", agent, wait=False)
            while True:
                try:
                    subprocess.run([exe])
                except PermissionError:
                    break
            out.append(time.monotonic() - t0)
            cli(v, "unblock-hash", sha, "--hosts", agent)
    shutil.rmtree(work, ignore_errors=True)
    return out


PROBE = r"""
import socket, sys, time
ip = sys.argv[1]
for line in sys.stdin:
    while True:
        try:
            s = socket.create_connection((ip, 8080), timeout=0.05); s.recv(2); s.close()
        except OSError:
            print(time.monotonic(), flush=True); break
        time.sleep(0.002)
"""


def bench_isolate():
    out = []
    peer = None
    try:
        ns.setup()
        peer = ns.start_peer()
        with Vigil() as v:
            v.server = subprocess.Popen(
                [f"{BIN}/vigil-server", "run", "--data-dir", v.dir, "--agent-listen", f"{ns.R_IP}:{v.agent_port}",
                 "--server-name", ns.R_IP, "--api-listen", f"127.0.0.1:{v.api_port}"],
                stdout=v._log("server"), stderr=subprocess.STDOUT)
            wait_for(lambda: v._healthy(), 20, "the server")
            state = os.path.join(v.dir, "agent")
            ns.sh("ip", "netns", "exec", ns.H, f"{BIN}/vigil-agent", "enroll", "--server",
                  f"{ns.R_IP}:{v.agent_port}", "--token", v.token(), "--state-dir", state)
            v.agents.append(subprocess.Popen(["ip", "netns", "exec", ns.H, f"{BIN}/vigil-agent", "run", "--state-dir",
                                              state, "--sensor", "none"], stdout=v._log("agent"),
                                             stderr=subprocess.STDOUT))
            wait_for(lambda: any(h["online"] for h in v.hosts()), 30, "the agent")
            agent = v.hosts()[0]["agent.id"]
            probe = subprocess.Popen(["ip", "netns", "exec", ns.H, sys.executable, "-c", PROBE, ns.PEER[2]],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for _ in range(args.reps):
                if not ns.connects(ns.PEER[2]):
                    raise RuntimeError("the peer is not reachable before isolate")
                probe.stdin.write("go\n")
                probe.stdin.flush()
                time.sleep(0.05)
                t0 = time.monotonic()
                cli(v, "isolate", agent, wait=False)
                out.append(float(probe.stdout.readline()) - t0)
                cli(v, "release", agent)
            probe.kill()
            probe.wait()
    finally:
        if peer:
            peer.kill()
            peer.wait()
        ns.teardown()
    return out


stats("block-hash", bench_block_hash())
stats("isolate", bench_isolate())
