use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .if_not_exists()
                    // RFC 7638 thumbprint of the public key.
                    .col(string_len(SigningKeys::Kid, 64).primary_key())
                    // 1 for the first key, +1 per rotation. Unique, so that instances starting
                    // together on an empty database agree on one key: the loser's insert conflicts.
                    .col(integer_uniq(SigningKeys::Generation))
                    // PKCS#8 DER, AES-256-GCM encrypted (nonce || ciphertext || tag).
                    .col(blob(SigningKeys::PrivateKey))
                    .col(text(SigningKeys::N))
                    .col(text(SigningKeys::E))
                    // HS256 secret for refresh tokens signed while this key is active, encrypted too.
                    .col(blob(SigningKeys::RefreshSecret))
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    // Published in the JWKS from creation, used for signing from here on.
                    .col(timestamp_with_time_zone(SigningKeys::SignsFrom))
                    // Dropped from the JWKS after this instant (every token it signed has expired).
                    .col(timestamp_with_time_zone_null(SigningKeys::RetiresAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SigningKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    Generation,
    PrivateKey,
    N,
    E,
    RefreshSecret,
    CreatedAt,
    SignsFrom,
    RetiresAt,
}
