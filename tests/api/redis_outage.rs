//! A real Redis stopped and restarted under a running token service: refresh, logout and
//! anonymous issuance fail closed with 503 while it is down, and recover by themselves.

use std::{
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::Value;
use tessera::domain::Role;

use crate::helpers::{Backend, TestApp, TestDatabase, status_and_json, test_settings};

/// A redis-server of the test's own on a free port, killed when dropped.
struct ThrowawayRedis {
    port: u16,
    child: Option<Child>,
}

impl ThrowawayRedis {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run redis-server ({err}): install it with `apt-get install redis-server`"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            port,
            child: Some(child),
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_until_ready(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = app
            .client
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status();
        if status == StatusCode::OK {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not ready 15 s after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_gives_503s_while_down_and_heals_without_a_restart() {
    let mut redis = ThrowawayRedis::start(free_port());
    let database = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&database);
    settings.redis_url = Some(format!("redis://127.0.0.1:{}", redis.port));
    let app = Arc::new(TestApp::spawn_with(settings).await);
    let user = app.create_user(Role::Customer).await;

    // Traffic throughout: every answer must be a success, a 401, or a 503; never another 5xx.
    let running = Arc::new(AtomicBool::new(true));
    let seen = Arc::new(Mutex::new(Vec::<StatusCode>::new()));
    let traffic = tokio::spawn({
        let (app, running, seen) = (app.clone(), running.clone(), seen.clone());
        async move {
            let started = Instant::now();
            while running.load(Ordering::Relaxed) && started.elapsed() < Duration::from_secs(60) {
                let anonymous = app.post_anonymous().await;
                let status = anonymous.status();
                seen.lock().unwrap().push(status);
                if status == StatusCode::OK {
                    let pair: Value = anonymous.json().await.unwrap();
                    let refreshed = app
                        .post_refresh(pair["refresh"].as_str().unwrap())
                        .await
                        .status();
                    seen.lock().unwrap().push(refreshed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });

    redis.stop();
    for (what, status) in [
        ("refresh", app.post_refresh(&user.refresh).await.status()),
        (
            "blacklist",
            app.post_blacklist(&user.refresh).await.status(),
        ),
        ("anonymous", app.post_anonymous().await.status()),
        (
            "obtain",
            app.post_token(&user.username, &user.password)
                .await
                .status(),
        ),
        (
            "readyz",
            app.client
                .get(app.url("/readyz"))
                .send()
                .await
                .unwrap()
                .status(),
        ),
    ] {
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{what} while Redis is down"
        );
    }
    let (_, error) = status_and_json(app.post_refresh(&user.refresh).await).await;
    assert_eq!(error["code"], "service_unavailable");
    assert_eq!(
        app.post_verify(&user.access).await.status(),
        StatusCode::OK,
        "access tokens need no store"
    );
    assert_eq!(app.get_me(&user.access).await.status(), StatusCode::OK);
    assert_eq!(
        app.client
            .get(app.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    let _redis = ThrowawayRedis::start(redis.port);
    wait_until_ready(&app).await;

    let (status, pair) =
        status_and_json(app.post_token(&user.username, &user.password).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.post_refresh(pair["refresh"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    // This Redis kept nothing on disk, so sessions from before the outage are gone: refused,
    // not resurrected (production runs Redis with AOF persistence).
    assert_eq!(
        app.post_refresh(&user.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    running.store(false, Ordering::Relaxed);
    traffic.await.unwrap();

    let seen = seen.lock().unwrap();
    assert!(
        seen.contains(&StatusCode::SERVICE_UNAVAILABLE),
        "the outage was seen by the traffic"
    );
    assert!(seen.contains(&StatusCode::OK));
    let unexpected: Vec<_> = seen
        .iter()
        .filter(|s| s.is_server_error() && **s != StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
}
