"""Helpers for Vigil's end-to-end tests: run the real server, agent and CLI in a temp data dir."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ.get("VIGIL_BIN") or os.path.join(os.path.dirname(__file__), "../../build/bin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(condition, message):
    if not condition:
        print("FAIL: " + message, file=sys.stderr)
        raise SystemExit(1)
    print("ok: " + message)


def wait_for(predicate, timeout, what, interval=0.05):
    """Polls predicate until it returns a truthy value; fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            check(False, f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Vigil:
    """A server in a temp data dir, plus any number of agents enrolled to it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="vigil-e2e-")
        self.api_port = free_port()
        self.agent_port = free_port()
        self.server = None
        self.agents = []
        self.spawned = []
        self.logs = []

    def __enter__(self):
        return self

    def spawn(self, args):
        """A test's own process (a target, a bystander): killed when the test ends, even on a failed
        check, and kept off the test's stdout so ctest does not wait for it."""
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.spawned.append(p)
        return p

    def __exit__(self, *exc):
        for p in self.spawned + self.agents + [self.server]:
            if p and p.poll() is None:
                p.kill()
                p.wait()
        if exc[0] is not None:
            for name in self.logs:
                try:
                    print(f"---- {name} (tail)", file=sys.stderr)
                    print(open(name).read()[-4000:], file=sys.stderr)
                except OSError:
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def _log(self, name):
        path = os.path.join(self.dir, name + ".log")
        self.logs.append(path)
        return open(path, "a")

    def start_server(self, *args):
        self.server = subprocess.Popen(
            [f"{BIN}/vigil-server", "run", "--data-dir", self.dir,
             "--agent-listen", f"127.0.0.1:{self.agent_port}",
             "--api-listen", f"127.0.0.1:{self.api_port}", *args],
            stdout=self._log("server"), stderr=subprocess.STDOUT)
        wait_for(lambda: self._healthy(), 20, "the server's API")
        return self.server

    def _healthy(self):
        if self.server.poll() is not None:
            check(False, f"vigil-server exited with {self.server.returncode}")
        r = subprocess.run([f"{BIN}/vigil", "--data-dir", self.dir, "hosts", "--format", "json"],
                           capture_output=True, text=True)
        return r.returncode == 0

    def kill_server(self):
        self.server.send_signal(signal.SIGKILL)
        self.server.wait()

    def token(self, ttl="10m"):
        r = subprocess.run([f"{BIN}/vigil-server", "token", "create", "--ttl", ttl, "--data-dir", self.dir],
                           capture_output=True, text=True, check=True)
        return r.stdout.strip()

    def enroll(self, state_dir, token=None, binary=None):
        return subprocess.run([binary or f"{BIN}/vigil-agent", "enroll", "--server", f"127.0.0.1:{self.agent_port}",
                               "--token", token or self.token(), "--state-dir", state_dir],
                              capture_output=True, text=True)

    def start_agent(self, state_dir, *args, binary=None):
        """An agent run from state_dir (BIN's vigil-agent unless `binary` names another build)."""
        p = subprocess.Popen([binary or f"{BIN}/vigil-agent", "run", "--state-dir", state_dir, *args],
                             stdout=self._log("agent-" + os.path.basename(state_dir)), stderr=subprocess.STDOUT)
        self.agents.append(p)
        return p

    def start_host(self, *agent_args, name="agent"):
        """Server, one enrolled agent (state in DIR/name) started with agent_args, online.
        Returns (state_dir, agent process)."""
        self.start_server()
        state = os.path.join(self.dir, name)
        check(self.enroll(state).returncode == 0, "agent enrolls")
        agent = self.start_agent(state, *agent_args)
        wait_for(lambda: any(h["online"] for h in self.hosts()), 20, "the agent to come online")
        return state, agent

    def agent_log(self, state_dir):
        path = os.path.join(self.dir, "agent-" + os.path.basename(state_dir) + ".log")
        return open(path).read() if os.path.exists(path) else ""

    def cli(self, *args):
        r = subprocess.run([f"{BIN}/vigil", "--data-dir", self.dir, *args], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"vigil {' '.join(args)} failed: {r.stderr}")
        return r.stdout

    def add_user(self, name, role, password):
        """A console user through `vigil user add` (the password on stdin)."""
        r = subprocess.run([f"{BIN}/vigil", "--data-dir", self.dir, "user", "add", name, "--role", role],
                           input=password + "\n", capture_output=True, text=True)
        check(r.returncode == 0, f"vigil user add {name} --role {role}: {r.stdout.strip()}{r.stderr.strip()}")

    def detection_stats(self):
        """GET /api/detection/stats as the admin (the live detection counters)."""
        out = subprocess.run(
            ["curl", "-s", "--cacert", os.path.join(self.dir, "pki/ca.crt"), "-H",
             "Authorization: Bearer " + open(os.path.join(self.dir, "admin.token")).read().strip(),
             open(os.path.join(self.dir, "api.url")).read().strip() + "/api/detection/stats"],
            capture_output=True, text=True).stdout
        return json.loads(out)

    def events(self, *args):
        out = self.cli("events", "--format", "json", *args)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def received(self):
        """Events the (first) host has delivered, as the hosts list counts them."""
        hosts = self.hosts()
        return hosts[0]["events_received"] if hosts else 0

    def hosts(self):
        return [json.loads(line) for line in self.cli("hosts", "--format", "json").splitlines() if line.strip()]


def bpf_links(pid):
    """pid's open BPF link fds: the agent holds one per attached sensor program."""
    links = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:bpf_link":
                links += 1
        except OSError:
            pass
    return links


def temp_dir(prefix):
    """A new directory under /tmp, removed when the test exits (also after a failed check)."""
    import atexit
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


def unique_binary(path):
    """A copy of /bin/true with random bytes appended at path (mode 0755): a binary, with a SHA-256
    unique to this run, that exits 0. Returns that SHA-256."""
    import hashlib
    import shutil
    import uuid
    shutil.copy("/bin/true", path)
    with open(path, "ab") as f:
        f.write(uuid.uuid4().bytes * 8)
    os.chmod(path, 0o755)
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def write_replay(path, count, marker):
    """count synthetic process events, each with a unique command line containing marker."""
    with open(path, "w") as f:
        for i in range(count):
            f.write(json.dumps({
                "@timestamp": 1_760_000_000_000_000_000 + i,
                "event.category": "process", "event.type": "start", "event.action": "exec",
                "event.dataset": "synthetic",
                "process.pid": 100000 + i, "process.name": "synthetic",
                "process.command_line": f"{marker} {i}",
            }) + "\n")


def stored_markers(vigil, marker, count):
    """Command lines of stored events carrying marker (over the whole history)."""
    events = vigil.events("--category", "process", "--since", "2025-01-01T00:00:00Z",
                          "--limit", str(count * 2 + 100))
    return [e["process.command_line"] for e in events if e.get("process.command_line", "").startswith(marker)]
