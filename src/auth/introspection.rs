//! RFC 7662 introspection and RFC 7009 revocation: the OAuth names for "is this token good
//! right now?" and "end this session", for resource servers and clients that speak them.

use crate::error::{Failure, statuses::*};
use std::{fmt, sync::Arc};

use aws_lc_rs::{constant_time::verify_slices_are_equal, digest};
use base64::{Engine, engine::general_purpose::STANDARD};
use poem::{Request, http::header::AUTHORIZATION, web::Data};
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json, types::Example};
use serde::Deserialize;

use super::{
    AuthState, AuthTags,
    client_auth::{ClientCredentials, form_decoded},
    tokens::{Empty, EmptyResponse},
};
use crate::{
    domain::{FieldError, Role},
    error::ApiError,
    http::{AnyBody, DocumentedInput, lenient_string},
    metrics::bump,
    refresh::SessionRef,
};

/// What a registered client needs to call introspection: the answers name any user's account
/// and session, which not every service should learn.
pub const INTROSPECT_SCOPE: &str = "tokens:introspect";

/// The shared secret resource servers authenticate to the introspection endpoint with.
#[derive(Clone)]
pub struct IntrospectionSecret(String);

impl IntrospectionSecret {
    pub const MIN_LENGTH: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.chars().count() < Self::MIN_LENGTH {
            return Err(format!("must be at least {} characters", Self::MIN_LENGTH));
        }
        Ok(Self(raw.to_owned()))
    }

    /// Compares digests, so neither the secret's bytes nor its length leak through timing.
    fn matches(&self, candidate: &str) -> bool {
        let expected = digest::digest(&digest::SHA256, self.0.as_bytes());
        let given = digest::digest(&digest::SHA256, candidate.as_bytes());
        verify_slices_are_equal(expected.as_ref(), given.as_ref()).is_ok()
    }
}

impl fmt::Debug for IntrospectionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IntrospectionSecret(..)")
    }
}

#[derive(Debug, Object)]
#[oai(example)]
pub struct TokenRequest {
    /// The token to introspect or revoke: an access or a refresh token.
    #[oai(validator(min_length = 1))]
    pub token: String,
    /// `access_token` or `refresh_token`. Only a hint: both kinds are always looked for.
    pub token_type_hint: Option<String>,
}

#[derive(Deserialize)]
pub struct TokenInput {
    #[serde(default, deserialize_with = "lenient_string")]
    token: Option<String>,
}

impl DocumentedInput for TokenInput {
    type Schema = TokenRequest;
}

impl TokenInput {
    fn token(self) -> Result<String, ApiError> {
        Ok(FieldError::require(self.token, "token")?)
    }
}

/// RFC 7662 §2.2. An inactive token gets `{"active": false}` and nothing else, whatever made
/// it inactive (expired, revoked, forged, the wrong kind).
#[derive(Debug, Default, Object)]
#[oai(skip_serializing_if_is_none)]
#[oai(example)]
pub struct Introspection {
    pub active: bool,
    /// `access_token` or `refresh_token`.
    pub token_use: Option<String>,
    /// `Bearer`, for access tokens (RFC 6749 §7.1).
    pub token_type: Option<String>,
    pub sub: Option<String>,
    pub username: Option<String>,
    pub user_id: Option<i64>,
    pub role: Option<String>,
    pub client_id: Option<String>,
    pub iss: Option<String>,
    pub aud: Option<String>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub jti: Option<String>,
    /// The session (refresh family) the token belongs to.
    pub sid: Option<String>,
    /// A service token's scopes, space-separated.
    pub scope: Option<String>,
}

impl Introspection {
    fn inactive() -> Self {
        Self::default()
    }
}

#[derive(ApiResponse)]
pub enum IntrospectionResponse {
    #[oai(status = 200)]
    Ok(Json<Introspection>),
}

#[derive(Default)]
pub struct IntrospectionApi;

