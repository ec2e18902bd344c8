"""Isolate and release from the console's host page, in a real browser (web/tests/console_isolation_e2e.mjs),
of a host simulated by a network namespace (tests/e2e/vigil_netns.py): the agent runs in the
namespace, so isolation cuts that namespace off and never the test machine or the browser's
connection to the server (which listens on loopback in the root namespace). Both actions are
confirmed with a reason typed at the keyboard; the peer becomes unreachable and reachable again;
the audit log has both. The host is always released (and the namespaces removed) at the end."""
import json
import os
import subprocess
import sys
import uuid

from vigil_e2e import BIN, Vigil, check, wait_for
from vigil_netns import H, PEER, connects, setup, start_peer, start_server_and_enroll, teardown

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))

peer = None
try:
    setup()
    peer = start_peer()
    with Vigil() as v:
        state = start_server_and_enroll(v)
        v.agents.append(subprocess.Popen(["ip", "netns", "exec", H, f"{BIN}/vigil-agent", "run", "--state-dir", state,
                                          "--sensor", "ebpf"], stdout=v._log("agent"), stderr=subprocess.STDOUT))
        wait_for(lambda: any(h["online"] for h in v.hosts()), 30, "the agent to come online")
        agent_id = v.hosts()[0]["agent.id"]
        check(connects(PEER[2]), "before isolation the host reaches the peer")
        password = uuid.uuid4().hex
        v.add_user("ivan", "analyst", password)

        shots = os.path.join(BIN, "..", "screenshots")
        probe = ["ip", "netns", "exec", H, sys.executable, "-c",
                 f"import socket; s=socket.create_connection(('{PEER[2]}', 8080), timeout=1); assert s.recv(2) == b'hi'"]
        env = dict(os.environ, VIGIL_URL=f"https://127.0.0.1:{v.api_port}", SCREENSHOTS=shots, USER_NAME="ivan",
                   USER_PASS=password, AGENT_ID=agent_id, PROBE=json.dumps(probe))
        try:
            r = subprocess.run(["node", os.path.join(ROOT, "web/tests/console_isolation_e2e.mjs")], env=env,
                               timeout=240, cwd=os.path.join(ROOT, "web"))
        finally:
            # Whatever the browser did, the host ends released.
            subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "action", "release", agent_id, "--reason",
                            "console isolation test cleanup"], capture_output=True, text=True, timeout=120)
        check(r.returncode == 0, "the browser test of isolate/release passes")
        check(connects(PEER[2]), "the host reaches the peer at the end")
        for page in ["host-isolate", "host-isolated", "host-released"]:
            check(os.path.getsize(os.path.join(shots, page + ".png")) > 5000, f"screenshot {page}.png")
        actions = [json.loads(line) for line in v.cli("actions", "--format", "json").splitlines() if line.strip()]
        mine = sorted((a["type"], a["reason"], a["status"]) for a in actions if a["actor"] == "ivan")
        check(mine == [("isolate", "console e2e isolate", "done"), ("release", "console e2e release", "done")],
              f"the audit log has both, by the browser's user, with their reasons: {mine}")
finally:
    if peer:
        peer.kill()
        peer.wait()
    teardown()
