"""Enrollment from the command line: a token works once, a used/expired/forged token is refused
with a clear message, and a pin that does not match the server's CA is refused."""
import os
import time

from vigil_e2e import Vigil, check

with Vigil() as v:
    v.start_server()
    token = v.token()
    secret, fingerprint = token.split(".")
    check(len(secret) == 64 and len(fingerprint) == 64, "token is SECRET.CA_FINGERPRINT")

    r = v.enroll(os.path.join(v.dir, "a1"), token)
    check(r.returncode == 0 and "enrolled as agt-" in r.stdout, f"first use enrolls: {r.stdout.strip()}")
    r = v.enroll(os.path.join(v.dir, "a2"), token)
    check(r.returncode != 0 and "already used" in r.stderr, f"second use refused: {r.stderr.strip()}")

    short = v.token("1s")
    time.sleep(1.5)
    r = v.enroll(os.path.join(v.dir, "a3"), short)
    check(r.returncode != 0 and "expired" in r.stderr, f"expired token refused: {r.stderr.strip()}")

    r = v.enroll(os.path.join(v.dir, "a4"), secret + "." + "0" * 64)
    check(r.returncode != 0 and "fingerprint" in r.stderr, f"wrong CA pin refused: {r.stderr.strip()}")

    r = v.enroll(os.path.join(v.dir, "a5"), "not-a-token")
    check(r.returncode == 2 and "malformed token" in r.stderr, f"malformed token: {r.stderr.strip()}")
    check(not os.path.exists(os.path.join(v.dir, "a2", "agent.json")), "refused agents keep no identity")
