//! Health: counters kept while serving, and the [`Health`] snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::bus::BusStatus;

/// Counters updated on the hot path (relaxed atomics).
#[derive(Default)]
pub(crate) struct Metrics {
    pub(crate) connections_total: AtomicU64,
    pub(crate) messages_in: AtomicU64,
    pub(crate) messages_out: AtomicU64,
    pub(crate) errors_sent: AtomicU64,
    pub(crate) protocol_errors: AtomicU64,
    pub(crate) slow_clients_dropped: AtomicU64,
    pub(crate) bus_messages_in: AtomicU64,
    // Limits (see `limits.rs`).
    pub(crate) origin_rejected: AtomicU64,
    pub(crate) host_rejected: AtomicU64,
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) connections_rejected_per_ip: AtomicU64,
    pub(crate) pending_rejected: AtomicU64,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) rate_limit_closes: AtomicU64,
    pub(crate) auth_rejected: AtomicU64,
    pub(crate) tokens_expired: AtomicU64,
}

impl Metrics {
    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Overall state, as `"ok"`, `"degraded"` or `"shutting_down"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HealthStatus {
    /// Serving normally.
    Ok,
    /// Serving locally, but the bus to other instances is down.
    Degraded,
    /// Graceful shutdown has begun.
    ShuttingDown,
}

/// A snapshot from [`Server::health`](crate::Server::health); also served as JSON at
/// [`WsConfig::health_path`](crate::WsConfig::health_path) when that is set.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Health {
    /// Overall state.
    pub status: HealthStatus,
    /// This process's random instance id.
    pub instance_id: String,
    /// Sockets open on this instance.
    pub active_connections: usize,
    /// Sockets accepted since start.
    pub connections_total: u64,
    /// Rooms with at least one member.
    pub rooms: usize,
    /// Inbound data frames.
    pub messages_in: u64,
    /// Frames queued to clients.
    pub messages_out: u64,
    /// Error frames sent.
    pub errors_sent: u64,
    /// Sockets closed for protocol faults (bad UTF-8, oversize, bad framing).
    pub protocol_errors: u64,
    /// Clients closed with 1008 because their outbound queue was full, or because they
    /// took none of their output (or it stayed over `limits.max_write_buffer`) for
    /// `limits.write_timeout`.
    pub slow_clients_dropped: u64,
    /// Events from other instances acted on (sends delivered here).
    pub bus_messages_in: u64,
    /// Live instances this one knows of, itself included.
    pub cluster_instances: usize,
    /// Sockets open on every instance, as this one sees them.
    pub cluster_connections: usize,
    /// Upgrade requests refused with 401 (missing or invalid token).
    pub auth_rejected: u64,
    /// Connections closed with 4001 because their token expired unrefreshed.
    pub tokens_expired: u64,
    /// Seconds since the server was built.
    pub uptime_secs: u64,
    /// The bus to other instances.
    pub bus: BusStatus,
    /// What the limits turned away.
    pub limits: LimitCounts,
}

/// What the limits (`docs/security.md`) turned away since start, in [`Health::limits`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LimitCounts {
    /// Upgrades refused with 403 `ORIGIN_NOT_ALLOWED`.
    pub origin_rejected: u64,
    /// Upgrades refused with 421 `HOST_NOT_ALLOWED` (`limits.allowed_hosts`).
    pub host_rejected: u64,
    /// Upgrades refused with 503 `TOO_MANY_CONNECTIONS` (`limits.max_connections`).
    pub connections_rejected: u64,
    /// Upgrades refused with 429 `TOO_MANY_CONNECTIONS_FROM_IP`.
    pub connections_rejected_per_ip: u64,
    /// TCP connections closed at accept, over `limits.max_pending_connections` or
    /// `limits.max_pending_connections_per_ip`.
    pub pending_rejected: u64,
    /// Messages answered `RATE_LIMITED` instead of being routed.
    pub rate_limited: u64,
    /// Clients closed with 1008 for exceeding their rate limit again and again.
    pub rate_limit_closes: u64,
}

impl LimitCounts {
    pub(crate) fn from_metrics(m: &Metrics) -> Self {
        Self {
            origin_rejected: Metrics::get(&m.origin_rejected),
            host_rejected: Metrics::get(&m.host_rejected),
            connections_rejected: Metrics::get(&m.connections_rejected),
            connections_rejected_per_ip: Metrics::get(&m.connections_rejected_per_ip),
            pending_rejected: Metrics::get(&m.pending_rejected),
            rate_limited: Metrics::get(&m.rate_limited),
            rate_limit_closes: Metrics::get(&m.rate_limit_closes),
        }
    }
}
