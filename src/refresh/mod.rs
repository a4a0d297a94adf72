//! Where refresh-token state lives: one trait, a SQL implementation (the embedded default).

mod sql;

pub use sql::SqlRefreshStore;

/// One issued refresh token, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    pub jti: String,
    pub family_id: String,
    pub subject: String,
    /// Unix seconds; the record is worthless after it.
    pub expires_at: i64,
}

impl From<&crate::token::RefreshClaims> for RefreshRecord {
    fn from(claims: &crate::token::RefreshClaims) -> Self {
        Self {
            jti: claims.jti.clone(),
            family_id: claims.fam.clone(),
            subject: claims.sub.clone(),
            expires_at: claims.exp,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshStoreError {
    /// The store could not be reached: callers answer 503, never a silent success.
    #[error("refresh store unavailable: {0}")]
    Unavailable(#[source] anyhow::Error),
}

#[async_trait::async_trait]
pub trait RefreshStore: Send + Sync {
    /// Records a newly issued refresh token as the live member of its family.
    async fn record(&self, token: &RefreshRecord) -> Result<(), RefreshStoreError>;

    /// Whether this token is the live member of a family that has not been revoked.
    async fn is_live(&self, jti: &str, now: i64) -> Result<bool, RefreshStoreError>;
}
