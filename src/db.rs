//! The application database: SQLite by default, PostgreSQL by URL; schema from `migrations/`.

use std::time::Duration;

use std::sync::Mutex;

use migrations::{CustomersMigrator, Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait, sqlx,
};

use crate::telemetry::OutageLog;

/// Where this process's databases are (host:port, or a SQLite path), never with credentials:
/// what an outage is logged with.
static ENDPOINTS: Mutex<Vec<String>> = Mutex::new(Vec::new());
static OUTAGE: OutageLog = OutageLog::new();

/// Whether `err` means the database could not be reached or is refusing work for now (refused,
/// reset, pool timeout, shutting down, too many connections, locked), so that the answer is
/// 503 and a retry may succeed, rather than a bug in Tessera.
pub fn is_unavailable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(err))
        | DbErr::Exec(RuntimeErr::SqlxError(err))
        | DbErr::Query(RuntimeErr::SqlxError(err)) => sqlx_unavailable(err),
        _ => false,
    }
}

fn sqlx_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: class 08 connection exceptions, 57P01-03 shutting down or starting,
            // 53300 too many connections, 25006 a read-only standby (mid-failover). SQLite
            // gives extended codes: the primary one is the low byte, 5 SQLITE_BUSY and
            // 6 SQLITE_LOCKED (past the busy timeout).
            code.starts_with("08")
                || matches!(&*code, "57P01" | "57P02" | "57P03" | "53300" | "25006")
                || (db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
                    && code
                        .parse::<u32>()
                        .is_ok_and(|code| matches!(code & 0xff, 5 | 6)))
        }),
        _ => false,
    }
}

/// What an operator needs from a failed first connection: the server's own words (without
/// sqlx's "at line 948", a line of PostgreSQL's source) and what to do about the usual ones.
/// The pool hides why it never connected behind "pool timed out": one direct connection
/// attempt recovers the cause (connection refused, no route, TLS).
async fn why_connect_failed(url: &str, err: &DbErr) -> String {
    let sqlx_err = match err {
        DbErr::Conn(RuntimeErr::SqlxError(err)) => err.as_ref(),
        DbErr::ConnectionAcquire(_) => &sqlx::Error::PoolTimedOut,
        // sea-orm's own words here quote the whole URL, password and all.
        DbErr::Conn(RuntimeErr::Internal(_)) => {
            return "the URL cannot be parsed (percent-encode `/`, `?`, `#` and `@` in the user \
                    and password)"
                .into();
        }
        other => return other.to_string(),
    };
    match sqlx_err {
        sqlx::Error::Database(db) => {
            let hint = match db.code().as_deref() {
                Some("3D000") => ": create it (`createdb`), or point the URL at one that exists",
                Some("28000" | "28P01") => ": check the user and password in the URL",
                _ => "",
            };
            format!("{}{hint}", db.message())
        }
        sqlx::Error::PoolTimedOut => {
            let probe = async {
                use sqlx::Connection;
                match url.split_once(':').map(|(scheme, _)| scheme) {
                    Some("postgres" | "postgresql") => {
                        sqlx::PgConnection::connect(url).await.map(drop)
                    }
                    _ => sqlx::SqliteConnection::connect(url).await.map(drop),
                }
            };
            match tokio::time::timeout(Duration::from_secs(5), probe).await {
                Ok(Err(cause)) => cause.to_string(),
                Ok(Ok(())) => "the pool timed out, yet a direct connection succeeded".into(),
                Err(_) => "no connection within 5 s".into(),
            }
        }
        other => other.to_string(),
    }
}

/// Logs that the database is unavailable, once per outage (see [`OutageLog`]).
pub fn report_unavailable(cause: &anyhow::Error) {
    if OUTAGE.should_log() {
        let endpoints = ENDPOINTS
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join(", ");
        tracing::error!(database = %endpoints, error = format!("{cause:#}"), "database unavailable: answering 503 until it is back");
    }
}

/// The database answered: the next failure starts a new outage.
pub fn report_available() {
    OUTAGE.recovered();
}

