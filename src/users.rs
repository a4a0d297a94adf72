//! Creating accounts, shared by `POST /auth/register/` and `tessera users create`.

use chrono::Utc;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryFilter, SqlErr,
};

use crate::{
    domain::{Email, FieldError, FieldErrors, GstNo, Role, Username},
    entity::user,
};

/// An account that passed every field rule, waiting for its password hash.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: Option<Email>,
    pub gst_no: Option<GstNo>,
    pub role: Role,
    pub is_active: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("username or email already taken")]
    Taken(FieldErrors),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Reports a taken username and a taken email together, before any password is hashed.
pub async fn check_available(
    db: &DatabaseConnection,
    new_user: &NewUser,
) -> Result<(), CreateUserError> {
    let mut errors = FieldErrors::default();
    let taken = |column: user::Column, value: String| async move {
        user::Entity::find()
            .filter(column.eq(value))
            .count(db)
            .await
            .map(|count| count > 0)
            .map_err(|err| anyhow::anyhow!(err).context("checking whether an account exists"))
    };
    if taken(
        user::Column::Username,
        new_user.username.as_ref().to_owned(),
    )
    .await?
    {
        errors.push(username_taken());
    }
    if let Some(email) = &new_user.email
        && taken(user::Column::EmailKey, email.key()).await?
    {
        errors.push(email_taken());
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CreateUserError::Taken(errors))
    }
}

/// Inserts the account; a racing insert of the same username or email loses on the unique index.
pub async fn insert(
    db: &DatabaseConnection,
    new_user: NewUser,
    password_hash: String,
) -> Result<user::Model, CreateUserError> {
    let model = user::ActiveModel {
        id: NotSet,
        username: Set(new_user.username.as_ref().to_owned()),
        email: Set(new_user
            .email
            .as_ref()
            .map(|e| e.as_ref().to_owned())
            .unwrap_or_default()),
        email_key: Set(new_user.email.as_ref().map(Email::key)),
        password_hash: Set(password_hash),
        gst_no: Set(new_user.gst_no.map(|gst| gst.as_ref().to_owned())),
        role: Set(new_user.role.as_str().to_owned()),
        is_active: Set(new_user.is_active),
        date_joined: Set(Utc::now()),
        last_login: Set(None),
    };
    user::Entity::insert(model)
        .exec_with_returning(db)
        .await
        .map_err(|err| match unique_violation(&err) {
            Some(field_error) => CreateUserError::Taken(field_error.into()),
            None => anyhow::anyhow!(err).context("inserting the account").into(),
        })
}

fn username_taken() -> FieldError {
    FieldError::new("username", "A user with that username already exists.")
}

fn email_taken() -> FieldError {
    FieldError::new("email", "A user with that email already exists.")
}

/// SQLite names the column (`users.email_key`), PostgreSQL the index (`users_email_key_key`).
fn unique_violation(err: &DbErr) -> Option<FieldError> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(message)) if message.contains("email") => {
            Some(email_taken())
        }
        Some(SqlErr::UniqueConstraintViolation(_)) => Some(username_taken()),
        _ => None,
    }
}
