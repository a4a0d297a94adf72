//! Schema of the token service, applied at start and by `tessera migrate`.
//!
//! Each migration is a module named `mYYYYMMDD_NNNNNN_what`; append new ones, never edit an applied one.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_create_users;
mod m20261123_000002_create_signing_keys;
mod m20261123_000003_create_refresh_families;
mod m20261203_000001_refresh_family_successor;
mod m20261203_000002_refresh_family_account;
mod m20261203_000003_users_sessions_ended_at;
mod m20261204_000001_create_oauth_clients;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_users::Migration),
            Box::new(m20261123_000002_create_signing_keys::Migration),
            Box::new(m20261123_000003_create_refresh_families::Migration),
            Box::new(m20261203_000001_refresh_family_successor::Migration),
            Box::new(m20261203_000002_refresh_family_account::Migration),
            Box::new(m20261203_000003_users_sessions_ended_at::Migration),
            Box::new(m20261204_000001_create_oauth_clients::Migration),
        ]
    }
}

mod m20261123_100001_create_customers;

/// The customer service's schema: its own database in production, and its own migration
/// table, so it can share a database with the token service without either seeing the other's.
pub struct CustomersMigrator;

#[async_trait::async_trait]
impl MigratorTrait for CustomersMigrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261123_100001_create_customers::Migration)]
    }

    fn migration_table_name() -> DynIden {
        "seaql_migrations_customers".into_iden()
    }
}
