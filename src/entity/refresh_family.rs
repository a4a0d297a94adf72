use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_families")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub family_id: String,
    pub live_jti: String,
    pub expires_at: i64,
    /// The member spent by the last rotation, and when (unix seconds).
    pub previous_jti: Option<String>,
    pub rotated_at: Option<i64>,
    /// The member that rotation made live, and when it was issued: with `expires_at`, all a
    /// retry needs to be given the same token again, while it is still `live_jti`.
    pub successor_jti: Option<String>,
    pub successor_issued_at: Option<i64>,
    /// The account the session belongs to; `None` for anonymous sessions.
    pub account_id: Option<i64>,
    /// Unix seconds: when the session began.
    pub created_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
