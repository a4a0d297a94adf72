use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation, decode, decode_header};

use super::{AccessClaims, RefreshClaims, TokenSettings, TokenType};
use crate::keys::SharedKeyRing;

/// Why a token was refused. Clients only ever see "Token is invalid or expired".
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token or wrong algorithm: {0}")]
    Malformed(#[from] jsonwebtoken::errors::Error),
    #[error("unknown key id")]
    UnknownKey,
    #[error("wrong token type")]
    WrongType,
}

/// Reads tokens this instance's key ring signed. Each kind is checked with its own algorithm
/// only, so `alg: none`, HS256 keyed by the public key, and refresh-for-access swaps all fail.
pub struct TokenVerifier {
    keys: Arc<SharedKeyRing>,
    access: Validation,
    refresh: Validation,
}

impl TokenVerifier {
    pub fn new(keys: Arc<SharedKeyRing>, settings: &TokenSettings) -> Self {
        let mut access = Validation::new(Algorithm::RS256);
        access.set_issuer(&[&settings.issuer]);
        access.set_audience(&[&settings.audience]);
        access.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Tokens are checked by the clock that minted them: no skew to allow for (simplejwt: 0).
        access.leeway = 0;
        let mut refresh = Validation::new(Algorithm::HS256);
        refresh.set_issuer(&[&settings.issuer]);
        refresh.set_required_spec_claims(&["exp", "iss", "sub"]);
        refresh.leeway = 0;
        Self {
            keys,
            access,
            refresh,
        }
    }

    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let header = decode_header(token)?;
        if !header.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
        }) {
            return Err(TokenError::WrongType);
        }
        let ring = self.keys.current();
        let key = ring
            .access_key(header.kid.as_deref().ok_or(TokenError::UnknownKey)?)
            .ok_or(TokenError::UnknownKey)?;
        let claims = decode::<AccessClaims>(token, key, &self.access)?.claims;
        if claims.token_type != TokenType::Access {
            return Err(TokenError::WrongType);
        }
        Ok(claims)
    }

    pub fn verify_refresh(&self, token: &str) -> Result<RefreshClaims, TokenError> {
        let header = decode_header(token)?;
        let ring = self.keys.current();
        let key = ring
            .refresh_key(header.kid.as_deref().ok_or(TokenError::UnknownKey)?)
            .ok_or(TokenError::UnknownKey)?;
        let claims = decode::<RefreshClaims>(token, key, &self.refresh)?.claims;
        if claims.token_type != TokenType::Refresh {
            return Err(TokenError::WrongType);
        }
        Ok(claims)
    }
}
