#!/usr/bin/env python3
"""Agent steady-state resources: RSS and CPU of vigil-agent at idle and while the host runs a
process storm, measured from /proc.

usage: bench/agent/agent_resources.py [--sensor ebpf|proc] [--idle 60] [--storm 30] [--rate 100]
Needs root and a built tree (build/bin). Prints a Markdown table for bench/BENCHMARKS.md.
"""
import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../tests/e2e"))
from vigil_e2e import Vigil, wait_for  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(pid, seconds, work=None):
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    execs = work(seconds) if work else (time.sleep(seconds) or 0)
    cpu1, t1 = cpu_seconds(pid), time.monotonic()
    return (cpu1 - cpu0) / (t1 - t0) * 100, rss_mib(pid), execs


def storm(rate):
    def run(seconds):
        n, start = 0, time.monotonic()
        while time.monotonic() - start < seconds:
            subprocess.run(["/bin/true"])
            n += 1
            next_at = start + n / rate
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return n
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--idle", type=float, default=60)
    ap.add_argument("--storm", type=float, default=30)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--sensor", default="ebpf", choices=["ebpf", "proc"])
    args = ap.parse_args()
    with Vigil() as v:
        v.start_server()
        state = os.path.join(v.dir, "agent")
        v.enroll(state)
        agent = v.start_agent(state, "--sensor", args.sensor)
        wait_for(lambda: any(h["online"] for h in v.hosts()), 30, "agent online")
        time.sleep(5)  # let the snapshot drain
        idle_cpu, idle_rss, _ = measure(agent.pid, args.idle)
        storm_cpu, storm_rss, execs = measure(agent.pid, args.storm, storm(args.rate))
        cpu_per_exec_us = storm_cpu / 100 * args.storm / max(execs, 1) * 1e6
        print(f"sensor: {args.sensor}")
        print("| phase | duration | agent CPU (% of one core) | agent RSS (MiB) | execs |")
        print("|---|---|---|---|---|")
        print(f"| idle | {args.idle:.0f} s | {idle_cpu:.3f} | {idle_rss:.1f} | - |")
        print(f"| exec storm {args.rate:.0f}/s | {args.storm:.0f} s | {storm_cpu:.3f} | {storm_rss:.1f} | {execs} |")
        print(f"\nagent CPU per exec during the storm: {cpu_per_exec_us:.0f} µs")


if __name__ == "__main__":
    main()
