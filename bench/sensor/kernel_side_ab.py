#!/usr/bin/env python3
"""The kernel side of two vigil-agent builds (or one build with two option sets), same run, switched
in place: what their BPF programs and hooks cost the rest of the machine, with the agents stopped.

Both agents run at once with --pause-signals, enrolled to one local server, their sensors paused
(SIGUSR1: every BPF program detached) but for the one under test (SIGUSR2), and all stopped
(SIGSTOP) while measuring, as is the server; between conditions they run briefly (they drain
their rings). Each round measures three conditions — nothing attached, A's programs, B's — in a
rotating order (all six orders in turn, so drift hits each alike): per condition
`bench_syscall_cost` (ns per call of an unfollowed getppid and of a read-only openat + close: what
every syscall of the host pays for the syscall hooks; and of a loopback UDP sendto and TCP send:
what the send hooks cost a send; thread CPU time; and of a thread created and joined: what the
exit program costs a thread's exit; process CPU time) and, unless
--storm-seconds 0, an exec storm of /bin/true at the maximum rate (the storm's CPU per exec: user +
system of it and its reaped children, where the programs run). It reports, per measure, A − none,
B − none and B − A, paired per round: mean ± 95 % CI and the median.

usage: bench/sensor/kernel_side_ab.py --a "PATH [ARGS]" --b "PATH [ARGS]" [--rounds 24]
                                      [--storm-seconds 2] [--calls 300000]
  e.g. VIGIL_BIN=build/bin python3 bench/sensor/kernel_side_ab.py --a /tmp/agent-before \\
           --b build/bin/vigil-agent
       VIGIL_BIN=build/bin python3 bench/sensor/kernel_side_ab.py \\
           --a "build/bin/vigil-agent --syscall-hooks tracepoint" \\
           --b "build/bin/vigil-agent --syscall-hooks none"
Needs root and a built tree (VIGIL_BIN=build/bin).
"""
import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../tests/e2e"))
from exec_storm import add_spawn_argument, kernel_audit, settle, storm, use_spawn  # noqa: E402
from storm_slowdown import t975  # noqa: E402
from vigil_e2e import BIN, Vigil, bpf_links, wait_for  # noqa: E402

ORDERS = [("none", "A", "B"), ("B", "none", "A"), ("A", "B", "none"),
          ("none", "B", "A"), ("A", "none", "B"), ("B", "A", "none")]
MEASURES = [("getppid", "ns", "unfollowed getppid"), ("open_close", "ns", "read-only openat + close"),
            ("udp_send", "ns", "UDP sendto, loopback"), ("tcp_send", "ns", "TCP send, loopback"),
            ("thread", "ns", "thread created and joined"), ("storm", "µs", "storm CPU per exec, max rate")]


class Agents:
    """The two agents, each with its sensor on or paused, all stopped outside `attach`."""

    def __init__(self, v, specs):
        self.procs, self.on = {}, {}
        for name, spec in specs.items():
            binary, *args = shlex.split(spec)
            state = os.path.join(v.dir, "agent" + name)
            if v.enroll(state).returncode != 0:
                raise SystemExit(f"enroll of {name} failed")
            self.procs[name] = v.start_agent(state, "--sensor", "ebpf", "--pause-signals", *args,
                                             binary=binary)
            self.on[name] = True
        wait_for(lambda: sum(h["online"] for h in v.hosts()) == len(specs), 60, "the agents online")
        for p in self.procs.values():
            settle(p.pid)
        for name, p in self.procs.items():
            if bpf_links(p.pid) == 0:
                raise SystemExit(f"agent {name} holds no BPF links (is its eBPF sensor running?)")

    def attach(self, which):
        """Only `which`'s programs attached (None: nobody's); then every agent stopped."""
        for name, p in self.procs.items():
            p.send_signal(signal.SIGCONT)
            on = name == which
            if self.on[name] != on:
                p.send_signal(signal.SIGUSR2 if on else signal.SIGUSR1)
                wait_for(lambda: (bpf_links(p.pid) > 0) == on, 10, f"agent {name} to switch", 0.002)
                self.on[name] = on
        time.sleep(0.4)  # the agents drain their rings
        for p in self.procs.values():
            p.send_signal(signal.SIGSTOP)
        time.sleep(0.1)

    def quit(self):
        for p in self.procs.values():
            p.send_signal(signal.SIGCONT)
            p.terminate()
            p.wait()


