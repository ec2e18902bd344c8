"""Live detection through the real server, CLI and SQLite store, fed by imports: the rule registry
(built-in pack installed, `vigil rules add` of a directory reporting each file, errors that say
where and why), alerts raised as events are ingested (with the matching event, host and process
entity), suppression of repeats, the SSE stream (`vigil alerts --follow`), triage (ack, assign,
close, comments), viewers read but may not change, enable/disable, and a stored rule's retro-hunt
(`vigil rules hunt`) giving the same events as the live matches."""
import json
import os
import subprocess
import threading
import time
import uuid

from vigil_e2e import BIN, Vigil, check, wait_for

SIGMA = os.path.join(os.path.dirname(__file__), "../../../shared/corpora/sigma/rules")


def jsonl(v, args):
    return [json.loads(line) for line in v.cli(*args).splitlines() if line.strip()]


with Vigil() as v:
    v.start_server()
    marker = f"vigil-e2e-{uuid.uuid4().hex[:10]}"

    rules = jsonl(v, ["rules", "list", "--format", "json"])
    builtin = [r for r in rules if r["origin"] == "builtin"]
    check(len(builtin) >= 13 and all(r["enabled"] for r in builtin),
          f"{len(builtin)} built-in rules installed and enabled")
    check(all(any(t.startswith("attack.t") for t in r["tags"]) for r in builtin),
          "every built-in rule carries an ATT&CK technique")

    # A directory of rules: good and bad, EQL and Sigma, one in a subdirectory.
    rdir = os.path.join(v.dir, "myrules")
    os.makedirs(os.path.join(rdir, "sub"))
    with open(os.path.join(rdir, "marker.eql"), "w") as f:
        f.write(f"// id: e2e-marker\n// name: Marker process\n// severity: low\n"
                f"// tags: attack.execution, attack.t1059\n"
                f"process where process.command_line : \"*{marker}*\"\n")
    with open(os.path.join(rdir, "sub", "typo.eql"), "w") as f:
        f.write("// id: e2e-typo\nprocess where nmae == \"x\"\n")
    with open(os.path.join(rdir, "sub", "cloud.yml"), "w") as f:
        f.write("title: Cloud thing\nid: 0b5e1e38-0000-4000-8000-000000000001\nlogsource:\n"
                "  product: aws\n  service: cloudtrail\ndetection:\n  sel:\n    eventName: x\n"
                "  condition: sel\nlevel: high\n")
    with open(os.path.join(rdir, "sub", "win.yml"), "w") as f:
        f.write("title: Whoami run\nid: 0b5e1e38-0000-4000-8000-000000000002\nlogsource:\n"
                "  product: windows\n  category: process_creation\ndetection:\n  sel:\n"
                "    Image|endswith: '\\whoami.exe'\n  condition: sel\nlevel: medium\n"
                "tags:\n  - attack.discovery\n  - attack.t1033\n")
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "rules", "add", rdir],
                       capture_output=True, text=True)
    print(r.stdout)
    check(r.returncode == 1, "rules add exits 1 when a file failed")
    check(f"added  {rdir}/marker.eql -> e2e-marker (v1)" in r.stdout, "the EQL rule is added")
    check(f"{rdir}/sub/typo.eql:2:15: unknown field nmae" in r.stdout,
          "an EQL error names file, line and column")
    check(f"{rdir}/sub/cloud.yml: " in r.stdout and "aws" in r.stdout,
          "an unsupported Sigma rule is reported with its reason")
    check("-> 0b5e1e38-0000-4000-8000-000000000002 (v1)" in r.stdout, "the Sigma rule is added")
    check("4 file(s): 2 added, 0 updated, 0 unchanged, 2 failed" in r.stdout, "a summary per run")
    again = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "rules", "add",
                            os.path.join(rdir, "marker.eql")], capture_output=True, text=True)
    check("unchanged" in again.stdout and again.returncode == 0, "adding the same rule again changes nothing")
    shown = json.loads(v.cli("rules", "show", "e2e-marker", "--format", "json"))
    check(shown["kind"] == "eql" and marker in shown["source"] and shown["severity"] == "low",
          "rules show returns the source and metadata")

    # The SSE stream, followed from before the events arrive.
    follower = subprocess.Popen([f"{BIN}/vigil", "--data-dir", v.dir, "alerts", "--follow",
                                 "--format", "json"], stdout=subprocess.PIPE, text=True)
    streamed = []
    threading.Thread(target=lambda: [streamed.append(json.loads(l)) for l in follower.stdout],
                     daemon=True).start()
    time.sleep(1.0)

    now = int(time.time() * 1e9)

    def event(i, entity, cmd, exe="/usr/bin/sh", host="imp-host"):
        return {"@timestamp": now + i * 1_000_000_000, "event.category": "process",
                "event.action": "exec", "host.id": host + "-id", "host.name": host,
                "process.entity_id": entity, "process.pid": 4000 + i, "process.name": os.path.basename(exe),
                "process.executable": exe, "process.command_line": cmd}

    events = os.path.join(v.dir, "events.jsonl")
    with open(events, "w") as f:
        f.write(json.dumps(event(0, "ent-1", f"sh -c {marker} one")) + "\n")
        f.write(json.dumps(event(1, "ent-1", f"sh -c {marker} two")) + "\n")  # a repeat: suppressed
        f.write(json.dumps(event(2, "ent-2", f"sh -c {marker} three")) + "\n")
        f.write(json.dumps(event(3, "ent-3", "/tmp/x", exe="/tmp/x")) + "\n")
        f.write(json.dumps(event(4, "ent-4", "ls -l")) + "\n")
    v.cli("import", "jsonl", events)

    def alerts(*args):
        return jsonl(v, ["alerts", "--format", "json", *args])

    got = wait_for(lambda: (lambda a: a if len(a) >= 3 else None)(alerts()), 10, "three alerts")
    by_entity = {(a["rule_id"], a["process.entity_id"]): a for a in got}
    check(len(got) == 3, f"3 alerts (2 marker entities + /tmp), not {len(got)}")
    a1 = by_entity.get(("e2e-marker", "ent-1"))
    check(a1 and a1["count"] == 2, "the repeat on ent-1 is folded into one alert with count 2")
    check(a1["host.name"] == "imp-host" and a1["host.id"] == "imp-host-id", "the alert names the host")
    check(a1["severity"] == "low" and "attack.t1059" in a1["tags"] and a1["rule_name"] == "Marker process",
          "severity, tags and name come from the rule")
    check(len(a1["events"]) == 1 and a1["events"][0]["process.command_line"] == f"sh -c {marker} one",
          "the alert carries the matching event")
    check(("e2e-marker", "ent-2") in by_entity, "another process entity is another alert")
    tmp = by_entity.get(("vigil-linux-exec-from-world-writable-dir", "ent-3"))
    check(tmp and tmp["events"][0]["process.executable"] == "/tmp/x", "the built-in /tmp rule fires on imports")

    wait_for(lambda: len(streamed) >= 3, 10, "the SSE stream to deliver the alerts")
    check({(a["rule_id"], a["process.entity_id"]) for a in streamed} == set(by_entity),
          "vigil alerts --follow printed each new alert once")
    follower.terminate()
    follower.wait()

    # Triage.
    aid = str(a1["id"])
    v.cli("alerts", "ack", aid, "--comment", "looking at it")
    v.cli("alerts", "assign", aid, "alice")
    v.cli("alerts", "close", aid, "--comment", "benign test")
    a = json.loads(v.cli("alerts", "show", aid, "--format", "json"))
    check(a["status"] == "closed" and a["assignee"] == "alice", "status and assignee changed")
    check([c["text"] for c in a["comments"]] == ["looking at it", "benign test"]
          and a["comments"][0]["author"] == "admin", "comments with their author")
    check([x["id"] for x in alerts("--status", "closed")] == [a1["id"]], "--status filters")

    viewer = subprocess.run([f"{BIN}/vigil-server", "api-token", "create", "--name", "val",
                             "--role", "viewer", "--data-dir", v.dir],
                            capture_output=True, text=True, check=True).stdout.strip()
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "--token", viewer, "alerts", "--format", "json"],
                       capture_output=True, text=True)
    check(r.returncode == 0 and len(r.stdout.splitlines()) == 3, "a viewer reads alerts")
    for cmd in (["alerts", "ack", aid], ["rules", "disable", "e2e-marker"]):
        r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "--token", viewer, *cmd],
                           capture_output=True, text=True)
        check(r.returncode != 0 and "viewer role may not POST" in r.stderr, f"a viewer may not {' '.join(cmd)}")

    # Disabled rules do not run; enabled again they do.
    v.cli("rules", "disable", "e2e-marker")
    with open(events, "w") as f:
        f.write(json.dumps(event(10, "ent-9", f"sh -c {marker} disabled")) + "\n")
    v.cli("import", "jsonl", events)
    time.sleep(1.0)
    check(not [a for a in alerts() if a["process.entity_id"] == "ent-9"], "a disabled rule raises nothing")
    v.cli("rules", "enable", "e2e-marker")
    with open(events, "w") as f:
        f.write(json.dumps(event(11, "ent-10", f"sh -c {marker} enabled")) + "\n")
    v.cli("import", "jsonl", events)
    wait_for(lambda: [a for a in alerts() if a["process.entity_id"] == "ent-10"], 10,
             "the re-enabled rule to fire")

    # Retro-hunt of the stored rule: the same events the live engine matched (5 marker events).
    rows = jsonl(v, ["rules", "hunt", "e2e-marker", "--since", "30d", "--format", "json"])
    retro = sorted(r["process.command_line"] for r in rows)
    live = sorted(e["process.command_line"] for a in alerts("--rule", "e2e-marker") for e in a["events"])
    # Suppressed repeats are counted, not stored: add them back from the counts.
    check(len(retro) == 5, f"the retro-hunt finds the 5 marker events ({len(retro)})")
    check(sum(a["count"] for a in alerts("--rule", "e2e-marker")) == 4
          and set(live) <= set(retro), "live alerts (with repeats) cover the retro-hunt's matches but the disabled one")
    # IOC sets: indicators from a file; a domain also matches its subdomains; expired sets stop.
    iocs = os.path.join(v.dir, "iocs.txt")
    with open(iocs, "w") as f:
        f.write("# feed\nbad.example\n198.51.100.0/24\n" + "ab" * 32 + "\n")
    out = v.cli("ioc", "add-set", "feed-1", iocs, "--source", "e2e feed", "--expires", "1h")
    check("1 sha256, 1 IPs/CIDRs, 1 domains; alerts as rule ioc-feed-1" in out, f"ioc add-set: {out.strip()}")
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "ioc", "add-set", "bad", events],
                       capture_output=True, text=True)
    check(r.returncode != 0 and "is not a SHA-256, an IP address, a CIDR or a domain" in r.stderr,
          f"a bad indicator is refused with the reason: {r.stderr.strip()[:120]}")
    sets = jsonl(v, ["ioc", "sets", "--format", "json"])
    check([s["name"] for s in sets] == ["feed-1"] and sets[0]["domains"] == ["bad.example"], "ioc sets lists it")
    with open(events, "w") as f:
        for i, name in enumerate(["x.bad.example", "bad.example.org", "BAD.example"]):
            f.write(json.dumps({"@timestamp": now + (20 + i) * 1_000_000_000, "event.category": "dns",
                                "host.id": "imp-host-id", "host.name": "imp-host",
                                "process.entity_id": f"dns-{i}", "dns.question.name": name}) + "\n")
        f.write(json.dumps({"@timestamp": now + 30 * 1_000_000_000, "event.category": "network",
                            "host.id": "imp-host-id", "host.name": "imp-host", "process.entity_id": "net-1",
                            "destination.ip": "198.51.100.9", "destination.port": 443}) + "\n")
    v.cli("import", "jsonl", events)
    ioc_alerts = wait_for(lambda: (lambda a: a if len(a) >= 3 else None)(alerts("--rule", "ioc-feed-1")), 10,
                          "IOC alerts")
    check(sorted(a["process.entity_id"] for a in ioc_alerts) == ["dns-0", "dns-2", "net-1"],
          "the IOC set matched the subdomain, the domain (any case) and the CIDR, not bad.example.org")
    v.cli("ioc", "remove-set", "feed-1")
    check(jsonl(v, ["ioc", "sets", "--format", "json"]) == [], "ioc remove-set")

    stats = json.loads(subprocess.run(
        ["curl", "-s", "--cacert", os.path.join(v.dir, "pki/ca.crt"), "-H",
         "Authorization: Bearer " + open(os.path.join(v.dir, "admin.token")).read().strip(),
         open(os.path.join(v.dir, "api.url")).read().strip() + "/api/detection/stats"],
        capture_output=True, text=True).stdout)
    check(stats["dropped"] == 0 and stats["evaluated"] == stats["queued"] == 11,
          f"every imported event evaluated once, none dropped: {stats}")
