//! RFC 7662 introspection and RFC 7009 revocation.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{RequestBuilder, StatusCode};
use sea_orm::{ActiveModelTrait, ActiveValue};
use serde_json::{Value, json};
use tessera::{auth::IntrospectionSecret, domain::Role, entity::user};

use crate::{
    forgery::{forgeries, refresh_forgeries},
    helpers::{Sessions, TestApp, TestDatabase, peek, settings_with_sessions},
    on_every_session_store,
};

on_every_session_store!(
    introspection_tells_live_tokens_from_every_kind_of_dead_one,
    revocation_ends_the_session_and_is_idempotent,
);

/// With the characters RFC 6749 §2.3.1's form-encoding changes, as `openssl rand -base64` gives.
const SECRET: &str = "introspection+secret/for=the tests 0123456789";
const SECRET_FORM_ENCODED: &str = "introspection%2Bsecret%2Ffor%3Dthe+tests+0123456789";

async fn spawn(sessions: Sessions) -> (TestDatabase, TestApp) {
    let (db, mut settings) = settings_with_sessions(sessions).await;
    settings.introspection_secret = Some(IntrospectionSecret::parse(SECRET).unwrap());
    (db, TestApp::spawn_with(settings).await)
}

fn introspect(app: &TestApp, token: &str) -> RequestBuilder {
    app.client
        .post(app.url("/auth/token/introspect/"))
        .form(&[("token", token)])
}

