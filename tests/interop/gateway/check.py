"""The gateway checks, run by tests/interop/gateway/run.sh against nginx configured by
examples/gateway/nginx.conf. Standard library only.

Environment: AUTH_URL, CUSTOMERS_URL (the live Tessera), GATEWAY_URL (nginx), DOWN_GATEWAY_URL
(the same config with Tessera unreachable), RECORDER_URL (nginx's customers upstream, see
recorder.py), ENVOY_PYTHON and ENVOY_YAML (for validate_envoy.py).
Prints one line per check and closes with "N passed, N failed"; exits 1 if any failed.
"""

import base64
import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import time
import traceback
import urllib.parse

AUTH_URL = os.environ["AUTH_URL"].rstrip("/")
CUSTOMERS_URL = os.environ["CUSTOMERS_URL"].rstrip("/")
GATEWAY_URL = os.environ["GATEWAY_URL"].rstrip("/")
RECORDER_URL = os.environ["RECORDER_URL"].rstrip("/")
HERE = os.path.dirname(os.path.abspath(__file__))
DOWN_GATEWAY_URL = os.environ["DOWN_GATEWAY_URL"].rstrip("/")  # the same nginx, Tessera unreachable


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value), repeats kept
        self.body = body

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def header(self, name):
        values = self.header_all(name)
        return values[0] if values else None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


