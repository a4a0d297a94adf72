use reqwest::StatusCode;
use serde_json::json;
use tessera::domain::Role;

use crate::helpers::{Backend, TestApp, TestDatabase, status_and_json};

async fn sqlite_app() -> (TestDatabase, TestApp) {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    (db, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_works_with_and_without_its_trailing_slash() {
    let (_db, app) = sqlite_app().await;
    let user = app.create_user(Role::Customer).await;
    for path in ["/auth/me", "/auth/me/"] {
        assert_eq!(
            app.get_me_at(path, &user.access).await,
            StatusCode::OK,
            "{path}"
        );
    }
    for path in ["/auth/token", "/auth/token/"] {
        let response = app
            .post_json(
                path,
                &json!({"username": user.username, "password": user.password}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    for path in [
        "/healthz",
        "/healthz/",
        "/readyz/",
        "/.well-known/jwks.json",
        "/openapi.json",
        "/docs",
        "/docs/",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413_with_or_without_a_content_length() {
    let (_db, app) = sqlite_app().await;
    let big = format!(
        r#"{{"username": "{}", "password": "x"}}"#,
        "a".repeat(2 * 1024 * 1024)
    );

    let declared = app
        .client
        .post(app.url("/auth/token/"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let chunks: Vec<Result<String, std::io::Error>> = big
        .as_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(String::from_utf8_lossy(c).into_owned()))
        .collect();
    let streamed = app
        .client
        .post(app.url("/auth/token/"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();

    for response in [declared, streamed] {
        let (status, error) = status_and_json(response).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(error["code"], "payload_too_large");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_malformed_and_misrouted_requests_get_json_errors() {
    let (_db, app) = sqlite_app().await;
    let cases = [
        (
            app.client
                .post(app.url("/auth/token/"))
                .header("content-type", "text/plain")
                .body("hi"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            app.client
                .post(app.url("/auth/token/"))
                .body("no content type"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            app.client
                .post(app.url("/auth/token/"))
                .header("content-type", "application/json")
                .body("{\"username\":"),
            StatusCode::BAD_REQUEST,
            "parse_error",
        ),
        (
            app.client
                .post(app.url("/auth/token/"))
                .header("content-type", "application/json")
                .body("[1,2]"),
            StatusCode::BAD_REQUEST,
            "parse_error",
        ),
        (
            app.client
                .post(app.url("/auth/token/"))
                .json(&json!({"username": {"nested": 5}, "password": "x"})),
            StatusCode::BAD_REQUEST,
            "invalid",
        ),
        (
            app.client.get(app.url("/no/such/route/")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            app.client.get(app.url("/auth/token/")),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            app.client.put(app.url("/auth/sessions/some-session/")),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            app.client.get(app.url("/auth/sessions/some-session/more/")),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (request, expected_status, expected_code) in cases {
        let (status, error) = status_and_json(request.send().await.unwrap()).await;
        assert_eq!(
            (status, error["code"].as_str().unwrap()),
            (expected_status, expected_code),
            "{error}"
        );
        assert!(error["detail"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_answer_while_the_database_does() {
    let (_db, app) = sqlite_app().await;
    assert_eq!(app.get_json("/healthz").await, json!({"status": "ok"}));
    assert_eq!(app.get_json("/readyz").await, json!({"status": "ok"}));
    // HEAD is answered as GET is, without the body.
    let head = app.client.head(app.url("/healthz")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.bytes().await.unwrap().is_empty());
}

impl TestApp {
    async fn get_me_at(&self, path: &str, token: &str) -> StatusCode {
        self.get_with_bearer(path, token).await.status()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_is_taken_or_made_echoed_and_on_every_log_line_of_the_request() {
    let (_db, app) = sqlite_app().await;
    let given = format!("trace-{}", uuid::Uuid::new_v4().simple());

    let traced = app
        .client
        .post(app.url("/auth/token/"))
        .header("x-request-id", &given)
        .json(&json!({"username": "nobody", "password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    let untraced = app.client.get(app.url("/healthz")).send().await.unwrap();
    let unprintable = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "has spaces in it")
        .send()
        .await
        .unwrap();

    assert_eq!(traced.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(traced.headers()["x-request-id"], given.as_str());
    let made = untraced.headers()["x-request-id"].to_str().unwrap();
    assert!(
        made.len() == 32 && made.bytes().all(|b| b.is_ascii_hexdigit()),
        "{made}"
    );
    assert_ne!(unprintable.headers()["x-request-id"], "has spaces in it");
    let logs = crate::helpers::captured_logs();
    let lines: Vec<&str> = logs.lines().filter(|line| line.contains(&given)).collect();
    assert!(
        lines.iter().any(|line| line.contains("login refused")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|line| line.contains("request done") && line.contains("status=401")),
        "{lines:#?}"
    );
}
