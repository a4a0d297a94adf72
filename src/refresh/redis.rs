use std::time::Duration;

use redis::{AsyncCommands, Script, aio::ConnectionManager, aio::ConnectionManagerConfig};

use super::{LiveToken, RefreshStore, Rotation, StoreUnavailable, Successor};

/// Families in Redis: one string key per family, `<prefix>{f:<family>}` -> live jti, and after
/// a rotation its retry record `<prefix>{f:<family>}:r` (see `rotate.lua`), both expiring with
/// the live member (`EXAT`), so nothing needs cleaning up. The live key's value is what it was
/// before retries existed, so instances of either version can share one Redis. The braces are a hash tag: every
/// key one script touches hashes to one slot, and the script runs unchanged on Redis Cluster.
pub struct RedisRefreshStore {
    connection: ConnectionManager,
    prefix: String,
    rotate: Script,
}

impl RedisRefreshStore {
    /// Connects lazily and reconnects by itself: a Redis that is down at start or restarts
    /// later makes refreshes fail with 503 until it is back, never the process.
    pub fn new(url: &str, prefix: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).map_err(|err| anyhow::anyhow!("redis_url: {err}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|err| anyhow::anyhow!("redis: {err}"))?;
        Ok(Self {
            connection,
            prefix: prefix.to_owned(),
            rotate: Script::new(include_str!("rotate.lua")),
        })
    }

    fn key(&self, family: &str) -> String {
        format!("{}{{f:{family}}}", self.prefix)
    }

    fn retry_key(&self, family: &str) -> String {
        format!("{}{{f:{family}}}:r", self.prefix)
    }
}

fn unavailable(err: redis::RedisError) -> StoreUnavailable {
    StoreUnavailable(err.into())
}

#[async_trait::async_trait]
impl RefreshStore for RedisRefreshStore {
    async fn start(&self, first: LiveToken<'_>) -> Result<(), StoreUnavailable> {
        let mut connection = self.connection.clone();
        redis::cmd("SET")
            .arg(self.key(first.family))
            .arg(first.jti)
            .arg("EXAT")
            .arg(first.expires_at)
            .query_async::<()>(&mut connection)
            .await
            .map_err(unavailable)
    }

    async fn rotate(
        &self,
        presented_jti: &str,
        next: LiveToken<'_>,
        _now: i64,
        retry_grace_s: i64,
    ) -> Result<Rotation, StoreUnavailable> {
        let mut connection = self.connection.clone();
        let outcome: Vec<String> = self
            .rotate
            .key(self.key(next.family))
            .key(self.retry_key(next.family))
            .arg(presented_jti)
            .arg(next.jti)
            .arg(next.issued_at)
            .arg(next.expires_at)
            .arg(retry_grace_s)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        let number = |index: usize| outcome.get(index).and_then(|n| n.parse::<i64>().ok());
        Ok(match outcome.first().map(String::as_str) {
            Some("1") => Rotation::Rotated,
            Some("2") => Rotation::Reused,
            Some("3") => match (outcome.get(1), number(2), number(3)) {
                (Some(jti), Some(issued_at), Some(expires_at)) => Rotation::Retried(Successor {
                    jti: jti.clone(),
                    issued_at,
                    expires_at,
                }),
                _ => Rotation::Unknown,
            },
            _ => Rotation::Unknown,
        })
    }

    async fn is_live(&self, family: &str, jti: &str, _now: i64) -> Result<bool, StoreUnavailable> {
        let mut connection = self.connection.clone();
        let live: Option<String> = connection
            .get(self.key(family))
            .await
            .map_err(unavailable)?;
        Ok(live.as_deref() == Some(jti))
    }

    async fn session_exists(&self, family: &str, _now: i64) -> Result<bool, StoreUnavailable> {
        let mut connection = self.connection.clone();
        connection
            .exists(self.key(family))
            .await
            .map_err(unavailable)
    }

    async fn revoke(&self, family: &str) -> Result<bool, StoreUnavailable> {
        let mut connection = self.connection.clone();
        let removed: i64 = connection
            .del(&[self.key(family), self.retry_key(family)])
            .await
            .map_err(unavailable)?;
        Ok(removed > 0)
    }

    async fn ping(&self) -> Result<(), StoreUnavailable> {
        let mut connection = self.connection.clone();
        redis::cmd("PING")
            .query_async::<()>(&mut connection)
            .await
            .map_err(unavailable)
    }
}
