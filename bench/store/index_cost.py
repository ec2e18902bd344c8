#!/usr/bin/env python3
"""Ingest cost of each B-tree index of the store, one at a time.

Generates realistic telemetry with bench_store_ingest (no indexes), reads the store's own index
definitions from a small run with everything on (so the list is always the store's current one),
then for every (table, index) copies that table's rows into a fresh database holding only that
index, in transactions sized like the store's (each 1,000-event batch carries ~400 process, ~300
network, ~150 dns and ~150 file rows), and reports the CPU time per row over the same copy without
the index. CPU time (process_time), so a loaded machine inflates the numbers less than wall time
would. The postings (text and term) indexes are not SQLite indexes: their cost is what
`bench_store_ingest --no-indexes` adds to its baseline.

  python3 bench/store/index_cost.py --bin build/bin --events 1000000
"""
import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

SHARE = {"process": 400, "network": 300, "dns": 150, "file": 150}


def generate(bench, events, directory, indexes):
    args = [bench, "--events", str(events), "--sync", "normal", "--no-baseline", "--dir",
            directory, "--keep"]
    if not indexes:
        args += ["--no-indexes", "--no-postings"]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return os.path.join(directory, "full", "vigil.db")


def copy_cost(src, scratch, table, rows, ddl=None):
    """CPU µs per row to copy `table` from src into a fresh db with only `ddl`."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(scratch + suffix):
            os.remove(scratch + suffix)
    c = sqlite3.connect(scratch, isolation_level=None)
    for pragma in ("page_size=8192", "journal_mode=wal", "synchronous=normal",
                   "cache_size=-262144", "wal_autocheckpoint=4000"):
        c.execute("PRAGMA " + pragma)
    c.execute("ATTACH ? AS s", (src,))
    c.execute(f"CREATE TABLE {table} AS SELECT * FROM s.{table} WHERE 0")
    if ddl:
        c.execute(ddl)
    step = SHARE[table]
    start = time.process_time()
    for lo in range(1, rows + 1, step):
        c.execute("BEGIN")
        c.execute(f"INSERT INTO main.{table} SELECT * FROM s.{table} WHERE rowid >= ? AND rowid < ?",
                  (lo, lo + step))
        c.execute("COMMIT")
    cpu = time.process_time() - start
    c.close()
    return cpu / rows * 1e6


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default="build/bin", help="directory holding bench_store_ingest")
    ap.add_argument("--events", type=int, default=1000000, help="events to generate")
    args = ap.parse_args()
    bench = os.path.join(args.bin, "bench_store_ingest")
    with tempfile.TemporaryDirectory(prefix="vigil-index-cost-") as tmp:
        src = generate(bench, args.events, os.path.join(tmp, "rows"), False)
        defs = generate(bench, 2000, os.path.join(tmp, "defs"), True)
        d = sqlite3.connect(defs)
        indexes = d.execute("SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index' "
                            "AND sql IS NOT NULL").fetchall()
        d.close()
        s = sqlite3.connect(src)
        counts = {t: s.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in SHARE}
        s.close()
        total = sum(counts.values())
        scratch = os.path.join(tmp, "scratch.db")
        print(f"{args.events} events; CPU µs per row of the table and per event of the mix")
        print(f"{'table / index':48s} {'µs/row':>8s} {'µs/event':>9s}")
        grand = 0.0
        for table in SHARE:
            base = copy_cost(src, scratch, table, counts[table])
            print(f"{table} ({counts[table] / total:.0%} of events), no index: {base:.2f} µs/row")
            for (t, name, sql) in indexes:
                if t != table:
                    continue
                cost = copy_cost(src, scratch, table, counts[table], sql) - base
                per_event = cost * counts[table] / total
                grand += per_event
                print(f"  {name:46s} {cost:8.2f} {per_event:9.2f}", flush=True)
        print(f"sum over the store's B-tree indexes: {grand:.1f} µs/event")
    return 0


if __name__ == "__main__":
    sys.exit(main())
