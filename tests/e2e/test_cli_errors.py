"""What a user trips over first, answered clearly: the CLI against a remote server (--ca, HOST:PORT,
http://, a server that is down), token commands on a data dir no server ever used, a --host that
names no host, and the API's own errors (no route, body too large, bad parameters) as JSON."""
import json
import os
import shutil
import subprocess
import tempfile
import time

from vigil_e2e import BIN, Vigil, check, free_port


def run(*args, env=None):
    return subprocess.run([f"{BIN}/vigil", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


with Vigil() as v:
    v.start_server()
    url = open(os.path.join(v.dir, "api.url")).read().strip()
    port = url.rsplit(":", 1)[1]
    admin = open(os.path.join(v.dir, "admin.token")).read().strip()
    elsewhere = tempfile.mkdtemp(prefix="vigil-e2e-remote-")
    try:
        ca = os.path.join(elsewhere, "vigil-ca.crt")
        shutil.copy(os.path.join(v.dir, "pki/ca.crt"), ca)
        nodata = ["--data-dir", os.path.join(elsewhere, "none")]  # a machine that is not the server

        # --- the CLI on another machine: --server URL --token T needs the server's CA
        r = run(*nodata, "--server", url, "--token", admin, "hosts")
        check(r.returncode == 1 and "--ca" in r.stderr and "not trusted" in r.stderr,
              f"without the CA: says to pass --ca: {r.stderr.strip()}")
        r = run(*nodata, "--server", url, "--token", admin, "--ca", ca, "hosts", "--format", "json")
        check(r.returncode == 0, f"--ca FILE: hosts answers: {r.stderr.strip()}")
        r = run(*nodata, "--server", f"127.0.0.1:{port}", "--token", admin, "hosts",
                env={"VIGIL_CA": ca})
        check(r.returncode == 0 and "HOST" in r.stdout,
              f"VIGIL_CA and --server HOST:PORT (https assumed): {r.stderr.strip()}")
        r = run(*nodata, "--server", f"http://127.0.0.1:{port}", "--token", admin, "--ca", ca, "hosts")
        check(r.returncode == 1 and "HTTPS only" in r.stderr, f"http:// refused: {r.stderr.strip()}")
        r = run(*nodata, "--server", url, "--token", admin, "--ca", ca + ".missing", "hosts")
        check(r.returncode == 1 and "no such file" in r.stderr, f"missing --ca file: {r.stderr.strip()}")
        r = run(*nodata, "--server", url, "--token", "0" * 64, "--ca", ca, "hosts")
        check(r.returncode == 1 and "invalid API token" in r.stderr, f"bad token: {r.stderr.strip()}")

        # --- a server that is down: a clear error at once, no hang
        started = time.monotonic()
        r = run(*nodata, "--server", f"https://127.0.0.1:{free_port()}", "--token", admin, "--ca", ca,
                "hosts")
        check(r.returncode == 1 and "connection refused" in r.stderr and time.monotonic() - started < 10,
              f"server down: {r.stderr.strip()}")

        # --- token commands refuse a data dir no server ever ran in (a typo printed a useless token)
        fresh = os.path.join(elsewhere, "typo")
        for cmd in (["token", "create"], ["api-token", "create", "--name", "x"]):
            r = subprocess.run([f"{BIN}/vigil-server", *cmd, "--data-dir", fresh], capture_output=True,
                               text=True)
            check(r.returncode == 1 and "no Vigil server data in " + fresh in r.stderr and not r.stdout,
                  f"{' '.join(cmd)} on an unused data dir: {r.stderr.strip()}")
        check(not os.path.exists(os.path.join(fresh, "vigil.db")), "and it creates no store there")
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)

    # --- a --host that names no host is an error (a mistyped host otherwise looks like a quiet one);
    # a known host with nothing in the window is not
    r = run("--data-dir", v.dir, "events", "--host", "web-nope", "--since", "1h")
    check(r.returncode == 1 and 'unknown host "web-nope"' in r.stderr and "vigil hosts" in r.stderr,
          f"events --host unknown: {r.stderr.strip()}")
    r = run("--data-dir", v.dir, "hunt", "process where true", "--host", "web-nope")
    check(r.returncode == 1 and 'unknown host "web-nope"' in r.stderr, f"hunt --host unknown: {r.stderr.strip()}")
    imported = os.path.join(v.dir, "old-host.jsonl")
    with open(imported, "w") as f:
        f.write('{"@timestamp": "2020-05-01T10:00:00Z", "event.category": "process", "event.action": "exec",'
                ' "process.name": "sh", "host.name": "old-host", "host.id": "old-host-id"}\n')
    check(run("--data-dir", v.dir, "import", "jsonl", imported).returncode == 0, "a 2020 event imported")
    for args in (["events", "--host", "old-host", "--since", "1h"],
                 ["events", "--host", "old-host-id", "--since", "1h"],
                 ["hunt", "process where true", "--host", "old-host", "--since", "1h"]):
        r = run("--data-dir", v.dir, *args)
        check(r.returncode == 0 and "unknown host" not in r.stderr,
              f"{' '.join(args)}: a known host with no events in the window is no error: {r.stderr.strip()}")

    # --- a reversed window (start after end) is refused, saying which is which
    r = run("--data-dir", v.dir, "events", "--since", "1h", "--until", "2h")
    check(r.returncode == 1 and "reversed time window" in r.stderr and "since '1h'" in r.stderr
          and "until '2h'" in r.stderr and "since is the start" in r.stderr, f"events reversed: {r.stderr.strip()}")
    r = run("--data-dir", v.dir, "hunt", "process where true", "--since", "2026-01-02T00:00:00Z",
            "--until", "2026-01-01T00:00:00Z")
    check(r.returncode == 1 and "reversed time window" in r.stderr, f"hunt reversed: {r.stderr.strip()}")
    r = run("--data-dir", v.dir, "events", "--host", "old-host", "--since", "2020-05-01T00:00:00Z",
            "--until", "2020-05-02T00:00:00Z", "--format", "json")
    check(r.returncode == 0 and '"process.name":"sh"' in r.stdout.replace(" ", ""),
          f"a window in order still answers: {r.stdout.strip()[:120]} {r.stderr.strip()}")

    # --- `vigil rules test --events` with bad JSON names the file's line and column
    rule = os.path.join(v.dir, "any.eql")
    with open(rule, "w") as f:
        f.write("// name: any process\nprocess where true\n")
    bad = os.path.join(v.dir, "bad.json")
    with open(bad, "w") as f:
        f.write('{"event.category": "process", "process.name": "a"}\n'
                '{"event.category": "process", "process.name": "b"}\n'
                '{"event.category": "process",\n  "process.name": b}\n')
    r = run("rules", "test", rule, "--events", bad)
    check(r.returncode != 0 and f"{bad}:4:19: bad JSON" in r.stderr, f"rules test names FILE:LINE:COLUMN: {r.stderr.strip()}")

    # --- an IOC file with a bad line names the file and the line; an alert id must be a number
    iocs = os.path.join(v.dir, "iocs.txt")
    with open(iocs, "w") as f:
        f.write("# feed\n203.0.113.7\n\nnot-an-ioc!!\n")
    r = run("--data-dir", v.dir, "ioc", "add-set", "feed", iocs)
    check(r.returncode == 1 and f"{iocs}:4: 'not-an-ioc!!' is not a SHA-256" in r.stderr,
          f"ioc add-set names file:line: {r.stderr.strip()}")
    r = run("--data-dir", v.dir, "alerts", "ack", "abc")
    check(r.returncode != 0 and "abc" in r.stderr and "HTTP 404" not in r.stderr,
          f"alerts ack abc: {r.stderr.strip()}")

    # --- vigil-agent's one-shot scan reads list options like vigil does: commas, spaces or repeats
    marked = []
    for name in ("a.txt", "b.txt", "c.txt"):
        marked.append(os.path.join(v.dir, name))
        with open(marked[-1], "w") as f:
            f.write("VIGIL-COMMA-MARKER\n")
    yar = os.path.join(v.dir, "marker.yar")
    with open(yar, "w") as f:
        f.write('rule comma_marker { strings: $a = "VIGIL-COMMA-MARKER" condition: $a }\n')
    r = subprocess.run([f"{BIN}/vigil-agent", "scan", "files", "--rules", yar, "--paths", ",".join(marked[:2]),
                        marked[2], "--format", "json", "--cpu", "0", "--no-cache"],
                       capture_output=True, text=True, timeout=60)
    found = sorted(json.loads(line)["file.path"] for line in r.stdout.splitlines() if line.strip())
    check(r.returncode == 1 and found == sorted(marked), f"vigil-agent scan --paths a,b c: {found} {r.stderr.strip()}")
    r = subprocess.run([f"{BIN}/vigil-agent", "scan", "files", "--help"], capture_output=True, text=True)
    check("comma or space separated" in r.stdout, "and --help says so")

    # --- the API's own errors are JSON with a message
    def api(method, path, body=None, token=admin):
        args = ["curl", "-s", "--cacert", os.path.join(v.dir, "pki/ca.crt"), "-X", method,
                "-H", "Authorization: Bearer " + token, "-w", "\n%{http_code}", url + path]
        if body is not None:
            args += ["--data-binary", "@-"]
        out = subprocess.run(args, input=body, capture_output=True, timeout=60).stdout.decode()
        text, _, status = out.rpartition("\n")
        try:
            return int(status), json.loads(text)
        except ValueError:
            return int(status), text

    status, body = api("GET", "/api/nope")
    check(status == 404 and isinstance(body, dict) and "no route GET /api/nope" in body.get("error", ""),
          f"unknown route: {status} {body}")
    status, body = api("DELETE", "/api/hosts")
    check(status == 404 and isinstance(body, dict) and "DELETE /api/hosts" in body.get("error", ""),
          f"wrong method: {status} {body}")
    status, body = api("POST", "/api/import", b"x" * (65 << 20))
    check(status == 413 and isinstance(body, dict) and "64 MiB" in body.get("error", ""),
          f"body too large: {status} {body}")
    status, body = api("GET", "/api/events?limit=-1")
    check(status == 400 and "from 0 to" in body["error"], f"limit=-1: {body}")
    status, body = api("GET", "/api/events?limit=12abc")
    check(status == 400 and "'12abc'" in body["error"], f"limit=12abc: {body}")
    status, body = api("GET", "/api/events?order=sideways")
    check(status == 400 and "asc or desc" in body["error"], f"order=sideways: {body}")
    status, body = api("GET", "/api/events?category=registry")
    check(status == 400 and "process" in body["error"], f"unknown category lists the known: {body}")
    status, body = api("GET", "/api/events?order=desc&limit=1")
    check(status == 200, f"order=desc still answers: {status}")
    status, body = api("GET", "/api/events?limit=12abc")
    check(status == 400 and body["error"].startswith("limit must be a whole number"), f"limit wording: {body}")
    status, body = api("GET", "/api/events?host=web-nope")
    check(status == 404 and 'unknown host "web-nope"' in body["error"], f"events host unknown: {status} {body}")
    status, body = api("GET", "/api/events?host=old-host&since=1m")
    check(status == 200, f"events of a known host, none in the window: {status} {body}")
    status, body = api("GET", "/api/events?since=1h&until=2h")
    check(status == 400 and "reversed time window" in body["error"], f"events reversed: {body}")
    status, body = api("POST", "/api/hunt", json.dumps({"query": "process where true", "host": "web-nope"}).encode())
    check(status == 404 and 'unknown host "web-nope"' in body["error"], f"hunt host unknown: {status} {body}")
    status, body = api("POST", "/api/hunt", json.dumps({"query": "process where true", "since": "1h",
                                                        "until": "2h"}).encode())
    check(status == 400 and "reversed time window" in body["error"], f"hunt reversed: {status} {body}")

    # --- numeric query parameters: one wording, naming the parameter and what it expects
    for path, name in (("/api/actions?wait=banana", "wait must be a duration"),
                       ("/api/actions?after=x", "after must be a whole number"),
                       ("/api/actions?limit=-3", "limit must be a whole number"),
                       ("/api/actions/1?wait=soon", "wait must be a duration"),
                       ("/api/actions/99999999999999999999", "action id must be a whole number"),
                       ("/api/alerts?limit=lots", "limit must be a whole number from 0 to 10000"),
                       ("/api/alerts?after=1.5", "after must be a whole number"),
                       ("/api/events/stream?buffer=big", "buffer must be a whole number from 1 to 200000"),
                       ("/api/process/tree?entity_id=x&depth=deep", "depth must be a whole number from 0 to 64"),
                       ("/api/process/tree?entity_id=x&max=0", "max must be a whole number from 1"),
                       ("/api/process/activity?entity_id=x&limit=12abc", "limit must be a whole number"),
                       ("/api/scans/99999999999999999999", "scan job id must be a whole number")):
        status, body = api("GET", path)
        check(status == 400 and isinstance(body, dict) and name in body.get("error", ""),
              f"{path}: {status} {body}")
    status, body = api("GET", "/api/actions?wait=1ms&limit=5")
    check(status == 200, f"valid numbers still answer: {status} {body}")
    status, body = api("GET", "/api/alerts/99999999999999999999")
    check(status == 404, f"an alert id beyond any is no alert (not a crash): {status} {body}")
