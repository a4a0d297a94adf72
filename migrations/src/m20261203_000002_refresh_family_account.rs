use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Each family knows its account and when its session began, so that an account's sessions
/// can be listed and ended in one statement, and none outlives `session_max_lifetime`.
/// Families made before have neither; each rotation records both.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            big_integer_null(RefreshFamilies::AccountId),
            big_integer_null(RefreshFamilies::CreatedAt),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RefreshFamilies::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_families_account_id")
                    .table(RefreshFamilies::Table)
                    .col(RefreshFamilies::AccountId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_refresh_families_account_id")
                    .table(RefreshFamilies::Table)
                    .to_owned(),
            )
            .await?;
        for column in [RefreshFamilies::AccountId, RefreshFamilies::CreatedAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(RefreshFamilies::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum RefreshFamilies {
    Table,
    AccountId,
    CreatedAt,
}
