use redis::AsyncCommands;

use crate::redis_connection::{LuaScript, RedisConnection};

use super::{
    LiveToken, MAX_SESSIONS_PER_ACCOUNT, RefreshStore, Rotation, SessionInfo, SessionRef,
    StoreUnavailable, Successor,
};

/// Families in Redis. An account's families and its session index share the hash tag
/// `{u:<account>}` (see `sessions.lua`), so listing or ending all of them is one script on one
/// slot, and a rotation keeps the index in step in the same script. An anonymous family is
/// `<prefix>{f:<family>}` -> live jti, with its retry record at `...:r` (see `rotate.lua`).
/// Every key expires with the live member it describes (`EXAT`), so nothing needs cleaning up.
/// An account's family started by a version before the index lives at the anonymous layout;
/// it is still honoured there, and moves into the index at its next rotation.
pub struct RedisRefreshStore {
    connection: RedisConnection,
    prefix: String,
    rotate: LuaScript,
    sessions: LuaScript,
    take_unindexed: LuaScript,
}

/// Where one family's keys are.
struct FamilyKeys {
    live: String,
    retry: String,
    /// The account's session index and metadata, for an account's family.
    index: Option<(String, String)>,
}

impl RedisRefreshStore {
    /// Connects lazily and reconnects by itself (see [`RedisConnection::open`]): a Redis that
    /// is down at start or restarts later makes refreshes fail with 503 until it is back.
    pub fn new(url: &str, prefix: &str) -> anyhow::Result<Self> {
        Ok(Self::with_connection(RedisConnection::open(url)?, prefix))
    }

    /// As [`Self::new`], on a connection shared with other users of the same Redis.
    pub fn with_connection(connection: RedisConnection, prefix: &str) -> Self {
        Self {
            connection,
            prefix: prefix.to_owned(),
            rotate: LuaScript::new(include_str!("rotate.lua")),
            sessions: LuaScript::new(include_str!("sessions.lua")),
            // A family from before the index: taken out whole if the presented member is live
            // (1), deleted as reused if another is (2); 0 if there is none.
            take_unindexed: LuaScript::new(
                "local live = redis.call('GET', KEYS[1]) \
                 if not live then return 0 end \
                 redis.call('DEL', KEYS[1], KEYS[2]) \
                 if live == ARGV[1] then return 1 end \
                 return 2",
            ),
        }
    }

    /// `<prefix>{u:<account>}:`, the start of every key of the account's sessions.
    fn account_prefix(&self, account: i64) -> String {
        format!("{}{{u:{account}}}:", self.prefix)
    }

    fn unindexed(&self, family: &str) -> FamilyKeys {
        FamilyKeys {
            live: format!("{}{{f:{family}}}", self.prefix),
            retry: format!("{}{{f:{family}}}:r", self.prefix),
            index: None,
        }
    }

    fn keys(&self, session: SessionRef<'_>) -> FamilyKeys {
        match session.account {
            None => self.unindexed(session.family),
            Some(account) => {
                let p = self.account_prefix(account);
                FamilyKeys {
                    live: format!("{p}f:{}", session.family),
                    retry: format!("{p}r:{}", session.family),
                    index: Some((format!("{p}s"), format!("{p}m"))),
                }
            }
        }
    }

