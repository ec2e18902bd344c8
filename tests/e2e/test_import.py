"""Import of Windows event records (the Sigma regression samples of ../shared/corpora, evtx_dump's JSON
shape) and of Vigil JSON Lines: counts per event type, skipped records with the reason, each file's
Computer becomes a host, and the imported events are huntable."""
import glob
import json
import os
import subprocess

from vigil_e2e import BIN, Vigil, check

CORPUS = os.path.join(os.path.dirname(__file__), "../../../shared/corpora/sigma/regression")

with Vigil() as v:
    v.start_server()
    samples = sorted(glob.glob(os.path.join(CORPUS, "**/proc_creation_win_*/*.json"), recursive=True))[:5]
    check(len(samples) == 5, f"five process_creation samples in the corpus ({len(samples)})")

    # What the files hold, read independently of Vigil: Computer and EventID of every record.
    expected_hosts, expected_process, per_host = set(), 0, {}
    decoder = json.JSONDecoder()
    for path in samples:
        text = open(path).read()
        pos = 0
        while pos < len(text):
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            record, pos = decoder.raw_decode(text, pos)
            system = record["Event"]["System"]
            expected_hosts.add(system["Computer"])
            per_host[system["Computer"]] = per_host.get(system["Computer"], 0) + 1
            provider = system["Provider"]["#attributes"]["Name"]
            if (provider == "Microsoft-Windows-Sysmon" and system["EventID"] == 1) or system["EventID"] == 4688:
                expected_process += 1

    out = [json.loads(line) for line in v.cli("import", "jsonl", *samples, "--format", "json").splitlines()]
    check(len(out) == 5, "one report per file")
    imported = sum(r["imported"] for r in out)
    process = sum(n for r in out for t, n in r["by_type"].items() if t.startswith("process"))
    check(all(r["skipped"] == 0 for r in out), "no record skipped")
    check(process == expected_process, f"{process} process events == {expected_process} Sysmon 1 / 4688 records")

    events = v.events("--category", "process", "--since", "2000-01-01T00:00:00Z", "--limit", "100000")
    check(len(events) == expected_process, f"{len(events)} process events stored")
    check({e["host.name"] for e in events} <= expected_hosts and events, "hosts are the files' Computer names")
    check(all(e.get("process.executable") and e.get("process.command_line") for e in events),
          "executable and command line mapped")

    # Every host Vigil has data for is listed: an imported one with its sensor kind, no online claim,
    # its events' count and last event time.
    def listed():
        return [json.loads(line) for line in v.cli("hosts", "--format", "json").splitlines()]

    hosts = {h["host.name"]: h for h in listed()}
    check(set(hosts) == expected_hosts, f"the imported hosts are listed: {sorted(hosts)} == {sorted(expected_hosts)}")
    for name, h in hosts.items():
        check(h["sensor"] == "import:json" and h["imported"] is True and h["online"] is None
              and h["agent.id"] == "" and h["events_received"] == per_host[name] and h["last_event"] >= "20"
              and h["first_event"] <= h["last_event"],
              f"{name}: sensor import:json, no online state, {per_host[name]} events, last event: {h}")
    table = v.cli("hosts")
    check(all(name in table for name in expected_hosts) and "imported" in table and "online" not in table,
          f"vigil hosts shows them as imported:\n{table}")

    rows = [json.loads(line) for line in v.cli("hunt", "process where process.executable : \"*.exe\"", "--since",
                                               "2000-01-01T00:00:00Z", "--format", "json").splitlines()]
    check(len(rows) == expected_process, f"imported events are huntable ({len(rows)})")

    mixed = os.path.join(v.dir, "mixed.jsonl")
    with open(mixed, "w") as f:
        f.write('{"event.category": "process", "process.pid": "x"}\n')
        f.write('{"event.category": "nope"}\n')
        f.write('{"event.category": "process", "process.name": "ok", "host.name": "imported-host"}\n')
    r = json.loads(v.cli("import", "jsonl", mixed, "--format", "json"))
    check(r["records"] == 3 and r["imported"] == 1 and r["skipped"] == 2, f"mixed file: {r}")
    again = [h for h in listed() if h["host.name"] == "imported-host"]
    check(len(again) == 1 and again[0]["events_received"] == 1, f"a JSON Lines event's host counted: {again}")
    check(any("process.pid" in reason for reason in r["reasons"]), f"the reason names the field: {r['reasons']}")
    check("record 2: unknown event.category 'nope'" in r["reasons"] and r["by_type"] == {"process": 1}, f"unknown category reported: {r}")

    # A viewer reads but may not write: import and saving hunts are refused by the API itself.
    viewer = subprocess.run([f"{BIN}/vigil-server", "api-token", "create", "--name", "vera", "--role", "viewer",
                             "--data-dir", v.dir], capture_output=True, text=True, check=True).stdout.strip()
    url = open(os.path.join(v.dir, "api.url")).read().strip()
    as_viewer = [f"{BIN}/vigil", "--data-dir", v.dir, "--server", url, "--token", viewer]
    r = subprocess.run(as_viewer + ["import", "jsonl", mixed], capture_output=True, text=True)
    check(r.returncode != 0 and "viewer role may not POST /api/import" in r.stderr, f"viewer import refused: {r.stderr.strip()}")
    r = subprocess.run(as_viewer + ["hunts", "save", "x", "any where true"], capture_output=True, text=True)
    check(r.returncode != 0 and "viewer role" in r.stderr, f"viewer save refused: {r.stderr.strip()}")
    r = subprocess.run(as_viewer + ["hunt", "process where process.name == \"ok\"", "--since", "2000-01-01T00:00:00Z",
                                    "--format", "json"], capture_output=True, text=True)
    check(r.returncode == 0 and len(r.stdout.splitlines()) == 1, f"viewer hunts: {r.stdout.strip()[:80]} {r.stderr.strip()}")
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "--server", url, "--token", "bogus", "hosts"],
                       capture_output=True, text=True)
    check(r.returncode != 0 and "invalid API token" in r.stderr, f"unknown token refused: {r.stderr.strip()}")
