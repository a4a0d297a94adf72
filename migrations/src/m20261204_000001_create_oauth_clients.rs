use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// OAuth 2.0 service clients (RFC 6749 §2): machine callers of the `client_credentials` grant.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(OauthClients::Table)
                    .if_not_exists()
                    .col(big_pk_auto(OauthClients::Id))
                    .col(string_len_uniq(OauthClients::ClientId, 64))
                    .col(string_len_uniq(OauthClients::Name, 150))
                    // SHA-256 of the generated secret, hex: the secret itself is shown once.
                    .col(string_len(OauthClients::SecretHash, 64))
                    // Space-separated, as the `scope` parameter and claim write them.
                    .col(text(OauthClients::Scopes))
                    .col(boolean(OauthClients::IsActive))
                    .col(timestamp_with_time_zone(OauthClients::CreatedAt))
                    .col(timestamp_with_time_zone(OauthClients::SecretSetAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(OauthClients::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum OauthClients {
    Table,
    Id,
    ClientId,
    Name,
    SecretHash,
    Scopes,
    IsActive,
    CreatedAt,
    SecretSetAt,
}