    async fn run_sessions(
        &self,
        account: i64,
        operation: &str,
        args: &[&str],
    ) -> Result<Vec<String>, StoreUnavailable> {
        let p = self.account_prefix(account);
        let mut invocation = self.sessions.key(format!("{p}s"));
        invocation.key(format!("{p}m")).arg(operation).arg(&p);
        for arg in args {
            invocation.arg(*arg);
        }
        let mut connection = self.connection.clone();
        invocation
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)
    }

    async fn rotate_at(
        &self,
        keys: &FamilyKeys,
        presented_jti: &str,
        next: &LiveToken<'_>,
        retry_grace_s: i64,
    ) -> Result<Rotation, StoreUnavailable> {
        let mut invocation = self.rotate.key(&keys.live);
        invocation.key(&keys.retry);
        if let Some((index, meta)) = &keys.index {
            invocation.key(index).key(meta);
        }
        invocation
            .arg(presented_jti)
            .arg(next.jti)
            .arg(next.issued_at)
            .arg(next.expires_at)
            .arg(retry_grace_s)
            .arg(next.session.family)
            .arg(next.created_at);
        let mut connection = self.connection.clone();
        let outcome: Vec<String> = invocation
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

    /// Rotates an account's family that predates the index: it is taken out of the old layout
    /// and `next` starts it again in the index.
    async fn rotate_unindexed(
        &self,
        presented_jti: &str,
        next: LiveToken<'_>,
    ) -> Result<Rotation, StoreUnavailable> {
        let keys = self.unindexed(next.session.family);
        let mut connection = self.connection.clone();
        let taken: i64 = self
            .take_unindexed
            .key(&keys.live)
            .key(&keys.retry)
            .arg(presented_jti)
            .invoke_async(&mut connection)
            .await
            .map_err(unavailable)?;
        match taken {
            1 => {
                self.start(next).await?;
                Ok(Rotation::Rotated)
            }
            2 => Ok(Rotation::Reused),
            _ => Ok(Rotation::Unknown),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<String>, StoreUnavailable> {
        let mut connection = self.connection.clone();
        connection.get(key).await.map_err(unavailable)
    }

    /// The live jti of a family, wherever it is kept.
    async fn live_jti(&self, session: SessionRef<'_>) -> Result<Option<String>, StoreUnavailable> {
        let keys = self.keys(session);
        match self.get(&keys.live).await? {
            None if keys.index.is_some() => self.get(&self.unindexed(session.family).live).await,
            live => Ok(live),
        }
    }
}

/// The error's own text only: an I/O error's also names its source, which would repeat it
/// ("Connection refused (os error 111): Connection refused (os error 111)").
fn unavailable(err: redis::RedisError) -> StoreUnavailable {
    StoreUnavailable(anyhow::anyhow!("{err}"))
}

#[async_trait::async_trait]
impl RefreshStore for RedisRefreshStore {
    async fn start(&self, first: LiveToken<'_>) -> Result<(), StoreUnavailable> {
        let Some(account) = first.session.account else {
            let mut connection = self.connection.clone();
            return redis::cmd("SET")
                .arg(self.unindexed(first.session.family).live)
                .arg(first.jti)
                .arg("EXAT")
                .arg(first.expires_at)
                .query_async::<()>(&mut connection)
                .await
                .map_err(unavailable);
        };
        let (expires_at, created_at) = (first.expires_at.to_string(), first.created_at.to_string());
        let cap = MAX_SESSIONS_PER_ACCOUNT.to_string();
        self.run_sessions(
            account,
            "start",
            &[
                first.session.family,
                first.jti,
                &expires_at,
                &created_at,
                &cap,
            ],
        )
        .await
        .map(drop)
    }

    async fn rotate(
        &self,
        presented_jti: &str,
        next: LiveToken<'_>,
        _now: i64,
        retry_grace_s: i64,
    ) -> Result<Rotation, StoreUnavailable> {
        let keys = self.keys(next.session);
        match self
            .rotate_at(&keys, presented_jti, &next, retry_grace_s)
            .await?
        {
            Rotation::Unknown if keys.index.is_some() => {
                self.rotate_unindexed(presented_jti, next).await
            }
            rotation => Ok(rotation),
        }
    }

    async fn is_live(
        &self,
        session: SessionRef<'_>,
        jti: &str,
        _now: i64,
    ) -> Result<bool, StoreUnavailable> {
        Ok(self.live_jti(session).await?.as_deref() == Some(jti))
    }

    async fn session_exists(
        &self,
        session: SessionRef<'_>,
        _now: i64,
    ) -> Result<bool, StoreUnavailable> {
        Ok(self.live_jti(session).await?.is_some())
    }

    async fn revoke(&self, session: SessionRef<'_>) -> Result<bool, StoreUnavailable> {
        let unindexed = self.unindexed(session.family);
        let mut connection = self.connection.clone();
        let removed: i64 = connection
            .del(&[unindexed.live, unindexed.retry])
            .await
            .map_err(unavailable)?;
        let Some(account) = session.account else {
            return Ok(removed > 0);
        };
        Ok(self.end(account, session.family).await? || removed > 0)
    }

    async fn end(&self, account: i64, family: &str) -> Result<bool, StoreUnavailable> {
        let ended = self.run_sessions(account, "end", &[family]).await?;
        Ok(ended.first().is_some_and(|n| n == "1"))
    }

    async fn list(&self, account: i64, _now: i64) -> Result<Vec<SessionInfo>, StoreUnavailable> {
        let listed = self.run_sessions(account, "list", &[]).await?;
        let mut sessions: Vec<SessionInfo> = listed
            .chunks_exact(3)
            .map(|entry| {
                let mut meta = entry[2].split(' ').map(|n| n.parse::<i64>().ok());
                let created_at = meta.next().flatten().unwrap_or_default();
                SessionInfo {
                    family: entry[0].clone(),
                    expires_at: entry[1].parse().unwrap_or_default(),
                    created_at,
                    refreshed_at: meta.next().flatten(),
                }
            })
            .collect();
        sessions.sort_by(|a, b| (a.created_at, &a.family).cmp(&(b.created_at, &b.family)));
        Ok(sessions)
    }

    async fn end_all(&self, account: i64, keep: Option<&str>) -> Result<u64, StoreUnavailable> {
        let ended = self
            .run_sessions(account, "endall", &[keep.unwrap_or_default()])
            .await?;
        Ok(ended
            .first()
            .and_then(|n| n.parse().ok())
            .unwrap_or_default())
    }

    async fn ping(&self) -> Result<(), StoreUnavailable> {
        self.connection.ping().await.map_err(unavailable)
    }
}
