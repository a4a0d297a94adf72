//! The application database: SQLite by default, PostgreSQL by URL; schema from `migrations/`.

use std::time::Duration;

use migrations::{CustomersMigrator, Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        // Statement logging would put every query on the info log, hashes' INSERTs included.
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            // WAL lets readers proceed during a write; the busy timeout queues writers
            // instead of failing them with SQLITE_BUSY under concurrent logins.
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    Database::connect(options)
        .await
        .map_err(|err| anyhow::anyhow!("cannot open the database: {err}"))
}

/// Applies the token service's pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    migrate_with::<Migrator>(db).await
}

/// Applies the customer service's pending migrations.
pub async fn migrate_customers(db: &DatabaseConnection) -> anyhow::Result<()> {
    migrate_with::<CustomersMigrator>(db).await
}

/// Instances that start together on one database take turns: the whole run is one
/// transaction that first takes a lock (an advisory lock on PostgreSQL, the write lock on
/// SQLite), so the second finds the work done instead of racing it.
async fn migrate_with<M: MigratorTrait>(db: &DatabaseConnection) -> anyhow::Result<()> {
    let failed = |err: DbErr| anyhow::anyhow!("cannot apply database migrations: {err}");
    let txn = db
        .begin_with_options(TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
        .map_err(failed)?;
    if db.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"
        ))
        .await
        .map_err(failed)?;
    }
    M::up(&txn, None).await.map_err(failed)?;
    txn.commit().await.map_err(failed)
}

/// Any constant unique to Tessera among the advisory locks on one PostgreSQL server.
const MIGRATION_LOCK_ID: i64 = 0x7e55_e7a0;
