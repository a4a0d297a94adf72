use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    #[sea_orm(unique)]
    pub generation: i32,
    pub private_key: Vec<u8>,
    pub n: String,
    pub e: String,
    pub refresh_secret: Vec<u8>,
    pub created_at: DateTimeUtc,
    pub signs_from: DateTimeUtc,
    pub retires_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
