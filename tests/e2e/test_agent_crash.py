"""Kill -9 the agent while it uploads 100,000 spooled events; restart it; every event is stored
exactly once."""
import os
import signal

from vigil_e2e import Vigil, check, stored_markers, wait_for, write_replay

COUNT = 100_000
with Vigil() as v:
    v.start_server()
    state = os.path.join(v.dir, "agent")
    check(v.enroll(state).returncode == 0, "agent enrolls")
    v.kill_server()  # the agent spools everything while the server is away

    replay = os.path.join(v.dir, "replay.jsonl")
    marker = "agent-crash-marker"
    write_replay(replay, COUNT, marker)
    # small batches, one in flight: the upload takes long enough to be killed in the middle
    agent = v.start_agent(state, "--sensor", "replay", "--replay", replay, "--batch-events", "100", "--window", "1")
    wait_for(lambda: "replay finished: 100000 events" in v.agent_log(state), 120, "the replay to be spooled")
    v.start_server()

    n = wait_for(lambda: v.received() > 0 and v.received(), 60, "the upload to start", interval=0.01)
    agent.send_signal(signal.SIGKILL)
    agent.wait()
    check(v.received() < COUNT, f"agent killed mid-upload (after {v.received()} of {COUNT})")
    v.start_agent(state, "--sensor", "none", "--batch-events", "100", "--window", "1")
    wait_for(lambda: v.received() >= COUNT, 120, "all events after the agent restart", interval=0.5)
    stored = stored_markers(v, marker, COUNT)
    check(len(stored) == COUNT, f"{len(stored)} events stored, {COUNT} sent")
    check(len(set(stored)) == COUNT, f"no duplicates ({len(set(stored))} distinct)")
