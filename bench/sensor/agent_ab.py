#!/usr/bin/env python3
"""Interleaved A/B of two vigil-agent builds (or one build with two sets of options) under an exec
storm, for a machine that is not quiet: one server, then for each pair a run with no agent, a run of
A and a run of B (alternating which goes first), each agent freshly enrolled and settled before its
storm. Drifting load then hits A and B alike; compare them pair by pair, not to other runs.

Reports per run: agent CPU per exec (µs, from /proc/PID/stat, all threads), the agent's wake-ups
per second (voluntary context switches of all its threads: much less load-dependent than CPU
time), the storm's spawn-to-reap latency and its slowdown against the no-agent run of the same
pair, the storm's own CPU per exec (user + system of it and its children: the sensor's in-path
cost, less noisy than the latency) and its slowdown, and the exec events stored for the storm's
binary (end-to-end loss). With --syscalls N, each run (the no-agent one too) then times N getppid
calls and N/10 openat+close of /dev/null (bench_syscall_cost, thread CPU time): what every
syscall on the host pays for the sensor's syscall hooks.

With --server-a/--server-b (vigil-server binaries), A's agents talk to a server started from the
first and B's to one from the second (both running throughout): for changes on both ends of the
agent's connection.

usage: bench/sensor/agent_ab.py --a "PATH [ARGS]" --b "PATH [ARGS]" [--pairs 3] [--rate 100] [--seconds 20]
                                [--syscalls 1000000] [--server-a PATH --server-b PATH]
  e.g. cp build/bin/vigil-agent /tmp/agent-before; (change, rebuild);
       VIGIL_BIN=build/bin python3 bench/sensor/agent_ab.py --a /tmp/agent-before --b build/bin/vigil-agent
"""
import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../tests/e2e"))
from exec_storm import cpu_seconds, settle, storm, storm_binary, stored_execs, wakeups  # noqa: E402
from vigil_e2e import BIN, Vigil, wait_for  # noqa: E402


