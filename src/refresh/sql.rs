use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Func, OnConflict},
};

use super::{
    LiveToken, MAX_SESSIONS_PER_ACCOUNT, RefreshStore, Rotation, SessionInfo, SessionRef,
    StoreUnavailable, Successor,
};
use crate::entity::refresh_family::{self, Column};

/// Families in the application database (SQLite or PostgreSQL), so the quick start keeps its
/// sessions across restarts without a Redis. Rotation is one conditional UPDATE: the database
/// lets exactly one of several concurrent ones match. An account's families are found through
/// the index on `account_id`.
pub struct SqlRefreshStore {
    db: DatabaseConnection,
}

impl SqlRefreshStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// Ends the sessions of `account` nearest their expiry, all but `keep`, until it holds at
    /// most `MAX_SESSIONS_PER_ACCOUNT`.
    async fn evict_beyond_cap(
        &self,
        account: i64,
        keep: &str,
        now: i64,
    ) -> Result<(), StoreUnavailable> {
        let live = refresh_family::Entity::find()
            .filter(Column::AccountId.eq(account))
            .filter(Column::ExpiresAt.gt(now))
            .count(&self.db)
            .await
            .map_err(unavailable)?;
        let Some(excess) = live
            .checked_sub(MAX_SESSIONS_PER_ACCOUNT as u64)
            .filter(|n| *n > 0)
        else {
            return Ok(());
        };
        let victims: Vec<String> = refresh_family::Entity::find()
            .select_only()
            .column(Column::FamilyId)
            .filter(Column::AccountId.eq(account))
            .filter(Column::FamilyId.ne(keep))
            .filter(Column::ExpiresAt.gt(now))
            .order_by_asc(Column::ExpiresAt)
            .limit(excess)
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        refresh_family::Entity::delete_many()
            .filter(Column::FamilyId.is_in(victims))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// The family, if it is `session`'s account's. A family from before accounts were recorded
/// (no `created_at` either) is matched by its id alone until its next rotation records them.
fn of_session(session: SessionRef<'_>) -> Condition {
    let family = Condition::all().add(Column::FamilyId.eq(session.family));
    let unrecorded = Condition::all()
        .add(Column::AccountId.is_null())
        .add(Column::CreatedAt.is_null());
    match session.account {
        Some(account) => family.add(
            Condition::any()
                .add(Column::AccountId.eq(account))
                .add(unrecorded),
        ),
        None => family.add(Column::AccountId.is_null()),
    }
}

fn unavailable(err: sea_orm::DbErr) -> StoreUnavailable {
    StoreUnavailable(err.into())
}

#[async_trait::async_trait]
impl RefreshStore for SqlRefreshStore {
    async fn start(&self, first: LiveToken<'_>) -> Result<(), StoreUnavailable> {
        refresh_family::Entity::insert(refresh_family::ActiveModel {
            family_id: Set(first.session.family.to_owned()),
            live_jti: Set(first.jti.to_owned()),
            expires_at: Set(first.expires_at),
            previous_jti: Set(None),
            rotated_at: Set(None),
            successor_jti: Set(None),
            successor_issued_at: Set(None),
            account_id: Set(first.session.account),
            created_at: Set(Some(first.created_at)),
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
                    Column::AccountId,
                    Column::CreatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await
        .map_err(unavailable)?;
        match first.session.account {
            Some(account) => {
                self.evict_beyond_cap(account, first.session.family, first.issued_at)
                    .await
            }
            None => Ok(()),
        }
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
            // A family from before accounts were recorded joins its account's index here.
            .col_expr(Column::AccountId, Expr::value(next.session.account))
            .col_expr(
                Column::CreatedAt,
                Func::coalesce([Expr::col(Column::CreatedAt), Expr::value(next.created_at)]).into(),
            )
            .filter(Column::FamilyId.eq(next.session.family))
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
            let retried = refresh_family::Entity::find_by_id(next.session.family.to_owned())
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
            .filter(Column::FamilyId.eq(next.session.family))
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

    async fn is_live(
        &self,
        session: SessionRef<'_>,
        jti: &str,
        now: i64,
    ) -> Result<bool, StoreUnavailable> {
        let row = refresh_family::Entity::find()
            .filter(of_session(session))
            .one(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(row.is_some_and(|row| row.live_jti == jti && row.expires_at > now))
    }

    async fn session_exists(
        &self,
        session: SessionRef<'_>,
        now: i64,
    ) -> Result<bool, StoreUnavailable> {
        let row = refresh_family::Entity::find()
            .filter(of_session(session))
            .one(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(row.is_some_and(|row| row.expires_at > now))
    }

    async fn revoke(&self, session: SessionRef<'_>) -> Result<bool, StoreUnavailable> {
        let deleted = refresh_family::Entity::delete_many()
            .filter(of_session(session))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(deleted.rows_affected > 0)
    }

    async fn end(&self, account: i64, family: &str) -> Result<bool, StoreUnavailable> {
        let deleted = refresh_family::Entity::delete_many()
            .filter(Column::FamilyId.eq(family))
            .filter(Column::AccountId.eq(account))
            // An expired row waiting for the pruner is no session to end.
            .filter(Column::ExpiresAt.gt(chrono::Utc::now().timestamp()))
            .exec(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(deleted.rows_affected > 0)
    }

    async fn list(&self, account: i64, now: i64) -> Result<Vec<SessionInfo>, StoreUnavailable> {
        let rows = refresh_family::Entity::find()
            .filter(Column::AccountId.eq(account))
            .filter(Column::ExpiresAt.gt(now))
            .order_by_asc(Column::CreatedAt)
            .order_by_asc(Column::FamilyId)
            .limit(MAX_SESSIONS_PER_ACCOUNT as u64)
            .all(&self.db)
            .await
            .map_err(unavailable)?;
        Ok(rows
            .into_iter()
            .map(|row| SessionInfo {
                created_at: row.created_at.or(row.rotated_at).unwrap_or_default(),
                refreshed_at: row.rotated_at,
                expires_at: row.expires_at,
                family: row.family_id,
            })
            .collect())
    }

    async fn end_all(&self, account: i64, keep: Option<&str>) -> Result<u64, StoreUnavailable> {
        let mut ended = refresh_family::Entity::delete_many()
            .filter(Column::AccountId.eq(account))
            .filter(Column::ExpiresAt.gt(chrono::Utc::now().timestamp()));
        if let Some(keep) = keep {
            ended = ended.filter(Column::FamilyId.ne(keep));
        }
        let deleted = ended.exec(&self.db).await.map_err(unavailable)?;
        Ok(deleted.rows_affected)
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
