//! The one error type both services answer with: JSON `{code, detail, fields}`, the right
//! status, `WWW-Authenticate` on 401, and nothing internal on 500.

use std::collections::BTreeMap;

use poem::{
    IntoResponse, Response,
    error::ResponseError,
    http::{HeaderValue, StatusCode, header},
};
use poem_openapi::{
    ApiResponse, Object,
    error::ContentTypeError,
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::{ToJSON, Type},
};
use serde_json::Value;

use crate::domain::{FieldError, FieldErrors};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Invalid input.")]
    Invalid(FieldErrors),
    #[error("{0}")]
    Malformed(String),
    #[error("Authentication credentials were not provided.")]
    NotAuthenticated,
    /// A token sent in the body (refresh, verify, blacklist) that is not live.
    #[error("Token is invalid or expired")]
    TokenNotValid,
    /// The bearer token of the request that is not live: the same answer as
    /// [`ApiError::TokenNotValid`], except that simplejwt words it differently (see
    /// [`ErrorFormat::Drf`]).
    #[error("Token is invalid or expired")]
    BearerNotValid,
    #[error("No active account found with the given credentials")]
    NoActiveAccount,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("Not found.")]
    NotFound,
    #[error("Method not allowed.")]
    MethodNotAllowed,
    #[error("Request body is too large.")]
    PayloadTooLarge,
    #[error("The request body did not arrive in time.")]
    BodyTimeout,
    /// The request's content type, cut to [`MAX_QUOTED_CONTENT_TYPE`] characters.
    #[error("Unsupported media type \"{0}\" in request.")]
    UnsupportedMediaType(String),
    #[error("Request was throttled. Expected available in {retry_after_s} seconds.")]
    RateLimited { retry_after_s: u64 },
    #[error("{0}")]
    Unavailable(&'static str),
    #[error("The server is busy; try again shortly.")]
    Busy,
    #[error("A server error occurred.")]
    Unexpected(anyhow::Error),
}

/// The shape of error bodies: Tessera's `{code, detail, fields}` (the default, and what the
/// OpenAPI documents describe), or DRF's and simplejwt's, for clients written against them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ErrorFormat {
    #[default]
    Tessera,
    Drf,
}

/// How much of a refused content type an error quotes back.
const MAX_QUOTED_CONTENT_TYPE: usize = 100;

/// What a 503 tells clients to wait: stores come back (or fail over) in seconds.
const RETRY_UNAVAILABLE_AFTER_S: u64 = 2;

