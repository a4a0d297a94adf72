//! One connection to Redis, a single server or a Redis Cluster, shared by everything Tessera
//! keeps there (refresh sessions, rate limits).

use std::time::Duration;

use redis::{
    Cmd, ErrorKind, FromRedisValue, Pipeline, RedisFuture, ServerErrorKind, ToRedisArgs, Value,
    aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig},
    cluster::{ClusterClient, ClusterConfig},
    cluster_async::ClusterConnection,
    cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo},
};

/// One Redis server, or a Redis Cluster through the crate's async cluster client, which routes
/// each command (a script by its first key) to the master of its slot and follows `MOVED`
/// and `ASK`. Callers keep every key of one command under one hash tag (one slot).
#[derive(Clone)]
pub struct RedisConnection(Connection);

#[derive(Clone)]
enum Connection {
    Node(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Node(node) => node.req_packed_command(cmd),
            Self::Cluster(cluster) => cluster.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Node(node) => node.req_packed_commands(pipeline, offset, count),
            Self::Cluster(cluster) => cluster.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Node(node) => node.get_db(),
            Self::Cluster(cluster) => cluster.get_db(),
        }
    }
}

/// How long to wait for a connection, and for an answer: past either, a 503.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The seed nodes of `redis+cluster://[user:password@]host:port,host:port,...` as `redis://`
/// URLs (the cluster tells the client the rest); `None` for a single server's URL.
pub fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    let rest = url.strip_prefix("redis+cluster://")?;
    // Credentials up to the last `@`: a password may hold `,` or `@`, a host list neither.
    let (credentials, hosts) = match rest.rsplit_once('@') {
        Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
        None => (String::new(), rest),
    };
    Some(
        hosts
            .trim_end_matches('/')
            .split(',')
            .filter(|host| !host.is_empty())
            .map(|host| format!("redis://{credentials}{host}"))
            .collect(),
    )
}

impl RedisConnection {
    /// Connects lazily and reconnects by itself: a Redis that is down at start or restarts
    /// later fails its commands (callers answer 503 or fall back) until it is back, never the
    /// process. `url` is one server's (`redis://`, `rediss://`, `redis+unix://`) or a
    /// cluster's (`redis+cluster://`).
    pub fn open(url: &str) -> anyhow::Result<Self> {
        Ok(Self(match cluster_nodes(url) {
            Some(nodes) => {
                let client = ClusterClient::builder(nodes)
                    .connection_timeout(CONNECTION_TIMEOUT)
                    .response_timeout(RESPONSE_TIMEOUT)
                    .retries(1)
                    .build()
                    .map_err(|err| anyhow::anyhow!("redis_url: {err}"))?;
                let config = ClusterConfig::new()
                    .set_connection_timeout(CONNECTION_TIMEOUT)
                    .set_response_timeout(RESPONSE_TIMEOUT);
                Connection::Cluster(client.get_pending_async_connection_with_config(config))
            }
            None => {
                let client =
                    redis::Client::open(url).map_err(|err| anyhow::anyhow!("redis_url: {err}"))?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECTION_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(1)
                    .set_max_delay(Duration::from_secs(2));
                Connection::Node(
                    ConnectionManager::new_lazy_with_config(client, config)
                        .map_err(|err| anyhow::anyhow!("redis: {err}"))?,
                )
            }
        }))
    }
}

impl ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.0.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.0.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}

impl RedisConnection {
    /// Whether Redis answers: on a cluster, whether any master does. A master that is down
    /// takes its own slots' sessions with it, not the instance's readiness (every instance
    /// shares the cluster, so taking them all out of rotation would help no one).
    pub async fn ping(&self) -> redis::RedisResult<()> {
        match &self.0 {
            Connection::Node(node) => {
                let mut node = node.clone();
                redis::cmd("PING").query_async(&mut node).await
            }
            Connection::Cluster(cluster) => {
                let routing = RoutingInfo::MultiNode((
                    MultipleNodeRoutingInfo::AllMasters,
                    Some(ResponsePolicy::OneSucceeded),
                ));
                cluster
                    .clone()
                    .route_command(redis::cmd("PING"), routing)
                    .await
                    .map(drop)
            }
        }
    }
}

/// A Lua script, run by its digest (`EVALSHA`) and sent whole (`EVAL`, routed by its first key)
/// when the server does not hold it. Not `SCRIPT LOAD`, which on a cluster must reach every
/// node: with one of them down, every node without the script cached (a promoted replica, a
/// restarted one) would fail every call until it is back.
pub struct LuaScript {
    code: &'static str,
    hash: String,
}

/// One call of a [`LuaScript`]: its keys, then its arguments.
pub struct ScriptCall<'a> {
    script: &'a LuaScript,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl LuaScript {
    pub fn new(code: &'static str) -> Self {
        Self {
            code,
            hash: redis::Script::new(code).get_hash().to_owned(),
        }
    }

    pub fn key(&self, key: impl ToRedisArgs) -> ScriptCall<'_> {
        let mut call = ScriptCall {
            script: self,
            keys: Vec::new(),
            args: Vec::new(),
        };
        call.key(key);
        call
    }
}

impl ScriptCall<'_> {
    pub fn key(&mut self, key: impl ToRedisArgs) -> &mut Self {
        self.keys.extend(key.to_redis_args());
        self
    }

    pub fn arg(&mut self, arg: impl ToRedisArgs) -> &mut Self {
        self.args.extend(arg.to_redis_args());
        self
    }

    fn command(&self, name: &str, script: &str) -> Cmd {
        let mut command = redis::cmd(name);
        command
            .arg(script)
            .arg(self.keys.len())
            .arg(&self.keys)
            .arg(&self.args);
        command
    }

    pub async fn invoke_async<T: FromRedisValue>(
        &self,
        connection: &mut RedisConnection,
    ) -> redis::RedisResult<T> {
        match self
            .command("EVALSHA", &self.script.hash)
            .query_async(connection)
            .await
        {
            Err(err) if err.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.command("EVAL", self.script.code)
                    .query_async(connection)
                    .await
            }
            answer => answer,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::cluster_nodes;

    #[test]
    fn a_cluster_url_names_its_seed_nodes_with_their_credentials() {
        assert_eq!(
            cluster_nodes("redis+cluster://10.0.0.1:7000,10.0.0.2:7001/"),
            Some(vec![
                "redis://10.0.0.1:7000".to_owned(),
                "redis://10.0.0.2:7001".to_owned()
            ])
        );
        assert_eq!(
            cluster_nodes("redis+cluster://app:p@ss,w0rd@h1:7000,h2:7000"),
            Some(vec![
                "redis://app:p@ss,w0rd@h1:7000".to_owned(),
                "redis://app:p@ss,w0rd@h2:7000".to_owned()
            ])
        );
        assert_eq!(cluster_nodes("redis+cluster://"), Some(vec![]));
        assert_eq!(cluster_nodes("redis://127.0.0.1:6379"), None);
    }
}
