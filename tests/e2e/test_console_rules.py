"""The console's Rules page in a real browser (web/tests/console_rules_e2e.mjs, Debian's chromium via
playwright-core) against a real server: EQL and Sigma rules uploaded with their validation errors
shown where they point, enable/disable, IOC sets with a bad indicator refused, YARA sets; a viewer
gets no buttons and the API refuses the same requests. Screenshots of each tab in
build/screenshots/. The registry is checked through the CLI afterwards."""
import json
import os
import subprocess
import uuid

from vigil_e2e import BIN, Vigil, check

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))

with Vigil() as v:
    v.start_server()
    admin_pw, viewer_pw = uuid.uuid4().hex, uuid.uuid4().hex
    v.add_user("rita", "analyst", admin_pw)
    v.add_user("vera", "viewer", viewer_pw)

    # The Sigma rule is uploaded as a file through the page's file input.
    sigma_file = os.path.join(v.dir, "console_sigma.yml")
    with open(sigma_file, "w") as f:
        f.write("title: Console Sigma rule\n"
                "id: console-sigma\n"
                "status: test\n"
                "description: uploaded by the console's browser test\n"
                "logsource:\n  category: process_creation\n  product: linux\n"
                "detection:\n  selection:\n    CommandLine|contains: console-sigma-marker\n  condition: selection\n"
                "level: medium\n"
                "tags:\n  - attack.execution\n  - attack.t1059.004\n")

    shots = os.path.join(BIN, "..", "screenshots")
    env = dict(os.environ, VIGIL_URL=f"https://127.0.0.1:{v.api_port}", SCREENSHOTS=shots,
               ANALYST_USER="rita", ANALYST_PASS=admin_pw, VIEWER_USER="vera", VIEWER_PASS=viewer_pw,
               SIGMA_FILE=sigma_file)
    r = subprocess.run(["node", os.path.join(ROOT, "web/tests/console_rules_e2e.mjs")], env=env, timeout=300,
                       cwd=os.path.join(ROOT, "web"))
    check(r.returncode == 0, "the browser test of the Rules page passes")
    for page in ["rules-detection", "rules-detection-error", "rules-rule-source", "rules-ioc", "rules-ioc-error",
                 "rules-yara", "viewer-rules", "viewer-rules-ioc"]:
        check(os.path.getsize(os.path.join(shots, page + ".png")) > 5000, f"screenshot {page}.png")

    # What the page did is in the server's registry, as the CLI sees it.
    rules = {r["id"]: r for r in map(json.loads, v.cli("rules", "list", "--format", "json").splitlines())}
    check(rules.get("console-eql", {}).get("enabled") is False, "the EQL rule is stored, disabled")
    sigma = rules.get("console-sigma", {})
    check(sigma.get("kind") == "sigma" and sigma.get("enabled") is True, f"the Sigma rule is stored, enabled: {sigma}")
    sets = {s["name"]: s for s in map(json.loads, v.cli("ioc", "sets", "--format", "json").splitlines())}
    check(list(sets) == ["console-feed"] and len(sets["console-feed"]["sha256"]) == 2
          and sets["console-feed"]["domains"] == ["evil.example"], f"the IOC set is stored: {sets}")
