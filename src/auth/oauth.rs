//! OAuth 2.0's token endpoint (RFC 6749 §3.2) for libraries and services that speak OAuth
//! rather than simplejwt, in RFC 6749's request and answer shapes:
//! - `client_credentials` (§4.4): a registered service client gets a service token for the
//!   scopes it asks for, of those it is registered for;
//! - `refresh_token` (§6), for public clients: rotation and reuse detection exactly as
//!   `/auth/token/refresh/` does them.
//!
//! Not offered: `password` (RFC 9700 §2.4: it must not be used; simplejwt clients have
//! `/auth/token/`), and `refresh_token` when rotation is off: a public client's refresh token
//! must be rotated or sender-constrained (RFC 9700 §4.14.2).

use std::{collections::HashMap, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use poem::{Request, RequestBody, http::header, web::Data};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions, Object, OpenApi,
    payload::Json,
    registry::{MetaMediaType, MetaRequest, Registry},
    types::{Example, Type},
};

use super::{AuthState, AuthTags, client_auth::ClientCredentials};
use crate::{
    clients::Client,
    domain::Scopes,
    error::{ApiError, Failure, statuses::*},
    http::media_type,
    metrics::bump,
    token::examples,
};

#[derive(Default)]
pub struct OAuthApi;

/// The token request's parameters (RFC 6749 §6, §4.4.2).
#[derive(Debug, Object)]
#[oai(example)]
pub struct OAuthTokenRequest {
    /// `client_credentials` or `refresh_token`.
    pub grant_type: String,
    /// `refresh_token`: the refresh token to exchange (spent by the exchange).
    pub refresh_token: Option<String>,
    /// `client_credentials`: the scopes wanted, space-separated, of those the client is
    /// registered for (all of them when absent). `refresh_token`: none (user tokens carry no
    /// scope).
    pub scope: Option<String>,
    /// The client's id: a public client's, optional; or a registered client's, with
    /// `client_secret` (`client_secret_post`; HTTP Basic is `client_secret_basic`).
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
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
    /// The refresh token that replaced the presented one (`refresh_token` grant).
    #[oai(skip_serializing_if_is_none)]
    pub refresh_token: Option<String>,
    /// The scopes granted, space-separated (`client_credentials` grant).
    #[oai(skip_serializing_if_is_none)]
    pub scope: Option<String>,
}

/// RFC 6749 §5.2.
#[derive(Debug, Object)]
#[oai(example)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type` or `invalid_scope`.
    pub error: String,
    pub error_description: String,
}

/// Token answers are never cached (RFC 6749 §5.1): `Cache-Control: no-store` and
/// `Pragma: no-cache` on every answer of the endpoint's own.
const NO_STORE: &str = "no-store";
const NO_CACHE: &str = "no-cache";

#[derive(ApiResponse)]
pub enum TokenEndpointResponse {
    /// A service token (`client_credentials`), or a new access token and the refresh token
    /// that replaces the presented one (`refresh_token`).
    #[oai(status = 200)]
    Ok(
        Json<AccessTokenResponse>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// `invalid_request`, `invalid_grant`, `unauthorized_client`, `unsupported_grant_type` or
    /// `invalid_scope`.
    #[oai(status = 400)]
    BadRequest(
        Json<OAuthError>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "Pragma")] String,
    ),
    /// `invalid_client`: the client credentials are wrong, of a disabled or deleted client, or
    /// missing where the grant needs them.
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
    /// RFC 6749 §3.2, form-encoded.
    /// - `grant_type=client_credentials`, with a registered client's id and secret (HTTP Basic,
    ///   or `client_id` and `client_secret` in the form): a service token, whose `sub` and
    ///   `client_id` are the client's, carrying the `scope` asked for (of those the client is
    ///   registered for; all of them when none is asked for). No refresh token: ask again.
    /// - `grant_type=refresh_token&refresh_token=...`, for public clients: a new access token
    ///   and a new refresh token (the presented one is spent; a spent one presented again
    ///   revokes its session, as on `/auth/token/refresh/`). Within `refresh_reuse_grace` of a
    ///   rotation, the spent token gets the same successor again (a retry whose answer was lost).
    ///
    /// Errors are RFC 6749's `{"error", "error_description"}`. Failed client authentication is
    /// limited per client IP and per client id at the login rates (429 with `Retry-After`).
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
    ) -> Result<
        TokenEndpointResponse,
        Failure<{ REQUEST_TIMEOUT | PAYLOAD_TOO_LARGE | TOO_MANY_REQUESTS | UNAVAILABLE }>,
    > {
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
        let client = match presented_client(req, &parameter) {
            Ok(None) => None,
            Ok(Some(credentials)) => match state.authenticate_client(req, &credentials).await? {
                Some(client) => Some(client),
                None => {
                    return Ok(TokenEndpointResponse::invalid_client(
                        "Client authentication failed.",
                    ));
                }
            },
            Err(refused) => return Ok(*refused),
        };
        match parameter("grant_type") {
            None => Ok(TokenEndpointResponse::bad_request(
                "invalid_request",
                "grant_type is required.",
            )),
            Some("client_credentials") => match client {
                Some(client) => Ok(state.client_credentials_grant(&client, parameter("scope"))),
                None => Ok(TokenEndpointResponse::invalid_client(
                    "The client_credentials grant needs a registered client's id and secret \
                     (HTTP Basic, or client_id and client_secret).",
                )),
            },
            Some("refresh_token") if state.rotate_refresh_tokens => {
                if client.is_some() {
                    // Refresh tokens go to public clients only: none was issued to this one.
                    return Ok(TokenEndpointResponse::bad_request(
                        "unauthorized_client",
                        "Service clients get no refresh tokens: ask for a new token with \
                         the client_credentials grant.",
                    ));
                }
                state
                    .refresh_token_grant(parameter("refresh_token"), parameter("scope"))
                    .await
            }
            Some("password") => Ok(TokenEndpointResponse::bad_request(
                "unsupported_grant_type",
                "The password grant is not offered (RFC 9700 section 2.4).",
            )),
            Some(_) => Ok(TokenEndpointResponse::bad_request(
                "unsupported_grant_type",
                "See grant_types_supported in /.well-known/oauth-authorization-server.",
            )),
        }
    }
}

