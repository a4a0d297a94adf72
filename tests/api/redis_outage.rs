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

use futures_util::future::join_all;
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

/// `count` anonymous sessions, each refreshed once so Redis holds the rotation script and
/// EVALSHA alone runs it; their current refresh tokens.
async fn refreshed_sessions(app: &TestApp, count: usize) -> Vec<String> {
    let mut sessions = Vec::new();
    for _ in 0..count {
        let (_, pair) = status_and_json(app.post_anonymous().await).await;
        let (_, refreshed) =
            status_and_json(app.post_refresh(pair["refresh"].as_str().unwrap()).await).await;
        sessions.push(refreshed["refresh"].as_str().unwrap().to_owned());
    }
    sessions
}

/// What a client should do after a 503: present the same refresh token again until it is
/// answered. It must be answered 200, and the token it gets must refresh in turn.
async fn retry_until_refreshed_then_refresh_again(app: &TestApp, refresh: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let next = loop {
        let (status, body) = status_and_json(app.post_refresh(refresh).await).await;
        match status {
            StatusCode::OK => break body["refresh"].as_str().unwrap().to_owned(),
            StatusCode::SERVICE_UNAVAILABLE if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => panic!("the retry of a refresh whose answer was lost got {other}: {body}"),
        }
    };
    let (status, _) = status_and_json(app.post_refresh(&next).await).await;
    assert_eq!(status, StatusCode::OK, "the session lives on");
}

/// A Redis that stalls (`CLIENT PAUSE`) past the client's 2 s timeout runs the queued
/// rotations when it wakes, after their requests were answered 503. Each session's client
/// retries its refresh token as a client should after a 503: with the retry grace, the retry
/// is given the successor, and no session is lost to the stall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_stall_loses_no_session() {
    let redis = ThrowawayRedis::start(free_port());
    let database = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&database);
    settings.redis_url = Some(format!("redis://127.0.0.1:{}", redis.port));
    settings.refresh_reuse_grace = Duration::from_secs(30);
    let app = Arc::new(TestApp::spawn_with(settings).await);
    let sessions = refreshed_sessions(&app, 8).await;

    let pause = Command::new("redis-cli")
        .args([
            "-p",
            &redis.port.to_string(),
            "CLIENT",
            "PAUSE",
            "5000",
            "ALL",
        ])
        .output()
        .expect("redis-cli");
    assert!(pause.status.success(), "{pause:?}");
    let during = join_all(sessions.iter().map(|refresh| {
        let (app, refresh) = (app.clone(), refresh.clone());
        async move { app.post_refresh(&refresh).await.status() }
    }))
    .await;
    assert!(
        during
            .iter()
            .all(|status| *status == StatusCode::SERVICE_UNAVAILABLE),
        "refreshes during the stall: {during:?}"
    );

    tokio::time::sleep(Duration::from_secs(4)).await;
    for refresh in &sessions {
        retry_until_refreshed_then_refresh_again(&app, refresh).await;
    }
}

/// Forwards to Redis at once, but while stalled holds Redis's answers back: the command runs,
/// and its answer reaches Tessera only after Tessera has given up on it (a lost answer).
struct AnswerHoldingProxy {
    port: u16,
    holding: Arc<AtomicBool>,
}

impl AnswerHoldingProxy {
    async fn start(redis_port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let holding = Arc::new(AtomicBool::new(false));
        let held = holding.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", redis_port)).await
                else {
                    continue;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let held = held.clone();
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut buffer = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = server_read.read(&mut buffer).await {
                        while held.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        if client_write.write_all(&buffer[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { port, holding }
    }
}

/// The lost answer itself: each rotation is done by Redis, but its answer arrives after the
/// 2 s client timeout, so the client got 503 and retries the token Redis has already spent.
/// Within the retry grace the retry gets the successor: no session is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_whose_answer_was_lost_can_be_retried() {
    let redis = ThrowawayRedis::start(free_port());
    let proxy = AnswerHoldingProxy::start(redis.port).await;
    let database = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&database);
    settings.redis_url = Some(format!("redis://127.0.0.1:{}", proxy.port));
    settings.refresh_reuse_grace = Duration::from_secs(30);
    let app = Arc::new(TestApp::spawn_with(settings).await);
    let sessions = refreshed_sessions(&app, 8).await;

    proxy.holding.store(true, Ordering::SeqCst);
    let lost = join_all(sessions.iter().map(|refresh| {
        let (app, refresh) = (app.clone(), refresh.clone());
        async move { app.post_refresh(&refresh).await.status() }
    }))
    .await;
    proxy.holding.store(false, Ordering::SeqCst);
    assert!(
        lost.iter()
            .all(|status| *status == StatusCode::SERVICE_UNAVAILABLE),
        "refreshes whose answers were held: {lost:?}"
    );

    for refresh in &sessions {
        retry_until_refreshed_then_refresh_again(&app, refresh).await;
    }
}
