use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What an idempotent retry needs: the member the last rotation spent and when, and the member
/// it made live with its issue time, so that presenting the spent one again within the grace
/// gets the very token its successor was (its answer may have been lost). Families made before
/// have none of it and are refreshed strictly.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            string_len_null(RefreshFamilies::PreviousJti, 32),
            big_integer_null(RefreshFamilies::RotatedAt),
            string_len_null(RefreshFamilies::SuccessorJti, 32),
            big_integer_null(RefreshFamilies::SuccessorIssuedAt),
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
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            RefreshFamilies::PreviousJti,
            RefreshFamilies::RotatedAt,
            RefreshFamilies::SuccessorJti,
            RefreshFamilies::SuccessorIssuedAt,
        ] {
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
    PreviousJti,
    RotatedAt,
    SuccessorJti,
    SuccessorIssuedAt,
}
