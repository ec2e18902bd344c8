#!/usr/bin/env python3
"""The exec storm's slowdown split into the kernel side and the agent's own work, in one run.

storm_slowdown.py --toggle measures "agent on" against "off", and with --bpf-only "programs only"
against "off", but in separate runs, which on these VMs move by ±2 % from one 6-minute slot to the
next: too much to subtract one from the other. This bench rotates three modes within each round,
at the maximum rate, with one agent switched in place (storm_slowdown.py's Agent):

- off: the sensor paused (every BPF program detached) and the agent stopped;
- bpf: the sensor's programs attached, the agent stopped (it reads the ring between phases);
- on:  the whole agent running, as deployed.

Each round runs the three in a rotating order (and reversed every other round), so drift hits all
three alike. It reports the paired differences of the storm's CPU per exec (getrusage of the storm
and its children): bpf − off (what the programs cost the storm's tasks), on − off (the whole
slowdown), on − bpf (what the agent running beside the storm adds), each mean ± 95 % CI over the
rounds, with the median. The local server is stopped during the phases (as with
storm_slowdown.py --pause-server).

With --compare "ARGS", the modes are off, on and alt instead: alt is a second agent, started with
these arguments instead of --agent-args (e.g. --syscall-hooks none) and switched in place the same
way, the first one paused and stopped meanwhile (and the other way round). It reports on − off,
alt − off and on − alt: what the two configurations cost, and what separates them, in the same
rounds. Swapping the two argument strings measures whether a mode's place matters.

usage: bench/sensor/storm_split.py [--rounds 100] [--phase-seconds 1] [--spawn posix_spawn|fork]
                                   [--agent-args "..."] [--compare "..."]
Needs root and a built tree (VIGIL_BIN=build/bin).
"""
import argparse
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../tests/e2e"))
from exec_storm import (add_spawn_argument, kernel_audit, spawn_method, storm, storm_binary,  # noqa: E402
                        use_spawn)
from storm_slowdown import Agent, mean_ci  # noqa: E402
from vigil_e2e import Vigil  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--phase-seconds", type=float, default=1)
    ap.add_argument("--agent-args", default="", help="extra `vigil-agent run` arguments")
    ap.add_argument("--compare", metavar="ARGS",
                    help="a second agent with these arguments (instead of --agent-args) as the third mode (alt) instead of bpf")
    add_spawn_argument(ap)
    args = ap.parse_args()
    use_spawn(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    modes = ("off", "on", "alt") if args.compare is not None else ("off", "bpf", "on")
    cpu = {mode: [] for mode in modes}  # storm CPU per exec, one per round
    binaries = {mode: storm_binary(f"split-{mode}") for mode in modes}
    started = time.monotonic()
    alt = None
    try:
        with Vigil() as v:
            v.start_server()
            agent = Agent(v, args.agent_args.split(), toggle=True)
            agent.start()
            if args.compare is not None:
                alt = Agent(v, args.compare.split(), toggle=True, name="alt")
                alt.start()

            def phase(mode):
                """The agent that runs in this mode switched to it, the other one off and stopped."""
                if alt is None:
                    return agent.toggled_phase(mode, v.server)
                active, idle = (alt, agent) if mode == "alt" else (agent, alt)
                idle.stop()
                idle.hold()
                return active.toggled_phase("off" if mode == "off" else "on", v.server)

            for round_no in range(args.rounds):
                order = modes[round_no % 3:] + modes[:round_no % 3]
                if round_no % 2:
                    order = order[::-1]
                for mode in order:
                    with phase(mode):
                        result = storm(binaries[mode], 0, args.phase_seconds)
                    cpu[mode].append(result["cpu_us_per_exec"])
                print(f"round {round_no + 1}: " + ", ".join(f"{m} {cpu[m][-1]:.0f} µs CPU/exec" for m in modes),
                      file=sys.stderr, flush=True)
            agent.quit()
            if alt is not None:
                alt.quit()
    finally:
        for path in binaries.values():
            os.unlink(path)
    compared = f"; alt: the agent with {args.compare}" if alt is not None else ""
    print(f"{args.rounds} rounds of {' / '.join(modes)} phases ({args.phase_seconds:g} s each, maximum rate, "
          f"rotating order; spawn by {spawn_method()}; kernel audit {kernel_audit()}; local server stopped "
          f"during the phases; {(time.monotonic() - started) / 60:.1f} min); storm CPU per exec off: "
          f"{statistics.mean(cpu['off']):.0f} µs (mean){compared}\n")
    print("| difference | storm CPU per exec, mean ± 95 % CI | median |")
    print("|---|---|---|")
    differences = ((("bpf", "off", "the programs alone"), ("on", "off", "the whole agent"),
                    ("on", "bpf", "the agent running beside the storm")) if alt is None else
                   (("on", "off", "the whole agent"), ("alt", "off", f"the agent with {args.compare}"),
                    ("on", "alt", "what separates them")))
    for a, b, what in differences:
        diffs = [(x / y - 1) * 100 for x, y in zip(cpu[a], cpu[b])]
        mean, ci = mean_ci(diffs)
        print(f"| {a} − {b} ({what}) | **{mean:+.2f} % ± {ci:.2f}** | {statistics.median(diffs):+.2f} % |")


if __name__ == "__main__":
    main()
