//! `error_format = "drf"`: error bodies as DRF and simplejwt send them, for clients that read
//! them (a form showing DRF's messages beside its fields), with the same statuses and headers.

use reqwest::{StatusCode, header::WWW_AUTHENTICATE};
use serde_json::{Value, json};
use tessera::{config::RateLimitSettings, domain::Role, error::ErrorFormat, http::Rate};

use crate::helpers::{
    Backend, TestApp, TestDatabase, status_and_json, test_settings, valid_registration,
};

#[tokio::test]
async fn every_error_class_answers_in_drfs_shape() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&db);
    settings.error_format = ErrorFormat::Drf;
    settings.rate_limits = RateLimitSettings {
        register: Some(Rate::parse("3/m").unwrap()),
        ..Default::default()
    };
    let app = TestApp::spawn_with(settings).await;
    let user = app.create_user(Role::Customer).await;

    // 400: the field dictionary at the top level, as DRF's serializers give it.
    let (status, body) = status_and_json(app.post_register(&json!({"username": "x"})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["email"], json!(["This field is required."]), "{body}");
    assert!(
        body.get("code").is_none() && body.get("fields").is_none(),
        "{body}"
    );
    let mut taken = valid_registration();
    taken["username"] = json!(user.username);
    let (status, body) = status_and_json(app.post_register(&taken).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"username": ["A user with that username already exists."]})
    );
    let (status, body) = status_and_json(
        app.client
            .post(app.url("/auth/token/"))
            .header("content-type", "application/json")
            .body("{")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("JSON parse error"),
        "{body}"
    );

    // 401: simplejwt's three.
    let (status, body) = status_and_json(app.post_token(&user.username, "wrong").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"detail": "No active account found with the given credentials"})
    );
    let (status, body) = status_and_json(app.post_refresh("not-a-token").await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"detail": "Token is invalid or expired", "code": "token_not_valid"})
    );
    let response = app.get_me("not-a-token").await;
    assert!(
        response.headers()[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({
            "detail": "Given token not valid for any token type",
            "code": "token_not_valid",
            "messages": [{
                "token_class": "AccessToken",
                "token_type": "access",
                "message": "Token is invalid or expired",
            }],
        })
    );
    let (status, body) =
        status_and_json(app.client.get(app.url("/auth/me/")).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        json!({"detail": "Authentication credentials were not provided."})
    );

    // 403, 404, 415, 429: `{"detail": ...}`.
    let anonymous: Value = app.post_anonymous().await.json().await.unwrap();
    let (status, body) =
        status_and_json(app.get_me(anonymous["access"].as_str().unwrap()).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, json!({"detail": "Anonymous tokens have no account."}));
    let (status, body) =
        status_and_json(app.client.get(app.url("/no/such/")).send().await.unwrap()).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"detail": "Not found."}))
    );
    let (status, body) = status_and_json(
        app.client
            .post(app.url("/auth/token/"))
            .header("content-type", "text/plain")
            .body("x")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        body,
        json!({"detail": "Unsupported media type \"text/plain\" in request."})
    );
    let mut throttled = None;
    for _ in 0..4 {
        let response = app.post_register(&valid_registration()).await;
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(status_and_json(response).await.1);
        }
    }
    let throttled = throttled.expect("the fourth registration in a minute is throttled");
    let keys: Vec<&String> = throttled.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["detail"], "{throttled}");
    assert!(
        throttled["detail"]
            .as_str()
            .unwrap()
            .starts_with("Request was throttled. Expected available in"),
        "{throttled}"
    );
    app.stop().await;
}