def syscall_cost(calls):
    if not calls:
        return {}
    out = subprocess.run([f"{BIN}/bench_syscall_cost", str(calls)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


def start_server(v, binary):
    """v's server, from `binary` instead of BIN/vigil-server when given."""
    if not binary:
        return v.start_server()
    v.server = subprocess.Popen([binary, "run", "--data-dir", v.dir, "--agent-listen", f"127.0.0.1:{v.agent_port}",
                                 "--api-listen", f"127.0.0.1:{v.api_port}"],
                                stdout=v._log("server"), stderr=subprocess.STDOUT)
    wait_for(lambda: v._healthy(), 20, "the server's API")


def thread_switches(pid):
    """Voluntary context switches per thread name (threads of one name summed)."""
    out = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            name = open(f"/proc/{pid}/task/{task}/comm").read().strip()
            for line in open(f"/proc/{pid}/task/{task}/status"):
                if line.startswith("voluntary_ctxt_switches"):
                    out[name] = out.get(name, 0) + int(line.split()[1])
        except FileNotFoundError:
            pass
    return out


def run_agent(v, n, command, rate, seconds, calls):
    binary, *args = shlex.split(command)
    state = os.path.join(v.dir, f"agent{n}")
    r = v.enroll(state, binary=binary)
    if r.returncode != 0:
        raise SystemExit(f"enroll failed: {r.stderr}")
    agent = v.start_agent(state, "--sensor", "ebpf", *args, binary=binary)
    try:
        wait_for(lambda: sum(h["online"] for h in v.hosts()) >= 1, 30, "agent online")
        settle(agent.pid)
        exe = storm_binary(f"ab{n}")
        before, switches = cpu_seconds(agent.pid), wakeups(agent.pid)
        threads = thread_switches(agent.pid)
        t0 = time.monotonic()
        result = storm(exe, rate, seconds)
        cpu = cpu_seconds(agent.pid) - before
        elapsed = time.monotonic() - t0
        switches = (wakeups(agent.pid) - switches) / elapsed
        threads = {k: (c - threads.get(k, 0)) / elapsed for k, c in thread_switches(agent.pid).items()}
        stored = stored_execs(v, exe, result["execs"], 60)
        os.unlink(exe)
        return {"execs": result["execs"], "latency_us": result["latency_us"],
                "storm_cpu_us": result["cpu_us_per_exec"], "wakeups_per_s": switches,
                "us_per_exec": cpu / max(result["execs"], 1) * 1e6, "stored": stored, "threads": threads,
                **syscall_cost(calls)}
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="agent binary and extra `run` arguments (A, before)")
    ap.add_argument("--b", required=True, help="agent binary and extra `run` arguments (B, after)")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--syscalls", type=int, default=0, help="also time this many syscalls per run")
    ap.add_argument("--server-a", help="vigil-server binary for A's agents (default: the build's)")
    ap.add_argument("--server-b", help="vigil-server binary for B's agents (default: the build's)")
    args = ap.parse_args()
    rows = []
    with Vigil() as va, Vigil() as vb:
        start_server(va, args.server_a)
        if args.server_a or args.server_b:
            start_server(vb, args.server_b)
        servers = {"a": va, "b": vb if args.server_a or args.server_b else va}
        n = 0
        for pair in range(args.pairs):
            exe = storm_binary("ab-none")
            none = storm(exe, args.rate, args.seconds)
            none.update(syscall_cost(args.syscalls))
            os.unlink(exe)
            order = ["a", "b"] if pair % 2 == 0 else ["b", "a"]
            got = {}
            for which in order:
                n += 1
                got[which] = run_agent(servers[which], n, getattr(args, which), args.rate, args.seconds, args.syscalls)
            rows.append((none, got["a"], got["b"], order[0]))
            a, b = got["a"], got["b"]
            print(f"pair {pair + 1} ({order[0].upper()} first): none {none['latency_us']:.0f} µs, "
                  f"storm CPU none/A/B {none['cpu_us_per_exec']:.0f}/{a['storm_cpu_us']:.0f}/{b['storm_cpu_us']:.0f} µs; "
                  f"A {a['us_per_exec']:.0f} µs/exec, {a['wakeups_per_s']:.0f} wake-ups/s, {a['latency_us']:.0f} µs, "
                  f"stored {a['stored']}/{a['execs']}; "
                  f"B {b['us_per_exec']:.0f} µs/exec, {b['wakeups_per_s']:.0f} wake-ups/s, {b['latency_us']:.0f} µs, "
                  f"stored {b['stored']}/{b['execs']}",
                  file=sys.stderr, flush=True)
    print("| pair | A: CPU per exec (µs) | B (µs) | B / A | slowdown A | slowdown B | "
          "storm CPU slowdown A | B | wake-ups/s A | B | stored A | stored B |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for i, (none, a, b, first) in enumerate(rows):
        base = none["latency_us"]
        print(f"| {i + 1} ({first.upper()} first) | {a['us_per_exec']:.0f} | {b['us_per_exec']:.0f} | "
              f"{b['us_per_exec'] / max(a['us_per_exec'], 1e-9):.2f} | "
              f"{(a['latency_us'] / base - 1) * 100:+.1f} % | {(b['latency_us'] / base - 1) * 100:+.1f} % | "
              f"{(a['storm_cpu_us'] / none['cpu_us_per_exec'] - 1) * 100:+.1f} % | "
              f"{(b['storm_cpu_us'] / none['cpu_us_per_exec'] - 1) * 100:+.1f} % | "
              f"{a['wakeups_per_s']:.0f} | {b['wakeups_per_s']:.0f} | "
              f"{a['stored']} / {a['execs']} | {b['stored']} / {b['execs']} |")
    print("\nWake-ups/s by thread name (voluntary switches; threads of one name summed):")
    for i, (none, a, b, first) in enumerate(rows):
        for which, r in (("A", a), ("B", b)):
            top = sorted(r["threads"].items(), key=lambda kv: -kv[1])
            print(f"pair {i + 1} {which}: " + ", ".join(f"{k} {c:.1f}" for k, c in top if c >= 0.05))
    if args.syscalls:
        print("\n| pair | getppid ns: none | A | B | openat+close ns: none | A | B |")
        print("|---|---|---|---|---|---|---|")
        for i, (none, a, b, first) in enumerate(rows):
            print(f"| {i + 1} | {none['getppid_ns']:.0f} | {a['getppid_ns']:.0f} | {b['getppid_ns']:.0f} | "
                  f"{none['open_close_ns']:.0f} | {a['open_close_ns']:.0f} | {b['open_close_ns']:.0f} |")


if __name__ == "__main__":
    main()
