use std::sync::Arc;

use crate::error::{Failure, statuses::*};
use poem::{Request, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json, types::Example};
use serde::Deserialize;

use super::{AuthState, AuthTags};
use crate::{
    domain::{FieldError, FieldErrors, Password, Role, Username, password},
    error::ApiError,
    http::{AnyBody, DocumentedInput, lenient_string},
    metrics::bump,
    refresh::{LiveToken, Rotation, SessionRef},
    token::{RefreshClaims, Subject, examples},
    users,
};

#[derive(Default)]
pub struct TokensApi;

/// simplejwt's `TokenObtainPairSerializer` input.
#[derive(Debug, Object)]
#[oai(example)]
pub struct ObtainRequest {
    #[oai(validator(min_length = 1, max_length = 150))]
    pub username: String,
    #[oai(validator(min_length = 1, max_length = 4096))]
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
#[derive(Debug, Clone, Object)]
#[oai(example)]
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

#[derive(Debug, Object)]
#[oai(example)]
pub struct RefreshRequest {
    /// A refresh token from `/auth/token/`, `/auth/register/`, `/auth/token/anonymous/` or
    /// an earlier refresh.
    #[oai(validator(min_length = 1))]
    pub refresh: String,
}

#[derive(Deserialize)]
pub struct RefreshInput {
    #[serde(default, deserialize_with = "lenient_string")]
    refresh: Option<String>,
}

impl DocumentedInput for RefreshInput {
    type Schema = RefreshRequest;
}

impl RefreshInput {
    fn token(self) -> Result<String, ApiError> {
        Ok(FieldError::require(self.refresh, "refresh")?)
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct VerifyRequest {
    /// An access or a refresh token.
    #[oai(validator(min_length = 1))]
    pub token: String,
}

#[derive(Deserialize)]
pub struct VerifyInput {
    #[serde(default, deserialize_with = "lenient_string")]
    token: Option<String>,
}

impl DocumentedInput for VerifyInput {
    type Schema = VerifyRequest;
}

/// A new access token, and with rotation on (the default) the refresh token that replaces the
/// one presented.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Refreshed {
    pub access: String,
    #[oai(skip_serializing_if_is_none)]
    pub refresh: Option<String>,
}

#[derive(ApiResponse)]
pub enum RefreshResponse {
    /// The presented refresh token was live; with rotation it is now spent.
    #[oai(status = 200)]
    Ok(Json<Refreshed>),
}

/// simplejwt answers `{}`.
#[derive(Debug, Object)]
pub struct Empty {}

#[derive(ApiResponse)]
pub enum EmptyResponse {
    #[oai(status = 200)]
    Ok(Json<Empty>),
}

#[OpenApi(tag = "AuthTags::Tokens")]
impl TokensApi {
    /// Obtain a token pair
    ///
    /// simplejwt's `TokenObtainPairView`: username and password for an access and a refresh
    /// token. A wrong password, an unknown user and an inactive account get the same 401.
    /// Limited per client IP and per username (429 with `Retry-After`).
    #[oai(
        path = "/auth/token/",
        method = "post",
        operation_id = "obtain_token_pair"
    )]
    async fn obtain(
        &self,
        state: Data<&Arc<AuthState>>,
        req: &Request,
        body: AnyBody<ObtainInput>,
    ) -> Result<ObtainResponse, Failure<{ BODY | UNAUTHORIZED | TOO_MANY_REQUESTS }>> {
        state.limits.admit(&state.limits.login, req).await?;
        let AnyBody(input) = body;
        let mut errors = FieldErrors::default();
        let username = errors.check(
            FieldError::require(input.username, "username")
                .and_then(|username| Username::for_login(&username)),
        );
        let password = errors.check(FieldError::require(input.password, "password"));
        let (Some(username), Some(password)) = (username, password) else {
            return Err(errors.into());
        };
        // Per account too, so guessing one user's password from many addresses is slow as well.
        if let Some(limiter) = &state.limits.login_username {
            limiter.admit(username.as_ref()).await?;
        }
        if password.chars().count() > password::MAX_LENGTH {
            // No account has such a password: refused before any lookup or hashing.
            return Err(ApiError::NoActiveAccount.into());
        }
        let account = users::find_by_username(&state.db, &username).await?;
        let stored_hash = account
            .as_ref()
            .map(|account| account.password_hash.clone());
        let password = Password::unchecked_for_login(password);
        let password_ok = state.hasher.verify(password.clone(), stored_hash).await?;
        let account = match account {
            Some(account) if password_ok && account.is_active => account,
            _ => {
                tracing::info!("login refused");
                bump(&state.metrics.tokens.login_failures);
                return Err(ApiError::NoActiveAccount.into());
            }
        };
        let subject = Subject::account(account.id, &account.username, account.role);
        let new_hash = if state.hasher.needs_rehash(&account.password_hash) {
            Some(state.hasher.hash(password).await?)
        } else {
            None
        };
        users::record_login(&state.db, account, new_hash).await?;
        let pair = state.issue_pair(&subject).await?;
        bump(&state.metrics.tokens.issued_login);
        Ok(ObtainResponse::Ok(Json(pair)))
    }

