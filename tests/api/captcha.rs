use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use poem::{
    EndpointExt, Route, Server, handler,
    listener::{Acceptor, Listener, TcpListener},
    web::{Data, Form, Json},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::config::Captcha;

use crate::helpers::{
    Backend, TestApp, TestDatabase, status_and_json, test_settings, valid_registration,
};

type Received = Arc<Mutex<Vec<HashMap<String, String>>>>;

/// A siteverify endpoint that speaks reCAPTCHA's protocol: `success` only for our secret
/// and the token `good-token`.
#[handler]
fn siteverify(Form(form): Form<HashMap<String, String>>, received: Data<&Received>) -> Json<Value> {
    let success = form.get("secret").map(String::as_str) == Some("server-secret")
        && form.get("response").map(String::as_str) == Some("good-token");
    received.0.lock().unwrap().push(form);
    Json(json!({"success": success}))
}

async fn spawn_provider() -> (String, Received) {
    let received = Received::default();
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let address = acceptor.local_addr()[0].as_socket_addr().copied().unwrap();
    let app = Route::new()
        .at("/siteverify", poem::post(siteverify))
        .data(received.clone());
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    (format!("http://{address}/siteverify"), received)
}

async fn app_with_captcha(db: &TestDatabase, verify_url: String) -> TestApp {
    let mut settings = test_settings(db);
    settings.captcha = Some(Captcha {
        verify_url,
        secret: "server-secret".into(),
    });
    TestApp::spawn_with(settings).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_with_captcha_asks_the_provider_with_our_secret_only() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let (verify_url, received) = spawn_provider().await;
    let app = app_with_captcha(&db, verify_url).await;

    let mut missing = valid_registration();
    let (status, error) = status_and_json(app.post_register(&missing).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["fields"]["captcha"],
        json!(["This field is required."])
    );

    missing["captcha"] = json!({"secret": "server-secret", "response": "bad-token"});
    let (status, error) = status_and_json(app.post_register(&missing).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["fields"]["captcha"],
        json!(["Captcha verification failed."])
    );

    let mut seed_000_style = valid_registration();
    seed_000_style["captcha"] =
        json!({"secret": "a-client-supplied-secret", "response": "good-token"});
    assert_eq!(
        app.post_register(&seed_000_style).await.status(),
        StatusCode::CREATED
    );

    let form_body: Vec<(String, String)> = valid_registration()
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .chain([("captcha_response".to_owned(), "good-token".to_owned())])
        .collect();
    let form = app
        .client
        .post(app.url("/auth/register/"))
        .form(&form_body)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::CREATED);

    let received = received.lock().unwrap();
    assert_eq!(
        received.len(),
        3,
        "the missing-captcha attempt never reached the provider"
    );
    assert!(
        received
            .iter()
            .all(|form| form["secret"] == "server-secret")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_captcha_provider_is_a_503_not_a_pass() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = app_with_captcha(&db, format!("http://127.0.0.1:{closed_port}/siteverify")).await;
    let mut body = valid_registration();
    body["captcha"] = json!({"response": "good-token"});

    let (status, error) = status_and_json(app.post_register(&body).await).await;

    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error["code"], "service_unavailable");
}
