//! Which Redis the bus and the room history talk to: one server (`cluster.redis_url`)
//! or a Redis Cluster (`cluster.redis_cluster_urls`, Redis ≥ 7).
//!
//! On a cluster a command or a pipeline must stay within one hash slot: [`slot`] computes
//! a name's slot (CRC16 of its `{hash tag}`, as Redis does) and [`by_slot`] splits a batch
//! into one group per slot, keeping the order within each group. The room and instance
//! channels and the room history keys carry hash tags (`{room:R}`, `{instance:I}`), so
//! everything one script call touches shares a slot.

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::config::{ClusterConfig, ConfigError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// One Redis server or the seed nodes of a Redis Cluster.
#[derive(Clone)]
pub(crate) enum RedisTarget {
    /// `cluster.redis_url`.
    Single(redis::Client),
    /// `cluster.redis_cluster_urls`.
    Cluster(Vec<String>),
}

impl RedisTarget {
    /// The target `config` names; an error names the setting that is wrong.
    pub(crate) fn new(config: &ClusterConfig) -> Result<Self, ConfigError> {
        if !config.redis_cluster_urls.is_empty() {
            if config.redis_url.is_some() {
                return Err(ConfigError::invalid(
                    "cluster.redis_cluster_urls",
                    "is set together with cluster.redis_url: set one of them",
                ));
            }
            // Parsed here so a bad seed is an error at build(), not at connect time.
            Self::cluster_builder(&config.redis_cluster_urls)
                .build()
                .map_err(|e| ConfigError::invalid("cluster.redis_cluster_urls", e.to_string()))?;
            return Ok(Self::Cluster(config.redis_cluster_urls.clone()));
        }
        let url = config
            .redis_url
            .as_deref()
            .ok_or_else(|| ConfigError::invalid("cluster.redis_url", "is not set"))?;
        let client = redis::Client::open(url)
            .map_err(|e| ConfigError::invalid("cluster.redis_url", e.to_string()))?;
        Ok(Self::Single(client))
    }

    /// Whether this is a Redis Cluster (sharded pub/sub, one slot per command).
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    fn cluster_builder(urls: &[String]) -> redis::cluster::ClusterClientBuilder {
        ClusterClient::builder(urls.iter().map(String::as_str))
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            // A dead shard fails fast: the caller counts what it could not send.
            .retries(2)
            .min_retry_wait(10)
            .max_retry_wait(200)
    }

    /// A command connection (multiplexed; on a cluster, one per node behind one handle,
    /// routed by slot, following MOVED and reconnecting by itself).
    pub(crate) async fn connect(&self) -> redis::RedisResult<Conn> {
        match self {
            Self::Single(client) => {
                let cfg = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT));
                let c = client
                    .get_multiplexed_async_connection_with_config(&cfg)
                    .await?;
                Ok(Conn::Single(c))
            }
            Self::Cluster(urls) => {
                let client = Self::cluster_builder(urls).build()?;
                let c = tokio::time::timeout(CONNECT_TIMEOUT * 2, client.get_async_connection())
                    .await
                    .map_err(|_| timed_out())??;
                Ok(Conn::Cluster(c))
            }
        }
    }
}

/// A timeout as a Redis I/O error.
pub(crate) fn timed_out() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
}

/// A command connection to either kind of target.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(redis::aio::MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// The Redis Cluster hash slot of a key or channel name: CRC16 (XMODEM) of the part
/// between the first `{` and the next `}` when that part is non-empty, else of the
/// whole name, modulo 16 384.
pub(crate) fn slot(name: &[u8]) -> u16 {
    let tagged = name.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &name[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16(tagged.unwrap_or(name)) % 16_384
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Splits `items` into groups of one slot each (by `name`), in order of first
/// appearance, each group keeping the items' order.
pub(crate) fn by_slot<T>(items: Vec<T>, name: impl Fn(&T) -> &[u8]) -> Vec<Vec<T>> {
    let mut groups: Vec<(u16, Vec<T>)> = Vec::new();
    for item in items {
        let s = slot(name(&item));
        match groups.iter_mut().find(|(g, _)| *g == s) {
            Some((_, v)) => v.push(item),
            None => groups.push((s, vec![item])),
        }
    }
    groups.into_iter().map(|(_, v)| v).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.
        assert_eq!(slot(b"foo"), 12_182);
        assert_eq!(slot(b"bar"), 5_061);
        assert_eq!(slot(b"123456789"), 12_739);
        // A hash tag decides; an empty tag does not count.
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % 16_384);
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
        assert_eq!(slot(b"p:{room:lobby}:send"), slot(b"p:{room:lobby}:stream"));
    }

    #[test]
    fn groups_keep_order_within_a_slot() {
        let items = vec!["{a}1", "{b}1", "{a}2", "{b}2", "{a}3"];
        let groups = by_slot(items, |s| s.as_bytes());
        assert_eq!(
            groups,
            vec![vec!["{a}1", "{a}2", "{a}3"], vec!["{b}1", "{b}2"]]
        );
    }
}
