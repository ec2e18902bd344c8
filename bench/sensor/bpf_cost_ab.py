#!/usr/bin/env python3
"""Run time per exec of each BPF program of two vigil-agent builds, on the same exec storms.

Both agents run at once (each with its own local server and its own eBPF sensor), so every exec of
the storm runs both builds' programs; kernel.bpf_stats_enabled counts each program's run time
(run_time_ns, run_cnt, read with `bpftool prog show`; a program belongs to the agent whose
/proc/PID/fdinfo names its prog_id). The program attached first runs first and meets the colder
caches (on these VMs it costs 20-40 % more than the same program run second), so the bench runs
the pair in both attach orders, A first then B first, and reports each order and the geometric
mean of the two ratios. bpf_stats_enabled is set back to 0 at the end (it costs every program a
clock read).

usage: bench/sensor/bpf_cost_ab.py --a PATH --b PATH [--rounds 3] [--seconds 10]
  e.g. cp build/bin/vigil-agent /tmp/agent-before; (change, rebuild);
       VIGIL_BIN=build/bin python3 bench/sensor/bpf_cost_ab.py --a /tmp/agent-before --b build/bin/vigil-agent
Needs root, bpftool and a built tree (VIGIL_BIN=build/bin).
"""
import argparse
import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../tests/e2e"))
from agent_side_by_side import start_agent  # noqa: E402
from exec_storm import add_spawn_argument, settle, storm, storm_binary, use_spawn  # noqa: E402
from vigil_e2e import Vigil  # noqa: E402

STATS = "/proc/sys/kernel/bpf_stats_enabled"


def prog_ids(pid):
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                ids.update(int(line.split()[1]) for line in f if line.startswith("prog_id:"))
        except OSError:
            continue  # an fd closed meanwhile
    return ids


def run_times(pids):
    """{pid: {program name: (run_time_ns, run_cnt)}}"""
    by_id = {p["id"]: p for p in json.loads(subprocess.check_output(["bpftool", "prog", "show", "-j"]))}
    out = {}
    for pid in pids:
        for i in prog_ids(pid):
            if i in by_id:
                p = by_id[i]
                out.setdefault(pid, {})[p.get("name", "?")] = (p.get("run_time_ns", 0), p.get("run_cnt", 0))
    return out


def one_order(first, second, rounds, seconds):
    """Per program and in total, ns per exec of each build ({label: {name: ns}}, execs)."""
    with Vigil() as v1, Vigil() as v2:
        agents = [(first[0], start_agent(v1, first[1])), (second[0], start_agent(v2, second[1]))]
        for _, agent in agents:
            settle(agent.pid)
        pids = [agent.pid for _, agent in agents]
        totals = {label: {} for label, _ in agents}
        execs = 0
        for n in range(rounds):
            exe = storm_binary(f"bpfab{n}")
            before = run_times(pids)
            result = storm(exe, 0, seconds)
            after = run_times(pids)
            os.unlink(exe)
            execs += result["execs"]
            for label, agent in agents:
                for name, (ns, _) in after.get(agent.pid, {}).items():
                    ns0 = before.get(agent.pid, {}).get(name, (0, 0))[0]
                    totals[label][name] = totals[label].get(name, 0) + ns - ns0
        for _, agent in agents:
            agent.terminate()
            agent.wait()
    return {label: {name: ns / max(execs, 1) for name, ns in t.items()} for label, t in totals.items()}, execs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="agent binary A (before)")
    ap.add_argument("--b", required=True, help="agent binary B (after)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10)
    add_spawn_argument(ap)
    args = ap.parse_args()
    use_spawn(args)
    with open(STATS, "w") as f:
        f.write("1")
    try:
        orders = [(("A", args.a), ("B", args.b)), (("B", args.b), ("A", args.a))]
        results = []
        for first, second in orders:
            per_exec, execs = one_order(first, second, args.rounds, args.seconds)
            results.append(per_exec)
            names = sorted(set(per_exec["A"]) | set(per_exec["B"]))
            print(f"\n{first[0]} attached first, {execs} execs: run time per exec (µs)\n")
            print("| program | A | B |")
            print("|---|---|---|")
            for name in names:
                a, b = per_exec["A"].get(name, 0) / 1e3, per_exec["B"].get(name, 0) / 1e3
                if a >= 0.005 or b >= 0.005:
                    print(f"| {name} | {a:.2f} | {b:.2f} |")
            ta, tb = sum(per_exec["A"].values()) / 1e3, sum(per_exec["B"].values()) / 1e3
            print(f"| **all** | **{ta:.2f}** | **{tb:.2f}** |", flush=True)
        ratios = [sum(r["B"].values()) / max(sum(r["A"].values()), 1) for r in results]
        print(f"\nB / A: {ratios[0]:.3f} (A first), {ratios[1]:.3f} (B first), "
              f"geometric mean {math.sqrt(ratios[0] * ratios[1]):.3f}")
    finally:
        with open(STATS, "w") as f:
            f.write("0")


if __name__ == "__main__":
    main()
