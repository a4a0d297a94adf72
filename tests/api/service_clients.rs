//! OAuth 2.0 service clients: the `client_credentials` grant, client authentication (basic and
//! post, wrong, disabled, deleted, rotated, rate-limited), scopes at the customer service, and
//! registered clients as introspection callers.

use std::time::Duration;

use poem_openapi::types::ToJSON;
use reqwest::{StatusCode, header::WWW_AUTHENTICATE};
use serde_json::{Value, json};
use tessera::{
    clients::{self, Client, ClientSecret},
    config::RateLimitSettings,
    domain::{ClientName, Role, Scopes},
    error::ApiError,
    http::Rate,
};

use crate::helpers::{Backend, TestApp, TestCustomers, TestDatabase, test_settings};

const TOKEN: &str = "/auth/oauth/token/";

async fn register(app: &TestApp, name: &str, scopes: &str) -> (Client, ClientSecret) {
    clients::create(
        &app.state.db,
        ClientName::parse(name).unwrap(),
        Scopes::parse(scopes).unwrap(),
    )
    .await
    .unwrap()
}

/// `client_secret_basic`.
async fn basic(
    app: &TestApp,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(TOKEN))
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn service_token(app: &TestApp, client: &Client, secret: &ClientSecret) -> String {
    let (status, body) = basic(
        app,
        &client.client_id,
        secret.expose(),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

fn customer() -> Value {
    json!({"name": "Acme Traders", "mobile": "9876543210", "customer_type": "retail"})
}

#[tokio::test]
async fn a_service_token_acts_for_its_client_with_its_scopes_at_the_customer_service() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let customers = TestCustomers::spawn(&app, Backend::Sqlite).await;
    let (writer, writer_secret) = register(&app, "billing", "customers:read customers:write").await;
    let (reader, reader_secret) = register(&app, "reports", "customers:read").await;
    let (other, other_secret) = register(&app, "mailer", "mail:send").await;

    let (status, body) = basic(
        &app,
        &writer.client_id,
        writer_secret.expose(),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "customers:read customers:write");
    assert!(body.get("refresh_token").is_none(), "{body}");
    let lifetime = app.settings.lifetimes.access.as_secs() as i64;
    assert!((lifetime - 1..=lifetime).contains(&body["expires_in"].as_i64().unwrap()));
    let access = body["access_token"].as_str().unwrap();

    // RFC 9068 claims, verified through the JWKS as every consumer verifies them.
    let claims = customers.state.verifier.verify(access).await.unwrap();
    assert_eq!(claims.sub, writer.client_id);
    assert_eq!(claims.client_id, writer.client_id);
    assert_eq!(claims.role, Role::Service);
    assert_eq!(
        claims.scope.as_deref(),
        Some("customers:read customers:write")
    );
    assert_eq!(
        (claims.user_id, claims.username, claims.sid),
        (None, None, None)
    );

    let created = customers.create(access, &customer()).await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["created_by"], json!(writer.client_id));
    let listed: Value = customers
        .get(access, "/customers/")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["count"], 1);

    let read_only = service_token(&app, &reader, &reader_secret).await;
    assert_eq!(
        customers.get(&read_only, "/customers/").await.status(),
        StatusCode::OK
    );
    let refused = customers.create(&read_only, &customer()).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(
        refused,
        ApiError::NEEDS_CUSTOMERS_WRITE.body().to_json().unwrap()
    );
    let path = format!("/customers/{}/", created["id"]);
    assert_eq!(
        customers.delete(&read_only, &path).await.status(),
        StatusCode::FORBIDDEN
    );

    let unrelated = service_token(&app, &other, &other_secret).await;
    for path in ["/customers/", path.as_str()] {
        let response = customers.get(&unrelated, path).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_client_gets_the_scopes_it_asks_for_of_those_it_is_registered_for() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let (client, secret) = register(&app, "billing", "customers:read customers:write").await;
    let form = |scope: &'static str| {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", client.client_id.as_str()),
            ("client_secret", secret.expose()),
            ("scope", scope),
        ]
    };
    let (status, headers, body) = app.post_oauth_token(&form("customers:read")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["scope"], "customers:read");
    for unknown in ["customers:delete", "customers:read admin", "bad\"scope"] {
        let (status, _, body) = app.post_oauth_token(&form(unknown)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{unknown}");
        assert_eq!(body["error"], "invalid_scope", "{unknown}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn wrong_disabled_deleted_and_rotated_credentials_are_invalid_client() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let (client, secret) = register(&app, "billing", "customers:read").await;
    let grant = [("grant_type", "client_credentials")];
    let refused = |(status, body): (StatusCode, Value)| {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"], "invalid_client", "{body}");
    };

    refused(basic(&app, &client.client_id, "wrong", &grant).await);
    refused(basic(&app, "no-such-client", secret.expose(), &grant).await);
    refused(basic(&app, &client.client_id, &"x".repeat(10_000), &grant).await);
    let (status, headers, body) = app
        .post_oauth_token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client.client_id),
            ("client_secret", "wrong"),
        ])
        .await;
    refused((status, body));
    assert!(
        headers[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );

    clients::set_active(&app.state.db, &client, false)
        .await
        .unwrap();
    refused(basic(&app, &client.client_id, secret.expose(), &grant).await);
    clients::set_active(&app.state.db, &client, true)
        .await
        .unwrap();
    service_token(&app, &client, &secret).await;

    let rotated = clients::rotate_secret(&app.state.db, &client)
        .await
        .unwrap();
    refused(basic(&app, &client.client_id, secret.expose(), &grant).await);
    service_token(&app, &client, &rotated).await;

    assert!(clients::delete(&app.state.db, &client).await.unwrap());
    refused(basic(&app, &client.client_id, rotated.expose(), &grant).await);
    app.stop().await;
}

