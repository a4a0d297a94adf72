//! Administration of other accounts: look one up, change it, set its password, log it out
//! everywhere. Admins only (staff may look), checked against the caller's account as it is
//! now, not as their token says.

use crate::error::{Failure, statuses::*};
use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, param::Path, payload::Json, types::Example};
use serde::Deserialize;

use super::{
    AuthState, AuthTags, BearerAuth,
    accounts::UserProfile,
    sessions::{LoggedOut, LogoutAllResponse},
};
use crate::{
    domain::{Email, FieldError, FieldErrors, Password, Role},
    error::ApiError,
    http::{AnyBody, DocumentedInput, lenient_bool, lenient_string},
    metrics::add,
    users::{self, AccountChange, AccountChanges},
};

#[derive(Default)]
pub struct AccountAdminApi;

/// The fields an administrator may change; each is optional.
#[derive(Debug, Object)]
#[oai(example)]
pub struct AccountPatchRequest {
    /// `false` deactivates the account: no login, no refresh, every session ended.
    pub is_active: Option<bool>,
    /// `customer`, `staff` or `admin`; a change ends every session of the account.
    #[oai(validator(pattern = "^(customer|staff|admin)$"))]
    pub role: Option<String>,
    /// Unique ignoring case.
    #[oai(validator(min_length = 3, max_length = 254, pattern = "@"))]
    pub email: Option<String>,
}

#[derive(Deserialize)]
pub struct AccountPatchInput {
    #[serde(default, deserialize_with = "lenient_bool")]
    is_active: Option<bool>,
    #[serde(default, deserialize_with = "lenient_string")]
    role: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    email: Option<String>,
}

impl DocumentedInput for AccountPatchInput {
    type Schema = AccountPatchRequest;
}

/// A new password, as in Django's `SetPasswordForm`.
#[derive(Debug, Object)]
#[oai(example)]
pub struct SetPasswordRequest {
    /// Django's validators apply: at least 8 characters, not common, not all digits, not like
    /// the username or email.
    #[oai(validator(min_length = 8, max_length = 4096))]
    pub password: String,
    /// Must equal `password` when given.
    #[oai(validator(min_length = 8, max_length = 4096))]
    pub password2: Option<String>,
}

#[derive(Deserialize)]
pub struct SetPasswordInput {
    #[serde(default, deserialize_with = "lenient_string")]
    password: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    password2: Option<String>,
}

impl DocumentedInput for SetPasswordInput {
    type Schema = SetPasswordRequest;
}

#[derive(ApiResponse)]
pub enum AccountResponse {
    /// The account, as it is now.
    #[oai(status = 200)]
    Ok(Json<UserProfile>),
}

#[derive(ApiResponse)]
pub enum PasswordSetResponse {
    /// The password is set and every session of the account has ended.
    #[oai(status = 204)]
    Set,
}

/// Account ids are positive integers: anything else names no account.
fn account_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(ApiError::NotFound)
}

/// A new password checked against Django's validators and the account's own attributes;
/// `field` and `again` name the fields it came in.
pub(super) fn new_password(
    raw: Option<String>,
    repeated: Option<String>,
    (field, again): (&'static str, &'static str),
    account: &crate::entity::user::Model,
) -> Result<Password, FieldErrors> {
    let raw = FieldError::require(raw, field)?;
    let mut errors = FieldErrors::default();
    if repeated.as_ref().is_some_and(|repeated| *repeated != raw) {
        errors.push(FieldError::new(
            again,
            "The two password fields didn’t match.",
        ));
    }
    let password = Password::parse(&raw, &[&account.username, &account.email])
        .map_err(|rule_errors| {
            for error in rule_errors {
                errors.push(FieldError::new(field, error.message));
            }
        })
        .ok();
    match password {
        Some(password) if errors.is_empty() => Ok(password),
        _ => Err(errors),
    }
}

impl AuthState {
    pub(super) fn account_changes(&self) -> AccountChanges<'_> {
        AccountChanges {
            db: &self.db,
            sessions: self.refresh_store.as_ref(),
        }
    }
}

