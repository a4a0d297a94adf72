"""Each seed's client, as its README describes it: only that seed's paths, body fields and
encodings (JSON, urlencoded, or Postman's "form data", which is multipart), and the response
fields it reads. Values (usernames, passwords) are this run's own: the seeds' examples are
passwords Django's validators refuse.

    python3 tests/seeds/clients.py SEED AUTH_URL CUSTOMERS_URL ADMIN_USERNAME ADMIN_PASSWORD

Standard library only. Exits non-zero at the first step that does not answer as the seed says.
"""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid


def call(method, url, *, json_body=None, form=None, multipart=None, bearer=None):
    """One request; returns (status, decoded JSON body or None)."""
    headers = {}
    data = None
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif multipart is not None:
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in multipart.items()
        ]
        data = ("".join(parts) + f"--{boundary}--\r\n").encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    elif method == "POST":
        data = b""
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    return status, (json.loads(raw) if raw else None)


def expect(step, answer, status, check=lambda body: True):
    got, body = answer
    if got != status or not check(body):
        sys.exit(f"{step}: expected {status}, got {got}: {body}")
    print(f"  ok  {step}: {got}")
    return body


def unique(prefix):
    return f"{prefix}{uuid.uuid4().hex[:8]}"


PASSWORD = "Seed-client-Passw0rd!"
has_pair = lambda body: bool(body.get("access")) and bool(body.get("refresh"))  # noqa: E731


def seed_000(auth, customers, admin):
    """Customer API with anonymous tokens: JSON bodies, a captcha object, PATCH with the id."""
    username = unique("prince.")
    expect(
        "register without gst_no is refused, naming it",
        call("POST", f"{auth}/register/", json_body={
            "username": username, "email": f"{username}@example.com", "password": PASSWORD,
        }),
        400, lambda body: "gst_no" in body,
    )
    expect(
        "register",
        call("POST", f"{auth}/register/", json_body={
            "username": username, "email": f"{username}@example.com", "password": PASSWORD,
            "gst_no": "gst12345", "captcha": {"secret": "---secret_key---", "response": "client key"},
        }),
        201,
    )
    pair = expect("gettoken", call("POST", f"{auth}/gettoken/", json_body={
        "username": username, "password": PASSWORD}), 200, has_pair)
    pair = expect("refreshtoken", call("POST", f"{auth}/refreshtoken/", json_body={
        "refresh": pair["refresh"]}), 200, has_pair)
    expect("verifytoken", call("POST", f"{auth}/verifytoken/", json_body={
        "token": pair["access"]}), 200)
    access = pair["access"]
    expect("customerapi POST without a field is refused, naming it",
           call("POST", f"{customers}/customerapi/", bearer=access,
                json_body={"name": "Asha Traders", "mobile": "9876543210"}),
           400, lambda body: "customer_type" in body)
    created = expect("customerapi POST", call(
        "POST", f"{customers}/customerapi/", bearer=access,
        json_body={"name": "Asha Traders", "mobile": "9876543210", "customer_type": "retail"}),
        201, lambda body: body.get("name") == "Asha Traders")
    expect("customerapi GET", call("GET", f"{customers}/customerapi/", bearer=access), 200,
           lambda body: any(c["id"] == created["id"] for c in body["results"]))
    expect("customerapi PATCH without the id is refused",
           call("PATCH", f"{customers}/customerapi/", bearer=access,
                json_body={"mobile": "9876500000"}),
           400, lambda body: "id" in body)
    expect("customerapi PATCH with the id", call(
        "PATCH", f"{customers}/customerapi/", bearer=access,
        json_body={"id": created["id"], "mobile": "9876500000"}),
        200, lambda body: body.get("mobile") == "9876500000")
    anonymous = expect("gettoken_anonymous", call("POST", f"{auth}/gettoken_anonymous/"), 200,
                       has_pair)
    anonymous = expect("refreshtoken_anonymous", call(
        "POST", f"{auth}/refreshtoken_anonymous/", json_body={"refresh": anonymous["refresh"]}),
        200, has_pair)
    expect("access GET, anonymous", call("GET", f"{customers}/access/",
                                         bearer=anonymous["access"]), 200)
    expect("access POST, anonymous, is read-only", call(
        "POST", f"{customers}/access/", bearer=anonymous["access"],
        json_body={"name": "X", "mobile": "9876543210", "customer_type": "retail"}),
        403, lambda body: set(body) == {"detail"})


def seed_001(auth, customers, admin):
    """httpie (JSON) against getJWTToken/, refreshJWTToken/, verifyJWTToken/."""
    username, password = admin
    pair = expect("getJWTToken", call("POST", f"{auth}/getJWTToken/", json_body={
        "username": username, "password": password}), 200, has_pair)
    expect("verifyJWTToken, valid", call("POST", f"{auth}/verifyJWTToken/", json_body={
        "token": pair["access"]}), 200, lambda body: body == {})
    expect("verifyJWTToken, invalid", call("POST", f"{auth}/verifyJWTToken/", json_body={
        "token": pair["access"][:-4] + "AAAA"}),
        401, lambda body: body == {"detail": "Token is invalid or expired",
                                   "code": "token_not_valid"})
    expect("refreshJWTToken", call("POST", f"{auth}/refreshJWTToken/", json_body={
        "refresh": pair["refresh"]}), 200, lambda body: bool(body.get("access")))
    expect("getJWTToken, wrong password", call("POST", f"{auth}/getJWTToken/", json_body={
        "username": username, "password": "wrong"}),
        401, lambda body: body == {"detail": "No active account found with the given credentials"})


