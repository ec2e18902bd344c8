"""The web console against a real server with the local agent and an EVTX import: the API side of
users, sessions and CSRF (cookies, roles, expiry on logout), then the browser test
(web/tests/console_e2e.mjs, Debian's chromium via playwright-core) with screenshots of every page
in build/screenshots/."""
import glob
import http.client
import json
import os
import ssl
import subprocess
import uuid

from vigil_e2e import BIN, Vigil, check, unique_binary, wait_for

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
CORPUS = os.path.join(ROOT, "../shared/corpora/sigma/regression")


class Client:
    """HTTPS to the API with the server's CA, keeping the session cookie like a browser."""

    def __init__(self, port, ca):
        self.port = port
        self.ctx = ssl.create_default_context(cafile=ca)
        self.cookie = ""
        self.csrf = ""

    def call(self, method, path, body=None, csrf=True, headers=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        h = dict(headers or {})
        if body is not None:
            h["Content-Type"] = "application/json"
        if self.cookie:
            h["Cookie"] = self.cookie
        if csrf and self.csrf:
            h["X-CSRF-Token"] = self.csrf
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=h)
        r = conn.getresponse()
        data = r.read().decode()
        set_cookie = r.getheader("Set-Cookie")
        conn.close()
        return r.status, data, set_cookie

    def login(self, user, password):
        status, data, cookie = self.call("POST", "/api/login", {"user": user, "password": password})
        if status == 200:
            self.cookie = cookie.split(";")[0]
            self.csrf = json.loads(data)["csrf"]
        return status, data, cookie


