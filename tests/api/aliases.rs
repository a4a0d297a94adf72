//! Route aliases: a simplejwt client's own paths reach Tessera's operations, and neither the
//! OpenAPI document nor the metrics learn of them.

use reqwest::StatusCode;
use serde_json::Value;
use tessera::{domain::Role, startup::AuthApp};

use crate::helpers::{Backend, TestApp, TestCustomers, TestDatabase, test_settings};

fn pairs(aliases: &[(&str, &str)]) -> Vec<(String, String)> {
    aliases
        .iter()
        .map(|(alias, target)| (alias.to_string(), target.to_string()))
        .collect()
}

/// Seed 000's paths and simplejwt's preset, driven as those clients do (form bodies).
#[tokio::test]
async fn a_seeds_own_paths_reach_the_operations_they_name() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&db);
    settings.aliases = pairs(&[
        ("/gettoken/", "obtain_token_pair"),
        ("/refreshtoken/", "/auth/token/refresh/"),
        ("/verifytoken/", "verify_token"),
        ("/gettoken_anonymous/", "obtain_anonymous_token_pair"),
    ]);
    settings
        .aliases
        .extend(pairs(&tessera::http::SIMPLEJWT_PRESET));
    let app = TestApp::spawn_with(settings).await;
    let user = app.create_user(Role::Customer).await;
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        let request = app.client.post(app.url(path)).form(&form);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let login = || {
        vec![
            ("username", user.username.clone()),
            ("password", user.password.clone()),
        ]
    };

    let (status, pair) = post("/gettoken/", login()).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let (status, renewed) = post(
        "/refreshtoken/",
        vec![("refresh", pair["refresh"].as_str().unwrap().into())],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let (status, verified) = post(
        "/verifytoken",
        vec![("token", renewed["access"].as_str().unwrap().into())],
    )
    .await;
    assert_eq!((status, verified), (StatusCode::OK, serde_json::json!({})));
    let (status, anonymous) = post("/gettoken_anonymous/", vec![]).await;
    assert_eq!(status, StatusCode::OK, "{anonymous}");

    let (status, pair) = post("/api/token/", login()).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let (status, renewed) = post(
        "/api/token/refresh/",
        vec![("refresh", pair["refresh"].as_str().unwrap().into())],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let refresh = renewed["refresh"].as_str().unwrap().to_owned();
    let (status, _) = post("/api/token/blacklist/", vec![("refresh", refresh.clone())]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = post("/api/token/refresh/", vec![("refresh", refresh)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "token_not_valid");

    // A query string survives the rewrite; a path that is no alias is still unknown.
    let (status, _) = post("/gettoken/?next=/", login()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post("/gettokens/", login()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // An operation's alias answers that operation's method only.
    let wrong_method = app.client.get(app.url("/gettoken/")).send().await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::NOT_FOUND);

    let document = app.get_json("/openapi.json").await;
    let paths: Vec<&String> = document["paths"].as_object().unwrap().keys().collect();
    assert!(
        paths.iter().all(|path| path.starts_with("/auth/")
            || path.starts_with("/.well-known/")
            || path.starts_with("/healthz")
            || path.starts_with("/readyz")),
        "{paths:?}"
    );
    let metrics = app.get_text("/metrics").await;
    // Three logins through aliases and create_user's through the documented path.
    assert!(
        metrics.contains(
            r#"tessera_http_requests_total{route="/auth/token",method="POST",status="200"} 4"#
        ),
        "{metrics}"
    );
    assert!(
        !metrics.contains("gettoken") && !metrics.contains("/api/token"),
        "{metrics}"
    );
    app.stop().await;
}

/// An alias must name something the service documents, and not hide one of its paths.
#[tokio::test]
async fn an_alias_to_nothing_stops_the_start() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    for (alias, target) in [
        ("/gettoken/", "obtain_token"),
        ("/auth/token/", "refresh_token"),
    ] {
        let mut settings = test_settings(&db);
        settings.aliases = pairs(&[(alias, target)]);
        let Err(err) = AuthApp::build(&settings, false).await else {
            panic!("{alias} = {target} was taken");
        };
        assert!(err.to_string().contains(alias), "{err}");
    }
}

/// Seed 000's customer API path on the customer service.
#[tokio::test]
async fn the_customer_service_takes_aliases_too() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let auth = TestApp::spawn(&db).await;
    let customers = TestCustomers::spawn_configured(
        &auth,
        Backend::Sqlite,
        auth.url("/.well-known/jwks.json"),
        |settings| settings.customers_aliases = pairs(&[("/customerapi/", "/customers/")]),
    )
    .await;
    let user = auth.create_user(Role::Customer).await;
    for name in ["Ravi Traders", "Meera Stores"] {
        let created = customers
            .client
            .post(customers.url("/customerapi/"))
            .bearer_auth(&user.access)
            .form(&[
                ("name", name),
                ("mobile", "+919876543210"),
                ("customer_type", "retail"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    let listed: Value = customers
        .client
        .get(customers.url("/customerapi/?page_size=1"))
        .bearer_auth(&user.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["count"], 2);
    // Links point at the documented path, and keep the query through the rewrite.
    let next = listed["next"].as_str().unwrap();
    assert!(
        next.contains("/customers") && next.contains("page_size=1"),
        "{next}"
    );
}
