use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Users::Id))
                    // Django's limit; unique and case-sensitive, as in django.contrib.auth.
                    .col(string_len_uniq(Users::Username, 150))
                    .col(string_len(Users::Email, 254))
                    // Lower-cased email, NULL when none was given: unique ignoring case.
                    .col(string_len_null(Users::EmailKey, 254).unique_key())
                    .col(text(Users::PasswordHash))
                    .col(string_len_null(Users::GstNo, 32))
                    .col(string_len(Users::Role, 16))
                    .col(boolean(Users::IsActive))
                    .col(timestamp_with_time_zone(Users::DateJoined))
                    .col(timestamp_with_time_zone_null(Users::LastLogin))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    Email,
    EmailKey,
    PasswordHash,
    GstNo,
    Role,
    IsActive,
    DateJoined,
    LastLogin,
}
