"""A spool whose tail is torn or followed by garbage: the agent starts, keeps every intact record,
reports the bytes it discarded, and delivers exactly the intact records."""
import glob
import os
import re
import signal
import struct

from vigil_e2e import Vigil, check, stored_markers, wait_for, write_replay

COUNT = 1000
with Vigil() as v:
    v.start_server()
    state = os.path.join(v.dir, "agent")
    check(v.enroll(state).returncode == 0, "agent enrolls")
    v.kill_server()

    replay = os.path.join(v.dir, "replay.jsonl")
    marker = "spool-corruption-marker"
    write_replay(replay, COUNT, marker)
    agent = v.start_agent(state, "--sensor", "replay", "--replay", replay)
    wait_for(lambda: f"replay finished: {COUNT} events" in v.agent_log(state), 60, "the replay to be spooled")
    agent.send_signal(signal.SIGTERM)
    agent.wait()

    segments = sorted(glob.glob(os.path.join(state, "spool", "*.seg")))
    check(len(segments) >= 1, f"spool has segments: {segments}")
    last = segments[-1]
    size = os.path.getsize(last)
    # Walk the records (20-byte header: magic, length, sequence, crc; see docs/spool.md) to find where
    # the last one starts, so the expected number of discarded bytes is exact.
    data = open(last, "rb").read()
    offset, last_start = 0, 0
    while offset < len(data):
        if data[offset:offset + 4] != b"VSPL":
            check(False, f"record magic at offset {offset}")
        last_start = offset
        offset += 20 + struct.unpack_from("<I", data, offset + 4)[0]
    check(offset == size, "segment parses to its end")
    # 1) tear the last record: cut 7 bytes off the end
    os.truncate(last, size - 7)
    # 2) and append garbage after it
    garbage = b"\x00garbage-not-a-record\xff" * 10
    with open(last, "ab") as f:
        f.write(garbage)

    v.start_server()
    v.start_agent(state, "--sensor", "none")
    log = wait_for(lambda: re.search(r"discarded (\d+) damaged bytes", v.agent_log(state)), 20,
                   "the agent to report discarded bytes")
    discarded = int(log.group(1))
    want = (size - 7 - last_start) + len(garbage)
    check(discarded == want, f"discarded {discarded} bytes == torn record ({size - 7 - last_start}) + garbage ({len(garbage)})")

    wait_for(lambda: v.received() >= COUNT - 1, 60, "the intact records to arrive", interval=0.2)
    stored = stored_markers(v, marker, COUNT)
    check(len(stored) == COUNT - 1, f"{len(stored)} stored == {COUNT - 1} intact records")
    check(sorted(stored) == sorted(f"{marker} {i}" for i in range(COUNT - 1)), "exactly the records before the torn one")
    damaged = wait_for(lambda: [e for e in v.events("--category", "host", "--since", "10m")
                                if e.get("event.action") == "spool_damaged"], 20, "the spool_damaged event")
    check(damaged[0]["vigil.spool.discarded_bytes"] == want, f"the server is told: {damaged[0]['vigil.spool.discarded_bytes']} bytes")
