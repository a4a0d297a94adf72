"""The fleet's checks (tests/fleet/run.sh starts the fleet and exports FLEET_URLS, FLEET_BIN and
the settings `tessera keys rotate` needs). Python's standard library only."""

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

URLS = os.environ["FLEET_URLS"].split()
PASSWORD = "Fleet-Passw0rd!x"


def call(base, path, body=None, token=None):
    """(status, headers, JSON body or None) of one request."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method="POST" if body is not None else "GET")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return status, headers, parsed


def check(condition, message):
    if not condition:
        print(f"fleet: FAILED: {message}")
        sys.exit(1)


def register():
    name = "fleet" + uuid.uuid4().hex[:10]
    status, _, body = call(URLS[0], "/auth/register/", {
        "username": name, "email": f"{name}@example.com",
        "password": PASSWORD, "password2": PASSWORD})
    check(status == 201, f"register: {status} {body}")
    return name, body["tokens"]


def kid(token):
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


def refresh_race():
    _, pair = register()
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(
            lambda i: call(URLS[i % 3], "/auth/token/refresh/", {"refresh": pair["refresh"]}),
            range(50)))
    statuses = sorted(status for status, _, _ in answers)
    winners = [body for status, _, body in answers if status == 200]
    check(len(winners) == 1, f"50 refreshes of one token: {len(winners)} winners ({statuses})")
    check(all(status == 401 for status, _, _ in answers if status != 200),
          f"the losers are refused, nothing else: {statuses}")
    # The losers were reuse: the family is revoked, the winner's successor too, everywhere.
    for base in URLS:
        status, _, _ = call(base, "/auth/token/refresh/", {"refresh": winners[0]["refresh"]})
        check(status == 401, f"the family is revoked on {base}: {status}")
    print("fleet: a 50-way refresh race over three instances had one winner; the reuse revoked the family")


def login_limit_is_the_fleets():
    name, _ = register()
    for i in range(5):
        status, _, body = call(URLS[i % 3], "/auth/token/", {"username": name, "password": "guess"})
        check(status == 401, f"guess {i + 1} of 5 on {URLS[i % 3]}: {status} {body}")
    for base in URLS:
        status, headers, _ = call(base, "/auth/token/", {"username": name, "password": PASSWORD})
        check(status == 429 and headers.get("Retry-After"),
              f"the sixth login for {name} on {base}: {status}")
    print("fleet: a login limit of 5/m per username held across the three instances")


def logout_is_seen_everywhere():
    _, pair = register()
    status, _, _ = call(URLS[0], "/auth/token/blacklist/", {"refresh": pair["refresh"]})
    check(status == 200, f"logout on the first instance: {status}")
    for base in URLS[1:]:
        status, _, _ = call(base, "/auth/token/verify/", {"token": pair["refresh"]})
        check(status == 401, f"a logged-out refresh token on {base}: {status}")
        status, _, _ = call(base, "/auth/token/refresh/", {"refresh": pair["refresh"]})
        check(status == 401, f"refreshing a logged-out token on {base}: {status}")
    print("fleet: a logout on one instance is seen by the others")


def key_rotation_reaches_everyone():
    _, pair = register()
    old = kid(pair["access"])
    subprocess.run([os.environ["FLEET_BIN"], "keys", "rotate"], check=True,
                   capture_output=True, text=True)
    deadline = time.time() + 15
    pending = set(URLS)
    while pending and time.time() < deadline:
        for base in list(pending):
            status, _, fresh = register_on(base)
            check(status == 201, f"register on {base}: {status} {fresh}")
            if kid(fresh["tokens"]["access"]) != old:
                pending.discard(base)
        time.sleep(0.5)
    check(not pending, f"the new key signs on every instance within 15 s; not on {sorted(pending)}")
    for base in URLS:
        status, _, _ = call(base, "/auth/token/verify/", {"token": pair["access"]})
        check(status == 200, f"a token of the old key still verifies on {base}: {status}")
    print("fleet: keys rotate reached all three instances without a restart")


def register_on(base):
    name = "fleet" + uuid.uuid4().hex[:10]
    return call(base, "/auth/register/", {
        "username": name, "email": f"{name}@example.com",
        "password": PASSWORD, "password2": PASSWORD})


def a_lost_master_is_503_then_recovers():
    # 30 sessions: all of them missing the lost master's third of the slots is a 1 in 190 000 chance.
    pairs = [register()[1] for _ in range(30)]
    masters = subprocess.run(["bash", "scripts/redis-cluster.sh", "masters"], check=True,
                             capture_output=True, text=True).stdout.split()
    check(len(masters) == 3, f"three masters: {masters}")
    lost = masters[1]
    subprocess.run(["bash", "scripts/redis-cluster.sh", "kill", lost], check=True)
    # And no node holds the scripts: they must get them with the call (EVAL), not from a
    # SCRIPT LOAD that the dead node would fail for everyone.
    for port in range(7401, 7407):
        subprocess.run(["redis-cli", "-p", str(port), "script", "flush"], capture_output=True)
    try:
        # Before its replica takes over (cluster-node-timeout is 2 s), its slots are down.
        outcomes = []
        for i, pair in enumerate(pairs):
            status, headers, body = call(URLS[i % 3], "/auth/token/refresh/", {"refresh": pair["refresh"]})
            outcomes.append(status)
            check(status != 500, f"a refresh with a master down answered 500: {body}")
            if status == 503:
                check(headers.get("Retry-After"), "a 503 says when to retry")
            if status == 200:
                pairs[i] = body
            else:
                check(status == 503, f"a refresh with a master down: {status} {body}")
        check(503 in outcomes, f"sessions on the lost master's slots are 503: {outcomes}")
        check(200 in outcomes, f"sessions on the other masters go on: {outcomes}")
        for base in URLS:
            status, _, body = call(base, "/readyz")
            check(status == 200, f"one master down leaves {base} ready: {status} {body}")
        # Its replica takes over; every session recovers, no instance restarted.
        recover(pairs)
    finally:
        subprocess.run(["bash", "scripts/redis-cluster.sh", "revive", lost], check=True)
    print(f"fleet: with a Redis master down, refreshes were {sorted(set(outcomes))} (never 500); "
          "all recovered through its replica without a restart")


def recover(pairs):
    deadline = time.time() + 20
    waiting = dict(enumerate(pairs))
    while waiting and time.time() < deadline:
        for i, pair in list(waiting.items()):
            status, _, body = call(URLS[i % 3], "/auth/token/refresh/", {"refresh": pair["refresh"]})
            check(status in (200, 503), f"recovering: {status} {body}")
            if status == 200:
                del waiting[i]
        time.sleep(0.5)
    check(not waiting, f"{len(waiting)} sessions still unavailable 20 s after their master died")


refresh_race()
login_limit_is_the_fleets()
logout_is_seen_everywhere()
key_rotation_reaches_everyone()
a_lost_master_is_503_then_recovers()
print("fleet: all checks passed")
