"""`vigil-agent guard exec`: a command and everything it starts run under a policy the kernel
enforces (Landlock), and what it refuses reaches the server as policy events.

- no-shell: the command may not start a shell, even through env or a grandchild;
- system-readonly: no writes, renames into or removals beneath /etc or /usr; /tmp stays writable;
- no-exec-from-writable: a copy of /usr/bin/true in /tmp does not run, the original does;
- no-outbound / --allow-connect: outbound TCP only to the allowed ports;
- explicit --deny-exec binds a great-grandchild;
- bad input is refused with the reason and the command is not run;
- with an agent running, a denial is stored as a policy event with the path, the action and the
  process (pid and entity id), searchable with `vigil events --category policy`, and the built-in
  rule vigil-linux-guard-denial raises an alert.
"""
import json
import os
import subprocess
import tempfile
import uuid

from vigil_e2e import BIN, Vigil, check, wait_for

AGENT = f"{BIN}/vigil-agent"


def guard(*args):
    return subprocess.run([AGENT, "guard", *args], capture_output=True, text=True, timeout=60)


r = guard("check")
check(r.returncode == 0 and "Landlock ABI" in r.stdout, f"guard check: {r.stdout}{r.stderr}")
r = guard("presets")
check(all(p in r.stdout for p in ("no-shell", "system-readonly", "no-exec-from-writable", "strict")),
      f"guard presets lists them: {r.stdout}")

# no-shell: env cannot start sh; the guarded command itself may be anything allowed.
r = guard("exec", "--preset", "no-shell", "--", "/usr/bin/env", "sh", "-c", "echo ran")
check(r.returncode == 126 and "ran" not in r.stdout and "Permission denied" in r.stderr,
      f"no-shell: env sh refused (rc {r.returncode}, {r.stderr.strip()})")
r = guard("exec", "--preset", "no-shell", "--", "/usr/bin/true")
check(r.returncode == 0, f"no-shell: /usr/bin/true runs (rc {r.returncode}, {r.stderr.strip()})")

# system-readonly, from a shell (allowed here): /etc and /usr refuse, /tmp accepts.
tmp = tempfile.mkdtemp(prefix="vigil-guard-")
marker = f"/etc/vigil-e2e-guard-{uuid.uuid4().hex[:8]}"
script = (f"echo x > {marker}; echo etc=$?; echo x > {tmp}/ok; echo tmp=$?; "
          f"mv {tmp}/ok {marker}; echo mv=$?; touch /usr/local/vigil-e2e-guard; echo usr=$?; "
          f"rm /etc/hostname; echo rm=$?")
r = guard("exec", "--preset", "system-readonly", "--", "/bin/sh", "-c", script)
lines = dict(line.split("=") for line in r.stdout.split())
check(lines == {"etc": "2", "tmp": "0", "mv": "1", "usr": "1", "rm": "1"},
      f"system-readonly: only /tmp writable ({lines}, {r.stderr.strip()})")
check(not os.path.exists(marker) and os.path.exists("/etc/hostname") and os.path.exists(f"{tmp}/ok"),
      "system-readonly: /etc unchanged, the /tmp file is there")

# no-exec-from-writable: a dropped copy does not run, the system's binary does.
r = guard("exec", "--preset", "no-exec-from-writable", "--", "/bin/sh", "-c",
          f"cp /usr/bin/true {tmp}/payload; {tmp}/payload; echo dropped=$?; /usr/bin/true; echo system=$?")
check("dropped=126" in r.stdout and "system=0" in r.stdout, f"no-exec-from-writable: {r.stdout} {r.stderr}")

# no-outbound / --allow-connect: TCP connections only to the allowed port (a reverse shell's way out
# is closed); the listeners are on loopback.
import socket
listeners = [socket.socket() for _ in range(2)]
for s in listeners:
    s.bind(("127.0.0.1", 0))
    s.listen(4)
allowed, other = (s.getsockname()[1] for s in listeners)
connect = ("import socket, sys\nfor port in map(int, sys.argv[1:]):\n"
           "    try:\n        socket.create_connection(('127.0.0.1', port), 2).close(); print(port, 'ok')\n"
           "    except PermissionError:\n        print(port, 'denied')\n")