def measure(binary, calls, storm_seconds):
    out = subprocess.run([f"{BIN}/bench_syscall_cost", str(calls)], capture_output=True, text=True,
                         check=True).stdout
    cost = json.loads(out)
    cpu = storm(binary, 0, storm_seconds)["cpu_us_per_exec"] if storm_seconds > 0 else None
    return {"getppid": cost["getppid_ns"], "open_close": cost["open_close_ns"],
            "udp_send": cost["udp_send_ns"], "tcp_send": cost["tcp_send_ns"], "thread": cost["thread_ns"],
            "storm": cpu}


def summary(diffs, base):
    mean = statistics.mean(diffs)
    half = t975(len(diffs) - 1) * statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0
    return (f"{mean:+.1f} ± {half:.1f} (median {statistics.median(diffs):+.1f}; "
            f"{mean / base * 100:+.2f} % ± {half / base * 100:.2f})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help='"PATH [ARGS]" of agent A')
    ap.add_argument("--b", required=True, help='"PATH [ARGS]" of agent B')
    ap.add_argument("--rounds", type=int, default=24)
    ap.add_argument("--storm-seconds", type=float, default=2, help="0: no storm, syscalls only")
    ap.add_argument("--calls", type=int, default=300000, help="getppid calls per measure (openat: 1/10)")
    add_spawn_argument(ap)
    args = ap.parse_args()
    use_spawn(args)
    if args.rounds < 2:
        ap.error("--rounds must be at least 2")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    binary = f"/tmp/vigil-kernel-side-{os.getpid()}"
    shutil.copy("/bin/true", binary)
    results = {c: [] for c in ("none", "A", "B")}
    started = time.monotonic()
    try:
        with Vigil() as v:
            v.start_server()
            agents = Agents(v, {"A": args.a, "B": args.b})
            v.server.send_signal(signal.SIGSTOP)
            try:
                for r in range(args.rounds):
                    for condition in ORDERS[r % len(ORDERS)]:
                        agents.attach(None if condition == "none" else condition)
                        results[condition].append(measure(binary, args.calls, args.storm_seconds))
                    print(f"round {r + 1}: " + "; ".join(
                        f"{c} {results[c][-1]['getppid']:.0f} / {results[c][-1]['open_close']:.0f} ns"
                        + (f", {results[c][-1]['storm']:.0f} µs" if args.storm_seconds > 0 else "")
                        for c in results), file=sys.stderr, flush=True)
            finally:
                v.server.send_signal(signal.SIGCONT)
                agents.quit()
    finally:
        os.unlink(binary)
    print(f"A: {args.a}\nB: {args.b}\n{args.rounds} rounds, {(time.monotonic() - started) / 60:.1f} min, "
          f"kernel audit {kernel_audit()}; paired per round, mean ± 95 % CI (median)\n")
    print("| measure | none | A − none | B − none | B − A |\n|---|---|---|---|---|")
    for key, unit, label in MEASURES:
        if key == "storm" and args.storm_seconds <= 0:
            continue
        base = statistics.mean(x[key] for x in results["none"])
        cell = {}
        for x, y in (("A", "none"), ("B", "none"), ("B", "A")):
            cell[(x, y)] = summary([results[x][i][key] - results[y][i][key] for i in range(args.rounds)], base)
        print(f"| {label} ({unit}) | {base:.1f} | {cell[('A', 'none')]} | {cell[('B', 'none')]} | "
              f"{cell[('B', 'A')]} |")


if __name__ == "__main__":
    main()
