use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};

use super::{RefreshRecord, RefreshStore, RefreshStoreError};
use crate::entity::refresh_token;

pub(crate) const ACTIVE: &str = "active";

/// Refresh-token state in the application database (SQLite or PostgreSQL), so the quick start
/// keeps its sessions across restarts without a Redis.
pub struct SqlRefreshStore {
    db: DatabaseConnection,
}

impl SqlRefreshStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl RefreshStore for SqlRefreshStore {
    async fn record(&self, token: &RefreshRecord) -> Result<(), RefreshStoreError> {
        refresh_token::Entity::insert(refresh_token::ActiveModel {
            jti: Set(token.jti.clone()),
            family_id: Set(token.family_id.clone()),
            subject: Set(token.subject.clone()),
            expires_at: Set(token.expires_at),
            state: Set(ACTIVE.to_owned()),
        })
        .exec_without_returning(&self.db)
        .await
        .map_err(|err| RefreshStoreError::Unavailable(err.into()))?;
        Ok(())
    }

    async fn is_live(&self, jti: &str, now: i64) -> Result<bool, RefreshStoreError> {
        let row = refresh_token::Entity::find_by_id(jti.to_owned())
            .one(&self.db)
            .await
            .map_err(|err| RefreshStoreError::Unavailable(err.into()))?;
        Ok(row.is_some_and(|row| row.state == ACTIVE && row.expires_at > now))
    }
}
