//! Bad values in any body field: a 400 naming each bad field, on both databases, and nothing
//! stored. NUL characters (which PostgreSQL cannot store) and wrong JSON kinds, as DRF does.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::domain::Role;

use crate::{
    helpers::{Backend, TestApp, TestCustomers, TestDatabase, status_and_json, valid_registration},
    on_both_backends,
};

fn field_messages(body: &Value, field: &str) -> Vec<String> {
    body["fields"][field]
        .as_array()
        .unwrap_or_else(|| panic!("no errors for {field} in {body}"))
        .iter()
        .map(|message| message.as_str().unwrap().to_owned())
        .collect()
}

async fn nul_characters_are_refused_in_every_text_field(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let (status, body) = status_and_json(app.post_token("a\u{0}b", "pw").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        field_messages(&body, "username"),
        ["Null characters are not allowed."]
    );

    let form = app
        .client
        .post(app.url("/auth/token/"))
        .form(&[("username", "a\u{0}"), ("password", "x\u{0}")])
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(form).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["fields"]["username"].is_array() && body["fields"]["password"].is_array());

    let mut registration = valid_registration();
    registration["email"] = json!("x\u{0}@example.com");
    let (status, body) = status_and_json(app.post_register(&registration).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        field_messages(&body, "email"),
        ["Null characters are not allowed."]
    );

    let user = app.create_user(Role::Customer).await;
    let customers = TestCustomers::spawn(&app, backend).await;
    let (status, body) = status_and_json(
        customers
            .create(
                &user.access,
                &json!({"name": "A\u{0}B", "mobile": "9876543210", "customer_type": "retail"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        field_messages(&body, "name"),
        ["Null characters are not allowed."]
    );
    let (status, created) = status_and_json(
        customers
            .create(
                &user.access,
                &json!({"name": "Acme", "mobile": "9876543210", "customer_type": "retail"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let path = format!("/customers/{}/", created["id"]);
    let (status, _) = status_and_json(
        customers
            .patch(&user.access, &path, &json!({"name": "\u{0}"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = status_and_json(
        customers
            .patch(
                &user.access,
                "/customers/",
                &json!({"id": created["id"], "name": "\u{0}"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, unchanged) = status_and_json(customers.get(&user.access, &path).await).await;
    assert_eq!(unchanged["name"], "Acme");
}

async fn wrong_json_kinds_are_named_field_by_field(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let mut registration = valid_registration();
    registration["username"] = json!(true);
    registration["gst_no"] = json!(["gst12345"]);
    registration["email"] = json!({"address": "x@example.com"});
    let (status, body) = status_and_json(app.post_register(&registration).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    for field in ["username", "gst_no", "email"] {
        assert_eq!(
            field_messages(&body, field),
            ["Not a valid string."],
            "{field}"
        );
    }
    let (status, body) = status_and_json(
        app.post_json(
            "/auth/token/",
            &json!({"username": ["a"], "password": {"p": 1}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(field_messages(&body, "username"), ["Not a valid string."]);
    assert_eq!(field_messages(&body, "password"), ["Not a valid string."]);
    let (status, body) = status_and_json(
        app.post_json("/auth/token/refresh/", &json!({"refresh": false}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(field_messages(&body, "refresh"), ["Not a valid string."]);

    // The account "True" is never made from a boolean.
    let mut numeric = valid_registration();
    let name = format!("1{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    numeric["username"] = json!(name.parse::<u64>().unwrap_or(12345));
    let (status, body) = status_and_json(app.post_register(&numeric).await).await;
    assert!(
        status == StatusCode::CREATED || status == StatusCode::BAD_REQUEST,
        "numbers are taken as their text: {body}"
    );

    let user = app.create_user(Role::Customer).await;
    let customers = TestCustomers::spawn(&app, backend).await;
    let (status, body) = status_and_json(
        customers
            .create(
                &user.access,
                &json!({"name": ["A"], "mobile": true, "customer_type": {"k": "v"}}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    for field in ["name", "mobile", "customer_type"] {
        assert_eq!(
            field_messages(&body, field),
            ["Not a valid string."],
            "{field}"
        );
    }
    let (status, body) = status_and_json(
        customers
            .patch(
                &user.access,
                "/customers/",
                &json!({"id": [1], "name": "B"}),
            )
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        field_messages(&body, "id"),
        ["A valid integer is required."]
    );
}

on_both_backends!(
    nul_characters_are_refused_in_every_text_field,
    wrong_json_kinds_are_named_field_by_field
);