r = guard("exec", "--allow-connect", str(allowed), "--", "/usr/bin/python3", "-c", connect, str(allowed), str(other))
check(r.stdout.split("\n")[:2] == [f"{allowed} ok", f"{other} denied"], f"--allow-connect: {r.stdout} {r.stderr}")
r = guard("exec", "--preset", "no-outbound", "--", "/usr/bin/python3", "-c", connect, str(allowed))
check(r.stdout.strip() == f"{allowed} denied", f"no-outbound: {r.stdout} {r.stderr}")
r = guard("exec", "--allow-connect", "70000", "--", "/bin/true")
check(r.returncode != 0 and "70000" in r.stderr, f"--allow-connect 70000 refused: {r.stderr.strip()}")

# The policy is inherited: a great-grandchild cannot run what the root may not.
r = guard("exec", "--deny-exec", "/usr/bin/id", "--", "/bin/sh", "-c", "sh -c 'sh -c id; echo rc=$?'")
check("rc=126" in r.stdout and "uid=" not in r.stdout, f"inherited: {r.stdout} {r.stderr}")

# Bad input: the reason, exit 2, and the command not run.
for args, why in [(["--preset", "paranoid"], "unknown preset 'paranoid' (known: "),
                  (["--deny-exec", "usr/bin/id"], "'usr/bin/id' is not an absolute path"),
                  ([], "the policy denies nothing")]:
    r = guard("exec", *args, "--", "/bin/echo", "ran")
    check(r.returncode == 2 and why in r.stderr and "ran" not in r.stdout,
          f"refused {args}: rc {r.returncode} {r.stderr.strip()}")
r = guard("exec", "--preset", "no-shell")
check(r.returncode == 2 and "no command" in r.stderr, f"no command: {r.stderr.strip()}")
print("guard exec: presets, inheritance and refusals enforced by the kernel")

# Denials become policy events on the server.
with Vigil() as v:
    state, _ = v.start_host()
    wait_for(lambda: "running: sensor" in v.agent_log(state), 30, "the agent to run")
    # A process that tries and lives on (as an exploited service would): its identity is known.
    tries = ("import os, sys, time\n"
             "try:\n    os.execv('/usr/bin/id', ['id'])\nexcept PermissionError:\n"
             "    print(os.getpid(), flush=True)\n    time.sleep(3)\n")
    r = guard("exec", "--deny-exec", "/usr/bin/id", "--", "/usr/bin/python3", "-c", tries)
    check(r.returncode == 0 and r.stdout.strip().isdigit(), f"denied under a running agent: {r.stdout} {r.stderr}")
    pid = int(r.stdout)

    def denial():
        for e in v.events("--category", "policy", "--since", "5m"):
            if e.get("file.path") == "/usr/bin/id":
                return e
        return None

    e = wait_for(denial, 20, "the policy event of the denied exec")
    print(e)
    check(e["event.action"] == "exec_denied", f"action {e['event.action']}")
    check(e["process.pid"] == pid, f"the process that tried: {e['process.pid']} == {pid}")
    check(e.get("process.entity_id", "") != "", "its entity id (the agent's process table)")
    check(e["process.executable"] == os.path.realpath("/usr/bin/python3"), f"executable {e['process.executable']}")
    check(e["rule.name"] == "vigil-agent guard" and e["rule.id"].startswith("landlock:"),
          f"rule {e['rule.id']} {e['rule.name']}")
    check(e["error.message"] == "denied by Landlock (fs.execute)", f"why: {e['error.message']}")
    # A refused TCP connection: where it was going.
    r = guard("exec", "--preset", "no-outbound", "--", "/usr/bin/python3", "-c", connect, str(other))
    check(r.stdout.strip() == f"{other} denied", f"no-outbound under a running agent: {r.stdout} {r.stderr}")

    def refused_connect():
        for e in v.events("--category", "policy", "--since", "5m"):
            if e.get("event.action") == "network_denied" and e.get("destination.port") == str(other):
                return e
        return None

    e = wait_for(refused_connect, 20, "the policy event of the refused connection")
    check(e["destination.ip"] == "127.0.0.1" and e["error.message"] == "denied by Landlock (net.connect_tcp)",
          f"refused connection: {e}")
    print("guard denials (exec, connect) stored as policy events")

    # The built-in rule raises an alert for each prevented action.
    def guard_alerts():
        out = v.cli("alerts", "--format", "json", "--limit", "1000")
        return [a for a in (json.loads(l) for l in out.splitlines() if l.strip())
                if a["rule_id"] == "vigil-linux-guard-denial"]
    alerts = wait_for(lambda: guard_alerts() or None, 20, "an alert from the guard denials")
    paths = {e.get("file.path") for a in alerts for e in a["events"]}
    check("/usr/bin/id" in paths, f"alert on the refused exec: {paths}")
