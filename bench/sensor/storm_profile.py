#!/usr/bin/env python3
"""Where the exec storm's extra time goes with the sensor on: per function, µs per exec, on − off.

The slowdown benches (storm_slowdown.py, kernel_side_ab.py) say how much slower the storm is; this
one says where. The agent runs once, switched on and off in place as storm_slowdown.py --toggle
does (sensor paused and agent stopped = off), in ABBA phases at the maximum rate; every phase runs
under system-wide sampling (`perf record -e cpu-clock -a`: a timer, so it works in VMs without
hardware counters). Each sample is charged to a function (kernel, BPF program or user-space
library) and to a task: the storm's own (its parent and spawned children) or another (the agent,
kernel threads, idle). Per function, the samples of each mode over its execs, as µs per exec, and
the difference: what the sensor adds to the storm's tasks (its programs, the syscall-tracing path,
allocator and RCU work they cause) and what the other tasks do meanwhile (the agent's own work).

Samples are taken only where interrupts are enabled, so time with interrupts off shows up at the
point they are enabled again; phases of 12 pairs × 4 s resolve ~0.3 µs per exec.

usage: bench/sensor/storm_profile.py [--pairs 12] [--phase-seconds 4] [--frequency 4000] [--top 40]
                                     [--bpf-only] [--spawn posix_spawn|fork] [--agent-args "..."]
Needs root, perf (Debian: apt-get install linux-perf) and a built tree (VIGIL_BIN=build/bin).
"""
import argparse
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../tests/e2e"))
from exec_storm import (add_spawn_argument, kernel_audit, spawn_method, storm_binary,  # noqa: E402
                        use_spawn)
from storm_slowdown import Agent  # noqa: E402
from vigil_e2e import BIN, Vigil  # noqa: E402

STORM_COMMS = ("bench_exec_stor", "vigil-storm-")  # the generator (comm is 15 bytes) and its children


def sampled_storm(binary, seconds, frequency, data):
    """One storm phase at the maximum rate under system-wide sampling; its JSON result."""
    run = subprocess.run(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(frequency), "-a", "-o",
                          data, "--", f"{BIN}/bench_exec_storm", binary, "0", str(seconds),
                          spawn_method()], capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"perf record failed: {run.stderr.strip()}")
    return json.loads(run.stdout)


def charge(data, storm_tasks, other_tasks):
    """Counts the samples of `data` per function, into storm_tasks or other_tasks (by comm)."""
    script = subprocess.run(["perf", "script", "-i", data, "-F", "comm,ip,sym,dso"],
                            capture_output=True, text=True, check=True).stdout
    for line in script.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        comm = fields[0]
        # "comm ip sym (dso)"; a user-space sample without a symbol is charged to its library.
        kernel = "[kernel.kallsyms]" in line or "bpf_prog_" in line
        function = fields[2] if kernel and not fields[2].startswith("(") else f"[user] {fields[-1]}"
        if comm.startswith(STORM_COMMS):
            storm_tasks[function] += 1
        else:
            other_tasks[f"{comm.split('/')[0]}: {function}"] += 1


def table(title, counts, execs, frequency, top):
    per_exec = {mode: {f: n / frequency * 1e6 / max(execs[mode], 1) for f, n in counts[mode].items()}
                for mode in counts}
    on, off = per_exec["on"], per_exec["off"]
    functions = sorted(set(on) | set(off), key=lambda f: on.get(f, 0) - off.get(f, 0), reverse=True)
    print(f"\n### {title}: {sum(on.values()):.1f} µs per exec on, {sum(off.values()):.1f} off "
          f"({sum(on.values()) - sum(off.values()):+.1f})\n")
    print("| function | on (µs per exec) | off | on − off |")
    print("|---|---|---|---|")
    shown = functions[:top] + [f for f in functions[-(top // 4):] if f not in functions[:top]]
    for f in shown:
        print(f"| `{f}` | {on.get(f, 0):.2f} | {off.get(f, 0):.2f} | {on.get(f, 0) - off.get(f, 0):+.2f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--phase-seconds", type=float, default=4)
    ap.add_argument("--frequency", type=int, default=4000, help="samples per second and CPU")
    ap.add_argument("--top", type=int, default=40, help="functions shown per table (most added first)")
    ap.add_argument("--agent-args", default="", help="extra `vigil-agent run` arguments")
    ap.add_argument("--bpf-only", action="store_true",
                    help="keep the agent stopped in the 'on' phases too: the sensor's programs alone")
    add_spawn_argument(ap)
    args = ap.parse_args()
    use_spawn(args)
    if shutil.which("perf") is None:
        raise SystemExit("storm_profile.py needs perf (Debian: apt-get install linux-perf)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    binaries = {mode: storm_binary(f"profile-{mode}") for mode in ("on", "off")}
    storm_tasks = {mode: collections.Counter() for mode in binaries}
    other_tasks = {mode: collections.Counter() for mode in binaries}
    execs = {mode: 0 for mode in binaries}
    started = time.monotonic()
    try:
        with Vigil() as v, tempfile.TemporaryDirectory() as scratch:
            v.start_server()
            agent = Agent(v, args.agent_args.split(), toggle=True)
            agent.start()
            for block in range(2 * args.pairs):
                mode = "on" if block % 4 in (0, 3) else "off"
                data = os.path.join(scratch, "perf.data")
                with agent.toggled_phase("bpf" if mode == "on" and args.bpf_only else mode, v.server):
                    result = sampled_storm(binaries[mode], args.phase_seconds, args.frequency, data)
                execs[mode] += result["execs"]
                charge(data, storm_tasks[mode], other_tasks[mode])
                print(f"block {block + 1} {mode}: {result['execs']} execs, "
                      f"{result['cpu_us_per_exec']:.0f} µs CPU per exec", file=sys.stderr, flush=True)
            agent.quit()
    finally:
        for path in binaries.values():
            os.unlink(path)
    print(f"{args.pairs} pairs of {args.phase_seconds:g} s phases at the maximum rate, sensor on/off in "
          f"ABBA blocks (toggled in place" + (", agent stopped in the 'on' phases too" if args.bpf_only
                                              else "") + f"; spawn by {spawn_method()}; kernel audit "
          f"{kernel_audit()}; cpu-clock sampling at {args.frequency} Hz per CPU; "
          f"{(time.monotonic() - started) / 60:.1f} min); {execs['on']} execs on, {execs['off']} off")
    table("The storm's tasks (its parent and children)", storm_tasks, execs, args.frequency, args.top)
    table("Other tasks (agent, kernel threads, idle), per exec of the storm", other_tasks, execs,
          args.frequency, args.top)


if __name__ == "__main__":
    main()
