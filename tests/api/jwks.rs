use aws_lc_rs::digest::{SHA256, digest};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode};
use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::Value;
use tessera::{
    config::KeySecretSource, domain::Role, entity::signing_key, keys::KeySecret, startup::AuthApp,
};

use crate::{
    helpers::{Backend, TestApp, TestDatabase, peek, test_settings},
    on_both_backends,
};

on_both_backends!(
    a_consumer_verifies_access_tokens_from_the_jwks_alone,
    a_restart_keeps_the_key_and_issued_tokens_valid,
    instances_sharing_a_database_sign_with_one_key,
    the_private_key_is_stored_encrypted_and_needs_the_key_secret,
);

/// What PyJWT's `PyJWKClient` does: discovery, then the JWKS, then a key from `n` and `e`.
async fn a_consumer_verifies_access_tokens_from_the_jwks_alone(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let user = app.create_user(Role::Customer).await;

    let discovery = app.get_json("/.well-known/openid-configuration").await;
    let jwks_response = app
        .client
        .get(discovery["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(jwks_response.status(), StatusCode::OK);
    assert_eq!(
        jwks_response.headers()["cache-control"],
        "public, max-age=300"
    );
    let jwks: Value = jwks_response.json().await.unwrap();
    let (header, _) = peek(&user.access);
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == header["kid"])
        .expect("the token's kid is published");
    assert_eq!(
        (
            jwk["kty"].as_str(),
            jwk["use"].as_str(),
            jwk["alg"].as_str()
        ),
        (Some("RSA"), Some("sig"), Some("RS256"))
    );
    let (n, e) = (jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap());
    let rfc7638 = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    assert_eq!(
        jwk["kid"].as_str().unwrap(),
        URL_SAFE_NO_PAD.encode(digest(&SHA256, rfc7638.as_bytes()))
    );

    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[discovery["issuer"].as_str().unwrap()]);
    validation.set_audience(&["tessera"]);
    let claims = decode::<Value>(
        &user.access,
        &DecodingKey::from_rsa_components(n, e).unwrap(),
        &validation,
    )
    .expect("the access token verifies with the published key")
    .claims;
    assert_eq!(claims["sub"], user.id.to_string());
    assert_eq!(discovery["issuer"], app.address);
    assert_eq!(
        discovery["token_endpoint"],
        format!("{}/auth/oauth/token/", app.address)
    );
    assert_eq!(
        app.get_json("/.well-known/oauth-authorization-server")
            .await,
        discovery,
        "RFC 8414's document and the OpenID one are the same"
    );
}

async fn a_restart_keeps_the_key_and_issued_tokens_valid(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let settings = test_settings(&db);
    let app = TestApp::spawn_with(settings.clone()).await;
    let user = app.create_user(Role::Customer).await;
    let kid_before = peek(&user.access).0["kid"].clone();
    let mut settings = app.settings.clone();
    // Same issuer after the restart, as behind a fixed public URL.
    settings.public_url = Some(app.address.clone());
    app.stop().await;

    let restarted = TestApp::spawn_with(settings).await;

    let jwks = restarted.get_json("/.well-known/jwks.json").await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], kid_before);
    assert_eq!(
        restarted.get_me(&user.access).await.status(),
        StatusCode::OK
    );
    let again = restarted.create_user(Role::Customer).await;
    assert_eq!(peek(&again.access).0["kid"], kid_before);
}

async fn instances_sharing_a_database_sign_with_one_key(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let settings = test_settings(&db);

    let (first, second) = tokio::join!(
        TestApp::spawn_with(settings.clone()),
        TestApp::spawn_with(settings)
    );

    let first_jwks = first.get_json("/.well-known/jwks.json").await;
    let second_jwks = second.get_json("/.well-known/jwks.json").await;
    assert_eq!(first_jwks, second_jwks);
    assert_eq!(first_jwks["keys"].as_array().unwrap().len(), 1);
    let from_first = first.create_user(Role::Customer).await;
    let from_second = second.create_user(Role::Customer).await;
    assert_eq!(
        peek(&from_first.access).0["kid"],
        peek(&from_second.access).0["kid"]
    );
}

