//! The cluster directory in Redis: who is connected where, in which rooms, as users,
//! kept in Redis itself rather than in a replica on every instance, so cluster-wide
//! questions ([`Directory`](crate::Directory)) are answered from one place.
//!
//! Each instance writes only its own clients' entries, from the membership hooks (under
//! the membership lock, so in membership order) through one writer task that pipelines
//! the commands (one pipeline per hash slot on a Redis Cluster):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `<prefix>:{instances}:alive` | sorted set | instance id → liveness deadline (Redis time, ms) |
//! | `<prefix>:{instances}:clients` | hash | instance id → its connection count at its last heartbeat |
//! | `<prefix>:{instance:I}:clients` | hash | client id → `{"userId","username","connectedAt","rooms"}` |
//! | `<prefix>:{clients:XX}:instance` | hash | client id → instance id (`XX`: the id's first two hex digits) |
//! | `<prefix>:{user:U}:clients` | hash | client id → instance id |
//! | `<prefix>:{room:R}:members` | hash | client id → `{"instance","userId","username"}` |
//!
//! Readers keep only entries of live instances (deadline not passed), so a `kill -9`ed
//! instance drops out of every answer once its TTL lapses; the sweep (every live
//! instance, each tenth of the TTL) claims a lapsed instance atomically (`ZREM` in a
//! script: one claimer) and deletes its entries. After the bus resyncs (a Redis restart,
//! a lost connection) and after writes were lost, the instance restates its entries:
//! deletes what Redis holds for it and writes its clients again.

#[cfg(feature = "redis")]
pub(crate) mod redis;

use std::fmt;
#[cfg(feature = "redis")]
use std::sync::Arc;

#[cfg(feature = "redis")]
use serde::{Deserialize, Serialize};

/// A cluster-wide question could not be answered (Redis unreachable or answering with
/// an error).
#[derive(Debug, Clone)]
pub struct DirectoryError(String);

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cluster directory: {}", self.0)
    }
}

impl std::error::Error for DirectoryError {}

/// A member of a room on some instance, as the directory holds it.
#[cfg(feature = "redis")]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Member {
    pub(crate) instance: String,
    pub(crate) user_id: Option<String>,
    pub(crate) username: Option<String>,
}

#[cfg(feature = "redis")]
/// The directory the configuration asks for: in Redis when `cluster.redis_url` (or
/// `cluster.redis_cluster_urls`) is set; `None` otherwise (the cluster view answers).
pub(crate) fn build(
    config: &crate::config::WsConfig,
    instance_id: &str,
) -> Result<Option<Arc<redis::RedisDirectory>>, crate::config::ConfigError> {
    if !config.cluster.uses_redis() {
        return Ok(None);
    }
    let target = crate::redis_target::RedisTarget::new(&config.cluster)?;
    Ok(Some(Arc::new(redis::RedisDirectory::new(
        target,
        &config.cluster.prefix,
        instance_id,
        config.cluster.publish_buffer,
    ))))
}