/// The body of every error response.
#[derive(Debug, Object)]
pub struct ErrorBody {
    /// Machine-readable: `token_not_valid`, `no_active_account`, `invalid`, `permission_denied`, ...
    pub code: String,
    /// Human-readable, safe to show.
    pub detail: String,
    /// Per-field messages, on 400 only.
    #[oai(skip_serializing_if_is_none)]
    pub fields: Option<BTreeMap<String, Vec<String>>>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) | ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::NotAuthenticated
            | ApiError::TokenNotValid
            | ApiError::BearerNotValid
            | ApiError::NoActiveAccount => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid(_) => "invalid",
            ApiError::Malformed(_) => "parse_error",
            ApiError::NotAuthenticated => "not_authenticated",
            ApiError::TokenNotValid | ApiError::BearerNotValid => "token_not_valid",
            ApiError::NoActiveAccount => "no_active_account",
            ApiError::Forbidden(_) => "permission_denied",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::BodyTimeout => "request_timeout",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RateLimited { .. } => "throttled",
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::Busy => "busy",
            ApiError::Unexpected(_) => "server_error",
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            code: self.code().to_owned(),
            detail: self.to_string(),
            fields: match self {
                ApiError::Invalid(fields) => Some(fields.clone().into_map()),
                _ => None,
            },
        }
    }

    /// The 403s of operations an anonymous token reaches, named once: the handlers answer
    /// them and the OpenAPI examples quote them.
    pub const ANONYMOUS_MAY_ONLY_READ: Self =
        ApiError::Forbidden("Anonymous tokens may only read.");
    pub const ANONYMOUS_HAS_NO_ACCOUNT: Self =
        ApiError::Forbidden("Anonymous tokens have no account.");
    pub const ANONYMOUS_HAS_NO_SESSIONS: Self =
        ApiError::Forbidden("Anonymous tokens have no sessions.");
    pub const ANONYMOUS_HAS_NO_PASSWORD: Self =
        ApiError::Forbidden("Anonymous tokens have no password.");
    pub const SERVICE_HAS_NO_ACCOUNT: Self =
        ApiError::Forbidden("Service tokens act for a client, not an account.");
    pub const SERVICE_MAY_ONLY_READ: Self =
        ApiError::Forbidden("This service token has no write scope: it may only read.");
    pub const NEEDS_CUSTOMERS_READ: Self =
        ApiError::Forbidden("This token lacks the customers:read scope.");
    pub const NEEDS_CUSTOMERS_WRITE: Self =
        ApiError::Forbidden("This token lacks the customers:write scope.");
    pub const ONLY_ADMINS_CREATE_STAFF: Self =
        ApiError::Forbidden("Only an administrator may create staff or admin accounts.");

    pub fn forbidden() -> Self {
        ApiError::Forbidden("You do not have permission to perform this action.")
    }

    /// Turns any error poem or poem-openapi raised (bad JSON, wrong content type, missing bearer,
    /// unknown route) into our JSON shape, keeping its status. Installed with `catch_all_error`.
    pub async fn from_poem(err: poem::Error) -> Response {
        Self::respond(err, ErrorFormat::Tessera)
    }

    /// [`ApiError::from_poem`] in the body shape `format` asks for.
    pub fn respond(err: poem::Error, format: ErrorFormat) -> Response {
        if let Some(error) = err.downcast_ref::<ApiError>() {
            return error.response(format);
        }
        if let Some(param) = err.downcast_ref::<poem_openapi::error::ParseParamError>() {
            let error = FieldError::new(param.name, parameter_message(&param.reason));
            return ApiError::from(error).response(format);
        }
        let api_error = match err.status() {
            StatusCode::BAD_REQUEST => ApiError::Malformed(err.to_string()),
            StatusCode::UNAUTHORIZED => ApiError::NotAuthenticated,
            StatusCode::FORBIDDEN => ApiError::forbidden(),
            StatusCode::NOT_FOUND => ApiError::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                let content_type = match err.downcast_ref::<ContentTypeError>() {
                    Some(ContentTypeError::NotSupported { content_type }) => content_type.as_str(),
                    _ => "",
                };
                ApiError::UnsupportedMediaType(
                    content_type.chars().take(MAX_QUOTED_CONTENT_TYPE).collect(),
                )
            }
            _ => ApiError::Unexpected(anyhow::anyhow!("{err}")),
        };
        api_error.response(format)
    }

    /// This error's response, its body in `format`'s shape (status and headers are the same).
    pub fn response(&self, format: ErrorFormat) -> Response {
        let mut response = self.as_response();
        if format == ErrorFormat::Drf {
            let body = serde_json::to_vec(&self.drf_body()).unwrap_or_default();
            response.set_body(body);
        }
        response
    }

    /// The body DRF and simplejwt send for this error: a 400's field messages at the top level,
    /// simplejwt's own 401s, `{"detail": ...}` otherwise.
    pub fn drf_body(&self) -> Value {
        match self {
            ApiError::Invalid(fields) => {
                serde_json::to_value(fields.clone().into_map()).unwrap_or_default()
            }
            // simplejwt's `InvalidToken`, raised by its views with the token's own complaint.
            ApiError::TokenNotValid => {
                serde_json::json!({"detail": self.to_string(), "code": self.code()})
            }
            // simplejwt's `JWTAuthentication`: what each token class made of the header.
            ApiError::BearerNotValid => serde_json::json!({
                "detail": "Given token not valid for any token type",
                "code": self.code(),
                "messages": [{
                    "token_class": "AccessToken",
                    "token_type": "access",
                    "message": self.to_string(),
                }],
            }),
            ApiError::Unexpected(_) => serde_json::json!({"detail": "A server error occurred."}),
            // DRF's `Throttled` counts in the singular too.
            ApiError::RateLimited { retry_after_s: 1 } => serde_json::json!({
                "detail": "Request was throttled. Expected available in 1 second."
            }),
            _ => serde_json::json!({"detail": self.to_string()}),
        }
    }
}

