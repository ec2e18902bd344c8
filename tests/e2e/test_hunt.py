"""EQL hunting through the API and the CLI on live telemetry from the local agent: substring, parent
and count queries find exactly the activity the test caused; errors say line:column; --explain
prints the SQL.

usage: test_hunt.py [rows]
  (none)  a new store's default layout, column blocks
  rows    the store keeps events as rows (--store-layout rows); at the end the server restarts
          without the flag and the store keeps its layout and its events"""
import hashlib
import http.client
import json
import os
import socket
import sqlite3
import ssl
import subprocess
import sys
import uuid

from vigil_e2e import BIN, Vigil, check, wait_for

row_layout = len(sys.argv) > 1 and sys.argv[1] == "rows"

with Vigil() as v:
    v.start_server(*(["--store-layout", "rows"] if row_layout else []))
    state = os.path.join(v.dir, "agent")
    check(v.enroll(state).returncode == 0, "agent enrolls")
    v.start_agent(state)
    wait_for(lambda: any(h["online"] for h in v.hosts()), 30, "the agent to come online")

    marker = f"hunt-{uuid.uuid4().hex[:10]}"
    # a parent shell running three children with the marker; the sleep keeps the parent alive
    parent = subprocess.Popen(["/bin/sh", "-c", f"/bin/echo {marker} a; /bin/echo {marker} b; /bin/echo {marker} c; sleep 0.2"],
                              stdout=subprocess.DEVNULL)
    parent.wait()

    def hunt(query, *args):
        out = v.cli("hunt", query, "--since", "10m", "--format", "json", *args)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    q = f'process where event.action == "exec" and process.command_line : "*{marker}*" and process.name == "echo"'
    rows = wait_for(lambda: len(hunt(q)) == 3 and hunt(q), 10, "three echo execs")
    check(sorted(r["process.args"][-1] for r in rows) == ["a", "b", "c"], "the three echo commands")
    check(all(r["process.parent.pid"] == parent.pid for r in rows), "all children of the test's shell")

    rows = hunt(f'process where event.action == "exec" and process.parent.command_line : "*{marker}*" | count process.name')
    counts = {r["process.name"]: r["count"] for r in rows}
    check(counts.get("echo") == 3, f"count by process.name: {counts}")

    rows = hunt(f'process where event.action == "exec" and child of [process where process.pid == {parent.pid} and process.command_line : "*{marker} c*"] and process.name == "echo"')
    check(len(rows) == 3, f"child of [...] finds the three echoes: {len(rows)}")

    # IOC search: the echo binary's hash finds the three execs; an IP finds a connection to it
    echo_sha = hashlib.sha256(open(os.path.realpath("/bin/echo"), "rb").read()).hexdigest()
    found = [json.loads(line) for line in v.cli("ioc", "find", "sha256", echo_sha.upper(), "--since", "10m",
                                                  "--format", "json").splitlines()]
    pids = {e["process.pid"] for e in found if e.get("event.action") == "exec"}
    check({r["process.pid"] for r in rows} <= pids, f"ioc find sha256 finds the echo execs ({len(found)} events)")
    check(all(e.get("process.hash.sha256") == echo_sha for e in found), "every event found carries the hash")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            listener.accept()[0].close()

    def connections():
        out = v.cli("ioc", "find", "ip", "127.0.0.1", "--since", "10m", "--format", "json", "--limit", "100000")
        return [e for e in map(json.loads, out.splitlines())
                if e.get("destination.port") == port and e.get("event.action") == "connect"]
    conn = wait_for(connections, 10, "the loopback connection in ioc find ip")
    check(conn[0]["process.pid"] == os.getpid(), "attributed to the test process")
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "ioc", "find", "ip", "300.1.1.1"],
                       capture_output=True, text=True)
    check(r.returncode == 2 and "not an IP address" in r.stderr, f"bad IOC refused: {r.stderr.strip()}")

    # saved hunts: save, list (owner = the token's name), run by name, replace, delete
    check(v.cli("hunts", "save", "echoes", q, "--description", "the test's echoes").strip() == "saved echoes",
          "hunt saved")
    listed = [json.loads(line) for line in v.cli("hunts", "list", "--format", "json").splitlines()]
    check(len(listed) == 1 and listed[0]["query"] == q and listed[0]["owner"] == "admin",
          f"listed with its owner: {listed}")
    rows = [json.loads(line) for line in v.cli("hunt", "--saved", "echoes", "--since", "10m",
                                               "--format", "json").splitlines()]
    check(len(rows) == 3, f"the saved hunt runs by name ({len(rows)} rows)")
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "hunts", "save", "broken", "process where ("],
                       capture_output=True, text=True)
    check(r.returncode != 0 and "1:" in r.stderr, f"a query that does not parse is not saved ({r.stderr.strip()})")
    check(v.cli("hunts", "delete", "echoes").strip() == "deleted echoes", "deleted")
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "hunt", "--saved", "echoes"], capture_output=True, text=True)
    check(r.returncode != 0 and "no saved hunt named 'echoes'" in r.stderr, f"gone: {r.stderr.strip()}")

    sql = v.cli("hunt", q, "--explain")
    # the rarer of the two prefilters drives (the executor counts both); either is a postings index
    check("vigil_text('process', 'process_command_line'" in sql
          or "vigil_terms('process', 'process_name', 'eq'" in sql, f"a postings index drives: {sql}")

    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "hunt", "process where process.nmae == 1"],
                       capture_output=True, text=True)
    check(r.returncode != 0 and "1:15" in r.stderr and "process.name" in r.stderr,
          f"unknown field: position and suggestion ({r.stderr.strip()})")
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "hunt", "process where (name == "],
                       capture_output=True, text=True)
    check(r.returncode != 0 and "1:" in r.stderr, f"syntax error with position ({r.stderr.strip()})")

    # output formats, --host, --limit, --timeout
    out = v.cli("hunt", q, "--since", "10m", "--format", "csv").splitlines()
    check(len(out) == 4 and "PROCESS" in out[0] and all(marker in line and "echo" in line for line in out[1:]),
          f"csv: a header and the three execs: {out}")
    out = v.cli("hunt", q, "--since", "10m")
    check(out.count(marker) == 3 and "PROCESS" in out, f"table: the three execs under a header: {out}")
    host = v.hosts()[0]
    for h in (host["host.id"], host["host.name"]):
        check(len(hunt(q, "--host", h)) == 3, f"--host {h} keeps the three execs")
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "hunt", q, "--since", "10m", "--host", "no-such-host"],
                       capture_output=True, text=True)
    check(r.returncode == 1 and 'unknown host "no-such-host"' in r.stderr and not r.stdout,
          f"--host of no known host: an error, not an empty answer: {r.stderr.strip()}")
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "hunt", q, "--since", "10m", "--format", "json",
                        "--limit", "1"], capture_output=True, text=True)
    check(r.returncode == 0 and len(r.stdout.splitlines()) == 1 and "stopped at --limit 1" in r.stderr,
          f"--limit 1: one row and a note ({r.stderr.strip()})")
    check(len(hunt(q, "--timeout", "20s")) == 3, "--timeout 20s")
    for bad in ("0s", "11m", "soon"):
        r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "hunt", q, "--timeout", bad], capture_output=True,
                           text=True)
        check(r.returncode != 0 and "timeout" in r.stderr, f"--timeout {bad} refused ({r.stderr.strip()})")
    echo = 'process where event.action == "exec" and process.name == "echo" and process.command_line'
    rows = hunt(f'sequence by process.parent.entity_id [{echo} : "*{marker} a*"] [{echo} : "*{marker} c*"]')
    check(len(rows) == 1 and [e["process.args"][-1] for e in rows[0]["sequence"]] == ["a", "c"],
          f"sequence: one {{\"sequence\": [events]}} line: {rows}")

    # POST /api/hunt itself: JSON lines streamed, saved hunts by name, errors with line:column
    ctx = ssl.create_default_context(cafile=os.path.join(v.dir, "pki/ca.crt"))
    token = open(os.path.join(v.dir, "admin.token")).read().strip()

    def api(method, path, body):
        conn = http.client.HTTPSConnection("127.0.0.1", v.api_port, context=ctx, timeout=30)
        conn.request(method, path, body=json.dumps(body),
                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read().decode()
        conn.close()
        return r.status, r.getheader("Content-Type"), data

    status, ctype, data = api("POST", "/api/hunt", {"query": q, "since": "10m", "timeout": "20s"})
    lines = [json.loads(line) for line in data.splitlines()]
    check(status == 200 and ctype.startswith("application/x-ndjson") and len(lines) == 3
          and all(e["process.name"] == "echo" for e in lines), f"API: three JSON lines ({status} {ctype})")
    status, _, data = api("POST", "/api/hunt", {"query": q + " | count process.name", "since": "10m"})
    check(status == 200 and [json.loads(line) for line in data.splitlines()] == [{"process.name": "echo", "count": 3}],
          f"API count pipe: {data.strip()}")
    status, _, data = api("POST", "/api/hunts", {"name": "api-echoes", "query": q, "description": "via the API"})
    check(status == 200, f"API saves a hunt ({status} {data.strip()})")
    status, _, data = api("POST", "/api/hunt", {"name": "api-echoes", "since": "10m"})
    check(status == 200 and len(data.splitlines()) == 3, f"API runs a saved hunt by name ({status})")
    status, _, data = api("POST", "/api/hunt", {"name": "no-such-hunt"})
    check(status == 404 and "no saved hunt named 'no-such-hunt'" in data, f"API: unknown saved hunt ({data.strip()})")
    status, _, data = api("POST", "/api/hunt", {"query": "process where process.nmae == 1"})
    check(status == 400 and "1:15: unknown field process.nmae (did you mean process.name" in data,
          f"API: error with line:column and a suggestion ({data.strip()})")
    status, _, data = api("POST", "/api/hunt", {"query": q, "timeout": "1h"})
    check(status == 400 and "timeout" in data, f"API: timeout over 10m refused ({data.strip()})")

    def tables():
        with sqlite3.connect(f"file:{v.dir}/vigil.db?mode=ro", uri=True) as db:
            return {r[0] for r in db.execute(
                "SELECT name FROM sqlite_master WHERE name IN ('process', 'process_blocks')")}
    layout = {"process"} if row_layout else {"process_blocks"}
    check(tables() == layout, f"the store keeps process events as {'rows' if row_layout else 'blocks'}: "
          f"{tables()}")
    if row_layout:
        v.kill_server()
        v.start_server()  # no --store-layout (default: blocks): the store keeps its own
        check(len(hunt(q)) == 3 and tables() == layout,
              "after a restart without the flag: same layout, the three execs still found")