with Vigil() as v:
    v.start_server()
    state = os.path.join(v.dir, "agent")
    check(v.enroll(state).returncode == 0, "agent enrolls")
    v.start_agent(state)
    wait_for(lambda: any(h["online"] for h in v.hosts()), 30, "the agent to come online")

    # ---- users through the CLI (admin API)
    admin_pw, viewer_pw, analyst_pw = (uuid.uuid4().hex for _ in range(3))
    v.add_user("alice", "admin", admin_pw)
    v.add_user("victor", "viewer", viewer_pw)
    v.add_user("anna", "analyst", analyst_pw)
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "user", "add", "shorty"], input="short\n",
                       capture_output=True, text=True)
    check(r.returncode == 1 and "at least 8 characters" in r.stderr, f"a short password is refused: {r.stderr.strip()}")
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "user", "add", "alice"], input=admin_pw + "\n",
                       capture_output=True, text=True)
    check(r.returncode == 1 and "exists already" in r.stderr, "a user name is unique")
    users = {u["name"]: u["role"] for u in map(json.loads, v.cli("user", "list", "--format", "json").splitlines())}
    check(users == {"alice": "admin", "victor": "viewer", "anna": "analyst"}, f"user list: {users}")
    check(v.cli("user", "role", "anna", "viewer").strip() == "anna is now viewer", "role changed")
    check("removed anna" in v.cli("user", "remove", "anna"), "user removed")
    hashes = subprocess.run(["sqlite3", os.path.join(v.dir, "vigil.db"), "SELECT password_hash FROM users"],
                            capture_output=True, text=True).stdout.split()
    check(len(hashes) == 2 and all(h.startswith("$argon2id$") for h in hashes), "passwords stored as argon2id hashes")

    # ---- sessions, cookies, CSRF and roles through the API
    ca = os.path.join(v.dir, "pki/ca.crt")
    anon = Client(v.api_port, ca)
    status, data, _ = anon.login("alice", "not-the-password")
    check(status == 401 and "wrong user name or password" in data, "a wrong password is refused")
    status, data, _ = anon.login("nobody", "whatever-password")
    check(status == 401 and "wrong user name or password" in data, "an unknown user gets the same answer")
    check(anon.call("GET", "/api/hosts")[0] == 401, "no cookie, no data")
    status, _, _ = anon.call("POST", "/api/login", None, headers={"Content-Type": "text/plain"})
    check(status == 415, "login takes JSON only (no cross-site form posts)")

    admin = Client(v.api_port, ca)
    status, data, cookie = admin.login("alice", admin_pw)
    check(status == 200 and json.loads(data)["role"] == "admin", "admin logs in")
    attrs = [a.strip() for a in cookie.split(";")]
    check({"HttpOnly", "Secure", "SameSite=Strict", "Path=/"} <= set(attrs), f"session cookie attributes: {cookie}")
    check(admin.call("GET", "/api/hosts")[0] == 200, "the cookie authenticates reads")
    hunt = {"name": "c1", "query": "process where true"}
    status, data, _ = admin.call("POST", "/api/hunts", hunt, csrf=False)
    check(status == 403 and "X-CSRF-Token" in data, "a cookie write without the CSRF token is refused")
    admin_csrf, admin.csrf = admin.csrf, "0" * 64
    check(admin.call("POST", "/api/hunts", hunt)[0] == 403, "a wrong CSRF token is refused")
    admin.csrf = admin_csrf
    check(admin.call("POST", "/api/hunts", hunt)[0] == 200, "with the CSRF token the write goes through")
    session = json.loads(admin.call("GET", "/api/session")[1])
    check(session["csrf"] == admin.csrf and session["user"] == "alice", "GET /api/session gives the CSRF token back")

    viewer = Client(v.api_port, ca)
    check(viewer.login("victor", viewer_pw)[0] == 200, "viewer logs in")
    check(viewer.call("POST", "/api/hunt", {"query": "process where true", "limit": 1})[0] == 200, "a viewer hunts")
    status, data, _ = viewer.call("POST", "/api/hunts", hunt)
    check(status == 403 and "viewer" in data, "a viewer cannot save hunts")
    check(viewer.call("GET", "/api/users")[0] == 403, "a viewer cannot list users")
    check(viewer.call("DELETE", "/api/hunts/c1")[0] == 403, "a viewer cannot delete")
    # a role change applies at the next request, a new password ends the sessions
    check(admin.call("PUT", "/api/users/victor", {"role": "analyst"})[0] == 200, "admin promotes the viewer")
    check(viewer.call("DELETE", "/api/hunts/c1")[0] == 200, "the promotion applies to the open session")
    check(admin.call("PUT", "/api/users/victor", {"role": "viewer"})[0] == 200, "and demotes again")
    status, data, _ = admin.call("DELETE", "/api/users/alice")
    check(status == 409 and "last admin" in data, "the last admin cannot be removed")
    check(admin.call("POST", "/api/logout", {})[0] == 200, "logout")
    check(admin.call("GET", "/api/hosts")[0] == 401, "the session ends at logout")
    check(admin.login("alice", admin_pw)[0] == 200, "log in again")

    # ---- static console: files with their types, index.html for client routes, no path escapes
    status, html, _ = anon.call("GET", "/hunt")
    check(status == 200 and '<div id="root">' in html, "a client route gets index.html")
    script = html.split('src="')[1].split('"')[0]
    conn = http.client.HTTPSConnection("127.0.0.1", v.api_port, context=anon.ctx)
    conn.request("GET", script)
    r = conn.getresponse()
    r.read()
    check(r.status == 200 and r.getheader("Content-Type").startswith("application/javascript"), f"{script} is JavaScript")
    status, data, _ = anon.call("GET", "/assets/../../../etc/passwd")
    check(status == 400 and "root:" not in data, "no path escapes the console directory")
    check(anon.call("GET", "/assets/missing.js")[0] == 404, "a missing file is a 404, not index.html")
    check(anon.call("GET", "/api/nope")[0] == 401, "unknown API paths still need authentication")

    # ---- an EVTX import the hunt will find: five Sysmon/Security samples of the Sigma corpus
    samples = sorted(glob.glob(os.path.join(CORPUS, "**/proc_creation_win_*/*.json"), recursive=True))[:5]
    check(len(samples) == 5, "five process_creation samples in the corpus")
    decoder = json.JSONDecoder()
    computers, process = set(), 0
    for sample in samples:
        text, pos = open(sample).read(), 0
        while pos < len(text):
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            record, pos = decoder.raw_decode(text, pos)
            system = record["Event"]["System"]
            computers.add(system["Computer"])
            provider = system["Provider"]["#attributes"]["Name"]
            if (provider == "Microsoft-Windows-Sysmon" and system["EventID"] == 1) or system["EventID"] == 4688:
                process += 1
    check(process > 1, f"the samples: {process} process records of {sorted(computers)}")
    v.cli("import", "jsonl", *samples)
    computer_list = ", ".join(json.dumps(c) for c in sorted(computers))

    # ---- for the browser's alert: a rule matching a marker in a command line
    alert_marker = f"console-alert-{uuid.uuid4().hex[:10]}"
    rule_file = os.path.join(v.dir, "console-alert.eql")
    with open(rule_file, "w") as f:
        f.write(f"// id: console-alert\n// name: Console alert marker\n// severity: high\n"
                f"// tags: attack.execution, attack.t1059\n"
                f"process where process.command_line : \"*{alert_marker}*\"\n")
    v.cli("rules", "add", rule_file)
    # ---- for the browser's block-hash: a binary unique to this run (true with random bytes appended)
    work = os.path.join(v.dir, "work")
    os.makedirs(work)
    block_exe = os.path.join(work, "console-tool")
    unique_binary(block_exe)

    # ---- for the browser's scan: a tree where two files hold the string of the page's YARA rule
    scan_dir = os.path.join(work, "scan-tree")
    scan_expected = []
    for i in range(200):
        path = os.path.join(scan_dir, f"d{i % 4}", f"f{i:03}.bin")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(os.urandom(48 * 1024) + (b"vigil-console" if i % 100 == 7 else b"") + os.urandom(16 * 1024))
        if i % 100 == 7:
            scan_expected.append(path)

    # ---- the browser
    shots = os.path.join(BIN, "..", "screenshots")
    env = dict(os.environ, VIGIL_URL=f"https://127.0.0.1:{v.api_port}", SCREENSHOTS=shots,
               ADMIN_USER="alice", ADMIN_PASS=admin_pw, VIEWER_USER="victor", VIEWER_PASS=viewer_pw,
               HUNT_QUERY=f"process where host.name in ({computer_list})", HUNT_EXPECTED=str(process),
               HUNT_HOSTS=json.dumps(sorted(computers)), MARKER=f"console-{uuid.uuid4().hex[:10]}",
               ALERT_MARKER=alert_marker, ALERT_RULE="Console alert marker", BLOCK_EXE=block_exe,
               SCAN_DIR=scan_dir, SCAN_FILES="200", SCAN_EXPECTED=json.dumps(sorted(scan_expected)))
    r = subprocess.run(["node", os.path.join(ROOT, "web/tests/console_e2e.mjs")], env=env, timeout=400,
                       cwd=os.path.join(ROOT, "web"))
    check(r.returncode == 0, "the browser test passes")
    for page in ["login", "fleet", "host", "hunt", "live", "process", "hunt-sequence", "users", "rules", "alerts",
                 "block-hash", "response", "scans", "scans-cancelled", "host-scans", "host-actions", "viewer-hunt", "viewer-process",
                 "viewer-scans"]:
        check(os.path.getsize(os.path.join(shots, page + ".png")) > 5000, f"screenshot {page}.png")

    # ---- login throttling: per source address and per user name, 429 with Retry-After
    def login_from(source, user, password):
        conn = http.client.HTTPSConnection("127.0.0.1", v.api_port, context=anon.ctx, timeout=30,
                                           source_address=(source, 0))
        conn.request("POST", "/api/login", body=json.dumps({"user": user, "password": password}),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        body = r.read().decode()
        retry = r.getheader("Retry-After")
        conn.close()
        return r.status, body, retry

    statuses = []
    for _ in range(8):
        status, data, retry = login_from("127.0.0.2", "alice", "guess-" + uuid.uuid4().hex)
        statuses.append(status)
        if status == 429:
            break
    check(statuses == [401] * 6 + [429], f"past 5 free failures from one address, attempts wait: {statuses}")
    check(retry is not None and int(retry) >= 1 and "too many failed logins" in data, f"429 with Retry-After: {retry}")
    status, _, _ = login_from("127.0.0.2", "alice", admin_pw)
    check(status == 429, "while it waits, even the right password is not checked")
    status, _, _ = login_from("127.0.0.3", "victor", "guess-" + uuid.uuid4().hex)
    check(status == 401, "another address for another user is not throttled")
    # the user: one guess from each of many addresses
    for i in range(6):
        login_from(f"127.0.1.{i + 1}", "victor", "guess-" + uuid.uuid4().hex)
    status, _, retry = login_from("127.0.2.1", "victor", viewer_pw)
    check(status == 429 and int(retry) >= 1, f"guesses spread over addresses still throttle the user ({status})")
    wait_for(lambda: login_from("127.0.0.2", "alice", admin_pw)[0] == 200, 10, "the right password after the wait",
             interval=0.5)
    check(True, "after Retry-After the right password logs in")

# ---- vigil up: the first console admin is created once and its password printed once
import signal  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from vigil_e2e import free_port  # noqa: E402

up_dir = tempfile.mkdtemp(prefix="vigil-up-")
try:
    api_port, agent_port = free_port(), free_port()

    def run_up():
        p = subprocess.Popen([f"{BIN}/vigil", "up", "--data-dir", up_dir, "--api-port", str(api_port),
                              "--agent-port", str(agent_port), "--sensor", "proc"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out = []
        for line in p.stdout:
            out.append(line)
            if line.startswith("Stop with Ctrl-C"):
                break
        p.send_signal(signal.SIGINT)
        p.wait(timeout=30)
        return "".join(out)

    first = run_up()
    lines = [line.split(":", 1)[1].strip() for line in first.splitlines() if line.strip().startswith("password:")]
    check(len(lines) == 1 and len(lines[0]) == 20, "vigil up prints the first admin's password")
    check(f"console:      https://127.0.0.1:{api_port}/" in first, "vigil up prints the console's address")
    second = run_up()
    check("password:" not in second, "a second vigil up does not create or print it again")
    # the printed password logs in (server started directly on the same data dir)
    server = subprocess.Popen([f"{BIN}/vigil-server", "run", "--data-dir", up_dir, "--agent-listen",
                               f"127.0.0.1:{agent_port}", "--api-listen", f"127.0.0.1:{api_port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        c = Client(api_port, os.path.join(up_dir, "pki/ca.crt"))

        def logged_in():
            try:
                return c.login("admin", lines[0])[0] == 200
            except OSError:
                return False
        wait_for(logged_in, 20, "login with the printed password", interval=0.2)
        check(True, "the printed password logs in as admin")
    finally:
        server.kill()
        server.wait()
finally:
    shutil.rmtree(up_dir, ignore_errors=True)
