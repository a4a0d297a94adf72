//! `POST /auth/password/change/`: Django's `PasswordChangeForm` over a bearer token.

use crate::error::{Failure, statuses::*};
use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json, types::Example};
use serde::Deserialize;

use super::{
    AuthState, AuthTags, BearerAuth, account_admin::new_password, refuse_accountless,
    tokens::TokenPair,
};
use crate::{
    domain::{FieldError, FieldErrors, Password, password},
    error::ApiError,
    http::{AnyBody, DocumentedInput, lenient_string},
    metrics::add,
    token::Subject,
};

#[derive(Default)]
pub struct PasswordChangeApi;

#[derive(Debug, Object)]
#[oai(example)]
pub struct PasswordChangeRequest {
    #[oai(validator(min_length = 1, max_length = 4096))]
    pub old_password: String,
    /// Django's validators apply: at least 8 characters, not common, not all digits, not like
    /// the username or email.
    #[oai(validator(min_length = 8, max_length = 4096))]
    pub new_password: String,
    /// Must equal `new_password` when given.
    #[oai(validator(min_length = 8, max_length = 4096))]
    pub new_password2: Option<String>,
}

#[derive(Deserialize)]
pub struct PasswordChangeInput {
    #[serde(default, deserialize_with = "lenient_string")]
    old_password: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    new_password: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    new_password2: Option<String>,
}

impl DocumentedInput for PasswordChangeInput {
    type Schema = PasswordChangeRequest;
}

#[derive(ApiResponse)]
pub enum PasswordChangeResponse {
    /// The password is changed, every session of the account has ended, and this is a new
    /// session for the device that asked.
    #[oai(status = 200)]
    Ok(Json<TokenPair>),
}

#[OpenApi(tag = "AuthTags::Sessions")]
impl PasswordChangeApi {
    /// Change your password
    ///
    /// `old_password` and `new_password` (and `new_password2`, which must match when sent).
    /// Every session of the account ends, this one too: the answer is a new token pair for
    /// the caller. A wrong `old_password` is a 400 on that field, limited per account like
    /// logins (429). Anonymous tokens get 403.
    #[oai(
        path = "/auth/password/change/",
        method = "post",
        operation_id = "change_password"
    )]
    async fn change(
        &self,
        state: Data<&Arc<AuthState>>,
        auth: BearerAuth,
        body: AnyBody<PasswordChangeInput>,
    ) -> Result<
        PasswordChangeResponse,
        Failure<{ BODY | UNAUTHORIZED | FORBIDDEN | NOT_FOUND | TOO_MANY_REQUESTS }>,
    > {
        refuse_accountless(&auth.0, ApiError::ANONYMOUS_HAS_NO_PASSWORD)?;
        let account = state.load_live_caller(&auth.0).await?;
        // The old password is a guess like a login's: limited per account the same way.
        if let Some(limiter) = &state.limits.login_username {
            limiter.admit(&account.username).await?;
        }
        let AnyBody(input) = body;
        let mut errors = FieldErrors::default();
        let old = errors.check(FieldError::require(input.old_password, "old_password"));
        let new = new_password(
            input.new_password,
            input.new_password2,
            ("new_password", "new_password2"),
            &account,
        )
        .map_err(|new_errors| errors.merge(new_errors))
        .ok();
        let old_given = old.is_some();
        let old_ok = match old {
            // No account has an over-long password: refused without hashing it.
            Some(old) if old.chars().count() <= password::MAX_LENGTH => {
                let stored = Some(account.password_hash.clone());
                let old = Password::unchecked_for_login(old);
                state.hasher.verify(old, stored).await?
            }
            _ => false,
        };
        if old_given && !old_ok {
            errors.push(FieldError::new(
                "old_password",
                "Your old password was entered incorrectly. Please enter it again.",
            ));
        }
        let (Some(new), true, true) = (new, old_ok, errors.is_empty()) else {
            return Err(errors.into());
        };
        let hash = state.hasher.hash(new).await?;
        let ended = state
            .account_changes()
            .set_password(account.id, hash, None)
            .await?;
        add(&state.metrics.tokens.revoked, ended);
        tracing::info!(
            user_id = account.id,
            sessions_ended = ended,
            "password changed"
        );
        let subject = Subject::account(account.id, &account.username, account.role);
        Ok(PasswordChangeResponse::Ok(Json(
            state.issue_pair(&subject).await?,
        )))
    }
}

impl Example for PasswordChangeRequest {
    fn example() -> Self {
        Self {
            old_password: "Bx7#mq2Lz9Vw".into(),
            new_password: "a-new-Passw0rd".into(),
            new_password2: Some("a-new-Passw0rd".into()),
        }
    }
}
