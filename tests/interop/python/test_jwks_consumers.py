"""PyJWT as a third-party service that trusts Tessera's tokens through its JWKS alone.

The consumer below is what the README's "Use from another service" asks of any JOSE library:
read issuer, jwks_uri and audience from discovery, pick the key by `kid`, accept RS256 only,
check `iss` and `aud`, and take only access tokens (`typ: at+jwt`, `token_type: access`).
The same code must then refuse everything that is not a live access token of this issuer.

Expiry is not checked here: an expired token cannot be made without the private key or
without waiting out the lifetime; the Rust tests cover it.

Needs AUTH_URL (tests/interop/run.sh starts a server and exports it).
"""

import base64
import hashlib
import hmac
import json
import os
import uuid

import httpx
import jwt
import pytest

AUTH_URL = os.environ["AUTH_URL"].rstrip("/")
PASSWORD = "Bx7#mq2Lz9Vw"


class Consumer:
    """A resource server's token check, written as one would with PyJWT and nothing else."""

    def __init__(self, discovery, audience=None, issuer=None):
        self.jwks = jwt.PyJWKClient(discovery["jwks_uri"])
        self.issuer = issuer or discovery["issuer"]
        self.audience = audience or discovery["audience"]

    def verify(self, token):
        key = self.jwks.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],  # never what the token's header asks for
            audience=self.audience,
            issuer=self.issuer,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
        require_access_token(jwt.get_unverified_header(token), claims)
        return claims


def require_access_token(header, claims):
    """RFC 9068: a resource server takes access tokens only, not refresh or ID tokens."""
    if header.get("typ") != "at+jwt":
        raise jwt.InvalidTokenError(f"typ is {header.get('typ')!r}, not 'at+jwt'")
    if claims.get("token_type") != "access":
        raise jwt.InvalidTokenError(f"token_type is {claims.get('token_type')!r}, not 'access'")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def reencode(token, header=None, claims=None, signature=None):
    """The token with its header, claims or signature replaced, and nothing re-signed."""
    h, c, s = token.split(".")
    if header is not None:
        h = b64url(json.dumps(header).encode())
    if claims is not None:
        c = b64url(json.dumps(claims).encode())
    if signature is not None:
        s = signature
    return f"{h}.{c}.{s}"


@pytest.fixture(scope="module")
def discovery():
    doc = httpx.get(f"{AUTH_URL}/.well-known/openid-configuration").raise_for_status().json()
    # No fallback to a guessed audience: a consumer can only check `aud` if discovery says it.
    assert "audience" in doc, f"discovery has no 'audience' field: {doc}"
    return doc


@pytest.fixture(scope="module")
def consumer(discovery):
    return Consumer(discovery)


@pytest.fixture(scope="module")
def pair():
    """A new customer's token pair, from register and then obtain (username + password)."""
    username = f"pyjwt_{uuid.uuid4().hex[:12]}"
    registered = httpx.post(
        f"{AUTH_URL}/auth/register/",
        json={
            "username": username,
            "email": f"{username}@example.com",
            "password": PASSWORD,
            "password2": PASSWORD,
            "gst_no": "gst12345",
        },
    )
    assert registered.status_code == 201, registered.text
    obtained = httpx.post(f"{AUTH_URL}/auth/token/", data={"username": username, "password": PASSWORD})
    assert obtained.status_code == 200, obtained.text
    return {"username": username, **obtained.json()}


def test_access_token_verifies(consumer, discovery, pair):
    claims = consumer.verify(pair["access"])
    header = jwt.get_unverified_header(pair["access"])
    assert header["alg"] == "RS256"
    assert header["typ"] == "at+jwt"
    assert header["kid"]
    assert claims["token_type"] == "access"
    assert claims["iss"] == discovery["issuer"]
    assert claims["aud"] == discovery["audience"]
    assert claims["username"] == pair["username"]
    assert claims["role"] == "customer"
    assert claims["sub"] == str(claims["user_id"])
    assert claims["exp"] > claims["iat"]
    for name in ("jti", "client_id"):
        assert claims[name], name


def test_access_token_carries_session_id(consumer, pair):
    # sid: the refresh family, so a service can tie an access token to its session.
    assert consumer.verify(pair["access"]).get("sid"), "access token has no 'sid' claim"


def test_anonymous_token_verifies_with_role_anonymous(consumer):
    response = httpx.post(f"{AUTH_URL}/auth/token/anonymous/")
    assert response.status_code == 200, response.text
    claims = consumer.verify(response.json()["access"])
    assert claims["role"] == "anonymous"
    assert claims["token_type"] == "access"


def test_refresh_token_is_refused(consumer, pair):
    with pytest.raises(jwt.PyJWTError):
        consumer.verify(pair["refresh"])


def test_refresh_token_is_refused_by_the_algorithm_allowlist(consumer, pair):
    # Even handed the issuer's RSA key, RS256-only decoding refuses the HS256 refresh token.
    key = consumer.jwks.get_signing_key_from_jwt(pair["access"])
    assert jwt.get_unverified_header(pair["refresh"])["alg"] == "HS256"
    with pytest.raises(jwt.InvalidAlgorithmError):
        jwt.decode(pair["refresh"], key, algorithms=["RS256"], options={"verify_aud": False})


def test_access_token_check_refuses_refresh_token_shape(pair):
    # The consumer's own typ / token_type checks, on the real tokens' header and claims.
    access = (jwt.get_unverified_header(pair["access"]), jwt.decode(pair["access"], options={"verify_signature": False}))
    refresh = (jwt.get_unverified_header(pair["refresh"]), jwt.decode(pair["refresh"], options={"verify_signature": False}))
    require_access_token(*access)
    assert refresh[1]["token_type"] == "refresh"
    with pytest.raises(jwt.InvalidTokenError, match="typ"):
        require_access_token(refresh[0], access[1])
    with pytest.raises(jwt.InvalidTokenError, match="token_type"):
        require_access_token(access[0], refresh[1])


def test_tampered_payload_is_refused(consumer, pair):
    claims = jwt.decode(pair["access"], options={"verify_signature": False})
    forged = reencode(pair["access"], claims={**claims, "role": "admin"})
    with pytest.raises(jwt.InvalidSignatureError):
        consumer.verify(forged)


def test_alg_none_is_refused(consumer, pair):
    header = jwt.get_unverified_header(pair["access"])
    forged = reencode(pair["access"], header={**header, "alg": "none"}, signature="")
    with pytest.raises(jwt.PyJWTError):
        consumer.verify(forged)


def test_hs256_signed_with_the_public_key_is_refused(consumer, pair):
    # Algorithm confusion: HMAC keyed with the published RSA key, which anyone can fetch.
    from cryptography.hazmat.primitives import serialization

    key = consumer.jwks.get_signing_key_from_jwt(pair["access"]).key
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {**jwt.get_unverified_header(pair["access"]), "alg": "HS256"}
    unsigned = reencode(pair["access"], header=header).rsplit(".", 1)[0]
    signature = b64url(hmac.new(pem, unsigned.encode(), hashlib.sha256).digest())
    with pytest.raises(jwt.PyJWTError):
        consumer.verify(f"{unsigned}.{signature}")


def test_wrong_audience_is_refused(discovery, pair):
    with pytest.raises(jwt.InvalidAudienceError):
        Consumer(discovery, audience="other").verify(pair["access"])


def test_wrong_issuer_is_refused(discovery, pair):
    with pytest.raises(jwt.InvalidIssuerError):
        Consumer(discovery, issuer="https://issuer.example.com").verify(pair["access"])
