//! The customer service end to end: the token service issues, the customer service trusts
//! the tokens only through the JWKS it fetches over HTTP.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use futures_util::future::join_all;
use poem::{
    EndpointExt, Route, Server, handler,
    http::StatusCode as PoemStatus,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::{
    config::KeySecretSource,
    domain::Role,
    keys::{KeyCipher, KeyStore},
    token::{Lifetimes, Subject, TokenIssuer, TokenSettings},
};

use crate::{
    helpers::{Backend, TestApp, TestCustomers, TestDatabase, peek, status_and_json},
    on_both_backends,
};

on_both_backends!(
    every_customer_endpoint_answers_as_the_design_says,
    seed_000_flow_works_with_form_bodies_and_an_id_in_the_patch_body,
    anonymous_tokens_read_and_are_refused_writes,
    missing_malformed_expired_forged_and_misdirected_tokens_get_401,
    customers_are_paginated_like_drf,
    a_rotated_signing_key_is_picked_up_without_a_restart,
    a_list_page_is_served_as_it_is_until_a_customer_changes,
);

fn customer() -> Value {
    json!({"name": "Ravi Traders", "mobile": "+919876543210", "customer_type": "wholesale"})
}

async fn anonymous_access(app: &TestApp) -> String {
    let body: Value = app.post_anonymous().await.json().await.unwrap();
    body["access"].as_str().unwrap().to_owned()
}

async fn every_customer_endpoint_answers_as_the_design_says(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let auth = TestApp::spawn(&db).await;
    let customers = TestCustomers::spawn(&auth, backend).await;
    let user = auth.create_user(Role::Customer).await;
    let token = user.access.as_str();

    for path in ["/docs", "/openapi.json", "/healthz"] {
        let response = customers
            .client
            .get(customers.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let (status, empty) = status_and_json(customers.get(token, "/customers/").await).await;
    assert_eq!(
        (status, empty),
        (
            StatusCode::OK,
            json!({"count": 0, "next": null, "previous": null, "results": []})
        )
    );

    let (status, created) = status_and_json(customers.create(token, &customer()).await).await;
    assert_eq!(status, StatusCode::CREATED);
    for field in ["name", "mobile", "customer_type"] {
        assert_eq!(created[field], customer()[field]);
    }
    assert_eq!(created["created_by"], user.id.to_string());
    assert!(created["created_at"].is_string() && created["updated_at"].is_string());
    let path = format!("/customers/{}/", created["id"]);

    let (status, fetched) = status_and_json(customers.get(token, &path).await).await;
    assert_eq!((status, &fetched), (StatusCode::OK, &created));
    let (status, error) = status_and_json(customers.get(token, "/customers/999999/").await).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    let (status, error) = status_and_json(customers.create(token, &json!({})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for field in ["name", "mobile", "customer_type"] {
        assert_eq!(
            error["fields"][field],
            json!(["This field is required."]),
            "{error}"
        );
    }
    let (status, error) = status_and_json(
        customers
            .create(
                token,
                &json!({"name": "x", "mobile": "12-34", "customer_type": "retail"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["fields"]["mobile"].is_array(), "{error}");

    let (status, patched) = status_and_json(
        customers
            .patch(token, &path, &json!({"customer_type": "retail"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (patched["customer_type"].as_str(), patched["name"].as_str()),
        (Some("retail"), Some("Ravi Traders"))
    );
    let (status, _) = status_and_json(
        customers
            .patch(token, &path, &json!({"mobile": "nope"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = status_and_json(
        customers
            .patch(token, "/customers/999999/", &json!({"name": "x"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, error) = status_and_json(
        customers
            .patch(token, "/customers/", &json!({"name": "x"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["fields"]["id"].is_array());

    assert_eq!(
        customers.delete(token, &path).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        customers.delete(token, &path).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        customers.get(token, &path).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn seed_000_flow_works_with_form_bodies_and_an_id_in_the_patch_body(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let auth = TestApp::spawn(&db).await;
    let customers = TestCustomers::spawn(&auth, backend).await;
    let registration = [
        ("username", "prince.singh8756@gmail.com"),
        ("email", "nitesh.singh5695@gmail.com"),
        ("password", "Kx9#vorpal-Blade"),
        ("gst_no", "gst12345"),
    ];
    let registered = auth
        .client
        .post(auth.url("/auth/register/"))
        .form(&registration)
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    let login = reqwest::multipart::Form::new()
        .text("username", "prince.singh8756@gmail.com")
        .text("password", "Kx9#vorpal-Blade");
    let pair: Value = auth
        .client
        .post(auth.url("/auth/token/"))
        .multipart(login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = pair["access"].as_str().unwrap();

    let created = customers
        .client
        .post(customers.url("/customers/"))
        .bearer_auth(access)
        .form(&[
            ("name", "Asha"),
            ("mobile", "9876543210"),
            ("customer_type", "retail"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = created.json::<Value>().await.unwrap()["id"].clone();
    let (_, list) = status_and_json(customers.get(access, "/customers/").await).await;
    assert_eq!(list["count"], 1);
    let (status, patched) = status_and_json(
        customers
            .patch(
                access,
                "/customers/",
                &json!({"id": id, "name": "Asha Stores"}),
            )
            .await,
    )
    .await;
    assert_eq!(
        (status, patched["name"].as_str()),
        (StatusCode::OK, Some("Asha Stores"))
    );
    let (status, _) = status_and_json(
        customers
            .patch(
                access,
                "/customers/",
                &json!({"id": id.to_string(), "mobile": "+14155550100"}),
            )
            .await,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the id may come as a string, as from a form"
    );
    let (status, _) = status_and_json(
        customers
            .patch(access, "/customers/", &json!({"id": "x1"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let anonymous = anonymous_access(&auth).await;
    let (status, list) = status_and_json(customers.get(&anonymous, "/customers/").await).await;
    assert_eq!((status, list["count"].as_u64()), (StatusCode::OK, Some(1)));
    assert_eq!(
        customers
            .patch(&anonymous, "/customers/", &json!({"id": id, "name": "x"}))
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
}

async fn anonymous_tokens_read_and_are_refused_writes(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let auth = TestApp::spawn(&db).await;
    let customers = TestCustomers::spawn(&auth, backend).await;
    let registered = auth.create_user(Role::Staff).await;
    let created: Value = customers
        .create(&registered.access, &customer())
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/customers/{}/", created["id"]);
    let anonymous = anonymous_access(&auth).await;

    assert_eq!(
        customers.get(&anonymous, "/customers/").await.status(),
        StatusCode::OK
    );
    assert_eq!(
        customers.get(&anonymous, &path).await.status(),
        StatusCode::OK
    );
    for response in [
        customers.create(&anonymous, &customer()).await,
        customers
            .patch(&anonymous, &path, &json!({"name": "x"}))
            .await,
        customers.delete(&anonymous, &path).await,
    ] {
        let (status, error) = status_and_json(response).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(
            error,
            json!({"code": "permission_denied", "detail": "Anonymous tokens may only read."})
        );
    }
    assert_eq!(
        customers.get(&registered.access, &path).await.status(),
        StatusCode::OK,
        "nothing changed"
    );
}

async fn missing_malformed_expired_forged_and_misdirected_tokens_get_401(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let auth = TestApp::spawn(&db).await;
    let customers = TestCustomers::spawn(&auth, backend).await;
    let user = auth.create_user(Role::Admin).await;
    let (header, claims) = peek(&user.access);
    let parts: Vec<&str> = user.access.split('.').collect();
    let b64 = |value: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());
    let sign = |claims: &Value| {
        let input = format!("{}.{}", b64(&header), b64(claims));
        let signature = auth
            .state
            .keys
            .current()
            .active()
            .sign_rs256(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    };
    let mut expired = claims.clone();
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 1);
    let mut not_yet = claims.clone();
    not_yet["nbf"] = json!(chrono::Utc::now().timestamp() + 600);
    let mut other_audience = claims.clone();
    other_audience["aud"] = json!("another-service");
    let mut other_issuer = claims.clone();
    other_issuer["iss"] = json!("https://evil.example");
    let mut none_header = header.clone();
    none_header["alg"] = json!("none");
    let mut tampered = claims.clone();
    tampered["role"] = json!("admin");
    tampered["sub"] = json!("someone-else");
    let mut refresh_as_access = peek(&user.refresh).1;
    refresh_as_access["token_type"] = json!("refresh");
    let cases = [
        ("malformed", "not-a-token".to_owned()),
        ("expired", sign(&expired)),
        ("not yet valid", sign(&not_yet)),
        ("for another audience", sign(&other_audience)),
        ("from another issuer", sign(&other_issuer)),
        ("alg none", format!("{}.{}.", b64(&none_header), parts[1])),
        (
            "tampered",
            format!("{}.{}.{}", parts[0], b64(&tampered), parts[2]),
        ),
        ("refresh token", user.refresh.clone()),
        (
            "refresh claims under an access header",
            sign(&refresh_as_access),
        ),
    ];
    for (what, token) in cases {
        let response = customers.get(&token, "/customers/").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer realm="api", error="invalid_token""#
        );
        let (_, error) = status_and_json(response).await;
        assert_eq!(error["code"], "token_not_valid", "{what}");
    }
    let missing = customers
        .client
        .get(customers.url("/customers/"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing.headers()["www-authenticate"],
        r#"Bearer realm="api""#
    );
    assert_eq!(
        customers.get(&user.access, "/customers/").await.status(),
        StatusCode::OK,
        "the genuine token works"
    );
}

async fn customers_are_paginated_like_drf(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let auth = TestApp::spawn(&db).await;
    let customers = TestCustomers::spawn(&auth, backend).await;
    let token = auth.create_user(Role::Customer).await.access;
    for _ in 0..5 {
        assert_eq!(
            customers.create(&token, &customer()).await.status(),
            StatusCode::CREATED
        );
    }

    let (_, first) = status_and_json(customers.get(&token, "/customers/?page_size=2").await).await;
    let (_, last) =
        status_and_json(customers.get(&token, "/customers?page=3&page_size=2").await).await;

    assert_eq!(first["count"], 5);
    assert_eq!(
        first["next"],
        format!("{}/customers/?page=2&page_size=2", customers.address)
    );
    assert!(first["previous"].is_null());
    assert_eq!(last["results"].as_array().unwrap().len(), 1);
    assert!(last["next"].is_null());
    assert_eq!(
        customers
            .get(&token, "/customers/?page=4&page_size=2")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

async fn a_rotated_signing_key_is_picked_up_without_a_restart(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let auth = TestApp::spawn(&db).await;
    let customers = TestCustomers::spawn(&auth, backend).await;
    let before = auth.create_user(Role::Customer).await;
    assert_eq!(
        customers.get(&before.access, "/customers/").await.status(),
        StatusCode::OK
    );

    let KeySecretSource::Given(secret) = &auth.settings.key_secret else {
        unreachable!()
    };
    let store = KeyStore::new(auth.state.db.clone(), KeyCipher::new(secret));
    let new_kid = store
        .rotate(chrono::Utc::now(), std::time::Duration::from_secs(86_400))
        .await
        .unwrap()
        .expect("a new generation");
    auth.state.reload_keys().await.unwrap();
    let after = auth.create_user(Role::Customer).await;

    assert_eq!(peek(&after.access).0["kid"], new_kid);
    assert_ne!(peek(&before.access).0["kid"], new_kid);
    assert_eq!(
        customers.get(&after.access, "/customers/").await.status(),
        StatusCode::OK,
        "new key, fetched on first sight"
    );
    assert_eq!(
        customers.get(&before.access, "/customers/").await.status(),
        StatusCode::OK,
        "old key, still published"
    );
}

/// A JWKS endpoint in front of the real one that counts requests and can play dead.
struct JwksProxy {
    url: String,
    fetches: Arc<AtomicUsize>,
    available: Arc<AtomicBool>,
}

#[derive(Clone)]
struct Upstream {
    url: String,
    fetches: Arc<AtomicUsize>,
    available: Arc<AtomicBool>,
}

#[handler]
async fn proxied_jwks(upstream: Data<&Upstream>) -> poem::Response {
    upstream.fetches.fetch_add(1, Ordering::SeqCst);
    if !upstream.available.load(Ordering::SeqCst) {
        return poem::Response::builder()
            .status(PoemStatus::SERVICE_UNAVAILABLE)
            .finish();
    }
    let body = reqwest::get(&upstream.url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    poem::Response::builder()
        .header("content-type", "application/json")
        .header("cache-control", "public, max-age=300")
        .body(body)
}

async fn jwks_proxy(auth: &TestApp, available: bool) -> JwksProxy {
    let upstream = Upstream {
        url: auth.url("/.well-known/jwks.json"),
        fetches: Arc::new(AtomicUsize::new(0)),
        available: Arc::new(AtomicBool::new(available)),
    };
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let address = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    tokio::spawn(
        Server::new_with_acceptor(acceptor).run(
            Route::new()
                .at("/jwks.json", proxied_jwks)
                .data(upstream.clone()),
        ),
    );
    JwksProxy {
        url: format!("http://{address}/jwks.json"),
        fetches: upstream.fetches,
        available: upstream.available,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_unknown_kids_cause_a_handful_of_jwks_fetches() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let auth = TestApp::spawn(&db).await;
    let proxy = jwks_proxy(&auth, true).await;
    let customers = TestCustomers::spawn_with_jwks(&auth, Backend::Sqlite, proxy.url.clone()).await;
    let user = auth.create_user(Role::Customer).await;
    assert_eq!(
        customers.get(&user.access, "/customers/").await.status(),
        StatusCode::OK
    );
    let fetched_before = proxy.fetches.load(Ordering::SeqCst);
    let (header, _) = peek(&user.access);
    let rest = user.access.split_once('.').unwrap().1;
    let forged: Vec<String> = (0..200)
        .map(|i| {
            let mut header = header.clone();
            header["kid"] = json!(format!("unknown-kid-{i}"));
            format!(
                "{}.{rest}",
                URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap())
            )
        })
        .collect();

    let responses = join_all(
        forged
            .iter()
            .map(|token| customers.get(token, "/customers/")),
    )
    .await;

    assert!(
        responses
            .iter()
            .all(|r| r.status() == StatusCode::UNAUTHORIZED)
    );
    let fetches = proxy.fetches.load(Ordering::SeqCst) - fetched_before;
    assert!(fetches <= 2, "{fetches} JWKS fetches for 200 unknown kids");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_customer_service_waits_for_the_issuer_and_then_serves() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let auth = TestApp::spawn(&db).await;
    let proxy = jwks_proxy(&auth, false).await;
    let customers = TestCustomers::spawn_with_jwks(&auth, Backend::Sqlite, proxy.url.clone()).await;
    let user = auth.create_user(Role::Customer).await;

    let (status, error) = status_and_json(customers.get(&user.access, "/customers/").await).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("service_unavailable"))
    );
    let not_ready = customers
        .client
        .get(customers.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(not_ready, StatusCode::SERVICE_UNAVAILABLE);

    proxy.available.store(true, Ordering::SeqCst);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while customers
        .client
        .get(customers.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        != StatusCode::OK
    {
        assert!(std::time::Instant::now() < deadline, "never became ready");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        customers.get(&user.access, "/customers/").await.status(),
        StatusCode::OK
    );
}

/// The verifier is the same code any other service would embed: checked here on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verifier_refuses_a_token_minted_for_another_audience() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let auth = TestApp::spawn(&db).await;
    let other = TokenIssuer::new(
        auth.state.keys.clone(),
        TokenSettings {
            issuer: auth.address.clone(),
            audience: "billing".into(),
            client_id: "tessera".into(),
        },
        Lifetimes::default(),
    );
    let token = other
        .issue_pair(&Subject::account(1, "x", Role::Customer))
        .access;
    let customers = TestCustomers::spawn(&auth, Backend::Sqlite).await;

    assert!(customers.state.verifier.verify(&token).await.is_err());
}

/// On SQLite (this process the only writer) list pages are kept as rendered; every write
/// makes them stale at once, so a reader never sees one from before it. On PostgreSQL, where
/// other instances write too, nothing is kept.
async fn a_list_page_is_served_as_it_is_until_a_customer_changes(backend: Backend) {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let customers = TestCustomers::spawn(&app, backend).await;
    let user = app.create_user(Role::Customer).await;
    let list = || async {
        let (status, page) =
            status_and_json(customers.get(&user.access, "/customers/").await).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page
    };
    let kept = || customers.state.list_cache.as_ref().map(|cache| cache.len());
    let expect_kept = |pages: usize| match backend {
        Backend::Sqlite => Some(pages),
        Backend::Postgres => None,
    };

    assert_eq!(list().await["count"], 0);
    assert_eq!(kept(), expect_kept(1));
    let created = customers.create(&user.access, &customer()).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(kept(), expect_kept(0), "a write drops every page");
    let first = list().await;
    assert_eq!(first["count"], 1);
    assert_eq!(list().await, first, "the page as it was rendered");

    let id = first["results"][0]["id"].as_i64().unwrap();
    let path = format!("/customers/{id}/");
    let patched = customers
        .patch(&user.access, &path, &json!({"name": "Renamed"}))
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    assert_eq!(list().await["results"][0]["name"], "Renamed");
    assert_eq!(
        customers.delete(&user.access, &path).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(list().await["count"], 0);
    app.stop().await;
}
