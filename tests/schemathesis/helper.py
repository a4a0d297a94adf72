"""Helpers for tests/schemathesis/run.sh (standard library only).

    helper.py setup AUTH_URL CUSTOMERS_URL ADMIN_USERNAME
        with the admin's password in $FUZZ_ADMIN_PASSWORD: registers a customer account, gives
        it a few customers to work on, and prints the admin's access token, then the
        customer account's, one per line
    helper.py excludes OPENAPI_URL             prints the --exclude-path options for /metrics and
                                               /docs, if the document lists them
    helper.py summary LABEL=REPORT_DIR ...      one block per schemathesis run, from its JSON report
"""

import glob
import json
import os
import sys
import urllib.error
import urllib.request
import uuid

EXCLUDED_PREFIXES = ("/metrics", "/docs")


SEEDED_CUSTOMERS = 20


def post_json(url, body, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def access_token(auth_url, username, password):
    status, body = post_json(f"{auth_url}/auth/token/", {"username": username, "password": password})
    if status != 200:
        sys.exit(f"POST /auth/token/ for {username}: {status} {body}")
    return body["access"]


def setup(auth_url, customers_url, admin_username):
    # The body tests/api/helpers.rs valid_registration() sends, with a fresh name.
    tag = uuid.uuid4().hex[:10]
    registration = {
        "username": f"fuzz{tag}",
        "email": f"fuzz{tag}@example.com",
        "password": "Bx7#mq2Lz9Vw",
        "password2": "Bx7#mq2Lz9Vw",
        "gst_no": "gst12345",
    }
    status, body = post_json(f"{auth_url}/auth/register/", registration)
    if status != 201:
        sys.exit(f"POST /auth/register/: {status} {body}")
    admin = access_token(auth_url, admin_username, os.environ["FUZZ_ADMIN_PASSWORD"])
    customer = access_token(auth_url, registration["username"], registration["password"])
    # Rows for GET/PATCH/DELETE /customers/{id} to find (ids 1..N on a fresh database), whose
    # responses also show schemathesis what valid fields look like: without them nearly every
    # generated POST /customers is rejected and the {id} operations only ever see 404.
    for i in range(1, SEEDED_CUSTOMERS + 1):
        body = {"name": f"Seeded customer {i}", "mobile": f"+9198765{i:05d}", "customer_type": "retail"}
        status, answer = post_json(f"{customers_url}/customers/", body, customer)
        if status != 201:
            sys.exit(f"POST /customers/: {status} {answer}")
    print(admin)
    print(customer)


def excludes(openapi_url):
    with urllib.request.urlopen(openapi_url, timeout=30) as response:
        paths = json.load(response)["paths"]
    for prefix in EXCLUDED_PREFIXES:
        for path in paths:
            if path == prefix or path.startswith(prefix + "/"):
                print("--exclude-path")
                print(path)


def summary(runs):
    """Prints each run's failures and data warnings; exits 1 if any run failed or is missing."""
    failed = []
    for run in runs:
        label, _, report_dir = run.partition("=")
        reports = sorted(glob.glob(os.path.join(report_dir, "json-*.json")))
        print(f"---- {label}")
        if not reports:
            print("   no report: schemathesis did not finish")
            failed.append(label)
            continue
        with open(reports[-1]) as f:
            report = json.load(f)
        cases = report["test_cases"]
        print(
            f"   {cases['generated']} test cases, {cases['with_failures']} failing,"
            f" {cases['unique_failures']} unique failures, {cases['errored']} errored"
            f" (operations tested: {report['operations']['tested']}/{report['operations']['selected']})"
        )
        for failure in report["failures"]:
            print(f"   FAIL {failure['code']} {failure['title']} (x{failure['count']}): {', '.join(failure['operations'])}")
        for error in report.get("errors", []):
            print(f"   ERROR {json.dumps(error)[:300]}")
        warnings = report.get("warnings", {})
        for kind, text in (
            ("validation_mismatch", "mostly rejected generated data (schema looser than validation)"),
            ("missing_test_data", "mostly 404 (no data to reach)"),
            ("low_valid_rate", "low rate of valid responses"),
        ):
            if warnings.get(kind):
                print(f"   warning: {text}: {', '.join(warnings[kind])}")
        if report["exit_code"] != 0 or report["failures"] or report.get("errors"):
            failed.append(label)
    print(f"schemathesis: {len(runs) - len(failed)} passed, {len(failed)} failed")
    if failed:
        print(f"schemathesis: FAILED: {', '.join(failed)}")
        sys.exit(1)


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"setup": setup, "excludes": excludes, "summary": lambda *runs: summary(runs)}[command](*args)
