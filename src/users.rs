//! Accounts: the one module that reads and writes the `users` table, for the HTTP handlers
//! and the CLI alike. A change that must end an account's sessions (deactivation, a new role,
//! a new password) ends them here, through [`AccountChanges`], so no caller can forget to.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, SqlErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

use crate::{
    domain::{Email, FieldError, FieldErrors, GstNo, Role, Username},
    entity::user,
    refresh::{RefreshStore, StoreUnavailable},
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
        role: Set(new_user.role),
        is_active: Set(new_user.is_active),
        date_joined: Set(Utc::now()),
        last_login: Set(None),
        sessions_ended_at: Set(None),
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

/// Which unique constraint an insert or update broke, by name: PostgreSQL reports the
/// constraint, SQLite only the column it covers (`UNIQUE constraint failed: users.email_key`).
fn unique_violation(err: &DbErr) -> Option<FieldError> {
    use sea_orm::RuntimeErr;
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx_err))
    | DbErr::Query(RuntimeErr::SqlxError(sqlx_err))) = err
    else {
        return None;
    };
    let sea_orm::sqlx::Error::Database(database_err) = &**sqlx_err else {
        return None;
    };
    if !matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        return None;
    }
    let name = database_err.constraint().map(str::to_owned).or_else(|| {
        database_err
            .message()
            .strip_prefix("UNIQUE constraint failed: ")
            .map(str::to_owned)
    })?;
    match name.as_str() {
        "users_username_key" | "users.username" => Some(username_taken()),
        "users_email_key_key" | "users.email_key" => Some(email_taken()),
        _ => None,
    }
}

fn failed(what: &'static str) -> impl FnOnce(DbErr) -> anyhow::Error {
    move |err| anyhow::anyhow!(err).context(what)
}

/// The account a login names, active or not (the caller answers both alike).
pub async fn find_by_username(
    db: &DatabaseConnection,
    username: &str,
) -> anyhow::Result<Option<user::Model>> {
    user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await
        .map_err(failed("looking up the account"))
}

pub async fn find(db: &DatabaseConnection, id: i64) -> anyhow::Result<Option<user::Model>> {
    user::Entity::find_by_id(id)
        .one(db)
        .await
        .map_err(failed("loading the account"))
}

/// The account, if it exists and may use its tokens.
pub async fn find_active(db: &DatabaseConnection, id: i64) -> anyhow::Result<Option<user::Model>> {
    Ok(find(db, id).await?.filter(|account| account.is_active))
}

/// What a token of an active account speaks for now: read on every refresh and introspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    pub username: String,
    pub role: Role,
    sessions_ended_at: Option<i64>,
}

impl TokenHolder {
    /// Whether a refresh token belongs to a session the account's last "end every session"
    /// could not reach: one minted before sessions were indexed by account (it has no
    /// `auth_time`) and before that moment. Such a token is refused instead of being moved
    /// into the index at its next refresh.
    pub fn predates_a_logout(&self, auth_time: Option<i64>, issued_at: i64) -> bool {
        auth_time.is_none() && self.sessions_ended_at.is_some_and(|at| issued_at <= at)
    }
}

/// The active account's [`TokenHolder`]; `None` if it is gone or deactivated. One narrow
/// statement through sqlx itself: it runs on every refresh, and sea-orm's query layer cost
/// more than the statement (ARCHITECTURE.md, "The account read of a refresh").
pub async fn find_token_holder(
    db: &DatabaseConnection,
    id: i64,
) -> anyhow::Result<Option<TokenHolder>> {
    use sea_orm::{DbBackend, RuntimeErr, sqlx};
    type Row = (String, String, Option<i64>);
    let row: Result<Option<Row>, sqlx::Error> =
        match db.get_database_backend() {
            DbBackend::Sqlite => sqlx::query_as(
                "SELECT username, role, sessions_ended_at FROM users WHERE id = ? AND is_active",
            )
            .bind(id)
            .fetch_optional(db.get_sqlite_connection_pool())
            .await,
            // PostgreSQL, the only other backend Tessera connects to.
            _ => sqlx::query_as(
                "SELECT username, role, sessions_ended_at FROM users WHERE id = $1 AND is_active",
            )
            .bind(id)
            .fetch_optional(db.get_postgres_connection_pool())
            .await,
        };
    let row = row
        .map_err(|err| DbErr::Query(RuntimeErr::SqlxError(std::sync::Arc::new(err))))
        .map_err(failed("loading the account"))?;
    // Decoded as sea-orm decodes the column everywhere else, so the stored spelling of a role
    // has one definition.
    row.map(|(username, role, sessions_ended_at)| {
        Ok(TokenHolder {
            username,
            role: sea_orm::ActiveEnum::try_from_value(&role)
                .map_err(failed("reading the account's role"))?,
            sessions_ended_at,
        })
    })
    .transpose()
}

/// Records a successful login, and the password's new hash when its cost was raised since.
pub async fn record_login(
    db: &DatabaseConnection,
    account: user::Model,
    new_hash: Option<String>,
) -> anyhow::Result<()> {
    let mut login = account.into_active_model();
    login.last_login = Set(Some(Utc::now()));
    if let Some(hash) = new_hash {
        login.password_hash = Set(hash);
    }
    login
        .update(db)
        .await
        .map(drop)
        .map_err(failed("recording the login"))
}