def request(method, url, headers=(), body=None):
    """One HTTP request, headers as a list of pairs (so a name may repeat), no redirects."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    try:
        path = parts.path + ("?" + parts.query if parts.query else "")
        conn.putrequest(method, path)
        headers = list(headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers.append(("Content-Type", "application/json"))
        if data is not None or method in ("POST", "PUT", "PATCH"):
            headers.append(("Content-Length", str(len(data or b""))))
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders(data)
        resp = conn.getresponse()
        return Response(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


def bearer(token):
    return [("Authorization", f"Bearer {token}")]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims(token):
    return json.loads(unb64url(token.split(".")[1]))


def brief(entry):
    """A recorded request (or list of them) with its token shortened, for messages."""
    if isinstance(entry, list):
        return [brief(e) for e in entry]
    auth = entry.get("authorization")
    if isinstance(auth, str) and len(auth) > 30:
        entry = dict(entry, authorization=auth[:20] + "...")
    return entry


def recorded():
    resp = request("GET", RECORDER_URL + "/__recorder__")
    assert resp.status == 200, resp
    return resp.json()["requests"]


def settled_count(base_url, route_prefix, before, expected):
    """The counter's growth since `before`, once it reaches `expected` (a request is counted
    just after its response went out, so the last one may lag a moment), or after 3 s."""
    deadline = time.monotonic() + 3
    while True:
        delta = request_counts(base_url, route_prefix) - before
        if delta >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    time.sleep(0.2)  # anything more that was on its way
    return request_counts(base_url, route_prefix) - before


def request_counts(base_url, route_prefix):
    """Sum of tessera_http_requests_total over the routes starting with route_prefix."""
    resp = request("GET", base_url + "/metrics")
    assert resp.status == 200, f"{base_url}/metrics: {resp}"
    total = 0
    # Labels may hold braces themselves (route="/customers/{id}").
    pattern = re.compile(r"^tessera_http_requests_total\{(.*)\}\s+(\d+)$", re.M)
    for labels, value in pattern.findall(resp.body.decode()):
        route = re.search(r'route="([^"]*)"', labels)
        if route and route.group(1).startswith(route_prefix):
            total += int(value)
    return total


# ---- accounts and tokens ----------------------------------------------------------------

username = "gw_" + secrets.token_hex(5)
password = "Gw!" + secrets.token_urlsafe(12)


def setup():
    resp = request(
        "POST",
        AUTH_URL + "/auth/register/",
        body={
            "username": username,
            "email": f"{username}@example.com",
            "gst_no": "gst12345",
            "password": password,
            "password2": password,
        },
    )
    assert resp.status == 201, f"register: {resp}"
    resp = request("POST", AUTH_URL + "/auth/token/", body={"username": username, "password": password})
    assert resp.status == 200, f"login: {resp}"
    pair = resp.json()
    resp = request("POST", AUTH_URL + "/auth/token/anonymous/")
    assert resp.status in (200, 201), f"anonymous: {resp}"
    return pair, resp.json()


# ---- checks -----------------------------------------------------------------------------

results = []


def check(name):
    def run(fn):
        try:
            fn()
        except Exception as error:  # noqa: BLE001 - every failure is reported, then counted
            results.append(False)
            detail = str(error) if isinstance(error, AssertionError) else traceback.format_exc()
            print(f"not ok - {name}\n    {detail.strip()}", flush=True)
        else:
            results.append(True)
            print(f"ok - {name}", flush=True)
        return fn

    return run


def main():
    try:
        pair, anon = setup()
    except Exception as error:  # noqa: BLE001
        print(f"not ok - set-up: register, log in, anonymous pair at {AUTH_URL}\n    {error}")
        print("0 passed, 1 failed")
        return 1
    access, refresh = pair["access"], pair["refresh"]
    anon_access = anon["access"]
    me = claims(access)
    anon_claims = claims(anon_access)

    customers_before = request_counts(CUSTOMERS_URL, "/customers")
    forward_before = request_counts(AUTH_URL, "/auth/forward")
    seen_before = len(recorded())
    allowed = 0  # requests that must reach the customer service
    gated = 0  # requests nginx must have shown to /auth/forward/

    def through(method, path, headers=(), body=None):
        nonlocal gated
        gated += 1
        return request(method, GATEWAY_URL + path, headers, body)

    def last_seen():
        seen = recorded()
        assert len(seen) > seen_before, "the customer service was not reached"
        return seen[-1]

    def blocked(method, path, headers=(), body=None):
        """A request nginx must answer itself: the customer service never sees it."""
        count = len(recorded())
        resp = through(method, path, headers, body)
        reached = recorded()[count:]
        assert not reached, f"{method} {path} reached the customer service: {brief(reached)}"
        return resp

    @check("customer token: GET /customers/ through nginx is 200, with X-Auth-* from Tessera")
    def _():
        nonlocal allowed
        resp = through("GET", "/customers/", bearer(access))
        allowed += 1
        assert resp.status == 200, resp
        assert "results" in resp.json(), resp
        got = last_seen()
        assert got["method"] == "GET" and got["path"] == "/customers/", brief(got)
        assert got["x-auth-subject"] == me["sub"], brief(got)
        assert got["x-auth-role"] == "customer", brief(got)
        assert got["x-auth-username"] == username, brief(got)
        assert got["authorization"] == f"Bearer {access}", "the token must pass on unchanged"

    @check("client-sent X-Auth-* headers are replaced, not passed on or doubled")
    def _():
        nonlocal allowed
        spoof = [
            ("X-Auth-Role", "admin"),
            ("x-auth-role", "staff"),
            ("X-Auth-Subject", "1"),
            ("X-Auth-Username", "root"),
        ]
        resp = through("GET", "/customers/?page=1", bearer(access) + spoof)
        allowed += 1
        assert resp.status == 200, resp
        got = last_seen()
        assert got["x-auth-role"] == "customer", brief(got)
        assert got["x-auth-subject"] == me["sub"], brief(got)
        assert got["x-auth-username"] == username, brief(got)

    created = {}

    @check("customer token: POST /customers/ through nginx is 201")
    def _():
        nonlocal allowed
        resp = through(
            "POST",
            "/customers/",
            bearer(access),
            {"name": "Gateway Stores", "mobile": "9876543210", "customer_type": "retail"},
        )
        allowed += 1
        assert resp.status == 201, resp
        created.update(resp.json())
        assert str(created.get("created_by")) == me["sub"], created
        got = last_seen()
        assert got["method"] == "POST" and got["x-auth-role"] == "customer", brief(got)

    @check("customer token: GET /customers/{id}/ (a sub-path) through nginx is 200")
    def _():
        nonlocal allowed
        assert created, "no customer was created"
        resp = through("GET", f"/customers/{created['id']}/", bearer(access))
        allowed += 1
        assert resp.status == 200, resp
        assert resp.json()["id"] == created["id"], resp

    @check("anonymous token: GET is 200; no X-Auth-Username, even when the client sends one")
    def _():
        nonlocal allowed
        spoof = [("X-Auth-Username", "admin"), ("X_Auth_Username", "admin"), ("X_Auth_Role", "admin")]
        resp = through("GET", "/customers/", bearer(anon_access) + spoof)
        allowed += 1
        assert resp.status == 200, resp
        got = last_seen()
        assert got["x-auth-role"] == "anonymous", brief(got)
        assert got["x-auth-subject"] == anon_claims["sub"], brief(got)
        assert got["x-auth-username"] is None, brief(got)
        # nginx drops headers with underscores, which WSGI would read as X-Auth-*.
        expected = sorted([["X-Auth-Role", "anonymous"], ["X-Auth-Subject", anon_claims["sub"]]])
        assert got["x-auth-*"] == expected, brief(got)

    def assert_gateway_403(resp):
        assert resp.status == 403, resp
        assert resp.json().get("code") == "permission_denied", resp

    @check("anonymous token: POST is 403 at the gateway")
    def _():
        resp = blocked(
            "POST",
            "/customers/",
            bearer(anon_access),
            {"name": "Nope", "mobile": "9876543210", "customer_type": "retail"},
        )
        assert_gateway_403(resp)

    @check("anonymous token: POST with a forged X-Forwarded-Method: GET is still 403")
    def _():
        resp = blocked(
            "POST",
            "/customers/",
            bearer(anon_access) + [("X-Forwarded-Method", "GET"), ("X-Original-Method", "GET")],
            {"name": "Nope", "mobile": "9876543210", "customer_type": "retail"},
        )
        assert_gateway_403(resp)

    @check("anonymous token: DELETE and PATCH are 403 at the gateway")
    def _():
        assert_gateway_403(blocked("DELETE", "/customers/1/", bearer(anon_access)))
        assert_gateway_403(blocked("PATCH", "/customers/1/", bearer(anon_access), {"name": "x"}))

    header, payload, signature = access.split(".")
    tampered_sig = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    expired_payload = dict(me, exp=1, iat=0)
    none_header = {"alg": "none", "typ": "at+jwt"}
    bad_tokens = {
        "no Authorization header": [],
        "an empty bearer token": [("Authorization", "Bearer ")],
        "a garbage token": bearer("not-a-jwt"),
        "a tampered signature": bearer(f"{header}.{payload}.{tampered_sig}"),
        "a tampered payload (role admin)": bearer(
            f"{header}.{b64url(json.dumps(dict(me, role='admin')).encode())}.{signature}"
        ),
        "an expired-looking token (exp rewritten)": bearer(
            f"{header}.{b64url(json.dumps(expired_payload).encode())}.{signature}"
        ),
        'an alg "none" token': bearer(f"{b64url(json.dumps(none_header).encode())}.{payload}."),
        "the refresh token": bearer(refresh),
        "the token under another scheme (Token ...)": [("Authorization", f"Token {access}")],
    }
    UNCREDENTIALED = {
        "no Authorization header",
        "an empty bearer token",
        "the token under another scheme (Token ...)",
    }
    for what, headers in bad_tokens.items():

        @check(f"{what}: 401 at the gateway, with WWW-Authenticate")
        def _(headers=headers):
            for method, body in (("GET", None), ("POST", {"name": "x"})):
                resp = blocked(method, "/customers/", headers, body)
                assert resp.status == 401, f"{method}: {resp}"
                challenges = resp.header_all("WWW-Authenticate")
                assert len(challenges) == 1, f"{method}: WWW-Authenticate {challenges}"
                assert challenges[0].startswith("Bearer "), challenges
                # RFC 6750 §3.1: no error code when the request sent no bearer credentials.
                if what in UNCREDENTIALED:
                    assert "error=" not in challenges[0], challenges
                else:
                    assert 'error="invalid_token"' in challenges[0], challenges
                assert resp.json().get("code") == "not_authenticated", resp
                assert resp.header("Content-Type") == "application/json", resp.headers

    @check("Tessera unreachable: 503 at the gateway, nothing let through")
    def _():
        count = len(recorded())
        resp = request("GET", DOWN_GATEWAY_URL + "/customers/", bearer(access))
        assert len(recorded()) == count, "the request reached the customer service"
        assert resp.status == 503, resp
        assert resp.json().get("code") == "service_unavailable", resp
        assert resp.header("Retry-After"), resp.headers

    @check("only the allowed requests reached the customer service (recorder and its /metrics)")
    def _():
        seen = [r for r in recorded()[seen_before:] if r["path"].startswith("/customers")]
        assert len(seen) == allowed, f"{len(seen)} reached it, {allowed} allowed: {brief(seen)}"
        delta = settled_count(CUSTOMERS_URL, "/customers", customers_before, allowed)
        assert delta == allowed, f"customer service counted {delta} requests, {allowed} allowed"

    @check("nginx asked Tessera's /auth/forward/ once per /customers/ request")
    def _():
        delta = settled_count(AUTH_URL, "/auth/forward", forward_before, gated)
        assert delta == gated, f"/auth/forward/ counted {delta}, nginx got {gated}"

    @check("the token endpoints and the JWKS are public through nginx; /auth/forward/ is not")
    def _():
        resp = request("GET", GATEWAY_URL + "/.well-known/jwks.json")
        assert resp.status == 200 and resp.json()["keys"], resp
        resp = request(
            "POST", GATEWAY_URL + "/auth/token/", body={"username": username, "password": password}
        )
        assert resp.status == 200 and "access" in resp.json(), resp
        for path in ("/auth/forward/", "/auth/forward"):
            resp = request("GET", GATEWAY_URL + path, bearer(access))
            assert resp.status == 404, f"{path}: {resp}"
        resp = request("GET", GATEWAY_URL + "/metrics")
        assert resp.status == 404, resp

    @check("examples/gateway/envoy.yaml is a valid Envoy v3 config (API protos and their rules)")
    def _():
        run = subprocess.run(
            [os.environ["ENVOY_PYTHON"], os.path.join(HERE, "validate_envoy.py"), os.environ["ENVOY_YAML"]],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, (run.stdout + run.stderr).strip()[-2000:]

    passed = results.count(True)
    failed = results.count(False)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