    /// Refresh
    ///
    /// simplejwt's `TokenRefreshView` with `ROTATE_REFRESH_TOKENS`: a new access token and a
    /// new refresh token; the presented one is spent. Presenting a spent refresh token again is
    /// taken as theft (RFC 9700): its whole family, including the newest token, is revoked.
    #[oai(
        path = "/auth/token/refresh/",
        method = "post",
        operation_id = "refresh_token"
    )]
    async fn refresh(
        &self,
        state: Data<&Arc<AuthState>>,
        body: AnyBody<RefreshInput>,
    ) -> Result<RefreshResponse, Failure<{ BODY | UNAUTHORIZED }>> {
        let presented = body.0.token()?;
        let refreshed = state.refresh_session(&presented).await?;
        Ok(RefreshResponse::Ok(Json(refreshed)))
    }

    /// Verify a token
    ///
    /// simplejwt's `TokenVerifyView`: `{}` for a valid access token or a live refresh token.
    #[oai(
        path = "/auth/token/verify/",
        method = "post",
        operation_id = "verify_token"
    )]
    async fn verify(
        &self,
        state: Data<&Arc<AuthState>>,
        body: AnyBody<VerifyInput>,
    ) -> Result<EmptyResponse, Failure<{ BODY | UNAUTHORIZED }>> {
        let token = FieldError::require(body.0.token, "token")?;
        if state.verifier.verify_access(&token).is_ok() {
            return Ok(EmptyResponse::Ok(Json(Empty {})));
        }
        let claims = state
            .verifier
            .verify_refresh(&token)
            .map_err(|_| ApiError::TokenNotValid)?;
        let now = chrono::Utc::now().timestamp();
        if state
            .refresh_store
            .is_live(SessionRef::from(&claims), &claims.jti, now)
            .await?
        {
            Ok(EmptyResponse::Ok(Json(Empty {})))
        } else {
            Err(ApiError::TokenNotValid.into())
        }
    }

    /// Log out
    ///
    /// simplejwt's `TokenBlacklistView`: the refresh token and every token of its family stop
    /// working. Access tokens already issued live out their (short) lifetime.
    #[oai(
        path = "/auth/token/blacklist/",
        method = "post",
        operation_id = "blacklist_token"
    )]
    async fn blacklist(
        &self,
        state: Data<&Arc<AuthState>>,
        body: AnyBody<RefreshInput>,
    ) -> Result<EmptyResponse, Failure<{ BODY | UNAUTHORIZED }>> {
        let presented = body.0.token()?;
        let claims = state
            .verifier
            .verify_refresh(&presented)
            .map_err(|_| ApiError::TokenNotValid)?;
        if state
            .refresh_store
            .revoke(SessionRef::from(&claims))
            .await?
        {
            bump(&state.metrics.tokens.revoked);
            Ok(EmptyResponse::Ok(Json(Empty {})))
        } else {
            Err(ApiError::TokenNotValid.into())
        }
    }

    /// Anonymous tokens
    ///
    /// A read-only identity with no account: role `anonymous`, shorter lifetimes (2 minutes and
    /// 1 hour by default). Its refresh token refreshes like any other and stays anonymous.
    /// No body is needed; one that is sent is ignored.
    #[oai(
        path = "/auth/token/anonymous/",
        method = "post",
        operation_id = "obtain_anonymous_token_pair"
    )]
    async fn anonymous(
        &self,
        state: Data<&Arc<AuthState>>,
        req: &Request,
    ) -> Result<ObtainResponse, Failure<{ TOO_MANY_REQUESTS | UNAVAILABLE }>> {
        state.limits.admit(&state.limits.anonymous, req).await?;
        let subject = Subject {
            sub: format!("anon:{}", uuid::Uuid::new_v4()),
            user_id: None,
            username: None,
            role: Role::Anonymous,
        };
        let pair = state.issue_pair(&subject).await?;
        bump(&state.metrics.tokens.issued_anonymous);
        Ok(ObtainResponse::Ok(Json(pair)))
    }
}

impl AuthState {
    /// Mints a pair for `subject` and starts its family; fails closed when the refresh store is
    /// down (a refresh token the store never saw could be neither refreshed nor revoked).
    pub async fn issue_pair(&self, subject: &Subject) -> Result<TokenPair, ApiError> {
        let pair = self.issuer.issue_pair(subject);
        self.refresh_store
            .start(LiveToken::from(&pair.refresh_claims))
            .await?;
        Ok(TokenPair {
            access: pair.access,
            refresh: pair.refresh,
        })
    }

