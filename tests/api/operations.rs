//! Operating the service: CORS for browsers, draining on shutdown, readiness following the
//! database.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use tessera::domain::Role;

use crate::helpers::{Backend, TestApp, TestDatabase, test_settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_configured_origins_only() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&db);
    settings.cors_allowed_origins = vec!["https://app.example".into()];
    let app = TestApp::spawn_with(settings).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/auth/token/"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };

    let allowed = preflight("https://app.example").await.unwrap();
    let refused = preflight("https://evil.example").await.unwrap();

    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let plain = TestApp::spawn(&TestDatabase::create(Backend::Sqlite).await).await;
    let response = plain
        .client
        .get(plain.url("/healthz"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "no CORS unless configured"
    );
}

/// A request whose body is still arriving when shutdown begins is answered, and only then
/// does the server stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_a_request_in_flight() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let user = app.create_user(Role::Customer).await;
    let (send_rest, rest) = tokio::sync::oneshot::channel::<()>();
    let first_half = format!(r#"{{"username": "{}", "#, user.username);
    let second_half = format!(r#""password": "{}"}}"#, user.password);
    let body = futures_util::stream::unfold(
        (Some(first_half), Some((rest, second_half))),
        |state| async move {
            match state {
                (Some(first), later) => Some((Ok::<_, std::io::Error>(first), (None, later))),
                (None, Some((rest, second))) => {
                    let _ = rest.await;
                    Some((Ok(second), (None, None)))
                }
                (None, None) => None,
            }
        },
    );
    let in_flight = tokio::spawn({
        let request = app
            .client
            .post(app.url("/auth/token/"))
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(body));
        async move { request.send().await.unwrap().status() }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !stopping.is_finished(),
        "the server waits for the request in flight"
    );
    send_rest.send(()).unwrap();

    assert_eq!(in_flight.await.unwrap(), StatusCode::OK);
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("stopped after draining")
        .unwrap();
}

/// PostgreSQL refuses the service's database for a while: /readyz says 503 meanwhile and 200
/// again once it is back, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database_away_and_back() {
    let db = TestDatabase::create(Backend::Postgres).await;
    let app = TestApp::spawn(&db).await;
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let admin_url = format!("{}/postgres", db.url.rsplit_once('/').unwrap().0);
    let admin = sea_orm::Database::connect(&admin_url).await.unwrap();
    let ready = || async {
        app.client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(ready().await, StatusCode::OK);

    admin
        .execute_unprepared(&format!(
            r#"ALTER DATABASE "{name}" ALLOW_CONNECTIONS false"#
        ))
        .await
        .unwrap();
    admin
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await
        .unwrap();
    wait_for(&ready, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK,
        "alive, not ready"
    );

    admin
        .execute_unprepared(&format!(
            r#"ALTER DATABASE "{name}" ALLOW_CONNECTIONS true"#
        ))
        .await
        .unwrap();
    wait_for(&ready, StatusCode::OK).await;
}

async fn wait_for<F, Fut>(probe: &F, wanted: StatusCode)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = StatusCode>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while probe().await != wanted {
        assert!(Instant::now() < deadline, "readiness never became {wanted}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Instances opening one new SQLite file at the same moment race to switch it to WAL, and the
/// loser's SQLITE_BUSY cannot wait on the busy timeout: each must still connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_opening_one_new_sqlite_file_at_once_all_connect() {
    for _ in 0..50 {
        let db = TestDatabase::create(Backend::Sqlite).await;
        let opened =
            futures_util::future::join_all((0..4).map(|_| tessera::db::connect(&db.url))).await;
        for connection in opened {
            let connection = connection.expect("every instance opens the new database");
            connection
                .execute_unprepared("SELECT 1")
                .await
                .expect("and can use it");
        }
    }
}
