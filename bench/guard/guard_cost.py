#!/usr/bin/env python3
"""What a guard policy costs the processes under it: bench_guard_cost run plain and under
`vigil-agent guard exec --preset strict` (no-shell + no-exec-from-writable + system-readonly) in
alternating order for --rounds rounds; medians and spreads per figure, and guarded / plain.

usage: VIGIL_BIN=build/bin python3 bench/guard/guard_cost.py [--rounds 6] [--calls 2000000]
       [--spawns 1000]"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile

BIN = os.environ.get("VIGIL_BIN", "build/bin")


def run(guarded, calls, spawns, workdir):
    cmd = [f"{BIN}/bench_guard_cost", str(calls), str(spawns), workdir]
    if guarded:
        cmd = [f"{BIN}/vigil-agent", "guard", "exec", "--preset", "strict", "--"] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--calls", type=int, default=2_000_000)
    ap.add_argument("--spawns", type=int, default=1000)
    args = ap.parse_args()
    # Writable under the policy (system-readonly leaves /var/lib alone; /tmp would do as well).
    workdir = tempfile.mkdtemp(prefix="vigil-guard-cost-", dir="/var/tmp")
    results = {False: [], True: []}
    for i in range(args.rounds):
        for guarded in ((False, True) if i % 2 == 0 else (True, False)):
            results[guarded].append(run(guarded, args.calls, args.spawns, workdir))
            print(f"round {i + 1} {'guarded' if guarded else 'plain  '}: {results[guarded][-1]}", flush=True)
    os.rmdir(workdir)
    print("\n| figure | plain (median, min–max) | guarded --preset strict | guarded / plain |")
    print("|---|---|---|---|")
    for key in results[False][0]:
        plain = [r[key] for r in results[False]]
        guard = [r[key] for r in results[True]]
        mp, mg = statistics.median(plain), statistics.median(guard)
        print(f"| {key} | {mp:.1f} ({min(plain):.1f}–{max(plain):.1f}) | {mg:.1f} ({min(guard):.1f}–{max(guard):.1f}) "
              f"| {mg / mp:.3f} |")


if __name__ == "__main__":
    main()
