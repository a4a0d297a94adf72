//! Access tokens (RS256, RFC 9068) and refresh tokens (HS256, read only by Tessera).

mod claims;
pub mod examples;
mod issuer;
mod verifier;

pub use claims::{AccessClaims, RefreshClaims, Subject, TokenType};
pub use issuer::{IssuedPair, Lifetimes, TokenIssuer};
pub use verifier::{TokenError, TokenVerifier};

/// Who tokens are minted for and by: shared by the issuer and the verifier.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub client_id: String,
}
