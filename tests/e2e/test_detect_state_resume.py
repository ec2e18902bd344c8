"""Sequence and relationship state survives a server restart (real server, CLI and SQLite store):
the first step of a sequence and a parent process are evaluated by one server, which is then killed
(kill -9) or stopped (SIGTERM); the next server gets the second step and a connection of the child
and raises both alerts, each once, with all the sequence's events. After kill -9 the next server
re-evaluates the events since the last saved state without raising their alerts again (replayed)."""
import json
import os
import signal
import time
import uuid

from vigil_e2e import Vigil, check, wait_for

SEQ = "e2e-seq-resume"
REL = "e2e-rel-resume"


def alerts(v, rule, marker):
    out = v.cli("alerts", "--format", "json", "--rule", rule, "--limit", "1000")
    got = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [a for a in got if a["process.entity_id"].startswith(marker)]


def event(t, category, entity, **fields):
    e = {"@timestamp": t, "event.category": category, "host.id": "resume-host-id",
         "host.name": "resume-host", "process.entity_id": entity}
    e.update(fields)
    return e


def write(v, name, events):
    path = os.path.join(v.dir, name)
    with open(path, "w") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
    v.cli("import", "jsonl", path)


def run(v, stop, how):
    marker = f"st-{uuid.uuid4().hex[:8]}"
    parent, child = f"{marker}-parent", f"{marker}-child"
    now = int(time.time() * 1e9)
    before = v.detection_stats()["evaluated"]
    # First server: the sequence's first step, and a child of the process the relationship is about.
    write(v, f"{marker}-a.jsonl", [
        event(now, "process", parent, **{"event.action": "exec", "process.name": "stage-one",
                                         "process.executable": "/usr/bin/stage-one"}),
        event(now + 1000, "process", child, **{"event.action": "exec", "process.name": "kid",
                                              "process.executable": "/usr/bin/kid",
                                              "process.parent.entity_id": parent})])
    wait_for(lambda: v.detection_stats()["evaluated"] >= before + 2, 20, "the first server to evaluate step one")
    check(v.detection_stats()["sequence_partials"] >= 1, "a partial sequence is held")
    stop()
    v.start_server()
    write(v, f"{marker}-b.jsonl", [
        event(now + 2000, "network", parent, **{"event.action": "connect", "destination.ip": "10.9.9.9",
                                               "destination.port": 4444}),
        event(now + 3000, "network", child, **{"event.action": "connect", "destination.ip": "10.9.9.9",
                                              "destination.port": 443})])
    seq = wait_for(lambda: alerts(v, SEQ, marker) or None, 20, f"the sequence alert after a {how}")
    rel = wait_for(lambda: alerts(v, REL, marker) or None, 20, f"the relationship alert after a {how}")
    time.sleep(1.5)
    seq, rel = alerts(v, SEQ, marker), alerts(v, REL, marker)
    check(len(seq) == 1 and seq[0]["count"] == 1, f"one sequence alert after a {how}: {seq}")
    names = [e.get("process.name", e["event.category"]) for e in seq[0]["events"]]
    check([e["event.category"] for e in seq[0]["events"]] == ["process", "network"] and
          seq[0]["events"][0]["process.name"] == "stage-one",
          f"the sequence alert holds both steps, the first from before the {how}: {names}")
    check(len(rel) == 1 and rel[0]["process.entity_id"] == child,
          f"the child's connection is a descendant of stage-one across the {how}: {rel}")
    return v.detection_stats()


with Vigil() as v:
    v.start_server()
    rules = os.path.join(v.dir, "rules")
    os.makedirs(rules)
    with open(os.path.join(rules, "seq.eql"), "w") as f:
        f.write(f"// id: {SEQ}\n// severity: high\nsequence by process.entity_id\n"
                "  [process where process.name == \"stage-one\"]\n"
                "  [network where destination.port == 4444]\n")
    with open(os.path.join(rules, "rel.eql"), "w") as f:
        f.write(f"// id: {REL}\n// severity: high\n"
                "network where descendant of [process where process.name == \"stage-one\"]\n")
    v.cli("rules", "add", rules)

    # 1. kill -9 right after step one was evaluated: the state is rebuilt by the replay.
    s = run(v, v.kill_server, "kill -9")
    check(s["replayed"] >= 2, f"the restarted server replayed the events since the saved state: {s}")

    # 2. A clean stop (SIGTERM) saves the state: nothing to replay.
    def term():
        v.server.send_signal(signal.SIGTERM)
        v.server.wait(timeout=30)
    s = run(v, term, "clean stop")
    check(s["replayed"] == 0, f"after a clean stop nothing is replayed: {s}")
    check(s["state_errors"] == 0, f"no state errors: {s}")
    print("ok")
