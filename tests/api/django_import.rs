//! Users imported from Django log in with their Django passwords, once, and are rehashed.
//! The hashes are a real Django's (tests/fixtures/django_hashes.json); tests/interop runs the
//! same import from a live Django database.

use reqwest::StatusCode;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use tessera::{
    django_import::{self, parse_dumpdata},
    entity::user,
};

use crate::{
    helpers::{Backend, TestApp, TestDatabase, peek, status_and_json, valid_registration},
    on_both_backends,
};

on_both_backends!(imported_users_log_in_with_their_django_passwords_and_are_rehashed);

/// A matching vector made by Django with `hasher`, picked by the hash's prefix.
fn django_hash(prefix: &str) -> (String, String) {
    let vectors: Vec<Value> =
        serde_json::from_str(include_str!("../fixtures/django_hashes.json")).unwrap();
    let vector = vectors
        .iter()
        .find(|v| v["matches"] == true && v["encoded"].as_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no vector starting with {prefix}"));
    (
        vector["password"].as_str().unwrap().to_owned(),
        vector["encoded"].as_str().unwrap().to_owned(),
    )
}

fn dump_entry(pk: i64, username: &str, hash: &str, flags: Value) -> Value {
    let mut fields = json!({
        "password": hash,
        "last_login": null,
        "is_superuser": false,
        "username": username,
        "first_name": "",
        "last_name": "",
        "email": format!("{username}@example.com"),
        "is_staff": false,
        "is_active": true,
        "date_joined": "2021-03-04T05:06:07.891Z",
        "groups": [],
        "user_permissions": []
    });
    fields
        .as_object_mut()
        .unwrap()
        .extend(flags.as_object().unwrap().clone());
    json!({"model": "auth.user", "pk": pk, "fields": fields})
}

async fn imported_users_log_in_with_their_django_passwords_and_are_rehashed(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let app = TestApp::spawn(&db).await;
    // Cheap-cost vectors where Django made them, so the test stays fast.
    let cases = [
        (
            501,
            "pbkdf2",
            "pbkdf2_sha256$1$",
            json!({"is_superuser": true, "is_staff": true}),
            "admin",
        ),
        (
            502,
            "pbkdf2sha1",
            "pbkdf2_sha1$",
            json!({"is_staff": true}),
            "staff",
        ),
        (
            503,
            "argon2",
            "argon2$argon2id$v=19$m=8,",
            json!({}),
            "customer",
        ),
        (504, "argon2i", "argon2$argon2i$", json!({}), "customer"),
        (
            505,
            "bcryptsha256",
            "bcrypt_sha256$$2b$04$",
            json!({}),
            "customer",
        ),
        (506, "bcrypt", "bcrypt$$", json!({}), "customer"),
    ];
    let mut dump: Vec<Value> = cases
        .iter()
        .map(|(pk, name, prefix, flags, _)| {
            dump_entry(*pk, name, &django_hash(prefix).1, flags.clone())
        })
        .collect();
    let (md5_password, md5_hash) = django_hash("md5$");
    dump.push(dump_entry(507, "legacy", &md5_hash, json!({})));
    let (inactive_password, inactive_hash) = django_hash("pbkdf2_sha256$1$");
    dump.push(dump_entry(
        508,
        "gone",
        &inactive_hash,
        json!({"is_active": false}),
    ));
    let users = parse_dumpdata(&Value::Array(dump.clone()).to_string(), "auth.user").unwrap();

    let report = django_import::import(&app.state.db, users.clone())
        .await
        .unwrap();
    assert_eq!(
        (report.imported, report.unchanged, report.skipped.len()),
        (8, 0, 0)
    );
    assert_eq!(report.without_usable_password, 1, "the MD5 hash");

    for (pk, name, prefix, _, role) in &cases {
        let (password, hash) = django_hash(prefix);
        let stored = user::Entity::find_by_id(*pk)
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            stored.password_hash, hash,
            "{name}: kept as Django stored it"
        );
        assert_eq!(
            stored.date_joined.to_rfc3339(),
            "2021-03-04T05:06:07.891+00:00"
        );

        let (status, tokens) = status_and_json(app.post_token(name, &password).await).await;
        assert_eq!(status, StatusCode::OK, "{name}: {tokens}");
        let (_, claims) = peek(tokens["access"].as_str().unwrap());
        assert_eq!(
            (claims["user_id"].as_i64(), claims["role"].as_str()),
            (Some(*pk), Some(*role))
        );
        let rehashed = user::Entity::find_by_id(*pk)
            .one(&app.state.db)
            .await
            .unwrap()
            .unwrap();
        assert!(
            rehashed
                .password_hash
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{name}: {}",
            rehashed.password_hash
        );
        assert_eq!(
            app.post_token(name, &password).await.status(),
            StatusCode::OK,
            "{name} again"
        );
        assert_eq!(
            app.post_token(name, &format!("{password}x")).await.status(),
            StatusCode::UNAUTHORIZED,
            "{name}: a wrong password"
        );
    }
    assert_eq!(
        app.post_token("legacy", &md5_password).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post_token("gone", &inactive_password).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Again: nothing changes, and the rehashed passwords are not overwritten.
    let again = django_import::import(&app.state.db, users).await.unwrap();
    assert_eq!(
        (again.imported, again.unchanged, again.skipped.len()),
        (0, 8, 0)
    );
    assert_eq!(
        app.post_token("pbkdf2", &django_hash("pbkdf2_sha256$1$").0)
            .await
            .status(),
        StatusCode::OK
    );

    // Registration goes on after the imported ids (PostgreSQL's sequence was moved).
    let (status, registered) =
        status_and_json(app.post_register(&valid_registration()).await).await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    assert!(registered["id"].as_i64().unwrap() > 508, "{registered}");

    // Conflicts are reported and do not stop the rest.
    let taken_name = registered["username"].as_str().unwrap();
    let conflicts = parse_dumpdata(
        &json!([
            dump_entry(601, taken_name, &inactive_hash, json!({})),
            dump_entry(502, "someone-else", &inactive_hash, json!({})),
            // Same id and name, another person: made here, not by an earlier import.
            dump_entry(
                501,
                "pbkdf2",
                &inactive_hash,
                json!({"date_joined": "2019-01-01T00:00:00Z"}),
            ),
            dump_entry(602, "newcomer", &inactive_hash, json!({})),
        ])
        .to_string(),
        "auth.user",
    )
    .unwrap();
    let report = django_import::import(&app.state.db, conflicts)
        .await
        .unwrap();
    assert_eq!(report.imported, 1);
    let skipped: Vec<_> = report
        .skipped
        .iter()
        .map(|(name, id, _)| (name.as_str(), *id))
        .collect();
    assert_eq!(
        skipped,
        [(taken_name, 601), ("someone-else", 502), ("pbkdf2", 501)]
    );
}
