use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One row per refresh-token family (a login and its rotations), naming the one member that
/// may be used next. Older members are not stored: presenting one is reuse by definition.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RefreshFamilies::Table)
                    .if_not_exists()
                    .col(string_len(RefreshFamilies::FamilyId, 36).primary_key())
                    .col(string_len(RefreshFamilies::LiveJti, 32))
                    // Unix seconds: the live member's expiry, compared on every refresh.
                    .col(big_integer(RefreshFamilies::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_families_expires_at")
                    .table(RefreshFamilies::Table)
                    .col(RefreshFamilies::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RefreshFamilies::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum RefreshFamilies {
    Table,
    FamilyId,
    LiveJti,
    ExpiresAt,
}
