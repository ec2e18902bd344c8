"""File response: quarantine moves a file into the agent's root-only vault where it cannot run,
quarantine-list shows it (id, path, sha256), restore puts it back byte-identical with its owner,
mode and times, deleting from the vault takes the admin role. block-hash denies execution (EPERM)
of a binary by content, under any path or name; the denial is an event in the store; unblock-hash
lets it run again."""
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile

from vigil_e2e import BIN, Vigil, check, unique_binary, wait_for


def run_exe(path):
    try:
        r = subprocess.run([path], capture_output=True, timeout=10)
        return r.returncode
    except PermissionError:
        return "EPERM"
    except OSError as e:
        return f"errno {e.errno}"


work = tempfile.mkdtemp(prefix="vigil-e2e-files-")
try:
    with Vigil() as v:
        state, _ = v.start_host("--sensor", "none")
        host = v.hosts()[0]["agent.id"]

        def act(*args, token=None):
            cmd = [f"{BIN}/vigil", "--data-dir", v.dir] + (["--token", token] if token else [])
            return subprocess.run(cmd + ["action", *args, "--reason", "e2e"], capture_output=True, text=True,
                                  timeout=120)

        # --- quarantine round trip
        os.chmod(work, 0o755)
        path = os.path.join(work, "dropper.sh")
        content = b"#!/bin/sh\necho dropped\n" + os.urandom(4096)
        with open(path, "wb") as f:
            f.write(content)
        os.chown(path, 65534, 65534)
        os.chmod(path, 0o754)
        os.utime(path, ns=(1_700_000_000_123_456_789, 1_700_000_100_987_654_321))
        sha = hashlib.sha256(content).hexdigest()
        r = act("quarantine", host, path)
        check(r.returncode == 0 and "done" in r.stdout, f"quarantine done: {r.stdout.strip()} {r.stderr.strip()}")
        check(not os.path.exists(path), "the file left its place")
        r = act("quarantine-list", host, "--format", "json")
        entries = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        check(len(entries) == 1 and entries[0]["path"] == path and entries[0]["sha256"] == sha and entries[0]["id"],
              f"quarantine-list shows id, path and sha256: {entries}")
        qid = entries[0]["id"]
        vault = os.path.join(state, "quarantine")
        vst = os.stat(vault)
        check(stat.S_IMODE(vst.st_mode) == 0o700 and vst.st_uid == 0, "the vault is root-only (0700)")
        copy = os.path.join(vault, qid + ".bin")
        cst = os.stat(copy)
        check(stat.S_IMODE(cst.st_mode) == 0o400, "the vault copy is mode 0400")
        check(open(copy, "rb").read() != content, "the vault copy is not the original bytes (zstd-wrapped)")
        check(run_exe(copy) != 0, f"the vault copy cannot be executed ({run_exe(copy)})")

        r = act("restore", host, qid)
        check(r.returncode == 0 and "done" in r.stdout, f"restore done: {r.stdout.strip()} {r.stderr.strip()}")
        st = os.stat(path)
        check(open(path, "rb").read() == content, "restored byte-identical")
        check(stat.S_IMODE(st.st_mode) == 0o754 and st.st_uid == 65534 and st.st_gid == 65534,
              f"mode and owner restored: {oct(st.st_mode)} {st.st_uid}:{st.st_gid}")
        check(st.st_mtime_ns == 1_700_000_100_987_654_321, f"mtime restored: {st.st_mtime_ns}")

        # Deleting from the vault is an admin action.
        r = act("quarantine", host, path)
        qid = json.loads(act("quarantine-list", host, "--format", "json").stdout.splitlines()[0])["id"]
        analyst = subprocess.run([f"{BIN}/vigil-server", "api-token", "create", "--name", "ann", "--role", "analyst",
                                  "--data-dir", v.dir], capture_output=True, text=True, check=True).stdout.strip()
        r = act("quarantine-delete", host, qid, token=analyst)
        check(r.returncode == 1 and "admin" in r.stderr, f"an analyst cannot delete from the vault: {r.stderr.strip()}")
        r = act("quarantine-delete", host, qid)
        check(r.returncode == 0 and not os.path.exists(os.path.join(vault, qid + ".bin")), "an admin can")

        # --- block-hash: a binary unique to this run (a copy of true with random bytes appended)
        exe = os.path.join(work, "tool")
        exe_sha = unique_binary(exe)
        check(run_exe(exe) == 0, "the binary runs before the block")
        r = act("block-hash", exe_sha, "--hosts", host)
        check(r.returncode == 0 and "done" in r.stdout, f"block-hash done: {r.stdout.strip()} {r.stderr.strip()}")
        check(run_exe(exe) == "EPERM", "blocked: exec fails with EPERM")
        other = os.path.join(work, "sub", "innocent-name")
        os.makedirs(os.path.dirname(other))
        shutil.copy(exe, other)
        check(run_exe(other) == "EPERM", "a copy under another path and name: EPERM")
        moved = os.path.join(work, "renamed")
        os.rename(other, moved)
        check(run_exe(moved) == "EPERM", "renamed: EPERM")
        check(run_exe("/bin/true") == 0, "other binaries run")

        # The fast path (root-only-writable files found allowed are not asked about again) must not
        # outlive what it was decided on: (1) an allowed file modified into the blocked content,
        # (2) an allowed file whose hash is blocked afterwards.
        morph = os.path.join(work, "morph")
        shutil.copy("/bin/true", morph)
        os.chmod(morph, 0o755)
        check(run_exe(morph) == 0 and run_exe(morph) == 0, "an allowed root-owned binary runs (twice)")
        with open(morph, "r+b") as f:
            f.write(open(exe, "rb").read())
        check(hashlib.sha256(open(morph, "rb").read()).hexdigest() == exe_sha, "morph now has the blocked content")
        check(run_exe(morph) == "EPERM", "modified into the blocked content after it ran: EPERM")
        late = os.path.join(work, "late")
        late_sha = unique_binary(late)
        check(run_exe(late) == 0 and run_exe(late) == 0, "another binary runs while the first is blocked")
        r = act("block-hash", late_sha, "--hosts", host)
        check(r.returncode == 0 and run_exe(late) == "EPERM", "blocked after it ran: EPERM")
        r = act("unblock-hash", late_sha, "--hosts", host)
        check(r.returncode == 0 and run_exe(late) == 0, "unblocked again: it runs")

        r = act("unblock-hash", exe_sha, "--hosts", host)
        check(r.returncode == 0 and run_exe(exe) == 0 and run_exe(moved) == 0, "unblocked: it runs again")

        def denials():
            return [e for e in v.events("--category", "process", "--since", "10m", "--limit", "1000")
                    if e.get("event.action") == "exec_denied"]
        found = wait_for(lambda: (lambda d: d if len(d) >= 5 else None)(denials()), 15, "5 exec_denied events")
        check(all(e.get("process.hash.sha256") in (exe_sha, late_sha) for e in found), "denial events carry the sha256")
        check({e.get("process.executable") for e in found} >= {exe, moved},
              f"denial events name the paths: {sorted({e.get('process.executable') for e in found})}")
        check(all(e.get("event.type") == "denied" for e in found), "event.type denied")
finally:
    shutil.rmtree(work, ignore_errors=True)
