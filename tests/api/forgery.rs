use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use rsa::{BigUint, RsaPublicKey, pkcs8::EncodePublicKey};
use serde_json::{Value, json};
use tessera::domain::Role;

use crate::{
    helpers::{Backend, TestApp, TestDatabase, peek, status_and_json, valid_registration},
    on_both_backends,
};

on_both_backends!(forged_tokens_are_refused_wherever_tokens_are_read);

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// The classic attacks, each built from a genuine admin token.
pub async fn forgeries(app: &TestApp, genuine: &str, refresh: &str) -> Vec<(&'static str, String)> {
    let (header, claims) = peek(genuine);
    let parts: Vec<&str> = genuine.split('.').collect();
    let jwks = app.get_json("/.well-known/jwks.json").await;
    let decode_b64 = |s: &str| BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(s).unwrap());
    let public_pem = RsaPublicKey::new(
        decode_b64(jwks["keys"][0]["n"].as_str().unwrap()),
        decode_b64(jwks["keys"][0]["e"].as_str().unwrap()),
    )
    .unwrap()
    .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
    .unwrap();
    let mut hs256_header = Header::new(Algorithm::HS256);
    hs256_header.kid = header["kid"].as_str().map(str::to_owned);
    hs256_header.typ = Some("at+jwt".into());
    let mut none_header = header.clone();
    none_header["alg"] = json!("none");
    let mut tampered = claims.clone();
    tampered["sub"] = json!("1");
    tampered["username"] = json!("someone-else");
    let mut unknown_kid = header.clone();
    unknown_kid["kid"] = json!("not-a-published-kid");
    // Genuinely signed by the active key, but expired a second ago.
    let mut expired = claims.clone();
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 1);
    let expired_input = format!("{}.{}", parts[0], b64(&expired));
    let expired_signature = app
        .state
        .keys
        .current()
        .active()
        .sign_rs256(expired_input.as_bytes());
    vec![
        ("alg none", format!("{}.{}.", b64(&none_header), parts[1])),
        (
            "HS256 keyed by the public key",
            encode(
                &hs256_header,
                &claims,
                &EncodingKey::from_secret(public_pem.as_bytes()),
            )
            .unwrap(),
        ),
        ("stripped signature", format!("{}.{}.", parts[0], parts[1])),
        (
            "tampered payload",
            format!("{}.{}.{}", parts[0], b64(&tampered), parts[2]),
        ),
        (
            "unknown kid",
            format!("{}.{}.{}", b64(&unknown_kid), parts[1], parts[2]),
        ),
        (
            "expired",
            format!(
                "{expired_input}.{}",
                URL_SAFE_NO_PAD.encode(expired_signature)
            ),
        ),
        ("refresh token as access", refresh.to_owned()),
        ("garbage", "a.b.c".to_owned()),
    ]
}

/// Refresh tokens are HS256 under a server secret: each attack keeps the genuine family.
pub fn refresh_forgeries(app: &TestApp, genuine: &str) -> Vec<(&'static str, String)> {
    let (header, claims) = peek(genuine);
    let parts: Vec<&str> = genuine.split('.').collect();
    let mut none_header = header.clone();
    none_header["alg"] = json!("none");
    let mut longer = claims.clone();
    longer["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400 * 365);
    // RS256 under our own private key: a genuine signature, the wrong algorithm for a refresh token.
    let mut rs256_header = header.clone();
    rs256_header["alg"] = json!("RS256");
    let rs256_input = format!("{}.{}", b64(&rs256_header), parts[1]);
    let rs256_signature = app
        .state
        .keys
        .current()
        .active()
        .sign_rs256(rs256_input.as_bytes());
    vec![
        (
            "refresh with alg none",
            format!("{}.{}.", b64(&none_header), parts[1]),
        ),
        (
            "refresh with a stripped signature",
            format!("{}.{}.", parts[0], parts[1]),
        ),
        (
            "refresh with a longer life",
            format!("{}.{}.{}", parts[0], b64(&longer), parts[2]),
        ),
        (
            "refresh signed RS256",
            format!("{rs256_input}.{}", URL_SAFE_NO_PAD.encode(rs256_signature)),
        ),
        (
            "refresh HS256 under a guessed secret",
            encode(
                &Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(b"secret"),
            )
            .unwrap(),
        ),
    ]
}

async fn forged_tokens_are_refused_wherever_tokens_are_read(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let admin = app.create_user(Role::Admin).await;

    for (attack, token) in forgeries(&app, &admin.access, &admin.refresh).await {
        for path in ["/auth/me/", "/auth/accounts/"] {
            let (status, error) = status_and_json(app.get_with_bearer(path, &token).await).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{attack} at {path}");
            assert_eq!(error["code"], "token_not_valid", "{attack} at {path}");
        }
        let mut body = valid_registration();
        body["role"] = json!("admin");
        let escalation = app
            .client
            .post(app.url("/auth/register/"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            escalation.status(),
            StatusCode::FORBIDDEN,
            "{attack} at register"
        );
    }
    for (attack, token) in forgeries(&app, &admin.access, &admin.refresh).await {
        if attack != "refresh token as access" {
            assert_eq!(
                app.post_verify(&token).await.status(),
                StatusCode::UNAUTHORIZED,
                "{attack} at verify"
            );
        }
    }
    for (attack, token) in refresh_forgeries(&app, &admin.refresh) {
        for response in [
            app.post_refresh(&token).await,
            app.post_verify(&token).await,
            app.post_blacklist(&token).await,
        ] {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{attack}");
        }
    }
    assert_eq!(
        app.post_refresh(&admin.access).await.status(),
        StatusCode::UNAUTHORIZED,
        "access as refresh"
    );
    assert_eq!(
        app.get_me(&admin.access).await.status(),
        StatusCode::OK,
        "the genuine token still works"
    );
    assert_eq!(
        app.post_refresh(&admin.refresh).await.status(),
        StatusCode::OK,
        "the genuine refresh token still works"
    );
}
