"""Extra execve latency from exec blocking (fanotify FAN_OPEN_EXEC_PERM + hash cache lookup) for an
already-hashed binary, against no blocking, in the same run.

A real server and agent (--sensor none) run in a temp dir. Rounds alternate between
  off: the block list is empty, so the agent holds no fanotify group (nothing intercepts execs);
  on:  one unrelated random SHA-256 is blocked, so every exec waits for the agent's answer; the
       probe binary was executed once before (its hash is in the cache).
The probe and the agent run SCHED_FIFO (priority 20) unless --no-rt, so that other load on the
machine does not drown a difference of microseconds. Each round takes two measurements
(bench/response/exec_stamp.c):
  exec:  N fork + execve() of a tiny static probe, timed from just before execve to main() of the
         new image (the whole exec; on a VM milliseconds, with a spread far wider than 50 us);
  open:  M execve() calls, in one process, of an executable file in no binary format: each opens the
         file for exec (the point where the permission event waits for the agent) and fails with
         ENOEXEC, so only the part of execve() that blocking can slow down is timed.
  open (user file): the same with a file owned by another user, which the agent's fast path (an
         inode ignore mark for root-only-writable files found allowed) never exempts: every exec
         of it waits for the agent's answer;
  floor: M round trips between two threads over pipes (same scheduling class): the cost of waking
         another thread and being woken by it, which any answer from user space to the kernel
         pays at least once.
Prints p50/p90/p99 per mode and measurement, and the differences on vs off.

usage: python3 bench/response/exec_latency.py [--rounds 6] [--execs 1000] [--opens 20000]
(needs root and a build in build/bin; run from the repository root)"""
import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../tests/e2e"))
os.environ.setdefault("VIGIL_BIN", os.path.join(os.path.dirname(__file__), "../../build/bin"))
from vigil_e2e import BIN, Vigil, wait_for  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=6)
ap.add_argument("--execs", type=int, default=1000)
ap.add_argument("--opens", type=int, default=20000)
ap.add_argument("--no-rt", action="store_true",
                help="do not run the probe and the agent SCHED_FIFO (the default shields the "
                     "measurement from other load on the machine)")
args = ap.parse_args()

work = tempfile.mkdtemp(prefix="vigil-bench-exec-")
probe = os.path.join(work, "exec_stamp")
subprocess.run(["cc", "-O2", "-static", "-pthread", "-o", probe, os.path.join(os.path.dirname(__file__), "exec_stamp.c")], check=True)


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


not_a_binary = os.path.join(work, "not_a_binary")
with open(not_a_binary, "w") as f:
    f.write("vigil exec-latency benchmark: executable, in no binary format\n")
os.chmod(not_a_binary, 0o755)
user_file = os.path.join(work, "not_a_binary_user")
shutil.copy(not_a_binary, user_file)
os.chown(user_file, 65534, 65534)
os.chmod(user_file, 0o755)


def run_round():
    rt = [] if args.no_rt else ["chrt", "-f", "20"]
    samples = {}
    for name, argv in (("exec", ["run", probe, str(args.execs)]),
                       ("open", ["open", not_a_binary, str(args.opens)]),
                       ("open (user file)", ["open", user_file, str(args.opens)]),
                       ("floor", ["pingpong", str(args.opens)])):
        out = subprocess.run(rt + [probe] + argv, capture_output=True, text=True, check=True).stdout
        samples[name] = [int(x) / 1000 for x in out.split()]
    return samples


with Vigil() as v:
    v.start_server()
    state = os.path.join(v.dir, "agent")
    v.enroll(state)
    agent_proc = v.start_agent(state, "--sensor", "none")
    wait_for(lambda: any(h["online"] for h in v.hosts()), 20, "the agent")
    if not args.no_rt:  # every thread of the agent, including the fanotify thread started later
        subprocess.run(["chrt", "-f", "-a", "-p", "20", str(agent_proc.pid)], check=True)
    agent = v.hosts()[0]["agent.id"]
    decoy = secrets.token_hex(32)

    def action(kind):
        subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "action", kind, decoy, "--hosts", agent],
                       check=True, capture_output=True)

    results = {(mode, name): [] for mode in ("off", "on") for name in ("exec", "open", "open (user file)", "floor")}
    for r in range(args.rounds):
        for mode in ("off", "on") if r % 2 == 0 else ("on", "off"):
            action("block-hash" if mode == "on" else "unblock-hash")
            run_round() if r == 0 else None  # warm-up (and the first hash of the probe)
            for name, xs in run_round().items():
                results[(mode, name)] += xs
    action("unblock-hash")
    print(f"rounds {args.rounds}, alternating; per round {args.execs} execs and {args.opens} opens")
    print("| measurement | mode | samples | p50 | p90 | p99 |")
    print("|---|---|---|---|---|---|")
    for name in ("exec", "open", "open (user file)"):
        for mode in ("off", "on"):
            xs = results[(mode, name)]
            print(f"| {name} | {mode} | {len(xs):,} | {pct(xs, 50):,.1f} us | {pct(xs, 90):,.1f} us | "
                  f"{pct(xs, 99):,.1f} us |")
        on, off = results[("on", name)], results[("off", name)]
        print(f"| {name} | on - off | | {pct(on, 50) - pct(off, 50):+,.1f} us | "
              f"{pct(on, 90) - pct(off, 90):+,.1f} us | {pct(on, 99) - pct(off, 99):+,.1f} us |")
    floor = results[("off", "floor")] + results[("on", "floor")]
    print(f"| thread round trip (floor) | both | {len(floor):,} | {pct(floor, 50):,.1f} us | "
          f"{pct(floor, 90):,.1f} us | {pct(floor, 99):,.1f} us |")
shutil.rmtree(work, ignore_errors=True)
