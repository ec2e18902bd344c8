"""EQL hunting through the API and the CLI on live telemetry from the local agent: substring, parent
and count queries find exactly the activity the test caused; errors say line:column; --explain
prints the SQL."""
import hashlib
import json
import os
import socket
import subprocess
import uuid

from vigil_e2e import BIN, Vigil, check, wait_for

with Vigil() as v:
    v.start_server()
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
    check("process_fts" in sql and "MATCH" in sql, "the substring uses the FTS5 trigram index")

    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "hunt", "process where process.nmae == 1"],
                       capture_output=True, text=True)
    check(r.returncode != 0 and "1:15" in r.stderr and "process.name" in r.stderr,
          f"unknown field: position and suggestion ({r.stderr.strip()})")
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "hunt", "process where (name == "],
                       capture_output=True, text=True)
    check(r.returncode != 0 and "1:" in r.stderr, f"syntax error with position ({r.stderr.strip()})")
