"""Resumable live detection through the real server, CLI and SQLite store: events acknowledged
(imported) while detection does not keep up (the server's VIGIL_TEST_DETECTION_PAUSED hook) and
then lost with the server (kill -9) are evaluated by the next server, from the durable cursors;
each alert appears exactly once, also when the next server is killed again in the middle of the
backlog and when a server restarts after everything was evaluated."""
import json
import os
import time
import uuid

from vigil_e2e import Vigil, check, wait_for

TMP_RULE = "vigil-linux-exec-from-world-writable-dir"


def tmp_alerts(v, marker):
    out = v.cli("alerts", "--format", "json", "--rule", TMP_RULE, "--limit", "1000")
    alerts = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [a for a in alerts if a["process.entity_id"].startswith(marker)]


def start(v, paused):
    if paused:
        os.environ["VIGIL_TEST_DETECTION_PAUSED"] = "1"
    try:
        v.start_server()
    finally:
        os.environ.pop("VIGIL_TEST_DETECTION_PAUSED", None)


def write_events(path, marker, count, every):
    """count process events; every `every`-th runs from /tmp (one alert each, its own entity)."""
    now = int(time.time() * 1e9)
    tmp = []
    with open(path, "w") as f:
        for i in range(count):
            exe = f"/tmp/{marker}-{i}" if i % every == 0 else "/usr/bin/true"
            entity = f"{marker}-{i}"
            if i % every == 0:
                tmp.append(entity)
            f.write(json.dumps({
                "@timestamp": now + i * 1000, "event.category": "process", "event.action": "exec",
                "host.id": "resume-host-id", "host.name": "resume-host",
                "process.entity_id": entity, "process.pid": 1000 + i % 30000,
                "process.name": os.path.basename(exe), "process.executable": exe,
                "process.command_line": f"{exe} --run {i}"}) + "\n")
    return tmp


with Vigil() as v:
    # 1. Acknowledged, stored, never evaluated: the server dies with detection behind.
    start(v, paused=True)
    marker = f"resume-{uuid.uuid4().hex[:8]}"
    path = os.path.join(v.dir, "a.jsonl")
    expected = write_events(path, marker, 50, 10)
    v.cli("import", "jsonl", path)
    check(len(v.events("--limit", "100")) >= 50, "the 50 imported events are stored")
    time.sleep(1.5)
    s = v.detection_stats()
    check(s["evaluated"] == 0 and tmp_alerts(v, marker) == [],
          f"with detection paused nothing is evaluated: {s}")
    v.kill_server()

    start(v, paused=False)
    got = wait_for(lambda: (lambda a: a if len(a) >= len(expected) else None)(tmp_alerts(v, marker)),
                   20, "the alerts of the events stored before the crash")
    check(sorted(a["process.entity_id"] for a in got) == sorted(expected) and
          all(a["count"] == 1 for a in got),
          f"after the restart each of the {len(expected)} /tmp executions raised one alert")
    wait_for(lambda: v.detection_stats()["evaluated"] == 50, 20, "the restarted server to evaluate the 50 events")

    # 2. Restarting after everything was evaluated evaluates nothing again.
    v.kill_server()
    start(v, paused=False)
    time.sleep(2)
    s = v.detection_stats()
    check(s["evaluated"] == 0, f"a restart evaluates nothing twice: {s}")
    got = tmp_alerts(v, marker)
    check(len(got) == len(expected) and all(a["count"] == 1 for a in got),
          "still one alert per /tmp execution, each counted once")

    # 3. A backlog of 30,000 events; the server evaluating it is killed part-way through.
    v.kill_server()
    start(v, paused=True)
    marker2 = f"resume-{uuid.uuid4().hex[:8]}"
    path = os.path.join(v.dir, "b.jsonl")
    expected2 = write_events(path, marker2, 30000, 500)
    v.cli("import", "jsonl", path)
    v.kill_server()
    start(v, paused=False)
    wait_for(lambda: v.detection_stats()["evaluated"] > 0, 20, "detection to start on the backlog")
    part = v.detection_stats()["evaluated"]
    v.kill_server()
    print(f"killed after {part} of 30000 events evaluated")
    start(v, paused=False)
    got = wait_for(lambda: (lambda a: a if len(a) >= len(expected2) else None)(tmp_alerts(v, marker2)),
                   60, "every alert of the backlog")
    wait_for(lambda: v.detection_stats()["queue_depth"] == 0, 30, "detection to catch up")
    time.sleep(1)
    got = tmp_alerts(v, marker2)
    check(sorted(a["process.entity_id"] for a in got) == sorted(expected2),
          f"each of the {len(expected2)} /tmp executions of the backlog has its alert")
    check(all(a["count"] == 1 for a in got) and len(got) == len(expected2),
          "none twice: no alert was raised again by the server that resumed")
    print("ok")
