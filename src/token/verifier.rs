use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use aws_lc_rs::digest;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header};

use super::{AccessClaims, RefreshClaims, TokenSettings, TokenType};
use crate::keys::{KeyRing, SharedKeyRing};

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
    verified: Mutex<Verified>,
}

/// Access tokens already verified, by SHA-256, with their claims: one presented again (forward
/// auth is asked once per request a gateway passes) costs a digest and a lookup, not an RSA
/// verification and a JSON parse. An entry holds until the token's `exp`, and only while the
/// key ring it was verified against is the current one: a reload starts over.
#[derive(Default)]
struct Verified {
    /// Held, not only compared: a ring dropped while its address is remembered could come back
    /// as a new ring at the same address.
    ring: Option<Arc<KeyRing>>,
    tokens: HashMap<[u8; 32], AccessClaims>,
}

impl Verified {
    fn against(&self, ring: &Arc<KeyRing>) -> bool {
        self.ring
            .as_ref()
            .is_some_and(|held| Arc::ptr_eq(held, ring))
    }
}

/// About 4 MiB of claims at most; past it, all go (tokens live minutes: the next requests
/// refill it).
const MAX_VERIFIED: usize = 10_000;

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
            verified: Mutex::default(),
        }
    }

    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let ring = self.keys.current();
        let digest: [u8; 32] = digest::digest(&digest::SHA256, token.as_bytes())
            .as_ref()
            .try_into()
            .expect("SHA-256 is 32 bytes");
        if let Some(claims) = self.already_verified(&ring, &digest) {
            return Ok(claims);
        }
        let claims = self.verify_access_with(&ring, token)?;
        let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if !verified.against(&ring) || verified.tokens.len() >= MAX_VERIFIED {
            verified.ring = Some(ring.clone());
            verified.tokens.clear();
        }
        verified.tokens.insert(digest, claims.clone());
        Ok(claims)
    }

    /// How many verified tokens are remembered (at most 10 000).
    pub fn remembered(&self) -> usize {
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .tokens
            .len()
    }

    fn already_verified(&self, ring: &Arc<KeyRing>, digest: &[u8; 32]) -> Option<AccessClaims> {
        let verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if !verified.against(ring) {
            return None;
        }
        let claims = verified.tokens.get(digest)?;
        (claims.exp > chrono::Utc::now().timestamp()).then(|| claims.clone())
    }

    fn verify_access_with(&self, ring: &KeyRing, token: &str) -> Result<AccessClaims, TokenError> {
        let header = decode_header(token)?;
        if !header.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
        }) {
            return Err(TokenError::WrongType);
        }
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
