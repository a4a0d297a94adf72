"""authlib, an OAuth 2.0 client library, against Tessera's token endpoint as any OAuth client
would use it: the endpoint found through RFC 8414 metadata, the client_credentials grant for a
service client registered with `tessera clients create` (HTTP Basic and in the body), the
service token used at the customer service, the refresh_token grant as a public client, and
RFC 6749's errors raised as authlib's own.

Needs AUTH_URL, CUSTOMERS_URL, TESSERA_BIN and the server's TESSERA_DATA_DIR (tests/interop/run.sh
starts a server and exports them).
"""

import os
import subprocess
import uuid

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.integrations.base_client.errors import OAuthError

AUTH_URL = os.environ["AUTH_URL"].rstrip("/")
CUSTOMERS_URL = os.environ["CUSTOMERS_URL"].rstrip("/")
PASSWORD = "Bx7#mq2Lz9Vw"


def registered_pair():
    name = "oauth" + uuid.uuid4().hex[:10]
    response = httpx.post(f"{AUTH_URL}/auth/register/", json={
        "username": name, "email": f"{name}@example.com", "gst_no": "gst12345",
        "password": PASSWORD, "password2": PASSWORD,
    })
    assert response.status_code == 201, response.text
    return response.json()["tokens"]


def token_endpoint():
    metadata = httpx.get(f"{AUTH_URL}/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == AUTH_URL
    assert {"client_credentials", "refresh_token"} <= set(metadata["grant_types_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= set(
        metadata["token_endpoint_auth_methods_supported"])
    return metadata["token_endpoint"]


def register_client(scopes):
    """`tessera clients create`, as an operator runs it on the server's database."""
    created = subprocess.run(
        [os.environ["TESSERA_BIN"], "clients", "create",
         "--name", "svc" + uuid.uuid4().hex[:10], "--scopes", scopes],
        check=True, capture_output=True, text=True).stdout
    printed = dict(line.split(":", 1) for line in created.splitlines()
                   if line.startswith(("client_id:", "client_secret:")))
    return printed["client_id"].strip(), printed["client_secret"].strip()


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_a_service_client_gets_a_token_and_uses_its_scopes(method):
    client_id, secret = register_client("customers:read customers:write")
    with OAuth2Client(client_id=client_id, client_secret=secret,
                      token_endpoint_auth_method=method) as client:
        token = client.fetch_token(token_endpoint(), grant_type="client_credentials")
        assert token["token_type"] == "Bearer"
        assert token["scope"] == "customers:read customers:write"
        assert "refresh_token" not in token
        created = client.post(f"{CUSTOMERS_URL}/customers/", json={
            "name": "Acme " + method, "mobile": "9876543210", "customer_type": "retail"})
        assert created.status_code == 201, created.text
        assert created.json()["created_by"] == client_id
        assert client.get(f"{CUSTOMERS_URL}/customers/").status_code == 200

        narrow = client.fetch_token(token_endpoint(), grant_type="client_credentials",
                                    scope="customers:read")
        assert narrow["scope"] == "customers:read"
        refused = client.post(f"{CUSTOMERS_URL}/customers/", json={
            "name": "Other", "mobile": "9876543211", "customer_type": "retail"})
        assert refused.status_code == 403, refused.text

        with pytest.raises(OAuthError) as unknown:
            client.fetch_token(token_endpoint(), grant_type="client_credentials",
                               scope="customers:delete")
        assert unknown.value.error == "invalid_scope"


def test_a_wrong_secret_is_invalid_client():
    client_id, _ = register_client("customers:read")
    for method in ("client_secret_basic", "client_secret_post"):
        with OAuth2Client(client_id=client_id, client_secret="not-the-secret",
                          token_endpoint_auth_method=method) as client:
            with pytest.raises(OAuthError) as refused:
                client.fetch_token(token_endpoint(), grant_type="client_credentials")
            assert refused.value.error == "invalid_client", method


def test_a_public_client_refreshes_and_reuse_is_refused():
    pair = registered_pair()
    endpoint = token_endpoint()
    with OAuth2Client(client_id="interop", token_endpoint_auth_method="none") as client:
        token = client.refresh_token(endpoint, refresh_token=pair["refresh"])
        assert token["token_type"] == "Bearer"
        assert 0 < token["expires_in"] <= 300
        assert token["refresh_token"] != pair["refresh"]
        me = httpx.get(f"{AUTH_URL}/auth/me/",
                       headers={"Authorization": f"Bearer {token['access_token']}"})
        assert me.status_code == 200, me.text

        # The successor renews again; the spent token is theft (RFC 9700) and ends the session.
        client.refresh_token(endpoint, refresh_token=token["refresh_token"])
        with pytest.raises(OAuthError) as refused:
            client.refresh_token(endpoint, refresh_token=pair["refresh"])
        assert refused.value.error == "invalid_grant"


def test_client_credentials_of_no_registered_client_are_invalid_client():
    pair = registered_pair()
    for method in ("client_secret_basic", "client_secret_post"):
        with OAuth2Client(client_id="billing", client_secret="not-registered",
                          token_endpoint_auth_method=method) as client:
            with pytest.raises(OAuthError) as refused:
                client.refresh_token(token_endpoint(), refresh_token=pair["refresh"])
            assert refused.value.error == "invalid_client", method
