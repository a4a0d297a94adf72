use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::domain::Role;

use crate::{
    helpers::{Backend, TestApp, TestDatabase, peek, status_and_json, valid_registration},
    on_both_backends,
};

on_both_backends!(
    register_creates_a_customer_and_returns_working_tokens,
    register_accepts_urlencoded_and_multipart_bodies,
    register_without_gst_no_is_a_400_naming_gst_no,
    register_reports_every_invalid_field_at_once,
    register_refuses_a_taken_username_and_an_email_taken_in_another_case,
    register_refuses_weak_passwords_with_djangos_messages,
    register_with_mismatched_password2_is_a_400,
    register_of_staff_or_admin_needs_an_admins_token,
    register_of_an_inactive_account_gives_no_tokens_and_no_login,
    a_demoted_admins_token_no_longer_grants_roles_or_lists_accounts,
    concurrent_registrations_of_one_username_create_one_account,
);

async fn register_creates_a_customer_and_returns_working_tokens(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let body = valid_registration();

    let (status, created) = status_and_json(app.post_register(&body).await).await;

    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["username"], body["username"]);
    assert_eq!(created["email"], body["email"]);
    assert_eq!(created["gst_no"], "gst12345");
    assert_eq!(created["role"], "customer");
    assert_eq!(created["is_active"], true);
    assert!(created["id"].as_i64().unwrap() > 0);
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());
    let access = created["tokens"]["access"].as_str().unwrap();
    let (_, claims) = peek(access);
    assert_eq!(claims["role"], "customer");
    let (status, me) = status_and_json(app.get_me(access).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], body["username"]);
}

async fn register_accepts_urlencoded_and_multipart_bodies(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let as_pairs = |body: &Value| -> Vec<(String, String)> {
        body.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect()
    };

    let urlencoded = app
        .client
        .post(app.url("/auth/register/"))
        .form(&as_pairs(&valid_registration()))
        .send()
        .await
        .unwrap();
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in as_pairs(&valid_registration()) {
        form = form.text(name, value);
    }
    let multipart = app
        .client
        .post(app.url("/auth/register/"))
        .multipart(form)
        .send()
        .await
        .unwrap();

    assert_eq!(urlencoded.status(), StatusCode::CREATED);
    assert_eq!(multipart.status(), StatusCode::CREATED);
}

async fn register_without_gst_no_is_a_400_naming_gst_no(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let mut body = valid_registration();
    body.as_object_mut().unwrap().remove("gst_no");

    let (status, error) = status_and_json(app.post_register(&body).await).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "invalid");
    assert_eq!(
        error["fields"]["gst_no"],
        json!(["This field is required."])
    );
}

async fn register_reports_every_invalid_field_at_once(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;

    let (status, error) = status_and_json(
        app.post_register(&json!({"username": "no spaces", "email": "nope", "role": "root"}))
            .await,
    )
    .await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    let fields = error["fields"].as_object().unwrap();
    for field in ["username", "email", "password", "gst_no", "role"] {
        assert!(fields.contains_key(field), "{field} missing from {error}");
    }
}

async fn register_refuses_a_taken_username_and_an_email_taken_in_another_case(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let first = valid_registration();
    assert_eq!(
        app.post_register(&first).await.status(),
        StatusCode::CREATED
    );
    let mut again = valid_registration();
    again["username"] = first["username"].clone();
    again["email"] = json!(first["email"].as_str().unwrap().to_uppercase());

    let (status, error) = status_and_json(app.post_register(&again).await).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["fields"]["username"],
        json!(["A user with that username already exists."])
    );
    assert_eq!(
        error["fields"]["email"],
        json!(["A user with that email already exists."])
    );
}

