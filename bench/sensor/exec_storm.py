#!/usr/bin/env python3
"""Exec-storm benchmark of the sensor (issue 3): fork+exec of a copy of /bin/true at fixed rates and
at the maximum rate, with (a) no observer, (b) vigil-agent (eBPF sensor, full pipeline to a local
server), (c) auditd with an execve rule (its CPU counted with kauditd's), all in the same run.

The configurations are run in --repeat rounds, interleaved and in a rotating order (none, vigil,
auditd / vigil, auditd, none / ...), so that drifting load on the machine hits all three alike; each
figure is the median over the rounds with the spread (min-max) beside it.

Reports, per configuration and rate:
- observer CPU per exec (µs; the agent's process, or auditd + kauditd) and CPU % of one core;
- the storm's slowdown, two ways: its spawn-to-reap wall latency against no observer (noisy on a
  shared VM), and its own CPU per exec (user + system of the storm and its reaped children from
  getrusage: the sensor's in-path cost, BPF programs included, is charged there) against no observer;
- for Vigil, the events lost end to end (exec events stored for the storm's binary against execs).

usage: bench/sensor/exec_storm.py [--seconds 30] [--rates 100,200,0] [--repeat 3]   (0 = max rate)
Needs root and a built tree (build/bin); installs auditd with apt-get if it is missing.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../tests/e2e"))
from vigil_e2e import BIN, Vigil, wait_for  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wakeups(pid):
    """Voluntary context switches of all of pid's threads: each is a thread going to sleep, to be
    woken again, so the count shows how often the observer wakes up. (Involuntary ones, preemption,
    are left out: they grow with the machine's load.)"""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            for line in open(f"/proc/{pid}/task/{task}/status"):
                if line.startswith("voluntary_ctxt_switches"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


# How the storm makes each process (bench_exec_storm's last argument): posix_spawn, or fork + execve
# as the issue words it. Set once by a script's --spawn (add_spawn_argument, use_spawn).
_spawn = "posix_spawn"


def add_spawn_argument(ap):
    ap.add_argument("--spawn", choices=("posix_spawn", "fork"), default="posix_spawn",
                    help="how the storm makes each process: glibc's posix_spawn (a vfork-style child "
                         "that resets every signal, ~160 syscalls per spawn) or fork + execve (~32)")


def use_spawn(args):
    global _spawn
    _spawn = args.spawn


def spawn_method():
    return _spawn


def storm(binary, rate, seconds):
    out = subprocess.run([f"{BIN}/bench_exec_storm", binary, str(rate), str(seconds), _spawn],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def storm_binary(tag):
    path = f"/tmp/vigil-storm-{tag}-{uuid.uuid4().hex[:6]}"
    shutil.copy("/bin/true", path)
    return path


def run_phases(observer_pids, rates, seconds, tag, after=None):
    rows = []
    for rate in rates:
        binary = storm_binary(f"{tag}-{rate}")
        before = sum(cpu_seconds(p) for p in observer_pids())
        switches = sum(wakeups(p) for p in observer_pids())
        t0 = time.monotonic()
        result = storm(binary, rate, seconds)
        cpu = sum(cpu_seconds(p) for p in observer_pids()) - before
        switches = sum(wakeups(p) for p in observer_pids()) - switches
        wall = time.monotonic() - t0
        row = {"rate": rate, "execs": result["execs"], "latency_us": result["latency_us"],
               "storm_cpu_us": result["cpu_us_per_exec"], "cpu_s": cpu, "cpu_pct": cpu / wall * 100,
               "wakeups_per_s": switches / wall, "binary": binary}
        if after:
            row.update(after(binary, result["execs"]))
        os.unlink(binary)
        rows.append(row)
    return rows


def settle(pid, timeout=120):
    """Waits until the agent's start-up work is over (the snapshot hashes every running executable,
    the vigil binaries are 60+ MB each): less than 1 % of a core over one second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(1)
        if cpu_seconds(pid) - before < 0.01:
            return
    print(f"warning: the agent did not settle within {timeout} s", file=sys.stderr)


def stored_execs(v, binary, execs, timeout):
    """Exec events of `binary` in v's store, polled until there are `execs` or timeout seconds pass."""
    query = f'process where event.action == "exec" and process.executable == "{binary}" | count'

    def count():
        out = v.cli("hunt", query, "--since", "1h", "--format", "json").strip()
        return json.loads(out)["count"] if out else 0
    deadline = time.monotonic() + timeout
    n = count()
    while n < execs and time.monotonic() < deadline:
        time.sleep(1)
        n = count()
    return n


def pid_of(name):
    out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def run_vigil(v, rates, seconds, round_no, agent_args=()):
    state = os.path.join(v.dir, f"agent{round_no}")
    v.enroll(state)
    agent = v.start_agent(state, "--sensor", "ebpf", *agent_args)
    try:
        wait_for(lambda: any(h["online"] for h in v.hosts()), 30, "agent online")
        settle(agent.pid)

        def stored(binary, execs):
            n = stored_execs(v, binary, execs, 120)
            return {"stored": n, "lost": execs - n}

        return run_phases(lambda: [agent.pid], rates, seconds, f"vigil{round_no}", stored)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait()
        v.agents.remove(agent)
        wait_for(lambda: not any(h["online"] for h in v.hosts()), 30, "agent offline")


def kernel_audit():
    """'on', 'off' or 'unknown': the kernel's audit switch (AUDIT_GET over netlink; no auditctl
    needed). With it on every syscall takes the kernel's audit path, which changes what a syscall
    and a syscall tracepoint cost: benches print it (bench/BENCHMARKS.md, session 20)."""
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9) as s:  # NETLINK_AUDIT
            s.settimeout(1)
            s.sendto(struct.pack("=IHHII", 16, 1000, 1, 1, 0), (0, 0))  # AUDIT_GET, NLM_F_REQUEST
            reply = s.recv(4096)
    except OSError:
        return "unknown"
    length, kind = struct.unpack_from("=IH", reply)
    if kind != 1000 or length < 24:
        return "unknown"
    return "on" if struct.unpack_from("=I", reply, 20)[0] else "off"  # audit_status.enabled


def audit_enabled():
    out = subprocess.run(["auditctl", "-s"], capture_output=True, text=True).stdout
    return next((line.split()[1] for line in out.splitlines() if line.startswith("enabled ")), "0")


def run_auditd(rates, seconds, round_no):
    if not shutil.which("auditd"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "auditd"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    enabled = audit_enabled()  # auditd turns auditing on; the other configurations get it back as it was
    auditd = subprocess.Popen(["auditd", "-n"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        subprocess.run(["auditctl", "-a", "always,exit", "-F", "arch=b64", "-S", "execve", "-k", "vigilbench"],
                       check=True, capture_output=True)
        return run_phases(lambda: [auditd.pid] + pid_of("kauditd"), rates, seconds, f"auditd{round_no}")
    finally:
        subprocess.run(["auditctl", "-D"], capture_output=True)
        auditd.terminate()
        auditd.wait()
        subprocess.run(["auditctl", "-e", enabled], capture_output=True)


def median(values):
    return statistics.median(values)


def spread(values, fmt):
    return f"{fmt.format(min(values))}–{fmt.format(max(values))}" if len(values) > 1 else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--rates", default="100,200,0")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds of the three configurations")
    ap.add_argument("--agent-args", default="", help="extra `vigil-agent run` arguments, e.g. '--send-interval-ms 500'")
    add_spawn_argument(ap)
    args = ap.parse_args()
    use_spawn(args)
    rates = [float(r) for r in args.rates.split(",")]
    names = ["none", "vigil", "auditd"]
    # results[name][rate] = list of rows, one per round
    results = {name: {rate: [] for rate in rates} for name in names}

    with Vigil() as v:
        v.start_server()
        for round_no in range(args.repeat):
            order = names[round_no % 3:] + names[:round_no % 3]
            for name in order:
                if name == "none":
                    rows = run_phases(lambda: [], rates, args.seconds, f"none{round_no}")
                elif name == "vigil":
                    rows = run_vigil(v, rates, args.seconds, round_no, args.agent_args.split())
                else:
                    rows = run_auditd(rates, args.seconds, round_no)
                for r in rows:
                    results[name][r["rate"]].append(r)
                    print(f"round {round_no + 1} {name} rate {r['rate']:.0f}: {r['execs']} execs, "
                          f"latency {r['latency_us']:.0f} µs, storm CPU {r['storm_cpu_us']:.0f} µs/exec, "
                          f"observer {r['cpu_s'] / max(r['execs'], 1) * 1e6:.0f} µs/exec, "
                          f"{r['wakeups_per_s']:.0f} wake-ups/s"
                          + (f", stored {r['stored']}" if "stored" in r else ""), file=sys.stderr, flush=True)

    def per_exec(r):
        return r["cpu_s"] / max(r["execs"], 1) * 1e6

    print(f"{args.repeat} interleaved rounds of {args.seconds:.0f} s per rate; median (min–max) over the rounds\n")
    print("| observer | rate | execs | storm latency (µs) | slowdown (latency) | storm CPU per exec (µs) | "
          "slowdown (storm CPU) | observer CPU % | observer CPU per exec (µs) | observer wake-ups/s | "
          "stored / lost |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        for rate in rates:
            rows = results[name][rate]
            base = results["none"][rate]
            lat, cpu = [r["latency_us"] for r in rows], [r["storm_cpu_us"] for r in rows]
            slow_lat = median(lat) / median([r["latency_us"] for r in base]) - 1
            slow_cpu = median(cpu) / median([r["storm_cpu_us"] for r in base]) - 1
            obs = [per_exec(r) for r in rows]
            lost = (f"{sum(r['stored'] for r in rows)} / {sum(r['lost'] for r in rows)}"
                    if rows and "stored" in rows[0] else "-")
            print(f"| {name} | {'max' if rate == 0 else f'{rate:.0f}/s'} | {sum(r['execs'] for r in rows)} | "
                  f"{median(lat):.0f} ({spread(lat, '{:.0f}')}) | {slow_lat * 100:+.1f} % | "
                  f"{median(cpu):.0f} ({spread(cpu, '{:.0f}')}) | {slow_cpu * 100:+.1f} % | "
                  f"{median([r['cpu_pct'] for r in rows]):.2f} | {median(obs):.0f} ({spread(obs, '{:.0f}')}) | "
                  f"{median([r['wakeups_per_s'] for r in rows]):.0f} | {lost} |")
    print()
    for rate in rates:
        ratios = [per_exec(vr) / max(per_exec(ar), 1e-9)
                  for vr, ar in zip(results["vigil"][rate], results["auditd"][rate])]
        print(f"rate {'max' if rate == 0 else int(rate)}: Vigil CPU per exec / auditd's = "
              f"{median([per_exec(r) for r in results['vigil'][rate]]) / max(median([per_exec(r) for r in results['auditd'][rate]]), 1e-9):.2f} "
              f"(per round: {', '.join(f'{x:.2f}' for x in ratios)})")


if __name__ == "__main__":
    main()
