#!/usr/bin/env python3
"""Burst benchmark of the sensor (issue 3): a file create/unlink storm and a loopback TCP connect
storm at the highest rate the machine reaches, with vigil-agent (eBPF) running. For each: operations
done, events expected, events stored (hunt | count), losses the agent counted and reported
(sensor drops on the hosts list), and losses nobody counted (must be 0), plus agent CPU per event.

usage: bench/sensor/burst.py [--seconds 10]
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../tests/e2e"))
from vigil_e2e import BIN, Vigil, wait_for  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10)
    args = ap.parse_args()
    with Vigil() as v:
        v.start_server()
        state = os.path.join(v.dir, "agent")
        v.enroll(state)
        agent = v.start_agent(state, "--sensor", "ebpf")
        wait_for(lambda: any(h["online"] for h in v.hosts()), 30, "agent online")
        time.sleep(3)

        def count(query):
            out = v.cli("hunt", query + " | count", "--since", "1h", "--format", "json").strip()
            return json.loads(out)["count"] if out else 0

        def dropped():
            return v.hosts()[0]["events_dropped"]

        def settle(query, want):
            # Until the store stops growing (everything delivered) or holds all of it.
            last, n = -1, count(query)
            while n != last and n < want:
                time.sleep(3)
                last, n = n, count(query)
            time.sleep(6)  # the next status report carries the final drop counters
            return count(query)

        rows = []
        workdir = tempfile.mkdtemp(prefix="vigil-burst-", dir="/tmp")
        for kind in ("file", "connect"):
            drops_before = dropped()
            cpu0 = cpu_seconds(agent.pid)
            if kind == "file":
                target = workdir
            else:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", 0))
                    target = str(s.getsockname()[1])
            out = subprocess.run([f"{BIN}/bench_burst", kind, target, str(args.seconds)],
                                 capture_output=True, text=True, check=True).stdout
            ops = json.loads(out)["ops"]
            if kind == "file":
                query = f'file where file.path : "{workdir}/*"'
                expected = 2 * ops  # creation + deletion
            else:
                query = f'network where destination.port == {target} and network.transport == "tcp"'
                expected = 2 * ops  # connect + accept
            stored = settle(query, expected)
            cpu = cpu_seconds(agent.pid) - cpu0
            by_action = v.cli("hunt", query + " | count event.action", "--since", "1h", "--format", "json")
            print(kind, "by action:", by_action.strip().replace("\n", "; "), file=sys.stderr)
            counted = dropped() - drops_before
            rows.append((kind, ops, expected, expected / args.seconds, stored, counted,
                         expected - stored - counted, cpu / max(stored, 1) * 1e6))
        os.rmdir(workdir)
        print("| burst | operations | events expected | events/s offered | stored | losses counted | losses not counted | agent CPU per stored event (µs) |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.0f} | {r[4]} | {r[5]} | {r[6]} | {r[7]:.1f} |")


if __name__ == "__main__":
    main()
