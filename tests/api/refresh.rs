use futures_util::future::join_all;
use reqwest::StatusCode;
use sea_orm::{ActiveModelTrait, ActiveValue};
use serde_json::{Value, json};
use tessera::{domain::Role, entity::user};

use crate::{
    helpers::{
        Backend, Sessions, TestApp, TestDatabase, peek, spawn_with_sessions, status_and_json,
        test_settings,
    },
    on_every_session_store,
};

on_every_session_store!(
    refresh_rotates_the_pair_and_spends_the_presented_token,
    reusing_a_spent_refresh_token_revokes_its_whole_family,
    fifty_concurrent_refreshes_of_one_token_give_exactly_one_success,
    refresh_refuses_access_tokens_garbage_and_missing_fields,
    refresh_follows_the_account_role_and_refuses_a_deactivated_account,
    verify_accepts_access_tokens_and_live_refresh_tokens_only,
    blacklist_ends_the_session_and_a_second_call_is_a_401,
    anonymous_tokens_are_short_lived_stay_anonymous_and_reach_no_account,
    no_refresh_carries_a_session_past_its_maximum_lifetime,
    a_live_token_of_a_session_past_its_maximum_lifetime_ends_it,
);

fn pair(body: &Value) -> (String, String) {
    (
        body["access"].as_str().unwrap().to_owned(),
        body["refresh"].as_str().unwrap().to_owned(),
    )
}

async fn refresh_rotates_the_pair_and_spends_the_presented_token(sessions: Sessions) {
    let (_db, app) = spawn_with_sessions(sessions).await;
    let user = app.create_user(Role::Customer).await;

    let (status, body) = status_and_json(app.post_refresh(&user.refresh).await).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    let (access, refresh) = pair(&body);
    assert_ne!(refresh, user.refresh);
    assert_eq!(
        peek(&refresh).1["fam"],
        peek(&user.refresh).1["fam"],
        "same family"
    );
    assert_eq!(app.get_me(&access).await.status(), StatusCode::OK);
    let (status, body) = status_and_json(app.post_refresh(&refresh).await).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the new refresh token works: {body}"
    );
}

async fn reusing_a_spent_refresh_token_revokes_its_whole_family(sessions: Sessions) {
    let (_db, app) = spawn_with_sessions(sessions).await;
    let user = app.create_user(Role::Customer).await;
    let other_session = app
        .post_token(&user.username, &user.password)
        .await
        .json::<Value>()
        .await
        .unwrap();
    let (_, rotated) = pair(&app.post_refresh(&user.refresh).await.json().await.unwrap());

    let (status, error) = status_and_json(app.post_refresh(&user.refresh).await).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        error,
        json!({"code": "token_not_valid", "detail": "Token is invalid or expired"})
    );
    assert_eq!(
        app.post_refresh(&rotated).await.status(),
        StatusCode::UNAUTHORIZED,
        "the thief's token died too"
    );
    let (_, other_refresh) = pair(&other_session);
    assert_eq!(
        app.post_refresh(&other_refresh).await.status(),
        StatusCode::OK,
        "other logins are untouched"
    );
}