async fn the_private_key_is_stored_encrypted_and_needs_the_key_secret(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let rows = signing_key::Entity::find()
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&rows[0].private_key).is_err());
    let mut settings = app.settings.clone();
    app.stop().await;

    settings.key_secret = KeySecretSource::Given(KeySecret::generate());
    let error = match AuthApp::build(&settings, false).await {
        Ok(_) => panic!("started with the wrong key secret"),
        Err(error) => error.to_string(),
    };

    assert!(error.contains("TESSERA_KEY_SECRET"), "{error}");
}

mod rotation {
    use std::time::Duration;

    use chrono::Utc;
    use reqwest::StatusCode;
    use tessera::{
        config::KeySecretSource,
        domain::Role,
        keys::{KeyCipher, KeyStore},
    };

    use crate::{
        helpers::{Backend, TestApp, TestDatabase, peek, test_settings},
        on_both_backends,
    };

    on_both_backends!(
        a_rotated_key_is_published_before_it_signs,
        instances_sharing_a_database_converge_on_a_rotation,
        a_retired_key_leaves_the_jwks_and_its_tokens_stop_working,
    );

    fn key_store(app: &TestApp) -> KeyStore {
        let KeySecretSource::Given(secret) = &app.settings.key_secret else {
            unreachable!()
        };
        KeyStore::new(app.state.db.clone(), KeyCipher::new(secret))
    }

    async fn kids(app: &TestApp) -> Vec<String> {
        let jwks = app.get_json("/.well-known/jwks.json").await;
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn a_rotated_key_is_published_before_it_signs(backend: Backend) {
        let db = TestDatabase::create(backend).await;
        let app = TestApp::spawn(&db).await;
        let before = app.create_user(Role::Customer).await;
        let old_kid = peek(&before.access).0["kid"].as_str().unwrap().to_owned();

        let new_kid = key_store(&app)
            .rotate(
                Utc::now() + chrono::Duration::hours(1),
                Duration::from_secs(86_400),
            )
            .await
            .unwrap()
            .unwrap();
        app.state.reload_keys().await.unwrap();

        assert_eq!(kids(&app).await, [old_kid.clone(), new_kid]);
        let during = app.create_user(Role::Customer).await;
        assert_eq!(
            peek(&during.access).0["kid"],
            old_kid.as_str(),
            "the pending key does not sign yet"
        );
        assert_eq!(app.get_me(&before.access).await.status(), StatusCode::OK);
    }

    async fn instances_sharing_a_database_converge_on_a_rotation(backend: Backend) {
        let db = TestDatabase::create(backend).await;
        let mut settings = test_settings(&db);
        settings.key_reload_interval = Duration::from_millis(200);
        // One issuer for both, as behind a load balancer.
        settings.public_url = Some("https://auth.example".into());
        let first = TestApp::spawn_with(settings.clone()).await;
        let second = TestApp::spawn_with(settings).await;
        let before = first.create_user(Role::Customer).await;

        let new_kid = key_store(&first)
            .rotate(Utc::now(), Duration::from_secs(86_400))
            .await
            .unwrap()
            .unwrap();

        // Neither instance is told: each finds the rotation on its own periodic reload.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut minted = Vec::new();
        for app in [&first, &second] {
            loop {
                let user = app.create_user(Role::Customer).await;
                if peek(&user.access).0["kid"] == new_kid.as_str() {
                    minted.push(user);
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "the rotation never reached an instance"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        for user in &minted {
            for app in [&first, &second] {
                assert_eq!(app.get_me(&user.access).await.status(), StatusCode::OK);
            }
        }
        assert_eq!(
            second.get_me(&before.access).await.status(),
            StatusCode::OK,
            "old tokens stay valid"
        );
        assert_eq!(
            second.post_refresh(&before.refresh).await.status(),
            StatusCode::OK,
            "and old refresh tokens"
        );
    }

    async fn a_retired_key_leaves_the_jwks_and_its_tokens_stop_working(backend: Backend) {
        let db = TestDatabase::create(backend).await;
        let app = TestApp::spawn(&db).await;
        let before = app.create_user(Role::Customer).await;

        // Signing since two days, with tokens living one second: the old key is past retirement.
        let new_kid = key_store(&app)
            .rotate(
                Utc::now() - chrono::Duration::days(2),
                Duration::from_secs(1),
            )
            .await
            .unwrap()
            .unwrap();
        app.state.reload_keys().await.unwrap();

        assert_eq!(kids(&app).await, [new_kid]);
        assert_eq!(
            app.get_me(&before.access).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.post_refresh(&before.refresh).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}
