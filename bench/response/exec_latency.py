"""Extra execve latency from exec blocking (fanotify FAN_OPEN_EXEC_PERM + hash cache lookup) for an
already-hashed binary, against no blocking, in the same run.

A real server and agent (--sensor none) run in a temp dir. Rounds alternate between
  off: the block list is empty, so the agent holds no fanotify group (nothing intercepts execs);
  on:  one unrelated random SHA-256 is blocked, so every exec waits for the agent's answer; the
       probe binary was executed once before (its hash is in the cache).
The probe and the agent run SCHED_FIFO (priority 20) unless --no-rt, so that other load on the
machine does not drown a difference of microseconds. Each round times N execve() calls of a tiny probe (bench/response/exec_stamp.c: time from just
before execve to main() of the new image). Prints p50/p90/p99 per mode and the p99 difference.

usage: python3 bench/response/exec_latency.py [--rounds 6] [--execs 2000]
(needs root and a build in build/bin; run from the repository root)"""
import argparse
import os
import secrets
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../tests/e2e"))
os.environ.setdefault("VIGIL_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin"))
from vigil_e2e import BIN, Vigil, wait_for  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=6)
ap.add_argument("--execs", type=int, default=2000)
ap.add_argument("--no-rt", action="store_true",
                help="do not run the probe and the agent SCHED_FIFO (the default shields the "
                     "measurement from other load on the machine)")
args = ap.parse_args()

work = tempfile.mkdtemp(prefix="vigil-bench-exec-")
probe = os.path.join(work, "exec_stamp")
subprocess.run(["cc", "-O2", "-o", probe, os.path.join(os.path.dirname(__file__), "exec_stamp.c")], check=True)


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def run_round():
    rt = [] if args.no_rt else ["chrt", "-f", "20"]
    out = subprocess.run(rt + [probe, "run", probe, str(args.execs)], capture_output=True, text=True,
                         check=True).stdout
    return [int(x) / 1000 for x in out.split()]


with Vigil() as v:
    v.start_server()
    state = os.path.join(v.dir, "agent")
    v.enroll(state)
    agent_proc = v.start_agent(state, "--sensor", "none")
    wait_for(lambda: any(h["online"] for h in v.hosts()), 20, "the agent")
    if not args.no_rt:  # every thread of the agent, including the fanotify thread started later
        subprocess.run(["chrt", "-f", "-a", "-p", "20", str(agent_proc.pid)], check=True)
    agent = v.hosts()[0]["agent.id"]
    decoy = secrets.token_hex(32)

    def action(kind):
        subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "action", kind, decoy, "--hosts", agent],
                       check=True, capture_output=True)

    results = {"off": [], "on": []}
    for r in range(args.rounds):
        for mode in ("off", "on") if r % 2 == 0 else ("on", "off"):
            action("block-hash" if mode == "on" else "unblock-hash")
            run_round() if r == 0 else None  # warm-up (and the first hash of the probe)
            results[mode] += run_round()
    action("unblock-hash")
    print(f"execs per mode: {len(results['off'])}  (rounds {args.rounds} x {args.execs}, alternating)")
    for mode in ("off", "on"):
        xs = results[mode]
        print(f"{mode:>4}: p50 {pct(xs, 50):8.1f} us   p90 {pct(xs, 90):8.1f} us   p99 {pct(xs, 99):8.1f} us")
    print(f"extra at p50: {pct(results['on'], 50) - pct(results['off'], 50):.1f} us, "
          f"at p99: {pct(results['on'], 99) - pct(results['off'], 99):.1f} us")
