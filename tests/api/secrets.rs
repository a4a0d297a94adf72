use base64::{Engine, engine::general_purpose::STANDARD};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use tessera::{
    config::KeySecretSource,
    entity::{signing_key, user},
};

use crate::helpers::{Backend, TestApp, TestDatabase, captured_logs, valid_registration};

/// Passwords, password hashes, private keys and the key secret appear in no response and no
/// log line, after a run of everything that touches them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_a_response_or_a_log_line() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let app = TestApp::spawn(&db).await;
    let body = valid_registration();
    let password = body["password"].as_str().unwrap().to_owned();
    let username = body["username"].as_str().unwrap().to_owned();
    let mut responses = Vec::new();

    let registered = app.post_register(&body).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    responses.push(registered.text().await.unwrap());
    let login = app.post_token(&username, &password).await;
    responses.push(login.text().await.unwrap());
    responses.push(
        app.post_token(&username, "wrong-Passw0rd")
            .await
            .text()
            .await
            .unwrap(),
    );
    let mut weak = valid_registration();
    weak["password"] = json!("hunter2hunter2");
    responses.push(app.post_register(&weak).await.text().await.unwrap());
    let mut typo = valid_registration();
    typo["password"] = json!(1234.5678);
    responses.push(app.post_register(&typo).await.text().await.unwrap());
    let mut wrong_shape = valid_registration();
    wrong_shape["password"] = json!(["list-shaped-Secret-99"]);
    responses.push(app.post_register(&wrong_shape).await.text().await.unwrap());

    let account = user::Entity::find()
        .filter(user::Column::Username.eq(&username))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let key = signing_key::Entity::find()
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let KeySecretSource::Given(key_secret) = &app.settings.key_secret else {
        unreachable!()
    };
    let secrets = [
        ("password", password.clone()),
        ("rejected password", "hunter2hunter2".to_owned()),
        ("password sent as a number", "1234.5678".to_owned()),
        (
            "password sent as a list",
            "list-shaped-Secret-99".to_owned(),
        ),
        ("password hash", account.password_hash.clone()),
        (
            "password hash salt",
            account.password_hash.split('$').nth(4).unwrap().to_owned(),
        ),
        ("key secret", key_secret.expose().to_owned()),
        ("encrypted private key", STANDARD.encode(&key.private_key)),
    ];
    let logs = captured_logs();
    assert!(logs.contains("account registered"), "the log capture works");
    for (what, secret) in &secrets {
        assert!(!logs.contains(secret.as_str()), "the {what} was logged");
        for response in &responses {
            assert!(
                !response.contains(secret.as_str()),
                "the {what} was in a response: {response}"
            );
        }
    }
    for response in &responses {
        assert!(!response.contains("argon2"), "{response}");
    }
}
