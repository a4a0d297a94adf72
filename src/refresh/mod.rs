//! Refresh-token state: one family per login, naming the single member that may be used next.
//!
//! Rotation replaces the live member atomically, so of N concurrent refreshes of one token
//! exactly one wins. Presenting any other member of a family is reuse (RFC 9700 §4.14.2): the
//! family is deleted and every member, including the one just issued, stops working. A family
//! lives until its live member expires, so a rotated token is recognised as reused for as long
//! as it would have been valid, and nothing outlives that.

mod redis;
mod sql;

pub use self::{redis::RedisRefreshStore, sql::SqlRefreshStore};

/// What a rotation attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token was live; the new one is live now.
    Rotated,
    /// The presented token had been rotated already: the family is revoked.
    Reused,
    /// No such family: expired, revoked, or never issued here.
    Unknown,
}

#[derive(Debug, thiserror::Error)]
#[error("refresh store unavailable: {0:#}")]
pub struct StoreUnavailable(#[from] pub anyhow::Error);

/// The live member of a family, as issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveToken<'a> {
    pub family: &'a str,
    pub jti: &'a str,
    /// Unix seconds.
    pub expires_at: i64,
}

impl<'a> From<&'a crate::token::RefreshClaims> for LiveToken<'a> {
    fn from(claims: &'a crate::token::RefreshClaims) -> Self {
        Self {
            family: &claims.fam,
            jti: &claims.jti,
            expires_at: claims.exp,
        }
    }
}

#[async_trait::async_trait]
pub trait RefreshStore: Send + Sync {
    /// Starts a family whose only member is `first`.
    async fn start(&self, first: LiveToken<'_>) -> Result<(), StoreUnavailable>;

    /// If `presented_jti` is the live member of `next.family`, makes `next` the live member.
    async fn rotate(
        &self,
        presented_jti: &str,
        next: LiveToken<'_>,
        now: i64,
    ) -> Result<Rotation, StoreUnavailable>;

    /// Whether `jti` is the live member of an unrevoked, unexpired `family`.
    async fn is_live(&self, family: &str, jti: &str, now: i64) -> Result<bool, StoreUnavailable>;

    /// Whether `family` is unrevoked and unexpired, whichever member is live: the access tokens
    /// minted in it are still part of a session.
    async fn session_exists(&self, family: &str, now: i64) -> Result<bool, StoreUnavailable>;

    /// Ends a family; `false` if there was none. Idempotent.
    async fn revoke(&self, family: &str) -> Result<bool, StoreUnavailable>;

    /// Drops families whose live member has expired; what it returns is how many. Redis
    /// expires its keys itself.
    async fn prune(&self, _now: i64) -> Result<u64, StoreUnavailable> {
        Ok(0)
    }

    /// Answers when the store is reachable (readiness).
    async fn ping(&self) -> Result<(), StoreUnavailable>;
}