/// DRF's wording for a query or path parameter that did not parse; poem-openapi's own reason
/// names its internal types (`failed to parse "integer(uint64)"`).
fn parameter_message(reason: &str) -> &'static str {
    if reason.contains("integer") {
        "A valid integer is required."
    } else if reason.contains("boolean") {
        "Must be a valid boolean."
    } else {
        "Invalid value."
    }
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        ApiError::status(self)
    }

    fn as_response(&self) -> Response {
        if let ApiError::Unexpected(cause) = self {
            tracing::error!(error = format!("{cause:#}"), "unexpected error");
        }
        let mut response = poem_openapi::payload::Json(self.body())
            .with_status(self.status())
            .into_response();
        let headers = response.headers_mut();
        match self {
            // RFC 6750 §3.1: a request that sent no credentials gets no error code.
            ApiError::NotAuthenticated => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="api""#),
                );
            }
            ApiError::TokenNotValid | ApiError::BearerNotValid | ApiError::NoActiveAccount => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="api", error="invalid_token""#),
                );
            }
            ApiError::RateLimited { retry_after_s } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_s));
            }
            ApiError::Unavailable(_) | ApiError::Busy => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(RETRY_UNAVAILABLE_AFTER_S),
                );
            }
            // The rest of the body was never read: the connection cannot carry another request.
            ApiError::BodyTimeout => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

/// A failure from deeper down: 503 when it is the database being unreachable (it will be
/// back; the client may retry), 500 otherwise (a bug in Tessera).
impl From<anyhow::Error> for ApiError {
    fn from(cause: anyhow::Error) -> Self {
        let unavailable = cause
            .chain()
            .filter_map(|err| err.downcast_ref::<sea_orm::DbErr>())
            .any(crate::db::is_unavailable);
        if unavailable {
            crate::db::report_unavailable(&cause);
            ApiError::Unavailable("The database is unavailable; try again shortly.")
        } else {
            ApiError::Unexpected(cause)
        }
    }
}

impl From<FieldErrors> for ApiError {
    fn from(errors: FieldErrors) -> Self {
        ApiError::Invalid(errors)
    }
}

impl From<FieldError> for ApiError {
    fn from(error: FieldError) -> Self {
        ApiError::Invalid(error.into())
    }
}

/// The error responses in `set`, each with the [`ErrorBody`] schema.
fn error_responses(set: u16) -> MetaResponses {
    MetaResponses {
        responses: statuses::ALL
            .into_iter()
            .filter(|(bit, _, _)| set & bit != 0)
            .map(|(_, status, description)| MetaResponse {
                description,
                status: Some(status),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: ERROR_MEDIA_TYPE,
                    schema: ErrorBody::schema_ref(),
                }],
                headers: vec![],
            })
            .collect(),
    }
}

/// poem-openapi documents no example per response, so Swagger UI would show one made-up
/// body under every error status. This puts under each documented error response the body
/// Tessera really answers with: `specific(operation_id, status)` where an operation's differs
/// from the status's usual one, else that usual one (a 400 names the operation's first
/// required body field, or failing that its first parameter).
pub fn document_error_examples(
    document: &mut Value,
    specific: impl Fn(&str, u16) -> Option<Value>,
) {
    let schemas = document["components"]["schemas"].clone();
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        let invalid = example_invalid_input(operation, &schemas)
            .to_json()
            .unwrap_or_default();
        let operation_id = operation["operationId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for (status, response) in responses {
            let Ok(status) = status.parse::<u16>() else {
                continue;
            };
            // Any body its operation names; the usual error body where the schema is ours.
            let Some(media) = response.pointer_mut(ERROR_MEDIA_POINTER) else {
                continue;
            };
            let is_error_body = media["schema"]["$ref"]
                .as_str()
                .is_some_and(|reference| reference.ends_with("/ErrorBody"));
            let example = specific(&operation_id, status).or_else(|| {
                let body = match status {
                    400 => invalid.clone(),
                    _ => usual_error(status)?.body().to_json()?,
                };
                Some(body).filter(|_| is_error_body)
            });
            if let Some(example) = example {
                media["example"] = example;
            }
        }
    }
}

/// The error most operations answer with `status`.
fn usual_error(status: u16) -> Option<ApiError> {
    Some(match status {
        401 => ApiError::TokenNotValid,
        403 => ApiError::forbidden(),
        404 => ApiError::NotFound,
        408 => ApiError::BodyTimeout,
        413 => ApiError::PayloadTooLarge,
        415 => ApiError::UnsupportedMediaType("text/plain".into()),
        429 => ApiError::RateLimited { retry_after_s: 42 },
        503 => ApiError::Unavailable("The database is unavailable; try again shortly."),
        _ => return None,
    })
}

const ERROR_MEDIA_TYPE: &str = "application/json; charset=utf-8";
/// [`ERROR_MEDIA_TYPE`] under a response's `content`, as a JSON pointer (`/` escaped as `~1`).
const ERROR_MEDIA_POINTER: &str = "/content/application~1json; charset=utf-8";