/// The client credentials the request presents, if any (RFC 6749 §2.3): HTTP Basic or a
/// `client_secret` in the form, never both. A `client_id` alone is a public client's: no
/// credential. A bearer token is no client credential, and is ignored here.
fn presented_client<'a>(
    req: &Request,
    parameter: &impl Fn(&str) -> Option<&'a str>,
) -> Result<Option<ClientCredentials>, Box<TokenEndpointResponse>> {
    let basic = match req.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value.to_str().map_err(|_| {
                Box::new(TokenEndpointResponse::bad_request(
                    "invalid_request",
                    "The Authorization header is not ASCII.",
                ))
            })?;
            let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
            if scheme.eq_ignore_ascii_case("basic") {
                Some(ClientCredentials::from_basic(rest).ok_or_else(|| {
                    Box::new(TokenEndpointResponse::invalid_client(
                        "The Basic credentials are malformed.",
                    ))
                })?)
            } else {
                None
            }
        }
    };
    match (basic, parameter("client_secret")) {
        (Some(_), Some(_)) => Err(Box::new(TokenEndpointResponse::bad_request(
            "invalid_request",
            "Use one client authentication method: HTTP Basic or client_secret, not both.",
        ))),
        // Go's x/oauth2 tries Basic with an empty secret first: a public client naming itself.
        (Some(credentials), None) if credentials.secret.is_empty() => Ok(None),
        (Some(credentials), None) => match parameter("client_id") {
            Some(other) if other != credentials.client_id => {
                Err(Box::new(TokenEndpointResponse::bad_request(
                    "invalid_request",
                    "client_id differs from the client authenticated by HTTP Basic.",
                )))
            }
            _ => Ok(Some(credentials)),
        },
        (None, Some(secret)) => match parameter("client_id") {
            Some(client_id) => Ok(Some(ClientCredentials {
                client_id: client_id.to_owned(),
                secret: secret.to_owned(),
            })),
            None => Err(Box::new(TokenEndpointResponse::invalid_client(
                "client_secret without client_id.",
            ))),
        },
        (None, None) => Ok(None),
    }
}

impl AuthState {
    /// RFC 6749 §4.4.3: a service token for the scopes asked for, each of which the client
    /// must be registered for.
    fn client_credentials_grant(
        &self,
        client: &Client,
        asked: Option<&str>,
    ) -> TokenEndpointResponse {
        let scope = match asked.map(Scopes::parse) {
            None => client.scopes.clone(),
            Some(Ok(asked)) if asked.is_subset(&client.scopes) => asked,
            Some(Ok(_)) => {
                return TokenEndpointResponse::bad_request(
                    "invalid_scope",
                    "The client is not registered for every scope asked for.",
                );
            }
            Some(Err(_)) => {
                return TokenEndpointResponse::bad_request(
                    "invalid_scope",
                    "scope is malformed (RFC 6749 section 3.3).",
                );
            }
        };
        let access_token = self.issuer.issue_service_access(&client.client_id, &scope);
        bump(&self.metrics.tokens.issued_client_credentials);
        tracing::info!(client_id = %client.client_id, %scope, "service token issued");
        TokenEndpointResponse::ok(AccessTokenResponse {
            expires_in: seconds_left(&access_token),
            access_token,
            token_type: "Bearer".into(),
            refresh_token: None,
            scope: (!scope.is_empty()).then(|| scope.to_string()),
        })
    }

    /// RFC 6749 §6, for a public client.
    async fn refresh_token_grant(
        &self,
        presented: Option<&str>,
        scope: Option<&str>,
    ) -> Result<
        TokenEndpointResponse,
        Failure<{ REQUEST_TIMEOUT | PAYLOAD_TOO_LARGE | TOO_MANY_REQUESTS | UNAVAILABLE }>,
    > {
        if scope.is_some() {
            return Ok(TokenEndpointResponse::bad_request(
                "invalid_scope",
                "User tokens carry no scope.",
            ));
        }
        let Some(presented) = presented else {
            return Ok(TokenEndpointResponse::bad_request(
                "invalid_request",
                "refresh_token is required.",
            ));
        };
        match self.refresh_session(presented).await {
            Ok(refreshed) => Ok(TokenEndpointResponse::ok(AccessTokenResponse {
                expires_in: seconds_left(&refreshed.access),
                access_token: refreshed.access,
                token_type: "Bearer".into(),
                refresh_token: refreshed.refresh,
                scope: None,
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
            client_secret: None,
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
            scope: None,
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
