//! `tessera users ...` run as a user would: the built binary against the database (and session
//! store) a live server uses, checked through that server.

use std::{io::Write, process::Stdio};

use reqwest::StatusCode;
use tessera::domain::Role;

use crate::{
    helpers::{
        Backend, Sessions, TestApp, TestDatabase, TestUser, settings_with_sessions, status_and_json,
    },
    on_both_backends, on_every_session_store,
};

on_every_session_store!(
    users_commands_change_accounts_and_end_sessions_as_the_api_does,
    set_password_asks_again_on_a_mismatch_and_ends_every_session,
);

on_both_backends!(clients_commands_register_rotate_disable_and_delete_service_clients);

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `tessera <args>` on `app`'s database and session store, with `stdin` as its input.
async fn tessera(app: &TestApp, args: &[&str], stdin: &str) -> Run {
    let settings = &app.settings;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TESSERA_DATABASE_URL", &settings.database_url)
        .env("TESSERA_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(redis_url) = &settings.redis_url {
        command
            .env("TESSERA_REDIS_URL", redis_url)
            .env("TESSERA_REDIS_PREFIX", &settings.redis_prefix);
    }
    let stdin = stdin.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("running the tessera binary");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl Run {
    fn ok(self, what: &str) -> String {
        assert!(self.success, "{what}: {}\n{}", self.stdout, self.stderr);
        self.stdout
    }
}

async fn login(app: &TestApp, user: &TestUser, password: &str) -> StatusCode {
    app.post_token(&user.username, password).await.status()
}

async fn users_commands_change_accounts_and_end_sessions_as_the_api_does(sessions: Sessions) {
    let (_db, settings) = settings_with_sessions(sessions).await;
    let app = TestApp::spawn_with(settings).await;
    let admin = app.create_user(Role::Admin).await;
    let user = app.create_user(Role::Customer).await;
    let database = tessera::db::endpoint(&app.settings.database_url);

    let listed = tessera(&app, &["users", "list"], "").await.ok("users list");
    assert!(listed.contains(&user.username) && listed.contains(&admin.username));
    assert!(
        listed.contains(&format!("2 accounts in {database}")),
        "{listed}"
    );

    let out = tessera(&app, &["users", "logout", &user.username], "")
        .await
        .ok("users logout");
    assert!(out.starts_with("ended 1 session of"), "{out}");
    assert_eq!(
        app.post_refresh(&user.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let (_, pair) = status_and_json(app.post_token(&user.username, &user.password).await).await;
    let out = tessera(
        &app,
        &["users", "set-role", &user.id.to_string(), "staff"],
        "",
    )
    .await
    .ok("users set-role");
    assert!(
        out.contains("is staff now in") && out.contains("ended 1 session"),
        "{out}"
    );
    assert_eq!(
        app.post_refresh(pair["refresh"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let (_, pair) = status_and_json(app.post_token(&user.username, &user.password).await).await;
    assert_eq!(
        crate::helpers::peek(pair["access"].as_str().unwrap()).1["role"],
        "staff"
    );

    let out = tessera(&app, &["users", "set-active", &user.username, "false"], "")
        .await
        .ok("users set-active false");
    assert!(out.starts_with("deactivated"), "{out}");
    assert_eq!(
        login(&app, &user, &user.password).await,
        StatusCode::UNAUTHORIZED
    );
    tessera(&app, &["users", "set-active", &user.username, "yes"], "")
        .await
        .ok("users set-active yes");
    assert_eq!(login(&app, &user, &user.password).await, StatusCode::OK);

    let refused = tessera(&app, &["users", "set-active", &admin.username, "false"], "").await;
    assert!(!refused.success);
    assert!(
        refused
            .stderr
            .contains("This would leave no active administrator."),
        "{}",
        refused.stderr
    );
    let unknown = tessera(&app, &["users", "logout", "nobody-here"], "").await;
    assert!(!unknown.success);
    assert!(
        unknown.stderr.contains("no account \"nobody-here\""),
        "{}",
        unknown.stderr
    );
    let taken = tessera(
        &app,
        &[
            "users",
            "create",
            "--username",
            &user.username,
            "--role",
            "customer",
        ],
        "",
    )
    .await;
    assert!(!taken.success);
    assert!(
        taken
            .stderr
            .contains("A user with that username already exists."),
        "a taken name is refused before any password is asked for: {}",
        taken.stderr
    );
}

async fn set_password_asks_again_on_a_mismatch_and_ends_every_session(sessions: Sessions) {
    let (_db, settings) = settings_with_sessions(sessions).await;
    let app = TestApp::spawn_with(settings).await;
    let user = app.create_user(Role::Customer).await;

    let run = tessera(
        &app,
        &["users", "set-password", &user.username],
        "first-Passw0rd-x\nsecond-Passw0rd-x\n12345678\n12345678\nthird-Passw0rd-y\nthird-Passw0rd-y\n",
    )
    .await;
    assert!(
        run.stderr
            .contains("Passwords do not match. Please try again."),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("This password is too common."),
        "{}",
        run.stderr
    );
    let out = run.ok("users set-password");
    assert!(out.contains("ended 1 session"), "{out}");
    assert_eq!(login(&app, &user, "third-Passw0rd-y").await, StatusCode::OK);
    assert_eq!(
        login(&app, &user, &user.password).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post_refresh(&user.refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let gave_up = tessera(
        &app,
        &["users", "set-password", &user.username],
        "a-Passw0rd-1\nb-Passw0rd-1\nc-Passw0rd-1\nd-Passw0rd-1\ne-Passw0rd-1\nf-Passw0rd-1\n",
    )
    .await;
    assert!(!gave_up.success);
    assert!(
        gave_up.stderr.contains("no password set after 3 attempts"),
        "{}",
        gave_up.stderr
    );
    assert_eq!(login(&app, &user, "third-Passw0rd-y").await, StatusCode::OK);

    tessera(
        &app,
        &[
            "users",
            "set-password",
            &user.id.to_string(),
            "--password-stdin",
        ],
        "fourth-Passw0rd-z\n",
    )
    .await
    .ok("users set-password --password-stdin");
    assert_eq!(
        login(&app, &user, "fourth-Passw0rd-z").await,
        StatusCode::OK
    );
}

/// A deployment configures captcha in the environment of every process; the commands that do
/// not serve (here `keys list`) must still see its two halves together and run.
#[test]
fn commands_other_than_the_servers_run_with_captcha_configured() {
    let data = tempfile::TempDir::new().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["keys", "list"])
        .env_clear()
        .env("TESSERA_DATA_DIR", data.path())
        .env("TESSERA_CAPTCHA_SECRET", "captcha-secret")
        .env(
            "TESSERA_CAPTCHA_VERIFY_URL",
            "https://captcha.example/siteverify",
        )
        .env("TESSERA_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A bad value in the environment is reported under the variable that holds it; the same
/// value typed as a flag, under the flag.
#[test]
fn a_bad_value_is_reported_where_it_was_given() {
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let data = tempfile::TempDir::new().unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .env_clear()
            .env("TESSERA_DATA_DIR", data.path())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let from_environment = run(&["serve"], &[("TESSERA_REQUIRE_GST_NO", "maybe")]);
    assert!(
        from_environment.contains("invalid value 'maybe' for TESSERA_REQUIRE_GST_NO (environment)"),
        "{from_environment}"
    );
    let typed = run(&["serve", "--require-gst-no", "maybe"], &[]);
    assert!(
        typed.contains("invalid value 'maybe' for '--require-gst-no <REQUIRE_GST_NO>'"),
        "{typed}"
    );
    // Settings checked after parsing say the same.
    let from_environment = run(&["serve"], &[("TESSERA_AUTH_LISTEN", "bad")]);
    assert!(
        from_environment.contains("auth_listen (from TESSERA_AUTH_LISTEN): \"bad\" is not"),
        "{from_environment}"
    );
    let typed = run(&["serve", "--auth-listen=bad"], &[]);
    assert!(
        typed.contains("auth_listen (from --auth-listen): \"bad\" is not"),
        "{typed}"
    );
}

/// A database that does not exist is named, with what to do, in PostgreSQL's words and not
/// sqlx's (`... at line 948`, a line of PostgreSQL's source).
#[test]
fn a_missing_database_is_reported_with_what_to_do() {
    let server = std::env::var("TESSERA_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let (server, _) = server.rsplit_once('/').unwrap();
    let missing = format!("{server}/t_missing_{}", uuid::Uuid::new_v4().simple());
    let data = tempfile::TempDir::new().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["keys", "list", "--database-url", &missing])
        .env_clear()
        .env("TESSERA_DATA_DIR", data.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("does not exist: create it") && !stderr.contains("at line"),
        "{stderr}\n(if PostgreSQL is not running: `pg_ctlcluster --skip-systemctl-redirect \
         $(ls /etc/postgresql) main start`)"
    );
}

/// The value of the `name:` line `tessera clients create` (or `rotate-secret`) printed.
fn printed(stdout: &str, name: &str) -> String {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {stdout}"))
        .trim()
        .to_owned()
}

async fn client_credentials(app: &TestApp, id: &str, secret: &str) -> StatusCode {
    app.client
        .post(app.url("/auth/oauth/token/"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
}

async fn clients_commands_register_rotate_disable_and_delete_service_clients(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    let created = tessera(
        &app,
        &[
            "clients",
            "create",
            "--name",
            "billing",
            "--scopes",
            "customers:read customers:write",
        ],
        "",
    )
    .await
    .ok("clients create");
    let (id, secret) = (
        printed(&created, "client_id"),
        printed(&created, "client_secret"),
    );
    assert_eq!(
        printed(&created, "scopes"),
        "customers:read customers:write"
    );
    assert_eq!(client_credentials(&app, &id, &secret).await, StatusCode::OK);

    let taken = tessera(&app, &["clients", "create", "--name", "billing"], "").await;
    assert!(!taken.success);
    assert!(
        taken
            .stderr
            .contains("a client named \"billing\" exists already"),
        "{}",
        taken.stderr
    );
    let bad_scope = tessera(
        &app,
        &["clients", "create", "--name", "x", "--scopes", "a\\b"],
        "",
    )
    .await;
    assert!(!bad_scope.success);
    assert!(bad_scope.stderr.contains("scopes:"), "{}", bad_scope.stderr);

    let listed = tessera(&app, &["clients", "list"], "")
        .await
        .ok("clients list");
    assert!(
        listed.contains(&id) && listed.contains("billing") && listed.contains("active"),
        "{listed}"
    );
    assert!(!listed.contains(&secret), "a listing never shows a secret");

    // By name or by id; the old secret stops at once.
    let rotated = tessera(&app, &["clients", "rotate-secret", "billing"], "")
        .await
        .ok("rotate-secret");
    let new_secret = printed(&rotated, "client_secret");
    assert_eq!(printed(&rotated, "client_id"), id);
    assert_eq!(
        client_credentials(&app, &id, &secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        client_credentials(&app, &id, &new_secret).await,
        StatusCode::OK
    );

    tessera(&app, &["clients", "set-active", &id, "false"], "")
        .await
        .ok("set-active");
    assert_eq!(
        client_credentials(&app, &id, &new_secret).await,
        StatusCode::UNAUTHORIZED
    );
    let listed = tessera(&app, &["clients", "list"], "")
        .await
        .ok("clients list");
    assert!(listed.contains("disabled"), "{listed}");
    tessera(&app, &["clients", "set-active", &id, "true"], "")
        .await
        .ok("set-active");
    assert_eq!(
        client_credentials(&app, &id, &new_secret).await,
        StatusCode::OK
    );

    tessera(&app, &["clients", "delete", "billing"], "")
        .await
        .ok("delete");
    assert_eq!(
        client_credentials(&app, &id, &new_secret).await,
        StatusCode::UNAUTHORIZED
    );
    let gone = tessera(&app, &["clients", "delete", "billing"], "").await;
    assert!(!gone.success);
    assert!(
        gone.stderr.contains("no client \"billing\""),
        "{}",
        gone.stderr
    );
    app.stop().await;
}
