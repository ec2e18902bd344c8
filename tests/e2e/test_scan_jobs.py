"""YARA scan jobs through the server: a rule set uploaded with `vigil yara add`, a file scan and a
memory scan sent to a real agent over the command channel, progress followed live until done, the
findings stored as events of category scan (with the job's run id and the rule set's digest), a
scan waiting on its splay cancelled, a job for an offline agent delivered when it returns, and a
viewer refused."""
import json
import os
import subprocess
import sys
import time

from vigil_e2e import BIN, Vigil, check, temp_dir, wait_for

MARKER = "VIGIL-SCAN-JOB-" + "MARKER-51c2"

with Vigil() as v:
    state, agent = v.start_host("--sensor", "none")

    rules = os.path.join(v.dir, "markers.yar")
    with open(rules, "w") as f:
        # The marker is split in the rule text so this file never matches itself.
        f.write('rule scan_job_marker { strings: $m = "VIGIL-SCAN-JOB-" "MARKER-51c2" condition: $m }\n'
                .replace('" "', ""))
    info = json.loads(v.cli("yara", "add", "markers", rules, "--format", "json"))

    tree = temp_dir("vigil-e2e-scan-")  # removed at exit
    expected = set()
    for i in range(6):
        path = os.path.join(tree, f"d{i % 2}", f"f{i}.bin")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(os.urandom(2048) + (MARKER.encode() if i % 3 == 0 else b"") + os.urandom(512))
        if i % 3 == 0:
            expected.add(path)

    # --- a file scan, followed to the end
    out = v.cli("scan", "files", "--hosts", "all", "--rules", "markers", "--paths", tree, "--cpu", "0",
                "--format", "json")
    statuses = [json.loads(l) for l in out.splitlines() if l.strip()]
    final = statuses[-1]
    job = final["id"]
    host = final["hosts"][0]
    check(final["finished"] and host["status"] == "done", f"the scan finished on the host: {host}")
    check(host["files_total"] == 6 and host["files_done"] == 6 and host["findings"] == len(expected),
          f"progress counts the tree: {host}")
    check(final["rules_sha256"] == info["sha256"], "the job names the rule set's version")
    findings = [json.loads(l) for l in v.cli("scan", "show", str(job), "--findings", "--format", "json")
                .splitlines()[1:] if l.strip()]
    check({f["file.path"] for f in findings} == expected, f"findings are the marker files: {len(findings)}")
    check(all(f["vigil.scan.id"] == f"{job}.1" and f["vigil.scan.rules_version"] == info["sha256"]
              and f["yara.rule"] == "scan_job_marker" for f in findings), "findings carry the run and rules version")
    hunted = v.cli("hunt", 'scan where yara.rule == "scan_job_marker"', "--format", "json").splitlines()
    check(len(hunted) == len(expected), "findings are huntable events")

    def yara_alerts():
        out = v.cli("alerts", "--format", "json", "--limit", "1000")
        return [a for a in (json.loads(l) for l in out.splitlines() if l.strip()) if a["rule_id"] == "vigil-linux-yara-finding"]
    alerts = wait_for(lambda: yara_alerts() or None, 20, "an alert from the YARA findings")
    paths = {e.get("file.path") for a in alerts for e in a["events"]}
    check(paths <= expected and paths, f"findings raise alerts through live detection: {sorted(paths)}")

    # --- a memory scan of one process holding the marker in its heap
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys,time; m=bytearray(b'VIGIL-SCAN-JOB-'+b'MARKER-51c2'*4); "
                               "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        holder.stdout.readline()
        out = v.cli("scan", "memory", "--rules", "markers", "--pids", str(holder.pid), "--cpu", "0",
                    "--format", "json")
        final = [json.loads(l) for l in out.splitlines() if l.strip()][-1]
        host = final["hosts"][0]
        check(host["status"] == "done" and host["processes_done"] == 1 and host["findings"] >= 1,
              f"memory scan of one process: {host}")
        found = [json.loads(l) for l in v.cli("scan", "show", str(final["id"]), "--findings", "--format", "json")
                 .splitlines()[1:] if l.strip()]
        check(found and all(f["process.pid"] == holder.pid for f in found), "the finding names the process")
    finally:
        holder.kill()

    # --- cancel a scan that waits on its splay
    r = json.loads(v.cli("scan", "files", "--rules", "markers", "--paths", tree, "--splay", "1h", "--no-wait",
                         "--format", "json"))
    waiting = r["id"]
    wait_for(lambda: json.loads(v.cli("scan", "show", str(waiting), "--format", "json"))["hosts"][0]["status"]
             == "waiting", 30, "the scan to wait on its splay")
    check("cancel sent" in v.cli("scan", "cancel", str(waiting)), "cancel is sent")
    wait_for(lambda: json.loads(v.cli("scan", "show", str(waiting), "--format", "json"))["hosts"][0]["status"]
             == "cancelled", 30, "the scan to be cancelled")
    check(json.loads(v.cli("scan", "show", str(waiting), "--format", "json"))["status"] == "cancelled",
          "the job is cancelled")

    # --- a job for an offline agent runs when it returns
    agent.kill()
    agent.wait()
    wait_for(lambda: not v.hosts()[0]["online"], 20, "the agent to be offline")
    r = json.loads(v.cli("scan", "files", "--rules", "markers", "--paths", tree, "--no-wait", "--format", "json"))
    offline = r["id"]
    time.sleep(1)
    check(json.loads(v.cli("scan", "show", str(offline), "--format", "json"))["hosts"][0]["status"] == "queued",
          "queued while the agent is away")
    v.start_agent(state, "--sensor", "none")
    wait_for(lambda: json.loads(v.cli("scan", "show", str(offline), "--format", "json"))["hosts"][0]["status"]
             == "done", 60, "the queued scan to run once the agent is back")

    # --- roles and bad input
    url = open(os.path.join(v.dir, "api.url")).read().strip()
    viewer = subprocess.run([f"{BIN}/vigil-server", "api-token", "create", "--name", "val", "--role", "viewer",
                             "--data-dir", v.dir], capture_output=True, text=True, check=True).stdout.strip()
    r = subprocess.run([f"{BIN}/vigil", "--server", url, "--token", viewer, "--data-dir", v.dir, "scan", "files",
                        "--rules", "markers", "--paths", tree], capture_output=True, text=True)
    check(r.returncode != 0 and "viewer role may not POST /api/scans" in r.stderr, f"viewer refused: {r.stderr.strip()}")
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "scan", "files", "--rules", "nope", "--paths", tree],
                       capture_output=True, text=True)
    check(r.returncode != 0 and "no YARA rule set named 'nope'" in r.stderr, f"unknown rules: {r.stderr.strip()}")
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "scan", "files", "--rules", "markers", "--paths",
                        "relative/dir"], capture_output=True, text=True)
    check(r.returncode != 0 and "paths must be absolute" in r.stderr, f"relative path refused: {r.stderr.strip()}")
