#!/usr/bin/env python3
"""Adds to package-lock.json the entries of optional platform packages (other OSes and CPUs) that
`npm install` leaves out when the registry in use does not carry them; without them `npm ci`
refuses the lock file as out of sync. npm skips these entries on this platform. Run after
`npm install` changed the lock file."""
import json
import os

path = os.path.join(os.path.dirname(__file__), "..", "package-lock.json")
lock = json.load(open(path))
packages = lock["packages"]


def platform(name):
    base = name.split("/")[-1]
    os_ = next((o for o in ["android", "darwin", "freebsd", "openbsd", "openharmony", "win32", "netbsd",
                            "sunos", "aix", "linux"] if o in base), None)
    cpu = next((c for c in ["arm64", "x64", "ia32", "loong64", "ppc64", "riscv64", "s390x", "arm"]
                if "-" + c in base), None)
    return ("darwin" if base == "fsevents" else os_), cpu


added = 0
for key, entry in list(packages.items()):
    for dep, version in (entry.get("optionalDependencies") or {}).items():
        if "node_modules/" + dep in packages:
            continue
        os_, cpu = platform(dep)
        new = {"version": version.lstrip("~^"), "optional": True}
        if cpu:
            new["cpu"] = [cpu]
        if os_:
            new["os"] = [os_]
        if "musl" in dep:
            new["libc"] = ["musl"]
        elif "gnu" in dep and os_ == "linux":
            new["libc"] = ["glibc"]
        packages["node_modules/" + dep] = new
        added += 1
lock["packages"] = dict(sorted(packages.items(), key=lambda kv: (kv[0] != "", kv[0])))
with open(path, "w") as f:
    json.dump(lock, f, indent=2)
    f.write("\n")
print(f"complete_lock: {added} entries added")