async fn introspected(app: &TestApp, token: &str) -> Value {
    let response = introspect(app, token)
        .basic_auth("resource-server", Some(SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Genuinely RS256-signed by the active key, with the header and claims given.
fn signed(app: &TestApp, header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let signature = app
        .state
        .keys
        .current()
        .active()
        .sign_rs256(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

async fn introspection_tells_live_tokens_from_every_kind_of_dead_one(sessions: Sessions) {
    let (db, app) = spawn(sessions).await;
    let admin = app.create_user(Role::Admin).await;
    let customer = app.create_user(Role::Customer).await;

    // Who may ask.
    let inactive = json!({"active": false});
    for (caller, request) in [
        ("nobody", introspect(&app, &customer.access)),
        (
            "a wrong secret",
            introspect(&app, &customer.access).basic_auth("rs", Some("not-the-secret")),
        ),
        (
            "a customer's token",
            introspect(&app, &customer.access).bearer_auth(&customer.access),
        ),
        (
            "an admin's refresh token",
            introspect(&app, &customer.access).bearer_auth(&admin.refresh),
        ),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{caller}");
    }
    for (caller, request) in [
        (
            "the secret as a bearer",
            introspect(&app, &customer.access).bearer_auth(SECRET),
        ),
        (
            "the secret form-encoded, as OAuth clients send it",
            introspect(&app, &customer.access).basic_auth("rs", Some(SECRET_FORM_ENCODED)),
        ),
        (
            "an admin's token",
            introspect(&app, &customer.access).bearer_auth(&admin.access),
        ),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{caller}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["active"],
            true,
            "{caller}"
        );
    }
    let missing = app
        .client
        .post(app.url("/auth/token/introspect/"))
        .basic_auth("rs", Some(SECRET))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);

    // What it says of live tokens.
    let access = introspected(&app, &customer.access).await;
    let (_, claims) = peek(&customer.access);
    assert_eq!(access["active"], true);
    assert_eq!(access["token_use"], "access_token");
    assert_eq!(access["token_type"], "Bearer");
    for claim in [
        "sub",
        "username",
        "role",
        "exp",
        "iat",
        "iss",
        "aud",
        "jti",
        "client_id",
        "sid",
    ] {
        assert_eq!(access[claim], claims[claim], "{claim}");
    }
    let refresh = introspected(&app, &customer.refresh).await;
    assert_eq!(refresh["active"], true);
    assert_eq!(refresh["token_use"], "refresh_token");
    assert_eq!(refresh["sid"], claims["sid"]);
    // The hint is only a hint.
    let hinted: Value = introspect(&app, &customer.refresh)
        .basic_auth("rs", Some(SECRET))
        .form(&[
            ("token", customer.refresh.as_str()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(hinted["token_use"], "refresh_token");

    // Forged, expired, and refresh-for-access confusions: `{"active": false}` and nothing more.
    let (header, _) = peek(&admin.access);
    let (_, refresh_claims) = peek(&admin.refresh);
    let mut confusions = vec![
        (
            "refresh claims signed RS256 as an access token",
            signed(&app, &header, &refresh_claims),
        ),
        ("access claims with token_type refresh", {
            let (_, mut claims) = peek(&admin.access);
            claims["token_type"] = json!("refresh");
            signed(&app, &header, &claims)
        }),
        ("an access token typed as a plain JWT", {
            let mut plain = header.clone();
            plain["typ"] = json!("JWT");
            signed(&app, &plain, &peek(&admin.access).1)
        }),
        ("another audience", {
            let (_, mut claims) = peek(&admin.access);
            claims["aud"] = json!("someone-else");
            signed(&app, &header, &claims)
        }),
    ];
    confusions.extend(
        forgeries(&app, &admin.access, &admin.refresh)
            .await
            .into_iter()
            .filter(|(attack, _)| *attack != "refresh token as access"),
    );
    confusions.extend(refresh_forgeries(&app, &admin.refresh));
    for (attack, token) in confusions {
        assert_eq!(introspected(&app, &token).await, inactive, "{attack}");
    }

    // Dead by state rather than by signature.
    let rotated: Value = app
        .post_refresh(&customer.refresh)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        introspected(&app, &customer.refresh).await,
        inactive,
        "spent"
    );
    assert_eq!(
        introspected(&app, rotated["access"].as_str().unwrap()).await["active"],
        true,
        "the new access token is in the same, live session"
    );
    app.post_blacklist(rotated["refresh"].as_str().unwrap())
        .await;
    for (what, token) in [
        (
            "the revoked refresh token",
            rotated["refresh"].as_str().unwrap(),
        ),
        (
            "an access token of the revoked session",
            rotated["access"].as_str().unwrap(),
        ),
        (
            "the first access token of the revoked session",
            customer.access.as_str(),
        ),
    ] {
        assert_eq!(introspected(&app, token).await, inactive, "{what}");
    }

    let other = app.create_user(Role::Customer).await;
    user::ActiveModel {
        id: ActiveValue::Unchanged(other.id),
        is_active: ActiveValue::Set(false),
        ..Default::default()
    }
    .update(&app.state.db)
    .await
    .unwrap();
    assert_eq!(
        introspected(&app, &other.access).await,
        inactive,
        "deactivated account"
    );
    assert_eq!(
        introspected(&app, &other.refresh).await,
        inactive,
        "deactivated account"
    );

    // The account as it is now, for the token under question and for the caller alike.
    user::ActiveModel {
        id: ActiveValue::Unchanged(admin.id),
        role: ActiveValue::Set(Role::Staff),
        ..Default::default()
    }
    .update(&app.state.db)
    .await
    .unwrap();
    let demoted = introspected(&app, &admin.access).await;
    assert_eq!(
        (demoted["active"].clone(), demoted["role"].clone()),
        (json!(true), json!("staff"))
    );
    let by_demoted_admin = introspect(&app, &customer.access)
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(by_demoted_admin.status(), StatusCode::UNAUTHORIZED);
    drop(db);
}

async fn revocation_ends_the_session_and_is_idempotent(sessions: Sessions) {
    let (_db, app) = spawn(sessions).await;
    let revoke = |token: &str| {
        app.client
            .post(app.url("/auth/token/revoke/"))
            .form(&[("token", token)])
            .send()
    };

    let by_refresh = app.create_user(Role::Customer).await;
    for attempt in 0..2 {
        let response = revoke(&by_refresh.refresh).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "attempt {attempt}");
        assert_eq!(response.json::<Value>().await.unwrap(), json!({}));
    }
    assert_eq!(
        app.post_refresh(&by_refresh.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // An access token names its session: revoking it ends the refresh token too.
    let by_access = app.create_user(Role::Customer).await;
    assert_eq!(
        revoke(&by_access.access).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        app.post_refresh(&by_access.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );

    for junk in ["garbage", "a.b.c", &by_refresh.access] {
        assert_eq!(
            revoke(junk).await.unwrap().status(),
            StatusCode::OK,
            "{junk}"
        );
    }
    let untouched = app.create_user(Role::Customer).await;
    let (_, claims) = peek(&untouched.access);
    assert_ne!(claims["sid"], Value::Null);
    assert_eq!(
        app.post_refresh(&untouched.refresh).await.status(),
        StatusCode::OK,
        "other sessions live on"
    );

    for body in [
        json!({}),
        json!({"token": ""}),
        json!({"token_type_hint": "refresh_token"}),
    ] {
        let response = app.post_json("/auth/token/revoke/", &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(
            error["fields"]["token"][0], "This field is required.",
            "{body}"
        );
    }

    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["revocation_endpoint"],
        app.url("/auth/token/revoke/")
    );
    assert_eq!(
        discovery["introspection_endpoint"],
        app.url("/auth/token/introspect/")
    );
    assert_eq!(discovery["audience"], app.settings.audience);
}
