#!/usr/bin/env python3
"""Two vigil-agent builds side by side under the same exec storms: agent CPU per exec, per thread.

agent_ab.py runs A and B one after the other, so the machine's drift between their runs is part of
every comparison (±10 % on these VMs). Here both agents run at once, each enrolled with its own
local server and each with its own eBPF sensor, and both see every exec of the same storm: the
ratio of their CPU per exec is measured in the same seconds. CPU time is the threads' scheduler
run time (/proc/PID/task/*/schedstat, nanoseconds; /proc/PID/stat's clock ticks are 10 ms, too
coarse for ~0.15 s of agent CPU per round), summed per thread name, so a change can be placed in
`vigil-ebpf` (read, decode, enrich, serialize, append) or `vigil-uplink` (batch, zstd, gRPC).
Each round also counts the storm's exec events stored by each server (end-to-end loss).

The two agents compete for the same second core, so the absolute numbers run a little above a
lone agent's; the ratio is what this bench is for.

usage: bench/sensor/agent_side_by_side.py --a PATH --b PATH [--rounds 6] [--rate 0] [--seconds 15]
  e.g. cp build/bin/vigil-agent /tmp/agent-before; (change, rebuild);
       VIGIL_BIN=build/bin python3 bench/sensor/agent_side_by_side.py --a /tmp/agent-before --b build/bin/vigil-agent
  (rate 0 = as fast as possible)
"""
import argparse
import os
import signal
import statistics
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../tests/e2e"))
from exec_storm import (add_spawn_argument, settle, stored_execs, storm, storm_binary,  # noqa: E402
                        use_spawn)
from vigil_e2e import Vigil, wait_for  # noqa: E402


def run_ns_by_thread(pid):
    """Scheduler run time in ns per thread name (threads of one name summed)."""
    out = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            name = open(f"/proc/{pid}/task/{task}/comm").read().strip()
            ns = int(open(f"/proc/{pid}/task/{task}/schedstat").read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended meanwhile
        out[name] = out.get(name, 0) + ns
    return out


def start_agent(v, binary):
    v.start_server()
    state = os.path.join(v.dir, "agent")
    r = v.enroll(state, binary=binary)
    if r.returncode != 0:
        raise SystemExit(f"enroll failed: {r.stderr}")
    agent = v.start_agent(state, "--sensor", "ebpf", binary=binary)
    wait_for(lambda: any(h["online"] for h in v.hosts()), 30, "agent online")
    return agent


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="agent binary A (before)")
    ap.add_argument("--b", required=True, help="agent binary B (after)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--rate", type=float, default=0, help="execs per second (0: as fast as possible)")
    ap.add_argument("--seconds", type=float, default=15)
    add_spawn_argument(ap)
    args = ap.parse_args()
    use_spawn(args)
    ratios = []
    with Vigil() as va, Vigil() as vb:
        agents = {"A": (va, start_agent(va, args.a)), "B": (vb, start_agent(vb, args.b))}
        for _, agent in agents.values():
            settle(agent.pid)
        print("| round | execs | A µs per exec | B µs per exec | B / A | A by thread | B by thread | stored A / B |")
        print("|---|---|---|---|---|---|---|---|")
        for n in range(1, args.rounds + 1):
            exe = storm_binary(f"side{n}")
            before = {k: run_ns_by_thread(a.pid) for k, (_, a) in agents.items()}
            result = storm(exe, args.rate, args.seconds)
            execs = max(result["execs"], 1)
            stored = {k: stored_execs(v, exe, result["execs"], 60) for k, (v, _) in agents.items()}
            per_thread, total = {}, {}
            for k, (_, a) in agents.items():
                after = run_ns_by_thread(a.pid)
                diff = {t: (ns - before[k].get(t, 0)) / execs / 1e3 for t, ns in after.items()}
                total[k] = sum(diff.values())
                per_thread[k] = ", ".join(f"{t} {us:.1f}" for t, us in sorted(diff.items(), key=lambda x: -x[1])
                                          if us >= 0.5)
            os.unlink(exe)
            ratios.append(total["B"] / total["A"])
            print(f"| {n} | {result['execs']} | {total['A']:.1f} | {total['B']:.1f} | {ratios[-1]:.3f} | "
                  f"{per_thread['A']} | {per_thread['B']} | {stored['A']} / {stored['B']} |", flush=True)
        for _, agent in agents.values():
            agent.send_signal(signal.SIGTERM)
            agent.wait()
    print(f"\nB / A: median {statistics.median(ratios):.3f}, mean {statistics.mean(ratios):.3f} over {len(ratios)} rounds")


if __name__ == "__main__":
    main()