/// The 400 an operation answers when its input is missing: its first required body field, or
/// its first parameter given a value of the wrong kind, or else a body that is not JSON.
fn example_invalid_input(operation: &Value, schemas: &Value) -> ErrorBody {
    let body_schema = operation
        .pointer("/requestBody/content/application~1json/schema/$ref")
        .and_then(Value::as_str)
        .and_then(|reference| reference.rsplit('/').next())
        .map(|name| &schemas[name]);
    let required_field = body_schema
        .and_then(|schema| schema["required"].get(0))
        .and_then(Value::as_str);
    let parameter = operation["parameters"].get(0);
    let (field, message) = match (required_field, parameter) {
        (Some(field), _) => (field, FieldError::required("").message),
        (None, Some(parameter)) => (
            parameter["name"].as_str().unwrap_or_default(),
            parameter_message(parameter["schema"]["type"].as_str().unwrap_or_default()).into(),
        ),
        (None, None) => {
            let not_json = serde_json::from_slice::<Value>(b"{").unwrap_err();
            return ApiError::Malformed(format!("JSON parse error - {not_json}")).body();
        }
    };
    let mut body = ApiError::Invalid(FieldErrors::default()).body();
    body.fields = Some(BTreeMap::from([(field.to_owned(), vec![message])]));
    body
}

/// The error statuses one operation can answer, as a set of bits: its `Result`'s error type
/// is `Failure<{ statuses::UNAUTHORIZED | statuses::UNAVAILABLE }>`, say, and its OpenAPI
/// entry lists those statuses and no others.
pub mod statuses {
    pub const BAD_REQUEST: u16 = 1 << 0;
    pub const UNAUTHORIZED: u16 = 1 << 1;
    pub const FORBIDDEN: u16 = 1 << 2;
    pub const NOT_FOUND: u16 = 1 << 3;
    pub const REQUEST_TIMEOUT: u16 = 1 << 4;
    pub const PAYLOAD_TOO_LARGE: u16 = 1 << 5;
    pub const UNSUPPORTED_MEDIA_TYPE: u16 = 1 << 6;
    pub const TOO_MANY_REQUESTS: u16 = 1 << 7;
    pub const UNAVAILABLE: u16 = 1 << 8;
    /// What reading a body can answer: malformed or invalid, too slow, too large, of a type
    /// we do not read, or past the buffer budget (503).
    pub const BODY: u16 =
        BAD_REQUEST | REQUEST_TIMEOUT | PAYLOAD_TOO_LARGE | UNSUPPORTED_MEDIA_TYPE | UNAVAILABLE;

    pub(super) const ALL: [(u16, u16, &str); 9] = [
        (
            BAD_REQUEST,
            400,
            "Invalid input: `fields` says which and why",
        ),
        (UNAUTHORIZED, 401, "Missing, invalid or expired credentials"),
        (FORBIDDEN, 403, "Authenticated, but not allowed"),
        (NOT_FOUND, 404, "No such resource"),
        (
            REQUEST_TIMEOUT,
            408,
            "The request body did not arrive within the body read timeout",
        ),
        (
            PAYLOAD_TOO_LARGE,
            413,
            "Request body over the configured limit",
        ),
        (
            UNSUPPORTED_MEDIA_TYPE,
            415,
            "Body is not JSON, urlencoded or multipart form data",
        ),
        (TOO_MANY_REQUESTS, 429, "Rate limited: see Retry-After"),
        (
            UNAVAILABLE,
            503,
            "A backing store is unreachable, or the server is busy: retry after Retry-After",
        ),
    ];
}

/// An [`ApiError`] from an operation that documents the statuses in `STATUSES` (see
/// [`statuses`]). Any error converts into it with `?`; one whose status is not in the set is
/// a documentation bug, and fails debug builds (the tests, schemathesis) loudly.
#[derive(Debug)]
pub struct Failure<const STATUSES: u16>(pub ApiError);

impl<const STATUSES: u16, E: Into<ApiError>> From<E> for Failure<STATUSES> {
    fn from(error: E) -> Self {
        Failure(error.into())
    }
}

impl<const STATUSES: u16> From<Failure<STATUSES>> for poem::Error {
    fn from(Failure(error): Failure<STATUSES>) -> Self {
        let status = error.status();
        debug_assert!(
            status == StatusCode::INTERNAL_SERVER_ERROR
                || statuses::ALL
                    .iter()
                    .any(|(bit, code, _)| *code == status.as_u16() && STATUSES & bit != 0),
            "an operation answered {status}, which it does not document: {error}"
        );
        poem::Error::from(error)
    }
}

impl<const STATUSES: u16> ApiResponse for Failure<STATUSES> {
    fn meta() -> MetaResponses {
        error_responses(STATUSES)
    }

