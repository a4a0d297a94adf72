//! Verifying Tessera access tokens anywhere, through the issuer's JWKS alone: no database, no
//! call to the issuer per request. Any Rust service can use [`JwksVerifier`] (the customer
//! service does, through a poem-openapi security scheme).
//!
//! Keys are cached by `kid` for the JWKS response's `max-age` (clamped to a floor and a ceiling).
//! An unknown `kid` triggers at most one refetch per cooldown, and concurrent requests wait for
//! the one fetch in flight instead of starting their own, so a flood of forged kids costs the
//! issuer nothing. If the issuer cannot be reached, the keys already held keep working.

use std::{
    collections::HashMap,
    sync::{
        RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use tokio::sync::Mutex;

use crate::{
    http::read_json_capped,
    keys::Jwks,
    token::{AccessClaims, TokenType},
};

/// What a consumer must know about the issuer.
#[derive(Debug, Clone)]
pub struct JwksSettings {
    pub jwks_url: String,
    pub issuer: String,
    pub audience: String,
    /// Clock skew allowed on `exp` and `nbf` between issuer and consumer.
    pub leeway: Duration,
    /// Keys are kept at least this long, whatever `max-age` says (a JWKS served with
    /// `no-cache` must not turn every request into a fetch).
    pub min_cache: Duration,
    /// ... and at most this long, so removed keys stop being trusted.
    pub max_cache: Duration,
    /// At most one refetch for unknown kids per this interval.
    pub refetch_cooldown: Duration,
}

impl JwksSettings {
    pub fn new(jwks_url: String, issuer: String, audience: String) -> Self {
        Self {
            jwks_url,
            issuer,
            audience,
            leeway: Duration::from_secs(30),
            min_cache: Duration::from_secs(30),
            max_cache: Duration::from_secs(3600),
            refetch_cooldown: Duration::from_secs(10),
        }
    }
}

/// A JWKS of a few dozen RSA keys is under 32 KiB; anything far larger is not a key set.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// The least time between two fetches while the issuer fails to answer.
const RETRY_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Missing, malformed, expired, forged, of the wrong type or for someone else: a 401.
    #[error("token rejected: {0}")]
    Rejected(&'static str),
    /// No key has ever been fetched: the issuer is unreachable. A 503, not the client's fault.
    #[error("no signing keys available yet")]
    NoKeys,
}

struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    fetched_at: Option<Instant>,
    max_age: Duration,
    /// When a fetch was last tried, whatever triggered it and however it ended.
    last_attempt: Option<Instant>,
}

pub struct JwksVerifier {
    settings: JwksSettings,
    client: reqwest::Client,
    validation: Validation,
    cache: RwLock<KeyCache>,
    /// Held by the one fetch in flight; the others wait on it and then read its result.
    fetching: Mutex<()>,
    fetches: AtomicU64,
}

impl JwksVerifier {
    pub fn new(settings: JwksSettings) -> anyhow::Result<Self> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = settings.leeway.as_secs();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            settings,
            client,
            validation,
            cache: RwLock::new(KeyCache {
                keys: HashMap::new(),
                fetched_at: None,
                max_age: Duration::ZERO,
                last_attempt: None,
            }),
            fetching: Mutex::new(()),
            fetches: AtomicU64::new(0),
        })
    }

    /// Whether keys were fetched at least once (readiness).
    pub fn has_keys(&self) -> bool {
        self.cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .fetched_at
            .is_some()
    }

    /// How many times the JWKS was fetched (for metrics and tests).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Fetches the keys until it succeeds, backing off from 100 ms to 5 s: for start-up, when
    /// the issuer may not be up yet. Requests meanwhile get [`VerifyError::NoKeys`].
    pub async fn warm_up(&self) {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.fetch().await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(error = %err, url = %self.settings.jwks_url, retry_in = ?delay, "JWKS not available yet");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Verifies an access token: RS256 only, a known kid, iss, aud, exp, nbf, `typ: at+jwt`
    /// and `token_type: access` (a refresh token never passes).
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let header = decode_header(token).map_err(|_| VerifyError::Rejected("malformed"))?;
        if header.alg != Algorithm::RS256 {
            return Err(VerifyError::Rejected("algorithm"));
        }
        if !header.typ.as_deref().is_some_and(|typ| {
            typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
        }) {
            return Err(VerifyError::Rejected("not an access token"));
        }
        let kid = header.kid.ok_or(VerifyError::Rejected("no kid"))?;
        self.refresh_if_stale().await;
        if !self.knows(&kid)? {
            self.refetch_for_unknown_kid().await;
            if !self.knows(&kid)? {
                return Err(VerifyError::Rejected("unknown kid"));
            }
        }
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let key = cache
            .keys
            .get(&kid)
            .ok_or(VerifyError::Rejected("unknown kid"))?;
        let claims = decode::<AccessClaims>(token, key, &self.validation)
            .map_err(|_| VerifyError::Rejected("signature or claims"))?
            .claims;
        if claims.token_type != TokenType::Access {
            return Err(VerifyError::Rejected("not an access token"));
        }
        Ok(claims)
    }

    fn knows(&self, kid: &str) -> Result<bool, VerifyError> {
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        if cache.fetched_at.is_none() {
            return Err(VerifyError::NoKeys);
        }
        Ok(cache.keys.contains_key(kid))
    }

    /// Refetches once `max-age` has passed; while the issuer is unreachable, tries at most
    /// once a second rather than on every request.
    async fn refresh_if_stale(&self) {
        let needed = |cache: &KeyCache| {
            cache
                .fetched_at
                .is_none_or(|at| at.elapsed() >= cache.max_age)
                && cache
                    .last_attempt
                    .is_none_or(|at| at.elapsed() >= RETRY_INTERVAL)
        };
        if needed(&self.cache.read().unwrap_or_else(|p| p.into_inner())) {
            self.fetch_once(needed).await;
        }
    }

    async fn refetch_for_unknown_kid(&self) {
        let cooldown = self.settings.refetch_cooldown;
        let needed =
            |cache: &KeyCache| cache.last_attempt.is_none_or(|at| at.elapsed() >= cooldown);
        if needed(&self.cache.read().unwrap_or_else(|p| p.into_inner())) {
            self.fetch_once(needed).await;
        }
    }

    /// Single flight: waits for any fetch in flight, then fetches only if `still_needed` says
    /// the cache is still as the caller saw it.
    async fn fetch_once(&self, still_needed: impl Fn(&KeyCache) -> bool) {
        let _in_flight = self.fetching.lock().await;
        let needed = still_needed(&self.cache.read().unwrap_or_else(|p| p.into_inner()));
        if needed {
            self.cache
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .last_attempt = Some(Instant::now());
            if let Err(err) = self.fetch().await {
                // Keep the keys held: an issuer that is briefly down must not log everyone out.
                tracing::warn!(error = %err, url = %self.settings.jwks_url, "JWKS fetch failed");
            }
        }
    }

    async fn fetch(&self) -> anyhow::Result<()> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let response = self
            .client
            .get(&self.settings.jwks_url)
            .send()
            .await?
            .error_for_status()?;
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|value| value.to_str().ok())
            .and_then(max_age)
            .unwrap_or(Duration::from_secs(300))
            .clamp(self.settings.min_cache, self.settings.max_cache);
        let jwks: Jwks = read_json_capped(response, MAX_JWKS_BYTES).await?;
        let keys = jwks
            .keys
            .into_iter()
            .filter(|jwk| jwk.kty == "RSA" && jwk.alg == "RS256" && jwk.use_ == "sig")
            .filter_map(|jwk| {
                Some((
                    jwk.kid,
                    DecodingKey::from_rsa_components(&jwk.n, &jwk.e).ok()?,
                ))
            })
            .collect();
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        cache.keys = keys;
        cache.fetched_at = Some(Instant::now());
        cache.max_age = max_age;
        Ok(())
    }
}

/// `max-age` of a Cache-Control value; `no-cache`/`no-store` count as zero (the floor applies).
fn max_age(cache_control: &str) -> Option<Duration> {
    cache_control
        .split(',')
        .map(str::trim)
        .find_map(|directive| {
            if directive.eq_ignore_ascii_case("no-cache")
                || directive.eq_ignore_ascii_case("no-store")
            {
                return Some(Duration::ZERO);
            }
            let (name, value) = directive.split_once('=')?;
            name.trim().eq_ignore_ascii_case("max-age").then(|| {
                value
                    .trim()
                    .trim_matches('"')
                    .parse()
                    .ok()
                    .map(Duration::from_secs)
            })?
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("max-age=\"60\""), Some(Duration::from_secs(60)));
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }
}
