//! The token service's HTTP API: accounts, tokens and the well-known documents.

mod account_admin;
mod accounts;
mod captcha;
mod client_auth;
pub mod django_password;
mod forward;
mod introspection;
mod oauth;
mod password;
mod password_change;
mod sessions;
mod tokens;
mod well_known;

use std::sync::Arc;

use poem::Request;
use poem_openapi::{SecurityScheme, Tags, auth::Bearer};
use sea_orm::DatabaseConnection;

pub use account_admin::AccountAdminApi;
pub use accounts::AccountsApi;
pub use captcha::CaptchaVerifier;
pub use forward::{FORWARD_AUTH_PATH, ForwardAuthApi, forward_ext_authz};
pub use introspection::{IntrospectionApi, IntrospectionSecret};
pub use oauth::OAuthApi;
pub use password::{HashCost, HashError, PasswordHasher};
pub use password_change::PasswordChangeApi;
pub use sessions::SessionsApi;
pub use tokens::TokensApi;
pub use well_known::WellKnownApi;

use crate::{
    config::RateLimitSettings,
    domain::Role,
    error::ApiError,
    http::{Rate, RateLimiter, SharedLimitsOutage, client_ip},
    keys::{KeyStore, KeyStoreError, SharedKeyRing},
    metrics::Metrics,
    redis_connection::RedisConnection,
    refresh::RefreshStore,
    token::{AccessClaims, TokenIssuer, TokenVerifier},
};

/// What registration insists on; the seeds' clients differ, so each rule is a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationPolicy {
    pub require_gst_no: bool,
    pub require_email: bool,
}

/// Everything the token service's handlers share.
pub struct AuthState {
    pub db: DatabaseConnection,
    pub keys: Arc<SharedKeyRing>,
    /// Where `keys` is reloaded from: another instance may have rotated.
    pub key_store: KeyStore,
    pub issuer: TokenIssuer,
    pub verifier: TokenVerifier,
    pub refresh_store: Arc<dyn RefreshStore>,
    pub hasher: PasswordHasher,
    pub registration: RegistrationPolicy,
    /// simplejwt's `ROTATE_REFRESH_TOKENS`: refresh spends the presented token.
    pub rotate_refresh_tokens: bool,
    /// Forward auth asks the store whether the token's session is live, not only its signature.
    pub forward_auth_check_session: bool,
    /// Seconds after a rotation within which the spent token gets the same successor again.
    pub refresh_reuse_grace_s: i64,
    pub captcha: Option<CaptchaVerifier>,
    /// What resource servers authenticate to introspection with; `None`: admin tokens only.
    pub introspection_secret: Option<IntrospectionSecret>,
    /// Where clients reach this service: the issuer, and the base of `next`/`previous` links.
    pub public_url: String,
    pub limits: RateLimits,
    pub metrics: Arc<Metrics>,
    /// `Cache-Control` of the JWKS: shorter than a new key's pre-publication, so consumers
    /// hold it before it signs anything.
    pub jwks_cache_control: String,
}

