"""The server's disk fills up while an agent streams 60,000 events. With a free-space
minimum, ingest pauses before SQLite runs out of space: batches are not acknowledged, the agent
keeps them in its spool, the server keeps running and says why (log and /api/health). With no
minimum (--min-free 0) SQLite itself hits ENOSPC mid-stream: same outcome. Once space is freed
every event is stored exactly once. The data dir is a small tmpfs mounted for the test (3 MiB:
the column-block store keeps ~120 bytes per event)."""
import json
import os
import shutil
import subprocess
import tempfile
import time

from vigil_e2e import Vigil, check, stored_markers, wait_for, write_replay

COUNT = 60_000


def health(v):
    out = subprocess.run(
        ["curl", "-s", "--cacert", os.path.join(v.dir, "pki/ca.crt"),
         f"https://127.0.0.1:{v.api_port}/api/health"], capture_output=True, text=True).stdout
    return json.loads(out)


def run(min_free, marker):
    outside = tempfile.mkdtemp(prefix="vigil-e2e-disk-full-")  # logs and the agent: not on tmpfs
    try:
        with Vigil() as v:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "vigil-e2e-disk-full", v.dir],
                           check=True)
            try:
                def log(name):
                    path = os.path.join(outside, name + ".log")
                    v.logs.append(path)
                    return open(path, "a")
                v._log = log
                v.start_server("--min-free", min_free)
                check(health(v)["ingest"] == "ok", "ingest ok before the disk fills")
                state = os.path.join(outside, "agent")
                check(v.enroll(state).returncode == 0, "agent enrolls")
                replay = os.path.join(outside, "replay.jsonl")
                write_replay(replay, COUNT, marker)
                v.start_agent(state, "--sensor", "replay", "--replay", replay, "--replay-rate", "20000")

                # The store stops growing well before all events are in.
                last = [-1, time.time()]

                def stalled():
                    n = v.received()
                    if n != last[0]:
                        last[0], last[1] = n, time.time()
                    return time.time() - last[1] > 4 and n
                n = wait_for(stalled, 90, "ingest to stall on the full disk", interval=0.5)
                check(0 < n < COUNT, f"ingest stalled at {n} of {COUNT} events")
                check(v.server.poll() is None, "the server is still running")
                server_log = open(os.path.join(outside, "server.log")).read()
                if min_free != "0":
                    check(health(v)["ingest"] == "paused" and health(v)["status"] == "degraded",
                          f"/api/health says ingest is paused: {health(v)}")
                    check(f"ingest paused: {v.dir} has" in server_log and
                          "less than the minimum" in server_log,
                          "the server log says why ingest paused")
                else:
                    check("database or disk is full" in server_log, "the server log says the disk is full")

                subprocess.run(["mount", "-o", "remount,size=256m", v.dir], check=True)
                wait_for(lambda: v.received() >= COUNT, 120, "every event once space is back",
                         interval=0.5)
                stored = stored_markers(v, marker, COUNT)
                check(len(stored) == COUNT, f"{len(stored)} events stored, {COUNT} sent")
                check(len(set(stored)) == COUNT, f"no duplicates ({len(set(stored))} distinct)")
                check(v.received() == COUNT, f"hosts list counts {v.received()} received")
                check(health(v)["ingest"] == "ok", "ingest ok again")
                if min_free != "0":
                    check("ingest resumed" in open(os.path.join(outside, "server.log")).read(),
                          "the server log says ingest resumed")
            finally:
                for p in v.agents + [v.server]:
                    if p and p.poll() is None:
                        p.kill()
                        p.wait()
                subprocess.run(["umount", "-l", v.dir])
    finally:
        shutil.rmtree(outside, ignore_errors=True)


run("1M", "disk-full-watermark")  # a third of the tmpfs: the pause comes before any ENOSPC
run("0", "disk-full-enospc")
print("ok")
