//! Administration over HTTP, and the caller's own password change.

use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tessera::domain::Role;

use crate::{
    helpers::{
        Backend, Sessions, TestApp, TestDatabase, TestUser, settings_with_sessions,
        spawn_with_sessions, status_and_json,
    },
    on_both_backends, on_every_session_store,
};

on_every_session_store!(
    deactivation_cuts_every_kind_of_token_of_the_account_at_once,
    a_password_set_by_an_admin_ends_every_session,
    a_password_change_ends_every_session_and_returns_a_new_pair,
);

on_both_backends!(
    non_admins_are_refused_every_admin_route,
    the_last_active_admin_cannot_be_locked_out,
    an_admin_changes_role_and_email_and_is_refused_a_taken_email,
    weak_mismatched_or_wrong_passwords_get_djangos_messages,
    two_admins_demoting_each_other_at_once_leave_one_admin,
);

impl TestApp {
    async fn admin_call(
        &self,
        method: Method,
        token: &str,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    async fn patch_account(&self, token: &str, id: i64, body: Value) -> (StatusCode, Value) {
        status_and_json(
            self.admin_call(
                Method::PATCH,
                token,
                &format!("/auth/accounts/{id}/"),
                Some(body),
            )
            .await,
        )
        .await
    }

    async fn login_status(&self, user: &TestUser, password: &str) -> StatusCode {
        self.post_token(&user.username, password).await.status()
    }
}

async fn deactivation_cuts_every_kind_of_token_of_the_account_at_once(sessions: Sessions) {
    let (_db, mut settings) = settings_with_sessions(sessions).await;
    settings.forward_auth_check_session = true;
    let app = TestApp::spawn_with(settings).await;
    let admin = app.create_user(Role::Admin).await;
    let user = app.create_user(Role::Customer).await;

    let (status, body) = app
        .patch_account(&admin.access, user.id, json!({"is_active": false}))
        .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["is_active"], false);
    assert_eq!(
        app.post_refresh(&user.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post_verify(&user.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let introspected: Value = app
        .client
        .post(app.url("/auth/token/introspect/"))
        .bearer_auth(&admin.access)
        .form(&[("token", &user.access)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected, json!({"active": false}));
    let forwarded = app
        .client
        .get(app.url("/auth/forward/"))
        .bearer_auth(&user.access)
        .send()
        .await
        .unwrap();
    assert_eq!(forwarded.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login_status(&user, &user.password).await,
        StatusCode::UNAUTHORIZED
    );

    let (status, _) = app
        .patch_account(&admin.access, user.id, json!({"is_active": true}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.login_status(&user, &user.password).await,
        StatusCode::OK
    );
    assert_eq!(
        app.post_refresh(&user.refresh).await.status(),
        StatusCode::UNAUTHORIZED,
        "reactivation does not bring ended sessions back"
    );
}

async fn a_password_set_by_an_admin_ends_every_session(sessions: Sessions) {
    let (_db, app) = spawn_with_sessions(sessions).await;
    let admin = app.create_user(Role::Admin).await;
    let user = app.create_user(Role::Customer).await;
    let path = format!("/auth/accounts/{}/password/", user.id);

    let response = app
        .admin_call(
            Method::POST,
            &admin.access,
            &path,
            Some(json!({"password": "a new Passphrase 42", "password2": "a new Passphrase 42"})),
        )
        .await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.post_refresh(&user.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_status(&user, &user.password).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_status(&user, "a new Passphrase 42").await,
        StatusCode::OK
    );
    let (_, second) =
        status_and_json(app.post_token(&user.username, "a new Passphrase 42").await).await;
    let (status, body) = status_and_json(
        app.admin_call(
            Method::DELETE,
            &admin.access,
            &format!("/auth/accounts/{}/sessions/", user.id),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ended"], 2);
    assert_eq!(
        app.post_refresh(second["refresh"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

async fn a_password_change_ends_every_session_and_returns_a_new_pair(sessions: Sessions) {
    let (_db, app) = spawn_with_sessions(sessions).await;
    let user = app.create_user(Role::Customer).await;
    let (_, other) = status_and_json(app.post_token(&user.username, &user.password).await).await;
    let someone_else = app.create_user(Role::Customer).await;

    let (status, body) = status_and_json(
        app.admin_call(
            Method::POST,
            &user.access,
            "/auth/password/change/",
            Some(json!({
                "old_password": user.password,
                "new_password": "correct horse battery 7",
                "new_password2": "correct horse battery 7",
            })),
        )
        .await,
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    let (access, refresh) = (
        body["access"].as_str().unwrap(),
        body["refresh"].as_str().unwrap(),
    );
    for spent in [&user.refresh, other["refresh"].as_str().unwrap()] {
        assert_eq!(
            app.post_refresh(spent).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(app.get_me(access).await.status(), StatusCode::OK);
    assert_eq!(app.post_refresh(refresh).await.status(), StatusCode::OK);
    assert_eq!(
        app.login_status(&user, "correct horse battery 7").await,
        StatusCode::OK
    );
    assert_eq!(
        app.post_refresh(&someone_else.refresh).await.status(),
        StatusCode::OK
    );
}

async fn non_admins_are_refused_every_admin_route(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let customer = app.create_user(Role::Customer).await;
    let staff = app.create_user(Role::Staff).await;
    let (_, anonymous) = status_and_json(app.post_anonymous().await).await;
    let anonymous = anonymous["access"].as_str().unwrap().to_owned();
    let id = customer.id;
    let admin_only = [
        (
            Method::PATCH,
            format!("/auth/accounts/{id}/"),
            Some(json!({"is_active": false})),
        ),
        (
            Method::POST,
            format!("/auth/accounts/{id}/password/"),
            Some(json!({"password": "a new Passphrase 42"})),
        ),
        (
            Method::DELETE,
            format!("/auth/accounts/{id}/sessions/"),
            None,
        ),
    ];

    for token in [&customer.access, &staff.access, &anonymous] {
        for (method, path, body) in &admin_only {
            let response = app
                .admin_call(method.clone(), token, path, body.clone())
                .await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{method} {path}");
        }
    }
    let get = |token: String| {
        let app = &app;
        async move {
            app.admin_call(Method::GET, &token, &format!("/auth/accounts/{id}/"), None)
                .await
                .status()
        }
    };
    assert_eq!(get(customer.access.clone()).await, StatusCode::FORBIDDEN);
    assert_eq!(get(anonymous.clone()).await, StatusCode::FORBIDDEN);
    assert_eq!(get(staff.access.clone()).await, StatusCode::OK);
    let unauthenticated = app
        .client
        .patch(app.url(&format!("/auth/accounts/{id}/")))
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login_status(&customer, &customer.password).await,
        StatusCode::OK,
        "nothing was changed"
    );
}

async fn the_last_active_admin_cannot_be_locked_out(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let admin = app.create_user(Role::Admin).await;

    let (status, body) = app
        .patch_account(&admin.access, admin.id, json!({"is_active": false}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["fields"]["is_active"][0],
        "This would leave no active administrator."
    );
    let (status, body) = app
        .patch_account(&admin.access, admin.id, json!({"role": "staff"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["fields"]["role"].is_array(), "{body}");

    let second = app.create_user(Role::Admin).await;
    let (status, body) = app
        .patch_account(&second.access, admin.id, json!({"role": "staff"}))
        .await;
    assert_eq!(status, StatusCode::OK, "another admin remains: {body}");
    assert_eq!(body["role"], "staff");
    assert_eq!(
        app.post_refresh(&admin.refresh).await.status(),
        StatusCode::UNAUTHORIZED,
        "a role change ends the sessions"
    );
    let (status, _) = app
        .patch_account(&second.access, second.id, json!({"is_active": false}))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "now the second is the last"
    );
}

async fn an_admin_changes_role_and_email_and_is_refused_a_taken_email(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let admin = app.create_user(Role::Admin).await;
    let user = app.create_user(Role::Customer).await;
    let other = app.create_user(Role::Customer).await;
    let (status, _) = app
        .patch_account(
            &admin.access,
            other.id,
            json!({"email": "Taken@Example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (status, body) = app
        .patch_account(
            &admin.access,
            user.id,
            json!({"email": "taken@example.COM"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["fields"]["email"][0],
        "A user with that email already exists."
    );
    let (status, body) = app
        .patch_account(
            &admin.access,
            user.id,
            json!({"role": "staff", "email": "asha@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["role"], &body["email"]),
        (&json!("staff"), &json!("asha@example.com"))
    );
    let (status, body) =
        status_and_json(app.post_token(&user.username, &user.password).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        crate::helpers::peek(body["access"].as_str().unwrap()).1["role"],
        "staff"
    );

    for (patch, field) in [
        (json!({"role": "anonymous"}), "role"),
        (json!({"role": "root"}), "role"),
        (json!({"is_active": "maybe"}), "is_active"),
        (json!({"email": "no-at-sign"}), "email"),
    ] {
        let (status, body) = app
            .patch_account(&admin.access, user.id, patch.clone())
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{patch}: {body}");
        assert!(body["fields"][field].is_array(), "{patch}: {body}");
    }
    for id in ["999999", "0", "-1", "abc", "1e3"] {
        let response = app
            .admin_call(
                Method::GET,
                &admin.access,
                &format!("/auth/accounts/{id}/"),
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
    }
}

async fn weak_mismatched_or_wrong_passwords_get_djangos_messages(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let admin = app.create_user(Role::Admin).await;
    let user = app.create_user(Role::Customer).await;
    let change = |body: Value| {
        let (app, access) = (&app, user.access.clone());
        async move {
            status_and_json(
                app.admin_call(Method::POST, &access, "/auth/password/change/", Some(body))
                    .await,
            )
            .await
        }
    };

    let (status, body) =
        change(json!({"old_password": "wrong", "new_password": "correct horse battery 7"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["fields"]["old_password"][0],
        "Your old password was entered incorrectly. Please enter it again."
    );
    let (status, body) =
        change(json!({"old_password": user.password, "new_password": "12345678"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // The random hex in the test's username can make "12345678" look like it as well.
    let messages = body["fields"]["new_password"].as_array().unwrap();
    for expected in [
        "This password is too common.",
        "This password is entirely numeric.",
    ] {
        assert!(messages.contains(&json!(expected)), "{body}");
    }
    let (status, body) = change(json!({
        "old_password": user.password,
        "new_password": "correct horse battery 7",
        "new_password2": "correct horse battery 8",
    }))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["fields"]["new_password2"][0],
        "The two password fields didn’t match."
    );
    let (status, body) = change(json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["fields"]["old_password"][0], "This field is required.");
    assert_eq!(body["fields"]["new_password"][0], "This field is required.");

    let (status, body) = status_and_json(
        app.admin_call(
            Method::POST,
            &admin.access,
            &format!("/auth/accounts/{}/password/", user.id),
            Some(json!({"password": user.username})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        body["fields"]["password"][0],
        "The password is too similar to the username."
    );
    assert_eq!(
        app.login_status(&user, &user.password).await,
        StatusCode::OK,
        "no refused change took effect"
    );
}

async fn two_admins_demoting_each_other_at_once_leave_one_admin(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    for _ in 0..5 {
        let (first, second) = (
            app.create_user(Role::Admin).await,
            app.create_user(Role::Admin).await,
        );
        // Every other admin of earlier rounds is demoted already: these two are the last.
        let (a, b) = tokio::join!(
            app.patch_account(&first.access, second.id, json!({"is_active": false})),
            app.patch_account(&second.access, first.id, json!({"is_active": false})),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        // The loser finds it would leave no admin (400), or, if the winner was quicker, that
        // its own account is deactivated (401).
        assert!(
            statuses == [StatusCode::OK, StatusCode::BAD_REQUEST]
                || statuses == [StatusCode::OK, StatusCode::UNAUTHORIZED],
            "exactly one wins: {a:?} {b:?}"
        );
        // Both leave the admins for the next round, so its pair are the last two again.
        for admin in [&first, &second] {
            make_customer(&app, admin.id).await;
        }
    }
}

/// Makes an account a customer behind the API's back (a test's setup, not a change under test).
async fn make_customer(app: &TestApp, id: i64) {
    use sea_orm::{ActiveModelTrait, ActiveValue, EntityTrait};
    let account = tessera::entity::user::Entity::find_by_id(id)
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap();
    let mut demoted: tessera::entity::user::ActiveModel = account.into();
    demoted.role = ActiveValue::Set(Role::Customer);
    demoted.update(&app.state.db).await.unwrap();
}
