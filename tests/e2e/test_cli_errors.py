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

    # --- a --host that names no host: a note, not just an empty table
    r = run("--data-dir", v.dir, "events", "--host", "web-nope", "--since", "1h")
    check(r.returncode == 0 and "no enrolled host is named 'web-nope'" in r.stderr,
          f"events --host unknown: {r.stderr.strip()}")
    r = run("--data-dir", v.dir, "hunt", "process where true", "--host", "web-nope")
    check(r.returncode == 0 and "no enrolled host is named 'web-nope'" in r.stderr,
          f"hunt --host unknown: {r.stderr.strip()}")

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
