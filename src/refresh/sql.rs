use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait, OnConflict},
};

use super::{LiveToken, RefreshStore, Rotation, StoreUnavailable, Successor};
use crate::entity::refresh_family::{self, Column};

/// Families in the application database (SQLite or PostgreSQL), so the quick start keeps its
/// sessions across restarts without a Redis. Rotation is one conditional UPDATE: the database
/// lets exactly one of several concurrent ones match.
pub struct SqlRefreshStore {
    db: DatabaseConnection,
}

impl SqlRefreshStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

fn unavailable(err: sea_orm::DbErr) -> StoreUnavailable {
    StoreUnavailable(err.into())
}

#[async_trait::async_trait]
impl RefreshStore for SqlRefreshStore {
    async fn start(&self, first: LiveToken<'_>) -> Result<(), StoreUnavailable> {
        refresh_family::Entity::insert(refresh_family::ActiveModel {
            family_id: Set(first.family.to_owned()),
            live_jti: Set(first.jti.to_owned()),
            expires_at: Set(first.expires_at),
            previous_jti: Set(None),
            rotated_at: Set(None),
            successor_jti: Set(None),
            successor_issued_at: Set(None),
        })
        .on_conflict(
            OnConflict::column(Column::FamilyId)
                .update_columns([
                    Column::LiveJti,
                    Column::ExpiresAt,
                    Column::PreviousJti,
                    Column::RotatedAt,
                    Column::SuccessorJti,
                    Column::SuccessorIssuedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn rotate(
        &self,
        presented_jti: &str,
        next: LiveToken<'_>,
        now: i64,
        retry_grace_s: i64,
    ) -> Result<Rotation, StoreUnavailable> {
        let rotated = refresh_family::Entity::update_many()
            .col_expr(Column::LiveJti, Expr::value(next.jti))
            .col_expr(Column::ExpiresAt, Expr::value(next.expires_at))
            .col_expr(Column::PreviousJti, Expr::value(presented_jti))
            .col_expr(Column::RotatedAt, Expr::value(now))
            .col_expr(Column::SuccessorJti, Expr::value(next.jti))
            .col_expr(Column::SuccessorIssuedAt, Expr::value(next.issued_at))
            .filter(Column::FamilyId.eq(next.family))
            .filter(Column::LiveJti.eq(presented_jti))
            .filter(Column::ExpiresAt.gt(now))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        if rotated.rows_affected == 1 {
            return Ok(Rotation::Rotated);
        }
        // A losing concurrent UPDATE waited for the winner's row lock (PostgreSQL) or the write
        // lock (SQLite), so the winner's rotation is visible here.
        if retry_grace_s > 0 {
            let retried = refresh_family::Entity::find_by_id(next.family.to_owned())
                .filter(Column::PreviousJti.eq(presented_jti))
                .filter(Column::RotatedAt.gt(now - retry_grace_s))
                .filter(Column::ExpiresAt.gt(now))
                // Only while that rotation's successor is still live: an instance of an older
                // version may have rotated since without recording it.
                .filter(Expr::col(Column::LiveJti).equals(Column::SuccessorJti))
                .one(&self.db)
                .await
                .map_err(unavailable)?;
            if let Some(row) = retried
                && let Some(issued_at) = row.successor_issued_at
            {
                return Ok(Rotation::Retried(Successor {
                    jti: row.live_jti,
                    issued_at,
                    expires_at: row.expires_at,
                }));
            }
        }
        // Not the live member of a live family: reuse if the family is alive, else unknown.
        // Either way the family is done with.
        let deleted = refresh_family::Entity::delete_many()
            .filter(Column::FamilyId.eq(next.family))
            .filter(Column::ExpiresAt.gt(now))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(if deleted.rows_affected > 0 {
            Rotation::Reused
        } else {
            Rotation::Unknown
        })
    }

    async fn is_live(&self, family: &str, jti: &str, now: i64) -> Result<bool, StoreUnavailable> {
        let row = refresh_family::Entity::find_by_id(family.to_owned())
            .one(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(row.is_some_and(|row| row.live_jti == jti && row.expires_at > now))
    }

    async fn session_exists(&self, family: &str, now: i64) -> Result<bool, StoreUnavailable> {
        let row = refresh_family::Entity::find_by_id(family.to_owned())
            .one(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(row.is_some_and(|row| row.expires_at > now))
    }

    async fn revoke(&self, family: &str) -> Result<bool, StoreUnavailable> {
        let deleted = refresh_family::Entity::delete_by_id(family.to_owned())
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(deleted.rows_affected > 0)
    }

    async fn prune(&self, now: i64) -> Result<u64, StoreUnavailable> {
        let deleted = refresh_family::Entity::delete_many()
            .filter(Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(deleted.rows_affected)
    }

    async fn ping(&self) -> Result<(), StoreUnavailable> {
        self.db.ping().await.map_err(unavailable)
    }
}
