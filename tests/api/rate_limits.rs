use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tessera::{config::RateLimitSettings, domain::Role, http::Rate};

use crate::helpers::{
    Backend, TestApp, TestDatabase, captured_logs, redis_url, status_and_json, test_settings,
    valid_registration,
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

/// With Redis, a limit is one for the fleet: guesses spread over two instances add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_holds_across_instances_sharing_redis() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&db);
    settings.redis_url = Some(redis_url());
    settings.redis_prefix = format!("tessera-test:{}:", uuid::Uuid::new_v4().simple());
    settings.rate_limits = RateLimitSettings {
        login_username: per_minute(3),
        anonymous: per_minute(4),
        ..Default::default()
    };
    let first = TestApp::spawn_with(settings.clone()).await;
    let second = TestApp::spawn_with(settings).await;

    for app in [&first, &second, &first] {
        assert_eq!(
            app.post_token("victim", "guess").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_throttled(second.post_token("victim", "guess").await).await;
    assert_throttled(first.post_token("victim", "guess").await).await;
    // Another name's budget is its own.
    assert_eq!(
        second.post_token("someone-else", "guess").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Per client IP too: both instances see this test's address.
    for app in [&first, &second, &second, &first] {
        assert_eq!(app.post_anonymous().await.status(), StatusCode::OK);
    }
    assert_throttled(first.post_anonymous().await).await;
    first.stop().await;
    second.stop().await;
}

/// Redis down: each instance falls back to limits of its own (documented in the README), and
/// says so once, not once per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_each_instance_limits_on_its_own_and_says_so_once() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&db);
    // Nothing listens on port 1.
    settings.redis_url = Some("redis://127.0.0.1:1".into());
    let prefix = format!("tessera-test:{}:", uuid::Uuid::new_v4().simple());
    settings.redis_prefix = prefix.clone();
    settings.rate_limits = RateLimitSettings {
        login: per_minute(3),
        ..Default::default()
    };
    let app = TestApp::spawn_with(settings).await;
    for _ in 0..3 {
        assert_eq!(
            app.post_token("someone", "wrong-password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_throttled(app.post_token("someone", "wrong-password").await).await;
    let warnings = captured_logs()
        .lines()
        .filter(|line| line.contains("Redis is unreachable") && line.contains(&prefix))
        .count();
    assert_eq!(warnings, 1, "one warning for the outage");
    app.stop().await;
}

/// What an outsider can grow in Redis: one key per client per limit, of a fixed size (a
/// digest of what the client sent), gone when its bucket is full again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_limit_keys_are_digests_that_expire_with_their_bucket() {
    use std::sync::Arc;

    use redis::AsyncCommands;
    use tessera::{
        http::{RateLimiter, SharedLimitsOutage},
        redis_connection::RedisConnection,
    };

    let prefix = format!("tessera-test:{}:", uuid::Uuid::new_v4().simple());
    let limiter = RateLimiter::shared(
        Rate {
            burst: 5,
            period: Duration::from_secs(60),
        },
        "login",
        RedisConnection::open(&redis_url()).unwrap(),
        &prefix,
        Arc::new(SharedLimitsOutage::default()),
    );
    for n in 0..500 {
        let client = format!("{n}-{}", "x".repeat(n));
        limiter.check(&client).await.unwrap();
    }
    for _ in 0..4 {
        limiter.check("0-").await.unwrap();
    }
    assert!(
        limiter.check("0-").await.is_err(),
        "the sixth of a burst of five"
    );

    let client = redis::Client::open(redis_url()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis.keys(format!("{prefix}*")).await.unwrap();
    assert_eq!(keys.len(), 500);
    let lengths: std::collections::BTreeSet<usize> = keys.iter().map(String::len).collect();
    assert_eq!(lengths.len(), 1, "every key is the same size: {lengths:?}");
    for key in keys.iter().take(50) {
        let ttl_ms: i64 = redis.pttl(key).await.unwrap();
        assert!((1..=60_000).contains(&ttl_ms), "{key}: {ttl_ms}");
    }
    let _: () = redis.del(keys).await.unwrap();
}