#[OpenApi(tag = "AuthTags::Tokens")]
impl IntrospectionApi {
    /// Introspect a token
    ///
    /// RFC 7662, for resource servers that would rather ask than verify: whether a token is
    /// active now, which also catches what a signature check cannot (a revoked session, a
    /// deactivated account, a disabled client). The caller authenticates with HTTP Basic (the
    /// id and secret of a registered client with the `tokens:introspect` scope, or any client
    /// id with the `introspection_secret` as password), `Authorization: Bearer
    /// <introspection_secret>`, or an admin's access token.
    #[oai(
        path = "/auth/token/introspect/",
        method = "post",
        operation_id = "introspect_token"
    )]
    async fn introspect(
        &self,
        state: Data<&Arc<AuthState>>,
        req: &Request,
        body: AnyBody<TokenInput>,
    ) -> Result<IntrospectionResponse, Failure<{ BODY | UNAUTHORIZED | TOO_MANY_REQUESTS }>> {
        state.authenticate_introspection_caller(req).await?;
        let token = body.0.token()?;
        Ok(IntrospectionResponse::Ok(Json(
            state.introspect(&token).await?,
        )))
    }

    /// Revoke a token
    ///
    /// RFC 7009: a refresh token ends its session (every token of its family); an access
    /// token ends the session it was issued in, though it stays valid for JWKS consumers until
    /// it expires. `{}` whether or not the token was valid or already revoked, so the call is
    /// safe to repeat; 400 only when `token` is missing. Public clients send the token alone;
    /// a registered client may authenticate with HTTP Basic, and wrong credentials are a 401.
    #[oai(
        path = "/auth/token/revoke/",
        method = "post",
        operation_id = "revoke_token"
    )]
    async fn revoke(
        &self,
        state: Data<&Arc<AuthState>>,
        req: &Request,
        body: AnyBody<TokenInput>,
    ) -> Result<EmptyResponse, Failure<{ BODY | UNAUTHORIZED | TOO_MANY_REQUESTS }>> {
        state.authenticate_revocation_caller(req).await?;
        let token = body.0.token()?;
        let ended = if let Ok(claims) = state.verifier.verify_refresh(&token) {
            state
                .refresh_store
                .revoke(SessionRef::from(&claims))
                .await?
        } else if let Some(claims) = state.verifier.verify_access(&token).ok()
            && let Some(session) = SessionRef::of_access(&claims)
        {
            state.refresh_store.revoke(session).await?
        } else {
            false
        };
        if ended {
            bump(&state.metrics.tokens.revoked);
        }
        Ok(EmptyResponse::Ok(Json(Empty {})))
    }
}

impl AuthState {
    /// RFC 7662 §2.1: the caller holds the introspection secret (HTTP Basic with any client id,
    /// or as a bearer token), is a registered client with `tokens:introspect` (HTTP Basic with
    /// its id and secret), or is an admin whose own token introspects as active now.
    async fn authenticate_introspection_caller(&self, req: &Request) -> Result<(), ApiError> {
        let header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or(ApiError::NotAuthenticated)?;
        let (scheme, credentials) = header.split_once(' ').ok_or(ApiError::NotAuthenticated)?;
        let credentials = credentials.trim();
        let secret = self.introspection_secret.as_ref();
        let allowed = if scheme.eq_ignore_ascii_case("basic") {
            self.basic_caller_allowed(req, credentials, Some(INTROSPECT_SCOPE))
                .await?
        } else if scheme.eq_ignore_ascii_case("bearer") {
            if secret.is_some_and(|secret| secret.matches(credentials)) {
                true
            } else {
                let caller = self.introspect(credentials).await?;
                caller.active
                    && caller.token_use.as_deref() == Some("access_token")
                    && caller.role.as_deref() == Some(Role::Admin.as_str())
            }
        } else {
            false
        };
        if allowed {
            Ok(())
        } else {
            Err(ApiError::NotAuthenticated)
        }
    }

    /// RFC 7009 §2.1: a client that presents credentials must present good ones. None (a
    /// public client), or a bearer token (which authenticates no client), is fine.
    async fn authenticate_revocation_caller(&self, req: &Request) -> Result<(), ApiError> {
        let Some((scheme, credentials)) = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
        else {
            return Ok(());
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return Ok(());
        }
        let public_client = ClientCredentials::from_basic(credentials)
            .is_some_and(|client| client.secret.is_empty());
        if public_client || self.basic_caller_allowed(req, credentials, None).await? {
            Ok(())
        } else {
            Err(ApiError::NotAuthenticated)
        }
    }

    /// HTTP Basic credentials (the part after the scheme): the introspection secret as the
    /// password with any client id, or a registered client's id and secret (holding `scope`,
    /// when one is named).
    async fn basic_caller_allowed(
        &self,
        req: &Request,
        credentials: &str,
        scope: Option<&str>,
    ) -> Result<bool, ApiError> {
        let password = STANDARD
            .decode(credentials.trim())
            .ok()
            .and_then(|decoded| String::from_utf8(decoded).ok())
            .and_then(|pair| {
                pair.split_once(':')
                    .map(|(_, password)| password.to_owned())
            });
        let holds_secret = match (self.introspection_secret.as_ref(), password) {
            // RFC 6749 §2.3.1 form-encodes the secret first (Go's x/oauth2 and Authlib do;
            // curl -u does not), so either form is accepted.
            (Some(secret), Some(password)) => {
                secret.matches(&password)
                    || form_decoded(&password).is_some_and(|decoded| secret.matches(&decoded))
            }
            _ => false,
        };
        if holds_secret {
            return Ok(true);
        }
        let Some(client) = ClientCredentials::from_basic(credentials) else {
            return Ok(false);
        };
        Ok(self
            .authenticate_client(req, &client)
            .await?
            .is_some_and(|client| scope.is_none_or(|scope| client.scopes.contains(scope))))
    }

