use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter,
};
use serde::Deserialize;

use super::{AuthState, AuthTags};
use crate::{
    domain::{FieldError, FieldErrors, Password, Role, Username, password},
    entity::user,
    error::ApiError,
    http::{AnyBody, DocumentedInput, lenient_string},
    refresh::RefreshRecord,
    token::Subject,
};

pub struct TokensApi;

/// simplejwt's `TokenObtainPairSerializer` input.
#[derive(Debug, Object)]
pub struct ObtainRequest {
    pub username: String,
    pub password: String,
}

#[derive(Deserialize)]
pub struct ObtainInput {
    #[serde(default, deserialize_with = "lenient_string")]
    username: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    password: Option<String>,
}

impl DocumentedInput for ObtainInput {
    type Schema = ObtainRequest;
}

/// An access token and the refresh token that renews it.
#[derive(Debug, Object)]
pub struct TokenPair {
    /// RS256 JWT, `typ: at+jwt`; send as `Authorization: Bearer <access>`.
    pub access: String,
    /// Opaque to clients (its `exp` is readable); exchange at `/auth/token/refresh/`.
    pub refresh: String,
}

#[derive(ApiResponse)]
pub enum ObtainResponse {
    /// Credentials accepted.
    #[oai(status = 200)]
    Ok(Json<TokenPair>),
}

#[OpenApi(tag = "AuthTags::Tokens")]
impl TokensApi {
    /// Obtain a token pair
    ///
    /// simplejwt's `TokenObtainPairView`: username and password for an access and a refresh
    /// token. A wrong password, an unknown user and an inactive account get the same 401.
    #[oai(
        path = "/auth/token/",
        method = "post",
        operation_id = "obtain_token_pair"
    )]
    async fn obtain(
        &self,
        state: Data<&Arc<AuthState>>,
        body: AnyBody<ObtainInput>,
    ) -> Result<ObtainResponse, ApiError> {
        let AnyBody(input) = body;
        let mut errors = FieldErrors::default();
        let username = errors.check(
            input
                .username
                .filter(|u| !u.is_empty())
                .ok_or(FieldError::required("username")),
        );
        let password = errors.check(
            input
                .password
                .filter(|p| !p.is_empty())
                .ok_or(FieldError::required("password")),
        );
        let (Some(username), Some(password)) = (username, password) else {
            return Err(errors.into());
        };
        if password.chars().count() > password::MAX_LENGTH {
            // No account has such a password: refused before any lookup or hashing.
            return Err(ApiError::NoActiveAccount);
        }
        let account = user::Entity::find()
            .filter(user::Column::Username.eq(Username::normalize(&username)))
            .one(&state.db)
            .await
            .map_err(|err| anyhow::anyhow!(err).context("looking up the account to log in"))?;
        let stored_hash = account
            .as_ref()
            .map(|account| account.password_hash.clone());
        let password = Password::unchecked_for_login(password);
        let password_ok = state.hasher.verify(password.clone(), stored_hash).await?;
        let account = match account {
            Some(account) if password_ok && account.is_active => account,
            _ => {
                tracing::info!("login refused");
                return Err(ApiError::NoActiveAccount);
            }
        };
        let role: Role = account
            .role
            .parse()
            .map_err(|_| anyhow::anyhow!("account {} has an unknown role", account.id))?;
        let subject = Subject::account(account.id, &account.username, role);
        let rehash = state.hasher.needs_rehash(&account.password_hash);
        let mut login = account.into_active_model();
        login.last_login = Set(Some(chrono::Utc::now()));
        if rehash {
            login.password_hash = Set(state.hasher.hash(password).await?);
        }
        login
            .update(&state.db)
            .await
            .map_err(|err| anyhow::anyhow!(err).context("recording the login"))?;
        Ok(ObtainResponse::Ok(Json(state.issue_pair(&subject).await?)))
    }
}

impl AuthState {
    /// Mints a pair for `subject` and records its refresh token; fails closed when the refresh
    /// store is down (a refresh token the store never saw could not be refreshed or revoked).
    pub async fn issue_pair(&self, subject: &Subject) -> Result<TokenPair, ApiError> {
        let pair = self.issuer.issue_pair(subject);
        self.refresh_store
            .record(&RefreshRecord::from(&pair.refresh_claims))
            .await
            .map_err(|err| {
                tracing::warn!(error = %err, "refresh store unavailable");
                ApiError::Unavailable("The session store is unavailable; try again shortly.")
            })?;
        Ok(TokenPair {
            access: pair.access,
            refresh: pair.refresh,
        })
    }
}
