"""authlib, an OAuth 2.0 client library, against Tessera's token endpoint as any OAuth client
would use it: the endpoint found through RFC 8414 metadata, the refresh_token grant as a public
client, RFC 6749's errors raised as authlib's own.

Needs AUTH_URL (tests/interop/run.sh starts a server and exports it).
"""

import os
import uuid

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.integrations.base_client.errors import OAuthError

AUTH_URL = os.environ["AUTH_URL"].rstrip("/")
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
    assert "refresh_token" in metadata["grant_types_supported"]
    return metadata["token_endpoint"]


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