    fn register(registry: &mut Registry) {
        ErrorBody::register(registry);
    }
}

impl From<crate::refresh::StoreUnavailable> for ApiError {
    /// Fail closed: no refresh, logout or new session is ever answered as a success
    /// that the store did not record.
    fn from(error: crate::refresh::StoreUnavailable) -> Self {
        static OUTAGE: crate::telemetry::OutageLog = crate::telemetry::OutageLog::new();
        if OUTAGE.should_log() {
            tracing::warn!(error = %error, "refresh store unavailable: answering 503 until it is back");
        }
        ApiError::Unavailable("The session store is unavailable; try again shortly.")
    }
}

impl From<crate::auth::HashError> for ApiError {
    fn from(error: crate::auth::HashError) -> Self {
        match error {
            // Every hashing slot stayed busy: a login flood. Come back shortly.
            crate::auth::HashError::Busy => ApiError::RateLimited { retry_after_s: 1 },
            crate::auth::HashError::Failed(cause) => ApiError::from(cause),
        }
    }
}

impl From<crate::users::CreateUserError> for ApiError {
    fn from(error: crate::users::CreateUserError) -> Self {
        match error {
            crate::users::CreateUserError::Taken(fields) => ApiError::Invalid(fields),
            crate::users::CreateUserError::Unexpected(cause) => ApiError::from(cause),
        }
    }
}

impl From<crate::users::ChangeError> for ApiError {
    fn from(error: crate::users::ChangeError) -> Self {
        match error {
            crate::users::ChangeError::NotFound => ApiError::NotFound,
            crate::users::ChangeError::Refused(fields) => ApiError::Invalid(fields),
            crate::users::ChangeError::SessionsNotEnded(cause) => ApiError::from(cause),
            crate::users::ChangeError::Unexpected(cause) => ApiError::from(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each error; the match fails to compile when a variant is added and not listed.
    fn every_error() -> Vec<ApiError> {
        let all = vec![
            ApiError::Invalid(FieldError::required("username").into()),
            ApiError::Malformed("JSON parse error - EOF".into()),
            ApiError::NotAuthenticated,
            ApiError::TokenNotValid,
            ApiError::BearerNotValid,
            ApiError::NoActiveAccount,
            ApiError::forbidden(),
            ApiError::NotFound,
            ApiError::MethodNotAllowed,
            ApiError::PayloadTooLarge,
            ApiError::BodyTimeout,
            ApiError::UnsupportedMediaType("text/plain".into()),
            ApiError::RateLimited { retry_after_s: 3 },
            ApiError::Unavailable("The database is unavailable; try again shortly."),
            ApiError::Busy,
            ApiError::Unexpected(anyhow::anyhow!("a bug, with a secret in it")),
        ];
        for error in &all {
            match error {
                ApiError::Invalid(_)
                | ApiError::Malformed(_)
                | ApiError::NotAuthenticated
                | ApiError::TokenNotValid
                | ApiError::BearerNotValid
                | ApiError::NoActiveAccount
                | ApiError::Forbidden(_)
                | ApiError::NotFound
                | ApiError::MethodNotAllowed
                | ApiError::PayloadTooLarge
                | ApiError::BodyTimeout
                | ApiError::UnsupportedMediaType(_)
                | ApiError::RateLimited { .. }
                | ApiError::Unavailable(_)
                | ApiError::Busy
                | ApiError::Unexpected(_) => {}
            }
        }
        all
    }

    /// DRF's shapes: a 400's fields at the top level, simplejwt's `code` (and `messages`) on
    /// its own 401s, `{"detail"}` for the rest, and nothing internal on a 500.
    #[test]
    fn every_error_has_a_drf_body() {
        for error in every_error() {
            let body = error.drf_body();
            let keys: Vec<&str> = body
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            let expected: &[&str] = match error {
                ApiError::Invalid(_) => &["username"],
                ApiError::TokenNotValid => &["detail", "code"],
                ApiError::BearerNotValid => &["detail", "code", "messages"],
                _ => &["detail"],
            };
            assert_eq!(keys, expected, "{error:?}");
            assert!(!body.to_string().contains("secret"), "{body}");
        }
    }

    /// Both formats keep the status and headers; only the body differs.
    #[test]
    fn the_format_changes_the_body_only() {
        for error in every_error() {
            let ours = error.response(ErrorFormat::Tessera);
            let drf = error.response(ErrorFormat::Drf);
            assert_eq!(ours.status(), drf.status(), "{error:?}");
            assert_eq!(ours.headers(), drf.headers(), "{error:?}");
        }
    }
}
