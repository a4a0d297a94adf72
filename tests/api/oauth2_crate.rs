//! The Rust `oauth2` crate (what a Rust service would reach for) against the token endpoint:
//! client credentials by HTTP Basic and in the body, its typed errors for Tessera's answers,
//! and a public client's refresh with rotation.

use oauth2::{
    AuthType, ClientId, ClientSecret, RefreshToken, RequestTokenError, Scope, TokenResponse,
    TokenUrl,
    basic::{
        BasicClient, BasicErrorResponse, BasicErrorResponseType, BasicTokenResponse, BasicTokenType,
    },
};
use reqwest::StatusCode;
use serde_json::json;
use tessera::{
    clients,
    domain::{ClientName, Role, Scopes},
};

use crate::helpers::{Backend, TestApp, TestCustomers, TestDatabase};

/// The crate's HTTP seam, filled with our reqwest.
async fn send(request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let response = reqwest::Client::new()
        .execute(reqwest::Request::try_from(request)?)
        .await?;
    let mut answer = oauth2::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    Ok(answer
        .body(response.bytes().await?.to_vec())
        .expect("a response rebuilt from its own parts"))
}

fn token_url(app: &TestApp) -> TokenUrl {
    TokenUrl::new(app.url("/auth/oauth/token/")).unwrap()
}

#[tokio::test]
async fn client_credentials_through_the_oauth2_crate_reach_the_customer_service() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let customers = TestCustomers::spawn(&app, Backend::Sqlite).await;
    let (registered, secret) = clients::create(
        &app.state.db,
        ClientName::parse("billing").unwrap(),
        Scopes::parse("customers:read customers:write").unwrap(),
    )
    .await
    .unwrap();
    let client = BasicClient::new(ClientId::new(registered.client_id.clone()))
        .set_client_secret(ClientSecret::new(secret.expose().to_owned()))
        .set_token_uri(token_url(&app));

    // client_secret_basic, every scope the client holds.
    let token = client
        .exchange_client_credentials()
        .request_async(&send)
        .await
        .unwrap();
    assert_eq!(*token.token_type(), BasicTokenType::Bearer);
    assert!(token.refresh_token().is_none());
    let expires_in = token.expires_in().unwrap().as_secs();
    assert!((1..=app.settings.lifetimes.access.as_secs()).contains(&expires_in));
    let writer = token.access_token().secret();
    let created = customers
        .create(
            writer,
            &json!({"name": "Acme", "mobile": "9876543210", "customer_type": "retail"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let listed: serde_json::Value = customers
        .get(writer, "/customers/")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["count"], 1);

    // client_secret_post, one scope: reads, and writes are refused.
    let token = client
        .clone()
        .set_auth_type(AuthType::RequestBody)
        .exchange_client_credentials()
        .add_scope(Scope::new("customers:read".into()))
        .request_async(&send)
        .await
        .unwrap();
    assert_eq!(
        token.scopes(),
        Some(&vec![Scope::new("customers:read".into())])
    );
    let reader = token.access_token().secret();
    assert_eq!(
        customers.get(reader, "/customers/").await.status(),
        StatusCode::OK
    );
    let refused = customers
        .create(
            reader,
            &json!({"name": "Other", "mobile": "9876543211", "customer_type": "retail"}),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // Tessera's errors, as the crate types them.
    let error_of = |result: Result<
        BasicTokenResponse,
        RequestTokenError<reqwest::Error, BasicErrorResponse>,
    >| match result {
        Err(RequestTokenError::ServerResponse(response)) => response.error().clone(),
        Err(other) => panic!("expected an error response, got {other:?}"),
        Ok(_) => panic!("expected an error response, got a token"),
    };
    let unknown_scope = client
        .exchange_client_credentials()
        .add_scope(Scope::new("customers:delete".into()))
        .request_async(&send)
        .await;
    assert_eq!(
        error_of(unknown_scope),
        BasicErrorResponseType::InvalidScope
    );
    let wrong_secret = BasicClient::new(ClientId::new(registered.client_id.clone()))
        .set_client_secret(ClientSecret::new("not-the-secret".into()))
        .set_token_uri(token_url(&app))
        .exchange_client_credentials()
        .request_async(&send)
        .await;
    assert_eq!(
        error_of(wrong_secret),
        BasicErrorResponseType::InvalidClient
    );
    app.stop().await;
}

#[tokio::test]
async fn a_public_client_refreshes_through_the_oauth2_crate_and_reuse_is_invalid_grant() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let user = app.create_user(Role::Customer).await;
    let client =
        BasicClient::new(ClientId::new("mobile-app".into())).set_token_uri(token_url(&app));
    let presented = RefreshToken::new(user.refresh.clone());

    let token = client
        .exchange_refresh_token(&presented)
        .request_async(&send)
        .await
        .unwrap();
    let successor = token
        .refresh_token()
        .expect("rotation gives a new refresh token");
    assert_ne!(successor.secret(), &user.refresh);
    assert_eq!(
        app.get_me(token.access_token().secret()).await.status(),
        StatusCode::OK
    );

    let reused = client
        .exchange_refresh_token(&presented)
        .request_async(&send)
        .await;
    match reused {
        Err(RequestTokenError::ServerResponse(response)) => {
            assert_eq!(*response.error(), BasicErrorResponseType::InvalidGrant)
        }
        Err(other) => panic!("expected invalid_grant, got {other:?}"),
        Ok(_) => panic!("a spent refresh token was exchanged again"),
    }
    app.stop().await;
}
