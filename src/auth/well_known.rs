use std::sync::Arc;

use poem::web::Data;
use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json, types::Example};

use super::{AuthState, AuthTags};
use crate::keys::Jwks;

pub struct WellKnownApi;

#[derive(ApiResponse)]
pub enum JwksResponse {
    /// Every key a live token may be signed with.
    #[oai(status = 200)]
    Ok(Json<Jwks>, #[oai(header = "Cache-Control")] String),
}

/// Where the issuer's keys and endpoints are. `issuer` and `jwks_uri` keep their OpenID
/// Connect Discovery meaning (what PyJWT, jose and gateways read); Tessera is not an OpenID
/// provider, so it claims none of the fields about ID tokens or authorization flows.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    /// simplejwt's obtain-pair endpoint (username and password, not an OAuth grant).
    pub token_endpoint: String,
    /// Always `["RS256"]`.
    pub access_token_signing_alg_values_supported: Vec<String>,
    /// The `aud` every access token carries (Tessera's addition: no standard field says it,
    /// and consumers must check it).
    pub audience: String,
    /// RFC 7662, for callers holding the introspection secret or an admin token.
    pub introspection_endpoint: String,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// RFC 7009; public clients call it with the token alone.
    pub revocation_endpoint: String,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
}

impl Discovery {
    fn new(base: &str, audience: &str) -> Self {
        Discovery {
            issuer: base.to_owned(),
            jwks_uri: format!("{base}/.well-known/jwks.json"),
            token_endpoint: format!("{base}/auth/token/"),
            access_token_signing_alg_values_supported: vec!["RS256".into()],
            audience: audience.to_owned(),
            introspection_endpoint: format!("{base}/auth/token/introspect/"),
            introspection_endpoint_auth_methods_supported: vec!["client_secret_basic".into()],
            revocation_endpoint: format!("{base}/auth/token/revoke/"),
            revocation_endpoint_auth_methods_supported: vec!["none".into()],
        }
    }
}

impl Example for Discovery {
    fn example() -> Self {
        Discovery::new("http://127.0.0.1:7001", "tessera")
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
        DiscoveryResponse::Ok(Json(Discovery::new(
            &state.public_url,
            state.issuer.audience(),
        )))
    }
}