async fn fifty_concurrent_refreshes_of_one_token_give_exactly_one_success(sessions: Sessions) {
    let (_db, app) = spawn_with_sessions(sessions).await;
    let user = app.create_user(Role::Customer).await;

    let responses = join_all((0..50).map(|_| app.post_refresh(&user.refresh))).await;

    let statuses: Vec<StatusCode> = responses.iter().map(|r| r.status()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
}

async fn refresh_refuses_access_tokens_garbage_and_missing_fields(sessions: Sessions) {
    let (_db, app) = spawn_with_sessions(sessions).await;
    let user = app.create_user(Role::Customer).await;

    for token in [user.access.as_str(), "garbage", "a.b.c"] {
        let (status, error) = status_and_json(app.post_refresh(token).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(error["code"], "token_not_valid");
    }
    let (status, error) =
        status_and_json(app.post_json("/auth/token/refresh/", &json!({})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["fields"]["refresh"],
        json!(["This field is required."])
    );
    let form = app
        .client
        .post(app.url("/auth/token/refresh"))
        .form(&[("refresh", &user.refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        form.status(),
        StatusCode::OK,
        "seed 002 refreshes with a urlencoded body"
    );
}

async fn refresh_follows_the_account_role_and_refuses_a_deactivated_account(sessions: Sessions) {
    let (_db, app) = spawn_with_sessions(sessions).await;
    let user = app.create_user(Role::Customer).await;
    let promote = user::ActiveModel {
        id: ActiveValue::Unchanged(user.id),
        role: ActiveValue::Set(Role::Staff),
        ..Default::default()
    };
    promote.update(&app.state.db).await.unwrap();

    let (_, body) = status_and_json(app.post_refresh(&user.refresh).await).await;
    let (access, refresh) = pair(&body);
    assert_eq!(peek(&access).1["role"], "staff");

    let deactivate = user::ActiveModel {
        id: ActiveValue::Unchanged(user.id),
        is_active: ActiveValue::Set(false),
        ..Default::default()
    };
    deactivate.update(&app.state.db).await.unwrap();
    assert_eq!(
        app.post_refresh(&refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn verify_accepts_access_tokens_and_live_refresh_tokens_only(sessions: Sessions) {
    let (_db, app) = spawn_with_sessions(sessions).await;
    let user = app.create_user(Role::Customer).await;

    for token in [&user.access, &user.refresh] {
        let (status, body) = status_and_json(app.post_verify(token).await).await;
        assert_eq!((status, body), (StatusCode::OK, json!({})));
    }
    app.post_refresh(&user.refresh).await;
    for token in [user.refresh.as_str(), "garbage", ""] {
        let status = app.post_verify(token).await.status();
        let expected = if token.is_empty() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, expected, "{token:?}");
    }
}

async fn blacklist_ends_the_session_and_a_second_call_is_a_401(sessions: Sessions) {
    let (_db, app) = spawn_with_sessions(sessions).await;
    let user = app.create_user(Role::Customer).await;

    let (status, body) = status_and_json(app.post_blacklist(&user.refresh).await).await;

    assert_eq!((status, body), (StatusCode::OK, json!({})));
    assert_eq!(
        app.post_refresh(&user.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post_verify(&user.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, error) = status_and_json(app.post_blacklist(&user.refresh).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["code"], "token_not_valid");
    assert_eq!(
        app.post_blacklist(&user.access).await.status(),
        StatusCode::UNAUTHORIZED,
        "access tokens are not sessions"
    );
}

async fn anonymous_tokens_are_short_lived_stay_anonymous_and_reach_no_account(sessions: Sessions) {
    let (_db, app) = spawn_with_sessions(sessions).await;

    let (status, body) = status_and_json(app.post_anonymous().await).await;

    assert_eq!(status, StatusCode::OK);
    let (access, refresh) = pair(&body);
    let (_, claims) = peek(&access);
    assert_eq!(claims["role"], "anonymous");
    assert!(
        claims.get("user_id").is_none() && claims["sub"].as_str().unwrap().starts_with("anon:")
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    let (_, refresh_claims) = peek(&refresh);
    assert_eq!(
        refresh_claims["exp"].as_i64().unwrap() - refresh_claims["iat"].as_i64().unwrap(),
        3600
    );
    let (_, refreshed) = status_and_json(app.post_refresh(&refresh).await).await;
    let (again, _) = pair(&refreshed);
    let (_, again_claims) = peek(&again);
    assert_eq!(again_claims["role"], "anonymous");
    assert_eq!(again_claims["sub"], claims["sub"]);
    assert_eq!(
        again_claims["exp"].as_i64().unwrap() - again_claims["iat"].as_i64().unwrap(),
        120
    );
    for path in ["/auth/me/", "/auth/accounts/"] {
        assert_eq!(
            app.get_with_bearer(path, &access).await.status(),
            StatusCode::FORBIDDEN
        );
    }
    let with_body = app
        .client
        .post(app.url("/auth/token/anonymous"))
        .json(&json!({"ignored": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(with_body.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rotation_off_refresh_returns_only_an_access_token() {
    let database = TestDatabase::create(Backend::Sqlite).await;
    let mut settings = test_settings(&database);
    settings.rotate_refresh_tokens = false;
    let app = TestApp::spawn_with(settings).await;
    let user = app.create_user(Role::Customer).await;

    for _ in 0..2 {
        let (status, body) = status_and_json(app.post_refresh(&user.refresh).await).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            body["access"].is_string() && body.get("refresh").is_none(),
            "{body}"
        );
    }
    app.post_blacklist(&user.refresh).await;
    assert_eq!(
        app.post_refresh(&user.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn no_refresh_carries_a_session_past_its_maximum_lifetime(sessions: Sessions) {
    let (_db, mut settings) = crate::helpers::settings_with_sessions(sessions).await;
    settings.lifetimes.session_max = std::time::Duration::from_secs(3);
    let app = TestApp::spawn_with(settings).await;
    let user = app.create_user(Role::Customer).await;
    let auth_time = peek(&user.refresh).1["auth_time"].as_i64().unwrap();
    assert_eq!(
        peek(&user.refresh).1["exp"].as_i64().unwrap(),
        auth_time + 3
    );

    let (status, body) = status_and_json(app.post_refresh(&user.refresh).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, refresh) = pair(&body);
    let claims = peek(&refresh).1;
    assert_eq!(
        claims["auth_time"], auth_time,
        "the session keeps its start"
    );
    assert_eq!(claims["exp"].as_i64().unwrap(), auth_time + 3);

    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let (status, body) = status_and_json(app.post_refresh(&refresh).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "token_not_valid");
}

/// A refresh token still within its own `exp` whose session began longer ago than
/// `session_max_lifetime` (minted before a shorter maximum was configured, say) is refused, and
/// its session ends.
async fn a_live_token_of_a_session_past_its_maximum_lifetime_ends_it(sessions: Sessions) {
    let (_db, app) = spawn_with_sessions(sessions).await;
    let user = app.create_user(Role::Customer).await;
    let subject = tessera::token::Subject::account(user.id, &user.username, Role::Customer);
    let now = chrono::Utc::now().timestamp();
    let login = now - 31 * 24 * 3600;
    let family = uuid::Uuid::new_v4().to_string();
    let old = app.state.issuer.pair_for(
        &subject,
        &family,
        login,
        tessera::refresh::Successor {
            jti: uuid::Uuid::new_v4().simple().to_string(),
            issued_at: now,
            expires_at: now + 3600,
        },
        now,
    );
    app.state
        .refresh_store
        .start(tessera::refresh::LiveToken::from(&old.refresh_claims))
        .await
        .unwrap();
    assert_eq!(app.post_verify(&old.refresh).await.status(), StatusCode::OK);

    let (status, body) = status_and_json(app.post_refresh(&old.refresh).await).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(
        app.post_verify(&old.refresh).await.status(),
        StatusCode::UNAUTHORIZED,
        "the session has ended"
    );
}
