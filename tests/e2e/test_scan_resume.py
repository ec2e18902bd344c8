"""A file scan interrupted by an agent restart resumes where it stood: a YARA scan of a tree, held
back by an I/O cap, is running when the agent is stopped; once the agent is back the same run goes
on from its saved position (its progress continues, not from zero) and reaches done with exactly
the expected findings, none reported twice."""
import json
import os

from vigil_e2e import Vigil, check, temp_dir, wait_for

MARKER = "VIGIL-RESUME-" + "MARKER-7d1e"

with Vigil() as v:
    state, agent = v.start_host("--sensor", "none")

    rules = os.path.join(v.dir, "resume.yar")
    with open(rules, "w") as f:
        f.write('rule resume_marker { strings: $m = "VIGIL-RESUME-" "MARKER-7d1e" condition: $m }\n'
                .replace('" "', ""))
    v.cli("yara", "add", "resume", rules)

    tree = temp_dir("vigil-e2e-resume-")  # removed at exit
    expected = set()
    files = 40
    for i in range(files):
        path = os.path.join(tree, f"d{i % 4}", f"f{i:02}.bin")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(os.urandom(250_000) + (MARKER.encode() if i % 4 == 1 else b"") + os.urandom(250_000))
        if i % 4 == 1:
            expected.add(path)

    # About 20 MB at 1 MB/s: some 20 s of scanning.
    job = json.loads(v.cli("scan", "files", "--rules", "resume", "--paths", tree, "--cpu", "0", "--io", "1",
                           "--no-wait", "--format", "json"))["id"]
    scan_id = f"{job}.1"

    def host():
        return json.loads(v.cli("scan", "show", str(job), "--format", "json"))["hosts"][0]
    before = wait_for(lambda: (lambda h: h if h["status"] == "running" and 0 < h.get("files_done", 0) < files
                               else None)(host()), 30, "the scan to be part-way")
    agent.terminate()
    agent.wait(timeout=30)
    log = v.agent_log(state)
    check("interrupted by the agent's stop" in log, "the agent kept the job to resume it")
    check(os.listdir(os.path.join(state, "scan", "jobs")), "the job and its position are on disk")
    check(host()["status"] == "running", "the host still shows the run as running")

    v.start_agent(state, "--sensor", "none")
    final = wait_for(lambda: (lambda h: h if h["status"] in ("done", "failed", "cancelled") else None)(host()),
                     120, "the resumed scan to finish")
    check(final["status"] == "done" and final["files_total"] == files and final["files_done"] == files,
          f"the resumed run reaches done over the whole tree: {final}")
    check(final["findings"] == len(expected), f"progress counts every finding once: {final}")
    check("resumed after" in v.agent_log(state), "the agent says it resumed the job")
    check(not os.listdir(os.path.join(state, "scan", "jobs")), "nothing left to resume once done")

    findings = [json.loads(l) for l in v.cli("scan", "show", str(job), "--findings", "--format", "json")
                .splitlines()[1:] if l.strip()]
    paths = [f["file.path"] for f in findings]
    check(set(paths) == expected, f"findings are the marker files: {sorted(paths)}")
    check(len(paths) == len(set(paths)), f"no finding reported twice: {len(paths)} for {len(expected)} files")
    check(all(f["vigil.scan.id"] == scan_id for f in findings), "all in the same run")

    # Progress continues across the restart: files_done never goes back (a run started over would
    # report 0 again), and the first report after the restart is past where the agent stopped.
    progress = sorted((json.loads(l) for l in v.cli(
        "hunt", f'scan where vigil.scan.id == "{scan_id}" and event.action == "scan_progress"',
        "--format", "json", "--limit", "1000").splitlines() if l.strip()), key=lambda p: p["@timestamp"])
    done_counts = [p.get("vigil.scan.files_done", 0) for p in progress]
    check(done_counts == sorted(done_counts) and done_counts[-1] == files,
          f"progress continues, never from zero again: {done_counts}")
    check(progress[-1]["vigil.scan.status"] == "done", "the last progress says done")
    print("ok")
