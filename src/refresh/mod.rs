//! Refresh-token state: one family per login, naming the single member that may be used next.
//!
//! Rotation replaces the live member atomically, so of N concurrent refreshes of one token
//! exactly one wins. Presenting any other member of a family is reuse (RFC 9700 §4.14.2): the
//! family is deleted and every member, including the one just issued, stops working. A family
//! lives until its live member expires, so a rotated token is recognised as reused for as long
//! as it would have been valid, and nothing outlives that.
//!
//! One exception, within `refresh_reuse_grace` of a rotation: presenting the member it just
//! spent is taken as a retry whose answer was lost (a timeout, a dropped connection, a store
//! that stalled after doing the work), and is answered with the same successor, never a second
//! live member.

mod redis;
mod sql;

pub use self::{redis::RedisRefreshStore, sql::SqlRefreshStore};

/// What a rotation attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token was live; the new one is live now.
    Rotated,
    /// The presented token was spent by a rotation within the grace: this is its successor,
    /// still the live member, to be issued again exactly as it was.
    Retried(Successor),
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
    pub issued_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

impl<'a> From<&'a crate::token::RefreshClaims> for LiveToken<'a> {
    fn from(claims: &'a crate::token::RefreshClaims) -> Self {
        Self {
            family: &claims.fam,
            jti: &claims.jti,
            issued_at: claims.iat,
            expires_at: claims.exp,
        }
    }
}

/// The live member a retry is given again: with the family, what its token was made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Successor {
    pub jti: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

#[async_trait::async_trait]
pub trait RefreshStore: Send + Sync {
    /// Starts a family whose only member is `first`.
    async fn start(&self, first: LiveToken<'_>) -> Result<(), StoreUnavailable>;

    /// If `presented_jti` is the live member of `next.family`, makes `next` the live member.
    /// If it is the member spent by a rotation less than `retry_grace_s` seconds ago, answers
    /// that rotation's successor and changes nothing. Otherwise the family is revoked.
    async fn rotate(
        &self,
        presented_jti: &str,
        next: LiveToken<'_>,
        now: i64,
        retry_grace_s: i64,
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
