//! OAuth 2.0's token endpoint (RFC 6749 §3.2) for libraries and services that speak OAuth
//! rather than simplejwt: the `refresh_token` grant, with rotation and reuse detection exactly
//! as `/auth/token/refresh/` does them, in RFC 6749's request and answer shapes.
//!
//! Not offered: `password` (RFC 9700 §2.4: it must not be used; simplejwt clients have
//! `/auth/token/`), grants that need a registered client (`client_credentials`) while Tessera
//! registers none (presented client credentials are refused as `invalid_client`), and
//! `refresh_token` itself when rotation is off: a public client's refresh token must be
//! rotated or sender-constrained (RFC 9700 §4.14.2).

use std::{collections::HashMap, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use poem::{Request, RequestBody, http::header, web::Data};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi,
    payload::Json,
    registry::{MetaMediaType, MetaRequest, Registry},
    types::{Example, Type},
};

use super::{AuthState, AuthTags};
use crate::{
    error::{ApiError, Failure, statuses::*},
    http::media_type,
    token::examples,
};

pub struct OAuthApi;

/// The token request's parameters (RFC 6749 §6, §4.4.2).
#[derive(Debug, Object)]
#[oai(example)]
pub struct OAuthTokenRequest {
    /// `refresh_token`.
    pub grant_type: String,
    /// The refresh token to exchange (spent by the exchange).
    pub refresh_token: Option<String>,
    /// Tessera's tokens carry no scope: any scope asked for is `invalid_scope`.
    pub scope: Option<String>,
    /// A public client's id, optional.
    pub client_id: Option<String>,
}

/// RFC 6749 §5.1.
#[derive(Debug, Object)]
#[oai(example)]
pub struct AccessTokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// The refresh token that replaced the presented one (absent with rotation off).
    #[oai(skip_serializing_if_is_none)]
    pub refresh_token: Option<String>,
}

/// RFC 6749 §5.2.
#[derive(Debug, Object)]
#[oai(example)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type` or
    /// `invalid_scope`.
    pub error: String,
    pub error_description: String,
}

/// Token answers are never cached (RFC 6749 §5.1): `Cache-Control: no-store` and
/// `Pragma: no-cache` on every answer of the endpoint's own.
const NO_STORE: &str = "no-store";
const NO_CACHE: &str = "no-cache";

