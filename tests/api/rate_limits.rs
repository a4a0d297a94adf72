use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tessera::{config::RateLimitSettings, domain::Role, http::Rate};

use crate::helpers::{
    Backend, TestApp, TestDatabase, status_and_json, test_settings, valid_registration,
};

fn per_minute(burst: u32) -> Option<Rate> {
    Some(Rate {
        burst,
        period: Duration::from_secs(60),
    })
}

async fn app_with(limits: RateLimitSettings) -> (TestDatabase, TestApp) {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&db);
    settings.rate_limits = limits;
    let app = TestApp::spawn_with(settings).await;
    (db, app)
}

async fn assert_throttled(response: reqwest::Response) {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let (_, error) = status_and_json(response).await;
    assert_eq!(error["code"], "throttled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_limited_per_client_ip() {
    let (_db, app) = app_with(RateLimitSettings {
        login: per_minute(3),
        ..Default::default()
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            app.post_token("someone", "wrong-password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_throttled(app.post_token("someone-else", "wrong-password").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_limited_per_username_whatever_the_address() {
    let (_db, app) = app_with(RateLimitSettings {
        login_username: per_minute(2),
        ..Default::default()
    })
    .await;
    let user = app.create_user(Role::Customer).await; // one login
    assert_eq!(
        app.post_token(&user.username, "wrong-password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );

    assert_throttled(app.post_token(&user.username, &user.password).await).await;
    assert_eq!(
        app.post_token("another-name", "wrong-password")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_and_anonymous_tokens_are_limited_per_client_ip() {
    let (_db, app) = app_with(RateLimitSettings {
        register: per_minute(2),
        anonymous: per_minute(2),
        ..Default::default()
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            app.post_register(&valid_registration()).await.status(),
            StatusCode::CREATED
        );
        assert_eq!(app.post_anonymous().await.status(), StatusCode::OK);
    }
    assert_throttled(app.post_register(&valid_registration()).await).await;
    assert_throttled(app.post_anonymous().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_counts_only_behind_a_trusted_proxy() {
    let login_from = |app: &TestApp, forwarded: &'static str| {
        app.client
            .post(app.url("/auth/token/"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"username": "x", "password": "wrong-password"}))
            .send()
    };
    let (_db, proxied) = app_with(RateLimitSettings {
        login: per_minute(1),
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..Default::default()
    })
    .await;
    assert_eq!(
        login_from(&proxied, "198.51.100.1").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&proxied, "198.51.100.2").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_throttled(login_from(&proxied, "198.51.100.1").await.unwrap()).await;

    let (_db, direct) = app_with(RateLimitSettings {
        login: per_minute(1),
        ..Default::default()
    })
    .await;
    assert_eq!(
        login_from(&direct, "198.51.100.1").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_throttled(login_from(&direct, "198.51.100.2").await.unwrap()).await;
}
