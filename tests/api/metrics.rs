use reqwest::StatusCode;
use serde_json::Value;
use tessera::domain::Role;

use crate::helpers::{Backend, TestApp, TestCustomers, TestDatabase, valid_registration};

/// The value of one exposition line, by its exact name and labels.
fn value(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_service_counters_move_with_real_requests() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let user = app.create_user(Role::Customer).await; // one login
    app.post_token(&user.username, "wrong-password").await;
    app.post_register(&valid_registration()).await;
    app.post_anonymous().await;
    let rotated: Value = app.post_refresh(&user.refresh).await.json().await.unwrap();
    app.post_refresh(&user.refresh).await; // reuse
    let other = app
        .post_token(&user.username, &user.password)
        .await
        .json::<Value>()
        .await
        .unwrap();
    app.post_blacklist(other["refresh"].as_str().unwrap()).await;
    app.client
        .get(app.url("/wp-admin/setup.php"))
        .send()
        .await
        .unwrap();
    assert!(rotated["refresh"].is_string());

    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();

    assert_eq!(
        value(&text, r#"tessera_tokens_issued_total{via="login"}"#),
        2
    );
    assert_eq!(
        value(&text, r#"tessera_tokens_issued_total{via="register"}"#),
        1
    );
    assert_eq!(
        value(&text, r#"tessera_tokens_issued_total{via="anonymous"}"#),
        1
    );
    assert_eq!(value(&text, "tessera_tokens_refreshed_total"), 1);
    assert_eq!(value(&text, "tessera_refresh_reuse_detected_total"), 1);
    assert_eq!(value(&text, "tessera_sessions_revoked_total"), 1);
    assert_eq!(value(&text, "tessera_login_failures_total"), 1);
    assert_eq!(
        value(
            &text,
            r#"tessera_http_requests_total{route="/auth/token",method="POST",status="200"}"#
        ),
        2
    );
    assert_eq!(
        value(
            &text,
            r#"tessera_http_requests_total{route="/auth/token/refresh",method="POST",status="401"}"#
        ),
        1
    );
    assert_eq!(
        value(
            &text,
            r#"tessera_http_requests_total{route="unmatched",method="GET",status="404"}"#
        ),
        1
    );
    assert_eq!(
        value(
            &text,
            r#"tessera_http_request_duration_seconds_count{route="/auth/token",method="POST",status="200"}"#
        ),
        2
    );
    assert!(!text.contains("wp-admin"), "raw paths never become labels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customer_service_counts_requests_by_template_and_jwks_fetches() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let auth = TestApp::spawn(&db).await;
    let customers = TestCustomers::spawn(&auth, Backend::Sqlite).await;
    let user = auth.create_user(Role::Customer).await;
    for id in [1, 2, 3] {
        customers
            .get(&user.access, &format!("/customers/{id}/"))
            .await;
    }

    let text = customers
        .client
        .get(customers.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    assert_eq!(
        value(
            &text,
            r#"tessera_http_requests_total{route="/customers/{id}",method="GET",status="404"}"#
        ),
        3
    );
    assert!(value(&text, "tessera_jwks_fetches_total") >= 1);
}
