//! PostgreSQL cut mid-request through a TCP proxy the test controls: every request that needs
//! the database is answered 503 with `Retry-After` while it is gone (never 500), and the
//! service recovers by itself when it is back.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use reqwest::StatusCode;
use tessera::{auth::IntrospectionSecret, config::Settings, domain::Role};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};

use crate::helpers::{Backend, TestApp, TestDatabase, redis_url, test_settings};

/// Forwards connections to PostgreSQL until cut: then it closes every open connection and
/// new ones at once, as a failed database host or a partitioned network would.
struct CuttableProxy {
    port: u16,
    cut: Arc<AtomicBool>,
    cuts: watch::Sender<u64>,
}

impl CuttableProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let (cuts, _) = watch::channel(0u64);
        let (is_cut, cut_signal) = (cut.clone(), cuts.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if is_cut.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let upstream = upstream.clone();
                let mut cut_now = cut_signal.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut_now.changed() => {}
                    }
                });
            }
        });
        Self { port, cut, cuts }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

/// Settings whose PostgreSQL database is reached through a proxy the test can cut.
async fn behind_a_proxy(
    mut settings: Settings,
    database: &TestDatabase,
) -> (CuttableProxy, Settings) {
    let (before, after) = database.url.split_once("@").unwrap();
    let (host_port, rest) = after.split_once('/').unwrap();
    let proxy = CuttableProxy::start(host_port.to_owned()).await;
    settings.database_url = format!("{before}@127.0.0.1:{}/{rest}", proxy.port);
    (proxy, settings)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_database_is_503_with_retry_after_and_recovers_without_restart() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let (proxy, settings) = behind_a_proxy(test_settings(&database), &database).await;
    let app = TestApp::spawn_with(settings).await;
    let user = app.create_user(Role::Customer).await;

    proxy.cut();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut statuses = Vec::new();
    let mut refresh = user.refresh.clone();
    while tokio::time::Instant::now() < deadline {
        let answers = [
            app.post_token(&user.username, &user.password).await,
            app.post_refresh(&refresh).await,
            app.get_me(&user.access).await,
            app.post_register(&crate::helpers::valid_registration())
                .await,
        ];
        for answer in answers {
            let status = answer.status();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                assert!(
                    answer.headers().contains_key("retry-after"),
                    "a 503 without Retry-After"
                );
                let body: serde_json::Value = answer.json().await.unwrap();
                assert_eq!(body["code"], "service_unavailable", "{body}");
            } else if status == StatusCode::OK {
                let body: serde_json::Value = answer.json().await.unwrap();
                if let Some(next) = body["refresh"].as_str() {
                    refresh = next.to_owned();
                }
            }
            statuses.push(status);
        }
    }
    assert!(
        !statuses.contains(&StatusCode::INTERNAL_SERVER_ERROR),
        "500s while the database was cut: {statuses:?}"
    );
    assert!(
        statuses.contains(&StatusCode::SERVICE_UNAVAILABLE),
        "the cut was never noticed: {statuses:?}"
    );
    let readiness = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(readiness.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        crate::helpers::captured_logs().contains("not ready"),
        "a failed readiness check is logged with its reason"
    );

    proxy.restore();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let login = app.post_token(&user.username, &user.password).await;
        if login.status() == StatusCode::OK {
            break;
        }
        assert_eq!(login.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            tokio::time::Instant::now() < deadline,
            "still 503 20 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.get_me(&user.access).await.status(), StatusCode::OK);
    let logs = crate::helpers::captured_logs();
    let outage_lines = logs.matches("database unavailable").count();
    // Logged once per outage, not per request (other tests share the log: a small allowance).
    assert!(
        outage_lines >= 1 && outage_lines * 20 < statuses.len(),
        "the outage was logged {outage_lines} times for {} requests",
        statuses.len()
    );
}

/// With sessions in Redis, a refresh and an introspection reach the store and then read the
/// account from the database: that read's outage is a 503 with `Retry-After` too, never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_read_of_a_refresh_or_an_introspection_is_503_while_the_database_is_cut() {
    const SECRET: &str = "introspection secret for the outage test";
    let database = TestDatabase::create(Backend::Postgres).await;
    let mut settings = test_settings(&database);
    settings.redis_url = Some(redis_url());
    settings.redis_prefix = format!("tessera-test:{}:", uuid::Uuid::new_v4().simple());
    settings.introspection_secret = Some(IntrospectionSecret::parse(SECRET).unwrap());
    let (proxy, settings) = behind_a_proxy(settings, &database).await;
    let app = TestApp::spawn_with(settings).await;
    let user = app.create_user(Role::Customer).await;

    proxy.cut();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut refresh = user.refresh.clone();
    let (mut refresh_503, mut introspection_503) = (false, false);
    while !(refresh_503 && introspection_503) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no 503 within 10 s of the cut: refresh {refresh_503}, introspection {introspection_503}"
        );
        let introspection = app
            .client
            .post(app.url("/auth/token/introspect/"))
            .basic_auth("resource-server", Some(SECRET))
            .form(&[("token", &user.access)])
            .send()
            .await
            .unwrap();
        for (answer, seen_503) in [
            (app.post_refresh(&refresh).await, &mut refresh_503),
            (introspection, &mut introspection_503),
        ] {
            let (status, retry_after) = (
                answer.status(),
                answer.headers().get("retry-after").cloned(),
            );
            let body: serde_json::Value = answer.json().await.unwrap();
            match status {
                // A request that slipped in before the proxy closed its connections.
                StatusCode::OK => {
                    if let Some(next) = body["refresh"].as_str() {
                        refresh = next.to_owned();
                    }
                }
                StatusCode::SERVICE_UNAVAILABLE => {
                    assert!(retry_after.is_some(), "a 503 without Retry-After: {body}");
                    *seen_503 = true;
                }
                other => panic!("{other} while the database was cut: {body}"),
            }
        }
    }
}
