//! `tessera users import-django`: a Django project's accounts, moved over with their ids and
//! password hashes, so that nobody resets a password and `user_id` claims keep their meaning.

use std::path::PathBuf;

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, Database, DatabaseBackend,
    DatabaseConnection, EntityTrait, QueryFilter, QueryResult, Statement,
};
use serde::Deserialize;

use crate::{
    auth::django_password,
    domain::{Role, Username},
    entity::user,
};

/// Where Django's users are read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `sqlite:///path/db.sqlite3` or `postgres://...`: the user table itself.
    Database(String),
    /// The output of `manage.py dumpdata auth.user`.
    DumpData(PathBuf),
}

impl Source {
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        if ["sqlite:", "postgres:", "postgresql:"]
            .iter()
            .any(|scheme| raw.starts_with(scheme))
        {
            Ok(Self::Database(raw.to_owned()))
        } else if let Some((scheme, _)) = raw.split_once("://") {
            bail!(
                "{scheme}:// databases are not supported: use SQLite, PostgreSQL, or \
                 `manage.py dumpdata auth.user` output"
            )
        } else {
            Ok(Self::DumpData(PathBuf::from(raw)))
        }
    }
}

/// One row of Django's `auth_user` (or of a custom user model with the same fields; `role`
/// and `gst_no` are read when the model has them).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DjangoUser {
    pub id: i64,
    pub username: String,
    #[serde(default)]
    pub email: String,
    pub password: String,
    #[serde(default = "yes")]
    pub is_active: bool,
    #[serde(default)]
    pub is_staff: bool,
    #[serde(default)]
    pub is_superuser: bool,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub gst_no: Option<String>,
    #[serde(deserialize_with = "django_datetime")]
    pub date_joined: DateTime<Utc>,
    #[serde(default, deserialize_with = "optional_django_datetime")]
    pub last_login: Option<DateTime<Utc>>,
}

fn yes() -> bool {
    true
}

impl DjangoUser {
    /// A role the model names itself wins; otherwise Django's flags decide.
    pub fn role(&self) -> Role {
        if let Some(role) = self
            .role
            .as_deref()
            .and_then(|raw| Role::parse_account_role(raw).ok())
        {
            return role;
        }
        if self.is_superuser {
            Role::Admin
        } else if self.is_staff {
            Role::Staff
        } else {
            Role::Customer
        }
    }
}

pub async fn read_users(
    source: &Source,
    table: &str,
    model: &str,
) -> anyhow::Result<Vec<DjangoUser>> {
    match source {
        Source::Database(url) => read_table(url, table).await,
        Source::DumpData(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            parse_dumpdata(&text, model).with_context(|| format!("reading {}", path.display()))
        }
    }
}

#[derive(Deserialize)]
struct DumpEntry {
    model: String,
    pk: serde_json::Value,
    fields: serde_json::Map<String, serde_json::Value>,
}

pub fn parse_dumpdata(text: &str, model: &str) -> anyhow::Result<Vec<DjangoUser>> {
    let entries: Vec<DumpEntry> =
        serde_json::from_str(text).context("not a `manage.py dumpdata` JSON array")?;
    entries
        .into_iter()
        .filter(|entry| entry.model.eq_ignore_ascii_case(model))
        .map(|entry| {
            let mut fields = entry.fields;
            fields.insert("id".into(), entry.pk.clone());
            serde_json::from_value(serde_json::Value::Object(fields))
                .with_context(|| format!("{model} with pk {}", entry.pk))
        })
        .collect()
}