#[tokio::test]
async fn client_authentication_is_unambiguous_and_grants_stay_with_their_clients() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let user = app.create_user(Role::Customer).await;
    let (client, secret) = register(&app, "billing", "customers:read").await;

    // Two methods at once, or a client_id other than the authenticated one: invalid_request.
    for form in [
        vec![
            ("grant_type", "client_credentials"),
            ("client_secret", secret.expose()),
        ],
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "someone-else"),
        ],
    ] {
        let (status, body) = basic(&app, &client.client_id, secret.expose(), &form).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{form:?}");
        assert_eq!(body["error"], "invalid_request", "{body}");
    }
    // A service client holds no user's refresh token: unauthorized_client, and the token is
    // not spent.
    let (status, body) = basic(
        &app,
        &client.client_id,
        secret.expose(),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &user.refresh),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unauthorized_client", "{body}");
    assert_eq!(
        app.post_refresh(&user.refresh).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

/// Per client IP at the login rate, failures only: a client that authenticates never spends
/// the limit, and nobody can lock a client out by its (public) id from elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_client_authentication_is_rate_limited_like_logins() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&db);
    settings.rate_limits = RateLimitSettings {
        login: Some(Rate {
            burst: 3,
            period: Duration::from_secs(60),
        }),
        ..Default::default()
    };
    let app = TestApp::spawn_with(settings).await;
    let (client, secret) = register(&app, "billing", "customers:read").await;
    let grant = [("grant_type", "client_credentials")];

    for _ in 0..6 {
        service_token(&app, &client, &secret).await;
    }
    for _ in 0..3 {
        let (status, _) = basic(&app, &client.client_id, "guess", &grant).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let response = app
        .client
        .post(app.url(TOKEN))
        .basic_auth(&client.client_id, Some(secret.expose()))
        .form(&grant)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    app.stop().await;
}

#[tokio::test]
async fn registered_clients_introspect_and_a_disabled_clients_tokens_are_inactive() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let user = app.create_user(Role::Customer).await;
    let (gateway, gateway_secret) = register(&app, "gateway", "tokens:introspect").await;
    let (billing, billing_secret) = register(&app, "billing", "customers:read").await;
    let service = service_token(&app, &billing, &billing_secret).await;
    let introspect = |id: String, secret: String, token: String| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url("/auth/token/introspect/"))
                .basic_auth(id, Some(secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let as_gateway = |token: &str| {
        introspect(
            gateway.client_id.clone(),
            gateway_secret.expose().to_owned(),
            token.to_owned(),
        )
    };

    let (status, body) = as_gateway(&user.access).await;
    assert_eq!(
        (status, &body["active"]),
        (StatusCode::OK, &json!(true)),
        "{body}"
    );
    let (_, body) = as_gateway(&service).await;
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["role"], "service");
    assert_eq!(body["scope"], "customers:read");
    assert_eq!(body["client_id"], json!(billing.client_id));

    clients::set_active(&app.state.db, &billing, false)
        .await
        .unwrap();
    let (_, body) = as_gateway(&service).await;
    assert_eq!(body, json!({"active": false}));
    clients::set_active(&app.state.db, &billing, true)
        .await
        .unwrap();
    clients::delete(&app.state.db, &billing).await.unwrap();
    let (_, body) = as_gateway(&service).await;
    assert_eq!(body, json!({"active": false}));

    let (status, _) = introspect(
        gateway.client_id.clone(),
        "wrong".into(),
        user.access.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A client without the introspection scope learns nothing of other people's tokens.
    let (reader, reader_secret) = register(&app, "reader", "customers:read").await;
    let (status, _) = introspect(
        reader.client_id.clone(),
        reader_secret.expose().to_owned(),
        user.access.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    clients::delete(&app.state.db, &gateway).await.unwrap();
    let (status, _) = as_gateway(&user.access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn service_tokens_have_no_account_sessions_or_password() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let (client, secret) = register(&app, "billing", "customers:read").await;
    let token = service_token(&app, &client, &secret).await;
    let expected = ApiError::SERVICE_HAS_NO_ACCOUNT.body().to_json().unwrap();
    for path in ["/auth/me/", "/auth/sessions/"] {
        let response = app.get_with_bearer(path, &token).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(response.json::<Value>().await.unwrap(), expected, "{path}");
    }
    let change = app
        .client
        .post(app.url("/auth/password/change/"))
        .bearer_auth(&token)
        .json(&json!({"old_password": "a", "new_password": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(change.status(), StatusCode::FORBIDDEN);

    // A gateway learns the client and its scopes.
    let forward = app
        .client
        .get(app.url("/auth/forward/"))
        .bearer_auth(&token)
        .header("X-Forwarded-Method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(forward.status(), StatusCode::OK);
    assert_eq!(
        forward.headers()["x-auth-subject"],
        client.client_id.as_str()
    );
    assert_eq!(forward.headers()["x-auth-role"], "service");
    assert_eq!(forward.headers()["x-auth-scope"], "customers:read");
    assert!(forward.headers().get("x-auth-username").is_none());
    app.stop().await;
}

/// Through a gateway: a service token writes only with a `<resource>:write` scope, and with
/// `forward_auth_check_session` a disabled client's tokens stop at once.
#[tokio::test]
async fn forward_auth_holds_service_tokens_to_their_scopes_and_clients() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&db);
    settings.forward_auth_check_session = true;
    let app = TestApp::spawn_with(settings).await;
    let (reader, reader_secret) = register(&app, "reports", "customers:read").await;
    let (writer, writer_secret) = register(&app, "billing", "customers:read customers:write").await;
    let forward = |token: String, method: &'static str| {
        let app = &app;
        async move {
            app.client
                .get(app.url("/auth/forward/"))
                .bearer_auth(token)
                .header("X-Forwarded-Method", method)
                .send()
                .await
                .unwrap()
        }
    };
    let read_only = service_token(&app, &reader, &reader_secret).await;
    let read_write = service_token(&app, &writer, &writer_secret).await;
    assert_eq!(
        forward(read_only.clone(), "GET").await.status(),
        StatusCode::OK
    );
    let refused = forward(read_only.clone(), "POST").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        ApiError::SERVICE_MAY_ONLY_READ.body().to_json().unwrap()
    );
    let allowed = forward(read_write.clone(), "DELETE").await;
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(
        allowed.headers()["x-auth-scope"],
        "customers:read customers:write"
    );

    clients::set_active(&app.state.db, &writer, false)
        .await
        .unwrap();
    assert_eq!(
        forward(read_write, "GET").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(forward(read_only, "GET").await.status(), StatusCode::OK);
    app.stop().await;
}

/// RFC 7009 §2.1: public clients revoke with the token alone; a client that authenticates
/// must do so correctly.
#[tokio::test]
async fn revocation_takes_a_registered_clients_credentials_and_refuses_wrong_ones() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let user = app.create_user(Role::Customer).await;
    let (client, secret) = register(&app, "billing", "").await;
    let revoke = |id: &'static str, secret: String| {
        let app = &app;
        let refresh = user.refresh.clone();
        let client_id = client.client_id.clone();
        async move {
            let id = if id.is_empty() {
                client_id
            } else {
                id.to_owned()
            };
            app.client
                .post(app.url("/auth/token/revoke/"))
                .basic_auth(id, Some(secret))
                .form(&[("token", refresh)])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(revoke("", "wrong".into()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        revoke("nobody", "wrong".into()).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post_refresh(&user.refresh).await.status(),
        StatusCode::OK,
        "not revoked"
    );
    let user = app.create_user(Role::Customer).await;
    let response = app
        .client
        .post(app.url("/auth/token/revoke/"))
        .basic_auth(&client.client_id, Some(secret.expose()))
        .form(&[("token", &user.refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.post_refresh(&user.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.stop().await;
}
