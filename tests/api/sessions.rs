//! The caller's own sessions over HTTP: list, end one, log out everywhere.

use reqwest::{Response, StatusCode};
use serde_json::Value;
use tessera::{auth::IntrospectionSecret, domain::Role};

use crate::{
    helpers::{
        Sessions, TestApp, TestUser, peek, settings_with_sessions, spawn_with_sessions,
        status_and_json,
    },
    on_every_session_store,
};

on_every_session_store!(
    a_session_from_before_the_index_ends_with_the_next_logout_everywhere,
    the_session_list_shows_each_login_and_no_token_material,
    ending_one_session_logs_out_that_device_only,
    logout_all_ends_every_session_and_can_keep_the_current_one,
);

impl TestApp {
    async fn delete_session(&self, token: &str, id: &str) -> Response {
        self.client
            .delete(self.url(&format!("/auth/sessions/{id}/")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn post_logout_all(&self, token: &str, query: &str) -> Response {
        self.client
            .post(self.url(&format!("/auth/logout-all/{query}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// Another login of `user`: (access, refresh).
    async fn log_in_again(&self, user: &TestUser) -> (String, String) {
        let (status, body) =
            status_and_json(self.post_token(&user.username, &user.password).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        (
            body["access"].as_str().unwrap().to_owned(),
            body["refresh"].as_str().unwrap().to_owned(),
        )
    }

    async fn refresh_status(&self, refresh: &str) -> StatusCode {
        self.post_refresh(refresh).await.status()
    }
}

fn sid(access: &str) -> String {
    peek(access).1["sid"].as_str().unwrap().to_owned()
}

async fn the_session_list_shows_each_login_and_no_token_material(sessions: Sessions) {
    let (_db, app) = spawn_with_sessions(sessions).await;
    let user = app.create_user(Role::Customer).await;
    let (other_access, other_refresh) = app.log_in_again(&user).await;
    assert_eq!(app.refresh_status(&other_refresh).await, StatusCode::OK);
    let someone_else = app.create_user(Role::Customer).await;

    let response = app.get_with_bearer("/auth/sessions/", &user.access).await;
    let (status, body) = status_and_json(response).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    let listed = body.as_array().unwrap();
    assert_eq!(listed.len(), 2, "{body}");
    let by_id = |id: &str| listed.iter().find(|s| s["id"] == id).unwrap();
    let own = by_id(&sid(&user.access));
    let other = by_id(&sid(&other_access));
    assert_eq!(own["current"], true);
    assert_eq!(other["current"], false);
    assert!(own["refreshed_at"].is_null());
    assert!(other["refreshed_at"].is_string(), "{other}");
    for session in listed {
        let mut fields: Vec<&str> = session
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort();
        assert_eq!(
            fields,
            ["created_at", "current", "expires_at", "id", "refreshed_at"]
        );
    }
    let text = body.to_string();
    for secret in [&user.refresh, &other_refresh, &user.access] {
        let jti = peek(secret).1["jti"].as_str().unwrap().to_owned();
        assert!(!text.contains(&jti) && !text.contains(secret.as_str()));
    }
    assert!(!text.contains(&sid(&someone_else.access)));
}

async fn ending_one_session_logs_out_that_device_only(sessions: Sessions) {
    let (_db, app) = spawn_with_sessions(sessions).await;
    let user = app.create_user(Role::Customer).await;
    let (other_access, other_refresh) = app.log_in_again(&user).await;
    let someone_else = app.create_user(Role::Customer).await;

    assert_eq!(
        app.delete_session(&user.access, &sid(&someone_else.access))
            .await
            .status(),
        StatusCode::NOT_FOUND,
        "another account's session is not the caller's to end"
    );
    assert_eq!(
        app.refresh_status(&someone_else.refresh).await,
        StatusCode::OK
    );
    let ended = app.delete_session(&user.access, &sid(&other_access)).await;
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);

    assert_eq!(
        app.refresh_status(&other_refresh).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.refresh_status(&user.refresh).await, StatusCode::OK);
    let (status, body) =
        status_and_json(app.delete_session(&user.access, &sid(&other_access)).await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found");
    for garbage in ["not-a-session", "x".repeat(300).as_str(), "%00"] {
        assert_eq!(
            app.delete_session(&user.access, garbage).await.status(),
            StatusCode::NOT_FOUND,
            "{garbage}"
        );
    }
}

async fn logout_all_ends_every_session_and_can_keep_the_current_one(sessions: Sessions) {
    let (_db, app) = spawn_with_sessions(sessions).await;
    let user = app.create_user(Role::Customer).await;
    let (_, second) = app.log_in_again(&user).await;
    let (_, third) = app.log_in_again(&user).await;
    let someone_else = app.create_user(Role::Customer).await;

    let (status, body) = status_and_json(
        app.post_logout_all(&user.access, "?keep_current=true")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ended"], 2);
    for refresh in [&second, &third] {
        assert_eq!(app.refresh_status(refresh).await, StatusCode::UNAUTHORIZED);
    }
    let (status, body) = status_and_json(app.post_refresh(&user.refresh).await).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the current session is kept: {body}"
    );
    let access = body["access"].as_str().unwrap().to_owned();

    let (status, body) = status_and_json(app.post_logout_all(&access, "").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ended"], 1);
    let (status, _) = status_and_json(app.get_with_bearer("/auth/sessions/", &access).await).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the token's own session has ended: it manages nothing more"
    );
    let (fresh, _) = app.log_in_again(&user).await;
    let left = listed_sessions(&app, &fresh).await;
    assert_eq!(left.len(), 1, "only the new login is left: {left:?}");
    assert_eq!(
        app.refresh_status(&someone_else.refresh).await,
        StatusCode::OK,
        "other accounts are untouched"
    );
}

/// The caller's sessions, as listed.
async fn listed_sessions(app: &TestApp, access: &str) -> Vec<Value> {
    let (status, body) =
        status_and_json(app.get_with_bearer("/auth/sessions/", access).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_and_missing_tokens_reach_no_sessions() {
    let (_db, app) = spawn_with_sessions(Sessions::Sqlite).await;
    let (_, anonymous) = status_and_json(app.post_anonymous().await).await;
    let anonymous = anonymous["access"].as_str().unwrap();
    let id = uuid::Uuid::new_v4().to_string();

    for token in [anonymous, ""] {
        let expected = if token.is_empty() {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(
            app.get_with_bearer("/auth/sessions/", token).await.status(),
            expected
        );
        assert_eq!(app.delete_session(token, &id).await.status(), expected);
        assert_eq!(app.post_logout_all(token, "").await.status(), expected);
    }
}

/// A refresh token as the version before sessions were indexed minted it (no `auth_time`),
/// with its family stored the way that version stored it: outside any account's index.
async fn legacy_session(app: &TestApp, user: &TestUser) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let now = chrono::Utc::now().timestamp() - 5;
    let (family, jti) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().simple().to_string(),
    );
    let ring = app.state.keys.current();
    let key = ring.active();
    let header = serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": key.kid});
    let claims = serde_json::json!({
        "iss": app.state.public_url, "sub": user.id.to_string(), "exp": now + 3600, "iat": now,
        "jti": jti, "fam": family, "token_type": "refresh", "user_id": user.id,
        "role": "customer", "username": user.username,
    });
    let mut token = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = URL_SAFE_NO_PAD.encode(key.sign_hs256(token.as_bytes()));
    token = format!("{token}.{signature}");
    match &app.settings.redis_url {
        Some(url) => {
            let client = redis::Client::open(url.as_str()).unwrap();
            let mut connection = client.get_multiplexed_async_connection().await.unwrap();
            redis::cmd("SET")
                .arg(format!("{}{{f:{family}}}", app.settings.redis_prefix))
                .arg(&jti)
                .arg("EXAT")
                .arg(now + 3600)
                .query_async::<()>(&mut connection)
                .await
                .unwrap();
        }
        None => {
            use sea_orm::{ActiveValue::Set, EntityTrait};
            tessera::entity::refresh_family::Entity::insert(
                tessera::entity::refresh_family::ActiveModel {
                    family_id: Set(family),
                    live_jti: Set(jti),
                    expires_at: Set(now + 3600),
                    previous_jti: Set(None),
                    rotated_at: Set(None),
                    successor_jti: Set(None),
                    successor_issued_at: Set(None),
                    account_id: Set(None),
                    created_at: Set(None),
                },
            )
            .exec_without_returning(&app.state.db)
            .await
            .unwrap();
        }
    }
    token
}

async fn a_session_from_before_the_index_ends_with_the_next_logout_everywhere(sessions: Sessions) {
    const SECRET: &str = "introspection secret for the sessions test";
    let (_db, mut settings) = settings_with_sessions(sessions).await;
    settings.introspection_secret = Some(IntrospectionSecret::parse(SECRET).unwrap());
    let app = TestApp::spawn_with(settings).await;
    let introspected = async |token: &str| -> serde_json::Value {
        let answer = app
            .client
            .post(app.url("/auth/token/introspect/"))
            .basic_auth("resource-server", Some(SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        answer.json().await.unwrap()
    };
    let user = app.create_user(Role::Customer).await;
    let migrated = legacy_session(&app, &user).await;
    let (status, body) = status_and_json(app.post_refresh(&migrated).await).await;
    assert_eq!(status, StatusCode::OK, "still honoured: {body}");
    let migrated = body["refresh"].as_str().unwrap().to_owned();
    assert!(peek(&migrated).1["auth_time"].is_i64());
    let unrefreshed = legacy_session(&app, &user).await;
    assert_eq!(introspected(&unrefreshed).await["active"], true);

    let (status, body) = status_and_json(app.post_logout_all(&user.access, "").await).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.refresh_status(&migrated).await,
        StatusCode::UNAUTHORIZED,
        "moved into the index at its refresh, it was ended with the rest"
    );
    assert_eq!(
        app.refresh_status(&unrefreshed).await,
        StatusCode::UNAUTHORIZED,
        "outside the index, it is refused as older than the logout"
    );
    assert_eq!(
        introspected(&unrefreshed).await["active"],
        false,
        "introspection says what its refresh would"
    );
}