async fn read_table(url: &str, table: &str) -> anyhow::Result<Vec<DjangoUser>> {
    if !(table.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
    {
        bail!("--table: {table:?} is not a table name");
    }
    // Never create or write Django's database by accident.
    let url = if url.starts_with("sqlite:") && !url.contains('?') {
        format!("{url}?mode=ro")
    } else {
        url.to_owned()
    };
    let source = Database::connect(&url)
        .await
        .with_context(|| format!("connecting to the Django database {}", redact(&url)))?;
    let backend = source.get_database_backend();
    let rows = source
        .query_all_raw(Statement::from_string(
            backend,
            format!("SELECT * FROM \"{table}\" ORDER BY id"),
        ))
        .await
        .with_context(|| format!("reading {table}"))?;
    rows.iter()
        .map(|row| user_from_row(row, backend))
        .collect::<anyhow::Result<_>>()
        .with_context(|| format!("reading {table}"))
}

fn user_from_row(row: &QueryResult, backend: DatabaseBackend) -> anyhow::Result<DjangoUser> {
    // `AutoField` is a 32-bit integer in PostgreSQL, `BigAutoField` 64-bit.
    let id = row
        .try_get::<i64>("", "id")
        .or_else(|_| row.try_get::<i32>("", "id").map(i64::from))?;
    let column_datetime = |column: &str| -> anyhow::Result<Option<DateTime<Utc>>> {
        if backend == DatabaseBackend::Postgres {
            return Ok(row.try_get::<Option<DateTime<Utc>>>("", column)?);
        }
        // SQLite keeps Django's datetimes as text.
        row.try_get::<Option<String>>("", column)?
            .map(|text| parse_datetime(&text))
            .transpose()
    };
    Ok(DjangoUser {
        id,
        username: row.try_get("", "username")?,
        email: row
            .try_get::<Option<String>>("", "email")?
            .unwrap_or_default(),
        password: row.try_get("", "password")?,
        is_active: row.try_get("", "is_active")?,
        is_staff: row.try_get("", "is_staff")?,
        is_superuser: row.try_get("", "is_superuser")?,
        role: row.try_get::<Option<String>>("", "role").ok().flatten(),
        gst_no: row.try_get::<Option<String>>("", "gst_no").ok().flatten(),
        date_joined: column_datetime("date_joined")?
            .with_context(|| format!("user {id} has no date_joined"))?,
        last_login: column_datetime("last_login")?,
    })
}

/// Django writes `2024-05-01 10:20:30.123456` (SQLite) and `2024-05-01T10:20:30.123Z`
/// (dumpdata); without a zone it means UTC, as with `USE_TZ = True`.
fn parse_datetime(text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(with_zone) = DateTime::parse_from_rfc3339(text) {
        return Ok(with_zone.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
        .with_context(|| format!("{text:?} is not a date and time"))
}

fn django_datetime<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    parse_datetime(&text).map_err(serde::de::Error::custom)
}

fn optional_django_datetime<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|text| parse_datetime(&text).map_err(serde::de::Error::custom))
        .transpose()
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***{}", &url[..scheme_end], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: usize,
    /// Already here with the same id and username: left as they are (their password may have
    /// changed since).
    pub unchanged: usize,
    /// `(username, id, why)`: another account holds the id, username or email.
    pub skipped: Vec<(String, i64, String)>,
    /// Imported, but with no password Tessera can check (unusable, or MD5/SHA-1).
    pub without_usable_password: usize,
}