/// The limiters of the endpoints that cost the most or invite abuse; `None` is off.
pub struct RateLimits {
    pub login: Option<RateLimiter>,
    pub login_username: Option<RateLimiter>,
    pub register: Option<RateLimiter>,
    pub anonymous: Option<RateLimiter>,
    /// Failed client authentications per client IP, at the login rate. Not per client id as
    /// well: a client id is public (every service token's `sub`), so a limit per id would let
    /// anyone lock a client out, and a 256-bit secret is not guessed one id at a time.
    pub client_auth_failures: Option<RateLimiter>,
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl RateLimits {
    /// Each limit in Redis when `shared` names one (with the key prefix), so the fleet
    /// enforces it together; else in this process.
    pub fn new(settings: &RateLimitSettings, shared: Option<(&RedisConnection, &str)>) -> Self {
        let outage = Arc::new(SharedLimitsOutage::default());
        let limiter = |rate: Option<Rate>, name: &str| {
            rate.map(|rate| match shared {
                Some((connection, prefix)) => {
                    RateLimiter::shared(rate, name, connection.clone(), prefix, outage.clone())
                }
                None => RateLimiter::local(rate),
            })
        };
        Self {
            login: limiter(settings.login, "login"),
            login_username: limiter(settings.login_username, "login_username"),
            register: limiter(settings.register, "register"),
            anonymous: limiter(settings.anonymous, "anonymous"),
            client_auth_failures: limiter(settings.login, "client_auth"),
            trusted_proxies: settings.trusted_proxies.clone(),
        }
    }

    /// Admits one request from the client `req` came from, under `limiter`.
    pub async fn admit(
        &self,
        limiter: &Option<RateLimiter>,
        req: &Request,
    ) -> Result<(), ApiError> {
        match (limiter, client_ip(req, &self.trusted_proxies)) {
            (Some(limiter), Some(ip)) => limiter.admit(&ip.to_string()).await,
            _ => Ok(()),
        }
    }

    /// Takes one client-authentication attempt from the client `req` came from (429 once its
    /// failures have spent the login limit); [`Self::client_auth_succeeded`] gives it back.
    pub async fn admit_client_auth(&self, req: &Request) -> Result<(), ApiError> {
        self.admit(&self.client_auth_failures, req).await
    }

    pub async fn client_auth_succeeded(&self, req: &Request) {
        if let (Some(limiter), Some(ip)) = (
            &self.client_auth_failures,
            client_ip(req, &self.trusted_proxies),
        ) {
            limiter.refund(&ip.to_string()).await;
        }
    }
}

impl AuthState {
    /// Re-reads the signing keys: a pending key becomes the signer at its time, a retired one
    /// leaves the JWKS, and a rotation made by any instance reaches this one.
    pub async fn reload_keys(&self) -> Result<(), KeyStoreError> {
        self.keys.replace(self.key_store.load().await?);
        Ok(())
    }
}

#[derive(Tags)]
pub enum AuthTags {
    /// Registration and account lookups.
    Accounts,
    /// Obtaining, refreshing, verifying and revoking tokens.
    Tokens,
    /// The caller's own sessions and password: list, end one, end all, change the password.
    Sessions,
    /// Discovery documents and signing keys.
    WellKnown,
}

/// The 403 for a token of no account where only an account will do: `anonymous` for an
/// anonymous token, and one reason for every service token.
fn refuse_accountless(claims: &AccessClaims, anonymous: ApiError) -> Result<(), ApiError> {
    match claims.role {
        Role::Anonymous => Err(anonymous),
        Role::Service => Err(ApiError::SERVICE_HAS_NO_ACCOUNT),
        Role::Customer | Role::Staff | Role::Admin => Ok(()),
    }
}

/// `Authorization: Bearer <access token>`, verified: handlers get the claims, never the header.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "verify_bearer")]
pub struct BearerAuth(pub AccessClaims);

async fn verify_bearer(req: &Request, bearer: Bearer) -> poem::Result<AccessClaims> {
    let state = req
        .data::<Arc<AuthState>>()
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("AuthState is not installed")))?;
    state
        .verifier
        .verify_access(&bearer.token)
        .map_err(|_| ApiError::BearerNotValid.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::example_is_valid;

    #[test]
    fn request_examples_pass_their_schemas() {
        example_is_valid::<tokens::ObtainRequest>();
        example_is_valid::<tokens::RefreshRequest>();
        example_is_valid::<tokens::VerifyRequest>();
        example_is_valid::<accounts::RegisterRequest>();
        example_is_valid::<introspection::TokenRequest>();
        example_is_valid::<password_change::PasswordChangeRequest>();
        example_is_valid::<account_admin::AccountPatchRequest>();
        example_is_valid::<account_admin::SetPasswordRequest>();
    }
}
