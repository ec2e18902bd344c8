"""Response over the command channel, with the kill action: a process tree (sh -> sh -> sleep, and
a sleep) is killed by the root's entity id and nothing else is; a stale entity id whose pid was
reused by another process is refused and that process lives; an action for an offline agent is
queued and delivered when it returns; a viewer's action is refused (403); the audit log records
who, what, why and the result."""
import json
import os
import signal
import subprocess
import time
import uuid

from vigil_e2e import BIN, Vigil, check, wait_for


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().split(")")[-1].split()[1]) == pid:
                        out.append(int(d))
            except OSError:
                pass
    return out


def action(v, *args, token=None):
    cmd = [f"{BIN}/vigil", "--data-dir", v.dir]
    if token:
        cmd += ["--token", token]
    return subprocess.run(cmd + ["action", *args], capture_output=True, text=True, timeout=120)


with Vigil() as v:
    state, agent = v.start_host("--sensor", "auto")
    host = v.hosts()[0]["host.name"]

    def exec_event(pid):
        return next((e for e in v.events("--category", "process", "--since", "5m", "--limit", "5000")
                     if e.get("process.pid") == pid and e.get("event.action") == "exec"), None)

    # --- the tree: sh -> (sleep, sh -> sleep); plus an unrelated sleep that must survive.
    marker = f"vigil-kill-{uuid.uuid4().hex[:8]}"
    root = v.spawn(["/bin/sh", "-c", f"sleep 301 & sh -c 'sleep 302; : {marker}-inner' & wait; : {marker}"])
    bystander = v.spawn(["sleep", "303"])
    tree = wait_for(lambda: (lambda kids: kids if len(kids) == 2 and all(
        children(k) or open(f"/proc/{k}/comm").read().strip() == "sleep" for k in kids) else None)(children(root.pid)),
        10, "the tree to start")
    grandchildren = [g for k in tree for g in children(k)]
    members = [root.pid] + tree + grandchildren
    check(len(members) == 4, f"tree of 4 processes: {members}")
    event = wait_for(lambda: exec_event(root.pid), 10, "the root's exec event")
    eid = event["process.entity_id"]
    check(marker in event["process.command_line"], "the root's exec event")

    r = action(v, "kill", host, eid, "--tree", "--reason", "e2e tree")
    check(r.returncode == 0 and "done" in r.stdout, f"kill --tree done: {r.stdout.strip()} {r.stderr.strip()}")
    root.wait(timeout=10)
    wait_for(lambda: not any(alive(p) for p in members), 5, "every process of the tree to be gone")
    check(alive(bystander.pid), "the unrelated sleep still runs")
    for p in members:
        check(f" {p}(" in r.stdout, f"pid {p} listed as killed")

    # --- a stale entity id whose pid now belongs to another process is refused.
    victim = v.spawn(["sleep", "304"])
    ev = wait_for(lambda: exec_event(victim.pid), 10, "the victim's exec event")
    stale = ev["process.entity_id"]
    pid = victim.pid
    victim.kill()
    victim.wait()
    reused = None
    for _ in range(50):
        with open("/proc/sys/kernel/ns_last_pid", "w") as f:
            f.write(str(pid - 1))
        p = v.spawn(["sleep", "305"])
        if p.pid == pid:
            reused = p
            break
        p.kill()
        p.wait()
    check(reused is not None, f"pid {pid} reused by a new sleep")
    r = action(v, "kill", host, stale, "--reason", "stale")
    check(r.returncode == 1 and "failed" in r.stdout, f"stale entity id refused: {r.stdout.strip()}")
    time.sleep(0.2)
    check(alive(reused.pid), f"the process now at pid {pid} was not signalled")
    reused.kill()
    reused.wait()

    # --- a viewer cannot act (the pre-routing role check refuses every non-GET for viewers).
    viewer = subprocess.run([f"{BIN}/vigil-server", "api-token", "create", "--name", "eve", "--role", "viewer",
                             "--data-dir", v.dir], capture_output=True, text=True, check=True).stdout.strip()
    r = action(v, "kill", host, eid, token=viewer)
    check(r.returncode == 1 and "viewer role may not POST /api/actions" in r.stderr, f"viewer refused: {r.stderr.strip()}")

    # --- offline: queued, delivered when the agent returns, run once.
    agent.send_signal(signal.SIGTERM)
    agent.wait(timeout=20)
    wait_for(lambda: not any(h["online"] for h in v.hosts()), 20, "the agent to be offline")
    # The bystander's entity id comes from its event, stored before the agent stopped.
    bev = wait_for(lambda: exec_event(bystander.pid), 10, "the bystander's exec event")
    r = action(v, "kill", host, bev["process.entity_id"], "--reason", "offline delivery")
    check(r.returncode == 0 and f"will be delivered when {host} returns" in r.stderr,
          f"offline: queued message: {r.stderr.strip()}")
    time.sleep(0.5)
    check(alive(bystander.pid), "nothing happens while the agent is away")
    agent = v.start_agent(state, "--sensor", "auto")
    wait_for(lambda: not alive(bystander.pid), 20, "the queued kill to run when the agent returns")
    bystander.wait()

    log = [json.loads(l) for l in v.cli("actions", "--format", "json").splitlines() if l.strip()]
    check(len(log) == 3, f"3 actions in the audit log (the viewer's is not one): {[a['type'] for a in log]}")
    first, second, third = log
    check(first["actor"] == "admin" and first["reason"] == "e2e tree" and first["params"]["tree"] is True
          and first["status"] == "done" and len(first["targets"][0]["result"]["killed"]) == 4,
          f"audit entry 1: {first['actor']} {first['reason']} {first['status']}")
    check(second["status"] == "failed" and ("not running" in second["error"] or "another process" in second["error"]),
          f"audit entry 2 failed with the reason: {second['error']}")
    wait_for(lambda: json.loads(v.cli("actions", "--format", "json").splitlines()[-1])["status"] == "done", 10,
             "the queued action to be recorded done")
    # Exactly once: the agent restarts again; the journal keeps the command from running twice and
    # the server does not resend what it has a result for.
    journal = open(os.path.join(state, "commands.journal")).read()
    check(journal.count('"state":"started"') == 3, f"3 commands journaled as started: {journal.count('started')}")

    # --- vigil actions --follow prints an action as it changes (pending ... done).
    follow = subprocess.Popen([f"{BIN}/vigil", "--data-dir", v.dir, "actions", "--follow", "--format", "json"],
                              stdout=subprocess.PIPE, text=True)
    try:
        seen = [json.loads(follow.stdout.readline()) for _ in range(3)]
        check([a["id"] for a in seen] == [1, 2, 3], "follow starts with the log")
        last = v.spawn(["sleep", "307"])
        lev = wait_for(lambda: exec_event(last.pid), 10, "the last sleep's exec event")
        r = action(v, "kill", host, lev["process.entity_id"], "--reason", "followed")
        check(r.returncode == 0, "one more kill")
        statuses = []
        while "done" not in statuses:
            a = json.loads(follow.stdout.readline())
            if a["id"] == 4:
                statuses.append(a["status"])
        check(statuses[-1] == "done", f"follow printed the new action 4 until done: {statuses}")
        last.wait(timeout=10)
    finally:
        follow.kill()
        follow.wait()
