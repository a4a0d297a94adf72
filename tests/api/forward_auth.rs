//! `GET /auth/forward/`: the contract nginx `auth_request` and Traefik ForwardAuth rely on.

use reqwest::{StatusCode, header::WWW_AUTHENTICATE};
use serde_json::Value;
use tessera::domain::Role;

use crate::{
    forgery::forgeries,
    helpers::{Backend, TestApp, TestDatabase},
};

async fn forward(
    app: &TestApp,
    token: Option<&str>,
    method_header: Option<(&str, &str)>,
) -> reqwest::Response {
    let mut request = app.client.get(app.url("/auth/forward/"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some((name, method)) = method_header {
        request = request.header(name, method);
    }
    request.send().await.unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_access_token_passes_with_the_callers_identity() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let customer = app.create_user(Role::Customer).await;

    for method in [
        None,
        Some(("X-Forwarded-Method", "POST")),
        Some(("X-Original-Method", "DELETE")),
    ] {
        let response = forward(&app, Some(&customer.access), method).await;
        assert_eq!(response.status(), StatusCode::OK, "{method:?}");
        assert_eq!(
            header(&response, "X-Auth-Subject"),
            Some(customer.id.to_string().as_str())
        );
        assert_eq!(header(&response, "X-Auth-Role"), Some("customer"));
        assert_eq!(
            header(&response, "X-Auth-Username"),
            Some(customer.username.as_str())
        );
    }
    let without_slash = app
        .client
        .get(app.url("/auth/forward"))
        .bearer_auth(&customer.access)
        .send()
        .await
        .unwrap();
    assert_eq!(without_slash.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_tokens_pass_for_reads_only() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let anonymous: Value = app.post_anonymous().await.json().await.unwrap();
    let access = anonymous["access"].as_str().unwrap();

    for method in ["GET", "HEAD", "OPTIONS", "get"] {
        let response = forward(&app, Some(access), Some(("X-Forwarded-Method", method))).await;
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        assert_eq!(header(&response, "X-Auth-Role"), Some("anonymous"));
        assert!(
            header(&response, "X-Auth-Subject")
                .unwrap()
                .starts_with("anon:")
        );
        assert_eq!(
            header(&response, "X-Auth-Username"),
            None,
            "no account, no username"
        );
    }
    for (name, method) in [
        ("X-Forwarded-Method", "POST"),
        ("X-Original-Method", "PATCH"),
        ("X-Original-Method", "DELETE"),
    ] {
        let response = forward(&app, Some(access), Some((name, method))).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{name}: {method}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "permission_denied");
    }
    // No method header: the method is unknown, so not known to be a read.
    assert_eq!(
        forward(&app, Some(access), None).await.status(),
        StatusCode::FORBIDDEN
    );
    // nginx passes the client's own headers along: a forged "GET" beside the real one fails.
    let smuggled = app
        .client
        .get(app.url("/auth/forward/"))
        .bearer_auth(access)
        .header("X-Forwarded-Method", "GET")
        .header("X-Original-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(smuggled.status(), StatusCode::FORBIDDEN);
}

/// nginx turns any status but 2xx, 401 and 403 into a 500: every refusal is a 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_token_is_a_401_with_a_challenge() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let admin = app.create_user(Role::Admin).await;

    let mut cases = forgeries(&app, &admin.access, &admin.refresh).await;
    cases.push(("refresh token", admin.refresh.clone()));
    cases.push(("empty", String::new()));
    for (attack, token) in cases {
        let response = forward(&app, Some(&token), None).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{attack}");
        assert!(
            response.headers().contains_key(WWW_AUTHENTICATE),
            "{attack}"
        );
        assert_eq!(header(&response, "X-Auth-Subject"), None, "{attack}");
    }
    let missing = forward(&app, None, None).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(missing.headers().contains_key(WWW_AUTHENTICATE));
    let basic = app
        .client
        .get(app.url("/auth/forward/"))
        .basic_auth("admin", Some("password"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
}

/// Envoy's HTTP `ext_authz` asks with the original method and path: `POST /auth/forward/x/1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envoy_ext_authz_asks_with_the_original_method_and_path() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let customer = app.create_user(Role::Customer).await;
    let anonymous: Value = app.post_anonymous().await.json().await.unwrap();
    let anonymous = anonymous["access"].as_str().unwrap();
    let ask = |method: reqwest::Method, token: Option<&str>| {
        let mut request = app
            .client
            .request(method, app.url("/auth/forward/customers/1/"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    let allowed = ask(reqwest::Method::PATCH, Some(&customer.access))
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(
        header(&allowed, "X-Auth-Subject"),
        Some(customer.id.to_string().as_str())
    );
    assert_eq!(header(&allowed, "X-Auth-Role"), Some("customer"));
    assert_eq!(
        header(&allowed, "X-Auth-Username"),
        Some(customer.username.as_str())
    );

    let read = ask(reqwest::Method::GET, Some(anonymous)).await.unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(header(&read, "X-Auth-Role"), Some("anonymous"));
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PATCH,
        reqwest::Method::DELETE,
    ] {
        let write = ask(method.clone(), Some(anonymous)).await.unwrap();
        assert_eq!(write.status(), StatusCode::FORBIDDEN, "{method}");
    }
    let smuggled = app
        .client
        .get(app.url("/auth/forward/customers/"))
        .bearer_auth(anonymous)
        .header("X-Original-Method", "DELETE")
        .send()
        .await
        .unwrap();
    assert_eq!(smuggled.status(), StatusCode::FORBIDDEN);

    for (what, token) in [
        ("no token", None),
        ("the refresh token", Some(customer.refresh.as_str())),
        ("garbage", Some("a.b.c")),
    ] {
        let refused = ask(reqwest::Method::POST, token).await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert!(refused.headers().contains_key(WWW_AUTHENTICATE), "{what}");
        assert_eq!(header(&refused, "X-Auth-Subject"), None, "{what}");
    }
}

/// Off (the default), forward auth is a signature check and a logged-out token passes until
/// its `exp`; with `forward_auth_check_session` it is refused at once, on both routes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_session_check_a_logged_out_token_is_refused_at_once() {
    for sessions in [
        crate::helpers::Sessions::Sqlite,
        crate::helpers::Sessions::Redis,
    ] {
        let (_db, mut settings) = crate::helpers::settings_with_sessions(sessions).await;
        // One issuer for both instances, as behind one load balancer.
        settings.public_url = Some("http://tessera.test".into());
        let signature_only = TestApp::spawn_with(settings.clone()).await;
        settings.forward_auth_check_session = true;
        let checking = TestApp::spawn_with(settings).await;
        let customer = checking.create_user(Role::Customer).await;
        assert_eq!(
            forward(&checking, Some(&customer.access), None)
                .await
                .status(),
            StatusCode::OK
        );

        let logout = checking
            .client
            .post(checking.url("/auth/logout-all/"))
            .bearer_auth(&customer.access)
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status(), StatusCode::OK);

        assert_eq!(
            forward(&checking, Some(&customer.access), None)
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        let ext_authz = checking
            .client
            .get(checking.url("/auth/forward/customers/1"))
            .bearer_auth(&customer.access)
            .send()
            .await
            .unwrap();
        assert_eq!(ext_authz.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            forward(&signature_only, Some(&customer.access), None)
                .await
                .status(),
            StatusCode::OK,
            "without the check the token lives to its exp"
        );
    }
}
