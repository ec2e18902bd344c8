"""Live hash sweep (`vigil ioc sweep`) through a real server and agent: a temp tree holding one
file's content three times (original, a renamed copy, a copy in a subdirectory) and once with a
byte changed; the sweep for its SHA-256 reports exactly the three copies with their size and hash,
its progress reaches done, the findings raise an alert through the IOC set that lists the hash,
a second sweep of the unchanged tree takes every hash from the agent's cache (files_hashed 0), a
bad value is refused naming it, and `vigil ioc find` still searches the history."""
import hashlib
import json
import os
import subprocess

from vigil_e2e import BIN, Vigil, check, temp_dir, wait_for

with Vigil() as v:
    state, _ = v.start_host("--sensor", "none")

    content = os.urandom(40000)
    sha = hashlib.sha256(content).hexdigest()
    tree = temp_dir("vigil-e2e-sweep-")  # removed at exit
    expected = {os.path.join(tree, p) for p in ("original.bin", "renamed.jpg", "sub/deeper/copy")}
    for p in expected:
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(content)
    with open(os.path.join(tree, "differs.bin"), "wb") as f:
        f.write(content[:-1] + bytes([content[-1] ^ 1]))
    for i in range(6):
        with open(os.path.join(tree, "sub", f"noise{i}"), "wb") as f:
            f.write(os.urandom(1000 + i))
    total = 3 + 1 + 6

    iocs = os.path.join(v.dir, "iocs.txt")
    with open(iocs, "w") as f:
        f.write(sha + "  # the sample\n")
    v.cli("ioc", "add-set", "sweep-sample", iocs, "--source", "e2e")

    def sweep(*extra):
        out = v.cli("ioc", "sweep", "sha256", sha.upper(), "--paths", tree, "--hosts", "all", *extra,
                    "--format", "json")
        lines = [json.loads(l) for l in out.splitlines() if l.strip()]
        statuses = [l for l in lines if "hosts" in l]
        findings = [l for l in lines if l.get("event.action") == "hash_match"]
        check(statuses and len(statuses) + len(findings) == len(lines), f"status lines then findings: {out}")
        return statuses, findings

    # --- the first sweep hashes every file and finds the three copies
    statuses, findings = sweep("--cpu", "0")
    final = statuses[-1]
    host = final["hosts"][0]
    check(final["kind"] == "hash" and final["finished"] and host["status"] == "done",
          f"the sweep finished on the host: {host}")
    check(host["files_total"] == total and host["files_done"] == total and host["findings"] == 3,
          f"progress counts the tree: {host}")
    check(host["files_hashed"] == total and host["files_cached"] == 0, f"every file was hashed once: {host}")
    check({f["file.path"] for f in findings} == expected, f"findings are the copies: {[f['file.path'] for f in findings]}")
    check(all(f["file.size"] == len(content) and f["file.hash.sha256"] == sha and f["vigil.scan.ioc"] == "sha256:" + sha
              and f["host.name"] and f["vigil.scan.id"] == f"{final['id']}.1" for f in findings),
          "findings carry size, hash, the matched IOC, host and run")

    # --- an IOC-set match of a sweep finding is an alert
    def ioc_alerts():
        out = v.cli("alerts", "--format", "json", "--limit", "1000")
        return [a for a in (json.loads(l) for l in out.splitlines() if l.strip()) if a["rule_id"] == "ioc-sweep-sample"]
    alerts = wait_for(lambda: ioc_alerts() or None, 20, "an alert from the IOC set")
    paths = {e.get("file.path") for a in alerts for e in a["events"]}
    check(paths and paths <= expected, f"the sweep findings raise the IOC set's alert: {sorted(paths)}")

    # --- a second sweep of the unchanged tree (CPU capped this time) reads nothing again
    statuses, findings = sweep("--cpu", "5")
    host = statuses[-1]["hosts"][0]
    check(host["status"] == "done" and host["findings"] == 3, f"the second sweep finds the copies again: {host}")
    check(host["files_hashed"] == 0 and host["files_cached"] == total, f"the hash cache served every file: {host}")
    check({f["file.path"] for f in findings} == expected, "same findings from the cache")

    # --- the table output: progress bar line, then the files found
    out = v.cli("ioc", "sweep", "sha256", sha, "--paths", tree, "--cpu", "0")
    check("100%" in out and "0 hashed" in out and "done" in out, f"table progress: {out}")
    check(all(p in out for p in expected) and "differs.bin" not in out, "table lists the files found")

    # --- bad values are refused with which one and why (checked by the CLI, the server and the agent alike)
    bad = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "ioc", "sweep", "sha256", sha, "abc123",
                          "--paths", tree], capture_output=True, text=True)
    check(bad.returncode == 2 and "sha256 value 2 'abc123': a SHA-256 is 64 hex digits, this has 6 characters"
          in bad.stderr, f"a short value is refused: {bad.stderr.strip()}")
    bad = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "ioc", "sweep", "sha256", "z" * 64,
                          "--paths", tree], capture_output=True, text=True)
    check(bad.returncode == 2 and "character 1 ('z') is not a hex digit" in bad.stderr,
          f"a non-hex value is refused: {bad.stderr.strip()}")
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "ioc", "sweep", "sha256", sha, "--paths", "rel/dir"],
                       capture_output=True, text=True)
    check(r.returncode != 0 and "paths must be absolute" in r.stderr, f"relative path refused by the server: {r.stderr.strip()}")

    # --- ioc find (history) still works next to it, and sees the sweep's findings
    found = [json.loads(l) for l in v.cli("ioc", "find", "sha256", sha, "--since", "10m", "--format", "json")
             .splitlines() if l.strip()]
    check({f.get("file.path") for f in found if f.get("event.action") == "hash_match"} == expected,
          f"ioc find lists the sweep findings from history ({len(found)} events)")
    print("ok")
