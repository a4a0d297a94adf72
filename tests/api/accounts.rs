use reqwest::StatusCode;
use serde_json::json;
use tessera::{domain::Role, token::Subject};

use crate::{
    helpers::{Backend, TestApp, TestDatabase, status_and_json},
    on_both_backends,
};

on_both_backends!(
    me_returns_the_callers_profile_without_secrets,
    me_and_accounts_need_a_bearer_token,
    me_and_accounts_refuse_anonymous_tokens,
    accounts_are_for_staff_and_admin_only,
    accounts_are_paginated_like_drf,
);

fn anonymous_access_token(app: &TestApp) -> String {
    let subject = Subject {
        sub: format!("anon:{}", uuid::Uuid::new_v4()),
        user_id: None,
        username: None,
        role: Role::Anonymous,
    };
    app.state.issuer.issue_pair(&subject).access
}

async fn me_returns_the_callers_profile_without_secrets(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let user = app.create_user(Role::Staff).await;

    let response = app.get_me(&user.access).await;

    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        !text.contains("argon2") && !text.contains("password"),
        "{text}"
    );
    let me: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(me["id"], user.id);
    assert_eq!(me["username"], user.username);
    assert_eq!(me["role"], "staff");
}

async fn me_and_accounts_need_a_bearer_token(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;

    for path in ["/auth/me/", "/auth/accounts/"] {
        let missing = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            missing.headers()["www-authenticate"],
            r#"Bearer realm="api""#
        );
        let (_, error) = status_and_json(missing).await;
        assert_eq!(error["code"], "not_authenticated");

        let user = app.create_user(Role::Customer).await;
        let twice = app
            .client
            .get(app.url(path))
            .header("authorization", format!("Bearer {}", user.access))
            .header("authorization", "Bearer forged")
            .send()
            .await
            .unwrap();
        let (status, error) = status_and_json(twice).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "two Authorization headers");
        assert_eq!(error["code"], "parse_error");

        let (status, error) = status_and_json(app.get_with_bearer(path, "not-a-jwt").await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            error,
            json!({"code": "token_not_valid", "detail": "Token is invalid or expired"})
        );
    }
}

async fn me_and_accounts_refuse_anonymous_tokens(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let anonymous = anonymous_access_token(&app);

    for path in ["/auth/me/", "/auth/accounts/"] {
        let (status, error) = status_and_json(app.get_with_bearer(path, &anonymous).await).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(error["code"], "permission_denied");
    }
}

async fn accounts_are_for_staff_and_admin_only(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let customer = app.create_user(Role::Customer).await;

    let refused = app
        .get_with_bearer("/auth/accounts/", &customer.access)
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    for role in [Role::Staff, Role::Admin] {
        let user = app.create_user(role).await;
        let (status, page) =
            status_and_json(app.get_with_bearer("/auth/accounts/", &user.access).await).await;
        assert_eq!(status, StatusCode::OK, "{role}");
        assert!(
            page["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|u| u.get("password_hash").is_none())
        );
    }
}

async fn accounts_are_paginated_like_drf(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let admin = app.create_user(Role::Admin).await;
    for _ in 0..4 {
        app.create_user(Role::Customer).await;
    }

    let (status, first) = status_and_json(
        app.get_with_bearer("/auth/accounts/?page_size=2", &admin.access)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first["count"], 5);
    assert_eq!(first["results"].as_array().unwrap().len(), 2);
    assert_eq!(first["results"][0]["id"], admin.id);
    assert!(first["previous"].is_null());
    let next = first["next"].as_str().unwrap();
    assert_eq!(
        next,
        format!("{}/auth/accounts/?page=2&page_size=2", app.address)
    );

    let (_, second) = status_and_json(
        app.get_with_bearer(&next[app.address.len()..], &admin.access)
            .await,
    )
    .await;
    assert_eq!(second["results"].as_array().unwrap().len(), 2);
    assert!(second["previous"].is_string());
    let (_, last) = status_and_json(
        app.get_with_bearer("/auth/accounts?page=3&page_size=2", &admin.access)
            .await,
    )
    .await;
    assert_eq!(last["results"].as_array().unwrap().len(), 1);
    assert!(last["next"].is_null());

    for beyond in [
        "/auth/accounts/?page=4&page_size=2",
        "/auth/accounts/?page=0",
    ] {
        let (status, error) =
            status_and_json(app.get_with_bearer(beyond, &admin.access).await).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{beyond}");
        assert_eq!(error["code"], "not_found");
    }
    let (status, error) = status_and_json(
        app.get_with_bearer("/auth/accounts/?page=abc", &admin.access)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["fields"],
        serde_json::json!({"page": ["A valid integer is required."]}),
        "DRF's wording, naming the parameter: {error}"
    );
}
