use std::{
    collections::HashMap,
    hash::{BuildHasher, Hash, RandomState},
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use std::sync::atomic::{AtomicU64, Ordering};

use crate::{
    error::ApiError,
    redis_connection::{LuaScript, RedisConnection},
    telemetry::OutageLog,
};
use aws_lc_rs::digest;
use poem::Request;

/// `N/s`, `N/m` or `N/h`: up to N requests in a burst, refilled evenly over the period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub burst: u32,
    pub period: Duration,
}

impl Rate {
    pub fn parse(raw: &str) -> Option<Self> {
        let (count, unit) = raw.trim().split_once('/')?;
        let burst: u32 = count.trim().parse().ok().filter(|n| *n > 0)?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return None,
        };
        Some(Self { burst, period })
    }
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// One limit (login per IP, login per username, ...), by key: in Redis when the deployment has
/// one, so every instance enforces one limit together, else in this process.
///
/// With Redis unreachable, each instance falls back to its own buckets (the fleet then allows
/// up to N times the limit), logged when it starts and at most once a minute after: failing open
/// would hand a password guesser the outage, failing closed would make the limiter a second
/// way for Redis to take logins down. A failed Redis call is not retried for a second, so an
/// outage costs one slow call per second, not one per request.
pub struct RateLimiter {
    local: LocalBuckets,
    shared: Option<SharedBuckets>,
}

struct SharedBuckets {
    connection: RedisConnection,
    outage: Arc<SharedLimitsOutage>,
    /// `<redis_prefix>rl:<limit>:`, before each key's digest.
    key_prefix: String,
    script: LuaScript,
    interval_ms: f64,
    burst: u32,
    /// When Redis may be asked again after a failure, in ms of the outage clock; 0: now.
    skip_until_ms: AtomicU64,
}

/// An instance's shared limits' view of Redis outages: one log for all of them (they share one
/// Redis), so an outage is logged when it starts and at most once a minute while it lasts, not
/// once per limit or per request, and a monotonic clock for when to ask Redis again.
pub struct SharedLimitsOutage {
    log: OutageLog,
    started: Instant,
}

impl Default for SharedLimitsOutage {
    fn default() -> Self {
        Self {
            log: OutageLog::new(),
            started: Instant::now(),
        }
    }
}

impl SharedLimitsOutage {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// After a failed Redis call, the buckets of this process answer for this long.
const RETRY_SHARED_AFTER_MS: u64 = 1_000;

impl RateLimiter {
    /// A limit kept in this process only.
    pub fn local(rate: Rate) -> Self {
        Self {
            local: LocalBuckets::new(rate),
            shared: None,
        }
    }

    /// A limit kept in Redis for every instance, named `limit` there under `redis_prefix`.
    pub fn shared(
        rate: Rate,
        limit: &str,
        connection: RedisConnection,
        redis_prefix: &str,
        outage: Arc<SharedLimitsOutage>,
    ) -> Self {
        Self {
            local: LocalBuckets::new(rate),
            shared: Some(SharedBuckets {
                connection,
                outage,
                key_prefix: format!("{redis_prefix}rl:{limit}:"),
                script: LuaScript::new(include_str!("gcra.lua")),
                interval_ms: rate.period.as_secs_f64() * 1000.0 / f64::from(rate.burst),
                burst: rate.burst,
                skip_until_ms: AtomicU64::new(0),
            }),
        }
    }

    /// Takes one request for `key`, or says how long until one is admitted.
    pub async fn check(&self, key: &str) -> Result<(), Duration> {
        if let Some(shared) = &self.shared
            && let Some(outcome) = shared.run(key, "take").await
        {
            return outcome;
        }
        self.local.check(key)
    }

    /// Gives back what [`check`](Self::check) took for `key`: for limits that count failures
    /// only. Taking first and giving back on success bounds the attempts in flight too.
    pub async fn refund(&self, key: &str) {
        if let Some(shared) = &self.shared
            && shared.run(key, "give").await.is_some()
        {
            return;
        }
        self.local.refund(key);
    }

