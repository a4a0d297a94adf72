"""A Python client generated from openapi/auth.json and openapi/customers.json drives the API.

The clients are generated afresh on every run with openapi-python-client, so a change to a
committed document that the generator rejects, or that no longer matches what the server
sends, fails here. The test calls only generated functions and models, as a user would.

Needs AUTH_URL and CUSTOMERS_URL (tests/interop/run.sh starts a server and exports them).
"""

import datetime
import importlib
import os
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[3]
CONFIG = Path(__file__).with_name("openapi-python-client.yaml")
PASSWORD = "Bx7#mq2Lz9Vw"


def generate(document: Path, out: Path):
    result = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(document),
         "--meta", "none", "--output-path", str(out), "--overwrite", "--config", str(CONFIG)],
        capture_output=True,
        text=True,
    )
    output = result.stdout + result.stderr
    # A warning means part of the document was skipped: fail rather than test half a client.
    assert result.returncode == 0 and "Warning" not in output, f"{document.name}:\n{output}"


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    scratch = os.environ.get("INTEROP_TMP")
    out = Path(scratch) / "python-clients" if scratch else tmp_path_factory.mktemp("python-clients")
    generate(ROOT / "openapi" / "auth.json", out / "tessera_auth_client")
    generate(ROOT / "openapi" / "customers.json", out / "tessera_customers_client")
    sys.path.insert(0, str(out))
    load = importlib.import_module
    return SimpleNamespace(
        auth=load("tessera_auth_client"),
        auth_models=load("tessera_auth_client.models"),
        register=load("tessera_auth_client.api.accounts.register"),
        obtain=load("tessera_auth_client.api.tokens.obtain_token_pair"),
        refresh=load("tessera_auth_client.api.tokens.refresh_token"),
        list_sessions=load("tessera_auth_client.api.sessions.list_sessions"),
        end_session=load("tessera_auth_client.api.sessions.end_session"),
        logout_all=load("tessera_auth_client.api.sessions.logout_all"),
        change_password=load("tessera_auth_client.api.sessions.change_password"),
        customers=load("tessera_customers_client"),
        customer_models=load("tessera_customers_client.models"),
        create_customer=load("tessera_customers_client.api.customers.create_customer"),
        list_customers=load("tessera_customers_client.api.customers.list_customers"),
    )


@pytest.fixture(scope="module")
def auth_client(gen):
    return gen.auth.Client(base_url=os.environ["AUTH_URL"], raise_on_unexpected_status=True)


def test_register_obtain_refresh_then_create_and_list_customers(gen, auth_client):
    m = gen.auth_models
    username = f"genpy_{uuid.uuid4().hex[:12]}"

    registered = gen.register.sync_detailed(
        client=auth_client,
        body=m.RegisterRequest(username=username, email=f"{username}@example.com", password=PASSWORD,
                               password2=PASSWORD, gst_no="gst12345"),
    )
    assert registered.status_code == 201, registered.content
    assert isinstance(registered.parsed, m.Registered)
    assert registered.parsed.username == username
    assert registered.parsed.role == "customer"
    assert isinstance(registered.parsed.date_joined, datetime.datetime)

    obtained = gen.obtain.sync_detailed(client=auth_client, body=m.ObtainRequest(username=username, password=PASSWORD))
    assert obtained.status_code == 200, obtained.content
    assert isinstance(obtained.parsed, m.TokenPair)

    refreshed = gen.refresh.sync_detailed(client=auth_client, body=m.RefreshRequest(refresh=obtained.parsed.refresh))
    assert refreshed.status_code == 200, refreshed.content
    assert isinstance(refreshed.parsed, m.Refreshed)
    assert isinstance(refreshed.parsed.refresh, str) and refreshed.parsed.refresh != obtained.parsed.refresh

    c = gen.customer_models
    customers = gen.customers.AuthenticatedClient(
        base_url=os.environ["CUSTOMERS_URL"], token=refreshed.parsed.access, raise_on_unexpected_status=True
    )
    created = gen.create_customer.sync_detailed(
        client=customers, body=c.CreateCustomerRequest(name="Asha Stores", mobile="9876543210", customer_type="retail")
    )
    assert created.status_code == 201, created.content
    customer = created.parsed
    assert isinstance(customer, c.Customer)
    assert (customer.name, customer.mobile, customer.customer_type) == ("Asha Stores", "9876543210", "retail")
    assert isinstance(customer.created_at, datetime.datetime)

    listed = gen.list_customers.sync_detailed(client=customers, page=1, page_size=100)
    assert listed.status_code == 200, listed.content
    assert isinstance(listed.parsed, c.CustomerPage)
    assert listed.parsed.count >= 1
    assert all(isinstance(row, c.Customer) for row in listed.parsed.results)
    assert customer.id in [row.id for row in listed.parsed.results]


