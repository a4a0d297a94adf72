//! Client authentication (RFC 6749 §2.3.1): a registered client's id and secret, by HTTP Basic
//! (`client_secret_basic`) or in the form (`client_secret_post`), for the token endpoint and
//! introspection alike.

use base64::{Engine, engine::general_purpose::STANDARD};
use poem::Request;

use super::AuthState;
use crate::{
    clients::{self, Authentication, Client},
    domain::ClientId,
    error::ApiError,
    metrics::bump,
};

/// Generated secrets are 43 characters; no longer one is looked up.
const MAX_SECRET_LENGTH: usize = 128;

/// A client id and secret as presented, not yet checked.
pub struct ClientCredentials {
    pub client_id: String,
    pub secret: String,
}

impl ClientCredentials {
    /// From the part of an `Authorization: Basic` header after the scheme: base64 of
    /// `id:secret`, each form-urlencoded first (RFC 6749 §2.3.1; curl's `-u` skips that, which
    /// decoding leaves alone unless the raw value holds `+` or `%`).
    pub fn from_basic(encoded: &str) -> Option<Self> {
        let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
        let (client_id, secret) = decoded.split_once(':')?;
        Some(Self {
            client_id: form_decoded(client_id)?,
            secret: form_decoded(secret)?,
        })
    }
}

/// `application/x-www-form-urlencoded` decoding of one value: `%XX` and `+`.
pub fn form_decoded(raw: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&raw.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(Into::into)
}

impl AuthState {
    /// The active client these credentials name, or `None` (counted against the limits of
    /// failed client authentication, and logged); 429 while those limits are spent.
    pub async fn authenticate_client(
        &self,
        req: &Request,
        credentials: &ClientCredentials,
    ) -> Result<Option<Client>, ApiError> {
        self.limits.admit_client_auth(req).await?;
        let outcome = match ClientId::parse(&credentials.client_id) {
            Some(id) if credentials.secret.len() <= MAX_SECRET_LENGTH => {
                clients::authenticate(&self.db, &id, &credentials.secret).await
            }
            _ => Ok(Authentication::UnknownClient),
        };
        let refused = match outcome {
            Ok(Authentication::Authenticated(client)) => {
                self.limits.client_auth_succeeded(req).await;
                return Ok(Some(client));
            }
            Err(cause) => {
                // Not the caller's failure: its attempt is given back.
                self.limits.client_auth_succeeded(req).await;
                return Err(cause.into());
            }
            Ok(refused) => refused,
        };
        bump(&self.metrics.tokens.client_auth_failures);
        match refused {
            Authentication::Refused => tracing::info!(
                client_id = %credentials.client_id,
                "client authentication refused: wrong secret, or a disabled client"
            ),
            _ => tracing::info!("client authentication refused: no client has that id"),
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let encoded = STANDARD.encode("my%20client:s%2Bcret+x");
        let credentials = ClientCredentials::from_basic(&encoded).unwrap();
        assert_eq!(credentials.client_id, "my client");
        assert_eq!(credentials.secret, "s+cret x");
        let raw = STANDARD.encode("abc:Zx-_9");
        assert_eq!(ClientCredentials::from_basic(&raw).unwrap().secret, "Zx-_9");
    }

    #[test]
    fn malformed_basic_credentials_are_none() {
        assert!(ClientCredentials::from_basic("not base64!").is_none());
        assert!(ClientCredentials::from_basic(&STANDARD.encode("no-colon")).is_none());
        assert!(ClientCredentials::from_basic(&STANDARD.encode([0xff, b':', b'x'])).is_none());
    }
}