    /// [`check`](Self::check) as the API answers it: 429 with `Retry-After` in whole seconds.
    pub async fn admit(&self, key: &str) -> Result<(), ApiError> {
        self.check(key).await.map_err(|wait| ApiError::RateLimited {
            retry_after_s: wait.as_secs_f64().ceil().max(1.0) as u64,
        })
    }
}

impl SharedBuckets {
    /// The key of `client` under this limit: a digest, so what a client sends is never stored
    /// and every key is the same size.
    fn key(&self, client: &str) -> String {
        let digest = digest::digest(&digest::SHA256, client.as_bytes());
        format!(
            "{}{}",
            self.key_prefix,
            crate::hex::encode(&digest.as_ref()[..16])
        )
    }

    /// The script's answer, or `None` when Redis did not give one (then the local buckets do).
    async fn run(&self, client: &str, operation: &str) -> Option<Result<(), Duration>> {
        let now_ms = self.outage.now_ms();
        let skip_until = self.skip_until_ms.load(Ordering::Relaxed);
        if skip_until != 0 {
            if now_ms < skip_until {
                return None;
            }
            // Past the wait, one request asks Redis; the others keep to the local buckets until
            // it knows, so a Redis that answers nothing costs one slow call a second.
            let probe = self.skip_until_ms.compare_exchange(
                skip_until,
                now_ms + RETRY_SHARED_AFTER_MS,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            if probe.is_err() {
                return None;
            }
        }
        let mut connection = self.connection.clone();
        let answer: redis::RedisResult<u64> = self
            .script
            .key(self.key(client))
            .arg(self.interval_ms)
            .arg(self.burst)
            .arg(operation)
            .invoke_async(&mut connection)
            .await;
        match answer {
            Ok(wait_ms) => {
                self.skip_until_ms.store(0, Ordering::Relaxed);
                Some(if wait_ms == 0 {
                    Ok(())
                } else {
                    Err(Duration::from_millis(wait_ms))
                })
            }
            Err(err) => {
                let failed_at = self.outage.now_ms();
                self.skip_until_ms
                    .store(failed_at + RETRY_SHARED_AFTER_MS, Ordering::Relaxed);
                if self.outage.log.should_log() {
                    tracing::warn!(
                        error = %err,
                        keys = %self.key_prefix,
                        "rate limits: Redis is unreachable; each instance limits on its own until it is back"
                    );
                }
                None
            }
        }
    }
}

/// Token buckets by key (a client IP, a username), in this process. Keys are kept as a keyed
/// 64-bit hash, so an entry costs the same whatever the client sent, and nobody can aim two
/// names at one bucket.
struct LocalBuckets {
    rate: Rate,
    max_keys: usize,
    hasher: RandomState,
    buckets: Mutex<HashMap<u64, Bucket>>,
}

/// Past this many keys (about 5 MiB of buckets), buckets that have refilled (idle clients) are
/// dropped, then the oldest, so a flood of spoofed sources or names cannot grow the map.
const MAX_KEYS: usize = 100_000;

impl LocalBuckets {
    fn new(rate: Rate) -> Self {
        Self::with_max_keys(rate, MAX_KEYS)
    }