def test_wrong_password_parses_as_typed_error(gen, auth_client):
    m = gen.auth_models
    username = f"genpy_{uuid.uuid4().hex[:12]}"
    registered = gen.register.sync_detailed(
        client=auth_client,
        body=m.RegisterRequest(username=username, email=f"{username}@example.com", password=PASSWORD, gst_no="gst12345"),
    )
    assert registered.status_code == 201, registered.content

    response = gen.obtain.sync_detailed(
        client=auth_client, body=m.ObtainRequest(username=username, password=PASSWORD + "x")
    )
    assert response.status_code == 401, response.content
    assert isinstance(response.parsed, m.ErrorBody)
    assert response.parsed.code == "no_active_account"


def test_sessions_listed_ended_and_a_password_changed_through_the_generated_client(gen, auth_client):
    m = gen.auth_models
    username = f"genpy_{uuid.uuid4().hex[:12]}"
    registered = gen.register.sync_detailed(
        client=auth_client,
        body=m.RegisterRequest(username=username, email=f"{username}@example.com", password=PASSWORD, gst_no="gst12345"),
    )
    assert registered.status_code == 201, registered.content
    pairs = [
        gen.obtain.sync_detailed(client=auth_client, body=m.ObtainRequest(username=username, password=PASSWORD)).parsed
        for _ in range(3)
    ]
    me = gen.auth.AuthenticatedClient(
        base_url=os.environ["AUTH_URL"], token=pairs[0].access, raise_on_unexpected_status=True
    )

    listed = gen.list_sessions.sync_detailed(client=me)
    assert listed.status_code == 200, listed.content
    assert all(isinstance(session, m.Session) for session in listed.parsed)
    assert len(listed.parsed) == 4  # registration's session and three logins
    current = [session for session in listed.parsed if session.current]
    assert len(current) == 1 and isinstance(current[0].created_at, datetime.datetime)
    assert current[0].refreshed_at is None

    other = next(session for session in listed.parsed if not session.current)
    ended = gen.end_session.sync_detailed(client=me, id=other.id)
    assert ended.status_code == 204, ended.content
    again = gen.end_session.sync_detailed(
        client=gen.auth.AuthenticatedClient(base_url=os.environ["AUTH_URL"], token=pairs[0].access), id=other.id
    )
    assert again.status_code == 404 and isinstance(again.parsed, m.ErrorBody)

    logged_out = gen.logout_all.sync_detailed(client=me, keep_current=True)
    assert logged_out.status_code == 200, logged_out.content
    assert isinstance(logged_out.parsed, m.LoggedOut) and logged_out.parsed.ended == 2
    assert [session.current for session in gen.list_sessions.sync_detailed(client=me).parsed] == [True]

    new_password = PASSWORD + "-2nd"
    changed = gen.change_password.sync_detailed(
        client=me,
        body=m.PasswordChangeRequest(old_password=PASSWORD, new_password=new_password, new_password2=new_password),
    )
    assert changed.status_code == 200, changed.content
    assert isinstance(changed.parsed, m.TokenPair)
    refreshed = gen.refresh.sync_detailed(client=auth_client, body=m.RefreshRequest(refresh=changed.parsed.refresh))
    assert refreshed.status_code == 200, refreshed.content
