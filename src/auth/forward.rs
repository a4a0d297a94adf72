use std::sync::Arc;

use crate::error::{Failure, statuses::*};
use poem::{
    Request, Response,
    error::ResponseError,
    http::{StatusCode, header::AUTHORIZATION},
    web::Data,
};
use poem_openapi::{ApiResponse, OpenApi};

use super::{AuthState, AuthTags, BearerAuth};
use crate::{domain::Role, error::ApiError, refresh::SessionRef, token::AccessClaims};

#[derive(Default)]
pub struct ForwardAuthApi;

#[derive(ApiResponse)]
pub enum ForwardResponse {
    /// The bearer token is a valid access token for this request. A gateway passes these
    /// headers upstream and must overwrite any a client sent.
    #[oai(status = 200)]
    Allowed(
        #[oai(header = "X-Auth-Subject")] String,
        #[oai(header = "X-Auth-Role")] String,
        /// Absent for anonymous and service tokens.
        #[oai(header = "X-Auth-Username")]
        Option<String>,
        /// A service token's scopes, space-separated; absent for user tokens.
        #[oai(header = "X-Auth-Scope")]
        Option<String>,
    ),
}

/// Forward auth and Envoy's ext_authz below it (with or without the trailing slash).
pub const FORWARD_AUTH_PATH: &str = "/auth/forward";

impl AuthState {
    /// With `forward_auth_check_session`, a token whose session has ended (logout, logout
    /// everywhere, a deactivated account), or whose client was disabled or deleted, is refused
    /// at once rather than at its `exp`.
    async fn check_forward_session(&self, claims: &AccessClaims) -> Result<(), ApiError> {
        if claims.role == Role::Service && self.forward_auth_check_session {
            return match crate::clients::is_active(&self.db, &claims.client_id).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(ApiError::BearerNotValid),
                // Refused while the database is down, as a session check is while the store is.
                Err(cause) => {
                    let _logged = ApiError::from(cause);
                    Err(ApiError::BearerNotValid)
                }
            };
        }
        let Some(session) =
            SessionRef::of_access(claims).filter(|_| self.forward_auth_check_session)
        else {
            return Ok(());
        };
        let now = chrono::Utc::now().timestamp();
        match self.refresh_store.session_exists(session, now).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ApiError::BearerNotValid),
            // A gateway knows 200, 401 and 403 (nginx makes anything else a 500). With the
            // store down no session can be shown live: refused, as the operator who asked
            // for this check chose. The outage is logged (once) on the way.
            Err(unavailable) => {
                let _logged = ApiError::from(unavailable);
                Err(ApiError::BearerNotValid)
            }
        }
    }
}

/// The one rule every gateway's question is answered by.
fn authorize(
    claims: &AccessClaims,
    req: &Request,
    own_method: Option<&str>,
) -> Result<(), ApiError> {
    let writes = || !only_reads(req, own_method);
    match claims.role {
        Role::Anonymous if writes() => Err(ApiError::ANONYMOUS_MAY_ONLY_READ),
        // Which resource the request is for, forward auth does not know: any `<resource>:write`
        // scope lets a service token past, and the upstream checks which (`X-Auth-Scope`).
        Role::Service if writes() && !has_a_write_scope(claims) => {
            Err(ApiError::SERVICE_MAY_ONLY_READ)
        }
        _ => Ok(()),
    }
}

fn has_a_write_scope(claims: &AccessClaims) -> bool {
    claims
        .scope
        .as_deref()
        .is_some_and(|scope| scope.split(' ').any(|s| s.ends_with(":write")))
}

/// Whether the request being authorised is known to be a read. A client can add a method
/// header of its own that the gateway passes along, so every one must name a read, and with
/// none the method is unknown. `own_method` is the asking request's, when it is the original
/// request's method (Envoy's `ext_authz`).
fn only_reads(req: &Request, own_method: Option<&str>) -> bool {
    let mut methods = ["X-Forwarded-Method", "X-Original-Method"]
        .into_iter()
        .flat_map(|name| req.headers().get_all(name))
        .map(|value| value.to_str().unwrap_or(""))
        .chain(own_method)
        .peekable();
    methods.peek().is_some() && methods.all(is_read_only)
}

/// Methods an anonymous (read-only) token may use.
fn is_read_only(method: &str) -> bool {
    ["GET", "HEAD", "OPTIONS"]
        .iter()
        .any(|safe| method.eq_ignore_ascii_case(safe))
}

#[OpenApi(tag = "AuthTags::Tokens")]
impl ForwardAuthApi {
    /// Forward authentication
    ///
    /// For gateways: nginx `auth_request`, Traefik ForwardAuth, and Envoy `ext_authz` (which asks
    /// with the original method and path below this one). 200 with the caller's identity
    /// in `X-Auth-*` headers, 401 without a valid access token, 403 when an anonymous token,
    /// or a service token without a `<resource>:write` scope, asks for a method that writes. The original method is read from `X-Forwarded-Method`
    /// (Traefik) and `X-Original-Method` (set it in nginx); an anonymous token passes only when
    /// every such header names a read. Nothing else: nginx turns any other status into a 500.
    /// A signature check only, no database or Redis round trip, unless the operator turned on
    /// `forward_auth_check_session`: then a token of an ended session gets 401 at once (and
    /// so does every token while the session store is down: it fails closed).
    #[oai(path = "/auth/forward/", method = "get", operation_id = "forward_auth")]
    async fn forward(
        &self,
        state: Data<&Arc<AuthState>>,
        req: &Request,
        auth: BearerAuth,
    ) -> Result<ForwardResponse, Failure<{ UNAUTHORIZED | FORBIDDEN }>> {
        let claims = auth.0;
        authorize(&claims, req, None)?;
        state.check_forward_session(&claims).await?;
        Ok(ForwardResponse::Allowed(
            claims.sub,
            claims.role.to_string(),
            claims.username,
            claims.scope,
        ))
    }
}

/// Envoy's HTTP `ext_authz` asks with the original request's method and its path after a
/// prefix (`POST /auth/forward/customers/1`): the same answer as `GET /auth/forward/`, with
/// the asking request's own method as the original one. Routed outside the OpenAPI document,
/// which cannot describe any-method-under-a-prefix.
#[poem::handler]
pub async fn forward_ext_authz(req: &Request, state: Data<&Arc<AuthState>>) -> Response {
    let verdict = match bearer_token(req).and_then(|token| state.verifier.verify_access(token).ok())
    {
        Some(claims) => match authorize(&claims, req, Some(req.method().as_str())) {
            Ok(()) => state.check_forward_session(&claims).await.map(|()| claims),
            Err(refused) => Err(refused),
        },
        None => Err(ApiError::BearerNotValid),
    };
    match verdict {
        Ok(claims) => {
            let mut response = Response::builder()
                .status(StatusCode::OK)
                .header("X-Auth-Subject", claims.sub)
                .header("X-Auth-Role", claims.role.as_str());
            if let Some(username) = claims.username {
                response = response.header("X-Auth-Username", username);
            }
            if let Some(scope) = claims.scope {
                response = response.header("X-Auth-Scope", scope);
            }
            response.finish()
        }
        Err(err) => err.as_response(),
    }
}

fn bearer_token(req: &Request) -> Option<&str> {
    let (scheme, token) = req
        .headers()
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::is_read_only;

    #[test]
    fn only_safe_methods_are_read_only() {
        for method in ["GET", "head", "Options"] {
            assert!(is_read_only(method), "{method}");
        }
        for method in ["POST", "PUT", "PATCH", "DELETE", "", "GETX"] {
            assert!(!is_read_only(method), "{method}");
        }
    }
}
