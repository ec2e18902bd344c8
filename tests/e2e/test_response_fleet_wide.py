"""A fleet-wide block (`--hosts all`) is a standing order: a host that enrolls after the action was
taken gets it when it first connects, in the order the actions were taken, and the audit log shows
the host joining the action. Here the block is taken before any agent exists; the agent that enrolls
afterwards denies the binary (EPERM); a fleet-wide unblock taken while it runs lets it run again; a
second agent enrolled after both gets block then unblock, so the binary stays allowed."""
import json
import os
import shutil
import subprocess
import tempfile

from vigil_e2e import BIN, Vigil, check, unique_binary, wait_for


def run_exe(path):
    try:
        return subprocess.run([path], capture_output=True, timeout=10).returncode
    except PermissionError:
        return "EPERM"


work = tempfile.mkdtemp(prefix="vigil-e2e-fleet-")
try:
    with Vigil() as v:
        v.start_server()

        def act(*args):
            return subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "action", *args, "--reason", "e2e",
                                   "--format", "json"], capture_output=True, text=True, timeout=120)

        def action(action_id):
            r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "actions", "--format", "json"],
                               capture_output=True, text=True, timeout=60)
            return next((a for a in map(json.loads, r.stdout.splitlines()) if a["id"] == action_id), None)

        os.chmod(work, 0o755)
        exe = os.path.join(work, "tool")
        sha = unique_binary(exe)

        # Not a standing order: kill/isolate of "all" with no host enrolled is refused.
        r = act("isolate", "all")
        check(r.returncode != 0, "isolate is one host at a time: 'all' is not a host here")

        r = act("block-hash", sha, "--hosts", "all")
        check(r.returncode == 0, f"block-hash --hosts all with no host enrolled is accepted: {r.stderr}")
        block = json.loads(r.stdout.splitlines()[-1])
        check(block["fleet_wide"] is True and block["targets"] == [], f"fleet-wide, no targets yet: {block}")
        check("hosts that enroll later get it too" in r.stderr, f"the CLI says so: {r.stderr}")

        state = os.path.join(v.dir, "agent")
        check(v.enroll(state).returncode == 0, "an agent enrolls after the block")
        v.start_agent(state, "--sensor", "none")
        wait_for(lambda: any(h["online"] for h in v.hosts()), 20, "the agent to come online")
        agent = v.hosts()[0]["agent.id"]
        done = wait_for(lambda: (lambda a: a if a and a["status"] == "done" and a["targets"] else None)(
            action(block["id"])), 30, "the new host to join and apply the fleet-wide block")
        check([t["agent.id"] for t in done["targets"]] == [agent], f"the new host is its target: {done}")
        check(run_exe(exe) == "EPERM", "the binary is denied on the host that enrolled later")

        r = act("unblock-hash", sha, "--hosts", "all")
        check(r.returncode == 0 and json.loads(r.stdout.splitlines()[-1])["status"] == "done",
              f"fleet-wide unblock done: {r.stdout} {r.stderr}")
        check(run_exe(exe) == 0, "unblocked: it runs")
        unblock = json.loads(r.stdout.splitlines()[-1])

        # A second host that enrolls after both gets block, then unblock: allowed in the end.
        state2 = os.path.join(v.dir, "agent2")
        check(v.enroll(state2).returncode == 0, "a second agent enrolls")
        v.start_agent(state2, "--sensor", "none")
        second = wait_for(lambda: (lambda a: a if a and len(a["targets"]) == 2 and a["status"] == "done" else None)(
            action(unblock["id"])), 30, "the second host to join both actions")
        first = action(block["id"])
        check(len(first["targets"]) == 2 and first["status"] == "done", f"it joined the block too: {first}")
        check(run_exe(exe) == 0, "block then unblock, in order: the binary still runs")
        check(second["targets"][1]["agent.id"] != agent, "the second target is the new host")
finally:
    shutil.rmtree(work, ignore_errors=True)
