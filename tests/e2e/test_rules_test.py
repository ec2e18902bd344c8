"""`vigil rules test` on the Sigma regression corpus: for every rule -> sample pair, the CLI (offline,
the live engine) reports the expected number of matches, once from the evtx_dump .json sample and
once from the .evtx file itself (libevtx). Floor: the 98 of 101 the library test reaches (the 3
others are documented in docs/detection.md). Then rules beyond single events (an EQL sequence and
relationship, a Sigma correlation) on a small JSON-lines file, with their exact matches."""
import glob
import json
import os
import re
import subprocess
import tempfile

from vigil_e2e import BIN, check

CORPUS = os.path.join(os.path.dirname(__file__), "../../../shared/corpora/sigma")
rule_by_id = {}
for path in glob.glob(os.path.join(CORPUS, "rules*/**/*.yml"), recursive=True):
    m = re.search(r"^id:\s*(\S+)", open(path, encoding="utf-8", errors="replace").read(), re.M)
    if m:
        rule_by_id[m.group(1)] = path

def run_pairs(ext):
    """Runs `vigil rules test` on every pair whose sample exists as ext; (passed, pairs, failures)."""
    passed, pairs, failures = 0, 0, []
    for info in infos:
        text = open(info).read()
        rule_id = re.search(r"rule_metadata:\s*\n\s*-\s*id:\s*(\S+)", text).group(1)
        count = re.search(r"match_count:\s*(\d+)", text)
        expected = int(count.group(1)) if count else 1  # a positive test without a count expects one
        samples = glob.glob(os.path.join(os.path.dirname(info), "*" + ext))
        if not samples:  # e.g. a Cisco CLI log (.raw): not an event format Vigil imports
            continue
        pairs += 1
        r = subprocess.run([f"{BIN}/vigil", "rules", "test", rule_by_id[rule_id], "--events", samples[0],
                            "--format", "json"], capture_output=True, text=True)
        got = json.loads(r.stdout.splitlines()[-1])["matches"] if r.returncode == 0 else None
        if got == expected:
            passed += 1
        else:
            failures.append(f"{os.path.basename(os.path.dirname(info))}{ext}: expected {expected}, got {got} "
                            f"{r.stderr.strip()}")
    return passed, pairs, failures


infos = sorted(glob.glob(os.path.join(CORPUS, "regression/**/info.yml"), recursive=True))
passed, pairs, failures = run_pairs(".json")
evtx_passed, evtx_pairs, evtx_failures = run_pairs(".evtx")
print(f"{passed} of {pairs} pairs with a JSON sample pass ({len(infos)} pairs in all)")
print(f"{evtx_passed} of {evtx_pairs} pairs with an .evtx sample pass (read with libevtx)")
for f in failures + evtx_failures:
    print("  " + f)
check(pairs == 101, f"{pairs} pairs with a JSON sample")
check(passed >= 98, f"{passed} >= 98 pairs match their expected count (JSON)")
check(evtx_pairs == 101, f"{evtx_pairs} pairs with an .evtx sample")
check(evtx_passed >= 98, f"{evtx_passed} >= 98 pairs match their expected count (.evtx)")


# Rules beyond single events run as the server's live engine runs them.
tmp = tempfile.mkdtemp(prefix="vigil-rules-test-")
def proc(ts, host, entity, name, cmd, parent=None):
    e = {"@timestamp": f"2024-01-01T00:00:0{ts}Z", "event.category": "process", "event.type": "start",
         "event.action": "exec", "host.id": host, "host.name": host, "process.entity_id": entity,
         "process.pid": 100 + ts, "process.name": name, "process.command_line": cmd}
    if parent:
        e["process.parent.entity_id"] = parent
    return e
events = [proc(0, "h1", "p1", "nginx", "nginx"),
          proc(1, "h1", "p2", "sh", "sh -c x", "p1"),
          proc(2, "h1", "p3", "curl", "curl -o /tmp/a.sh http://x/a.sh", "p2"),
          proc(3, "h1", "p4", "chmod", "chmod +x /tmp/a.sh", "p2"),
          proc(4, "h2", "p5", "chmod", "chmod +x /tmp/b"),
          proc(5, "h2", "p6", "curl", "curl http://y/")]
events_file = os.path.join(tmp, "events.jsonl")
with open(events_file, "w") as f:
    f.write("".join(json.dumps(e) + "\n" for e in events))

def rules_test(name, text):
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    r = subprocess.run([f"{BIN}/vigil", "rules", "test", path, "--events", events_file, "--format", "json"],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"{name}: rc {r.returncode} {r.stderr.strip()}")
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    return lines[:-1], lines[-1]

found, summary = rules_test("seq.eql", "// name: download then chmod\nsequence by host.id with maxspan=1m\n"
                            "  [process where process.name == \"curl\"]\n  [process where process.name == \"chmod\"]\n")
check(summary["matches"] == 1 and summary["rule"] == "download then chmod", f"sequence summary {summary}")
check([e["process.entity_id"] for e in found[0]["sequence"]] == ["p3", "p4"], f"sequence events {found}")

found, summary = rules_test("desc.eql", "process where process.name == \"curl\" and "
                            "descendant of [process where process.name == \"nginx\"]\n")
check(summary["matches"] == 1, f"descendant-of summary {summary}")
check([e["process.entity_id"] for e in found] == ["p3"], f"descendant-of events {found}")

# A Sigma correlation (event_count) and the rule it counts, in one file: two curls in the file, one
# per host, so grouped by host nothing reaches 2 and across hosts one match of both.
curl_rule = ("title: curl\nname: curl_exec\nlogsource:\n  product: linux\n  category: process_creation\n"
             "detection:\n  s:\n    CommandLine|startswith: 'curl '\n  condition: s\n---\n"
             "title: Two downloads\nid: two-downloads\ncorrelation:\n  type: event_count\n"
             "  rules: [curl_exec]\n  timespan: 1m\n  condition: {gte: 2}\n")
found, summary = rules_test("count.yml", curl_rule)
check(summary["matches"] == 1 and summary["rule"] == "Two downloads", f"correlation summary {summary}")
check([e["process.entity_id"] for e in found[0]["sequence"]] == ["p3", "p6"], f"correlation events {found}")
found, summary = rules_test("count-by-host.yml", curl_rule + "  group-by: [host.id]\n")
check(summary["matches"] == 0, f"correlation by host: {summary}")

count_rule = os.path.join(tmp, "count.eql")
with open(count_rule, "w") as f:
    f.write("process where true | count process.name\n")
r = subprocess.run([f"{BIN}/vigil", "rules", "test", count_rule, "--events", events_file],
                   capture_output=True, text=True)
check(r.returncode == 2 and "count" in r.stderr and "vigil hunt" in r.stderr, f"count pipe refused: {r.stderr}")
print("rules test: sequence, descendant of, a Sigma correlation and a refused pipe as the live engine runs them")
