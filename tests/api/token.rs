use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tessera::domain::Role;

use crate::{
    helpers::{Backend, TestApp, TestDatabase, peek, status_and_json},
    on_both_backends,
};

on_both_backends!(
    obtain_returns_an_rs256_access_token_with_rfc_9068_and_simplejwt_claims,
    obtain_accepts_urlencoded_and_multipart_bodies,
    obtain_refuses_wrong_password_unknown_user_and_inactive_account_alike,
    obtain_without_credentials_is_a_400_naming_the_fields,
    obtain_records_last_login,
    obtain_rehashes_a_password_stored_at_an_old_cost,
);

async fn obtain_returns_an_rs256_access_token_with_rfc_9068_and_simplejwt_claims(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let user = app.create_user(Role::Customer).await;

    let (status, pair) =
        status_and_json(app.post_token(&user.username, &user.password).await).await;

    assert_eq!(status, StatusCode::OK);
    let (header, claims) = peek(pair["access"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    assert!(header["kid"].as_str().is_some_and(|kid| kid.len() == 43));
    assert_eq!(claims["iss"], app.address);
    assert_eq!(claims["aud"], "tessera");
    assert_eq!(claims["client_id"], "tessera");
    assert_eq!(claims["sub"], user.id.to_string());
    assert_eq!(claims["user_id"], user.id);
    assert_eq!(claims["username"], user.username);
    assert_eq!(claims["role"], "customer");
    assert_eq!(claims["token_type"], "access");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    assert_eq!(claims["jti"].as_str().unwrap().len(), 32);
    let (header, claims) = peek(pair["refresh"].as_str().unwrap());
    assert_eq!(header["alg"], "HS256");
    assert_eq!(claims["token_type"], "refresh");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        86_400
    );
    assert!(claims["fam"].is_string());
}

async fn obtain_accepts_urlencoded_and_multipart_bodies(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let user = app.create_user(Role::Customer).await;

    let urlencoded = app
        .client
        .post(app.url("/auth/token/"))
        .form(&[("username", &user.username), ("password", &user.password)])
        .send()
        .await
        .unwrap();
    let form = reqwest::multipart::Form::new()
        .text("username", user.username.clone())
        .text("password", user.password.clone());
    let multipart = app
        .client
        .post(app.url("/auth/token"))
        .multipart(form)
        .send()
        .await
        .unwrap();

    assert_eq!(urlencoded.status(), StatusCode::OK);
    assert_eq!(multipart.status(), StatusCode::OK);
}

async fn obtain_refuses_wrong_password_unknown_user_and_inactive_account_alike(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let user = app.create_user(Role::Customer).await;
    let mut inactive = tessera::entity::user::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(app.create_user(Role::Customer).await.id),
        ..Default::default()
    };
    inactive.is_active = sea_orm::ActiveValue::Set(false);
    sea_orm::ActiveModelTrait::update(inactive.clone(), &app.state.db)
        .await
        .unwrap();
    let inactive_name = {
        use sea_orm::EntityTrait;
        let id = *inactive.id.as_ref();
        tessera::entity::user::Entity::find_by_id(id)
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap()
            .username
    };

    for (username, password) in [
        (user.username.as_str(), "wrong-password"),
        ("nobody-by-this-name", "whatever-password"),
        (inactive_name.as_str(), "any"),
    ] {
        let response = app.post_token(username, password).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{username}");
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer realm="api", error="invalid_token""#
        );
        let (_, error) = status_and_json(response).await;
        assert_eq!(
            error,
            json!({"code": "no_active_account", "detail": "No active account found with the given credentials"})
        );
    }

    // An unknown user costs a password check too: without it, it would answer in about a
    // millisecond instead of the tens an argon2id verification takes.
    let median = |samples: &mut Vec<Duration>| {
        samples.sort();
        samples[samples.len() / 2]
    };
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        app.post_token("nobody-by-this-name", "whatever-password")
            .await;
        unknown.push(started.elapsed());
        let started = Instant::now();
        app.post_token(&user.username, "wrong-password").await;
        wrong.push(started.elapsed());
    }
    let (unknown, wrong) = (median(&mut unknown), median(&mut wrong));
    assert!(
        unknown * 2 > wrong,
        "unknown user {unknown:?} vs wrong password {wrong:?}"
    );
}

async fn obtain_without_credentials_is_a_400_naming_the_fields(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;

    let (status, error) = status_and_json(app.post_json("/auth/token/", &json!({})).await).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["fields"],
        json!({"username": ["This field is required."], "password": ["This field is required."]})
    );
}

async fn obtain_rehashes_a_password_stored_at_an_old_cost(backend: Backend) {
    use sea_orm::{ActiveModelTrait, ActiveValue, EntityTrait};
    use tessera::{
        auth::{HashCost, PasswordHasher},
        domain::Password,
        entity::user,
    };
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let account = app.create_user(Role::Customer).await;
    let old_cost = PasswordHasher::new(
        HashCost {
            memory_kib: 8192,
            iterations: 1,
            parallelism: 1,
        },
        1,
    )
    .unwrap();
    let old_hash = old_cost
        .hash(Password::unchecked_for_login(account.password.clone()))
        .await
        .unwrap();
    user::ActiveModel {
        id: ActiveValue::Unchanged(account.id),
        password_hash: ActiveValue::Set(old_hash.clone()),
        ..Default::default()
    }
    .update(&app.state.db)
    .await
    .unwrap();

    assert_eq!(
        app.post_token(&account.username, &account.password)
            .await
            .status(),
        StatusCode::OK
    );

    let stored = user::Entity::find_by_id(account.id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap()
        .password_hash;
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    assert_eq!(
        app.post_token(&account.username, &account.password)
            .await
            .status(),
        StatusCode::OK
    );
}

async fn obtain_records_last_login(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let user = app.create_user(Role::Customer).await;

    let (_, me) = status_and_json(app.get_me(&user.access).await).await;

    assert!(me["last_login"].is_string(), "{me}");
}

/// A verified access token is remembered until its `exp`, never past it, and the memory of
/// them is bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_access_tokens_are_remembered_until_they_expire_and_no_more_than_10_000() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = crate::helpers::test_settings(&db);
    settings.lifetimes.access = Duration::from_secs(1);
    let app = TestApp::spawn_with(settings).await;
    let user = app.create_user(Role::Customer).await;
    for _ in 0..3 {
        assert_eq!(app.post_verify(&user.access).await.status(), StatusCode::OK);
    }
    assert_eq!(app.get_me(&user.access).await.status(), StatusCode::OK);
    assert!(app.state.verifier.remembered() >= 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        app.post_verify(&user.access).await.status(),
        StatusCode::UNAUTHORIZED,
        "remembered, but expired"
    );
    assert_eq!(
        app.get_me(&user.access).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let subject = tessera::token::Subject::account(user.id, &user.username, Role::Customer);
    for _ in 0..10_050 {
        let token = app.state.issuer.issue_access(&subject, "bound-test");
        app.state.verifier.verify_access(&token).unwrap();
        assert!(app.state.verifier.remembered() <= 10_000);
    }
    app.stop().await;
}