    /// Active means: genuine, unexpired, of a live session, and for an account that is still
    /// active. Costs a store lookup and a database read, unlike a signature check.
    async fn introspect(&self, token: &str) -> Result<Introspection, ApiError> {
        let now = chrono::Utc::now().timestamp();
        // A refresh token's login and mint times, for the check its refresh would make.
        let mut refresh_times = None;
        let mut introspection = if let Ok(claims) = self.verifier.verify_access(token) {
            let session_live = match SessionRef::of_access(&claims) {
                Some(session) => self.refresh_store.session_exists(session, now).await?,
                // Minted before sessions were named: its signature is all there is to check.
                None => true,
            };
            if !session_live {
                return Ok(Introspection::inactive());
            }
            Introspection {
                active: true,
                token_use: Some("access_token".into()),
                token_type: Some("Bearer".into()),
                sub: Some(claims.sub),
                username: claims.username,
                user_id: claims.user_id,
                role: Some(claims.role.to_string()),
                client_id: Some(claims.client_id),
                iss: Some(claims.iss),
                aud: Some(claims.aud),
                exp: Some(claims.exp),
                iat: Some(claims.iat),
                jti: Some(claims.jti),
                sid: claims.sid,
                scope: claims.scope,
            }
        } else if let Ok(claims) = self.verifier.verify_refresh(token) {
            if !self
                .refresh_store
                .is_live(SessionRef::from(&claims), &claims.jti, now)
                .await?
            {
                return Ok(Introspection::inactive());
            }
            refresh_times = Some((claims.auth_time, claims.iat));
            Introspection {
                active: true,
                token_use: Some("refresh_token".into()),
                sub: Some(claims.sub),
                username: claims.username,
                user_id: claims.user_id,
                role: Some(claims.role.to_string()),
                iss: Some(claims.iss),
                exp: Some(claims.exp),
                iat: Some(claims.iat),
                jti: Some(claims.jti),
                sid: Some(claims.fam),
                ..Introspection::default()
            }
        } else {
            return Ok(Introspection::inactive());
        };
        if let Some(user_id) = introspection.user_id {
            let holder = crate::users::find_token_holder(&self.db, user_id)
                .await?
                .filter(|holder| {
                    refresh_times.is_none_or(|(auth_time, issued_at)| {
                        !holder.predates_a_logout(auth_time, issued_at)
                    })
                });
            let Some(holder) = holder else {
                return Ok(Introspection::inactive());
            };
            // The account as it is now: a role changed since the token was minted shows here
            // before the token's own claims catch up at the next refresh.
            introspection.role = Some(holder.role.to_string());
            introspection.username = Some(holder.username);
        } else if introspection.role.as_deref() == Some(Role::Service.as_str())
            && let Some(client_id) = &introspection.client_id
            && !crate::clients::is_active(&self.db, client_id).await?
        {
            return Ok(Introspection::inactive());
        }
        Ok(introspection)
    }
}

impl Example for TokenRequest {
    fn example() -> Self {
        Self {
            token: crate::token::examples::ACCESS.into(),
            token_type_hint: Some("access_token".into()),
        }
    }
}

/// What introspecting the example access token answers while its session is live.
impl Example for Introspection {
    fn example() -> Self {
        use crate::token::examples;
        Self {
            active: true,
            token_use: Some("access_token".into()),
            token_type: Some("Bearer".into()),
            sub: Some("1".into()),
            username: Some("asha".into()),
            user_id: Some(1),
            role: Some(Role::Customer.as_str().into()),
            client_id: Some("tessera".into()),
            iss: Some("http://127.0.0.1:7001".into()),
            aud: Some("tessera".into()),
            exp: Some(examples::ACCESS_EXP),
            iat: Some(examples::ACCESS_IAT),
            jti: Some(examples::ACCESS_JTI.into()),
            sid: Some(examples::SESSION.into()),
            scope: None,
        }
    }
}
