"""`vigil rules test` on the Sigma regression corpus: for every rule -> sample pair, the CLI (offline,
the live matcher) reports the expected number of matches. Floor: the 98 of 101 the library test
reaches (the 3 others are documented in docs/detection.md)."""
import glob
import json
import os
import re
import subprocess

from vigil_e2e import BIN, check

CORPUS = os.path.join(os.path.dirname(__file__), "../../../shared/corpora/sigma")
rule_by_id = {}
for path in glob.glob(os.path.join(CORPUS, "rules*/**/*.yml"), recursive=True):
    m = re.search(r"^id:\s*(\S+)", open(path, encoding="utf-8", errors="replace").read(), re.M)
    if m:
        rule_by_id[m.group(1)] = path

passed, pairs, failures = 0, 0, []
infos = sorted(glob.glob(os.path.join(CORPUS, "regression/**/info.yml"), recursive=True))
for info in infos:
    text = open(info).read()
    rule_id = re.search(r"rule_metadata:\s*\n\s*-\s*id:\s*(\S+)", text).group(1)
    count = re.search(r"match_count:\s*(\d+)", text)
    expected = int(count.group(1)) if count else 1  # a positive test without a count expects one
    samples = glob.glob(os.path.join(os.path.dirname(info), "*.json"))
    if not samples:  # e.g. a Cisco CLI log (.raw): not an event format Vigil imports
        continue
    sample = samples[0]
    pairs += 1
    r = subprocess.run([f"{BIN}/vigil", "rules", "test", rule_by_id[rule_id], "--events", sample, "--format", "json"],
                       capture_output=True, text=True)
    got = json.loads(r.stdout.splitlines()[-1])["matches"] if r.returncode == 0 else None
    if got == expected:
        passed += 1
    else:
        failures.append(f"{os.path.basename(os.path.dirname(info))}: expected {expected}, got {got} {r.stderr.strip()}")
print(f"{passed} of {pairs} pairs with a JSON sample pass ({len(infos)} pairs in all)")
for f in failures:
    print("  " + f)
check(pairs == 101, f"{pairs} pairs with a JSON sample")
check(passed >= 98, f"{passed} >= 98 pairs match their expected count")