/// Where `url` points, for logs and messages: a SQLite file's path, or `host:port`, never
/// credentials.
pub fn endpoint(url: &str) -> String {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        return path.split('?').next().unwrap_or_default().to_owned();
    }
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    // Credentials first, up to the last `@`: a password may hold an unescaped `/` or `?`.
    let after_credentials = after_scheme
        .rsplit_once('@')
        .map_or(after_scheme, |(_, rest)| rest);
    after_credentials
        .split(['/', '?'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    connect_with(url, SQLITE_CONNECTIONS).await
}

/// `connect`, with at most `sqlite_connections` to a SQLite file.
pub async fn connect_with(
    url: &str,
    sqlite_connections: u32,
) -> anyhow::Result<DatabaseConnection> {
    {
        let mut endpoints = ENDPOINTS.lock().unwrap_or_else(|p| p.into_inner());
        let endpoint = endpoint(url);
        if !endpoints.contains(&endpoint) {
            endpoints.push(endpoint);
        }
    }
    let mut options = ConnectOptions::new(url.to_owned());
    if let Some(file) = sqlite_file(url) {
        create_private_file(&file)?;
        // sea-orm gives SQLite one connection unless told otherwise, and then every statement
        // waits for the one before it: a refresh's account read queued behind other refreshes'
        // writes, and the service idled at one core. Under WAL, reads run beside the one
        // writer; writers take turns on SQLite's lock. (An in-memory database stays at one
        // connection: each would be a database of its own.)
        options.max_connections(sqlite_connections);
    }
    options
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        // Statement logging would put every query on the info log, hashes' INSERTs included.
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            // WAL lets readers proceed during a write; the busy timeout queues writers
            // instead of failing them with SQLITE_BUSY under concurrent logins.
            // NORMAL under WAL: a commit is not flushed to disk on its own, only at checkpoints.
            // Safe against a crash of the process; a power cut or kernel crash can lose the
            // last commits (never corrupt the file). An fsync per commit capped refreshes and
            // logins at the disk's flush rate; README "Performance" says what this trades.
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true)
        });
    // Instances opening one new SQLite file at once race to switch it to WAL; the loser gets
    // SQLITE_BUSY at once, since that switch cannot wait on the busy timeout. The winner is
    // done within milliseconds, and from then on the pragma only reads, so try again.
    let give_up_at = std::time::Instant::now() + SQLITE_BUSY_TIMEOUT;
    loop {
        match Database::connect(options.clone()).await {
            Err(err)
                if sqlite_file(url).is_some()
                    && is_unavailable(&err)
                    && std::time::Instant::now() < give_up_at =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(connection) => return Ok(connection),
            Err(err) => {
                let cause = why_connect_failed(url, &err).await;
                anyhow::bail!("cannot open the database at {}: {cause}", endpoint(url));
            }
        }
    }
}

const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections (each a thread of sqlx's) to one SQLite file: enough that a few writers
/// waiting their turn leave reads room to run (refreshes: 1 900/s with one, 3 300-3 500/s
/// with 6-10, `scripts/bench-refresh.sh`, on 2 cores).
const SQLITE_CONNECTIONS: u32 = 8;

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

/// Whether `url` is an SQLite database's.
pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// The file a SQLite URL names, if it is one on disk.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or_default();
    let query = url.split_once('?').map_or("", |(_, query)| query);
    if path.is_empty()
        || path.contains(":memory:")
        || query.split('&').any(|pair| pair == "mode=memory")
    {
        return None;
    }
    Some(path.into())
}

/// Creates a SQLite file (and its directory) readable by this user alone before SQLite opens
/// it: it holds password hashes, and SQLite gives its `-wal` and `-shm` files the same mode.
/// An existing file or directory keeps the mode it has.
fn create_private_file(file: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|err| {
                anyhow::anyhow!(
                    "cannot create the database directory {}: {err}",
                    dir.display()
                )
            })?;
    }
    let opened = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(file)
        .map_err(|err| anyhow::anyhow!("cannot create the database {}: {err}", file.display()))?;
    // A file made by an older version, or by hand, keeps its mode: say so if others can read it.
    if let Ok(metadata) = opened.metadata() {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %file.display(),
                mode = format!("{mode:o}"),
                "the database (password hashes) is readable by other users: chmod 600 it"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_file("sqlite://data/tessera.db?mode=rwc"),
            Some("data/tessera.db".into())
        );
        assert_eq!(
            sqlite_file("sqlite:/var/lib/t/x.db"),
            Some("/var/lib/t/x.db".into())
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("sqlite://x.db?mode=memory"), None);
        assert_eq!(sqlite_file("sqlite:file:x?mode=memory&cache=shared"), None);
        assert_eq!(sqlite_file("sqlite:file::memory:?cache=shared"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }

    /// The guard on SQLite's concurrency: a write in progress does not hold up a read.
    #[tokio::test]
    async fn reads_go_on_while_a_write_is_open() {
        let root = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", root.path().join("t.db").display());
        let db = connect(&url).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (n INTEGER)")
            .await
            .unwrap();
        let write = db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
            .unwrap();
        write
            .execute_unprepared("INSERT INTO t VALUES (1)")
            .await
            .unwrap();
        let read = tokio::time::timeout(
            Duration::from_secs(2),
            db.execute_unprepared("SELECT COUNT(*) FROM t"),
        )
        .await;
        assert!(
            matches!(read, Ok(Ok(_))),
            "a read waited for the open write transaction's connection"
        );
        write.commit().await.unwrap();
    }

    #[test]
    fn a_new_database_and_its_directory_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("data/nested/tessera.db");
        create_private_file(&file).unwrap();
        let mode =
            |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
        assert_eq!(mode(&root.path().join("data")), 0o700);
    }

    #[test]
    fn endpoints_never_carry_credentials() {
        assert_eq!(
            endpoint("postgres://user:secret@db.internal:5432/tessera?sslmode=require"),
            "db.internal:5432"
        );
        assert_eq!(endpoint("postgres://db:5432/x"), "db:5432");
        assert_eq!(endpoint("postgres://tessera:ab/cd?e@db:5432/x"), "db:5432");
        assert_eq!(endpoint("redis://:pa/ss@cache:6379/0"), "cache:6379");
        assert_eq!(
            endpoint("sqlite://data/tessera.db?mode=rwc"),
            "data/tessera.db"
        );
    }
}
