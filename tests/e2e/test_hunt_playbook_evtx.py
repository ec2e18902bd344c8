"""Hunting playbook over the imported Windows attack logs (../shared/corpora/evtx, 277 .evtx files):
`vigil import evtx` takes every file (counts checked against evtxexport), then the playbook hunts
(bitsadmin transfers, children of script hosts, shells with external connections, Run keys into
user-writable paths, LOLBins by count, Security logons from other machines by source address, and
through fields outside the schema: System-integrity Sysmon processes, logons by LogonType) must
return exactly the rows evtx_playbook_expected.py derives
from evtxexport's XML with plain Python, computed at test time. A damaged copy of a log imports its
good records and reports the lost ones with the chunk's offset."""
import collections
import json
import os
import subprocess

from evtx_playbook_expected import QUERIES, ROW_FIELDS, expected
from vigil_e2e import BIN, Vigil, check

expected_rows, files, total_records = expected()
check(len(files) > 250, f"{len(files)} .evtx files in the corpus")
check(all(expected_rows[name] for name in QUERIES), "every playbook question has an answer in the corpus: " +
      ", ".join(f"{n} {len(r)}" for n, r in expected_rows.items()))

with Vigil() as v:
    v.start_server()
    reports = [json.loads(line) for line in v.cli("import", "evtx", *files, "--format", "json").splitlines()]
    check(len(reports) == len(files), f"one report per file ({len(reports)})")
    records = sum(r["records"] for r in reports)
    imported = sum(r["imported"] for r in reports)
    skipped = [reason for r in reports for reason in r["reasons"]]
    print(f"imported {imported} of {records} records from {len(files)} files")
    check(imported == records == total_records and not skipped,
          f"every record imported, as many as evtxexport exports ({total_records}; {skipped[:3]})")

    def hunt(query):
        out = v.cli("hunt", query, "--since", "2000-01-01T00:00:00Z", "--limit", "0", "--format", "json")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    for name, query in QUERIES.items():
        rows = hunt(query)
        got = []
        for row in rows:
            values = []
            for field in ROW_FIELDS[name]:
                value = row.get(field)
                values.append(value[0] if isinstance(value, list) and len(value) == 1 else value)
            got.append(tuple(values))
        got.sort()
        want = expected_rows[name]
        if got != want:
            print(f"  {name}: only Vigil {sorted(set(got) - set(want))[:5]}; only expected {sorted(set(want) - set(got))[:5]}")
        check(got == want, f"{name}: {len(got)} rows == {len(want)} expected (evtxexport + Python)")

    # IOC search on the imported logs: the most queried domain (Sysmon 22 names and Sysmon 3
    # destination host names, subdomains included), counted per host like evtxexport's records
    domains = expected_rows["domains"]
    suffix = collections.Counter(".".join(name.split(".")[-2:]) for _, name in domains if "." in name)
    domain = sorted(suffix.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    want = collections.Counter(host for host, name in domains if name == domain or name.endswith("." + domain))
    out = v.cli("ioc", "find", "domain", domain, "--since", "2000-01-01T00:00:00Z", "--format", "json")
    got = collections.Counter(json.loads(line)["host.name"] for line in out.splitlines() if line.strip())
    check(got == want, f"ioc find domain {domain}: {dict(got)} == {dict(want)} per host")
    table = v.cli("ioc", "find", "domain", domain, "--since", "2000-01-01T00:00:00Z")
    check(all(f"{host}: {n} event(s)" in table for host, n in want.items()),
          f"ioc find groups by host: {[line for line in table.splitlines() if 'event(s)' in line]}")

    # A damaged copy of the largest log: the checksum-failing chunk is reported with its offset and
    # the records it lost; the other records are imported.
    biggest = max(files, key=os.path.getsize)
    data = bytearray(open(biggest, "rb").read())
    for i in range(4096 + 65536 + 0x2000, 4096 + 65536 + 0x3000):
        data[i] ^= 0xA5
    damaged = os.path.join(v.dir, "damaged.evtx")
    open(damaged, "wb").write(data)
    intact = next(r for r, f in zip(reports, files) if f == biggest)
    r = json.loads(v.cli("import", "evtx", damaged, "--format", "json"))
    check(r["records"] == intact["records"] and 0 < r["skipped"] < r["records"] and
          r["imported"] == r["records"] - r["skipped"], f"damaged copy: {r['imported']} of {r['records']} imported")
    check(len(r["reasons"]) == 1 and r["reasons"][0].startswith("chunk 2 (offset 0x11000): event records checksum")
          and r["reasons"][0].endswith(f"{r['skipped']} not read"), f"the loss is located: {r['reasons']}")

    not_evtx = os.path.join(v.dir, "not.evtx")
    open(not_evtx, "w").write("hello")
    p = subprocess.run([f"{BIN}/vigil", "--data-dir", v.dir, "import", "evtx", not_evtx], capture_output=True, text=True)
    check(p.returncode != 0 and "not an EVTX file" in p.stderr, f"not an EVTX file: {p.stderr.strip()}")
