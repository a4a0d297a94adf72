use poem::Request;
use poem_openapi::{ApiResponse, OpenApi};

use super::{AuthTags, BearerAuth};
use crate::{domain::Role, error::ApiError};

pub struct ForwardAuthApi;

#[derive(ApiResponse)]
pub enum ForwardResponse {
    /// The bearer token is a valid access token for this request. A gateway passes these
    /// headers upstream and must overwrite any a client sent.
    #[oai(status = 200)]
    Allowed(
        #[oai(header = "X-Auth-Subject")] String,
        #[oai(header = "X-Auth-Role")] String,
        /// Absent for anonymous tokens.
        #[oai(header = "X-Auth-Username")]
        Option<String>,
    ),
}

/// Whether the request being authorised is known to be a read. A client can add a method
/// header of its own that the gateway passes along, so every one must name a read, and with
/// none the method is unknown.
fn only_reads(req: &Request) -> bool {
    let mut methods = ["X-Forwarded-Method", "X-Original-Method"]
        .into_iter()
        .flat_map(|name| req.headers().get_all(name))
        .peekable();
    methods.peek().is_some() && methods.all(|method| method.to_str().is_ok_and(is_read_only))
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
    /// For gateways: nginx `auth_request`, Traefik ForwardAuth. 200 with the caller's identity
    /// in `X-Auth-*` headers, 401 without a valid access token, 403 when an anonymous token
    /// asks for a method that writes. The original method is read from `X-Forwarded-Method`
    /// (Traefik) and `X-Original-Method` (set it in nginx); an anonymous token passes only when
    /// every such header names a read. Nothing else: nginx turns any other status into a 500.
    /// A signature check only, no database or Redis round trip.
    #[oai(path = "/auth/forward/", method = "get", operation_id = "forward_auth")]
    async fn forward(&self, req: &Request, auth: BearerAuth) -> Result<ForwardResponse, ApiError> {
        let claims = auth.0;
        if claims.role == Role::Anonymous && !only_reads(req) {
            return Err(ApiError::Forbidden("Anonymous tokens may only read."));
        }
        Ok(ForwardResponse::Allowed(
            claims.sub,
            claims.role.to_string(),
            claims.username,
        ))
    }
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