#[derive(ApiResponse)]
pub enum TokenEndpointResponse {
    /// A new access token (and, with rotation, the refresh token that replaces the presented one).
    #[oai(status = 200)]
    Ok(
        Json<AccessTokenResponse>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// `invalid_request`, `invalid_grant`, `unsupported_grant_type` or `invalid_scope`.
    #[oai(status = 400)]
    BadRequest(
        Json<OAuthError>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// `invalid_client`: client credentials were presented, and no client is registered with them.
    #[oai(status = 401)]
    Unauthorized(
        Json<OAuthError>,
        #[oai(header = "WWW-Authenticate")] String,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
}

impl TokenEndpointResponse {
    fn ok(body: AccessTokenResponse) -> Self {
        Self::Ok(Json(body), NO_STORE.into(), NO_CACHE.into())
    }

    fn bad_request(error: &str, description: &str) -> Self {
        Self::BadRequest(
            Json(OAuthError::new(error, description)),
            NO_STORE.into(),
            NO_CACHE.into(),
        )
    }

    fn invalid_client(description: &str) -> Self {
        Self::Unauthorized(
            Json(OAuthError::new("invalid_client", description)),
            r#"Basic realm="tessera""#.into(),
            NO_STORE.into(),
            NO_CACHE.into(),
        )
    }
}

impl OAuthError {
    fn new(error: &str, description: &str) -> Self {
        Self {
            error: error.to_owned(),
            error_description: description.to_owned(),
        }
    }
}

/// Most parameters a token request may carry; RFC 6749 defines five for these grants.
const MAX_PARAMETERS: usize = 32;

/// The token request as sent: its form parameters in order, or `None` for a body that is
/// not `application/x-www-form-urlencoded`, which RFC 6749 answers with `invalid_request`
/// rather than a 415.
pub struct TokenForm(Option<Vec<(String, String)>>);

impl<'a> ApiExtractor<'a> for TokenForm {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        OAuthTokenRequest::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "application/x-www-form-urlencoded",
                schema: OAuthTokenRequest::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let bytes = body.take()?.into_bytes().await?;
        let is_form =
            media_type(request).is_some_and(|media| media == "application/x-www-form-urlencoded");
        if !is_form {
            return Ok(Self(None));
        }
        // One past the most a request may carry is enough to refuse it (see `parameters`):
        // the rest of the body is never decoded, so a body of a million `a&` costs nothing.
        let parameters = form_urlencoded::parse(&bytes)
            .take(MAX_PARAMETERS + 1)
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        Ok(Self(Some(parameters)))
    }
}

#[OpenApi(tag = "AuthTags::Tokens")]
impl OAuthApi {
    /// OAuth 2.0 token endpoint
    ///
    /// RFC 6749 §3.2, form-encoded: `grant_type=refresh_token&refresh_token=...` for a new
    /// access token and, with rotation, a new refresh token (the presented one is spent; a spent
    /// one presented again revokes its session, as on `/auth/token/refresh/`). Errors are RFC
    /// 6749's `{"error", "error_description"}`. Within `refresh_reuse_grace` of a rotation, the
    /// spent token gets the same successor again (a retry whose answer was lost).
    #[oai(
        path = "/auth/oauth/token/",
        method = "post",
        operation_id = "oauth_token"
    )]
    async fn token(
        &self,
        state: Data<&Arc<AuthState>>,
        req: &Request,
        form: TokenForm,
    ) -> Result<TokenEndpointResponse, Failure<{ REQUEST_TIMEOUT | PAYLOAD_TOO_LARGE | UNAVAILABLE }>>
    {
        let Some(pairs) = form.0 else {
            return Ok(TokenEndpointResponse::bad_request(
                "invalid_request",
                "The token endpoint takes application/x-www-form-urlencoded parameters.",
            ));
        };
        let form = match parameters(pairs) {
            Ok(form) => form,
            Err(problem) => {
                return Ok(TokenEndpointResponse::bad_request(
                    "invalid_request",
                    problem,
                ));
            }
        };
        let parameter = |name: &str| form.get(name).map(String::as_str).filter(|v| !v.is_empty());
        // Client authentication (RFC 6749 §2.3): HTTP Basic, or a secret in the form. A bearer
        // token is no client credential, and is ignored here.
        let scheme = match req.headers().get(header::AUTHORIZATION) {
            None => None,
            Some(value) => match value.to_str() {
                Ok(value) => value.split_ascii_whitespace().next(),
                Err(_) => {
                    return Ok(TokenEndpointResponse::bad_request(
                        "invalid_request",
                        "The Authorization header is not ASCII.",
                    ));
                }
            },
        };
        if scheme.is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic"))
            || parameter("client_secret").is_some()
        {
            return Ok(TokenEndpointResponse::invalid_client(
                "No client is registered with these credentials.",
            ));
        }
        match parameter("grant_type") {
            Some("refresh_token") if state.rotate_refresh_tokens => {}
            None => {
                return Ok(TokenEndpointResponse::bad_request(
                    "invalid_request",
                    "grant_type is required.",
                ));
            }
            Some("password") => {
                return Ok(TokenEndpointResponse::bad_request(
                    "unsupported_grant_type",
                    "The password grant is not offered (RFC 9700 section 2.4).",
                ));
            }
            Some(_) => {
                return Ok(TokenEndpointResponse::bad_request(
                    "unsupported_grant_type",
                    "See grant_types_supported in /.well-known/oauth-authorization-server.",
                ));
            }
        }
        if parameter("scope").is_some() {
            return Ok(TokenEndpointResponse::bad_request(
                "invalid_scope",
                "Tessera's tokens carry no scope.",
            ));
        }
        let Some(presented) = parameter("refresh_token") else {
            return Ok(TokenEndpointResponse::bad_request(
                "invalid_request",
                "refresh_token is required.",
            ));
        };
        match state.refresh_session(presented).await {
            Ok(refreshed) => Ok(TokenEndpointResponse::ok(AccessTokenResponse {
                expires_in: seconds_left(&refreshed.access),
                access_token: refreshed.access,
                token_type: "Bearer".into(),
                refresh_token: refreshed.refresh,
            })),
            Err(ApiError::TokenNotValid) => Ok(TokenEndpointResponse::bad_request(
                "invalid_grant",
                "The refresh token is invalid, expired, spent or revoked.",
            )),
            Err(other) => Err(other.into()),
        }
    }
}

/// The parameters by name. RFC 6749 §3.2: none may be repeated; more than a token request
/// could need is refused rather than cut short, so every parameter sent is the one read.
fn parameters(pairs: Vec<(String, String)>) -> Result<HashMap<String, String>, &'static str> {
    if pairs.len() > MAX_PARAMETERS {
        return Err("Too many parameters.");
    }
    let mut form = HashMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        if form.insert(name, value).is_some() {
            return Err("A parameter is repeated.");
        }
    }
    Ok(form)
}

/// `expires_in` of an access token just minted: until its `exp`, which a session's end or its
/// refresh token's expiry may bring before the configured lifetime.
fn seconds_left(access: &str) -> i64 {
    let exp = access
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|payload| serde_json::from_slice::<serde_json::Value>(&payload).ok())
        .and_then(|claims| claims["exp"].as_i64())
        .unwrap_or_default();
    (exp - chrono::Utc::now().timestamp()).max(0)
}

impl Example for OAuthTokenRequest {
    fn example() -> Self {
        Self {
            grant_type: "refresh_token".into(),
            refresh_token: Some(examples::REFRESH.into()),
            scope: None,
            client_id: None,
        }
    }
}

impl Example for AccessTokenResponse {
    fn example() -> Self {
        Self {
            access_token: examples::REFRESHED_ACCESS.into(),
            token_type: "Bearer".into(),
            expires_in: 300,
            refresh_token: Some(examples::REFRESHED_REFRESH.into()),
        }
    }
}

impl Example for OAuthError {
    fn example() -> Self {
        Self::new(
            "invalid_grant",
            "The refresh token is invalid, expired, spent or revoked.",
        )
    }
}
