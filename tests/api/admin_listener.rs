//! `admin_listen`: metrics and probes on a port of their own, and no metrics on the public one.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDatabase, test_settings};

#[tokio::test]
async fn the_admin_listener_serves_metrics_and_probes_and_the_public_port_stops_serving_metrics() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&db);
    settings.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    let app = TestApp::spawn_with(settings).await;
    let admin = app
        .admin_address
        .clone()
        .expect("the admin listener is bound");
    let get = |url: String| {
        let client = app.client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            let status = response.status();
            (status, response.text().await.unwrap())
        }
    };

    // A request on the public port, counted where the operator scrapes.
    assert_eq!(app.post_anonymous().await.status(), StatusCode::OK);
    let (status, metrics) = get(format!("{admin}/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics.contains(r#"tessera_tokens_issued_total{via="anonymous"} 1"#),
        "{metrics}"
    );

    for probe in ["/healthz", "/readyz", "/readyz/"] {
        let (status, body) = get(format!("{admin}{probe}")).await;
        assert_eq!(status, StatusCode::OK, "{probe}");
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"status": "ok"})
        );
    }

    // The public port keeps its probes (load balancers use them) and drops the metrics.
    let (status, _) = get(app.url("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get(app.url("/metrics")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["code"],
        "not_found"
    );

    // The admin port serves nothing else.
    let (status, _) = get(format!("{admin}/auth/token/anonymous/")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    app.stop().await;
}

#[tokio::test]
async fn without_admin_listen_metrics_stay_on_the_public_port() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    assert!(app.admin_address.is_none());
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}