def seed_002(auth, customers, admin):
    """Postman: register and token as form data, refresh x-www-form-urlencoded."""
    username = unique("demo")
    registered = expect("register", call("POST", f"{auth}/userprofiles/register/", multipart={
        "username": username, "password": PASSWORD, "password2": PASSWORD,
        "email": f"{username}@gmail.com"}),
        201, lambda body: body["username"] == username and has_pair(body["token"]))
    expect("register again: DRF's field message", call(
        "POST", f"{auth}/userprofiles/register/", multipart={
            "username": username, "password": PASSWORD, "password2": PASSWORD,
            "email": unique("other") + "@gmail.com"}),
        400, lambda body: body == {"username": ["A user with that username already exists."]})
    expect("api/token", call("POST", f"{auth}/userprofiles/api/token/", multipart={
        "username": username, "password": PASSWORD}), 200, has_pair)
    # ROTATE_REFRESH_TOKENS = True: the refresh answers a new refresh token too.
    renewed = expect("api/token/refresh", call(
        "POST", f"{auth}/userprofiles/api/token/refresh/",
        form={"refresh": registered["token"]["refresh"]}), 200, has_pair)
    expect("api/token/refresh with the new one", call(
        "POST", f"{auth}/userprofiles/api/token/refresh/",
        form={"refresh": renewed["refresh"]}), 200, has_pair)


def seed_003(auth, customers, admin):
    """JSON under /auth/: register with a role, token, refresh, blacklist, view-accounts."""
    username = unique("selva_")
    expect("register an admin without an admin's token is refused", call(
        "POST", f"{auth}/auth/register/", json_body={
            "username": username, "email": f"{username}@admin.com", "password": PASSWORD,
            "role": "admin"}),
        403, lambda body: set(body) == {"detail"})
    expect("register a customer", call("POST", f"{auth}/auth/register/", json_body={
        "username": username, "email": f"{username}@admin.com", "password": PASSWORD,
        "role": "customer"}), 201)
    pair = expect("token", call("POST", f"{auth}/auth/token/", json_body={
        "username": username, "password": PASSWORD}), 200, has_pair)
    pair = expect("token/refresh", call("POST", f"{auth}/auth/token/refresh/", json_body={
        "refresh": pair["refresh"]}), 200, has_pair)
    expect("view-accounts as a customer", call(
        "GET", f"{auth}/auth/view-accounts/", bearer=pair["access"]),
        403, lambda body: set(body) == {"detail"})
    expect("token/blacklist", call("POST", f"{auth}/auth/token/blacklist/", json_body={
        "refresh": pair["refresh"]}), 200)
    expect("token/refresh after logout", call("POST", f"{auth}/auth/token/refresh/", json_body={
        "refresh": pair["refresh"]}), 401, lambda body: body["code"] == "token_not_valid")
    admin_pair = expect("token as the admin", call("POST", f"{auth}/auth/token/", json_body={
        "username": admin[0], "password": admin[1]}), 200, has_pair)
    expect("view-accounts as the admin", call(
        "GET", f"{auth}/auth/view-accounts/", bearer=admin_pair["access"]),
        200, lambda body: any(user["username"] == username for user in body["results"]))


def seed_004(auth, customers, admin):
    """Postman form data: register, api/token, user_detail, api/token/refresh."""
    username = unique("user")
    expect("register", call("POST", f"{auth}/register/", multipart={
        "username": username, "password": PASSWORD, "is_active": "1"}), 201)
    pair = expect("api/token", call("POST", f"{auth}/api/token/", multipart={
        "username": username, "password": PASSWORD}), 200, has_pair)
    expect("user_detail", call("GET", f"{auth}/user_detail/", bearer=pair["access"]), 200,
           lambda body: body["username"] == username)
    expect("user_detail without a token", call("GET", f"{auth}/user_detail/"), 401,
           lambda body: body == {"detail": "Authentication credentials were not provided."})
    # The seed's form lists username, password and `refresh_token`; simplejwt's TokenRefreshView
    # (and Tessera) read the token from `refresh`, and ignore the rest.
    expect("api/token/refresh", call("POST", f"{auth}/api/token/refresh/", multipart={
        "username": username, "password": PASSWORD, "refresh": pair["refresh"]}),
        200, lambda body: bool(body.get("access")))


if __name__ == "__main__":
    seed, auth, customers, admin_username, admin_password = sys.argv[1:6]
    globals()[f"seed_{seed}"](auth, customers, (admin_username, admin_password))