/// Inserts each user that is not already here; one conflict does not stop the others.
pub async fn import(
    db: &DatabaseConnection,
    users: Vec<DjangoUser>,
) -> anyhow::Result<ImportReport> {
    let mut report = ImportReport::default();
    for django_user in users {
        let username = Username::normalize(&django_user.username);
        let email = django_user.email.trim().to_owned();
        let email_key = (!email.is_empty()).then(|| email.to_lowercase());
        if let Some(existing) = user::Entity::find_by_id(django_user.id).one(db).await? {
            // An earlier import of this user, not an account made here under the same name
            // (`users create --username admin` is id 1 too). dumpdata keeps milliseconds only.
            let imported_before = existing.username == username
                && existing.date_joined.timestamp() == django_user.date_joined.timestamp();
            if imported_before {
                report.unchanged += 1;
            } else {
                report.skipped.push((
                    username,
                    django_user.id,
                    format!(
                        "id {} belongs to account {:?}, joined {}",
                        existing.id, existing.username, existing.date_joined
                    ),
                ));
            }
            continue;
        }
        let mut taken = Condition::any().add(user::Column::Username.eq(username.clone()));
        if let Some(email_key) = &email_key {
            taken = taken.add(user::Column::EmailKey.eq(email_key.clone()));
        }
        let holder = user::Entity::find().filter(taken).one(db).await?;
        if let Some(holder) = holder {
            let what = if holder.username == username {
                "username"
            } else {
                "email"
            };
            report.skipped.push((
                username,
                django_user.id,
                format!("its {what} belongs to account {}", holder.id),
            ));
            continue;
        }
        if !django_password::is_supported(&django_user.password) {
            report.without_usable_password += 1;
        }
        let role = django_user.role();
        let account = user::ActiveModel {
            id: Set(django_user.id),
            username: Set(username.clone()),
            email: Set(email),
            email_key: Set(email_key),
            password_hash: Set(django_user.password),
            gst_no: Set(django_user.gst_no.filter(|gst| !gst.trim().is_empty())),
            role: Set(role),
            is_active: Set(django_user.is_active),
            date_joined: Set(django_user.date_joined),
            last_login: Set(django_user.last_login),
            sessions_ended_at: Set(None),
        };
        match user::Entity::insert(account).exec(db).await {
            Ok(_) => report.imported += 1,
            Err(err) if err.sql_err().is_some() => {
                report
                    .skipped
                    .push((username, django_user.id, format!("rejected: {err}")));
            }
            Err(err) => return Err(anyhow::anyhow!(err).context("inserting an imported user")),
        }
    }
    if db.get_database_backend() == DatabaseBackend::Postgres {
        // Explicit ids leave the sequence behind, and the next registration would collide.
        // Every run, since an earlier one may have stopped between its inserts and this; never
        // backwards, so the ids of deleted accounts are not handed out again.
        db.execute_unprepared(
            "SELECT setval(pg_get_serial_sequence('users', 'id'), GREATEST( \
               COALESCE((SELECT MAX(id) FROM users), 1), \
               nextval(pg_get_serial_sequence('users', 'id')) - 1))",
        )
        .await
        .context("moving the users id sequence past the imported ids")?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_told_apart_by_scheme() {
        assert_eq!(
            Source::parse("sqlite:///srv/app/db.sqlite3").unwrap(),
            Source::Database("sqlite:///srv/app/db.sqlite3".into())
        );
        assert_eq!(
            Source::parse("postgres://app@db/app").unwrap(),
            Source::Database("postgres://app@db/app".into())
        );
        assert_eq!(
            Source::parse("users.json").unwrap(),
            Source::DumpData("users.json".into())
        );
        let mysql = Source::parse("mysql://app:hunter2@db/app")
            .unwrap_err()
            .to_string();
        assert!(!mysql.contains("hunter2"), "{mysql}");
    }

    #[test]
    fn dumpdata_entries_become_users_with_django_roles() {
        let text = r#"[
          {"model": "auth.user", "pk": 7, "fields": {"password": "pbkdf2_sha256$1$s$h",
            "last_login": null, "is_superuser": true, "username": "root", "first_name": "",
            "last_name": "", "email": "Root@Example.com", "is_staff": true, "is_active": true,
            "date_joined": "2024-05-01T10:20:30.123Z", "groups": [], "user_permissions": []}},
          {"model": "auth.group", "pk": 1, "fields": {"name": "ops", "permissions": []}},
          {"model": "auth.user", "pk": 8, "fields": {"password": "!x", "is_superuser": false,
            "username": "asha", "email": "", "is_staff": false, "is_active": false,
            "date_joined": "2024-05-02T00:00:00", "last_login": "2025-01-01T08:00:00.5+05:30"}}
        ]"#;
        let users = parse_dumpdata(text, "auth.user").unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!((users[0].id, users[0].role()), (7, Role::Admin));
        assert_eq!(
            users[0].date_joined.to_rfc3339(),
            "2024-05-01T10:20:30.123+00:00"
        );
        assert_eq!(
            (users[1].role(), users[1].is_active),
            (Role::Customer, false)
        );
        assert_eq!(
            users[1].last_login.unwrap().to_rfc3339(),
            "2025-01-01T02:30:00.500+00:00"
        );
    }

    #[test]
    fn a_role_field_wins_over_the_flags() {
        let mut user = parse_dumpdata(
            r#"[{"model": "auth.user", "pk": 1, "fields": {"username": "s", "password": "",
                "is_staff": true, "date_joined": "2024-01-01T00:00:00Z"}}]"#,
            "auth.user",
        )
        .unwrap()
        .remove(0);
        assert_eq!(user.role(), Role::Staff);
        user.role = Some("customer".into());
        assert_eq!(user.role(), Role::Customer);
        user.role = Some("anonymous".into());
        assert_eq!(
            user.role(),
            Role::Staff,
            "not an account role: the flags decide"
        );
    }

    #[test]
    fn credentials_are_not_repeated_in_errors() {
        assert_eq!(
            redact("postgres://app:hunter2@db:5432/app"),
            "postgres://***@db:5432/app"
        );
        assert_eq!(
            redact("sqlite:///srv/db.sqlite3"),
            "sqlite:///srv/db.sqlite3"
        );
    }
}
