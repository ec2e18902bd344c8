"""Kill -9 the server while the agent streams 100,000 events; restart it; every event is stored
exactly once."""
import os

from vigil_e2e import Vigil, check, stored_markers, wait_for, write_replay

COUNT = 100_000
with Vigil() as v:
    v.start_server()
    state = os.path.join(v.dir, "agent")
    check(v.enroll(state).returncode == 0, "agent enrolls")
    replay = os.path.join(v.dir, "replay.jsonl")
    marker = "server-crash-marker"
    write_replay(replay, COUNT, marker)
    v.start_agent(state, "--sensor", "replay", "--replay", replay, "--replay-rate", "20000")

    n = wait_for(lambda: v.received() > 5000 and v.received(), 60, "the first events to arrive")
    check(n < COUNT, f"server killed mid-stream (after {n} of {COUNT} events)")
    v.kill_server()
    v.start_server()
    wait_for(lambda: v.received() >= COUNT, 120, "all events after the restart", interval=0.5)
    stored = stored_markers(v, marker, COUNT)
    check(len(stored) == COUNT, f"{len(stored)} events stored, {COUNT} sent")
    check(len(set(stored)) == COUNT, f"no duplicates ({len(set(stored))} distinct)")
    check(v.received() == COUNT, f"hosts list counts {v.received()} received")
