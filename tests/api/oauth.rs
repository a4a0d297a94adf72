//! The OAuth 2.0 token endpoint: RFC 6749's form in, its answers and errors out, with the same
//! rotation and reuse detection as simplejwt's refresh.

use reqwest::{
    StatusCode,
    header::{CACHE_CONTROL, WWW_AUTHENTICATE},
};
use serde_json::{Value, json};
use tessera::domain::Role;

use crate::helpers::{Backend, TestApp, TestDatabase};

const TOKEN: &str = "/auth/oauth/token/";

async fn token(
    app: &TestApp,
    form: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response = app
        .client
        .post(app.url(TOKEN))
        .form(form)
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.json().await.unwrap())
}

#[tokio::test]
async fn the_refresh_token_grant_rotates_and_detects_reuse() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let user = app.create_user(Role::Customer).await;

    let (status, headers, body) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &user.refresh),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    let lifetime = app.settings.lifetimes.access.as_secs() as i64;
    assert_eq!(body["expires_in"], lifetime);
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(app.get_me(access).await.status(), StatusCode::OK);
    let successor = body["refresh_token"].as_str().unwrap().to_owned();

    // The spent token again: theft, by RFC 9700. The session is revoked, successor and all.
    let (status, headers, body) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &user.refresh),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(headers[CACHE_CONTROL], "no-store");
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let (status, _, body) = token(
        &app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &successor),
        ],
    )
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
    ] {
        let (status, _, body) = token(&app, &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}: {body}");
        assert_eq!(body["error"], error, "{form:?}: {body}");
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
    }

    // Client credentials, when no client is registered with them.
    for form in [
        vec![("grant_type", "client_credentials")],
        vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "billing"),
            ("client_secret", "s"),
        ],
    ] {
        let (status, headers, body) = token(&app, &form).await;
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
    let (status, _, _) = token(
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}