#[OpenApi(tag = "AuthTags::Accounts")]
impl AccountAdminApi {
    /// Look up an account
    ///
    /// Staff and admin only.
    #[oai(
        path = "/auth/accounts/:id/",
        method = "get",
        operation_id = "get_account"
    )]
    async fn get(
        &self,
        state: Data<&Arc<AuthState>>,
        auth: BearerAuth,
        /// The account's `id`.
        id: Path<String>,
    ) -> Result<AccountResponse, Failure<{ UNAUTHORIZED | FORBIDDEN | NOT_FOUND | UNAVAILABLE }>>
    {
        state.require_role(&auth.0, Role::is_privileged).await?;
        let account = users::find(&state.db, account_id(&id.0)?)
            .await?
            .ok_or(ApiError::NotFound)?;
        Ok(AccountResponse::Ok(Json(account.into())))
    }

    /// Change an account
    ///
    /// Admins only. Deactivating an account or changing its role ends every session of it at
    /// once. The last active admin cannot be deactivated or demoted (400).
    #[oai(
        path = "/auth/accounts/:id/",
        method = "patch",
        operation_id = "update_account"
    )]
    async fn update(
        &self,
        state: Data<&Arc<AuthState>>,
        auth: BearerAuth,
        /// The account's `id`.
        id: Path<String>,
        body: AnyBody<AccountPatchInput>,
    ) -> Result<AccountResponse, Failure<{ BODY | UNAUTHORIZED | FORBIDDEN | NOT_FOUND }>> {
        let admin = state
            .require_role(&auth.0, |role| role == Role::Admin)
            .await?;
        let id = account_id(&id.0)?;
        let AnyBody(input) = body;
        let mut errors = FieldErrors::default();
        let change = AccountChange {
            is_active: input.is_active,
            role: input
                .role
                .and_then(|raw| errors.check(Role::parse_account_role(&raw))),
            email: input.email.and_then(|raw| errors.check(Email::parse(&raw))),
        };
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let (account, ended) = state.account_changes().update(id, change).await?;
        add(&state.metrics.tokens.revoked, ended);
        tracing::info!(
            admin = admin.id,
            user_id = id,
            is_active = account.is_active,
            role = %account.role,
            sessions_ended = ended,
            "account changed"
        );
        Ok(AccountResponse::Ok(Json(account.into())))
    }

    /// Set an account's password
    ///
    /// Admins only. Django's validators apply; every session of the account ends.
    #[oai(
        path = "/auth/accounts/:id/password/",
        method = "post",
        operation_id = "set_account_password"
    )]
    async fn set_password(
        &self,
        state: Data<&Arc<AuthState>>,
        auth: BearerAuth,
        /// The account's `id`.
        id: Path<String>,
        body: AnyBody<SetPasswordInput>,
    ) -> Result<
        PasswordSetResponse,
        Failure<{ BODY | UNAUTHORIZED | FORBIDDEN | NOT_FOUND | TOO_MANY_REQUESTS }>,
    > {
        let admin = state
            .require_role(&auth.0, |role| role == Role::Admin)
            .await?;
        let account = users::find(&state.db, account_id(&id.0)?)
            .await?
            .ok_or(ApiError::NotFound)?;
        let AnyBody(input) = body;
        let password = new_password(
            input.password,
            input.password2,
            ("password", "password2"),
            &account,
        )?;
        let hash = state.hasher.hash(password).await?;
        let ended = state
            .account_changes()
            .set_password(account.id, hash, None)
            .await?;
        add(&state.metrics.tokens.revoked, ended);
        tracing::info!(
            admin = admin.id,
            user_id = account.id,
            sessions_ended = ended,
            "password set by an administrator"
        );
        Ok(PasswordSetResponse::Set)
    }

    /// Log an account out everywhere
    ///
    /// Admins only. Ends every session of the account: `{"ended": n}`.
    #[oai(
        path = "/auth/accounts/:id/sessions/",
        method = "delete",
        operation_id = "end_account_sessions"
    )]
    async fn end_sessions(
        &self,
        state: Data<&Arc<AuthState>>,
        auth: BearerAuth,
        /// The account's `id`.
        id: Path<String>,
    ) -> Result<LogoutAllResponse, Failure<{ UNAUTHORIZED | FORBIDDEN | NOT_FOUND | UNAVAILABLE }>>
    {
        let admin = state
            .require_role(&auth.0, |role| role == Role::Admin)
            .await?;
        let id = account_id(&id.0)?;
        let ended = state.account_changes().log_out(id, None).await?;
        add(&state.metrics.tokens.revoked, ended);
        tracing::info!(
            admin = admin.id,
            user_id = id,
            ended,
            "account logged out everywhere"
        );
        Ok(LogoutAllResponse::Ok(Json(LoggedOut { ended })))
    }
}

/// Deactivating an account: every session ends with it.
impl Example for AccountPatchRequest {
    fn example() -> Self {
        Self {
            is_active: Some(false),
            role: None,
            email: None,
        }
    }
}

impl Example for SetPasswordRequest {
    fn example() -> Self {
        Self {
            password: "a-new-Passw0rd".into(),
            password2: Some("a-new-Passw0rd".into()),
        }
    }
}
