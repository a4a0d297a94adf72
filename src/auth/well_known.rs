use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json, types::Example};

use super::{AuthState, AuthTags, introspection::INTROSPECT_SCOPE};
use crate::{customers, keys::Jwks};

#[derive(Default)]
pub struct WellKnownApi;

#[derive(ApiResponse)]
pub enum JwksResponse {
    /// Every key a live token may be signed with.
    #[oai(status = 200)]
    Ok(Json<Jwks>, #[oai(header = "Cache-Control")] String),
}

/// Where the issuer's keys and endpoints are: RFC 8414 authorization server metadata, served
/// also as the OpenID Connect Discovery document (the fields they share mean the same in
/// both). `issuer` and `jwks_uri` are what PyJWT, jose and gateways read. Tessera is not an
/// OpenID provider: it claims none of the fields about ID tokens or authorization flows.
/// `response_types_supported` has no element, so it is omitted (RFC 8414 §3.2; erratum 7793
/// makes it required only with an authorization endpoint, which Tessera has none of).
#[derive(Debug, Object)]
#[oai(example, skip_serializing_if_is_none)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    /// The OAuth 2.0 token endpoint (RFC 6749 §3.2). simplejwt's username-and-password
    /// endpoint, `/auth/token/`, is no OAuth grant and is not listed.
    pub token_endpoint: String,
    /// `client_credentials`, and `refresh_token` with rotation on (a public client's refresh
    /// token must be rotated or sender-constrained, RFC 9700 §4.14.2, so without rotation that
    /// grant is not offered).
    pub grant_types_supported: Vec<String>,
    /// Registered clients authenticate by HTTP Basic or in the form; public clients (the
    /// `refresh_token` grant) do not.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// Tessera's own scopes: the customer service's, and introspection's. Clients may be
    /// registered with others for other services (RFC 8414 §2 lets a server leave some out).
    pub scopes_supported: Vec<String>,
    /// Always `["RS256"]`.
    pub access_token_signing_alg_values_supported: Vec<String>,
    /// The `aud` every access token carries (Tessera's addition: no standard field says it,
    /// and consumers must check it).
    pub audience: String,
    /// RFC 7662, for registered clients, callers holding the introspection secret, and admins.
    pub introspection_endpoint: String,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// RFC 7009; public clients call it with the token alone, registered clients may
    /// authenticate with HTTP Basic.
    pub revocation_endpoint: String,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
}

impl Discovery {
    fn new(base: &str, audience: &str, rotates_refresh_tokens: bool) -> Self {
        Discovery {
            issuer: base.to_owned(),
            jwks_uri: format!("{base}/.well-known/jwks.json"),
            token_endpoint: format!("{base}/auth/oauth/token/"),
            grant_types_supported: std::iter::once("client_credentials")
                .chain(rotates_refresh_tokens.then_some("refresh_token"))
                .map(String::from)
                .collect(),
            token_endpoint_auth_methods_supported: [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ]
            .map(String::from)
            .to_vec(),
            scopes_supported: [
                customers::READ_SCOPE,
                customers::WRITE_SCOPE,
                INTROSPECT_SCOPE,
            ]
            .map(String::from)
            .to_vec(),
            access_token_signing_alg_values_supported: vec!["RS256".into()],
            audience: audience.to_owned(),
            introspection_endpoint: format!("{base}/auth/token/introspect/"),
            introspection_endpoint_auth_methods_supported: vec!["client_secret_basic".into()],
            revocation_endpoint: format!("{base}/auth/token/revoke/"),
            revocation_endpoint_auth_methods_supported: ["none", "client_secret_basic"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl Example for Discovery {
    fn example() -> Self {
        Discovery::new("http://127.0.0.1:7001", "tessera", true)
    }
}

#[derive(ApiResponse)]
pub enum DiscoveryResponse {
    #[oai(status = 200)]
    Ok(Json<Discovery>),
}

#[OpenApi(tag = "AuthTags::WellKnown")]
impl WellKnownApi {
    /// JSON Web Key Set
    ///
    /// The public keys that verify access tokens (RFC 7517), by `kid`.
    #[oai(
        path = "/.well-known/jwks.json",
        method = "get",
        operation_id = "get_jwks"
    )]
    async fn jwks(&self, state: Data<&Arc<AuthState>>) -> JwksResponse {
        JwksResponse::Ok(
            Json(state.keys.current().jwks().clone()),
            state.jwks_cache_control.clone(),
        )
    }

    /// Discovery document
    ///
    /// Where the issuer, its keys and its token endpoint are (OpenID Connect Discovery 1.0 names).
    #[oai(
        path = "/.well-known/openid-configuration",
        method = "get",
        operation_id = "get_openid_configuration"
    )]
    async fn openid_configuration(&self, state: Data<&Arc<AuthState>>) -> DiscoveryResponse {
        discovery(&state)
    }

    /// Authorization server metadata
    ///
    /// RFC 8414: the issuer, its keys, and its token, introspection and revocation endpoints,
    /// for OAuth libraries that discover them. The same document as the OpenID configuration.
    #[oai(
        path = "/.well-known/oauth-authorization-server",
        method = "get",
        operation_id = "get_oauth_authorization_server"
    )]
    async fn metadata(&self, state: Data<&Arc<AuthState>>) -> DiscoveryResponse {
        discovery(&state)
    }
}

fn discovery(state: &AuthState) -> DiscoveryResponse {
    DiscoveryResponse::Ok(Json(Discovery::new(
        &state.public_url,
        state.issuer.audience(),
        state.rotate_refresh_tokens,
    )))
}
