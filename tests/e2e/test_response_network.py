"""Network response on a host simulated by a network namespace: isolate cuts the host's TCP to a
peer namespace while its agent still reaches the server, release restores it, isolation comes back
when the agent restarts (even after the table was removed behind its back); block-ip drops one
peer address and not another; block-domain drops the addresses the domain resolves to, and the
addresses of a subdomain once the host resolves it (DNS answer seen by the eBPF sensor).

Topology (names and the 10.X.Y.0/24 subnets are unique per run, removed in `finally`):
  root ns (server)  10.X.1.1 --veth-- 10.X.1.2  host ns (agent)  10.X.2.1 --veth-- 10.X.2.2-6  peer ns
The peer runs a TCP echo on :8080 on all its addresses and a DNS server on :53 for *.evil.test.
"""
import os
import signal
import subprocess
import time

from vigil_e2e import BIN, Vigil, check, wait_for
from vigil_netns import H, PEER, connects, resolve, setup, sh, start_peer, start_server_and_enroll, table_exists, teardown

peer = None
try:
    setup()
    peer = start_peer()
    with Vigil() as v:
        state = start_server_and_enroll(v)

        def start_agent():
            p = subprocess.Popen(["ip", "netns", "exec", H, f"{BIN}/vigil-agent", "run", "--state-dir", state,
                                  "--sensor", "ebpf"], stdout=v._log("agent"), stderr=subprocess.STDOUT)
            v.agents.append(p)
            wait_for(lambda: any(h["online"] for h in v.hosts()), 30, "the agent to come online")
            return p

        agent = start_agent()
        host = v.hosts()[0]["host.name"]
        agent_id = v.hosts()[0]["agent.id"]
        check(connects(PEER[2]), "before isolation the host reaches the peer")
        check(resolve("evil.test") == PEER[5], "the peer's DNS answers")

        def act(*args):
            return subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "action", *args, "--reason", "e2e"],
                                  capture_output=True, text=True, timeout=120)

        # --- isolate
        r = act("isolate", agent_id)
        check(r.returncode == 0 and "done" in r.stdout, f"isolate done: {r.stdout.strip()} {r.stderr.strip()}")
        check(not connects(PEER[2]), "isolated: TCP to the peer fails")
        check(resolve("evil.test") == PEER[5], "isolated: DNS to the configured resolver still works")
        r = act("quarantine-list", agent_id)
        check(r.returncode == 0, "isolated: the agent still takes commands from the server")
        time.sleep(1)
        check(any(h["online"] for h in v.hosts()), "isolated: the host is still online in Vigil")

        # --- isolation survives an agent restart, even if the table was removed meanwhile
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=20)
        sh("ip", "netns", "exec", H, "nft", "delete", "table", "inet", "vigil_isolation")
        check(connects(PEER[2]), "table removed behind the agent's back: the peer is reachable")
        agent = start_agent()
        wait_for(lambda: table_exists("vigil_isolation"), 10, "the agent to re-apply isolation at start")
        check(not connects(PEER[2]), "after the restart the host is isolated again")

        # --- release removes exactly the isolation table
        r = act("release", agent_id)
        check(r.returncode == 0 and "done" in r.stdout, f"release done: {r.stdout.strip()} {r.stderr.strip()}")
        check(not table_exists("vigil_isolation"), "release removed table inet vigil_isolation")
        check(connects(PEER[2]), "released: TCP to the peer works again")

        # --- block-ip: one address dropped, the others not
        r = act("block-ip", PEER[3], "--hosts", agent_id)
        check(r.returncode == 0 and "done" in r.stdout, f"block-ip done: {r.stdout.strip()} {r.stderr.strip()}")
        check(not connects(PEER[3]), f"blocked IP {PEER[3]} cannot be reached")
        check(connects(PEER[2]), f"unblocked IP {PEER[2]} still can")
        r = act("unblock-ip", PEER[3], "--hosts", agent_id)
        check(r.returncode == 0 and connects(PEER[3]), "unblock-ip: reachable again")

        # --- block-domain: resolved at once, and subdomains from the DNS answers the sensor sees
        check(connects(PEER[5]) and connects(PEER[6]), "the domain's addresses are reachable before")
        r = act("block-domain", "evil.test", "--hosts", agent_id)
        check(r.returncode == 0 and "done" in r.stdout, f"block-domain done: {r.stdout.strip()} {r.stderr.strip()}")
        check(not connects(PEER[5]), f"evil.test ({PEER[5]}) cannot be reached")
        check(connects(PEER[2]), "other peers still can")
        check(resolve("www.evil.test") == PEER[6], "the host resolves www.evil.test")
        wait_for(lambda: not connects(PEER[6]), 10, "www.evil.test's address (from the DNS answer) to be blocked")
        r = act("unblock-domain", "evil.test", "--hosts", agent_id)
        check(r.returncode == 0 and connects(PEER[5]) and connects(PEER[6]), "unblock-domain: reachable again")
        r = act("unblock-ip", PEER[3], "--hosts", agent_id)
finally:
    if peer:
        peer.kill()
        peer.wait()
    teardown()
