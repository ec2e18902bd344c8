"""YARA rule sets on the server: `vigil yara add` compiles before storing (errors with file:line and
the reason), versions every changed upload, lists, shows (with the exact sources back), removes; a
viewer may read but not upload."""
import glob
import json
import os
import re
import subprocess

from vigil_e2e import BIN, Vigil, check

CORPUS = os.path.join(os.path.dirname(__file__), "../../../shared/corpora/yara/elastic-linux")
RULE = re.compile(r"^\s*(?:(?:private|global)\s+)*rule\s+\w+", re.M)

with Vigil() as v:
    v.start_server()
    files = sorted(glob.glob(os.path.join(CORPUS, "**/*.yar*"), recursive=True))
    # Counted independently of libyara: rule declarations in the files.
    expected_rules = sum(len(RULE.findall(open(f, errors="replace").read())) for f in files)
    check(len(files) > 10 and expected_rules > 100, f"corpus: {len(files)} files, {expected_rules} rules")

    info = json.loads(v.cli("yara", "add", "linux", CORPUS, "--format", "json"))
    check(info["version"] == 1 and info["rules"] == expected_rules and info["files"] == len(files),
          f"version 1 with every rule and file: {info['rules']} rules, {info['files']} files")
    again = json.loads(v.cli("yara", "add", "linux", CORPUS, "--format", "json"))
    check(again["version"] == 1 and again["sha256"] == info["sha256"], "the same sources again: still version 1")

    extra = os.path.join(v.dir, "marker.yar")
    with open(extra, "w") as f:
        f.write('rule vigil_marker { strings: $a = "VIGIL-MARKER-7f3a" condition: $a }\n')
    v2 = json.loads(v.cli("yara", "add", "linux", CORPUS, extra, "--format", "json"))
    check(v2["version"] == 2 and v2["rules"] == expected_rules + 1 and v2["sha256"] != info["sha256"],
          f"a changed upload is version 2 ({v2['rules']} rules)")

    bad = os.path.join(v.dir, "bad.yar")
    with open(bad, "w") as f:
        f.write('rule ok { condition: true }\n\nrule broken {\n  strings: $a = "x"\n  condition: $b\n}\n')
    # Where the yara tools themselves put the error: yarac prints "rule ... in FILE(LINE): reason".
    yarac = subprocess.run(["yarac", bad, os.path.join(v.dir, "bad.yarc")], capture_output=True, text=True)
    where = re.search(re.escape(bad) + r"\((\d+)\): (.*undefined string.*)", yarac.stderr)
    check(yarac.returncode != 0 and where, f"yarac refuses it too: {yarac.stderr.strip()}")
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "yara", "add", "linux", bad],
                       capture_output=True, text=True)
    check(r.returncode != 0 and f"{bad}:{where.group(1)}: {where.group(2)}" in r.stderr,
          f"a bad rule is refused with file:line and the reason: {r.stderr.strip()}")
    listed = [json.loads(l) for l in v.cli("yara", "list", "--format", "json").splitlines()]
    check([(s["name"], s["version"]) for s in listed] == [("linux", 2)], f"the failed upload stored nothing: {listed}")

    shown = json.loads(v.cli("yara", "show", "linux", "--sources", "--format", "json"))
    check([x["version"] for x in shown["versions"]] == [2, 1], "show lists both versions, newest first")
    by_origin = {s["origin"]: s["text"] for s in shown["sources"]}
    check(by_origin.get(extra) == open(extra).read(), "sources come back byte for byte")
    check(len(shown["sources"]) == len(files) + 1, "every file of version 2 is stored")

    url = open(os.path.join(v.dir, "api.url")).read().strip()
    viewer = subprocess.run([f"{BIN}/vigil-server", "api-token", "create", "--name", "vic", "--role", "viewer",
                             "--data-dir", v.dir], capture_output=True, text=True, check=True).stdout.strip()
    as_viewer = [f"{BIN}/vigil", "--data-dir", v.dir, "--server", url, "--token", viewer]
    r = subprocess.run(as_viewer + ["yara", "add", "x", extra], capture_output=True, text=True)
    check(r.returncode != 0 and "viewer role may not POST /api/yara" in r.stderr, f"viewer upload refused: {r.stderr.strip()}")
    r = subprocess.run(as_viewer + ["yara", "list", "--format", "json"], capture_output=True, text=True)
    check(r.returncode == 0 and '"linux"' in r.stdout, "a viewer may list")

    check(v.cli("yara", "remove", "linux").strip() == "removed linux", "remove")
    check(v.cli("yara", "list", "--format", "json").strip() == "", "nothing left")
    r = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "yara", "show", "linux"], capture_output=True, text=True)
    check(r.returncode != 0 and "no YARA rule set named 'linux'" in r.stderr, "show of a removed set: 404 with the name")