    /// Who a refresh token speaks for now: an account's current role and name from the
    /// database (a deactivated account gets no new tokens), an anonymous subject as it was.
    async fn current_subject(&self, claims: &RefreshClaims) -> Result<Subject, ApiError> {
        let Some(user_id) = claims.user_id else {
            return match claims.role {
                Role::Anonymous => Ok(Subject {
                    sub: claims.sub.clone(),
                    user_id: None,
                    username: None,
                    role: Role::Anonymous,
                }),
                _ => Err(ApiError::TokenNotValid),
            };
        };
        let holder = users::find_token_holder(&self.db, user_id)
            .await?
            .filter(|holder| !holder.predates_a_logout(claims.auth_time, claims.iat))
            .ok_or(ApiError::TokenNotValid)?;
        Ok(Subject::account(user_id, &holder.username, holder.role))
    }
}

impl AuthState {
    /// A refresh of the session `presented` belongs to: with rotation, a new pair and the
    /// presented token spent (a spent one presented again revokes its family, RFC 9700), else a
    /// new access token. simplejwt's refresh and the OAuth `refresh_token` grant both answer
    /// with this.
    pub(super) async fn refresh_session(&self, presented: &str) -> Result<Refreshed, ApiError> {
        let claims = self
            .verifier
            .verify_refresh(presented)
            .map_err(|_| ApiError::TokenNotValid)?;
        let subject = self.current_subject(&claims).await?;
        let now = chrono::Utc::now().timestamp();
        if !self.rotate_refresh_tokens {
            if !self
                .refresh_store
                .is_live(SessionRef::from(&claims), &claims.jti, now)
                .await?
            {
                return Err(ApiError::TokenNotValid);
            }
            let access = self.issuer.issue_access(&subject, &claims.fam);
            bump(&self.metrics.tokens.refreshed);
            return Ok(Refreshed {
                access,
                refresh: None,
            });
        }
        let auth_time = claims.auth_time.unwrap_or(claims.iat);
        let Some(successor) = self.issuer.successor_in_session(subject.role, auth_time) else {
            // The session has reached `session_max_lifetime`: its owner logs in again.
            self.refresh_store.revoke(SessionRef::from(&claims)).await?;
            return Err(ApiError::TokenNotValid);
        };
        let live = LiveToken {
            session: SessionRef::from(&claims),
            created_at: auth_time,
            jti: &successor.jti,
            issued_at: successor.issued_at,
            expires_at: successor.expires_at,
        };
        let rotation = self
            .refresh_store
            .rotate(&claims.jti, live, now, self.refresh_reuse_grace_s)
            .await?;
        // Signed only once the rotation has won: a spent or unknown token presented again and
        // again costs a store round trip each time, not an RS256 signature.
        let (signed_at, successor) = match rotation {
            Rotation::Rotated => (successor.issued_at, successor),
            // The answer to an earlier presentation of this token was lost: the same successor.
            Rotation::Retried(issued) => (chrono::Utc::now().timestamp(), issued),
            Rotation::Reused => {
                bump(&self.metrics.tokens.reuse_detected);
                tracing::warn!(family = %claims.fam, sub = %claims.sub, "refresh token reused: family revoked");
                return Err(ApiError::TokenNotValid);
            }
            Rotation::Unknown => return Err(ApiError::TokenNotValid),
        };
        let next = self
            .issuer
            .pair_for(&subject, &claims.fam, auth_time, successor, signed_at);
        bump(&self.metrics.tokens.refreshed);
        Ok(Refreshed {
            access: next.access,
            refresh: Some(next.refresh),
        })
    }
}

impl Example for ObtainRequest {
    fn example() -> Self {
        Self {
            username: "asha".into(),
            password: "Bx7#mq2Lz9Vw".into(),
        }
    }
}

impl Example for TokenPair {
    fn example() -> Self {
        Self {
            access: examples::ACCESS.into(),
            refresh: examples::REFRESH.into(),
        }
    }
}

impl Example for RefreshRequest {
    fn example() -> Self {
        Self {
            refresh: examples::REFRESH.into(),
        }
    }
}

impl Example for VerifyRequest {
    fn example() -> Self {
        Self {
            token: examples::ACCESS.into(),
        }
    }
}

/// What refreshing the example pair's refresh token gave.
impl Example for Refreshed {
    fn example() -> Self {
        Self {
            access: examples::REFRESHED_ACCESS.into(),
            refresh: Some(examples::REFRESHED_REFRESH.into()),
        }
    }
}
