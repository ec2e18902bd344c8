"""A host simulated with network namespaces, for response e2e tests and benchmarks (root only).

  root ns (server)  10.X.1.1 --veth-- 10.X.1.2  host ns H  10.X.2.1 --veth-- 10.X.2.{2,3,5,6}  peer ns P

Names and the 10.X subnets are unique per run; teardown() removes everything. The peer runs a TCP
server on :8080 (answers "hi") on all its addresses and a DNS server on :53 answering evil.test and
www.evil.test; H's resolv.conf (/etc/netns/H/resolv.conf) points at the peer.
"""
import os
import random
import shutil
import subprocess
import sys
import uuid

tag = uuid.uuid4().hex[:6]
H, P = f"vgh{tag}", f"vgp{tag}"
X = random.randint(100, 250)
R_IP, H_IP, H2_IP = f"10.{X}.1.1", f"10.{X}.1.2", f"10.{X}.2.1"
PEER = {n: f"10.{X}.2.{n}" for n in (2, 3, 5, 6)}
NETNS_ETC = f"/etc/netns/{H}"


def sh(*cmd, check_rc=True):
    r = subprocess.run(list(cmd), capture_output=True, text=True)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr}")
    return r


def setup():
    sh("ip", "netns", "add", H)
    sh("ip", "netns", "add", P)
    sh("ip", "link", "add", f"vr{tag}", "type", "veth", "peer", "name", f"vh{tag}")
    sh("ip", "link", "set", f"vh{tag}", "netns", H)
    sh("ip", "addr", "add", f"{R_IP}/24", "dev", f"vr{tag}")
    sh("ip", "link", "set", f"vr{tag}", "up")
    sh("ip", "-n", H, "addr", "add", f"{H_IP}/24", "dev", f"vh{tag}")
    sh("ip", "-n", H, "link", "set", f"vh{tag}", "up")
    sh("ip", "-n", H, "link", "set", "lo", "up")
    sh("ip", "link", "add", f"va{tag}", "netns", H, "type", "veth", "peer", "name", f"vb{tag}", "netns", P)
    sh("ip", "-n", H, "addr", "add", f"{H2_IP}/24", "dev", f"va{tag}")
    sh("ip", "-n", H, "link", "set", f"va{tag}", "up")
    for ip in PEER.values():
        sh("ip", "-n", P, "addr", "add", f"{ip}/24", "dev", f"vb{tag}")
    sh("ip", "-n", P, "link", "set", f"vb{tag}", "up")
    sh("ip", "-n", P, "link", "set", "lo", "up")
    os.makedirs(NETNS_ETC, exist_ok=True)
    with open(f"{NETNS_ETC}/resolv.conf", "w") as f:
        f.write(f"nameserver {PEER[2]}\n")


def teardown():
    for ns in (H, P):
        sh("ip", "netns", "del", ns, check_rc=False)
    sh("ip", "link", "del", f"vr{tag}", check_rc=False)
    shutil.rmtree(NETNS_ETC, ignore_errors=True)


PEER_SERVER = r"""
import socket, struct, sys, threading
names = {"evil.test": "%s", "www.evil.test": "%s"}
def tcp():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 8080)); s.listen(64)
    while True:
        c, _ = s.accept(); c.sendall(b"hi"); c.close()
threading.Thread(target=tcp, daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 53))
print("ready", flush=True)
while True:
    q, addr = u.recvfrom(512)
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode()); i += 1 + q[i]
    qtype = struct.unpack("!H", q[i + 1:i + 3])[0]
    question = q[12:i + 5]
    name = ".".join(labels).lower()
    ip = names.get(name)
    if ip and qtype == 1:
        ans = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + socket.inet_aton(ip)
        u.sendto(q[:2] + b"\x81\x80" + struct.pack("!HHHH", 1, 1, 0, 0) + question + ans, addr)
    else:
        rcode = b"\x81\x80" if ip else b"\x81\x83"
        u.sendto(q[:2] + rcode + struct.pack("!HHHH", 1, 0, 0, 0) + question, addr)
""" % (PEER[5], PEER[6])




def start_peer():
    """Starts the peer's servers; returns the process (kill it before teardown)."""
    p = subprocess.Popen(["ip", "netns", "exec", P, sys.executable, "-c", PEER_SERVER],
                         stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "ready":
        raise RuntimeError("the peer's servers did not start")
    return p


def connects(ip, port=8080, timeout=1):
    """True when a TCP connection from H to ip:port gets the peer's answer."""
    r = sh("ip", "netns", "exec", H, sys.executable, "-c",
           f"import socket; s=socket.create_connection(('{ip}', {port}), timeout={timeout}); print(s.recv(2))",
           check_rc=False)
    return r.returncode == 0 and "hi" in r.stdout


def resolve(name):
    return sh("ip", "netns", "exec", H, sys.executable, "-c",
              f"import socket; print(socket.gethostbyname('{name}'))", check_rc=False).stdout.strip()


def start_server_and_enroll(v):
    """Starts Vigil v's server with its agent listener on R_IP (H reaches it over the veth) and the
    API on loopback, and enrolls an agent from H; returns the agent's state dir."""
    from vigil_e2e import BIN, check, wait_for
    v.server = subprocess.Popen(
        [f"{BIN}/vigil-server", "run", "--data-dir", v.dir, "--agent-listen", f"{R_IP}:{v.agent_port}",
         "--server-name", R_IP, "--api-listen", f"127.0.0.1:{v.api_port}"],
        stdout=v._log("server"), stderr=subprocess.STDOUT)
    wait_for(lambda: v._healthy(), 20, "the server's API")
    state = os.path.join(v.dir, "agent")
    r = sh("ip", "netns", "exec", H, f"{BIN}/vigil-agent", "enroll", "--server", f"{R_IP}:{v.agent_port}",
           "--token", v.token(), "--state-dir", state, check_rc=False)
    check(r.returncode == 0, f"the host enrolls through its veth ({r.stderr.strip()})")
    return state


def table_exists(table):
    return sh("ip", "netns", "exec", H, "nft", "list", "table", "inet", table, check_rc=False).returncode == 0
