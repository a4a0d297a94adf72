// jose as a third-party service that trusts Tessera's tokens through its JWKS alone:
// issuer, jwks_uri and audience come from discovery; RS256 only; typ at+jwt; access tokens only.
// Needs AUTH_URL (tests/interop/run.sh starts a server and exports it).
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";

const AUTH_URL = process.env.AUTH_URL?.replace(/\/$/, "");
const PASSWORD = "Bx7#mq2Lz9Vw";
let discovery, JWKS, pair;

async function postJson(path, body) {
  const response = await fetch(`${AUTH_URL}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  return { status: response.status, body: await response.json() };
}

// What a consumer does with every token; jwtVerify checks signature, alg, typ, iss, aud, exp.
async function verify(token, { audience = discovery.audience } = {}) {
  const { payload, protectedHeader } = await jwtVerify(token, JWKS, {
    issuer: discovery.issuer,
    audience,
    algorithms: ["RS256"],
    typ: "at+jwt",
    requiredClaims: ["exp", "iat", "sub"],
  });
  if (payload.token_type !== "access") throw new Error(`token_type is ${payload.token_type}, not access`);
  return { payload, protectedHeader };
}

// Header or payload replaced, signature kept (or replaced): nothing is re-signed.
function reencode(token, { header, payload, signature } = {}) {
  const [h, p, s] = token.split(".");
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return [header ? b64(header) : h, payload ? b64(payload) : p, signature ?? s].join(".");
}

before(async () => {
  AUTH_URL || assert.fail("AUTH_URL is not set: run tests/interop/run.sh");
  discovery = await (await fetch(`${AUTH_URL}/.well-known/openid-configuration`)).json();
  // No guessed fallback: a consumer can only check aud if discovery publishes it.
  assert.ok(discovery.audience, `discovery has no audience: ${JSON.stringify(discovery)}`);
  JWKS = createRemoteJWKSet(new URL(discovery.jwks_uri));

  const username = `jose_${crypto.randomUUID().slice(0, 12)}`;
  const registered = await postJson("/auth/register/", {
    username, email: `${username}@example.com`, password: PASSWORD, password2: PASSWORD, gst_no: "gst12345",
  });
  assert.equal(registered.status, 201, JSON.stringify(registered.body));
  const obtained = await postJson("/auth/token/", { username, password: PASSWORD });
  assert.equal(obtained.status, 200, JSON.stringify(obtained.body));
  pair = { username, ...obtained.body };
});

test("an access token verifies", async () => {
  const { payload, protectedHeader } = await verify(pair.access);
  assert.equal(protectedHeader.alg, "RS256");
  assert.equal(protectedHeader.typ, "at+jwt");
  assert.ok(protectedHeader.kid);
  assert.equal(payload.iss, discovery.issuer);
  assert.equal(payload.aud, discovery.audience);
  assert.equal(payload.token_type, "access");
  assert.equal(payload.username, pair.username);
  assert.equal(payload.role, "customer");
});

test("an anonymous access token verifies with role anonymous", async () => {
  const anonymous = await postJson("/auth/token/anonymous/");
  assert.equal(anonymous.status, 200, JSON.stringify(anonymous.body));
  const { payload } = await verify(anonymous.body.access);
  assert.equal(payload.role, "anonymous");
});

test("the refresh token is refused", async () => {
  assert.equal(decodeProtectedHeader(pair.refresh).alg, "HS256");
  await assert.rejects(verify(pair.refresh), { code: "ERR_JOSE_ALG_NOT_ALLOWED" });
});

test("a tampered payload is refused", async () => {
  const forged = reencode(pair.access, { payload: { ...decodeJwt(pair.access), role: "admin" } });
  await assert.rejects(verify(forged), { code: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" });
});

test("alg none is refused", async () => {
  const header = { ...decodeProtectedHeader(pair.access), alg: "none" };
  await assert.rejects(verify(reencode(pair.access, { header, signature: "" })), { code: "ERR_JOSE_ALG_NOT_ALLOWED" });
});

test("a wrong audience is refused", async () => {
  await assert.rejects(verify(pair.access, { audience: "other" }), { code: "ERR_JWT_CLAIM_VALIDATION_FAILED", claim: "aud" });
});
