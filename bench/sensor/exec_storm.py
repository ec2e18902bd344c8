#!/usr/bin/env python3
"""Exec-storm benchmark of the sensor (issue 3): fork+exec of a copy of /bin/true at fixed rates and
at the maximum rate, with (a) no observer, (b) vigil-agent (eBPF sensor, full pipeline to a local
server), (c) auditd with an execve rule (its CPU counted with kauditd's), all in the same run.

Reports observer CPU per exec (µs), CPU % of one core, the storm's slowdown (spawn-to-reap latency
against no observer), and for Vigil the events lost end to end (exec events stored for the storm's
binary against execs done).

usage: bench/sensor/exec_storm.py [--seconds 30] [--rates 100,200,0]   (0 = as fast as possible)
Needs root and a built tree (build/bin); installs auditd with apt-get if it is missing.
"""
import argparse
import json
import os
import shutil
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


def storm(binary, rate, seconds):
    out = subprocess.run([f"{BIN}/bench_exec_storm", binary, str(rate), str(seconds)],
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
        t0 = time.monotonic()
        result = storm(binary, rate, seconds)
        cpu = sum(cpu_seconds(p) for p in observer_pids()) - before
        wall = time.monotonic() - t0
        row = {"rate": rate, "execs": result["execs"], "latency_us": result["latency_us"],
               "cpu_s": cpu, "cpu_pct": cpu / wall * 100, "binary": binary}
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--rates", default="100,200,0")
    args = ap.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    results = {}

    results["none"] = run_phases(lambda: [], rates, args.seconds, "none")

    with Vigil() as v:
        v.start_server()
        state = os.path.join(v.dir, "agent")
        v.enroll(state)
        agent = v.start_agent(state, "--sensor", "ebpf")
        wait_for(lambda: any(h["online"] for h in v.hosts()), 30, "agent online")
        settle(agent.pid)

        def stored(binary, execs):
            n = stored_execs(v, binary, execs, 120)
            return {"stored": n, "lost": execs - n}

        results["vigil"] = run_phases(lambda: [agent.pid], rates, args.seconds, "vigil", stored)

    if not shutil.which("auditd"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "auditd"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    auditd = subprocess.Popen(["auditd", "-n"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(2)
        subprocess.run(["auditctl", "-a", "always,exit", "-F", "arch=b64", "-S", "execve", "-k", "vigilbench"],
                       check=True, capture_output=True)
        results["auditd"] = run_phases(lambda: [auditd.pid] + pid_of("kauditd"), rates, args.seconds, "auditd")
    finally:
        subprocess.run(["auditctl", "-D"], capture_output=True)
        auditd.terminate()
        auditd.wait()

    base = {r["rate"]: r for r in results["none"]}
    print("| observer | rate | execs | storm latency (µs) | slowdown | observer CPU % | CPU per exec (µs) | stored / lost |")
    print("|---|---|---|---|---|---|---|---|")
    for name in ("none", "vigil", "auditd"):
        for r in results[name]:
            rate = "max" if r["rate"] == 0 else f"{r['rate']:.0f}/s"
            slowdown = r["latency_us"] / base[r["rate"]]["latency_us"] - 1
            per_exec = r["cpu_s"] / max(r["execs"], 1) * 1e6
            lost = f"{r['stored']} / {r['lost']}" if "stored" in r else "-"
            print(f"| {name} | {rate} | {r['execs']} | {r['latency_us']:.0f} | {slowdown * 100:+.1f} % | "
                  f"{r['cpu_pct']:.2f} | {per_exec:.0f} | {lost} |")
    for i, rate in enumerate(rates):
        v, a = results["vigil"][i], results["auditd"][i]
        ratio = (v["cpu_s"] / max(v["execs"], 1)) / max(a["cpu_s"] / max(a["execs"], 1), 1e-9)
        print(f"\nrate {'max' if rate == 0 else int(rate)}: Vigil CPU per exec / auditd's = {ratio:.2f}")


if __name__ == "__main__":
    main()