/// One page of accounts by id, and how many there are.
pub async fn page(
    db: &DatabaseConnection,
    page_size: u64,
    index: impl FnOnce(u64) -> Result<u64, crate::error::ApiError>,
) -> Result<(u64, Vec<user::Model>), crate::error::ApiError> {
    let paginator = user::Entity::find()
        .order_by_asc(user::Column::Id)
        .paginate(db, page_size);
    let count = paginator
        .num_items()
        .await
        .map_err(failed("counting accounts"))?;
    let accounts = paginator
        .fetch_page(index(count)?)
        .await
        .map_err(failed("fetching accounts"))?;
    Ok((count, accounts))
}

/// What an administrator may change of an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    pub is_active: Option<bool>,
    pub role: Option<Role>,
    pub email: Option<Email>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("no such account")]
    NotFound,
    /// A taken email, or the last active administrator locked out.
    #[error("the change is not allowed")]
    Refused(FieldErrors),
    #[error(transparent)]
    SessionsNotEnded(#[from] StoreUnavailable),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Account changes that end sessions where they must, so that a retry after a session store
/// outage (503) finishes the job: see each method.
pub struct AccountChanges<'a> {
    pub db: &'a DatabaseConnection,
    pub sessions: &'a dyn RefreshStore,
}

impl AccountChanges<'_> {
    /// Applies `change`; deactivation and a new role end every session of the account. An
    /// active administrator cannot be deactivated or demoted when no other one is active.
    pub async fn update(
        &self,
        id: i64,
        change: AccountChange,
    ) -> Result<(user::Model, u64), ChangeError> {
        // Concurrent demotions take turns: SQLite's write lock is taken at BEGIN, and on
        // PostgreSQL the admins' rows are locked for update before they are counted.
        let txn = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
            .map_err(failed("starting an account change"))?;
        let admins: Vec<i64> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::Role.eq(Role::Admin))
            .filter(user::Column::IsActive.eq(true))
            .lock_exclusive()
            .into_tuple()
            .all(&txn)
            .await
            .map_err(failed("locking the administrators"))?;
        let account = user::Entity::find_by_id(id)
            .one(&txn)
            .await
            .map_err(failed("loading the account"))?
            .ok_or(ChangeError::NotFound)?;
        let was_admin = account.is_active && account.role == Role::Admin;
        let is_active = change.is_active.unwrap_or(account.is_active);
        let role = change.role.unwrap_or(account.role);
        if was_admin && !(is_active && role == Role::Admin) && admins.iter().all(|a| *a == id) {
            let field = if is_active { "role" } else { "is_active" };
            return Err(ChangeError::Refused(
                FieldError::new(field, "This would leave no active administrator.").into(),
            ));
        }
        // An inactive account has no sessions, whether or not this call deactivated it: a
        // deactivation retried after the store was down ends them then.
        let ends_sessions = !is_active || role != account.role;
        let mut updated = account.into_active_model();
        updated.is_active = Set(is_active);
        updated.role = Set(role);
        if ends_sessions {
            updated.sessions_ended_at = Set(Some(Utc::now().timestamp()));
        }
        if let Some(email) = &change.email {
            updated.email = Set(email.as_ref().to_owned());
            updated.email_key = Set(Some(email.key()));
        }
        let updated = updated
            .update(&txn)
            .await
            .map_err(|err| match unique_violation(&err) {
                Some(taken) => ChangeError::Refused(taken.into()),
                None => failed("changing the account")(err).into(),
            })?;
        txn.commit()
            .await
            .map_err(failed("committing the account change"))?;
        let ended = if ends_sessions {
            self.sessions.end_all(id, None).await?
        } else {
            0
        };
        Ok((updated, ended))
    }

    /// Sets the account's password hash and ends its sessions, all but `keep`: before the
    /// hash is saved, so a store that is down fails the call with the old password still in
    /// place (a retry, which checks the old password again, works), and after, for a login
    /// with the old password that raced the change.
    pub async fn set_password(
        &self,
        id: i64,
        password_hash: String,
        keep: Option<&str>,
    ) -> Result<u64, ChangeError> {
        let ended_before = self.sessions.end_all(id, keep).await?;
        self.mark_sessions_ended(id, Some(password_hash)).await?;
        // The password is changed now: a store that failed since must not make the caller
        // retry a change that is done. Only a login that raced the change can be left.
        let ended_after = self
            .sessions
            .end_all(id, keep)
            .await
            .unwrap_or_else(|err| {
                tracing::warn!(user_id = id, error = %err, "password set, but a session started during the change may remain until it expires");
                0
            });
        Ok(ended_before + ended_after)
    }

    /// Ends every session of the account but `keep`.
    pub async fn log_out(&self, id: i64, keep: Option<&str>) -> Result<u64, ChangeError> {
        self.mark_sessions_ended(id, None).await?;
        Ok(self.sessions.end_all(id, keep).await?)
    }

    /// Records that the account's sessions end now (see [`TokenHolder::predates_a_logout`]),
    /// with its new password hash if there is one, in one statement.
    async fn mark_sessions_ended(
        &self,
        id: i64,
        password_hash: Option<String>,
    ) -> Result<(), ChangeError> {
        use sea_orm::sea_query::Expr;
        let mut update = user::Entity::update_many()
            .col_expr(
                user::Column::SessionsEndedAt,
                Expr::value(Utc::now().timestamp()),
            )
            .filter(user::Column::Id.eq(id));
        if let Some(hash) = password_hash {
            update = update.col_expr(user::Column::PasswordHash, Expr::value(hash));
        }
        let updated = update
            .exec(self.db)
            .await
            .map_err(failed("recording that the account's sessions end"))?;
        if updated.rows_affected == 0 {
            return Err(ChangeError::NotFound);
        }
        Ok(())
    }
}
