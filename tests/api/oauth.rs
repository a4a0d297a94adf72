//! The OAuth 2.0 token endpoint: RFC 6749's form in, its answers and errors out, with the same
//! rotation and reuse detection as simplejwt's refresh.

use reqwest::{
    StatusCode,
    header::{CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE},
};
use serde_json::{Value, json};
use tessera::domain::Role;

use crate::helpers::{Backend, TestApp, TestDatabase, test_settings};

const TOKEN: &str = "/auth/oauth/token/";

#[tokio::test]
async fn the_refresh_token_grant_rotates_and_detects_reuse() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let user = app.create_user(Role::Customer).await;

    let (status, headers, body) = app
        .post_oauth_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &user.refresh),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    assert_eq!(headers[PRAGMA], "no-cache");
    assert_eq!(body["token_type"], "Bearer");
    let lifetime = app.settings.lifetimes.access.as_secs() as i64;
    let expires_in = body["expires_in"].as_i64().unwrap();
    assert!((lifetime - 1..=lifetime).contains(&expires_in), "{body}");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(app.get_me(access).await.status(), StatusCode::OK);
    let successor = body["refresh_token"].as_str().unwrap().to_owned();

    // The spent token again: theft, by RFC 9700. The session is revoked, successor and all.
    let (status, headers, body) = app
        .post_oauth_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &user.refresh),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let (status, _, body) = app
        .post_oauth_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &successor),
        ])
        .await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
    );
    app.stop().await;
}

#[tokio::test]
async fn every_rfc_6749_error_is_answered_as_the_rfc_says() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let user = app.create_user(Role::Customer).await;
    let refresh = user.refresh.as_str();

    for (form, error) in [
        (vec![("refresh_token", refresh)], "invalid_request"),
        (vec![("grant_type", "refresh_token")], "invalid_request"),
        (
            vec![
                ("grant_type", "password"),
                ("username", "u"),
                ("password", "p"),
            ],
            "unsupported_grant_type",
        ),
        (
            vec![("grant_type", "authorization_code"), ("code", "c")],
            "unsupported_grant_type",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("scope", "customers:read"),
            ],
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "not-a-token"),
            ],
            "invalid_grant",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", "x"),
                ("refresh_token", refresh),
            ],
            "invalid_request",
        ),
    ] {
        let (status, _, body) = app.post_oauth_token(&form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}: {body}");
        assert_eq!(body["error"], error, "{form:?}: {body}");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
    }

    // Client credentials, when no client is registered with them, or none are given where the
    // grant needs them.
    for form in [
        vec![("grant_type", "client_credentials")],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "billing"),
        ],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "billing"),
            ("client_secret", "s"),
        ],
        vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "billing"),
            ("client_secret", "s"),
        ],
    ] {
        let (status, headers, body) = app.post_oauth_token(&form).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{form:?}: {body}");
        assert_eq!(body["error"], "invalid_client");
        assert!(
            headers[WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
    }
    let basic = app
        .client
        .post(app.url(TOKEN))
        .basic_auth("billing", Some("secret"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    // Basic with an empty secret is a public client naming itself (Go's x/oauth2 tries it).
    let public = app
        .client
        .post(app.url(TOKEN))
        .basic_auth("mobile-app", Some(""))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "not-a-token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        public.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );

    // A JSON body is not RFC 6749's request: invalid_request, not a 415.
    let json_body = app
        .client
        .post(app.url(TOKEN))
        .json(&json!({"grant_type": "refresh_token", "refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        json_body.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );

    // None of these spent the token.
    let (status, _, _) = app
        .post_oauth_token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

/// A public client's refresh token must be rotated or sender-constrained (RFC 9700 §4.14.2):
/// with rotation off the grant is neither offered nor advertised.
#[tokio::test]
async fn without_rotation_the_refresh_token_grant_is_not_offered() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&db);
    settings.rotate_refresh_tokens = false;
    let app = TestApp::spawn_with(settings).await;
    let user = app.create_user(Role::Customer).await;
    let (status, _, body) = app
        .post_oauth_token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &user.refresh),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unsupported_grant_type");
    let metadata = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(
        metadata["grant_types_supported"],
        json!(["client_credentials"]),
        "{metadata}"
    );
    assert!(
        metadata.get("response_types_supported").is_none(),
        "{metadata}"
    );
    app.stop().await;
}

/// An outsider decides how many parameters a form carries: past 32 the request is refused,
/// and the decoder stops at the 33rd, whatever the body holds (its bytes are bounded by
/// `max_body_bytes` before it is read).
#[tokio::test]
async fn a_form_of_too_many_parameters_is_refused_unread() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let user = app.create_user(Role::Customer).await;
    let mut body = format!("grant_type=refresh_token&refresh_token={}", user.refresh);
    for n in 0..100_000 {
        body.push_str(&format!("&p{n}="));
    }
    let response = app
        .client
        .post(app.url(TOKEN))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    app.stop().await;
}