    fn with_max_keys(rate: Rate, max_keys: usize) -> Self {
        Self {
            rate,
            max_keys,
            hasher: RandomState::new(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or says how long until one is there.
    fn check(&self, key: impl Hash) -> Result<(), Duration> {
        let key = self.hasher.hash_one(key);
        let capacity = f64::from(self.rate.burst);
        let per_second = capacity / self.rate.period.as_secs_f64();
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= self.max_keys && !buckets.contains_key(&key) {
            buckets.retain(|_, bucket| {
                bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * per_second
                    < capacity
            });
            // Every bucket still in use: give up the least recently touched tenth. A client
            // could reset its own bucket this way only by sending `max_keys` other keys.
            if buckets.len() >= self.max_keys {
                let mut touched: Vec<Instant> = buckets.values().map(|b| b.updated).collect();
                let cut = touched.len() / 10;
                let (_, oldest_kept, _) = touched.select_nth_unstable(cut);
                let oldest_kept = *oldest_kept;
                buckets.retain(|_, bucket| bucket.updated >= oldest_kept);
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        bucket.tokens = (bucket.tokens
            + now.duration_since(bucket.updated).as_secs_f64() * per_second)
            .min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }

    fn refund(&self, key: impl Hash) {
        let key = self.hasher.hash_one(key);
        let capacity = f64::from(self.rate.burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bucket) = buckets.get_mut(&key) {
            bucket.tokens = (bucket.tokens + 1.0).min(capacity);
        }
    }
}

/// The address a request came from: the peer, or, when the peer is a trusted proxy, the
/// nearest `X-Forwarded-For` hop that is not one (a client can prepend anything it likes).
pub fn client_ip(req: &Request, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr()?.ip();
    Some(forwarded_client(peer, req.headers(), trusted_proxies))
}

fn forwarded_client(
    peer: IpAddr,
    headers: &poem::http::HeaderMap,
    trusted_proxies: &[IpAddr],
) -> IpAddr {
    if !trusted_proxies.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|hop| !trusted_proxies.contains(hop))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(
            Rate::parse("10/m"),
            Some(Rate {
                burst: 10,
                period: Duration::from_secs(60)
            })
        );
        assert_eq!(
            Rate::parse("5 / s"),
            Some(Rate {
                burst: 5,
                period: Duration::from_secs(1)
            })
        );
        for bad in ["", "10", "0/m", "ten/m", "10/w", "-1/s"] {
            assert_eq!(Rate::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_burst_is_admitted_then_refused_with_the_wait() {
        let limiter = LocalBuckets::new(Rate {
            burst: 3,
            period: Duration::from_secs(60),
        });
        for _ in 0..3 {
            assert!(limiter.check("a").is_ok());
        }
        let wait = limiter.check("a").unwrap_err();
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(limiter.check("b").is_ok(), "keys are independent");
    }

    #[test]
    fn a_refund_gives_back_one_token_and_never_more_than_the_burst() {
        let limiter = LocalBuckets::new(Rate {
            burst: 2,
            period: Duration::from_secs(60),
        });
        for _ in 0..5 {
            limiter.check("a").unwrap();
            limiter.refund("a");
        }
        limiter.refund("a");
        limiter.check("a").unwrap();
        limiter.check("a").unwrap();
        assert!(
            limiter.check("a").is_err(),
            "the burst, not the refunds, is the cap"
        );
        limiter.refund("b");
        assert_eq!(
            limiter.buckets.lock().unwrap().len(),
            1,
            "a refund stores no key"
        );
    }

    #[test]
    fn the_number_of_keys_stays_bounded_when_every_bucket_is_in_use() {
        let limiter = LocalBuckets::with_max_keys(
            Rate {
                burst: 5,
                period: Duration::from_secs(3600),
            },
            1_000,
        );
        for n in 0..10_000 {
            limiter.check(format!("user{n}")).unwrap();
            let keys = limiter.buckets.lock().unwrap().len();
            assert!(keys <= 1_000, "{keys} keys after {n}");
        }
        for _ in 0..5 {
            let _ = limiter.check("user9999");
        }
        assert!(
            limiter.check("user9999").is_err(),
            "a recent bucket is kept"
        );
    }

    #[test]
    fn client_ip_trusts_forwarded_for_only_from_trusted_proxies() {
        let headers = |forwarded: &str| {
            let mut headers = poem::http::HeaderMap::new();
            headers.insert("x-forwarded-for", forwarded.parse().unwrap());
            headers
        };
        let ip = |raw: &str| raw.parse::<IpAddr>().unwrap();
        let proxy = ip("10.0.0.1");
        assert_eq!(
            forwarded_client(ip("203.0.113.9"), &headers("1.2.3.4"), &[proxy]),
            ip("203.0.113.9")
        );
        assert_eq!(
            forwarded_client(proxy, &headers("6.6.6.6, 198.51.100.7"), &[proxy]),
            ip("198.51.100.7"),
            "the hop the proxy saw, not what the client prepended"
        );
        assert_eq!(
            forwarded_client(proxy, &headers("not an ip"), &[proxy]),
            proxy
        );
    }
}
