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

/// Names a family: the account it belongs to (`None`: anonymous) and its id, the `sid` of the
/// access tokens minted in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionRef<'a> {
    pub account: Option<i64>,
    pub family: &'a str,
}

/// The live member of a family, as issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveToken<'a> {
    pub session: SessionRef<'a>,
    /// Unix seconds: when the session began (the login), whatever member is live.
    pub created_at: i64,
    pub jti: &'a str,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

impl<'a> From<&'a crate::token::RefreshClaims> for LiveToken<'a> {
    fn from(claims: &'a crate::token::RefreshClaims) -> Self {
        Self {
            session: SessionRef::from(claims),
            created_at: claims.auth_time.unwrap_or(claims.iat),
            jti: &claims.jti,
            issued_at: claims.iat,
            expires_at: claims.exp,
        }
    }
}

impl<'a> From<&'a crate::token::RefreshClaims> for SessionRef<'a> {
    fn from(claims: &'a crate::token::RefreshClaims) -> Self {
        Self {
            account: claims.user_id,
            family: &claims.fam,
        }
    }
}

impl<'a> SessionRef<'a> {
    /// The session an access token was minted in; `None` for tokens from before sessions
    /// were named.
    pub fn of_access(claims: &'a crate::token::AccessClaims) -> Option<Self> {
        claims.sid.as_deref().map(|family| Self {
            account: claims.user_id,
            family,
        })
    }
}

/// The live member a retry is given again: with the family, what its token was made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Successor {
    pub jti: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// One live session of an account, as its owner may see it: never a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub family: String,
    /// Unix seconds: the login.
    pub created_at: i64,
    /// Unix seconds: the last rotation, if any.
    pub refreshed_at: Option<i64>,
    /// Unix seconds: when the live member expires, unless refreshed before.
    pub expires_at: i64,
}

/// Most sessions one account may hold: the one nearest its expiry ends when a login would pass
/// it, so that no account, whoever holds its password, grows the store without bound.
pub const MAX_SESSIONS_PER_ACCOUNT: usize = 2000;

#[async_trait::async_trait]
pub trait RefreshStore: Send + Sync {
    /// Starts a family whose only member is `first`, indexed under its account. An account
    /// at `MAX_SESSIONS_PER_ACCOUNT` loses the session nearest its expiry to make room.
    async fn start(&self, first: LiveToken<'_>) -> Result<(), StoreUnavailable>;

    /// If `presented_jti` is the live member of `next`'s family, makes `next` the live member.
    /// If it is the member spent by a rotation less than `retry_grace_s` seconds ago, answers
    /// that rotation's successor and changes nothing. Otherwise the family is revoked.
    async fn rotate(
        &self,
        presented_jti: &str,
        next: LiveToken<'_>,
        now: i64,
        retry_grace_s: i64,
    ) -> Result<Rotation, StoreUnavailable>;

    /// Whether `jti` is the live member of an unrevoked, unexpired family.
    async fn is_live(
        &self,
        session: SessionRef<'_>,
        jti: &str,
        now: i64,
    ) -> Result<bool, StoreUnavailable>;

    /// Whether the family is unrevoked and unexpired, whichever member is live: the access
    /// tokens minted in it are still part of a session.
    async fn session_exists(
        &self,
        session: SessionRef<'_>,
        now: i64,
    ) -> Result<bool, StoreUnavailable>;

    /// Ends the family a genuine token names; `false` if there was none. Idempotent.
    async fn revoke(&self, session: SessionRef<'_>) -> Result<bool, StoreUnavailable>;

    /// Ends one session of the account, named by an id from outside (a path): only a family
    /// in that account's index matches, never an anonymous one or another account's. `false`
    /// if there was none.
    async fn end(&self, account: i64, family: &str) -> Result<bool, StoreUnavailable>;

    /// The account's live sessions, oldest first.
    async fn list(&self, account: i64, now: i64) -> Result<Vec<SessionInfo>, StoreUnavailable>;

    /// Ends every session of the account but `keep`, in one step; answers how many ended.
    async fn end_all(&self, account: i64, keep: Option<&str>) -> Result<u64, StoreUnavailable>;

    /// Drops families whose live member has expired; what it returns is how many. Redis
    /// expires its keys itself.
    async fn prune(&self, _now: i64) -> Result<u64, StoreUnavailable> {
        Ok(0)
    }

    /// Answers when the store is reachable (readiness).
    async fn ping(&self) -> Result<(), StoreUnavailable>;
}