async fn register_refuses_weak_passwords_with_djangos_messages(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let cases = [
        (
            "short1!",
            "This password is too short. It must contain at least 8 characters.",
        ),
        ("password123", "This password is too common."),
        ("83749201938", "This password is entirely numeric."),
    ];
    for (password, message) in cases {
        let mut body = valid_registration();
        body["password"] = json!(password);
        body.as_object_mut().unwrap().remove("password2");

        let (status, error) = status_and_json(app.post_register(&body).await).await;

        assert_eq!(status, StatusCode::BAD_REQUEST, "{password}");
        let messages = error["fields"]["password"].as_array().unwrap();
        assert!(messages.contains(&json!(message)), "{password}: {error}");
    }
    let mut similar = valid_registration();
    similar["password"] = json!(format!("{}1", similar["username"].as_str().unwrap()));
    similar.as_object_mut().unwrap().remove("password2");
    let (_, error) = status_and_json(app.post_register(&similar).await).await;
    assert_eq!(
        error["fields"]["password"],
        json!(["The password is too similar to the username."])
    );
}

async fn register_with_mismatched_password2_is_a_400(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let mut body = valid_registration();
    body["password2"] = json!("Something-else-9");

    let (status, error) = status_and_json(app.post_register(&body).await).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["fields"]["password2"],
        json!(["Password fields didn't match."])
    );
}

async fn register_of_staff_or_admin_needs_an_admins_token(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let customer = app.create_user(Role::Customer).await;
    let staff = app.create_user(Role::Staff).await;
    let admin = app.create_user(Role::Admin).await;
    let register_as = |role: &str, token: Option<String>| {
        let mut body = valid_registration();
        body["role"] = json!(role);
        let request = app.client.post(app.url("/auth/register/")).json(&body);
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move { request.send().await.unwrap() }
    };

    for role in ["staff", "admin"] {
        let anonymous = register_as(role, None).await;
        assert_eq!(
            anonymous.status(),
            StatusCode::FORBIDDEN,
            "{role} without a token"
        );
        let (_, error) = status_and_json(anonymous).await;
        assert_eq!(error["code"], "permission_denied");
        assert_eq!(
            register_as(role, Some(customer.access.clone()))
                .await
                .status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            register_as(role, Some(staff.access.clone())).await.status(),
            StatusCode::FORBIDDEN
        );
    }
    let (status, created) =
        status_and_json(register_as("staff", Some(admin.access.clone())).await).await;

    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["role"], "staff");
    assert_eq!(
        register_as("customer", None).await.status(),
        StatusCode::CREATED
    );
}

async fn a_demoted_admins_token_no_longer_grants_roles_or_lists_accounts(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let admin = app.create_user(Role::Admin).await;
    let mut demoted = tessera::entity::user::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(admin.id),
        ..Default::default()
    };
    demoted.role = sea_orm::ActiveValue::Set(Role::Customer);
    sea_orm::ActiveModelTrait::update(demoted, &app.state.db)
        .await
        .unwrap();
    let mut body = valid_registration();
    body["role"] = json!("admin");

    let escalation = app
        .client
        .post(app.url("/auth/register/"))
        .bearer_auth(&admin.access)
        .json(&body)
        .send()
        .await
        .unwrap();
    let listing = app.get_with_bearer("/auth/accounts/", &admin.access).await;

    assert_eq!(escalation.status(), StatusCode::FORBIDDEN);
    assert_eq!(listing.status(), StatusCode::FORBIDDEN);
}

async fn register_of_an_inactive_account_gives_no_tokens_and_no_login(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let mut body = valid_registration();
    body["is_active"] = json!(false);

    let (status, created) = status_and_json(app.post_register(&body).await).await;

    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["is_active"], false);
    assert!(created["tokens"].is_null(), "{created}");
    let login = app
        .post_token(body["username"].as_str().unwrap(), "Bx7#mq2Lz9Vw")
        .await;
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
}

async fn concurrent_registrations_of_one_username_create_one_account(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let body = valid_registration();

    let responses = join_all((0..8).map(|_| app.post_register(&body))).await;
    let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status()).collect();

    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::BAD_REQUEST),
        "{statuses:?}"
    );
}
